"""The benchmark workloads, run with the confluent-kafka client against any broker."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.queues
import statistics
import struct
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

DEFAULT_RECORDS = {100: 2_000_000, 1024: 500_000}
LATENCY_RATE_BYTES = 10 * 1024 * 1024  # 10 MB/s
LATENCY_RF3_RATE_BYTES = 5 * 1024 * 1024  # issue 7: p99 <= 10 ms at 5 MB/s on RF=3
LATENCY_RECORD_SIZE = 1024
LATENCY_TARGET_P99_MS = 10.0
LATENCY_WARMUP_S = 0.5
# fetch.wait.max.ms for the latency consumer: librdkafka's default (a broker must answer a
# waiting fetch as soon as data arrives), and 10 ms (bounds the cost of a broker that
# does not wake waiting fetches, as Tansu does not)
LATENCY_FETCH_WAITS_MS = (500, 10)
FLUSH_TIMEOUT_S = 300.0
CONSUME_IDLE_TIMEOUT_S = 30.0

_TS = struct.Struct(">q")

_QUIET: dict[str, Any] = {"log_level": 3}  # errors only from librdkafka


def create_topic(
    bootstrap: str,
    topic: str,
    timeout: float = 30.0,
    replication_factor: int = 1,
    config: dict[str, str] | None = None,
) -> None:
    """Create a one-partition topic and wait until metadata shows a leader for it."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **_QUIET})
    new = NewTopic(topic, num_partitions=1, replication_factor=replication_factor,
                   config=config or {})
    futures = admin.create_topics([new], operation_timeout=timeout)
    try:
        futures[topic].result(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0]
        if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
            # a broker without CreateTopics: let a producer's metadata request auto-create it
            print(f"(CreateTopics failed: {err}; relying on auto-creation)", end=" ", flush=True)
            Producer({"bootstrap.servers": bootstrap, **_QUIET}).list_topics(topic, timeout=5.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=5.0)
        tmd = md.topics.get(topic)
        if tmd is not None and tmd.error is None and 0 in tmd.partitions:
            p = tmd.partitions[0]
            if p.error is None and p.leader >= 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"topic {topic} has no leader after {timeout:.0f} s")


def producer_config(bootstrap: str, acks: str, records: int, size: int) -> dict[str, Any]:
    # librdkafka's queue must hold the whole run so produce() never blocks on it
    kbytes = max(1_048_576, records * (size + 100) // 1024 * 2)
    return {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "batch.size": 1_048_576,
        "compression.type": "none",
        "queue.buffering.max.messages": min(2_147_483_647, max(100_000, records * 2)),
        "queue.buffering.max.kbytes": min(2_147_483_647, kbytes),
        "delivery.report.only.error": True,
        "enable.idempotence": False,
        **_QUIET,
    }


def consumer_config(bootstrap: str, fetch_wait_ms: int = 500) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        # a group id is required by the client; with assign() and no commits no group
        # protocol runs beyond coordinator lookup
        "group.id": "josef-bench",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "receive.message.max.bytes": 104_857_600,
        "queued.max.messages.kbytes": 1_048_576,
        # librdkafka pauses fetching for fetch.queue.backoff.ms (default 1 s) whenever its
        # local queue holds queued.min.messages (default 100k): with 100-byte records that
        # throttles the client itself to ~250k records/s, whatever the broker does
        "queued.min.messages": 1_000_000,
        "fetch.queue.backoff.ms": 0,
        "fetch.wait.max.ms": fetch_wait_ms,
        "fetch.min.bytes": 1,
        **_QUIET,
    }


@dataclass
class Throughput:
    records: int
    bytes: int
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {
            "records": self.records,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 4),
            "records_per_s": round(self.records / self.seconds, 1),
            "mb_per_s": round(self.bytes / self.seconds / 1e6, 2),
        }


def produce_throughput(
    bootstrap: str,
    topic: str,
    size: int,
    records: int,
    acks: str,
    overrides: dict[str, Any] | None = None,
) -> Throughput:
    """``overrides``: more librdkafka settings (e.g. a small ``linger.ms``/``batch.size``
    for many small requests)."""
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None and len(errors) < 10:
            errors.append(str(err))

    producer = Producer(
        {
            **producer_config(bootstrap, acks, records, size),
            **(overrides or {}),
            "on_delivery": on_delivery,
        }
    )
    value = b"x" * size
    produce = producer.produce
    poll = producer.poll
    t0 = time.perf_counter()
    i = 0
    while i < records:
        try:
            produce(topic, value, partition=0)
        except BufferError:
            poll(0.005)
            continue
        i += 1
        if i % 50_000 == 0:
            poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    elapsed = time.perf_counter() - t0
    if remaining:
        raise RuntimeError(f"flush timed out with {remaining} records undelivered")
    if errors:
        raise RuntimeError(f"delivery errors: {errors[:3]}")
    return Throughput(records, records * size, elapsed)


