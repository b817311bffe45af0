"""Kafka's ``__consumer_offsets`` record schemas: keys and values, encode and decode.

Every record key starts with an int16 *key version* that says which record it is:

* 0, 1 — ``OffsetCommitKey``: group string, topic string, partition int32.
* 2    — ``GroupMetadataKey``: group string.
* 3+   — KIP-848 consumer-group records (``ConsumerGroup*Key``); not decoded here
  (:func:`decode_key` returns :class:`OtherKey` with the raw bytes).

Every non-null value starts with an int16 *value version*:

* ``OffsetCommitValue`` v0-v4: offset int64, leaderEpoch int32 (v3+), metadata string,
  commitTimestamp int64, expireTimestamp int64 (v1 only); v4 is flexible (compact
  strings and a tagged-field section). Josef writes v3, as Kafka 3.x/4.x do when no
  expire timestamp is given.
* ``GroupMetadataValue`` v0-v4: protocolType string, generation int32, protocol and
  leader nullable strings, currentStateTimestamp int64 (v2+), members array of
  (memberId, groupInstanceId (v3+, nullable), clientId, clientHost, rebalanceTimeout
  (v1+), sessionTimeout, subscription bytes, assignment bytes); v4 is flexible. Josef
  writes v3.

A null value (a tombstone) deletes the key: an offset, or a whole group.
Primitives are big-endian: strings are an int16 length and UTF-8 bytes (-1 = null),
bytes an int32 length, arrays an int32 count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from protocol.primitives import PrimitiveReader, PrimitiveWriter

OFFSET_COMMIT_KEY_VERSION: Final = 1
GROUP_METADATA_KEY_VERSION: Final = 2
OFFSET_COMMIT_VALUE_VERSION: Final = 3
GROUP_METADATA_VALUE_VERSION: Final = 3

_I16: Final = struct.Struct(">h")


class RecordFormatError(ValueError):
    """A ``__consumer_offsets`` key or value that does not match Kafka's schema."""


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group: str


@dataclass(frozen=True, slots=True)
class OtherKey:
    """A key of a record type this module does not decode (KIP-848 records)."""

    version: int
    data: bytes


RecordKey = OffsetCommitKey | GroupMetadataKey | OtherKey


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1


@dataclass(frozen=True, slots=True)
class MemberMetadataValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberMetadataValue, ...] = field(default_factory=tuple)


def _writer(flexible: bool = False) -> PrimitiveWriter:
    return PrimitiveWriter(flexible, error=RecordFormatError)


def _reader(data: bytes, pos: int = 0, flexible: bool = False) -> PrimitiveReader:
    return PrimitiveReader(data, pos, flexible=flexible, error=RecordFormatError)


# --------------------------------------------------------------------------- encode


def encode_offset_commit_key(key: OffsetCommitKey) -> bytes:
    w = _writer()
    w.i16(OFFSET_COMMIT_KEY_VERSION)
    w.string(key.group)
    w.string(key.topic)
    w.i32(key.partition)
    return bytes(w.buf)


def encode_group_metadata_key(key: GroupMetadataKey) -> bytes:
    w = _writer()
    w.i16(GROUP_METADATA_KEY_VERSION)
    w.string(key.group)
    return bytes(w.buf)


def encode_key(key: RecordKey) -> bytes:
    if isinstance(key, OffsetCommitKey):
        return encode_offset_commit_key(key)
    if isinstance(key, GroupMetadataKey):
        return encode_group_metadata_key(key)
    return _I16.pack(key.version) + key.data


def encode_offset_commit_value(
    value: OffsetCommitValue, version: int = OFFSET_COMMIT_VALUE_VERSION
) -> bytes:
    if not 0 <= version <= 4:
        raise RecordFormatError(f"unknown OffsetCommitValue version {version}")
    w = _writer(flexible=version >= 4)
    w.i16(version)
    w.i64(value.offset)
    if version >= 3:
        w.i32(value.leader_epoch)
    w.string(value.metadata)
    w.i64(value.commit_timestamp)
    if version == 1:
        w.i64(value.expire_timestamp)
    w.tags()
    return bytes(w.buf)


def encode_group_metadata_value(
    value: GroupMetadataValue, version: int = GROUP_METADATA_VALUE_VERSION
) -> bytes:
    if not 0 <= version <= 4:
        raise RecordFormatError(f"unknown GroupMetadataValue version {version}")
    w = _writer(flexible=version >= 4)
    w.i16(version)
    w.string(value.protocol_type)
    w.i32(value.generation)
    w.string(value.protocol)
    w.string(value.leader)
    if version >= 2:
        w.i64(value.current_state_timestamp)
    w.array_len(len(value.members))
    for m in value.members:
        w.string(m.member_id)
        if version >= 3:
            w.string(m.group_instance_id)
        w.string(m.client_id)
        w.string(m.client_host)
        if version >= 1:
            w.i32(m.rebalance_timeout)
        w.i32(m.session_timeout)
        w.bytes_(m.subscription)
        w.bytes_(m.assignment)
        w.tags()
    w.tags()
    return bytes(w.buf)


# --------------------------------------------------------------------------- decode


def decode_key(data: bytes) -> RecordKey:
    r = _reader(bytes(data))
    version = r.i16()
    if version in (0, 1):
        key: RecordKey = OffsetCommitKey(r.string(), r.string(), r.i32())
    elif version == 2:
        key = GroupMetadataKey(r.string())
    elif version >= 3:
        return OtherKey(version, bytes(data[2:]))
    else:
        raise RecordFormatError(f"unknown __consumer_offsets key version {version}")
    r.end()
    return key


def decode_offset_commit_value(data: bytes) -> OffsetCommitValue:
    r = _reader(bytes(data))
    version = r.i16()
    if not 0 <= version <= 4:
        raise RecordFormatError(f"unknown OffsetCommitValue version {version}")
    r.flexible = version >= 4
    offset = r.i64()
    leader_epoch = r.i32() if version >= 3 else -1
    metadata = r.string()
    commit_ts = r.i64()
    expire_ts = r.i64() if version == 1 else -1
    r.read_tags()
    r.end()
    return OffsetCommitValue(offset, leader_epoch, metadata, commit_ts, expire_ts)


def decode_group_metadata_value(data: bytes) -> GroupMetadataValue:
    r = _reader(bytes(data))
    version = r.i16()
    if not 0 <= version <= 4:
        raise RecordFormatError(f"unknown GroupMetadataValue version {version}")
    r.flexible = version >= 4
    protocol_type = r.string()
    generation = r.i32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    state_ts = r.i64() if version >= 2 else -1
    members = []
    for _ in range(r.array_len()):
        member_id = r.string()
        instance_id = r.nullable_string() if version >= 3 else None
        client_id = r.string()
        client_host = r.string()
        rebalance_timeout = r.i32() if version >= 1 else -1
        session_timeout = r.i32()
        subscription = r.bytes_()
        assignment = r.bytes_()
        r.read_tags()
        if rebalance_timeout < 0:
            rebalance_timeout = session_timeout
        members.append(
            MemberMetadataValue(
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            )
        )
    r.read_tags()
    r.end()
    return GroupMetadataValue(protocol_type, generation, protocol, leader, state_ts, tuple(members))


def value_version(data: bytes) -> int:
    if len(data) < 2:
        raise RecordFormatError("value shorter than its version field")
    return int(_I16.unpack_from(data, 0)[0])
