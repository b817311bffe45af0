"""RequestMetrics' phase breakdown (total, request queue, local, remote, throttle, response
queue, response send) driven through a real KafkaConnection and RequestDispatcher with a
fake clock, so every phase lands in a known bucket."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from broker.admin.wire import build_request, encode_request
from broker.metrics.collector import BrokerCollector, BrokerView, families
from broker.metrics.stats import REQUEST_TIMES, EventLoopLag, RequestMetrics, RequestTimes
from broker.network.connection import KafkaConnection
from broker.network.context import RequestContext
from broker.network.dispatch import PreEncoded, Registry, RequestDispatcher
from broker.network.request_budget import RequestBudget

MS = 1_000_000
API_VERSIONS = 18

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class FakeClock:
    def __init__(self, now: int) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.now


class FakeTransport:
    """Enough of an asyncio transport for KafkaConnection; a write takes ``send_ns``."""

    def __init__(self, clock: FakeClock, send_ns: int) -> None:
        self.clock = clock
        self.send_ns = send_ns
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.clock.now += self.send_ns
        self.written.append(bytes(data))

    def writelines(self, parts: list[bytes]) -> None:
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class FakeListener:
    name = "PLAINTEXT"
    security_protocol = "PLAINTEXT"
    max_request_size = 1 << 20
    idle_timeout_s = 0.0
    security = None
    receive_timeout_s = 0.0

    def __init__(self, dispatcher: RequestDispatcher) -> None:
        self.dispatcher = dispatcher
        self.connections: set[KafkaConnection] = set()
        self.connections_created = 0
        self.connections_closed = 0
        self.request_budget = RequestBudget(-1)


def api_versions_frame(correlation_id: int) -> bytes:
    body = build_request(
        API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
    )
    return encode_request(API_VERSIONS, 3, correlation_id, "test", body)


def samples(metrics: RequestMetrics) -> Samples:
    view = BrokerView(0, 10, metrics, EventLoopLag(), dict)
    out: Samples = {}
    for family in families([BrokerCollector(view)]):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def bucket_of(s: Samples, phase: str, le: str) -> float:
    name = f"kafka_network_requestmetrics_{phase}_bucket"
    return s[(name, (("le", le), ("request", "ApiVersions")))]


def only_bucket(s: Samples, phase: str) -> str:
    """The smallest ``le`` holding the one request observed."""
    name = f"kafka_network_requestmetrics_{phase}_bucket"
    hits = [
        (float(dict(labels)["le"]), dict(labels)["le"])
        for (n, labels), v in s.items()
        if n == name and v == 1
    ]
    return min(hits)[1]


async def test_phases_of_one_request_land_in_exact_buckets() -> None:
    clock = FakeClock(1 * MS)
    registry = Registry()

    async def handler(ctx: RequestContext, _request: Any) -> PreEncoded:
        clock.now += 400_000  # 0.4 ms of local work
        clock.now += 5 * MS  # parked 5 ms, as a purgatory wait reports it
        ctx.times.remote_ns += 5 * MS
        clock.now += 300_000  # 0.3 ms more local work after being woken
        ctx.throttle.at_least(7)  # a 7 ms quota throttle
        return PreEncoded([struct.pack(">ii", 4, ctx.header.correlation_id)])

    registry.register(API_VERSIONS, 0, 3, handler)
    dispatcher = RequestDispatcher(registry)
    dispatcher.clock_ns = clock
    listener = FakeListener(dispatcher)
    transport = FakeTransport(clock, send_ns=2 * MS)
    connection = KafkaConnection(listener)
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(api_versions_frame(7))  # read at 1 ms
    clock.now += 2 * MS  # 2 ms before the connection's task gets to it
    async with asyncio.timeout(10):  # a guard, not a measurement
        while not transport.written or connection.busy:
            await asyncio.sleep(0.001)
    connection.close()
    assert transport.written == [struct.pack(">ii", 4, 7)]

    s = samples(dispatcher.metrics)
    expected = {
        "totaltimems": "10.0",  # 1 -> 10.7 ms: 9.7 ms
        "requestqueuetimems": "2.5",  # 2 ms
        "localtimems": "1.0",  # 0.7 ms
        "remotetimems": "5.0",  # 5 ms
        "throttletimems": "10.0",  # 7 ms
        "responsequeuetimems": "0.1",  # 0
        "responsesendtimems": "2.5",  # 2 ms
    }
    for phase, le in expected.items():
        assert only_bucket(s, phase) == le, phase
        assert (
            s[(f"kafka_network_requestmetrics_{phase}_count", (("request", "ApiVersions"),))] == 1
        )
    sums = {
        phase: s[(f"kafka_network_requestmetrics_{phase}_sum", (("request", "ApiVersions"),))]
        for phase, _ in REQUEST_TIMES
    }
    assert sums == {
        "totaltimems": pytest.approx(9.7),
        "requestqueuetimems": pytest.approx(2.0),
        "localtimems": pytest.approx(0.7),
        "remotetimems": pytest.approx(5.0),
        "throttletimems": pytest.approx(7.0),
        "responsequeuetimems": 0.0,
        "responsesendtimems": pytest.approx(2.0),
    }
    assert bucket_of(s, "localtimems", "0.5") == 0
    assert bucket_of(s, "totaltimems", "5.0") == 0
    requests = (
        "kafka_network_requestmetrics_requests_total",
        (("request", "ApiVersions"), ("version", "3")),
    )
    assert s[requests] == 1


async def test_dispatch_without_a_connection_times_the_handler_alone() -> None:
    clock = FakeClock(10 * MS)
    registry = Registry()

    async def handler(ctx: RequestContext, _request: Any) -> PreEncoded:
        clock.now += 3 * MS
        return PreEncoded([b"x"])

    registry.register(API_VERSIONS, 0, 3, handler)
    dispatcher = RequestDispatcher(registry)
    dispatcher.clock_ns = clock
    from broker.network.context import ConnectionInfo

    info = ConnectionInfo("c", "127.0.0.1", 1, "PLAINTEXT")
    await dispatcher.dispatch(api_versions_frame(1)[4:], info)
    s = samples(dispatcher.metrics)
    assert only_bucket(s, "totaltimems") == "5.0"
    assert only_bucket(s, "localtimems") == "5.0"
    assert only_bucket(s, "requestqueuetimems") == "0.1"
    assert only_bucket(s, "responsesendtimems") == "0.1"


async def test_metrics_disabled_reads_no_clock_and_counts_nothing() -> None:
    clock = FakeClock(0)
    registry = Registry()

    async def handler(ctx: RequestContext, _request: Any) -> PreEncoded:
        return PreEncoded([struct.pack(">ii", 4, ctx.header.correlation_id)])

    registry.register(API_VERSIONS, 0, 3, handler)
    dispatcher = RequestDispatcher(registry, metrics_enabled=False)
    dispatcher.clock_ns = clock
    transport = FakeTransport(clock, send_ns=0)
    connection = KafkaConnection(FakeListener(dispatcher))
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(api_versions_frame(1) + api_versions_frame(2))
    async with asyncio.timeout(10):
        while len(transport.written) < 2:
            await asyncio.sleep(0.001)
    connection.close()
    assert clock.reads == 0
    assert dispatcher.metrics.counts == {} and dispatcher.metrics.times == {}


def test_negative_or_zero_phases_fall_in_the_first_bucket_and_add_nothing() -> None:
    metrics = RequestMetrics()
    times = RequestTimes()
    times.api_key = API_VERSIONS
    times.arrival_ns = times.dequeue_ns = times.complete_ns = 5 * MS
    metrics.record(times, 5 * MS, 5 * MS)
    for phase in range(len(REQUEST_TIMES)):
        hist = metrics.histogram(API_VERSIONS, phase)
        assert hist[0] == 1 and sum(hist[1:-1]) == 0 and hist[-1] == 0
