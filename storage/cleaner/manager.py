"""LogCleanerManager: which logs to clean, and per-partition cleaning state.

Selection (Kafka's grabFilthiestCompactedLog): among logs with
``cleanup.policy`` containing ``compact`` that are not being cleaned, paused
or marked uncleanable, compute the dirty range
``[first_dirty, first_uncleanable)``:

* ``first_dirty`` is the checkpointed offset from ``cleaner-offset-checkpoint``
  in the log's dir, reset to the log start offset when it is below it or
  beyond the log end;
* ``first_uncleanable`` is the base offset of the segment holding
  ``min(last stable offset, active segment base, first segment whose largest
  timestamp is within min.compaction.lag.ms of now)`` (cleaning stops at a
  segment boundary and never touches the active segment).

A log is cleanable when its dirty ratio (dirty bytes / total bytes) exceeds
``min.cleanable.dirty.ratio``, or when max.compaction.lag.ms has passed
since the first batch of its oldest dirty segment and it has dirty bytes. The
filthiest (highest ratio) cleanable log is returned and marked in progress.

States (a table of valid previous states, as Kafka's LogCleaningState)::

    (none) --grab--> IN_PROGRESS --done--> (none)
    IN_PROGRESS --abort_and_pause--> ABORTED --cleaner notices--> PAUSED(1)
    (none) | PAUSED(n) --abort_and_pause / pause_if_idle--> PAUSED(n+1)
    PAUSED(n) --resume--> PAUSED(n-1) | (none)

``abort_and_pause`` blocks until the cleaner thread has let go of the
partition; it must not be called while holding the log's lock. Thread-safe.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from storage.checkpoint import OffsetCheckpointFile
from storage.cleaner.cleaner import CleanerAbortedError, LogToClean, TopicPartition
from storage.clock import Clock
from storage.log import Log

logger = logging.getLogger(__name__)

CLEANER_CHECKPOINT: Final = "cleaner-offset-checkpoint"
LONG_MAX: Final = (1 << 63) - 1


class CleaningState(enum.Enum):
    IN_PROGRESS = "in_progress"
    ABORTED = "aborted"
    PAUSED = "paused"


_VALID_PREVIOUS: Final[dict[CleaningState, tuple[CleaningState | None, ...]]] = {
    CleaningState.IN_PROGRESS: (None,),
    CleaningState.ABORTED: (CleaningState.IN_PROGRESS,),
    CleaningState.PAUSED: (None, CleaningState.ABORTED, CleaningState.PAUSED),
}


@dataclass(slots=True)
class _State:
    state: CleaningState
    pauses: int = 0


@dataclass(frozen=True, slots=True)
class DirtyInfo:
    """Dirty-range facts about one compacted log (for stats and selection)."""

    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    compaction_delay_ms: int

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.cleanable_bytes
        return self.cleanable_bytes / total if total else 0.0


class LogCleanerManager:
    """Scheduling and per-partition cleaning state. See the module docstring."""

    def __init__(
        self,
        logs: Callable[[], dict[TopicPartition, tuple[Log, Path]]],
        clock: Clock,
    ) -> None:
        """``logs()`` returns every partition's log and the log dir it lives in."""
        self._logs = logs
        self.clock = clock
        self._cond = threading.Condition()
        self._states: dict[TopicPartition, _State] = {}
        self.uncleanable: set[TopicPartition] = set()
        self.dirty_ratios: dict[TopicPartition, float] = {}
        self.max_compaction_delay_ms = 0

    # -- state machine -------------------------------------------------------------------

    def _transition(self, tp: TopicPartition, new: CleaningState | None) -> None:
        current = self._states.get(tp)
        prev = None if current is None else current.state
        if new is None:
            self._states.pop(tp, None)
        else:
            if prev not in _VALID_PREVIOUS[new]:
                raise RuntimeError(f"illegal cleaning state move {prev} -> {new} for {tp}")
            pauses = current.pauses if current is not None else 0
            if new is CleaningState.PAUSED and prev is not CleaningState.ABORTED:
                pauses += 1
            self._states[tp] = _State(new, pauses)
        self._cond.notify_all()

    def state(self, tp: TopicPartition) -> CleaningState | None:
        with self._cond:
            s = self._states.get(tp)
            return None if s is None else s.state

    def check_done(self, tp: TopicPartition) -> None:
        """Raise CleanerAbortedError when ``tp``'s cleaning has been aborted."""
        with self._cond:
            s = self._states.get(tp)
            if s is None or s.state is not CleaningState.IN_PROGRESS:
                raise CleanerAbortedError(f"cleaning of {tp[0]}-{tp[1]} aborted")

    def abort_and_pause(self, tp: TopicPartition, timeout_s: float | None = None) -> None:
        """Stop any cleaning of ``tp`` and keep it from starting until ``resume``."""
        with self._cond:
            s = self._states.get(tp)
            if s is None or s.state is CleaningState.PAUSED:
                self._transition(tp, CleaningState.PAUSED)
                return
            if s.state is CleaningState.IN_PROGRESS:
                self._transition(tp, CleaningState.ABORTED)
            self._states[tp].pauses += 1  # every waiter owes one resume
            ok = self._cond.wait_for(
                lambda: (st := self._states.get(tp)) is not None
                and st.state is CleaningState.PAUSED,
                timeout_s,
            )
            if not ok:
                raise TimeoutError(f"cleaning of {tp[0]}-{tp[1]} did not stop")

    def pause_if_idle(self, tp: TopicPartition) -> bool:
        """Pause ``tp`` unless it is being cleaned right now (then False: skip it)."""
        with self._cond:
            s = self._states.get(tp)
            if s is not None and s.state is not CleaningState.PAUSED:
                return False
            self._transition(tp, CleaningState.PAUSED)
            return True

    def resume(self, tp: TopicPartition) -> None:
        with self._cond:
            s = self._states.get(tp)
            if s is None or s.state is not CleaningState.PAUSED:
                raise RuntimeError(f"{tp} is not paused ({s})")
            s.pauses -= 1
            if s.pauses <= 0:
                self._transition(tp, None)
            else:
                self._cond.notify_all()

    @contextmanager
    def paused(self, tp: TopicPartition) -> Iterator[None]:
        self.abort_and_pause(tp)
        try:
            yield
        finally:
            self.resume(tp)

    def abort_cleaning(self, tp: TopicPartition) -> None:
        """For a partition being deleted: abort, wait, then forget it and its checkpoint."""
        self.abort_and_pause(tp)
        with self._cond:
            self._transition(tp, None)
            self.uncleanable.discard(tp)
            self.dirty_ratios.pop(tp, None)

    def done_cleaning(
        self, tp: TopicPartition, log_dir: Path | None, end_offset: int | None
    ) -> None:
        """The cleaner finished (``end_offset`` set) or stopped early with ``tp``."""
        with self._cond:
            s = self._states.get(tp)
            if end_offset is not None and log_dir is not None and s is not None and (
                s.state is CleaningState.IN_PROGRESS
            ):
                self.update_checkpoint(log_dir, tp, end_offset)
            if s is None:
                return
            if s.state is CleaningState.IN_PROGRESS:
                self._transition(tp, None)
            elif s.state is CleaningState.ABORTED:
                self._transition(tp, CleaningState.PAUSED)  # keeps the waiters' count

    def mark_uncleanable(self, tp: TopicPartition) -> None:
        with self._cond:
            self.uncleanable.add(tp)

    # -- checkpoints ---------------------------------------------------------------------

    @staticmethod
    def read_checkpoint(log_dir: Path) -> dict[TopicPartition, int]:
        path = log_dir / CLEANER_CHECKPOINT
        if not path.exists():
            return {}
        try:
            return OffsetCheckpointFile(path).read()
        except Exception:  # a corrupt checkpoint only costs a re-clean
            logger.warning("ignoring unreadable %s", path, exc_info=True)
            return {}

    def update_checkpoint(
        self, log_dir: Path, tp: TopicPartition, offset: int | None
    ) -> None:
        """Set (or with None remove) ``tp``'s first dirty offset in ``log_dir``."""
        with self._cond:
            current = self.read_checkpoint(log_dir)
            live = {t for t, (_, d) in self._logs().items() if d == log_dir}
            entries = {t: o for t, o in current.items() if t in live}
            if offset is None:
                entries.pop(tp, None)
            else:
                entries[tp] = offset
            OffsetCheckpointFile(log_dir / CLEANER_CHECKPOINT).write(entries)

    def maybe_truncate_checkpoint(self, log_dir: Path, tp: TopicPartition, offset: int) -> None:
        """After truncation to ``offset``: the first dirty offset may not exceed it."""
        with self._cond:
            current = self.read_checkpoint(log_dir).get(tp)
            if current is not None and current > offset:
                self.update_checkpoint(log_dir, tp, offset)

    # -- selection -----------------------------------------------------------------------

    def dirty_info(self, log: Log, checkpoint: int | None, now: int) -> DirtyInfo:
        """Kafka's cleanableOffsets + calculateCleanableBytes + maxCompactionDelay."""
        segments = log.segments()
        start = log.log_start_offset
        first_dirty = start if checkpoint is None else checkpoint
        if first_dirty < start or first_dirty > log.log_end_offset:
            first_dirty = start
        active = segments[-1]
        uncleanable = min(log.last_stable_offset, active.base_offset)
        lag = max(log.config.min_compaction_lag_ms, 0)
        non_active = segments[:-1]
        dirty_segments = [
            s for i, s in enumerate(non_active)
            if (segments[i + 1].base_offset > first_dirty)
        ]
        if lag > 0:
            for s in dirty_segments:
                if s.largest_timestamp > now - lag:
                    uncleanable = min(uncleanable, s.base_offset)
                    break
        uncleanable = max(first_dirty, uncleanable)
        # Round down to the base of the segment holding it (the active one at most).
        boundary = active.base_offset
        for s in non_active:
            if s.base_offset <= uncleanable:
                boundary = s.base_offset
            else:
                break
        if uncleanable >= active.base_offset:
            boundary = active.base_offset
        first_uncleanable = boundary
        clean_bytes = 0
        cleanable_bytes = 0
        for i, s in enumerate(segments):
            nxt = segments[i + 1].base_offset if i + 1 < len(segments) else log.log_end_offset
            if nxt <= first_dirty and s.base_offset < first_dirty:
                clean_bytes += s.size
            elif s.base_offset < first_uncleanable and nxt > min(first_dirty, first_uncleanable):
                cleanable_bytes += s.size
        delay = 0
        max_lag = max(log.config.max_compaction_lag_ms, 0)
        if max_lag < LONG_MAX:
            firsts = [t for s in dirty_segments if (t := _first_batch_timestamp(s)) > 0]
            if firsts:
                clean_until = now - max_lag
                earliest = min(firsts)
                if earliest < clean_until:
                    delay = clean_until - earliest
        return DirtyInfo(first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, delay)

    def grab_filthiest_compacted_log(self) -> tuple[LogToClean, Path] | None:
        """Choose the dirtiest cleanable log and mark it IN_PROGRESS (or None)."""
        now = self.clock.milliseconds()
        logs = self._logs()
        with self._cond:
            checkpoints: dict[Path, dict[TopicPartition, int]] = {}
            best: tuple[LogToClean, Path] | None = None
            ratios: dict[TopicPartition, float] = {}
            max_delay = 0
            for tp, (log, log_dir) in logs.items():
                if not log.config.compact or log.closed:
                    continue
                if tp in self._states or tp in self.uncleanable:
                    continue
                if log_dir not in checkpoints:
                    checkpoints[log_dir] = self.read_checkpoint(log_dir)
                try:
                    info = self.dirty_info(log, checkpoints[log_dir].get(tp), now)
                except Exception:
                    logger.exception("cannot compute cleanable range of %s-%s", *tp)
                    continue
                if info.clean_bytes + info.cleanable_bytes == 0:
                    continue
                ratios[tp] = info.ratio
                max_delay = max(max_delay, info.compaction_delay_ms)
                need_now = info.compaction_delay_ms > 0
                if not (
                    (need_now and info.cleanable_bytes > 0)
                    or info.ratio > log.config.min_cleanable_dirty_ratio
                ):
                    continue
                if info.first_uncleanable_offset <= info.first_dirty_offset:
                    continue
                candidate = LogToClean(
                    tp, log, info.first_dirty_offset, info.first_uncleanable_offset,
                    info.clean_bytes, info.cleanable_bytes, need_now,
                )
                if best is None or candidate.cleanable_ratio > best[0].cleanable_ratio:
                    best = (candidate, log_dir)
            self.dirty_ratios.update(ratios)
            self.max_compaction_delay_ms = max_delay
            if best is not None:
                self._transition(best[0].tp, CleaningState.IN_PROGRESS)
            return best


def _first_batch_timestamp(segment: object) -> int:
    from storage.log_segment import LogSegment

    assert isinstance(segment, LogSegment)
    if segment.size == 0:
        return -1
    try:
        return segment.header_at(0).max_timestamp
    except Exception:
        return -1
