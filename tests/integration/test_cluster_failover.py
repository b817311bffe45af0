"""Cluster failover with real processes: kill -9 leaders under continuous idempotent
``acks=all`` load (confluent-kafka and kafka-python producers) and check Kafka's promise:
every acknowledged record is read back exactly once, in order per partition, and the
replicas of every partition end byte-identical.
"""

from __future__ import annotations

import time

import pytest
from helpers.cluster_fixtures import ClusterFactory
from helpers.failover_load import (
    RETRIABLE_NAMES,
    LoadResult,
    ProducerLoad,
    check_exactly_once,
    read_partition,
    read_partition_kafka_python,
    replica_digests,
)
from helpers.josef_cluster import JosefCluster, wait_until


def _kill_leaders_in_turn(
    cluster: JosefCluster, topic: str, partitions: int, loads: list[ProducerLoad], rounds: int
) -> None:
    for i in range(rounds):
        p = i % partitions
        leader = cluster.leader_of(topic, p)
        assert leader in cluster.brokers, f"{topic}-{p} has no leader"
        before = [load.acked_count() for load in loads]
        cluster[leader].kill()
        cluster.wait_state(
            topic, p, lambda s, old=leader: s["leader"] not in (-1, old), "a new leader"
        )
        # Writes go on while the old leader is away ...
        wait_until(
            "acknowledged writes after the failover",
            lambda before=before: all(
                load.acked_count() > n for load, n in zip(loads, before, strict=True)
            ),
            timeout=60,
        )
        # ... and it returns as a follower, catches up and rejoins every ISR.
        cluster[leader].start()
        cluster.wait_full_isr(topic, partitions, timeout=90)


def _verify(cluster: JosefCluster, topic: str, partitions: int, results: list[LoadResult]) -> None:
    for r in results:
        bad = [f for f in r.failed if f[2] not in RETRIABLE_NAMES]
        assert not bad, f"{r.tag}: non-retriable delivery failures {bad[:5]}"
        fatal = [e for e in r.client_errors if "FATAL" in e.upper()]
        assert not fatal, f"{r.tag}: fatal client errors {fatal}"
    read = {p: read_partition(cluster.bootstrap, topic, p) for p in range(partitions)}
    counts = check_exactly_once(read, results)
    print("COUNTS", counts, [(r.tag, r.sent, r.acked_count, len(r.failed), r.client_errors[:5]) for r in results])
    assert counts["acked"] > 0
    # A second client reads the same records.
    for p in range(partitions):
        assert read_partition_kafka_python(cluster.bootstrap, topic, p) == read[p]

    # Replicas hold byte-identical segments once the followers caught up.
    def identical() -> bool:
        return all(
            len(replica_digests(cluster.data_dirs(), topic, p)) == 1 for p in range(partitions)
        )

    wait_until("byte-identical replicas", identical, timeout=60)


def _run(josef_cluster: ClusterFactory, partitions: int, rounds: int, clients: list[str]) -> None:
    cluster = josef_cluster(3)
    topic = "failover"
    cluster.create_topic(topic, partitions=partitions, rf=3, config={"min.insync.replicas": "2"})
    loads = [
        ProducerLoad(c, cluster.bootstrap, topic, partitions, tag=c.replace("-", "")).start()
        for c in clients
    ]
    for load in loads:
        assert load.first_ack.wait(60), f"{load.result.tag}: no acknowledgement"
    try:
        _kill_leaders_in_turn(cluster, topic, partitions, loads, rounds)
        time.sleep(1.0)  # a little load on the final leaders too
    finally:
        results = [load.stop() for load in loads]
    _verify(cluster, topic, partitions, results)


def test_kill_each_leader_in_turn_loses_nothing(josef_cluster: ClusterFactory) -> None:
    _run(josef_cluster, partitions=3, rounds=3, clients=["confluent", "kafka-python"])


@pytest.mark.soak
def test_kill_each_leader_in_turn_soak(josef_cluster: ClusterFactory) -> None:
    _run(josef_cluster, partitions=8, rounds=16, clients=["confluent", "kafka-python", "aiokafka"])
