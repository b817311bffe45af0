"""Compaction end to end: a real broker, real clients, every codec, a consumer reading
through a cleaning, and kill -9 in the middle of cleaning a large log."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    ClientError,
    Consumed,
    Record,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
    watermarks,
)

CLEANER = {
    "log.cleaner.backoff.ms": "200",
    "log.cleaner.threads": "1",
    "log.retention.check.interval.ms": "500",
    "log.segment.delete.delay.ms": "0",
}
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "2048",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CLIENTS = ["kafka-python", "aiokafka", "confluent", "kcat"]


def _wait_for(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _cleaned_up_to(b: BrokerProcess, topic: str) -> int:
    path = b.data_dir / "cleaner-offset-checkpoint"
    if not path.exists():
        return 0
    for line in path.read_text().splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[0] == topic:
            return int(parts[2])
    return 0


def _read_all(client: str, b: BrokerProcess, topic: str) -> list[Consumed]:
    """Everything from the log start to the high watermark, read with ``client``.

    Cleaning leaves offset gaps: kafka-python (which stops at the HW) counts the records
    first, then the client under test reads exactly that many. A cleaner pass that runs
    between the two removes records, so a short read is counted again (the log settles
    once the cleaner has caught up)."""
    for attempt in range(3):
        low, count = _count_records(b, topic)
        try:
            return consume(client, b.bootstrap, topic, 0, low, count)
        except ClientError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _count_records(b: BrokerProcess, topic: str) -> tuple[int, int]:
    low, high = watermarks(b.bootstrap, topic)
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, low)
    count = 0
    deadline = time.monotonic() + 30
    while c.position(tp) < high and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            count += len(recs)
    c.close()
    return low, count


def _latest(records: list[Consumed]) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    prev = -1
    for r in records:
        assert r.offset > prev
        prev = r.offset
        assert r.key is not None
        out[r.key] = r.value
    return out


@pytest.mark.parametrize("client", CLIENTS)
def test_every_codec_compacts(broker_factory, client: str) -> None:  # type: ignore[no-untyped-def]
    require_josef("needs Josef's log cleaner")
    require_client(client)
    b: BrokerProcess = broker_factory(CLEANER)
    topics = {codec: unique_topic(f"cmp-{codec}") for codec in CODECS}
    expected: dict[str, dict[bytes, bytes | None]] = {}
    for codec, topic in topics.items():
        create_topic(b.bootstrap, topic, config=TOPIC_CONFIG)
        # Incompressible-ish values, so that compressed batches still fill segments.
        recs = [Record(b"key-%d" % (i % 6),
                       b"%s-%d-" % (codec.encode(), i) + os.urandom(100).hex().encode())
                for i in range(60)]
        for start in range(0, 60, 10):
            produce(client, b.bootstrap, topic, recs[start : start + 10], compression=codec)
        expected[topic] = {r.key: r.value for r in recs if r.key is not None}
    for topic in topics.values():
        _wait_for(lambda t=topic: _cleaned_up_to(b, t) > 0, f"cleaning of {topic}")  # type: ignore[misc]
    for topic in topics.values():
        records = _read_all(client, b, topic)
        assert _latest(records) == expected[topic]
        assert len(records) < 60  # duplicates are gone
    assert "cleaned " in b.log_text()


def test_consumer_reads_through_cleaning(broker_factory) -> None:  # type: ignore[no-untyped-def]
    require_josef("needs Josef's log cleaner")
    from kafka import KafkaConsumer, TopicPartition

    b: BrokerProcess = broker_factory(CLEANER)
    topic = unique_topic("cmp-mid")
    create_topic(b.bootstrap, topic, config={**TOPIC_CONFIG, "min.cleanable.dirty.ratio": "0.9"})
    recs = [Record(b"k%d" % (i % 8), b"v%d-" % i + b"y" * 80) for i in range(200)]
    produce("confluent", b.bootstrap, topic, recs[:150])
    expected = {r.key: r.value for r in recs}

    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      max_poll_records=7, fetch_max_bytes=300, max_partition_fetch_bytes=300)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    seen: list[tuple[int, bytes | None, bytes | None]] = []
    while len(seen) < 40:
        for batch in c.poll(timeout_ms=500).values():
            seen += [(r.offset, r.key, r.value) for r in batch]
    # The consumer now sits in the middle of a segment; let the cleaner rewrite it.
    produce("confluent", b.bootstrap, topic, recs[150:])
    _wait_for(lambda: _cleaned_up_to(b, topic) > seen[-1][0], "cleaning past the consumer")
    _, high = watermarks(b.bootstrap, topic)
    deadline = time.monotonic() + 30
    while c.position(tp) < high and time.monotonic() < deadline:
        for batch in c.poll(timeout_ms=500).values():
            seen += [(r.offset, r.key, r.value) for r in batch]
    c.close()
    offsets = [o for o, _, _ in seen]
    assert offsets == sorted(set(offsets)) and offsets[-1] == high - 1
    assert {k: v for _, k, v in seen} == expected


def test_kill_9_while_cleaning_a_large_log(broker_factory) -> None:  # type: ignore[no-untyped-def]
    require_josef("needs Josef's log cleaner and data dir")
    b: BrokerProcess = broker_factory(
        {**CLEANER, "log.cleaner.io.max.bytes.per.second": "3000000"}
    )
    topic = unique_topic("cmp-kill")
    create_topic(b.bootstrap, topic, config={
        **TOPIC_CONFIG, "segment.bytes": str(1 << 20), "min.cleanable.dirty.ratio": "0.5",
    })
    n = 12_000
    recs = [Record(b"key-%04d" % (i % 3000), b"%08d" % i + os.urandom(496).hex().encode())
            for i in range(n)]
    for start in range(0, n, 2000):
        produce("confluent", b.bootstrap, topic, recs[start : start + 2000])
    expected = {r.key: r.value for r in recs}
    pdir: Path = b.partition_dir(topic, 0)
    _wait_for(lambda: any(p.name.endswith(".cleaned") for p in pdir.iterdir()),
              "the cleaner to start writing", timeout=60)
    time.sleep(0.5)
    b.kill()
    b.start()
    _, high = watermarks(b.bootstrap, topic)
    assert high == n
    assert not any(p.name.endswith((".cleaned", ".swap")) for p in pdir.iterdir())
    records = _read_all("confluent", b, topic)
    assert _latest(records) == expected
    # And the cleaner finishes the job after the restart.
    _wait_for(lambda: _cleaned_up_to(b, topic) > 0, "cleaning after restart", timeout=60)
    assert _latest(_read_all("kafka-python", b, topic)) == expected
