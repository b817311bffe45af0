"""Admin APIs with confluent-kafka's AdminClient and kafka-python's KafkaAdminClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kafka.errors as kerr
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as CTP
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from helpers.broker_process import BrokerProcess, is_tansu, require_josef
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
from kafka import TopicPartition as KTP
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import KafkaAdminClient

INVALID_NAMES = [".", "..", "a" * 250, "bad/name", "bad name", "bad!", "ünï"]
# Kafka's topic config names and their defaults
TOPIC_DEFAULTS = {
    "cleanup.policy": "delete",
    "retention.ms": "604800000",
    "retention.bytes": "-1",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
    "max.message.bytes": "1048588",
    "min.insync.replicas": "1",
    "compression.type": "producer",
    "message.timestamp.type": "CreateTime",
    "delete.retention.ms": "86400000",
    "min.cleanable.dirty.ratio": "0.5",
    "segment.index.bytes": "10485760",
    "file.delete.delay.ms": "60000",
}


@pytest.fixture
def admin(shared: BrokerProcess) -> AdminClient:
    a = AdminClient({"bootstrap.servers": shared.bootstrap})
    a._josef_bootstrap = shared.bootstrap  # type: ignore[attr-defined]
    return a


@pytest.fixture
def kadmin(shared: BrokerProcess) -> Iterator[KafkaAdminClient]:
    a = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=20000)
    yield a
    a.close()


def _create_error(admin: AdminClient, topic: NewTopic, validate_only: bool = False) -> int | None:
    fut = admin.create_topics([topic], validate_only=validate_only, request_timeout=20)
    try:
        fut[topic.topic].result(timeout=20)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return None


def _topics(admin: AdminClient) -> set[str]:
    """All topic names, listed with kafka-python (librdkafka's listing has its own test)."""
    bootstrap = admin._josef_bootstrap  # type: ignore[attr-defined]
    k = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        return set(k.list_topics())
    finally:
        k.close()


def _describe(admin: AdminClient, topic: str) -> dict[str, Any]:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return dict(admin.describe_configs([res], request_timeout=20)[res].result(timeout=20))


# ----------------------------------------------------------------------- list topics
def test_list_all_topics(shared: BrokerProcess, admin: AdminClient) -> None:
    """Metadata for all topics (null topic list) with librdkafka (v12) and kafka-python."""
    topics = {unique_topic("list") for _ in range(3)}
    for t in topics:
        create_topic(shared.bootstrap, t, partitions=2)
    md = admin.list_topics(timeout=20)
    assert topics <= set(md.topics)
    for t in topics:
        assert sorted(md.topics[t].partitions) == [0, 1]
    assert [b.id for b in md.brokers.values()] == [md.controller_id]
    k = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=20000)
    try:
        assert topics <= set(k.list_topics())
    finally:
        k.close()


# ----------------------------------------------------------------------- create topics
def test_create_topics_confluent(shared: BrokerProcess, admin: AdminClient) -> None:
    topic = unique_topic("create")
    nt = NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "99999"})
    assert _create_error(admin, nt) is None
    assert wait_for_topic(shared.bootstrap, topic) == 3
    md = admin.list_topics(topic=topic, timeout=20).topics[topic]
    assert sorted(md.partitions) == [0, 1, 2]
    for p in md.partitions.values():
        assert p.replicas == [p.leader] and p.isrs == [p.leader]
    assert _describe(admin, topic)["retention.ms"].value == "99999"

    # already exists
    assert _create_error(admin, NewTopic(topic, 1, 1)) == KafkaError.TOPIC_ALREADY_EXISTS
    # validate_only: checks pass, nothing is created
    ghost = unique_topic("validate")
    assert _create_error(admin, NewTopic(ghost, 2, 1), validate_only=True) is None
    assert _create_error(admin, NewTopic(topic, 1, 1), validate_only=True) == (
        KafkaError.TOPIC_ALREADY_EXISTS
    )
    time.sleep(0.3)
    assert ghost not in _topics(admin)
    # default partitions and replication factor (-1) come from the broker config
    dflt = unique_topic("dflt")
    assert _create_error(admin, NewTopic(dflt)) is None
    assert wait_for_topic(shared.bootstrap, dflt) == (4 if is_tansu() else 1)


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_create_invalid_topic_name(admin: AdminClient, name: str) -> None:
    assert _create_error(admin, NewTopic(name, 1, 1)) == KafkaError.TOPIC_EXCEPTION
    assert name not in _topics(admin)


