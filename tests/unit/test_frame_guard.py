"""The frame guard (protocol.frame_guard): a structural walk of a body before kio decodes it.

These tests call the guard on its own (pure Python, never kio's native reader) for hostile
frames, so a guard bug fails a test instead of aborting pytest; decoding through kio is
only done for frames the guard accepted. The crafted frames that abort an unguarded kio
are decoded end to end in a child process by tests/unit/test_frame_fuzz.py.
"""

from __future__ import annotations

import datetime
import io
import random
import struct
import uuid
from typing import Any

import pytest
from helpers.sample_requests import sample_entity, sample_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_reader, entity_writer

from broker.admin.wire import build_request, encode_request
from broker.api_table import supported_apis
from protocol.codec import decode_request, request_is_flexible, request_schema, response_schema
from protocol.errors import ProtocolViolation
from protocol.frame_guard import check_body, compile_entity, strip_unknown_tags
from protocol.headers import read_request_header
from protocol.schema.index import SCHEMAS as INTERBROKER_SCHEMAS

ROUTES = [(k, v) for k, _, lo, hi in supported_apis() for v in range(lo, hi + 1)]


def all_schemas() -> list[type[Any]]:
    """Every schema kio ships, and Josef's own inter-broker ones (protocol/schema)."""
    out = []
    for api_key, name in api_key_map.items():
        for version in schema_name_map[name]:
            out.append(load_request_schema(api_key, version))
            out.append(load_response_schema(api_key, version))
    for api_key, version in INTERBROKER_SCHEMAS:
        out.append(request_schema(api_key, version))
        out.append(response_schema(api_key, version))
    return out


def encode(entity: Any) -> bytes:
    out = io.BytesIO()
    entity_writer(type(entity))(out, entity)
    return out.getvalue()


def request_frame(api_key: int, version: int, entity: Any) -> tuple[bytes, int]:
    """(frame without its size prefix, offset of the body)."""
    frame = encode_request(api_key, version, 7, "guard", entity)[4:]
    _header, offset = read_request_header(frame, request_is_flexible(api_key, version))
    return frame, offset


def refused(api_key: int, version: int, body: bytes) -> str:
    with pytest.raises(ProtocolViolation) as info:
        check_body(request_schema(api_key, version), body, 0)
    return str(info.value)


def test_every_kio_schema_compiles() -> None:
    """Every request and response schema kio ships (not only the routed ones) and Josef's
    inter-broker schemas have a plan."""
    schemas = all_schemas()
    assert len(schemas) > 600
    for schema in schemas:
        plan = compile_entity(schema)
        assert plan.min_size >= 0


@pytest.mark.parametrize(("api_key", "version"), ROUTES)
def test_guard_walks_exactly_what_kio_writes(api_key: int, version: int) -> None:
    """Sample requests with every field set (arrays, nested entities, tagged fields, nulls):
    the walk ends at the last byte kio wrote, and every proper prefix is refused."""
    rng = random.Random(api_key * 100 + version)
    schema = request_schema(api_key, version)
    for _ in range(3):
        entity = sample_request(api_key, version, rng)
        body = encode(entity)
        assert check_body(schema, body, 0) == (len(body), [])
        assert check_body(schema, body + b"\x01\x02\x03", 0)[0] == len(body)  # trailing bytes
        for cut in range(len(body)):
            with pytest.raises(ProtocolViolation):
                check_body(schema, body[:cut], 0)
        frame, offset = request_frame(api_key, version, entity)
        assert decode_request(api_key, version, frame, offset) == entity


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(all_schemas()), st.integers(0, 2**32))
def test_guard_agrees_with_kio_on_every_schema(schema: type[Any], seed: int) -> None:
    """Responses too (the admin tools decode them): guard end == kio's size."""
    entity = sample_entity(schema, random.Random(seed))
    try:
        body = encode(entity)
    except (ValueError, OverflowError, struct.error):
        return  # a sample kio cannot write (e.g. a duration out of its range)
    end, edits = check_body(schema, body, 0)
    assert (end, edits) == (len(body), [])
    decoded, size = entity_reader(schema)(body, 0)
    assert size == end and decoded == entity


# -- crafted frames (issue 12) -----------------------------------------------------


def test_compact_array_claiming_four_billion_elements() -> None:
    """The 21-byte frame that aborted the broker: Metadata v12, topics count 2^32 - 2."""
    frame = struct.pack(">hhih", 3, 12, 7, 4) + b"fuzz\x00" + b"\xff\xff\xff\xff\x0f"
    msg = refused(3, 12, frame[15:])
    assert "MetadataRequest.topics" in msg and "4294967294 elements" in msg


def test_legacy_array_claiming_int32_max_elements() -> None:
    msg = refused(3, 1, b"\x7f\xff\xff\xff")
    assert "2147483647 elements" in msg
    refused(3, 1, b"\x7f\xff\xff\xff" + b"\x00\x01a" * 100)  # 100 real ones are not enough


def test_nested_counts_are_checked_at_every_level() -> None:
    # Produce v9: transactional id null, acks, timeout, 1 topic "t", partitions 2^32 - 2
    body = b"\x00" + struct.pack(">hi", -1, 1000) + b"\x02" + b"\x02t" + b"\xff\xff\xff\xff\x0f"
    assert "TopicProduceData.partition_data" in refused(0, 9, body)
    # Produce v7: the same with int32 counts
    body = struct.pack(">hhi", -1, -1, 1000) + struct.pack(">i", 1) + b"\x00\x01t"
    assert "partition_data" in refused(0, 7, body + struct.pack(">i", 0x7FFFFFFF))
    # a records field whose int32 length runs past the frame
    body += struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", 0x7FFFFFF0)
    assert "records" in refused(0, 7, body)


