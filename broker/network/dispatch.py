"""Request dispatch: frame → header → route → handler → encoded response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import ConnectionInfo, RequestContext
from protocol.api_registry import ApiRegistry, api_name
from protocol.codec import decode_request, encode_response, request_is_flexible
from protocol.errors import ProtocolViolation
from protocol.headers import API_VERSIONS_KEY, peek_api, read_request_header

log = logging.getLogger(__name__)

Handler = Callable[[RequestContext, Any], Awaitable[Any]]
Registry = ApiRegistry[Handler]


class PreEncoded:
    """A response a handler already framed as buffers (the Fetch hot path)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[bytes | bytearray | memoryview]) -> None:
        self.parts = parts


class CloseConnection(Exception):
    """The request cannot be answered; Kafka closes the connection in these cases."""


class RequestDispatcher:
    """Turns one request frame into response bytes (or None when none is due)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def dispatch(
        self, frame: bytes, connection: ConnectionInfo
    ) -> bytes | list[bytes | bytearray | memoryview] | None:
        api_key, api_version, correlation_id = peek_api(frame)
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
        header, body_offset = read_request_header(frame, request_is_flexible(api_key, api_version))
        request = decode_request(api_key, api_version, frame, body_offset)
        ctx = RequestContext(header, connection)
        response = await route.handler(ctx, request)
        if response is None:
            return None
        if isinstance(response, PreEncoded):
            return response.parts
        return encode_response(api_key, api_version, correlation_id, response)

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


def describe_frame(frame: bytes) -> str:
    try:
        api_key, api_version, correlation_id = peek_api(frame)
    except ProtocolViolation:
        return f"{len(frame)}-byte frame"
    return f"{api_name(api_key)} v{api_version} (correlation id {correlation_id})"
