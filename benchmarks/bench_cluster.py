"""Three-broker clusters of one peer (Josef or Kafka) on one ZooKeeper chroot, loopback.

A cluster looks like one broker to compare.run_target (start, wait_ready, stop, bootstrap,
cpu_seconds, alive, log_tail), so the RF=3 workloads are the single-node ones on a topic
with ``replication.factor=3`` and ``min.insync.replicas=2``. It also measures failover
(failover_probe.py): the partition leader is stopped with kill -9 or SIGTERM (controlled
shutdown), the time until a survivor acknowledges an ``acks=all`` write is taken, then the
stopped broker is started again and the ISR waited for, so every run starts full.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brokers import STARTUP_TIMEOUT_S, BrokerFailed, BrokerProcess
from failover_probe import FailoverResult, ProduceProbe, probe_until_written, signal_name

CLUSTER_SIZE = 3
MIN_INSYNC_REPLICAS = 2
# Both peers get these (Kafka's keys): a short session so a kill -9 failover takes
# seconds, not Kafka's default 18 s; no automatic preferred-leader moves mid-run.
SESSION_TIMEOUT_MS = 6000
CLUSTER_SETTINGS = {
    "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
    "auto.leader.rebalance.enable": "false",
    "offsets.topic.replication.factor": "3",
    "group.initial.rebalance.delay.ms": "0",
}
FAILOVER_TARGET_KILL_S = 2 * SESSION_TIMEOUT_MS / 1000
FAILOVER_TARGET_SIGTERM_S = 1.0
FAILOVER_TIMEOUT_S = 6 * SESSION_TIMEOUT_MS / 1000


class BenchCluster:
    """Brokers 1..3 of one peer; ``name`` is e.g. ``josef-rf3``."""

    def __init__(self, name: str, brokers: dict[int, BrokerProcess], zk_connect: str) -> None:
        self.name = name
        self.brokers = brokers
        self.zk_connect = zk_connect
        self._zk: Any = None
        first = next(iter(brokers.values()))
        self.argv = first.argv
        self.log_path = Path(", ".join(str(b.log_path) for b in brokers.values()))

    # -- the BrokerProcess surface -----------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers.values() if b.alive())

    @property
    def pid(self) -> int | None:
        return None  # no single process to profile

    def start(self) -> None:
        for b in self.brokers.values():
            b.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        for b in self.brokers.values():
            b.wait_ready()  # each broker's own start-up timeout
        timeout = timeout or 2 * STARTUP_TIMEOUT_S
        deadline = time.monotonic() + timeout
        while self.registered() != set(self.brokers):
            if time.monotonic() > deadline:
                raise BrokerFailed(
                    next(iter(self.brokers.values())),
                    f"{self.name}: registered {sorted(self.registered())} after {timeout:.0f} s",
                )
            time.sleep(0.2)

    def stop(self) -> None:
        # kill -9: the data is thrown away, and the last broker of a cluster would spend
        # controlled.shutdown.max.retries x backoff failing to hand its leadership on
        for b in self.brokers.values():
            b.signal(signal.SIGKILL)
        for b in self.brokers.values():
            b.stop()
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()
            self._zk = None

    def alive(self) -> bool:
        return all(b.alive() for b in self.brokers.values())

    def cpu_seconds(self) -> float:
        return sum(b.cpu_seconds() for b in self.brokers.values())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- {b.name} ({b.log_path}) -----\n{b.log_tail(lines // 2)}"
            for b in self.brokers.values()
        )

    # -- ZooKeeper views -------------------------------------------------------------
    def zk(self) -> Any:
        if self._zk is None:
            from kazoo.client import KazooClient

            self._zk = KazooClient(hosts=self.zk_connect, timeout=10.0)
            self._zk.start(timeout=15)
        return self._zk

    def registered(self) -> set[int]:
        zk = self.zk()
        if not zk.exists("/brokers/ids"):
            return set()
        return {int(c) for c in zk.get_children("/brokers/ids")}

    def partition_state(self, topic: str, partition: int = 0) -> dict[str, Any] | None:
        path = f"/brokers/topics/{topic}/partitions/{partition}/state"
        zk = self.zk()
        if not zk.exists(path):
            return None
        data, _ = zk.get(path)
        return dict(json.loads(data))

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {what} after {timeout:.0f} s")
            time.sleep(0.1)

    def wait_full_isr(self, topic: str, timeout: float = 120.0) -> int:
        """Wait until the ISR holds every replica and the leader is alive; the leader."""

        def full() -> bool:
            state = self.partition_state(topic)
            return (
                state is not None
                and len(state["isr"]) == CLUSTER_SIZE
                and state["leader"] in self.brokers
                and self.brokers[state["leader"]].alive()
            )

        self.wait_for(f"{topic} ISR not full", full, timeout)
        state = self.partition_state(topic)
        assert state is not None
        return int(state["leader"])

    # -- failover ----------------------------------------------------------------------
    def failover(self, topic: str, sig: signal.Signals) -> dict[str, Any]:
        """Stop the leader of ``topic``-0 with ``sig``; time to the first acknowledged
        ``acks=all`` write on a survivor. The broker is started again afterwards."""
        leader = self.wait_full_isr(topic)
        survivors = {i: b for i, b in self.brokers.items() if i != leader}
        probes = {i: ProduceProbe("127.0.0.1", b.port) for i, b in survivors.items()}
        result = FailoverResult(signal_name(sig), leader)
        old = self.brokers[leader]
        try:
            for p in probes.values():  # connections open before the clock starts
                p.connect()
            t0 = time.perf_counter()
            old.signal(sig)
            probe_until_written(
                probes, topic, t0, FAILOVER_TIMEOUT_S, result, lambda: not old.alive()
            )
            old.wait_exit(FAILOVER_TIMEOUT_S)
            if result.old_leader_exit_s is None:
                result.old_leader_exit_s = time.perf_counter() - t0
        finally:
            for p in probes.values():
                p.close()
        # bring it back and wait until it has caught up, for the next run
        old.start()
        old.wait_ready()
        self.wait_full_isr(topic)
        if result.seconds is None:
            raise TimeoutError(
                f"no acks=all write acknowledged within {FAILOVER_TIMEOUT_S:.0f} s "
                f"(errors {dict(result.errors)})"
            )
        return result.as_dict()
