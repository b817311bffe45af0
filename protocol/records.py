"""Record-level codec for RecordBatch v2: off the hot path only.

The broker stores and serves batches as opaque bytes (see
``protocol.record_batch``). This module decodes and encodes the records inside
a batch where Kafka's semantics need them: tests, the log cleaner, control
batches (transaction markers), ``__consumer_offsets`` and key validation for
compacted topics.

Record layout (after the 61-byte batch header, compressed as a whole when the
batch's compression attribute is set)::

    length          varint   bytes after this field
    attributes      int8     unused, 0
    timestampDelta  varlong  relative to the batch's baseTimestamp
    offsetDelta     varint   relative to the batch's baseOffset
    keyLength       varint   -1 for a null key
    key             bytes
    valueLength     varint   -1 for a null value
    value           bytes
    headersCount    varint
    headers         keyLength varint, key utf-8, valueLength varint (-1 null), value

Varints are zigzag-encoded base-128, least significant group first (as in
protocol buffers). Any malformed body raises ``CorruptRecordError``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from protocol.compression import compress, decompress
from protocol.errors import CorruptRecordError
from protocol.record_batch import (
    CONTROL_FLAG,
    HEADER_SIZE,
    MAGIC_V2,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_FLAG,
    RecordBatchHeader,
    crc_is_valid,
    fix_crc,
    iter_headers,
    read_header,
    write_header,
)

Buffer = bytes | bytearray | memoryview
Headers = tuple[tuple[str, bytes | None], ...]

CONTROL_ABORT: Final = 0
CONTROL_COMMIT: Final = 1

_MAX_VARINT_BYTES: Final = 10
_INT31_MAX: Final = (1 << 31) - 1
_CONTROL_KEY: Final = struct.Struct(">hh")
_CONTROL_VALUE: Final = struct.Struct(">hi")

# Zigzag varint encodings of small values, precomputed.
_SMALL: Final = tuple(bytes([((n << 1) ^ (n >> 63)) & 0xFF]) for n in range(-64, 64))


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with absolute offset and timestamp (ms)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to encode.

    ``timestamp`` None means now; ``offset_delta`` None means one after the
    previous record's (0 for the first). Explicit deltas must strictly increase.
    """

    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: int | None = None
    offset_delta: int | None = None


# --------------------------------------------------------------------------- varints


