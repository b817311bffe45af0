"""Per-partition state of idempotent and transactional producers (Kafka's ProducerStateManager).

For every producer id that wrote to the partition it keeps the epoch, the
metadata of the last five batches (sequence range, offset range, max timestamp),
the coordinator epoch of the last transaction marker, the first offset of an
ongoing transaction and the last timestamp. From that it

- validates produce requests (``check_batch``): epoch fencing, sequence order,
  duplicate detection of any of the last five batches (the broker answers a
  duplicate with the original offsets and error NONE), transactional state;
- tracks ongoing transactions so the log can compute its last stable offset
  (``first_unstable_offset``) and write aborted transactions to the ``.txnindex``.

Call order on the leader, per batch (a request with several batches for the
same producer: check, append and update each in turn)::

    dup = psm.check_batch(header)          # raises KafkaError, or returns DuplicateBatch
    ... append ...
    completed = psm.update(header, first_offset, last_offset, now_ms, control_type=...)
    if completed is not None:
        lso = psm.complete_txn(completed)  # returns the LSO to write into the index
        if completed.is_aborted:
            txn_index.append(completed.to_aborted_txn(lso))

Followers and recovery use ``replay_batch`` (no checks; completes transactions
itself and returns the AbortedTxn to index, if any).

Snapshot file ``<20-digit offset>.snapshot`` in the partition dir, Kafka's
``ProducerSnapshot`` v1 layout (big-endian, not flexible)::

    version        int16   1
    crc            uint32  CRC32C of every byte after this field
    count          int32   number of entries
    entries: producerId int64, epoch int16, lastSequence int32, lastOffset int64,
             offsetDelta int32, timestamp int64, coordinatorEpoch int32,
             currentTxnFirstOffset int64 (-1 when none)

The offset in the name is the map end offset: the state reflects every batch
below it. Only the last batch of each producer survives a snapshot (as in
Kafka), so after a reload only a retry of that batch is recognised as a duplicate.

Writing a snapshot blocks on fsync (``take_snapshot``, ``truncate_and_reload``
deletes files too): call those from a worker thread. The manager is not
thread-safe; the owning ``Log`` serialises access under its lock.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, NamedTuple

import crc32c

from protocol.errors import ErrorCode, KafkaError
from protocol.record_batch import (
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    NO_TIMESTAMP,
    RecordBatchHeader,
    TimestampType,
)
from storage.checkpoint import fsync_dir, write_atomically
from storage.clock import Clock
from storage.transaction_index import AbortedTxn

__all__ = [
    "CONTROL_ABORT",
    "CONTROL_COMMIT",
    "NUM_BATCHES_TO_RETAIN",
    "BatchMetadata",
    "CompletedTxn",
    "CorruptSnapshotError",
    "DuplicateBatch",
    "ProducerStateEntry",
    "ProducerStateManager",
    "TxnMetadata",
    "read_snapshot",
    "snapshot_path",
    "write_snapshot",
]

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN: Final = 5
INT32_MAX: Final = (1 << 31) - 1
CONTROL_ABORT: Final = 0
CONTROL_COMMIT: Final = 1
SNAPSHOT_SUFFIX: Final = ".snapshot"
SNAPSHOT_VERSION: Final = 1
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snapshot$")
_SNAP_HEADER = struct.Struct(">hIi")  # version, crc, entry count
_SNAP_ENTRY = struct.Struct(">qhiqiqiq")
_CRC_START: Final = 6  # CRC covers everything after version + crc


class CorruptSnapshotError(Exception):
    """A producer snapshot that fails its version, size or CRC check."""


# --------------------------------------------------------------------------- data


class BatchMetadata(NamedTuple):
    """One retained batch of a producer (what duplicate detection compares against)."""

    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        return _decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


class DuplicateBatch(NamedTuple):
    """A retried batch already in the log: answer NONE with these offsets, append nothing."""

    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction ended by a marker at ``last_offset`` (returned by ``update``)."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool

    def to_aborted_txn(self, last_stable_offset: int) -> AbortedTxn:
        return AbortedTxn(self.producer_id, self.first_offset, self.last_offset, last_stable_offset)


@dataclass(slots=True)
class TxnMetadata:
    producer_id: int
    first_offset: int
    last_offset: int | None = None  # set when completed (marker offset)


class ProducerStateEntry:
    """State of one producer id. Batches are oldest first; at most five are kept."""

    __slots__ = (
        "batches",
        "coordinator_epoch",
        "current_txn_first_offset",
        "last_timestamp",
        "producer_epoch",
        "producer_id",
    )

    def __init__(
        self,
        producer_id: int,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        coordinator_epoch: int = -1,
        last_timestamp: int = NO_TIMESTAMP,
        current_txn_first_offset: int | None = None,
        batches: Iterable[BatchMetadata] = (),
    ) -> None:
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.coordinator_epoch = coordinator_epoch
        self.last_timestamp = last_timestamp
        self.current_txn_first_offset = current_txn_first_offset
        self.batches: deque[BatchMetadata] = deque(batches, maxlen=NUM_BATCHES_TO_RETAIN)

    @property
    def is_empty(self) -> bool:
        return not self.batches

    @property
    def first_seq(self) -> int:
        return self.batches[0].first_seq if self.batches else NO_SEQUENCE

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def first_data_offset(self) -> int:
        return self.batches[0].first_offset if self.batches else -1

    @property
    def last_data_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    @property
    def last_offset_delta(self) -> int:
        return self.batches[-1].offset_delta if self.batches else 0

    def maybe_update_epoch(self, epoch: int) -> None:
        if epoch != self.producer_epoch:
            self.batches.clear()
            self.producer_epoch = epoch

    def add_batch(
        self, epoch: int, last_seq: int, last_offset: int, offset_delta: int, timestamp: int
    ) -> None:
        self.maybe_update_epoch(epoch)
        self.batches.append(BatchMetadata(last_seq, last_offset, offset_delta, timestamp))
        self.last_timestamp = timestamp

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.producer_epoch:
            return None
        for batch in self.batches:
            if batch.last_seq == last_seq and batch.first_seq == first_seq:
                return batch
        return None

    def copy(self) -> ProducerStateEntry:
        return ProducerStateEntry(
            self.producer_id,
            self.producer_epoch,
            self.coordinator_epoch,
            self.last_timestamp,
            self.current_txn_first_offset,
            self.batches,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProducerStateEntry):
            return NotImplemented
        return (
            self.producer_id == other.producer_id
            and self.producer_epoch == other.producer_epoch
            and self.coordinator_epoch == other.coordinator_epoch
            and self.last_timestamp == other.last_timestamp
            and self.current_txn_first_offset == other.current_txn_first_offset
            and list(self.batches) == list(other.batches)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ProducerStateEntry(producer_id={self.producer_id}, epoch={self.producer_epoch}, "
            f"coordinator_epoch={self.coordinator_epoch}, last_timestamp={self.last_timestamp}, "
            f"txn_first_offset={self.current_txn_first_offset}, batches={list(self.batches)})"
        )


def _decrement_sequence(sequence: int, decrement: int) -> int:
    # Kafka's DefaultRecordBatch.decrementSequence: sequences wrap at Int32.MAX.
    if sequence < decrement:
        return INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


# ---------------------------------------------------------------------- snapshots


def snapshot_path(partition_dir: Path, offset: int) -> Path:
    return partition_dir / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def write_snapshot(path: Path, entries: Iterable[ProducerStateEntry], *, sync: bool = True) -> None:
    """Serialise ``entries`` in Kafka's ProducerSnapshot v1 format, atomically. Blocking."""
    items = list(entries)
    buf = bytearray(_SNAP_HEADER.size + _SNAP_ENTRY.size * len(items))
    pos = _SNAP_HEADER.size
    for e in items:
        txn_first = -1 if e.current_txn_first_offset is None else e.current_txn_first_offset
        _SNAP_ENTRY.pack_into(
            buf,
            pos,
            e.producer_id,
            e.producer_epoch,
            e.last_seq,
            e.last_data_offset,
            e.last_offset_delta,
            e.last_timestamp,
            e.coordinator_epoch,
            txn_first,
        )
        pos += _SNAP_ENTRY.size
    _SNAP_HEADER.pack_into(buf, 0, SNAPSHOT_VERSION, 0, len(items))
    crc = crc32c.crc32c(memoryview(buf)[_CRC_START:])
    struct.pack_into(">I", buf, 2, crc)
    write_atomically(path, bytes(buf), sync=sync)


