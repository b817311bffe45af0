"""Continuous produce load and exactly-once read-back checks for cluster failover tests.

A :class:`ProducerLoad` is one idempotent ``acks=all`` producer (confluent-kafka,
kafka-python or aiokafka) on a background thread that writes sequence-numbered values
``<tag>:<partition>:<seq>`` round-robin to every partition of a topic and remembers which
ones the broker acknowledged and which errors the client reported.

:func:`check_exactly_once` reads every partition back and checks the promise of an
idempotent ``acks=all`` producer across failovers: every acknowledged value is there
exactly once, nothing is there twice, and each producer's values keep their order within a
partition. :func:`replica_digests` compares the replicas' ``.log`` bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.josef_cluster import JosefCluster, wait_until

# Errors a producer may report and retry on its own while leadership moves (Kafka's
# RetriableException subclasses and librdkafka's transport-level codes).
RETRIABLE_NAMES = frozenset(
    {
        "NOT_LEADER_OR_FOLLOWER",
        "NOT_LEADER_FOR_PARTITION",
        "LEADER_NOT_AVAILABLE",
        "NOT_ENOUGH_REPLICAS",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "UNKNOWN_TOPIC_OR_PARTITION",
        "FENCED_LEADER_EPOCH",
        "UNKNOWN_LEADER_EPOCH",
        "_TRANSPORT",
        "_ALL_BROKERS_DOWN",
        "_TIMED_OUT",
        "_MSG_TIMED_OUT",
        "_RESOLVE",
        "KAFKA_STORAGE_ERROR",
    }
)


def value_of(tag: str, partition: int, seq: int) -> bytes:
    return f"{tag}:{partition}:{seq:09d}".encode()


def parse_value(value: bytes) -> tuple[str, int, int]:
    tag, partition, seq = value.decode().rsplit(":", 2)
    return tag, int(partition), int(seq)


@dataclass
class LoadResult:
    tag: str
    acked: dict[int, list[int]] = field(default_factory=dict)  # partition -> seqs
    failed: list[tuple[int, int, str]] = field(default_factory=list)  # (partition, seq, error)
    client_errors: list[str] = field(default_factory=list)  # error_cb / logs of the client
    sent: int = 0

    @property
    def acked_count(self) -> int:
        return sum(len(v) for v in self.acked.values())


class ProducerLoad:
    """One idempotent acks=all producer writing to every partition from a thread."""

    def __init__(
        self,
        client: str,
        bootstrap: str,
        topic: str,
        partitions: int,
        tag: str,
        *,
        interval_s: float = 0.004,
    ) -> None:
        self.client = client
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.result = LoadResult(tag)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"load-{tag}", daemon=True)
        self._crash: BaseException | None = None
        self.first_ack = threading.Event()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> ProducerLoad:
        self._thread.start()
        return self

    def stop(self, timeout: float = 120.0) -> LoadResult:
        """Stop sending, wait for every outstanding record to be acknowledged or failed."""
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"producer {self.result.tag} did not finish"
        if self._crash is not None:
            raise AssertionError(f"producer {self.result.tag} crashed: {self._crash!r}")
        for seqs in self.result.acked.values():
            seqs.sort()
        return self.result

    def acked_count(self) -> int:
        with self._lock:
            return self.result.acked_count

    def _ack(self, partition: int, seq: int) -> None:
        with self._lock:
            self.result.acked.setdefault(partition, []).append(seq)
        self.first_ack.set()

    def _fail(self, partition: int, seq: int, error: str) -> None:
        with self._lock:
            self.result.failed.append((partition, seq, error))

    def _run(self) -> None:
        try:
            {
                "confluent": self._run_confluent,
                "kafka-python": self._run_kafka_python,
                "aiokafka": self._run_aiokafka,
            }[self.client]()
        except BaseException as exc:  # reported by stop()
            self._crash = exc

    def _values(self) -> Iterable[tuple[int, int, bytes]]:
        seq = 0
        while not self._stop.is_set():
            for p in range(self.partitions):
                yield p, seq, value_of(self.result.tag, p, seq)
            seq += 1
            time.sleep(self.interval_s)

    # -- clients -------------------------------------------------------------------------

    def _run_confluent(self) -> None:
        from confluent_kafka import KafkaError, Producer

        def on_error(err: Any) -> None:
            self.result.client_errors.append(f"{err.name()}: {err.str()}")
            if err.fatal():
                self._stop.set()

        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 120_000,
                "retry.backoff.ms": 100,
                "error_cb": on_error,
            }
        )

        def delivered(err: Any, msg: Any) -> None:
            _, p, seq = parse_value(msg.value())
            if err is None:
                self._ack(p, seq)
            else:
                self._fail(p, seq, err.name() if isinstance(err, KafkaError) else str(err))

        for p, _seq, value in self._values():
            while True:
                try:
                    producer.produce(self.topic, value=value, partition=p, on_delivery=delivered)
                    self.result.sent += 1
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        left = producer.flush(110)
        if left:
            self.result.client_errors.append(f"{left} record(s) still queued after flush")

    def _run_kafka_python(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            retries=2_147_483_647,
            delivery_timeout_ms=120_000,
            request_timeout_ms=30_000,
            retry_backoff_ms=100,
        )
        try:
            for p, seq, value in self._values():
                future = producer.send(self.topic, value=value, partition=p)
                self.result.sent += 1
                future.add_callback(lambda _md, p=p, seq=seq: self._ack(p, seq))
                future.add_errback(
                    lambda exc, p=p, seq=seq: self._fail(p, seq, type(exc).__name__)
                )
            producer.flush(110)
        finally:
            producer.close(10)

    def _run_aiokafka(self) -> None:
        from aiokafka import AIOKafkaProducer

        async def main() -> None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                request_timeout_ms=30_000,
                retry_backoff_ms=100,
            )
            await producer.start()
            pending: set[asyncio.Future[Any]] = set()
            try:
                for p, seq, value in self._values():
                    fut = await producer.send(self.topic, value=value, partition=p)
                    self.result.sent += 1

                    def done(f: asyncio.Future[Any], p: int = p, seq: int = seq) -> None:
                        pending.discard(f)
                        if f.exception() is None:
                            self._ack(p, seq)
                        else:
                            self._fail(p, seq, type(f.exception()).__name__)

                    pending.add(fut)
                    fut.add_done_callback(done)
                    await asyncio.sleep(0)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.flush(), 110)
            finally:
                await producer.stop()

        asyncio.run(main())


# -- read-back -------------------------------------------------------------------------------


def read_partition(
    bootstrap: str, topic: str, partition: int, timeout: float = 60.0
) -> list[bytes]:
    """Every value of one partition from offset 0 up to its high watermark (confluent-kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"readback-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
            "fetch.max.bytes": 8 * 1024 * 1024,
        }
    )
    try:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout, cached=False
        )
        consumer.assign([TopicPartition(topic, partition, 0)])
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        next_offset = 0
        while next_offset < high:
            assert time.monotonic() < deadline, (
                f"read {topic}-{partition} up to {next_offset} of {high} before the deadline"
            )
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            out.append((msg.offset(), msg.value()))
            next_offset = msg.offset() + 1
        return [v for _, v in out]
    finally:
        consumer.close()


