"""Property: after cleaning, every key reads as its latest value (a tombstone older than
delete.retention.ms reads as absent), offsets strictly increase and batches are valid."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.record_batch import crc_is_valid, iter_headers
from protocol.records import NewRecord, encode_batch, iter_records
from storage.cleaner.log_cleaner import CleanerConfig, LogCleaner
from storage.cleaner.manager import LogCleanerManager
from storage.clock import ManualClock
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_loader import load_log

KEYS = [b"a", b"b", b"c", b"d", b"e", b"\x00\x01", b"long-key-" * 4]
RETENTION = 1000

record = st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), st.binary(max_size=30)))
batch = st.tuples(st.lists(record, min_size=1, max_size=6), st.sampled_from([0, 1, 2, 3, 4]))
steps = st.lists(
    st.one_of(batch, st.sampled_from(["clean", "tick", "roll"])), min_size=1, max_size=40
)


def _read(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    out: list[tuple[int, bytes | None, bytes | None]] = []
    offset = log.log_start_offset
    prev = -1
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20).records
        if not data:
            break
        for pos, h in iter_headers(data):
            assert crc_is_valid(data, pos, h)
            assert h.base_offset >= offset or h.last_offset >= offset
            offset = h.next_offset
        for _, r in iter_records(data):
            assert r.offset > prev
            prev = r.offset
            out.append((r.offset, r.key, r.value))
    return out


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps, st.integers(min_value=300, max_value=1500))
def test_cleaning_keeps_exactly_the_latest_values(
    ops: list[object], segment_bytes: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock()
        config = LogConfig(
            cleanup_policy="compact",
            segment_bytes=segment_bytes,
            index_interval_bytes=64,
            segment_index_bytes=4096,
            min_cleanable_dirty_ratio=0.0,
            delete_retention_ms=RETENTION,
            file_delete_delay_ms=0,
        )
        log = load_log(Path(tmp) / "t-0", config, clock)
        manager = LogCleanerManager(lambda: {("t", 0): (log, Path(tmp))}, clock)
        cleaner = LogCleaner(CleanerConfig(), manager, clock)
        expected: dict[bytes, bytes | None] = {}
        tombstoned_at: dict[bytes, int] = {}  # key → offset of its latest tombstone
        cleaned_at: dict[int, int] = {}  # offset → time of the first clean covering it
        for op in ops:
            if op == "clean":
                cleaner.clean_once()
                cp = manager.read_checkpoint(Path(tmp)).get(("t", 0), 0)
                for off in range(cp):
                    cleaned_at.setdefault(off, clock.now_ms)
                log.delete_pending()
            elif op == "tick":
                clock.advance(RETENTION // 2 + 1)
            elif op == "roll":
                log.roll()
            else:
                assert isinstance(op, tuple)
                pairs, codec = op
                recs = [NewRecord(k, v, timestamp=clock.now_ms) for k, v in pairs]
                info = log.append_as_leader(bytearray(encode_batch(recs, compression=codec)), 0)
                log.update_high_watermark(log.log_end_offset)
                for i, (k, v) in enumerate(pairs):
                    expected[k] = v
                    if v is None:
                        tombstoned_at[k] = info.first_offset + i
                    else:
                        tombstoned_at.pop(k, None)
        log.roll()
        cleaner.clean_once()
        records = _read(log)
        got: dict[bytes, bytes | None] = {}
        for _, k, v in records:
            assert k is not None
            got[k] = v
        for key, value in expected.items():
            if value is not None:
                assert got.get(key) == value, key
            elif key in got:
                assert got[key] is None  # a tombstone may stay until its horizon passes
            else:
                # Gone: only allowed after it was cleaned and retention passed.
                off = tombstoned_at[key]
                assert off in cleaned_at and clock.now_ms >= cleaned_at[off] + RETENTION
        assert set(got) <= set(expected)
        log.close()
