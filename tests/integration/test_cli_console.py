"""``josef produce`` / ``josef consume`` as subprocesses, cross-checked with kcat (librdkafka
2.0) and confluent-kafka."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    Record,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
    watermarks,
)
from helpers.josef_cli import josef, ok

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


@pytest.mark.parametrize("compression", CODECS)
def test_josef_produce_kcat_consume(shared: BrokerProcess, compression: str) -> None:
    require_client("kcat")
    b = shared
    topic = unique_topic("cli-p")
    create_topic(b.bootstrap, topic, 1)
    lines = [f"k{i}:value {i} ünïcode" for i in range(50)]
    ok(
        josef(
            b.bootstrap,
            "produce",
            topic,
            "--key-separator",
            ":",
            "--compression",
            compression,
            stdin="\n".join(lines) + "\n",
        )
    )
    got = consume("kcat", b.bootstrap, topic, 0, 0, len(lines))
    assert [r.offset for r in got] == list(range(len(lines)))
    assert [(r.key, r.value) for r in got] == [
        (f"k{i}".encode(), f"value {i} ünïcode".encode()) for i in range(len(lines))
    ]
    assert watermarks(b.bootstrap, topic) == (0, len(lines))


@pytest.mark.parametrize("compression", CODECS)
def test_kcat_produce_josef_consume(shared: BrokerProcess, compression: str) -> None:
    require_client("kcat")
    b = shared
    topic = unique_topic("cli-c")
    create_topic(b.bootstrap, topic, 1)
    records = [Record(key=f"key{i}".encode(), value=f"v{i}".encode()) for i in range(40)]
    produce("kcat", b.bootstrap, topic, records, compression=compression)
    out = ok(
        josef(
            b.bootstrap,
            "consume",
            topic,
            "--from-beginning",
            "--max-messages",
            "40",
            "--print-key",
            "--print-offset",
        )
    )
    assert out.splitlines() == [f"Offset:{i}\tkey{i}\tv{i}" for i in range(40)]


def test_consume_partition_offset_and_timeout(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli-po")
    create_topic(b.bootstrap, topic, 2)
    produce("confluent", b.bootstrap, topic, [Record(value=f"a{i}".encode()) for i in range(10)])
    produce(
        "confluent",
        b.bootstrap,
        topic,
        [Record(value=f"b{i}".encode()) for i in range(5)],
        partition=1,
    )
    one = josef(
        b.bootstrap, "consume", topic, "--partition", "0", "--offset", "7", "--timeout-ms", "1500"
    )
    assert ok(one).splitlines() == ["a7", "a8", "a9"]
    assert "Processed a total of 3 messages" in one.stderr
    tail = josef(
        b.bootstrap, "consume", topic, "--partition", "1", "--offset", "-2", "--max-messages", "2"
    )
    assert ok(tail).splitlines() == ["b3", "b4"]
    both = ok(
        josef(
            b.bootstrap,
            "consume",
            topic,
            "--from-beginning",
            "--timeout-ms",
            "1500",
            "--print-partition",
        )
    )
    assert sorted(both.splitlines()) == sorted(
        [f"Partition:0\ta{i}" for i in range(10)] + [f"Partition:1\tb{i}" for i in range(5)]
    )
    # Without --from-beginning a consumer starts at the end: nothing old is printed.
    latest = josef(b.bootstrap, "consume", topic, "--timeout-ms", "1000")
    assert ok(latest) == ""
    usage = josef(b.bootstrap, "consume", topic, "--offset", "3")
    assert usage.returncode == 2


def test_keyed_records_land_where_the_java_partitioner_puts_them(shared: BrokerProcess) -> None:
    """josef produce uses murmur2 like Kafka's default partitioner; librdkafka's
    murmur2_random partitioner is the same function."""
    b = shared
    topic = unique_topic("cli-part")
    create_topic(b.bootstrap, topic, 5)
    keys = [f"user-{i}" for i in range(30)]
    ok(
        josef(
            b.bootstrap,
            "produce",
            topic,
            "--key-separator",
            "=",
            stdin="".join(f"{k}=josef\n" for k in keys),
        )
    )
    producer = Producer({"bootstrap.servers": b.bootstrap, "partitioner": "murmur2_random"})
    placed: dict[str, int] = {}

    def report(err: object, msg: object) -> None:
        assert err is None, err
        placed[msg.key().decode()] = msg.partition()  # type: ignore[attr-defined]

    for k in keys:
        producer.produce(topic, key=k.encode(), value=b"confluent", on_delivery=report)
    assert producer.flush(30) == 0
    out = ok(
        josef(
            b.bootstrap,
            "consume",
            topic,
            "--from-beginning",
            "--max-messages",
            str(2 * len(keys)),
            "--print-partition",
            "--print-key",
        )
    )
    seen: dict[tuple[str, str], int] = {}
    for line in out.splitlines():
        part, key, value = line.split("\t")
        seen[(key, value)] = int(part.removeprefix("Partition:"))
    assert len(seen) == 2 * len(keys)
    for k in keys:
        assert seen[(k, "josef")] == seen[(k, "confluent")] == placed[k], k


def test_produce_errors(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli-pe")
    create_topic(b.bootstrap, topic, 1)
    bad = josef(b.bootstrap, "produce", topic, "--key-separator", ":", stdin="no separator\n")
    assert bad.returncode == 1 and "no key separator" in bad.stderr
    bad = josef(b.bootstrap, "produce", topic, "--partition", "3", stdin="x\n")
    assert bad.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr
    big = josef(
        b.bootstrap,
        "produce",
        topic,
        stdin="x" * 2_000_000 + "\n",
    )
    assert big.returncode == 1 and "MESSAGE_TOO_LARGE" in big.stderr
    # null marker and acks=1 round trip, read back by confluent-kafka
    ok(
        josef(
            b.bootstrap,
            "produce",
            topic,
            "--null-marker",
            "NULL",
            "--acks",
            "1",
            stdin="first\nNULL\nlast\n",
        )
    )
    got = consume("confluent", b.bootstrap, topic, 0, 0, 3)
    assert [r.value for r in got] == [b"first", None, b"last"]
