"""Tests for protocol.compression: round trips, framing, interop, corruption."""

from __future__ import annotations

import contextlib
import struct

import cramjam
import lz4.frame
import pytest
import snappy
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kcodec  # type: ignore[import-untyped]

from protocol.compression import (
    CODECS,
    GZIP,
    LZ4,
    NONE,
    SNAPPY,
    XERIAL_BLOCK_SIZE,
    XERIAL_MAGIC,
    ZSTD,
    compress,
    decompress,
)
from protocol.errors import CorruptRecordError, ErrorCode, KafkaError

COMPRESSED = (GZIP, SNAPPY, LZ4, ZSTD)

KAFKA_DECODE = {
    GZIP: kcodec.gzip_decode,
    SNAPPY: kcodec.snappy_decode,
    LZ4: kcodec.lz4_decode,
    ZSTD: kcodec.zstd_decode,
}
KAFKA_ENCODE = {
    GZIP: kcodec.gzip_encode,
    SNAPPY: kcodec.snappy_encode,
    LZ4: kcodec.lz4_encode,
    ZSTD: kcodec.zstd_encode,
}

payloads = st.one_of(
    st.binary(max_size=2000),
    st.binary(min_size=1, max_size=64).map(lambda b: b * 1500),  # compressible, multi-block
)


