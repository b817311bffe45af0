"""An asyncio client for one broker endpoint.

In Kafka's model this is NetworkClient reduced to one node: the controller keeps one per
live broker to send LeaderAndIsr, UpdateMetadata and StopReplica, a broker keeps one to the
controller for AlterPartition and ControlledShutdown, and each replica fetcher keeps one to
the leader it fetches from. Requests are kio entities (any API key and version that
protocol/codec knows); responses come back as kio entities.

Behaviour, after Kafka's client:
* requests are pipelined on one connection; the broker answers in order, so each response
  frame belongs to the oldest request still waiting, and its correlation id must match
  (a mismatch closes the connection);
* every call has a deadline (``request_timeout``, the whole call: backoff wait, connect,
  write, response); a request that times out closes the connection, failing the other
  requests in flight on it, as Kafka does on request.timeout.ms;
* after a failed connect or a lost connection the next call reconnects, first waiting an
  exponential backoff with jitter (reconnect.backoff.ms doubling up to
  reconnect.backoff.max.ms); one attempt per call, the caller decides whether to retry;
* response frames are size-checked before they are buffered (FrameDecoder) and bodies go
  through protocol.codec.decode_response, the same checks as request bodies;
* ``api_versions()`` is the ApiVersions handshake; with ``check_api_versions=True`` it runs
  on every new connection before any other request, so ``peer_versions`` always describes
  the broker at the other end (it may have been upgraded while disconnected).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import ssl as ssl_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kio.schema.errors import ErrorCode

from protocol.api_registry import api_name
from protocol.codec import decode_response, encode_request, request_schema
from protocol.errors import ProtocolViolation
from protocol.framing import FrameDecoder
from protocol.headers import API_VERSIONS_KEY

log = logging.getLogger(__name__)

PRODUCE_KEY: Final = 0
# The highest ApiVersions version kio can build; the handshake falls back from it.
API_VERSIONS_MAX: Final = 4
CLIENT_SOFTWARE_NAME: Final = "josef"
CLIENT_SOFTWARE_VERSION: Final = "0.1.0"
_CORRELATION_WRAP: Final = 1 << 31
_UNSUPPORTED_VERSION: Final = int(ErrorCode.unsupported_version).to_bytes(2, "big")


class BrokerClientError(Exception):
    """Base of the errors a BrokerClient raises."""


class BrokerDisconnected(BrokerClientError, ConnectionError):
    """No connection: the connect failed, or the connection was lost or closed with the
    request in flight (Kafka's DisconnectException). Retriable."""


class RequestTimedOut(BrokerClientError, TimeoutError):
    """No response before the deadline; the connection was closed (Kafka's
    TimeoutException on request.timeout.ms). Retriable."""


class UnsupportedVersion(BrokerClientError):
    """The peer supports no version of an API in the range the caller can speak."""


@dataclass(frozen=True, slots=True)
class PeerApiVersions:
    """The peer's ApiVersions answer: API key -> (lowest, highest) version it serves."""

    ranges: Mapping[int, tuple[int, int]]

    def highest_common(self, api_key: int, low: int, high: int) -> int:
        """The highest version in [low, high] the peer serves (Kafka's
        NodeApiVersions.latestUsableVersion)."""
        theirs = self.ranges.get(api_key)
        if theirs is not None:
            version = min(high, theirs[1])
            if version >= max(low, theirs[0]):
                return version
        raise UnsupportedVersion(
            f"peer serves {api_name(api_key)} "
            f"{'not at all' if theirs is None else f'v{theirs[0]}-v{theirs[1]}'}, "
            f"we speak v{low}-v{high}"
        )


@dataclass(slots=True)
class _InFlight:
    correlation_id: int
    api_key: int
    version: int
    future: asyncio.Future[Any]


class _Connection(asyncio.Protocol):
    """One TCP connection: writes request frames, matches response frames in order."""

    def __init__(self, client: BrokerClient, max_response_bytes: int) -> None:
        self._client = client
        self._decoder = FrameDecoder(max_response_bytes, "max_response_bytes")
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._lost = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self._lost

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ProtocolViolation as exc:
            self.abort(BrokerDisconnected(f"{self._client.peer}: {exc}"))
            return
        for frame in frames:
            if not self._deliver(frame):
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        reason = f"connection to {self._client.peer} lost" + (f": {exc}" if exc else "")
        self._fail_all(BrokerDisconnected(reason))
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(None)
        self._client._connection_lost(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- requests ----------------------------------------------------------------------
    def submit(
        self, frame: bytes, correlation_id: int, api_key: int, version: int, expect_response: bool
    ) -> asyncio.Future[Any] | None:
        """Write one framed request; the future resolves with its decoded response."""
        if not self.usable or self._transport is None:
            raise BrokerDisconnected(f"connection to {self._client.peer} is closed")
        future: asyncio.Future[Any] | None = None
        if expect_response:
            future = asyncio.get_running_loop().create_future()
            self._in_flight.append(_InFlight(correlation_id, api_key, version, future))
        self._transport.write(frame)
        return future

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        await self._writable.wait()
        if self._lost:
            raise BrokerDisconnected(f"connection to {self._client.peer} lost while writing")

    def abort(self, reason: BrokerClientError) -> None:
        """Close now, failing every request in flight with ``reason``."""
        self._fail_all(reason)
        self._lost = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self._fail_all(BrokerDisconnected(f"client for {self._client.peer} closed"))
        self._lost = True
        if self._transport is not None:
            self._transport.close()

    # -- responses ---------------------------------------------------------------------
    def _deliver(self, frame: bytes) -> bool:
        """Hand one response frame to the oldest request; False if the connection closed."""
        if not self._in_flight:
            self.abort(BrokerDisconnected(f"{self._client.peer} sent an unrequested response"))
            return False
        request = self._in_flight.popleft()
        try:
            correlation_id, response = _decode(request.api_key, request.version, frame)
        except ProtocolViolation as exc:
            _fail(request.future, exc)
            self.abort(BrokerDisconnected(f"{self._client.peer} sent a malformed response"))
            return False
        if correlation_id != request.correlation_id:
            problem = (
                f"{self._client.peer}: correlation id {correlation_id} does not match "
                f"request {request.correlation_id}"
            )
            self.abort(BrokerDisconnected(problem))
            _fail(request.future, ProtocolViolation(problem))
            return False
        if not request.future.done():  # the caller may have been cancelled meanwhile
            request.future.set_result(response)
        return True

    def _fail_all(self, reason: BrokerClientError) -> None:
        while self._in_flight:
            _fail(self._in_flight.popleft().future, reason)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # mark it retrieved: the caller may have given up already


def _decode(api_key: int, version: int, frame: bytes) -> tuple[int, Any]:
    # A broker answers an ApiVersions version it does not serve with a v0 body
    # (UNSUPPORTED_VERSION plus its ranges), whatever version was asked.
    if api_key == API_VERSIONS_KEY and frame[4:6] == _UNSUPPORTED_VERSION:
        return decode_response(API_VERSIONS_KEY, 0, frame)
    return decode_response(api_key, version, frame)


class BrokerClient:
    """A pipelined, reconnecting asyncio connection to one broker (see module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str | None,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect_backoff: float = 0.05,
        reconnect_backoff_max: float = 1.0,
        max_response_bytes: int = 256 * 1024 * 1024,
        check_api_versions: bool = False,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_backoff = reconnect_backoff
        self.reconnect_backoff_max = reconnect_backoff_max
        self.max_response_bytes = max_response_bytes
        self.check_api_versions = check_api_versions
        self.ssl = ssl
        self.peer_versions: PeerApiVersions | None = None
        self.connections_made = 0
        self._conn: _Connection | None = None
        self._connect_lock = asyncio.Lock()
        self._next_correlation_id = 0
        self._failures = 0
        self._not_before = 0.0  # loop time before which no reconnect is attempted
        self._closed = False

    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.usable

    @property
    def in_flight(self) -> int:
        return self._conn.in_flight if self._conn is not None else 0

    async def __aenter__(self) -> BrokerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- public API ---------------------------------------------------------------------
    async def send(self, request: Any, *, timeout: float | None = None) -> Any:
        """Send one kio request entity and return the peer's response entity (None for
        Produce with acks=0, which Kafka never answers)."""
        if self._closed:
            raise BrokerDisconnected(f"client for {self.peer} is closed")
        api_key = int(request.__api_key__)
        version = int(request.__version__)
        expect_response = not (api_key == PRODUCE_KEY and request.acks == 0)
        deadline = self.request_timeout if timeout is None else timeout
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(deadline):
                conn = await self._connection()
                return await self._exchange(conn, request, api_key, version, expect_response)
        except TimeoutError:
            what = f"{api_name(api_key)} v{version} to {self.peer}"
            if conn is not None:
                conn.abort(BrokerDisconnected(f"connection closed: {what} timed out"))
            raise RequestTimedOut(f"{what}: no response within {deadline:g}s") from None

    async def api_versions(self, *, timeout: float | None = None) -> PeerApiVersions:
        """ApiVersions handshake: the peer's version ranges, also kept in ``peer_versions``."""
        deadline = self.request_timeout if timeout is None else timeout
        async with asyncio.timeout(deadline):
            conn = await self._connection()
            return await self._handshake(conn)

    async def close(self) -> None:
        """Close the connection (requests in flight fail with BrokerDisconnected); later
        calls fail. Waits briefly for the transport to finish closing."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await conn.closed
            except TimeoutError:
                log.warning("connection to %s did not close in time", self.peer)

    def disconnect(self) -> None:
        """Drop the current connection (in-flight requests fail); the next call reconnects."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort(BrokerDisconnected(f"connection to {self.peer} dropped by its owner"))

    # -- internals ------------------------------------------------------------------------
    def _correlation_id(self) -> int:
        correlation_id = self._next_correlation_id
        self._next_correlation_id = (correlation_id + 1) % _CORRELATION_WRAP
        return correlation_id

    async def _exchange(
        self, conn: _Connection, request: Any, api_key: int, version: int, expect: bool
    ) -> Any:
        correlation_id = self._correlation_id()
        frame = encode_request(correlation_id, self.client_id, request)
        future = conn.submit(frame, correlation_id, api_key, version, expect)
        await conn.drain()
        if future is None:
            return None
        return await future

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and conn.usable:
            return conn
        async with self._connect_lock:
            conn = self._conn
            if conn is not None and conn.usable:
                return conn
            if self._closed:
                raise BrokerDisconnected(f"client for {self.peer} is closed")
            loop = asyncio.get_running_loop()
            wait = self._not_before - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            conn = await self._connect(loop)
            if self.check_api_versions:
                try:
                    await self._handshake(conn)
                except BaseException:
                    conn.abort(BrokerDisconnected(f"ApiVersions handshake with {self.peer} failed"))
                    raise
            return conn

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                _transport, conn = await loop.create_connection(
                    lambda: _Connection(self, self.max_response_bytes),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                )
        except (OSError, TimeoutError) as exc:
            self._backoff(loop)
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise BrokerDisconnected(f"cannot connect to {self.peer}: {reason}") from exc
        except asyncio.CancelledError:
            self._backoff(loop)  # the caller's deadline ran out while connecting
            raise
        self._conn = conn
        self._failures = 0
        self.connections_made += 1
        return conn

    async def _handshake(self, conn: _Connection) -> PeerApiVersions:
        version = API_VERSIONS_MAX
        while True:
            request = _api_versions_request(version)
            response = await self._exchange(conn, request, API_VERSIONS_KEY, version, True)
            if response.error_code == ErrorCode.unsupported_version and version > 0:
                theirs = {k.api_key: k.max_version for k in response.api_keys}
                version = max(0, min(version - 1, theirs.get(API_VERSIONS_KEY, 0)))
                continue
            if response.error_code != ErrorCode.none:
                raise BrokerClientError(
                    f"ApiVersions v{version} to {self.peer} failed: {response.error_code.name}"
                )
            ranges = {
                int(k.api_key): (int(k.min_version), int(k.max_version)) for k in response.api_keys
            }
            self.peer_versions = PeerApiVersions(ranges)
            return self.peer_versions

    def _backoff(self, loop: asyncio.AbstractEventLoop) -> None:
        """Kafka's reconnect backoff: base * 2^failures, capped, with +-20% jitter."""
        delay = min(self.reconnect_backoff * (2**self._failures), self.reconnect_backoff_max)
        self._failures += 1
        self._not_before = loop.time() + delay * random.uniform(0.8, 1.2)

    def _connection_lost(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
        if not self._closed:
            self._backoff(asyncio.get_running_loop())


def _api_versions_request(version: int) -> Any:
    schema = request_schema(API_VERSIONS_KEY, version)
    if version >= 3:  # v3 added the client software name and version (KIP-511)
        return schema(
            client_software_name=CLIENT_SOFTWARE_NAME,
            client_software_version=CLIENT_SOFTWARE_VERSION,
        )
    return schema()


class BrokerClients:
    """One pipelined :class:`BrokerClient` per other broker, by broker id, reopened when the
    broker's advertised endpoint changes (the inter-broker senders' connection pool)."""

    def __init__(
        self,
        endpoint_of: Callable[[int], tuple[str, int] | None],
        client_id: str,
        timeout_s: float,
    ) -> None:
        self.endpoint_of = endpoint_of
        self.client_id = client_id
        self.timeout_s = timeout_s
        self._clients: dict[int, BrokerClient] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, broker_id: int) -> BrokerClient | None:
        endpoint = self.endpoint_of(broker_id)
        if endpoint is None:
            return None
        client = self._clients.get(broker_id)
        if client is None or (client.host, client.port) != endpoint:
            if client is not None:
                task = asyncio.get_running_loop().create_task(client.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            client = BrokerClient(
                endpoint[0], endpoint[1], client_id=self.client_id, request_timeout=self.timeout_s
            )
            self._clients[broker_id] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
