"""Produce-time validation of record batches (Kafka's LogValidator, header level).

Per the hot-path rules, a batch is checked by its header and CRC only: magic,
size, CRC32C, offset-delta/record-count consistency, max.message.bytes and
timestamp bounds. Records are decoded only for compacted topics, where Kafka
requires every record to have a key.
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
from protocol.records import batch_keys, decode_batch, reencode_batch
from storage.log_config import LogConfig

#: Bound on what one produced batch may decompress to where records must be read (compacted
#: topics, compression.type conversion). Kafka streams records and has no such bound; Josef
#: decompresses a batch at once, so a small gzip or zstd "bomb" would otherwise become
#: gigabytes. Producers bound batches by their uncompressed size (batch.size), far below it.
MAX_UNCOMPRESSED_BATCH_BYTES = 128 * 1024 * 1024


class RecordValidationError(KafkaError):
    """A produce payload Kafka would reject, with the error code to answer."""


@dataclass(frozen=True, slots=True)
class ValidatedBatches:
    headers: list[RecordBatchHeader]
    positions: list[int]
    record_count: int
    size: int


def validate_produce_records(
    data: bytes | bytearray | memoryview, config: LogConfig, now_ms: int
) -> ValidatedBatches:
    """Validate every batch of one partition's produce payload; raises RecordValidationError."""
    size = len(data)
    if size == 0:
        raise RecordValidationError("empty record set", ErrorCode.invalid_record)
    headers: list[RecordBatchHeader] = []
    positions: list[int] = []
    records = 0
    pos = 0
    max_bytes = config.max_message_bytes
    check_ts = config.message_timestamp_type == "CreateTime" and (
        config.message_timestamp_before_max_ms < 9_223_372_036_854_775_807
        or config.message_timestamp_after_max_ms < 9_223_372_036_854_775_807
    )
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
        if check_ts and (
            header.max_timestamp > now_ms + config.message_timestamp_after_max_ms
            or header.base_timestamp < now_ms - config.message_timestamp_before_max_ms
        ):
            raise RecordValidationError(
                "record timestamp outside message.timestamp.before/after.max.ms",
                ErrorCode.invalid_timestamp,
            )
        if config.compact:
            try:
                keys = batch_keys(data, pos, header, MAX_UNCOMPRESSED_BATCH_BYTES)
            except CorruptRecordError as exc:
                raise RecordValidationError(str(exc), _corrupt_code(exc)) from exc
            if any(k is None for k in keys):
                raise RecordValidationError(
                    "compacted topic cannot accept a record without a key",
                    ErrorCode.invalid_record,
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
            header, records, compression=target, base_timestamp=header.base_timestamp
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
    "RecordValidationError",
    "ValidatedBatches",
    "recompress_if_needed",
    "target_codec",
    "validate_produce_records",
]
