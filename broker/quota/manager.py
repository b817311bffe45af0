"""Client quota managers: Kafka's ClientQuotaManager (produce, fetch) and
ClientRequestQuotaManager (request time), over the entity configs of the metadata store.

Each manager resolves, per connection (user principal, client id), which entity's quota
applies (``entities`` describes the order) and keeps one :class:`QuotaRate` per *metric
tags*: (user, client id) when a (user, client-id) level entity applies, (user, "") for a
user level one, ("", client id) for a client-id level one, so connections that share an
entity share its rate, as in Kafka. Recording an amount returns the throttle time; the
connection is then muted for it (see ``broker.network``), and the response carries it in
``throttle_time_ms`` so clients that honour throttling (KIP-219) pause too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from broker.quota.entities import (
    CONSUMER_BYTE_RATE,
    DEFAULT,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    EntityConfigSource,
    quota_configs,
)
from broker.quota.rate import QuotaRate
from cluster.metadata import EntityConfigChanged, MetadataEvent
from cluster.zk.paths import sanitize_entity_name
from storage.clock import Clock

log = logging.getLogger(__name__)

_INACTIVE_SENSOR_MS = 3_600_000  # Kafka's InactiveSensorExpirationTimeSeconds
_MAX_SENSORS = 10_000
NANOS_TO_PERCENT_PER_SECOND = 100.0 / 1e9

Tags = tuple[str, str]


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """``quota.window.num`` and ``quota.window.size.seconds``."""

    num_samples: int = 11
    window_seconds: int = 1


class ClientQuotaManager:
    """One quota type (a quota key): resolution, rates and throttle times."""

    def __init__(
        self, key: str, settings: QuotaSettings, clock: Clock, max_throttle_ms: int | None = None
    ) -> None:
        self.key = key
        self.settings = settings
        self.clock = clock
        self.max_throttle_ms = max_throttle_ms
        self._quotas: dict[str, float] = {}  # entity path -> bound
        self._tags_cache: dict[tuple[str, str], Tags | None] = {}
        self._sensors: dict[Tags, QuotaRate] = {}
        self._last_used: dict[Tags, int] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._quotas)

    def update(self, quotas: dict[str, float]) -> None:
        """The bounds of every entity that sets this key."""
        if quotas == self._quotas:
            return
        self._quotas = quotas
        self._tags_cache.clear()
        for tags, sensor in list(self._sensors.items()):
            bound = self._limit_for_tags(tags)
            if bound is None:
                del self._sensors[tags]
                self._last_used.pop(tags, None)
            elif bound != sensor.bound:
                log.info("quota %s for %s changed to %s", self.key, tags, bound)
                sensor.bound = bound

    # -- resolution (Kafka's DefaultQuotaCallback) -----------------------------------------

    def _metric_tags(self, user: str, client_id: str) -> Tags | None:
        """The sensor tags of a connection (sanitized user, client id); None if no quota."""
        q = self._quotas
        if not q:
            return None
        su = sanitize_entity_name(user)
        sc = sanitize_entity_name(client_id)
        if client_id and f"users/{su}/clients/{sc}" in q:
            return su, client_id
        if client_id and f"users/{su}/clients/{DEFAULT}" in q:
            return su, client_id
        if f"users/{su}" in q:
            return su, ""
        if client_id and f"users/{DEFAULT}/clients/{sc}" in q:
            return su, client_id
        if client_id and f"users/{DEFAULT}/clients/{DEFAULT}" in q:
            return su, client_id
        if f"users/{DEFAULT}" in q:
            return su, ""
        if f"clients/{sc}" in q or f"clients/{DEFAULT}" in q:
            return "", client_id
        return None

    def _limit_for_tags(self, tags: Tags) -> float | None:
        su, client_id = tags
        q = self._quotas
        sc = sanitize_entity_name(client_id)
        order: tuple[str, ...]
        if su and client_id:
            order = (
                f"users/{su}/clients/{sc}",
                f"users/{su}/clients/{DEFAULT}",
                f"users/{DEFAULT}/clients/{sc}",
                f"users/{DEFAULT}/clients/{DEFAULT}",
            )
        elif su:
            order = (f"users/{su}", f"users/{DEFAULT}")
        elif client_id:
            order = (f"clients/{sc}", f"clients/{DEFAULT}")
        else:
            return None
        for path in order:
            bound = q.get(path)
            if bound is not None:
                return bound
        return None

    def quota(self, user: str, client_id: str) -> float | None:
        """The bound that applies to a connection (None: unlimited)."""
        tags = self._metric_tags(user, client_id)
        return None if tags is None else self._limit_for_tags(tags)

    def _sensor(self, user: str, client_id: str) -> QuotaRate | None:
        key = (user, client_id)
        cache = self._tags_cache
        if key in cache:
            tags = cache[key]
        else:
            tags = self._metric_tags(user, client_id)
            if len(cache) >= _MAX_SENSORS:
                cache.clear()
            cache[key] = tags
        if tags is None:
            return None
        sensor = self._sensors.get(tags)
        now = self.clock.milliseconds()
        if sensor is None:
            bound = self._limit_for_tags(tags)
            if bound is None:
                return None
            if len(self._sensors) >= _MAX_SENSORS:
                self._expire(now)
            sensor = QuotaRate(
                bound, self.settings.num_samples, self.settings.window_seconds * 1000
            )
            self._sensors[tags] = sensor
        self._last_used[tags] = now
        return sensor

    def _expire(self, now: int) -> None:
        for tags, last in list(self._last_used.items()):
            if now - last > _INACTIVE_SENSOR_MS:
                self._sensors.pop(tags, None)
                del self._last_used[tags]

    # -- recording ------------------------------------------------------------------------

    def record(self, user: str, client_id: str, value: float) -> int:
        """Record ``value``; the throttle time in ms (0 within quota)."""
        if not self._quotas:
            return 0
        sensor = self._sensor(user, client_id)
        if sensor is None:
            return 0
        throttle = sensor.record_and_throttle_ms(value, self.clock.milliseconds())
        if self.max_throttle_ms is not None:
            throttle = min(throttle, self.max_throttle_ms)
        return throttle

    def unrecord(self, user: str, client_id: str, value: float) -> None:
        """Take back a recorded amount (a throttled fetch returns nothing)."""
        sensor = self._sensor(user, client_id) if self._quotas else None
        if sensor is not None:
            sensor.record(-value, self.clock.milliseconds())

    def max_value_in_window(self, user: str, client_id: str) -> float:
        """Largest amount one request may take without being throttled for sure (Kafka
        caps fetch sizes with it)."""
        bound = self.quota(user, client_id) if self._quotas else None
        if bound is None:
            return math.inf
        return bound * (self.settings.num_samples - 1) * self.settings.window_seconds


class QuotaManagers:
    """The broker's quota managers, kept in line with the stored entity configs."""

    def __init__(self, source: EntityConfigSource, settings: QuotaSettings, clock: Clock):
        self.source = source
        self.settings = settings
        self.produce = ClientQuotaManager(PRODUCER_BYTE_RATE, settings, clock)
        self.fetch = ClientQuotaManager(CONSUMER_BYTE_RATE, settings, clock)
        # Request time: throttled at most one window (ClientRequestQuotaManager).
        self.request = ClientQuotaManager(
            REQUEST_PERCENTAGE, settings, clock, max_throttle_ms=settings.window_seconds * 1000
        )
        self.reload()

    def reload(self) -> None:
        by_key: dict[str, dict[str, float]] = {
            PRODUCER_BYTE_RATE: {},
            CONSUMER_BYTE_RATE: {},
            REQUEST_PERCENTAGE: {},
        }
        for path, configs in quota_configs(self.source).items():
            for key, text in configs.items():
                if key not in by_key:
                    continue
                try:
                    by_key[key][path] = float(text)
                except ValueError:
                    log.warning("ignoring quota %s=%r of %s: not a number", key, text, path)
        self.produce.update(by_key[PRODUCER_BYTE_RATE])
        self.fetch.update(by_key[CONSUMER_BYTE_RATE])
        self.request.update(by_key[REQUEST_PERCENTAGE])

    def on_metadata_event(self, event: MetadataEvent) -> None:
        if isinstance(event, EntityConfigChanged):
            self.reload()