def read_snapshot(path: Path) -> list[ProducerStateEntry]:
    """Parse a snapshot file; raises CorruptSnapshotError if it is not valid."""
    data = path.read_bytes()
    if len(data) < _SNAP_HEADER.size:
        raise CorruptSnapshotError(f"snapshot {path} is truncated ({len(data)} bytes)")
    version, crc, count = _SNAP_HEADER.unpack_from(data, 0)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"snapshot {path} has unknown version {version}")
    if count < 0 or len(data) != _SNAP_HEADER.size + count * _SNAP_ENTRY.size:
        raise CorruptSnapshotError(f"snapshot {path} has size {len(data)} for {count} entries")
    computed = crc32c.crc32c(memoryview(data)[_CRC_START:])
    if computed != crc:
        raise CorruptSnapshotError(
            f"snapshot {path} is corrupt: stored crc {crc}, computed crc {computed}"
        )
    entries: list[ProducerStateEntry] = []
    for (
        pid,
        epoch,
        last_seq,
        last_offset,
        offset_delta,
        timestamp,
        coord_epoch,
        txn_first,
    ) in _SNAP_ENTRY.iter_unpack(memoryview(data)[_SNAP_HEADER.size :]):
        batches = (
            [BatchMetadata(last_seq, last_offset, offset_delta, timestamp)]
            if last_offset >= 0
            else []
        )
        entries.append(
            ProducerStateEntry(
                pid, epoch, coord_epoch, timestamp, txn_first if txn_first >= 0 else None, batches
            )
        )
    return entries


