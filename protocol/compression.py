"""Kafka's record-batch compression codecs, by attribute id.

=====  ======  ==========================================================
 id    codec   wire format
=====  ======  ==========================================================
 0     none    the records as they are
 1     gzip    RFC 1952 gzip (one or more members)
 2     snappy  xerial framing as the Java client writes it (16-byte header
               ``\\x82SNAPPY\\x00`` + version 1 + compatible 1, then blocks of
               int32 length + raw snappy block, 32 KiB of input per block);
               raw snappy blocks are accepted on decompress
 3     lz4     standard LZ4 frame format, independent blocks
 4     zstd    standard zstd frames (content size optional)
=====  ======  ==========================================================

``compress`` raises ``KafkaError`` with ``UNSUPPORTED_COMPRESSION_TYPE`` for
an unknown id; ``decompress`` raises ``CorruptRecordError`` (a ``KafkaError``)
for an unknown id (keeping that error code) and when the compressed bytes
cannot be decoded. With ``max_size`` it decompresses incrementally and raises
``DecompressedTooLarge`` (MESSAGE_TOO_LARGE) as soon as the output would pass
it, so a small "compression bomb" never becomes gigabytes of memory. Used off
the hot path only: the broker stores producers' compressed batches as they arrive.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Final

import cramjam
import lz4.frame
import zstandard

from protocol.errors import CorruptRecordError, ErrorCode, KafkaError

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4

CODECS: Final = (NONE, GZIP, SNAPPY, LZ4, ZSTD)

XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
XERIAL_HEADER: Final = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
XERIAL_BLOCK_SIZE: Final = 32 * 1024

DEFAULT_GZIP_LEVEL: Final = 6
DEFAULT_ZSTD_LEVEL: Final = 3

# A snappy copy element of 2 bytes yields at most 64 bytes; an lz4 sequence
# expands at most ~255x. Claimed sizes beyond these bounds are corrupt and
# must not be allocated.
_SNAPPY_MAX_RATIO: Final = 64
_LZ4_MAX_RATIO: Final = 256

_INT32: Final = struct.Struct(">i")

Buffer = bytes | bytearray | memoryview


class DecompressedTooLarge(CorruptRecordError):
    """Compressed bytes that expand beyond the caller's bound."""

    def __init__(self, codec: int, max_size: int) -> None:
        name = ("none", "gzip", "snappy", "lz4", "zstd")[codec]
        super().__init__(
            f"{name} data decompresses to more than {max_size} bytes",
            ErrorCode.message_too_large,
        )


def _unsupported(codec: int) -> KafkaError:
    return KafkaError(
        f"unsupported compression type {codec}",
        ErrorCode.unsupported_compression_type,
    )


def compress(codec: int, data: Buffer, level: int | None = None) -> bytes:
    """Compress ``data`` with codec ``codec`` (0-4); ``level`` None means the codec default."""
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        return gzip.compress(
            data, compresslevel=DEFAULT_GZIP_LEVEL if level is None else level, mtime=0
        )
    if codec == SNAPPY:
        return _xerial_compress(data)
    if codec == LZ4:
        return bytes(
            lz4.frame.compress(
                data,
                compression_level=0 if level is None else level,
                block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                block_linked=False,
                content_checksum=False,
                store_size=False,
            )
        )
    if codec == ZSTD:
        compressor = zstandard.ZstdCompressor(level=DEFAULT_ZSTD_LEVEL if level is None else level)
        return bytes(compressor.compress(data))
    raise _unsupported(codec)


def decompress(codec: int, data: Buffer, max_size: int | None = None) -> bytes:
    """Decompress ``data`` written with codec ``codec``; empty input gives empty output.

    ``max_size`` bounds the output (DecompressedTooLarge beyond it)."""
    if codec == NONE:
        if max_size is not None and len(data) > max_size:
            raise DecompressedTooLarge(codec, max_size)
        return bytes(data)
    if codec not in CODECS:
        # Stored or produced bytes that name no codec are corrupt, and the
        # error still carries UNSUPPORTED_COMPRESSION_TYPE.
        raise CorruptRecordError(
            f"unsupported compression type {codec}", ErrorCode.unsupported_compression_type
        )
    if len(data) == 0:
        return b""
    try:
        if max_size is not None:
            return _bounded(codec, data, max_size)
        if codec == GZIP:
            return gzip.decompress(data)
        if codec == SNAPPY:
            return _snappy_decompress(data)
        if codec == LZ4:
            return _lz4_decompress(data)
        return _zstd_decompress(data)
    except CorruptRecordError:
        raise
    except (
        OSError,
        EOFError,
        zlib.error,
        RuntimeError,
        ValueError,
        struct.error,
        cramjam.DecompressionError,
        zstandard.ZstdError,
    ) as exc:
        name = ("none", "gzip", "snappy", "lz4", "zstd")[codec]
        raise CorruptRecordError(f"corrupt {name} data: {exc}") from exc


