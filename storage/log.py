"""Log: the durable, segmented log of one partition (Kafka's UnifiedLog + LocalLog).

Directory ``<log dir>/<topic>-<partition>/`` holds the segments (see
``storage.log_segment``), ``leader-epoch-checkpoint``, producer-state
``<offset>.snapshot`` files and ``partition.metadata``
(``version: 0\\ntopic_id: <base64url uuid>\\n``).

Offsets: ``log_start_offset <= ... <= high_watermark <= log_end_offset``;
``recovery_point`` is the offset below which everything is fsynced.
``last_stable_offset = min(high_watermark, first unstable offset)``.

Threading contract
------------------
The broker calls everything from its asyncio loop thread except the blocking
calls ``flush``, ``delete_pending``, ``take_producer_snapshot``, ``close``,
``delete`` and loading (``storage.log_loader.load_log``), which it runs in a
worker thread (``asyncio.to_thread``). ``delete_old_segments`` is quick (renames
only) and may run on either thread. A ``threading.RLock`` guards the segment
map and the offsets; it is held for whole appends/reads/rolls (cheap, no
fsync inside) and only for the bookkeeping around ``flush``: fsync runs on
duplicated descriptors outside the lock, so a segment that rolls, truncates or
is deleted meanwhile is never a problem.
"""

from __future__ import annotations

import base64
import bisect
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from protocol.errors import ErrorCode, KafkaError
from protocol.record_batch import (
    LOG_OVERHEAD,
    RecordBatchHeader,
    TimestampType,
    iter_headers,
    read_header,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
)
from protocol.records import decode_batch, read_control_type
from storage.checkpoint import fsync_dir, write_atomically
from storage.clock import Clock
from storage.index_base import fsync_path
from storage.leader_epoch import LeaderEpochFileCache
from storage.log_config import LogConfig
from storage.log_dir_failure import KafkaStorageError, describe, io_guarded
from storage.log_segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    SWAP_SUFFIX,
    AppendedBatch,
    LogSegment,
    random_roll_jitter,
)
from storage.producer_state import ProducerStateManager
from storage.transaction_index import AbortedTxn

_Predicate = Callable[[LogSegment, "LogSegment | None"], bool]
#: Told of an I/O failure on a log: (log, what failed, the error). Set by the LogManager,
#: which takes the log's directory offline for a disk failure.
IoErrorHandler = Callable[["Log", str, OSError], None]


class SegmentsChangedError(Exception):
    """The segments a cleaned segment was to replace are no longer all in the log."""


PARTITION_METADATA_FILE: Final = "partition.metadata"
LEADER_EPOCH_CHECKPOINT: Final = "leader-epoch-checkpoint"


@dataclass(slots=True)
class LogAppendInfo:
    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    log_append_time: int  # -1 for CreateTime
    log_start_offset: int
    record_count: int
    valid_bytes: int
    duplicate: bool = False
    needs_flush: bool = False


@dataclass(slots=True)
class FetchDataInfo:
    fetch_offset: int
    records: bytes
    first_entry_incomplete: bool = False
    aborted_transactions: list[AbortedTxn] | None = None


@dataclass(frozen=True, slots=True)
class TimestampAndOffset:
    timestamp: int
    offset: int
    leader_epoch: int  # -1 when unknown


@dataclass(slots=True)
class _Pending:
    due_ms: int
    segment: LogSegment = field(compare=False)


def parse_partition_dir_name(name: str) -> tuple[str, int] | None:
    """``<topic>-<partition>`` → (topic, partition); None for other names."""
    topic, sep, part = name.rpartition("-")
    if not sep or not topic or not part.isdigit():
        return None
    return topic, int(part)


