"""Loading and crash recovery of one partition log (Kafka's LogLoader).

Steps, all blocking (run in a worker thread):

1. ``partition.metadata``: write the topic id if absent, refuse a different one.
2. Leftovers: ``*.deleted`` and ``*.cleaned`` files are removed; a ``.log.swap``
   (an interrupted compaction swap) replaces the live segments it covers and
   becomes live; other ``*.swap`` files and index files without a ``.log`` are
   removed. This matches ``Log.replace_segments``: the cleaner renames the
   cleaned ``.index``/``.timeindex``/``.txnindex`` to ``.swap`` before the
   ``.log``, so a ``.log.swap`` exists only once every file of the cleaned
   segment is complete and fsynced (the commit point). Without one, the old
   segments are intact (rolled back: ``.cleaned`` and index ``.swap`` files
   go); with one, every live segment starting in ``[swap base, swap next
   offset)`` is deleted and the swap renamed live (rolled forward). The
   swapped segment's offset/time indexes are rebuilt from the log (which
   re-validates every batch's CRC); its ``.txnindex.swap`` is kept.
3. Every segment is opened; a missing index or one failing its sanity check is
   rebuilt by recovering that segment.
4. Without a clean shutdown every segment from the one holding the recovery
   point onwards is recovered (size, magic, CRC32C, increasing offsets); the
   first corrupt or torn batch truncates its segment and every later segment is
   deleted.
5. LEO = the offset after the last valid batch. The leader epoch cache is cut to
   [log start, LEO]; producer state is loaded from the newest snapshot and the
   batches after it are replayed.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from protocol.errors import CorruptRecordError, ErrorCode, KafkaError
from protocol.record_batch import HEADER_SIZE, RecordBatchHeader, read_header
from storage.clock import Clock
from storage.leader_epoch import LeaderEpochFileCache
from storage.log import (
    LEADER_EPOCH_CHECKPOINT,
    Log,
    read_partition_metadata,
    replay_producer_state,
    write_partition_metadata,
)
from storage.log_config import LogConfig
from storage.log_segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    LogSegment,
    open_segment_checked,
    segment_file_name,
)
from storage.producer_state import ProducerStateManager

logger = logging.getLogger(__name__)

_SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)


def load_log(
    directory: Path,
    config: LogConfig,
    clock: Clock,
    *,
    log_start_offset: int = 0,
    recovery_point: int = 0,
    had_clean_shutdown: bool = False,
    producer_id_expiration_ms: int = 86_400_000,
    topic_id: uuid.UUID | None = None,
) -> Log:
    directory.mkdir(parents=True, exist_ok=True)
    existing_id = read_partition_metadata(directory)
    if topic_id is not None and existing_id is not None and existing_id != topic_id:
        raise KafkaError(
            f"{directory} belongs to topic id {existing_id}, not {topic_id}",
            ErrorCode.inconsistent_topic_id,
        )
    if topic_id is not None and existing_id is None:
        write_partition_metadata(directory, topic_id)
    topic_id = topic_id or existing_id

    _remove_temp_files_and_complete_swaps(directory)
    bases = sorted(
        int(p.name[: -len(LOG_SUFFIX)])
        for p in directory.iterdir()
        if p.name.endswith(LOG_SUFFIX) and p.name[: -len(LOG_SUFFIX)].isdigit()
    )
    now = clock.milliseconds()
    segments: list[LogSegment] = []
    needs_recovery: set[int] = set()
    for base in bases:
        segment, broken = open_segment_checked(
            directory,
            base,
            index_interval_bytes=config.index_interval_bytes,
            max_index_size=config.segment_index_bytes,
            created_ms=now,
        )
        segments.append(segment)
        if broken:
            needs_recovery.add(base)

    epoch_cache = LeaderEpochFileCache(directory / LEADER_EPOCH_CHECKPOINT)

    def on_batch(_pos: int, header: RecordBatchHeader) -> None:
        epoch = header.partition_leader_epoch
        if epoch >= 0 and epoch > epoch_cache.latest_epoch:
            epoch_cache.assign(epoch, header.base_offset)

    i = 0
    while i < len(segments):
        segment = segments[i]
        next_base = segments[i + 1].base_offset if i + 1 < len(segments) else None
        unflushed = not had_clean_shutdown and (next_base is None or next_base > recovery_point)
        if unflushed or segment.base_offset in needs_recovery:
            truncated = segment.recover(on_batch)
            if next_base is not None:
                segment.on_become_inactive()
            if truncated and unflushed:
                for later in segments[i + 1 :]:
                    later.delete()
                del segments[i + 1 :]
        i += 1

    if segments:
        try:
            log_end_offset = segments[-1].read_next_offset()
        except CorruptRecordError:
            # The marker said clean, yet the active segment's tail is not a valid
            # batch (edited or damaged since): recover it rather than fail the log.
            logger.warning(
                "corrupt tail in %s despite a clean shutdown; recovering it", segments[-1].log_path
            )
            segments[-1].recover(on_batch)
            log_end_offset = segments[-1].read_next_offset()
        log_start_offset = max(log_start_offset, segments[0].base_offset)
    else:
        log_end_offset = log_start_offset
    if log_start_offset > log_end_offset:
        # Everything below the checkpointed log start is gone: start afresh there.
        for segment in segments:
            segment.delete()
        segments = []
        log_end_offset = log_start_offset
    if segments:
        segments[-1].resize_indexes(config.segment_index_bytes)

    epoch_cache.truncate_from_end(log_end_offset)
    epoch_cache.truncate_from_start(log_start_offset)
    producer_state = ProducerStateManager(directory, clock, producer_id_expiration_ms)
    log = Log(
        directory,
        config,
        clock,
        segments,
        log_start_offset=log_start_offset,
        log_end_offset=log_end_offset,
        recovery_point=log_end_offset if had_clean_shutdown else recovery_point,
        producer_state=producer_state,
        leader_epoch_cache=epoch_cache,
        topic_id=topic_id,
    )
    replay_from = producer_state.load_snapshot(log_start_offset, log_end_offset)
    replay_producer_state(log, max(replay_from, log_start_offset), log_end_offset)
    return log


def _segment_files(directory: Path, base: int) -> list[Path]:
    return [directory / segment_file_name(base, suffix) for suffix in _SEGMENT_SUFFIXES]


def _remove_temp_files_and_complete_swaps(directory: Path) -> None:
    names = sorted(p.name for p in directory.iterdir() if p.is_file())
    log_swaps: list[int] = []
    for name in names:
        path = directory / name
        if name.endswith((DELETED_SUFFIX, CLEANED_SUFFIX)):
            path.unlink(missing_ok=True)
        elif name.endswith(LOG_SUFFIX + SWAP_SUFFIX):
            stem = name[: -len(LOG_SUFFIX + SWAP_SUFFIX)]
            if stem.isdigit():
                log_swaps.append(int(stem))
            else:
                path.unlink(missing_ok=True)
        elif name.endswith(SWAP_SUFFIX) and not name.endswith(TXN_INDEX_SUFFIX + SWAP_SUFFIX):
            path.unlink(missing_ok=True)  # offset/time index swaps: rebuilt from the log
    for base in log_swaps:
        swap = directory / (segment_file_name(base, LOG_SUFFIX) + SWAP_SUFFIX)
        next_offset = _next_offset_of_file(swap, base)
        for p in list(directory.iterdir()):
            stem, _, suffix = p.name.partition(".")
            if stem.isdigit() and "." + suffix in _SEGMENT_SUFFIXES:
                b = int(stem)
                if base <= b < next_offset or b == base:
                    p.unlink(missing_ok=True)
        os.replace(swap, directory / segment_file_name(base, LOG_SUFFIX))
        txn_swap = directory / (segment_file_name(base, TXN_INDEX_SUFFIX) + SWAP_SUFFIX)
        if txn_swap.exists():
            os.replace(txn_swap, directory / segment_file_name(base, TXN_INDEX_SUFFIX))
    for name in os.listdir(directory):
        if name.endswith(TXN_INDEX_SUFFIX + SWAP_SUFFIX):
            (directory / name).unlink(missing_ok=True)
    # Index files whose log is gone.
    logs = {n[: -len(LOG_SUFFIX)] for n in os.listdir(directory) if n.endswith(LOG_SUFFIX)}
    for name in os.listdir(directory):
        stem, _, suffix = name.partition(".")
        if stem.isdigit() and "." + suffix in _SEGMENT_SUFFIXES[1:] and stem not in logs:
            (directory / name).unlink(missing_ok=True)


def _next_offset_of_file(path: Path, base: int) -> int:
    next_offset = base
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while size - pos >= HEADER_SIZE:
            try:
                header = read_header(os.pread(fd, HEADER_SIZE, pos))
            except CorruptRecordError:
                break
            if pos + header.size > size:
                break
            next_offset = header.next_offset
            pos += header.size
    finally:
        os.close(fd)
    return next_offset
