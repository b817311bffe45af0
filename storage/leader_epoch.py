"""Leader epoch cache: which leader epoch started at which offset, per partition.

Backed by ``<partition dir>/leader-epoch-checkpoint`` (see ``storage.checkpoint``)::

    0
    <count>
    <epoch> <start_offset>
    ...

Invariants (the same as Kafka's ``LeaderEpochFileCache``): epochs strictly
increase and so do start offsets, from the first entry to the last. Assigning an
entry that would break monotonicity removes the conflicting entries at the end
first (a new leader truncated the log), exactly as Kafka does.

Each change is written to the checkpoint file synchronously (``assign`` always;
the truncations unless ``flush=False`` is passed, in which case the owner calls
``flush()`` later, e.g. from a worker thread). Writing blocks on fsync.

Not thread-safe: the owning ``Log`` serialises calls under its lock.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Final

from storage.checkpoint import LeaderEpochCheckpointFile

__all__ = [
    "LEADER_EPOCH_CHECKPOINT_FILE",
    "UNDEFINED_EPOCH",
    "UNDEFINED_EPOCH_OFFSET",
    "LeaderEpochFileCache",
]

LEADER_EPOCH_CHECKPOINT_FILE: Final = "leader-epoch-checkpoint"
UNDEFINED_EPOCH: Final = -1
UNDEFINED_EPOCH_OFFSET: Final = -1


class LeaderEpochFileCache:
    """Epoch → start offset entries, kept in two parallel ascending lists."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / LEADER_EPOCH_CHECKPOINT_FILE
        self.path = path
        self._checkpoint = LeaderEpochCheckpointFile(path)
        self._epochs: list[int] = []
        self._offsets: list[int] = []
        for epoch, start_offset in self._checkpoint.read():
            self._assign(epoch, start_offset)
        self._written: list[tuple[int, int]] | None = self.entries if path.exists() else None

    # ------------------------------------------------------------------ reads

    @property
    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._offsets, strict=True))

    @property
    def latest_epoch(self) -> int:
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    @property
    def latest_entry(self) -> tuple[int, int] | None:
        return (self._epochs[-1], self._offsets[-1]) if self._epochs else None

    @property
    def earliest_entry(self) -> tuple[int, int] | None:
        return (self._epochs[0], self._offsets[0]) if self._epochs else None

    @property
    def is_empty(self) -> bool:
        return not self._epochs

    def start_offset_of(self, epoch: int) -> int | None:
        i = bisect.bisect_left(self._epochs, epoch)
        if i < len(self._epochs) and self._epochs[i] == epoch:
            return self._offsets[i]
        return None

    def previous_epoch(self, epoch: int) -> int | None:
        """The largest known epoch strictly below ``epoch``."""
        i = bisect.bisect_left(self._epochs, epoch)
        return self._epochs[i - 1] if i > 0 else None

    def next_epoch(self, epoch: int) -> int | None:
        """The smallest known epoch strictly above ``epoch``."""
        i = bisect.bisect_right(self._epochs, epoch)
        return self._epochs[i] if i < len(self._epochs) else None

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch in which ``offset`` was written, or -1 if it precedes every entry."""
        i = bisect.bisect_right(self._offsets, offset)
        return self._epochs[i - 1] if i > 0 else UNDEFINED_EPOCH

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (largest epoch <= requested, end offset of that epoch).

        Mirrors Kafka's ``LeaderEpochFileCache.endOffsetFor``:
        - requested epoch -1 → (-1, -1);
        - requested == latest epoch → (epoch, log_end_offset);
        - no epoch above the requested one (requested > latest, or cache empty) → (-1, -1);
        - requested below every known epoch → (requested, start offset of the first epoch);
        - otherwise → (largest epoch <= requested, start offset of the next higher epoch).
        """
        if requested_epoch == UNDEFINED_EPOCH:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        epochs = self._epochs
        if epochs and epochs[-1] == requested_epoch:
            return requested_epoch, log_end_offset
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher >= len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self._offsets[0]
        return epochs[higher - 1], self._offsets[higher]

    def entries_in_range(self, start_offset: int, end_offset: int) -> list[tuple[int, int]]:
        """Entries as they would be after truncate_from_start(start) and truncate_from_end(end)."""
        epochs, offsets = list(self._epochs), list(self._offsets)
        if start_offset >= 0:
            _truncate_start(epochs, offsets, start_offset)
        _truncate_end(epochs, offsets, end_offset)
        return list(zip(epochs, offsets, strict=True))

    # ----------------------------------------------------------------- writes

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; flushes and returns True on change.

        Re-assigning the latest epoch at the same or a later offset is a no-op
        (the common case: every append of the current leader calls this).
        """
        if self._assign(epoch, start_offset):
            self.flush()
            return True
        return False

    def assign_all(self, entries: list[tuple[int, int]]) -> None:
        """Assign several entries (e.g. from a follower fetch), then flush once."""
        for epoch, start_offset in entries:
            self._assign(epoch, start_offset)
        if entries:
            self.flush()

    def _assign(self, epoch: int, start_offset: int) -> bool:
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset})")
        epochs, offsets = self._epochs, self._offsets
        if epochs and epochs[-1] == epoch and start_offset >= offsets[-1]:
            return False
        # Remove entries at the end that would violate monotonicity (Kafka's
        # maybeTruncateNonMonotonicEntries).
        while epochs and (epochs[-1] >= epoch or offsets[-1] >= start_offset):
            epochs.pop()
            offsets.pop()
        epochs.append(epoch)
        offsets.append(start_offset)
        return True

    def truncate_from_end(self, end_offset: int, *, flush: bool = True) -> bool:
        """Remove entries whose start offset is >= ``end_offset`` (log truncated to it)."""
        changed = _truncate_end(self._epochs, self._offsets, end_offset)
        if changed and flush:
            self.flush()
        return changed

    def truncate_from_start(self, start_offset: int, *, flush: bool = True) -> bool:
        """Drop entries wholly before ``start_offset``; the last of them is moved to start there.

        Exclusive like Kafka's: ``truncate_from_start(6)`` keeps an entry starting at 6.
        """
        changed = _truncate_start(self._epochs, self._offsets, start_offset)
        if changed and flush:
            self.flush()
        return changed

    def flush(self) -> None:
        """Write the entries to the checkpoint file (blocking: fsync)."""
        entries = self.entries
        self._checkpoint.write(entries)
        self._written = entries

    def flush_if_changed(self) -> None:
        """flush unless the file already holds exactly these entries (closing an idle log)."""
        if self._written != self.entries:
            self.flush()

    def clear(self) -> None:
        self._epochs.clear()
        self._offsets.clear()

    def clear_and_flush(self) -> None:
        self.clear()
        self.flush()

    def __repr__(self) -> str:
        return f"LeaderEpochFileCache({self.path}, {self.entries})"


def _truncate_end(epochs: list[int], offsets: list[int], end_offset: int) -> bool:
    if end_offset < 0 or not offsets or offsets[-1] < end_offset:
        return False
    while offsets and offsets[-1] >= end_offset:
        epochs.pop()
        offsets.pop()
    return True


def _truncate_start(epochs: list[int], offsets: list[int], start_offset: int) -> bool:
    i = bisect.bisect_right(offsets, start_offset)
    if i == 0:
        return False
    last_epoch = epochs[i - 1]
    del epochs[:i]
    del offsets[:i]
    epochs.insert(0, last_epoch)
    offsets.insert(0, start_offset)
    return True
