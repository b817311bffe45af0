"""Quota throttling mutes the channel (Kafka's ThrottledChannel): after a throttled response
the connection handles nothing more and reads nothing from its socket until the throttle
time is over; the response itself goes out at once (KIP-219). The throttle time reaches the
response's throttle_time_ms field, kio-built or pre-encoded (Fetch)."""

from __future__ import annotations

import asyncio
import datetime
import struct
from typing import Any

from broker.network.context import ConnectionInfo
from broker.network.dispatch import PreEncoded, Registry, RequestDispatcher, _with_throttle
from broker.network.listener import Listener
from protocol.builders import ResponseBuilder
from protocol.fetch_response import encode_fetch_response


class StubDispatcher(RequestDispatcher):
    """Answers every frame with its own bytes; the first one earns a long throttle."""

    def __init__(self, throttle_ms: int) -> None:
        super().__init__(Registry())
        self.throttle_ms = throttle_ms
        self.handled: list[bytes] = []

    async def dispatch(
        self,
        frame: bytes,
        connection: ConnectionInfo,
        on_throttle: Any = None,
        times: Any = None,
    ) -> bytes:
        self.handled.append(frame)
        if len(self.handled) == 1 and on_throttle is not None:
            on_throttle(self.throttle_ms)
        return struct.pack(">i", len(frame)) + frame


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


async def test_throttled_connection_is_muted() -> None:
    dispatcher = StubDispatcher(throttle_ms=60_000)
    listener = Listener("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 0, dispatcher, 1 << 20, 0)
    await listener.start_server_only()
    await listener.start_serving()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        writer.write(frame(b"first") + frame(b"second") + frame(b"third"))
        await writer.drain()
        # The throttled response is not delayed...
        size = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), 10))[0]
        assert await reader.readexactly(size) == b"first"
        await asyncio.sleep(0.2)
        # ...but nothing after it is handled, and the socket is not read.
        assert dispatcher.handled == [b"first"]
        (conn,) = listener.connections
        transport = conn._transport
        assert transport is not None and not transport.is_reading()
        writer.write(frame(b"x" * 100_000))
        await writer.drain()
        await asyncio.sleep(0.1)
        assert dispatcher.handled == [b"first"]
    finally:
        writer.close()
        listener.stop_accepting()
        await listener.drain(1)


async def test_muted_channel_resumes_after_the_throttle_time() -> None:
    dispatcher = StubDispatcher(throttle_ms=50)
    listener = Listener("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 0, dispatcher, 1 << 20, 0)
    await listener.start_server_only()
    await listener.start_serving()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        writer.write(frame(b"first") + frame(b"second"))
        await writer.drain()
        answers = []
        for _ in range(2):
            size = struct.unpack(">i", await asyncio.wait_for(reader.readexactly(4), 10))[0]
            answers.append(await reader.readexactly(size))
        assert answers == [b"first", b"second"]
        (conn,) = listener.connections
        assert conn._transport is not None and conn._transport.is_reading()
    finally:
        writer.close()
        listener.stop_accepting()
        await listener.drain(1)


def test_throttle_time_reaches_the_response() -> None:
    rb = ResponseBuilder(3, 12)
    response = rb(None, throttle_time=datetime.timedelta(0), brokers=(), cluster_id=None,
                  controller_id=-1, topics=())  # fmt: skip
    patched = _with_throttle(response, 1234)
    assert patched.throttle_time == datetime.timedelta(milliseconds=1234)
    # A larger throttle the handler already set is kept.
    assert _with_throttle(patched, 10).throttle_time == datetime.timedelta(milliseconds=1234)
    for version, offset in ((11, 8), (12, 9), (16, 9)):
        parts = encode_fetch_response(version, 7, [], session_id=0)
        pre = _with_throttle(PreEncoded(parts, throttle_at=offset), 250)
        head = bytes(pre.parts[0])
        assert struct.unpack_from(">i", head, offset)[0] == 250
        assert struct.unpack_from(">i", head, 4)[0] == 7  # the correlation id is untouched
