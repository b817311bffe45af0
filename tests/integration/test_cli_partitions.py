"""``josef cluster info``, ``offsets``, ``records delete`` and ``logdirs describe`` against
a real broker, text and JSON output compared with confluent-kafka's (librdkafka) and
kafka-python's AdminClients and with the partition directories on disk."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from helpers.broker_process import BrokerProcess
from helpers.clients import Record, create_topic, produce, unique_topic, watermarks
from helpers.josef_cli import josef, ok
from kafka import KafkaAdminClient


def jcli(b: BrokerProcess, *args: str) -> Any:
    return json.loads(ok(josef(b.bootstrap, *args, "--output", "json")))


def _admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap})


def test_cluster_info_matches_confluent_and_kafka_python(shared: BrokerProcess) -> None:
    b = shared
    doc = jcli(b, "cluster", "info")
    admin = _admin(b)  # keep the handle alive until the future is done
    md = admin.describe_cluster().result(timeout=15)
    assert doc["cluster_id"] == md.cluster_id
    assert doc["controller_id"] == md.controller.id
    assert [(x["id"], x["host"], x["port"]) for x in doc["brokers"]] == [
        (n.id, n.host, n.port) for n in md.nodes
    ]
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        assert kp.describe_cluster()["cluster_id"] == doc["cluster_id"]
    finally:
        kp.close()
    text = ok(josef(b.bootstrap, "cluster", "info"))
    assert text.splitlines()[0] == f"Cluster ID: {md.cluster_id}"
    assert text.splitlines()[3].split() == ["ID", "HOST", "PORT", "RACK"]
    assert text.splitlines()[4].split()[0] == f"{md.controller.id}*"


def _fill(b: BrokerProcess, topic: str, counts: list[int], ts: int | None = None) -> None:
    for p, n in enumerate(counts):
        recs = [Record(value=f"v{p}-{i}".encode(), timestamp=ts) for i in range(n)]
        produce("confluent", b.bootstrap, topic, recs, partition=p)


def test_offsets_earliest_latest_and_by_time_match_confluent(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("offs")
    create_topic(b.bootstrap, topic, partitions=3)
    t0 = int(time.time() * 1000) - 60_000
    _fill(b, topic, [5, 2, 0], ts=t0)
    _fill(b, topic, [1, 0, 0], ts=t0 + 30_000)
    admin = _admin(b)
    tps = [TopicPartition(topic, p) for p in range(3)]

    def theirs(spec: OffsetSpec) -> dict[int, int]:
        futures = admin.list_offsets({tp: spec for tp in tps})
        return {tp.partition: f.result(timeout=15).offset for tp, f in futures.items()}

    latest = jcli(b, "offsets", "--topic", topic)
    assert {r["partition"]: r["offset"] for r in latest} == theirs(OffsetSpec.latest()) == {
        0: 6, 1: 2, 2: 0,
    }  # fmt: skip
    earliest = jcli(b, "offsets", "--topic", topic, "--time", "earliest")
    assert {r["partition"]: r["offset"] for r in earliest} == theirs(OffsetSpec.earliest())
    by_time = jcli(b, "offsets", "--topic", topic, "--time", str(t0 + 1))
    # only partition 0 has a record at or after t0+1 (offset 5); others have no line
    assert {r["partition"]: r["offset"] for r in by_time} == {0: 5}
    assert {p: o for p, o in theirs(OffsetSpec.for_timestamp(t0 + 1)).items() if o >= 0} == {0: 5}
    max_ts = jcli(b, "offsets", "--topic", topic, "--time", "max-timestamp", "--partitions", "0")
    assert [(r["partition"], r["offset"], r["timestamp"]) for r in max_ts] == [(0, 5, t0 + 30_000)]
    assert theirs(OffsetSpec.max_timestamp())[0] == 5
    text = ok(josef(b.bootstrap, "offsets", "--topic", topic, "--partitions", "0,1"))
    assert text.splitlines() == [f"{topic}:0:6", f"{topic}:1:2"]
    none = josef(b.bootstrap, "offsets", "--topic", "no-such-topic-.*x")
    assert none.returncode == 1 and "Could not match any topic-partitions" in none.stderr


def test_records_delete_moves_the_log_start_offset(shared: BrokerProcess, tmp_path: Path) -> None:
    b = shared
    topic = unique_topic("delrec")
    create_topic(b.bootstrap, topic, partitions=2)
    _fill(b, topic, [10, 4])
    out = ok(josef(b.bootstrap, "records", "delete", "--topic", topic, "--partition", "0",
                   "--offset", "6"))  # fmt: skip
    assert out.splitlines() == [
        "Executing records delete operation",
        "Records delete operation completed:",
        f"partition: {topic}-0\tlow_watermark: 6",
    ]
    assert watermarks(b.bootstrap, topic, 0) == (6, 10)
    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": 8},
        {"topic": topic, "partition": 1, "offset": -1},
    ]}))  # fmt: skip
    doc = jcli(b, "records", "delete", "--offset-json-file", str(spec))
    assert doc == [
        {"topic": topic, "partition": 0, "low_watermark": 8, "error": None},
        {"topic": topic, "partition": 1, "low_watermark": 4, "error": None},
    ]
    admin = _admin(b)
    futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.earliest() for p in (0, 1)})
    assert sorted(f.result(timeout=15).offset for f in futures.values()) == [4, 8]
    # beyond the high watermark: OFFSET_OUT_OF_RANGE, exit 1
    bad = josef(b.bootstrap, "records", "delete", "--topic", topic, "--partition", "1",
                "--offset", "99", "--output", "json")  # fmt: skip
    assert bad.returncode == 1
    assert json.loads(bad.stdout)[0]["error"] == "OFFSET_OUT_OF_RANGE"


def test_logdirs_describe_matches_disk_and_kafka_python(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("logdirs")
    create_topic(b.bootstrap, topic, partitions=2)
    _fill(b, topic, [20, 3])
    doc = jcli(b, "logdirs", "describe", "--topic-list", topic)
    assert doc["version"] == 1
    (broker,) = doc["brokers"]
    (logdir,) = broker["logDirs"]
    assert logdir["error"] is None
    assert Path(logdir["logDir"]).resolve() == b.partition_dir(topic, 0).parent.resolve()
    sizes = {p["partition"]: p["size"] for p in logdir["partitions"]}
    on_disk = {
        f"{topic}-{p}": sum(f.stat().st_size for f in b.partition_dir(topic, p).glob("*.log"))
        for p in (0, 1)
    }
    assert sizes == on_disk and all(v > 0 for v in sizes.values())
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in logdir["partitions"])
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        theirs = kp.describe_log_dirs()
    finally:
        kp.close()
    text = json.dumps(theirs, default=str)
    assert topic in text  # kafka-python sees the same topic in the same directory
    table = ok(josef(b.bootstrap, "logdirs", "describe", "--topic-list", topic))
    assert table.splitlines()[0].split() == ["BROKER", "DIR", "PARTITION", "SIZE", "OFFSET-LAG",
                                             "NOTE"]  # fmt: skip
    assert len(table.splitlines()) == 3