def read_partition_kafka_python(
    bootstrap: str, topic: str, partition: int, timeout: float = 60.0
) -> list[bytes]:
    """The same read with kafka-python (a second client's view of the same log)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tp = KTP(topic, partition)
        consumer.assign([tp])
        high = consumer.end_offsets([tp])[tp]
        consumer.seek(tp, 0)
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while consumer.position(tp) < high:
            assert time.monotonic() < deadline, f"kafka-python read of {topic}-{partition} stalled"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(r.value for r in records)
        return out
    finally:
        consumer.close()


def check_exactly_once(
    partitions: dict[int, list[bytes]], results: Iterable[LoadResult]
) -> dict[str, int]:
    """Every acknowledged value read back exactly once, per-partition order kept, nothing
    read twice. Returns counts for the report. Raises AssertionError with the details."""
    problems: list[str] = []
    counts = {"records": 0, "acked": 0, "unacked_present": 0}
    by_tag = {r.tag: r for r in results}
    for p, values in partitions.items():
        counts["records"] += len(values)
        dup = [v for v, n in Counter(values).items() if n > 1]
        if dup:
            problems.append(f"partition {p}: {len(dup)} value(s) twice, e.g. {dup[:3]}")
        last: dict[str, int] = {}
        present: dict[str, set[int]] = {}
        for v in values:
            tag, vp, seq = parse_value(v)
            if vp != p:
                problems.append(f"partition {p} holds {v!r}")
                continue
            if tag in last and seq <= last[tag]:
                problems.append(f"partition {p}: {tag} seq {seq} after {last[tag]} (order)")
            last[tag] = seq
            present.setdefault(tag, set()).add(seq)
        for tag, result in by_tag.items():
            acked = set(result.acked.get(p, []))
            got = present.get(tag, set())
            missing = sorted(acked - got)
            if missing:
                problems.append(
                    f"partition {p}: {len(missing)} acknowledged {tag} record(s) lost, "
                    f"e.g. seqs {missing[:5]}"
                )
            counts["acked"] += len(acked)
            counts["unacked_present"] += len(got - acked)
    assert not problems, "\n".join(problems[:30])
    return counts


def segment_digest(directory: Path) -> str:
    """SHA-256 over a partition directory's ``.log`` segments in offset order."""
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.log")):
        h.update(f.read_bytes())
    return h.hexdigest()