def test_create_topic_bad_arguments(admin: AdminClient) -> None:
    t = unique_topic("bad")
    assert _create_error(admin, NewTopic(t, 0, 1)) == KafkaError.INVALID_PARTITIONS
    assert _create_error(admin, NewTopic(t, 1, 3)) == KafkaError.INVALID_REPLICATION_FACTOR
    assert _create_error(admin, NewTopic(t, 1, 1, config={"retention.ms": "soon"})) == (
        KafkaError.INVALID_CONFIG
    )
    assert _create_error(admin, NewTopic(t, 1, 1, config={"no.such.config": "1"})) == (
        KafkaError.INVALID_CONFIG
    )
    assert _create_error(admin, NewTopic(t, 1, 1, config={"cleanup.policy": "shred"})) == (
        KafkaError.INVALID_CONFIG
    )
    time.sleep(0.3)
    assert t not in _topics(admin)


def test_create_topics_kafka_python(shared: BrokerProcess, kadmin: KafkaAdminClient) -> None:
    topic = unique_topic("kcreate")
    res = kadmin.create_topics(
        {
            topic: {
                "num_partitions": 2,
                "replication_factor": 1,
                "configs": {"segment.ms": "3600000"},
            }
        }
    )
    assert [(t["name"], t["error_code"]) for t in res["topics"]] == [(topic, 0)]
    assert wait_for_topic(shared.bootstrap, topic) == 2
    assert topic in kadmin.list_topics()
    with pytest.raises(kerr.TopicAlreadyExistsError):
        kadmin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}})
    with pytest.raises(kerr.InvalidTopicError):
        kadmin.create_topics({"bad name": {"num_partitions": 1, "replication_factor": 1}})
    ghost = unique_topic("kvalidate")
    res = kadmin.create_topics(
        {ghost: {"num_partitions": 1, "replication_factor": 1}}, validate_only=True
    )
    assert res["topics"][0]["error_code"] == 0
    time.sleep(0.3)
    assert ghost not in kadmin.list_topics()
    described = kadmin.describe_topics([topic])
    assert described[0]["name"] == topic and len(described[0]["partitions"]) == 2


# ----------------------------------------------------------------------- delete topics
def _wait_dirs_gone(data_dir: Path, topic: str, partitions: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in range(partitions) if (data_dir / f"{topic}-{p}").exists()]
        if not left:
            return
        assert time.monotonic() < deadline, f"partition dirs of {topic} still there: {left}"
        time.sleep(0.1)


def test_delete_topics_confluent(shared: BrokerProcess, admin: AdminClient) -> None:
    topic = unique_topic("delete")
    create_topic(shared.bootstrap, topic, partitions=3)
    produce("confluent", shared.bootstrap, topic, [Record(None, b"x")] * 5, partition=2)
    if not is_tansu():
        assert (shared.data_dir / f"{topic}-2").is_dir()
    admin.delete_topics([topic], request_timeout=20)[topic].result(timeout=20)
    deadline = time.monotonic() + 10
    while topic in _topics(admin):
        assert time.monotonic() < deadline, "deleted topic still listed in Metadata"
        time.sleep(0.1)
    if not is_tansu():
        _wait_dirs_gone(shared.data_dir, topic, 3)
    # deleting an unknown topic
    with pytest.raises(KafkaException) as info:
        admin.delete_topics([topic], request_timeout=20)[topic].result(timeout=20)
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # the name can be reused and starts empty
    create_topic(shared.bootstrap, topic, partitions=1)
    assert watermarks(shared.bootstrap, topic, 0) == (0, 0)
    assert produce("confluent", shared.bootstrap, topic, [Record(None, b"new")]) == [0]


