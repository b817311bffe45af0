"""Thin, timeout-bounded produce/consume helpers for every client the broker must serve.

Clients: ``"kafka-python"`` (KafkaProducer/KafkaConsumer), ``"aiokafka"`` (AIOKafkaProducer /
AIOKafkaConsumer, run on a private event loop), ``"confluent"`` (confluent-kafka Producer /
Consumer, librdkafka 2.16) and ``"kcat"`` (the Debian kcat binary, librdkafka 2.0.2).

* ``produce(client, bootstrap, topic, records, ...)`` sends ``Record``s in order to one
  partition and returns the offsets the broker assigned (``-1`` each with ``acks="0"``).
* ``consume(client, bootstrap, topic, partition, offset, n, ...)`` reads exactly ``n`` records
  starting at ``offset`` with assign + seek (no consumer group) and returns ``Consumed`` tuples
  ``(offset, key, value, headers, timestamp)``.

Every call has a deadline: a broken broker fails the test with a clear message, never hangs it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

Header = tuple[str, bytes | None]

PRODUCER_CLIENTS = ("kafka-python", "aiokafka", "confluent", "kcat")
CONSUMER_CLIENTS = ("kafka-python", "aiokafka", "confluent", "kcat")
KCAT = os.environ.get("JOSEF_KCAT", "/usr/bin/kcat")
DEFAULT_TIMEOUT_S = 30.0
# Kafka's default message.max.bytes (1 MiB + 12): big enough for a ~1 MB record and overhead.
BIG_REQUEST_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    key: bytes | None = None
    value: bytes | None = b""
    headers: tuple[Header, ...] = ()
    timestamp: int | None = None  # ms since epoch; None lets the producer stamp it


class Consumed(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp: int


class ClientError(AssertionError):
    """A client call failed or timed out (an AssertionError so pytest shows it plainly)."""


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _acks_int(acks: str | int) -> int:
    return {"0": 0, "1": 1, "all": -1, "-1": -1}[str(acks)]


# ======================================================================== dispatch
def produce(
    client: str,
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[int]:
    """Produce ``records`` in order; returns the assigned offsets (-1 when ``acks="0"``)."""
    fn = {
        "kafka-python": produce_kafka_python,
        "aiokafka": produce_aiokafka,
        "confluent": produce_confluent,
        "kcat": produce_kcat,
    }[client]
    return fn(
        bootstrap,
        topic,
        records,
        partition=partition,
        acks=acks,
        compression=compression,
        max_request_size=max_request_size,
        timeout=timeout,
    )


def consume(
    client: str,
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Consumed]:
    """Read exactly ``n`` records from ``topic``/``partition`` starting at ``offset``."""
    fn = {
        "kafka-python": consume_kafka_python,
        "aiokafka": consume_aiokafka,
        "confluent": consume_confluent,
        "kcat": consume_kcat,
    }[client]
    return fn(bootstrap, topic, partition, offset, n, timeout=timeout)


def assert_roundtrip(
    produced: Sequence[Record],
    consumed: Sequence[Consumed],
    *,
    first_offset: int = 0,
    check_timestamps: bool = True,
    produced_after_ms: int | None = None,
) -> None:
    """The consumed records equal the produced ones, at contiguous offsets from ``first_offset``.

    Records without an explicit timestamp must carry a timestamp no earlier than
    ``produced_after_ms`` (when given) and no later than now.
    """
    assert len(consumed) == len(produced), f"consumed {len(consumed)} != produced {len(produced)}"
    now = int(time.time() * 1000) + 1000
    for i, (p, c) in enumerate(zip(produced, consumed, strict=True)):
        where = f"record #{i} (offset {c.offset})"
        assert c.offset == first_offset + i, f"{where}: offset, expected {first_offset + i}"
        assert c.key == p.key, f"{where}: key {_short(c.key)} != {_short(p.key)}"
        assert c.value == p.value, f"{where}: value {_short(c.value)} != {_short(p.value)}"
        assert tuple(c.headers) == tuple(p.headers), f"{where}: headers {c.headers} != {p.headers}"
        if not check_timestamps:
            continue
        if p.timestamp is not None:
            assert c.timestamp == p.timestamp, f"{where}: timestamp {c.timestamp} != {p.timestamp}"
        else:
            low = produced_after_ms if produced_after_ms is not None else 0
            assert low - 1000 <= c.timestamp <= now, f"{where}: timestamp {c.timestamp} not recent"


def _short(b: bytes | None, n: int = 40) -> str:
    if b is None:
        return "None"
    return repr(b[:n]) + (f"...({len(b)} bytes)" if len(b) > n else "")


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop (in a worker thread when a loop is already running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ======================================================================== kafka-python
def produce_kafka_python(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[int]:
    from kafka import KafkaProducer

    acks_i = _acks_int(acks)
    ms = int(timeout * 1000)
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": acks_i,
        "compression_type": None if compression == "none" else compression,
        "max_request_size": max_request_size or 1048576,
        "max_block_ms": ms,
        "request_timeout_ms": ms,
        # kafka-python 3 retries a failing bootstrap (e.g. refused SASL) for 30 s by default
        "bootstrap_timeout_ms": ms,
        "linger_ms": 5,
        "enable_idempotence": acks_i == -1,
        "retries": 5,
        "retry_backoff_ms": 200,
    }
    settings.update(config)
    deadline = time.monotonic() + timeout
    producer = KafkaProducer(**settings)
    try:
        futures = [
            producer.send(
                topic,
                value=r.value,
                key=r.key,
                headers=list(r.headers),
                partition=partition,
                timestamp_ms=r.timestamp,
            )
            for r in records
        ]
        producer.flush(timeout=max(0.1, deadline - time.monotonic()))
        offsets = []
        for f in futures:
            md = f.get(timeout=max(0.1, deadline - time.monotonic()))
            offsets.append(int(md.offset))
        return offsets
    except Exception as exc:
        raise ClientError(f"kafka-python produce to {topic} failed: {exc!r}") from exc
    finally:
        producer.close(timeout=5)


def consume_kafka_python(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[Consumed]:
    from kafka import KafkaConsumer, TopicPartition

    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "none",
        "request_timeout_ms": 30000,
        "fetch_max_wait_ms": 200,
    }
    settings.update(config)
    out: list[Consumed] = []
    deadline = time.monotonic() + timeout
    consumer = KafkaConsumer(**settings)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        while len(out) < n and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500, max_records=max(1, n - len(out)))
            for recs in batches.values():
                for r in recs:
                    hdrs = tuple((k, v) for k, v in (r.headers or []))
                    out.append(Consumed(r.offset, r.key, r.value, hdrs, r.timestamp))
    except Exception as exc:
        raise ClientError(
            f"kafka-python consume {topic}/{partition}@{offset} failed after {len(out)}: {exc!r}"
        ) from exc
    finally:
        consumer.close()
    if len(out) < n:
        raise ClientError(
            f"kafka-python consumed {len(out)} of {n} records from {topic}/{partition}@{offset} "
            f"within {timeout}s"
        )
    return out[:n]


# ======================================================================== aiokafka
def produce_aiokafka(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[int]:
    return _run_async(
        aio_produce(
            bootstrap,
            topic,
            records,
            partition=partition,
            acks=acks,
            compression=compression,
            max_request_size=max_request_size,
            timeout=timeout,
            **config,
        )
    )


async def aio_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[int]:
    from aiokafka import AIOKafkaProducer

    acks_i = _acks_int(acks)
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all" if acks_i == -1 else acks_i,
        "compression_type": None if compression == "none" else compression,
        "max_request_size": max_request_size or 1048576,
        "request_timeout_ms": int(timeout * 1000),
        "linger_ms": 5,
    }
    settings.update(config)
    producer = AIOKafkaProducer(**settings)

    async def run() -> list[int]:
        await producer.start()
        futs = [
            await producer.send(
                topic,
                value=r.value,
                key=r.key,
                partition=partition,
                timestamp_ms=r.timestamp,
                headers=list(r.headers) or None,
            )
            for r in records
        ]
        mds = await asyncio.gather(*futs)
        return [-1 if md is None else int(md.offset) for md in mds]

    try:
        return await asyncio.wait_for(run(), timeout)
    except Exception as exc:
        raise ClientError(f"aiokafka produce to {topic} failed: {exc!r}") from exc
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)


def consume_aiokafka(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[Consumed]:
    return _run_async(
        aio_consume(bootstrap, topic, partition, offset, n, timeout=timeout, **config)
    )


async def aio_consume(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[Consumed]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "none",
        "fetch_max_wait_ms": 200,
    }
    settings.update(config)
    consumer = AIOKafkaConsumer(**settings)
    out: list[Consumed] = []

    async def run() -> None:
        await consumer.start()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        while len(out) < n:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=n - len(out))
            for recs in batches.values():
                for r in recs:
                    hdrs = tuple((k, v) for k, v in (r.headers or ()))
                    out.append(Consumed(r.offset, r.key, r.value, hdrs, r.timestamp))

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError as exc:
        raise ClientError(
            f"aiokafka consumed {len(out)} of {n} records from {topic}/{partition}@{offset} "
            f"within {timeout}s"
        ) from exc
    except Exception as exc:
        raise ClientError(
            f"aiokafka consume {topic}/{partition}@{offset} failed after {len(out)}: {exc!r}"
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 10)
    return out[:n]


# ======================================================================== confluent-kafka
def confluent_producer_config(
    bootstrap: str,
    *,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": str(acks),
        "compression.type": compression,
        "linger.ms": 5,
        "message.timeout.ms": int(timeout * 1000),
        "socket.timeout.ms": int(min(timeout, 60) * 1000),
    }
    if max_request_size:
        cfg["message.max.bytes"] = max_request_size
    return cfg


def produce_confluent(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[int]:
    from confluent_kafka import KafkaError, Message, Producer

    cfg = confluent_producer_config(
        bootstrap,
        acks=acks,
        compression=compression,
        max_request_size=max_request_size,
        timeout=timeout,
    )
    cfg.update(config)
    producer = Producer(cfg)
    results: dict[int, int] = {}
    errors: list[str] = []

    def on_delivery(i: int) -> Any:
        def cb(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"record #{i}: {err}")
            else:
                off = msg.offset()
                results[i] = -1 if off is None or off < 0 else int(off)

        return cb

    deadline = time.monotonic() + timeout
    for i, r in enumerate(records):
        kwargs: dict[str, Any] = {"value": r.value, "key": r.key, "on_delivery": on_delivery(i)}
        if partition is not None:
            kwargs["partition"] = partition
        if r.timestamp is not None:
            kwargs["timestamp"] = r.timestamp
        if r.headers:
            kwargs["headers"] = list(r.headers)
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
                if time.monotonic() > deadline:
                    raise ClientError(
                        "confluent produce: local queue full until deadline"
                    ) from None
    remaining = producer.flush(max(0.1, deadline - time.monotonic()))
    if errors:
        raise ClientError(f"confluent produce to {topic} failed: {errors[:5]}")
    if remaining:
        raise ClientError(f"confluent produce to {topic}: {remaining} records undelivered")
    return [results[i] for i in range(len(records))]


def consume_confluent(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    **config: Any,
) -> list[Consumed]:
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": "josef-tests-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 200,
    }
    cfg.update(config)
    consumer = Consumer(cfg)
    out: list[Consumed] = []
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        while len(out) < n and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=n - len(out), timeout=0.5)
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise ClientError(
                        f"confluent consume {topic}/{partition}@{offset}: {err} "
                        f"after {len(out)} records"
                    )
                hdrs = tuple((k, v) for k, v in (m.headers() or []))
                out.append(Consumed(int(m.offset()), m.key(), m.value(), hdrs, m.timestamp()[1]))
    finally:
        consumer.close()
    if len(out) < n:
        raise ClientError(
            f"confluent consumed {len(out)} of {n} records from {topic}/{partition}@{offset} "
            f"within {timeout}s"
        )
    return out[:n]


# ======================================================================== kcat
_KCAT_CODECS = {"none": "none", "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}
_KEY_DELIM = b"\x1f"
_MSG_DELIM = b"\x1e"


def produce_kcat(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    partition: int | None = 0,
    acks: str | int = "all",
    compression: str = "none",
    max_request_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[int]:
    """Produce with kcat; returns ``-1`` offsets (kcat does not report them).

    Records go through stdin split by ``-D \\x1e`` / ``-K \\x1f`` (no delimiter: NULL key);
    a record whose bytes contain a delimiter is sent as a file (one file = one message,
    exact bytes, key via ``-k``). ``-H`` applies to a whole invocation and ``-Z`` (NULL for
    empty values, and for empty keys) too, so consecutive records sharing headers and
    null-ness go in one invocation. kcat cannot set per-message timestamps.
    """
    if any(r.timestamp is not None for r in records):
        raise ValueError("kcat cannot produce records with explicit timestamps")
    groups: list[tuple[tuple[Any, ...], list[Record]]] = []
    for r in records:
        gk = _kcat_group_key(r)
        if groups and groups[-1][0] == gk:
            groups[-1][1].append(r)
        else:
            groups.append((gk, [r]))
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="kcat-") as tmp:
        for g, (gk, group) in enumerate(groups):
            first = group[0]
            file_mode = gk[2]
            cmd = [KCAT, "-P", "-b", bootstrap, "-t", topic, "-q"]
            cmd += ["-p", str(-1 if partition is None else partition)]
            cmd += ["-X", f"acks={_acks_int(acks)}", "-X", "linger.ms=5"]
            cmd += ["-X", f"compression.codec={_KCAT_CODECS[compression]}"]
            cmd += ["-X", f"message.timeout.ms={int(timeout * 1000)}"]
            if max_request_size:
                cmd += ["-X", f"message.max.bytes={max_request_size}"]
            for name, hval in first.headers:
                if hval is None:
                    raise ValueError("kcat -H cannot send NULL header values")
                cmd += ["-H", f"{name}={os.fsdecode(hval)}"]
            if first.value is None:
                cmd.append("-Z")
                if any(r.key == b"" for r in group):
                    raise ValueError("kcat -Z turns an empty key into NULL")
            stdin: bytes | None = None
            if file_mode:
                if first.key is not None:
                    if first.key == b"" or b"\x00" in first.key:
                        raise ValueError("kcat -k cannot pass empty keys or NUL bytes")
                    cmd += ["-k", os.fsdecode(first.key)]
                for i, r in enumerate(group):
                    path = os.path.join(tmp, f"m{g:05d}-{i:06d}")
                    with open(path, "wb") as f:
                        f.write(r.value or b"")
                    cmd.append(path)
            else:
                cmd += ["-K", "\\x1f", "-D", "\\x1e"]
                parts = []
                for r in group:
                    if r.key is None and not r.value and r.value is not None:
                        raise ValueError("kcat skips an empty line: no NULL key + empty value")
                    if r.key is None:
                        # with -Z an empty key is NULL; without -Z, no delimiter means NULL
                        key = _KEY_DELIM if r.value is None else b""
                    else:
                        key = r.key + _KEY_DELIM
                    parts.append(key + (r.value or b"") + _MSG_DELIM)
                stdin = b"".join(parts)
            _run_kcat(cmd, deadline, f"produce to {topic}", stdin=stdin)
    return [-1] * len(records)


def _kcat_group_key(r: Record) -> tuple[Any, ...]:
    key, value = r.key or b"", r.value or b""
    file_mode = _KEY_DELIM in key or _MSG_DELIM in key or _MSG_DELIM in value or _KEY_DELIM in value
    if file_mode and not value:
        raise ValueError("kcat cannot send an empty value together with a delimiter-laden key")
    return (r.headers, r.value is None, file_mode, r.key if file_mode else None)


def _run_kcat(cmd: list[str], deadline: float, what: str, stdin: bytes | None = None) -> bytes:
    left = max(1.0, deadline - time.monotonic())
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=left, check=False)
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode(errors="replace")[-2000:]
        out = exc.stdout or b""
        raise ClientError(
            f"kcat {what} timed out after {left:.0f}s (stdout {len(out)} bytes)\n{err}"
        ) from exc
    if proc.returncode != 0:
        raise ClientError(
            f"kcat {what} exited {proc.returncode}\n{proc.stderr.decode(errors='replace')[-2000:]}"
        )
    return proc.stdout


# Consumer output: one record is
#   <offset> US <timestamp> US <keylen> US <valuelen> US <key bytes><value bytes> US <headers> RS
_KCAT_FMT = r"%o\x1f%T\x1f%K\x1f%S\x1f%k%s\x1f%h\x1e"


def consume_kcat(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    n: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Consumed]:
    """Consume exactly ``n`` records with ``kcat -C -o <offset> -c <n>``.

    Keys and values come back byte-exact (lengths are part of the format); headers are parsed
    from kcat's ``n=v,n=v`` text, so header names/values must not contain ``,`` or ``=``.
    """
    cmd = [KCAT, "-C", "-b", bootstrap, "-t", topic, "-p", str(partition)]
    cmd += ["-o", str(offset), "-c", str(n), "-q", "-f", _KCAT_FMT]
    cmd += ["-X", "fetch.wait.max.ms=200"]
    out = _run_kcat(cmd, time.monotonic() + timeout, f"consume {topic}/{partition}@{offset}")
    return parse_kcat_output(out)


def parse_kcat_output(out: bytes) -> list[Consumed]:
    recs: list[Consumed] = []
    pos = 0
    while pos < len(out):
        fields = []
        for _ in range(4):
            end = out.index(b"\x1f", pos)
            fields.append(int(out[pos:end]))
            pos = end + 1
        off, ts, klen, vlen = fields
        key = None if klen < 0 else out[pos : pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else out[pos : pos + vlen]
        pos += max(vlen, 0)
        assert out[pos : pos + 1] == b"\x1f", f"kcat output misparsed at byte {pos}"
        pos += 1
        end = out.index(b"\x1e", pos)
        raw_headers = out[pos:end]
        pos = end + 1
        headers: list[Header] = []
        if raw_headers:
            for item in raw_headers.split(b","):
                name, _, hval = item.partition(b"=")
                headers.append((name.decode(), hval))
        recs.append(Consumed(off, key, value, tuple(headers), ts))
    return recs


# ======================================================================== admin / metadata
def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 1,
    config: dict[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Create a topic with confluent-kafka's AdminClient and wait until every partition leads."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    nt = NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})
    futs = admin.create_topics([nt], operation_timeout=timeout, request_timeout=timeout)
    try:
        futs[topic].result(timeout=timeout)
    except Exception as exc:
        raise ClientError(f"create_topics {topic} failed: {exc!r}") from exc
    wait_for_topic(bootstrap, topic, partitions, timeout=timeout)


def wait_for_topic(
    bootstrap: str, topic: str, partitions: int | None = None, *, timeout: float = 15.0
) -> int:
    """Poll Metadata until ``topic`` exists with leaders on all (``partitions``) partitions."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last = "no metadata"
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(topic=topic, timeout=5)
            t = md.topics.get(topic)
            if t is not None and t.error is None:
                parts = t.partitions
                ok = all(p.leader >= 0 and p.error is None for p in parts.values())
                if ok and parts and (partitions is None or len(parts) == partitions):
                    return len(parts)
                last = f"{len(parts)} partitions, leaders {[p.leader for p in parts.values()]}"
            elif t is not None:
                last = str(t.error)
        except Exception as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise ClientError(f"topic {topic} not ready within {timeout}s: {last}")


