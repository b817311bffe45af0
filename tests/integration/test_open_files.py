"""Open files (issue 12 §3): a broker under a 1024-descriptor limit hosts 600 partitions.

Each partition used to hold five descriptors (the ``.log`` file, two index files and the
two that Python's mmap duplicates), so ~200 partitions exhausted a 1024 limit, topic creation
failed half-way and the broker could not start again. Now a partition holds one descriptor.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from helpers.broker_process import BrokerProcess, BrokerStartError, require_josef
from helpers.clients import unique_topic
from kafka import KafkaConsumer, TopicPartition  # type: ignore[import-untyped]

TOPICS = 6
PER_TOPIC = 100


def open_fds(b: BrokerProcess) -> int:
    assert b.pid is not None
    return len(os.listdir(f"/proc/{b.pid}/fd"))


def nofile(b: BrokerProcess) -> tuple[int, int]:
    assert b.pid is not None
    with open(f"/proc/{b.pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-file limit")


def produce_everywhere(bootstrap: str, topics: list[str], tag: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for t in topics:
        for p in range(PER_TOPIC):
            producer.produce(t, key=b"%d" % p, value=tag, partition=p, on_delivery=on_delivery)
            producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:5]


def consume_everything(bootstrap: str, topics: list[str], per_partition: int) -> dict[str, int]:
    """kafka-python reads every partition from the beginning; value -> count."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000
    )
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(PER_TOPIC)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        want = len(parts) * per_partition
        counts: dict[str, int] = {}
        seen = 0
        deadline = time.monotonic() + 120
        while seen < want and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                for r in records:
                    counts[r.value.decode()] = counts.get(r.value.decode(), 0) + 1
                    seen += 1
        return counts
    finally:
        consumer.close()


def test_600_partitions_under_1024_descriptors(tmp_path: Path) -> None:
    require_josef("Josef's descriptors")
    b = BrokerProcess(tmp_path / "b", {"offsets.topic.num.partitions": "4"})
    b.rlimit_nofile = (1024, 1024)  # ulimit -n 1024: raising to the hard limit cannot help
    try:
        b.start()
        assert nofile(b) == (1024, 1024)
        baseline = open_fds(b)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        topics = [unique_topic(f"many{i}") for i in range(TOPICS)]
        for t in topics:
            admin.create_topics([NewTopic(t, PER_TOPIC, 1)])[t].result(60)
        hosted = open_fds(b) - baseline
        print(f"descriptors for {TOPICS * PER_TOPIC} partitions: {hosted}")
        assert hosted <= TOPICS * PER_TOPIC + 10
        produce_everywhere(b.bootstrap, topics, b"first")
        assert consume_everything(b.bootstrap, topics, 1) == {"first": TOPICS * PER_TOPIC}

        # No headroom for 300 more: refused up front, nothing created.
        extra = unique_topic("toomany")
        with pytest.raises(Exception) as info:
            admin.create_topics([NewTopic(extra, 300, 1)])[extra].result(60)
        assert info.value.args[0].code() == CKafkaError.POLICY_VIOLATION
        assert "open-file limit" in info.value.args[0].str()
        assert extra not in admin.list_topics(timeout=10).topics
        assert not list(b.data_dir.glob(f"{extra}-*"))

        b.stop(timeout=300)  # 600 partitions: flush, snapshots, checkpoints (fsync-bound)
        b.start()  # restart under the same limit
        assert "Too many open files" not in b.log_text()
        produce_everywhere(b.bootstrap, topics, b"second")
        counts = consume_everything(b.bootstrap, topics, 2)
        assert counts == {"first": TOPICS * PER_TOPIC, "second": TOPICS * PER_TOPIC}
    finally:
        b.close()


def test_soft_limit_raised_to_hard_limit(tmp_path: Path) -> None:
    require_josef("Josef's startup")
    b = BrokerProcess(tmp_path / "b")
    b.rlimit_nofile = (1024, 4096)
    try:
        b.start()
        assert nofile(b) == (4096, 4096)
        assert "open-file limit raised from 1024 (soft) to the hard limit 4096" in b.log_text()
    finally:
        b.close()


def test_emfile_while_loading_is_one_clear_line(tmp_path: Path) -> None:
    require_josef("Josef's startup")
    b = BrokerProcess(tmp_path / "b")
    try:
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        t = unique_topic("load")
        admin.create_topics([NewTopic(t, 300, 1)])[t].result(60)
        b.stop(timeout=300)
        b.rlimit_nofile = (150, 150)
        with pytest.raises(BrokerStartError) as info:
            b.start(timeout=60)
        assert "exited with code 1" in str(info.value)
        text = b.log_text().split("===== start #2")[1]
        assert "too many open files while loading the logs (limit 150)" in text
        assert "ulimit -n" in text
        assert "Traceback" not in text
        b.rlimit_nofile = None
        b.start()  # with the limit raised it loads everything
        md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10)
        assert len(md.topics[t].partitions) == 300
    finally:
        b.close()
