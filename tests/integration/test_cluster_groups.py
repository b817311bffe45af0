"""Consumer groups on a cluster: the group coordinator moves with leadership of its
``__consumer_offsets`` partition (RF=3), committed offsets survive the loss of the
coordinator's broker, and a rolling restart (SIGTERM one broker at a time, controlled
shutdown) under produce/consume load loses nothing and shows clients only retriable errors.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import KafkaConsumer


def produce_all(cluster: JosefCluster, topic: str, values: list[bytes]) -> None:
    p = Producer(
        {"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True}
    )
    failed: list[str] = []
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda e, _m: failed.append(str(e)) if e else None)
    assert p.flush(60) == 0 and not failed, failed


def group_coordinator(cluster: JosefCluster, group: str) -> int:
    def find() -> int | None:
        admin = cluster.admin()
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(10)
        return int(desc.coordinator.id)

    return wait_until(f"the coordinator of {group}", find, timeout=60)


def consume(conf: dict[str, Any], topic: str, count: int, timeout: float = 90.0) -> list[bytes]:
    c = Consumer(conf)
    c.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            out.append(msg.value())
            c.commit(message=msg, asynchronous=False)
    finally:
        c.close()
    return out


def test_offsets_survive_the_coordinators_broker(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("orders", partitions=3, rf=3)
    values = [b"o-%03d" % i for i in range(300)]
    produce_all(cluster, "orders", values)
    conf = {
        "bootstrap.servers": cluster.bootstrap,
        "group.id": "billing",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    }
    first = consume(conf, "orders", 120)
    assert len(first) == 120
    offsets = cluster.describe("__consumer_offsets")
    assert len(offsets) == 6 and all(len(p.replicas) == 3 for p in offsets.values())
    coordinator = group_coordinator(cluster, "billing")
    cluster[coordinator].kill()
    # Another broker takes over the group's partition and loads the commits.
    assert group_coordinator(cluster, "billing") != coordinator
    rest = consume({**conf, "bootstrap.servers": cluster.bootstrap}, "orders", 180)
    assert sorted(first + rest) == values
    # kafka-python sees the same committed positions (nothing left to read).
    kc = KafkaConsumer(
        "orders",
        bootstrap_servers=cluster.bootstrap,
        group_id="billing",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=8000,
    )
    leftover = [m.value for m in kc]
    kc.close()
    assert leftover == []


def test_rolling_restart_under_load_loses_nothing(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(3)
    cluster.create_topic("events", partitions=3, rf=3, config={"min.insync.replicas": "2"})
    stop = threading.Event()
    produced = threading.Event()  # the producer has flushed: ``acked`` is final
    acked: list[bytes] = []
    errors: list[str] = []
    bootstrap = cluster.bootstrap

    def produce() -> None:
        p = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )

        def done(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"produce: {err}")
            else:
                acked.append(msg.value())

        i = 0
        while not stop.is_set():
            p.produce("events", value=b"e-%06d" % i, on_delivery=done)
            i += 1
            p.poll(0)
            time.sleep(0.002)
        p.flush(60)
        produced.set()

    consumed: list[bytes] = []

    def consume_loop() -> None:
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "rolling",
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
            }
        )
        c.subscribe(["events"])
        while not produced.is_set() or len(consumed) < len(acked):
            msg = c.poll(0.2)
            if msg is None:
                if stop.is_set() and time.monotonic() > drain_deadline[0]:
                    break
                continue
            err = msg.error()
            if err is not None:
                if not (err.retriable() or err.code() == KafkaError._PARTITION_EOF):
                    errors.append(f"consume: {err}")
                continue
            consumed.append(msg.value())
        c.close()

    drain_deadline = [float("inf")]
    threads = [threading.Thread(target=produce), threading.Thread(target=consume_loop)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        for broker_id in (1, 2, 3):
            cluster[broker_id].stop()  # SIGTERM: controlled shutdown, exit 0
            time.sleep(1)
            cluster[broker_id].start()
            cluster.wait_fully_replicated()
        time.sleep(2)
    finally:
        stop.set()
        drain_deadline[0] = time.monotonic() + 60
        for t in threads:
            t.join(120)
    assert not errors, errors[:10]
    assert len(acked) > 100
    assert set(acked) <= set(consumed), f"{len(set(acked) - set(consumed))} acked not consumed"


def test_offsets_topic_waits_for_enough_brokers(josef_cluster: ClusterFactory) -> None:
    """With one broker of three alive, __consumer_offsets (offsets.topic.replication.factor
    3) cannot be created: FindCoordinator answers COORDINATOR_NOT_AVAILABLE, the broker logs
    why once, and groups work as soon as the other two have started."""
    from helpers.raw import RawConn, string

    cluster = josef_cluster(3, start=False)
    first = cluster[1]
    first.launch()
    first.wait_ready(60)
    cluster.wait_registered({1})
    cluster.wait_controller()
    with RawConn(first.host, first.port, timeout=30) as c:
        codes = [c.request(10, 0, string("early")).i16() for _ in range(5)]
    assert codes == [15] * 5  # COORDINATOR_NOT_AVAILABLE, every time
    line = "fewer than its replication factor 3 (offsets.topic.replication.factor)"
    assert first.log_path.read_text().count(line) == 1
    for b in (cluster[2], cluster[3]):
        b.launch()
    for b in (cluster[2], cluster[3]):
        b.wait_ready(60)
    cluster.wait_registered({1, 2, 3})
    cluster.wait_metadata_brokers({1, 2, 3})
    cluster.create_topic("late", partitions=1, rf=3)
    values = [b"l-%02d" % i for i in range(20)]
    produce_all(cluster, "late", values)
    got = consume(
        {"bootstrap.servers": cluster.bootstrap, "group.id": "early",
         "auto.offset.reset": "earliest", "enable.auto.commit": False},
        "late", len(values),
    )
    assert got == values
    kp = KafkaConsumer(
        "late", bootstrap_servers=cluster.bootstrap, group_id="early-kp",
        auto_offset_reset="earliest", consumer_timeout_ms=30000,
    )
    try:
        read = [m.value for _, m in zip(values, kp, strict=False)]
        kp.commit()
    finally:
        kp.close()
    assert read == values
