"""DynamicBrokerConfig: broker configuration that changes at run time (Kafka's KIP-226).

The broker's effective configuration is its static one (server.properties and
``--override``) overlaid with two dynamic layers kept by the metadata store: the cluster-wide
default (entity ``<default>``, ZooKeeper ``/config/brokers/<default>``) and this broker's own
(entity ``<id>``, ``/config/brokers/<id>``); per-broker beats default beats static beats
Kafka's default. A dynamic key replaces its synonyms of lower layers (a dynamic
``log.retention.ms`` hides a static ``log.retention.hours``), as Kafka's ``overrideProps``.

AlterConfigs / IncrementalAlterConfigs of a BROKER resource go through :meth:`alter`:
validated like Kafka (:mod:`broker.config.dynamic_keys`), written to the store, which
announces the change to every broker (a ``/config/changes`` notification in a cluster); each
broker then re-reads the entity (:meth:`on_metadata_event`), drops what it cannot apply
(logged, as Kafka's ``fromPersistentProps``), rebuilds :attr:`current` and calls the
reconfigurables whose keys changed: the log defaults of every topic without an override, the
log cleaner, thread pools... (wired in :mod:`broker.dynamic_reconfiguration`).

Password keys: every dynamic password key Kafka has is a listener TLS or SASL secret. Kafka
stores them encrypted with ``password.encoder.secret``, which Josef does not implement: a
password key (``ssl.keystore.password``, ``ssl.keystore.key``, ...) is refused as Kafka
refuses it without that secret ("Password encoder secret not configured"), so no password is
ever stored here. Key stores given by location reload without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from broker.config.broker_config import BrokerConfig, ConfigError, describe_topic
from broker.config.broker_describe import ConfigLayers, broker_entries, default_entries
from broker.config.config_defs import BROKER_CONFIGS
from broker.config.dynamic_keys import (
    BROKER_QUOTA_CONFIGS,
    DYNAMIC_SECURITY_CONFIGS,
    LISTENER_PREFIX,
    base_key,
    broker_config_synonyms,
    config_def,
    is_dynamic,
    is_non_dynamic,
    is_per_broker,
    josef_refusal,
    kafka_type_error,
    validation_errors,
)
from broker.config.incremental import apply_incremental
from cluster.metadata import BrokerConfigChanged, MetadataEvent
from protocol.errors import KafkaError
from storage.log_config import ConfigEntry, ConfigType

log = logging.getLogger(__name__)

DEFAULT_ENTITY = "<default>"


class BrokerConfigStore(Protocol):
    """Where the dynamic layers live: the standalone metadata document or ZooKeeper.

    Entities are ``<default>`` or a broker id as a string. ``set_broker_configs`` replaces
    an entity's configs and announces the change (a :class:`BrokerConfigChanged` event here,
    a ``/config/changes`` notification to the other brokers of a cluster)."""

    def broker_configs(self, entity: str) -> dict[str, str]: ...

    async def read_broker_configs(self, entity: str) -> dict[str, str]: ...

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None: ...


Validate = Callable[[BrokerConfig, BrokerConfig], str | None]
FileReloader = Callable[[BrokerConfig], str | None]
Reconfigure = Callable[[BrokerConfig, BrokerConfig], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Reconfigurable:
    """A component that follows some keys (Kafka's BrokerReconfigurable; no keys: every
    change): ``validate`` returns an error message for a change it cannot take;
    ``reconfigure`` applies one (it may return an awaitable for work off the event loop)."""

    def follows(self, changed: set[str]) -> bool:
        return bool(changed) and (not self.keys or bool(self.keys & changed))

    name: str
    keys: frozenset[str]
    reconfigure: Reconfigure
    validate: Validate | None = None


def _invalid(message: str) -> KafkaError:
    return KafkaError(message, ErrorCode.invalid_request)


def effective_props(
    static: Mapping[str, str], default: Mapping[str, str], broker: Mapping[str, str]
) -> dict[str, str]:
    """Static, then the default layer, then the per-broker one; a key set by a higher layer
    removes its synonyms first (Kafka's ``overrideProps``)."""
    props = dict(static)
    for layer in (default, broker):
        for key, value in layer.items():
            for synonym in broker_config_synonyms(key, match_listener_override=False):
                props.pop(synonym, None)
            props[key] = value
    return props


def changed_keys(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


class DynamicBrokerConfig:
    """The broker's current configuration and its dynamic layers (see the module doc)."""

    def __init__(
        self, static: BrokerConfig, broker_id: int, store: BrokerConfigStore | None = None
    ) -> None:
        self.static = static
        self.broker_id = broker_id
        self.store = store
        self.static_props: dict[str, str] = {**static.originals, **static.unknown}
        self.default_layer: dict[str, str] = {}
        self.broker_layer: dict[str, str] = {}
        self.current = static
        self._effective = dict(self.static_props)
        self._reconfigurables: list[Reconfigurable] = []
        self._file_reloaders: list[FileReloader] = []
        self._pending: set[asyncio.Future[Any]] = set()

    @property
    def standalone(self) -> bool:
        return self.static.standalone

    @property
    def entity(self) -> str:
        return str(self.broker_id)

    # -- start-up -------------------------------------------------------------------------

    def load(self) -> BrokerConfig:
        """Read both layers from the store (Kafka's DynamicBrokerConfig.initialize); returns
        the effective configuration the broker's components start with."""
        if self.store is not None:
            self._update(
                self.store.broker_configs(DEFAULT_ENTITY),
                self.store.broker_configs(self.entity),
                reconfigure=False,
            )
        return self.current

    def add_reconfigurable(
        self,
        name: str,
        keys: Iterable[str],
        reconfigure: Reconfigure,
        validate: Validate | None = None,
    ) -> None:
        self._reconfigurables.append(Reconfigurable(name, frozenset(keys), reconfigure, validate))

    def add_file_reloader(self, reload: FileReloader) -> None:
        """``reload(config)`` runs (in a worker thread) before every per-broker update is
        stored: it reloads files whose settings did not change but whose contents did
        (Kafka's reloadUpdatedFilesWithoutConfigChange) and returns an error message."""
        self._file_reloaders.append(reload)

    # -- what a layer may hold ------------------------------------------------------------

    def _sanitize(self, props: Mapping[str, str], per_broker: bool) -> dict[str, str]:
        """Kafka's fromPersistentProps: drop (and log) entries that cannot be applied."""
        where = f"broker {self.broker_id}" if per_broker else "default cluster"
        kept: dict[str, str] = {}
        for key, value in props.items():
            reason: str | None = None
            if is_non_dynamic(key):
                reason = "not a dynamic config"
            elif key in DYNAMIC_SECURITY_CONFIGS:
                reason = "a security config without a listener prefix"
            elif not per_broker and is_per_broker(key):
                reason = "a per-broker config"
            else:
                definition = config_def(key)
                if definition is not None and key not in BROKER_QUOTA_CONFIGS:
                    reason = kafka_type_error(definition, base_key(key), value)
                if reason is None:
                    reason = josef_refusal(key, value, self.standalone)
            if reason is not None:
                log.error("Dynamic %s config %s ignored: %s", where, key, reason)
                continue
            kept[key] = value
        return kept

    def validate(
        self, props: Mapping[str, str], per_broker: bool, order: Iterable[str] | None = None
    ) -> BrokerConfig:
        """Kafka's DynamicBrokerConfig.validate for ``props``, the whole new content of the
        per-broker (or default) layer. Returns the configuration it would give; raises
        :class:`KafkaError` (INVALID_REQUEST) with Kafka's message."""
        message = validation_errors(props, per_broker, order)
        if message is not None:
            raise _invalid(message)
        layer = self.broker_layer if per_broker else self.default_layer
        refused = [
            f"{key} ({reason})"
            for key, value in props.items()
            if layer.get(key) != value
            and (reason := josef_refusal(key, value, self.standalone)) is not None
        ]
        default, broker = (self.default_layer, props) if per_broker else (props, self.broker_layer)
        new_props = effective_props(self.static_props, default, broker)
        try:
            new = BrokerConfig.from_properties(new_props)
        except ConfigError:
            new = None
        if new is not None:
            refused += [
                f"{key} ({reason})"
                for key in props
                if layer.get(key) != props[key] and (reason := _tls_listener_refusal(key, new))
            ]
        if refused:
            raise _invalid("Josef cannot update these configs dynamically: " + "; ".join(refused))
        try:
            new = BrokerConfig.from_properties(new_props)
        except ConfigError as exc:
            if exc.key == "log.cleaner.dedupe.buffer.size":
                raise _invalid(
                    "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB "
                    "per cleaner thread."
                ) from None
            raise _invalid(f"Invalid dynamic configuration: {exc}") from None
        changed = changed_keys(self._effective, new_props)
        for r in self._reconfigurables:
            if r.validate is not None and r.follows(changed):
                error = r.validate(self.current, new)
                if error is not None:
                    raise _invalid(error)
        return new

    # -- AlterConfigs / IncrementalAlterConfigs -------------------------------------------

    def _check_name(self, name: str) -> None:
        try:
            requested = int(name)
        except ValueError:
            raise _invalid(f"Node id must be an integer, but it is: {name}") from None
        if requested != self.broker_id:
            raise _invalid(f"Unexpected broker id, expected {self.broker_id}, but received {name}")

    async def alter(
        self, name: str, configs: Sequence[Any], incremental: bool, validate_only: bool
    ) -> None:
        """One BROKER resource of an AlterConfigs (``configs``: name/value entries, the new
        layer) or IncrementalAlterConfigs (name/operation/value, applied to the stored
        layer) request."""
        if name:
            self._check_name(name)
        per_broker = bool(name)
        entity = self.entity if per_broker else DEFAULT_ENTITY
        if incremental:
            stored = await self._read(entity)
            current = self._sanitize(stored, per_broker)
            props = apply_incremental(current, configs, {**BROKER_CONFIGS, **BROKER_QUOTA_CONFIGS})
        else:
            props = {c.name: c.value for c in configs}
        order = [*props] if not incremental else [*current, *(c.name for c in configs)]
        # Validating may load key stores: off the event loop.
        new = await asyncio.to_thread(self.validate, props, per_broker, order)
        if validate_only:
            return
        if self.store is None:
            raise KafkaError("dynamic broker configs have no store", ErrorCode.unknown_server_error)
        if per_broker:
            for reload in self._file_reloaders:
                error = await asyncio.to_thread(reload, new)
                if error is not None:
                    raise _invalid(error)
        passwords = [k for k in props if _is_password(k)]
        if passwords:
            # Kafka's toPersistentProps: passwords are stored only encrypted.
            raise KafkaError(
                f"Invalid config value for resource ConfigResource(type=BROKER, name='{name}'): "
                "Password encoder secret not configured",
                ErrorCode.invalid_config,
            )
        shown = ",".join(f"{k} -> {_loggable(k, v)}" for k, v in props.items())
        if per_broker:
            log.info("Updating broker %d with new configuration : %s", self.broker_id, shown)
        else:
            log.info("Updating brokers with new configuration : %s", shown)
        await self.store.set_broker_configs(entity, dict(props))
        # The store's change event applied it; wait for work it started off the loop.
        await self.settled()

    async def _read(self, entity: str) -> dict[str, str]:
        if self.store is None:
            return dict(self.broker_layer if entity == self.entity else self.default_layer)
        return await self.store.read_broker_configs(entity)

    # -- applying changes -----------------------------------------------------------------

    def on_metadata_event(self, event: MetadataEvent) -> None:
        """A store change: re-read the layer it names if it is ours or the default."""
        if not isinstance(event, BrokerConfigChanged) or self.store is None:
            return
        if event.entity == DEFAULT_ENTITY:
            self._update(self.store.broker_configs(DEFAULT_ENTITY), None)
        elif event.entity == self.entity:
            self._update(None, self.store.broker_configs(self.entity))

    def _update(
        self,
        default: Mapping[str, str] | None,
        broker: Mapping[str, str] | None,
        reconfigure: bool = True,
    ) -> None:
        new_default = (
            self._sanitize(default, per_broker=False) if default is not None else self.default_layer
        )
        new_broker = (
            self._sanitize(broker, per_broker=True) if broker is not None else self.broker_layer
        )
        new_props = effective_props(self.static_props, new_default, new_broker)
        what = "Per-broker" if broker is not None else "Cluster default"
        try:
            new = BrokerConfig.from_properties(new_props)
        except ConfigError as exc:
            log.error("%s configs could not be applied: %s", what, exc)
            return
        changed = changed_keys(self._effective, new_props)
        old = self.current
        due = [r for r in self._reconfigurables if r.follows(changed)] if reconfigure else []
        for r in due:
            error = r.validate(old, new) if r.validate is not None else None
            if error is not None:
                log.error("%s configs could not be applied (%s): %s", what, r.name, error)
                return
        self.default_layer, self.broker_layer = new_default, new_broker
        self._effective, self.current = new_props, new
        if changed:
            log.info("Dynamic broker configuration updated: %s", ", ".join(sorted(changed)))
        for r in due:
            try:
                result = r.reconfigure(old, new)
            except Exception:
                log.exception("Reconfiguring %s failed", r.name)
                continue
            if result is not None:
                self._track(r.name, result)

    def _track(self, name: str, work: Awaitable[None]) -> None:
        future = asyncio.ensure_future(work)
        self._pending.add(future)

        def done(f: asyncio.Future[Any]) -> None:
            self._pending.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("Reconfiguring %s failed", name, exc_info=f.exception())

        future.add_done_callback(done)

    async def settled(self) -> None:
        """Wait for reconfiguration work started off the event loop (cleaner restarts)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- DescribeConfigs ------------------------------------------------------------------

    @property
    def layers(self) -> ConfigLayers:
        return ConfigLayers(self.static_props, self.broker_layer, self.default_layer)

    def read_only(self, key: str) -> bool:
        return not is_dynamic(key, self.standalone)

    def describe(self, name: str, keys: Iterable[str] | None = None) -> list[ConfigEntry]:
        """DescribeConfigs of the BROKER resource ``name`` (this broker's id, or empty for
        the cluster-wide default); raises INVALID_REQUEST for another broker's id."""
        if not name:
            return default_entries(
                self.layers,
                keys,
                read_only=self.read_only,
                key_info=key_info,
                synonyms_of=broker_config_synonyms,
            )
        try:
            requested = int(name)
        except ValueError:
            raise _invalid(f"Broker id must be an integer, but it is: {name}") from None
        if requested != self.broker_id:
            raise _invalid(
                f"Unexpected broker id, expected {self.broker_id} or empty string, "
                f"but received {name}"
            )
        return broker_entries(
            self.current,
            self.layers,
            keys,
            read_only=self.read_only,
            key_info=key_info,
            synonyms_of=broker_config_synonyms,
            effective=self._effective,
        )

    def describe_topic(
        self, overrides: Mapping[str, str], names: Iterable[str] | None = None
    ) -> list[ConfigEntry]:
        return describe_topic(
            self.current,
            overrides,
            names,
            static=self.static_props,
            dynamic_broker=self.broker_layer,
            dynamic_default=self.default_layer,
        )


def _is_password(key: str) -> bool:
    definition = config_def(key)
    return definition is not None and definition.type is ConfigType.PASSWORD


def _tls_listener_refusal(key: str, config: BrokerConfig) -> str | None:
    """A key or trust store key must name a TLS listener of this broker."""
    if not key.startswith(LISTENER_PREFIX) or base_key(key) not in DYNAMIC_SECURITY_CONFIGS:
        return None
    written = key[len(LISTENER_PREFIX) :].partition(".")[0]
    if written != written.lower():
        # Kafka reads only the lowercase prefix: another spelling would be ignored.
        return f"write the listener name in lowercase: {LISTENER_PREFIX}{written.lower()}."
    name = written.upper()
    listener = next((lsn for lsn in config.listeners if lsn.name.upper() == name), None)
    if listener is None:
        return f"this broker has no listener {name}"
    if listener.security_protocol not in ("SSL", "SASL_SSL"):
        return f"listener {name} uses {listener.security_protocol}, without TLS"
    return None


def key_info(key: str) -> tuple[ConfigType, bool, str | None]:
    """(type, sensitive, documentation) of a key outside the broker table."""
    definition = config_def(key)
    if definition is None:
        return ConfigType.UNKNOWN, True, None  # Kafka: a key of unknown type is sensitive
    return definition.type, definition.sensitive, definition.doc


def _loggable(key: str, value: str | None) -> str:
    definition = config_def(key)
    if definition is None or definition.sensitive:
        return "[hidden]"
    return str(value)
