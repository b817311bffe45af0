"""Produce-time validation of record batches (Kafka's LogValidator, header level).

Per the hot-path rules, a batch is checked by its header and CRC only: magic,
size, CRC32C, offset-delta/record-count consistency and max.message.bytes.
Records are read only where Kafka's semantics need them: compacted topics (every
record needs a key) and CreateTime topics with timestamp bounds
(message.timestamp.before/after.max.ms, KIP-937). Bad records are reported one by
one (KIP-467): the batch is rejected with INVALID_RECORD, or INVALID_TIMESTAMP if
any record's timestamp is out of bounds, listing each bad record's index.
"""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from protocol.errors import CorruptRecordError, KafkaError
from protocol.record_batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    RecordBatchHeader,
    compute_crc,
    read_header,
)
from protocol.records import Record, decode_batch, reencode_batch, scan_records
from storage.log_config import LogConfig

#: Bound on what one produced batch may decompress to where records must be read (compacted
#: topics, compression.type conversion). Kafka streams records and has no such bound; Josef
#: decompresses a batch at once, so a small gzip or zstd "bomb" would otherwise become
#: gigabytes. Producers bound batches by their uncompressed size (batch.size), far below it.
MAX_UNCOMPRESSED_BATCH_BYTES = 128 * 1024 * 1024


#: (batch_index, batch_index_error_message) of one rejected record (ProduceResponse v8+).
RecordError = tuple[int, str | None]

_LONG_MAX = 9_223_372_036_854_775_807


class RecordValidationError(KafkaError):
    """A produce payload Kafka would reject, with the error code to answer.

    ``record_errors`` lists the bad records when the batch was rejected for some of its
    records (Kafka's RecordValidationException); the message is then Kafka's top-level
    ``error_message`` for the partition.
    """

    def __init__(
        self,
        message: str = "",
        error_code: ErrorCode | None = None,
        record_errors: tuple[RecordError, ...] = (),
    ) -> None:
        super().__init__(message, error_code)
        self.record_errors = record_errors


def _java_long(value: int) -> int:
    """``value`` wrapped to a signed 64-bit long, as Java's arithmetic leaves it."""
    return (value + 2**63) % 2**64 - 2**63


def _record_error_list(errors: list[RecordError]) -> str:
    """Java's List.toString of Kafka's RecordError objects."""
    return (
        "["
        + ", ".join(
            f"RecordError(batchIndex={i}, message=" + ("null" if m is None else f"'{m}'") + ")"
            for i, m in errors
        )
        + "]"
    )


def _batch_record_errors(
    data: bytes | bytearray | memoryview,
    pos: int,
    header: RecordBatchHeader,
    config: LogConfig,
    now_ms: int,
    before_ms: int,
    after_ms: int,
    check_ts: bool,
    topic_partition: str,
) -> None:
    """Kafka's per-record checks (LogValidator.validateRecord) for one batch; raises
    RecordValidationError listing every bad record."""
    append_time_batch = header.timestamp_type == 1
    decoded: list[Record] = []
    try:
        if append_time_batch:
            # Rare: a producer marking its batch LogAppendTime. Kafka's message prints the
            # record, so decode it whole.
            _, decoded = decode_batch(data, pos, max_uncompressed=MAX_UNCOMPRESSED_BATCH_BYTES)
            rows = [
                (
                    r.offset - header.base_offset,
                    r.timestamp - header.base_timestamp,
                    r.key is not None,
                )
                for r in decoded
            ]
        else:
            rows = scan_records(data, pos, header, MAX_UNCOMPRESSED_BATCH_BYTES)
    except CorruptRecordError as exc:
        raise RecordValidationError(str(exc), _corrupt_code(exc)) from exc
    errors: list[RecordError] = []
    invalid_timestamp = False
    create_time = config.message_timestamp_type == "CreateTime"
    for index, (offset_delta, ts_delta, has_key) in enumerate(rows):
        if config.compact and not has_key:
            errors.append(
                (
                    index,
                    "Compacted topic cannot accept message without key in topic partition "
                    + topic_partition,
                )
            )
            continue
        # A LogAppendTime batch's records all carry its max timestamp.
        timestamp = header.max_timestamp if append_time_batch else header.base_timestamp + ts_delta
        if create_time and timestamp != -1:
            if check_ts and (now_ms - timestamp > before_ms or timestamp - now_ms > after_ms):
                invalid_timestamp = True
                errors.append(
                    (
                        index,
                        f"Timestamp {timestamp} of message with offset "
                        f"{header.base_offset + offset_delta} is out of range. The timestamp "
                        f"should be within [{_java_long(now_ms - before_ms)}, "
                        f"{_java_long(now_ms + after_ms)}]",
                    )
                )
        elif append_time_batch:
            invalid_timestamp = True
            record = decoded[index]
            errors.append(
                (
                    index,
                    f"Invalid timestamp type in message DefaultRecord(offset={record.offset}, "
                    f"timestamp={record.timestamp}, "
                    f"key={0 if record.key is None else len(record.key)} bytes, "
                    f"value={0 if record.value is None else len(record.value)} bytes). "
                    "Producer should not set timestamp type to LogAppendTime.",
                )
            )
    if not errors:
        return
    if invalid_timestamp:
        raise RecordValidationError(
            "One or more records have been rejected due to invalid timestamp",
            ErrorCode.invalid_timestamp,
            tuple(errors),
        )
    raise RecordValidationError(
        f"One or more records have been rejected due to {len(errors)} record errors in total, "
        "and only showing the first three errors at most: " + _record_error_list(errors[:3]),
        ErrorCode.invalid_record,
        tuple(errors),
    )


