"""OffsetMap: key hash → latest offset, bounded by memory (Kafka's SkimpyOffsetMap).

Kafka keys its map by the 16-byte MD5 of the record key and charges 24 bytes
per entry (hash + int64 offset) against ``log.cleaner.dedupe.buffer.size``;
this map does the same, so ``slots = buffer_bytes // 24`` and the cleaner stops
adding keys at ``slots * load_factor``. (A Python dict spends more than 24
bytes per entry; the budget is the configured one, not the process's RSS.)

Not thread-safe: one map belongs to one cleaner thread.
"""

from __future__ import annotations

import hashlib
from typing import Final

HASH_SIZE: Final = 16
BYTES_PER_ENTRY: Final = HASH_SIZE + 8


class OffsetMap:
    """A bounded map from key digest to the latest offset seen for that key."""

    def __init__(self, memory_bytes: int, load_factor: float = 0.9) -> None:
        if memory_bytes < BYTES_PER_ENTRY:
            raise ValueError(f"offset map needs at least {BYTES_PER_ENTRY} bytes")
        self.slots = memory_bytes // BYTES_PER_ENTRY
        self.max_entries = max(1, int(self.slots * load_factor))
        self._map: dict[bytes, int] = {}
        self.latest_offset = -1

    @staticmethod
    def digest(key: bytes) -> bytes:
        return hashlib.md5(key, usedforsecurity=False).digest()

    @property
    def size(self) -> int:
        return len(self._map)

    @property
    def is_full(self) -> bool:
        return len(self._map) >= self.max_entries

    @property
    def utilization(self) -> float:
        return len(self._map) / self.slots

    def put(self, key: bytes, offset: int) -> None:
        self._map[self.digest(key)] = offset
        if offset > self.latest_offset:
            self.latest_offset = offset

    def get(self, key: bytes) -> int:
        """The latest offset for ``key``, or -1 when absent."""
        return self._map.get(self.digest(key), -1)

    def update_latest_offset(self, offset: int) -> None:
        if offset > self.latest_offset:
            self.latest_offset = offset

    def clear(self) -> None:
        self._map.clear()
        self.latest_offset = -1
