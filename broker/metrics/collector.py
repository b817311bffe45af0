"""The broker's Prometheus collector: Kafka's metrics under the JMX exporter's names.

Everything is computed when ``/metrics`` is scraped, from the counters of
``broker.metrics.stats`` and the state the broker already keeps (partitions, purgatories,
listeners, the log cleaner, the group coordinator). Names follow the JMX exporter's
standard Kafka rules: ``kafka.server<type=BrokerTopicMetrics, name=MessagesInPerSec,
topic=t><>Count`` becomes ``kafka_server_brokertopicmetrics_messagesin_total{topic="t"}``.

Per-topic and per-partition series are capped by ``josef.metrics.max.partition.labels``
(first N by name); ``josef_metrics_omitted_series`` says how many were left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from broker.metrics.stats import (
    LATENCY_BUCKETS_MS,
    REQUEST_TIMES,
    BrokerTopicStats,
    EventLoopLag,
    RequestMetrics,
    TopicStats,
)
from protocol.api_registry import api_name

_TOPIC_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("messagesin", "messages_in", "Records appended by this broker as leader."),
    ("bytesin", "bytes_in", "Bytes of record batches produced to this broker."),
    ("bytesout", "bytes_out", "Record bytes sent to consumers in Fetch responses."),
    ("replicationbytesin", "replication_bytes_in", "Record bytes appended as a follower."),
    ("replicationbytesout", "replication_bytes_out", "Record bytes sent to follower replicas."),
    ("totalproducerequests", "produce_requests", "Partitions appended to by Produce requests."),
    ("totalfetchrequests", "fetch_requests", "Partitions answered in consumer Fetch requests."),
)

#: Kafka's ConsumerGroupState names (the state tag of consumer-group-count).
_CONSUMER_GROUP_STATES = ("Empty", "Assigning", "Reconciling", "Stable", "Dead")


@dataclass
class BrokerView:
    """What the collector reads from a running broker (filled in as components start)."""

    broker_id: int
    max_partition_labels: int
    request_metrics: RequestMetrics
    loop_lag: EventLoopLag
    #: listener name -> number of open connections
    connection_counts: Callable[[], dict[str, int]]
    services: Any = None  # broker.services.BrokerServices once started
    #: listener name -> (connections created, connections closed) since start
    connection_totals: Callable[[], dict[str, tuple[int, int]]] = dict


class BrokerCollector(Collector):
    """Kafka's broker-side metrics (BrokerTopicMetrics, RequestMetrics, ReplicaManager,
    Log, purgatories, socket server, log cleaner, group coordinator) at scrape time."""

    def __init__(self, view: BrokerView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        view = self.view
        yield from self._requests(view.request_metrics)
        yield from self._network(view)
        services = view.services
        if services is None:
            return
        rm = services.replica_manager
        omitted = GaugeMetricFamily(
            "josef_metrics_omitted_series",
            "Topics or partitions left without their own series by "
            "josef.metrics.max.partition.labels.",
            labels=["kind"],
        )
        yield from self._topic_stats(rm.topic_stats, view.max_partition_labels, omitted)
        yield from self._replica_manager(rm, services)
        yield from self._logs(rm, view.max_partition_labels, omitted)
        yield from self._purgatories(rm)
        yield from self._cleaner(services.log_manager)
        coordinator = services.group_coordinator
        if coordinator is not None:
            yield from self._groups(coordinator)
        yield omitted

    # -- RequestMetrics ---------------------------------------------------------------

    def _requests(self, metrics: RequestMetrics) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "kafka_network_requestmetrics_requests",
            "Requests received, by API and version.",
            labels=["request", "version"],
        )
        for (key, version), count in sorted(metrics.counts.items()):
            requests.add_metric([api_name(key), str(version)], count)
        yield requests
        keys = sorted(metrics.times)
        for phase, (short, doc) in enumerate(REQUEST_TIMES):
            family = HistogramMetricFamily(
                "kafka_network_requestmetrics_" + short,
                doc + ", in milliseconds.",
                labels=["request"],
            )
            for key in keys:
                hist = metrics.histogram(key, phase)
                cumulative = 0
                buckets: list[tuple[str, float]] = []
                for bound, count in zip(LATENCY_BUCKETS_MS, hist, strict=False):
                    cumulative += count
                    buckets.append((_le(bound), cumulative))
                cumulative += hist[len(LATENCY_BUCKETS_MS)]
                buckets.append(("+Inf", cumulative))
                family.add_metric([api_name(key)], buckets, hist[-1] / 1e6)
            yield family
        failures = CounterMetricFamily(
            "josef_network_request_failures",
            "Requests that closed their connection instead of being answered.",
            labels=["request"],
        )
        for key, count in sorted(metrics.errors.items()):
            failures.add_metric([api_name(key)], count)
        yield failures

    def _network(self, view: BrokerView) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections, by listener.",
            labels=["listener"],
        )
        for name, count in sorted(view.connection_counts().items()):
            connections.add_metric([name], count)
        yield connections
        created = CounterMetricFamily(
            "kafka_server_socket_server_metrics_connection_creation",
            "Client connections accepted, by listener.",
            labels=["listener"],
        )
        closed = CounterMetricFamily(
            "kafka_server_socket_server_metrics_connection_close",
            "Client connections closed, by listener.",
            labels=["listener"],
        )
        for name, (made, gone) in sorted(view.connection_totals().items()):
            created.add_metric([name], made)
            closed.add_metric([name], gone)
        yield created
        yield closed
        lag = view.loop_lag
        yield GaugeMetricFamily(
            "josef_eventloop_lag_seconds",
            "How late the event loop ran its last timer (the asyncio stand-in for "
            "Kafka's network processor idle ratio).",
            value=lag.last_s,
        )
        yield GaugeMetricFamily(
            "josef_eventloop_lag_max_seconds", "Largest event loop lag seen.", value=lag.max_s
        )

    # -- BrokerTopicMetrics -------------------------------------------------------------

    def _topic_stats(
        self, stats: BrokerTopicStats, limit: int, omitted: GaugeMetricFamily
    ) -> Iterator[Metric]:
        names = sorted(stats.topics)
        shown = names[:limit]
        omitted.add_metric(["topic"], len(names) - len(shown))
        per_topic: list[tuple[str, TopicStats]] = [(n, stats.topics[n]) for n in shown]
        for short, attr, doc in _TOPIC_COUNTERS:
            name = f"kafka_server_brokertopicmetrics_{short}"
            family = Metric(name, doc, "counter")
            family.add_sample(name + "_total", {}, getattr(stats.all_topics, attr))
            for topic, topic_stats in per_topic:
                family.add_sample(name + "_total", {"topic": topic}, getattr(topic_stats, attr))
            yield family

    # -- ReplicaManager and controller ------------------------------------------------

    def _replica_manager(self, rm: Any, services: Any) -> Iterator[Metric]:
        partitions = list(rm.partitions.values())
        leaders = [p for p in partitions if p.is_leader]
        under = under_min = at_min = 0
        for p in leaders:
            isr = len(p.isr)
            if isr < len(p.replicas):
                under += 1
            min_isr = p.log.config.min_insync_replicas
            if isr < min_isr:
                under_min += 1
            elif isr == min_isr:
                at_min += 1
        prefix = "kafka_server_replicamanager_"
        yield GaugeMetricFamily(
            prefix + "partitioncount", "Partitions hosted by this broker.", value=len(partitions)
        )
        yield GaugeMetricFamily(
            prefix + "leadercount", "Partitions this broker leads.", value=len(leaders)
        )
        yield GaugeMetricFamily(
            prefix + "underreplicatedpartitions",
            "Led partitions whose ISR is smaller than their replica set.",
            value=under,
        )
        yield GaugeMetricFamily(
            prefix + "underminisrpartitioncount",
            "Led partitions whose ISR is smaller than min.insync.replicas.",
            value=under_min,
        )
        yield GaugeMetricFamily(
            prefix + "atminisrpartitioncount",
            "Led partitions whose ISR equals min.insync.replicas.",
            value=at_min,
        )
        yield CounterMetricFamily(
            prefix + "isrshrinks", "ISR shrinks committed.", value=rm.topic_stats.isr_shrinks
        )
        yield CounterMetricFamily(
            prefix + "isrexpands", "ISR expands committed.", value=rm.topic_stats.isr_expands
        )
        metadata = services.metadata
        is_controller = metadata.controller_id == services.broker_id
        offline = 0
        if is_controller:
            for topic in metadata.topics().values():
                offline += sum(1 for s in topic.partitions.values() if s.leader < 0)
        yield GaugeMetricFamily(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller (a standalone broker is its own controller).",
            value=1 if is_controller else 0,
        )
        yield GaugeMetricFamily(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a leader (reported by the active controller only).",
            value=offline,
        )

    # -- Log ----------------------------------------------------------------------------

    def _logs(self, rm: Any, limit: int, omitted: GaugeMetricFamily) -> Iterator[Metric]:
        keys = sorted(rm.partitions)
        shown = keys[:limit]
        omitted.add_metric(["partition"], len(keys) - len(shown))
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of the segments.", labels=labels)
        start = GaugeMetricFamily(
            "kafka_log_log_logstartoffset", "Log start offset.", labels=labels
        )
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Log end offset.", labels=labels)
        segments = GaugeMetricFamily(
            "kafka_log_log_numlogsegments", "Segments of the log.", labels=labels
        )
        hw = GaugeMetricFamily(
            "kafka_cluster_partition_highwatermark", "High watermark.", labels=labels
        )
        urp = GaugeMetricFamily(
            "kafka_cluster_partition_underreplicated",
            "1 when this broker leads the partition and its ISR is smaller than its replicas.",
            labels=labels,
        )
        for key in shown:
            p = rm.partitions[key]
            log = p.log
            values = [key[0], str(key[1])]
            size.add_metric(values, log.size_without_lock)
            start.add_metric(values, p.log_start_offset)
            end.add_metric(values, p.log_end_offset)
            segments.add_metric(values, log.num_segments)
            hw.add_metric(values, p.high_watermark)
            urp.add_metric(values, 1 if p.is_leader and len(p.isr) < len(p.replicas) else 0)
        yield from (size, start, end, segments, hw, urp)

    def _purgatories(self, rm: Any) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kafka_server_delayedoperationpurgatory_purgatorysize",
            "Requests waiting in a purgatory (delayed fetches and acks=all produces).",
            labels=["delayedOperation"],
        )
        for purgatory in (rm.fetch_purgatory, rm.produce_purgatory):
            family.add_metric([purgatory.name], purgatory.size)
        yield family

    # -- LogCleaner ---------------------------------------------------------------------

    def _cleaner(self, log_manager: Any) -> Iterator[Metric]:
        cleaner = log_manager.cleaner
        if cleaner is None:
            return
        stats = cleaner.stats()
        ratios = stats["dirty_ratios"].values()
        read, written = stats["bytes_read"], stats["bytes_written"]
        yield GaugeMetricFamily(
            "kafka_log_logcleaner_max_dirty_percent",
            "Highest dirty ratio of a compacted log, in percent.",
            value=100.0 * max(ratios, default=0.0),
        )
        yield GaugeMetricFamily(
            "kafka_log_logcleaner_max_clean_time_secs",
            "Duration of the last cleaning pass, in seconds.",
            value=max(stats["last_duration_ms"], 0) / 1000.0,
        )
        yield GaugeMetricFamily(
            "kafka_log_logcleaner_cleaner_recopy_percent",
            "Bytes written as a percentage of bytes read by the cleaner since start.",
            value=100.0 * written / read if read else 0.0,
        )
        yield GaugeMetricFamily(
            "kafka_log_logcleanermanager_uncleanable_partitions_count",
            "Partitions the cleaner gave up on.",
            value=len(stats["uncleanable"]),
        )
        yield GaugeMetricFamily(
            "kafka_log_logcleanermanager_max_compaction_delay_secs",
            "How long past max.compaction.lag.ms the most overdue log is, in seconds.",
            value=max(stats["max_compaction_delay_ms"], 0) / 1000.0,
        )
        for name, key, doc in (
            ("josef_log_cleaner_bytes_read", "bytes_read", "Bytes read by the cleaner."),
            ("josef_log_cleaner_bytes_written", "bytes_written", "Bytes written by the cleaner."),
            ("josef_log_cleaner_passes", "passes", "Cleaning passes completed."),
        ):
            yield CounterMetricFamily(name, doc, value=stats[key])

    # -- GroupMetadataManager -----------------------------------------------------------

    def _groups(self, coordinator: Any) -> Iterator[Metric]:
        prefix = "kafka_coordinator_group_groupmetadatamanager_"
        groups = list(coordinator.groups.values())
        # Kafka's GroupMetadataManager gauges count classic groups only.
        classic = [g for g in groups if g.group_type == "classic"]
        yield GaugeMetricFamily(
            prefix + "numgroups", "Classic groups this coordinator holds.", value=len(classic)
        )
        yield GaugeMetricFamily(
            prefix + "numoffsets",
            "Committed offsets this coordinator holds.",
            value=sum(len(o) for o in coordinator.offsets.values()),
        )
        counts: dict[str, int] = {}
        for g in classic:
            counts[g.state_name] = counts.get(g.state_name, 0) + 1
        for state in ("Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"):
            yield GaugeMetricFamily(
                prefix + "numgroups" + state.lower(),
                f"Classic groups in state {state}.",
                value=counts.get(state, 0),
            )
        # KafkaMetrics of group "group-coordinator-metrics": cumulative counts under the
        # names the JMX exporter gives them (untyped there, so gauges here).
        stats = coordinator.stats
        for name, count, doc in (
            ("offset_commit_count", stats.offset_commits, "Offsets committed."),
            ("offset_expiration_count", stats.offset_expirations, "Offsets expired."),
            ("offset_deletion_count", stats.offset_deletions, "Offsets deleted by OffsetDelete."),
            ("group_completed_rebalance_count", stats.completed_rebalances,
             "Classic group rebalances completed."),
            ("consumer_group_rebalance_count", stats.consumer_group_rebalances,
             "Consumer group (KIP-848) rebalances: group epochs bumped by a member's heartbeat."),
        ):  # fmt: skip
            yield GaugeMetricFamily(
                "kafka_server_group_coordinator_metrics_" + name, doc, value=count
            )
        by_protocol = GaugeMetricFamily(
            "kafka_server_group_coordinator_metrics_group_count",
            "Groups, by rebalance protocol.",
            labels=["protocol"],
        )
        by_consumer_state = GaugeMetricFamily(
            "kafka_server_group_coordinator_metrics_consumer_group_count",
            "Consumer (KIP-848) groups, by state.",
            labels=["state"],
        )
        protocols = {"classic": 0, "consumer": 0}
        consumer_states = dict.fromkeys(_CONSUMER_GROUP_STATES, 0)
        for g in groups:
            protocols[g.group_type] = protocols.get(g.group_type, 0) + 1
            if g.group_type == "consumer":
                consumer_states[g.state_name] = consumer_states.get(g.state_name, 0) + 1
        for protocol, count in protocols.items():
            by_protocol.add_metric([protocol], count)
        for state, count in consumer_states.items():
            by_consumer_state.add_metric([state], count)
        yield by_protocol
        yield by_consumer_state


def _le(bound: float) -> str:
    return repr(float(bound))


def families(items: Iterable[Collector]) -> list[Metric]:
    """All metric families of ``items`` (tests read values from these)."""
    return [m for c in items for m in c.collect()]
