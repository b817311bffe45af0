"""Dynamic broker configs (KIP-226) on a 3-broker cluster: ``/config/brokers/<default>`` and
``/config/brokers/<id>`` written as Kafka writes them, followed by every broker through
``/config/changes``, applied without a restart and read again at start-up."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from helpers.cluster_admin import broker_request
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cluster import JosefCluster, wait_until
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import KafkaAdminClient

DESCRIBE_CONFIGS, INCREMENTAL_ALTER = 32, 44
BROKER = 4
SET, DELETE = 0, 1
INVALID_REQUEST = 42


def alter_at(
    cluster: JosefCluster, broker_id: int, name: str, ops: list[tuple[str, str | None, int]]
) -> tuple[int, str | None]:
    """IncrementalAlterConfigs of BROKER ``name`` sent to one chosen broker."""
    answer = broker_request(
        cluster[broker_id].port,
        INCREMENTAL_ALTER,
        {
            "resources": [
                {
                    "resource_type": BROKER,
                    "resource_name": name,
                    "configs": [
                        {"name": k, "config_operation": op, "value": v} for k, v, op in ops
                    ],
                }
            ],
            "validate_only": False,
        },
    )
    (r,) = answer["responses"]
    return r["error_code"], r["error_message"]


def describe_at(cluster: JosefCluster, broker_id: int, keys: list[str]) -> dict[str, Any]:
    """Each key's (value, source) as ``broker_id`` describes itself."""
    answer = broker_request(
        cluster[broker_id].port,
        DESCRIBE_CONFIGS,
        {
            "resources": [
                {
                    "resource_type": BROKER,
                    "resource_name": str(broker_id),
                    "configuration_keys": keys,
                }
            ],
            "include_synonyms": True,
            "include_documentation": False,
        },
    )
    (result,) = answer["results"]
    return {c["name"]: (c["value"], c["config_source"]) for c in result["configs"]}


def notifications(cluster: JosefCluster) -> list[str]:
    with cluster.zk() as zk:
        children = sorted(zk.get_children("/config/changes"))
        return [json.loads(zk.get(f"/config/changes/{c}")[0])["entity_path"] for c in children]