@dataclass(frozen=True, slots=True)
class ValidatedBatches:
    headers: list[RecordBatchHeader]
    positions: list[int]
    record_count: int
    size: int


def validate_produce_records(
    data: bytes | bytearray | memoryview,
    config: LogConfig,
    now_ms: int,
    topic_partition: str = "",
) -> ValidatedBatches:
    """Validate every batch of one partition's produce payload; raises RecordValidationError.

    ``topic_partition`` ("topic-0") names the partition in per-record messages, as Kafka's.
    """
    size = len(data)
    if size == 0:
        raise RecordValidationError("empty record set", ErrorCode.invalid_record)
    headers: list[RecordBatchHeader] = []
    positions: list[int] = []
    records = 0
    pos = 0
    max_bytes = config.max_message_bytes
    before_ms = config.timestamp_before_max_ms
    after_ms = config.timestamp_after_max_ms
    check_ts = config.message_timestamp_type == "CreateTime" and (
        before_ms < _LONG_MAX or after_ms < _LONG_MAX
    )
    read_records = check_ts or config.compact
    while pos < size:
        if size - pos < HEADER_SIZE:
            raise RecordValidationError(
                f"truncated record batch at byte {pos}", ErrorCode.corrupt_message
            )
        if data[pos + 16] != MAGIC_V2:
            raise RecordValidationError(
                f"record batch magic {data[pos + 16]} is not supported (only 2)",
                ErrorCode.invalid_record,
            )
        try:
            header = read_header(data, pos)
        except CorruptRecordError as exc:
            raise RecordValidationError(str(exc), ErrorCode.corrupt_message) from exc
        batch_size = header.size
        if pos + batch_size > size:
            raise RecordValidationError(
                f"record batch at byte {pos} claims {batch_size} bytes, {size - pos} present",
                ErrorCode.corrupt_message,
            )
        if batch_size > max_bytes:
            raise RecordValidationError(
                f"record batch of {batch_size} bytes exceeds max.message.bytes={max_bytes}",
                ErrorCode.message_too_large,
            )
        if compute_crc(data, pos, batch_size) != header.crc:
            raise RecordValidationError(
                f"record batch at byte {pos} fails its CRC32C check", ErrorCode.corrupt_message
            )
        if header.records_count <= 0 or header.last_offset_delta != header.records_count - 1:
            raise RecordValidationError(
                f"record count {header.records_count} does not match last offset delta "
                f"{header.last_offset_delta}",
                ErrorCode.invalid_record,
            )
        if header.is_control:
            raise RecordValidationError(
                "clients may not produce control batches", ErrorCode.invalid_record
            )
        if read_records or header.timestamp_type == 1:
            _batch_record_errors(
                data, pos, header, config, now_ms, before_ms, after_ms, check_ts, topic_partition
            )
        headers.append(header)
        positions.append(pos)
        records += header.records_count
        pos += batch_size
    return ValidatedBatches(headers, positions, records, size)


def _corrupt_code(exc: CorruptRecordError) -> ErrorCode:
    """CORRUPT_MESSAGE, or MESSAGE_TOO_LARGE for a batch that decompresses past the bound."""
    if exc.error_code == ErrorCode.message_too_large:
        return ErrorCode.message_too_large
    return ErrorCode.corrupt_message


#: compression.type values → codec ids ("producer" keeps the producer's codec).
TARGET_CODECS: dict[str, int] = {
    "uncompressed": 0,
    "none": 0,
    "gzip": 1,
    "snappy": 2,
    "lz4": 3,
    "zstd": 4,
}


def target_codec(config: LogConfig) -> int | None:
    """The codec compression.type forces on appended batches, or None for 'producer'."""
    return TARGET_CODECS.get(config.compression_type.lower())


def compression_level(config: LogConfig, codec: int) -> int | None:
    """compression.<codec>.level for the codecs that have levels (None: the default)."""
    if codec == 1:
        level = config.compression_gzip_level
        return None if level == -1 else level
    if codec == 3:
        return config.compression_lz4_level
    if codec == 4:
        return config.compression_zstd_level
    return None


def recompress_if_needed(
    data: bytes | bytearray | memoryview,
    validated: ValidatedBatches,
    config: LogConfig,
) -> bytes | bytearray | memoryview:
    """Re-encode batches whose codec differs from compression.type (Kafka's LogValidator
    converts them; a batch already in the target codec is kept byte for byte).

    Only here are records decoded on the produce path, and only when the topic or broker
    sets a codec and the producer used another. Producer id/epoch/base sequence,
    transactional flag, timestamp type and record timestamps are kept.
    """
    target = target_codec(config)
    if target is None or all(h.compression == target for h in validated.headers):
        return data
    out = bytearray()
    for pos, header in zip(validated.positions, validated.headers, strict=True):
        if header.compression == target:
            out += data[pos : pos + header.size]
            continue
        try:
            _, records = decode_batch(data, pos, max_uncompressed=MAX_UNCOMPRESSED_BATCH_BYTES)
        except CorruptRecordError as exc:
            raise RecordValidationError(str(exc), _corrupt_code(exc)) from exc
        batch = reencode_batch(
            header,
            records,
            compression=target,
            base_timestamp=header.base_timestamp,
            compression_level=compression_level(config, target),
        )
        if len(batch) > config.max_message_bytes:
            raise RecordValidationError(
                f"record batch of {len(batch)} bytes after recompression exceeds "
                f"max.message.bytes={config.max_message_bytes}",
                ErrorCode.message_too_large,
            )
        out += batch
    return out


__all__ = [
    "LOG_OVERHEAD",
    "RecordError",
    "RecordValidationError",
    "ValidatedBatches",
    "recompress_if_needed",
    "target_codec",
    "validate_produce_records",
]
