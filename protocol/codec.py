"""Request/response message codecs backed by kio's generated schemas."""

from __future__ import annotations

import dataclasses
import importlib
import io
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer
from kio.serial._parse import get_field_reader

from protocol.errors import ProtocolViolation
from protocol.headers import (
    API_VERSIONS_KEY,
    REQUEST_HEADER_V0,
    read_response_header,
    read_unsigned_varint,
    request_header,
    response_header,
)
from protocol.schema.index import SCHEMAS as INTERBROKER_SCHEMAS

Reader = Callable[[Any, int], tuple[Any, int]]
Writer = Callable[[Any, Any], None]


def _resolve(path: str) -> type[Any]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@cache
def request_schema(api_key: int, version: int) -> type[Any]:
    """kio's schema, or ours (protocol/schema) for the inter-broker versions kio lacks."""
    ours = INTERBROKER_SCHEMAS.get((api_key, version))
    if ours is not None:
        return _resolve(ours[0])
    return load_request_schema(api_key, version)


@cache
def response_schema(api_key: int, version: int) -> type[Any]:
    ours = INTERBROKER_SCHEMAS.get((api_key, version))
    if ours is not None:
        return _resolve(ours[1])
    return load_response_schema(api_key, version)


@cache
def request_is_flexible(api_key: int, version: int) -> bool:
    return bool(request_schema(api_key, version).__flexible__)


@cache
def response_header_is_flexible(api_key: int, version: int) -> bool:
    if api_key == API_VERSIONS_KEY:
        return False  # ApiVersions responses always carry header v0
    return bool(response_schema(api_key, version).__flexible__)


_readers: dict[type[Any], Reader] = {}
_writers: dict[type[Any], Writer] = {}


def _reader(schema: type[Any]) -> Reader:
    reader = _readers.get(schema)
    if reader is None:
        reader = _readers[schema] = entity_reader(schema)
    return reader


def _writer(schema: type[Any]) -> Writer:
    writer = _writers.get(schema)
    if writer is None:
        writer = _writers[schema] = entity_writer(schema)
    return writer


def decode_request(api_key: int, version: int, frame: bytes, offset: int) -> Any:
    """Decode a request body. Like Kafka's parser, bytes after the body are ignored
    (librdkafka 2.x sends three after some Metadata v12 requests)."""
    schema = request_schema(api_key, version)
    try:
        return decode_entity(schema, frame, offset)
    except ProtocolViolation as exc:
        raise ProtocolViolation(f"malformed {schema.__name__} v{version}: {exc}") from None


def decode_entity(schema: type[Any], frame: bytes, offset: int) -> Any:
    """Decode one kio entity (a request or response body) at ``offset``;
    ProtocolViolation when the bytes cannot be one."""
    try:
        entity, _size = _reader(schema)(frame, offset)
    except Exception:  # kio raises assorted errors on malformed input
        pass
    else:
        _check_non_nullable(schema, entity)
        return entity
    # Slow path: Kafka ignores unknown tagged fields, which kio's reader rejects;
    # read the top level field by field and skip them.
    try:
        entity, _end = _read_tolerant(schema, frame, offset)
    except ProtocolViolation:
        raise
    except Exception as exc:
        raise ProtocolViolation(repr(exc)) from exc
    _check_non_nullable(schema, entity)
    return entity


# (field name, nested entity class or None) for every field that may not be null.
_NonNullable = list[tuple[str, "type[Any] | None"]]
_non_nullable: dict[type[Any], _NonNullable] = {}


def _non_nullable_fields(cls: type[Any]) -> _NonNullable:
    found = _non_nullable.get(cls)
    if found is not None:
        return found
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = typing.get_args(tp)
        if type(None) in args:
            continue  # nullable
        nested: type[Any] | None = None
        candidate = args[0] if typing.get_origin(tp) is tuple and args else tp
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            nested = candidate
        found.append((f.name, nested))
    _non_nullable[cls] = found
    return found


