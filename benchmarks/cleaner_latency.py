"""Produce/fetch latency on one partition while the log cleaner compacts a large log.

    python benchmarks/cleaner_latency.py [--size-mb 1024] [--samples 2000]

1. A Josef broker creates ``big`` (cleanup.policy=compact, 16 MiB segments) and
   ``probe``, then stops.
2. ``big-0`` is filled directly in the data dir with pre-built 1 KiB-record
   batches (keys drawn from a set 1/10 the record count, so ~90% is garbage).
3. Baseline: the broker restarts with ``log.cleaner.enable=false``; a
   confluent-kafka producer (acks=all, linger.ms=0) sends one record at a time to
   ``probe`` and a consumer reads it back: produce latency = send → delivery
   report, fetch latency = send → record received by the consumer.
4. Cleaning: the broker restarts with the cleaner on and the same probe runs
   while the ``cleaned big-0`` line has not yet appeared in the broker log.

Prints p50/p99 for both phases and the cleaner's own log line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # noqa: E402

from protocol.records import NewRecord, encode_batch  # noqa: E402
from storage.clock import SystemClock  # noqa: E402
from storage.log_config import LogConfig  # noqa: E402
from storage.log_loader import load_log  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.data = workdir / "data"
        self.log_path = workdir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, overrides: dict[str, str]) -> None:
        settings = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data),
            "log.cleaner.backoff.ms": "500",
            **overrides,
        }
        cmd = [sys.executable, "-m", "broker", "start"]
        for k, v in settings.items():
            cmd += ["--override", f"{k}={v}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=1)
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("broker did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)
            self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def fill_big_log(directory: Path, size_mb: int) -> int:
    config = LogConfig(cleanup_policy="compact", segment_bytes=16 << 20)
    log = load_log(directory, config, SystemClock())
    record_size = 1024
    n = size_mb * 1024 * 1024 // (record_size + 20)
    keys = max(n // 10, 1)
    per_batch = 100
    value = os.urandom(record_size - 16)
    now = int(time.time() * 1000)
    i = 0
    while i < n:
        recs = [
            NewRecord(b"key-%010d" % ((i + j) * 7919 % keys), value, timestamp=now)
            for j in range(per_batch)
        ]
        log.append_as_leader(bytearray(encode_batch(recs)), 0)
        i += per_batch
    log.flush()
    log.close()
    return i


def probe(bootstrap: str, samples: int, stop_when: str | None, broker: Broker) -> tuple[
    list[float], list[float]
]:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all", "log_level": 3}
    )
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "probe", "enable.auto.commit": False,
        "fetch.wait.max.ms": 10, "fetch.min.bytes": 1,
    })
    _, high = consumer.get_watermark_offsets(TopicPartition("probe", 0), timeout=10)
    consumer.assign([TopicPartition("probe", 0, high)])
    produce_ms: list[float] = []
    fetch_ms: list[float] = []
    for i in range(samples):
        if stop_when is not None and i % 50 == 0 and stop_when in broker.log_text():
            break
        sent = time.perf_counter()
        delivered: list[float] = []

        def on_delivery(_err: object, _msg: object, out: list[float] = delivered) -> None:
            out.append(time.perf_counter())

        producer.produce("probe", b"%d" % i, partition=0, on_delivery=on_delivery)
        got = None
        deadline = sent + 10
        while got is None and time.perf_counter() < deadline:
            producer.poll(0)
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                got = time.perf_counter()
        producer.flush(10)
        if got is None or not delivered:
            print(f"sample {i}: no delivery/receipt within 10 s", flush=True)
            continue
        produce_ms.append((delivered[0] - sent) * 1000)
        fetch_ms.append((got - sent) * 1000)
    consumer.close()
    return produce_ms, fetch_ms


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cleaner-bench-"))
    b = Broker(workdir)
    b.start({"log.cleaner.enable": "false"})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    futs = admin.create_topics([
        NewTopic("big", 1, 1, config={"cleanup.policy": "compact",
                                      "segment.bytes": str(16 << 20)}),
        NewTopic("probe", 1, 1),
    ])
    for fut in futs.values():
        fut.result(30)
    b.stop()
    t0 = time.monotonic()
    n = fill_big_log(b.data / "big-0", args.size_mb)
    print(flush=True)
    print(f"wrote {n} records ({args.size_mb} MB) into big-0 in {time.monotonic() - t0:.1f} s")

    b.start({"log.cleaner.enable": "false"})
    base_p, base_f = probe(b.bootstrap, args.samples, None, b)
    b.stop()
    t0 = time.monotonic()
    b.start({"log.cleaner.enable": "true"})
    during_p, during_f = probe(b.bootstrap, args.samples * 100, "cleaned big-0", b)
    while "cleaned big-0" not in b.log_text():
        time.sleep(0.5)
    clean_s = time.monotonic() - t0
    b.stop()
    line = next(ln for ln in b.log_text().splitlines() if "cleaned big-0" in ln)
    print(f"{'phase':<18}{'n':>7}{'produce p50':>13}{'p99':>9}{'fetch p50':>11}{'p99':>9}")
    phases = (("no cleaning", base_p, base_f), ("while cleaning", during_p, during_f))
    for name, prod, fetch in phases:
        print(f"{name:<18}{len(prod):>7}{statistics.median(prod):>11.2f}ms"
              f"{pct(prod, 99):>7.2f}ms{statistics.median(fetch):>9.2f}ms{pct(fetch, 99):>7.2f}ms")
    print(f"cleaning finished {clean_s:.1f} s after start")
    print(line)


if __name__ == "__main__":
    main()
