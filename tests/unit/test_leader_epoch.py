"""LeaderEpochFileCache: Kafka's assign/endOffsetFor/truncation semantics and persistence."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.leader_epoch import LeaderEpochFileCache


def make(tmp_path: Path, *entries: tuple[int, int]) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint")
    for epoch, offset in entries:
        cache.assign(epoch, offset)
    return cache


def test_empty(tmp_path: Path) -> None:
    cache = make(tmp_path)
    assert cache.latest_epoch == -1
    assert cache.entries == []
    assert cache.epoch_for_offset(0) == -1
    assert cache.end_offset_for(0, 10) == (-1, -1)
    assert not (tmp_path / "leader-epoch-checkpoint").exists()


def test_assign_persists_and_reloads(tmp_path: Path) -> None:
    cache = make(tmp_path, (0, 0), (2, 10), (5, 30))
    assert cache.entries == [(0, 0), (2, 10), (5, 30)]
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n3\n0 0\n2 10\n5 30\n"
    reloaded = LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint")
    assert reloaded.entries == [(0, 0), (2, 10), (5, 30)]
    assert reloaded.latest_epoch == 5


def test_accepts_partition_dir(tmp_path: Path) -> None:
    cache = LeaderEpochFileCache(tmp_path)
    cache.assign(1, 0)
    assert (tmp_path / "leader-epoch-checkpoint").exists()


def test_same_epoch_later_offset_is_noop(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5))
    assert cache.assign(1, 9) is False
    assert cache.assign(1, 5) is False
    assert cache.entries == [(1, 5)]


def test_same_epoch_earlier_offset_replaces(tmp_path: Path) -> None:
    # Kafka's isUpdateNeeded: same epoch but smaller start offset is an update.
    cache = make(tmp_path, (0, 0), (1, 5))
    assert cache.assign(1, 3) is True
    assert cache.entries == [(0, 0), (1, 3)]


def test_lower_epoch_truncates_conflicting_entries(tmp_path: Path) -> None:
    # Kafka's maybeTruncateNonMonotonicEntries removes entries at the end whose
    # epoch >= new epoch or start offset >= new start offset.
    cache = make(tmp_path, (0, 0), (2, 10), (4, 20))
    assert cache.assign(3, 15) is True
    assert cache.entries == [(0, 0), (2, 10), (3, 15)]
    assert cache.assign(5, 12) is True  # higher epoch, lower offset than (3, 15)
    assert cache.entries == [(0, 0), (2, 10), (5, 12)]


def test_invalid_entry_rejected(tmp_path: Path) -> None:
    cache = make(tmp_path)
    with pytest.raises(ValueError):
        cache.assign(-1, 0)
    with pytest.raises(ValueError):
        cache.assign(0, -1)


def test_epoch_for_offset(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10), (4, 20))
    assert cache.epoch_for_offset(0) == -1
    assert cache.epoch_for_offset(5) == 1
    assert cache.epoch_for_offset(9) == 1
    assert cache.epoch_for_offset(10) == 3
    assert cache.epoch_for_offset(19) == 3
    assert cache.epoch_for_offset(20) == 4
    assert cache.epoch_for_offset(1000) == 4


def test_end_offset_for(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10), (4, 20))
    leo = 30
    assert cache.end_offset_for(-1, leo) == (-1, -1)  # undefined epoch
    assert cache.end_offset_for(4, leo) == (4, leo)  # latest epoch → LEO
    assert cache.end_offset_for(3, leo) == (3, 20)  # start of the next epoch
    assert cache.end_offset_for(1, leo) == (1, 10)
    assert cache.end_offset_for(2, leo) == (1, 10)  # unknown: largest epoch below, next start
    assert cache.end_offset_for(0, leo) == (0, 5)  # older than all: requested, first start
    assert cache.end_offset_for(5, leo) == (-1, -1)  # newer than latest


def test_truncate_from_end(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10), (4, 20))
    assert cache.truncate_from_end(25) is False
    assert cache.truncate_from_end(20) is True
    assert cache.entries == [(1, 5), (3, 10)]
    assert cache.truncate_from_end(7) is True
    assert cache.entries == [(1, 5)]
    assert LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint").entries == [(1, 5)]


def test_truncate_from_start(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10), (4, 20))
    assert cache.truncate_from_start(4) is False
    assert cache.truncate_from_start(12) is True
    assert cache.entries == [(3, 12), (4, 20)]
    # Exclusive: an entry starting exactly at the offset is kept.
    cache.truncate_from_start(20)
    assert cache.entries == [(4, 20)]
    cache.truncate_from_start(100)
    assert cache.entries == [(4, 100)]
    assert LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint").entries == [(4, 100)]


def test_truncate_without_flush(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10))
    cache.truncate_from_end(10, flush=False)
    assert LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint").entries == [(1, 5), (3, 10)]
    cache.flush()
    assert LeaderEpochFileCache(tmp_path / "leader-epoch-checkpoint").entries == [(1, 5)]


def test_clear_and_flush(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5))
    cache.clear_and_flush()
    assert cache.entries == []
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n0\n"


def test_entries_in_range(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10), (4, 20))
    assert cache.entries_in_range(7, 20) == [(1, 7), (3, 10)]
    assert cache.entries == [(1, 5), (3, 10), (4, 20)]


def test_neighbours(tmp_path: Path) -> None:
    cache = make(tmp_path, (1, 5), (3, 10))
    assert cache.previous_epoch(3) == 1
    assert cache.previous_epoch(1) is None
    assert cache.next_epoch(1) == 3
    assert cache.next_epoch(2) == 3
    assert cache.next_epoch(3) is None
    assert cache.start_offset_of(3) == 10
    assert cache.start_offset_of(2) is None


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 200)), max_size=30))
def test_entries_stay_monotonic(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[int, int]]
) -> None:
    cache = LeaderEpochFileCache(tmp_path_factory.mktemp("e") / "leader-epoch-checkpoint")
    for epoch, offset in ops:
        cache.assign(epoch, offset)
        entries = cache.entries
        assert entries[-1][0] == epoch
        for (e1, o1), (e2, o2) in itertools.pairwise(entries):
            assert e1 < e2 and o1 < o2
    assert LeaderEpochFileCache(cache.path).entries == cache.entries


def test_assign_all_and_is_empty(tmp_path: Path) -> None:
    cache = make(tmp_path)
    assert cache.is_empty
    cache.assign_all([(1, 0), (2, 5), (2, 7)])
    assert not cache.is_empty
    assert LeaderEpochFileCache(cache.path).entries == [(1, 0), (2, 5)]


def test_deferred_assign_is_written_by_flush_if_dirty(tmp_path: Path) -> None:
    cache = make(tmp_path, (0, 0))
    path = tmp_path / "leader-epoch-checkpoint"
    assert not cache.dirty
    assert cache.assign(3, 40, flush=False) and cache.dirty
    assert path.read_text() == "0\n1\n0 0\n"  # not yet on disk
    assert not cache.assign(3, 45, flush=False)  # no change: nothing more to write
    assert cache.flush_if_dirty() and not cache.dirty
    assert path.read_text() == "0\n2\n0 0\n3 40\n"
    assert not cache.flush_if_dirty()
    cache.truncate_from_end(40, flush=False)
    assert cache.dirty
    cache.clear()
    assert cache.dirty
