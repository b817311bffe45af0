"""Kafka's RequestMetrics time breakdown on a real broker process: a Fetch parked for
max.wait lands in remotetimems, an acks=1 Produce never parks (remote time 0), and every
phase histogram counts each request once; with josef.metrics.enabled=false nothing is
counted and clients still work."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import Record, create_topic, produce, unique_topic
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.usefixtures("_josef_only")

GUARD_S = 30.0  # a guard against a hung client, not a measurement
PHASES = (
    "totaltimems",
    "requestqueuetimems",
    "localtimems",
    "remotetimems",
    "throttletimems",
    "responsequeuetimems",
    "responsesendtimems",
)
MAX_WAIT_MS = 400
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(broker: BrokerProcess) -> Samples:
    with urllib.request.urlopen(broker.http_url + "/metrics", timeout=GUARD_S) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def _josef_only() -> None:
    require_josef("Josef's HTTP listener")


def _records(n: int) -> list[Record]:
    return [Record(key=None, value=f"v{i}".encode()) for i in range(n)]


def _idle_fetch_confluent(bootstrap: str, topic: str, n: int) -> None:
    """Read the ``n`` records, then keep polling an idle partition: its Fetches park."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_topic("g"),
            "enable.auto.commit": False,
            "fetch.wait.max.ms": MAX_WAIT_MS,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = 0
        deadline = time.monotonic() + GUARD_S
        while got < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got += 1
        assert got == n
        idle_until = time.monotonic() + 3 * MAX_WAIT_MS / 1000
        while time.monotonic() < idle_until:
            assert consumer.poll(0.2) is None
    finally:
        consumer.close()


def _idle_fetch_kafka_python(bootstrap: str, topic: str, n: int) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, fetch_max_wait_ms=MAX_WAIT_MS, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got = 0
        deadline = time.monotonic() + GUARD_S
        while got < n and time.monotonic() < deadline:
            batches: Any = consumer.poll(timeout_ms=500)
            got += sum(len(r) for r in batches.values())
        assert got == n
        idle_until = time.monotonic() + 3 * MAX_WAIT_MS / 1000
        while time.monotonic() < idle_until:
            assert not consumer.poll(timeout_ms=200)
    finally:
        consumer.close()


def _requests(s: Samples, api: str) -> float:
    return sum(
        v
        for (name, labels), v in s.items()
        if name == "kafka_network_requestmetrics_requests_total" and dict(labels)["request"] == api
    )


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_parked_fetch_is_remote_time_and_acks1_produce_is_not(
    broker: BrokerProcess, client: str
) -> None:
    topic = unique_topic("rt")
    create_topic(broker.bootstrap, topic)
    assert produce(client, broker.bootstrap, topic, _records(20), acks=1) == list(range(20))
    idle = _idle_fetch_confluent if client == "confluent" else _idle_fetch_kafka_python
    idle(broker.bootstrap, topic, 20)

    s = scrape(broker)
    produces = _requests(s, "Produce")
    assert produces >= 1
    produce_req = {"request": "Produce"}
    for phase in PHASES:
        name = f"kafka_network_requestmetrics_{phase}"
        assert value(s, name + "_count", **produce_req) == produces, phase
    remote = "kafka_network_requestmetrics_remotetimems"
    # acks=1 never waits for followers: every Produce in the first bucket, nothing summed.
    assert value(s, remote + "_bucket", le="0.1", **produce_req) == produces
    assert value(s, remote + "_sum", **produce_req) == 0
    assert value(s, "kafka_network_requestmetrics_throttletimems_sum", **produce_req) == 0

    fetches = _requests(s, "Fetch")
    fetch_req = {"request": "Fetch"}
    assert value(s, remote + "_count", **fetch_req) == fetches
    # The idle Fetches parked until max.wait: above 250 ms, in remote (not local) time.
    parked = fetches - value(s, remote + "_bucket", le="250.0", **fetch_req)
    assert parked >= 1
    assert value(s, remote + "_sum", **fetch_req) >= parked * 250
    total_sum = value(s, "kafka_network_requestmetrics_totaltimems_sum", **fetch_req)
    parts = sum(
        value(s, f"kafka_network_requestmetrics_{p}_sum", **fetch_req)
        for p in (
            "requestqueuetimems",
            "localtimems",
            "remotetimems",
            "responsequeuetimems",
            "responsesendtimems",
        )
    )
    assert parts == pytest.approx(total_sum, rel=1e-6, abs=1e-3)


def test_metrics_disabled_counts_nothing(broker_factory: Any) -> None:
    b: BrokerProcess = broker_factory({"josef.metrics.enabled": "false"})
    topic = unique_topic("off")
    create_topic(b.bootstrap, topic)
    assert produce("confluent", b.bootstrap, topic, _records(5), acks=1) == list(range(5))
    assert produce("kafka-python", b.bootstrap, topic, _records(5), acks=1) == list(range(5, 10))
    s = scrape(b)
    assert _requests(s, "Produce") == 0
    assert not any(n.startswith("kafka_network_requestmetrics_totaltimems") for n, _ in s)
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total") == 0
    assert value(s, "kafka_log_log_logendoffset", topic=topic, partition="0") == 10
