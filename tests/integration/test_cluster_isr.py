"""The ISR follows the followers (replica.lag.time.max.ms) and min.insync.replicas guards
acks=all: a paused follower leaves the ISR while writes go on and rejoins after catching
up; with two of three replicas down an acks=all write is refused (NOT_ENOUGH_REPLICAS),
nothing of it is readable, and writes resume when the replicas return.
"""

from __future__ import annotations

from helpers.cluster_fixtures import ClusterFactory
from helpers.failover_load import (
    produce_confluent,
    produce_kafka_python,
    read_partition,
    read_partition_kafka_python,
    wait_replicas_identical,
)

# The leader, not ZooKeeper, notices a stalled follower: lag well below the session timeout.
ISR_TIMEOUTS = {"replica.lag.time.max.ms": "2000", "zookeeper.session.timeout.ms": "8000"}


def test_isr_shrinks_and_expands_and_min_isr_guards_acks_all(
    josef_cluster: ClusterFactory,
) -> None:
    cluster = josef_cluster(3, overrides=ISR_TIMEOUTS)
    controller = cluster.controller_id()
    assert controller is not None
    leader = controller  # AlterPartition reaches the controller while followers are paused
    f1, f2 = sorted(set(cluster.brokers) - {leader})
    topic = "isr"
    cluster.create_topic(
        topic, assignment=[[leader, f1, f2]], config={"min.insync.replicas": "2"}
    )
    start = cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR")
    assert start["leader"] == leader
    epoch = start["leader_epoch"]

    ok = produce_confluent(cluster.bootstrap, topic, [b"a-%d" % i for i in range(50)])
    assert [e for e, _ in ok] == [None] * 50

    # 1. A follower stops fetching while writes go on: after replica.lag.time.max.ms the
    #    leader shrinks the ISR (AlterPartition: the leader epoch stays) and the acks=all
    #    writes complete with two in-sync replicas. (Without writes a silent follower stays
    #    in sync, as in Kafka: it is not behind.)
    cluster[f1].pause()
    b = [b"b-%d" % i for i in range(100)]
    assert [e for e, _ in produce_confluent(cluster.bootstrap, topic, b)] == [None] * 100
    shrunk = cluster.wait_state(topic, 0, lambda s: f1 not in s["isr"], f"{f1} out of the ISR")
    assert sorted(shrunk["isr"]) == sorted([leader, f2])
    assert shrunk["leader"] == leader and shrunk["leader_epoch"] == epoch
    # It comes back, catches up and rejoins; its log equals the leader's.
    cluster[f1].resume()
    grown = cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, f"{f1} back in the ISR")
    assert grown["leader_epoch"] == epoch
    wait_replicas_identical(cluster, topic)

    # 2. Two of three replicas down (kill -9): once the controller has taken them out of
    #    the ISR, acks=all is refused before anything is appended; acks=1 is not guarded
    #    by min.insync.replicas.
    cluster[f1].kill()
    cluster[f2].kill()
    cluster.wait_state(topic, 0, lambda s: s["isr"] == [leader], "ISR of the leader alone")
    one = produce_confluent(cluster.bootstrap, topic, [b"acks1"], acks="1", retries=False)
    assert one[0][0] is None
    refused = [b"refused-%d" % i for i in range(5)]
    got = produce_confluent(cluster.bootstrap, topic, refused, retries=False)
    assert [e for e, _ in got] == ["NOT_ENOUGH_REPLICAS"] * 5
    # (kafka-python only here: it sends metadata requests to any broker it knows, and a
    # paused one holds each for request.timeout.ms; a killed one refuses at once.)
    got = produce_kafka_python(cluster.bootstrap, topic, refused, retries=False)
    assert [e for e, _ in got] == ["NotEnoughReplicasError"] * 5

    # 3. Back up: the followers rejoin and acks=all writes resume.
    cluster[f1].start()
    cluster[f2].start()
    cluster.wait_state(topic, 0, lambda s: len(s["isr"]) >= 2, "min ISR again")
    c = [b"c-%d" % i for i in range(50)]
    assert [e for e, _ in produce_confluent(cluster.bootstrap, topic, c)] == [None] * 50
    cluster.wait_state(topic, 0, lambda s: len(s["isr"]) == 3, "full ISR again")

    values = read_partition(cluster.bootstrap, topic, 0)
    assert not set(refused) & set(values)
    expected = [b"a-%d" % i for i in range(50)] + b + [b"acks1"] + c
    assert values == expected
    assert read_partition_kafka_python(cluster.bootstrap, topic, 0) == expected
    wait_replicas_identical(cluster, topic)
