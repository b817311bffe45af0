"""Cluster failover with real processes: kill -9 leaders (the controller among them) under
continuous idempotent ``acks=all`` load (confluent-kafka and kafka-python producers) and
check Kafka's promise: every acknowledged record is read back exactly once, in order per
partition, and the replicas of every partition end byte-identical. A killed controller is
succeeded at the next controller epoch, and its successor elects leaders and creates
topics. Retried batches of an idempotent producer stay duplicates on every new leader.
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
    produce_kafka_python,
    read_partition,
    read_partition_kafka_python,
    wait_replicas_identical,
)
from helpers.josef_cluster import JosefCluster, wait_until
from helpers.raw import RawConn, array, i16, i32, string

from protocol.records import NewRecord, encode_batch

NONE, NOT_LEADER_OR_FOLLOWER, OUT_OF_ORDER_SEQUENCE_NUMBER = 0, 6, 45
# Answers a producer retries on while leadership moves.
RETRIABLE = {3, 5, 6, 7, 19, 20, 74}


def _kill_leaders_in_turn(
    cluster: JosefCluster, topic: str, partitions: int, loads: list[ProducerLoad], rounds: int
) -> None:
    """Kill -9 the leader of partition after partition (the controller's first) and bring
    it back each time, checking the controller's succession on the way."""
    controller = cluster.controller_id()
    order = sorted(range(partitions), key=lambda p: cluster.leader_of(topic, p) != controller)
    for i in range(rounds):
        p = order[i % partitions]
        leader = cluster.leader_of(topic, p)
        assert leader in cluster.brokers, f"{topic}-{p} has no leader"
        before = [load.acked_count() for load in loads]
        epoch = cluster.zk_json("/controller_epoch")
        controller = cluster.controller_id()
        cluster[leader].kill()
        cluster.wait_state(
            topic, p, lambda s, old=leader: s["leader"] not in (-1, old), "a new leader"
        )
        if leader == controller:
            _check_new_controller(cluster, leader, epoch)
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


def _check_new_controller(cluster: JosefCluster, old: int, epoch: int) -> None:
    """A killed controller is succeeded at the next controller epoch; the new controller
    elects leaders (just checked by the caller) and creates topics that work."""
    new = cluster.wait_controller(not_in={old})
    assert new != old and cluster.zk_json("/controller_epoch") == epoch + 1
    name = f"after-controller-epoch-{epoch}"
    cluster.create_topic(name, partitions=2, rf=2)
    got = produce_kafka_python(cluster.bootstrap, name, [b"x", b"y"], partition=1, retries=False)
    assert [e for e, _ in got] == [None, None]
    assert read_partition(cluster.bootstrap, name, 1) == [b"x", b"y"]


def _verify(cluster: JosefCluster, topic: str, partitions: int, results: list[LoadResult]) -> None:
    for r in results:
        bad = [f for f in r.failed if f[2] not in RETRIABLE_NAMES]
        assert not bad, f"{r.tag}: non-retriable delivery failures {bad[:5]}"
        fatal = [e for e in r.client_errors if "FATAL" in e.upper()]
        assert not fatal, f"{r.tag}: fatal client errors {fatal}"
    read = {p: read_partition(cluster.bootstrap, topic, p) for p in range(partitions)}
    counts = check_exactly_once(read, results)
    assert counts["acked"] > 0
    # A second client reads the same records.
    for p in range(partitions):
        assert read_partition_kafka_python(cluster.bootstrap, topic, p) == read[p]
    # Replicas hold byte-identical segments once the followers caught up.
    wait_replicas_identical(cluster, topic, partitions)


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


def test_kill_each_leader_and_the_controller_loses_nothing(
    josef_cluster: ClusterFactory,
) -> None:
    _run(josef_cluster, partitions=3, rounds=3, clients=["confluent", "kafka-python"])


@pytest.mark.soak
def test_kill_each_leader_in_turn_soak(josef_cluster: ClusterFactory) -> None:
    _run(josef_cluster, partitions=8, rounds=16, clients=["confluent", "kafka-python", "aiokafka"])


# -- idempotent producer state across failovers (raw Produce v7, one producer id) ------------


def _batch(seq: int, count: int, pid: int = 7001, epoch: int = 0) -> bytes:
    return encode_batch(
        [NewRecord(key=None, value=b"v%d" % (seq + i)) for i in range(count)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


def _produce_to_leader(cluster: JosefCluster, topic: str, batch: bytes) -> tuple[int, int]:
    """Send ``batch`` (acks=all) to the partition's leader, following leadership on
    retriable answers as a producer does; returns (error code, base offset)."""
    part = i32(0) + i32(len(batch)) + batch
    body = string(None) + i16(-1) + i32(10_000) + array([string(topic) + array([part])])
    last: tuple[int, int] = (-1, -1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leader = cluster.leader_of(topic, 0)
        if leader in cluster.brokers and cluster[leader].running:
            broker = cluster[leader]
            try:
                with RawConn(broker.host, broker.port) as conn:
                    r = conn.request(0, 7, body)
                    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
                    assert r.i32() == 0
                    last = (r.i16(), r.i64())
            except OSError:
                last = (-1, -1)
            if last[0] not in RETRIABLE and last[0] != -1:
                return last
        time.sleep(0.2)
    raise AssertionError(f"no final answer from the leader of {topic}-0: {last}")


def test_retried_batches_stay_duplicates_across_failovers(josef_cluster: ClusterFactory) -> None:
    """The producer state travels with the log: a new leader (a follower that replayed
    the batches, or a restarted broker that rebuilt it from its log) still answers a
    retried batch with its original offset and appends nothing."""
    cluster = josef_cluster(3)
    a, b, c = sorted(cluster.brokers)
    topic = "idem"
    cluster.create_topic(topic, assignment=[[a, b, c]], config={"min.insync.replicas": "2"})
    cluster.wait_isr(topic, 0, {a, b, c})
    assert _produce_to_leader(cluster, topic, _batch(0, 3)) == (NONE, 0)
    assert _produce_to_leader(cluster, topic, _batch(3, 2)) == (NONE, 3)

    # kill -9 the leader: a follower takes over with the replicated producer state.
    cluster[a].kill()
    second = cluster.wait_state(topic, 0, lambda s: s["leader"] in (b, c), "a new leader")
    assert _produce_to_leader(cluster, topic, _batch(3, 2)) == (NONE, 3)
    assert _produce_to_leader(cluster, topic, _batch(0, 3)) == (NONE, 0)
    assert _produce_to_leader(cluster, topic, _batch(5, 1)) == (NONE, 5)
    assert _produce_to_leader(cluster, topic, _batch(9, 1))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER

    # The old leader returns (producer state rebuilt from its log and snapshots) and takes
    # over again when the current leader shuts down cleanly (controlled shutdown).
    cluster[a].start()
    cluster.wait_isr(topic, 0, {a, b, c})
    cluster[second["leader"]].stop()
    cluster.wait_state(topic, 0, lambda s: s["leader"] == a, "leadership back on the first")
    assert _produce_to_leader(cluster, topic, _batch(5, 1)) == (NONE, 5)
    assert _produce_to_leader(cluster, topic, _batch(3, 2)) == (NONE, 3)
    assert _produce_to_leader(cluster, topic, _batch(6, 1)) == (NONE, 6)
    cluster[second["leader"]].start()
    cluster.wait_isr(topic, 0, {a, b, c})

    expected = [b"v%d" % i for i in range(7)]
    assert read_partition(cluster.bootstrap, topic, 0) == expected
    assert read_partition_kafka_python(cluster.bootstrap, topic, 0) == expected
    wait_replicas_identical(cluster, topic)
