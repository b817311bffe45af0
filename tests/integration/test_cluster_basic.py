"""Cluster mode: three `josef start` processes joined through a real 3-node ZooKeeper
ensemble. Registration and the znodes an operator sees, replication of RF=3 topics with
real clients, and leader failover without losing acknowledged records.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import KafkaConsumer, KafkaProducer


def produce_confluent(cluster: JosefCluster, topic: str, values: list[bytes], **conf: Any) -> None:
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", **conf})
    errors: list[str] = []

    def done(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for v in values:
        p.produce(topic, value=v, on_delivery=done)
    assert p.flush(60) == 0
    assert not errors, errors


def consume_confluent(cluster: JosefCluster, topic: str, partition: int, count: int) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": f"check-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, partition, 0)])
    out: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = c.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            out.append(msg.value())
    finally:
        c.close()
    return out


def segment_digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.log")):
        h.update(f.read_bytes())
    return h.hexdigest()


def test_brokers_register_and_elect_a_controller(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    assert cluster.registered() == {1, 2, 3}
    controller = cluster.controller_id()
    assert controller in {1, 2, 3}
    cluster_id = cluster.zk_json("/cluster/id")
    assert cluster_id["version"] == "1" and len(cluster_id["id"]) == 22
    epoch = cluster.zk_json("/controller_epoch")
    assert isinstance(epoch, int) and epoch >= 1
    for b in cluster:
        reg = cluster.zk_json(f"/brokers/ids/{b.broker_id}")
        assert reg["endpoints"] == [f"PLAINTEXT://127.0.0.1:{b.port}"]
        assert reg["host"] == "127.0.0.1" and reg["port"] == b.port
        assert reg["version"] == 5 and reg["jmx_port"] == -1
        assert reg["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
        props = (b.data_dir / "meta.properties").read_text()
        assert f"cluster.id={cluster_id['id']}" in props
        assert f"broker.id={b.broker_id}" in props
    # Every broker reports all three brokers and the controller in Metadata.
    md = cluster.admin().list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    assert md.controller_id == controller


def test_rf3_topic_replicates_byte_for_byte(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("rep", partitions=3, rf=3, config={"min.insync.replicas": "2"})
    assignment = cluster.zk_json("/brokers/topics/rep")
    assert assignment["version"] == 3 and len(assignment["topic_id"]) == 22
    assert all(sorted(r) == [1, 2, 3] for r in assignment["partitions"].values())
    for p in range(3):
        state = cluster.partition_state("rep", p)
        assert state is not None and sorted(state["isr"]) == [1, 2, 3]
        assert state["leader"] == assignment["partitions"][str(p)][0]
    values = [b"c-%d" % i for i in range(300)]
    produce_confluent(cluster, "rep", values, **{"enable.idempotence": True})
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    for i in range(200):
        kp.send("rep", value=b"k-%d" % i, partition=i % 3)
    kp.flush(60)
    kp.close()
    got: list[bytes] = []
    assert len(cluster.describe("rep")) == 3
    kc = KafkaConsumer(
        "rep",
        bootstrap_servers=cluster.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
        enable_auto_commit=False,
    )
    for msg in kc:
        got.append(msg.value)
        if len(got) == 500:
            break
    kc.close()
    assert sorted(got) == sorted(values + [b"k-%d" % i for i in range(200)])

    # Followers catch up to identical segment bytes on every replica.
    def identical() -> bool:
        for p in range(3):
            digests = {segment_digest(b.partition_dir("rep", p)) for b in cluster}
            if len(digests) != 1:
                return False
        return True

    wait_until("identical replicas", identical, timeout=30)


def test_leader_failover_keeps_acknowledged_records(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("fo", partitions=1, rf=3, config={"min.insync.replicas": "2"})
    leader = cluster.wait_leaders("fo", 1)[0]
    first = [b"before-%d" % i for i in range(100)]
    produce_confluent(cluster, "fo", first, **{"enable.idempotence": True})
    cluster[leader].kill()
    new_leader = cluster.wait_leaders("fo", 1)[0]
    assert new_leader != leader
    state = cluster.partition_state("fo", 0)
    assert state is not None and state["leader"] == new_leader and leader not in state["isr"]
    second = [b"after-%d" % i for i in range(100)]
    produce_confluent(cluster, "fo", second, **{"enable.idempotence": True})
    assert consume_confluent(cluster, "fo", 0, 200) == first + second
    # The old leader comes back as a follower and catches up.
    cluster[leader].start()
    cluster.wait_isr("fo", 0, {1, 2, 3})


def test_sigterm_without_zookeeper_exits_promptly(
    tmp_path: Path, zk_ensemble_factory: Any
) -> None:
    """With the whole ensemble gone no controlled shutdown can happen: the broker says so
    and exits cleanly instead of retrying against a controller that cannot act."""
    ensemble = zk_ensemble_factory(1)
    cluster = JosefCluster(tmp_path, ensemble.connect_string("/nozk"), size=2)
    try:
        cluster.start()
        cluster.create_topic("t", 1, 2)
        ensemble.stop()
        b = cluster[1]
        started = time.monotonic()
        assert b.stop(timeout=25) == 0
        assert time.monotonic() - started < 25
        assert "controlled shutdown skipped: not connected to ZooKeeper" in b.log_text()
    finally:
        cluster.close()