def _varint(value: int) -> bytes:
    """Zigzag varint (or varlong) encoding of ``value``."""
    if -64 <= value < 64:
        return _SMALL[value + 64]
    v = (value << 1) ^ (value >> 63)
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a zigzag varint at ``pos``; returns (value, next position).

    Raises IndexError past the end (callers turn it into CorruptRecordError).
    """
    b = data[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift >= 7 * _MAX_VARINT_BYTES:
            raise CorruptRecordError("varint longer than 10 bytes")


# --------------------------------------------------------------------------- decode


def _payload(
    buf: Buffer, pos: int, header: RecordBatchHeader, max_size: int | None = None
) -> bytes:
    """The uncompressed record bytes of the batch at ``pos`` (at most ``max_size``)."""
    end = pos + header.size
    if end > len(buf):
        raise CorruptRecordError(
            f"record batch at {pos} needs {header.size} bytes, {len(buf) - pos} available"
        )
    raw = memoryview(buf)[pos + HEADER_SIZE : end]
    if header.compression == 0 or len(raw) == 0:
        return bytes(raw)
    return decompress(header.compression, raw, max_size)


def _decode_records(data: bytes, header: RecordBatchHeader) -> list[Record]:
    base_offset = header.base_offset
    base_ts = header.base_timestamp
    append_time = header.max_timestamp if header.attributes & TIMESTAMP_TYPE_MASK else None
    read = _read_varint
    records: list[Record] = []
    pos = 0
    end = len(data)
    try:
        while pos < end:
            length, pos = read(data, pos)
            rec_end = pos + length
            if length < 6 or rec_end > end:
                raise CorruptRecordError(f"record length {length} out of range")
            pos += 1  # attributes
            ts_delta, pos = read(data, pos)
            offset_delta, pos = read(data, pos)
            n, pos = read(data, pos)
            if n < 0:
                if n != -1:
                    raise CorruptRecordError(f"key length {n}")
                key = None
            else:
                key = data[pos : pos + n]
                pos += n
            n, pos = read(data, pos)
            if n < 0:
                if n != -1:
                    raise CorruptRecordError(f"value length {n}")
                value = None
            else:
                value = data[pos : pos + n]
                pos += n
            count, pos = read(data, pos)
            if count < 0 or count > (rec_end - pos) // 2:
                raise CorruptRecordError(f"header count {count} out of range")
            headers: Headers = ()
            if count:
                hlist: list[tuple[str, bytes | None]] = []
                for _ in range(count):
                    n, pos = read(data, pos)
                    if n < 0 or pos + n > rec_end:
                        raise CorruptRecordError(f"header key length {n}")
                    hkey = data[pos : pos + n].decode("utf-8")
                    pos += n
                    n, pos = read(data, pos)
                    if n < 0:
                        if n != -1:
                            raise CorruptRecordError(f"header value length {n}")
                        hvalue = None
                    else:
                        hvalue = data[pos : pos + n]
                        pos += n
                    hlist.append((hkey, hvalue))
                headers = tuple(hlist)
            if pos != rec_end:
                raise CorruptRecordError("record body does not match its length")
            records.append(
                Record(
                    base_offset + offset_delta,
                    base_ts + ts_delta if append_time is None else append_time,
                    key,
                    value,
                    headers,
                )
            )
    except (IndexError, ValueError) as exc:  # ValueError covers UnicodeDecodeError
        raise CorruptRecordError(f"malformed record: {exc}") from exc
    if len(records) != header.records_count:
        raise CorruptRecordError(
            f"batch header says {header.records_count} records, body has {len(records)}"
        )
    return records


def decode_batch(
    buf: Buffer, pos: int = 0, *, check_crc: bool = False, max_uncompressed: int | None = None
) -> tuple[RecordBatchHeader, list[Record]]:
    """Decode the batch at ``pos`` with all its records (decompressing as needed).

    With ``check_crc`` the CRC32C is verified first. Raises CorruptRecordError
    on a truncated batch, a malformed record, a record count that differs from
    the header's, or bytes left over after the last record.
    """
    header = read_header(buf, pos)
    if check_crc and (pos + header.size > len(buf) or not crc_is_valid(buf, pos, header)):
        raise CorruptRecordError(f"record batch at {pos} fails its CRC check")
    return header, _decode_records(_payload(buf, pos, header, max_uncompressed), header)


def iter_records(buf: Buffer) -> Iterator[tuple[RecordBatchHeader, Record]]:
    """Yield (batch header, record) for every record of every complete batch in ``buf``.

    An incomplete batch at the end (as in a fetch response cut at its size
    limit) is ignored, like ``record_batch.iter_headers``.
    """
    for pos, header in iter_headers(buf):
        for record in _decode_records(_payload(buf, pos, header), header):
            yield header, record


def batch_keys(
    buf: Buffer, pos: int, header: RecordBatchHeader, max_uncompressed: int | None = None
) -> list[bytes | None]:
    """The keys of the batch's records in order (values and headers are skipped)."""
    data = _payload(buf, pos, header, max_uncompressed)
    keys: list[bytes | None] = []
    read = _read_varint
    p = 0
    end = len(data)
    try:
        while p < end:
            length, p = read(data, p)
            rec_end = p + length
            if length < 6 or rec_end > end:
                raise CorruptRecordError(f"record length {length} out of range")
            _, p = read(data, p + 1)  # attributes, timestamp delta
            _, p = read(data, p)  # offset delta
            n, p = read(data, p)
            if n < -1 or p + max(n, 0) > rec_end:
                raise CorruptRecordError(f"key length {n}")
            keys.append(None if n == -1 else data[p : p + n])
            p = rec_end
    except IndexError as exc:
        raise CorruptRecordError(f"malformed record: {exc}") from exc
    if len(keys) != header.records_count:
        raise CorruptRecordError(
            f"batch header says {header.records_count} records, body has {len(keys)}"
        )
    return keys