def _list_snapshot_offsets(partition_dir: Path) -> list[int]:
    try:
        names = os.listdir(partition_dir)
    except FileNotFoundError:
        return []
    offsets = []
    for name in names:
        m = _SNAPSHOT_NAME.match(name)
        if m is not None:
            offsets.append(int(m.group(1)))
    offsets.sort()
    return offsets


# ------------------------------------------------------------------------ manager


class ProducerStateManager:
    """Producer id → ProducerStateEntry for one partition, plus ongoing transactions."""

    def __init__(
        self, partition_dir: Path, clock: Clock, producer_id_expiration_ms: int = 86_400_000
    ) -> None:
        self.partition_dir = Path(partition_dir)
        self.clock = clock
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._producers: dict[int, ProducerStateEntry] = {}
        # Ongoing transactions keyed by first offset. Transactions begin in log order,
        # so insertion order is first-offset order (loads sort before inserting).
        self._ongoing: dict[int, TxnMetadata] = {}
        # Completed transactions whose markers may still be above the high watermark.
        self._unreplicated: dict[int, TxnMetadata] = {}
        self._snapshots: list[int] = _list_snapshot_offsets(self.partition_dir)
        self._map_end_offset = 0
        self._last_snap_offset = 0

    # ------------------------------------------------------------------ views

    @property
    def producers(self) -> Mapping[int, ProducerStateEntry]:
        """Read-only view of active producers (entries are live objects: do not mutate)."""
        return MappingProxyType(self._producers)

    @property
    def ongoing_txns(self) -> Mapping[int, TxnMetadata]:
        """Ongoing transactions by first offset, in ascending first-offset order."""
        return MappingProxyType(self._ongoing)

    @property
    def unreplicated_txns(self) -> Mapping[int, TxnMetadata]:
        return MappingProxyType(self._unreplicated)

    @property
    def map_end_offset(self) -> int:
        """Every batch below this offset is reflected in the state."""
        return self._map_end_offset

    @property
    def is_empty(self) -> bool:
        return not self._producers and not self._unreplicated

    @property
    def producer_id_count(self) -> int:
        return len(self._producers)

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self._producers.get(producer_id)

    @property
    def last_snapshot_offset(self) -> int | None:
        return self._snapshots[-1] if self._snapshots else None

    @property
    def oldest_snapshot_offset(self) -> int | None:
        return self._snapshots[0] if self._snapshots else None

    @property
    def snapshot_offsets(self) -> list[int]:
        return list(self._snapshots)

    def first_undecided_offset(self) -> int | None:
        """First offset of the earliest transaction without a marker yet."""
        for first_offset in self._ongoing:
            return first_offset
        return None

    def first_unstable_offset(self) -> int | None:
        """Earliest offset of a transaction that is undecided, or decided above the HW.

        The log's last stable offset is this value, or the high watermark if None.
        """
        undecided = self.first_undecided_offset()
        if not self._unreplicated:
            return undecided
        unreplicated = min(self._unreplicated)
        if undecided is None or unreplicated < undecided:
            return unreplicated
        return undecided

    # ------------------------------------------------------------- validation

    def check_batch(
        self,
        header: RecordBatchHeader,
        *,
        from_client: bool = True,
        coordinator_epoch: int | None = None,
    ) -> DuplicateBatch | None:
        """Validate a batch before it is appended by the leader.

        Returns a DuplicateBatch when it repeats one of the producer's last five
        batches (the broker replies NONE with the original offsets and does not
        append), None when it may be appended; raises KafkaError otherwise.
        ``from_client=False`` (group/transaction coordinator appends) checks the
        epoch only, like Kafka's AppendOrigin.COORDINATOR.
        """
        pid = header.producer_id
        if pid < 0:
            return None
        entry = self._producers.get(pid)
        if entry is None:
            # Kafka (ProducerAppendInfo.checkSequence) starts from an empty entry whose
            # epoch is NO_PRODUCER_EPOCH: "if there is no current producer epoch (possibly
            # because all producer records have been deleted due to retention or the
            # DeleteRecords API) accept writes with any sequence number". So an unknown
            # producer is accepted with any sequence and UNKNOWN_PRODUCER_ID is never
            # returned by current brokers (KIP-360).
            return None
        epoch = header.producer_epoch
        known_epoch = entry.producer_epoch
        if epoch < known_epoch:
            # Since Kafka 2.7 a produce with a stale epoch gets INVALID_PRODUCER_EPOCH.
            raise KafkaError(
                f"epoch {epoch} of producer {pid} at offset {header.base_offset} is smaller "
                f"than the last seen epoch {known_epoch}",
                ErrorCode.invalid_producer_epoch,
            )
        if header.is_control:
            if coordinator_epoch is not None and entry.coordinator_epoch > coordinator_epoch:
                raise KafkaError(
                    f"coordinator epoch {coordinator_epoch} of marker for producer {pid} is "
                    f"older than {entry.coordinator_epoch}",
                    ErrorCode.transaction_coordinator_fenced,
                )
            return None
        if from_client:
            first_seq = header.base_sequence
            if epoch != known_epoch:
                if first_seq != 0 and known_epoch != NO_PRODUCER_EPOCH:
                    raise KafkaError(
                        f"invalid sequence {first_seq} for new epoch {epoch} of producer {pid} "
                        f"(current epoch {known_epoch})",
                        ErrorCode.out_of_order_sequence_number,
                    )
            else:
                batches = entry.batches
                last_seq = batches[-1].last_seq if batches else NO_SEQUENCE
                if not (first_seq == last_seq + 1 or (first_seq == 0 and last_seq == INT32_MAX)):
                    dup = entry.find_duplicate(epoch, first_seq, header.last_sequence)
                    if dup is not None:
                        return DuplicateBatch(dup.first_offset, dup.last_offset, dup.timestamp)
                    if known_epoch != NO_PRODUCER_EPOCH:
                        raise KafkaError(
                            f"out of order sequence {first_seq} for producer {pid} at offset "
                            f"{header.base_offset}: expected {_next_seq(last_seq)}",
                            ErrorCode.out_of_order_sequence_number,
                        )
        if entry.current_txn_first_offset is not None and not header.is_transactional:
            raise KafkaError(
                f"expected a transactional write from producer {pid} "
                f"(transaction open since offset {entry.current_txn_first_offset})",
                ErrorCode.invalid_txn_state,
            )
        return None

    # ---------------------------------------------------------------- updates

    def update(
        self,
        header: RecordBatchHeader,
        first_offset: int,
        last_offset: int,
        append_time_ms: int,
        *,
        control_type: int | None = None,
        coordinator_epoch: int = -1,
    ) -> CompletedTxn | None:
        """Record an appended batch (after ``check_batch`` and the append succeeded).

        ``append_time_ms`` is recorded as the batch timestamp when the batch uses
        LogAppendTime or has no timestamp; otherwise its max timestamp is (as in Kafka).
        For a control batch pass ``control_type`` (CONTROL_ABORT/CONTROL_COMMIT) and
        the marker's ``coordinator_epoch``. Returns the transaction a marker ended
        (non-empty transactions only); the caller then calls ``complete_txn``.
        Also advances ``map_end_offset`` to ``last_offset + 1``.
        """
        if last_offset + 1 > self._map_end_offset:
            self._map_end_offset = last_offset + 1
        pid = header.producer_id
        if pid < 0:
            return None
        ts = header.max_timestamp
        if ts < 0 or header.timestamp_type == TimestampType.LOG_APPEND_TIME:
            ts = append_time_ms
        entry = self._producers.get(pid)
        if entry is None:
            entry = self._producers[pid] = ProducerStateEntry(pid)
        if header.is_control:
            return self._end_txn(
                entry, header.producer_epoch, first_offset, ts, control_type, coordinator_epoch
            )
        entry.add_batch(
            header.producer_epoch, header.last_sequence, last_offset, last_offset - first_offset, ts
        )
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = first_offset
            self._ongoing[first_offset] = TxnMetadata(pid, first_offset)
        return None

    def _end_txn(
        self,
        entry: ProducerStateEntry,
        epoch: int,
        marker_offset: int,
        timestamp: int,
        control_type: int | None,
        coordinator_epoch: int,
    ) -> CompletedTxn | None:
        completed = None
        if entry.current_txn_first_offset is not None:
            completed = CompletedTxn(
                entry.producer_id,
                entry.current_txn_first_offset,
                marker_offset,
                control_type == CONTROL_ABORT,
            )
        entry.maybe_update_epoch(epoch)
        entry.coordinator_epoch = coordinator_epoch
        entry.current_txn_first_offset = None
        entry.last_timestamp = timestamp
        return completed

    def replay_batch(
        self,
        header: RecordBatchHeader,
        *,
        control_type: int | None = None,
        coordinator_epoch: int = -1,
    ) -> AbortedTxn | None:
        """Apply a batch already in the log (recovery, followers): no validation.

        Offsets come from the header. A transaction ended by a marker is completed
        here; returns the AbortedTxn to write to the segment's ``.txnindex`` when the
        marker is an ABORT (pass ``control_type``; without it a marker still ends the
        transaction but nothing is returned for the index).
        """
        completed = self.update(
            header,
            header.base_offset,
            header.last_offset,
            header.max_timestamp,
            control_type=control_type,
            coordinator_epoch=coordinator_epoch,
        )
        if completed is None:
            return None
        lso = self.complete_txn(completed)
        return completed.to_aborted_txn(lso) if completed.is_aborted else None

    def update_map_end_offset(self, offset: int) -> None:
        """Set the map end offset (the log calls this for appends without producer ids too)."""
        self._map_end_offset = offset

    def last_stable_offset(self, completed: CompletedTxn) -> int:
        """LSO right after ``completed`` ends: first other ongoing txn, else marker + 1."""
        for txn in self._ongoing.values():
            if txn.producer_id != completed.producer_id:
                return txn.first_offset
        return completed.last_offset + 1

    def complete_txn(self, completed: CompletedTxn) -> int:
        """Mark a transaction decided; it stays unstable until the HW passes its marker.

        Returns the last stable offset to store in the AbortedTxn (computed first,
        as Kafka does before completing).
        """
        lso = self.last_stable_offset(completed)
        txn = self._ongoing.pop(completed.first_offset, None)
        if txn is None:
            raise ValueError(f"transaction {completed} was not started")
        txn.last_offset = completed.last_offset
        self._unreplicated[completed.first_offset] = txn
        return lso

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        self._remove_unreplicated(high_watermark)

    def _remove_unreplicated(self, offset: int) -> None:
        if self._unreplicated:
            done = [
                k
                for k, t in self._unreplicated.items()
                if t.last_offset is not None and t.last_offset < offset
            ]
            for k in done:
                del self._unreplicated[k]

    def on_log_start_offset_incremented(self, log_start_offset: int) -> None:
        self._remove_unreplicated(log_start_offset)
        if self._map_end_offset < log_start_offset:
            self._map_end_offset = log_start_offset
        last = self.last_snapshot_offset
        self._last_snap_offset = log_start_offset if last is None else last

    def remove_expired_producers(self, now_ms: int | None = None) -> int:
        """Forget producers idle for ``producer_id_expiration_ms`` without an open txn."""
        now = self.clock.milliseconds() if now_ms is None else now_ms
        expired = [pid for pid, e in self._producers.items() if self._is_expired(now, e)]
        for pid in expired:
            del self._producers[pid]
        return len(expired)

    def _is_expired(self, now_ms: int, entry: ProducerStateEntry) -> bool:
        return (
            entry.current_txn_first_offset is None
            and now_ms - entry.last_timestamp >= self.producer_id_expiration_ms
        )

    def has_late_transaction(self, now_ms: int, max_transaction_timeout_ms: int) -> bool:
        """An ongoing transaction idle well past the max timeout (Kafka adds 5 minutes)."""
        first = self.first_undecided_offset()
        if first is None:
            return False
        entry = self._producers.get(self._ongoing[first].producer_id)
        if entry is None or entry.last_timestamp <= 0:
            return False
        return now_ms - entry.last_timestamp > max_transaction_timeout_ms + 5 * 60 * 1000

    # -------------------------------------------------------------- snapshots

    def take_snapshot(self, offset: int | None = None, *, sync: bool = True) -> Path | None:
        """Write the state as ``<offset>.snapshot`` (default: at ``map_end_offset``).

        Without an explicit offset nothing is written unless the map moved past the
        last snapshot (as in Kafka). Blocking (fsync): call from a worker thread.
        """
        if offset is None:
            if self._map_end_offset <= self._last_snap_offset:
                return None
            offset = self._map_end_offset
        path = snapshot_path(self.partition_dir, offset)
        write_snapshot(path, self._producers.values(), sync=sync)
        if offset not in self._snapshots:
            self._snapshots.append(offset)
            self._snapshots.sort()
        self._last_snap_offset = offset
        return path

    def take_snapshot_at_close(self, offset: int) -> None:
        """The snapshot a closing log writes, unless one at ``offset`` exists already (an
        idle partition's state did not move since it was loaded or last rolled)."""
        if offset == self._last_snap_offset and snapshot_path(self.partition_dir, offset).exists():
            return
        self.take_snapshot(offset)

    def load_snapshot(self, log_start_offset: int, log_end_offset: int) -> int:
        """Reset the state from the newest valid snapshot in [log_start, log_end].

        Snapshots above ``log_end_offset`` or below ``log_start_offset`` are deleted,
        corrupt ones are deleted and skipped. Producers already expired are not
        loaded. Returns the offset from which the log must replay batches with
        ``replay_batch`` (the snapshot's offset, or ``log_start_offset`` if none).
        """
        self._delete_out_of_range(log_start_offset, log_end_offset)
        self._clear_state()
        return self._load_latest(log_start_offset)

    def truncate_and_reload(self, log_start_offset: int, log_end_offset: int) -> int:
        """After a truncation: drop out-of-range snapshots and reload if the end moved.

        Returns the offset from which batches must be replayed (``map_end_offset``).
        """
        self._delete_out_of_range(log_start_offset, log_end_offset)
        if log_end_offset != self._map_end_offset:
            self._clear_state()
            return self._load_latest(log_start_offset)
        self.on_log_start_offset_incremented(log_start_offset)
        return self._map_end_offset

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Forget everything and delete all snapshots (log truncated fully / recreated)."""
        self._clear_state()
        for snap in list(self._snapshots):
            self._delete_snapshot(snap)
        self._last_snap_offset = 0
        self._map_end_offset = offset

    def delete_snapshots_below(self, offset: int) -> None:
        """Delete snapshot files whose offset is < ``offset``."""
        for snap in [s for s in self._snapshots if s < offset]:
            self._delete_snapshot(snap)

    def remove_stray_snapshots(self, segment_base_offsets: Iterable[int]) -> None:
        """Delete snapshots matching no segment, except the newest one above every segment."""
        bases = set(segment_base_offsets)
        self._snapshots = _list_snapshot_offsets(self.partition_dir)
        strays = [s for s in self._snapshots if s not in bases]
        for s in strays[:-1]:
            self._delete_snapshot(s)
        if strays and bases and strays[-1] < max(bases):
            self._delete_snapshot(strays[-1])

    def _delete_out_of_range(self, log_start_offset: int, log_end_offset: int) -> None:
        for snap in list(self._snapshots):
            if snap > log_end_offset or snap < log_start_offset:
                self._delete_snapshot(snap)

    def _delete_snapshot(self, offset: int) -> None:
        if offset in self._snapshots:
            self._snapshots.remove(offset)
        try:
            snapshot_path(self.partition_dir, offset).unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.partition_dir)

    def _clear_state(self) -> None:
        self._producers.clear()
        self._ongoing.clear()
        self._unreplicated.clear()

    def _load_latest(self, log_start_offset: int) -> int:
        now = self.clock.milliseconds()
        while self._snapshots:
            offset = self._snapshots[-1]
            path = snapshot_path(self.partition_dir, offset)
            try:
                entries = read_snapshot(path)
            except (CorruptSnapshotError, FileNotFoundError) as exc:
                log.warning("skipping producer snapshot %s: %s", path, exc)
                self._delete_snapshot(offset)
                continue
            self._load_entries(e for e in entries if not self._is_expired(now, e))
            self._last_snap_offset = offset
            self._map_end_offset = offset
            return offset
        self._last_snap_offset = log_start_offset
        self._map_end_offset = log_start_offset
        return log_start_offset

    def _load_entries(self, entries: Iterable[ProducerStateEntry]) -> None:
        ongoing: list[TxnMetadata] = []
        for entry in entries:
            self._producers[entry.producer_id] = entry
            if entry.current_txn_first_offset is not None:
                ongoing.append(TxnMetadata(entry.producer_id, entry.current_txn_first_offset))
        for txn in sorted(ongoing, key=lambda t: t.first_offset):
            self._ongoing[txn.first_offset] = txn

    def load_producer_entry(self, entry: ProducerStateEntry) -> None:
        """Insert an entry directly (tests, tools)."""
        self._load_entries([entry])
        if entry.current_txn_first_offset is not None and len(self._ongoing) > 1:
            self._ongoing = dict(sorted(self._ongoing.items()))

    def __repr__(self) -> str:
        return (
            f"ProducerStateManager({self.partition_dir}, producers={len(self._producers)}, "
            f"map_end_offset={self._map_end_offset})"
        )


def _next_seq(last_seq: int) -> int:
    return 0 if last_seq == INT32_MAX else last_seq + 1
