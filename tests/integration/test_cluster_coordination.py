"""Losing coordination: a ZooKeeper node of the ensemble dies (clients notice nothing); a
broker's ZooKeeper session expires (it re-registers with a new broker epoch and rejoins as
follower, then leader) -- and no acknowledged record is lost on the way. (The controller's
loss is covered by test_cluster_failover's leader kills, the controller's first.)
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.cluster_fixtures import ClusterFactory
from helpers.failover_load import (
    ProducerLoad,
    check_exactly_once,
    read_partition,
    wait_replicas_identical,
)
from helpers.josef_cluster import JosefCluster, wait_until
from helpers.zookeeper import ZooKeeperEnsemble


def _broker_epoch(cluster: JosefCluster, broker_id: int) -> int | None:
    """The czxid of /brokers/ids/<id> (Kafka's broker epoch), None when unregistered."""
    with cluster.zk() as zk:
        stat = zk.exists(f"/brokers/ids/{broker_id}")
    return None if stat is None else int(stat.czxid)


def _ok(results: list[tuple[str | None, int]]) -> None:
    errors = [e for e, _ in results if e is not None]
    assert not errors, errors


def test_zookeeper_node_loss_is_invisible_to_clients(
    tmp_path: Path, zk_fresh_ensemble: ZooKeeperEnsemble
) -> None:
    cluster = JosefCluster(tmp_path / "cluster", zk_fresh_ensemble.connect_string("/josef"), 3)
    try:
        cluster.start()
        topic = "zkloss"
        cluster.create_topic(topic, partitions=2, rf=3, config={"min.insync.replicas": "2"})
        epochs = {b: _broker_epoch(cluster, b) for b in cluster.brokers}
        controller = cluster.controller_id()
        loads = [
            ProducerLoad(c, cluster.bootstrap, topic, 2, tag=c.replace("-", "")).start()
            for c in ("confluent", "kafka-python")
        ]
        for load in loads:
            assert load.first_ack.wait(60)
        # The ensemble's leader dies: the two others elect a new one and the brokers'
        # sessions move over without expiring.
        zk_fresh_ensemble.leader().kill()
        before = [load.acked_count() for load in loads]
        wait_until(
            "writes after the ZooKeeper node loss",
            lambda: all(ld.acked_count() > n + 200 for ld, n in zip(loads, before, strict=True)),
        )
        # ZooKeeper writes still work: a topic is created through the metadata store.
        cluster.create_topic("zkloss-new", partitions=1, rf=3)
        results = [load.stop() for load in loads]
        for r in results:
            assert r.failed == [], r.failed[:5]
        read = {p: read_partition(cluster.bootstrap, topic, p) for p in range(2)}
        check_exactly_once(read, results)
        # Nothing noticed: same sessions (broker epochs), same controller, full ISRs.
        assert {b: _broker_epoch(cluster, b) for b in cluster.brokers} == epochs
        assert cluster.controller_id() == controller
        for p in range(2):
            assert len(cluster.partition_state(topic, p)["isr"]) == 3  # type: ignore[index]
    finally:
        cluster.close()


def test_expired_session_reregisters_and_rejoins(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    controller = cluster.controller_id()
    victim = next(b for b in sorted(cluster.brokers) if b != controller)
    others = sorted(set(cluster.brokers) - {victim})
    topic = "session"
    cluster.create_topic(
        topic, assignment=[[victim, *others]], config={"min.insync.replicas": "2"}
    )
    cluster.wait_isr(topic, 0, set(cluster.brokers))
    epoch = _broker_epoch(cluster, victim)
    assert epoch is not None
    load = ProducerLoad("confluent", cluster.bootstrap, topic, 1, tag="c").start()
    try:
        assert load.first_ack.wait(60)
        # The victim hangs past zookeeper.session.timeout.ms: ZooKeeper ends its session,
        # the controller moves leadership away.
        cluster[victim].pause()
        wait_until("the session to expire", lambda: _broker_epoch(cluster, victim) is None)
        cluster.wait_state(topic, 0, lambda s: s["leader"] in others, "a new leader")
        cluster[victim].resume()
        # It re-registers (a new broker epoch), follows the new leader and rejoins the ISR.
        new_epoch = wait_until("re-registration", lambda: _broker_epoch(cluster, victim))
        assert new_epoch > epoch
        cluster.wait_isr(topic, 0, set(cluster.brokers))
        # And leads again once the current leader shuts down (preferred replica first).
        leader = cluster.leader_of(topic, 0)
        cluster[leader].stop()
        cluster.wait_state(topic, 0, lambda s: s["leader"] == victim, "the victim leading")
        acked = load.acked_count()
        wait_until("writes on the victim", lambda: load.acked_count() > acked + 100)
        cluster[leader].start()
        cluster.wait_isr(topic, 0, set(cluster.brokers))
        time.sleep(0.5)
    finally:
        result = load.stop()
    assert not [f for f in result.failed if f[2] != "NOT_LEADER_OR_FOLLOWER"], result.failed[:5]
    check_exactly_once({0: read_partition(cluster.bootstrap, topic, 0)}, [result])
    wait_replicas_identical(cluster, topic)