def scan_records(
    buf: Buffer, pos: int, header: RecordBatchHeader, max_uncompressed: int | None = None
) -> list[tuple[int, int, bool]]:
    """(offset delta, timestamp delta, has key) of each record, in order.

    Keys, values and headers are skipped, not copied: this is what produce-time record
    validation reads (keys on compacted topics, timestamp bounds).
    """
    data = _payload(buf, pos, header, max_uncompressed)
    out: list[tuple[int, int, bool]] = []
    append = out.append
    read = _read_varint
    p = 0
    end = len(data)
    try:
        while p < end:
            length, p = read(data, p)
            rec_end = p + length
            if length < 6 or rec_end > end:
                raise CorruptRecordError(f"record length {length} out of range")
            # One-byte varints (the usual timestamp delta, offset delta and key length)
            # are decoded inline: this loop runs per record on the produce path.
            b = data[p + 1]  # after the attributes byte
            if b < 0x80:
                ts_delta, p = (b >> 1) ^ -(b & 1), p + 2
            else:
                ts_delta, p = read(data, p + 1)
            b = data[p]
            if b < 0x80:
                offset_delta, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                offset_delta, p = read(data, p)
            b = data[p]
            if b < 0x80:
                n, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                n, p = read(data, p)
            if n < -1 or (n > 0 and p + n > rec_end):
                raise CorruptRecordError(f"key length {n}")
            append((offset_delta, ts_delta, n != -1))
            p = rec_end
    except IndexError as exc:
        raise CorruptRecordError(f"malformed record: {exc}") from exc
    if len(out) != header.records_count:
        raise CorruptRecordError(
            f"batch header says {header.records_count} records, body has {len(out)}"
        )
    return out


def count_records(buf: Buffer, pos: int, header: RecordBatchHeader) -> int:
    """Number of records in the batch, found by walking the record length varints.

    Record bodies are not decoded. Raises CorruptRecordError if the lengths do
    not tile the record section exactly; the caller compares the result with
    ``header.records_count``.
    """
    data = _payload(buf, pos, header)
    read = _read_varint
    count = 0
    p = 0
    end = len(data)
    try:
        while p < end:
            length, p = read(data, p)
            if length < 6:
                raise CorruptRecordError(f"record length {length} out of range")
            p += length
            count += 1
    except IndexError as exc:
        raise CorruptRecordError(f"malformed record length: {exc}") from exc
    if p != end:
        raise CorruptRecordError("last record runs past the end of the batch")
    return count


def read_control_type(buf: Buffer, pos: int = 0) -> int | None:
    """The control record type (0 abort, 1 commit) of the control batch at ``pos``.

    None when the batch is not a control batch or holds no records.
    """
    header = read_header(buf, pos)
    if not header.is_control:
        return None
    keys = batch_keys(buf, pos, header)
    if not keys:
        return None
    key = keys[0]
    if key is None or len(key) < _CONTROL_KEY.size:
        raise CorruptRecordError("control record key too short")
    _version, control_type = _CONTROL_KEY.unpack_from(key)
    return int(control_type)


# --------------------------------------------------------------------------- encode


def _encode_body(records: Sequence[NewRecord], timestamps: list[int], base_ts: int) -> bytes:
    varint = _varint
    body = bytearray()
    previous = -1
    for record, timestamp in zip(records, timestamps, strict=True):
        delta = previous + 1 if record.offset_delta is None else record.offset_delta
        if delta <= previous or delta > _INT31_MAX:
            raise ValueError(f"offset delta {delta} must exceed {previous} and fit an int32")
        previous = delta
        parts = [b"\x00", varint(timestamp - base_ts), varint(delta)]
        key = record.key
        if key is None:
            parts.append(b"\x01")
        else:
            parts.append(varint(len(key)))
            parts.append(key)
        value = record.value
        if value is None:
            parts.append(b"\x01")
        else:
            parts.append(varint(len(value)))
            parts.append(value)
        parts.append(varint(len(record.headers)))
        for hkey, hvalue in record.headers:
            encoded = hkey.encode("utf-8")
            parts.append(varint(len(encoded)))
            parts.append(encoded)
            if hvalue is None:
                parts.append(b"\x01")
            else:
                parts.append(varint(len(hvalue)))
                parts.append(hvalue)
        rec = b"".join(parts)
        body += varint(len(rec))
        body += rec
    return bytes(body)


