"""Log cleaner: dedupe, tombstones and delete horizons, transactions, producer state,
grouping, a full offset map, the swap and its crash recovery, and the manager."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from protocol.record_batch import (
    DELETE_HORIZON_FLAG,
    RecordBatchHeader,
    crc_is_valid,
    iter_headers,
)
from protocol.records import NewRecord, encode_batch, encode_control_batch, iter_records
from storage.cleaner.cleaner import CleanerAbortedError
from storage.cleaner.log_cleaner import CleanerConfig, LogCleaner
from storage.cleaner.manager import CleaningState, LogCleanerManager
from storage.cleaner.throttler import Throttler
from storage.clock import ManualClock
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_loader import load_log

T0 = 1_700_000_000_000
TP = ("t", 0)


def compact_config(**kw: object) -> LogConfig:
    base = LogConfig(
        cleanup_policy="compact",
        segment_bytes=1500,
        index_interval_bytes=100,
        segment_index_bytes=4096,
        min_cleanable_dirty_ratio=0.01,
        delete_retention_ms=1000,
        file_delete_delay_ms=0,
    )
    return base.with_changes(**kw)


class Harness:
    def __init__(self, tmp_path: Path, config: LogConfig | None = None, **cleaner: object):
        self.dir = tmp_path
        self.clock = ManualClock(T0)
        self.config = config or compact_config()
        self.log = load_log(tmp_path / "t-0", self.config, self.clock)
        self.manager = LogCleanerManager(lambda: {TP: (self.log, self.dir)}, self.clock)
        self.cleaner = LogCleaner(CleanerConfig(**cleaner), self.manager, self.clock)  # type: ignore[arg-type]

    def append(
        self, pairs: list[tuple[bytes, bytes | None]], codec: int = 0, **kw: object
    ) -> tuple[int, int]:
        recs = [NewRecord(k, v, timestamp=self.clock.now_ms) for k, v in pairs]
        data = bytearray(encode_batch(recs, compression=codec, **kw))  # type: ignore[arg-type]
        info = self.log.append_as_leader(data, 0)
        self.log.update_high_watermark(self.log.log_end_offset)
        return info.first_offset, info.last_offset

    def clean(self) -> bool:
        return self.cleaner.clean_once()

    def reopen(self) -> None:
        self.log.close()
        self.log = load_log(self.dir / "t-0", self.config, self.clock)
        self.log.update_high_watermark(self.log.log_end_offset)


def read_log(log: Log, start: int | None = None) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record from ``start`` (default: log start), checking CRCs and offset order."""
    out: list[tuple[int, bytes | None, bytes | None]] = []
    offset = log.log_start_offset if start is None else start
    prev = -1
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).records
        if not data:
            break
        for pos, h in iter_headers(data):
            assert crc_is_valid(data, pos, h)
            assert h.base_offset > prev or h.records_count == 0
            offset = h.next_offset
        for _, r in iter_records(data):
            assert r.offset > prev
            prev = r.offset
            out.append((r.offset, r.key, r.value))
    return out


def all_headers(log: Log) -> list[RecordBatchHeader]:
    out: list[RecordBatchHeader] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).records
        if not data:
            break
        for _, hd in iter_headers(data):
            out.append(hd)
            offset = hd.next_offset
    return out


