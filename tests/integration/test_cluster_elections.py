"""Leader elections on a cluster: ElectLeaders (preferred and unclean) through
confluent-kafka's AdminClient, kafka-python, Kafka's kafka-leader-election tool and
``josef elect-leaders``; the automatic preferred-leader rebalance
(``auto.leader.rebalance.enable``)."""

from __future__ import annotations

from confluent_kafka import ElectionType, KafkaError, TopicPartition
from helpers.cluster_admin import broker_request, kafka_tool
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cli import josef, ok
from helpers.josef_cluster import JosefCluster, wait_until

METADATA, ELECT_LEADERS = 3, 43


def preferred_leaders(cluster: JosefCluster, topic: str) -> dict[int, int]:
    doc = cluster.zk_json(f"/brokers/topics/{topic}")
    return {int(p): r[0] for p, r in doc["partitions"].items()}


def leader(cluster: JosefCluster, topic: str, partition: int) -> int:
    state = cluster.partition_state(topic, partition)
    assert state is not None
    return int(state["leader"])


def bounce(cluster: JosefCluster, broker_id: int, topic: str, partitions: int) -> None:
    """Controlled shutdown of a broker (leadership moves away), then back into every ISR."""
    cluster[broker_id].stop()
    cluster.wait_leaders(topic, partitions)
    cluster[broker_id].start()
    for p in range(partitions):
        cluster.wait_isr(topic, p, set(cluster.brokers))


def elect(
    cluster: JosefCluster, kind: ElectionType, partitions: list[TopicPartition] | None
) -> dict[tuple[str, int], int]:
    """confluent-kafka elect_leaders: {(topic, partition): error code (0 = elected)}."""
    admin = cluster.admin()
    result = admin.elect_leaders(kind, partitions).result(timeout=60)
    out = {}
    for tp, err in result.items():
        if err is None:
            code = 0
        else:  # a KafkaError, or a KafkaException around one
            code = err.code() if isinstance(err, KafkaError) else err.args[0].code()
        out[(tp.topic, tp.partition)] = code
    return out


