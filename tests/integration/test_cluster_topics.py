"""Topic administration on a cluster: CreatePartitions with Kafka's assignment, topic configs
changed at any broker and applied by every broker (/config/topics + /config/changes),
DeleteTopics removing every replica's files (also on a broker that was down meanwhile),
re-creation under the same name, delete.topic.enable=false. Clients: confluent-kafka's
AdminClient and producer, kafka-python's admin client and producer, ``josef topics``, raw
requests to one chosen broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)
from helpers.cluster_admin import broker_request, consume_partition
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cli import josef, ok
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from cluster.assignment import BrokerMetadata, new_partitions_assignment

DELETE_TOPICS, DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 20, 32, 33, 44
TOPIC_RESOURCE = 2
DYNAMIC_TOPIC_CONFIG = 1


def assignment(cluster: JosefCluster, topic: str) -> dict[int, list[int]] | None:
    doc = cluster.zk_json(f"/brokers/topics/{topic}")
    return None if doc is None else {int(p): list(r) for p, r in doc["partitions"].items()}


def described(port: int, topic: str) -> dict[str, tuple[str | None, int]]:
    """DescribeConfigs of ``topic`` at one broker: name -> (value, source)."""
    plain = broker_request(
        port,
        DESCRIBE_CONFIGS,
        {
            "resources": [
                {
                    "resource_type": TOPIC_RESOURCE,
                    "resource_name": topic,
                    "configuration_keys": None,
                }
            ]
        },
    )
    (result,) = plain["results"]
    assert result["error_code"] == 0, result
    return {c["name"]: (c["value"], c["config_source"]) for c in result["configs"]}


def produce_one(cluster: JosefCluster, topic: str, partition: int, value: bytes) -> int:
    """confluent-kafka, acks=all: the error code (0 = written)."""
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "acks": "all", "message.max.bytes": 10_000_000}
    )
    codes: list[int] = []
    producer.produce(
        topic,
        value=value,
        partition=partition,
        on_delivery=lambda err, _m: codes.append(0 if err is None else err.code()),
    )
    producer.flush(60)
    assert len(codes) == 1
    return codes[0]


def test_partitions_configs_and_deletion(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3, overrides={"log.retention.check.interval.ms": "500"})
    cluster.create_topic("t", partitions=2, rf=3)
    admin = cluster.admin()

    # -- CreatePartitions: Kafka's assignment continues from partition 0's leader --------
    before = assignment(cluster, "t")
    assert before is not None
    futures = admin.create_partitions([NewPartitions("t", 4)])
    futures["t"].result(timeout=60)
    out = ok(josef(cluster.bootstrap, "topics", "alter", "t", "--partitions", "5"))
    assert "Topic t now has 5 partitions." in out
    after = assignment(cluster, "t")
    assert after is not None and {p: after[p] for p in (0, 1)} == before
    brokers = [BrokerMetadata(b) for b in (1, 2, 3)]
    expected = {
        **new_partitions_assignment(brokers, before[0], 2, 2),
        **new_partitions_assignment(brokers, before[0], 4, 1),
    }
    assert {p: after[p] for p in (2, 3, 4)} == expected
    leaders = cluster.wait_leaders("t", 5)
    # Every broker leads some partition (each one checks the configs below).
    assert set(leaders.values()) == {1, 2, 3}
    out = ok(josef(cluster.bootstrap, "topics", "describe", "t"))
    for p in range(5):
        assert f"Partition: {p}\tLeader: {leaders[p]}\tReplicas: " in out
    assert "PartitionCount: 5\tReplicationFactor: 3" in out

    # -- configs altered at one broker, applied by all -----------------------------------
    controller = cluster.controller_id()
    other = next(b for b in (1, 2, 3) if b != controller)
    plain = broker_request(
        cluster[other].port,
        INCREMENTAL_ALTER_CONFIGS,
        {
            "resources": [
                {
                    "resource_type": TOPIC_RESOURCE,
                    "resource_name": "t",
                    "configs": [
                        {"name": "max.message.bytes", "config_operation": 0, "value": "2048"},
                        {"name": "retention.ms", "config_operation": 0, "value": "3600000"},
                    ],
                }
            ],
            "validate_only": False,
        },
    )
    assert plain["responses"][0]["error_code"] == 0, plain
    assert cluster.zk_json("/config/topics/t") == {
        "version": 1,
        "config": {"max.message.bytes": "2048", "retention.ms": "3600000"},
    }
    with cluster.zk() as zk:
        changes = sorted(zk.get_children("/config/changes"))
    assert changes and changes[-1].startswith("config_change_")
    assert cluster.zk_json(f"/config/changes/{changes[-1]}") == {
        "version": 2,
        "entity_path": "topics/t",
    }
    for b in cluster:
        wait_until(
            f"broker {b.broker_id} sees the new configs",
            lambda b=b: (
                described(b.port, "t").get("max.message.bytes") == ("2048", DYNAMIC_TOPIC_CONFIG)
            ),
        )
    # Every leader checks the new limit on produce (the record batch is over 2 KiB).
    big = b"x" * 4096
    for p in range(5):
        assert produce_one(cluster, "t", p, big) == KafkaError.MSG_SIZE_TOO_LARGE, p
    assert produce_one(cluster, "t", 0, b"small") == 0
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", max_request_size=10_000_000)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            kp.send("t", value=big, partition=3).get(timeout=30)
    finally:
        kp.close()

    # AlterConfigs replaces every override; sent to the third broker.
    third = next(b for b in (1, 2, 3) if b not in (controller, other))
    plain = broker_request(
        cluster[third].port,
        ALTER_CONFIGS,
        {
            "resources": [
                {
                    "resource_type": TOPIC_RESOURCE,
                    "resource_name": "t",
                    "configs": [{"name": "cleanup.policy", "value": "compact"}],
                }
            ],
            "validate_only": False,
        },
    )
    assert plain["responses"][0]["error_code"] == 0, plain
    assert cluster.zk_json("/config/topics/t") == {
        "version": 1,
        "config": {"cleanup.policy": "compact"},
    }
    for b in cluster:
        wait_until(
            f"broker {b.broker_id} applies AlterConfigs",
            lambda b=b: (
                described(b.port, "t").get("cleanup.policy") == ("compact", DYNAMIC_TOPIC_CONFIG)
                and described(b.port, "t")["max.message.bytes"][1] != DYNAMIC_TOPIC_CONFIG
            ),
        )
    # confluent-kafka's incremental API too: a delete of an override.
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        "t",
        incremental_configs=[
            ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(timeout=30)
    assert cluster.zk_json("/config/topics/t") == {"version": 1, "config": {}}
    for b in cluster:
        wait_until(
            f"broker {b.broker_id} has no overrides left",
            lambda b=b: all(
                source != DYNAMIC_TOPIC_CONFIG for _v, source in described(b.port, "t").values()
            ),
        )
    for p in range(5):
        assert produce_one(cluster, "t", p, big) == 0, p  # the default limit again

    # Retention set at one broker runs on every replica: small segments, then retention.ms=1.
    def incremental_set(name: str, value: str) -> None:
        resource = ConfigResource(
            ConfigResource.Type.TOPIC,
            "t",
            incremental_configs=[
                ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            ],
        )
        admin.incremental_alter_configs([resource])[resource].result(timeout=30)

    def segments(b: int) -> int:
        return len(list(cluster[b].partition_dir("t", 2).glob("*.log")))

    incremental_set("segment.bytes", "1024")
    for b in cluster:
        wait_until(
            f"broker {b.broker_id} rolls at 1 KiB",
            lambda b=b: (
                described(b.port, "t").get("segment.bytes") == ("1024", DYNAMIC_TOPIC_CONFIG)
            ),
        )
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", linger_ms=0)
    try:
        for i in range(12):
            kp.send("t", value=b"%03d" % i + b"r" * 400, partition=2).get(timeout=30)
    finally:
        kp.close()
    for b in (1, 2, 3):
        wait_until(f"segments of t-2 on broker {b}", lambda b=b: segments(b) >= 4)
    incremental_set("retention.ms", "1")
    for b in (1, 2, 3):
        wait_until(f"retention on broker {b}", lambda b=b: segments(b) == 1)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "watermarks"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition("t", 2), timeout=10)
    finally:
        consumer.close()
    assert high == 13 and 0 < low <= high  # the log start moved past the deleted segments

    # -- DeleteTopics with a replica's broker down ---------------------------------------
    for p in range(5):
        cluster.wait_isr("t", p, {1, 2, 3})
    down = next(b for b in (1, 2, 3) if b != cluster.controller_id())
    cluster[down].stop()
    cluster.wait_registered({1, 2, 3} - {down})

    def offline_shown() -> bool:
        described_topic = ok(josef(cluster.bootstrap, "topics", "describe", "t"))
        lines = described_topic.splitlines()[1:]
        return len(lines) == 5 and all(
            line.endswith(f"\tOffline: {down}")  # replicas on the stopped broker
            and f"Leader: {down}\t" not in line
            and "Leader: none" not in line
            for line in lines
        )

    wait_until("josef topics describe shows the offline replicas", offline_shown)
    futures = admin.delete_topics(["t"], operation_timeout=30)
    futures["t"].result(timeout=60)
    live = [b for b in (1, 2, 3) if b != down]
    for b in live:
        wait_until(
            f"t's files gone from broker {b}",
            lambda b=b: (
                not any(cluster[b].partition_dir("t", p).exists() for p in range(5))
                and not list(cluster[b].data_dir.glob("t-*"))
            ),
        )
    # The down broker's replicas still exist: the deletion waits for it.
    assert cluster.zk_json("/admin/delete_topics/t") is None  # marker has null data...
    with cluster.zk() as zk:
        assert zk.exists("/admin/delete_topics/t") is not None  # ...but is there
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic("t", 1, 2)])["t"].result(timeout=30)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    assert "marked for deletion" in exc.value.args[0].str()
    cluster[down].start()
    wait_until(
        "deletion completes once the broker is back",
        lambda: (
            assignment(cluster, "t") is None
            and cluster.zk_json("/config/topics/t") is None
            and not list(cluster[down].data_dir.glob("t-*"))
        ),
        timeout=60,
    )
    with cluster.zk() as zk:
        assert zk.exists("/admin/delete_topics/t") is None

    # -- the same name again: a new topic, no old data, no old configs ---------------------
    cluster.create_topic("t", partitions=1, rf=3)
    assert produce_one(cluster, "t", 0, big) == 0  # max.message.bytes=2048 is gone
    assert consume_partition(cluster.bootstrap, "t", 0, 1) == [big]


def test_delete_topic_disabled(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(1, overrides={"delete.topic.enable": "false"})
    cluster.create_topic("keep", partitions=1, rf=1)
    admin = cluster.admin()
    with pytest.raises(KafkaException) as exc:
        admin.delete_topics(["keep"])["keep"].result(timeout=30)
    assert exc.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED
    plain = broker_request(
        cluster[1].port,
        DELETE_TOPICS,
        {
            "topic_names": ["keep"],  # v1-v5
            "topics": [{"name": "keep", "topic_id": None}],  # v6
            "timeout": 5000,
        },
    )
    assert plain["responses"][0]["error_code"] == KafkaError.TOPIC_DELETION_DISABLED
    # A marker written straight to ZooKeeper is removed by the controller; the topic stays.
    with cluster.zk() as zk:
        zk.create("/admin/delete_topics/keep", b"")
    wait_until(
        "marker removed",
        lambda: (
            cluster.zk_json("/admin/delete_topics/keep") is None
            and not _exists(cluster, "/admin/delete_topics/keep")
        ),
    )
    assert assignment(cluster, "keep") == {0: [1]}
    assert cluster[1].partition_dir("keep", 0).exists()


def _exists(cluster: JosefCluster, path: str) -> bool:
    with cluster.zk() as zk:
        return zk.exists(path) is not None


def test_partition_limit_of_every_broker(josef_cluster: ClusterFactory) -> None:
    """josef.max.partitions bounds the replicas of every broker, checked by whichever broker
    receives the request (from the cluster's metadata) before anything is created."""
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KpNewTopic
    from kafka.errors import PolicyViolationError

    cluster = josef_cluster(3, overrides={"josef.max.partitions": "10"})
    cluster.create_topic("fits", partitions=8, rf=3)  # 8 replicas on each broker
    admin = cluster.admin()
    fut = admin.create_topics([NewTopic("over", num_partitions=3, replication_factor=3)])
    with pytest.raises(KafkaException) as info:
        fut["over"].result(30)
    err = info.value.args[0]
    assert err.code() == KafkaError.POLICY_VIOLATION
    assert "8 partition(s); 3 more would exceed josef.max.partitions=10" in err.str()
    kp = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        with pytest.raises(PolicyViolationError):
            kp.create_topics([KpNewTopic("over", 3, 3)])
        kp.create_topics([KpNewTopic("two-more", 2, 3)])  # 10 each: at the limit
    finally:
        kp.close()
    assert assignment(cluster, "over") is None
    assert len(cluster.wait_leaders("two-more", 2)) == 2
    fut = admin.create_partitions([NewPartitions("fits", 9)])
    with pytest.raises(KafkaException) as info:
        fut["fits"].result(30)
    assert info.value.args[0].code() == KafkaError.POLICY_VIOLATION
