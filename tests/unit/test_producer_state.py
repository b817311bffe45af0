"""ProducerStateManager: sequence/epoch validation, duplicates, transactions, snapshots."""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode, KafkaError
from protocol.record_batch import CONTROL_FLAG, TRANSACTIONAL_FLAG, RecordBatchHeader
from storage.clock import ManualClock
from storage.producer_state import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    INT32_MAX,
    CompletedTxn,
    DuplicateBatch,
    ProducerStateEntry,
    ProducerStateManager,
    read_snapshot,
    snapshot_path,
)
from storage.transaction_index import AbortedTxn

PID = 1000
T0 = 1_700_000_000_000


def header(
    pid: int = PID,
    epoch: int = 0,
    seq: int = 0,
    count: int = 1,
    base_offset: int = 0,
    ts: int = T0,
    transactional: bool = False,
    control: bool = False,
) -> RecordBatchHeader:
    attributes = (TRANSACTIONAL_FLAG if transactional else 0) | (CONTROL_FLAG if control else 0)
    return RecordBatchHeader(
        base_offset=base_offset,
        batch_length=100,
        partition_leader_epoch=0,
        magic=2,
        crc=0,
        attributes=attributes,
        last_offset_delta=count - 1,
        base_timestamp=ts,
        max_timestamp=ts,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq if not control else -1,
        records_count=count,
    )


class Log:
    """A tiny stand-in for the partition log: assigns offsets, drives the manager."""

    def __init__(self, psm: ProducerStateManager, next_offset: int = 0) -> None:
        self.psm = psm
        self.next_offset = next_offset
        self.aborted: list[AbortedTxn] = []

    def produce(self, h: RecordBatchHeader) -> tuple[int, int] | DuplicateBatch:
        dup = self.psm.check_batch(h)
        if dup is not None:
            return dup
        first = self.next_offset
        last = first + h.last_offset_delta
        self.next_offset = last + 1
        completed = self.psm.update(h, first, last, T0)
        assert completed is None
        return first, last

    def marker(self, pid: int, epoch: int, commit: bool, coordinator_epoch: int = 0) -> None:
        h = header(pid=pid, epoch=epoch, control=True, transactional=True)
        self.psm.check_batch(h, from_client=False, coordinator_epoch=coordinator_epoch)
        offset = self.next_offset
        self.next_offset += 1
        completed = self.psm.update(
            h,
            offset,
            offset,
            T0,
            control_type=CONTROL_COMMIT if commit else CONTROL_ABORT,
            coordinator_epoch=coordinator_epoch,
        )
        if completed is not None:
            lso = self.psm.complete_txn(completed)
            if completed.is_aborted:
                self.aborted.append(completed.to_aborted_txn(lso))


def appended(result: tuple[int, int] | DuplicateBatch) -> tuple[int, int]:
    assert not isinstance(result, DuplicateBatch), result
    return result


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def psm(tmp_path: Path, clock: ManualClock) -> ProducerStateManager:
    return ProducerStateManager(tmp_path, clock)


def error_of(psm: ProducerStateManager, h: RecordBatchHeader) -> ErrorCode:
    with pytest.raises(KafkaError) as info:
        psm.check_batch(h)
    return info.value.error_code


# ----------------------------------------------------------------- sequences


def test_non_idempotent_batches_ignored(psm: ProducerStateManager) -> None:
    log = Log(psm)
    assert log.produce(header(pid=-1, epoch=-1, seq=-1, count=3)) == (0, 2)
    assert psm.producers == {}
    assert psm.map_end_offset == 3


def test_in_order_sequences_accepted(psm: ProducerStateManager) -> None:
    log = Log(psm)
    assert log.produce(header(seq=0, count=3)) == (0, 2)
    assert log.produce(header(seq=3, count=2)) == (3, 4)
    assert log.produce(header(seq=5, count=1)) == (5, 5)
    entry = psm.producers[PID]
    assert entry.last_seq == 5
    assert entry.last_data_offset == 5
    assert entry.producer_epoch == 0
    assert len(entry.batches) == 3


