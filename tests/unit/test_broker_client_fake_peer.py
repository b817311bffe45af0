"""cluster.broker_client.BrokerClient against a tiny scripted asyncio server: pipelining,
partial frames, deadlines, reconnects, the ApiVersions fallback and bad responses."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kio.schema.api_versions.v2.response import ApiVersion as ApiVersionV2
from kio.schema.api_versions.v2.response import ApiVersionsResponse as ApiVersionsResponseV2
from kio.schema.api_versions.v4.response import ApiVersion as ApiVersionV4
from kio.schema.api_versions.v4.response import ApiVersionsResponse as ApiVersionsResponseV4
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.metadata.v12.response import MetadataResponse

from cluster.broker_client import (
    BrokerClient,
    BrokerDisconnected,
    RequestTimedOut,
    UnsupportedVersion,
)
from protocol.codec import (
    decode_request,
    encode_response,
    request_is_flexible,
    request_schema,
)
from protocol.errors import ProtocolViolation
from protocol.headers import read_request_header

METADATA = 3
API_VERSIONS = 18


@dataclass
class Received:
    api_key: int
    version: int
    correlation_id: int
    client_id: str | None
    body: Any


@dataclass
class FakeConnection:
    writer: asyncio.StreamWriter
    received: list[Received] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def reply(self, request: Received, response: Any) -> None:
        frame = encode_response(request.api_key, request.version, request.correlation_id, response)
        self.writer.write(frame)
        await self.writer.drain()


Handler = Callable[[FakeConnection, Received], Awaitable[None]]


class FakeBroker:
    """Accepts connections, decodes request frames and passes them to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: list[FakeConnection] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for conn in self.connections:
            conn.writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConnection(writer)
        self.connections.append(conn)
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                frame = await reader.readexactly(size)
                api_key, version = struct.unpack_from(">hh", frame, 0)
                header, pos = read_request_header(frame, request_is_flexible(api_key, version))
                body = decode_request(api_key, version, frame, pos)
                request = Received(api_key, version, header.correlation_id, header.client_id, body)
                conn.received.append(request)
                await self.handler(conn, request)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed, or the server is stopping
        finally:
            conn.closed.set()
            writer.close()


@contextlib.asynccontextmanager
async def fake_broker(handler: Handler) -> AsyncIterator[FakeBroker]:
    broker = FakeBroker(handler)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


