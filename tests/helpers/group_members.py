"""Consumer-group members of every client, each on its own thread, for group tests.

A member subscribes, processes records (appends (partition, offset, value) to
``processed``) and commits synchronously after each processed batch, so every
record is processed at least once. ``assignment`` is its current partition set.
``stop()`` closes the consumer cleanly (LeaveGroup, except static librdkafka members).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any


class Member(threading.Thread):
    def __init__(self, client: str, bootstrap: str, topic: str, group: str, **conf: Any) -> None:
        super().__init__(daemon=True, name=f"{client}-member")
        self.client = client
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.conf = conf
        self.assignment: frozenset[int] = frozenset()
        self.processed: list[tuple[int, int, bytes]] = []
        self.assign_events: list[tuple[str, frozenset[int]]] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def stop(self, timeout: float = 30.0) -> None:
        self._halt.set()
        self.join(timeout)
        assert not self.is_alive(), f"{self.client} member did not stop"
        if self.error is not None:
            raise AssertionError(f"{self.client} member failed: {self.error!r}")

    def run(self) -> None:
        try:
            if self.client == "kafka-python":
                self._run_kafka_python()
            elif self.client == "aiokafka":
                asyncio.run(self._run_aiokafka())
            else:
                self._run_confluent()
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            with self.lock:
                self.assignment = frozenset()

    def _record(self, items: list[tuple[int, int, bytes]]) -> None:
        with self.lock:
            self.processed.extend(items)

    def _run_kafka_python(self) -> None:
        from kafka import KafkaConsumer

        c = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=self.conf.get("session_timeout_ms", 6000),
            heartbeat_interval_ms=500,
            max_poll_interval_ms=30000,
        )
        c.subscribe([self.topic])
        try:
            while not self._halt.is_set():
                batch = c.poll(200)
                items = [(tp.partition, m.offset, m.value) for tp, ms in batch.items() for m in ms]
                if items:
                    self._record(items)
                    # a failed commit (rebalance) means the records are processed again
                    with contextlib.suppress(Exception):
                        c.commit()
                with self.lock:
                    self.assignment = frozenset(tp.partition for tp in c.assignment())
        finally:
            c.close()

    async def _run_aiokafka(self) -> None:
        from aiokafka import AIOKafkaConsumer

        c = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=self.conf.get("session_timeout_ms", 6000),
            heartbeat_interval_ms=500,
        )
        await c.start()
        try:
            while not self._halt.is_set():
                batch = await c.getmany(timeout_ms=200)
                items = [(tp.partition, m.offset, m.value) for tp, ms in batch.items() for m in ms]
                if items:
                    self._record(items)
                    with contextlib.suppress(Exception):
                        await c.commit()
                with self.lock:
                    self.assignment = frozenset(tp.partition for tp in c.assignment())
        finally:
            await c.stop()

    def _run_confluent(self) -> None:
        from confluent_kafka import Consumer

        conf = {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": self.conf.get("session_timeout_ms", 6000),
            "heartbeat.interval.ms": 500,
        }
        conf.update(self.conf.get("extra", {}))
        c = Consumer(conf)

        def on_assign(consumer: Any, parts: Any) -> None:
            with self.lock:
                self.assign_events.append(("assign", frozenset(p.partition for p in parts)))

        def on_revoke(consumer: Any, parts: Any) -> None:
            with self.lock:
                self.assign_events.append(("revoke", frozenset(p.partition for p in parts)))

        c.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not self._halt.is_set():
                msgs = c.consume(100, 0.2)
                items = [(m.partition(), m.offset(), m.value()) for m in msgs if m.error() is None]
                if items:
                    self._record(items)
                    with contextlib.suppress(Exception):
                        c.commit(asynchronous=False)
                with self.lock:
                    self.assignment = frozenset(p.partition for p in c.assignment())
        finally:
            c.close()


def wait_balanced(members: list[Member], partitions: int, timeout: float = 45.0) -> None:
    """Until every partition is assigned to exactly one live member (and each has one)."""
    deadline = time.monotonic() + timeout
    last: list[frozenset[int]] = []
    while time.monotonic() < deadline:
        for m in members:
            if m.error is not None:
                raise AssertionError(f"{m.client} member failed: {m.error!r}")
        last = [m.assignment for m in members]
        union = frozenset().union(*last)
        disjoint = sum(len(a) for a in last) == len(union)
        if union == frozenset(range(partitions)) and disjoint and all(last):
            # stable for a moment (no rebalance in flight)
            time.sleep(1.0)
            if [m.assignment for m in members] == last:
                return
        time.sleep(0.1)
    raise AssertionError(
        "assignment not complete and disjoint: "
        + str([(m.client, sorted(a)) for m, a in zip(members, last, strict=False)])
    )