def watermarks(
    bootstrap: str, topic: str, partition: int = 0, *, timeout: float = 10.0
) -> tuple[int, int]:
    """(log start offset, high watermark) via confluent-kafka (ListOffsets earliest/latest)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "josef-tests-unused",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        return int(low), int(high)
    finally:
        c.close()


def require_client(client: str) -> None:
    """Skip when ``client`` cannot talk to the broker under test at all.

    kcat's librdkafka 2.0.2 mis-skips tagged fields and rejects Tansu's ApiVersions v3
    response ("Read underflow"), so kcat is unusable against Tansu.
    """
    import pytest

    from helpers.broker_process import is_tansu

    if client == "kcat" and is_tansu():
        pytest.skip("JOSEF_TEST_BROKER=tansu: kcat (librdkafka 2.0.2) rejects Tansu's ApiVersions")


def commit_offsets_confluent(
    bootstrap: str, group: str, offsets: dict[tuple[str, int], int]
) -> None:
    """Commit ``offsets`` ((topic, partition) → offset) for ``group`` without joining it."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def consume_and_commit_kafka_python(
    bootstrap: str, topic: str, group: str, n: int, timeout: float = DEFAULT_TIMEOUT_S
) -> None:
    """Subscribe in ``group``, read ``n`` records, commit them, leave the group."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        got = 0
        deadline = time.monotonic() + timeout
        while got < n and time.monotonic() < deadline:
            batches: Any = consumer.poll(timeout_ms=500)
            got += sum(len(records) for records in batches.values())
        assert got == n
        consumer.commit()
    finally:
        consumer.close()
