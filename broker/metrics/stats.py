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


class UncountedTopicStats(BrokerTopicStats):
    """``josef.metrics.enabled=false``: message and byte counters stay at zero (ISR
    shrinks and expands are still counted: they are rare and operators alert on them)."""

    __slots__ = ()

    def record_produce(self, topic: str, records: int, size: int) -> None:
        pass

    def record_fetch(self, topic: str, size: int, follower: bool) -> None:
        pass

    def record_replication_in(self, topic: str, size: int) -> None:
        pass


#: The phases of a request's life Kafka's RequestMetrics times, in histogram order, with
#: the JMX exporter name of each (``kafka_network_requestmetrics_<name>``).
REQUEST_TIMES: tuple[tuple[str, str], ...] = (
    ("totaltimems", "Time from reading a request to its response being sent"),
    ("requestqueuetimems", "Time a read request waited before its handler started"),
    ("localtimems", "Time the handler worked on a request (parked time left out)"),
    ("remotetimems", "Time a request was parked in a purgatory (acks=all, fetch max.wait)"),
    ("throttletimems", "Quota throttle time given to a request"),
    ("responsequeuetimems", "Time a ready response waited before being written"),
    ("responsesendtimems", "Time writing a response to the socket took"),
)
#: Slots per histogram: one per bucket bound, +Inf, then the sum in ns.
_STRIDE = len(_BOUNDS_NS) + 2
_HISTS = len(REQUEST_TIMES)


class RequestTimes:
    """One request's timestamps (monotonic ns) through the phases of Kafka's RequestMetrics.

    A connection answers one request at a time, so it owns one of these and reuses it for
    every request (no allocation per request); the dispatcher fills in the API and the
    handler's start and end, handlers add the time they park in a purgatory to
    ``remote_ns``, and the connection adds the send.
    """

    __slots__ = (
        "api_key",
        "api_version",
        "arrival_ns",
        "complete_ns",
        "dequeue_ns",
        "remote_ns",
        "throttle_ms",
    )

    def __init__(self) -> None:
        self.api_key = -1
        self.api_version = -1
        #: The frame was read off the socket.
        self.arrival_ns = 0
        #: The dispatcher started on it (the handler runs from here).
        self.dequeue_ns = 0
        #: The response was ready (or the handler finished without one).
        self.complete_ns = 0
        #: Parked in purgatories meanwhile.
        self.remote_ns = 0
        self.throttle_ms = 0


class RequestMetrics:
    """Kafka's RequestMetrics: requests per (API, version) and, per API, histograms of the
    total, request queue, local, remote, throttle, response queue and response send times.

    ``count`` and ``record`` are called once per request (dict adds and a bisect per
    histogram into fixed bounds). Buckets are stored non-cumulative and summed at scrape.
    ``enabled`` False (``josef.metrics.enabled=false``) makes the dispatcher and connections
    skip both, clock reads included.
    """

    __slots__ = ("counts", "enabled", "errors", "times")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        #: (api_key, version) -> requests
        self.counts: dict[tuple[int, int], int] = {}
        #: api_key -> REQUEST_TIMES histograms back to back, each [buckets..., +Inf, sum ns]
        self.times: dict[int, list[int]] = {}
        #: api_key -> requests that closed the connection or raised
        self.errors: dict[int, int] = {}

    def count(self, api_key: int, api_version: int) -> None:
        key = (api_key, api_version)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1

    def record(self, t: RequestTimes, send_ns: int, end_ns: int) -> None:
        """A request's phases: ``send_ns`` the response write started, ``end_ns`` it ended
        (both ``t.complete_ns`` when there is no response)."""
        hist = self.times.get(t.api_key)
        if hist is None:
            hist = self.times[t.api_key] = [0] * (_STRIDE * _HISTS)
        remote = t.remote_ns
        bounds = _BOUNDS_NS
        first = bounds[0]
        find = bisect.bisect_left
        base = 0
        for ns in (
            end_ns - t.arrival_ns,
            t.dequeue_ns - t.arrival_ns,
            t.complete_ns - t.dequeue_ns - remote,
            remote,
            t.throttle_ms * 1_000_000,
            send_ns - t.complete_ns,
            end_ns - send_ns,
        ):
            if ns < first:  # most phases of most requests: no bisect
                hist[base] += 1
                if ns > 0:
                    hist[base + _STRIDE - 1] += ns
            else:
                hist[base + find(bounds, ns)] += 1
                hist[base + _STRIDE - 1] += ns
            base += _STRIDE

    def histogram(self, api_key: int, phase: int) -> list[int]:
        """Phase ``phase`` (index into REQUEST_TIMES) of an API: [buckets..., +Inf, sum ns]."""
        hist = self.times[api_key]
        return hist[phase * _STRIDE : (phase + 1) * _STRIDE]

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