def metadata_request(topic: str) -> Any:
    """A Metadata v12 request for one topic (the fake broker echoes its name)."""
    return MetadataRequest(
        topics=(MetadataRequestTopic(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )


def metadata_response(cluster_id: str) -> Any:
    return MetadataResponse(
        throttle_time=datetime.timedelta(0),
        brokers=(),
        cluster_id=cluster_id,
        controller_id=-1,
        topics=(),
    )


async def echo_topic(conn: FakeConnection, request: Received) -> None:
    """Answers Metadata with cluster_id = the first requested topic's name."""
    await conn.reply(request, metadata_response(request.body.topics[0].name))


def client_for(broker: FakeBroker, **kwargs: Any) -> BrokerClient:
    kwargs.setdefault("request_timeout", 5.0)
    kwargs.setdefault("reconnect_backoff", 0.01)
    kwargs.setdefault("reconnect_backoff_max", 0.05)
    return BrokerClient("127.0.0.1", broker.port, client_id="test-client", **kwargs)


async def test_pipelined_requests_are_answered_in_order() -> None:
    batch = 20
    all_arrived = asyncio.Event()
    held: list[tuple[FakeConnection, Received]] = []

    async def hold_until_all_arrived(conn: FakeConnection, request: Received) -> None:
        held.append((conn, request))
        if len(held) == batch:
            all_arrived.set()
            for c, r in held:  # answered only once every request is on the wire
                await c.reply(r, metadata_response(r.body.topics[0].name))

    async with fake_broker(hold_until_all_arrived) as broker, client_for(broker) as client:
        topics = [f"topic-{i}" for i in range(batch)]
        responses = await asyncio.gather(*(client.send(metadata_request(t)) for t in topics))
        assert [r.cluster_id for r in responses] == topics
        assert all_arrived.is_set() and client.connections_made == 1
        (conn,) = broker.connections
        ids = [r.correlation_id for r in conn.received]
        assert len(set(ids)) == batch and {r.client_id for r in conn.received} == {"test-client"}


async def test_response_arriving_one_byte_at_a_time() -> None:
    async def trickle(conn: FakeConnection, request: Received) -> None:
        frame = encode_response(METADATA, 12, request.correlation_id, metadata_response("slow"))
        for i in range(len(frame)):
            conn.writer.write(frame[i : i + 1])
            await conn.writer.drain()
            await asyncio.sleep(0)

    async with fake_broker(trickle) as broker, client_for(broker) as client:
        assert (await client.send(metadata_request("t"))).cluster_id == "slow"


async def test_timeout_closes_the_connection_and_the_next_call_reconnects() -> None:
    async def ignore_topic_silent(conn: FakeConnection, request: Received) -> None:
        if request.body.topics[0].name != "silent":
            await echo_topic(conn, request)

    async with fake_broker(ignore_topic_silent) as broker, client_for(broker) as client:
        assert (await client.send(metadata_request("a"))).cluster_id == "a"
        silent = asyncio.create_task(client.send(metadata_request("silent"), timeout=0.3))
        behind = asyncio.create_task(client.send(metadata_request("silent"), timeout=30))
        with pytest.raises(RequestTimedOut, match="Metadata v12"):
            await silent
        # the connection is closed: the other request in flight on it fails too
        with pytest.raises(BrokerDisconnected):
            await behind
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)
        assert not client.connected
        assert (await client.send(metadata_request("b"))).cluster_id == "b"
        assert client.connections_made == 2 and len(broker.connections) == 2


async def test_partial_frame_then_close_fails_the_request() -> None:
    async def half_then_close(conn: FakeConnection, request: Received) -> None:
        frame = encode_response(METADATA, 12, request.correlation_id, metadata_response("x"))
        conn.writer.write(frame[: len(frame) // 2])
        await conn.writer.drain()
        conn.writer.close()

    async with fake_broker(half_then_close) as broker, client_for(broker) as client:
        with pytest.raises(BrokerDisconnected, match="lost"):
            await client.send(metadata_request("t"))
        assert not client.connected


async def test_correlation_id_mismatch_closes_the_connection() -> None:
    async def wrong_id(conn: FakeConnection, request: Received) -> None:
        if request.body.topics[0].name == "bad":
            request = Received(METADATA, 12, request.correlation_id + 7, None, request.body)
        await echo_topic(conn, request)

    async with fake_broker(wrong_id) as broker, client_for(broker) as client:
        with pytest.raises(ProtocolViolation, match="correlation id"):
            await client.send(metadata_request("bad"))
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)
        assert (await client.send(metadata_request("good"))).cluster_id == "good"


async def test_oversized_response_frame_is_refused_before_buffering() -> None:
    async def huge(conn: FakeConnection, request: Received) -> None:
        conn.writer.write(struct.pack(">i", 2_000_000_000) + b"\x00" * 64)
        await conn.writer.drain()

    async with fake_broker(huge) as broker, client_for(broker, max_response_bytes=4096) as client:
        with pytest.raises(BrokerDisconnected, match="2000000000 bytes exceeds max_response"):
            await client.send(metadata_request("t"))


async def test_malformed_response_body_fails_that_request_and_closes() -> None:
    async def garbage(conn: FakeConnection, request: Received) -> None:
        body = struct.pack(">i", request.correlation_id) + b"\x00" + b"\x01\x02"
        conn.writer.write(struct.pack(">i", len(body)) + body)
        await conn.writer.drain()

    async with fake_broker(garbage) as broker, client_for(broker) as client:
        with pytest.raises(ProtocolViolation, match="MetadataResponse v12"):
            await client.send(metadata_request("t"))
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)


async def test_unrequested_response_closes_the_connection() -> None:
    async def twice(conn: FakeConnection, request: Received) -> None:
        await echo_topic(conn, request)
        await echo_topic(conn, request)

    async with fake_broker(twice) as broker, client_for(broker) as client:
        assert (await client.send(metadata_request("t"))).cluster_id == "t"
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)
        assert (await client.send(metadata_request("u"))).cluster_id == "u"
        assert client.connections_made == 2


async def test_reconnects_with_backoff_once_the_peer_is_back() -> None:
    broker = FakeBroker(echo_topic)
    await broker.start()
    port = broker.port
    client = client_for(broker, reconnect_backoff=0.02, reconnect_backoff_max=0.1)
    try:
        assert (await client.send(metadata_request("before"))).cluster_id == "before"
        await broker.stop()
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)
        for _ in range(3):  # each call makes one attempt, after a growing backoff
            with pytest.raises(BrokerDisconnected, match=r"cannot connect|lost|closed"):
                await client.send(metadata_request("down"))
        await broker.start(port)
        assert (await client.send(metadata_request("after"))).cluster_id == "after"
        assert client.connections_made == 2
    finally:
        await client.close()
        await broker.stop()


