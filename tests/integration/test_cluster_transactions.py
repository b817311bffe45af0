"""Transactions on a 3-broker cluster: markers reach partitions led by other brokers
(WriteTxnMarkers), and the transaction coordinator moves with leadership of its
``__transaction_state`` partition when its broker dies."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from helpers.cluster_fixtures import ClusterFactory
from helpers.josef_cluster import JosefCluster, wait_until

TXN_CLUSTER = {
    "transaction.state.log.num.partitions": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
}


def read_partition(
    cluster: JosefCluster, topic: str, partition: int, isolation: str
) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": f"r-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    out: list[bytes] = []
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    break
                continue
            out.append(m.value())
        return out
    finally:
        c.close()


def test_markers_reach_every_leader_and_the_coordinator_fails_over(
    josef_cluster: ClusterFactory,
) -> None:
    cluster = josef_cluster(3, TXN_CLUSTER)
    cluster.create_topic("ledger", partitions=3, rf=3, assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])
    p = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "ledger-app"})
    p.init_transactions(60)
    p.begin_transaction()
    for part in range(3):
        p.produce("ledger", f"commit-{part}".encode(), partition=part)
    p.commit_transaction(60)
    p.begin_transaction()
    for part in range(3):
        p.produce("ledger", f"abort-{part}".encode(), partition=part)
    p.flush(60)
    p.abort_transaction(60)
    for part in range(3):
        assert read_partition(cluster, "ledger", part, "read_committed") == [
            f"commit-{part}".encode()
        ]
        assert read_partition(cluster, "ledger", part, "read_uncommitted") == [
            f"commit-{part}".encode(),
            f"abort-{part}".encode(),
        ]
    # Kill the broker leading the transactional id's __transaction_state partition: a
    # surviving replica takes over, loads the state and serves the same producer id.
    # The coordinator of "ledger-app" is the leader of its partition.
    index = _partition_for("ledger-app", 3)
    coord_id = cluster.leader_of("__transaction_state", index)
    cluster[coord_id].kill()
    wait_until(
        "a new transaction coordinator",
        lambda: cluster.leader_of("__transaction_state", index) not in (coord_id, -1),
        timeout=60,
    )
    p2 = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "ledger-app"})
    p2.init_transactions(60)
    p2.begin_transaction()
    for part in range(3):
        p2.produce("ledger", f"after-{part}".encode(), partition=part)
    p2.commit_transaction(60)
    for part in range(3):
        assert read_partition(cluster, "ledger", part, "read_committed") == [
            f"commit-{part}".encode(),
            f"after-{part}".encode(),
        ]


def _partition_for(key: str, n: int) -> int:
    h = 0
    for unit in key.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % n


@pytest.mark.parametrize("commit", [True, False], ids=["prepare-commit", "prepare-abort"])
def test_prepared_transaction_survives_kill_9_of_the_coordinator(
    josef_cluster: ClusterFactory, commit: bool
) -> None:
    """The coordinator writes PrepareCommit (PrepareAbort) and answers EndTxn, but cannot
    deliver the marker (the data partition's only replica is paused); it is then killed -9.
    Restarted, it loads the prepared state from __transaction_state and sends the marker
    again: the transaction ends as decided and the partition's LSO moves past it."""
    cluster = josef_cluster(
        2,
        {
            "transaction.state.log.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
        },
    )
    cluster.create_topic("pending", partitions=1, rf=1, assignment=[[2]])
    warm = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "warm-up"})
    warm.init_transactions(60)  # creates __transaction_state
    leaders = cluster.wait_leaders("__transaction_state", 4)
    # A transactional id coordinated by broker 1 (the data lives on broker 2).
    tid = next(f"pc-{i}" for i in range(1000) if leaders[_partition_for(f"pc-{i}", 4)] == 1)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": tid})
    p.init_transactions(60)
    p.begin_transaction()
    p.produce("pending", b"decided", partition=0)
    p.flush(60)
    cluster[2].pause()
    try:
        # PrepareCommit/PrepareAbort written: the outcome is decided.
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    finally:
        cluster[1].kill()
        cluster[2].resume()
    assert read_partition(cluster, "pending", 0, "read_uncommitted") == [b"decided"]
    # No marker yet: the decided transaction still holds the last stable offset.
    assert committed_end(cluster, "pending") == 0
    cluster.wait_registered({2})  # the killed broker's ZooKeeper session has expired
    cluster[1].start()
    wait_until("the marker", lambda: committed_end(cluster, "pending") == 2, timeout=90)
    expected = [b"decided"] if commit else []
    assert read_partition(cluster, "pending", 0, "read_committed") == expected


def committed_end(cluster: JosefCluster, topic: str) -> int:
    """The partition's last stable offset (ListOffsets latest under read_committed)."""
    c = Consumer(
        {"bootstrap.servers": cluster.bootstrap, "group.id": "lso",
         "isolation.level": "read_committed"}
    )  # fmt: skip
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        c.close()
