"""TimeIndex: the ``.timeindex`` file of a segment, mapping timestamps to offsets.

Format (Kafka's): a sequence of 12-byte entries, ``timestamp: int64`` followed
by ``relativeOffset: int32``, big-endian. An entry (T, o) means "the largest
timestamp of any batch up to and including offset o is T, and o is in the
first batch that reached T". Both timestamps and offsets strictly increase;
an entry is added only when the segment's max timestamp grew since the last
entry. The last entry holds the segment's max timestamp once it is inactive.

Not thread-safe: the owning ``Log`` serialises access.
"""

from __future__ import annotations

import struct
from typing import ClassVar, NamedTuple

from storage.index_base import CorruptIndexError, InvalidOffsetError, MappedIndex

_ENTRY = struct.Struct(">qi")
NO_TIMESTAMP = -1


class TimestampOffset(NamedTuple):
    timestamp: int
    offset: int


class TimeIndex(MappedIndex):
    ENTRY_SIZE: ClassVar[int] = 12
    REL_OFFSET_AT: ClassVar[int] = 8

    def entry(self, slot: int) -> TimestampOffset:
        ts, rel = self._unpack(_ENTRY, slot * 12)
        return TimestampOffset(ts, self.base_offset + rel)

    def last_entry(self) -> TimestampOffset:
        """The last entry, or (-1, base offset) when empty."""
        if not self.entries:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return self.entry(self.entries - 1)

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Append (timestamp, offset) if the timestamp is larger than the last entry's."""
        last = self.last_entry()
        if timestamp <= last.timestamp:
            return
        if self.entries and offset <= last.offset:
            raise InvalidOffsetError(
                f"time index offset {offset} not larger than last {last.offset}"
            )
        if self.is_full:
            if not skip_full_check:
                raise InvalidOffsetError(f"time index {self.path} is full")
            self.resize((self.entries + 1) * self.ENTRY_SIZE)
        self._pack(_ENTRY, self.entries * 12, timestamp, self._relative(offset))
        self.entries += 1

    def lookup(self, target_timestamp: int) -> TimestampOffset:
        """The last entry with timestamp <= target, or (-1, base offset)."""
        slot = self._largest_lower_bound_slot(target_timestamp, 0, 8)
        if slot < 0:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return self.entry(slot)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset`` (offsets increase with slots)."""
        lo, hi = 0, self.entries
        while lo < hi:
            mid = (lo + hi) // 2
            if self.entry(mid).offset >= offset:
                hi = mid
            else:
                lo = mid + 1
        self.truncate_to_entries(lo)

    def sanity_check(self) -> None:
        if not self.entries:
            return
        first = self.entry(0)
        last = self.entry(self.entries - 1)
        if first.offset < self.base_offset or last.offset < first.offset:
            raise CorruptIndexError(f"time index {self.path} has out-of-order offsets")
        if last.timestamp < first.timestamp:
            raise CorruptIndexError(f"time index {self.path} has out-of-order timestamps")
