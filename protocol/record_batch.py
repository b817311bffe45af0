"""RecordBatch v2 (magic 2) header codec: the unit Kafka stores and serves.

Layout (big-endian), offsets in bytes from the start of a batch::

    0  baseOffset            int64
    8  batchLength           int32   bytes after this field
    12 partitionLeaderEpoch  int32
    16 magic                 int8    always 2
    17 crc                   uint32  CRC32C of bytes [21, end)
    21 attributes            int16
    23 lastOffsetDelta       int32
    27 baseTimestamp         int64
    35 maxTimestamp          int64
    43 producerId            int64
    51 producerEpoch         int16
    53 baseSequence          int32
    57 recordsCount          int32
    61 records ...

The broker works at this level only: it validates headers and CRCs, rewrites
the base offset / leader epoch (outside the CRC) and, for LogAppendTime, the
max timestamp (inside the CRC, so the CRC is recomputed). Records themselves
are decoded only where Kafka's semantics need it (see ``protocol.records``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import crc32c

from protocol.errors import CorruptRecordError

HEADER_SIZE: Final = 61
LOG_OVERHEAD: Final = 12  # baseOffset + batchLength precede the counted bytes
MAGIC_V2: Final = 2
CRC_START: Final = 21

COMPRESSION_MASK: Final = 0x07
TIMESTAMP_TYPE_MASK: Final = 0x08
TRANSACTIONAL_FLAG: Final = 0x10
CONTROL_FLAG: Final = 0x20
DELETE_HORIZON_FLAG: Final = 0x40

NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1
NO_PARTITION_LEADER_EPOCH: Final = -1
NO_TIMESTAMP: Final = -1

_HEADER = struct.Struct(">qiibIhiqqqhii")
_BASE_OFFSET = struct.Struct(">q")
_LEADER_EPOCH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_ATTRIBUTES = struct.Struct(">h")
_TIMESTAMP = struct.Struct(">q")
_LENGTH = struct.Struct(">i")


class CompressionType:
    """Codec ids stored in the low three attribute bits."""

    NONE: Final = 0
    GZIP: Final = 1
    SNAPPY: Final = 2
    LZ4: Final = 3
    ZSTD: Final = 4

    NAMES: Final = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


class TimestampType:
    CREATE_TIME: Final = 0
    LOG_APPEND_TIME: Final = 1


@dataclass(frozen=True, slots=True)
class RecordBatchHeader:
    """The 61-byte header of one stored batch; ``size`` includes the log overhead."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return 1 if self.attributes & TIMESTAMP_TYPE_MASK else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        if self.base_sequence < 0:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (1 << 31)


def read_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> RecordBatchHeader:
    """Parse the header at ``pos``; raises CorruptRecordError if it cannot be a v2 batch."""
    if len(buf) - pos < HEADER_SIZE:
        raise CorruptRecordError("record batch header truncated")
    fields = _HEADER.unpack_from(buf, pos)
    header = RecordBatchHeader(*fields)
    if header.magic != MAGIC_V2:
        raise CorruptRecordError(f"unsupported record batch magic {header.magic}")
    if header.batch_length < HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptRecordError(f"record batch length {header.batch_length} too small")
    return header


def peek_batch_size(buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """Total size of the batch starting at ``pos`` (needs 12 bytes), or -1 if unknown."""
    if len(buf) - pos < LOG_OVERHEAD:
        return -1
    (length,) = _LENGTH.unpack_from(buf, pos + 8)
    return int(length) + LOG_OVERHEAD


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    mv = memoryview(buf)[pos + CRC_START : pos + size]
    return int(crc32c.crc32c(mv))


def crc_is_valid(buf: bytes | bytearray | memoryview, pos: int, header: RecordBatchHeader) -> bool:
    return compute_crc(buf, pos, header.size) == header.crc


def iter_headers(
    buf: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, RecordBatchHeader]]:
    """Yield (position, header) of each complete batch in ``buf[start:end]``.

    Stops silently at an incomplete tail; a header that is not v2 raises.
    """
    limit = len(buf) if end is None else end
    pos = start
    while limit - pos >= HEADER_SIZE:
        header = read_header(buf, pos)
        if pos + header.size > limit:
            return
        yield pos, header
        pos += header.size


def set_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Rewrite the base offset (not covered by the CRC)."""
    _BASE_OFFSET.pack_into(buf, pos, base_offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Rewrite the partition leader epoch (not covered by the CRC)."""
    _LEADER_EPOCH.pack_into(buf, pos + 12, epoch)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp_ms: int) -> None:
    """Mark the batch LogAppendTime with ``timestamp_ms`` as max timestamp; fixes the CRC."""
    (attributes,) = _ATTRIBUTES.unpack_from(buf, pos + 21)
    _ATTRIBUTES.pack_into(buf, pos + 21, attributes | TIMESTAMP_TYPE_MASK)
    _TIMESTAMP.pack_into(buf, pos + 35, timestamp_ms)
    (length,) = _LENGTH.unpack_from(buf, pos + 8)
    _CRC.pack_into(buf, pos + 17, compute_crc(buf, pos, int(length) + LOG_OVERHEAD))


def write_header(buf: bytearray | memoryview, pos: int, header: RecordBatchHeader) -> None:
    """Write all header fields as given (callers compute the CRC afterwards)."""
    _HEADER.pack_into(
        buf,
        pos,
        header.base_offset,
        header.batch_length,
        header.partition_leader_epoch,
        header.magic,
        header.crc,
        header.attributes,
        header.last_offset_delta,
        header.base_timestamp,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        header.records_count,
    )


def fix_crc(buf: bytearray | memoryview, pos: int) -> None:
    (length,) = _LENGTH.unpack_from(buf, pos + 8)
    _CRC.pack_into(buf, pos + 17, compute_crc(buf, pos, int(length) + LOG_OVERHEAD))