async def test_api_versions_falls_back_when_the_peer_refuses_our_version() -> None:
    from kio.schema.api_versions.v0.response import ApiVersion, ApiVersionsResponse

    async def serves_v0_to_v2(conn: FakeConnection, request: Received) -> None:
        if request.api_key == API_VERSIONS and request.version > 2:
            body = ApiVersionsResponse(
                error_code=ErrorCode.unsupported_version,
                api_keys=(ApiVersion(api_key=API_VERSIONS, min_version=0, max_version=2),),
            )
            frame = encode_response(API_VERSIONS, 0, request.correlation_id, body)
            conn.writer.write(frame)
            return
        if request.api_key == API_VERSIONS:
            body = ApiVersionsResponseV2(
                error_code=ErrorCode.none,
                api_keys=(
                    ApiVersionV2(api_key=API_VERSIONS, min_version=0, max_version=2),
                    ApiVersionV2(api_key=METADATA, min_version=1, max_version=9),
                ),
                throttle_time=datetime.timedelta(0),
            )
            await conn.reply(request, body)
            return
        await echo_topic(conn, request)

    async with fake_broker(serves_v0_to_v2) as broker, client_for(broker) as client:
        versions = await client.api_versions()
        assert [r.version for r in broker.connections[0].received] == [4, 2]
        assert versions.ranges == {API_VERSIONS: (0, 2), METADATA: (1, 9)}
        assert client.peer_versions == versions
        assert versions.highest_common(METADATA, 0, 12) == 9
        with pytest.raises(UnsupportedVersion):
            versions.highest_common(METADATA, 10, 12)
        with pytest.raises(UnsupportedVersion, match="not at all"):
            versions.highest_common(4, 0, 7)


async def test_check_api_versions_runs_first_on_every_connection() -> None:
    async def answer(conn: FakeConnection, request: Received) -> None:
        if request.api_key == API_VERSIONS:
            await conn.reply(
                request,
                ApiVersionsResponseV4(
                    error_code=ErrorCode.none,
                    api_keys=(ApiVersionV4(api_key=METADATA, min_version=0, max_version=12),),
                    throttle_time=datetime.timedelta(0),
                ),
            )
        else:
            await echo_topic(conn, request)

    async with fake_broker(answer) as broker, client_for(broker, check_api_versions=True) as c:
        await asyncio.gather(*(c.send(metadata_request(f"t{i}")) for i in range(5)))
        c.disconnect()
        await c.send(metadata_request("again"))
        for conn in broker.connections:
            assert conn.received[0].api_key == API_VERSIONS
            assert conn.received[0].body.client_software_name == "josef"
        assert len(broker.connections) == 2
        assert c.peer_versions is not None and c.peer_versions.ranges == {METADATA: (0, 12)}


async def test_produce_with_acks_0_expects_no_response() -> None:
    async def never_answer_produce(conn: FakeConnection, request: Received) -> None:
        if request.api_key != 0:
            await echo_topic(conn, request)

    produce = request_schema(0, 9)(
        transactional_id=None, acks=0, timeout=datetime.timedelta(0), topic_data=()
    )
    async with fake_broker(never_answer_produce) as broker, client_for(broker) as client:
        assert await client.send(produce) is None
        assert (await client.send(metadata_request("after"))).cluster_id == "after"
        assert [r.api_key for r in broker.connections[0].received] == [0, METADATA]


async def test_close_fails_requests_in_flight_and_later_calls() -> None:
    async def silent(conn: FakeConnection, request: Received) -> None:
        return None

    async with fake_broker(silent) as broker:
        client = client_for(broker)
        pending = asyncio.create_task(client.send(metadata_request("t")))
        while client.in_flight == 0:
            await asyncio.sleep(0.01)
        await client.close()
        with pytest.raises(BrokerDisconnected, match="closed"):
            await pending
        with pytest.raises(BrokerDisconnected, match="closed"):
            await client.send(metadata_request("t"))
        await asyncio.wait_for(broker.connections[0].closed.wait(), 5)


async def test_connect_refused_is_a_broker_disconnected() -> None:
    broker = FakeBroker(echo_topic)
    await broker.start()
    await broker.stop()
    async with client_for(broker) as client:
        with pytest.raises(BrokerDisconnected, match="cannot connect"):
            await client.send(metadata_request("t"))
