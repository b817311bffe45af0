"""Shared machinery of the fixed-width, memory-mapped segment indexes.

An index file is a sequence of fixed-size big-endian entries. While its
segment is active the file is preallocated to ``segment.index.bytes``
(rounded down to a whole number of entries) and memory-mapped; the entries in
use are counted by ``entries`` and the rest of the file is zeros. When the
segment rolls, or on close, the file is trimmed to ``entries * ENTRY_SIZE``.

Loading an untrimmed file (after a crash) finds the real entry count by
binary search: every entry after the first has a relative offset > 0, so the
first all-zero slot after slot 0 marks the end.

Not thread-safe: the owning ``Log`` serialises access (see ``storage.log``).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import ClassVar


class CorruptIndexError(Exception):
    """An index file that fails its sanity check; the segment rebuilds it."""


class InvalidOffsetError(Exception):
    """An append that would break the ordering invariant of an index."""


class MappedIndex:
    ENTRY_SIZE: ClassVar[int] = 8
    REL_OFFSET_AT: ClassVar[int] = 0  # where the relative offset sits inside an entry

    def __init__(
        self, path: Path, base_offset: int, max_index_size: int, preallocate: bool = True
    ) -> None:
        self.path = path
        self.base_offset = base_offset
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._mm: mmap.mmap | None = None
        length = os.fstat(self._fd).st_size
        newly_created = length == 0
        if length % self.ENTRY_SIZE != 0:
            os.close(self._fd)
            raise CorruptIndexError(
                f"index {path} has size {length}, not a multiple of {self.ENTRY_SIZE}"
            )
        self._map(length)
        self.entries = 0 if newly_created else self._count_entries(length // self.ENTRY_SIZE)
        if preallocate:
            self.resize(max_index_size)

    # -- mapping -------------------------------------------------------------------------

    def _map(self, length: int) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if length > 0:
            self._mm = mmap.mmap(self._fd, length)

    @property
    def capacity(self) -> int:
        """Number of entries the current mapping can hold."""
        return 0 if self._mm is None else len(self._mm) // self.ENTRY_SIZE

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
        """Grow or shrink the file (never below the entries in use) and remap it."""
        rounded = max(new_size - new_size % self.ENTRY_SIZE, self.size_in_bytes)
        if self._mm is not None and len(self._mm) == rounded:
            return
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        os.ftruncate(self._fd, rounded)
        self._map(rounded)

    def trim_to_valid_size(self) -> None:
        self.resize(self.size_in_bytes)

    def _buf(self) -> mmap.mmap:
        assert self._mm is not None
        return self._mm

    def _is_zero_slot(self, slot: int) -> bool:
        start = slot * self.ENTRY_SIZE
        return self._buf()[start : start + self.ENTRY_SIZE] == bytes(self.ENTRY_SIZE)

    def _count_entries(self, slots: int) -> int:
        """Entries in use in a file of ``slots`` slots (trailing zero slots are unused)."""
        if slots == 0 or not self._is_zero_slot(slots - 1):
            return slots
        # Slots after the first always hold a relative offset > 0, so the unused tail is
        # the run of all-zero slots; find where it starts. An all-zero slot 0 is "empty"
        # (real entries never point at position 0 / timestamp 0 with relative offset 0).
        lo, hi = 1, slots - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._is_zero_slot(mid):
                hi = mid
            else:
                lo = mid + 1
        if lo == 1 and self._is_zero_slot(0):
            return 0
        return lo if slots > 1 else 0

    # -- lifecycle -----------------------------------------------------------------------

    def dup_fd(self) -> int:
        """A duplicate descriptor, for fsync on another thread while this index may close."""
        return os.dup(self._fd)

    def flush(self) -> None:
        if self._mm is not None:
            self._mm.flush()
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd < 0:
            return
        self.trim_to_valid_size()
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        os.close(self._fd)
        self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def delete(self) -> None:
        if not self.closed:
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            os.close(self._fd)
            self._fd = -1
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
        mm = self._buf()
        start = n * self.ENTRY_SIZE
        end = self.entries * self.ENTRY_SIZE
        mm[start:end] = bytes(end - start)
        self.entries = n

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
        mm = self._buf()
        size = self.ENTRY_SIZE

        def key(slot: int) -> int:
            p = slot * size + key_at
            return int.from_bytes(mm[p : p + key_len], "big", signed=True)

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
