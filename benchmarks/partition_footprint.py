"""Footprint of partitions: descriptors, memory maps and RSS per partition of a Josef broker.

Starts Josef (from this source tree, or ``--josef-src DIR``) on a free port, reads
``/proc/<pid>/fd``, ``/proc/<pid>/maps`` and ``VmRSS`` with no topics, creates
``--partitions`` partitions in topics of ``--per-topic`` partitions (CreateTopics through
confluent-kafka's AdminClient), reads them again, produces one record to every partition,
reads them a third time and prints the differences per partition (and RSS per 1,000
partitions). Optionally restarts the broker and measures the loaded state too.

    python benchmarks/partition_footprint.py --partitions 2000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from brokers import QUIET, REPO, BrokerProcess, kill_all, make_josef
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def sample(pid: int) -> dict[str, int]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/maps") as f:
        maps = sum(1 for _ in f)
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"fds": fds, "maps": maps, "rss_kb": rss_kb}


def create(bootstrap: str, total: int, per_topic: int) -> list[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    names: list[str] = []
    left = total
    i = 0
    while left > 0:
        n = min(per_topic, left)
        name = f"footprint-{i}"
        futures = admin.create_topics([NewTopic(name, n, 1)], operation_timeout=60)
        futures[name].result(120)
        names.append(name)
        left -= n
        i += 1
    return names


def produce_everywhere(bootstrap: str, topics: list[str], per_topic: int, total: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, **QUIET})
    left = total
    for t in topics:
        n = min(per_topic, left)
        for p in range(n):
            producer.produce(t, value=b"x" * 100, partition=p)
            producer.poll(0)
        left -= n
    if producer.flush(120) != 0:
        raise RuntimeError("records left unsent")


def per_partition(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    return {
        "fds_per_partition": (after["fds"] - before["fds"]) / n,
        "maps_per_partition": (after["maps"] - before["maps"]) / n,
        "rss_mb_per_1000_partitions": (after["rss_kb"] - before["rss_kb"]) / 1024 / n * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--per-topic", type=int, default=100)
    parser.add_argument("--josef-src", type=Path, default=REPO)
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the broker's log and data here")
    parser.add_argument(
        "--kill", action="store_true", help="SIGKILL before the restart (recovery on load)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="josef-footprint-") as scratch:
        tmp = args.workdir or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        broker: BrokerProcess = make_josef(Path(tmp), args.josef_src)
        try:
            broker.start()
            broker.wait_ready()
            assert broker.pid is not None
            time.sleep(1.0)
            empty = sample(broker.pid)
            t0 = time.monotonic()
            topics = create(broker.bootstrap, args.partitions, args.per_topic)
            created_s = time.monotonic() - t0
            time.sleep(1.0)
            created = sample(broker.pid)
            produce_everywhere(broker.bootstrap, topics, args.per_topic, args.partitions)
            time.sleep(1.0)
            written = sample(broker.pid)
            result: dict[str, object] = {
                "partitions": args.partitions,
                "create_seconds": round(created_s, 2),
                "empty": empty,
                "created": created,
                "written": written,
                "after_create": per_partition(empty, created, args.partitions),
                "after_produce": per_partition(empty, written, args.partitions),
            }
            if not args.no_restart:
                if args.kill:
                    assert broker.proc is not None
                    os.killpg(broker.proc.pid, signal.SIGKILL)
                    broker.proc.wait(30)
                else:
                    broker.stop()
                t0 = time.monotonic()
                broker.start()
                broker.wait_ready(600)
                result["restart_seconds"] = round(time.monotonic() - t0, 2)
                assert broker.pid is not None
                time.sleep(1.0)
                loaded = sample(broker.pid)
                result["loaded"] = loaded
                # The empty broker's baseline stands in for a restarted one's fixed cost.
                result["after_restart"] = per_partition(empty, loaded, args.partitions)
        finally:
            kill_all()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