def uuid_to_kafka(topic_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(topic_id.bytes).rstrip(b"=").decode()


def uuid_from_kafka(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def write_partition_metadata(directory: Path, topic_id: uuid.UUID) -> None:
    data = f"version: 0\ntopic_id: {uuid_to_kafka(topic_id)}\n".encode()
    write_atomically(directory / PARTITION_METADATA_FILE, data)


def read_partition_metadata(directory: Path) -> uuid.UUID | None:
    try:
        text = (directory / PARTITION_METADATA_FILE).read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "topic_id":
            return uuid_from_kafka(value.strip())
    return None


class Log:
    """The log of one partition. See the module docstring for the threading contract."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        clock: Clock,
        segments: list[LogSegment],
        *,
        log_start_offset: int,
        log_end_offset: int,
        recovery_point: int,
        producer_state: ProducerStateManager,
        leader_epoch_cache: LeaderEpochFileCache,
        topic_id: uuid.UUID | None = None,
    ) -> None:
        parsed = parse_partition_dir_name(directory.name)
        if parsed is None:
            raise ValueError(f"not a partition directory: {directory}")
        self.directory = directory
        self.topic, self.partition = parsed
        self.config = config
        self.clock = clock
        self.topic_id = topic_id
        self.producer_state = producer_state
        self.leader_epoch_cache = leader_epoch_cache
        self._lock = threading.RLock()
        self._segments: dict[int, LogSegment] = {s.base_offset: s for s in segments}
        self._bases: list[int] = sorted(self._segments)
        self._next_offset = log_end_offset
        self.log_start_offset = log_start_offset
        self.recovery_point = min(recovery_point, log_end_offset)
        self.high_watermark = min(recovery_point, log_end_offset)
        self._pending: list[_Pending] = []
        self._last_flush_ms = clock.milliseconds()
        self._generation = 0  # bumped by truncations, so a racing flush cannot overshoot
        self._dir_dirty = False
        self.closed = False
        #: In a failed log dir: every operation raises KafkaStorageError (storage.log_dir_failure).
        self.offline = False
        self.on_io_error: IoErrorHandler | None = None
        #: Test hook: called with the name of each completed step of ``replace_segments``
        #: ("dropped", "swap", "deleted", "live"); raising simulates a crash there.
        self.swap_step_hook: Callable[[str], None] | None = None
        if not self._bases:
            self._add_segment(self._new_segment(log_end_offset))

    # -- segments ------------------------------------------------------------------------

    def _new_segment(self, base_offset: int) -> LogSegment:
        return LogSegment(
            self.directory,
            base_offset,
            index_interval_bytes=self.config.index_interval_bytes,
            max_index_size=self.config.segment_index_bytes,
            created_ms=self.clock.milliseconds(),
            roll_jitter_ms=random_roll_jitter(
                self.config.segment_ms, self.config.segment_jitter_ms
            ),
        )

    def _add_segment(self, segment: LogSegment) -> None:
        if segment.base_offset not in self._segments:
            bisect.insort(self._bases, segment.base_offset)
        self._segments[segment.base_offset] = segment
        self._dir_dirty = True

    def _remove_segment(self, base_offset: int) -> LogSegment:
        segment = self._segments.pop(base_offset)
        self._bases.remove(base_offset)
        return segment

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[self._bases[-1]]

    def segments(self) -> list[LogSegment]:
        with self._lock:
            return [self._segments[b] for b in self._bases]

    def _segments_from(self, offset: int) -> Iterator[LogSegment]:
        """Segments that may hold ``offset`` or later (floor segment onwards)."""
        i = max(bisect.bisect_right(self._bases, offset) - 1, 0)
        for base in self._bases[i:]:
            yield self._segments[base]

    @property
    def num_segments(self) -> int:
        return len(self._bases)

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def size_in_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments.values())

    @property
    def last_stable_offset(self) -> int:
        unstable = self.producer_state.first_unstable_offset()
        if unstable is None:
            return self.high_watermark
        return min(self.high_watermark, unstable)

    def update_high_watermark(self, offset: int) -> int:
        with self._lock:
            hw = max(self.log_start_offset, min(offset, self._next_offset))
            self.high_watermark = hw
            self.producer_state.on_high_watermark_updated(hw)
            return hw

    # -- append --------------------------------------------------------------------------

    @io_guarded
    def append_as_leader(
        self,
        batches: bytearray,
        leader_epoch: int,
        *,
        from_client: bool = True,
        coordinator_epoch: int | None = None,
        headers: list[tuple[int, RecordBatchHeader]] | None = None,
    ) -> LogAppendInfo:
        """Assign offsets to the (already validated) batches and append them in one write.

        ``headers`` are the (position, header) pairs of ``batches`` when the caller has
        already parsed them (produce validation does), so they are not read twice.
        Raises KafkaError from producer-state validation (nothing is appended then).
        A retried batch of an idempotent producer returns the original offsets with
        ``duplicate=True`` and appends nothing.
        """
        with self._lock:
            if headers is None:
                headers = list(iter_headers(batches))
            if not headers:
                raise KafkaError("no record batches to append", ErrorCode.invalid_record)
            ps = self.producer_state
            # Batches of one producer later in the same request follow the earlier
            # ones (Kafka validates them against the request's pending state).
            pending: dict[int, RecordBatchHeader] = {}
            for _, header in headers:
                if header.producer_id >= 0:
                    earlier = pending.get(header.producer_id)
                    pending[header.producer_id] = header
                    if earlier is not None and not header.is_control:
                        _check_follows(earlier, header)
                        continue
                    dup = ps.check_batch(
                        header, from_client=from_client, coordinator_epoch=coordinator_epoch
                    )
                    if dup is not None:
                        return LogAppendInfo(
                            dup.first_offset,
                            dup.last_offset,
                            dup.timestamp,
                            dup.last_offset,
                            -1,
                            self.log_start_offset,
                            0,
                            0,
                            duplicate=True,
                        )
            now = self.clock.milliseconds()
            append_time = now if self.config.log_append_time else -1
            first_offset = offset = self._next_offset
            max_ts = -1
            offset_of_max_ts = first_offset
            records = 0
            appended: list[AppendedBatch] = []
            for pos, header in headers:
                set_base_offset(batches, pos, offset)
                set_partition_leader_epoch(batches, pos, leader_epoch)
                if append_time >= 0:
                    set_log_append_time(batches, pos, append_time)
                    ts = append_time
                else:
                    ts = header.max_timestamp
                last = offset + header.last_offset_delta
                if ts > max_ts:
                    max_ts = ts
                    offset_of_max_ts = last
                appended.append((header.size, last, ts))
                records += header.records_count
                offset = last + 1
            last_offset = offset - 1
            segment = self._maybe_roll(len(batches), max_ts, last_offset, now)
            segment.append(batches, appended)
            self._next_offset = offset
            for pos, header in headers:
                if header.producer_id >= 0:
                    self._update_producer_state(batches, pos, coordinator_epoch, now)
            ps.update_map_end_offset(offset)
            if leader_epoch >= 0 and leader_epoch > self.leader_epoch_cache.latest_epoch:
                self.leader_epoch_cache.assign(leader_epoch, first_offset)
            needs_flush = (
                offset - self.recovery_point >= self.config.flush_messages
                or now - self._last_flush_ms >= self.config.flush_ms
            )
            return LogAppendInfo(
                first_offset,
                last_offset,
                max_ts,
                offset_of_max_ts,
                append_time,
                self.log_start_offset,
                records,
                len(batches),
                False,
                needs_flush,
            )

    def _update_producer_state(
        self, batches: bytearray, pos: int, coordinator_epoch: int | None, now: int
    ) -> None:
        header = read_header(batches, pos)
        control_type = read_control_type(batches, pos) if header.is_control else None
        completed = self.producer_state.update(
            header,
            header.base_offset,
            header.last_offset,
            now,
            control_type=control_type,
            coordinator_epoch=-1 if coordinator_epoch is None else coordinator_epoch,
        )
        if completed is not None:
            lso = self.producer_state.complete_txn(completed)
            if completed.is_aborted:
                self.active_segment.txn_index.append(completed.to_aborted_txn(lso))

    @io_guarded
    def append_as_follower(self, batches: bytearray) -> LogAppendInfo:
        """Append batches that already carry their offsets (replication). Batches at
        offsets below the log end offset are rejected."""
        with self._lock:
            headers = list(iter_headers(batches))
            if not headers:
                raise KafkaError("no record batches to append", ErrorCode.invalid_record)
            expected = self._next_offset
            max_ts = -1
            offset_of_max_ts = headers[0][1].base_offset
            records = 0
            appended: list[AppendedBatch] = []
            for _, header in headers:
                if header.base_offset < expected:
                    raise KafkaError(
                        f"out of order offset {header.base_offset} < {expected}",
                        ErrorCode.unknown_server_error,
                    )
                if header.max_timestamp > max_ts:
                    max_ts = header.max_timestamp
                    offset_of_max_ts = header.last_offset
                appended.append((header.size, header.last_offset, header.max_timestamp))
                records += header.records_count
                expected = header.next_offset
            first = headers[0][1].base_offset
            now = self.clock.milliseconds()
            segment = self._maybe_roll(len(batches), max_ts, expected - 1, now, first)
            segment.append(batches, appended)
            self._next_offset = expected
            for pos, header in headers:
                if header.producer_id >= 0:
                    control_type = read_control_type(batches, pos) if header.is_control else None
                    aborted = self.producer_state.replay_batch(header, control_type=control_type)
                    if aborted is not None:
                        self.active_segment.txn_index.append(aborted)
                epoch = header.partition_leader_epoch
                if epoch > self.leader_epoch_cache.latest_epoch:
                    # Checkpointed off the loop (checkpoint_leader_epochs, flush): recovery
                    # rebuilds entries past the recovery point from the batches.
                    self.leader_epoch_cache.assign(epoch, header.base_offset, flush=False)
            self.producer_state.update_map_end_offset(expected)
            return LogAppendInfo(
                first,
                expected - 1,
                max_ts,
                offset_of_max_ts,
                -1,
                self.log_start_offset,
                records,
                len(batches),
                needs_flush=expected - self.recovery_point >= self.config.flush_messages,
            )

    def _maybe_roll(
        self, size: int, max_ts: int, max_offset: int, now: int, first_offset: int | None = None
    ) -> LogSegment:
        segment = self.active_segment
        if segment.should_roll(
            messages_size=size,
            max_timestamp_in_messages=max_ts,
            max_offset_in_messages=max_offset,
            now_ms=now,
            segment_bytes=self.config.segment_bytes,
            segment_ms=self.config.segment_ms,
        ):
            base = self._next_offset if first_offset is None else first_offset
            return self._roll(base)
        return segment

    @io_guarded
    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset (no-op if the active one is empty)."""
        with self._lock:
            return self._roll(self._next_offset)

    def _roll(self, base_offset: int) -> LogSegment:
        old = self.active_segment
        if old.size == 0 and old.base_offset == base_offset:
            return old
        if base_offset in self._segments:
            raise KafkaError(f"segment at {base_offset} already exists")
        old.on_become_inactive()
        segment = self._new_segment(base_offset)
        self._add_segment(segment)
        # State at the new base offset, so recovery need only replay the new segment.
        self.producer_state.take_snapshot(base_offset, sync=False)
        return segment

    # -- read ----------------------------------------------------------------------------

    def batch_timestamp(self, offset: int) -> int | None:
        """Base (first) timestamp of the batch holding ``offset`` (None if no batch does, or
        if another thread holds the log right now).

        Reads batch headers only: from the offset index entry below ``offset`` to the batch
        (at most about ``index.interval.bytes`` of headers). Consumer lag in seconds uses it.
        Not io_guarded: a metric's failed read must not take the log dir offline.
        """
        # Never waits: a caller on the event loop must not block behind a worker thread.
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self.log_start_offset <= offset < self._next_offset:
                return None
            for segment in self._segments_from(offset):
                loc = segment.translate_offset(offset)
                if loc is not None:
                    return segment.header_at(loc.position).base_timestamp
            return None
        finally:
            self._lock.release()

    @property
    def size_without_lock(self) -> int:
        """``size_in_bytes`` without waiting for the log's lock (metrics on the event loop):
        a snapshot of the segment list, possibly a moment stale."""
        return sum(s.size for s in list(self._segments.values()))

    @io_guarded
    def read(
        self,
        fetch_offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        min_one_message: bool = True,
        include_aborted: bool = False,
    ) -> FetchDataInfo:
        """Whole batches from the one containing ``fetch_offset``, never a batch holding
        an offset >= ``max_offset`` (exclusive: the HW or the LSO; default LEO).

        Raises KafkaError(OFFSET_OUT_OF_RANGE) if fetch_offset is outside
        [log_start_offset, log_end_offset]. ``include_aborted`` also collects the
        aborted transactions overlapping the returned range (read_committed).
        """
        with self._lock:
            leo = self._next_offset
            if fetch_offset < self.log_start_offset or fetch_offset > leo:
                raise KafkaError(
                    f"offset {fetch_offset} out of range [{self.log_start_offset}, {leo}] "
                    f"for {self.topic}-{self.partition}",
                    ErrorCode.offset_out_of_range,
                )
            limit = leo if max_offset is None else min(max_offset, leo)
            if fetch_offset >= limit:
                return FetchDataInfo(fetch_offset, b"")
            for segment in self._segments_from(fetch_offset):
                if segment.base_offset >= limit:
                    break
                max_position: int | None = None
                if limit < leo:
                    loc = segment.translate_offset(limit)
                    if loc is not None:
                        max_position = loc.position
                result = segment.read(fetch_offset, max_bytes, max_position, min_one_message)
                if result is None:
                    continue
                data, incomplete = result
                info = FetchDataInfo(fetch_offset, data, incomplete)
                if include_aborted and data:
                    info.aborted_transactions = self._collect_aborted(
                        fetch_offset, _next_offset_of(data)
                    )
                return info
            return FetchDataInfo(fetch_offset, b"")

    def _collect_aborted(self, start: int, upper: int) -> list[AbortedTxn]:
        aborted: list[AbortedTxn] = []
        for segment in self._segments_from(start):
            result = segment.txn_index.collect_aborted_txns(start, upper)
            aborted.extend(result.aborted)
            if result.is_complete or segment.base_offset >= upper:
                break
        return aborted

    @io_guarded
    def collect_aborted_transactions(self, start: int, upper: int) -> list[AbortedTxn]:
        with self._lock:
            return self._collect_aborted(start, upper)

    # -- timestamps and epochs -----------------------------------------------------------

    @io_guarded
    def fetch_offset_by_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """The first record with timestamp >= ``timestamp`` (exact: its batch is decoded).

        For a LogAppendTime batch all records share the batch's timestamp, so the
        batch's base offset is returned. None when no record is that recent.
        """
        with self._lock:
            for segment in self._segments_from(self.log_start_offset):
                if segment.largest_timestamp < timestamp:
                    continue
                found = segment.find_offset_by_timestamp(timestamp, self.log_start_offset)
                if found is None:
                    continue
                header, pos = found
                epoch = header.partition_leader_epoch
                if header.timestamp_type == TimestampType.LOG_APPEND_TIME:
                    return TimestampAndOffset(
                        header.max_timestamp,
                        max(header.base_offset, self.log_start_offset),
                        epoch,
                    )
                data = segment.read_bytes(pos, header.size)
                _, recs = decode_batch(data)
                for rec in recs:
                    if rec.timestamp >= timestamp and rec.offset >= self.log_start_offset:
                        return TimestampAndOffset(rec.timestamp, rec.offset, epoch)
            return None

    @io_guarded
    def fetch_max_timestamp(self) -> TimestampAndOffset | None:
        """ListOffsets MAX_TIMESTAMP (-3): the largest timestamp and the offset of the first
        record carrying it (Kafka 3.8+, KAFKA-16310). Segments keep only the batch-level
        ("shallow") offset of their max timestamp; that one batch is decoded here. None
        when the log has no timestamps."""
        with self._lock:
            best: tuple[int, int, LogSegment] | None = None
            for segment in self._segments_from(self.log_start_offset):
                ts, off = segment.max_timestamp_and_offset()
                if ts >= 0 and (best is None or ts > best[0]):
                    best = (ts, off, segment)
            if best is None:
                return None
            ts, offset, segment = best
            epoch = self.leader_epoch_cache.epoch_for_offset(offset)
            loc = segment.translate_offset(offset)
            if loc is not None:
                data = segment.read_bytes(loc.position, loc.size)
                header = read_header(data, 0)
                if header.max_timestamp == ts:
                    # the epoch Kafka answers here is the batch's own
                    epoch = header.partition_leader_epoch
                    offset = header.base_offset
                    if header.timestamp_type != TimestampType.LOG_APPEND_TIME:
                        _, recs = decode_batch(data)
                        offset = next((r.offset for r in recs if r.timestamp == ts), offset)
            return TimestampAndOffset(ts, offset, epoch)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) per OffsetsForLeaderEpoch; (-1, -1) when unknown."""
        with self._lock:
            return self.leader_epoch_cache.end_offset_for(epoch, self._next_offset)

    @property
    def latest_epoch(self) -> int:
        return self.leader_epoch_cache.latest_epoch

    def assign_epoch_start(self, epoch: int, start_offset: int) -> None:
        """A new leader's epoch starts at ``start_offset`` (its LEO); written to the
        checkpoint by :meth:`checkpoint_leader_epochs` in a worker thread."""
        with self._lock:
            self.leader_epoch_cache.assign(epoch, start_offset, flush=False)

    def checkpoint_leader_epochs(self) -> None:
        """Write ``leader-epoch-checkpoint`` if it changed (blocking: call from a worker
        thread; holds this log's lock for the small write only)."""
        with self._lock:
            self.leader_epoch_cache.flush_if_dirty()

    # -- log start offset and retention --------------------------------------------------

    @io_guarded
    def maybe_increment_log_start_offset(self, new_offset: int) -> bool:
        """Advance the log start offset (DeleteRecords, retention); never past the HW."""
        with self._lock:
            if new_offset > self.high_watermark:
                raise KafkaError(
                    f"cannot move log start offset to {new_offset} above the high watermark "
                    f"{self.high_watermark}",
                    ErrorCode.offset_out_of_range,
                )
            if new_offset <= self.log_start_offset:
                return False
            self.log_start_offset = new_offset
            self.leader_epoch_cache.truncate_from_start(new_offset, flush=False)
            self.producer_state.on_log_start_offset_incremented(new_offset)
            return True

    @io_guarded
    def delete_old_segments(self, now_ms: int | None = None) -> int:
        """Apply the log start offset and (for cleanup.policy=delete) retention.ms and
        retention.bytes. Deleted segments are renamed ``*.deleted`` and removed by
        ``delete_pending`` after file.delete.delay.ms. Returns segments deleted."""
        now = self.clock.milliseconds() if now_ms is None else now_ms
        with self._lock:
            deleted = self._delete_segments(
                lambda seg, nxt: nxt is not None and nxt.base_offset <= self.log_start_offset, now
            )
            if self.config.delete:
                if self.config.retention_bytes >= 0:
                    diff = self.size_in_bytes - self.config.retention_bytes

                    def size_breached(seg: LogSegment, _nxt: LogSegment | None) -> bool:
                        nonlocal diff
                        if diff - seg.size >= 0:
                            diff -= seg.size
                            return True
                        return False

                    if diff > 0:
                        deleted += self._delete_segments(size_breached, now)
                if self.config.retention_ms >= 0:
                    retention = self.config.retention_ms
                    deleted += self._delete_segments(
                        lambda seg, _nxt: now - seg.largest_timestamp > retention, now
                    )
            return deleted

    def _delete_segments(self, predicate: _Predicate, now: int) -> int:
        deletable: list[LogSegment] = []
        bases = self._bases
        for i, base in enumerate(bases):
            segment = self._segments[base]
            nxt = self._segments[bases[i + 1]] if i + 1 < len(bases) else None
            upper = nxt.base_offset if nxt is not None else self._next_offset
            if nxt is None and segment.size == 0:
                break
            if upper > self.high_watermark or not predicate(segment, nxt):
                break
            deletable.append(segment)
        if not deletable:
            return 0
        if len(deletable) == len(bases):
            self._roll(self._next_offset)
        for segment in deletable:
            self._remove_segment(segment.base_offset)
            segment.rename_suffix("", DELETED_SUFFIX)
            self._pending.append(_Pending(now + self.config.file_delete_delay_ms, segment))
        first = self._bases[0]
        if first > self.log_start_offset:
            self.log_start_offset = first
            self.leader_epoch_cache.truncate_from_start(first, flush=False)
            self.producer_state.on_log_start_offset_incremented(first)
        return len(deletable)

    @io_guarded
    def delete_pending(self, now_ms: int | None = None) -> int:
        """Remove ``.deleted`` segments whose delay passed (all when now_ms is None).
        Blocking: worker thread."""
        with self._lock:
            due = [p for p in self._pending if now_ms is None or p.due_ms <= now_ms]
            self._pending = [p for p in self._pending if p not in due]
        for p in due:
            p.segment.delete()
        return len(due)

    # -- compaction ----------------------------------------------------------------------

    def last_records_of_active_producers(self) -> dict[int, tuple[int | None, int]]:
        """Producer id → (last data offset or None, epoch): batches the cleaner keeps."""
        with self._lock:
            return {
                pid: (e.last_data_offset if e.last_data_offset >= 0 else None, e.producer_epoch)
                for pid, e in self.producer_state.producers.items()
            }

    @io_guarded
    def replace_segments(self, new: LogSegment, old: list[LogSegment]) -> None:
        """Swap the cleaned segment ``new`` (files ``*.cleaned``, fsynced, same base offset
        as ``old[0]``) in for the contiguous segments ``old``. Held under the lock; quick
        (renames and two directory fsyncs).

        Steps, each recoverable by ``storage.log_loader`` after a crash:

        1. ``dropped``: old segments that start at or after the cleaned segment's next
           offset hold nothing that survived cleaning; they are renamed ``.deleted``
           first, so that after step 2 every live segment still to be replaced starts
           inside the swap segment's offset range (the loader deletes exactly those).
           A crash here loses only records the cleaner had discarded.
        2. ``swap``: the cleaned files are renamed ``.cleaned`` → ``.swap``, indexes
           first and the ``.log`` last: a ``.log.swap`` file is the commit point. Before
           it the loader deletes ``.cleaned``/index ``.swap`` files (the old segments
           are intact); after it the loader completes the swap.
        3. ``deleted``: the old segments are renamed ``.deleted`` (removed after
           file.delete.delay.ms).
        4. ``live``: the swap files are renamed to their live names.

        Raises SegmentsChangedError (nothing changed) when ``old`` is no longer a run of
        this log's segments (truncated, deleted or closed meanwhile).
        """
        hook = self.swap_step_hook
        with self._lock:
            if self.closed or not old or new.base_offset != old[0].base_offset:
                raise SegmentsChangedError(f"cannot swap {new} for {old} in {self}")
            for segment in old:
                if self._segments.get(segment.base_offset) is not segment:
                    raise SegmentsChangedError(f"{segment} is no longer in {self}")
            if old[-1].base_offset == self._bases[-1]:
                raise SegmentsChangedError("the active segment cannot be replaced")
            now = self.clock.milliseconds()
            delay = self.config.file_delete_delay_ms
            new_next = new.read_next_offset()
            for segment in old[1:]:
                if segment.base_offset >= new_next:
                    self._remove_segment(segment.base_offset)
                    segment.rename_suffix("", DELETED_SUFFIX)
                    self._pending.append(_Pending(now + delay, segment))
            if hook is not None:
                hook("dropped")
            new.rename_suffix(CLEANED_SUFFIX, SWAP_SUFFIX, log_last=True)
            fsync_dir(self.directory)
            if hook is not None:
                hook("swap")
            for segment in old:
                if segment.base_offset in self._segments and (
                    self._segments[segment.base_offset] is segment
                ):
                    self._remove_segment(segment.base_offset)
                    segment.rename_suffix("", DELETED_SUFFIX)
                    self._pending.append(_Pending(now + delay, segment))
            if hook is not None:
                hook("deleted")
            new.rename_suffix(SWAP_SUFFIX, "")
            self._add_segment(new)
            fsync_dir(self.directory)
            self._dir_dirty = False
            if hook is not None:
                hook("live")

    # -- durability ----------------------------------------------------------------------

    @io_guarded
    def flush(self, up_to_offset: int | None = None) -> None:
        """fsync the segments holding offsets below ``up_to_offset`` (default: LEO) and
        advance the recovery point. Blocking; safe against concurrent appends/rolls."""
        # Epoch entries first: the recovery point must not pass one that is not on disk.
        self.checkpoint_leader_epochs()
        with self._lock:
            target = (
                self._next_offset if up_to_offset is None else min(up_to_offset, self._next_offset)
            )
            if target <= self.recovery_point:
                return
            generation = self._generation
            fds: list[int] = []
            paths: list[Path] = []
            try:
                for segment in self._segments_from(self.recovery_point):
                    if segment.base_offset >= target and segment.base_offset > self.recovery_point:
                        break
                    fd, index_paths = segment.flush_targets()
                    fds.append(fd)
                    paths.extend(index_paths)
                if self._dir_dirty:
                    fds.append(os.open(self.directory, os.O_RDONLY))
                    self._dir_dirty = False
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
        try:
            for fd in fds:
                os.fsync(fd)
            for path in paths:
                fsync_path(path)  # one short-lived descriptor at a time
        finally:
            for fd in fds:
                os.close(fd)
        with self._lock:
            if self._generation == generation and target > self.recovery_point:
                self.recovery_point = target
            self._last_flush_ms = self.clock.milliseconds()

    @property
    def last_flush_ms(self) -> int:
        return self._last_flush_ms

    @io_guarded
    def remove_expired_producers(self, now_ms: int | None = None) -> int:
        with self._lock:
            return self.producer_state.remove_expired_producers(now_ms)

    @io_guarded
    def take_producer_snapshot(self) -> None:
        with self._lock:
            self.producer_state.take_snapshot(self._next_offset)

    # -- truncation ----------------------------------------------------------------------

    @io_guarded
    def truncate_to(self, offset: int) -> bool:
        """Remove every offset >= ``offset`` (follower truncation). Returns True if any."""
        with self._lock:
            if offset < 0:
                raise ValueError(f"cannot truncate to negative offset {offset}")
            if offset >= self._next_offset:
                # Still drop epoch entries at the log end: a broker that led an epoch
                # without appending in it would otherwise fetch with that epoch and
                # diverge again on every fetch (Kafka's UnifiedLog.truncateTo).
                self.leader_epoch_cache.truncate_from_end(self._next_offset, flush=False)
                return False
            if offset < self.log_start_offset:
                self._truncate_fully(offset)
                return True
            now = self.clock.milliseconds()
            self._generation += 1
            for base in [b for b in self._bases if b > offset]:
                if len(self._bases) == 1:
                    break
                segment = self._remove_segment(base)
                segment.rename_suffix("", DELETED_SUFFIX)
                self._pending.append(_Pending(now + self.config.file_delete_delay_ms, segment))
            active = self.active_segment
            if active.base_offset > offset:  # only possible if a single segment is above
                self._truncate_fully(offset)
                return True
            active.truncate_to(offset)
            active.resize_indexes(self.config.segment_index_bytes)
            self._next_offset = offset
            self.recovery_point = min(self.recovery_point, offset)
            self.high_watermark = min(self.high_watermark, offset)
            self.leader_epoch_cache.truncate_from_end(offset, flush=False)
            replay_from = self.producer_state.truncate_and_reload(self.log_start_offset, offset)
            replay_producer_state(self, replay_from, offset)
            return True

    @io_guarded
    def truncate_fully_and_start_at(self, new_offset: int) -> None:
        with self._lock:
            self._truncate_fully(new_offset)

    def _truncate_fully(self, new_offset: int) -> None:
        now = self.clock.milliseconds()
        self._generation += 1
        for base in list(self._bases):
            segment = self._remove_segment(base)
            segment.rename_suffix("", DELETED_SUFFIX)
            self._pending.append(_Pending(now + self.config.file_delete_delay_ms, segment))
        self._add_segment(self._new_segment(new_offset))
        self._next_offset = new_offset
        self.log_start_offset = new_offset
        self.recovery_point = new_offset
        self.high_watermark = new_offset
        self.leader_epoch_cache.clear()
        self.producer_state.truncate_fully_and_start_at(new_offset)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Snapshot producer state, write the final time-index entries, trim, close files.
        Does not fsync segments: call ``flush`` first for a clean shutdown. Raises
        KafkaStorageError on an I/O failure; an offline log is already closed."""
        if self.offline:
            return
        try:
            self._close()
        except OSError as exc:
            raise self.storage_error("close", exc) from exc

    def _close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.leader_epoch_cache.flush_if_changed()
            self.producer_state.take_snapshot_at_close(self._next_offset)
            for base in self._bases:
                self._segments[base].close()
            pending, self._pending = self._pending, []
        for p in pending:
            p.segment.delete()

    # -- storage failures (storage.log_dir_failure) ----------------------------------------

    def offline_error(self) -> KafkaStorageError:
        return KafkaStorageError(
            f"{self.topic}-{self.partition} is in an offline log directory {self.directory.parent}"
        )

    def storage_error(self, what: str, exc: OSError) -> KafkaStorageError:
        """Report an I/O failure (a disk failure takes the log dir offline) and wrap it."""
        handler = self.on_io_error
        if handler is not None:
            handler(self, what, exc)
        return KafkaStorageError(f"{what} on {self.topic}-{self.partition}: {describe(exc)}")

    def close_handlers(self) -> None:
        """The log dir failed: mark the log offline and release its descriptors and maps
        without writing anything more (Kafka's closeHandlers)."""
        with self._lock:
            self.offline = True
            if self.closed:
                return
            self.closed = True
            for base in self._bases:
                self._segments[base].close_handlers()
            for p in self._pending:
                p.segment.close_handlers()

    def _close_and_forget_segments(self) -> None:
        self.closed = True
        for base in self._bases:
            self._segments[base].close()
        self._segments.clear()
        self._bases.clear()
        self._pending.clear()

    @io_guarded
    def delete(self) -> None:
        """Close and remove the whole partition directory. Blocking."""
        with self._lock:
            self._close_and_forget_segments()
        shutil.rmtree(self.directory, ignore_errors=True)
        fsync_dir(self.directory.parent)

    @io_guarded
    def close_for_deletion(self, new_directory: Path) -> None:
        """Close the files without snapshots or fsync and move the directory (fast)."""
        with self._lock:
            self._close_and_forget_segments()
            os.replace(self.directory, new_directory)
            self.directory = new_directory

    def __repr__(self) -> str:
        return (
            f"Log({self.topic}-{self.partition}, start={self.log_start_offset}, "
            f"end={self._next_offset}, segments={len(self._bases)})"
        )


def _next_offset_of(data: bytes) -> int:
    """Offset after the last complete batch in ``data`` (non-empty, whole batches)."""
    pos = 0
    last: RecordBatchHeader | None = None
    end = len(data)
    while end - pos >= LOG_OVERHEAD:
        header = read_header(data, pos)
        last = header
        pos += header.size
    return -1 if last is None else last.next_offset


def replay_producer_state(log: Log, start: int, end: int) -> None:
    """Replay the batches in [start, end) into the log's producer state (recovery and
    truncation), re-adding aborted transactions missing from the ``.txnindex`` files."""
    ps = log.producer_state
    for segment in log._segments_from(start):
        loc = segment.translate_offset(start)
        if loc is None:
            continue
        for pos, header in segment.iter_batches(loc.position):
            if header.base_offset >= end:
                ps.update_map_end_offset(end)
                return
            if header.producer_id < 0:
                continue
            control = None
            if header.is_control:
                control = read_control_type(segment.read_bytes(pos, header.size))
            aborted = ps.replay_batch(header, control_type=control)
            if aborted is not None:
                last = segment.txn_index.last_offset
                if last is None or last < aborted.last_offset:
                    segment.txn_index.append(aborted)
    ps.update_map_end_offset(end)


def _check_follows(earlier: RecordBatchHeader, header: RecordBatchHeader) -> None:
    """A producer's second batch in one request must continue the first's sequence."""
    if header.producer_epoch != earlier.producer_epoch:
        raise KafkaError(
            f"producer {header.producer_id} changed epoch within one request",
            ErrorCode.invalid_producer_epoch,
        )
    expected = (earlier.last_sequence + 1) % (1 << 31)
    if earlier.base_sequence >= 0 and header.base_sequence != expected:
        raise KafkaError(
            f"out of order sequence number for producer {header.producer_id}: "
            f"{header.base_sequence} (expected {expected})",
            ErrorCode.out_of_order_sequence_number,
        )
