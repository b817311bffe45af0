"""One client connection: framing, in-order request processing, backpressure."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import deque
from typing import Protocol

from broker.metrics.stats import RequestTimes
from broker.network.context import ConnectionInfo
from broker.network.dispatch import CloseConnection, RequestDispatcher, describe_frame
from broker.network.request_budget import FrameAdmission, RequestBudget
from broker.security.channel import AuthenticationFailed, ListenerSecurity
from protocol.errors import ProtocolViolation
from protocol.framing import FrameDecoder

log = logging.getLogger(__name__)

_ids = itertools.count(1)
# Stop reading from a client with this many unanswered frames queued.
MAX_QUEUED_FRAMES = 32
MAX_QUEUED_BYTES = 64 * 1024 * 1024


class ConnectionOwner(Protocol):
    """What a connection needs from the listener that accepted it."""

    name: str
    security_protocol: str
    dispatcher: RequestDispatcher
    max_request_size: int
    idle_timeout_s: float
    connections: set[KafkaConnection]
    connections_created: int
    connections_closed: int
    security: ListenerSecurity | None
    request_budget: RequestBudget
    receive_timeout_s: float


class KafkaConnection(asyncio.Protocol):
    """asyncio protocol for one client: requests are answered in arrival order.

    Like Kafka's network layer, a connection processes one request at a time;
    clients pipeline requests and read responses in order. Reading pauses when
    too many requests wait, so a fast producer cannot exhaust memory, and while
    the broker-wide request budget (queued.max.request.bytes) has no room for
    the frame being received (see ``request_budget``).
    """

    def __init__(self, listener: ConnectionOwner) -> None:
        self._listener = listener
        self._dispatcher: RequestDispatcher = listener.dispatcher
        self._decoder = FrameDecoder(listener.max_request_size)
        self._queue: deque[bytes] = deque()
        # RequestMetrics (None when josef.metrics.enabled=false): when each queued frame
        # was read, and the phases of the request being handled.
        self._metrics = listener.dispatcher.metrics if listener.dispatcher.metrics.enabled else None
        self._clock_ns = listener.dispatcher.clock_ns
        self._arrivals: deque[int] = deque()
        self._times = RequestTimes()
        self._queued_bytes = 0
        self._transport: asyncio.Transport | None = None
        self._info: ConnectionInfo | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._paused_for_queue = False
        self._paused_for_budget = False
        self._paused_for_throttle = False
        self._reading = True
        self._admission = FrameAdmission(
            listener.request_budget,
            self._decoder,
            receive_timeout_s=listener.receive_timeout_s,
            resume=self._budget_admitted,
            on_timeout=self._receive_timed_out,
        )
        self._closing = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        # Quota throttling: the loop time until which the channel stays muted.
        self._muted_until = 0.0
        security = listener.security
        # SASL listeners: frames go to the authenticator until the client is authenticated,
        # and may be no larger than sasl.server.max.receive.size until then.
        self._authenticator = security.new_authenticator() if security is not None else None
        if self._authenticator is not None:
            self._decoder.max_size = min(
                listener.max_request_size, self._authenticator.settings.max_receive_size
            )

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but implement it.
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._info = ConnectionInfo(
            connection_id=f"{self._listener.name}-{next(_ids)}",
            client_host=str(peer[0]),
            client_port=int(peer[1]),
            listener=self._listener.name,
            security_protocol=self._listener.security_protocol,
        )
        self._listener.connections.add(self)
        self._listener.connections_created += 1
        if not self._identify(transport):
            return
        self._reset_idle_timer()
        self._worker = self._loop.create_task(self._process())

    def data_received(self, data: bytes) -> None:
        self._reset_idle_timer()
        try:
            frames = self._decoder.feed(data)
        except ProtocolViolation as exc:
            self._close_with_log(str(exc))
            return
        if not self._admission.after_feed(frames):
            self._paused_for_budget = True
        if frames and self._metrics is not None:
            now = self._clock_ns()
            for _ in frames:
                self._arrivals.append(now)
        for f in frames:
            self._queue.append(f)
            self._queued_bytes += len(f)
        if len(self._queue) >= MAX_QUEUED_FRAMES or self._queued_bytes >= MAX_QUEUED_BYTES:
            self._paused_for_queue = True
        self._sync_reading()
        if not frames:
            return
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def eof_received(self) -> bool | None:
        # Answer what was already sent before closing (Kafka does too).
        self._closing = True
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._queue.clear()
        self._arrivals.clear()
        self._decoder.clear()
        self._admission.close()
        if self in self._listener.connections:
            self._listener.connections.discard(self)
            self._listener.connections_closed += 1
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        d = self._drained
        if d is not None and not d.done():
            d.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        d = self._drained
        if d is not None and not d.done():
            d.set_result(None)

    # -- request loop --------------------------------------------------------
    async def _process(self) -> None:
        assert self._info is not None
        dispatcher = self._dispatcher
        queue = self._queue
        while True:
            if not queue:
                if self._closing:
                    break
                self._wakeup = self._loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            frame = queue.popleft()
            self._queued_bytes -= len(frame)
            # Reused for every request (no allocation); recorded only with metrics on.
            times = self._times
            metrics = self._metrics
            if metrics is not None and self._arrivals:
                times.arrival_ns = self._arrivals.popleft()
            if self._paused_for_queue and len(queue) < MAX_QUEUED_FRAMES // 2:
                self._paused_for_queue = False
                self._sync_reading()
            try:
                auth = self._authenticator
                if auth is not None and auth.wants(frame):
                    metrics = None  # SASL frames: timed by the dispatcher as it is called
                    outcome = await auth.handle(frame, self._info, dispatcher.dispatch)
                    self._info = outcome.info
                    if outcome.close:
                        await self._close_after(outcome.response, outcome.delay_s)
                        return
                    if auth.authenticated:
                        self._decoder.max_size = self._listener.max_request_size
                    response = outcome.response
                else:
                    if auth is not None:
                        auth.check_session()
                    response = await dispatcher.dispatch(frame, self._info, self._throttle, times)
            except (ProtocolViolation, CloseConnection) as exc:
                self._close_with_log(f"{exc} in {describe_frame(frame)}")
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "closing connection %s: error handling %s",
                    self._info.connection_id,
                    describe_frame(frame),
                )
                self._close()
                return
            finally:
                self._admission.handled(len(frame))
            transport = self._transport
            if transport is None or transport.is_closing():
                return
            send_ns = self._clock_ns() if metrics is not None else 0
            if response is not None:
                if isinstance(response, list):
                    transport.writelines(response)
                else:
                    transport.write(response)
                if self._write_paused:
                    self._drained = self._loop.create_future()
                    await self._drained
                    self._drained = None
            if metrics is not None:
                end_ns = self._clock_ns() if response is not None else send_ns
                metrics.record(times, send_ns, end_ns)
            if self._muted_until:
                await self._wait_unmuted()
        self._close()

    # -- helpers -------------------------------------------------------------
    def _throttle(self, throttle_ms: int) -> None:
        """A quota was violated: mute the channel for ``throttle_ms`` after this response
        (Kafka's channel throttling; nothing more is read or processed meanwhile)."""
        until = self._loop.time() + throttle_ms / 1000.0
        self._muted_until = max(self._muted_until, until)

    async def _wait_unmuted(self) -> None:
        delay = self._muted_until - self._loop.time()
        if delay > 0:
            self._paused_for_throttle = True
            self._sync_reading()
            self._admission.reading_paused()
            try:
                await asyncio.sleep(delay)
            finally:
                self._paused_for_throttle = False
                self._sync_reading()
                self._admission.reading_resumed()
        self._muted_until = 0.0

    def _sync_reading(self) -> None:
        """Pause or resume the transport to match the reasons to pause."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        paused = self._paused_for_queue or self._paused_for_budget or self._paused_for_throttle
        if paused and self._reading:
            self._reading = False
            transport.pause_reading()
        elif not paused and not self._reading:
            self._reading = True
            transport.resume_reading()

    def _budget_admitted(self) -> None:
        self._paused_for_budget = False
        self._sync_reading()

    def _receive_timed_out(self, size: int, received: int) -> None:
        timeout_ms = round(self._listener.receive_timeout_s * 1000)
        self._close_with_log(
            f"a request of {size} bytes did not arrive within "
            f"josef.request.receive.timeout.ms={timeout_ms} ({received} bytes received)"
        )

    async def _close_after(
        self, response: bytes | list[bytes | bytearray | memoryview] | None, delay_s: float
    ) -> None:
        """Failed authentication: wait, send the last response, close (nothing else is read)."""
        self._queue.clear()
        self._arrivals.clear()
        self._paused_for_queue = True  # read nothing more (through _sync_reading's flags)
        self._sync_reading()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        transport = self._transport
        if response is not None and transport is not None and not transport.is_closing():
            if isinstance(response, list):
                transport.writelines(response)
            else:
                transport.write(response)
        self._close()

    def _identify(self, transport: asyncio.BaseTransport) -> bool:
        """Principal from the transport (TLS client certificate); False if refused."""
        security = self._listener.security
        if security is None:
            return True
        assert self._info is not None
        try:
            identity = security.identify(transport)
        except AuthenticationFailed as exc:
            self._close_with_log(f"TLS authentication failed: {exc}")
            return False
        if identity.tls_peer is not None:
            self._info = dataclasses.replace(
                self._info, principal=identity.principal, tls_peer=identity.tls_peer
            )
            log.info(
                "connection %s from %s:%d: TLS client %s authenticated as %s",
                self._info.connection_id,
                self._info.client_host,
                self._info.client_port,
                identity.tls_peer,
                identity.principal,
            )
        return True

    def _reset_idle_timer(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        timeout = self._listener.idle_timeout_s
        if timeout > 0:
            self._idle_handle = self._loop.call_later(timeout, self._idle_timeout)

    def _idle_timeout(self) -> None:
        if self.busy:
            # A request is in flight (for example a long-poll fetch): not idle.
            self._reset_idle_timer()
            return
        log.info(
            "closing idle connection %s after %.0f s",
            self._info.connection_id if self._info else "?",
            self._listener.idle_timeout_s,
        )
        self._close()

    def _close_with_log(self, reason: str) -> None:
        cid = self._info.connection_id if self._info else "?"
        peer = f"{self._info.client_host}:{self._info.client_port}" if self._info else "?"
        log.warning("closing connection %s from %s: %s", cid, peer, reason)
        self._close()

    def _close(self) -> None:
        self._closing = True
        self._queue.clear()
        self._arrivals.clear()
        self._decoder.clear()
        self._admission.close()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    @property
    def busy(self) -> bool:
        """True while a request is being handled or waits in the queue."""
        return bool(self._queue) or (
            self._worker is not None and not self._worker.done() and self._wakeup is None
        )

    @property
    def unsent(self) -> int:
        """Bytes of responses written but not yet handed to the kernel."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return 0
        return int(transport.get_write_buffer_size())

    def close(self) -> None:
        self._close()