def consume_throughput(bootstrap: str, topic: str, size: int, records: int) -> Throughput:
    consumer = Consumer(consumer_config(bootstrap))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        consume = consumer.consume
        got = 0
        nbytes = 0
        t0 = time.perf_counter()
        last_progress = time.monotonic()
        while got < records:
            # consume() waits for a full batch or the timeout: never ask for more than is left
            msgs = consume(num_messages=min(records - got, 20_000), timeout=1.0)
            if not msgs:
                if time.monotonic() - last_progress > CONSUME_IDLE_TIMEOUT_S:
                    raise TimeoutError(f"consumer stalled at {got}/{records} records")
                continue
            last_progress = time.monotonic()
            for m in msgs:
                err = m.error()
                if err is not None:
                    raise KafkaException(err)
            # cheap sanity check per batch: offsets are dense from 0 and values intact
            last = msgs[-1]
            if last.offset() != got + len(msgs) - 1 or len(last.value() or b"") != size:
                raise RuntimeError(
                    f"unexpected record at offset {last.offset()} (expected "
                    f"{got + len(msgs) - 1}, {size} bytes, got {len(last.value() or b'')})"
                )
            got += len(msgs)
            nbytes += len(msgs) * size
        elapsed = time.perf_counter() - t0
    finally:
        consumer.close()
    return Throughput(got, nbytes, elapsed)


def _latency_consumer(
    bootstrap: str,
    topic: str,
    ready: mp.synchronize.Event,
    expected_q: multiprocessing.queues.Queue[int],
    out_q: multiprocessing.queues.Queue[Any],
    timeout: float,
    fetch_wait_ms: int,
) -> None:
    """Child process: consume the latency topic and report (warm-up excluded) latencies."""
    try:
        consumer = Consumer(consumer_config(bootstrap, fetch_wait_ms))
        consumer.assign([TopicPartition(topic, 0, 0)])
        # one empty poll so the fetcher is running before the producer starts
        consumer.consume(num_messages=1, timeout=0.5)
        ready.set()
        latencies: list[int] = []
        got = 0
        expected: int | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # poll() returns as soon as one record is there; consume(timeout=0) then drains
            # what has already arrived without waiting for a full batch
            first = consumer.poll(0.1)
            now = time.time_ns()
            if first is None:
                msgs: list[Message] = []
            else:
                msgs = [first, *consumer.consume(num_messages=10_000, timeout=0)]
            for m in msgs:
                if m.error() is not None:
                    raise KafkaException(m.error())
                value = m.value()
                assert value is not None
                sent, warm = _TS.unpack_from(value, 0)[0], value[8]
                got += 1
                if not warm:
                    latencies.append(now - sent)
            if expected is None:
                with contextlib.suppress(Exception):
                    expected = expected_q.get_nowait()
            if expected is not None and got >= expected:
                break
        consumer.close()
        out_q.put({"latencies_ns": latencies, "received": got, "expected": expected})
    except BaseException as exc:  # report anything to the parent
        out_q.put({"error": repr(exc)})


def percentile(sorted_samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ascending samples: the value at index ⌊q·n⌋ (the
    nearest rank above), so p99 of 100 samples is the largest but one."""
    if not sorted_samples:
        raise ValueError("no samples")
    n = len(sorted_samples)
    return sorted_samples[min(n - 1, int(q * n))]


@dataclass
class Latency:
    sent: int
    received: int
    samples: list[float]  # ms

    def as_dict(self) -> dict[str, float | int]:
        s = sorted(self.samples)

        def pct(q: float) -> float:
            return round(percentile(s, q), 3)

        return {
            "sent": self.sent,
            "received": self.received,
            "samples": len(s),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "p999_ms": pct(0.999),
            "max_ms": round(s[-1], 3),
            "mean_ms": round(statistics.fmean(s), 3),
        }


def end_to_end_latency(
    bootstrap: str,
    topic: str,
    duration: float,
    fetch_wait_ms: int = 500,
    rate_bytes: int = LATENCY_RATE_BYTES,
) -> Latency:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    expected_q: multiprocessing.queues.Queue[int] = ctx.Queue()
    out_q: multiprocessing.queues.Queue[Any] = ctx.Queue()
    child = ctx.Process(
        target=_latency_consumer,
        args=(bootstrap, topic, ready, expected_q, out_q, duration + 60.0, fetch_wait_ms),
        daemon=True,
    )
    child.start()
    try:
        if not ready.wait(30.0):
            raise TimeoutError("latency consumer did not start")
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None and len(errors) < 10:
                errors.append(str(err))

        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "linger.ms": 1,
                # the Java producer's default: while requests wait for the ISR, records
                # gather into the next batch instead of queueing as more tiny requests
                "max.in.flight.requests.per.connection": 5,
                "compression.type": "none",
                "enable.idempotence": False,
                "delivery.report.only.error": True,
                "on_delivery": on_delivery,
                **_QUIET,
            }
        )
        rate = rate_bytes / LATENCY_RECORD_SIZE  # records per second
        pad = b"x" * (LATENCY_RECORD_SIZE - 9)
        sent = 0
        start = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= duration:
                break
            warm = 1 if elapsed < LATENCY_WARMUP_S else 0
            due = int(rate * elapsed) + 1
            while sent < due:
                value = _TS.pack(time.time_ns()) + bytes((warm,)) + pad
                producer.produce(topic, value, partition=0)
                sent += 1
            producer.poll(0)
            time.sleep(0.0005)
        remaining = producer.flush(60.0)
        if remaining or errors:
            raise RuntimeError(f"latency producer: {remaining} undelivered, errors {errors[:3]}")
        expected_q.put(sent)
        result = out_q.get(timeout=90.0)
    finally:
        child.join(timeout=10.0)
        if child.is_alive():
            child.kill()
    if "error" in result:
        raise RuntimeError(f"latency consumer failed: {result['error']}")
    samples = [ns / 1e6 for ns in result["latencies_ns"]]
    if not samples:
        raise RuntimeError("latency consumer received no records")
    return Latency(sent, result["received"], samples)
