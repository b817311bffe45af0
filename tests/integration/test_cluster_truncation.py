"""Divergent logs after failures (KIP-101/279, KIP-704): a leader that dies holding records
its followers never fetched truncates them when it returns as a follower; with
unclean.leader.election.enable=true a stale replica may become leader, and then exactly
the records beyond its log end are lost, as Kafka documents. Replicas end byte-identical.
"""

from __future__ import annotations

import time

from helpers.clients import consume
from helpers.cluster_fixtures import ClusterFactory
from helpers.failover_load import (
    produce_confluent,
    produce_kafka_python,
    read_partition,
    read_partition_kafka_python,
    wait_replicas_identical,
)


def _values(prefix: str, n: int) -> list[bytes]:
    return [b"%s-%d" % (prefix.encode(), i) for i in range(n)]


def _ok(results: list[tuple[str | None, int]]) -> list[int]:
    errors = [e for e, _ in results if e is not None]
    assert not errors, errors
    return [offset for _, offset in results]


def test_returning_leader_truncates_unreplicated_records(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    controller = cluster.controller_id()
    leader = next(b for b in sorted(cluster.brokers) if b != controller)
    f1, f2 = sorted(set(cluster.brokers) - {leader})
    topic = "diverge"
    cluster.create_topic(topic, assignment=[[leader, f1, f2]], config={"min.insync.replicas": "2"})
    start = cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR")
    before = _values("before", 100)
    assert _ok(produce_confluent(cluster.bootstrap, topic, before)) == list(range(100))

    # The followers stall; the leader acknowledges acks=1 writes nobody else has, then dies.
    cluster[f1].pause()
    cluster[f2].pause()
    # A fetch the leader parked before the pause (replica.fetch.wait.max.ms=100) would
    # still carry new records into the paused follower's socket; let it expire empty.
    time.sleep(1.0)
    lost = _values("unreplicated", 20)
    assert _ok(produce_confluent(cluster.bootstrap, topic, lost, acks="1", retries=False)) == list(
        range(100, 120)
    )
    cluster[leader].kill()
    cluster[f1].resume()
    cluster[f2].resume()
    state = cluster.wait_state(
        topic, 0, lambda s: s["leader"] in (f1, f2), "a follower elected leader"
    )
    assert state["leader_epoch"] > start["leader_epoch"]
    after = _values("after", 50)
    # The new leader's log ends at 100: the new epoch reuses offsets 100.. for new records.
    assert _ok(produce_kafka_python(cluster.bootstrap, topic, after)) == list(range(100, 150))

    # The old leader returns as a follower: it truncates to 100 (its epoch ends there on
    # the new leader) and copies the new records; nothing unreplicated survives anywhere.
    cluster[leader].start()
    cluster.wait_isr(topic, 0, {leader, f1, f2})
    assert read_partition(cluster.bootstrap, topic, 0) == before + after
    assert read_partition_kafka_python(cluster.bootstrap, topic, 0) == before + after
    wait_replicas_identical(cluster, topic)
    for d in cluster.data_dirs():
        data = b"".join(f.read_bytes() for f in sorted((d / f"{topic}-0").glob("*.log")))
        assert b"unreplicated" not in data


def test_unclean_election_loses_exactly_the_records_past_the_stale_log(
    josef_cluster: ClusterFactory,
) -> None:
    cluster = josef_cluster(3)
    leader = cluster.controller_id()
    assert leader is not None
    stale, other = sorted(set(cluster.brokers) - {leader})
    topic = "unclean"
    cluster.create_topic(
        topic,
        assignment=[[leader, stale, other]],
        config={"unclean.leader.election.enable": "true", "min.insync.replicas": "1"},
    )
    cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR")
    a = _values("a", 60)
    assert _ok(produce_confluent(cluster.bootstrap, topic, a)) == list(range(60))
    cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR")

    # Both followers die; the ISR shrinks to the leader, which goes on alone (min ISR 1).
    cluster[stale].kill()
    cluster[other].kill()
    cluster.wait_state(topic, 0, lambda s: s["isr"] == [leader], "ISR of the leader alone")
    b = _values("b", 40)
    assert _ok(produce_confluent(cluster.bootstrap, topic, b)) == list(range(60, 100))
    # The last in-sync replica dies too; a stale replica comes back first and, unclean
    # election being allowed, becomes leader with the log it has (60 records).
    cluster[leader].kill()
    cluster[stale].start()
    state = cluster.wait_state(topic, 0, lambda s: s["leader"] == stale, "unclean election")
    assert state["isr"] == [stale]
    assert state.get("leader_recovery_state") == 1  # KIP-704: RECOVERING until the ISR grows
    d = _values("d", 30)
    assert _ok(produce_confluent(cluster.bootstrap, topic, d)) == list(range(60, 90))

    # The others return as followers and truncate to the new leader's log.
    cluster[other].start()
    cluster[leader].start()
    final = cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR again")
    assert "leader_recovery_state" not in final  # RECOVERED again
    assert read_partition(cluster.bootstrap, topic, 0) == a + d
    assert read_partition_kafka_python(cluster.bootstrap, topic, 0) == a + d
    kcat = consume("kcat", cluster.bootstrap, topic, 0, 0, len(a + d))
    assert [(c.offset, c.value) for c in kcat] == list(enumerate(a + d))
    wait_replicas_identical(cluster, topic)
