"""A Josef cluster for integration tests: N ``josef start`` processes joined through a real
ZooKeeper ensemble (``zookeeper.connect`` with a chroot unique to the test).

``cluster = JosefCluster(tmp_path, zk_connect, size=3)`` makes brokers 1..N (not started);
``cluster.start()`` starts them all and waits until a controller is elected and every
broker is registered. Each broker keeps its port and data directory across restarts.
Helpers read the cluster's state through the Kafka protocol (confluent-kafka's
AdminClient) and through ZooKeeper (kazoo), the way an operator would.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from helpers.broker_process import BrokerProcess

T = TypeVar("T")

# Short timeouts keep failover tests fast; Kafka's defaults are 18 s / 30 s.
FAST_CLUSTER: dict[str, str] = {
    "zookeeper.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "6000",
    "replica.fetch.wait.max.ms": "100",
    "replica.fetch.backoff.ms": "200",
    "controlled.shutdown.retry.backoff.ms": "200",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "6",
    "auto.leader.rebalance.enable": "false",
}


def wait_until(
    what: str, check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll ``check`` until it returns a truthy value; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # a broker may be restarting: keep polling
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last_exc!r})")


class JosefCluster:
    """Brokers 1..size of one Josef cluster on loopback."""

    def __init__(
        self,
        workdir: Path,
        zk_connect: str,
        size: int = 3,
        overrides: dict[str, str] | None = None,
        per_broker: dict[int, dict[str, str]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.zk_connect = zk_connect
        self.brokers: dict[int, BrokerProcess] = {}
        for broker_id in range(1, size + 1):
            settings = {"zookeeper.connect": zk_connect, **FAST_CLUSTER, **(overrides or {})}
            settings.update((per_broker or {}).get(broker_id, {}))
            self.brokers[broker_id] = BrokerProcess(
                workdir / f"broker{broker_id}",
                settings,
                name=f"broker{broker_id}",
                broker_id=broker_id,
            )

    # -- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> JosefCluster:
        for b in self.brokers.values():
            b.launch()  # all at once: their imports and recovery overlap
        for b in self.brokers.values():
            b.wait_ready(timeout)
        self.wait_registered(set(self.brokers), timeout)
        self.wait_controller(timeout)
        self.wait_metadata_brokers(set(self.brokers), timeout)
        return self

    def wait_metadata_brokers(self, ids: set[int], timeout: float = 60.0) -> None:
        """Until every running broker's metadata (the controller's UpdateMetadata) lists
        ``ids`` as alive: a CreateTopics with an explicit assignment is checked against it,
        in Kafka as here, so a registered broker is not yet usable there."""
        from broker.admin.client import BrokerConnection

        def listed(b: BrokerProcess) -> set[int]:
            with BrokerConnection(b.host, b.port) as conn:
                _v, plain = conn.request(3, {"topics": [], "allow_auto_topic_creation": False})
            return {int(x["node_id"]) for x in plain["brokers"]}

        for b in self.running():
            wait_until(
                f"broker {b.broker_id} knows brokers {sorted(ids)}",
                lambda b=b: listed(b) == ids,
                timeout,
            )

    def close(self) -> None:
        """Stop every broker at once (each still shuts down cleanly)."""
        threads = [threading.Thread(target=b.close) for b in self.brokers.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __iter__(self) -> Iterator[BrokerProcess]:
        return iter(self.brokers.values())

    def __getitem__(self, broker_id: int) -> BrokerProcess:
        return self.brokers[broker_id]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers.values() if b.running)

    def running(self) -> list[BrokerProcess]:
        return [b for b in self.brokers.values() if b.running]

    def log_tails(self, lines: int = 60) -> str:
        return "\n".join(
            f"----- {b.name} ({b.log_path}) -----\n{b.log_tail(lines)}" for b in self
        )

    # -- ZooKeeper views (kazoo, like zkCli) --------------------------------------------

    @contextlib.contextmanager
    def zk(self) -> Iterator[Any]:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.zk_connect, timeout=10.0)
        client.start(timeout=15)
        try:
            yield client
        finally:
            client.stop()
            client.close()

    def zk_json(self, path: str) -> Any:
        with self.zk() as zk:
            if not zk.exists(path):
                return None
            data, _ = zk.get(path)
        return json.loads(data) if data else None

    def registered(self) -> set[int]:
        with self.zk() as zk:
            if not zk.exists("/brokers/ids"):
                return set()
            return {int(c) for c in zk.get_children("/brokers/ids")}

    def controller_id(self) -> int | None:
        doc = self.zk_json("/controller")
        return None if doc is None else int(doc["brokerid"])

    def partition_state(self, topic: str, partition: int) -> dict[str, Any] | None:
        doc = self.zk_json(f"/brokers/topics/{topic}/partitions/{partition}/state")
        return None if doc is None else dict(doc)

    def wait_registered(self, ids: set[int], timeout: float = 60.0) -> set[int]:
        return wait_until(f"brokers {sorted(ids)} registered", lambda: self.registered() == ids
                          and ids, timeout)

    def wait_controller(self, timeout: float = 60.0, not_in: set[int] | None = None) -> int:
        def check() -> int | None:
            cid = self.controller_id()
            if cid is None or (not_in and cid in not_in):
                return None
            return cid

        return wait_until("an active controller", check, timeout)

    # -- Kafka protocol views --------------------------------------------------------

    def admin(self, **conf: Any) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap, **conf})

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        rf: int = 3,
        config: dict[str, str] | None = None,
        timeout: float = 60.0,
        assignment: list[list[int]] | None = None,
    ) -> None:
        """Create a topic (``assignment``: explicit replicas per partition, first = preferred
        leader) and wait until every partition has a live leader."""
        from confluent_kafka.admin import NewTopic

        admin = self.admin()  # must outlive its futures
        if assignment is not None:
            partitions = len(assignment)
            new = NewTopic(
                name, partitions, replica_assignment=assignment, config=config or {}
            )
        else:
            new = NewTopic(name, partitions, rf, config=config or {})
        futures = admin.create_topics([new], request_timeout=timeout)
        futures[name].result(timeout=timeout)
        self.wait_leaders(name, partitions, timeout)

    def describe(self, topic: str) -> dict[int, Any]:
        md = self.admin().list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return {}
        return dict(t.partitions)

    def wait_leaders(self, topic: str, partitions: int, timeout: float = 60.0) -> dict[int, int]:
        """Every partition has a live leader in Metadata; returns partition → leader."""

        def check() -> dict[int, int] | None:
            parts = self.describe(topic)
            alive = {b.broker_id for b in self.running()}
            if len(parts) != partitions:
                return None
            leaders = {p: info.leader for p, info in parts.items()}
            return leaders if all(lead in alive for lead in leaders.values()) else None

        return wait_until(f"leaders of {topic}", check, timeout)

    def wait_isr(self, topic: str, partition: int, isr: set[int], timeout: float = 60.0) -> None:
        def check() -> bool:
            state = self.partition_state(topic, partition)
            return state is not None and set(state["isr"]) == isr

        wait_until(f"ISR {sorted(isr)} of {topic}-{partition}", check, timeout)

    def leader_of(self, topic: str, partition: int) -> int:
        """The leader in the partition's state znode (-1 when none)."""
        state = self.partition_state(topic, partition)
        return -1 if state is None else int(state["leader"])

    def wait_state(
        self,
        topic: str,
        partition: int,
        ok: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll the state znode until ``ok(state)``; returns that state."""

        def check() -> dict[str, Any] | None:
            state = self.partition_state(topic, partition)
            return state if state is not None and ok(state) else None

        return wait_until(f"{what} ({topic}-{partition})", check, timeout)

    def wait_full_isr(self, topic: str, partitions: int, timeout: float = 60.0) -> None:
        """Every partition's ISR holds all its replicas again."""
        replicas = self.zk_json(f"/brokers/topics/{topic}")["partitions"]
        for p in range(partitions):
            self.wait_isr(topic, p, set(replicas[str(p)]), timeout)

    def data_dirs(self) -> list[Path]:
        return [b.data_dir for b in self]

    def replica_data_dirs(self, topic: str, partition: int) -> list[Path]:
        """Data directories of the partition's assigned replicas (from ZooKeeper)."""
        replicas = self.zk_json(f"/brokers/topics/{topic}")["partitions"][str(partition)]
        return [self[b].data_dir for b in sorted(set(replicas))]

    def under_replicated(self) -> dict[str, tuple[list[int], list[int]]]:
        """``topic-partition`` → (replicas, ISR) of every partition whose ISR is short."""
        out: dict[str, tuple[list[int], list[int]]] = {}
        with self.zk() as zk:
            if not zk.exists("/brokers/topics"):
                return out
            for topic in zk.get_children("/brokers/topics"):
                data, _ = zk.get(f"/brokers/topics/{topic}")
                for p, replicas in json.loads(data)["partitions"].items():
                    path = f"/brokers/topics/{topic}/partitions/{p}/state"
                    if not zk.exists(path):
                        out[f"{topic}-{p}"] = (replicas, [])
                        continue
                    state = json.loads(zk.get(path)[0])
                    if sorted(state["isr"]) != sorted(replicas):
                        out[f"{topic}-{p}"] = (replicas, state["isr"])
        return out

    def wait_fully_replicated(self, timeout: float = 60.0) -> None:
        """No under-replicated partition (what an operator waits for in a rolling restart)."""
        wait_until("no under-replicated partitions", lambda: not self.under_replicated(), timeout)
