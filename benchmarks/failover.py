"""Failover time of a 3-broker Josef cluster: from the loss of a partition's leader to the
first acks=all write acknowledged by the new leader, as a client sees it.

Two ways to lose the leader, each repeated ``--rounds`` times on an RF=3 topic with
min.insync.replicas=2 while a confluent-kafka producer (acks=all, idempotent) writes a
record every ``--interval-ms``:

* ``kill``: kill -9 of the leader. ZooKeeper notices after zookeeper.session.timeout.ms,
  the controller elects a new leader, the producer finds it (issue 7's target: within
  2 x zookeeper.session.timeout.ms);
* ``shutdown``: SIGTERM, i.e. controlled shutdown: the controller moves leadership before
  the broker leaves (target: within 1 s).

The cluster runs on a 3-node ZooKeeper ensemble on loopback (Debian's zookeeper package),
with the brokers and ensemble from tests/helpers. Run from the repository root:

    python benchmarks/failover.py [--rounds 3] [--session-timeout-ms 6000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers.josef_cluster import JosefCluster, wait_until  # noqa: E402
from helpers.zookeeper import ZooKeeperEnsemble  # noqa: E402


class Probe:
    """Writes one record at a time (acks=all) and records when each was acknowledged."""

    def __init__(self, bootstrap: str, topic: str, interval_s: float) -> None:
        from confluent_kafka import Producer

        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "log_level": 0,
            }
        )
        self.topic = topic
        self.interval_s = interval_s
        self.acks: list[tuple[float, int]] = []  # (monotonic ack time, offset)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _done(self, err: Any, msg: Any) -> None:
        if err is None:
            with self._lock:
                self.acks.append((time.monotonic(), msg.offset()))

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            self.producer.produce(self.topic, b"%d" % seq, partition=0, on_delivery=self._done)
            seq += 1
            self.producer.poll(self.interval_s)
        self.producer.flush(60)

    def first_ack_after(self, t: float, min_offset: int = 0) -> float | None:
        """The first ack after ``t`` of a record at ``min_offset`` or later."""
        with self._lock:
            return next((a for a, o in self.acks if a > t and o >= min_offset), None)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(90)


def epoch_start(cluster: JosefCluster, broker: int, topic: str, epoch: int) -> int | None:
    """Start offset of ``epoch`` in the broker's leader-epoch-checkpoint."""
    path = cluster[broker].partition_dir(topic, 0) / "leader-epoch-checkpoint"
    try:
        lines = path.read_text().split("\n")[2:]
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and int(parts[0]) == epoch:
            return int(parts[1])
    return None


def measure(
    cluster: JosefCluster, topic: str, partitions: int, probe: Probe, how: str
) -> float:
    """Loss of the leader → ack of the first record written at the new leader's epoch."""
    before = cluster.partition_state(topic, 0)
    assert before is not None
    leader = int(before["leader"])
    t = time.monotonic()
    wait_until("acks before the failover", lambda: probe.first_ack_after(t) is not None)
    t0 = time.monotonic()
    if how == "kill":
        cluster[leader].kill()
    else:
        stopper = threading.Thread(target=cluster[leader].stop, daemon=True)
        stopper.start()
    after = cluster.wait_state(
        topic, 0, lambda s: s["leader"] not in (-1, leader), "a new leader", timeout=120
    )
    found = wait_until(
        "the new epoch's start offset",
        lambda: [epoch_start(cluster, int(after["leader"]), topic, int(after["leader_epoch"]))]
        if epoch_start(cluster, int(after["leader"]), topic, int(after["leader_epoch"]))
        is not None
        else None,
    )
    start = found[0]
    assert start is not None
    ack = wait_until(
        "an ack from the new leader", lambda: probe.first_ack_after(t0, start), timeout=120
    )
    if how != "kill":
        stopper.join(60)
    took = ack - t0
    cluster[leader].start()
    cluster.wait_full_isr(topic, partitions, timeout=180)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--interval-ms", type=int, default=10)
    parser.add_argument(
        "--partitions", type=int, default=1, help="partitions of the topic (the probe writes to 0)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the broker logs and data")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="josef-failover-")
    if args.keep:
        print(f"brokers and ZooKeeper under {tmp}")
    try:
        ensemble = ZooKeeperEnsemble(Path(tmp) / "zk", size=3).start()
        cluster = JosefCluster(
            Path(tmp) / "cluster",
            ensemble.connect_string("/josef"),
            3,
            overrides={"zookeeper.session.timeout.ms": str(args.session_timeout_ms)},
        )
        try:
            cluster.start()
            topic = "failover"
            cluster.create_topic(
                topic, args.partitions, 3, config={"min.insync.replicas": "2"}
            )
            probe = Probe(cluster.bootstrap, topic, args.interval_ms / 1000).start()
            results: dict[str, list[float]] = {"kill": [], "shutdown": []}
            try:
                for _ in range(args.rounds):
                    for how in ("kill", "shutdown"):
                        took = measure(cluster, topic, args.partitions, probe, how)
                        results[how].append(took)
                        print(f"{how:9s} {took * 1000:8.0f} ms", flush=True)
            finally:
                probe.stop()
            print(
                f"\nzookeeper.session.timeout.ms={args.session_timeout_ms}, "
                f"{args.partitions} partition(s)"
            )
            for how, values in results.items():
                print(
                    f"{how:9s} median {statistics.median(values) * 1000:.0f} ms, "
                    f"max {max(values) * 1000:.0f} ms over {len(values)} rounds"
                )
        finally:
            cluster.close()
            ensemble.close()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
