"""Disk full (issue 12 §5) on a small tmpfs: Kafka's answers, clean exits, nothing lost.

A produce that hits ENOSPC is answered with KAFKA_STORAGE_ERROR (the connection stays open)
and the log dir goes offline as in Kafka: its partitions are offline (Metadata lists this
broker as an offline replica, produce answers KAFKA_STORAGE_ERROR), the other log dirs keep
serving, and with every log dir offline the broker shuts down with status 1. SIGTERM on a
full disk ends without a traceback; a restart on a still-full disk exits with one line
instead of dying of SIGBUS; once there is space again a restart (which recovers the failed
dir) brings back every acknowledged record.

Needs root for ``mount -t tmpfs``; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import Producer
from helpers.broker_process import BrokerProcess, BrokerStartError, require_josef
from helpers.clients import consume_confluent, consume_kafka_python, create_topic, unique_topic
from helpers.raw import RawConn, Reader, array, i8, string

KAFKA_STORAGE_ERROR = 56
LEADER_NOT_AVAILABLE = 5
RECORD = 8 * 1024
MB = 1 << 20


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def fill(path: Path, leave: int = 0) -> Path:
    """Write a filler file until the filesystem is full (minus ``leave`` bytes)."""
    filler = path / "filler"
    free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        chunk = bytes(MB)
        want = max(0, free - leave)
        while want > 0:
            f.write(chunk[: min(len(chunk), want)])
            want -= min(len(chunk), want)
        f.flush()
    return filler


def value(i: int) -> bytes:
    return (b"%08d" % i) * (RECORD // 8)


def fill_with_confluent(bootstrap: str, topic: str) -> tuple[dict[int, bytes], int]:
    """Produce (acks=all, no retries) until a delivery fails: (acked offset -> value, error)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "retries": 0,
            "enable.idempotence": False,
            "linger.ms": 5,
            "message.timeout.ms": 60_000,
        }
    )
    acked: dict[int, bytes] = {}
    errors: list[int] = []

    def report(err: CKafkaError | None, msg: object) -> None:
        if err is not None:
            errors.append(err.code())
        else:
            acked[msg.offset()] = msg.value()  # type: ignore[attr-defined]

    i = 0
    while not errors and i < 100_000:
        for _ in range(16):
            producer.produce(topic, value=value(i), partition=0, on_delivery=report)
            i += 1
        assert producer.flush(60) == 0
    producer.flush(60)
    assert errors, "the disk never filled"
    return acked, errors[0]


def fill_with_kafka_python(bootstrap: str, topic: str) -> tuple[dict[int, bytes], type]:
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        retries=0,
        enable_idempotence=False,
        linger_ms=5,
    )
    acked: dict[int, bytes] = {}
    try:
        for i in range(100_000):
            v = value(1_000_000 + i)
            try:
                md = producer.send(topic, value=v, partition=0).get(timeout=60)
            except Exception as exc:
                return acked, type(exc)
            acked[md.offset] = v
        raise AssertionError("the disk never filled")
    finally:
        producer.close(timeout=5)


def wait_exit(b: BrokerProcess, timeout: float = 120) -> int:
    assert b.proc is not None
    code = b.proc.wait(timeout)
    b.stop(expect_code=None)  # reap and close the log
    return code