@settings(deadline=None, max_examples=60)
@given(codec=st.sampled_from(CODECS), data=payloads)
def test_round_trip(codec: int, data: bytes) -> None:
    packed = compress(codec, data)
    assert decompress(codec, packed) == data
    assert decompress(codec, memoryview(packed)) == data
    assert decompress(codec, bytearray(packed)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_empty_and_levels(codec: int) -> None:
    assert decompress(codec, compress(codec, b"")) == b""
    assert decompress(codec, b"") == b""
    data = b"level test " * 500
    assert decompress(codec, compress(codec, data, level=1)) == data


def test_none_is_identity() -> None:
    assert compress(NONE, b"abc") == b"abc"
    assert decompress(NONE, memoryview(b"abc")) == b"abc"


@pytest.mark.parametrize("codec", [-1, 5, 6, 7, 99])
def test_unknown_codec(codec: int) -> None:
    with pytest.raises(KafkaError) as compress_error:
        compress(codec, b"x")
    assert compress_error.value.error_code == ErrorCode.unsupported_compression_type
    with pytest.raises(CorruptRecordError) as decompress_error:
        decompress(codec, b"x")
    assert decompress_error.value.error_code == ErrorCode.unsupported_compression_type


def test_snappy_writes_xerial_framing() -> None:
    data = bytes(range(256)) * 300  # > one 32 KiB block
    packed = compress(SNAPPY, data)
    assert packed[:8] == XERIAL_MAGIC
    assert struct.unpack(">ii", packed[8:16]) == (1, 1)
    pos, blocks, out = 16, 0, b""
    while pos < len(packed):
        (length,) = struct.unpack_from(">i", packed, pos)
        out += bytes(cramjam.snappy.decompress_raw(packed[pos + 4 : pos + 4 + length]))
        pos += 4 + length
        blocks += 1
    assert out == data
    assert blocks == -(-len(data) // XERIAL_BLOCK_SIZE)


def test_snappy_reads_raw_block_and_little_endian_xerial_header() -> None:
    data = b"raw snappy block " * 100
    assert decompress(SNAPPY, snappy.compress(data)) == data
    block = bytes(cramjam.snappy.compress_raw(data))
    odd_header = XERIAL_MAGIC + struct.pack("<ii", 1, 1)
    framed = odd_header + struct.pack(">i", len(block)) + block
    assert decompress(SNAPPY, framed) == data


def test_zstd_frames_without_content_size_and_concatenated() -> None:
    data = b"zstd without size " * 1000
    packed = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    assert decompress(ZSTD, packed) == data
    assert decompress(ZSTD, packed + packed) == data + data
    chunked = zstandard.ZstdCompressor().compressobj()
    streamed = chunked.compress(data) + chunked.flush()
    assert decompress(ZSTD, streamed) == data


def test_lz4_frame_variants() -> None:
    data = b"lz4 frame " * 10000
    for linked in (True, False):
        for checksum in (True, False):
            packed = lz4.frame.compress(
                data, block_linked=linked, content_checksum=checksum, store_size=checksum
            )
            assert decompress(LZ4, packed) == data
    assert decompress(LZ4, packed + packed) == data + data


def test_gzip_multi_member() -> None:
    a, b = b"first member " * 10, b"second member " * 10
    assert decompress(GZIP, compress(GZIP, a) + compress(GZIP, b)) == a + b


@settings(deadline=None, max_examples=30)
@given(codec=st.sampled_from(COMPRESSED), data=payloads)
def test_kafka_python_interop(codec: int, data: bytes) -> None:
    assert bytes(KAFKA_DECODE[codec](compress(codec, data))) == data
    assert decompress(codec, KAFKA_ENCODE[codec](data)) == data


def test_kafka_python_raw_snappy() -> None:
    data = b"not xerial " * 50
    assert decompress(SNAPPY, kcodec.snappy_encode(data, xerial_compatible=False)) == data


@pytest.mark.parametrize("codec", COMPRESSED)
def test_truncated_is_corrupt(codec: int) -> None:
    packed = compress(codec, b"some data that compresses " * 400)
    for cut in (1, 3, len(packed) // 2, len(packed) - 1):
        with pytest.raises(CorruptRecordError):
            decompress(codec, packed[:cut])


@pytest.mark.parametrize("codec", COMPRESSED)
def test_trailing_garbage_is_corrupt(codec: int) -> None:
    packed = compress(codec, b"payload " * 100)
    with pytest.raises(CorruptRecordError):
        decompress(codec, packed + b"\x01garbage!")


def test_snappy_bomb_claim_is_rejected() -> None:
    # A raw block whose preamble claims 2**31 bytes from a handful of input bytes.
    claim = bytes([0x80, 0x80, 0x80, 0x80, 0x08])
    with pytest.raises(CorruptRecordError):
        decompress(SNAPPY, claim + b"\x00\x00")


@settings(deadline=None, max_examples=200)
@given(codec=st.sampled_from(COMPRESSED), data=st.binary(max_size=300))
def test_garbage_raises_only_corrupt(codec: int, data: bytes) -> None:
    with contextlib.suppress(CorruptRecordError):
        decompress(codec, data)


@settings(deadline=None, max_examples=200)
@given(
    codec=st.sampled_from(COMPRESSED),
    data=st.binary(min_size=1, max_size=500),
    flip=st.integers(min_value=0),
)
def test_flipped_compressed_bytes_raise_only_corrupt(codec: int, data: bytes, flip: int) -> None:
    packed = bytearray(compress(codec, data * 3))
    index = flip % (len(packed) * 8)
    packed[index // 8] ^= 1 << (index % 8)
    with contextlib.suppress(CorruptRecordError):
        decompress(codec, bytes(packed))


# --- bounded decompression (issue 12 §2: compression bombs) ---------------------------


@pytest.mark.parametrize("codec", COMPRESSED)
def test_bounded_decompress_matches_unbounded(codec: int) -> None:
    for data in (b"", b"x", bytes(range(256)) * 300, b"a" * 1_000_000):
        packed = compress(codec, data)
        assert decompress(codec, packed, len(data)) == data
        assert decompress(codec, packed, 10 * len(data) + 10) == decompress(codec, packed)


@pytest.mark.parametrize("codec", COMPRESSED)
def test_bomb_stops_at_the_bound(codec: int) -> None:
    from protocol.compression import DecompressedTooLarge

    bomb = compress(codec, bytes(64 * 1024 * 1024))  # 64 MiB of zeros, a few kB packed
    assert len(bomb) < 4 * 1024 * 1024
    with pytest.raises(DecompressedTooLarge) as info:
        decompress(codec, bomb, 1024 * 1024)
    assert info.value.error_code == ErrorCode.message_too_large


@pytest.mark.parametrize("codec", COMPRESSED)
def test_bounded_decompress_detects_truncation(codec: int) -> None:
    packed = compress(codec, bytes(range(256)) * 100)
    with pytest.raises(CorruptRecordError):
        decompress(codec, packed[:-3], 1 << 20)
