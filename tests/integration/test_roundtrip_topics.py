"""Many partitions, many topics, auto-created topics."""

from __future__ import annotations

import time

import pytest
from helpers.broker_process import BrokerProcess, is_tansu, require_josef
from helpers.clients import (
    PRODUCER_CLIENTS,
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
    wait_for_topic,
)

CONSUMER_FOR = {
    "kafka-python": "confluent",
    "aiokafka": "kcat",
    "confluent": "kafka-python",
    "kcat": "confluent",
}


def _records(tag: str, n: int) -> list[Record]:
    return [Record(f"{tag}-{i}".encode(), f"{tag} value {i}".encode()) for i in range(n)]


def test_eight_partitions_confluent_admin(shared: BrokerProcess) -> None:
    topic = unique_topic("p8c")
    create_topic(shared.bootstrap, topic, partitions=8)
    per_part = {p: _records(f"p{p}", 10 + p) for p in range(8)}
    for p, recs in per_part.items():
        producer = PRODUCER_CLIENTS[p % 3]  # kafka-python, aiokafka, confluent
        assert produce(producer, shared.bootstrap, topic, recs, partition=p) == list(
            range(len(recs))
        )
    for p, recs in per_part.items():
        consumer = ("confluent", "kafka-python", "aiokafka")[p % 3]
        assert_roundtrip(recs, consume(consumer, shared.bootstrap, topic, p, 0, len(recs)))


def test_eight_partitions_kafka_python_admin(shared: BrokerProcess) -> None:
    from kafka.admin import KafkaAdminClient

    topic = unique_topic("p8k")
    admin = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics({topic: {"num_partitions": 8, "replication_factor": 1}})
    finally:
        admin.close()
    assert wait_for_topic(shared.bootstrap, topic, 8) == 8
    # librdkafka's partitioner spreads keyed records over all partitions
    recs = [Record(f"key-{i}".encode(), f"v{i}".encode()) for i in range(200)]
    produce("confluent", shared.bootstrap, topic, recs, partition=None)
    from helpers.clients import watermarks

    counts = {p: watermarks(shared.bootstrap, topic, p)[1] for p in range(8)}
    assert sum(counts.values()) == 200
    assert sum(1 for c in counts.values() if c > 0) >= 4, counts
    seen: list[bytes | None] = []
    for p, n in counts.items():
        if n:
            got = consume("kafka-python", shared.bootstrap, topic, p, 0, n)
            assert [c.offset for c in got] == list(range(n))
            seen += [c.key for c in got]
    assert sorted(seen) == sorted(r.key for r in recs)


def test_twenty_topics(shared: BrokerProcess) -> None:
    topics = [unique_topic(f"many{i:02d}") for i in range(20)]
    for t in topics:
        create_topic(shared.bootstrap, t)
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": shared.bootstrap, "linger.ms": 20, "acks": "all"})
    errors: list[object] = []
    for i in range(10):
        for t in topics:
            p.produce(
                t,
                key=f"{t}-{i}".encode(),
                value=f"v{i}".encode(),
                partition=0,
                on_delivery=lambda e, m: errors.append(e) if e else None,
            )
    assert p.flush(30) == 0
    assert errors == []
    for n, t in enumerate(topics):
        consumer = ("kafka-python", "aiokafka", "confluent")[n % 3]
        expect = [Record(f"{t}-{i}".encode(), f"v{i}".encode()) for i in range(10)]
        assert_roundtrip(expect, consume(consumer, shared.bootstrap, t, 0, 0, 10))


@pytest.mark.parametrize("producer", PRODUCER_CLIENTS, ids=lambda p: f"{p}->{CONSUMER_FOR[p]}")
def test_auto_created_topic(shared: BrokerProcess, producer: str) -> None:
    """Producing to an unknown topic creates it (auto.create.topics.enable defaults to true)."""
    consumer = CONSUMER_FOR[producer]
    require_client(producer)
    require_client(consumer)
    topic = unique_topic(f"auto-{producer}")
    recs = _records("auto", 5)
    produce(producer, shared.bootstrap, topic, recs)
    partitions = wait_for_topic(shared.bootstrap, topic)
    if not is_tansu():  # Tansu auto-creates with 4 partitions
        assert partitions == 1  # Kafka's num.partitions default
    assert_roundtrip(recs, consume(consumer, shared.bootstrap, topic, 0, 0, len(recs)))


def test_auto_create_uses_num_partitions(broker_factory) -> None:  # type: ignore[no-untyped-def]
    require_josef("num.partitions is a Josef server setting")
    b = broker_factory({"num.partitions": "3"})
    topic = unique_topic("auto3")
    produce("confluent", b.bootstrap, topic, _records("x", 3), partition=None)
    assert wait_for_topic(b.bootstrap, topic) == 3


def test_auto_create_disabled(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """With auto.create.topics.enable=false, Metadata answers UNKNOWN_TOPIC_OR_PARTITION."""
    require_josef("auto.create.topics.enable is a Josef server setting")
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    b = broker_factory({"auto.create.topics.enable": "false"})
    topic = unique_topic("noauto")
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "allow.auto.create.topics": True})
    md = admin.list_topics(topic=topic, timeout=10)
    assert md.topics[topic].error is not None
    assert md.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    time.sleep(0.5)
    md = admin.list_topics(timeout=10)
    assert topic not in md.topics
