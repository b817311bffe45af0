"""ACLs and quotas in a 3-broker cluster: kept in ZooKeeper the way Kafka keeps them
(/kafka-acl, /kafka-acl-changes, /config/users, /config/changes), applied by every broker as
soon as one of them changes them, and replication keeps working with the authorizer on.

Each broker has a PLAINTEXT listener, which is also the inter-broker listener, where
User:ANONYMOUS is a super user (the controller's requests and the followers' fetches need
CLUSTER_ACTION), and a SASL_PLAINTEXT listener for the clients (User:alice).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import ElectionType, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from helpers.broker_process import free_port
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cli import josef
from helpers.josef_cluster import JosefCluster, wait_until

PASSWORD = "alice-secret"
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'user_alice="{PASSWORD}";'
)
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31


def acl_cluster(make: ClusterFactory) -> tuple[JosefCluster, dict[int, str]]:
    cluster = make(
        3,
        overrides={
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:ANONYMOUS",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            "inter.broker.listener.name": "PLAINTEXT",
        },
        start=False,
    )
    sasl: dict[int, str] = {}
    for broker_id, b in cluster.brokers.items():
        port = free_port()
        listeners = f"PLAINTEXT://127.0.0.1:{b.port},SASL_PLAINTEXT://127.0.0.1:{port}"
        b.overrides["listeners"] = listeners
        b.overrides["advertised.listeners"] = listeners
        sasl[broker_id] = f"127.0.0.1:{port}"
    cluster.start()
    return cluster, sasl


def alice(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": PASSWORD,
    }


def produce_all_partitions(bootstrap: str, topic: str, partitions: int) -> set[int]:
    """One record to each partition (acks=all); the error codes seen (0 = delivered)."""
    codes: list[int] = []

    def report(err: KafkaError | None, _msg: Any) -> None:
        codes.append(0 if err is None else int(err.code()))

    # retries 0: an authorization error is final at once; the timeout leaves room for an
    # acks=all round on a loaded machine (a CI run saw one record time out at 10 s).
    p = Producer({**alice(bootstrap), "acks": "all", "message.timeout.ms": 30000,
                  "retries": 0})  # fmt: skip
    for partition in range(partitions):
        p.produce(topic, b"v", partition=partition, on_delivery=report)
    p.flush(60)
    assert len(codes) == partitions
    return set(codes)


def acl_principals(cluster: JosefCluster, broker_id: int, topic: str) -> set[str]:
    out = josef(cluster[broker_id].bootstrap, "acls", "list", "--topic", topic)
    assert out.returncode == 0, out.stderr
    return {line.split("principal=")[1].split(",")[0] for line in out.stdout.splitlines()
            if "principal=" in line}  # fmt: skip


def test_acls_apply_cluster_wide_and_replication_keeps_working(
    josef_cluster: ClusterFactory,
) -> None:
    cluster, sasl = acl_cluster(josef_cluster)
    topic = "acl-orders"
    cluster.create_topic(topic, partitions=3, rf=3)
    leaders = cluster.wait_leaders(topic, 3)
    assert set(leaders.values()) == {1, 2, 3}, leaders  # every broker leads one partition
    everyone = ",".join(sasl.values())
    assert produce_all_partitions(everyone, topic, 3) == {TOPIC_AUTHORIZATION_FAILED}

    # Kafka's paths exist (created by the authorizer at start-up).
    with cluster.zk() as zk:
        for path in ("/kafka-acl/Topic", "/kafka-acl/Cluster", "/kafka-acl-changes",
                     "/kafka-acl-extended/prefixed/Group", "/kafka-acl-extended-changes"):
            assert zk.exists(path), path  # fmt: skip

    # Added at broker 1; brokers 2 and 3 apply it (they lead the other partitions).
    added = josef(cluster[1].bootstrap, "acls", "add", "--allow-principal", "User:alice",
                  "--producer", "--topic", topic)  # fmt: skip
    assert added.returncode == 0, added.stderr
    for broker_id in (2, 3):
        wait_until(
            f"the ACL at broker {broker_id}",
            lambda b=broker_id: acl_principals(cluster, b, topic) == {"User:alice"},
        )
    assert produce_all_partitions(everyone, topic, 3) == {0}
    # acks=all completed: followers (User:ANONYMOUS, CLUSTER_ACTION) replicate.
    for p in range(3):
        cluster.wait_isr(topic, p, {1, 2, 3})

    znode = cluster.zk_json(f"/kafka-acl/Topic/{topic}")
    assert znode["version"] == 1
    assert {(a["principal"], a["operation"], a["permissionType"], a["host"])
            for a in znode["acls"]} == {("User:alice", op, "Allow", "*")
                                        for op in ("Write", "Describe", "Create")}  # fmt: skip
    with cluster.zk() as zk:
        changes = zk.get_children("/kafka-acl-changes")
        assert changes and all(c.startswith("acl_changes_") for c in changes)
        data, _ = zk.get(f"/kafka-acl-changes/{sorted(changes)[-1]}")
        assert data == f"TOPIC:{topic}".encode()

    # Removed at broker 2: denied everywhere again.
    removed = josef(cluster[2].bootstrap, "acls", "remove", "--allow-principal", "User:alice",
                    "--operation", "Write", "--topic", topic)  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    for broker_id in (1, 3):
        wait_until(f"the removal at broker {broker_id}",
                   lambda b=broker_id: "Write" not in json.dumps(
                       cluster.zk_json(f"/kafka-acl/Topic/{topic}"))
                   and produce_all_partitions(sasl[b], topic, 3) == {TOPIC_AUTHORIZATION_FAILED},
                   timeout=60)  # fmt: skip

    # Cluster administration needs ALTER on the cluster.
    admin = AdminClient(alice(everyone))
    with pytest.raises(KafkaException) as info:
        admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(30)
    assert info.value.args[0].code() == CLUSTER_AUTHORIZATION_FAILED

    # A broker that restarts reads the ACLs back from ZooKeeper.
    cluster[3].restart()
    wait_until("broker 3 back", lambda: cluster.registered() == {1, 2, 3})
    assert acl_principals(cluster, 3, topic) == {"User:alice"}


def test_quotas_in_zookeeper_reach_every_broker(josef_cluster: ClusterFactory) -> None:
    cluster, _sasl = acl_cluster(josef_cluster)
    done = josef(cluster[1].bootstrap, "quotas", "alter", "--user", "alice", "--add-config",
                 "producer_byte_rate=1048576")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = josef(cluster[1].bootstrap, "quotas", "alter", "--user", "alice", "--client",
                 "app", "--add-config", "consumer_byte_rate=2048")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert cluster.zk_json("/config/users/alice") == {
        "version": 1, "config": {"producer_byte_rate": "1048576"},
    }  # fmt: skip
    assert cluster.zk_json("/config/users/alice/clients/app") == {
        "version": 1, "config": {"consumer_byte_rate": "2048"},
    }  # fmt: skip
    with cluster.zk() as zk:
        notes = [json.loads(zk.get(f"/config/changes/{c}")[0])
                 for c in sorted(zk.get_children("/config/changes"))]  # fmt: skip
    assert {"version": 2, "entity_path": "users/alice/clients/app"} in notes

    def described(broker_id: int) -> str:
        out = josef(cluster[broker_id].bootstrap, "quotas", "describe")
        assert out.returncode == 0, out.stderr
        return out.stdout

    for broker_id in (2, 3):
        wait_until(
            f"quotas at broker {broker_id}",
            lambda b=broker_id: "user-principal 'alice', client-id 'app' are "
            "consumer_byte_rate=2048.0" in described(b)
            and "user-principal 'alice' are producer_byte_rate=1048576.0" in described(b),
        )
