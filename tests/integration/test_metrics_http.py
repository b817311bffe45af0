"""The HTTP listener of a real broker process: /metrics after real clients produced and
consumed, consumer lag (high watermark - committed, kafka_exporter's names), /v1/health and
/v1/ready codes, an empty josef.http.listeners, and readiness in a ZooKeeper cluster."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    Record,
    commit_offsets_confluent,
    consume_and_commit_kafka_python,
    create_topic,
    produce,
    unique_topic,
)
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.usefixtures("_josef_only")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
GUARD_S = 30.0  # a guard against a hung client, not a measurement


@pytest.fixture
def _josef_only() -> None:
    require_josef("Josef's HTTP listener")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=GUARD_S) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def scrape(broker: BrokerProcess) -> Samples:
    status, text = get(broker.http_url + "/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _records(n: int, tag: str) -> list[Record]:
    return [Record(key=f"k{i}".encode(), value=f"{tag}-{i:04d}".encode()) for i in range(n)]


def test_counters_and_lag_after_real_clients(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer

    topic = unique_topic("metrics")
    create_topic(broker.bootstrap, topic, partitions=3)
    produce("confluent", broker.bootstrap, topic, _records(50, "a"), partition=0)
    produce("confluent", broker.bootstrap, topic, _records(40, "b"), partition=1)
    produce("kafka-python", broker.bootstrap, topic, _records(30, "c"), partition=2)
    produce("kafka-python", broker.bootstrap, topic, _records(30, "d"), partition=0)

    commit_offsets_confluent(
        broker.bootstrap, "lagging", {(topic, 0): 10, (topic, 1): 40, (topic, 2): 0}
    )
    consume_and_commit_kafka_python(broker.bootstrap, topic, "caught-up", 150)
    live = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "live",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        live.subscribe([topic])
        deadline = time.monotonic() + GUARD_S
        while not live.assignment() and time.monotonic() < deadline:
            live.poll(0.2)
        assert len(live.assignment()) == 3
        s = scrape(broker)
        assert value(s, "kafka_consumergroup_members", consumergroup="live") == 1
        assert value(s, "josef_consumergroup_state", consumergroup="live", state="Stable") == 1
    finally:
        live.close()

    s = scrape(broker)
    produced = 150
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == produced
    sizes = [value(s, "kafka_log_log_size", topic=topic, partition=str(p)) for p in range(3)]
    bytes_in = value(s, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
    assert bytes_in == sum(sizes) > 0
    assert value(s, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) >= bytes_in
    ends = [value(s, "kafka_log_log_logendoffset", topic=topic, partition=str(p)) for p in range(3)]
    assert ends == [80, 40, 30]
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total") >= produced

    lag = "kafka_consumergroup_lag"
    assert [value(s, lag, consumergroup="lagging", topic=topic, partition=str(p))
            for p in range(3)] == [70, 0, 30]
    assert value(s, "kafka_consumergroup_lag_sum", consumergroup="lagging", topic=topic) == 100
    current = "kafka_consumergroup_current_offset"
    assert [value(s, current, consumergroup="lagging", topic=topic, partition=str(p))
            for p in range(3)] == [10, 40, 0]
    assert [value(s, lag, consumergroup="caught-up", topic=topic, partition=str(p))
            for p in range(3)] == [0, 0, 0]
    assert value(s, "kafka_consumergroup_lag_sum", consumergroup="caught-up", topic=topic) == 0
    assert value(s, "kafka_consumergroup_members", consumergroup="caught-up") == 0
    seconds = "kafka_consumergroup_group_lag_seconds"
    assert value(s, seconds, group="lagging", topic=topic, partition="0") > 0
    assert value(s, seconds, group="lagging", topic=topic, partition="1") == 0

    requests = "kafka_network_requestmetrics_requests_total"
    by_api: dict[str, float] = {}
    for (name, labels), v in s.items():
        if name == requests:
            api = dict(labels)["request"]
            by_api[api] = by_api.get(api, 0) + v
    for api in ("Produce", "Fetch", "Metadata", "OffsetCommit", "JoinGroup", "ApiVersions"):
        assert by_api.get(api, 0) > 0, api
    assert value(s, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == (
        by_api["Produce"]
    )
    assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(s, "kafka_server_replicamanager_leadercount") == value(
        s, "kafka_server_replicamanager_partitioncount"
    )
    connections = "kafka_server_socket_server_metrics_connection_count"
    assert value(s, connections, listener="PLAINTEXT") >= 0
    assert value(s, "process_resident_memory_bytes") > 0


def test_health_and_ready_codes(broker: BrokerProcess) -> None:
    assert get(broker.http_url + "/v1/health") == (200, '{"status": "ok"}')
    assert get(broker.http_url + "/v1/ready") == (200, '{"status": "ready"}')
    assert get(broker.http_url + "/v1/nothing")[0] == 404
    broker.stop()
    with pytest.raises(urllib.error.URLError):
        get(broker.http_url + "/v1/health")


def test_empty_http_listeners_disables_it(broker_factory: Any) -> None:
    b: BrokerProcess = broker_factory({"josef.http.listeners": ""})
    with pytest.raises(urllib.error.URLError):
        get(b.http_url + "/v1/health")
    topic = unique_topic("nohttp")
    create_topic(b.bootstrap, topic)
    assert produce("confluent", b.bootstrap, topic, _records(3, "x")) == [0, 1, 2]


def test_cluster_brokers_become_ready(josef_cluster: Any) -> None:
    cluster = josef_cluster(size=2)
    cluster.wait_registered({b.broker_id for b in cluster})
    for b in cluster:
        deadline = time.monotonic() + GUARD_S
        status, body = get(b.http_url + "/v1/ready")
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = get(b.http_url + "/v1/ready")
        assert (status, body) == (200, '{"status": "ready"}')
        s = scrape(b)
        assert value(s, "kafka_controller_kafkacontroller_activecontrollercount") == (
            1 if b.broker_id == cluster.controller_id() else 0
        )


def test_cluster_replication_and_isr_metrics(josef_cluster: Any) -> None:
    """RF=2: the follower's replication bytes in equal the leader's bytes in; with the
    follower paused (its ZooKeeper session outlives the pause) and records it cannot fetch,
    the leader shrinks the ISR itself and reports the partition under-replicated; resumed,
    the follower catches up and the leader expands the ISR again."""
    from helpers.josef_cluster import wait_until

    long_session = {"zookeeper.session.timeout.ms": "60000"}
    cluster = josef_cluster(size=2, per_broker={1: long_session, 2: long_session})
    topic = unique_topic("rep")
    # The controller leads: the follower paused below must not be the one taking AlterPartition.
    leader_id = cluster.wait_controller()
    (follower,) = [b for b in cluster if b.broker_id != leader_id]
    cluster.create_topic(topic, assignment=[[leader_id, follower.broker_id]])
    assert cluster.leader_of(topic, 0) == leader_id
    leader = cluster[leader_id]
    cluster.wait_isr(topic, 0, {leader_id, follower.broker_id})
    produce("confluent", cluster.bootstrap, topic, _records(20, "r"), acks="all")
    produce("kafka-python", cluster.bootstrap, topic, _records(5, "s"), acks="all")

    def replicated() -> float | None:
        lead, foll = scrape(leader), scrape(follower)
        bytes_in = value(lead, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
        copied = foll.get(
            ("kafka_server_brokertopicmetrics_replicationbytesin_total", (("topic", topic),)), 0
        )
        return bytes_in if copied == bytes_in > 0 else None

    bytes_in = wait_until("follower copied every byte", replicated, GUARD_S)
    lead = scrape(leader)
    assert value(lead, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 25
    assert value(lead, "kafka_log_log_size", topic=topic, partition="0") == bytes_in
    out = value(lead, "kafka_server_brokertopicmetrics_replicationbytesout_total", topic=topic)
    assert out >= bytes_in
    assert value(lead, "kafka_cluster_partition_underreplicated", topic=topic, partition="0") == 0
    shrinks = value(lead, "kafka_server_replicamanager_isrshrinks_total")
    expands = value(lead, "kafka_server_replicamanager_isrexpands_total")

    follower.pause()
    try:
        # New records the paused follower cannot fetch: after replica.lag.time.max.ms it is
        # out of sync (a stalled follower with nothing to fetch stays in the ISR, as in Kafka).
        produce("confluent", leader.bootstrap, topic, _records(5, "t"), acks=1)

        def shrunk() -> Samples | None:
            s = scrape(leader)
            urp = value(s, "kafka_cluster_partition_underreplicated", topic=topic, partition="0")
            return s if urp == 1 else None

        s = wait_until("leader reports the partition under-replicated", shrunk, 60.0)
        assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") >= 1
        assert value(s, "kafka_server_replicamanager_isrshrinks_total") >= shrinks + 1
    finally:
        follower.resume()

    def expanded() -> bool:
        s = scrape(leader)
        return value(s, "kafka_server_replicamanager_isrexpands_total") >= expands + 1

    wait_until("leader expands the ISR again", expanded, 60.0)