def _last_delta(records: Sequence[NewRecord]) -> int:
    last = -1
    for record in records:
        last = last + 1 if record.offset_delta is None else record.offset_delta
    return last


def encode_batch(
    records: Sequence[NewRecord],
    *,
    base_offset: int = 0,
    compression: int = 0,
    timestamp_type: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    is_transactional: bool = False,
    is_control: bool = False,
    partition_leader_epoch: int = -1,
    base_timestamp: int | None = None,
    last_offset_delta: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """Encode ``records`` as one CRC'd RecordBatch v2.

    ``base_timestamp`` None means the first record's timestamp (-1 for an
    empty batch). ``last_offset_delta`` None means the last record's delta;
    an explicit value (>= that) keeps a batch's offset range when the cleaner
    drops its tail records, and is how an empty batch spans offsets.
    """
    now: int | None = None
    timestamps: list[int] = []
    for record in records:
        if record.timestamp is None:
            if now is None:
                now = time.time_ns() // 1_000_000
            timestamps.append(now)
        else:
            timestamps.append(record.timestamp)
    if base_timestamp is None:
        base_timestamp = timestamps[0] if timestamps else NO_TIMESTAMP
    max_timestamp = max(timestamps) if timestamps else base_timestamp

    body = _encode_body(records, timestamps, base_timestamp)
    last = _last_delta(records)
    if last_offset_delta is not None:
        if last_offset_delta < last:
            raise ValueError(f"last_offset_delta {last_offset_delta} < last record delta {last}")
        last = last_offset_delta
    if last < 0:
        last = 0
    if not records:
        # As Kafka writes empty batches: nothing to compress, codec none.
        compression = 0
    payload = compress(compression, body, compression_level) if compression else body

    attributes = compression & 0x07
    if timestamp_type:
        attributes |= TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= TRANSACTIONAL_FLAG
    if is_control:
        attributes |= CONTROL_FLAG

    out = bytearray(HEADER_SIZE + len(payload))
    write_header(
        out,
        0,
        RecordBatchHeader(
            base_offset=base_offset,
            batch_length=HEADER_SIZE - 12 + len(payload),
            partition_leader_epoch=partition_leader_epoch,
            magic=MAGIC_V2,
            crc=0,
            attributes=attributes,
            last_offset_delta=last,
            base_timestamp=base_timestamp,
            max_timestamp=max_timestamp,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
            records_count=len(records),
        ),
    )
    out[HEADER_SIZE:] = payload
    fix_crc(out, 0)
    return bytes(out)


def reencode_batch(
    header: RecordBatchHeader,
    records: Sequence[Record],
    *,
    compression: int | None = None,
    base_timestamp: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """Encode ``records`` (decoded from the batch ``header`` describes) as that batch again:
    same base offset, last offset delta, producer fields, flags and leader epoch; the codec
    is the batch's own unless ``compression`` is given (the cleaner and compression.type
    conversion both rewrite batches this way), at ``compression_level`` (None: the codec's
    default)."""
    base = header.base_offset
    return encode_batch(
        [NewRecord(r.key, r.value, r.headers, r.timestamp, r.offset - base) for r in records],
        base_offset=base,
        compression=header.compression if compression is None else compression,
        timestamp_type=header.timestamp_type,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
        is_control=header.is_control,
        partition_leader_epoch=header.partition_leader_epoch,
        base_timestamp=base_timestamp,
        last_offset_delta=header.last_offset_delta,
        compression_level=compression_level,
    )


def encode_control_batch(
    *,
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int = 0,
    timestamp: int | None = None,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker: one control record in a transactional control batch.

    Key: version int16 0 + type int16 (0 abort, 1 commit). Value: version
    int16 0 + coordinator epoch int32.
    """
    control_type = CONTROL_COMMIT if commit else CONTROL_ABORT
    record = NewRecord(
        key=_CONTROL_KEY.pack(0, control_type),
        value=_CONTROL_VALUE.pack(0, coordinator_epoch),
        timestamp=timestamp,
    )
    return encode_batch(
        [record],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        is_transactional=True,
        is_control=True,
        partition_leader_epoch=partition_leader_epoch,
    )
