"""The cluster-only admin commands with ``--output json`` on a 3-broker Josef cluster:
``cluster info``, ``topics describe`` partition filters while a broker is down,
``elect-leaders`` and ``reassign``, compared with confluent-kafka's (librdkafka) and
kafka-python's AdminClients and the partition state in ZooKeeper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cli import josef, ok
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import KafkaAdminClient


def jcli(cluster: JosefCluster, *args: str) -> Any:
    return json.loads(ok(josef(cluster.bootstrap, *args, "--output", "json")))


def test_cluster_commands_json(josef_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = josef_cluster(3)
    admin = cluster.admin()
    md = admin.describe_cluster().result(timeout=30)
    info = jcli(cluster, "cluster", "info")
    assert info["cluster_id"] == md.cluster_id
    assert info["controller_id"] == md.controller.id == cluster.controller_id()
    assert sorted(b["id"] for b in info["brokers"]) == sorted(n.id for n in md.nodes) == [1, 2, 3]

    cluster.create_topic("cj", partitions=3, rf=2, config={"min.insync.replicas": "2"})
    cluster.wait_full_isr("cj", 3)
    assert jcli(cluster, "topics", "describe", "cj", "--under-replicated-partitions") == []
    at_min = jcli(cluster, "topics", "describe", "cj", "--at-min-isr-partitions")
    assert sorted(p["partition"] for p in at_min) == [0, 1, 2]  # ISR 2 = min.insync 2

    # stop a broker: the partitions it held lose it from their ISR
    victim = 3
    parts = cluster.describe("cj")
    held_ids = [p for p in range(3) if victim in parts[p].replicas]
    assert held_ids  # rf=2 over 3 brokers: the victim holds some of the partitions
    cluster[victim].stop()
    wait_until(
        "ISR shrink",
        lambda: (
            {
                p["partition"]
                for p in jcli(cluster, "topics", "describe", "cj", "--under-replicated-partitions")
            }
            == set(held_ids)
        ),
    )
    under = jcli(cluster, "topics", "describe", "cj", "--under-replicated-partitions")
    kp = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        (theirs,) = kp.describe_topics(["cj"])
    finally:
        kp.close()
    kp_under = {
        p["partition_index"]
        for p in theirs["partitions"]
        if len(p["isr_nodes"]) < len(p["replica_nodes"])
    }
    assert {p["partition"] for p in under} == kp_under == set(held_ids)
    below = jcli(cluster, "topics", "describe", "cj", "--under-min-isr-partitions")
    assert {p["partition"] for p in below} == set(held_ids)
    assert jcli(cluster, "topics", "describe", "cj", "--unavailable-partitions") == []
    text = ok(josef(cluster.bootstrap, "topics", "describe", "cj", "--under-replicated-partitions"))
    assert len(text.splitlines()) == len(held_ids)
    cluster[victim].start()
    cluster.wait_full_isr("cj", 3)

    # elect-leaders (all partitions): afterwards every preferred replica leads
    elected = jcli(cluster, "elect-leaders", "--election-type", "PREFERRED",
                   "--all-topic-partitions")  # fmt: skip
    assert elected["election_type"] == "PREFERRED" and elected["failed"] == []
    assignment = cluster.zk_json("/brokers/topics/cj")["partitions"]

    def led_by_preferred(p: int) -> bool:
        state = cluster.partition_state("cj", p)
        return state is not None and state["leader"] == assignment[str(p)][0]

    wait_until("preferred leaders", lambda: all(led_by_preferred(p) for p in range(3)))
    again = jcli(cluster, "elect-leaders", "--election-type", "PREFERRED", "--topic", "cj",
                 "--partition", "0")  # fmt: skip
    assert again["not_needed"] == [{"topic": "cj", "partition": 0}] and again["elected"] == []

    # reassign: generate a plan onto brokers 1,2, execute it, verify
    move = tmp_path / "move.json"
    move.write_text(json.dumps({"version": 1, "topics": [{"topic": "cj"}]}))
    plan = jcli(cluster, "reassign", "--generate", "--topics-to-move-json-file", str(move),
                "--broker-list", "1,2")  # fmt: skip
    current = {(p["topic"], p["partition"]): p["replicas"] for p in plan["current"]["partitions"]}
    assert current == {
        ("cj", p): cluster.zk_json("/brokers/topics/cj")["partitions"][str(p)] for p in range(3)
    }
    proposed = plan["proposed"]
    assert all(set(p["replicas"]) == {1, 2} for p in proposed["partitions"])
    target = tmp_path / "target.json"
    target.write_text(json.dumps(proposed))
    started = jcli(cluster, "reassign", "--execute", "--reassignment-json-file", str(target))
    assert {(s["topic"], s["partition"]) for s in started["started"]} == {
        ("cj", p) for p in range(3)
    }

    def verified() -> bool:
        status = jcli(cluster, "reassign", "--verify", "--reassignment-json-file", str(target))
        return all(s["status"] == "completed" for s in status)

    wait_until("reassignment completed", verified, timeout=90)
    assert jcli(cluster, "reassign", "--list") == []
    final = cluster.describe("cj")
    assert all(set(final[p].replicas) == {1, 2} for p in range(3))