def test_unknown_producer_accepts_any_sequence(psm: ProducerStateManager) -> None:
    # Kafka: no current epoch for the producer → any sequence is accepted.
    log = Log(psm)
    assert log.produce(header(seq=42, count=2)) == (0, 1)
    assert log.produce(header(seq=44)) == (2, 2)


def test_duplicate_of_each_of_last_five_batches(psm: ProducerStateManager) -> None:
    log = Log(psm)
    seq = 0
    placed = []
    for i in range(7):
        count = i + 1
        placed.append((seq, count, appended(log.produce(header(seq=seq, count=count, ts=T0 + i)))))
        seq += count
    end = log.next_offset
    for i, (s, count, (first, last)) in enumerate(placed[-5:], start=2):
        dup = psm.check_batch(header(seq=s, count=count))
        assert dup == DuplicateBatch(first, last, T0 + i)
    assert log.next_offset == end  # nothing appended


def test_older_duplicate_is_out_of_order(psm: ProducerStateManager) -> None:
    log = Log(psm)
    for i in range(6):
        log.produce(header(seq=i))
    # Batch seq 0 fell out of the five retained: Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert error_of(psm, header(seq=0)) == ErrorCode.out_of_order_sequence_number
    # A retried batch with a different range than the original is not a duplicate either.
    assert error_of(psm, header(seq=4, count=2)) == ErrorCode.out_of_order_sequence_number


def test_sequence_gap_is_out_of_order(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(seq=0, count=2))
    assert error_of(psm, header(seq=3)) == ErrorCode.out_of_order_sequence_number
    assert log.produce(header(seq=2)) == (2, 2)


def test_sequence_wraps_at_int32_max(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(seq=INT32_MAX - 2, count=2))  # seqs MAX-2, MAX-1
    h = header(seq=INT32_MAX, count=3)  # seqs MAX, 0, 1
    assert h.last_sequence == 1
    assert log.produce(h) == (2, 4)
    assert psm.producers[PID].last_seq == 1
    # A retry of the wrapped batch is a duplicate.
    assert psm.check_batch(h) == DuplicateBatch(2, 4, T0)
    assert psm.producers[PID].batches[-1].first_seq == INT32_MAX
    assert log.produce(header(seq=2)) == (5, 5)
    assert error_of(psm, header(seq=0)) == ErrorCode.out_of_order_sequence_number


def test_next_after_max_is_zero(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(seq=INT32_MAX))
    assert log.produce(header(seq=0)) == (1, 1)


# --------------------------------------------------------------------- epochs


def test_stale_epoch_fenced(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(epoch=3, seq=0))
    assert error_of(psm, header(epoch=2, seq=1)) == ErrorCode.invalid_producer_epoch
    # A duplicate with an older epoch is not a duplicate: still fenced.
    assert error_of(psm, header(epoch=2, seq=0)) == ErrorCode.invalid_producer_epoch


def test_epoch_bump_must_start_at_zero(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(epoch=0, seq=0, count=5))
    assert error_of(psm, header(epoch=1, seq=5)) == ErrorCode.out_of_order_sequence_number
    assert log.produce(header(epoch=1, seq=0)) == (5, 5)
    entry = psm.producers[PID]
    assert entry.producer_epoch == 1
    assert len(entry.batches) == 1  # the bump reset the retained batches
    # Retry of an old-epoch batch is now fenced.
    assert error_of(psm, header(epoch=0, seq=0, count=5)) == ErrorCode.invalid_producer_epoch


def test_producers_are_independent(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(pid=1, seq=0))
    log.produce(header(pid=2, seq=0))
    log.produce(header(pid=1, seq=1))
    assert error_of(psm, header(pid=2, seq=2)) == ErrorCode.out_of_order_sequence_number
    assert psm.producer_id_count == 2


