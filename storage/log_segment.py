"""LogSegment: one ``.log`` file of RecordBatch v2 bytes plus its three indexes.

Files, named by the 20-digit zero-padded base offset (Kafka's layout)::

    00000000000000000000.log        batches exactly as stored by Kafka
    00000000000000000000.index      OffsetIndex (storage.offset_index)
    00000000000000000000.timeindex  TimeIndex (storage.time_index)
    00000000000000000000.txnindex   TransactionIndex (created on first aborted txn)

Invariants: batches are contiguous from position 0, offsets strictly increase
and every offset fits in an int32 relative to the base offset. Appends write
at the end of the file (page cache; durability comes from ``flush``). Reads
return copies (``os.pread``), never views of memory that may be unmapped.

Descriptors: a segment keeps exactly one open, its ``.log`` file's (as Kafka
keeps one ``FileChannel`` per segment); the indexes are mapped without one and
the transaction index is opened per write (see their modules). The time
index's last entry (the segment's max timestamp) is read on first use, so
loading a log does not map the indexes of its older segments.

Not thread-safe: the owning ``Log`` serialises every call except
``flush_targets`` consumers (fsync on another thread of a duplicated
descriptor and of the index files by name).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from protocol.errors import CorruptRecordError
from protocol.record_batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    RecordBatchHeader,
    crc_is_valid,
    read_header,
)
from storage.index_base import CorruptIndexError
from storage.offset_index import OffsetIndex
from storage.time_index import TimeIndex, TimestampOffset
from storage.transaction_index import TransactionIndex

LOG_SUFFIX: Final = ".log"
INDEX_SUFFIX: Final = ".index"
TIME_INDEX_SUFFIX: Final = ".timeindex"
TXN_INDEX_SUFFIX: Final = ".txnindex"
DELETED_SUFFIX: Final = ".deleted"
CLEANED_SUFFIX: Final = ".cleaned"
SWAP_SUFFIX: Final = ".swap"
INT32_MAX: Final = 0x7FFFFFFF

_SCAN_CHUNK: Final = 16384
_RECOVER_CHUNK: Final = 1 << 20


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


class BatchLocation(NamedTuple):
    """Where a batch sits: its position and size in the file, and its offsets."""

    position: int
    size: int
    base_offset: int
    last_offset: int


#: An appended batch as the segment needs it: (size, last_offset, max_timestamp).
AppendedBatch = tuple[int, int, int]


def random_roll_jitter(segment_ms: int, jitter_ms: int) -> int:
    if jitter_ms <= 0 or segment_ms <= 0:
        return 0
    return random.randrange(min(jitter_ms, segment_ms))


class LogSegment:
    """A segment of a partition log. See the module docstring for format and invariants."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_size: int,
        created_ms: int,
        roll_jitter_ms: int = 0,
        suffix: str = "",
        preallocate_indexes: bool = True,
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.max_index_size = max_index_size
        self.roll_jitter_ms = roll_jitter_ms
        self.created_ms = created_ms
        self.log_path = directory / (segment_file_name(base_offset, LOG_SUFFIX) + suffix)
        self._fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self._fd).st_size
        try:
            self.offset_index = OffsetIndex(
                directory / (segment_file_name(base_offset, INDEX_SUFFIX) + suffix),
                base_offset,
                max_index_size,
                preallocate_indexes,
            )
            self.time_index = TimeIndex(
                directory / (segment_file_name(base_offset, TIME_INDEX_SUFFIX) + suffix),
                base_offset,
                max_index_size,
                preallocate_indexes,
            )
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise
        self.txn_index = TransactionIndex(
            directory / (segment_file_name(base_offset, TXN_INDEX_SUFFIX) + suffix), base_offset
        )
        self._bytes_since_last_index_entry = 0
        self._max_ts: TimestampOffset | None = None  # loaded from the time index on first use
        self._rolling_based_timestamp: int | None = None

    # -- properties ----------------------------------------------------------------------

    def _max_timestamp(self) -> TimestampOffset:
        found = self._max_ts
        if found is None:
            found = self._max_ts = self.time_index.last_entry()
        return found

    @property
    def max_timestamp_so_far(self) -> int:
        return self._max_timestamp().timestamp

    @property
    def offset_of_max_timestamp_so_far(self) -> int:
        return self._max_timestamp().offset

    def _set_max_timestamp(self, timestamp: int, offset: int) -> None:
        self._max_ts = TimestampOffset(timestamp, offset)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def largest_timestamp(self) -> int:
        """Max batch timestamp in the segment, or the file's mtime when it has none."""
        if self.max_timestamp_so_far >= 0:
            return self.max_timestamp_so_far
        return self.last_modified_ms

    @property
    def last_modified_ms(self) -> int:
        return os.stat(self.log_path).st_mtime_ns // 1_000_000

    def can_convert_to_relative_offset(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= INT32_MAX

    def should_roll(
        self,
        *,
        messages_size: int,
        max_timestamp_in_messages: int,
        max_offset_in_messages: int,
        now_ms: int,
        segment_bytes: int,
        segment_ms: int,
    ) -> bool:
        """Kafka's roll rule: size, age (segment.ms - jitter), full index, offset overflow."""
        if self.size > segment_bytes - messages_size:
            return True
        if self.size > 0:
            first_ts = self._first_batch_timestamp()
            if first_ts is not None and first_ts >= 0:
                waited = max_timestamp_in_messages - first_ts
            else:
                waited = now_ms - self.created_ms
            if waited > segment_ms - self.roll_jitter_ms:
                return True
        return (
            self.offset_index.is_full
            or self.time_index.is_full
            or not self.can_convert_to_relative_offset(max_offset_in_messages)
        )

    def _first_batch_timestamp(self) -> int | None:
        if self._rolling_based_timestamp is None and self.size >= HEADER_SIZE:
            self._rolling_based_timestamp = read_header(
                os.pread(self._fd, HEADER_SIZE, 0)
            ).max_timestamp
        return self._rolling_based_timestamp

    # -- append --------------------------------------------------------------------------

    def append(
        self, data: bytes | bytearray | memoryview, batches: Sequence[AppendedBatch]
    ) -> None:
        """Write ``data`` (whole batches, offsets already assigned) at the end of the file.

        ``batches`` describes each batch in ``data`` in order: (size, last offset, max
        timestamp). Index entries are added per batch every ``index.interval.bytes``.
        """
        position = self.size
        view = memoryview(data)
        written = 0
        total = len(view)
        while written < total:
            written += os.pwrite(self._fd, view[written:], position + written)
        self._index_batches(position, batches)
        self.size = position + total

    def _index_batches(self, position: int, batches: Sequence[AppendedBatch]) -> None:
        interval = self.index_interval_bytes
        since = self._bytes_since_last_index_entry
        max_ts = self.max_timestamp_so_far
        for size, last_offset, max_timestamp in batches:
            if max_timestamp > max_ts:
                max_ts = max_timestamp
                self._set_max_timestamp(max_timestamp, last_offset)
            if since > interval:
                self.offset_index.append(last_offset, position)
                self.time_index.maybe_append(max_ts, self.offset_of_max_timestamp_so_far)
                since = 0
            since += size
            position += size
        self._bytes_since_last_index_entry = since

    # -- lookup and read ------------------------------------------------------------------

    def iter_batches(
        self, start_position: int = 0, end_position: int | None = None
    ) -> Iterator[tuple[int, RecordBatchHeader]]:
        """Headers of the complete batches from ``start_position`` (no CRC check)."""
        end = self.size if end_position is None else min(end_position, self.size)
        pos = start_position
        buf = b""
        buf_start = pos
        while end - pos >= HEADER_SIZE:
            rel = pos - buf_start
            if len(buf) - rel < HEADER_SIZE:
                buf = os.pread(self._fd, min(_SCAN_CHUNK, end - pos), pos)
                buf_start = pos
                rel = 0
                if len(buf) < HEADER_SIZE:
                    return
            header = read_header(buf, rel)
            if pos + header.size > end:
                return
            yield pos, header
            pos += header.size

    def translate_offset(self, offset: int, starting_position: int = 0) -> BatchLocation | None:
        """The first batch at or after ``starting_position`` whose last offset >= ``offset``."""
        start = max(self.offset_index.lookup(offset).position, starting_position)
        for pos, header in self.iter_batches(start):
            if header.last_offset >= offset:
                return BatchLocation(pos, header.size, header.base_offset, header.last_offset)
        return None

    def read(
        self, start_offset: int, max_size: int, max_position: int | None, min_one_message: bool
    ) -> tuple[bytes, bool] | None:
        """Whole batches from the one containing ``start_offset``, at most ``max_size`` bytes
        (or the first batch whole when ``min_one_message``) and ending at or before
        ``max_position``. Returns (bytes, first_entry_incomplete), or None when the segment
        holds no offset >= ``start_offset``.
        """
        loc = self.translate_offset(start_offset)
        if loc is None:
            return None
        limit = self.size if max_position is None else min(max_position, self.size)
        available = limit - loc.position
        if available <= 0:
            return b"", False
        want = min(max_size, available)
        if loc.size > want:
            if not min_one_message:
                return b"", True
            want = min(loc.size, available)
        data = os.pread(self._fd, want, loc.position)
        return _whole_batches(data), False

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> tuple[RecordBatchHeader, int] | None:
        """First batch (header, position) with max timestamp >= ``timestamp`` whose last
        offset is >= ``starting_offset``."""
        entry = self.time_index.lookup(timestamp)
        start = self.offset_index.lookup(max(entry.offset, starting_offset)).position
        for pos, header in self.iter_batches(start):
            if header.last_offset >= starting_offset and header.max_timestamp >= timestamp:
                return header, pos
        return None

    def read_next_offset(self) -> int:
        """The offset after the last batch (the base offset when empty)."""
        last = self.offset_index.last_entry()
        next_offset = self.base_offset
        start = last.position if self.offset_index.entries else 0
        for _, header in self.iter_batches(start):
            next_offset = header.next_offset
        return next_offset

    def header_at(self, position: int) -> RecordBatchHeader:
        return read_header(os.pread(self._fd, HEADER_SIZE, position))

    def read_bytes(self, position: int, size: int) -> bytes:
        return os.pread(self._fd, size, position)

    # -- recovery ------------------------------------------------------------------------

    def sanity_check(self) -> None:
        """Raise CorruptIndexError when an index cannot belong to this log file."""
        self.offset_index.sanity_check(self.size)
        self.time_index.sanity_check()

    def recover(self, on_batch: Callable[[int, RecordBatchHeader], None] | None = None) -> int:
        """Validate every batch from position 0 (size, magic, CRC32C, increasing offsets),
        rebuild both indexes and truncate the file after the last valid batch.

        ``on_batch(position, header)`` is called for each valid batch (producer state,
        leader epochs). Returns the number of bytes truncated.
        """
        self.offset_index.reset()
        self.offset_index.resize(self.max_index_size)
        self.time_index.reset()
        self.time_index.resize(self.max_index_size)
        self.txn_index.reset()
        self._set_max_timestamp(-1, self.base_offset)
        self._bytes_since_last_index_entry = 0
        self._rolling_based_timestamp = None
        file_size = os.fstat(self._fd).st_size
        valid = 0
        next_offset = self.base_offset
        buf = b""
        buf_start = 0
        while file_size - valid >= LOG_OVERHEAD:
            rel = valid - buf_start
            if len(buf) - rel < HEADER_SIZE:
                buf = os.pread(self._fd, _RECOVER_CHUNK, valid)
                buf_start, rel = valid, 0
            try:
                header = read_header(buf, rel)
            except CorruptRecordError:
                break
            if header.magic != MAGIC_V2 or valid + header.size > file_size:
                break
            if header.base_offset < next_offset or not self.can_convert_to_relative_offset(
                header.last_offset
            ):
                break
            if rel + header.size > len(buf):
                buf = os.pread(self._fd, max(_RECOVER_CHUNK, header.size), valid)
                buf_start, rel = valid, 0
                if len(buf) < header.size:
                    break
            if not crc_is_valid(buf, rel, header):
                break
            if on_batch is not None:
                on_batch(valid, header)
            self._index_batches(valid, ((header.size, header.last_offset, header.max_timestamp),))
            valid += header.size
            next_offset = header.next_offset
        truncated = file_size - valid
        if truncated:
            os.ftruncate(self._fd, valid)
        self.size = valid
        return truncated

    def truncate_to(self, offset: int) -> int:
        """Remove every batch from the one containing ``offset``; returns bytes removed."""
        loc = self.translate_offset(offset)
        if loc is None:
            return 0
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self.txn_index.truncate_to(offset)
        self.offset_index.resize(self.max_index_size)
        self.time_index.resize(self.max_index_size)
        removed = self.size - loc.position
        os.ftruncate(self._fd, loc.position)
        self.size = loc.position
        self._bytes_since_last_index_entry = 0
        self._rolling_based_timestamp = None
        self._reload_max_timestamp()
        return removed

    def _reload_max_timestamp(self) -> None:
        last = self.time_index.last_entry()
        self._set_max_timestamp(last.timestamp, last.offset)
        start = self.offset_index.last_entry().position if self.offset_index.entries else 0
        for _, header in self.iter_batches(start):
            if header.max_timestamp > self.max_timestamp_so_far:
                self._set_max_timestamp(header.max_timestamp, header.last_offset)

    def max_timestamp_and_offset(self) -> TimestampOffset:
        return TimestampOffset(self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far)

    # -- lifecycle -----------------------------------------------------------------------

    def on_become_inactive(self) -> None:
        """The segment rolled: record its max timestamp in the time index, trim the indexes."""
        if self.max_timestamp_so_far >= 0:
            self.time_index.maybe_append(
                self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far, True
            )
        self.offset_index.trim_to_valid_size()
        self.time_index.trim_to_valid_size()

    def resize_indexes(self, size: int) -> None:
        self.offset_index.resize(size)
        self.time_index.resize(size)

    def flush_targets(self) -> tuple[int, list[Path]]:
        """A duplicated descriptor of the ``.log`` file and the index paths, for fsync on
        another thread while this segment may roll, close or be renamed."""
        paths = [i.path for i in (self.offset_index, self.time_index) if i.take_dirty()]
        if self.txn_index.take_dirty():
            paths.append(self.txn_index.path)
        return os.dup(self._fd), paths

    def flush(self) -> None:
        os.fsync(self._fd)
        self.offset_index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self) -> None:
        if self.closed:
            return
        if self._max_ts is not None and self._max_ts.timestamp >= 0:
            self.time_index.maybe_append(
                self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far, True
            )
        self.offset_index.close()
        self.time_index.close()
        self.txn_index.close()
        os.close(self._fd)
        self._fd = -1

    def close_handlers(self) -> None:
        """Release the descriptor and maps without writing anything (failed log dir)."""
        if self.closed:
            return
        self.offset_index.close_handlers()
        self.time_index.close_handlers()
        os.close(self._fd)
        self._fd = -1

    def rename_suffix(self, old_suffix: str, new_suffix: str, *, log_last: bool = False) -> None:
        """Rename every file of the segment (e.g. "" -> ".deleted"); works while open.

        ``log_last`` renames the indexes before the ``.log`` file, so the log's new name
        can serve as the commit point of a multi-file rename (the cleaner's swap)."""

        def renamed(path: Path) -> Path:
            name = path.name
            if old_suffix and name.endswith(old_suffix):
                name = name[: -len(old_suffix)]
            return path.with_name(name + new_suffix)

        if not log_last:
            self._rename_log(renamed(self.log_path))
        self.offset_index.rename_to(renamed(self.offset_index.path))
        self.time_index.rename_to(renamed(self.time_index.path))
        if self.txn_index.path.exists():
            self.txn_index.rename_to(renamed(self.txn_index.path))
        else:
            self.txn_index.path = renamed(self.txn_index.path)
        if log_last:
            self._rename_log(renamed(self.log_path))

    def _rename_log(self, new_log: Path) -> None:
        os.replace(self.log_path, new_log)
        self.log_path = new_log

    def delete(self) -> None:
        """Close and remove every file of the segment."""
        if not self.closed:
            self.offset_index.delete()
            self.time_index.delete()
            self.txn_index.close()
            os.close(self._fd)
            self._fd = -1
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            path.unlink(missing_ok=True)
        self.txn_index.delete()

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size})"


