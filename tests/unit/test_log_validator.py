"""Produce-side validation and compression.type recompression."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode
from protocol.record_batch import CompressionType, crc_is_valid, iter_headers
from protocol.records import NewRecord, decode_batch, encode_batch
from storage.log_config import LogConfig
from storage.log_validator import (
    RecordValidationError,
    recompress_if_needed,
    validate_produce_records,
)

NOW = 1_700_000_000_000


def test_recompression_keeps_records_and_producer_fields() -> None:
    records = [NewRecord(b"k%d" % i, b"v" * i, (("h", b"x"),), NOW + i) for i in range(10)]
    batch = encode_batch(
        records,
        compression=CompressionType.SNAPPY,
        producer_id=77,
        producer_epoch=3,
        base_sequence=40,
    )
    config = LogConfig(compression_type="gzip")
    validated = validate_produce_records(batch, config, NOW)
    out = bytes(recompress_if_needed(batch, validated, config))
    [(pos, header)] = list(iter_headers(out))
    assert crc_is_valid(out, pos, header)
    assert header.compression == CompressionType.GZIP
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 3, 40)
    assert header.records_count == 10 and header.max_timestamp == NOW + 9
    _, decoded = decode_batch(out)
    _, original = decode_batch(batch)
    assert decoded == original


def test_producer_codec_kept_byte_for_byte() -> None:
    batch = encode_batch([NewRecord(b"a", b"b")], compression=CompressionType.LZ4)
    for ctype in ("producer", "lz4"):
        config = LogConfig(compression_type=ctype)
        validated = validate_produce_records(batch, config, NOW)
        assert recompress_if_needed(batch, validated, config) is batch


@given(st.sampled_from(["uncompressed", "gzip", "snappy", "lz4", "zstd"]), st.integers(0, 4))
def test_any_codec_to_any_codec(target: str, sent: int) -> None:
    batch = encode_batch([NewRecord(b"k", b"value %d" % i) for i in range(5)], compression=sent)
    config = LogConfig(compression_type=target)
    out = bytes(recompress_if_needed(batch, validate_produce_records(batch, config, NOW), config))
    [(_, header)] = list(iter_headers(out))
    assert (
        header.compression
        == {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[target]
    )
    assert [r.value for r in decode_batch(out)[1]] == [b"value %d" % i for i in range(5)]


def test_compacted_topic_rejects_keyless_records() -> None:
    batch = encode_batch([NewRecord(b"k", b"1"), NewRecord(None, b"2")])
    with pytest.raises(RecordValidationError) as info:
        validate_produce_records(batch, LogConfig(cleanup_policy="compact"), NOW)
    assert info.value.error_code == ErrorCode.invalid_record


@pytest.mark.parametrize("codec", [CompressionType.GZIP, CompressionType.ZSTD, CompressionType.LZ4])
def test_compression_bomb_on_compacted_topic_is_refused(
    codec: CompressionType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small batch that decompresses past the bound is MESSAGE_TOO_LARGE, not gigabytes."""
    from storage import log_validator

    monkeypatch.setattr(log_validator, "MAX_UNCOMPRESSED_BATCH_BYTES", 1 << 20)
    big = (1 << 20) // 8 + 1
    records = [NewRecord(b"k%d" % i, bytes(big)) for i in range(10)]
    batch = encode_batch(records, compression=codec)
    assert len(batch) < 1_048_588
    with pytest.raises(RecordValidationError) as info:
        validate_produce_records(batch, LogConfig(cleanup_policy="compact"), NOW)
    assert info.value.error_code == ErrorCode.message_too_large
    config = LogConfig(compression_type="snappy")
    validated = validate_produce_records(batch, config, NOW)
    with pytest.raises(RecordValidationError) as info:
        recompress_if_needed(batch, validated, config)
    assert info.value.error_code == ErrorCode.message_too_large


# --- KIP-467: per-record errors, as Kafka 3.9's LogValidator reports them ---------------


def _rejected(batch: bytes, config: LogConfig, tp: str = "t-0") -> RecordValidationError:
    with pytest.raises(RecordValidationError) as info:
        validate_produce_records(batch, config, NOW, tp)
    return info.value


@pytest.mark.parametrize("codec", [CompressionType.NONE, CompressionType.ZSTD])
def test_keyless_records_listed_by_batch_index(codec: CompressionType) -> None:
    keys = [b"k", None, b"k", None, None, None]
    batch = encode_batch([NewRecord(k, b"v") for k in keys], compression=codec)
    err = _rejected(batch, LogConfig(cleanup_policy="compact"), "logs-3")
    assert err.error_code == ErrorCode.invalid_record
    message = "Compacted topic cannot accept message without key in topic partition logs-3"
    assert err.record_errors == tuple((i, message) for i in (1, 3, 4, 5))
    assert str(err) == (
        "One or more records have been rejected due to 4 record errors in total, and only "
        "showing the first three errors at most: ["
        + ", ".join(f"RecordError(batchIndex={i}, message='{message}')" for i in (1, 3, 4))
        + "]"
    )


def test_timestamps_out_of_bounds_are_invalid_timestamp() -> None:
    stamps = [NOW, NOW - 3_600_001, NOW + 10, NOW + 60_001]
    batch = encode_batch([NewRecord(b"k", b"v", timestamp=t) for t in stamps])
    config = LogConfig(
        message_timestamp_before_max_ms=3_600_000, message_timestamp_after_max_ms=60_000
    )
    err = _rejected(batch, config)
    assert err.error_code == ErrorCode.invalid_timestamp
    assert str(err) == "One or more records have been rejected due to invalid timestamp"
    window = f"[{NOW - 3_600_000}, {NOW + 60_000}]"
    assert err.record_errors == (
        (
            1,
            f"Timestamp {NOW - 3_600_001} of message with offset 1 is out of range. "
            f"The timestamp should be within {window}",
        ),
        (
            3,
            f"Timestamp {NOW + 60_001} of message with offset 3 is out of range. "
            f"The timestamp should be within {window}",
        ),
    )


