"""Framing, request headers and the route table."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.api_registry import ApiRegistry, api_name
from protocol.codec import decode_request, encode_response, request_is_flexible
from protocol.errors import ProtocolViolation
from protocol.framing import FrameDecoder, FrameTooLarge, frame
from protocol.headers import read_request_header, response_header


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=1, max_value=97))
def test_frames_survive_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(frame(p) for p in payloads)
    decoder = FrameDecoder(1000)
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out.extend(decoder.feed(stream[i : i + chunk]))
    assert out == payloads
    assert decoder.buffered == 0


def test_oversized_frame_rejected_before_buffering() -> None:
    decoder = FrameDecoder(100)
    with pytest.raises(FrameTooLarge, match=r"socket\.request\.max\.bytes=100"):
        decoder.feed(struct.pack(">i", 101))
    with pytest.raises(FrameTooLarge):
        FrameDecoder(100).feed(struct.pack(">i", -5))


def test_request_header_v1_and_v2() -> None:
    body = struct.pack(">hhih", 3, 4, 77, 6) + b"client"
    header, pos = read_request_header(body, flexible=False)
    assert (header.api_key, header.api_version, header.correlation_id, header.client_id) == (
        3,
        4,
        77,
        "client",
    )
    assert pos == len(body)
    flexible = struct.pack(">hhih", 3, 12, 78, -1) + b"\x00"
    header, pos = read_request_header(flexible, flexible=True)
    assert header.client_id is None and pos == len(flexible)
    with pytest.raises(ProtocolViolation):
        read_request_header(struct.pack(">hhih", 3, 12, 78, 50) + b"short", flexible=True)


def test_response_headers() -> None:
    assert response_header(5, flexible=False) == b"\x00\x00\x00\x05"
    assert response_header(5, flexible=True) == b"\x00\x00\x00\x05\x00"


def test_api_versions_response_header_is_always_v0() -> None:
    import datetime

    from kio.schema.api_versions.v3.response import ApiVersionsResponse
    from kio.schema.errors import ErrorCode

    response = ApiVersionsResponse(
        error_code=ErrorCode.none, api_keys=(), throttle_time=datetime.timedelta(0)
    )
    encoded = encode_response(18, 3, 9, response)
    size, correlation = struct.unpack_from(">ii", encoded)
    assert size == len(encoded) - 4 and correlation == 9
    # error code follows the correlation id directly: no tagged-field byte in the header
    assert encoded[8:10] == b"\x00\x00"


def test_decode_tolerates_what_kafka_tolerates() -> None:
    assert request_is_flexible(3, 12)
    head = bytes.fromhex("0003000c000000030007") + b"rdkafka" + b"\x00"
    # librdkafka 2.16's Metadata v12 with three bytes after the body
    request = decode_request(3, 12, head + bytes.fromhex("00000000010000"), len(head))
    assert request.topics is None and request.allow_auto_topic_creation is False
    # an unknown top-level tagged field (tag 5, 2 bytes) is skipped
    request = decode_request(3, 12, head + bytes.fromhex("0101000105020000"), len(head))
    assert request.topics == () and request.allow_auto_topic_creation is True
    with pytest.raises(ProtocolViolation):
        decode_request(3, 12, head + b"\x05", len(head))


def test_registry_rejects_double_registration() -> None:
    registry: ApiRegistry[str] = ApiRegistry()
    registry.register(0, 3, 9, "produce")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(0, 3, 11, "again")
    with pytest.raises(ValueError):
        registry.register(9999, 0, 1, "unknown")
    assert [r.api_key for r in registry.routes()] == [0]
    assert api_name(0) == "Produce" and api_name(18) == "ApiVersions"
