"""Produce with one client, consume with another: keys, headers, tombstones, timestamps, acks.

Every pair includes a librdkafka-based client (confluent-kafka or kcat), and every client
appears as producer and as consumer.
"""

from __future__ import annotations

import time

import pytest
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
)

# (producer, consumer): each client on both sides, a librdkafka client in every pair.
PAIRS = [
    ("kafka-python", "confluent"),
    ("aiokafka", "kcat"),
    ("confluent", "aiokafka"),
    ("kcat", "kafka-python"),
    ("confluent", "kcat"),
    ("kcat", "confluent"),
]
PAIR_IDS = [f"{p}->{c}" for p, c in PAIRS]


def mixed_records(producer: str) -> list[Record]:
    """Keys, null keys, empty keys, headers, null values, empty values (no timestamps)."""
    recs = [
        Record(b"key-0", b"value-0"),
        Record(None, b"no key"),
        Record(b"key-2", b"with headers", (("h1", b"a"), ("h2", b"bb"))),
        Record(b"key-3", None),  # tombstone
        Record(b"key-4", b""),  # empty, non-null value
        Record(b"", b"empty key"),
        Record(b"key-6", b"dup header names", (("h", b"1"), ("h", b"2"))),
        Record(b"\x00\xff\x01bin", bytes(range(256))),
        Record(None, None),
        Record(b"key-9", "unicodé ✓".encode(), (("ü", "ß".encode()),)),
    ]
    if producer in ("kafka-python", "aiokafka"):
        # KafkaProducer.send / AIOKafkaProducer.send refuse a record with neither key nor value.
        recs = [r for r in recs if r.key is not None or r.value is not None]
    if producer == "kcat":
        # kcat -k cannot pass NUL bytes and an empty -k means "no key".
        recs = [r for r in recs if r.key != b"" and (r.key is None or b"\x00" not in r.key)]
    return recs


@pytest.mark.parametrize(("producer", "consumer"), PAIRS, ids=PAIR_IDS)
def test_mixed_records(shared: BrokerProcess, producer: str, consumer: str) -> None:
    require_client(producer)
    require_client(consumer)
    topic = unique_topic("mixed")
    create_topic(shared.bootstrap, topic)
    recs = mixed_records(producer)
    t0 = int(time.time() * 1000)
    offsets = produce(producer, shared.bootstrap, topic, recs)
    if producer != "kcat":
        assert offsets == list(range(len(recs)))
    got = consume(consumer, shared.bootstrap, topic, 0, 0, len(recs))
    assert_roundtrip(recs, got, produced_after_ms=t0)


TS_PAIRS = [("kafka-python", "kcat"), ("aiokafka", "confluent"), ("confluent", "kafka-python")]


@pytest.mark.parametrize(("producer", "consumer"), TS_PAIRS, ids=[f"{p}->{c}" for p, c in TS_PAIRS])
def test_explicit_timestamps(shared: BrokerProcess, producer: str, consumer: str) -> None:
    """CreateTime timestamps given by the producer come back exactly (incl. out of order)."""
    require_client(consumer)
    topic = unique_topic("ts")
    create_topic(shared.bootstrap, topic)
    base = 1_600_000_000_000
    stamps = [base, base + 1, base + 1000, base - 5000, base + 86_400_000, 1, base + 7]
    # (0 would mean "now" to librdkafka's producev, so the smallest stamp used is 1)
    recs = [Record(f"k{i}".encode(), f"v{i}".encode(), (), ts) for i, ts in enumerate(stamps)]
    assert produce(producer, shared.bootstrap, topic, recs) == list(range(len(recs)))
    got = consume(consumer, shared.bootstrap, topic, 0, 0, len(recs))
    assert_roundtrip(recs, got)


ACKS_CASES = [
    (producer, acks, consumer)
    for acks in ("0", "1", "all")
    for producer, consumer in [
        ("kafka-python", "confluent"),
        ("aiokafka", "kcat"),
        ("confluent", "kafka-python"),
        ("kcat", "aiokafka"),
    ]
]


@pytest.mark.parametrize(
    ("producer", "acks", "consumer"),
    ACKS_CASES,
    ids=[f"{p}-acks{a}->{c}" for p, a, c in ACKS_CASES],
)
def test_acks(shared: BrokerProcess, producer: str, acks: str, consumer: str) -> None:
    require_client(producer)
    require_client(consumer)
    topic = unique_topic(f"acks{acks}")
    create_topic(shared.bootstrap, topic)
    recs = [Record(f"k{i}".encode(), f"value {i}".encode() * 3) for i in range(50)]
    offsets = produce(producer, shared.bootstrap, topic, recs, acks=acks)
    if acks != "0" and producer != "kcat":
        assert offsets == list(range(len(recs)))
    got = consume(consumer, shared.bootstrap, topic, 0, 0, len(recs))
    assert_roundtrip(recs, got)


@pytest.mark.parametrize(("producer", "consumer"), PAIRS[:4], ids=PAIR_IDS[:4])
def test_two_produce_calls_continue_offsets(
    shared: BrokerProcess, producer: str, consumer: str
) -> None:
    """A second producer session appends after the first; consume from the middle."""
    require_client(producer)
    require_client(consumer)
    topic = unique_topic("append")
    create_topic(shared.bootstrap, topic)
    first = [Record(b"a", f"first {i}".encode()) for i in range(7)]
    second = [Record(b"b", f"second {i}".encode()) for i in range(5)]
    produce(producer, shared.bootstrap, topic, first)
    offsets = produce(producer, shared.bootstrap, topic, second)
    if producer != "kcat":
        assert offsets == list(range(7, 12))
    got = consume(consumer, shared.bootstrap, topic, 0, 5, 7)
    assert_roundtrip((first + second)[5:], got, first_offset=5)