def test_one_bound_set_prints_java_overflowed_window() -> None:
    batch = encode_batch([NewRecord(b"k", b"v", timestamp=NOW - 10_000)])
    err = _rejected(batch, LogConfig(message_timestamp_before_max_ms=1000))
    # Kafka prints now + Long.MAX_VALUE as Java computes it (wrapped to a negative long).
    wrapped = NOW + 2**63 - 1 - 2**64
    assert err.record_errors == (
        (
            0,
            f"Timestamp {NOW - 10_000} of message with offset 0 is out of range. "
            f"The timestamp should be within [{NOW - 1000}, {wrapped}]",
        ),
    )


def test_deprecated_difference_max_ms_bounds_both_sides() -> None:
    config = LogConfig(message_timestamp_difference_max_ms=1000)
    assert (config.timestamp_before_max_ms, config.timestamp_after_max_ms) == (1000, 1000)
    ok = encode_batch([NewRecord(b"k", b"v", timestamp=NOW + 1000)])
    validate_produce_records(ok, config, NOW)
    late = encode_batch([NewRecord(b"k", b"v", timestamp=NOW + 1001)])
    assert _rejected(late, config).error_code == ErrorCode.invalid_timestamp
    # an explicit before/after bound wins over the deprecated key
    wider = config.with_changes(message_timestamp_after_max_ms=5000)
    validate_produce_records(late, wider, NOW)


def test_log_append_time_topic_skips_timestamp_bounds() -> None:
    batch = encode_batch([NewRecord(b"k", b"v", timestamp=1)])
    config = LogConfig(message_timestamp_type="LogAppendTime", message_timestamp_before_max_ms=1)
    validate_produce_records(batch, config, NOW)


def test_invalid_timestamp_wins_over_invalid_record() -> None:
    recs = [NewRecord(None, b"v", timestamp=NOW), NewRecord(b"k", b"v", timestamp=0)]
    config = LogConfig(cleanup_policy="compact", message_timestamp_before_max_ms=1000)
    err = _rejected(encode_batch(recs), config)
    assert err.error_code == ErrorCode.invalid_timestamp
    assert [i for i, _ in err.record_errors] == [0, 1]


def test_producer_may_not_mark_batches_log_append_time() -> None:
    batch = encode_batch([NewRecord(b"key", b"value")], timestamp_type=1)
    err = _rejected(batch, LogConfig(message_timestamp_type="LogAppendTime"))
    assert err.error_code == ErrorCode.invalid_timestamp
    [(index, message)] = err.record_errors
    assert index == 0 and message is not None
    assert message.startswith("Invalid timestamp type in message DefaultRecord(offset=0, ")
    assert message.endswith(
        "key=3 bytes, value=5 bytes). Producer should not set timestamp type to LogAppendTime."
    )


def test_ordinary_topic_does_not_read_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path stays header-only: no record is scanned without compaction or bounds."""
    from storage import log_validator

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("records were read")

    monkeypatch.setattr(log_validator, "scan_records", boom)
    monkeypatch.setattr(log_validator, "decode_batch", boom)
    batch = encode_batch([NewRecord(None, b"v", timestamp=0)])
    assert validate_produce_records(batch, LogConfig(), NOW).record_count == 1


def test_produce_response_v8_encodes_record_errors() -> None:
    from kio.schema.produce.v8.response import ProduceResponse

    from protocol.builders import NO_THROTTLE, ResponseBuilder
    from protocol.codec import decode_entity, encode_response

    rb = ResponseBuilder(0, 8)
    partition = rb(
        "PartitionProduceResponse",
        index=0,
        error_code=ErrorCode.invalid_record,
        base_offset=-1,
        log_append_time=None,
        log_start_offset=0,
        record_errors=(
            rb("BatchIndexAndErrorMessage", batch_index=2, batch_index_error_message="no key"),
        ),
        error_message="One or more records have been rejected",
    )
    response = rb(
        None,
        responses=(rb("TopicProduceResponse", name="t", partition_responses=(partition,)),),
        throttle_time=NO_THROTTLE,
    )
    frame = encode_response(0, 8, 7, response)
    # 4-byte length, 4-byte correlation id, then the v8 body (header v0)
    decoded = decode_entity(ProduceResponse, frame, 8)
    [got] = decoded.responses[0].partition_responses
    assert got.error_code == ErrorCode.invalid_record
    assert [(e.batch_index, e.batch_index_error_message) for e in got.record_errors] == [
        (2, "no key")
    ]
    assert got.error_message == "One or more records have been rejected"


@pytest.mark.parametrize(
    ("target", "key", "levels"),
    [("gzip", "compression_gzip_level", (1, 9)), ("zstd", "compression_zstd_level", (1, 19))],
)
def test_recompression_uses_the_topic_compression_level(
    target: str, key: str, levels: tuple[int, int]
) -> None:
    records = [NewRecord(b"k%d" % i, b"abcdefgh" * 50 + b"%d" % (i % 7)) for i in range(400)]
    batch = encode_batch(records)
    sizes = []
    for level in levels:
        config = LogConfig(compression_type=target, **{key: level})  # type: ignore[arg-type]
        out = bytes(
            recompress_if_needed(batch, validate_produce_records(batch, config, NOW), config)
        )
        assert [r.value for r in decode_batch(out)[1]] == [r.value for r in records]
        sizes.append(len(out))
    assert sizes[0] != sizes[1]
