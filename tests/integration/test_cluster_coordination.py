"""Losing coordination: the controller is killed (a new one is elected with the next
controller epoch and carries on: leader elections, topic creation); a ZooKeeper node of the
ensemble dies (clients notice nothing); a broker's ZooKeeper session expires (it
re-registers with a new broker epoch and rejoins as follower, then leader) -- and no
acknowledged record is lost on the way.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.cluster_fixtures import ClusterFactory
from helpers.failover_load import (
    ProducerLoad,
    check_exactly_once,
    produce_confluent,
    produce_kafka_python,
    read_partition,
    read_partition_kafka_python,
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


def test_controller_kill_elects_a_new_controller(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    topic = "ctl"
    cluster.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    old = cluster.controller_id()
    assert old is not None
    epoch = cluster.zk_json("/controller_epoch")
    first = [b"first-%d" % i for i in range(30)]
    _ok(produce_confluent(cluster.bootstrap, topic, first, partition=0))

    cluster[old].kill()
    new = cluster.wait_controller(not_in={old})
    assert cluster.zk_json("/controller_epoch") == epoch + 1
    # The new controller moved leadership off the dead broker and out of every ISR ...
    for p in range(3):
        state = cluster.wait_state(
            topic, p, lambda s: s["leader"] not in (-1, old) and old not in s["isr"], "failover"
        )
        assert state["controller_epoch"] == epoch + 1 or state["leader"] != old
    # ... creates topics and serves them.
    cluster.create_topic("after", partitions=2, rf=2)
    _ok(produce_kafka_python(cluster.bootstrap, "after", [b"x", b"y"], partition=1))
    assert read_partition(cluster.bootstrap, "after", 1) == [b"x", b"y"]
    second = [b"second-%d" % i for i in range(30)]
    _ok(produce_confluent(cluster.bootstrap, topic, second, partition=0))

    # The old controller returns as an ordinary broker and catches up.
    cluster[old].start()
    cluster.wait_full_isr(topic, 3)
    assert cluster.controller_id() == new
    assert read_partition_kafka_python(cluster.bootstrap, topic, 0) == first + second
    wait_replicas_identical(cluster, topic, 3)


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
