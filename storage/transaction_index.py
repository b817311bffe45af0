"""Transaction index (``.txnindex``): the aborted transactions whose markers are in a segment.

File format (Kafka's), a sequence of 34-byte big-endian entries, no header::

    version           int16   always 0
    producerId        int64
    firstOffset       int64   first offset of the aborted transaction
    lastOffset        int64   offset of its ABORT marker
    lastStableOffset  int64   the LSO right after the abort was written

Invariants: ``lastOffset`` strictly increases from entry to entry (markers are
appended in log order). A transaction may start in an earlier segment, so
``firstOffset`` can be below the segment's base offset.

The file is created only when the first entry is appended (as in Kafka). The
entries are also kept in memory, read once on first use, so a read_committed
fetch does not touch the disk. No descriptor is kept open: aborted transactions
are rare, so each append opens, writes and closes the file (a partition costs
no descriptor for its transaction index). ``flush`` blocks on fsync. Not
thread-safe: the owning segment/log serialises calls.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from storage.index_base import fsync_path

__all__ = [
    "ENTRY_SIZE",
    "AbortedTxn",
    "CorruptIndexError",
    "TransactionIndex",
    "TxnIndexSearchResult",
]

ENTRY_SIZE: Final = 34
CURRENT_VERSION: Final = 0
_ENTRY = struct.Struct(">hqqqq")


class CorruptIndexError(Exception):
    """An index file whose contents break its invariants."""


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def to_bytes(self) -> bytes:
        return _ENTRY.pack(
            CURRENT_VERSION,
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, pos: int = 0) -> AbortedTxn:
        version, pid, first, last, lso = _ENTRY.unpack_from(data, pos)
        if version > CURRENT_VERSION:
            raise CorruptIndexError(f"unexpected aborted transaction version {version}")
        return cls(pid, first, last, lso)


@dataclass(frozen=True, slots=True)
class TxnIndexSearchResult:
    aborted: list[AbortedTxn]
    #: True when an entry's LSO reached the upper bound: later segments need not be searched.
    is_complete: bool


def _start_offset_from_name(path: Path) -> int:
    stem = path.name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else 0


class TransactionIndex:
    def __init__(self, path: Path | str, start_offset: int | None = None) -> None:
        self.path = Path(path)
        self.start_offset = (
            _start_offset_from_name(self.path) if start_offset is None else start_offset
        )
        self._dirty = False
        self._entries: list[AbortedTxn] | None = None  # loaded lazily
        self._last_offsets: list[int] = []  # parallel to _entries, for bisect

    # ----------------------------------------------------------------- state

    def _load(self) -> list[AbortedTxn]:
        if self._entries is not None:
            return self._entries
        entries: list[AbortedTxn] = []
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        usable = len(data) - len(data) % ENTRY_SIZE
        for pos in range(0, usable, ENTRY_SIZE):
            try:
                entries.append(AbortedTxn.from_bytes(data, pos))
            except CorruptIndexError as exc:
                raise CorruptIndexError(f"{exc} in transaction index {self.path}") from None
        self._entries = entries
        self._last_offsets = [e.last_offset for e in entries]
        return entries

    @property
    def entries(self) -> list[AbortedTxn]:
        return list(self._load())

    def all_aborted_txns(self) -> list[AbortedTxn]:
        return self.entries

    @property
    def last_offset(self) -> int | None:
        entries = self._load()
        return entries[-1].last_offset if entries else None

    @property
    def is_empty(self) -> bool:
        return not self._load()

    # ---------------------------------------------------------------- writes

    def append(self, txn: AbortedTxn) -> None:
        entries = self._load()
        if entries and entries[-1].last_offset >= txn.last_offset:
            raise ValueError(
                f"last offset of appended transactions must increase: {txn.last_offset} is not "
                f"greater than {entries[-1].last_offset} in {self.path}"
            )
        data = txn.to_bytes()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):  # pragma: no cover - regular files write fully
            raise OSError(f"short write to {self.path}")
        self._dirty = True
        entries.append(txn)
        self._last_offsets.append(txn.last_offset)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose last offset is >= ``offset``."""
        entries = self._load()
        keep = bisect.bisect_left(self._last_offsets, offset)
        if keep == len(entries):
            return
        del entries[keep:]
        del self._last_offsets[keep:]
        if self.path.exists():
            os.truncate(self.path, keep * ENTRY_SIZE)

    def reset(self) -> None:
        """Remove all entries (the file stays, empty, if it exists)."""
        self._entries = []
        self._last_offsets = []
        if self.path.exists():
            os.truncate(self.path, 0)

    def flush(self) -> None:
        if self.take_dirty():
            fsync_path(self.path)

    def take_dirty(self) -> bool:
        """True (once) if appended to since the last flush: the caller fsyncs it by path."""
        dirty, self._dirty = self._dirty, False
        return dirty

    def close(self) -> None:
        """Nothing to release (no descriptor is kept); kept for the segment's symmetry."""

    def delete(self) -> bool:
        """Close and delete the file; True if a file was removed."""
        self.close()
        self._entries = []
        self._last_offsets = []
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def rename_to(self, new_path: Path) -> None:
        """Rename the file (if it exists) and keep using it under the new name."""
        self.close()
        try:
            if self.path.exists():
                os.replace(self.path, new_path)
        finally:
            self.path = Path(new_path)

    # ----------------------------------------------------------------- reads

    def collect_aborted_txns(
        self, fetch_offset: int, upper_bound_offset: int
    ) -> TxnIndexSearchResult:
        """Aborted transactions overlapping ``[fetch_offset, upper_bound_offset)``.

        ``is_complete`` tells the caller it may stop searching later segments
        (an entry's last stable offset reached the upper bound), as in Kafka.
        """
        entries = self._load()
        # Entries with last_offset < fetch_offset cannot overlap; skip them by bisect.
        i = bisect.bisect_left(self._last_offsets, fetch_offset)
        # Kafka scans from the first entry and stops at any whose LSO >= upper bound.
        # A skipped entry has LSO <= last_offset + 1 <= fetch_offset (an abort's LSO is
        # at most the offset after its marker), so it can only stop the scan when the
        # range is empty or inverted; scan linearly in that odd case to stay exact.
        if upper_bound_offset <= fetch_offset:
            i = 0
        result: list[AbortedTxn] = []
        for txn in entries[i:]:
            if txn.first_offset < upper_bound_offset and txn.last_offset >= fetch_offset:
                result.append(txn)
            if txn.last_stable_offset >= upper_bound_offset:
                return TxnIndexSearchResult(result, True)
        return TxnIndexSearchResult(result, False)

    def collect_aborted(self, fetch_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        return self.collect_aborted_txns(fetch_offset, upper_bound_offset).aborted

    def sanity_check(self) -> None:
        """Raise CorruptIndexError on a partial entry or an entry ending before the segment."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size % ENTRY_SIZE:
            raise CorruptIndexError(
                f"transaction index {self.path} has size {size}, not a multiple of {ENTRY_SIZE}"
            )
        self._entries = None
        prev: int | None = None
        for txn in self._load():
            if txn.last_offset < self.start_offset:
                raise CorruptIndexError(
                    f"last offset of aborted transaction {txn} in index {self.path} "
                    f"is less than start offset {self.start_offset}"
                )
            if prev is not None and txn.last_offset <= prev:
                raise CorruptIndexError(
                    f"last offsets do not increase at {txn} in transaction index {self.path}"
                )
            prev = txn.last_offset

    def __repr__(self) -> str:
        return f"TransactionIndex({self.path})"
