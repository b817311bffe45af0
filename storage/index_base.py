"""Shared machinery of the fixed-width, memory-mapped segment indexes.

An index file is a sequence of fixed-size big-endian entries. While its
segment is active the file is sized to ``segment.index.bytes`` (rounded down
to a whole number of entries) and memory-mapped; the entries in use are
counted by ``entries`` and the rest of the file is zeros. When the segment
rolls, or on close, the file is trimmed to ``entries * ENTRY_SIZE``.

Descriptors and memory (Kafka's profile): an index holds no file descriptor.
It is mapped on first use (lazily, as Kafka's ``LazyIndex``) through
``storage.mapped_file`` and the descriptor used for mapping is closed at once.
The part of the file that entries will be written to is allocated on disk
with ``posix_fallocate`` before it is touched, a few pages ahead: on a full
disk that raises ENOSPC from ``open``/``append`` instead of a SIGBUS when the
mapped page is first written (a sparse page of a memory map cannot report
ENOSPC any other way). Until then the file stays sparse.

Loading an untrimmed file (after a crash) finds the real entry count by
binary search with ``pread`` (no mapping, no page allocation): every entry
after the first has a relative offset > 0, so the first all-zero slot after
slot 0 marks the end.

Not thread-safe: the owning ``Log`` serialises access (see ``storage.log``);
the region's own lock only keeps a racing reader off unmapped memory.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any, ClassVar

from storage.mapped_file import MappedRegion

_KEY_FORMATS = {4: struct.Struct(">i"), 8: struct.Struct(">q")}


def fsync_path(path: Path) -> None:
    """fsync a file by name with a short-lived descriptor (a vanished file is skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CorruptIndexError(Exception):
    """An index file that fails its sanity check; the segment rebuilds it."""


class InvalidOffsetError(Exception):
    """An append that would break the ordering invariant of an index."""


#: Bytes allocated ahead of the entries in use (a few pages: one fallocate call per
#: ~1,000 offset-index entries, ~4 MB of log at the default index.interval.bytes).
ALLOCATION_CHUNK = 4 * mmap.PAGESIZE


class MappedIndex:
    ENTRY_SIZE: ClassVar[int] = 8
    REL_OFFSET_AT: ClassVar[int] = 0  # where the relative offset sits inside an entry

    def __init__(
        self, path: Path, base_offset: int, max_index_size: int, preallocate: bool = True
    ) -> None:
        self.path = path
        self.base_offset = base_offset
        self._region: MappedRegion | None = None
        self._closed = False
        self._dirty = False  # written or resized since the last flush
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            length = os.fstat(fd).st_size
            if length % self.ENTRY_SIZE != 0:
                raise CorruptIndexError(
                    f"index {path} has size {length}, not a multiple of {self.ENTRY_SIZE}"
                )
            self._length = length
            self.entries = self._count_entries(fd, length // self.ENTRY_SIZE) if length else 0
            # Bytes from 0 known to be backed by disk blocks: written entries are.
            self._allocated = self.entries * self.ENTRY_SIZE
            if preallocate:
                self._resize_fd(fd, max_index_size)
        finally:
            os.close(fd)

    # -- mapping -------------------------------------------------------------------------

    def _map(self) -> MappedRegion:
        if self._closed:
            raise ValueError(f"index {self.path} is closed")
        fd = os.open(self.path, os.O_RDWR)
        try:
            region = MappedRegion(fd, self._length)
        finally:
            os.close(fd)
        self._region = region
        return region

    def _unmap(self) -> None:
        region, self._region = self._region, None
        if region is not None:
            region.close()

    def _mapped(self) -> MappedRegion:
        region = self._region
        return region if region is not None else self._map()

    def _unpack(self, fmt: struct.Struct, pos: int) -> tuple[Any, ...]:
        return self._mapped().unpack_from(fmt, pos)

    def _pack(self, fmt: struct.Struct, pos: int, *values: Any) -> None:
        """Write an entry at ``pos``: its bytes are allocated on disk first."""
        end = pos + fmt.size
        if end > self._allocated:
            self._allocate(end)
        self._mapped().pack_into(fmt, pos, *values)
        self._dirty = True

    def _allocate(self, end: int) -> None:
        """posix_fallocate the file up to ``end`` plus a chunk (never past its length)."""
        target = min(self._length, max(end, self._allocated + ALLOCATION_CHUNK))
        if target <= self._allocated:
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, self._allocated, target - self._allocated)
        finally:
            os.close(fd)
        self._allocated = target

    @property
    def capacity(self) -> int:
        """Number of entries the file can hold."""
        return self._length // self.ENTRY_SIZE

    @property
    def max_entries(self) -> int:
        return self.capacity

    @property
    def is_full(self) -> bool:
        return self.entries >= self.capacity

    @property
    def size_in_bytes(self) -> int:
        return self.entries * self.ENTRY_SIZE

    def resize(self, new_size: int) -> None:
        """Grow or shrink the file (never below the entries in use); the map follows lazily.

        Growing allocates the first chunk past the entries in use, so a full disk fails
        here (ENOSPC) rather than at the first write through the map."""
        rounded = max(new_size - new_size % self.ENTRY_SIZE, self.size_in_bytes)
        if rounded == self._length:
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            self._resize_fd(fd, rounded)
        finally:
            os.close(fd)

    def _resize_fd(self, fd: int, new_size: int) -> None:
        rounded = max(new_size - new_size % self.ENTRY_SIZE, self.size_in_bytes)
        if rounded == self._length:
            return
        self._unmap()
        os.ftruncate(fd, rounded)
        self._length = rounded
        self._allocated = min(self._allocated, rounded)
        if rounded > self._allocated:
            target = min(rounded, self._allocated + ALLOCATION_CHUNK)
            os.posix_fallocate(fd, self._allocated, target - self._allocated)
            self._allocated = target

    def trim_to_valid_size(self) -> None:
        self.resize(self.size_in_bytes)

    def _is_zero_slot(self, fd: int, slot: int) -> bool:
        size = self.ENTRY_SIZE
        return os.pread(fd, size, slot * size) == bytes(size)

    def _count_entries(self, fd: int, slots: int) -> int:
        """Entries in use in a file of ``slots`` slots (trailing zero slots are unused)."""
        if slots == 0 or not self._is_zero_slot(fd, slots - 1):
            return slots
        # Slots after the first always hold a relative offset > 0, so the unused tail is
        # the run of all-zero slots; find where it starts. An all-zero slot 0 is "empty"
        # (real entries never point at position 0 / timestamp 0 with relative offset 0).
        lo, hi = 1, slots - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._is_zero_slot(fd, mid):
                hi = mid
            else:
                lo = mid + 1
        if lo == 1 and self._is_zero_slot(fd, 0):
            return 0
        return lo if slots > 1 else 0

    # -- lifecycle -----------------------------------------------------------------------

    def flush(self) -> None:
        """fsync the file (writes through the map are in the page cache like any other)."""
        if self._closed or not self._dirty:
            return
        self._dirty = False
        fsync_path(self.path)

    def take_dirty(self) -> bool:
        """True (once) if written since the last flush: the caller fsyncs it by path."""
        dirty, self._dirty = self._dirty and not self._closed, False
        return dirty

    def close(self) -> None:
        if self._closed:
            return
        self.trim_to_valid_size()
        self._unmap()
        self._closed = True

    def close_handlers(self) -> None:
        """Unmap without touching the file (its log dir failed)."""
        self._unmap()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def delete(self) -> None:
        self._unmap()
        self._closed = True
        self.path.unlink(missing_ok=True)

    def rename_to(self, path: Path) -> None:
        if self.path.exists():
            os.replace(self.path, path)
        self.path = path

    def reset(self) -> None:
        """Drop every entry (the file keeps its size)."""
        self.truncate_to_entries(0)

    def truncate_to_entries(self, n: int) -> None:
        if n >= self.entries:
            return
        self._mapped().zero(n * self.ENTRY_SIZE, self.entries * self.ENTRY_SIZE)
        self.entries = n
        self._dirty = True

    def _relative(self, offset: int) -> int:
        rel = offset - self.base_offset
        if rel < 0 or rel > 0x7FFFFFFF:
            raise InvalidOffsetError(
                f"offset {offset} cannot be stored relative to base {self.base_offset}"
            )
        return rel

    def _largest_lower_bound_slot(self, target: int, key_at: int, key_len: int) -> int:
        """Largest slot whose key (big-endian, signed, at ``key_at``) is <= target, or -1."""
        if self.entries == 0:
            return -1
        region = self._mapped()
        size = self.ENTRY_SIZE
        fmt = _KEY_FORMATS[key_len]

        def key(slot: int) -> int:
            value: int = region.unpack_from(fmt, slot * size + key_at)[0]
            return value

        if key(0) > target:
            return -1
        lo, hi = 0, self.entries - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if key(mid) <= target:
                lo = mid
            else:
                hi = mid - 1
        return lo