def assert_all_there(
    b: BrokerProcess, topic: str, acked: dict[int, bytes], client: str = "kafka-python"
) -> None:
    end = max(acked) + 1
    read = consume_kafka_python if client == "kafka-python" else consume_confluent
    got = {r.offset: r.value for r in read(b.bootstrap, topic, 0, 0, end, timeout=120)}
    missing = [o for o, v in acked.items() if got.get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records lost, first at {missing[:5]}"


def no_traceback(b: BrokerProcess) -> None:
    text = b.log_text()
    assert "Traceback" not in text, b.log_tail(80)


def broker_on(workdir: Path, log_dirs: list[Path], **overrides: str) -> BrokerProcess:
    b = BrokerProcess(workdir, {"log.dirs": ",".join(map(str, log_dirs)), **overrides})
    return b


def test_disk_full_single_log_dir(tmp_path: Path) -> None:
    require_josef("Josef's log dirs")
    with tmpfs(tmp_path / "small", "4m") as small:
        b = broker_on(tmp_path / "b", [small / "data"])
        try:
            b.start()
            topic = unique_topic("full")
            create_topic(b.bootstrap, topic, 1)
            acked, error = fill_with_confluent(b.bootstrap, topic)
            assert error == KAFKA_STORAGE_ERROR
            assert len(acked) > 10
            # The only log dir is offline: the broker shuts itself down, status 1.
            assert wait_exit(b) == 1
            text = b.log_text()
            assert "is offline" in text and "ENOSPC" in text
            assert "because all log dirs" in text
            no_traceback(b)

            # Restart on the still-full disk, never dying of a signal: either the logs load
            # (what they need is allocated already) and the next append fails the same way,
            # or loading fails with one line and status 1.
            try:
                b.start()
            except BrokerStartError as exc:
                assert "exited with code 1" in str(exc)
                assert "broker failed to start: all log dirs failed to load" in b.log_text()
            else:
                _, error = fill_with_confluent(b.bootstrap, topic)
                assert error == KAFKA_STORAGE_ERROR
                assert wait_exit(b) == 1
            no_traceback(b)

            remount(small, "64m")
            b.start()  # recovers the log dir
            assert_all_there(b, topic, acked, "kafka-python")

            # Again with kafka-python filling what is left.
            filler = fill(small, leave=2 * MB)
            more, kind = fill_with_kafka_python(b.bootstrap, topic)
            assert kind.__name__ == "KafkaStorageError", kind
            assert wait_exit(b) == 1
            filler.unlink()
            b.start()
            assert_all_there(b, topic, {**acked, **more}, "confluent")
            b.stop()
            no_traceback(b)
        finally:
            b.close()


def test_sigterm_on_a_full_disk(tmp_path: Path) -> None:
    require_josef("Josef's log dirs")
    with tmpfs(tmp_path / "small", "16m") as small:
        b = broker_on(
            tmp_path / "b",
            [small / "data"],
            **{"replica.high.watermark.checkpoint.interval.ms": "3600000"},
        )
        try:
            b.start()
            topic = unique_topic("term")
            create_topic(b.bootstrap, topic, 1)
            producer = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
            acked: dict[int, bytes] = {}
            for i in range(200):
                producer.produce(
                    topic,
                    value=value(i),
                    partition=0,
                    on_delivery=lambda err, msg: err or acked.update({msg.offset(): msg.value()}),
                )
            assert producer.flush(60) == 0 and len(acked) == 200
            filler = fill(small)
            code = b.stop(expect_code=None)
            assert code in (0, 1), f"exit status {code}"
            no_traceback(b)
            filler.unlink()
            b.start()  # no signal: recovery if the shutdown could not finish
            assert_all_there(b, topic, acked)
            b.stop()
        finally:
            b.close()


def metadata_v5(b: BrokerProcess, topics: list[str]) -> dict[str, list[tuple[int, int, list[int]]]]:
    """topic -> [(error, leader, offline replicas)] per partition (Metadata v5)."""
    with RawConn(b.host, b.port) as c:
        r: Reader = c.request(3, 5, array([string(t) for t in topics]) + i8(0))
    r.i32()  # throttle
    for _ in range(r.i32()):
        r.i32(), r.string(), r.i32(), r.string()
    r.string()  # cluster id
    r.i32()  # controller
    out: dict[str, list[tuple[int, int, list[int]]]] = {}
    for _ in range(r.i32()):
        r.i16()
        name = r.string()
        r.i8()
        parts = []
        for _ in range(r.i32()):
            err, _index, leader = r.i16(), r.i32(), r.i32()
            for _ in range(r.i32()):
                r.i32()  # replicas
            for _ in range(r.i32()):
                r.i32()  # isr
            offline = [r.i32() for _ in range(r.i32())]
            parts.append((err, leader, offline))
        assert name is not None
        out[name] = parts
    return out


def test_full_log_dir_goes_offline_the_other_serves(tmp_path: Path) -> None:
    require_josef("Josef's log dirs")
    big = tmp_path / "big"
    with tmpfs(tmp_path / "small", "3m") as small:
        b = broker_on(tmp_path / "b", [big, small / "data"])
        try:
            b.start()
            ok, full = unique_topic("ok"), unique_topic("full")
            create_topic(b.bootstrap, ok, 1)  # the first log dir (fewest partitions, first)
            create_topic(b.bootstrap, full, 1)  # the other one: the tmpfs
            assert (big / f"{ok}-0").is_dir() and (small / "data" / f"{full}-0").is_dir()
            acked, kind = fill_with_kafka_python(b.bootstrap, full)
            assert kind.__name__ == "KafkaStorageError", kind
            assert b.running, "one log dir is still online: the broker keeps serving"
            md = metadata_v5(b, [ok, full])
            assert md[full] == [(LEADER_NOT_AVAILABLE, -1, [0])]
            assert md[ok] == [(0, 0, [])]
            # The healthy dir serves both clients as before.
            from helpers.clients import Record, assert_roundtrip, consume, produce

            recs = [Record(b"k%d" % i, b"v%d" % i) for i in range(10)]
            produce("confluent", b.bootstrap, ok, recs, timeout=30)
            produce("kafka-python", b.bootstrap, ok, recs, timeout=30)
            assert_roundtrip(recs * 2, consume("kafka-python", b.bootstrap, ok, 0, 0, 20))
            assert b.stop() == 0
            no_traceback(b)
            assert (big / ".kafka_cleanshutdown").exists()
            assert not (small / "data" / ".kafka_cleanshutdown").exists()
            remount(small, "64m")
            b.start()
            assert_all_there(b, full, acked, "confluent")
            time.sleep(0.1)
            b.stop()
        finally:
            b.close()
