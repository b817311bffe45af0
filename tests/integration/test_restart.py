"""Data survives a clean restart, a kill -9 under load, and a torn segment tail."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from confluent_kafka import Producer
from helpers.broker_process import BrokerProcess, require_persistence
from helpers.clients import (
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    unique_topic,
    wait_for_topic,
    watermarks,
)


def _records(tag: str, n: int) -> list[Record]:
    return [
        Record(
            f"{tag}-{i}".encode() if i % 4 else None,
            None if i % 17 == 5 else f"{tag} value {i} ".encode() * (1 + i % 5),
            (("i", str(i).encode()),) if i % 3 == 0 else (),
        )
        for i in range(n)
    ]


def test_clean_restart_keeps_everything(broker: BrokerProcess) -> None:
    require_persistence()
    topic = unique_topic("restart")
    create_topic(broker.bootstrap, topic, partitions=3, config={"retention.ms": "123456789"})
    per_part = {p: _records(f"p{p}", 100 + 50 * p) for p in range(3)}
    codecs = ["none", "gzip", "zstd"]
    for p, recs in per_part.items():
        produce("confluent", broker.bootstrap, topic, recs, partition=p, compression=codecs[p])
    auto_topic = unique_topic("restart-auto")
    auto_recs = _records("auto", 10)
    produce("kafka-python", broker.bootstrap, auto_topic, auto_recs)

    broker.stop()  # asserts exit code 0
    broker.start()

    assert wait_for_topic(broker.bootstrap, topic) == 3
    for p, recs in per_part.items():
        assert watermarks(broker.bootstrap, topic, p) == (0, len(recs))
        consumer = ("kafka-python", "kcat", "aiokafka")[p]
        assert_roundtrip(recs, consume(consumer, broker.bootstrap, topic, p, 0, len(recs)))
    assert_roundtrip(auto_recs, consume("confluent", broker.bootstrap, auto_topic, 0, 0, 10))

    # topic configuration survived too
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(timeout=20)
    assert configs["retention.ms"].value == "123456789"

    # appends continue at the right offsets
    more = _records("more", 7)
    assert produce("kafka-python", broker.bootstrap, topic, more, partition=1) == list(
        range(150, 157)
    )
    got = consume("confluent", broker.bootstrap, topic, 1, 140, 17)
    assert_roundtrip((per_part[1] + more)[140:], got, first_offset=140)

    # a second clean restart right away (nothing new written in between)
    broker.restart()
    assert watermarks(broker.bootstrap, topic, 1) == (0, 157)


def test_restart_with_empty_topic_and_no_topics(broker: BrokerProcess) -> None:
    require_persistence()
    broker.restart()  # nothing at all
    topic = unique_topic("empty")
    create_topic(broker.bootstrap, topic, partitions=2)
    broker.restart()
    assert wait_for_topic(broker.bootstrap, topic) == 2
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0)
    recs = _records("x", 3)
    assert produce("confluent", broker.bootstrap, topic, recs, partition=1) == [0, 1, 2]


def test_kill9_during_produce_keeps_acknowledged(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """With log.flush.interval.messages=1 every acknowledged record survives SIGKILL."""
    require_persistence()
    b: BrokerProcess = broker_factory({"log.flush.interval.messages": "1"})
    topic = unique_topic("kill9")
    create_topic(b.bootstrap, topic, partitions=2)

    acked: dict[tuple[int, int], bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def load(partition: int) -> None:
        p = Producer(
            {
                "bootstrap.servers": b.bootstrap,
                "acks": "all",
                "linger.ms": 2,
                "message.timeout.ms": 5000,
                "retries": 0,
            }
        )

        def cb(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is None:
                with lock:
                    acked[(msg.partition(), msg.offset())] = msg.value()

        i = 0
        while not stop.is_set():
            try:
                p.produce(
                    topic,
                    value=f"p{partition}-{i:08d}".encode(),
                    partition=partition,
                    on_delivery=cb,
                )
                i += 1
            except BufferError:
                pass
            p.poll(0.001 if i % 50 else 0.01)
        p.flush(6)

    threads = [threading.Thread(target=load, args=(p,), daemon=True) for p in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 2000:
                break
        time.sleep(0.05)
    b.kill()
    stop.set()
    for t in threads:
        t.join(15)
    with lock:
        snapshot = dict(acked)
    assert len(snapshot) >= 100, f"only {len(snapshot)} records acknowledged before the kill"

    b.start()
    wait_for_topic(b.bootstrap, topic, 2)
    for part in range(2):
        mine = {off: v for (p, off), v in snapshot.items() if p == part}
        low, high = watermarks(b.bootstrap, topic, part)
        assert low == 0
        assert high > max(mine, default=-1), (
            f"partition {part}: high watermark {high} but offset {max(mine)} was acknowledged"
        )
        got = consume("confluent", b.bootstrap, topic, part, 0, high, timeout=60)
        assert [c.offset for c in got] == list(range(high))
        by_offset = {c.offset: c.value for c in got}
        lost = {o: v for o, v in mine.items() if by_offset.get(o) != v}
        assert not lost, f"partition {part}: {len(lost)} acknowledged records lost/changed"
        # everything present is in the order it was produced (no gaps, no reordering)
        values = [c.value for c in got]
        assert values == sorted(values, key=lambda v: v or b"")
    # and the partition accepts appends after recovery
    nxt = watermarks(b.bootstrap, topic, 0)[1]
    assert produce("kafka-python", b.bootstrap, topic, [Record(None, b"after")]) == [nxt]


def _newest_log(partition_dir: Path) -> Path:
    logs = sorted(partition_dir.glob("*.log"))
    assert logs, f"no .log files in {partition_dir}: {os.listdir(partition_dir)}"
    return logs[-1]


def test_truncated_segment_tail_is_recovered(broker: BrokerProcess) -> None:
    """Torn last batch + trailing garbage: the intact prefix is served, appends continue."""
    require_persistence()
    topic = unique_topic("torn")
    create_topic(broker.bootstrap, topic)
    # one batch per record: each produce call is its own request
    recs = [Record(f"k{i}".encode(), f"value-{i}".encode() * 20) for i in range(20)]
    for i, r in enumerate(recs):
        assert produce("kafka-python", broker.bootstrap, topic, [r]) == [i]
    broker.stop()

    seg = _newest_log(broker.partition_dir(topic, 0))
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - 7)  # tear the last batch
    with open(seg, "ab") as f:
        f.write(os.urandom(100))

    broker.start()
    wait_for_topic(broker.bootstrap, topic)
    assert watermarks(broker.bootstrap, topic, 0) == (0, 19)
    assert_roundtrip(recs[:19], consume("confluent", broker.bootstrap, topic, 0, 0, 19))
    again = [Record(b"new", b"after recovery")]
    assert produce("confluent", broker.bootstrap, topic, again) == [19]
    assert_roundtrip(recs[:19] + again, consume("kafka-python", broker.bootstrap, topic, 0, 0, 20))
    # and it survives another restart in that state
    broker.restart()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 20)


def test_garbage_only_tail_after_clean_stop(broker: BrokerProcess) -> None:
    """Zeros appended (a preallocated/unsynced tail) are dropped; nothing intact is lost."""
    require_persistence()
    topic = unique_topic("zeros")
    create_topic(broker.bootstrap, topic)
    recs = [Record(None, f"v{i}".encode()) for i in range(30)]
    produce("confluent", broker.bootstrap, topic, recs)
    broker.stop()
    seg = _newest_log(broker.partition_dir(topic, 0))
    with open(seg, "ab") as f:
        f.write(b"\x00" * 4096)
    broker.start()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 30)
    assert_roundtrip(recs, consume("aiokafka", broker.bootstrap, topic, 0, 0, 30))
    assert produce("confluent", broker.bootstrap, topic, [Record(None, b"x")]) == [30]