def test_preferred_and_unclean_elections(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("el", partitions=6, rf=3)
    for p in range(6):
        cluster.wait_isr("el", p, {1, 2, 3})
    preferred = preferred_leaders(cluster, "el")
    # Kafka's assignment: preferred leaders spread evenly, two per broker.
    assert sorted(preferred.values()) == [1, 1, 2, 2, 3, 3]
    assert all(leader(cluster, "el", p) == preferred[p] for p in range(6))

    # A broker leaves and comes back: the partitions it prefers stay led elsewhere.
    controller = cluster.controller_id()
    away = next(b for b in (1, 2, 3) if b != controller)
    bounce(cluster, away, "el", 6)
    moved = sorted(p for p, b in preferred.items() if b == away)
    assert all(leader(cluster, "el", p) != away for p in moved)
    others = [p for p in range(6) if p not in moved]

    # confluent-kafka (librdkafka): one moved partition, one already preferred, one unknown.
    results = elect(
        cluster,
        ElectionType.PREFERRED,
        [TopicPartition("el", moved[0]), TopicPartition("el", others[0]), TopicPartition("el", 9)],
    )
    assert results == {
        ("el", moved[0]): 0,
        ("el", others[0]): KafkaError.ELECTION_NOT_NEEDED,
        ("el", 9): KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    assert leader(cluster, "el", moved[0]) == away

    # The controller's own metadata shows the new leader when the answer comes (Kafka's
    # DelayedElectLeader); the other brokers hear of it from its UpdateMetadata.
    def metadata_leader(b: int) -> int:
        md = broker_request(
            cluster[b].port,
            METADATA,
            {"topics": [{"name": "el"}], "allow_auto_topic_creation": False},
        )
        (topic,) = md["topics"]
        return {p["partition_index"]: p["leader_id"] for p in topic["partitions"]}[moved[0]]

    assert metadata_leader(controller) == away
    for b in (1, 2, 3):
        wait_until(f"broker {b} knows the new leader", lambda b=b: metadata_leader(b) == away)

    # Kafka's own tool for all partitions: only the other moved one needed an election.
    tool = kafka_tool(
        "org.apache.kafka.tools.LeaderElectionCommand",
        "--bootstrap-server",
        cluster.bootstrap,
        "--election-type",
        "PREFERRED",
        "--all-topic-partitions",
    )
    assert tool.returncode == 0, tool.stdout + tool.stderr
    assert (
        f"Successfully completed leader election (PREFERRED) for partitions el-{moved[1]}\n"
        in tool.stdout
    )
    assert all(leader(cluster, "el", p) == preferred[p] for p in range(6))
    # All partitions again: nothing to do, so nothing reported (ELECTION_NOT_NEEDED is left
    # out of an all-partitions answer).
    assert elect(cluster, ElectionType.PREFERRED, None) == {}

    # ElectLeaders at a broker that is not the controller: NOT_CONTROLLER per partition.
    not_controller = next(b for b in (1, 2, 3) if b != cluster.controller_id())
    answer = broker_request(
        cluster[not_controller].port,
        ELECT_LEADERS,
        {
            "election_type": 0,
            "topic_partitions": [{"topic": "el", "partitions": [0]}],
            "timeout": 10_000,
        },
    )
    assert answer["error_code"] == 0
    (partition,) = answer["replica_election_results"][0]["partition_result"]
    assert partition["error_code"] == KafkaError.NOT_CONTROLLER

    # Unclean election: a partition whose only in-sync replica is gone.
    cluster.create_topic("dirty", partitions=1, rf=2)
    replicas = cluster.zk_json("/brokers/topics/dirty")["partitions"]["0"]
    first, follower = replicas
    cluster.wait_isr("dirty", 0, {first, follower})
    cluster[follower].stop()  # leaves the ISR at once
    cluster.wait_isr("dirty", 0, {first})
    cluster[first].stop()  # the last ISR member: no leader now
    wait_until("dirty-0 offline", lambda: leader(cluster, "dirty", 0) == -1)
    tp = [TopicPartition("dirty", 0)]
    # No replica alive at all: not even an unclean election can help.
    assert elect(cluster, ElectionType.UNCLEAN, tp) == {
        ("dirty", 0): KafkaError.ELIGIBLE_LEADERS_NOT_AVAILABLE
    }
    cluster[follower].start()
    wait_until(
        f"broker {follower} live again",
        lambda: follower in cluster.admin().list_topics(timeout=10).brokers,
    )
    # A clean election cannot help: the preferred replica is down.
    assert elect(cluster, ElectionType.PREFERRED, tp) == {
        ("dirty", 0): KafkaError.PREFERRED_LEADER_NOT_AVAILABLE
    }
    # josef elect-leaders (kafka-leader-election.sh's options and output).
    out = ok(
        josef(
            cluster.bootstrap,
            "elect-leaders",
            "--election-type",
            "unclean",
            "--topic",
            "dirty",
            "--partition",
            "0",
        )
    )
    assert "Successfully completed leader election (UNCLEAN) for partitions dirty-0" in out
    assert leader(cluster, "dirty", 0) == follower
    # The leader is alive now: nothing to elect.
    assert elect(cluster, ElectionType.UNCLEAN, tp) == {
        ("dirty", 0): KafkaError.ELECTION_NOT_NEEDED
    }
    cluster[first].start()
    cluster.wait_isr("dirty", 0, {first, follower})


def test_auto_leader_rebalance_moves_leaders_back(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(
        3,
        overrides={
            "auto.leader.rebalance.enable": "true",
            "leader.imbalance.check.interval.seconds": "1",
        },
    )
    cluster.create_topic("bal", partitions=3, rf=3)
    preferred = preferred_leaders(cluster, "bal")
    away = next(b for b in (1, 2, 3) if b != cluster.controller_id())
    (moved,) = [p for p, b in preferred.items() if b == away]
    cluster[away].stop()
    wait_until("leadership moved", lambda: leader(cluster, "bal", moved) not in (-1, away))
    cluster[away].start()
    # No election asked for: the controller's imbalance check moves it back.
    wait_until(
        "preferred leaders back",
        lambda: all(leader(cluster, "bal", p) == preferred[p] for p in range(3)),
        timeout=60,
    )
    assert cluster.wait_leaders("bal", 3)[moved] == away
