"""group-coordinator-metrics on /metrics for both rebalance protocols: KIP-848 consumer groups
(confluent-kafka with ``group.protocol=consumer``) count a rebalance per group epoch a
member's heartbeat bumps (Kafka's consumer-group-rebalance-count; a member leaving bumps
the epoch without counting), classic groups (kafka-python) count completed rebalances;
group-count by protocol and consumer-group-count by state."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import create_topic, unique_topic
from prometheus_client.parser import text_string_to_metric_families

GUARD_S = 30.0  # a guard against a hung client, not a measurement
PARTITIONS = 4
PREFIX = "kafka_server_group_coordinator_metrics_"
OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "300",
    "group.consumer.session.timeout.ms": "6000",
    "offsets.topic.num.partitions": "2",
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(broker: BrokerProcess) -> Samples:
    with urllib.request.urlopen(broker.http_url + "/metrics", timeout=GUARD_S) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(PREFIX + name, tuple(sorted(labels.items())))]


def poll_until(what: str, consumers: list[Any], done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for c in consumers:
            c.poll(0.1)


def kip848_consumer(bootstrap: str, group: str, name: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "client.id": name,
            "enable.auto.commit": False,
        }
    )


def test_consumer_and_classic_group_rebalances(broker_factory: Callable[..., Any]) -> None:
    require_josef("KIP-848 group coordinator metrics")
    broker: BrokerProcess = broker_factory(OVERRIDES)
    topic = unique_topic("gcm")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    s = scrape(broker)
    assert value(s, "consumer_group_rebalance_count") == 0
    assert value(s, "group_count", protocol="consumer") == 0

    a = kip848_consumer(broker.bootstrap, "g848", "a")
    b = kip848_consumer(broker.bootstrap, "g848", "b")
    try:
        a.subscribe([topic])
        poll_until("a owns every partition", [a], lambda: len(a.assignment()) == PARTITIONS)
        s = scrape(broker)
        assert value(s, "consumer_group_rebalance_count") == 1  # a joined: epoch 1
        assert value(s, "group_count", protocol="consumer") == 1

        b.subscribe([topic])
        poll_until(
            "a and b share the partitions",
            [a, b],
            lambda: len(a.assignment()) == len(b.assignment()) == PARTITIONS // 2,
        )
        assert value(scrape(broker), "consumer_group_rebalance_count") == 2  # b joined
        b.close()
        poll_until("a owns every partition again", [a], lambda: len(a.assignment()) == PARTITIONS)

        def stable() -> bool:
            return value(scrape(broker), "consumer_group_count", state="Stable") == 1

        poll_until("the group is stable", [a], stable)
        s = scrape(broker)
        assert value(s, "consumer_group_rebalance_count") == 2  # leaving is not counted
        for state in ("Empty", "Assigning", "Reconciling", "Dead"):
            assert value(s, "consumer_group_count", state=state) == 0
        assert value(s, "group_completed_rebalance_count") == 0
    finally:
        a.close()

    from kafka import KafkaConsumer

    classic = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="classic")
    try:
        deadline = time.monotonic() + GUARD_S
        while len(classic.assignment()) < PARTITIONS:
            assert time.monotonic() < deadline, "kafka-python never got its assignment"
            classic.poll(timeout_ms=100)
        s = scrape(broker)
        assert value(s, "group_completed_rebalance_count") == 1
        assert value(s, "group_count", protocol="classic") == 1
        assert value(s, "group_count", protocol="consumer") == 1
        assert value(s, "consumer_group_rebalance_count") == 2
        assert s[("kafka_coordinator_group_groupmetadatamanager_numgroupsstable", ())] == 1
    finally:
        classic.close()
