"""Fetch responses (v4-v17) encoded by hand as a list of buffers.

The record bytes read from segments are handed to the socket as they are
(``transport.writelines``) instead of being copied into a serialisation
buffer. The byte layout equals kio's encoding of the same FetchResponse;
tests check that for every version.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from protocol.headers import response_header
from protocol.primitives import encode_uvarint

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_PARTITION_HEAD: Final = struct.Struct(">ihqq")  # index, error, hw, lso
_I64: Final = struct.Struct(">q")
_ABORTED: Final = struct.Struct(">qq")
_TOP: Final = struct.Struct(">ihi")  # throttle, error, session id
_EPOCH_END_OFFSET: Final = struct.Struct(">iqB")  # epoch, end offset, no tagged fields
_LEADER_ID_AND_EPOCH: Final = struct.Struct(">iiB")  # leader id, epoch, no tagged fields

MIN_VERSION: Final = 4
MAX_VERSION: Final = 17
FLEXIBLE_FROM: Final = 12
TOPIC_IDS_FROM: Final = 13


@dataclass(frozen=True, slots=True)
class PartitionResponse:
    partition_index: int
    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: Sequence[tuple[int, int]] | None  # (producer_id, first_offset)
    records: bytes | memoryview | None
    preferred_read_replica: int = -1
    #: (epoch, end offset) for a follower whose log diverges (v12+, tagged field 0).
    diverging_epoch: tuple[int, int] | None = None
    #: (leader id, leader epoch) on NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH (v12+, tag 1).
    current_leader: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class TopicResponse:
    topic: str | None
    topic_id: uuid.UUID
    partitions: Sequence[PartitionResponse]


def encode_fetch_response(
    version: int,
    correlation_id: int,
    topics: Sequence[TopicResponse],
    *,
    throttle_time_ms: int = 0,
    error_code: int = 0,
    session_id: int = 0,
) -> list[bytes | bytearray | memoryview]:
    """Frame (size prefix included) as buffers to write in order."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"Fetch v{version} is not encodable here")
    flexible = version >= FLEXIBLE_FROM
    parts: list[bytes | bytearray | memoryview] = []
    head = bytearray(b"\x00\x00\x00\x00")
    head += response_header(correlation_id, flexible)
    if version >= 7:
        head += _TOP.pack(throttle_time_ms, error_code, session_id)
    else:
        head += _I32.pack(throttle_time_ms)
    head += encode_uvarint(len(topics) + 1) if flexible else _I32.pack(len(topics))
    cur = head
    size = 0
    for t in topics:
        if version >= TOPIC_IDS_FROM:
            cur += t.topic_id.bytes
        else:
            name = (t.topic or "").encode()
            cur += encode_uvarint(len(name) + 1) if flexible else _I16.pack(len(name))
            cur += name
        cur += encode_uvarint(len(t.partitions) + 1) if flexible else _I32.pack(len(t.partitions))
        for p in t.partitions:
            cur += _PARTITION_HEAD.pack(
                p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset
            )
            if version >= 5:
                cur += _I64.pack(p.log_start_offset)
            aborted = p.aborted_transactions
            if aborted is None:
                cur += b"\x00" if flexible else b"\xff\xff\xff\xff"
            else:
                cur += encode_uvarint(len(aborted) + 1) if flexible else _I32.pack(len(aborted))
                for producer_id, first_offset in aborted:
                    cur += _ABORTED.pack(producer_id, first_offset)
                    if flexible:
                        cur += b"\x00"
            if version >= 11:
                cur += _I32.pack(p.preferred_read_replica)
            records = p.records
            if records is None:
                cur += b"\x00" if flexible else b"\xff\xff\xff\xff"
            else:
                n = len(records)
                cur += encode_uvarint(n + 1) if flexible else _I32.pack(n)
                if n:
                    parts.append(cur)
                    size += len(cur)
                    parts.append(records)
                    size += n
                    cur = bytearray()
            if flexible:
                cur += _partition_tags(p)
        if flexible:
            cur += b"\x00"  # topic tagged fields
    if flexible:
        cur += b"\x00"  # response tagged fields
    parts.append(cur)
    size += len(cur)
    # head is always parts[0] (the first buffer flushed), so its size field can be patched.
    struct.pack_into(">i", head, 0, size - 4)
    return parts


def _partition_tags(p: PartitionResponse) -> bytes:
    """A partition's tagged fields, only those that differ from their defaults."""
    if p.diverging_epoch is None and p.current_leader is None:
        return b"\x00"
    tags = bytearray()
    count = 0
    if p.diverging_epoch is not None:
        count += 1
        tags += b"\x00" + encode_uvarint(_EPOCH_END_OFFSET.size)
        tags += _EPOCH_END_OFFSET.pack(p.diverging_epoch[0], p.diverging_epoch[1], 0)
    if p.current_leader is not None:
        count += 1
        tags += b"\x01" + encode_uvarint(_LEADER_ID_AND_EPOCH.size)
        tags += _LEADER_ID_AND_EPOCH.pack(p.current_leader[0], p.current_leader[1], 0)
    return encode_uvarint(count) + bytes(tags)