def _xerial_compress(data: Buffer) -> bytes:
    view = memoryview(data)
    parts = [XERIAL_HEADER]
    # Empty input still gets one (empty) block: some readers take a bare
    # 16-byte header for raw snappy.
    for start in range(0, max(len(view), 1), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        parts.append(_INT32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_block(block: Buffer, budget: list[int] | None = None) -> bytes:
    claimed = cramjam.snappy.decompress_raw_len(block)
    if claimed > len(block) * _SNAPPY_MAX_RATIO + 64:
        raise CorruptRecordError(f"snappy block claims {claimed} bytes from {len(block)}")
    if budget is not None:
        # The raw block states its length up front: refuse before decompressing.
        budget[0] -= claimed
        if budget[0] < 0:
            raise DecompressedTooLarge(SNAPPY, budget[1])
    return bytes(cramjam.snappy.decompress_raw(block))


def _snappy_decompress(data: Buffer, budget: list[int] | None = None) -> bytes:
    view = memoryview(data)
    if len(view) < 16 or bytes(view[:8]) != XERIAL_MAGIC:
        return _snappy_block(view, budget)
    # Version and compatible fields are ignored: some producers write them
    # little-endian, and there is only one xerial block format.
    parts: list[bytes] = []
    pos = 16
    end = len(view)
    while pos < end:
        if end - pos < 4:
            raise CorruptRecordError("xerial snappy block length truncated")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if length < 0 or pos + length > end:
            raise CorruptRecordError(f"xerial snappy block length {length} out of range")
        parts.append(_snappy_block(view[pos : pos + length], budget))
        pos += length
    return b"".join(parts)


def _lz4_decompress(data: Buffer) -> bytes:
    view = memoryview(data)
    parts: list[bytes] = []
    pos = 0
    while pos < len(view):
        frame = view[pos:]
        info = lz4.frame.get_frame_info(frame)
        claimed = int(info.get("content_size", 0) or 0)
        if claimed > len(frame) * _LZ4_MAX_RATIO + 1024:
            raise CorruptRecordError(f"lz4 frame claims {claimed} bytes from {len(frame)}")
        out, read = lz4.frame.decompress(frame, return_bytes_read=True)
        if read <= 0:
            raise CorruptRecordError("lz4 frame consumed no input")
        parts.append(bytes(out))
        pos += int(read)
    return b"".join(parts)


def _zstd_decompress(data: Buffer) -> bytes:
    parts: list[bytes] = []
    remaining: bytes = bytes(data)
    dctx = zstandard.ZstdDecompressor()
    while remaining:
        obj = dctx.decompressobj()
        parts.append(bytes(obj.decompress(remaining)))
        if not obj.eof:
            raise CorruptRecordError("zstd frame truncated")
        remaining = bytes(obj.unused_data)
    return b"".join(parts)


# --- bounded decompression ----------------------------------------------------------


def _bounded(codec: int, data: Buffer, max_size: int) -> bytes:
    if codec == GZIP:
        return _gzip_bounded(data, max_size)
    if codec == SNAPPY:
        return _snappy_decompress(data, [max_size, max_size])
    if codec == LZ4:
        return _lz4_bounded(data, max_size)
    return _zstd_bounded(data, max_size)


def _gzip_bounded(data: Buffer, max_size: int) -> bytes:
    """gzip members one after another (as gzip.decompress), never past ``max_size``."""
    parts: list[bytes] = []
    total = 0
    pending = bytes(data)
    while pending:
        member = zlib.decompressobj(31)
        while True:
            out = member.decompress(pending, max_size - total + 1)
            total += len(out)
            if total > max_size:
                raise DecompressedTooLarge(GZIP, max_size)
            parts.append(out)
            if member.eof:
                pending = member.unused_data
                break
            if not member.unconsumed_tail:
                raise CorruptRecordError("gzip member truncated")
            pending = member.unconsumed_tail
        if pending.strip(b"\x00") == b"":
            break  # gzip.decompress also ignores trailing zero padding
    return b"".join(parts)


def _lz4_bounded(data: Buffer, max_size: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    pending = bytes(data)
    while pending:
        frame = lz4.frame.LZ4FrameDecompressor()
        out = frame.decompress(pending, max_length=max_size - total + 1)
        total += len(out)
        if total > max_size:
            raise DecompressedTooLarge(LZ4, max_size)
        if not frame.eof:
            raise CorruptRecordError("lz4 frame truncated")
        parts.append(bytes(out))
        pending = bytes(frame.unused_data or b"")
    return b"".join(parts)


def _zstd_bounded(data: Buffer, max_size: int) -> bytes:
    # The stream reader stops at the bound; the frame-by-frame decode then runs on
    # input known to expand to at most max_size and detects truncation.
    reader = zstandard.ZstdDecompressor().stream_reader(bytes(data), read_across_frames=True)
    if len(reader.read(max_size + 1)) > max_size:
        raise DecompressedTooLarge(ZSTD, max_size)
    return _zstd_decompress(data)
