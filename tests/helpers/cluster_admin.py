"""Helpers for the cluster administration tests: Kafka's own command-line tools from the
cached 3.9.1 jars, raw requests to one chosen broker, and a producer that records what
was acknowledged."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

KAFKA_LIBS = Path(os.environ.get("JOSEF_KAFKA_LIBS", "/work/cache/kafka-3.9.1/libs"))
JAVA_TIMEOUT_S = 120.0


def kafka_tool(main_class: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of Kafka's tools (``org.apache.kafka.tools.LeaderElectionCommand`` ...)."""
    if not (KAFKA_LIBS / "kafka-tools-3.9.1.jar").exists():
        pytest.skip(f"Kafka 3.9.1 jars not found in {KAFKA_LIBS}")
    return subprocess.run(
        [
            "java",
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-Dlog4j.configuration=file:/dev/null",
            "-cp",
            f"{KAFKA_LIBS}/*",
            main_class,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=JAVA_TIMEOUT_S,
        check=False,
    )


def broker_request(port: int, api_key: int, body: dict[str, Any]) -> dict[str, Any]:
    """One request to the broker on ``127.0.0.1:port`` (not routed: for checking what
    each broker answers); the response as plain dicts."""
    from broker.admin.client import BrokerConnection

    with BrokerConnection("127.0.0.1", port) as conn:
        _v, plain = conn.request(api_key, body)
    return plain


class AckedProducer:
    """confluent-kafka idempotent acks=all producer on a thread, sending ``seq-<n>`` values
    round robin over ``partitions`` (about a thousand a second) until stopped; keeps what
    was acknowledged."""

    def __init__(self, bootstrap: str, topic: str, partitions: Sequence[int]) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.partitions = list(partitions)
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120_000,
            }
        )
        self.acked: dict[int, list[bytes]] = {p: [] for p in self.partitions}
        self.errors: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _done(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acked[msg.partition()].append(msg.value())

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            partition = self.partitions[n % len(self.partitions)]
            try:
                self.producer.produce(
                    self.topic, value=b"seq-%08d" % n, partition=partition, on_delivery=self._done
                )
                n += 1
            except BufferError:
                pass
            # About a thousand records a second: a steady load, not a backlog to flush.
            self.producer.poll(0.001 if n % 10 else 0.01)
        self.sent = n

    def start(self) -> AckedProducer:
        self._thread.start()
        return self

    def count(self) -> int:
        return sum(len(v) for v in self.acked.values())

    def wait_acked(self, at_least: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.count() >= at_least, f"only {self.count()} records acknowledged"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        remaining = self.producer.flush(120)
        assert remaining == 0, f"{remaining} records never acknowledged"


def consume_partition(bootstrap: str, topic: str, partition: int, count: int) -> list[bytes]:
    """Read ``count`` records from the start of one partition (confluent-kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
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
