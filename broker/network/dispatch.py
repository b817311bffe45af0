"""Request dispatch: frame → header → route → handler → encoded response."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.log_setup import REQUEST_CONTEXT, RequestLogContext
from broker.metrics.stats import RequestMetrics, RequestTimes
from broker.network.context import ConnectionInfo, RequestContext
from protocol.api_registry import ApiRegistry, api_name
from protocol.codec import decode_request, encode_response, request_is_flexible
from protocol.errors import ProtocolViolation
from protocol.headers import API_VERSIONS_KEY, peek_api, read_request_header

if TYPE_CHECKING:
    from broker.quota.manager import QuotaManagers

log = logging.getLogger(__name__)

Handler = Callable[[RequestContext, Any], Awaitable[Any]]
Registry = ApiRegistry[Handler]
ThrottleCallback = Callable[[int], None]

# Not counted against request quotas (Kafka: cluster actions and SASL).
_REQUEST_QUOTA_EXEMPT = frozenset({4, 5, 6, 7, 17, 36, 56, 67})
_FETCH_KEY = 1
_NANOS_TO_PERCENT = 100.0 / 1e9
_I32 = struct.Struct(">i")


class PreEncoded:
    """A response a handler already framed as buffers (the Fetch hot path).

    ``throttle_at``: offset in ``parts[0]`` (a bytearray) of its throttle_time_ms field,
    so that a request-quota throttle found after the handler ran can be written in.
    """

    __slots__ = ("parts", "throttle_at")

    def __init__(
        self, parts: list[bytes | bytearray | memoryview], throttle_at: int | None = None
    ) -> None:
        self.parts = parts
        self.throttle_at = throttle_at


class _Timed:
    """Awaits a handler coroutine and adds up the time each of its steps runs on the loop:
    the request's "thread time" for request quotas, waits (purgatory, I/O) left out."""

    __slots__ = ("coro", "nanos")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.nanos = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        value: Any = None
        error: BaseException | None = None
        clock = time.perf_counter_ns
        while True:
            start = clock()
            try:
                if error is not None:
                    pending, error = error, None
                    yielded = coro.throw(pending)
                else:
                    yielded = coro.send(value)
            except StopIteration as stop:
                self.nanos += clock() - start
                return stop.value
            except BaseException:
                self.nanos += clock() - start
                raise
            self.nanos += clock() - start
            try:
                value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation and the like go to the handler
                error = exc
                value = None


class CloseConnection(Exception):
    """The request cannot be answered; Kafka closes the connection in these cases."""


