"""TransactionIndex: Kafka's 34-byte .txnindex entries, range queries, truncation."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from storage.transaction_index import (
    ENTRY_SIZE,
    AbortedTxn,
    CorruptIndexError,
    TransactionIndex,
)


def idx_path(tmp_path: Path, base: int = 0) -> Path:
    return tmp_path / f"{base:020d}.txnindex"


def test_entry_format_matches_kafka() -> None:
    txn = AbortedTxn(producer_id=7, first_offset=10, last_offset=20, last_stable_offset=21)
    data = txn.to_bytes()
    assert len(data) == ENTRY_SIZE == 34
    assert data == struct.pack(">hqqqq", 0, 7, 10, 20, 21)
    assert AbortedTxn.from_bytes(data) == txn


def test_file_created_lazily(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    assert idx.collect_aborted(0, 100) == []
    idx.flush()
    idx.truncate_to(0)
    idx.reset()
    assert not idx.path.exists()
    idx.append(AbortedTxn(1, 0, 5, 6))
    assert idx.path.exists()
    idx.close()


def test_round_trip(tmp_path: Path) -> None:
    txns = [AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 3, 9, 10), AbortedTxn(1, 12, 15, 16)]
    idx = TransactionIndex(idx_path(tmp_path))
    for t in txns:
        idx.append(t)
    idx.flush()
    idx.close()
    assert idx.path.stat().st_size == 3 * ENTRY_SIZE
    reopened = TransactionIndex(idx_path(tmp_path))
    assert reopened.all_aborted_txns() == txns
    assert reopened.last_offset == 15
    reopened.sanity_check()
    # Appending after reopen continues at the end.
    reopened.append(AbortedTxn(3, 16, 20, 21))
    reopened.close()
    assert TransactionIndex(idx_path(tmp_path)).entries[-1] == AbortedTxn(3, 16, 20, 21)


def test_last_offsets_must_increase(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    idx.append(AbortedTxn(1, 0, 5, 6))
    with pytest.raises(ValueError):
        idx.append(AbortedTxn(2, 1, 5, 6))
    with pytest.raises(ValueError):
        idx.append(AbortedTxn(2, 1, 4, 6))
    idx.close()


def test_collect_aborted_ranges(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    # a aborted while b (started at 5) was still open, so a's LSO is 5.
    a = AbortedTxn(1, 0, 10, 5)
    b = AbortedTxn(2, 5, 20, 21)
    c = AbortedTxn(3, 25, 30, 31)
    for t in (a, b, c):
        idx.append(t)
    assert idx.collect_aborted(0, 5) == [a]  # b starts at 5: not below the bound
    assert idx.collect_aborted(0, 6) == [a, b]
    assert idx.collect_aborted(11, 25) == [b]  # a ended at 10
    assert idx.collect_aborted(10, 11) == [a, b]
    assert idx.collect_aborted(21, 25) == []
    assert idx.collect_aborted(21, 26) == [c]
    assert idx.collect_aborted(31, 100) == []
    idx.close()


def test_collect_completeness_flag(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    idx.append(AbortedTxn(1, 0, 10, 11))
    idx.append(AbortedTxn(2, 12, 20, 21))
    # LSO of the first entry (11) reaches the bound: search can stop in this segment.
    result = idx.collect_aborted_txns(0, 11)
    assert result.is_complete and result.aborted == [AbortedTxn(1, 0, 10, 11)]
    result = idx.collect_aborted_txns(0, 50)
    assert not result.is_complete and len(result.aborted) == 2
    idx.close()


def test_truncate_to(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    for t in (AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 3, 9, 10), AbortedTxn(1, 12, 15, 16)):
        idx.append(t)
    idx.truncate_to(9)  # removes entries with last offset >= 9
    assert idx.entries == [AbortedTxn(1, 0, 5, 6)]
    assert idx.path.stat().st_size == ENTRY_SIZE
    # The last offset check follows the truncation.
    idx.append(AbortedTxn(4, 7, 8, 9))
    idx.close()
    assert TransactionIndex(idx_path(tmp_path)).entries == [
        AbortedTxn(1, 0, 5, 6),
        AbortedTxn(4, 7, 8, 9),
    ]


def test_reset_and_delete(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    idx.append(AbortedTxn(1, 0, 5, 6))
    idx.reset()
    assert idx.entries == []
    assert idx.path.stat().st_size == 0
    idx.append(AbortedTxn(1, 0, 2, 3))
    assert idx.delete() is True
    assert not idx.path.exists()
    assert idx.delete() is False


def test_sanity_check_detects_partial_entry(tmp_path: Path) -> None:
    path = idx_path(tmp_path)
    path.write_bytes(AbortedTxn(1, 0, 5, 6).to_bytes() + b"\x00" * 10)
    with pytest.raises(CorruptIndexError, match="txnindex"):
        TransactionIndex(path).sanity_check()


def test_sanity_check_detects_entry_before_segment(tmp_path: Path) -> None:
    path = idx_path(tmp_path, base=100)
    path.write_bytes(AbortedTxn(1, 0, 50, 51).to_bytes())
    idx = TransactionIndex(path)
    assert idx.start_offset == 100
    with pytest.raises(CorruptIndexError):
        idx.sanity_check()
    # A transaction that started in an earlier segment but ended here is fine.
    path.write_bytes(AbortedTxn(1, 50, 120, 121).to_bytes())
    TransactionIndex(path).sanity_check()


def test_unknown_version_rejected(tmp_path: Path) -> None:
    path = idx_path(tmp_path)
    path.write_bytes(struct.pack(">hqqqq", 1, 1, 0, 5, 6))
    with pytest.raises(CorruptIndexError):
        TransactionIndex(path).entries  # noqa: B018


def test_rename(tmp_path: Path) -> None:
    idx = TransactionIndex(idx_path(tmp_path))
    idx.append(AbortedTxn(1, 0, 5, 6))
    new = tmp_path / "00000000000000000000.txnindex.deleted"
    idx.rename_to(new)
    assert new.exists() and not idx_path(tmp_path).exists()
    idx.append(AbortedTxn(1, 6, 8, 9))
    idx.close()
    assert new.stat().st_size == 2 * ENTRY_SIZE
