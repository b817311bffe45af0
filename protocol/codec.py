"""Request/response message codecs backed by kio's generated schemas."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from functools import cache
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from protocol.errors import ProtocolViolation
from protocol.frame_guard import check_body, strip_unknown_tags
from protocol.headers import (
    API_VERSIONS_KEY,
    REQUEST_HEADER_V0,
    read_response_header,
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
    """Decode a request body. The frame guard walks it first, so kio never sees a count
    the frame cannot back. Like Kafka's parser, unknown tagged fields and bytes after the
    body are ignored (librdkafka 2.x sends three after some Metadata v12 requests)."""
    schema = request_schema(api_key, version)
    try:
        return decode_entity(schema, frame, offset)
    except ProtocolViolation as exc:
        raise ProtocolViolation(f"malformed {schema.__name__} v{version}: {exc}") from None


def decode_entity(schema: type[Any], frame: bytes, offset: int) -> Any:
    """Guard, then decode one kio entity (a request or response body) at ``offset``;
    ProtocolViolation when the bytes cannot be one."""
    _end, edits = check_body(schema, frame, offset)
    if edits:
        # kio refuses unknown tags, which Kafka skips: decode a copy without them
        frame = strip_unknown_tags(frame, edits)
    try:
        entity, _size = _reader(schema)(frame, offset)
    except Exception as exc:  # kio raises assorted errors on malformed values (UTF-8, bool)
        raise ProtocolViolation(repr(exc)) from exc
    return entity


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
    The body goes through decode_entity: the frame guard, as for a request body, so a
    peer answering with a hostile count gets ProtocolViolation, not a native abort."""
    correlation_id, pos = read_response_header(frame, response_header_is_flexible(api_key, version))
    schema = response_schema(api_key, version)
    try:
        return correlation_id, decode_entity(schema, frame, pos)
    except ProtocolViolation as exc:
        raise ProtocolViolation(f"malformed {schema.__name__} v{version}: {exc}") from None
