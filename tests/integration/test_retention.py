"""Time- and size-based retention: old segments go, the log start offset advances.

Each record is produced in its own request and topics use a small segment.bytes, so every
segment holds exactly one batch and the expected log start offset is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    unique_topic,
    watermarks,
)
from kafka import KafkaConsumer, TopicPartition

CHECK_MS = "500"
SEGMENT_BYTES = "1024"  # one ~680-byte batch per segment
HOUR_MS = 3_600_000


def _one_batch_each(bootstrap: str, topic: str, recs: list[Record], first: int) -> None:
    for i, r in enumerate(recs):
        assert produce("kafka-python", bootstrap, topic, [r]) == [first + i]


def _wait_for(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _live_segments(partition_dir: Path) -> list[int]:
    """Base offsets of segments still live (Kafka renames doomed ones to *.log.deleted)."""
    return sorted(int(p.name[:-4]) for p in partition_dir.glob("*.log"))


def _value(i: int) -> bytes:
    return f"{i:06d}".encode() * 100  # 600 bytes


def test_retention_ms_deletes_old_segments(broker_factory) -> None:  # type: ignore[no-untyped-def]
    require_josef("retention needs Josef's log.retention.check.interval.ms and segment files")
    b: BrokerProcess = broker_factory({"log.retention.check.interval.ms": CHECK_MS})
    topic = unique_topic("ret-ms")
    create_topic(
        b.bootstrap, topic, config={"retention.ms": str(HOUR_MS), "segment.bytes": SEGMENT_BYTES}
    )
    now = int(time.time() * 1000)
    old = [Record(b"old", _value(i), (), now - 2 * HOUR_MS + i) for i in range(10)]
    new = [Record(b"new", _value(10 + i), (), now + i) for i in range(5)]
    _one_batch_each(b.bootstrap, topic, old, 0)
    _one_batch_each(b.bootstrap, topic, new, 10)

    _wait_for(lambda: watermarks(b.bootstrap, topic)[0] == 10, "log start offset 10")
    assert watermarks(b.bootstrap, topic) == (10, 15)
    pdir = b.partition_dir(topic, 0)
    _wait_for(lambda: _live_segments(pdir)[:1] == [10], "segments below offset 10 to go")
    assert _live_segments(pdir) == [10, 11, 12, 13, 14]

    # nothing else is deleted on later checks (the new records are within retention)
    time.sleep(1.5)
    assert watermarks(b.bootstrap, topic) == (10, 15)

    # reading from the new log start works; a consumer at 0 resets to earliest = 10
    assert_roundtrip(new, consume("confluent", b.bootstrap, topic, 0, 10, 5), first_offset=10)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, auto_offset_reset="earliest")
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got += recs
        assert [r.offset for r in got] == [10, 11, 12, 13, 14]
    finally:
        c.close()

    # the log start survives a restart
    b.restart()
    assert watermarks(b.bootstrap, topic) == (10, 15)
    assert produce("confluent", b.bootstrap, topic, [Record(None, b"more")]) == [15]


def test_retention_ms_everything_expired_rolls_active_segment(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """When every record is past retention, Kafka deletes the active segment too (after a roll)."""
    require_josef("retention needs Josef's log.retention.check.interval.ms")
    b: BrokerProcess = broker_factory({"log.retention.check.interval.ms": CHECK_MS})
    topic = unique_topic("ret-all")
    create_topic(
        b.bootstrap, topic, config={"retention.ms": str(HOUR_MS), "segment.bytes": SEGMENT_BYTES}
    )
    old = int(time.time() * 1000) - 3 * HOUR_MS
    _one_batch_each(b.bootstrap, topic, [Record(None, _value(i), (), old) for i in range(4)], 0)
    _wait_for(lambda: watermarks(b.bootstrap, topic) == (4, 4), "an empty log at offset 4")
    assert produce("confluent", b.bootstrap, topic, [Record(None, b"fresh")]) == [4]
    assert_roundtrip(
        [Record(None, b"fresh")],
        consume("kafka-python", b.bootstrap, topic, 0, 4, 1),
        first_offset=4,
    )


def test_retention_bytes(broker_factory) -> None:  # type: ignore[no-untyped-def]
    require_josef("retention needs Josef's log.retention.check.interval.ms and segment files")
    b: BrokerProcess = broker_factory({"log.retention.check.interval.ms": CHECK_MS})
    topic = unique_topic("ret-bytes")
    retention = 3000
    create_topic(
        b.bootstrap,
        topic,
        config={"retention.bytes": str(retention), "segment.bytes": SEGMENT_BYTES},
    )
    n = 10
    recs = [Record(b"k", _value(i)) for i in range(n)]
    _one_batch_each(b.bootstrap, topic, recs, 0)
    pdir = b.partition_dir(topic, 0)
    seg = (pdir / f"{n - 1:020d}.log").stat().st_size  # every segment holds one equal batch
    assert 600 < seg < 1024
    # Kafka deletes the oldest segments while (total - retention) >= segment size
    expected_start = (n * seg - retention) // seg
    _wait_for(
        lambda: watermarks(b.bootstrap, topic)[0] == expected_start,
        f"log start offset {expected_start}",
    )
    time.sleep(1.5)  # and no further
    assert watermarks(b.bootstrap, topic) == (expected_start, n)
    assert _live_segments(pdir) == list(range(expected_start, n))
    got = consume("aiokafka", b.bootstrap, topic, 0, expected_start, n - expected_start)
    assert_roundtrip(recs[expected_start:], got, first_offset=expected_start)


def test_broker_level_retention_defaults(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """log.retention.bytes / log.segment.bytes on the broker apply to auto-created topics."""
    require_josef("broker-level log.* settings are Josef's")
    b: BrokerProcess = broker_factory(
        {
            "log.retention.check.interval.ms": CHECK_MS,
            "log.segment.bytes": SEGMENT_BYTES,
            "log.retention.bytes": "2000",
        }
    )
    topic = unique_topic("ret-broker")
    recs = [Record(b"k", _value(i)) for i in range(8)]
    _one_batch_each(b.bootstrap, topic, recs, 0)  # auto-created
    pdir = b.partition_dir(topic, 0)
    seg = (pdir / f"{7:020d}.log").stat().st_size
    expected_start = (8 * seg - 2000) // seg
    _wait_for(
        lambda: watermarks(b.bootstrap, topic)[0] == expected_start,
        f"log start offset {expected_start}",
    )
    assert watermarks(b.bootstrap, topic) == (expected_start, 8)


def test_retention_hours_setting(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """log.retention.hours=1 at the broker: records 2 hours old are deleted."""
    require_josef("broker-level log.* settings are Josef's")
    b: BrokerProcess = broker_factory(
        {
            "log.retention.check.interval.ms": CHECK_MS,
            "log.retention.hours": "1",
            "log.segment.bytes": SEGMENT_BYTES,
        }
    )
    topic = unique_topic("ret-hours")
    now = int(time.time() * 1000)
    recs = [Record(None, _value(i), (), now - 2 * HOUR_MS) for i in range(3)]
    recs.append(Record(None, _value(3), (), now))
    _one_batch_each(b.bootstrap, topic, recs, 0)
    _wait_for(lambda: watermarks(b.bootstrap, topic)[0] == 3, "log start offset 3")
    assert watermarks(b.bootstrap, topic) == (3, 4)