def test_delete_topics_kafka_python(shared: BrokerProcess, kadmin: KafkaAdminClient) -> None:
    topics = [unique_topic("kdel") for _ in range(3)]
    for t in topics:
        create_topic(shared.bootstrap, t)
    kadmin.delete_topics(topics[:2])
    deadline = time.monotonic() + 10
    while set(topics[:2]) & set(kadmin.list_topics()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert topics[2] in kadmin.list_topics()
    if not is_tansu():
        for t in topics[:2]:
            _wait_dirs_gone(shared.data_dir, t, 1)
        assert (shared.data_dir / f"{topics[2]}-0").is_dir()
    with pytest.raises(kerr.UnknownTopicOrPartitionError):
        kadmin.delete_topics([topics[0]])


# ----------------------------------------------------------------------- create partitions
def test_create_partitions(
    shared: BrokerProcess, admin: AdminClient, kadmin: KafkaAdminClient
) -> None:
    topic = unique_topic("grow")
    create_topic(shared.bootstrap, topic)
    produce("confluent", shared.bootstrap, topic, [Record(b"k", b"v0")])
    admin.create_partitions([NewPartitions(topic, 4)], request_timeout=20)[topic].result(20)
    assert wait_for_topic(shared.bootstrap, topic, 4) == 4
    kadmin.create_partitions({topic: 6})
    assert wait_for_topic(shared.bootstrap, topic, 6) == 6
    recs = [Record(b"p5", b"in a new partition")]
    assert produce("kafka-python", shared.bootstrap, topic, recs, partition=5) == [0]
    assert_roundtrip(recs, consume("confluent", shared.bootstrap, topic, 5, 0, 1))
    assert watermarks(shared.bootstrap, topic, 0) == (0, 1)  # old data untouched
    # shrinking or staying the same is refused
    for n in (6, 2):
        with pytest.raises(KafkaException) as info:
            admin.create_partitions([NewPartitions(topic, n)], request_timeout=20)[topic].result(20)
        assert info.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    with pytest.raises(KafkaException) as info:
        missing = unique_topic("missing")
        admin.create_partitions([NewPartitions(missing, 2)], request_timeout=20)[missing].result(20)
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


# ----------------------------------------------------------------------- configs
def test_describe_topic_config_defaults_confluent(
    shared: BrokerProcess, admin: AdminClient
) -> None:
    topic = unique_topic("cfg")
    create_topic(shared.bootstrap, topic, config={"retention.bytes": "1048576"})
    entries = _describe(admin, topic)
    for name, value in TOPIC_DEFAULTS.items():
        if name == "retention.bytes":
            continue
        assert name in entries, f"{name} missing from DescribeConfigs"
        e: ConfigEntry = entries[name]
        assert e.value == value, f"{name}={e.value}, Kafka's default is {value}"
        assert e.source in (
            ConfigSource.DEFAULT_CONFIG.value,
            ConfigSource.STATIC_BROKER_CONFIG.value,
        ), (
            name,
            e.source,
        )
        assert not e.is_read_only
    rb = entries["retention.bytes"]
    assert (rb.value, rb.source) == ("1048576", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def test_describe_topic_configs_kafka_python(
    shared: BrokerProcess, kadmin: KafkaAdminClient
) -> None:
    topic = unique_topic("kcfg")
    create_topic(shared.bootstrap, topic, config={"cleanup.policy": "compact"})
    res = kadmin.describe_configs([KConfigResource("TOPIC", topic)], config_filter="all")
    entries = res["topic"][topic]
    assert entries["cleanup.policy"]["value"] == "compact"
    assert entries["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert entries["retention.ms"]["value"] == "604800000"
    assert entries["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
    # the default filter ('modified') shows only the override
    res = kadmin.describe_configs([KConfigResource("TOPIC", topic)])
    assert set(res["topic"][topic]) == {"cleanup.policy"}


def test_describe_configs_unknown_topic(admin: AdminClient) -> None:
    res = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("nope"))
    with pytest.raises(KafkaException) as info:
        admin.describe_configs([res], request_timeout=20)[res].result(timeout=20)
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_configs_confluent(shared: BrokerProcess, admin: AdminClient) -> None:
    topic = unique_topic("ialter")
    create_topic(shared.bootstrap, topic, config={"segment.ms": "3600000"})
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "1234567", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry(
                "max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET
            ),
        ],
    )
    admin.incremental_alter_configs([res], request_timeout=20)[res].result(timeout=20)
    entries = _describe(admin, topic)
    assert entries["retention.ms"].value == "1234567"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["max.message.bytes"].value == "2000000"
    assert entries["segment.ms"].value == "3600000"  # untouched by an incremental change

    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    admin.incremental_alter_configs([res], request_timeout=20)[res].result(timeout=20)
    entries = _describe(admin, topic)
    assert entries["retention.ms"].value == "604800000"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["max.message.bytes"].value == "2000000"

    # an invalid value is refused and changes nothing
    bad = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "forever", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    with pytest.raises(KafkaException) as info:
        admin.incremental_alter_configs([bad], request_timeout=20)[bad].result(timeout=20)
    assert info.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert _describe(admin, topic)["retention.ms"].value == "604800000"


def test_alter_configs_replaces_overrides(shared: BrokerProcess, admin: AdminClient) -> None:
    """Legacy AlterConfigs replaces the whole set of topic overrides."""
    topic = unique_topic("alter")
    create_topic(shared.bootstrap, topic, config={"segment.ms": "3600000"})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"cleanup.policy": "compact"})
    admin.alter_configs([res], request_timeout=20)[res].result(timeout=20)
    entries = _describe(admin, topic)
    assert entries["cleanup.policy"].value == "compact"
    assert entries["segment.ms"].value == "604800000"  # reset: not in the new set