class RequestDispatcher:
    """Turns one request frame into response bytes (or None when none is due)."""

    def __init__(self, registry: Registry, metrics_enabled: bool = True) -> None:
        self.registry = registry
        #: Client quotas (set once the broker's components exist).
        self.quotas: QuotaManagers | None = None
        #: Requests and their phase times per API (Kafka's RequestMetrics).
        self.metrics = RequestMetrics(metrics_enabled)
        #: The clock of request phases (monotonic ns; tests inject a fake one).
        self.clock_ns: Callable[[], int] = time.monotonic_ns

    async def dispatch(
        self,
        frame: bytes,
        connection: ConnectionInfo,
        on_throttle: ThrottleCallback | None = None,
        times: RequestTimes | None = None,
    ) -> bytes | list[bytes | bytearray | memoryview] | None:
        """The response to ``frame``. With ``times`` (the connection's, arrival_ns set) the
        caller records the request's phases once the response is sent; without, they are
        recorded here as if it arrived now and took no time to send."""
        api_key, api_version, correlation_id = peek_api(frame)
        metrics = self.metrics
        log_token: contextvars.Token[RequestLogContext | None] | None = None
        enabled = metrics.enabled
        owned = times is None
        if times is None:
            times = RequestTimes()
        if enabled:
            times.dequeue_ns = start = self.clock_ns()
            if owned:
                times.arrival_ns = start
            times.api_key = api_key
            times.api_version = api_version
        times.remote_ns = 0
        times.throttle_ms = 0
        try:
            route = self.registry.get(api_key)
            if route is None:
                raise CloseConnection(f"unknown API key {api_key} v{api_version}")
            if not route.supports(api_version):
                if api_key == API_VERSIONS_KEY:
                    return self._unsupported_api_versions(correlation_id)
                raise CloseConnection(
                    f"unsupported version {api_version} of {route.name} "
                    f"(supported {route.min_version}-{route.max_version})"
                )
            flexible = request_is_flexible(api_key, api_version)
            header, body_offset = read_request_header(frame, flexible)
            # what log lines written while handling this request say about it
            log_token = REQUEST_CONTEXT.set(
                (connection.connection_id, correlation_id, route.name, header.client_id)
            )
            request = decode_request(api_key, api_version, frame, body_offset)
            ctx = RequestContext(header, connection, len(frame), times=times)
            quotas = self.quotas
            if (
                quotas is not None
                and quotas.request.enabled
                and api_key not in _REQUEST_QUOTA_EXEMPT
                and not (api_key == _FETCH_KEY and _replica_fetch(request, api_version))
            ):
                timed = _Timed(route.handler(ctx, request))  # type: ignore[arg-type]
                response = await timed
                ctx.throttle.at_least(
                    quotas.request.record(ctx.user, ctx.client_id, timed.nanos * _NANOS_TO_PERCENT)
                )
            else:
                response = await route.handler(ctx, request)
            times.throttle_ms = throttle_ms = ctx.throttle.ms
            if throttle_ms > 0:
                if on_throttle is not None:
                    on_throttle(throttle_ms)
                response = _with_throttle(response, throttle_ms)
            if response is None:
                return None
            if isinstance(response, PreEncoded):
                return response.parts
            return encode_response(api_key, api_version, correlation_id, response)
        except Exception:
            metrics.record_error(api_key)
            raise
        finally:
            if log_token is not None:
                REQUEST_CONTEXT.reset(log_token)
            if enabled:
                metrics.count(api_key, api_version)
                times.complete_ns = end = self.clock_ns()
                if owned:
                    metrics.record(times, end, end)

    def _unsupported_api_versions(self, correlation_id: int) -> bytes:
        """A v0 ApiVersions body with UNSUPPORTED_VERSION and our ranges (KIP-511)."""
        from kio.schema.api_versions.v0.response import ApiVersion, ApiVersionsResponse

        response = ApiVersionsResponse(
            error_code=ErrorCode.unsupported_version,
            api_keys=tuple(
                ApiVersion(
                    api_key=r.api_key,  # type: ignore[arg-type]
                    min_version=r.min_version,  # type: ignore[arg-type]
                    max_version=r.max_version,  # type: ignore[arg-type]
                )
                for r in self.registry.routes()
            ),
        )
        return encode_response(API_VERSIONS_KEY, 0, correlation_id, response)


def _replica_fetch(request: Any, version: int) -> bool:
    """A Fetch from a follower replica (exempt from request quotas, as in Kafka)."""
    state = getattr(request, "replica_state", None)
    replica_id = state.replica_id if state is not None else getattr(request, "replica_id", -1)
    return int(replica_id) >= 0


def _with_throttle(response: Any, throttle_ms: int) -> Any:
    """The response carrying ``throttle_ms`` in its throttle_time field, if it has one."""
    if response is None:
        return None
    if isinstance(response, PreEncoded):
        head = response.parts[0] if response.parts else None
        if response.throttle_at is not None and isinstance(head, bytearray):
            (current,) = _I32.unpack_from(head, response.throttle_at)
            if throttle_ms > current:
                _I32.pack_into(head, response.throttle_at, throttle_ms)
        return response
    current = getattr(response, "throttle_time", None)
    wanted = datetime.timedelta(milliseconds=throttle_ms)
    if isinstance(current, datetime.timedelta) and current < wanted:
        return dataclasses.replace(response, throttle_time=wanted)
    return response


def describe_frame(frame: bytes) -> str:
    try:
        api_key, api_version, correlation_id = peek_api(frame)
    except ProtocolViolation:
        return f"{len(frame)}-byte frame"
    return f"{api_name(api_key)} v{api_version} (correlation id {correlation_id})"
