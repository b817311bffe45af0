"""OffsetIndex: the ``.index`` file of a segment, mapping offsets to file positions.

Format (Kafka's): a sequence of 8-byte entries, each ``relativeOffset: int32``
(offset - segment base offset) followed by ``position: int32`` (byte position
of a batch in the ``.log`` file), big-endian. Invariants: relative offsets and
positions strictly increase; the index is sparse (one entry roughly every
``index.interval.bytes`` of log data), so ``lookup`` returns a position from
which a short forward scan of batch headers finds the wanted offset.

Not thread-safe: the owning ``Log`` serialises access.
"""

from __future__ import annotations

import struct
from typing import ClassVar, NamedTuple

from storage.index_base import CorruptIndexError, InvalidOffsetError, MappedIndex

_ENTRY = struct.Struct(">ii")


class OffsetPosition(NamedTuple):
    offset: int
    position: int


class OffsetIndex(MappedIndex):
    ENTRY_SIZE: ClassVar[int] = 8
    REL_OFFSET_AT: ClassVar[int] = 0

    def entry(self, slot: int) -> OffsetPosition:
        rel, pos = self._unpack(_ENTRY, slot * 8)
        return OffsetPosition(self.base_offset + rel, pos)

    @property
    def last_offset(self) -> int:
        """Offset of the last entry, or the base offset when empty."""
        return self.entry(self.entries - 1).offset if self.entries else self.base_offset

    def last_entry(self) -> OffsetPosition:
        return self.entry(self.entries - 1) if self.entries else OffsetPosition(self.base_offset, 0)

    def append(self, offset: int, position: int) -> None:
        if self.entries and offset <= self.last_offset:
            raise InvalidOffsetError(
                f"offset {offset} not larger than last indexed offset {self.last_offset}"
            )
        if self.is_full:
            raise InvalidOffsetError(f"offset index {self.path} is full")
        self._pack(_ENTRY, self.entries * 8, self._relative(offset), position)
        self.entries += 1

    def lookup(self, target: int) -> OffsetPosition:
        """The last entry with offset <= target, or (base offset, 0)."""
        slot = self._largest_lower_bound_slot(target - self.base_offset, 0, 4)
        if slot < 0:
            return OffsetPosition(self.base_offset, 0)
        return self.entry(slot)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset``."""
        slot = self._largest_lower_bound_slot(offset - self.base_offset, 0, 4)
        if slot < 0:
            self.truncate_to_entries(0)
        elif self.entry(slot).offset == offset:
            self.truncate_to_entries(slot)
        else:
            self.truncate_to_entries(slot + 1)

    def sanity_check(self, log_size: int) -> None:
        """Raise CorruptIndexError if the entries cannot describe a log of ``log_size`` bytes."""
        if not self.entries:
            return
        first = self.entry(0)
        last = self.entry(self.entries - 1)
        if first.offset < self.base_offset or last.offset < first.offset:
            raise CorruptIndexError(f"offset index {self.path} has out-of-order offsets")
        if first.position < 0 or last.position < first.position or last.position >= log_size:
            raise CorruptIndexError(
                f"offset index {self.path} points past the log ({last.position} >= {log_size})"
            )
        if self.entries > 1 and (last.offset == first.offset or last.position == first.position):
            raise CorruptIndexError(f"offset index {self.path} has repeated entries")
