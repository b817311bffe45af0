"""What metrics cost: hot-path counting per request, and one scrape of a large broker.

    python benchmarks/metrics_overhead.py [--number 3000] [--repeat 5] [--partitions 1000]
                                          [--groups 100]

1. The counters alone (``RequestMetrics.record`` of the seven phase histograms with the
   five clock reads of a request, ``BrokerTopicStats.record_produce`` / ``record_fetch``),
   in ns of CPU time.
2. Produce v9 (1 partition, one 100-record batch of 100-byte values, acks=1) and Fetch v12
   (1 partition, 1 MiB max) dispatched in-process through the broker's RequestDispatcher as a
   connection drives it (arrival, dispatch, send and record), with metrics on and off
   (``josef.metrics.enabled=false``), runs interleaved, best of ``--repeat``
   (CPU time: the machines are shared, wall time is noisy).
3. ``/metrics`` for a broker with ``--partitions`` partitions and ``--groups`` groups holding a
   committed offset on 10 partitions each (generate_latest on the loop, as the HTTP handler
   runs it), best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker.admin.wire import build_request, encode_request
from broker.config.broker_config import load_config
from broker.metrics.exposition import render
from broker.metrics.stats import (
    BrokerTopicStats,
    RequestMetrics,
    RequestTimes,
    UncountedTopicStats,
)
from broker.network.context import ConnectionInfo
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from protocol.records import NewRecord, encode_batch

TOPIC = "bench"


def counters(number: int, repeat: int) -> dict[str, float]:
    metrics = RequestMetrics()
    stats = BrokerTopicStats()
    clock = time.monotonic_ns
    times = RequestTimes()
    times.api_key = 0

    def request() -> None:
        times.arrival_ns = clock()
        times.dequeue_ns = clock()
        times.complete_ns = clock()
        send = clock()
        metrics.count(0, 9)
        metrics.record(times, send, clock())

    def best(stmt: Any) -> float:
        runs = timeit.repeat(stmt, number=number * 100, repeat=repeat, timer=time.process_time)
        return min(runs) / (number * 100) * 1e9

    return {
        "RequestMetrics.count+record, 5 clock reads": best(request),
        "BrokerTopicStats.record_produce": best(lambda: stats.record_produce(TOPIC, 100, 10_000)),
        "BrokerTopicStats.record_fetch": best(lambda: stats.record_fetch(TOPIC, 10_000, False)),
    }


def produce_frame() -> bytes:
    batch = encode_batch([NewRecord(None, bytes(100)) for _ in range(100)])
    body = build_request(
        0,
        9,
        {
            "acks": 1,
            "timeout": datetime.timedelta(seconds=30),
            "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}],
        },
    )
    return encode_request(0, 9, 1, "bench", body)[4:]


def fetch_frame() -> bytes:
    partition = {
        "partition": 0,
        "current_leader_epoch": -1,
        "fetch_offset": 0,
        "log_start_offset": -1,
        "partition_max_bytes": 1 << 20,
    }
    body = build_request(
        1,
        12,
        {
            "replica_id": -1,
            "max_wait": datetime.timedelta(milliseconds=0),
            "min_bytes": 1,
            "max_bytes": 1 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [{"topic": TOPIC, "partitions": [partition]}],
            "forgotten_topics_data": [],
            "rack_id": "",
        },
    )
    return encode_request(1, 12, 2, "bench", body)[4:]


async def dispatch_cost(broker: KafkaBroker, number: int, repeat: int) -> dict[str, float]:
    services = broker.services
    assert services is not None
    dispatcher = broker.listeners[0].dispatcher
    rm = services.replica_manager
    info = ConnectionInfo("bench", "127.0.0.1", 1, "PLAINTEXT")
    frames = {"Produce v9 100x100 B": produce_frame(), "Fetch v12 1 MiB": fetch_frame()}
    on = (dispatcher.metrics, rm.topic_stats)
    off = (RequestMetrics(enabled=False), UncountedTopicStats())
    clock = dispatcher.clock_ns
    times = RequestTimes()
    best: dict[str, float] = {}
    for run in range(repeat):
        # Alternate which goes first: the log grows and the machine's load drifts.
        order = [("on", on), ("off", off)] if run % 2 == 0 else [("off", off), ("on", on)]
        for label, (metrics, stats) in order:
            dispatcher.metrics, rm.topic_stats = metrics, stats
            for name, frame in frames.items():
                start = time.process_time()
                for _ in range(number):
                    if metrics.enabled:  # what KafkaConnection does around a request
                        times.arrival_ns = clock()
                        await dispatcher.dispatch(frame, info, None, times)
                        send = clock()
                        metrics.record(times, send, clock())
                    else:
                        await dispatcher.dispatch(frame, info, None, times)
                us = (time.process_time() - start) / number * 1e6
                key = f"{name} metrics {label}"
                best[key] = min(best.get(key, us), us)
    dispatcher.metrics, rm.topic_stats = on
    return best


async def scrape_cost(broker: KafkaBroker, partitions: int, groups: int, repeat: int) -> float:
    services = broker.services
    assert services is not None and broker.http is not None
    from kio.schema.errors import ErrorCode

    await services.topic_manager.create(TopicSpec("wide", partitions, 1), wait_ms=120_000)
    rm = services.replica_manager
    await services.metadata.wait_until(
        lambda: sum(1 for t, _ in rm.partitions if t == "wide") == partitions, 120_000
    )
    coordinator = services.group_coordinator
    await coordinator.ensure_topic()  # __consumer_offsets, as the first FindCoordinator makes it
    for g in range(groups):
        while (await coordinator.check_group(f"group-{g}")) != ErrorCode.none:
            await asyncio.sleep(0.05)
        offsets = [("wide", (g * 10 + i) % partitions, 0, -1, None) for i in range(10)]
        error, _ = await coordinator.commit_offsets(f"group-{g}", "", None, -1, offsets)
        assert error == ErrorCode.none, error
    registry = broker.http.registry
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        body = render([registry])
        runs.append(time.perf_counter() - start)
    lines = body.count(b"\n")
    print(f"  /metrics: {len(body) / 1024:.0f} KiB, {lines} lines")
    return min(runs) * 1000


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            None,
            [
                "listeners=PLAINTEXT://127.0.0.1:0",
                "josef.http.listeners=http://127.0.0.1:0",
                f"log.dirs={tmp}",
                "offsets.topic.num.partitions=1",
                "auto.create.topics.enable=true",
            ],
        )
        broker = KafkaBroker(config)
        await broker.start()
        services = broker.services
        assert services is not None
        try:
            await services.topic_manager.create(TopicSpec(TOPIC, 1, 1), wait_ms=30_000)
            rm = services.replica_manager
            await services.metadata.wait_until(lambda: (TOPIC, 0) in rm.partitions, 30_000)
            print("dispatch, µs of CPU per request (best of runs):")
            for name, us in (await dispatch_cost(broker, args.number, args.repeat)).items():
                print(f"  {name:40s} {us:8.2f}")
            ms = await scrape_cost(broker, args.partitions, args.groups, args.repeat)
            print(f"scrape of {args.partitions} partitions, {args.groups} groups: {ms:.1f} ms")
        finally:
            await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=100)
    args = parser.parse_args()
    print("counters, ns of CPU per call:")
    for name, ns in counters(args.number, args.repeat).items():
        print(f"  {name:40s} {ns:8.1f}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