def replica_digests(data_dirs: Iterable[Path], topic: str, partition: int) -> set[str]:
    return {segment_digest(d / f"{topic}-{partition}") for d in data_dirs}


def wait_replicas_identical(
    cluster: JosefCluster, topic: str, partitions: int = 1, timeout: float = 60.0
) -> None:
    """Wait until every partition's assigned replicas hold the same ``.log`` bytes."""

    def identical() -> bool:
        return all(
            len(replica_digests(cluster.replica_data_dirs(topic, p), topic, p)) == 1
            for p in range(partitions)
        )

    wait_until(f"byte-identical replicas of {topic}", identical, timeout)


# -- one-shot produce with per-record outcomes ----------------------------------------------


def produce_confluent(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    *,
    partition: int = 0,
    acks: str = "all",
    retries: bool = True,
    timeout: float = 60.0,
) -> list[tuple[str | None, int]]:
    """Produce ``values`` in order; (error name or None, offset) per value."""
    from confluent_kafka import Producer

    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2}
    if not retries:
        conf.update({"retries": 0, "enable.idempotence": False})
    producer = Producer(conf)
    outcome: dict[bytes, tuple[str | None, int]] = {}

    def done(err: Any, msg: Any) -> None:
        outcome[msg.value()] = (None if err is None else err.name(), msg.offset())

    for v in values:
        producer.produce(topic, value=v, partition=partition, on_delivery=done)
    assert producer.flush(timeout) == 0, "records still queued"
    return [outcome[v] for v in values]


def produce_kafka_python(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    *,
    partition: int = 0,
    acks: str | int = "all",
    retries: bool = True,
    timeout: float = 60.0,
) -> list[tuple[str | None, int]]:
    """kafka-python: (exception class name or None, offset) per value."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=acks,
        retries=2_147_483_647 if retries else 0,
        enable_idempotence=retries,
        linger_ms=2,
    )
    try:
        futures = [producer.send(topic, value=v, partition=partition) for v in values]
        producer.flush(timeout)
        out: list[tuple[str | None, int]] = []
        for f in futures:
            try:
                md = f.get(timeout)
                out.append((None, md.offset))
            except Exception as exc:
                out.append((type(exc).__name__, -1))
        return out
    finally:
        producer.close(10)
