"""``josef topics`` and ``josef configs`` as subprocesses, cross-checked with confluent-kafka's
AdminClient (librdkafka)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource
from helpers.broker_process import BrokerProcess
from helpers.clients import create_topic, unique_topic, wait_for_topic
from helpers.josef_cli import josef, ok, parse_table


def _admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap})


def _topic_configs(b: BrokerProcess, topic: str) -> dict[str, tuple[str | None, ConfigSource]]:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = _admin(b)  # keep the handle alive until the future is done
    entries = admin.describe_configs([res])[res].result(timeout=15)
    return {name: (e.value, ConfigSource(e.source)) for name, e in entries.items()}


def _wait_gone(b: BrokerProcess, topic: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic not in _admin(b).list_topics(timeout=5).topics:
            return
        time.sleep(0.1)
    raise AssertionError(f"{topic} still listed after delete")


def test_create_describe_delete_cross_checked(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli")
    out = ok(
        josef(
            b.bootstrap,
            "topics",
            "create",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=3600000",
            "--config",
            "cleanup.policy=compact",
        )
    )
    assert out.strip() == f"Created topic {topic}."
    wait_for_topic(b.bootstrap, topic, 3)

    # librdkafka sees what the CLI created
    md = _admin(b).list_topics(topic=topic, timeout=10).topics[topic]
    assert sorted(md.partitions) == [0, 1, 2]
    configs = _topic_configs(b, topic)
    assert configs["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["cleanup.policy"] == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    # the CLI describes it as librdkafka sees it
    lines = ok(josef(b.bootstrap, "topics", "describe", topic)).splitlines()
    head = dict(f.split(": ", 1) for f in lines[0].split("\t"))
    assert head["Topic"] == topic
    assert head["PartitionCount"] == "3" and head["ReplicationFactor"] == "1"
    assert set(head["Configs"].split(",")) == {"cleanup.policy=compact", "retention.ms=3600000"}
    admin = _admin(b)
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=15)
    # Kafka prints ids in URL-safe base64; librdkafka in the standard alphabet
    assert head["TopicId"] == str(desc.topic_id).replace("+", "-").replace("/", "_")
    parts = [dict(f.split(": ", 1) for f in ln.strip().split("\t")) for ln in lines[1:]]
    assert [int(p["Partition"]) for p in parts] == [0, 1, 2]
    for p in parts:
        assert int(p["Leader"]) == md.partitions[int(p["Partition"])].leader
        assert p["Replicas"] == p["Isr"] == p["Leader"]

    assert topic in ok(josef(b.bootstrap, "topics", "list")).split()

    again = josef(b.bootstrap, "topics", "create", topic, "--partitions", "1")
    assert again.returncode == 1
    assert "TOPIC_ALREADY_EXISTS" in again.stderr
    ok(josef(b.bootstrap, "topics", "create", topic, "--partitions", "1", "--if-not-exists"))

    assert ok(josef(b.bootstrap, "topics", "delete", topic)).strip() == f"Deleted topic {topic}."
    _wait_gone(b, topic)
    missing = josef(b.bootstrap, "topics", "delete", topic)
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr
    ok(josef(b.bootstrap, "topics", "delete", topic, "--if-exists"))
    gone = josef(b.bootstrap, "topics", "describe", topic)
    assert gone.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in gone.stderr


def test_lists_and_describes_topics_made_by_confluent(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli-conf")
    create_topic(b.bootstrap, topic, 2, {"retention.bytes": "1048576"})
    assert topic in ok(josef(b.bootstrap, "topics", "list")).split()
    lines = ok(josef(b.bootstrap, "topics", "describe")).splitlines()
    mine = [ln for ln in lines if f"Topic: {topic}\t" in ln]
    assert len(mine) == 3  # the topic line and two partitions
    assert "PartitionCount: 2" in mine[0] and "Configs: retention.bytes=1048576" in mine[0]


def test_create_with_broker_defaults(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli-def")
    ok(josef(b.bootstrap, "topics", "create", topic))
    assert wait_for_topic(b.bootstrap, topic) == 1  # num.partitions defaults to 1


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["bad/name"], "INVALID_TOPIC_EXCEPTION"),
        (["{topic}", "--partitions", "0"], "INVALID_PARTITIONS"),
        (["{topic}", "--config", "retention.ms=soon"], "INVALID_CONFIG"),
        (["{topic}", "--config", "no-equals-sign"], "expected key=value"),
    ],
)
def test_create_errors(shared: BrokerProcess, args: list[str], error: str) -> None:
    topic = unique_topic("cli-bad")
    proc = josef(shared.bootstrap, "topics", "create", *[a.format(topic=topic) for a in args])
    assert proc.returncode in (1, 2), proc
    assert error in proc.stderr
    if error == "expected key=value":
        assert proc.returncode == 2


def test_configs_alter_and_describe(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("cli-cfg")
    create_topic(b.bootstrap, topic, 1)
    out = ok(
        josef(
            b.bootstrap,
            "configs",
            "alter",
            "--topic",
            topic,
            "--set",
            "retention.ms=1234567",
            "--set",
            "max.message.bytes=2000000",
        )
    )
    assert out.strip() == f"Completed updating config for topic {topic}."
    configs = _topic_configs(b, topic)
    assert configs["retention.ms"] == ("1234567", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["max.message.bytes"] == ("2000000", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    rows = parse_table(ok(josef(b.bootstrap, "configs", "describe", "--topic", topic)))
    assert {r["CONFIG"]: (r["VALUE"], r["SOURCE"]) for r in rows} == {
        "max.message.bytes": ("2000000", "DYNAMIC_TOPIC_CONFIG"),
        "retention.ms": ("1234567", "DYNAMIC_TOPIC_CONFIG"),
    }

    ok(josef(b.bootstrap, "configs", "alter", "--topic", topic, "--delete", "retention.ms"))
    configs = _topic_configs(b, topic)
    assert configs["retention.ms"][1] != ConfigSource.DYNAMIC_TOPIC_CONFIG
    rows = parse_table(ok(josef(b.bootstrap, "configs", "describe", "--topic", topic, "--all")))
    everything = {r["CONFIG"]: r for r in rows}
    for name, (value, _source) in configs.items():
        assert everything[name]["VALUE"] == ("null" if value is None else value or '""'), name
    assert everything["retention.ms"]["SOURCE"] != "DYNAMIC_TOPIC_CONFIG"
    assert everything["max.message.bytes"]["SOURCE"] == "DYNAMIC_TOPIC_CONFIG"

    bad = josef(b.bootstrap, "configs", "alter", "--topic", topic, "--set", "retention.ms=x")
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr
    unknown = josef(b.bootstrap, "configs", "describe", "--topic", unique_topic("nope"))
    assert unknown.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in unknown.stderr
    usage = josef(b.bootstrap, "configs", "describe")
    assert usage.returncode == 2


def test_configs_describe_broker(shared: BrokerProcess) -> None:
    b = shared
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    admin = _admin(b)
    theirs = admin.describe_configs([res])[res].result(timeout=15)
    rows = parse_table(ok(josef(b.bootstrap, "configs", "describe", "--broker", "0", "--all")))
    mine = {r["CONFIG"]: r["VALUE"] for r in rows}
    assert mine.keys() == theirs.keys()
    for name, entry in theirs.items():
        if not entry.is_sensitive:
            assert mine[name] == ("null" if entry.value is None else entry.value or '""'), name
    non_default = parse_table(ok(josef(b.bootstrap, "configs", "describe", "--broker", "0")))
    assert {r["CONFIG"] for r in non_default} <= set(mine)
    assert all(r["SOURCE"] != "DEFAULT_CONFIG" for r in non_default)
