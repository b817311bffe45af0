"""Metrics: hot-path counters, the collectors' exact values, the HTTP listener's routes.

The in-process broker tests produce, fetch and commit through aiokafka on the broker's own
loop, then scrape ``/metrics`` over HTTP and parse it with prometheus-client's parser.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from broker.config.broker_config import load_config
from broker.config.http_listeners import HttpEndpoint, parse_http_listeners
from broker.config.properties import ConfigError
from broker.metrics.collector import BrokerCollector, BrokerView, families
from broker.metrics.stats import BrokerTopicStats, EventLoopLag, RequestMetrics, RequestTimes
from broker.server import KafkaBroker

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana" / "josef-dashboard.json"


def dashboard_metric_names() -> set[str]:
    """Metric names in the PromQL of every panel of the Grafana dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    variables = dashboard["templating"]["list"]
    exprs += [v["definition"] for v in variables if "definition" in v]
    names = {m for e in exprs for m in re.findall(r"\b(?:kafka|josef|process)_[a-z0-9_]+", e)}
    assert len(names) > 20
    return names


def test_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "josef-broker"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        for target in panel.get("targets", ()):
            assert target["datasource"]["uid"] == "${datasource}"


# --- configuration ----------------------------------------------------------------------


def test_http_listeners_parse() -> None:
    assert parse_http_listeners("") == ()
    assert parse_http_listeners(None) == ()
    assert parse_http_listeners("http://127.0.0.1:9644") == (HttpEndpoint("127.0.0.1", 9644),)
    assert parse_http_listeners("http://:9644, http://[::1]:0/") == (
        HttpEndpoint("", 9644),
        HttpEndpoint("::1", 0),
    )
    assert str(HttpEndpoint("::1", 80)) == "http://[::1]:80"
    assert parse_http_listeners("https://h:1") == (HttpEndpoint("h", 1, tls=True),)
    for bad in ("ftp://h:1", "h:1", "http://h", "http://h:99999", "http://h:1,http://h:1"):
        with pytest.raises(ConfigError):
            parse_http_listeners(bad)


def test_empty_http_listeners_disable() -> None:
    config = load_config(None, ["josef.http.listeners="])
    assert config.http_listeners == ()
    with pytest.raises(ConfigError, match=r"josef\.http\.listeners"):
        load_config(None, ["josef.http.listeners=tcp://127.0.0.1:1"])


# --- hot-path counters and the collector --------------------------------------------------


def test_broker_topic_stats_counts() -> None:
    stats = BrokerTopicStats()
    stats.record_produce("a", 10, 700)
    stats.record_produce("a", 5, 300)
    stats.record_produce("b", 1, 80)
    stats.record_fetch("a", 1000, follower=False)
    stats.record_fetch("a", 400, follower=True)
    stats.record_replication_in("b", 80)
    a, b, total = stats.topics["a"], stats.topics["b"], stats.all_topics
    assert (a.messages_in, a.bytes_in, a.produce_requests) == (15, 1000, 2)
    assert (a.bytes_out, a.replication_bytes_out, a.fetch_requests) == (1000, 400, 1)
    assert (b.messages_in, b.bytes_in, b.replication_bytes_in) == (1, 80, 80)
    assert (total.messages_in, total.bytes_in, total.bytes_out) == (16, 1080, 1000)
    assert (total.replication_bytes_in, total.replication_bytes_out) == (80, 400)