def _whole_batches(data: bytes) -> bytes:
    """Cut ``data`` after its last complete batch."""
    pos = 0
    end = len(data)
    while end - pos >= LOG_OVERHEAD:
        size = int.from_bytes(data[pos + 8 : pos + 12], "big", signed=True) + LOG_OVERHEAD
        if size < HEADER_SIZE or pos + size > end:
            break
        pos += size
    return data if pos == end else data[:pos]


def open_segment_checked(
    directory: Path,
    base_offset: int,
    *,
    index_interval_bytes: int,
    max_index_size: int,
    created_ms: int,
    roll_jitter_ms: int = 0,
) -> tuple[LogSegment, bool]:
    """Open an existing segment; returns (segment, needs_recovery) where needs_recovery is
    True when an index was missing or failed its sanity check (its files were reset)."""
    needs_recovery = False
    index_path = directory / segment_file_name(base_offset, INDEX_SUFFIX)
    time_path = directory / segment_file_name(base_offset, TIME_INDEX_SUFFIX)
    log_size = (directory / segment_file_name(base_offset, LOG_SUFFIX)).stat().st_size
    if log_size > 0 and (not index_path.exists() or not time_path.exists()):
        index_path.unlink(missing_ok=True)
        time_path.unlink(missing_ok=True)
        needs_recovery = True

    def open_segment() -> LogSegment:
        return LogSegment(
            directory,
            base_offset,
            index_interval_bytes=index_interval_bytes,
            max_index_size=max_index_size,
            created_ms=created_ms,
            roll_jitter_ms=roll_jitter_ms,
            preallocate_indexes=False,
        )

    try:
        segment = open_segment()
    except CorruptIndexError:
        index_path.unlink(missing_ok=True)
        time_path.unlink(missing_ok=True)
        needs_recovery = True
        segment = open_segment()
    if not needs_recovery:
        try:
            segment.sanity_check()
        except CorruptIndexError:
            segment.offset_index.reset()
            segment.time_index.reset()
            needs_recovery = True
    return segment, needs_recovery
