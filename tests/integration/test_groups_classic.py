"""Classic consumer groups on a real broker with real clients.

Mixed clients in one group (kafka-python, aiokafka, confluent-kafka), members joining,
leaving and being killed; cooperative-sticky (librdkafka); static membership; committed
offsets and group state across restarts and kill -9; __consumer_offsets decoded with the
coordinator's codec and with an independent decoder written here from Kafka's schemas.
"""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import create_topic, unique_topic
from helpers.group_members import Member, wait_balanced

from broker.group.records import (
    GroupMetadataKey,
    OffsetCommitKey,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
)

FAST = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}


def produce_values(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % partitions)
    assert p.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


KILLABLE = textwrap.dedent(
    """
    import sys
    from kafka import KafkaConsumer
    bootstrap, topic, group = sys.argv[1:4]
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=2000, heartbeat_interval_ms=300)
    c.subscribe([topic])
    while True:
        batch = c.poll(200)
        for tp, ms in batch.items():
            for m in ms:
                print("P", m.value.decode(), flush=True)
        if batch:
            try:
                c.commit()
            except Exception:
                pass
        print("A", ",".join(str(tp.partition) for tp in c.assignment()), flush=True)
    """
)


def test_mixed_clients_join_leave_kill(broker_factory: object) -> None:
    b: BrokerProcess = broker_factory(FAST)  # type: ignore[operator]
    topic, group, parts = unique_topic("grp"), "mixed", 6
    create_topic(b.bootstrap, topic, parts)
    values: list[bytes] = []

    def produce_more(n: int) -> None:
        new = [f"v{len(values) + i}".encode() for i in range(n)]
        values.extend(new)
        produce_values(b.bootstrap, topic, new, parts)

    produce_more(60)
    members = [
        Member("kafka-python", b.bootstrap, topic, group, session_timeout_ms=3000),
        Member("aiokafka", b.bootstrap, topic, group, session_timeout_ms=3000),
        Member("confluent", b.bootstrap, topic, group, session_timeout_ms=3000),
    ]
    for m in members:
        m.start()
    try:
        wait_balanced(members, parts)
        # no membership change while these are consumed: exactly once
        produce_more(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = [v for m in members for _, _, v in m.processed]
            if set(seen) >= set(values):
                break
            time.sleep(0.2)
        seen = [v for m in members for _, _, v in m.processed]
        assert sorted(seen) == sorted(values), "each record processed exactly once"

        # a fourth member (a process we will kill) joins
        killable = subprocess.Popen(
            [sys.executable, "-c", KILLABLE, b.bootstrap, topic, group],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []

        def pump() -> None:
            assert killable.stdout is not None
            for line in killable.stdout:
                lines.append(line.rstrip("\n"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()

        def killed_state() -> tuple[set[int], list[bytes]]:
            parts_now: set[int] = set()
            seen_now: list[bytes] = []
            for line in list(lines):
                if line.startswith("A "):
                    parts_now = {int(x) for x in line[2:].split(",")} if line[2:] else set()
                elif line.startswith("P "):
                    seen_now.append(line[2:].encode())
            return parts_now, seen_now

        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            killed_parts, _ = killed_state()
            live = [m.assignment for m in members] + [frozenset(killed_parts)]
            union = frozenset().union(*live)
            if killed_parts and union == frozenset(range(parts)) and sum(map(len, live)) == parts:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"4-member assignment incomplete: {killed_state()[0]}")
        produce_more(60)
        time.sleep(2)

        # one member leaves cleanly
        leaver = members.pop(0)
        leaver.stop()
        time.sleep(1)
        # one member is killed: its partitions move after its session times out
        killable.send_signal(signal.SIGKILL)
        killable.wait(10)
        reader.join(5)
        killed_seen = killed_state()[1]
        wait_balanced(members, parts, timeout=45)
        produce_more(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen_set = {v for m in [*members, leaver] for _, _, v in m.processed} | set(killed_seen)
            if seen_set >= set(values):
                break
            time.sleep(0.2)
        seen_set = {v for m in [*members, leaver] for _, _, v in m.processed} | set(killed_seen)
        assert seen_set >= set(values), f"missing {sorted(set(values) - seen_set)[:10]}"
    finally:
        for m in members:
            m.stop()
    offsets = committed(b.bootstrap, group, topic, parts)
    assert sum(offsets.values()) == len(values)


def test_cooperative_sticky_keeps_unmoved_partitions(broker_factory: object) -> None:
    b: BrokerProcess = broker_factory(FAST)  # type: ignore[operator]
    topic, group, parts = unique_topic("coop"), "coop", 6
    create_topic(b.bootstrap, topic, parts)
    extra = {"extra": {"partition.assignment.strategy": "cooperative-sticky"}}
    first = Member("confluent", b.bootstrap, topic, group, **extra)
    first.start()
    second = Member("confluent", b.bootstrap, topic, group, **extra)
    try:
        wait_balanced([first], parts)
        second.start()
        wait_balanced([first, second], parts)
        kept = first.assignment
        revoked = [p for kind, p in first.assign_events if kind == "revoke"]
        assert revoked, "the first member gave partitions up"
        # incremental: only the moved partitions were revoked, never the kept ones
        assert all(not (r & kept) for r in revoked), first.assign_events
        assert len(kept) == 3
    finally:
        second.stop()
        first.stop()


def test_static_member_restart_keeps_partitions(broker_factory: object) -> None:
    b: BrokerProcess = broker_factory(FAST)  # type: ignore[operator]
    topic, group, parts = unique_topic("static"), "static", 4
    create_topic(b.bootstrap, topic, parts)
    s1 = {"session_timeout_ms": 10000, "extra": {"group.instance.id": "static-1"}}
    s2 = {"session_timeout_ms": 10000, "extra": {"group.instance.id": "static-2"}}
    a = Member("confluent", b.bootstrap, topic, group, **s1)
    other = Member("confluent", b.bootstrap, topic, group, **s2)
    a.start()
    other.start()
    try:
        wait_balanced([a, other], parts)
        before_a, before_other = a.assignment, other.assignment
        events_before = list(other.assign_events)
        a.stop()  # a static librdkafka member does not send LeaveGroup on close
        a2 = Member("confluent", b.bootstrap, topic, group, **s1)
        a2.start()
        try:
            wait_balanced([a2, other], parts)
            assert a2.assignment == before_a
            assert other.assignment == before_other
            assert other.assign_events == events_before, "no rebalance for the other member"
        finally:
            a2.stop()
    finally:
        other.stop()


# ----------------------------------------------------------------------------------
# An independent decoder of Kafka's __consumer_offsets schemas (OffsetCommitKey v0-1,
# OffsetCommitValue v0-3, GroupMetadataKey v2, GroupMetadataValue v0-3), built with struct
# from the JSON schema descriptions, to check the broker's bytes without its own codec.


def _str(data: bytes, pos: int) -> tuple[str | None, int]:
    (n,) = struct.unpack_from(">h", data, pos)
    pos += 2
    if n < 0:
        return None, pos
    return data[pos : pos + n].decode(), pos + n


def indep_key(data: bytes) -> tuple[int, tuple[object, ...]]:
    (version,) = struct.unpack_from(">h", data, 0)
    group, pos = _str(data, 2)
    if version in (0, 1):
        topic, pos = _str(data, pos)
        (partition,) = struct.unpack_from(">i", data, pos)
        assert pos + 4 == len(data)
        return version, (group, topic, partition)
    assert version == 2 and pos == len(data)
    return version, (group,)


def indep_offset_value(data: bytes) -> tuple[int, int, str, int]:
    (version,) = struct.unpack_from(">h", data, 0)
    assert version in (0, 1, 2, 3)
    (offset,) = struct.unpack_from(">q", data, 2)
    pos = 10
    epoch = -1
    if version >= 3:
        (epoch,) = struct.unpack_from(">i", data, pos)
        pos += 4
    metadata, pos = _str(data, pos)
    (ts,) = struct.unpack_from(">q", data, pos)
    pos += 8 + (8 if version == 1 else 0)
    assert pos == len(data)
    return offset, epoch, metadata or "", ts


def indep_group_value(data: bytes) -> tuple[str, int, str | None, str | None, list[str]]:
    (version,) = struct.unpack_from(">h", data, 0)
    assert version in (0, 1, 2, 3)
    ptype, pos = _str(data, 2)
    (generation,) = struct.unpack_from(">i", data, pos)
    protocol, pos = _str(data, pos + 4)
    leader, pos = _str(data, pos)
    if version >= 2:
        pos += 8
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    members = []
    for _ in range(count):
        mid, pos = _str(data, pos)
        if version >= 3:
            _, pos = _str(data, pos)
        _, pos = _str(data, pos)  # client id
        _, pos = _str(data, pos)  # client host
        pos += 4 if version >= 1 else 0
        pos += 4  # session timeout
        for _ in range(2):  # subscription, assignment
            (n,) = struct.unpack_from(">i", data, pos)
            pos += 4 + n
        members.append(mid or "")
    assert pos == len(data)
    return ptype or "", generation, protocol, leader, members


def read_offsets_topic(data_dir: Path) -> list[tuple[bytes, bytes | None]]:
    from protocol.records import iter_records

    out = []
    for d in sorted(data_dir.glob("__consumer_offsets-*")):
        for seg in sorted(d.glob("*.log")):
            for _, rec in iter_records(seg.read_bytes()):
                assert rec.key is not None
                out.append((rec.key, rec.value))
    return out


def test_offsets_and_group_survive_restart_and_kill9(broker_factory: object) -> None:
    require_josef("reads the broker's data directory")
    b: BrokerProcess = broker_factory(FAST)  # type: ignore[operator]
    topic, group, parts = unique_topic("persist"), "persist", 3
    create_topic(b.bootstrap, topic, parts)
    produce_values(b.bootstrap, topic, [f"r{i}".encode() for i in range(30)], parts)
    m = Member("kafka-python", b.bootstrap, topic, group)
    m.start()
    try:
        wait_balanced([m], parts)
        deadline = time.monotonic() + 20
        while len(m.processed) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        m.stop()
    assert committed(b.bootstrap, group, topic, parts) == {0: 10, 1: 10, 2: 10}
    # a simple consumer (no group membership) commits with metadata
    c = Consumer(
        {"bootstrap.servers": b.bootstrap, "group.id": "simple", "enable.auto.commit": False}
    )
    c.commit(offsets=[TopicPartition(topic, 1, 7, metadata="hello")], asynchronous=False)
    c.close()

    b.stop()
    b.start()
    assert committed(b.bootstrap, group, topic, parts) == {0: 10, 1: 10, 2: 10}
    b.kill()
    b.start()
    assert committed(b.bootstrap, group, topic, parts) == {0: 10, 1: 10, 2: 10}
    c = Consumer(
        {"bootstrap.servers": b.bootstrap, "group.id": "simple", "enable.auto.commit": False}
    )
    [tp] = c.committed([TopicPartition(topic, 1)], timeout=15)
    c.close()
    assert (tp.offset, tp.metadata) == (7, "hello")

    # the group's records on disk decode with both decoders and agree
    records = read_offsets_topic(b.data_dir)
    offsets_seen: dict[tuple[str, str, int], int] = {}
    groups_seen: dict[str, tuple[object, ...]] = {}
    for key, value in records:
        version, fields = indep_key(key)
        ours = decode_key(key)
        if version in (0, 1):
            assert isinstance(ours, OffsetCommitKey)
            assert (ours.group, ours.topic, ours.partition) == fields
            if value is not None:
                off = indep_offset_value(value)
                mine = decode_offset_commit_value(value)
                assert off == (mine.offset, mine.leader_epoch, mine.metadata, mine.commit_timestamp)
                offsets_seen[(ours.group, ours.topic, ours.partition)] = off[0]
        else:
            assert isinstance(ours, GroupMetadataKey) and (ours.group,) == fields
            if value is not None:
                g = indep_group_value(value)
                mine_g = decode_group_metadata_value(value)
                assert g == (
                    mine_g.protocol_type,
                    mine_g.generation,
                    mine_g.protocol,
                    mine_g.leader,
                    [x.member_id for x in mine_g.members],
                )
                groups_seen[ours.group] = g
    for p in range(parts):
        assert offsets_seen[(group, topic, p)] == 10
    assert offsets_seen[("simple", topic, 1)] == 7
    assert groups_seen[group][0] == "consumer"
    assert groups_seen[group][4] == [], "the group was left empty by the clean close"


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_describe_list_delete_groups(broker_factory: object, client: str) -> None:
    from confluent_kafka.admin import AdminClient

    b: BrokerProcess = broker_factory(FAST)  # type: ignore[operator]
    topic, group = unique_topic("adm"), f"adm-{client}"
    create_topic(b.bootstrap, topic, 2)
    m = Member(client, b.bootstrap, topic, group)
    m.start()
    try:
        wait_balanced([m], 2)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        listed = admin.list_consumer_groups().result(15)
        assert group in {g.group_id for g in listed.valid}
        desc = admin.describe_consumer_groups([group])[group].result(15)
        assert str(desc.state).endswith("STABLE")
        assert len(desc.members) == 1
        assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
        assert assigned == {0, 1}
        with pytest.raises(Exception, match=r"NON_EMPTY_GROUP|not empty"):
            admin.delete_consumer_groups([group])[group].result(15)
    finally:
        m.stop()
    admin.delete_consumer_groups([group])[group].result(15)
    listed = admin.list_consumer_groups().result(15)
    assert group not in {g.group_id for g in listed.valid}
