"""``josef produce`` with headers, partitions and key/value formats, and ``josef consume``
with ``--output json``, kcat ``-f`` format strings and ``--group``, checked against
confluent-kafka (librdkafka), kcat and kafka-python on the same topics."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    KCAT,
    Record,
    consume_confluent,
    create_topic,
    produce,
    unique_topic,
    watermarks,
)
from helpers.josef_cli import REPO, josef, ok
from kafka import KafkaConsumer, TopicPartition

KCAT_FORMAT = "%t|%p|%o|%k|%K|%s|%S|%h|%T\\n"


def test_produce_headers_partition_and_formats(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("prodfmt")
    create_topic(b.bootstrap, topic, partitions=3)
    lines = [
        "trace:abc,empty:NULL\t00ff\t" + json.dumps({"n": 1}),
        "\tcafe\t[1, 2]",
        "x:y\tNULL\tNULL",
    ]
    out = ok(
        josef(b.bootstrap, "produce", topic, "--partition", "2", "-H", "app=josef", "-H", "flag",
              "--parse-headers", "--key-separator", "\t", "--key-format", "hex",
              "--value-format", "json", "--null-marker", "NULL", "--output", "json",
              stdin="\n".join(lines) + "\n")
    )  # fmt: skip
    assert json.loads(out) == {
        "topic": topic,
        "records": 3,
        "partitions": [{"partition": 2, "records": 3, "first_offset": 0, "last_offset": 2}],
    }
    got = consume_confluent(b.bootstrap, topic, 2, 0, 3)
    assert [(r.offset, r.key, r.value) for r in got] == [
        (0, b"\x00\xff", b'{"n": 1}'),
        (1, b"\xca\xfe", b"[1, 2]"),
        (2, None, None),
    ]
    assert [r.headers for r in got] == [
        (("app", b"josef"), ("flag", None), ("trace", b"abc"), ("empty", None)),
        (("app", b"josef"), ("flag", None)),
        (("app", b"josef"), ("flag", None), ("x", b"y")),
    ]
    assert watermarks(b.bootstrap, topic, 0) == (0, 0)

    b64 = base64.b64encode(b"\x01\x02binary").decode()
    ok(josef(b.bootstrap, "produce", topic, "--partition", "0", "--value-format", "base64",
             stdin=b64 + "\n"))  # fmt: skip
    assert consume_confluent(b.bootstrap, topic, 0, 0, 1)[0].value == b"\x01\x02binary"

    bad = josef(b.bootstrap, "produce", topic, "--value-format", "json", stdin="{not json\n")
    assert bad.returncode == 1 and "value in line 1 is not valid JSON" in bad.stderr
    assert watermarks(b.bootstrap, topic, 1) == (0, 0)


def test_consume_json_matches_confluent(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("consjson")
    create_topic(b.bootstrap, topic, partitions=1)
    sent = [
        Record(key=b"k0", value=b'{"a": [1, 2]}', headers=(("h", b"1"),)),
        Record(key=None, value=None),
        Record(key=b"\xff", value=b"plain", headers=(("n", None), ("m", b"v"))),
    ]
    produce("confluent", b.bootstrap, topic, sent, partition=0)
    out = ok(josef(b.bootstrap, "consume", topic, "--from-beginning", "--max-messages", "3",
                   "--value-format", "json", "--key-format", "base64",
                   "--output", "json"))  # fmt: skip
    docs = [json.loads(line) for line in out.splitlines()]
    theirs = consume_confluent(b.bootstrap, topic, 0, 0, 3)
    assert [(d["partition"], d["offset"], d["timestamp"]) for d in docs] == [
        (0, r.offset, r.timestamp) for r in theirs
    ]
    assert [d["key"] for d in docs] == [
        None if r.key is None else base64.b64encode(r.key).decode() for r in theirs
    ]
    assert [d["value"] for d in docs] == [{"a": [1, 2]}, None, "plain"]
    assert [d["headers"] for d in docs] == [
        [{"key": k, "value": None if v is None else v.decode()} for k, v in r.headers]
        for r in theirs
    ]
    assert {d["timestamp_type"] for d in docs} == {"CreateTime"}


def test_consume_format_string_matches_kcat(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("consfmt")
    create_topic(b.bootstrap, topic, partitions=1)
    sent = [
        Record(key=b"k1", value=b"v1", headers=(("a", b"1"), ("b", None))),
        Record(key=None, value=None),
        Record(key=b"k3", value=b""),
    ]
    produce("confluent", b.bootstrap, topic, sent, partition=0)
    kcat = subprocess.run(
        [KCAT, "-C", "-b", b.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e",
         "-f", KCAT_FORMAT],
        capture_output=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    mine = josef(b.bootstrap, "consume", topic, "--from-beginning", "--max-messages", "3", "-f",
                 KCAT_FORMAT)  # fmt: skip
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.encode() == kcat.stdout
    assert mine.stdout.splitlines()[0].startswith(f"{topic}|0|0|k1|2|v1|2|a=1,b=NULL|")
    # Kafka's console consumer layout with headers
    text = ok(josef(b.bootstrap, "consume", topic, "--from-beginning", "--max-messages", "1",
                    "--print-headers", "--print-key", "--print-offset"))  # fmt: skip
    assert text == "Offset:0\ta:1,b:null\tk1\tv1\n"
    bad = josef(b.bootstrap, "consume", topic, "-f", "%q", "--max-messages", "1")
    assert bad.returncode == 2 and "%q" in bad.stderr


def _committed(b: BrokerProcess, group: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    return {tp.partition: tp.offset for tp in res[group].result(timeout=15).topic_partitions}


def test_consume_group_commits_and_resumes(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("consgrp")
    create_topic(b.bootstrap, topic, partitions=2)
    for p in (0, 1):
        recs = [Record(value=f"p{p}-{i}".encode()) for i in range(5)]
        produce("confluent", b.bootstrap, topic, recs, partition=p)
    group = f"g-{topic}"
    first = ok(josef(b.bootstrap, "consume", topic, "--group", group, "--from-beginning",
                     "--max-messages", "6", "--output", "json"))  # fmt: skip
    docs = [json.loads(line) for line in first.splitlines()]
    assert len(docs) == 6
    # committed = one past the last printed record of each partition (librdkafka's view)
    expected = {}
    for d in docs:
        expected[d["partition"]] = d["offset"] + 1
    assert _committed(b, group) == expected
    second = ok(josef(b.bootstrap, "consume", topic, "--group", group, "--timeout-ms", "2000",
                      "--output", "json"))  # fmt: skip
    rest = [json.loads(line) for line in second.splitlines()]
    seen = sorted((d["partition"], d["offset"]) for d in docs + rest)
    assert seen == [(p, o) for p in (0, 1) for o in range(5)]  # each record exactly once
    assert _committed(b, group) == {0: 5, 1: 5}
    # kafka-python in the same group starts where josef committed: nothing left
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert kc.committed(TopicPartition(topic, 0)) == 5
        assert kc.committed(TopicPartition(topic, 1)) == 5
    finally:
        kc.close()
    # the group is empty again after josef left
    desc = json.loads(ok(josef(b.bootstrap, "groups", "describe", group, "--output", "json")))
    assert desc[0]["state"] == "Empty" and desc[0]["members"] == []


def test_consume_group_shares_partitions_with_a_confluent_member(shared: BrokerProcess) -> None:
    from confluent_kafka import Consumer

    b = shared
    topic = unique_topic("consshare")
    create_topic(b.bootstrap, topic, partitions=2)
    group = f"g-{topic}"
    other = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "partition.assignment.strategy": "range"})  # fmt: skip
    try:
        other.subscribe([topic])
        deadline = time.monotonic() + 30
        while not other.assignment() and time.monotonic() < deadline:
            other.poll(0.2)
        assert len(other.assignment()) == 2
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen(
            [sys.executable, "-m", "broker", "consume", topic, "--group", group,
             "--from-beginning", "--max-messages", "1", "--output", "json",
             "--bootstrap-server", b.bootstrap],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
        )  # fmt: skip
        try:
            # keep the confluent member polling so that it takes part in the rebalance,
            # until it holds one partition; then give josef a record in the other one
            shared_view: set[int] = set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                other.poll(0.2)
                mine = {tp.partition for tp in other.assignment()}
                if len(mine) == 1 and not shared_view:
                    shared_view = mine
                    (free,) = {0, 1} - mine
                    produce("confluent", b.bootstrap, topic, [Record(value=b"x")], partition=free)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert len(shared_view) == 1, "the confluent member never shared the topic"
        (doc,) = [json.loads(line) for line in out.splitlines()]
        assert doc["partition"] not in shared_view and doc["value"] == "x"
        assert _committed(b, group)[doc["partition"]] == doc["offset"] + 1
    finally:
        other.close()


def test_consume_isolation_level_matches_confluent(shared: BrokerProcess) -> None:
    from confluent_kafka import Producer

    b = shared
    topic = unique_topic("consiso")
    create_topic(b.bootstrap, topic, partitions=1)
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": f"tx-{topic}"})
    p.init_transactions(30)
    for outcome, values in (("commit", [b"c1", b"c2"]), ("abort", [b"a1"]), ("commit", [b"c3"])):
        p.begin_transaction()
        for v in values:
            p.produce(topic, value=v, partition=0)
        p.flush(30)
        if outcome == "commit":
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    def values(level: str, n: int) -> list[str]:
        out = ok(josef(b.bootstrap, "consume", topic, "--from-beginning", "--max-messages",
                       str(n), "--isolation-level", level, "--output", "json"))  # fmt: skip
        return [json.loads(line)["value"] for line in out.splitlines()]

    committed = values("read_committed", 3)
    theirs = consume_confluent(b.bootstrap, topic, 0, 0, 3, **{"isolation.level": "read_committed"})
    assert committed == [r.value.decode() for r in theirs if r.value] == ["c1", "c2", "c3"]
    assert values("read_uncommitted", 4) == ["c1", "c2", "a1", "c3"]
