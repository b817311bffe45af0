"""Client-side message building and parsing for the admin tools.

Requests are described as plain nested dicts and lists; ``build`` turns one into the kio
entity of any version, dropping fields the version lacks and filling required fields it
does not get with Kafka's implicit defaults (0, "", false, empty array, null). Responses
come back as plain dicts (``to_plain``): error codes as ints, durations and times as
milliseconds, so the commands read every version the same way.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import io
import struct
import types
import typing
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from kio.serial import entity_writer

# decode_response guards the body (protocol.frame_guard) before kio decodes it: a broker
# answering with a hostile count gets ProtocolViolation, not a native abort of the tool.
from protocol.codec import decode_response, request_schema
from protocol.errors import ProtocolViolation
from protocol.headers import API_VERSIONS_KEY

Plain = dict[str, Any]

_REQUEST_HEADER: Final = struct.Struct(">hhi")
_ZERO_UUID: Final = uuid.UUID(int=0)


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _is_subclass(tp: Any, base: type[Any]) -> bool:
    return isinstance(tp, type) and issubclass(tp, base)


def _implicit_default(tp: Any) -> Any:
    inner, optional = _strip_optional(tp)
    if optional:
        return None
    if typing.get_origin(inner) is tuple:
        return ()
    if dataclasses.is_dataclass(inner):
        return build(inner, {})  # type: ignore[arg-type]
    if _is_subclass(inner, datetime.timedelta):
        return datetime.timedelta(0)
    if _is_subclass(inner, datetime.datetime):
        return datetime.datetime.fromtimestamp(0, datetime.UTC)
    if _is_subclass(inner, bool):
        return False
    if _is_subclass(inner, enum.Enum):
        return next(iter(inner))
    if _is_subclass(inner, int):
        return 0
    if _is_subclass(inner, float):
        return 0.0
    if _is_subclass(inner, str):
        return ""
    if _is_subclass(inner, bytes):
        return b""
    if inner is uuid.UUID:
        return _ZERO_UUID
    raise TypeError(f"no implicit default for {tp!r}")


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    inner, _optional = _strip_optional(tp)
    if typing.get_origin(inner) is tuple:
        (item_type, _ellipsis) = typing.get_args(inner)
        return tuple(_convert(item_type, v) for v in value)
    if dataclasses.is_dataclass(inner) and isinstance(value, Mapping):
        return build(inner, value)  # type: ignore[arg-type]
    if _is_subclass(inner, datetime.timedelta) and isinstance(value, int):
        return datetime.timedelta(milliseconds=value)
    if _is_subclass(inner, enum.Enum) and not isinstance(value, enum.Enum):
        return inner(value)
    return value


def build(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """The kio entity ``cls`` from a dict (nested dicts and lists for nested entities)."""
    hints: dict[str, Any] = _hints(cls)  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.name in data:
            values[f.name] = _convert(tp, data[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = _implicit_default(tp)
    return cls(**values)


def build_request(api_key: int, version: int, data: Mapping[str, Any]) -> Any:
    return build(request_schema(api_key, version), data)


def to_plain(value: Any) -> Any:
    """A kio entity as nested dicts/lists of ints, strings, bytes and UUIDs."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.timedelta):
        return int(value / datetime.timedelta(milliseconds=1))
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    return value


_writers: dict[type[Any], Any] = {}


def encode_request(
    api_key: int, version: int, correlation_id: int, client_id: str | None, body: Any
) -> bytes:
    """A complete framed request: size, header v1 (v2 for flexible versions), body."""
    schema = type(body)
    writer = _writers.get(schema)
    if writer is None:
        writer = _writers[schema] = entity_writer(schema)
    out = io.BytesIO()
    out.write(b"\x00\x00\x00\x00")
    out.write(_REQUEST_HEADER.pack(api_key, version, correlation_id))
    if client_id is None:
        out.write(struct.pack(">h", -1))
    else:
        raw = client_id.encode()
        out.write(struct.pack(">h", len(raw)) + raw)
    if schema.__flexible__:
        out.write(b"\x00")
    writer(out, body)
    buf = out.getbuffer()
    buf[0:4] = (len(buf) - 4).to_bytes(4, "big")
    del buf
    return out.getvalue()


def decode_api_versions_v0(frame: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(correlation id, error code, [(api key, min, max)]) of an ApiVersions response read
    as v0, which is how a broker answers a version it does not support."""
    if len(frame) < 10:
        raise ProtocolViolation(f"ApiVersions response of {len(frame)} bytes")
    correlation_id, error_code, count = struct.unpack_from(">ihi", frame, 0)
    pos = 10
    if count < -1 or count * 6 > len(frame) - pos:
        raise ProtocolViolation(f"ApiVersions response claims {count} API keys")
    ranges: list[tuple[int, int, int]] = []
    for _ in range(max(count, 0)):
        key, low, high = struct.unpack_from(">hhh", frame, pos)
        ranges.append((key, low, high))
        pos += 6
    return correlation_id, error_code, ranges


__all__ = [
    "API_VERSIONS_KEY",
    "Plain",
    "build",
    "build_request",
    "decode_api_versions_v0",
    "decode_response",
    "encode_request",
    "to_plain",
]
