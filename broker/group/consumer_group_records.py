"""The KIP-848 consumer-group records of ``__consumer_offsets``, with Kafka's schemas.

Every record is a key and a value; a ``None`` value is a tombstone. Keys are encoded as
``int16 key version`` followed by the key fields in the non-flexible format (int16-length
strings); the key version tells the record type:

======  ==========================================  =============================================
key v   key fields                                  value v0 fields (flexible, tagged fields last)
======  ==========================================  =============================================
3       ConsumerGroupMetadataKey: group_id           Epoch int32
4       ConsumerGroupPartitionMetadataKey: group_id  Topics [TopicId uuid, TopicName string,
                                                     NumPartitions int32, PartitionMetadata []]
5       ConsumerGroupMemberMetadataKey: group_id,    InstanceId string?, RackId string?, ClientId,
        member_id                                    ClientHost, SubscribedTopicNames []string,
                                                     SubscribedTopicRegex string?,
                                                     RebalanceTimeoutMs int32, ServerAssignor
                                                     string?, tag 0: ClassicMemberMetadata
6       ConsumerGroupTargetAssignmentMetadataKey     AssignmentEpoch int32
7       ConsumerGroupTargetAssignmentMemberKey       TopicPartitions [TopicId uuid, Partitions
                                                     []int32]
8       ConsumerGroupCurrentMemberAssignmentKey      MemberEpoch int32, PreviousMemberEpoch int32,
                                                     State int8, AssignedPartitions [...],
                                                     PartitionsPendingRevocation [...]
======  ==========================================  =============================================

Values are ``int16 value version (0)`` followed by the flexible encoding (compact strings
and arrays, unsigned-varint lengths plus one, a tagged-field section at the end of each
struct). Tagged fields this module does not know are skipped when decoding.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from protocol.primitives import PrimitiveReader, PrimitiveWriter

Partitions = Mapping[uuid.UUID, frozenset[int]]

_I16 = struct.Struct(">h")


class RecordDecodeError(ValueError):
    """The bytes are not a consumer-group record of a known schema."""


def _writer(flexible: bool = False) -> PrimitiveWriter:
    return PrimitiveWriter(flexible, error=RecordDecodeError)


def _reader(data: bytes, flexible: bool = False) -> PrimitiveReader:
    return PrimitiveReader(data, flexible=flexible, error=RecordDecodeError)


def _write_partitions(w: PrimitiveWriter, partitions: Partitions) -> None:
    items = sorted(partitions.items())
    w.array_len(len(items))
    for topic_id, parts in items:
        w.uuid(topic_id)
        w.array_len(len(parts))
        for p in sorted(parts):
            w.i32(p)
        w.tags()


def _read_partitions(r: PrimitiveReader) -> dict[uuid.UUID, frozenset[int]]:
    out: dict[uuid.UUID, frozenset[int]] = {}
    for _ in range(r.array_len()):
        topic_id = r.uuid()
        parts = frozenset(r.i32() for _ in range(r.array_len()))
        r.read_tags()
        if parts:
            out[topic_id] = out.get(topic_id, frozenset()) | parts
    return out


def freeze(partitions: Mapping[uuid.UUID, Iterable[int]]) -> dict[uuid.UUID, frozenset[int]]:
    """An immutable copy without empty topics (the canonical form compared everywhere)."""
    return {t: frozenset(p) for t, p in partitions.items() if p}


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadataKey:
    VERSION: ClassVar[int] = 3
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupPartitionMetadataKey:
    VERSION: ClassVar[int] = 4
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupMemberMetadataKey:
    VERSION: ClassVar[int] = 5
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMetadataKey:
    VERSION: ClassVar[int] = 6
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMemberKey:
    VERSION: ClassVar[int] = 7
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupCurrentMemberAssignmentKey:
    VERSION: ClassVar[int] = 8
    group_id: str
    member_id: str


GroupKey = (
    ConsumerGroupMetadataKey
    | ConsumerGroupPartitionMetadataKey
    | ConsumerGroupTargetAssignmentMetadataKey
)
MemberKey = (
    ConsumerGroupMemberMetadataKey
    | ConsumerGroupTargetAssignmentMemberKey
    | ConsumerGroupCurrentMemberAssignmentKey
)
RecordKey = GroupKey | MemberKey

KEY_VERSIONS = frozenset(range(3, 9))
"""Key versions (record types) this module owns in ``__consumer_offsets``."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadataValue:
    epoch: int


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    topic_id: uuid.UUID
    topic_name: str
    num_partitions: int


