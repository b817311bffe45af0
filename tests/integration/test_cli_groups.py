"""``josef groups`` as subprocesses against groups formed and committed by real consumers
(confluent-kafka / librdkafka, kafka-python): describe's LAG equals the log end offset minus
the committed offset, reset-offsets moves committed offsets (checked by consumers resuming
from them), list and delete agree with confluent-kafka's AdminClient."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from helpers.broker_process import BrokerProcess
from helpers.clients import Record, create_topic, produce, unique_topic, watermarks
from helpers.group_members import Member, wait_balanced
from helpers.josef_cli import josef, ok, parse_table

KIP848_OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "300",
    "group.consumer.session.timeout.ms": "4000",
}


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def fill(bootstrap: str, topic: str, counts: list[int], tag: str = "m") -> None:
    for p, n in enumerate(counts):
        if n:
            recs = [Record(value=f"{tag}{p}-{i}".encode()) for i in range(n)]
            produce("confluent", bootstrap, topic, recs, partition=p)


def consume_commit_confluent(bootstrap: str, group: str, topic: str, n: int) -> None:
    """Subscribe, process exactly ``n`` records, commit them, leave the group."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "client.id": "lag-confluent",
        }
    )
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got += 1
        assert got == n, f"confluent consumed {got} of {n}"
        c.commit(asynchronous=False)
    finally:
        c.close()


def consume_commit_kafka_python(bootstrap: str, group: str, topic: str, n: int) -> None:
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="lag-kafka-python",
    )
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < n and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=200, max_records=n - got)
            got += sum(len(v) for v in batch.values())
        assert got == n, f"kafka-python consumed {got} of {n}"
        c.commit()
    finally:
        c.close()


COMMITTERS = {"confluent": consume_commit_confluent, "kafka-python": consume_commit_kafka_python}


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Committed offsets as confluent-kafka reads them (partitions without one left out)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
    finally:
        c.close()


def first_offsets_on_resume(
    bootstrap: str, group: str, topic: str, partitions: int, client: str = "confluent"
) -> dict[int, int]:
    """Join ``group`` and report the first offset it is served on each partition (without
    committing anything)."""
    first: dict[int, int] = {}
    deadline = time.monotonic() + 30
    if client == "confluent":
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            }
        )
        try:
            c.subscribe([topic])
            while len(first) < partitions and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and m.error() is None:
                    first.setdefault(m.partition(), m.offset())
        finally:
            c.close()
        return first
    from kafka import KafkaConsumer

    k = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    try:
        k.subscribe([topic])
        while len(first) < partitions and time.monotonic() < deadline:
            for tp, msgs in k.poll(timeout_ms=200).items():
                if msgs:
                    first.setdefault(tp.partition, msgs[0].offset)
    finally:
        k.close()
    return first


def describe_rows(bootstrap: str, group: str, *extra: str) -> list[dict[str, str]]:
    return parse_table(ok(josef(bootstrap, "groups", "describe", group, *extra)))


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize("client", sorted(COMMITTERS))
def test_describe_lag_is_log_end_minus_committed(shared: BrokerProcess, client: str) -> None:
    b = shared
    topic = unique_topic("lag")
    group = unique_topic("g-lag")
    create_topic(b.bootstrap, topic, 3)
    fill(b.bootstrap, topic, [10, 20, 30])
    COMMITTERS[client](b.bootstrap, group, topic, 45)
    fill(b.bootstrap, topic, [5, 0, 2], tag="late")  # the log moves on after the commit

    theirs = committed(b.bootstrap, group, topic, 3)
    assert sum(theirs.values()) == 45
    out = ok(josef(b.bootstrap, "groups", "describe", group))
    assert f"Consumer group '{group}' has no active members." in out
    rows = parse_table(out)
    assert {int(r["PARTITION"]) for r in rows} == set(theirs)
    for r in rows:
        p = int(r["PARTITION"])
        _low, high = watermarks(b.bootstrap, topic, p)
        assert (r["GROUP"], r["TOPIC"]) == (group, topic)
        assert int(r["CURRENT-OFFSET"]) == theirs[p]
        assert int(r["LOG-END-OFFSET"]) == high
        assert int(r["LAG"]) == high - theirs[p]
        assert r["CONSUMER-ID"] == r["HOST"] == r["CLIENT-ID"] == "-"
    if len(theirs) == 3:  # the consumer read from every partition
        assert sum(int(r["LAG"]) for r in rows) == 67 - 45

    state = parse_table(ok(josef(b.bootstrap, "groups", "describe", group, "--state")))
    assert state[0]["STATE"] == "Empty" and state[0]["#MEMBERS"] == "0"


