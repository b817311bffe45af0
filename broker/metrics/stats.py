"""Hot-path counters: what the broker counts while serving, read at scrape time.

Counting is integer adds on plain attributes, per request or per partition of a request,
never per record (Kafka's BrokerTopicStats, RequestMetrics). Prometheus objects are built
only when ``/metrics`` is scraped (``broker.metrics.collector``), so a broker nobody scrapes
pays only for these adds.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time

# Request latency bucket bounds in milliseconds (Prometheus histogram ``le`` labels).
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
    5000.0, 10000.0, 30000.0,
)
_BOUNDS_NS: tuple[int, ...] = tuple(int(b * 1_000_000) for b in LATENCY_BUCKETS_MS)


class TopicStats:
    """One topic's BrokerTopicMetrics counters (or the all-topics total)."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "fetch_requests",
        "messages_in",
        "produce_requests",
        "replication_bytes_in",
        "replication_bytes_out",
    )

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.replication_bytes_in = 0
        self.replication_bytes_out = 0
        self.produce_requests = 0
        self.fetch_requests = 0


class BrokerTopicStats:
    """Kafka's BrokerTopicStats: per-topic and all-topics message and byte counters, plus
    the ReplicaManager's ISR shrink/expand counts."""

    __slots__ = ("all_topics", "isr_expands", "isr_shrinks", "topics")

    def __init__(self) -> None:
        self.topics: dict[str, TopicStats] = {}
        self.all_topics = TopicStats()
        self.isr_shrinks = 0
        self.isr_expands = 0

    def topic(self, name: str) -> TopicStats:
        stats = self.topics.get(name)
        if stats is None:
            stats = self.topics[name] = TopicStats()
        return stats

    def record_produce(self, topic: str, records: int, size: int) -> None:
        """A leader appended ``records`` records of ``size`` bytes (one partition's batches)."""
        stats = self.topics.get(topic) or self.topic(topic)
        stats.messages_in += records
        stats.bytes_in += size
        stats.produce_requests += 1
        total = self.all_topics
        total.messages_in += records
        total.bytes_in += size
        total.produce_requests += 1

    def record_fetch(self, topic: str, size: int, follower: bool) -> None:
        """A Fetch response carries ``size`` record bytes of one partition of ``topic``."""
        stats = self.topics.get(topic) or self.topic(topic)
        total = self.all_topics
        if follower:
            stats.replication_bytes_out += size
            total.replication_bytes_out += size
        else:
            stats.bytes_out += size
            stats.fetch_requests += 1
            total.bytes_out += size
            total.fetch_requests += 1

    def record_replication_in(self, topic: str, size: int) -> None:
        """A follower appended ``size`` bytes fetched from its leader."""
        (self.topics.get(topic) or self.topic(topic)).replication_bytes_in += size
        self.all_topics.replication_bytes_in += size

    def remove_topic(self, name: str) -> None:
        """A deleted topic's series go away (Kafka removes its topic metrics)."""
        self.topics.pop(name, None)


class RequestMetrics:
    """Kafka's RequestMetrics: requests per (API, version) and total time per API.

    ``record`` is called once per request by the dispatcher: a dict add and a bisect into
    fixed bucket bounds. Histogram buckets are stored non-cumulative and summed at scrape.
    """

    __slots__ = ("counts", "errors", "latency")

    def __init__(self) -> None:
        #: (api_key, version) -> requests
        self.counts: dict[tuple[int, int], int] = {}
        #: api_key -> [bucket counts..., +Inf count, sum in ns]
        self.latency: dict[int, list[int]] = {}
        #: api_key -> requests that closed the connection or raised
        self.errors: dict[int, int] = {}

    def record(self, api_key: int, api_version: int, elapsed_ns: int) -> None:
        key = (api_key, api_version)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        hist = self.latency.get(api_key)
        if hist is None:
            hist = self.latency[api_key] = [0] * (len(_BOUNDS_NS) + 2)
        hist[bisect.bisect_left(_BOUNDS_NS, elapsed_ns)] += 1
        hist[-1] += elapsed_ns

    def record_error(self, api_key: int) -> None:
        self.errors[api_key] = self.errors.get(api_key, 0) + 1


class EventLoopLag:
    """How late the event loop runs a timer: the asyncio stand-in for Kafka's network
    processor idle ratio. A task sleeps ``interval_s`` and measures the overshoot."""

    __slots__ = ("_task", "interval_s", "last_s", "max_s", "samples", "total_s")

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.last_s = 0.0
        self.max_s = 0.0
        self.total_s = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        clock = time.monotonic
        while True:
            before = clock()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, clock() - before - self.interval_s)
            self.last_s = lag
            self.max_s = max(self.max_s, lag)
            self.total_s += lag
            self.samples += 1
