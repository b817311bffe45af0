"""compression.type (topic and broker): batches are stored in the configured codec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess
from helpers.clients import Record, assert_roundtrip, consume, create_topic, produce, unique_topic

from protocol.record_batch import CompressionType, crc_is_valid, iter_headers

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4, "uncompressed": 0}


def stored_codecs(partition_dir: Path) -> list[int]:
    data = b"".join(p.read_bytes() for p in sorted(partition_dir.glob("*.log")))
    codecs = []
    for pos, header in iter_headers(data):
        assert crc_is_valid(data, pos, header)
        codecs.append(header.compression)
    return codecs


def records(n: int) -> list[Record]:
    return [
        Record(key=b"k%d" % i, value=b"value-%d-" % i + b"x" * 200, headers=(("h", b"%d" % i),))
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("target", "producer_client", "sent", "consumer_client"),
    [
        ("gzip", "confluent", "none", "kafka-python"),
        ("zstd", "kafka-python", "gzip", "confluent"),
        ("lz4", "aiokafka", "none", "kcat"),
        ("uncompressed", "confluent", "snappy", "aiokafka"),
    ],
)
def test_topic_compression_type_recompresses(
    shared: BrokerProcess, target: str, producer_client: str, sent: str, consumer_client: str
) -> None:
    topic = unique_topic("ctype")
    create_topic(shared.bootstrap, topic, config={"compression.type": target})
    produced = records(50)
    offsets = produce(producer_client, shared.bootstrap, topic, produced, compression=sent)
    assert offsets == list(range(50))
    consumed = consume(consumer_client, shared.bootstrap, topic, 0, 0, 50)
    assert_roundtrip(produced, consumed)
    codecs = stored_codecs(shared.partition_dir(topic))
    assert codecs and set(codecs) == {CODECS[target]}


def test_producer_keeps_the_codec_as_sent(shared: BrokerProcess) -> None:
    topic = unique_topic("ctype-producer")
    create_topic(shared.bootstrap, topic)
    produce("confluent", shared.bootstrap, topic, records(20), compression="snappy")
    produce("kafka-python", shared.bootstrap, topic, records(20), compression="gzip")
    codecs = stored_codecs(shared.partition_dir(topic))
    assert set(codecs) == {CompressionType.SNAPPY, CompressionType.GZIP}


def test_broker_compression_type(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory({"compression.type": "zstd"})
    topic = unique_topic("ctype-broker")
    produced = records(30)
    produce("kafka-python", b.bootstrap, topic, produced)  # auto-created topic
    assert_roundtrip(produced, consume("confluent", b.bootstrap, topic, 0, 0, 30))
    assert set(stored_codecs(b.partition_dir(topic))) == {CompressionType.ZSTD}
