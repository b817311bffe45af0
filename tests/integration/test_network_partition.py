"""Network partitions: a partition leader cut off from its followers, the controller and
ZooKeeper (every broker runs in its own network namespace; tests/helpers/netns.py).

Kafka's guarantees, checked with a producer on each side of the cut:
- the isolated leader cannot acknowledge ``acks=all`` writes (it can neither replicate nor
  shrink its ISR without the controller), so none of them is acknowledged;
- ``acks=1`` writes it acknowledges are the ones Kafka documents as lost: after the cut
  heals it rejoins as a follower of the new leader and truncates them;
- on the majority side the controller elects a new leader once the isolated broker's
  ZooKeeper session expires, and writes continue; every record acknowledged with acks=all
  is read back exactly once, in order, and the replicas end byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from helpers import netns
from helpers.josef_cluster import FAST_CLUSTER, JosefCluster, wait_until
from helpers.zookeeper import ZooKeeperEnsemble

TOPIC = "split"

ISOLATED_PRODUCER = textwrap.dedent(
    """
    import json, sys
    from confluent_kafka import Producer
    bootstrap, prefix, acks, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    acked = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "message.timeout.ms": 12000,
                  "retries": 0, "socket.timeout.ms": 3000})
    for i in range(count):
        p.produce("split", value=f"{prefix}-{i}".encode(),
                  on_delivery=lambda e, m: acked.append(m.value().decode()) if e is None else None)
    p.flush(30)
    print(json.dumps(acked))
    """
)


@pytest.fixture
def lab() -> Iterator[netns.NetnsLab]:
    reason = netns.available()
    if reason is not None:
        pytest.skip(reason)
    lab = netns.NetnsLab()
    try:
        yield lab
    finally:
        lab.close()


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.log")):
        h.update(f.read_bytes())
    return h.hexdigest()


def read_partition(bootstrap: str, count_hint: int, timeout: float = 60.0) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"audit-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    c.assign([TopicPartition(TOPIC, 0, 0)])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == -191 and len(out) >= count_hint:  # _PARTITION_EOF
                    break
                continue
            out.append(msg.value())
    finally:
        c.close()
    return out


def test_isolated_leader_loses_only_what_kafka_says(tmp_path: Path, lab: netns.NetnsLab) -> None:
    hosts = {i: lab.add_host(f"b{i}") for i in (1, 2, 3)}
    ensemble = ZooKeeperEnsemble(tmp_path / "zk", size=3, client_host=lab.gateway).start()
    cluster = JosefCluster(tmp_path, ensemble.connect_string("/split"), size=0)
    try:
        overrides = {
            "zookeeper.connect": cluster.zk_connect,
            **FAST_CLUSTER,
            "replica.lag.time.max.ms": "4000",
        }
        for i, host in hosts.items():
            cluster.brokers[i] = netns.NetnsBroker(tmp_path / f"b{i}", host, i, overrides)
        cluster.start()
        cluster.create_topic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})
        leader = cluster.wait_leaders(TOPIC, 1)[0]
        cluster.wait_isr(TOPIC, 0, {1, 2, 3})

        acked: list[bytes] = []
        errors: list[str] = []
        stop = threading.Event()
        majority = ",".join(cluster[i].bootstrap for i in (1, 2, 3) if i != leader)

        def produce_on_majority_side() -> None:
            p = Producer(
                {
                    "bootstrap.servers": majority,
                    "acks": "all",
                    "enable.idempotence": True,
                    "message.timeout.ms": 120000,
                }
            )

            def done(err: Any, msg: Any) -> None:
                if err is None:
                    acked.append(msg.value())
                else:
                    errors.append(str(err))

            i = 0
            while not stop.is_set():
                p.produce(TOPIC, value=b"main-%05d" % i, on_delivery=done)
                p.poll(0)
                i += 1
                time.sleep(0.01)
            p.flush(120)

        producer = threading.Thread(target=produce_on_majority_side)
        producer.start()
        wait_until("some acknowledged records", lambda: len(acked) >= 50)

        lab.cut(f"b{leader}")
        script = tmp_path / "isolated.py"
        script.write_text(ISOLATED_PRODUCER)
        leader_addr = cluster[leader].bootstrap
        runs: dict[str, list[str]] = {}

        def isolated(acks: str, prefix: str) -> None:
            done = lab.run_in(
                f"b{leader}", [sys.executable, str(script), leader_addr, prefix, acks, "20"],
                timeout=90,
            )
            runs[prefix] = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout else []

        sides = [
            threading.Thread(target=isolated, args=("all", "iso-all")),
            threading.Thread(target=isolated, args=("1", "iso-one")),
        ]
        for t in sides:
            t.start()
        # The majority elects a new leader once the isolated broker's session expires.
        new_leader = wait_until(
            "a new leader on the majority side",
            lambda: (s := cluster.partition_state(TOPIC, 0)) is not None
            and s["leader"] not in (leader, -1)
            and s["leader"],
            timeout=60,
        )
        for t in sides:
            t.join(120)
        assert runs.get("iso-all") == [], "the isolated leader acknowledged acks=all writes"
        lab.heal(f"b{leader}")
        # The old leader re-registers, follows the new leader and truncates what it alone had.
        cluster.wait_isr(TOPIC, 0, {1, 2, 3}, timeout=90)
        time.sleep(1)
        stop.set()
        producer.join(150)
        assert not errors, errors[:5]
        assert cluster.partition_state(TOPIC, 0)["leader"] == new_leader  # type: ignore[index]

        records = read_partition(cluster.bootstrap, len(acked))
        main_records = [r for r in records if r.startswith(b"main-")]
        assert sorted(set(main_records)) == sorted(set(acked)), "acknowledged records lost"
        assert len(main_records) == len(set(main_records)), "duplicates"
        assert main_records == sorted(main_records), "order"
        assert not [r for r in records if r.startswith(b"iso-all")]
        # acks=1 records the isolated leader took are gone (Kafka's documented loss).
        assert not [r for r in records if r.startswith(b"iso-one")]

        def identical() -> bool:
            return len({digest(b.partition_dir(TOPIC, 0)) for b in cluster}) == 1

        wait_until("byte-identical replicas", identical, timeout=60)
    finally:
        cluster.close()
        ensemble.close()
