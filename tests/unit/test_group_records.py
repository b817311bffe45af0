"""__consumer_offsets key/value codec: byte-for-byte against hand-built examples, round trips,
and Kafka's group → partition hash (values checked with Java's String.hashCode in jshell)."""

from __future__ import annotations

import struct

import pytest

from broker.group.coordinator import java_string_hash, partition_for
from broker.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    OtherKey,
    RecordFormatError,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    encode_group_metadata_key,
    encode_group_metadata_value,
    encode_key,
    encode_offset_commit_key,
    encode_offset_commit_value,
)


def s16(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_offset_commit_key_bytes() -> None:
    key = OffsetCommitKey("grp", "topic", 7)
    expected = b"\x00\x01" + b"\x00\x03grp" + b"\x00\x05topic" + b"\x00\x00\x00\x07"
    assert encode_offset_commit_key(key) == expected
    assert decode_key(expected) == key
    # key version 0 has the same layout
    assert decode_key(b"\x00\x00" + expected[2:]) == key


def test_group_metadata_key_bytes() -> None:
    assert encode_group_metadata_key(GroupMetadataKey("grp")) == b"\x00\x02\x00\x03grp"
    assert decode_key(b"\x00\x02\x00\x03grp") == GroupMetadataKey("grp")


def test_other_key_versions_pass_through() -> None:
    key = decode_key(b"\x00\x03\x00\x01g")
    assert key == OtherKey(3, b"\x00\x01g")
    assert encode_key(key) == b"\x00\x03\x00\x01g"


def test_offset_commit_value_v3_bytes() -> None:
    value = OffsetCommitValue(offset=42, leader_epoch=5, metadata="meta", commit_timestamp=1000)
    expected = (
        b"\x00\x03"
        + struct.pack(">q", 42)
        + struct.pack(">i", 5)
        + s16("meta")
        + struct.pack(">q", 1000)
    )
    assert encode_offset_commit_value(value) == expected
    assert decode_offset_commit_value(expected) == value


def test_offset_commit_value_v1_has_expire_timestamp() -> None:
    value = OffsetCommitValue(9, -1, "", 10, 20)
    data = encode_offset_commit_value(value, version=1)
    assert data == b"\x00\x01" + struct.pack(">q", 9) + s16("") + struct.pack(">qq", 10, 20)
    assert decode_offset_commit_value(data) == value


def test_offset_commit_value_v0_and_v4() -> None:
    v0 = b"\x00\x00" + struct.pack(">q", 3) + s16("x") + struct.pack(">q", 77)
    assert decode_offset_commit_value(v0) == OffsetCommitValue(3, -1, "x", 77)
    # v4: flexible — compact string (len+1 varint) and an empty tagged-field section;
    # a tagged field (tag 0, 2 bytes) must be skipped.
    v4 = (
        b"\x00\x04"
        + struct.pack(">q", 3)
        + struct.pack(">i", 1)
        + b"\x02x"
        + struct.pack(">q", 77)
        + b"\x01\x00\x02ab"
    )
    assert decode_offset_commit_value(v4) == OffsetCommitValue(3, 1, "x", 77)
    value = OffsetCommitValue(3, 1, "x", 77)
    assert decode_offset_commit_value(encode_offset_commit_value(value, 4)) == value


def _member(mid: str = "m1", instance: str | None = None) -> MemberMetadataValue:
    return MemberMetadataValue(mid, instance, "cid", "/127.0.0.1", 300, 100, b"\x01\x02", b"\x03")


def test_group_metadata_value_v3_bytes() -> None:
    value = GroupMetadataValue("consumer", 4, "range", "m1", 1234, (_member("m1", "i1"),))
    expected = (
        b"\x00\x03"
        + s16("consumer")
        + struct.pack(">i", 4)
        + s16("range")
        + s16("m1")
        + struct.pack(">q", 1234)
        + struct.pack(">i", 1)
        + s16("m1")
        + s16("i1")
        + s16("cid")
        + s16("/127.0.0.1")
        + struct.pack(">ii", 300, 100)
        + struct.pack(">i", 2)
        + b"\x01\x02"
        + struct.pack(">i", 1)
        + b"\x03"
    )
    assert encode_group_metadata_value(value) == expected
    assert decode_group_metadata_value(expected) == value


def test_group_metadata_value_empty_group_null_fields() -> None:
    value = GroupMetadataValue("", 2, None, None, 55, ())
    data = encode_group_metadata_value(value)
    assert data == (
        b"\x00\x03"
        + s16("")
        + struct.pack(">i", 2)
        + b"\xff\xff\xff\xff"
        + struct.pack(">q", 55)
        + struct.pack(">i", 0)
    )
    assert decode_group_metadata_value(data) == value


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_group_metadata_value_round_trip_every_version(version: int) -> None:
    value = GroupMetadataValue("consumer", 1, "roundrobin", "a", 99, (_member("a", "s"),))
    decoded = decode_group_metadata_value(encode_group_metadata_value(value, version))
    assert decoded.members[0].member_id == "a"
    assert decoded.members[0].subscription == b"\x01\x02"
    assert decoded.members[0].assignment == b"\x03"
    assert decoded.generation == 1 and decoded.protocol == "roundrobin"
    if version >= 3:
        assert decoded == value
    if version == 0:
        assert decoded.members[0].rebalance_timeout == decoded.members[0].session_timeout


def test_truncated_and_trailing_bytes_rejected() -> None:
    data = encode_offset_commit_value(OffsetCommitValue(1, 2, "m", 3))
    with pytest.raises(RecordFormatError):
        decode_offset_commit_value(data[:-1])
    with pytest.raises(RecordFormatError):
        decode_offset_commit_value(data + b"\x00")
    with pytest.raises(RecordFormatError):
        decode_key(b"\x00")


@pytest.mark.parametrize(
    ("group", "java_hash", "partition"),
    [
        ("my-group", -1906497762, 12),
        ("g1", 3242, 42),
        ("polygenelubricants", -(2**31), 0),  # Utils.abs(Integer.MIN_VALUE) == 0
        ("\U0001f600", 1772899, 49),  # a surrogate pair: hashed as two UTF-16 units
        ("consumer-group-ü", 147483223, 23),
    ],
)
def test_group_partition_matches_kafka(group: str, java_hash: int, partition: int) -> None:
    assert java_string_hash(group) == java_hash
    assert partition_for(group, 50) == partition