def test_alter_configs_kafka_python(shared: BrokerProcess, kadmin: KafkaAdminClient) -> None:
    topic = unique_topic("kalter")
    create_topic(shared.bootstrap, topic)
    kadmin.alter_configs(
        [KConfigResource("TOPIC", topic, configs={"retention.ms": "5000"})],
        raise_on_unknown=False,
    )
    res = kadmin.describe_configs([KConfigResource("TOPIC", topic)])
    assert res["topic"][topic]["retention.ms"]["value"] == "5000"


def test_describe_broker_configs(shared: BrokerProcess, admin: AdminClient) -> None:
    require_josef("broker config names and values are Josef's server.properties")
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    entries = admin.describe_configs([res], request_timeout=20)[res].result(timeout=20)
    assert entries["num.partitions"].value == "1"
    assert entries["auto.create.topics.enable"].value == "true"
    assert entries["log.dirs"].value == str(shared.data_dir)
    assert entries["broker.id"].value == "0"
    assert entries["message.max.bytes"].value == "1048588"


# ----------------------------------------------------------------------- cluster / log dirs
def test_describe_cluster(
    shared: BrokerProcess, admin: AdminClient, kadmin: KafkaAdminClient
) -> None:
    desc = admin.describe_cluster(request_timeout=20).result(timeout=20)
    assert desc.cluster_id
    assert len(desc.nodes) == 1
    node = desc.nodes[0]
    assert (node.host, node.port) == ("127.0.0.1", shared.port)
    if not is_tansu():
        assert node.id == 0
    assert desc.controller is not None and desc.controller.id == node.id

    kd = kadmin.describe_cluster()
    assert kd["cluster_id"] == desc.cluster_id
    assert kd["controller_id"] == node.id
    assert [(b["broker_id"], b["host"], b["port"]) for b in kd["brokers"]] == [
        (node.id, "127.0.0.1", shared.port)
    ]


def test_cluster_id_stable_across_restart(broker: BrokerProcess) -> None:
    from helpers.broker_process import require_persistence

    require_persistence()
    a1 = AdminClient({"bootstrap.servers": broker.bootstrap})
    first = a1.describe_cluster(request_timeout=20).result(timeout=20)
    broker.restart()
    a2 = AdminClient({"bootstrap.servers": broker.bootstrap})
    second = a2.describe_cluster(request_timeout=20).result(timeout=20)
    assert first.cluster_id == second.cluster_id


def test_describe_log_dirs(shared: BrokerProcess, kadmin: KafkaAdminClient) -> None:
    topic = unique_topic("logdirs")
    create_topic(shared.bootstrap, topic, partitions=2)
    produce("confluent", shared.bootstrap, topic, [Record(None, b"x" * 1000)] * 10, partition=1)
    res = kadmin.describe_log_dirs({topic: [0, 1]})
    assert len(res) == 1 and res[0]["broker"] == (0 if not is_tansu() else res[0]["broker"])
    dirs = res[0]["log_dirs"]
    assert len(dirs) == 1
    d = dirs[0]
    assert d["error_code"] == 0
    if not is_tansu():
        assert d["log_dir"] == str(shared.data_dir)
    (t,) = [t for t in d["topics"] if t["name"] == topic]
    sizes = {p["partition_index"]: p["partition_size"] for p in t["partitions"]}
    assert set(sizes) == {0, 1}
    assert sizes[0] == 0
    assert sizes[1] > 10_000


def test_delete_records_kafka_python(shared: BrokerProcess, kadmin: KafkaAdminClient) -> None:
    topic = unique_topic("kdelrec")
    create_topic(shared.bootstrap, topic)
    recs = [Record(None, f"v{i}".encode()) for i in range(8)]
    produce("confluent", shared.bootstrap, topic, recs)
    res = kadmin.delete_records({KTP(topic, 0): 5})
    assert next(iter(res.values()))["low_watermark"] == 5
    assert watermarks(shared.bootstrap, topic, 0) == (5, 8)
    got = consume("kafka-python", shared.bootstrap, topic, 0, 5, 3)
    assert_roundtrip(recs[5:], got, first_offset=5)
    # confluent's delete_records on the same partition
    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    out = admin.delete_records([CTP(topic, 0, 7)], request_timeout=20)
    assert out[CTP(topic, 0, 7)].result(timeout=20).low_watermark == 7