def latest(records: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    for _, k, v in records:
        assert k is not None
        out[k] = v
    return out


def fill(
    h: Harness, n: int, keys: int = 5, codec: int = 0, prefix: bytes = b"k"
) -> dict[bytes, bytes | None]:
    expected: dict[bytes, bytes | None] = {}
    for i in range(n):
        k = prefix + b"%d" % (i % keys)
        v = b"v%d-" % i + b"x" * 40
        h.append([(k, v)], codec)
        expected[k] = v
    return expected


def test_keeps_latest_value_per_key_and_offsets(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    expected = fill(h, 120)
    before = h.log.size_in_bytes
    assert h.clean()
    records = read_log(h.log)
    assert latest(records) == expected
    assert h.log.size_in_bytes < before / 3
    # Keys appear once in the cleaned part, except those in the active segment.
    active_base = h.log.active_segment.base_offset
    cleaned_keys = [r[1] for r in records if r[0] < active_base]
    assert len(cleaned_keys) == len(set(cleaned_keys))
    stats = h.cleaner.stats()
    assert stats["passes"] == 1 and stats["bytes_written"] > 0
    assert "t-0" in stats["per_partition"]
    assert (tmp_path / "cleaner-offset-checkpoint").exists()


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_rewritten_batches_keep_codec_and_producer_fields(tmp_path: Path, codec: int) -> None:
    h = Harness(tmp_path)
    for i in range(30):
        h.append([(b"a", b"%d" % i), (b"b%d" % i, b"x" * 50)], codec,
                 producer_id=7, producer_epoch=1, base_sequence=i * 2)
    h.clean()
    headers = all_headers(h.log)
    assert headers
    for hd in headers:
        if hd.records_count:
            assert hd.compression == codec
        assert hd.producer_id == 7 and hd.producer_epoch == 1
        assert hd.base_sequence == hd.base_offset
        assert hd.last_offset_delta == 1  # offset range of the original batch kept


def test_tombstones_get_horizon_then_go(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fill(h, 40, keys=4)
    h.append([(b"k1", None)])
    fill(h, 40, keys=2, prefix=b"j")  # rolls the tombstone out of the active segment
    assert h.clean()
    records = read_log(h.log)
    assert latest(records)[b"k1"] is None
    assert any(hd.attributes & DELETE_HORIZON_FLAG for hd in all_headers(h.log))
    h.clock.advance(500)  # before the horizon: a new pass keeps the tombstone
    fill(h, 40, keys=2, prefix=b"j")
    assert h.clean()
    assert latest(read_log(h.log))[b"k1"] is None
    h.clock.advance(600)  # past now + delete.retention.ms of the first pass
    fill(h, 40, keys=2, prefix=b"j")
    assert h.clean()
    assert b"k1" not in latest(read_log(h.log))


def test_consumer_in_the_middle_of_a_cleaned_segment(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    expected = fill(h, 100)
    middle = 37
    before = [r for r in read_log(h.log) if r[0] >= middle]
    assert h.clean()
    after = read_log(h.log, middle)
    assert after[0][0] >= middle
    # Everything read from the middle is a subset, in order, ending with the latest values.
    assert set(after) <= set(before)
    assert latest(after) == {k: v for k, v in latest(before).items()}
    assert latest(read_log(h.log)) == expected


def test_active_segment_and_unstable_tail_untouched(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fill(h, 60)
    h.log.update_high_watermark(20)  # only below the HW may be cleaned
    assert h.clean()
    records = read_log(h.log)
    # Cleaning stops at the base of the segment holding the HW: everything from
    # there on is untouched.
    bases = [s.base_offset for s in h.log.segments()]
    boundary = max(b for b in bases if b <= 20)
    assert [r[0] for r in records if r[0] >= boundary] == list(range(boundary, 60))


def test_idempotent_producer_last_batch_retained_empty(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.append([(b"k", b"old")], producer_id=5, producer_epoch=0, base_sequence=0)
    fill(h, 60, keys=1)
    h.append([(b"k", b"new")])
    h.log.roll()
    h.append([(b"z", b"z")])
    assert h.clean()
    pid5 = [hd for hd in all_headers(h.log) if hd.producer_id == 5]
    assert len(pid5) == 1 and pid5[0].records_count == 0 and pid5[0].base_sequence == 0
    assert latest(read_log(h.log))[b"k"] == b"new"


def test_aborted_transaction_removed_markers_kept_until_horizon(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.append([(b"a", b"aborted")], producer_id=9, producer_epoch=0, base_sequence=0,
             is_transactional=True)
    h.log.append_as_leader(bytearray(encode_control_batch(
        commit=False, producer_id=9, producer_epoch=0, coordinator_epoch=0,
        timestamp=h.clock.now_ms)), 0,
        from_client=False, coordinator_epoch=0)
    h.append([(b"b", b"committed")], producer_id=10, producer_epoch=0, base_sequence=0,
             is_transactional=True)
    h.log.append_as_leader(bytearray(encode_control_batch(
        commit=True, producer_id=10, producer_epoch=0, coordinator_epoch=0,
        timestamp=h.clock.now_ms)), 0,
        from_client=False, coordinator_epoch=0)
    fill(h, 60, keys=3)
    h.log.update_high_watermark(h.log.log_end_offset)
    assert h.clean()
    values = latest([r for r in read_log(h.log)])
    # Aborted data never surfaces as a retained record; committed data stays.
    assert values.get(b"b") == b"committed"
    assert sum(1 for hd in all_headers(h.log) if hd.is_control) == 2
    # Later passes after the horizon: markers go once their transactions are empty.
    for _ in range(3):
        h.clock.advance(2000)
        fill(h, 40, keys=3, prefix=b"j")
        h.clean()
    # While the producers are active their last batches stay (emptied), and so do the
    # markers of transactions whose (emptied) batches are still there.
    assert {hd.producer_id for hd in all_headers(h.log) if hd.is_control} == {9, 10}
    h.clock.advance(2 * 86_400_000)
    h.log.remove_expired_producers()
    for _ in range(3):
        h.clock.advance(2000)
        fill(h, 40, keys=3, prefix=b"j")
        h.clean()
    # pid 9's (aborted) batch and marker are gone; pid 10's commit marker stays as long
    # as data of its transaction does (Kafka's rule).
    assert not [hd for hd in all_headers(h.log) if hd.producer_id == 9]
    assert [hd.producer_id for hd in all_headers(h.log) if hd.is_control] == [10]
    assert latest(read_log(h.log)).get(b"b") == b"committed"
    assert b"a" not in latest(read_log(h.log))


def test_small_segments_are_grouped(tmp_path: Path) -> None:
    h = Harness(tmp_path, compact_config(segment_bytes=600))
    fill(h, 100, keys=2)
    assert h.clean()  # each segment shrinks to a couple of records
    n_before = h.log.num_segments
    fill(h, 30, keys=2)
    assert h.clean()  # the small cleaned segments are merged
    assert h.log.num_segments < n_before / 2
    assert latest(read_log(h.log))


def test_full_offset_map_cleans_in_several_passes(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    expected = fill(h, 200, keys=150)
    # A map of 1 MiB holds ~39k keys; shrink it for this test.
    from storage.cleaner.offset_map import OffsetMap

    cleaner = h.cleaner.new_cleaner()
    cleaner.offset_map = OffsetMap(24 * 40, load_factor=1.0)
    ends = []
    for _ in range(10):
        grabbed = h.manager.grab_filthiest_compacted_log()
        if grabbed is None:
            break
        ltc, d = grabbed
        end, _ = cleaner.clean(ltc)
        h.manager.done_cleaning(TP, d, end)
        ends.append(end)
    assert len(ends) >= 3 and ends == sorted(ends)
    assert latest(read_log(h.log)) == expected


@pytest.mark.parametrize("step", ["dropped", "swap", "deleted", "live"])
def test_crash_at_each_swap_step_recovers(tmp_path: Path, step: str) -> None:
    h = Harness(tmp_path, compact_config(segment_bytes=800))
    expected = fill(h, 150, keys=6)
    end = h.log.log_end_offset

    class Crash(Exception):
        pass

    def hook(name: str) -> None:
        if name == step:
            raise Crash(name)

    h.log.swap_step_hook = hook
    with pytest.raises(Crash):
        h.cleaner.new_cleaner().clean(h.manager.grab_filthiest_compacted_log()[0])  # type: ignore[index]
    # Simulate the process dying: reload from disk without closing (no snapshots).
    h.log = load_log(tmp_path / "t-0", h.config, h.clock)
    h.log.update_high_watermark(h.log.log_end_offset)
    names = [p.name for p in (tmp_path / "t-0").iterdir()]
    assert not any(n.endswith((".cleaned", ".swap")) for n in names)
    assert h.log.log_end_offset == end
    assert latest(read_log(h.log)) == expected
    # A later pass still works.
    h.manager = LogCleanerManager(lambda: {TP: (h.log, h.dir)}, h.clock)
    h.cleaner = LogCleaner(CleanerConfig(), h.manager, h.clock)
    h.clean()
    assert latest(read_log(h.log)) == expected


def test_loader_completes_swap_left_on_disk(tmp_path: Path) -> None:
    """Files as a crash right after the commit point leaves them: .log.swap plus the
    old live segments; the loader rolls forward."""
    h = Harness(tmp_path, compact_config(segment_bytes=800))
    expected = fill(h, 80, keys=4)

    def hook(name: str) -> None:
        if name == "swap":
            raise KeyboardInterrupt

    h.log.swap_step_hook = hook
    with pytest.raises(KeyboardInterrupt):
        h.cleaner.new_cleaner().clean(h.manager.grab_filthiest_compacted_log()[0])  # type: ignore[index]
    names = sorted(p.name for p in (tmp_path / "t-0").iterdir())
    # BaseException in the swap leaves the committed files: the cleaned files are gone
    # only when the failure came before the commit point.
    h.log = load_log(tmp_path / "t-0", h.config, h.clock)
    h.log.update_high_watermark(h.log.log_end_offset)
    assert latest(read_log(h.log)) == expected
    assert names


def test_abort_and_pause_waits_for_cleaning(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fill(h, 150)
    started = threading.Event()
    release = threading.Event()
    real = h.manager.check_done

    def slow_check(tp: tuple[str, int]) -> None:
        started.set()
        release.wait(5)
        real(tp)

    cleaner = h.cleaner.new_cleaner()
    cleaner._check_done = slow_check
    t = threading.Thread(target=h.cleaner.clean_once, args=(cleaner,))
    t.start()
    assert started.wait(5)
    assert h.manager.state(TP) is CleaningState.IN_PROGRESS
    waiter = threading.Thread(target=h.manager.abort_and_pause, args=(TP, 5))
    waiter.start()
    time.sleep(0.05)
    assert h.manager.state(TP) is CleaningState.ABORTED
    release.set()
    waiter.join(5)
    t.join(5)
    assert h.manager.state(TP) is CleaningState.PAUSED
    assert h.manager.grab_filthiest_compacted_log() is None  # paused logs are skipped
    h.manager.resume(TP)
    assert h.manager.state(TP) is None
    assert h.cleaner.stats()["aborted"] == 1
    assert not any(p.name.endswith(".cleaned") for p in (tmp_path / "t-0").iterdir())


def test_check_done_raises_when_not_in_progress(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(CleanerAbortedError):
        h.manager.check_done(TP)
    assert h.manager.pause_if_idle(TP)
    assert h.manager.pause_if_idle(TP)
    h.manager.resume(TP)
    assert h.manager.state(TP) is CleaningState.PAUSED
    h.manager.resume(TP)
    assert h.manager.state(TP) is None


def test_selection_respects_ratio_and_compaction_lags(tmp_path: Path) -> None:
    h = Harness(tmp_path, compact_config(min_cleanable_dirty_ratio=0.99))
    fill(h, 60)
    assert h.clean()  # never cleaned: ratio 1.0
    fill(h, 30)
    assert h.manager.grab_filthiest_compacted_log() is None  # ratio < 0.99
    assert h.manager.dirty_ratios[TP] > 0.5
    h.log.config = compact_config(min_cleanable_dirty_ratio=0.99, max_compaction_lag_ms=1000)
    h.clock.advance(5000)
    grabbed = h.manager.grab_filthiest_compacted_log()
    assert grabbed is not None and grabbed[0].need_compaction_now
    h.manager.done_cleaning(TP, None, None)
    h.log.config = compact_config(min_compaction_lag_ms=60_000)
    assert h.manager.grab_filthiest_compacted_log() is None  # everything too recent
    h.log.config = compact_config(cleanup_policy="delete")
    assert h.manager.grab_filthiest_compacted_log() is None


def test_checkpoint_truncation_and_reset(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    fill(h, 60)
    h.clean()
    cp = LogCleanerManager.read_checkpoint(tmp_path)[TP]
    assert cp > 0
    h.manager.maybe_truncate_checkpoint(tmp_path, TP, 3)
    assert LogCleanerManager.read_checkpoint(tmp_path)[TP] == 3
    info = h.manager.dirty_info(h.log, 10**9, h.clock.now_ms)
    assert info.first_dirty_offset == h.log.log_start_offset


def test_consumer_offsets_style_binary_keys(tmp_path: Path) -> None:
    h = Harness(tmp_path, compact_config())
    expected: dict[bytes, bytes | None] = {}
    for i in range(120):
        key = bytes([0, 1, 0, 5]) + b"group" + bytes([0, 3]) + b"t\x00" + bytes([i % 7])
        value = bytes([0, 3]) + i.to_bytes(8, "big") + b"\x00\xff" * 5
        h.append([(key, value)], codec=i % 5)
        expected[key] = value
    assert h.clean()
    assert latest(read_log(h.log)) == expected


def test_throttler_sleeps_to_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    class FakeEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            slept.append(timeout or 0.0)
            now[0] += timeout or 0.0
            return False

    t = Throttler(1000.0, check_interval_s=0.1, monotonic=lambda: now[0], wake=FakeEvent())
    t.maybe_throttle(50)  # under an interval's worth of bytes: no check yet
    assert slept == []
    now[0] += 0.1
    t.maybe_throttle(950)  # 1000 bytes in 0.1 s at 1000 B/s: sleep 0.9 s
    assert len(slept) == 1 and abs(slept[0] - 0.9) < 1e-6
    # A burst shorter than the check interval is throttled as soon as it exceeds
    # an interval's worth of bytes (a fast pass must not escape the limit).
    burst = Throttler(1000.0, check_interval_s=0.1, monotonic=lambda: now[0], wake=FakeEvent())
    burst.maybe_throttle(5000)
    assert len(slept) == 2 and abs(slept[1] - 5.0) < 1e-3
    assert not Throttler(float("1.7976931348623157e308")).enabled


def test_cleaner_threads_run_and_stop(tmp_path: Path) -> None:
    h = Harness(tmp_path, threads=2, backoff_ms=10)
    expected = fill(h, 80)
    h.cleaner.start()
    try:
        deadline = time.monotonic() + 10
        while h.cleaner.stats()["passes"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        h.cleaner.shutdown()
    assert not h.cleaner.running
    assert h.cleaner.stats()["passes"] >= 1
    assert latest(read_log(h.log)) == expected


def test_disabled_cleaner_starts_no_threads(tmp_path: Path) -> None:
    h = Harness(tmp_path, enable=False)
    h.cleaner.start()
    assert not h.cleaner.running and h.cleaner.stats()["threads"] == 0


def test_consumer_offsets_records_compact(tmp_path: Path) -> None:
    """__consumer_offsets (cleanup.policy=compact) with the group coordinator's codec:
    the latest commit per (group, topic, partition) survives, a deleted group's
    tombstone hides its metadata."""
    from broker.group.records import (
        GroupMetadataKey,
        OffsetCommitKey,
        OffsetCommitValue,
        decode_key,
        decode_offset_commit_value,
        encode_group_metadata_key,
        encode_offset_commit_key,
        encode_offset_commit_value,
    )

    clock = ManualClock(T0)
    log = load_log(tmp_path / "__consumer_offsets-0", compact_config(), clock)
    tp = ("__consumer_offsets", 0)
    manager = LogCleanerManager(lambda: {tp: (log, tmp_path)}, clock)
    cleaner = LogCleaner(CleanerConfig(), manager, clock)
    expected: dict[OffsetCommitKey, int] = {}
    for i in range(200):
        key = OffsetCommitKey(f"g{i % 3}", "orders", i % 4)
        value = OffsetCommitValue(offset=i, commit_timestamp=clock.now_ms)
        recs = [NewRecord(encode_offset_commit_key(key), encode_offset_commit_value(value),
                          timestamp=clock.now_ms)]
        log.append_as_leader(bytearray(encode_batch(recs, compression=i % 5)), 0)
        expected[key] = i
    gm = encode_group_metadata_key(GroupMetadataKey("gone"))
    log.append_as_leader(bytearray(encode_batch([NewRecord(gm, b"\x00\x03meta")])), 0)
    log.append_as_leader(bytearray(encode_batch([NewRecord(gm, None)])), 0)
    log.roll()
    log.update_high_watermark(log.log_end_offset)
    assert cleaner.clean_once()
    got: dict[object, int | None] = {}
    for _, k, v in read_log(log):
        assert k is not None
        decoded = decode_key(k)
        got[decoded] = None if v is None else (
            decode_offset_commit_value(v).offset if isinstance(decoded, OffsetCommitKey) else 0
        )
    assert {k: v for k, v in got.items() if isinstance(k, OffsetCommitKey)} == expected
    assert got[GroupMetadataKey("gone")] is None
    assert len(read_log(log)) == len(expected) + 1
