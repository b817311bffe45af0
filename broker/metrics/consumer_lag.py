"""Consumer lag computed inside the broker, under danielqsj/kafka_exporter's names.

For every group this broker coordinates and every partition it has a committed offset for,
lag = the partition's high watermark - the committed offset (what kafka_exporter computes
from ListOffsets(latest) and OffsetFetch), read from state the broker already holds, no
consumer needed. Partitions hosted here (leader or follower) use their own high watermark;
in a cluster the others use their leaders' (``broker.metrics.remote_offsets``, asked
before each scrape), so a coordinator reports every partition its groups committed.

``kafka_consumergroup_group_lag_seconds`` (kafka-lag-exporter's name) is how old the first
uncommitted batch is: now - its base timestamp, read from the batch header (no records);
from the local log for partitions hosted here, from the leader's batch header (asked in
the same round as its high watermark) for the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from broker.metrics.remote_offsets import RemoteHighWatermarks


class ConsumerLagCollector(Collector):
    """Lag, committed offsets, members and state of the groups this broker coordinates."""

    def __init__(
        self, services: Any, view: Any, remote: RemoteHighWatermarks | None = None
    ) -> None:
        self.services = services
        self.view = view
        self.remote = remote

    def wanted(self) -> Iterator[tuple[str, int]]:
        """Committed partitions without a local replica (whose leaders are asked)."""
        coordinator = self.services.group_coordinator
        if coordinator is None:
            return
        hosted = self.services.replica_manager.partitions
        for offsets in list(coordinator.offsets.values()):
            for key in offsets:
                if key not in hosted:
                    yield key

    def committed(self) -> Mapping[tuple[str, int], set[int]]:
        """Committed offsets (of every group) of the partitions ``wanted()`` names."""
        out: dict[tuple[str, int], set[int]] = {}
        coordinator = self.services.group_coordinator
        if coordinator is None:
            return out
        hosted = self.services.replica_manager.partitions
        for offsets in list(coordinator.offsets.values()):
            for key, committed in list(offsets.items()):
                if key not in hosted:
                    out.setdefault(key, set()).add(committed.offset)
        return out

    def collect(self) -> Iterator[Metric]:
        coordinator = self.services.group_coordinator
        if coordinator is None:
            return
        rm = self.services.replica_manager
        now_ms = self.services.clock.milliseconds()
        limit = self.view.max_partition_labels
        labels = ["consumergroup", "topic", "partition"]
        current = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "Committed offset of a consumer group at a topic partition.",
            labels=labels,
        )
        current_sum = GaugeMetricFamily(
            "kafka_consumergroup_current_offset_sum",
            "Sum of a consumer group's committed offsets of a topic.",
            labels=["consumergroup", "topic"],
        )
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "High watermark minus committed offset of a consumer group at a topic partition.",
            labels=labels,
        )
        lag_sum = GaugeMetricFamily(
            "kafka_consumergroup_lag_sum",
            "Sum of a consumer group's lag over a topic's partitions.",
            labels=["consumergroup", "topic"],
        )
        lag_seconds = GaugeMetricFamily(
            "kafka_consumergroup_group_lag_seconds",
            "Age of the first uncommitted batch of a consumer group at a topic partition.",
            labels=["group", "topic", "partition"],
        )
        members = GaugeMetricFamily(
            "kafka_consumergroup_members", "Members of a consumer group.", labels=["consumergroup"]
        )
        state = GaugeMetricFamily(
            "josef_consumergroup_state",
            "1 for the state a consumer group is in (Stable, Empty, PreparingRebalance, ...).",
            labels=["consumergroup", "state"],
        )
        for group_id, group in sorted(coordinator.groups.items()):
            members.add_metric([group_id], len(getattr(group, "members", ())))
            state.add_metric([group_id, group.state_name], 1)
        shown = 0
        omitted = 0
        remote = self.remote
        for group_id, offsets in sorted(coordinator.offsets.items()):
            sums: dict[str, list[int]] = {}
            for (topic, index), committed in sorted(offsets.items()):
                partition = rm.partitions.get((topic, index))
                if partition is not None:
                    hw = partition.high_watermark
                else:
                    remote_hw = remote.get(topic, index) if remote is not None else None
                    if remote_hw is None:
                        continue
                    hw = remote_hw
                behind = max(0, hw - committed.offset)
                totals = sums.setdefault(topic, [0, 0])
                totals[0] += committed.offset
                totals[1] += behind
                if shown >= limit:
                    omitted += 1
                    continue
                shown += 1
                values = [group_id, topic, str(index)]
                current.add_metric(values, committed.offset)
                lag.add_metric(values, behind)
                if partition is not None:
                    seconds = _lag_seconds(partition, committed.offset, hw, now_ms)
                else:
                    seconds = _remote_lag_seconds(
                        remote, topic, index, committed.offset, hw, now_ms
                    )
                if seconds is not None:
                    lag_seconds.add_metric(values, seconds)
            for topic, (offset_sum, behind_sum) in sorted(sums.items()):
                current_sum.add_metric([group_id, topic], offset_sum)
                lag_sum.add_metric([group_id, topic], behind_sum)
        yield from (current, current_sum, lag, lag_sum, lag_seconds, members, state)
        yield GaugeMetricFamily(
            "josef_consumergroup_omitted_series",
            "Group partitions left without their own lag series by "
            "josef.metrics.max.partition.labels.",
            value=omitted,
        )


def _remote_lag_seconds(
    remote: RemoteHighWatermarks | None,
    topic: str,
    index: int,
    committed: int,
    hw: int,
    now_ms: int,
) -> float | None:
    """As :func:`_lag_seconds`, from the leader's batch header asked before this scrape."""
    if committed >= hw:
        return 0.0
    timestamp = remote.batch_timestamp(topic, index, committed) if remote is not None else None
    if timestamp is None or timestamp < 0:
        return None
    return max(0.0, (now_ms - timestamp) / 1000.0)


def _lag_seconds(partition: Any, committed: int, hw: int, now_ms: int) -> float | None:
    """Seconds since the first uncommitted batch was written; None when unknown right now
    (the log is busy in another thread, or its timestamp is unset)."""
    if committed >= hw:
        return 0.0
    try:
        timestamp = partition.log.batch_timestamp(max(committed, partition.log_start_offset))
    except (OSError, ValueError):
        return None
    if timestamp is None or timestamp < 0:
        return None
    return max(0.0, (now_ms - int(timestamp)) / 1000.0)
