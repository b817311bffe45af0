"""Transactional produce throughput against non-transactional produce, in one run.

confluent-kafka (librdkafka) producers write 1 KiB records to one partition:

* ``idempotent``: acks=all with idempotence (what a transactional producer is underneath);
* ``txn-N``: the same records in transactions of N records (begin, N produces, commit).

Each peer (Josef, and Apache Kafka 3.9.1 / Tansu where they run) is measured in the same run,
and the ratio txn-N / idempotent is reported per peer. Usage::

    python benchmarks/transactions.py [--records 200000] [--sizes 100,10000]
                                      [--peer josef --peer kafka --peer tansu] [--repeat 3]

Tansu keeps data in memory only (Josef and Kafka write to disk); say so next to its ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

import brokers
import jvm

RECORD = b"x" * 1024
PRODUCER = {
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "acks": "all",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 2_000_000,
    **brokers.QUIET,
}


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **brokers.QUIET})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(60)


def run_idempotent(bootstrap: str, topic: str, records: int) -> float:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **PRODUCER})
    start = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                p.produce(topic, RECORD)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(300) == 0
    return records / (time.perf_counter() - start)


def run_transactional(bootstrap: str, topic: str, records: int, per_txn: int, tid: str) -> float:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, **PRODUCER})
    p.init_transactions(60)
    start = time.perf_counter()
    left = records
    while left > 0:
        n = min(per_txn, left)
        p.begin_transaction()
        for _ in range(n):
            while True:
                try:
                    p.produce(topic, RECORD)
                    break
                except BufferError:
                    p.poll(0.01)
        p.commit_transaction(120)
        left -= n
    return records / (time.perf_counter() - start)


def measure(
    peer: str, bootstrap: str, records: int, sizes: list[int], repeat: int
) -> dict[str, Any]:
    results: dict[str, list[float]] = {"idempotent": []}
    for size in sizes:
        results[f"txn-{size}"] = []
    for r in range(repeat):
        topic = f"bench-idem-{r}"
        create_topic(bootstrap, topic)
        results["idempotent"].append(run_idempotent(bootstrap, topic, records))
        for size in sizes:
            topic = f"bench-txn-{size}-{r}"
            create_topic(bootstrap, topic)
            results[f"txn-{size}"].append(
                run_transactional(bootstrap, topic, records, size, f"bench-{size}-{r}")
            )
    medians = {k: statistics.median(v) for k, v in results.items()}
    base = medians["idempotent"]
    return {
        "peer": peer,
        "records": records,
        "runs": results,
        "median_records_per_s": medians,
        "ratio_to_idempotent": {k: v / base for k, v in medians.items() if k != "idempotent"},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--sizes", default="100,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--peer", action="append", choices=["josef", "kafka", "tansu"])
    ap.add_argument("--kafka-libs", type=Path)
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    peers = args.peer or ["josef"]
    sizes = [int(s) for s in args.sizes.split(",")]
    out = []
    with tempfile.TemporaryDirectory(prefix="josef-txn-bench-") as tmp:
        workdir = Path(tmp)
        for peer in peers:
            zk = None
            if peer == "josef":
                broker = brokers.make_josef(
                    workdir,
                    overrides={
                        "transaction.state.log.num.partitions": "4",
                        "offsets.topic.num.partitions": "4",
                    },
                )
            elif peer == "tansu":
                broker = brokers.make_tansu(workdir)
            else:
                libs = jvm.find_kafka_libs(args.kafka_libs)
                if libs is None:
                    print("kafka: no jars (--kafka-libs); skipped", file=sys.stderr)
                    continue
                zk = jvm.ZooKeeperServer(workdir, libs)
                zk.start()
                broker = jvm.make_kafka(
                    workdir,
                    libs,
                    zk.connect("/kafka"),
                    {
                        "offsets.topic.replication.factor": "1",
                        "offsets.topic.num.partitions": "4",
                        "transaction.state.log.replication.factor": "1",
                        "transaction.state.log.min.isr": "1",
                        "transaction.state.log.num.partitions": "4",
                        "num.partitions": "1",
                    },
                )
            broker.start()
            try:
                broker.wait_ready()
                result = measure(peer, broker.bootstrap, args.records, sizes, args.repeat)
            except Exception as exc:  # a peer without transactions: report and go on
                print(f"{peer}: failed: {exc}", file=sys.stderr)
                continue
            finally:
                broker.stop()
                if zk is not None:
                    zk.stop()
            out.append(result)
            med = result["median_records_per_s"]
            line = ", ".join(f"{k} {v:,.0f} rec/s" for k, v in med.items())
            ratios = ", ".join(f"{k} {v:.2f}x" for k, v in result["ratio_to_idempotent"].items())
            print(f"{peer}: {line}; ratio to idempotent: {ratios}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