def _check_non_nullable(cls: type[Any], entity: Any) -> None:
    """Kafka refuses a non-nullable field sent as null (kio's reader lets legacy arrays
    with length -1 through as None); handlers may rely on non-null values."""
    for name, nested in _non_nullable_fields(cls):
        value = getattr(entity, name)
        if value is None:
            raise ProtocolViolation(f"non-nullable field {name} of {cls.__name__} is null")
        if nested is not None:
            if isinstance(value, tuple):
                for item in value:
                    _check_non_nullable(nested, item)
            else:
                _check_non_nullable(nested, value)


def _read_tolerant(schema: type[Any], frame: bytes, offset: int) -> tuple[Any, int]:
    values: dict[str, Any] = {}
    tagged: dict[int, dataclasses.Field[Any]] = {}
    pos = offset
    for f in dataclasses.fields(schema):
        tag = f.metadata.get("tag")
        if tag is not None:
            tagged[int(tag)] = f
            continue
        value, size = get_field_reader(schema, f, False, False)(frame, pos)
        values[f.name] = value
        pos += size
    if schema.__flexible__:
        count, pos = read_unsigned_varint(frame, pos)
        for _ in range(count):
            tag, pos = read_unsigned_varint(frame, pos)
            size, pos = read_unsigned_varint(frame, pos)
            known = tagged.get(tag)
            if known is not None:
                value, _ = get_field_reader(schema, known, False, True)(frame[: pos + size], pos)
                values[known.name] = value
            pos += size
        if pos > len(frame):
            raise ProtocolViolation("tagged field runs past the end of the request")
    return schema(**values), pos


def encode_response(api_key: int, version: int, correlation_id: int, response: Any) -> bytes:
    """Serialize a response with its header and 4-byte size prefix."""
    out = io.BytesIO()
    out.write(b"\x00\x00\x00\x00")
    out.write(response_header(correlation_id, response_header_is_flexible(api_key, version)))
    _writer(type(response))(out, response)
    buf = out.getbuffer()
    size = len(buf) - 4
    buf[0:4] = size.to_bytes(4, "big")
    del buf
    return out.getvalue()


def encode_entity(entity: Any) -> bytes:
    out = io.BytesIO()
    _writer(type(entity))(out, entity)
    return out.getvalue()


@cache
def request_header_version(api_key: int, version: int) -> int:
    """Kafka's request header version: 2 for flexible versions, else 1 (0 for
    ControlledShutdown v0, which predates client ids)."""
    if (api_key, version) in REQUEST_HEADER_V0:
        return 0
    return 2 if request_is_flexible(api_key, version) else 1


def encode_request(correlation_id: int, client_id: str | None, request: Any) -> bytes:
    """A complete request frame (size, header, body) of a kio request entity; the API
    key and version come from the entity's class."""
    api_key = int(request.__api_key__)
    version = int(request.__version__)
    out = io.BytesIO()
    out.write(b"\x00\x00\x00\x00")
    header_version = request_header_version(api_key, version)
    out.write(request_header(api_key, version, correlation_id, client_id, header_version))
    _writer(type(request))(out, request)
    buf = out.getbuffer()
    buf[0:4] = (len(buf) - 4).to_bytes(4, "big")
    del buf
    return out.getvalue()


def decode_response(api_key: int, version: int, frame: bytes) -> tuple[int, Any]:
    """(correlation id, response entity) of one response frame without its size prefix.
    The body goes through decode_entity, the same checks as a request body."""
    correlation_id, pos = read_response_header(frame, response_header_is_flexible(api_key, version))
    schema = response_schema(api_key, version)
    try:
        return correlation_id, decode_entity(schema, frame, pos)
    except ProtocolViolation as exc:
        raise ProtocolViolation(f"malformed {schema.__name__} v{version}: {exc}") from None
