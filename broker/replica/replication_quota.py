"""Replication throttles (KIP-73): Kafka's ReplicationQuotaManager.

A reassignment copies whole partitions to new replicas; ``kafka-reassign-partitions.sh
--throttle`` bounds that traffic with two dynamic broker configs,
``leader.replication.throttled.rate`` and ``follower.replication.throttled.rate`` (bytes/s,
unbounded by default), and two topic configs naming the throttled replicas,
``leader.replication.throttled.replicas`` and ``follower.replication.throttled.replicas``
(``*`` or ``partition:broker`` pairs; a broker throttles the partitions listed with its own
id). As in Kafka:

* the leader measures the bytes it sends followers for the partitions it throttles; while
  that rate is above the bound, a follower outside the ISR gets no records for them (its
  fetch position is still recorded, so it can still be seen as caught up);
* a follower measures the bytes it fetches for the partitions it throttles; while that rate
  is above the bound it leaves out of its fetch requests those it has not caught up on;
* a replica in the ISR is never throttled, so a throttle never holds back ``acks=all``.

The rate is Kafka's windowed rate over ``replication.quota.window.num`` (11) samples of
``replication.quota.window.size.seconds`` (1 s).
"""

from __future__ import annotations

from collections.abc import Callable

from broker.quota.rate import QuotaRate

LONG_MAX = 2**63 - 1
LEADER_RATE = "leader.replication.throttled.rate"
FOLLOWER_RATE = "follower.replication.throttled.rate"
WINDOW_NUM = 11  # replication.quota.window.num
WINDOW_SIZE_MS = 1_000  # replication.quota.window.size.seconds

_ALL = frozenset({-1})  # "*": every partition


class ReplicationQuota:
    """One side's replication throttle on this broker (leader or follower)."""

    __slots__ = ("_clock_ms", "_parsed", "_rate", "bound", "broker_id")

    def __init__(
        self,
        broker_id: int,
        clock_ms: Callable[[], int],
        num_samples: int = WINDOW_NUM,
        window_ms: int = WINDOW_SIZE_MS,
    ) -> None:
        self.broker_id = broker_id
        self.bound = LONG_MAX
        self._clock_ms = clock_ms
        self._rate = QuotaRate(float(LONG_MAX), num_samples, window_ms)
        self._parsed: dict[str, frozenset[int]] = {}

    @property
    def enabled(self) -> bool:
        return self.bound < LONG_MAX

    def set_rate(self, bound: int) -> None:
        """The bound in bytes/s (``LONG_MAX``: no throttle); measured bytes are kept."""
        self.bound = bound
        self._rate.bound = float(bound)

    def exceeded(self) -> bool:
        return self.enabled and self._rate.rate(self._clock_ms()) > self.bound

    def record(self, size: int) -> None:
        if size > 0 and self.enabled:
            self._rate.record(size, self._clock_ms())

    def throttles(self, listed: str, partition: int) -> bool:
        """Whether a topic's ``*.replication.throttled.replicas`` value names ``partition``
        on this broker (the value parsed once per distinct string)."""
        if not listed:
            return False
        parsed = self._parsed.get(listed)
        if parsed is None:
            parsed = _parse(listed, self.broker_id)
            if len(self._parsed) > 10_000:
                self._parsed.clear()  # configs come and go; keep the memo bounded
            self._parsed[listed] = parsed
        return parsed is _ALL or partition in parsed


def _parse(listed: str, broker_id: int) -> frozenset[int]:
    items = [item.strip() for item in listed.split(",") if item.strip()]
    if items == ["*"]:
        return _ALL
    partitions = set()
    for item in items:
        partition, _, broker = item.partition(":")
        if broker.strip() == str(broker_id):
            partitions.add(int(partition))
    return frozenset(partitions)


def rate_of(props: dict[str, str], key: str) -> int:
    """A throttle rate from the effective broker properties (``LONG_MAX`` when unset)."""
    value = props.get(key)
    if value is None or not value.strip():
        return LONG_MAX
    return int(value)


class FollowerSide:
    """The replica fetchers' view of the follower throttle: the quota and, per partition,
    whether its topic lists this broker's follower."""

    __slots__ = ("_listed", "quota")

    def __init__(self, quota: ReplicationQuota, listed: Callable[[str, int], bool]) -> None:
        self.quota = quota
        self._listed = listed

    def exceeded(self) -> bool:
        return self.quota.exceeded()

    def record(self, size: int) -> None:
        self.quota.record(size)

    def throttled(self, topic: str, partition: int) -> bool:
        return self._listed(topic, partition)
