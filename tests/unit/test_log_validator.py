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