def _samples_of(view: BrokerView) -> Samples:
    samples: Samples = {}
    for family in families([BrokerCollector(view)]):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_request_metrics_exact_histogram() -> None:
    metrics = RequestMetrics()

    def record(api_key: int, version: int, ns: int) -> None:
        times = RequestTimes()
        times.api_key, times.api_version, times.complete_ns = api_key, version, ns
        metrics.count(api_key, version)
        metrics.record(times, ns, ns)  # all of it local time, sent in no time

    for ns in (50_000, 200_000, 200_000, 3_000_000, 60_000_000_000):
        record(0, 9, ns)  # Produce v9
    record(1, 12, 1_000_000)  # Fetch v12: exactly 1 ms falls in le=1.0
    record(1, 13, 2_000_000)
    metrics.record_error(1)
    view = BrokerView(0, 10, metrics, EventLoopLag(), lambda: {"PLAINTEXT": 3, "SSL": 0})
    s = _samples_of(view)
    total = "kafka_network_requestmetrics_requests_total"
    assert value(s, total, request="Produce", version="9") == 5
    assert value(s, total, request="Fetch", version="12") == 1
    assert value(s, total, request="Fetch", version="13") == 1
    bucket = "kafka_network_requestmetrics_totaltimems_bucket"
    assert value(s, bucket, request="Produce", le="0.1") == 1
    assert value(s, bucket, request="Produce", le="0.25") == 3
    assert value(s, bucket, request="Produce", le="2.5") == 3
    assert value(s, bucket, request="Produce", le="5.0") == 4
    assert value(s, bucket, request="Produce", le="30000.0") == 4
    assert value(s, bucket, request="Produce", le="+Inf") == 5
    assert value(s, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == 5
    assert value(
        s, "kafka_network_requestmetrics_totaltimems_sum", request="Produce"
    ) == pytest.approx(60_003.45)
    assert value(s, bucket, request="Fetch", le="1.0") == 1
    assert value(s, bucket, request="Fetch", le="2.5") == 2
    assert value(s, "josef_network_request_failures_total", request="Fetch") == 1
    conn = "kafka_server_socket_server_metrics_connection_count"
    assert value(s, conn, listener="PLAINTEXT") == 3
    assert value(s, conn, listener="SSL") == 0


def test_render_matches_generate_latest_with_escapes_and_specials() -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

    from broker.metrics.exposition import render

    registry = CollectorRegistry()
    Counter("c", "a counter", ["g"], registry=registry).labels('we"ird\\group\nx').inc(3)
    Gauge("g", "help with \\ and\nnewline", registry=registry).set(float("inf"))
    Gauge("n", "nan", registry=registry).set(float("nan"))
    Histogram("h", "h", buckets=(0.5, 1.0), registry=registry).observe(0.7)
    Info("i", "info", registry=registry).info({"version": "1"})
    ours = render([registry]).decode()
    theirs = generate_latest(registry).decode()

    def normalized(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
        return {
            (s.name, tuple(sorted(s.labels.items())), repr(s.value))
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    assert normalized(ours) == normalized(theirs)
    assert sorted(line for line in ours.splitlines() if line.startswith("#")) == sorted(
        line for line in theirs.splitlines() if line.startswith("#")
    )


# --- an in-process broker ------------------------------------------------------------------


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            "josef.http.listeners=http://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "offsets.topic.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            "josef.metrics.max.partition.labels=3",
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.shutdown()


def _bootstrap(broker: KafkaBroker) -> str:
    return f"127.0.0.1:{broker.listeners[0].port}"


async def _get(broker: KafkaBroker, path: str) -> tuple[int, str]:
    assert broker.http is not None and broker.http.bound
    host, port = broker.http.bound[0]
    async with aiohttp.ClientSession() as session, session.get(
        f"http://{host}:{port}{path}"
    ) as response:
        return response.status, await response.text()


async def test_health_and_ready(broker: KafkaBroker) -> None:
    assert await _get(broker, "/v1/health") == (200, '{"status": "ok"}')
    assert (await _get(broker, "/v1/ready"))[0] == 200
    broker.ready = False
    status, body = await _get(broker, "/v1/ready")
    assert status == 503 and "starting" in body
    broker.ready = True
    broker.request_stop()
    status, body = await _get(broker, "/v1/ready")
    assert status == 503 and "shutting down" in body
    assert (await _get(broker, "/v1/health"))[0] == 200
    assert (await _get(broker, "/nope"))[0] == 404


async def test_metrics_after_produce_fetch_commit(broker: KafkaBroker) -> None:
    bootstrap = _bootstrap(broker)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("m", num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for i in range(7):
            await producer.send_and_wait("m", f"value-{i}".encode(), partition=0)
        for i in range(3):
            await producer.send_and_wait("m", f"v{i}".encode(), partition=1)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id="g",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition("m", 0), TopicPartition("m", 1)])
        got = 0
        while got < 10:
            batches = await consumer.getmany(timeout_ms=2000)
            got += sum(len(records) for records in batches.values())
        assert got == 10
        await consumer.commit({TopicPartition("m", 0): 2, TopicPartition("m", 1): 3})
    finally:
        await consumer.stop()

    status, text = await _get(broker, "/metrics")
    assert status == 200
    s = parse(text)
    log_size = [value(s, "kafka_log_log_size", topic="m", partition=str(p)) for p in (0, 1)]
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic="m") == 10
    assert value(s, "kafka_server_brokertopicmetrics_totalproducerequests_total", topic="m") == 10
    assert value(s, "kafka_server_brokertopicmetrics_bytesin_total", topic="m") == sum(log_size)
    assert value(s, "kafka_server_brokertopicmetrics_bytesout_total", topic="m") == sum(log_size)
    assert value(s, "kafka_log_log_logendoffset", topic="m", partition="0") == 7
    assert value(s, "kafka_log_log_logendoffset", topic="m", partition="1") == 3
    assert value(s, "kafka_log_log_logstartoffset", topic="m", partition="0") == 0
    assert value(s, "kafka_cluster_partition_highwatermark", topic="m", partition="0") == 7
    requests = "kafka_network_requestmetrics_requests_total"
    produce = sum(v for (n, labels), v in s.items() if n == requests and ("request", "Produce")
                  in labels)
    assert produce == 10
    # Replica manager: 2 partitions of m plus 1 of __consumer_offsets, all led here.
    assert value(s, "kafka_server_replicamanager_partitioncount") == 3
    assert value(s, "kafka_server_replicamanager_leadercount") == 3
    assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(s, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    # Consumer lag, kafka_exporter's names: HW - committed.
    lag = "kafka_consumergroup_lag"
    assert value(s, lag, consumergroup="g", topic="m", partition="0") == 5
    assert value(s, lag, consumergroup="g", topic="m", partition="1") == 0
    assert value(s, "kafka_consumergroup_lag_sum", consumergroup="g", topic="m") == 5
    current = "kafka_consumergroup_current_offset"
    assert value(s, current, consumergroup="g", topic="m", partition="0") == 2
    assert value(s, current, consumergroup="g", topic="m", partition="1") == 3
    assert value(s, "kafka_consumergroup_current_offset_sum", consumergroup="g", topic="m") == 5
    seconds = "kafka_consumergroup_group_lag_seconds"
    assert value(s, seconds, group="g", topic="m", partition="0") > 0
    assert value(s, seconds, group="g", topic="m", partition="1") == 0
    assert value(s, "kafka_consumergroup_members", consumergroup="g") == 0
    assert value(s, "josef_consumergroup_state", consumergroup="g", state="Empty") == 1
    assert value(s, "kafka_coordinator_group_groupmetadatamanager_numoffsets") == 2
    # josef.metrics.max.partition.labels=3: all 3 partitions shown, nothing omitted.
    assert value(s, "josef_metrics_omitted_series", kind="partition") == 0
    assert ("process_cpu_seconds_total", ()) in s
    # The fast exposition says what prometheus-client's generate_latest says.
    assert broker.http is not None
    assert parse(generate_latest(broker.http.registry).decode()).keys() == s.keys()
    # Every series the Grafana dashboard queries is one this scrape has.
    exposed = {name for name, _ in s}
    assert dashboard_metric_names() <= exposed


async def test_partition_labels_are_capped(broker: KafkaBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=_bootstrap(broker))
    await admin.start()
    try:
        await admin.create_topics([NewTopic("wide", num_partitions=5, replication_factor=1)])
    finally:
        await admin.close()
    assert broker.services is not None
    rm = broker.services.replica_manager
    assert await broker.services.metadata.wait_until(lambda: len(rm.partitions) >= 5, 10_000)
    s = parse((await _get(broker, "/metrics"))[1])
    shown = [labels for (name, labels) in s if name == "kafka_log_log_size"]
    assert len(shown) == 3
    assert value(s, "josef_metrics_omitted_series", kind="partition") == len(rm.partitions) - 3
    assert value(s, "kafka_server_replicamanager_partitioncount") == len(rm.partitions)


async def test_deleted_topic_leaves_metrics(broker: KafkaBroker) -> None:
    bootstrap = _bootstrap(broker)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("gone", num_partitions=1, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("gone", b"x", partition=0)
        finally:
            await producer.stop()
        messages_in = "kafka_server_brokertopicmetrics_messagesin_total"
        s = parse((await _get(broker, "/metrics"))[1])
        assert value(s, messages_in, topic="gone") == 1
        await admin.delete_topics(["gone"])
    finally:
        await admin.close()
    assert broker.services is not None
    stats = broker.services.replica_manager.topic_stats
    assert await broker.services.metadata.wait_until(lambda: "gone" not in stats.topics, 10_000)
    s = parse((await _get(broker, "/metrics"))[1])
    assert (messages_in, (("topic", "gone"),)) not in s
    assert value(s, messages_in) == 1  # the all-topics total keeps counting what came in


async def test_group_coordinator_and_connection_counts(broker: KafkaBroker) -> None:
    """group-coordinator-metrics counts (offsets committed and deleted, rebalances
    completed) and socket-server connection totals per listener."""
    bootstrap = _bootstrap(broker)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("cc", num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        "cc", bootstrap_servers=bootstrap, group_id="cg", enable_auto_commit=False
    )
    await consumer.start()
    try:
        while len(consumer.assignment()) < 3:  # joined: one completed rebalance
            await consumer.getmany(timeout_ms=200)
        await consumer.commit({TopicPartition("cc", p): 1 for p in range(3)})
        await consumer.commit({TopicPartition("cc", 0): 1})
    finally:
        await consumer.stop()
    services = broker.services
    assert services is not None and services.group_coordinator is not None
    # The group left: its offsets of cc may go (the group no longer subscribes to cc).
    error, results = await services.group_coordinator.delete_offsets("cg", [("cc", 1)])
    assert error.name == "none" and results[("cc", 1)].name == "none"

    s = parse((await _get(broker, "/metrics"))[1])
    prefix = "kafka_server_group_coordinator_metrics_"
    assert value(s, prefix + "offset_commit_count") == 4
    assert value(s, prefix + "offset_deletion_count") == 1
    assert value(s, prefix + "offset_expiration_count") == 0
    assert value(s, prefix + "group_completed_rebalance_count") == 1
    created = value(
        s, "kafka_server_socket_server_metrics_connection_creation_total", listener="PLAINTEXT"
    )
    closed = value(
        s, "kafka_server_socket_server_metrics_connection_close_total", listener="PLAINTEXT"
    )
    open_now = value(s, "kafka_server_socket_server_metrics_connection_count", listener="PLAINTEXT")
    assert created >= 2 and created - closed == open_now


async def test_join_group_waiting_for_a_rebalance_is_remote_time(broker: KafkaBroker) -> None:
    """A JoinGroup parked until the other member rejoins counts as remote time (Kafka's
    DelayedJoin), not local time."""
    bootstrap = _bootstrap(broker)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("jg", num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    consumers = [
        AIOKafkaConsumer(
            "jg", bootstrap_servers=bootstrap, group_id="jg-group", heartbeat_interval_ms=100
        )
        for _ in range(2)
    ]
    try:
        await consumers[0].start()
        while len(consumers[0].assignment()) < 2:
            await consumers[0].getmany(timeout_ms=100)
        await consumers[1].start()  # its join waits until the first member rejoins
        while len(consumers[1].assignment()) < 1:
            await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))
    finally:
        for c in consumers:
            await c.stop()
    s = parse((await _get(broker, "/metrics"))[1])
    remote = "kafka_network_requestmetrics_remotetimems"
    joins = value(s, remote + "_count", request="JoinGroup")
    assert joins >= 3
    assert joins - value(s, remote + "_bucket", request="JoinGroup", le="0.1") >= 1
    assert value(s, remote + "_sum", request="JoinGroup") > 0