@pytest.mark.parametrize(
    ("api_key", "version", "body", "what"),
    [
        (1, 12, bytes(10), "FetchRequest.replica_id..session_epoch: needs 25 bytes, 10"),
        (3, 12, b"\x02" + bytes(16) + b"\xff\xff\xff\xff\x0f", "MetadataRequestTopic.name"),
        (3, 12, b"\x02" + bytes(16) + b"\x80\x80\x80\x80\x80\x01", "varint longer"),
        (3, 4, b"\x00\x00\x00\x01\x7f\xff", "name"),  # legacy string 32767 bytes
        (3, 4, b"\x00\x00\x00\x01\xff\xfe", "length -2"),  # legacy string -2
        (3, 4, b"\xff\xff\xff\xfe", "array length -2"),
        (3, 12, b"\x01\x01\x00" + b"\xff\xff\xff\xff\x0f", "tagged fields"),  # tag count
        (3, 12, b"\x01\x01\x00" + b"\x01\x05\xff\xff\x03", "tag 5"),  # tagged field size
        # Fetch v12 with cluster id (tag 0) "ab" in a tagged field that claims 5 bytes
        (1, 12, bytes(25) + b"\x01\x01\x01" + b"\x01\x00\x05\x03abxy", "shorter than its size"),
    ],
)
def test_crafted_lengths_are_refused(api_key: int, version: int, body: bytes, what: str) -> None:
    assert what in refused(api_key, version, body)


def test_null_for_a_non_nullable_array_is_refused_by_the_guard() -> None:
    # Fetch v7 (legacy arrays): topics null
    body = struct.pack(">iiiibii", -1, 500, 1, 1000, 0, 0, -1) + struct.pack(">i", -1)
    assert "non-nullable field topics of FetchRequest is null" in refused(1, 7, body)
    # Fetch v12 (compact arrays): topics null (count 0)
    body = struct.pack(">iiiibii", -1, 500, 1, 1000, 0, 0, -1) + b"\x00"
    assert "non-nullable field topics" in refused(1, 12, body)
    # a nullable array may be null: Metadata v12 topics null = all topics
    assert check_body(request_schema(3, 12), b"\x00\x01\x00\x00", 0) == (4, [])


# -- unknown tagged fields -----------------------------------------------------------


def test_unknown_tagged_fields_are_stripped_at_every_level() -> None:
    """Kafka skips unknown tags anywhere; kio refuses them, so the guard cuts them out."""
    entity = build_request(
        1,
        12,
        {
            "max_wait": 500,
            "topics": [{"topic": "t", "partitions": [{"partition": 3, "fetch_offset": 9}]}],
            "rack_id": "r",
        },
    )
    body = encode(entity)
    schema = request_schema(1, 12)
    # the body ends: partition tags 00, topic tags 00, forgotten topics 01, rack 02 'r', tags 00
    partition_tags = len(body) - 6
    assert body[partition_tags] == 0
    unknown = b"\x02" + b"\x63\x02zz" + b"\x64\x00"  # tags 99 (2 bytes) and 100 (empty)
    mutated = body[:partition_tags] + unknown + body[partition_tags + 1 :]
    mutated = mutated[:-1] + b"\x01\x65\x01!"  # and tag 101 at the top level
    end, edits = check_body(schema, mutated, 0)
    assert end == len(mutated) and edits
    assert strip_unknown_tags(mutated, edits) == body
    assert decode_request(1, 12, b"head" + mutated, 4) == entity


def test_unknown_tag_inside_a_known_tagged_field() -> None:
    """A known tagged field whose nested entity carries an unknown tag: the stripped copy
    rewrites the known field's size too."""
    from kio.schema.errors import ErrorCode
    from kio.schema.fetch.v12.response import (
        EpochEndOffset,
        FetchableTopicResponse,
        FetchResponse,
        PartitionData,
    )

    partition = PartitionData(
        partition_index=0,
        error_code=ErrorCode.none,
        high_watermark=5,
        last_stable_offset=5,
        log_start_offset=0,
        diverging_epoch=EpochEndOffset(epoch=3, end_offset=7),
        aborted_transactions=(),
        preferred_read_replica=-1,
        records=b"",
    )
    response = FetchResponse(
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=(FetchableTopicResponse(topic="t", partitions=(partition,)),),
    )
    body = encode(response)
    # diverging_epoch is tag 0 of the partition: size, epoch int32, end_offset int64, tags
    marker = b"\x00\x0d" + struct.pack(">iq", 3, 7) + b"\x00"
    at = body.index(marker)
    grown = b"\x00\x10" + struct.pack(">iq", 3, 7) + b"\x01\x09\x01x"
    mutated = body[:at] + grown + body[at + len(marker) :]
    schema = type(response)
    end, edits = check_body(schema, mutated, 0)
    assert end == len(mutated)
    assert strip_unknown_tags(mutated, edits) == body


def test_uuid_fields_are_sixteen_bytes() -> None:
    entity = build_request(3, 12, {"topics": [{"topic_id": uuid.UUID(int=5), "name": None}]})
    body = encode(entity)
    assert check_body(request_schema(3, 12), body, 0) == (len(body), [])