def test_describe_active_mixed_group(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("active")
    group = unique_topic("g-active")
    create_topic(b.bootstrap, topic, 4)
    fill(b.bootstrap, topic, [6, 6, 6, 6])
    members = [
        Member("confluent", b.bootstrap, topic, group, extra={"client.id": "cli-test-rdkafka"}),
        Member("kafka-python", b.bootstrap, topic, group),
    ]
    for m in members:
        m.start()
    try:
        wait_balanced(members, 4)
        wait_until(
            "every record processed",
            lambda: sum(len(m.processed) for m in members) >= 24,
        )

        def settled() -> bool:
            rows = describe_rows(b.bootstrap, group, "--members", "--verbose")
            return len(rows) == 2 and all(r["#PARTITIONS"] != "0" for r in rows)

        wait_until("two members with partitions in describe", settled)
        rows = describe_rows(b.bootstrap, group, "--members", "--verbose")
        by_client = {r["CLIENT-ID"]: r for r in rows}
        assert "cli-test-rdkafka" in by_client
        assigned: dict[int, str] = {}
        for r in rows:
            topic_name, _, parts = r["ASSIGNMENT"].partition(":")
            assert topic_name == topic
            for p in parts.split(","):
                assert int(p) not in assigned, "partition assigned twice"
                assigned[int(p)] = r["CONSUMER-ID"]
            assert int(r["#PARTITIONS"]) == len(parts.split(","))
        assert sorted(assigned) == [0, 1, 2, 3]
        rdkafka = next(m for m in members if m.client == "confluent")
        mine = {
            p for p, mid in assigned.items() if mid == by_client["cli-test-rdkafka"]["CONSUMER-ID"]
        }
        assert mine == set(rdkafka.assignment)

        # Members commit after each batch: wait for every offset, then compare the table.
        wait_until(
            "offsets committed",
            lambda: committed(b.bootstrap, group, topic, 4) == {p: 6 for p in range(4)},
        )
        offsets = describe_rows(b.bootstrap, group)
        assert len(offsets) == 4
        for r in offsets:
            p = int(r["PARTITION"])
            assert r["CONSUMER-ID"] == assigned[p]
            assert int(r["CURRENT-OFFSET"]) == 6 and int(r["LOG-END-OFFSET"]) == 6
            assert r["LAG"] == "0"
        state = parse_table(ok(josef(b.bootstrap, "groups", "describe", group, "--state")))
        assert state[0]["STATE"] == "Stable" and state[0]["#MEMBERS"] == "2"

        # An active group can neither be reset nor deleted.
        reset = josef(
            b.bootstrap, "groups", "reset-offsets", group, "--topic", topic,
            "--to-earliest", "--execute",
        )  # fmt: skip
        assert reset.returncode == 1
        assert "can only be reset if the group" in reset.stderr and "Stable" in reset.stderr
        delete = josef(b.bootstrap, "groups", "delete", group)
        assert delete.returncode == 1 and "NON_EMPTY_GROUP" in delete.stderr
    finally:
        for m in members:
            m.stop()
    assert committed(b.bootstrap, group, topic, 4) == {p: 6 for p in range(4)}


def test_describe_unknown_group(shared: BrokerProcess) -> None:
    proc = josef(shared.bootstrap, "groups", "describe", unique_topic("g-none"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_kip848_group_describe(broker_factory: Any) -> None:
    b = broker_factory(KIP848_OVERRIDES)
    topic = unique_topic("k848")
    group = unique_topic("g-848")
    create_topic(b.bootstrap, topic, 3)
    fill(b.bootstrap, topic, [4, 4, 4])
    c = Consumer(
        {
            "bootstrap.servers": b.bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "client.id": "cli-848",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 12 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got += 1
                if got == 5:
                    c.commit(asynchronous=False)
        assert got == 12
        rows = describe_rows(b.bootstrap, group)
        assert {int(r["PARTITION"]) for r in rows} == {0, 1, 2}
        theirs = committed(b.bootstrap, group, topic, 3)
        assert sum(theirs.values()) == 5
        for r in rows:
            p = int(r["PARTITION"])
            assert r["CLIENT-ID"] == "cli-848" and r["CONSUMER-ID"] == c.memberid()
            assert int(r["LOG-END-OFFSET"]) == 4
            if p in theirs:
                assert int(r["CURRENT-OFFSET"]) == theirs[p]
                assert int(r["LAG"]) == 4 - theirs[p]
            else:
                assert r["CURRENT-OFFSET"] == r["LAG"] == "-"
        state = parse_table(ok(josef(b.bootstrap, "groups", "describe", group, "--state")))
        assert state[0]["STATE"] == "Stable" and state[0]["#MEMBERS"] == "1"
    finally:
        c.close()


# --------------------------------------------------------------------------- reset-offsets


def test_reset_offsets_scenarios(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("reset")
    group = unique_topic("g-reset")
    create_topic(b.bootstrap, topic, 3)
    fill(b.bootstrap, topic, [10, 10, 10])
    consume_commit_confluent(b.bootstrap, group, topic, 30)
    assert committed(b.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}

    def reset(*args: str) -> dict[int, int]:
        out = ok(josef(b.bootstrap, "groups", "reset-offsets", group, *args))
        return {int(r["PARTITION"]): int(r["NEW-OFFSET"]) for r in parse_table(out)}

    # dry runs change nothing (explicitly, or by default with a warning)
    assert reset("--topic", topic, "--to-earliest", "--dry-run") == {0: 0, 1: 0, 2: 0}
    proc = josef(b.bootstrap, "groups", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert "--execute option is missing" in ok(proc) + proc.stderr
    assert committed(b.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}

    # to-earliest, then a librdkafka consumer resumes from offset 0 everywhere
    assert reset("--topic", topic, "--to-earliest", "--execute") == {0: 0, 1: 0, 2: 0}
    assert committed(b.bootstrap, group, topic, 3) == {0: 0, 1: 0, 2: 0}
    assert first_offsets_on_resume(b.bootstrap, group, topic, 3) == {0: 0, 1: 0, 2: 0}

    # some partitions only; to-offset clamps to the log end
    assert reset("--topic", f"{topic}:1,2", "--to-offset", "7", "--execute") == {1: 7, 2: 7}
    assert reset("--topic", f"{topic}:2", "--to-offset", "99", "--execute") == {2: 10}
    assert committed(b.bootstrap, group, topic, 3) == {0: 0, 1: 7, 2: 10}

    # shift-by moves each partition relative to its commit, clamped to the log
    assert reset("--topic", topic, "--shift-by", "-3", "--execute") == {0: 0, 1: 4, 2: 7}
    assert reset("--all-topics", "--shift-by", "2", "--execute") == {0: 2, 1: 6, 2: 9}
    # kafka-python resumes where the commits say
    assert first_offsets_on_resume(b.bootstrap, group, topic, 3, "kafka-python") == {
        0: 2,
        1: 6,
        2: 9,
    }

    assert reset("--topic", topic, "--to-latest", "--execute") == {0: 10, 1: 10, 2: 10}
    assert committed(b.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}
    assert reset("--topic", topic, "--to-current", "--dry-run") == {0: 10, 1: 10, 2: 10}
    lag = describe_rows(b.bootstrap, group)
    assert [r["LAG"] for r in lag] == ["0", "0", "0"]


def test_reset_offsets_to_datetime(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("reset-ts")
    group = unique_topic("g-reset-ts")
    create_topic(b.bootstrap, topic, 2)
    base = (int(time.time()) - 3600) * 1000  # an hour ago, whole seconds
    for p in range(2):
        recs = [Record(value=f"{p}-{i}".encode(), timestamp=base + i * 10_000) for i in range(10)]
        produce("confluent", b.bootstrap, topic, recs, partition=p)
    when = datetime.datetime.fromtimestamp((base + 45_000) / 1000, datetime.UTC)
    iso = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    out = ok(
        josef(
            b.bootstrap, "groups", "reset-offsets", group, "--topic", topic,
            "--to-datetime", iso, "--execute",
        )
    )  # fmt: skip
    new = {int(r["PARTITION"]): int(r["NEW-OFFSET"]) for r in parse_table(out)}
    assert new == {0: 5, 1: 5}  # the first record at or after base + 45 s
    assert committed(b.bootstrap, group, topic, 2) == {0: 5, 1: 5}
    assert first_offsets_on_resume(b.bootstrap, group, topic, 2) == {0: 5, 1: 5}

    # a time after every record: the log end; by-duration of a day: the beginning
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).isoformat()
    out = ok(
        josef(
            b.bootstrap, "groups", "reset-offsets", group, "--topic", topic,
            "--to-datetime", future, "--execute",
        )
    )  # fmt: skip
    assert [r["NEW-OFFSET"] for r in parse_table(out)] == ["10", "10"]
    out = ok(
        josef(
            b.bootstrap, "groups", "reset-offsets", group, "--topic", topic,
            "--by-duration", "P1D", "--execute",
        )
    )  # fmt: skip
    assert [r["NEW-OFFSET"] for r in parse_table(out)] == ["0", "0"]


def test_reset_offsets_of_a_new_group(shared: BrokerProcess) -> None:
    """A group that never existed can be given offsets; consumers then start there."""
    b = shared
    topic = unique_topic("reset-new")
    group = unique_topic("g-new")
    create_topic(b.bootstrap, topic, 1)
    fill(b.bootstrap, topic, [8])
    ok(
        josef(
            b.bootstrap, "groups", "reset-offsets", group, "--topic", topic,
            "--to-offset", "3", "--execute",
        )
    )  # fmt: skip
    assert committed(b.bootstrap, group, topic, 1) == {0: 3}
    assert first_offsets_on_resume(b.bootstrap, group, topic, 1) == {0: 3}
    rows = describe_rows(b.bootstrap, group)
    assert [(r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"]) for r in rows] == [("3", "8", "5")]
    shift = josef(
        b.bootstrap, "groups", "reset-offsets", unique_topic("g-empty"), "--topic", topic,
        "--shift-by", "1", "--execute",
    )  # fmt: skip
    assert shift.returncode == 1 and "needs a committed offset" in shift.stderr
    bad = josef(
        b.bootstrap, "groups", "reset-offsets", group, "--topic", f"{topic}:5",
        "--to-earliest", "--execute",
    )  # fmt: skip
    assert bad.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr


# --------------------------------------------------------------------------- list / delete


def test_list_and_delete_groups(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("listdel")
    g1, g2 = unique_topic("g-l1"), unique_topic("g-l2")
    create_topic(b.bootstrap, topic, 1)
    fill(b.bootstrap, topic, [4])
    consume_commit_confluent(b.bootstrap, g1, topic, 4)
    consume_commit_kafka_python(b.bootstrap, g2, topic, 2)

    listed = ok(josef(b.bootstrap, "groups", "list")).split()
    assert {g1, g2} <= set(listed)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    theirs = admin.list_consumer_groups().result(timeout=15)
    assert {g.group_id for g in theirs.valid} == set(listed)
    states = {
        r["GROUP"]: r["STATE"]
        for r in parse_table(ok(josef(b.bootstrap, "groups", "list", "--state")))
    }
    assert states[g1] == states[g2] == "Empty"
    empty_only = ok(josef(b.bootstrap, "groups", "list", "--state", "empty"))
    assert {g1, g2} <= {r["GROUP"] for r in parse_table(empty_only)}
    stable_only = ok(josef(b.bootstrap, "groups", "list", "--state", "Stable"))
    assert g1 not in stable_only
    assert josef(b.bootstrap, "groups", "list", "--state", "Sleepy").returncode == 2

    out = ok(josef(b.bootstrap, "groups", "delete", g1))
    assert f"('{g1}')" in out and "successful" in out
    assert g1 not in ok(josef(b.bootstrap, "groups", "list")).split()
    theirs = admin.list_consumer_groups().result(timeout=15)
    assert g1 not in {g.group_id for g in theirs.valid}
    assert committed(b.bootstrap, g1, topic, 1) == {}
    assert committed(b.bootstrap, g2, topic, 1) == {0: 2}

    again = josef(b.bootstrap, "groups", "delete", g1)
    assert again.returncode == 1 and "GROUP_ID_NOT_FOUND" in again.stderr


def test_describe_right_after_restart(broker_factory: Any) -> None:
    """Straight after a restart the coordinator may still be loading __consumer_offsets
    (COORDINATOR_LOAD_IN_PROGRESS): the CLI retries and then shows the committed offsets."""
    b = broker_factory({"offsets.topic.num.partitions": "4"})
    topic = unique_topic("restart")
    group = unique_topic("g-restart")
    create_topic(b.bootstrap, topic, 2)
    fill(b.bootstrap, topic, [5, 5])
    consume_commit_kafka_python(b.bootstrap, group, topic, 10)
    b.restart()
    rows = describe_rows(b.bootstrap, group)
    assert [(r["PARTITION"], r["CURRENT-OFFSET"], r["LAG"]) for r in rows] == [
        ("0", "5", "0"),
        ("1", "5", "0"),
    ]
