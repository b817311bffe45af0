"""Replication throttles (KIP-73) on a reassignment: ``leader.replication.throttled.rate``
and ``follower.replication.throttled.rate`` (dynamic broker configs) bound the catch-up of
the replicas that ``leader/follower.replication.throttled.replicas`` (topic configs) name,
and removing them lets it finish. Clients: confluent-kafka (producer, incremental config
changes) and kafka-python (reassignment; it refuses those dynamic-only keys client-side).

The assertions bound bytes by elapsed time the way the throttle does (rate * (elapsed +
the quota window) + one fetch response), so a slow machine only makes them easier to meet.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

RATE = 100_000  # bytes/s
WINDOW_S = 11  # replication.quota.window.num * replication.quota.window.size.seconds
ONE_RESPONSE = 1_048_576  # replica.fetch.max.bytes: what one fetch may carry past the bound
RECORDS, VALUE = 5_000, b"v" * 1_000


def log_bytes(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.glob("*.log")) if directory.exists() else 0


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.log")):
        h.update(f.read_bytes())
    return h.hexdigest()


def fill(cluster: JosefCluster, topic: str) -> None:
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 20})
    for i in range(RECORDS):
        p.produce(topic, key=b"%05d" % i, value=VALUE)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def incremental(cluster: JosefCluster, kind: ResourceType, name: str, **ops: str | None) -> None:
    admin = cluster.admin()
    entries = [
        ConfigEntry(
            key.replace("_", "."),
            value,
            incremental_operation=(
                AlterConfigOpType.DELETE if value is None else AlterConfigOpType.SET
            ),
        )
        for key, value in ops.items()
    ]
    resource = ConfigResource(kind, name, incremental_configs=entries)
    futures = admin.incremental_alter_configs([resource])
    for f in futures.values():
        f.result(30)


def bounded_catch_up(cluster: JosefCluster, topic: str, started: float) -> int:
    """Check the new replica (broker 2) against the throttle's bound; returns its bytes."""
    time.sleep(4)
    copied = log_bytes(cluster[2].partition_dir(topic, 0))
    elapsed = time.monotonic() - started
    assert copied <= RATE * (elapsed + WINDOW_S) + ONE_RESPONSE, (copied, elapsed)
    print(f"{topic}: {copied} bytes copied in {elapsed:.1f} s")
    assert copied < log_bytes(cluster[1].partition_dir(topic, 0))
    # Throttled, not stopped: the copy moves on.
    wait_until(
        f"{topic} copying under the throttle",
        lambda: log_bytes(cluster[2].partition_dir(topic, 0)) > copied,
        timeout=60,
    )
    return copied


def reassign_and_finish(cluster: JosefCluster, admin: KafkaAdminClient, topic: str) -> None:
    wait_until(
        f"reassignment of {topic} done",
        lambda: admin.list_partition_reassignments() == {}
        and sorted(cluster.partition_state(topic, 0)["isr"]) == [1, 2],
        timeout=90,
    )
    wait_until(
        f"identical replicas of {topic}",
        lambda: digest(cluster[1].partition_dir(topic, 0))
        == digest(cluster[2].partition_dir(topic, 0)),
    )


def test_replication_throttles_bound_a_reassignment(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(2, overrides={"offsets.topic.replication.factor": "1"})
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        # -- leader side: broker 1 throttles what it sends for lead-0 ---------------------
        cluster.create_topic(
            "lead", assignment=[[1]], config={"leader.replication.throttled.replicas": "0:1"}
        )
        fill(cluster, "lead")
        incremental(cluster, ResourceType.BROKER, "1",
                    leader_replication_throttled_rate=str(RATE))
        started = time.monotonic()
        assert admin.alter_partition_reassignments({TopicPartition("lead", 0): [1, 2]}) == {
            TopicPartition("lead", 0): None
        }
        bounded_catch_up(cluster, "lead", started)
        incremental(cluster, ResourceType.BROKER, "1", leader_replication_throttled_rate=None)
        reassign_and_finish(cluster, admin, "lead")

        # -- follower side: broker 2 throttles what it fetches for follow-0 ---------------
        cluster.create_topic(
            "follow", assignment=[[1]], config={"follower.replication.throttled.replicas": "*"}
        )
        fill(cluster, "follow")
        incremental(cluster, ResourceType.BROKER, "2",
                    follower_replication_throttled_rate=str(RATE))
        started = time.monotonic()
        admin.alter_partition_reassignments({TopicPartition("follow", 0): [1, 2]})
        bounded_catch_up(cluster, "follow", started)
        incremental(cluster, ResourceType.BROKER, "2", follower_replication_throttled_rate=None)
        reassign_and_finish(cluster, admin, "follow")
        # An in-sync replica is never throttled: with the rate back on, writes acknowledged
        # by both replicas go on.
        incremental(cluster, ResourceType.BROKER, "2",
                    follower_replication_throttled_rate="1")
        fill(cluster, "follow")
        wait_until(
            "follow replicas identical again",
            lambda: digest(cluster[1].partition_dir("follow", 0))
            == digest(cluster[2].partition_dir("follow", 0)),
        )
    finally:
        admin.close()
