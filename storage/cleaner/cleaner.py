"""The cleaning function: compact one log's cleanable range (Kafka's Cleaner).

``Cleaner.clean`` is synchronous and owns no threads; the scheduler
(``storage.cleaner.manager``) decides *what* to clean and the pool
(``storage.cleaner.log_cleaner``) decides *when*. A pass over a ``LogToClean``:

1. **Offset map.** Walk the dirty range ``[first_dirty, first_uncleanable)``
   and record key → latest offset (``OffsetMap``), skipping aborted
   transactional data and markers. When the map reaches its budget the pass
   stops at the last complete batch: ``end = map.latest_offset + 1`` and
   everything from ``end`` on is kept as is (the next pass continues there).
2. **Groups.** Segments below ``end`` are grouped so that each group's
   cleaned output fits ``segment.bytes``, ``segment.index.bytes`` and the
   int32 relative-offset range of its first segment.
3. **Filter.** Each group is rewritten into ``<base>.log.cleaned`` (plus
   indexes) batch by batch. A record is kept iff its offset is past the map
   (>= end) or it is the latest for its key *and* it has a value or its
   batch's delete horizon has not passed. Batches keep base offset, last
   offset delta, producer id/epoch/base sequence, leader epoch, timestamp
   type, transactional/control flags and codec; an untouched batch is copied
   byte for byte. A batch holding tombstones (or a discardable marker) gets
   its delete horizon (``now + delete.retention.ms``, stored as the base
   timestamp with attribute bit 0x40) the first time it is rewritten; the
   tombstones (markers) go in a later pass once ``now >= horizon``. The batch
   holding an active producer's last sequence (or its last marker) is kept,
   emptied if need be, so idempotent producers keep their state.
4. **Swap.** ``Log.replace_segments`` (see ``storage.log``) renames the
   cleaned files ``.cleaned`` → ``.swap`` → live under the log's lock.

The log's lock is *not* held while reading old segments or writing the
cleaned one: inactive segments are immutable, and anything that would delete
or truncate them first aborts the cleaning (``check_done``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from protocol.record_batch import (
    DELETE_HORIZON_FLAG,
    HEADER_SIZE,
    LOG_OVERHEAD,
    RecordBatchHeader,
    fix_crc,
    read_header,
)
from protocol.records import (
    Record,
    decode_batch,
    encode_batch,
    read_control_type,
    reencode_batch,
)
from storage.cleaner.offset_map import OffsetMap
from storage.cleaner.transactions import CleanedTransactionMetadata
from storage.clock import Clock
from storage.log_segment import (
    CLEANED_SUFFIX,
    INDEX_SUFFIX,
    INT32_MAX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    LogSegment,
    segment_file_name,
)

if TYPE_CHECKING:
    from storage.log import Log

TopicPartition = tuple[str, int]

READ_CHUNK: Final = 1 << 20
_ATTRIBUTES: Final = struct.Struct(">h")


class CleanerAbortedError(Exception):
    """Cleaning of a partition was aborted (truncation, deletion, shutdown)."""


@dataclass(frozen=True, slots=True)
class LastRecord:
    """What the cleaner must keep of an active producer (Kafka's LastRecord)."""

    last_data_offset: int | None
    producer_epoch: int


@dataclass(slots=True)
class LogToClean:
    """A log chosen for cleaning: ``[first_dirty_offset, first_uncleanable_offset)`` is dirty."""

    tp: TopicPartition
    log: Log
    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    need_compaction_now: bool = False

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def cleanable_ratio(self) -> float:
        total = self.total_bytes
        return self.cleanable_bytes / total if total else 0.0


@dataclass(slots=True)
class CleanerStats:
    """Counters of one cleaning pass."""

    start_ms: int = 0
    map_complete_ms: int = 0
    end_ms: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    map_bytes_read: int = 0
    map_messages_read: int = 0
    messages_read: int = 0
    messages_written: int = 0
    invalid_messages: int = 0
    buffer_utilization: float = 0.0
    segments_cleaned: int = 0
    groups: int = 0
    end_offset: int = 0

    @property
    def elapsed_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(slots=True)
class _PassContext:
    offset_map: OffsetMap
    now_ms: int
    delete_retention_ms: int
    txn: CleanedTransactionMetadata
    last_records: dict[int, LastRecord]
    stats: CleanerStats = field(default_factory=CleanerStats)


def delete_horizon_ms(header: RecordBatchHeader) -> int | None:
    """The batch's delete horizon (its base timestamp when attribute 0x40 is set)."""
    if header.attributes & DELETE_HORIZON_FLAG:
        return header.base_timestamp
    return None


def group_segments_by_size(
    segments: Sequence[LogSegment],
    max_size: int,
    max_index_size: int,
    first_uncleanable_offset: int,
    next_offsets: Sequence[int],
) -> list[list[LogSegment]]:
    """Kafka's groupSegmentsBySize: consecutive segments whose combined log and index
    sizes fit one segment and whose offsets fit the first one's int32 range.

    ``next_offsets[i]`` is the offset after segment ``i`` (the next base offset)."""
    groups: list[list[LogSegment]] = []
    i = 0
    n = len(segments)
    while i < n:
        group = [segments[i]]
        log_size = segments[i].size
        index_size = segments[i].offset_index.size_in_bytes
        time_size = segments[i].time_index.size_in_bytes
        i += 1
        while i < n:
            seg = segments[i]
            last_offset = min(next_offsets[i], first_uncleanable_offset) - 1
            if (
                log_size + seg.size <= max_size
                and index_size + seg.offset_index.size_in_bytes <= max_index_size
                and time_size + seg.time_index.size_in_bytes <= max_index_size
                and (seg.size == 0 or last_offset - group[0].base_offset <= INT32_MAX)
            ):
                group.append(seg)
                log_size += seg.size
                index_size += seg.offset_index.size_in_bytes
                time_size += seg.time_index.size_in_bytes
                i += 1
            else:
                break
        groups.append(group)
    return groups


def iter_segment_batches(
    segment: LogSegment,
    start_position: int,
    on_read: Callable[[int], None],
) -> Iterator[tuple[bytes, RecordBatchHeader]]:
    """(batch bytes, header) of every complete batch from ``start_position``, read in
    chunks of about 1 MiB; ``on_read(n)`` is called per chunk (throttling, abort checks)."""
    end = segment.size
    pos = start_position
    while pos < end:
        chunk = segment.read_bytes(pos, min(READ_CHUNK, end - pos))
        on_read(len(chunk))
        view = memoryview(chunk)
        rel = 0
        while len(chunk) - rel >= HEADER_SIZE:
            header = read_header(view, rel)
            if rel + header.size > len(chunk):
                break
            yield bytes(view[rel : rel + header.size]), header
            rel += header.size
        if rel == 0:
            if len(chunk) < HEADER_SIZE:
                return  # torn tail (recovery would have cut it)
            size = read_header(chunk).size
            if pos + size > end:
                return
            data = segment.read_bytes(pos, size)
            on_read(len(data))
            yield data, read_header(data)
            rel = size
        pos += rel


class Cleaner:
    """Cleans one log at a time. Not thread-safe: one per cleaner thread.

    ``check_done(tp)`` raises ``CleanerAbortedError`` when the partition's cleaning
    was aborted; ``throttle(n)`` is told about every n bytes of I/O.
    """

    def __init__(
        self,
        offset_map: OffsetMap,
        clock: Clock,
        *,
        check_done: Callable[[TopicPartition], None] | None = None,
        throttle: Callable[[int], None] | None = None,
    ) -> None:
        self.offset_map = offset_map
        self.clock = clock
        self._check_done = check_done
        self._throttle = throttle

    def _on_io(self, tp: TopicPartition) -> Callable[[int], None]:
        def on_io(n: int) -> None:
            if self._check_done is not None:
                self._check_done(tp)
            if self._throttle is not None:
                self._throttle(n)

        return on_io

    # -- the pass ------------------------------------------------------------------------

    def clean(self, to_clean: LogToClean) -> tuple[int, CleanerStats]:
        """Clean the log up to where the offset map reaches; returns (end offset, stats).

        The end offset becomes the log's new first dirty offset (the checkpoint)."""
        log = to_clean.log
        stats = CleanerStats(start_ms=self.clock.milliseconds())
        on_io = self._on_io(to_clean.tp)
        self.build_offset_map(
            log, to_clean.first_dirty_offset, to_clean.first_uncleanable_offset, stats, on_io
        )
        stats.map_complete_ms = self.clock.milliseconds()
        end_offset = self.offset_map.latest_offset + 1
        stats.buffer_utilization = self.offset_map.utilization
        now = self.clock.milliseconds()
        all_segments = log.segments()
        next_offsets = [s.base_offset for s in all_segments[1:]] + [log.log_end_offset]
        candidates = [
            (s, nxt)
            for s, nxt in zip(all_segments[:-1], next_offsets, strict=False)
            if s.base_offset < end_offset
        ]
        ctx = _PassContext(
            self.offset_map,
            now,
            log.config.delete_retention_ms,
            CleanedTransactionMetadata(),
            {
                pid: LastRecord(last, epoch)
                for pid, (last, epoch) in log.last_records_of_active_producers().items()
            },
            stats,
        )
        groups = group_segments_by_size(
            [s for s, _ in candidates],
            log.config.segment_bytes,
            log.config.segment_index_bytes,
            to_clean.first_uncleanable_offset,
            [n for _, n in candidates],
        )
        upper = dict(candidates)
        for group in groups:
            self.clean_segments(log, group, [upper[s] for s in group], ctx, on_io)
            stats.groups += 1
            stats.segments_cleaned += len(group)
        stats.end_ms = self.clock.milliseconds()
        stats.end_offset = end_offset
        return end_offset, stats

    # -- step 1: offset map --------------------------------------------------------------

    def build_offset_map(
        self,
        log: Log,
        start: int,
        end: int,
        stats: CleanerStats,
        on_io: Callable[[int], None],
    ) -> None:
        omap = self.offset_map
        omap.clear()
        txn = CleanedTransactionMetadata()
        txn.add_aborted_transactions(log.collect_aborted_transactions(start, end))
        segments = log.segments()
        for i, segment in enumerate(segments):
            if segment.base_offset >= end:
                break
            nxt = segments[i + 1].base_offset if i + 1 < len(segments) else log.log_end_offset
            if nxt <= start or segment.size == 0:
                continue
            position = 0
            if segment.base_offset < start:
                position = segment.offset_index.lookup(start).position
            for data, header in iter_segment_batches(segment, position, on_io):
                if header.base_offset >= end:
                    return
                if header.last_offset < start:
                    continue
                stats.map_bytes_read += header.size
                if header.is_control:
                    txn.on_control_batch_read(header, read_control_type(data))
                    stats.map_messages_read += 1
                elif txn.on_batch_read(header):
                    stats.map_messages_read += header.records_count
                else:
                    _, records = decode_batch(data)
                    if omap.is_full and omap.latest_offset >= start:
                        return  # map full: this pass ends before this batch
                    for record in records:
                        if record.key is not None and record.offset >= start:
                            omap.put(record.key, record.offset)
                        stats.map_messages_read += 1
                omap.update_latest_offset(header.last_offset)

    # -- steps 2-4: rewrite one group and swap it in -------------------------------------

    def clean_segments(
        self,
        log: Log,
        group: Sequence[LogSegment],
        upper_offsets: Sequence[int],
        ctx: _PassContext,
        on_io: Callable[[int], None],
    ) -> None:
        base = group[0].base_offset
        remove_cleaned_leftovers(log, base)
        cleaned = LogSegment(
            log.directory,
            base,
            index_interval_bytes=log.config.index_interval_bytes,
            max_index_size=log.config.segment_index_bytes,
            created_ms=ctx.now_ms,
            suffix=CLEANED_SUFFIX,
        )
        ctx.txn.cleaned_index = cleaned.txn_index
        try:
            for segment, upper in zip(group, upper_offsets, strict=True):
                ctx.txn.add_aborted_transactions(
                    log.collect_aborted_transactions(segment.base_offset, upper)
                )
                self._clean_into(segment, cleaned, ctx, on_io)
            cleaned.on_become_inactive()
            cleaned.flush()
            mtime = os.stat(group[-1].log_path).st_mtime_ns
            os.utime(cleaned.log_path, ns=(mtime, mtime))
            if self._check_done is not None:
                self._check_done((log.topic, log.partition))
            log.replace_segments(cleaned, list(group))
        except BaseException:
            cleaned.delete()
            raise
        finally:
            ctx.txn.cleaned_index = None

    def _clean_into(
        self,
        source: LogSegment,
        dest: LogSegment,
        ctx: _PassContext,
        on_io: Callable[[int], None],
    ) -> None:
        stats = ctx.stats
        out: list[bytes] = []
        appended: list[tuple[int, int, int]] = []
        pending = 0
        for data, header in iter_segment_batches(source, 0, on_io):
            stats.bytes_read += header.size
            kept = filter_batch(data, header, ctx)
            if kept is None:
                continue
            new_header = read_header(kept)
            out.append(kept)
            appended.append((len(kept), new_header.last_offset, new_header.max_timestamp))
            pending += len(kept)
            if pending >= READ_CHUNK:
                self._write(dest, out, appended, on_io)
                stats.bytes_written += pending
                out, appended, pending = [], [], 0
        if out:
            self._write(dest, out, appended, on_io)
            stats.bytes_written += pending

    @staticmethod
    def _write(
        dest: LogSegment,
        out: list[bytes],
        appended: list[tuple[int, int, int]],
        on_io: Callable[[int], None],
    ) -> None:
        data = b"".join(out)
        dest.append(data, appended)
        on_io(len(data))


def remove_cleaned_leftovers(log: Log, base: int) -> None:
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
        (log.directory / (segment_file_name(base, suffix) + CLEANED_SUFFIX)).unlink(missing_ok=True)


# ----------------------------------------------------------------------- batch filter


def _is_last_batch_of_producer(header: RecordBatchHeader, last: LastRecord | None) -> bool:
    if last is None:
        return False
    if last.last_data_offset is not None:
        return header.last_offset == last.last_data_offset
    return header.is_control and header.producer_epoch == last.producer_epoch


def filter_batch(data: bytes, header: RecordBatchHeader, ctx: _PassContext) -> bytes | None:
    """The batch as it should appear in the cleaned segment: ``data`` itself, a rewritten
    batch, an empty batch (producer state), or None (dropped). Kafka's filterTo."""
    stats = ctx.stats
    if header.is_control:
        control_type = read_control_type(data)
        can_discard = ctx.txn.on_control_batch_read(header, control_type)
        horizon = delete_horizon_ms(header)
        discard_records = can_discard and horizon is not None and horizon <= ctx.now_ms
    else:
        can_discard = ctx.txn.on_batch_read(header)
        discard_records = can_discard
    if header.has_producer_id and _is_last_batch_of_producer(
        header, ctx.last_records.get(header.producer_id)
    ):
        retention = "retain_empty"
    elif discard_records:
        return None
    else:
        retention = "delete_empty"
    marker_for_empty_txn = can_discard and header.is_control

    _, records = decode_batch(data)
    stats.messages_read += len(records)
    retained: list[Record] = []
    if not discard_records:
        if header.is_control:
            retained = records
        else:
            retained = [r for r in records if _should_retain_record(header, r, ctx)]
    contains_tombstones = any(r.value is None for r in retained)
    if retained:
        need_horizon = (contains_tombstones or marker_for_empty_txn) and delete_horizon_ms(
            header
        ) is None
        if len(retained) == len(records) and not need_horizon:
            stats.messages_written += len(retained)
            return data
        if need_horizon:
            horizon_ms: int | None = ctx.now_ms + ctx.delete_retention_ms
        else:
            horizon_ms = delete_horizon_ms(header)
        stats.messages_written += len(retained)
        return _rebuild(header, retained, horizon_ms)
    if retention == "retain_empty":
        return encode_batch(
            [],
            base_offset=header.base_offset,
            last_offset_delta=header.last_offset_delta,
            timestamp_type=header.timestamp_type,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            is_transactional=header.is_transactional,
            is_control=header.is_control,
            partition_leader_epoch=header.partition_leader_epoch,
            base_timestamp=header.max_timestamp,
        )
    return None


def _should_retain_record(header: RecordBatchHeader, record: Record, ctx: _PassContext) -> bool:
    if record.offset > ctx.offset_map.latest_offset:
        return True
    if record.key is None:
        ctx.stats.invalid_messages += 1
        return False
    if record.offset < ctx.offset_map.get(record.key):
        return False
    if record.value is not None:
        return True
    horizon = delete_horizon_ms(header)
    return horizon is None or ctx.now_ms < horizon


def _rebuild(header: RecordBatchHeader, retained: list[Record], horizon_ms: int | None) -> bytes:
    """Re-encode the retained records as the original batch would have been (same base
    offset, last offset delta, producer fields, flags and codec)."""
    batch = bytearray(reencode_batch(header, retained, base_timestamp=horizon_ms))
    if horizon_ms is not None:
        (attributes,) = _ATTRIBUTES.unpack_from(batch, 21)
        _ATTRIBUTES.pack_into(batch, 21, attributes | DELETE_HORIZON_FLAG)
        fix_crc(batch, 0)
    return bytes(batch)


__all__ = [
    "LOG_OVERHEAD",
    "Cleaner",
    "CleanerAbortedError",
    "CleanerStats",
    "LastRecord",
    "LogToClean",
    "delete_horizon_ms",
    "filter_batch",
    "group_segments_by_size",
]
