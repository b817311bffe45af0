"""Requests that ask for unbounded work get Kafka's error code, never the broker's memory.

Issue 12 §2: CreatePartitions with count=13041668 and CreateTopics with 268 million
partitions used to wedge the event loop and grow the broker to gigabytes. Each case here is
answered with POLICY_VIOLATION, the broker's RSS does not move, and it keeps serving
confluent-kafka and kafka-python round trips.
"""

from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import Record, assert_roundtrip, consume, create_topic, produce, unique_topic
from helpers.raw import (
    LEADER_NOT_AVAILABLE,
    RawConn,
    api_versions,
    array,
    create_topics_body,
    i8,
    i32,
    metadata_v4_body,
    parse_create_topics,
    parse_metadata_topics,
    pick_version,
    string,
)

POLICY_VIOLATION = 44
INVALID_COMMIT_OFFSET_SIZE = 28
CREATE_TOPICS = 19
CREATE_PARTITIONS = 37
OFFSET_COMMIT = 8
# Growth allowed for noise (allocator, logging) while the broker answers a refused request.
RSS_SLACK_KB = 16 * 1024


def rss_kb(b: BrokerProcess) -> int:
    assert b.pid is not None
    with open(f"/proc/{b.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def healthy_roundtrip(b: BrokerProcess) -> None:
    assert b.running, b.log_tail()
    topic = unique_topic("alive")
    recs = [Record(b"k", b"still serving"), Record(None, b"v2")]
    produce("confluent", b.bootstrap, topic, recs, timeout=20)
    assert_roundtrip(recs, consume("kafka-python", b.bootstrap, topic, 0, 0, 2, timeout=20))
    produce("kafka-python", b.bootstrap, topic, recs, timeout=20)
    assert_roundtrip(recs * 2, consume("confluent", b.bootstrap, topic, 0, 0, 4, timeout=20))


def create_partitions_v0_body(name: str, count: int) -> bytes:
    # topics[name, count, assignments=null], timeout_ms, validate_only
    return array([string(name) + i32(count) + i32(-1)]) + i32(10_000) + i8(0)


def parse_create_partitions(r: object) -> dict[str, int]:
    from helpers.raw import Reader

    assert isinstance(r, Reader)
    r.i32()  # throttle
    out: dict[str, int] = {}
    for _ in range(r.i32()):
        name = r.string()
        assert name is not None
        out[name] = r.i16()
        r.string()
    return out


def test_absurd_partition_counts_are_refused(broker: BrokerProcess) -> None:
    require_josef("Josef's partition limits")
    topic = unique_topic("grow")
    create_topic(broker.bootstrap, topic, 1)
    before = rss_kb(broker)
    ranges = api_versions(broker.host, broker.port)
    ct_version = pick_version(ranges, CREATE_TOPICS, 2, 4)
    with RawConn(broker.host, broker.port, timeout=30) as c:
        started = time.monotonic()
        r = c.request(CREATE_PARTITIONS, 0, create_partitions_v0_body(topic, 13_041_668))
        assert parse_create_partitions(r) == {topic: POLICY_VIOLATION}
        huge = unique_topic("huge")
        body = create_topics_body(ct_version, [(huge, 268_435_456, 1)])
        r = c.request(CREATE_TOPICS, ct_version, body)
        assert parse_create_topics(r, ct_version) == {huge: POLICY_VIOLATION}
        # validate_only is bounded the same way
        body = create_topics_body(ct_version, [(huge, 268_435_456, 1)], validate_only=True)
        r = c.request(CREATE_TOPICS, ct_version, body)
        assert parse_create_topics(r, ct_version) == {huge: POLICY_VIOLATION}
        elapsed = time.monotonic() - started
    grown = rss_kb(broker) - before
    assert grown < RSS_SLACK_KB, f"RSS grew by {grown} kB"
    print(f"three refusals answered in {elapsed * 1000:.1f} ms, RSS change {grown} kB")
    # Nothing was created or half-created.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=10)
    assert huge not in md.topics
    assert len(md.topics[topic].partitions) == 1
    healthy_roundtrip(broker)


def test_per_request_batch_cap(broker: BrokerProcess) -> None:
    """Kafka's controller refuses more than 10,000 new topics + partitions in one request."""
    require_josef("Josef's partition limits")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    big = unique_topic("batch")
    fs = admin.create_topics([NewTopic(big, 10_000, 1)], operation_timeout=30)
    with pytest.raises(Exception) as info:
        fs[big].result(30)
    assert info.value.args[0].code() == CKafkaError.POLICY_VIOLATION
    assert big not in admin.list_topics(timeout=10).topics
    # Two topics that fit separately but not together: the second is refused.
    a, b = unique_topic("a"), unique_topic("b")
    fs = admin.create_topics([NewTopic(a, 6_000, 1), NewTopic(b, 6_000, 1)], validate_only=True)
    outcomes = {}
    for name, f in fs.items():
        try:
            f.result(30)
            outcomes[name] = 0
        except Exception as exc:
            outcomes[name] = exc.args[0].code()
    assert sorted(outcomes.values()) == [0, CKafkaError.POLICY_VIOLATION]
    healthy_roundtrip(broker)


def test_josef_max_partitions(broker_factory: object) -> None:
    require_josef("josef.max.partitions")
    b: BrokerProcess = broker_factory(  # type: ignore[operator]
        {"josef.max.partitions": "70", "offsets.topic.num.partitions": "4"}
    )
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    first = unique_topic("fits")
    admin.create_topics([NewTopic(first, 40, 1)])[first].result(30)
    over = unique_topic("over")
    with pytest.raises(Exception) as info:
        admin.create_topics([NewTopic(over, 31, 1)])[over].result(30)
    assert info.value.args[0].code() == CKafkaError.POLICY_VIOLATION
    assert "josef.max.partitions" in info.value.args[0].str()
    with pytest.raises(Exception) as info:
        admin.create_partitions([NewPartitions(first, 71)])[first].result(30)
    assert info.value.args[0].code() == CKafkaError.POLICY_VIOLATION
    md = admin.list_topics(timeout=10)
    assert over not in md.topics
    assert len(md.topics[first].partitions) == 40
    # Below the limit still works (56, then 4 for __consumer_offsets and 2 more topics).
    admin.create_partitions([NewPartitions(first, 56)])[first].result(30)
    assert len(admin.list_topics(timeout=10).topics[first].partitions) == 56
    healthy_roundtrip(b)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def test_oversized_offset_commit_is_refused(broker: BrokerProcess) -> None:
    """A commit whose records exceed max.message.bytes: INVALID_COMMIT_OFFSET_SIZE (Kafka)."""
    require_josef("Josef's coordinator")
    topic = unique_topic("commits")
    create_topic(broker.bootstrap, topic, 1)
    group = unique_topic("g")
    # 30,000 entries for partition 0 repeated: every one is a record of ~150 bytes (> 1 MB).
    parts = [i32(0) + i64(7) + string("m" * 40)] * 30_000
    # OffsetCommit v2: group, generation -1 and no member (a simple consumer), retention.
    body = string(group) + i32(-1) + string("") + i64(-1) + array([string(topic) + array(parts)])
    with RawConn(broker.host, broker.port, timeout=30) as c:
        # FindCoordinator first so that __consumer_offsets exists.
        for _ in range(50):
            r = c.request(10, 0, string(group))
            if r.i16() == 0:
                break
            time.sleep(0.2)
        r = c.request(OFFSET_COMMIT, 2, body)
        codes = set()
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                r.i32()
                codes.add(r.i16())
    assert codes == {INVALID_COMMIT_OFFSET_SIZE}
    healthy_roundtrip(broker)


def test_auto_creation_is_bounded_too(broker_factory: object) -> None:
    """Metadata auto-creation obeys josef.max.partitions; the refusal is logged once."""
    require_josef("josef.max.partitions")
    b: BrokerProcess = broker_factory({"josef.max.partitions": "20"})  # type: ignore[operator]
    names = [unique_topic("auto") for _ in range(30)]
    with RawConn(b.host, b.port, timeout=60) as c:
        r = c.request(3, 4, metadata_v4_body(names, True))
        errors = parse_metadata_topics(r, 4)
    assert sorted(errors.values()) == [LEADER_NOT_AVAILABLE] * 20 + [POLICY_VIOLATION] * 10
    assert b.log_text().count("auto-creation of topic") == 1
    healthy = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10)
    assert sum(1 for n in names if n in healthy.topics) == 20
