"""Record sizes from 1 byte to ~1 MB (just under Kafka's default message.max.bytes)."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import KafkaError, Producer
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    BIG_REQUEST_BYTES,
    Record,
    assert_roundtrip,
    confluent_producer_config,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
)

# Kafka's default message.max.bytes is 1048588; a 1,048,000-byte value in its own batch
# (61-byte batch header + ~20 bytes of record framing) stays below it.
SIZES = [1, 100, 16_384, 100_000, 1_000_000, 1_048_000]
CONSUMER_FOR = {
    "kafka-python": "kcat",
    "aiokafka": "confluent",
    "confluent": "kafka-python",
    "kcat": "aiokafka",
}


@pytest.mark.parametrize("producer", list(CONSUMER_FOR), ids=lambda p: f"{p}->{CONSUMER_FOR[p]}")
def test_sizes(shared: BrokerProcess, producer: str) -> None:
    consumer = CONSUMER_FOR[producer]
    require_client(producer)
    require_client(consumer)
    topic = unique_topic("sizes")
    create_topic(shared.bootstrap, topic)
    recs = [Record(f"k{n}".encode(), os.urandom(n)) for n in SIZES]
    offsets = produce(
        producer, shared.bootstrap, topic, recs, max_request_size=BIG_REQUEST_BYTES, timeout=60
    )
    if producer != "kcat":
        assert offsets == list(range(len(recs)))
    got = consume(consumer, shared.bootstrap, topic, 0, 0, len(recs), timeout=60)
    assert_roundtrip(recs, got)


def test_many_small_records_one_batch(shared: BrokerProcess) -> None:
    """10,000 one-byte records with linger: large batches of tiny records."""
    topic = unique_topic("tiny")
    create_topic(shared.bootstrap, topic)
    recs = [Record(None, bytes([i % 256])) for i in range(10_000)]
    offsets = produce("confluent", shared.bootstrap, topic, recs)
    assert offsets == list(range(10_000))
    got = consume("kafka-python", shared.bootstrap, topic, 0, 0, 10_000, timeout=60)
    assert_roundtrip(recs, got)


def test_record_over_message_max_bytes_is_rejected(shared: BrokerProcess) -> None:
    """A batch above message.max.bytes (1048588) gets MESSAGE_TOO_LARGE; the broker carries on."""
    topic = unique_topic("toolarge")
    create_topic(shared.bootstrap, topic)
    cfg = confluent_producer_config(shared.bootstrap, max_request_size=BIG_REQUEST_BYTES)
    p = Producer(cfg)
    errors: list[KafkaError] = []
    p.produce(
        topic, value=os.urandom(1_100_000), partition=0, on_delivery=lambda e, m: errors.append(e)
    )
    assert p.flush(30) == 0
    assert len(errors) == 1 and errors[0] is not None, "oversized record was accepted"
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, str(errors[0])
    # the partition is still usable and the rejected record took no offset
    recs = [Record(b"after", b"ok")]
    assert produce("confluent", shared.bootstrap, topic, recs) == [0]
    assert_roundtrip(recs, consume("kafka-python", shared.bootstrap, topic, 0, 0, 1))
