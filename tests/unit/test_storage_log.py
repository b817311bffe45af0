"""Log: append/read across rolls, index lookups, timestamps, retention, restart, flush."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from protocol.errors import ErrorCode, KafkaError
from protocol.record_batch import CompressionType, crc_is_valid, iter_headers
from protocol.records import NewRecord, decode_batch, encode_batch
from storage.clock import ManualClock
from storage.log import Log, read_partition_metadata
from storage.log_config import LogConfig
from storage.log_loader import load_log

T0 = 1_700_000_000_000


def batch(n: int = 3, ts: int = T0, value: bytes = b"v" * 20, **kw: object) -> bytearray:
    recs = [NewRecord(b"k%d" % i, value, timestamp=ts + i) for i in range(n)]
    return bytearray(encode_batch(recs, **kw))  # type: ignore[arg-type]


def small_config(**kw: object) -> LogConfig:
    base = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_index_bytes=4096)
    return base.with_changes(**kw)


def new_log(tmp_path: Path, config: LogConfig | None = None, clock: ManualClock | None = None,
            **kw: object) -> Log:
    return load_log(tmp_path / "t-0", config or small_config(), clock or ManualClock(T0),
                    **kw)  # type: ignore[arg-type]


def append(log: Log, n: int = 3, ts: int = T0, epoch: int = 0) -> tuple[int, int]:
    info = log.append_as_leader(batch(n, ts), epoch)
    log.update_high_watermark(log.log_end_offset)
    return info.first_offset, info.last_offset


def all_batches(log: Log) -> list[tuple[int, int]]:
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).records
        assert data
        for pos, h in iter_headers(data):
            assert crc_is_valid(data, pos, h)
            out.append((h.base_offset, h.last_offset))
            offset = h.next_offset
    return out


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    assert append(log, 3) == (0, 2)
    assert append(log, 2) == (3, 4)
    assert log.log_end_offset == 5
    data = log.read(0, 1 << 20).records
    offsets = [r.offset for pos, _ in iter_headers(data) for r in decode_batch(data, pos)[1]]
    assert offsets == [0, 1, 2, 3, 4]
    h = next(iter_headers(data))[1]
    assert h.partition_leader_epoch == 0


def test_reads_across_rolls_at_every_offset(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    ranges = [append(log, 1 + i % 4, T0 + i * 10) for i in range(60)]
    assert log.num_segments > 3
    for first, last in ranges:
        for off in range(first, last + 1):
            data = log.read(off, 1).records  # min_one_message: exactly one batch
            ((_pos, h),) = list(iter_headers(data))
            assert (h.base_offset, h.last_offset) == (first, last)
            assert len(data) == h.size
    assert all_batches(log) == ranges
    # segment files are named by base offset
    names = sorted(p.name for p in (tmp_path / "t-0").glob("*.log"))
    assert names[0] == "00000000000000000000.log"


def test_read_bounds(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    for _ in range(5):
        append(log, 2)
    assert log.read(10, 100).records == b""
    with pytest.raises(KafkaError) as e:
        log.read(11, 100)
    assert e.value.error_code == ErrorCode.offset_out_of_range
    # max_offset excludes batches at or above it
    data = log.read(0, 1 << 20, max_offset=4).records
    assert [h.base_offset for _, h in iter_headers(data)] == [0, 2]
    assert log.read(4, 1 << 20, max_offset=4).records == b""
    # max_bytes cuts at whole batches; min_one_message=False may return nothing
    one = log.read(0, 1).records
    size = len(one)
    assert len(log.read(0, size * 2 + 5).records) == size * 2
    info = log.read(0, size - 1, min_one_message=False)
    assert info.records == b"" and info.first_entry_incomplete


def test_timestamp_lookup(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    for i in range(40):
        append(log, 3, T0 + i * 100)  # records at T0+100i, +1, +2
    r = log.fetch_offset_by_timestamp(T0 + 1001)
    assert r is not None and (r.offset, r.timestamp) == (31, T0 + 1001)
    r = log.fetch_offset_by_timestamp(T0 + 1003)
    assert r is not None and (r.offset, r.timestamp) == (33, T0 + 1100)
    r = log.fetch_offset_by_timestamp(0)
    assert r is not None and r.offset == 0
    assert log.fetch_offset_by_timestamp(T0 + 10_000) is None
    m = log.fetch_max_timestamp()
    assert m is not None and m.timestamp == T0 + 3902 and m.offset == 119


def test_max_timestamp_is_the_first_record_carrying_it(tmp_path: Path) -> None:
    """Kafka 3.8+ (KAFKA-16310): the record's own offset, not its batch's last offset;
    the earliest record when several share the largest timestamp."""
    log = new_log(tmp_path)
    append(log, 3, T0)  # offsets 0-2
    stamps = [T0 + 50, T0 + 900, T0 + 10, T0 + 900]  # offsets 3-6
    recs = [NewRecord(b"k", b"v", timestamp=t) for t in stamps]
    log.append_as_leader(bytearray(encode_batch(recs)), 0)
    # a later batch reaching the same maximum does not win over the earlier one
    log.append_as_leader(bytearray(encode_batch([NewRecord(b"k", b"v", timestamp=T0 + 900)])), 0)
    log.update_high_watermark(log.log_end_offset)
    m = log.fetch_max_timestamp()
    assert m is not None and (m.timestamp, m.offset) == (T0 + 900, 4)
    for compression in (CompressionType.GZIP, CompressionType.ZSTD):
        other = new_log(tmp_path / str(compression))
        data = encode_batch(recs, compression=compression)
        other.append_as_leader(bytearray(data), 0)
        m = other.fetch_max_timestamp()
        assert m is not None and (m.timestamp, m.offset) == (T0 + 900, 1)


def test_log_append_time(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 5000)
    log = new_log(tmp_path, small_config(message_timestamp_type="LogAppendTime"), clock)
    info = log.append_as_leader(batch(2, ts=1), 0)
    assert info.log_append_time == T0 + 5000 and info.max_timestamp == T0 + 5000
    data = log.read(0, 1000).records
    pos, h = next(iter_headers(data))
    assert h.max_timestamp == T0 + 5000 and crc_is_valid(data, pos, h)


def test_restart_keeps_everything(tmp_path: Path) -> None:
    import uuid

    tid = uuid.uuid4()
    log = new_log(tmp_path, topic_id=tid)
    ranges = [append(log, 2, T0 + i, epoch=i // 10) for i in range(50)]
    log.flush()
    log.close()
    log2 = new_log(tmp_path, had_clean_shutdown=True, recovery_point=log.log_end_offset)
    assert log2.log_end_offset == 100
    log2.update_high_watermark(100)
    assert all_batches(log2) == ranges
    assert log2.latest_epoch == 4
    assert log2.end_offset_for_epoch(2) == (2, 60)
    assert read_partition_metadata(tmp_path / "t-0") == tid
    assert log2.topic_id == tid
    # indexes were trimmed on close
    for idx in (tmp_path / "t-0").glob("*.index"):
        assert idx.stat().st_size % 8 == 0
    assert append(log2, 1) == (100, 100)


def test_unclean_restart_recovers(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    ranges = [append(log, 2) for _ in range(30)]
    # simulate crash: no close (indexes untrimmed, preallocated)
    log2 = new_log(tmp_path)
    assert log2.log_end_offset == 60
    log2.update_high_watermark(60)
    assert all_batches(log2) == ranges


def test_retention_by_time(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    log = new_log(tmp_path, small_config(retention_ms=1000, file_delete_delay_ms=0), clock)
    for i in range(30):
        append(log, 2, T0 + i)
    n = log.num_segments
    assert log.delete_old_segments(T0 + 500) == 0
    clock.advance(2000)
    deleted = log.delete_old_segments()
    assert deleted == n  # the active segment too: Kafka rolls first
    assert log.num_segments == 1 and log.log_start_offset == 60 == log.log_end_offset
    assert list((tmp_path / "t-0").glob("*.deleted"))
    assert log.delete_pending() == n
    assert not list((tmp_path / "t-0").glob("*.deleted"))
    assert append(log, 1) == (60, 60)


def test_retention_by_size(tmp_path: Path) -> None:
    log = new_log(tmp_path, small_config(retention_bytes=2048))
    for _ in range(40):
        append(log, 2)
    segs = log.segments()
    total = log.size_in_bytes
    assert log.delete_old_segments() > 0
    assert log.size_in_bytes >= 2048 - segs[0].size
    assert log.size_in_bytes < total
    assert log.log_start_offset == log.segments()[0].base_offset
    with pytest.raises(KafkaError):
        log.read(0, 100)


def test_retention_respects_high_watermark(tmp_path: Path) -> None:
    log = new_log(tmp_path, small_config(retention_ms=0))
    for _ in range(30):
        log.append_as_leader(batch(2), 0)
    assert log.delete_old_segments(T0 + 10_000) == 0  # HW still 0


def test_log_start_offset_and_delete_records(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    for _ in range(30):
        append(log, 2)
    base1 = log.segments()[1].base_offset
    assert log.maybe_increment_log_start_offset(base1 + 1)
    with pytest.raises(KafkaError):
        log.read(base1, 100)
    assert log.read(base1 + 1, 100).records
    assert log.delete_old_segments() == 1
    assert log.segments()[0].base_offset == base1 and log.log_start_offset == base1 + 1
    with pytest.raises(KafkaError):
        log.maybe_increment_log_start_offset(1000)


def test_truncate_to(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    ranges = [append(log, 2, epoch=i // 10) for i in range(30)]
    assert log.truncate_to(21)  # mid-batch: the whole batch [20,21] goes
    assert log.log_end_offset == 21 or log.log_end_offset == 20
    log.truncate_to(20)
    assert log.log_end_offset == 20
    log.update_high_watermark(20)
    assert all_batches(log) == ranges[:10]
    assert log.latest_epoch == 0
    assert append(log, 1) == (20, 20)
    log.truncate_fully_and_start_at(500)
    assert log.log_start_offset == log.log_end_offset == 500 and log.num_segments == 1
    assert append(log, 1) == (500, 500)


def test_flush_advances_recovery_point_and_needs_flush(tmp_path: Path) -> None:
    log = new_log(tmp_path, small_config(flush_messages=5))
    info = log.append_as_leader(batch(3), 0)
    assert not info.needs_flush
    info = log.append_as_leader(batch(3), 0)
    assert info.needs_flush
    log.flush()
    assert log.recovery_point == 6
    log.append_as_leader(batch(3), 0)
    log.flush(7)
    assert log.recovery_point == 7


def test_flush_concurrent_with_appends(tmp_path: Path) -> None:
    log = new_log(tmp_path, small_config(retention_bytes=4000))
    stop = threading.Event()
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                log.flush()
                log.delete_pending()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=flusher)
    t.start()
    for i in range(400):
        append(log, 2)
        if i % 50 == 0:
            log.delete_old_segments()
    stop.set()
    t.join()
    assert not errors
    log.flush()
    assert log.recovery_point == log.log_end_offset == 800


def test_idempotent_duplicate(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    b = batch(3, producer_id=7, producer_epoch=0, base_sequence=0)
    first = log.append_as_leader(bytearray(b), 0)
    assert (first.first_offset, first.last_offset) == (0, 2)
    dup = log.append_as_leader(bytearray(b), 0)
    assert dup.duplicate and (dup.first_offset, dup.last_offset) == (0, 2)
    assert log.log_end_offset == 3
    with pytest.raises(KafkaError):
        log.append_as_leader(batch(3, producer_id=7, producer_epoch=0, base_sequence=10), 0)


def test_several_batches_of_one_producer_in_one_request(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    two = batch(3, producer_id=7, producer_epoch=0, base_sequence=0) + batch(
        2, producer_id=7, producer_epoch=0, base_sequence=3
    )
    info = log.append_as_leader(bytearray(two), 0)
    assert (info.first_offset, info.last_offset) == (0, 4)
    # the producer state moved past both: the next batch continues at sequence 5
    nxt = log.append_as_leader(batch(1, producer_id=7, producer_epoch=0, base_sequence=5), 0)
    assert nxt.first_offset == 5
    gap = batch(1, producer_id=7, producer_epoch=0, base_sequence=6) + batch(
        1, producer_id=7, producer_epoch=0, base_sequence=9
    )
    with pytest.raises(KafkaError) as info_err:
        log.append_as_leader(bytearray(gap), 0)
    assert info_err.value.error_code == ErrorCode.out_of_order_sequence_number
    assert log.log_end_offset == 6  # nothing of the refused request was appended


def test_roll_by_time(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    log = new_log(tmp_path, small_config(segment_ms=1000, segment_bytes=1 << 20), clock)
    append(log, 1, T0)
    append(log, 1, T0 + 500)
    assert log.num_segments == 1
    append(log, 1, T0 + 1500)
    assert log.num_segments == 2


def test_large_request_and_file_sizes(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    payload = bytearray()
    for _ in range(5):
        payload += batch(2)
    info = log.append_as_leader(payload, 0)
    assert (info.first_offset, info.last_offset, info.record_count) == (0, 9, 10)
    assert info.valid_bytes == len(payload)
    assert os.path.getsize(tmp_path / "t-0" / "00000000000000000000.log") == len(payload)


def test_transactions_lso_and_aborted_index(tmp_path: Path) -> None:
    from protocol.records import encode_control_batch

    log = new_log(tmp_path)
    append(log, 2)  # 0-1 plain
    log.append_as_leader(batch(3, producer_id=9, producer_epoch=0, base_sequence=0,
                               is_transactional=True), 0)  # 2-4
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 2
    marker = bytearray(encode_control_batch(commit=False, producer_id=9, producer_epoch=0,
                                            coordinator_epoch=1))
    info = log.append_as_leader(marker, 0, from_client=False, coordinator_epoch=1)
    assert info.first_offset == 5
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 6
    fetched = log.read(0, 1 << 20, include_aborted=True)
    assert fetched.aborted_transactions is not None
    (txn,) = fetched.aborted_transactions
    assert (txn.producer_id, txn.first_offset, txn.last_offset) == (9, 2, 5)
    # survives an unclean restart (txn index rebuilt by replay)
    log2 = new_log(tmp_path)
    log2.update_high_watermark(log2.log_end_offset)
    assert [t.first_offset for t in log2.collect_aborted_transactions(0, 6)] == [2]


def test_new_leader_epoch_reaches_disk_before_the_recovery_point_passes_it(
    tmp_path: Path,
) -> None:
    """A new leader's epoch start is checkpointed off the loop; a log flush writes it
    first, so recovery (which rebuilds entries only past the recovery point) never misses
    one."""
    from protocol.records import NewRecord, encode_batch
    from storage.clock import ManualClock
    from storage.log_config import LogConfig
    from storage.log_loader import load_log

    clock = ManualClock()
    log = load_log(tmp_path / "e-0", LogConfig(), clock)
    log.assign_epoch_start(4, 0)
    assert log.leader_epoch_cache.dirty
    log.append_as_leader(bytearray(encode_batch([NewRecord(b"k", b"v")])), 4)
    checkpoint = tmp_path / "e-0" / "leader-epoch-checkpoint"
    assert not checkpoint.exists() or "4 0" not in checkpoint.read_text()
    log.flush()
    assert "4 0" in checkpoint.read_text() and not log.leader_epoch_cache.dirty
    log.close()