def test_default_applies_everywhere_per_broker_only_there(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    DYN, DEFAULT, UNSET = (
        ConfigSource.DYNAMIC_BROKER_CONFIG.value,
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
        ConfigSource.DEFAULT_CONFIG.value,
    )

    # The cluster-wide default, set at broker 1.
    assert alter_at(
        cluster,
        1,
        "",
        [("log.retention.ms", "3600000", SET), ("message.max.bytes", "1500", SET)],
    ) == (0, None)
    # As Kafka 3.9.1 writes it (tests/fixtures/kafka_3_9_1_dynamic_broker_configs.json).
    with cluster.zk() as zk:
        data, _ = zk.get("/config/brokers/<default>")
    assert data == (
        b'{"version":1,"config":{"log.retention.ms":"3600000","message.max.bytes":"1500"}}'
    )
    assert notifications(cluster)[-1] == "brokers/<default>"
    for b in (1, 2, 3):
        wait_until(
            f"broker {b} follows the default",
            lambda b=b: describe_at(cluster, b, ["log.retention.ms", "message.max.bytes"])
            == {"log.retention.ms": ("3600000", DEFAULT), "message.max.bytes": ("1500", DEFAULT)},
        )

    # message.max.bytes is enforced by every leader on the next produce.
    cluster.create_topic("sized", partitions=3, rf=3)
    leaders = cluster.wait_leaders("sized", 3)
    assert set(leaders.values()) == {1, 2, 3}
    errors: dict[int, Any] = {}
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 0, "retries": 0})
    for p in range(3):
        producer.produce(
            "sized",
            b"x" * 2000,
            partition=p,
            on_delivery=lambda err, msg: errors.__setitem__(msg.partition(), err),
        )
    producer.flush(60)
    assert {p: e.code() for p, e in errors.items()} == dict.fromkeys(
        range(3), KafkaError.MSG_SIZE_TOO_LARGE
    )

    # A per-broker value (confluent-kafka routes a BROKER resource to that broker).
    admin = cluster.admin()
    resource = ConfigResource(
        ResourceType.BROKER,
        "2",
        incremental_configs=[
            ConfigEntry("log.retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    with cluster.zk() as zk:
        assert zk.get("/config/brokers/2")[0] == (
            b'{"version":1,"config":{"log.retention.ms":"7200000"}}'
        )
    assert notifications(cluster)[-1] == "brokers/2"
    assert describe_at(cluster, 2, ["log.retention.ms"]) == {"log.retention.ms": ("7200000", DYN)}
    for b in (1, 3):
        assert describe_at(cluster, b, ["log.retention.ms"]) == {
            "log.retention.ms": ("3600000", DEFAULT)
        }
    # Broker 1 may only change its own configs.
    assert alter_at(cluster, 1, "2", [("log.retention.ms", "1", SET)]) == (
        INVALID_REQUEST,
        "Unexpected broker id, expected 1, but received 2",
    )
    # kafka-python's admin describes broker 3 at broker 3
    kadmin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        described = kadmin.describe_configs(
            [KConfigResource("BROKER", "3", configs={"log.retention.ms": None})],
            config_filter="all",  # kafka-python counts the default layer as "not modified"
        )
        entry = described["broker"]["3"]["log.retention.ms"]
        assert (entry["value"], entry["config_source"]) == (
            "3600000",
            "DYNAMIC_DEFAULT_BROKER_CONFIG",
        )
    finally:
        kadmin.close()

    # num.replica.fetchers (cluster mode only): followers move to the new fetchers and keep
    # replicating.
    assert alter_at(cluster, 1, "", [("num.replica.fetchers", "2", SET)]) == (0, None)
    for b in (1, 2, 3):
        wait_until(
            f"broker {b} resized its fetchers",
            lambda b=b: "replica fetchers resized to 2" in cluster[b].log_text(),
        )
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for p in range(3):
        producer.produce("sized", b"after resize", partition=p)
    assert producer.flush(60) == 0
    for p in range(3):
        cluster.wait_isr("sized", p, {1, 2, 3})

    # Both layers are read again at start-up.
    for b in (2, 3):
        cluster[b].stop()
        cluster[b].start()
    assert describe_at(cluster, 2, ["log.retention.ms", "message.max.bytes"]) == {
        "log.retention.ms": ("7200000", DYN),
        "message.max.bytes": ("1500", DEFAULT),
    }
    assert describe_at(cluster, 3, ["log.retention.ms"]) == {
        "log.retention.ms": ("3600000", DEFAULT)
    }

    # Removing the default takes every broker back to its static configuration.
    assert alter_at(
        cluster, 3, "", [("log.retention.ms", None, DELETE), ("message.max.bytes", None, DELETE)]
    ) == (0, None)
    for b in (1, 3):
        wait_until(
            f"broker {b} back to the static config",
            lambda b=b: describe_at(cluster, b, ["log.retention.ms"])
            == {"log.retention.ms": (None, UNSET)},
        )
    assert describe_at(cluster, 2, ["log.retention.ms"]) == {"log.retention.ms": ("7200000", DYN)}


def test_unclean_election_default_turned_on_elects_a_stale_replica(
    josef_cluster: ClusterFactory,
) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("stale", partitions=1, rf=2)
    first, follower = cluster.zk_json("/brokers/topics/stale")["partitions"]["0"]
    cluster.wait_isr("stale", 0, {first, follower})
    cluster[follower].stop()
    cluster.wait_isr("stale", 0, {first})
    cluster[first].stop()  # the last in-sync replica: the partition goes offline

    def leader() -> int:
        state = cluster.partition_state("stale", 0)
        assert state is not None
        return int(state["leader"])

    wait_until("stale-0 offline", lambda: leader() == -1)
    cluster[follower].start()
    wait_until(f"broker {follower} registered", lambda: follower in cluster.registered())
    assert leader() == -1  # out of sync, and unclean.leader.election.enable is false
    (third,) = {1, 2, 3} - {first, follower}
    # Kafka's DynamicLogConfig: turning the default on makes the controller elect at once.
    assert alter_at(cluster, third, "", [("unclean.leader.election.enable", "true", SET)]) == (
        0,
        None,
    )
    wait_until("the stale replica elected", lambda: leader() == follower)
    assert alter_at(cluster, third, "", [("unclean.leader.election.enable", None, DELETE)]) == (
        0,
        None,
    )
    cluster[first].start()
    cluster.wait_isr("stale", 0, {first, follower})
