"""Request and response headers (v0-v2), read and written by hand for speed.

Request header v1: api_key int16, api_version int16, correlation_id int32,
client_id nullable string (int16 length); v0 (ControlledShutdown v0 only) stops before
the client id. v2 (flexible request versions) adds
a tagged-field section. Response header v0 is the correlation id; v1 adds an
empty tagged-field section. ApiVersions responses always use header v0 so a
client that does not yet know the broker's versions can read them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from protocol.errors import ProtocolViolation

_FIXED: Final = struct.Struct(">hhih")
_HEAD_V0: Final = struct.Struct(">hhi")
_CORRELATION: Final = struct.Struct(">i")
API_VERSIONS_KEY: Final = 18
# (api key, version) pairs sent with request header v0, which has no client id:
# ControlledShutdown v0 only.
REQUEST_HEADER_V0: Final = frozenset({(7, 0)})


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def read_unsigned_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Returns (value, new position)."""
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolViolation("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ProtocolViolation("varint too long")


def skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    count, pos = read_unsigned_varint(buf, pos)
    for _ in range(count):
        _tag, pos = read_unsigned_varint(buf, pos)
        size, pos = read_unsigned_varint(buf, pos)
        pos += size
        if pos > len(buf):
            raise ProtocolViolation("truncated tagged field")
    return pos


def peek_api(frame: bytes) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a frame, without the client id."""
    if len(frame) < 8:
        raise ProtocolViolation(f"request header truncated ({len(frame)} bytes)")
    api_key, api_version, correlation_id = struct.unpack_from(">hhi", frame, 0)
    return api_key, api_version, correlation_id


def read_request_header(frame: bytes, flexible: bool) -> tuple[RequestHeader, int]:
    """Parse a request header; returns it and the offset where the body starts."""
    if len(frame) < 10:
        raise ProtocolViolation(f"request header truncated ({len(frame)} bytes)")
    api_key, api_version, correlation_id, client_len = _FIXED.unpack_from(frame, 0)
    if api_key == 7 and (api_key, api_version) in REQUEST_HEADER_V0:
        return RequestHeader(api_key, api_version, correlation_id, None), 8
    pos = 10
    client_id: str | None = None
    if client_len >= 0:
        if pos + client_len > len(frame):
            raise ProtocolViolation("client id truncated")
        client_id = frame[pos : pos + client_len].decode("utf-8", errors="replace")
        pos += client_len
    if flexible:
        pos = skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def response_header(correlation_id: int, flexible: bool) -> bytes:
    head = _CORRELATION.pack(correlation_id)
    return head + b"\x00" if flexible else head


def request_header(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None, version: int
) -> bytes:
    """A request header of ``version`` 0 (no client id), 1 or 2 (tagged fields)."""
    head = _HEAD_V0.pack(api_key, api_version, correlation_id)
    if version == 0:
        return head
    if client_id is None:
        head += b"\xff\xff"
    else:
        raw = client_id.encode()
        head += len(raw).to_bytes(2, "big") + raw
    return head + b"\x00" if version >= 2 else head


def read_response_header(frame: bytes, flexible: bool) -> tuple[int, int]:
    """(correlation id, offset of the body) of a response frame without its size."""
    if len(frame) < 4:
        raise ProtocolViolation(f"response header truncated ({len(frame)} bytes)")
    (correlation_id,) = _CORRELATION.unpack_from(frame, 0)
    pos = skip_tagged_fields(frame, 4) if flexible else 4
    return correlation_id, pos