@given(st.lists(st.integers(1, 20), min_size=1, max_size=40))
def test_property_in_order_always_accepted_retries_deduplicated(counts: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        psm = ProducerStateManager(Path(d), ManualClock(T0))
        log = Log(psm)
        seq = 0
        results = []
        for count in counts:
            h = header(seq=seq, count=count)
            results.append((h, appended(log.produce(h))))
            seq = (seq + count) % (INT32_MAX + 1)
        for h, (first, last) in results[-5:]:
            dup = psm.check_batch(h)
            assert dup is not None and (dup.first_offset, dup.last_offset) == (first, last)


# --------------------------------------------------------------- transactions


def test_transaction_tracking_and_lso(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(pid=1, seq=0, transactional=True))  # offset 0, txn 1 starts
    log.produce(header(pid=2, seq=0, transactional=True))  # offset 1, txn 2 starts
    log.produce(header(pid=1, seq=1, transactional=True))  # offset 2
    assert list(psm.ongoing_txns) == [0, 1]
    assert psm.first_unstable_offset() == 0
    assert psm.producers[1].current_txn_first_offset == 0

    log.marker(1, 0, commit=False)  # offset 3 aborts txn 1; txn 2 still open → LSO 1
    assert log.aborted == [AbortedTxn(1, 0, 3, 1)]
    assert list(psm.ongoing_txns) == [1]
    assert psm.producers[1].current_txn_first_offset is None
    # Txn 1 is decided but its marker is not below the HW yet.
    assert psm.first_unstable_offset() == 0
    psm.on_high_watermark_updated(4)
    assert psm.first_unstable_offset() == 1

    log.marker(2, 0, commit=True)  # offset 4 commits txn 2
    assert log.aborted == [AbortedTxn(1, 0, 3, 1)]
    assert psm.first_unstable_offset() == 1
    psm.on_high_watermark_updated(5)
    assert psm.first_unstable_offset() is None
    assert psm.first_undecided_offset() is None


def test_non_transactional_write_during_txn_rejected(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(seq=0, transactional=True))
    assert error_of(psm, header(seq=1)) == ErrorCode.invalid_txn_state


def test_marker_without_data_completes_nothing(psm: ProducerStateManager) -> None:
    h = header(epoch=2, control=True, transactional=True)
    assert psm.update(h, 0, 0, T0, control_type=CONTROL_ABORT, coordinator_epoch=1) is None
    assert psm.producers[PID].producer_epoch == 2
    assert psm.producers[PID].coordinator_epoch == 1


def test_marker_with_stale_epoch_or_coordinator_fenced(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(epoch=1, seq=0, transactional=True))
    log.marker(PID, 1, commit=True, coordinator_epoch=5)
    with pytest.raises(KafkaError) as info:
        psm.check_batch(header(epoch=0, control=True, transactional=True), from_client=False)
    assert info.value.error_code == ErrorCode.invalid_producer_epoch
    with pytest.raises(KafkaError) as info:
        psm.check_batch(
            header(epoch=1, control=True, transactional=True),
            from_client=False,
            coordinator_epoch=4,
        )
    assert info.value.error_code == ErrorCode.transaction_coordinator_fenced


def test_marker_bumping_epoch_resets_sequence(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(epoch=0, seq=0, count=3, transactional=True))
    log.marker(PID, 1, commit=False)  # coordinator aborted with a bumped epoch
    assert error_of(psm, header(epoch=1, seq=3)) == ErrorCode.out_of_order_sequence_number
    assert isinstance(log.produce(header(epoch=1, seq=0)), tuple)


def test_complete_unknown_txn_raises(psm: ProducerStateManager) -> None:
    with pytest.raises(ValueError):
        psm.complete_txn(CompletedTxn(PID, 0, 5, True))


def test_replay_batch_returns_aborted(psm: ProducerStateManager) -> None:
    psm.replay_batch(header(pid=1, seq=0, count=2, base_offset=10, transactional=True))
    psm.replay_batch(header(pid=2, seq=0, base_offset=12, transactional=True))
    aborted = psm.replay_batch(
        header(pid=1, epoch=0, base_offset=13, control=True, transactional=True),
        control_type=CONTROL_ABORT,
    )
    assert aborted == AbortedTxn(1, 10, 13, 12)
    committed = psm.replay_batch(
        header(pid=2, base_offset=14, control=True, transactional=True), control_type=CONTROL_COMMIT
    )
    assert committed is None
    assert psm.map_end_offset == 15
    assert psm.first_undecided_offset() is None


def test_replay_skips_checks(psm: ProducerStateManager) -> None:
    psm.replay_batch(header(epoch=5, seq=10, base_offset=0))
    psm.replay_batch(header(epoch=4, seq=99, base_offset=1))  # would be fenced on a leader
    assert psm.producers[PID].producer_epoch == 4


# ------------------------------------------------------------------ expiration


def test_expiration(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock, producer_id_expiration_ms=1000)
    log = Log(psm)
    log.produce(header(pid=1, seq=0, ts=clock.milliseconds()))
    log.produce(header(pid=2, seq=0, ts=clock.milliseconds(), transactional=True))
    clock.advance(999)
    assert psm.remove_expired_producers() == 0
    clock.advance(1)
    assert psm.remove_expired_producers(clock.milliseconds()) == 1
    assert set(psm.producers) == {2}  # an open transaction keeps its producer
    log.marker(2, 0, commit=True)
    clock.advance(5000)
    psm.remove_expired_producers()
    assert psm.producers == {}
    # An expired producer is unknown again: any sequence is accepted.
    assert isinstance(log.produce(header(pid=1, seq=77)), tuple)


# ------------------------------------------------------------------- snapshots


def test_snapshot_round_trip(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock)
    log = Log(psm)
    log.produce(header(pid=1, epoch=2, seq=0, count=3, ts=T0 + 1))
    log.produce(header(pid=1, epoch=2, seq=3, count=2, ts=T0 + 2))
    log.produce(header(pid=2, epoch=0, seq=0, transactional=True, ts=T0 + 3))
    log.marker(3, 7, commit=True, coordinator_epoch=4)  # marker-only producer, no batches
    path = psm.take_snapshot()
    assert path == snapshot_path(tmp_path, log.next_offset)
    assert path.name == f"{log.next_offset:020d}.snapshot"
    assert psm.last_snapshot_offset == log.next_offset

    fresh = ProducerStateManager(tmp_path, clock)
    assert fresh.last_snapshot_offset == log.next_offset
    assert fresh.load_snapshot(0, log.next_offset) == log.next_offset
    assert fresh.map_end_offset == log.next_offset
    for pid in (1, 2, 3):
        a, b = psm.producers[pid], fresh.producers[pid]
        assert (
            b.producer_epoch,
            b.last_seq,
            b.last_data_offset,
            b.last_timestamp,
            b.coordinator_epoch,
            b.current_txn_first_offset,
        ) == (
            a.producer_epoch,
            a.last_seq,
            a.last_data_offset,
            a.last_timestamp,
            a.coordinator_epoch,
            a.current_txn_first_offset,
        )
    assert list(fresh.producers[1].batches) == [psm.producers[1].batches[-1]]
    assert fresh.producers[3].batches == psm.producers[3].batches  # both empty
    assert list(fresh.ongoing_txns) == [5]
    # Behaviour survives the reload: retry of the last batch is a duplicate, next seq ok.
    assert fresh.check_batch(header(pid=1, epoch=2, seq=3, count=2)) == DuplicateBatch(3, 4, T0 + 2)
    assert fresh.check_batch(header(pid=1, epoch=2, seq=5)) is None
    with pytest.raises(KafkaError):
        fresh.check_batch(header(pid=2, seq=1))  # non-transactional while txn open


def test_snapshot_binary_format(tmp_path: Path, psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(pid=9, epoch=1, seq=0, count=2, ts=T0))
    path = psm.take_snapshot()
    assert path is not None
    data = path.read_bytes()
    version, crc, count = struct.unpack_from(">hIi", data, 0)
    assert (version, count) == (1, 1)
    assert crc == crc32c.crc32c(data[6:])
    assert len(data) == 10 + 46
    assert struct.unpack_from(">qhiqiqiq", data, 10) == (9, 1, 1, 1, 1, T0, -1, -1)


def test_take_snapshot_only_when_map_moved(psm: ProducerStateManager) -> None:
    log = Log(psm)
    log.produce(header(seq=0))
    assert psm.take_snapshot() is not None
    assert psm.take_snapshot() is None
    log.produce(header(seq=1))
    assert psm.take_snapshot() is not None
    assert psm.snapshot_offsets == [1, 2]
    assert psm.take_snapshot(10) is not None  # explicit offset always writes
    assert psm.snapshot_offsets == [1, 2, 10]


def test_corrupt_snapshot_skipped(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock)
    log = Log(psm)
    log.produce(header(seq=0))
    psm.take_snapshot()  # at 1
    log.produce(header(seq=1))
    path = psm.take_snapshot()  # at 2
    assert path is not None
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    (tmp_path / f"{3:020d}.snapshot").write_bytes(b"\x00\x01")  # truncated garbage

    fresh = ProducerStateManager(tmp_path, clock)
    assert fresh.load_snapshot(0, 10) == 1
    assert fresh.producers[PID].last_seq == 0
    assert fresh.snapshot_offsets == [1]
    assert not path.exists()


def test_load_deletes_snapshots_above_log_end(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock)
    log = Log(psm)
    for i in range(3):
        log.produce(header(seq=i))
        psm.take_snapshot()
    fresh = ProducerStateManager(tmp_path, clock)
    assert fresh.load_snapshot(0, 2) == 2
    assert fresh.producers[PID].last_seq == 1
    assert fresh.snapshot_offsets == [1, 2]
    assert not snapshot_path(tmp_path, 3).exists()


def test_load_without_snapshot_returns_log_start(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock)
    assert psm.load_snapshot(7, 20) == 7
    assert psm.map_end_offset == 7
    assert psm.is_empty


def test_load_skips_expired_producers(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock, producer_id_expiration_ms=1000)
    log = Log(psm)
    log.produce(header(pid=1, seq=0, ts=T0))
    log.produce(header(pid=2, seq=0, ts=T0 + 5000))
    psm.take_snapshot()
    clock.advance(2000)
    fresh = ProducerStateManager(tmp_path, clock, producer_id_expiration_ms=1000)
    fresh.load_snapshot(0, 2)
    assert set(fresh.producers) == {2}


def test_truncate_and_reload(tmp_path: Path, clock: ManualClock) -> None:
    psm = ProducerStateManager(tmp_path, clock)
    log = Log(psm)
    log.produce(header(seq=0))
    psm.take_snapshot()  # 1
    log.produce(header(seq=1))
    log.produce(header(seq=2))
    psm.take_snapshot()  # 3
    # Log truncated to 2: snapshot 3 goes, state reloads from 1, replay from 1.
    assert psm.truncate_and_reload(0, 2) == 1
    assert psm.producers[PID].last_seq == 0
    assert psm.snapshot_offsets == [1]
    psm.replay_batch(header(seq=1, base_offset=1))
    assert psm.map_end_offset == 2
    # Same end offset: only the log start moves.
    assert psm.truncate_and_reload(1, 2) == 2
    assert psm.producers[PID].last_seq == 1


def test_delete_snapshots_below_and_truncate_fully(
    tmp_path: Path, psm: ProducerStateManager
) -> None:
    for offset in (5, 10, 15):
        psm.take_snapshot(offset)
    psm.delete_snapshots_below(10)
    assert psm.snapshot_offsets == [10, 15]
    assert not snapshot_path(tmp_path, 5).exists()
    psm.truncate_fully_and_start_at(100)
    assert psm.snapshot_offsets == []
    assert psm.map_end_offset == 100
    assert list(tmp_path.glob("*.snapshot")) == []


def test_remove_stray_snapshots(tmp_path: Path, psm: ProducerStateManager) -> None:
    for offset in (0, 3, 5, 10, 20):
        psm.take_snapshot(offset)
    psm.remove_stray_snapshots([0, 5, 10])
    # 3 is stray; 20 is the newest stray above every segment (clean shutdown) and stays.
    assert psm.snapshot_offsets == [0, 5, 10, 20]
    psm.remove_stray_snapshots([0, 5, 10, 30])
    assert psm.snapshot_offsets == [0, 5, 10]


def test_read_snapshot_rejects_bad_version(tmp_path: Path) -> None:
    from storage.producer_state import CorruptSnapshotError, write_snapshot

    path = tmp_path / "00000000000000000001.snapshot"
    write_snapshot(path, [ProducerStateEntry(1, 0)])
    data = bytearray(path.read_bytes())
    data[0:2] = b"\x00\x02"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(path)