@dataclass(frozen=True, slots=True)
class ConsumerGroupPartitionMetadataValue:
    topics: tuple[TopicMetadata, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupMemberMetadataValue:
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None
    rebalance_timeout_ms: int
    server_assignor: str | None
    classic_member_metadata: bytes | None = None
    """Tag 0, kept as raw bytes (only members converted from classic groups carry it)."""


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMetadataValue:
    assignment_epoch: int


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMemberValue:
    topic_partitions: Partitions


@dataclass(frozen=True, slots=True)
class ConsumerGroupCurrentMemberAssignmentValue:
    member_epoch: int
    previous_member_epoch: int
    state: int
    assigned_partitions: Partitions
    partitions_pending_revocation: Partitions


RecordValue = (
    ConsumerGroupMetadataValue
    | ConsumerGroupPartitionMetadataValue
    | ConsumerGroupMemberMetadataValue
    | ConsumerGroupTargetAssignmentMetadataValue
    | ConsumerGroupTargetAssignmentMemberValue
    | ConsumerGroupCurrentMemberAssignmentValue
)


@dataclass(frozen=True, slots=True)
class ConsumerGroupRecord:
    """One record to append to (or read from) ``__consumer_offsets``; value None = tombstone."""

    key: RecordKey
    value: RecordValue | None

    @property
    def group_id(self) -> str:
        return self.key.group_id

    def encode(self) -> tuple[bytes, bytes | None]:
        return encode_key(self.key), None if self.value is None else encode_value(self.value)


# --------------------------------------------------------------------------- encoding


def encode_key(key: RecordKey) -> bytes:
    w = _writer()
    w.i16(key.VERSION)
    w.string(key.group_id)
    if isinstance(
        key,
        ConsumerGroupMemberMetadataKey
        | ConsumerGroupTargetAssignmentMemberKey
        | ConsumerGroupCurrentMemberAssignmentKey,
    ):
        w.string(key.member_id)
    return w.getvalue()


def encode_value(value: RecordValue) -> bytes:
    w = _writer(flexible=True)
    w.i16(0)
    if isinstance(value, ConsumerGroupMetadataValue):
        w.i32(value.epoch)
    elif isinstance(value, ConsumerGroupPartitionMetadataValue):
        w.array_len(len(value.topics))
        for t in value.topics:
            w.uuid(t.topic_id)
            w.string(t.topic_name)
            w.i32(t.num_partitions)
            w.array_len(0)  # PartitionMetadata (racks): unused since Kafka 4.0
            w.tags()
    elif isinstance(value, ConsumerGroupMemberMetadataValue):
        w.string(value.instance_id)
        w.string(value.rack_id)
        w.string(value.client_id)
        w.string(value.client_host)
        w.array_len(len(value.subscribed_topic_names))
        for name in value.subscribed_topic_names:
            w.string(name)
        w.string(value.subscribed_topic_regex)
        w.i32(value.rebalance_timeout_ms)
        w.string(value.server_assignor)
        if value.classic_member_metadata is not None:
            w.uvarint(1)
            w.uvarint(0)
            w.uvarint(len(value.classic_member_metadata))
            w.buf += value.classic_member_metadata
            return w.getvalue()
    elif isinstance(value, ConsumerGroupTargetAssignmentMetadataValue):
        w.i32(value.assignment_epoch)
    elif isinstance(value, ConsumerGroupTargetAssignmentMemberValue):
        _write_partitions(w, value.topic_partitions)
    else:
        w.i32(value.member_epoch)
        w.i32(value.previous_member_epoch)
        w.i8(value.state)
        _write_partitions(w, value.assigned_partitions)
        _write_partitions(w, value.partitions_pending_revocation)
    w.tags()
    return w.getvalue()


def key_version(key: bytes) -> int:
    if len(key) < 2:
        raise RecordDecodeError("key too short")
    return int(_I16.unpack_from(key)[0])


def decode_key(data: bytes) -> RecordKey:
    r = _reader(data)
    version = r.i16()
    group_id = r.string()
    if version == 3:
        return ConsumerGroupMetadataKey(group_id)
    if version == 4:
        return ConsumerGroupPartitionMetadataKey(group_id)
    if version == 6:
        return ConsumerGroupTargetAssignmentMetadataKey(group_id)
    if version == 5:
        return ConsumerGroupMemberMetadataKey(group_id, r.string())
    if version == 7:
        return ConsumerGroupTargetAssignmentMemberKey(group_id, r.string())
    if version == 8:
        return ConsumerGroupCurrentMemberAssignmentKey(group_id, r.string())
    raise RecordDecodeError(f"key version {version} is not a consumer-group record")


def decode_value(key: RecordKey, data: bytes) -> RecordValue:
    r = _reader(data, flexible=True)
    version = r.i16()
    if version < 0:
        raise RecordDecodeError(f"bad value version {version}")
    # Newer value versions only add tagged fields or trailing fields we do not know; read
    # the fields of version 0, which every later version starts with.
    if isinstance(key, ConsumerGroupMetadataKey):
        return ConsumerGroupMetadataValue(r.i32())
    if isinstance(key, ConsumerGroupPartitionMetadataKey):
        topics: list[TopicMetadata] = []
        for _ in range(r.array_len()):
            topic_id = r.uuid()
            name = r.string()
            num_partitions = r.i32()
            for _ in range(r.array_len()):
                r.i32()
                for _ in range(r.array_len()):
                    r.nullable_string()
                r.read_tags()
            r.read_tags()
            topics.append(TopicMetadata(topic_id, name, num_partitions))
        return ConsumerGroupPartitionMetadataValue(tuple(topics))
    if isinstance(key, ConsumerGroupMemberMetadataKey):
        instance_id = r.nullable_string()
        rack_id = r.nullable_string()
        client_id = r.string()
        client_host = r.string()
        names = tuple(r.string() for _ in range(r.array_len()))
        regex = r.nullable_string()
        rebalance_timeout_ms = r.i32()
        assignor = r.nullable_string()
        tags = r.read_tags()
        return ConsumerGroupMemberMetadataValue(
            instance_id=instance_id,
            rack_id=rack_id,
            client_id=client_id,
            client_host=client_host,
            subscribed_topic_names=names,
            subscribed_topic_regex=regex,
            rebalance_timeout_ms=rebalance_timeout_ms,
            server_assignor=assignor,
            classic_member_metadata=tags.get(0),
        )
    if isinstance(key, ConsumerGroupTargetAssignmentMetadataKey):
        return ConsumerGroupTargetAssignmentMetadataValue(r.i32())
    if isinstance(key, ConsumerGroupTargetAssignmentMemberKey):
        return ConsumerGroupTargetAssignmentMemberValue(_read_partitions(r))
    member_epoch = r.i32()
    previous = r.i32()
    state = r.i8()
    assigned = _read_partitions(r)
    pending = _read_partitions(r)
    return ConsumerGroupCurrentMemberAssignmentValue(
        member_epoch, previous, state, assigned, pending
    )


def decode_record(key: bytes, value: bytes | None) -> ConsumerGroupRecord:
    k = decode_key(key)
    return ConsumerGroupRecord(k, None if value is None else decode_value(k, value))
