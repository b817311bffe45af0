"""Partition reassignment on a cluster (KIP-455): a new broker takes over replicas, among
them the leader's, while an idempotent acks=all producer keeps writing; cancellation;
``/admin/reassign_partitions`` written as Kafka's old tool wrote it; Kafka's
kafka-reassign-partitions tool and ``josef reassign``. Clients: kafka-python's admin client,
confluent-kafka's producer, consumer and AdminClient."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import NewTopic
from helpers.cluster_admin import AckedProducer, consume_partition, kafka_tool
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cli import josef, ok
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError

RACKS = {1: "r1", 2: "r2", 3: "r1", 4: "r2"}


def assignment(cluster: JosefCluster, topic: str) -> dict[int, list[int]]:
    doc = cluster.zk_json(f"/brokers/topics/{topic}")
    return {int(p): list(r) for p, r in doc["partitions"].items()}


def reassigning(cluster: JosefCluster, topic: str) -> bool:
    doc = cluster.zk_json(f"/brokers/topics/{topic}")
    return bool(doc.get("adding_replicas") or doc.get("removing_replicas"))


def segment_digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.log")):
        h.update(f.read_bytes())
    return h.hexdigest()


def log_end_offset(cluster: JosefCluster, topic: str, partition: int) -> int:
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "watermarks"})
    try:
        _low, high = c.get_watermark_offsets(CTopicPartition(topic, partition), timeout=10)
    finally:
        c.close()
    return int(high)


def test_reassignment_to_a_new_broker_while_producing(
    josef_cluster: ClusterFactory, tmp_path: Path
) -> None:
    # Long sessions: a SIGSTOPped broker below must stay registered.
    cluster = josef_cluster(
        4,
        start=False,
        overrides={"zookeeper.session.timeout.ms": "60000"},
        per_broker={b: {"broker.rack": RACKS[b]} for b in RACKS},
    )
    for b in (1, 2, 3):
        cluster[b].start()
    cluster.wait_registered({1, 2, 3})
    cluster.wait_controller()
    cluster.wait_metadata_brokers({1, 2, 3})
    cluster.create_topic("mv", partitions=2, rf=3, config={"min.insync.replicas": "2"})
    before = assignment(cluster, "mv")
    # Rack-aware assignment: every partition has replicas in both racks.
    assert all({RACKS[b] for b in replicas} == {"r1", "r2"} for replicas in before.values())
    for p in (0, 1):
        cluster.wait_isr("mv", p, {1, 2, 3})
    cluster[4].start()  # a broker that holds nothing yet
    cluster.wait_registered({1, 2, 3, 4})

    producer = AckedProducer(cluster.bootstrap, "mv", [0, 1]).start()
    producer.wait_acked(300)
    old_leader = cluster.partition_state("mv", 0)["leader"]
    # Partition 0 loses its leader to broker 4 (which becomes preferred); partition 1
    # swaps a follower for broker 4.
    target0 = [4] + [b for b in before[0] if b != old_leader]
    removed1 = next(
        b for b in reversed(before[1]) if b != cluster.partition_state("mv", 1)["leader"]
    )
    target1 = [b for b in before[1] if b != removed1] + [4]
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        result = admin.alter_partition_reassignments(
            {TopicPartition("mv", 0): target0, TopicPartition("mv", 1): target1}
        )
        assert result == {TopicPartition("mv", 0): None, TopicPartition("mv", 1): None}
        wait_until(
            "reassignment of mv done",
            lambda: (
                assignment(cluster, "mv") == {0: target0, 1: target1}
                and not reassigning(cluster, "mv")
                and admin.list_partition_reassignments() == {}
            ),
            timeout=60,
        )
    finally:
        admin.close()
    acked_at_move = producer.count()
    producer.wait_acked(acked_at_move + 300)  # writes go on at the new replica sets
    producer.stop()
    assert not producer.errors, producer.errors[:5]

    state0 = cluster.partition_state("mv", 0)
    assert state0["leader"] in target0 and state0["leader"] != old_leader
    cluster.wait_isr("mv", 0, set(target0))
    cluster.wait_isr("mv", 1, set(target1))
    # Nothing acknowledged is lost or duplicated; order kept per partition.
    for p in (0, 1):
        acked = producer.acked[p]
        assert consume_partition(cluster.bootstrap, "mv", p, len(acked)) == acked
        assert log_end_offset(cluster, "mv", p) == len(acked)
    # The removed replicas' files are deleted; the new replica is byte-identical.
    wait_until("mv-0 gone", lambda: not cluster[old_leader].partition_dir("mv", 0).exists())
    wait_until("mv-1 gone", lambda: not cluster[removed1].partition_dir("mv", 1).exists())
    for p, target in ((0, target0), (1, target1)):
        wait_until(
            f"identical replicas of mv-{p}",
            lambda p=p, target=target: (
                len({segment_digest(cluster[b].partition_dir("mv", p)) for b in target}) == 1
            ),
        )

    # -- josef reassign --generate: a rack-aware proposal over the given brokers ----------
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"version": 1, "topics": [{"topic": "mv"}]}))
    out = ok(
        josef(
            cluster.bootstrap,
            "reassign",
            "--generate",
            "--topics-to-move-json-file",
            str(topics_file),
            "--broker-list",
            "1,2,3,4",
        )
    )
    current, proposed = (
        json.loads(line) for line in out.splitlines() if line.startswith('{"version":1')
    )
    assert {(e["partition"], tuple(e["replicas"])) for e in current["partitions"]} == {
        (0, tuple(target0)),
        (1, tuple(target1)),
    }
    for entry in proposed["partitions"]:
        assert len(set(entry["replicas"])) == 3
        assert {RACKS[b] for b in entry["replicas"]} == {"r1", "r2"}
    assert assignment(cluster, "mv") == {0: target0, 1: target1}  # nothing changed

    # -- cancellation: a reassignment that cannot finish (its new replica is stopped) -----
    controller = cluster.controller_id()
    a, b, stuck = [x for x in (1, 2, 3, 4) if x != controller][:3]
    confluent = cluster.admin()
    futures = confluent.create_topics([NewTopic("cx", 1, replica_assignment=[[a, b]])])
    futures["cx"].result(timeout=60)
    cluster.wait_isr("cx", 0, {a, b})
    pid = cluster[stuck].pid
    assert pid is not None
    spec = tmp_path / "cx.json"
    spec.write_text(
        json.dumps(
            {
                "version": 1,
                "partitions": [{"topic": "cx", "partition": 0, "replicas": [a, b, stuck]}],
            }
        )
    )
    reachable = f"{cluster[a].bootstrap},{cluster[b].bootstrap}"  # not the stopped one
    os.kill(pid, signal.SIGSTOP)
    try:
        out = ok(josef(reachable, "reassign", "--execute", "--reassignment-json-file", str(spec)))
        assert f'{{"topic":"cx","partition":0,"replicas":[{a},{b}]' in out
        assert "Successfully started partition reassignment for cx-0" in out
        refused = josef(reachable, "reassign", "--execute", "--reassignment-json-file", str(spec))
        assert refused.returncode == 1 and "Use --additional" in refused.stderr
        out = ok(josef(reachable, "reassign", "--list"))
        assert f"cx-0: replicas: {a},{b},{stuck}. adding: {stuck}.\n" in out
        out = ok(josef(reachable, "reassign", "--verify", "--reassignment-json-file", str(spec)))
        assert "Reassignment of partition cx-0 is still in progress." in out
        out = ok(josef(reachable, "reassign", "--cancel", "--reassignment-json-file", str(spec)))
        assert "Successfully cancelled partition reassignment for: cx-0" in out
        assert assignment(cluster, "cx") == {0: [a, b]} and not reassigning(cluster, "cx")
    finally:
        os.kill(pid, signal.SIGCONT)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        again = admin.alter_partition_reassignments({TopicPartition("cx", 0): None})
        invalid = admin.alter_partition_reassignments(
            {TopicPartition("cx", 0): [a, a], TopicPartition("mv", 0): [1, 9]}
        )
    finally:
        admin.close()
    assert again == {TopicPartition("cx", 0): NoReassignmentInProgressError}
    assert ok(josef(cluster.bootstrap, "reassign", "--list")).strip() == (
        "No partition reassignments found."
    )
    assert invalid == {
        TopicPartition("cx", 0): InvalidReplicationAssignmentError,  # duplicate
        TopicPartition("mv", 0): InvalidReplicationAssignmentError,  # no broker 9
    }
    wait_until(
        "cx-0 never kept on the cancelled replica",
        lambda: not cluster[stuck].partition_dir("cx", 0).exists(),
    )

    # -- /admin/reassign_partitions, the znode Kafka's tools wrote before KIP-455 ---------
    with cluster.zk() as zk:
        zk.create(
            "/admin/reassign_partitions",
            json.dumps(
                {
                    "version": 1,
                    "partitions": [{"topic": "cx", "partition": 0, "replicas": [b, stuck]}],
                }
            ).encode(),
        )
    wait_until(
        "znode reassignment done",
        lambda: (
            assignment(cluster, "cx") == {0: [b, stuck]}
            and cluster.zk_json("/admin/reassign_partitions") is None
        ),
        timeout=60,
    )
    cluster.wait_isr("cx", 0, {b, stuck})
    wait_until(
        "cx-0 gone from its old replica", lambda: not cluster[a].partition_dir("cx", 0).exists()
    )

    # -- Kafka's kafka-reassign-partitions (the Admin API) --------------------------------
    spec.write_text(
        json.dumps(
            {"version": 1, "partitions": [{"topic": "cx", "partition": 0, "replicas": [stuck, a]}]}
        )
    )
    tool = kafka_tool(
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        "--bootstrap-server",
        cluster.bootstrap,
        "--reassignment-json-file",
        str(spec),
        "--execute",
    )
    assert tool.returncode == 0, tool.stdout + tool.stderr
    assert "Successfully started partition reassignment for cx-0" in tool.stdout
    wait_until(
        "tool reassignment done",
        lambda: assignment(cluster, "cx") == {0: [stuck, a]} and not reassigning(cluster, "cx"),
        timeout=60,
    )
    out = ok(
        josef(cluster.bootstrap, "reassign", "--verify", "--reassignment-json-file", str(spec))
    )
    assert "Reassignment of partition cx-0 is completed." in out
