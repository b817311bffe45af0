"""Checkpoint files: Kafka's text format, atomic rewrite, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.checkpoint import (
    CheckpointError,
    LeaderEpochCheckpointFile,
    OffsetCheckpointFile,
    write_atomically,
)


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    assert OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint").read() == {}


def test_empty_file_reads_empty(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    path.write_text("")
    assert OffsetCheckpointFile(path).read() == {}


def test_round_trip_and_exact_format(tmp_path: Path) -> None:
    path = tmp_path / "replication-offset-checkpoint"
    cp = OffsetCheckpointFile(path)
    cp.write({("orders", 0): 42, ("orders", 1): 0, ("__consumer_offsets", 17): 123456789012})
    assert path.read_text() == (
        "0\n3\norders 0 42\norders 1 0\n__consumer_offsets 17 123456789012\n"
    )
    assert OffsetCheckpointFile(path).read() == {
        ("orders", 0): 42,
        ("orders", 1): 0,
        ("__consumer_offsets", 17): 123456789012,
    }
    assert not path.with_name(path.name + ".tmp").exists()


def test_reads_kafka_written_file_with_extra_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    path.write_text("0\n2\ntp1  0  5\ntp2\t3\t9\n")
    assert OffsetCheckpointFile(path).read() == {("tp1", 0): 5, ("tp2", 3): 9}


def test_empty_mapping(tmp_path: Path) -> None:
    cp = OffsetCheckpointFile(tmp_path / "cp")
    cp.write({})
    assert (tmp_path / "cp").read_text() == "0\n0\n"
    assert cp.read() == {}


def test_rewrite_replaces(tmp_path: Path) -> None:
    cp = OffsetCheckpointFile(tmp_path / "cp")
    cp.write({("a", 0): 1, ("b", 0): 2})
    cp.write({("a", 0): 5})
    assert cp.read() == {("a", 0): 5}


def test_leftover_tmp_is_ignored_and_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    cp = OffsetCheckpointFile(path)
    cp.write({("a", 0): 1})
    # A crash between writing the temp file and renaming it leaves garbage behind.
    (tmp_path / "cp.tmp").write_text("garbage that is not a checkpoint")
    assert cp.read() == {("a", 0): 1}
    cp.write({("a", 0): 2})
    assert cp.read() == {("a", 0): 2}
    assert not (tmp_path / "cp.tmp").exists()


@pytest.mark.parametrize(
    "content",
    [
        "1\n1\na 0 1\n",  # wrong version
        "x\n1\na 0 1\n",  # version not a number
        "0\nmany\na 0 1\n",  # count not a number
        "0\n2\na 0 1\n",  # fewer entries than announced
        "0\n1\na 0\n",  # too few fields
        "0\n1\na zero 1\n",  # partition not a number
        "0\n1\na 0 1 2\n",  # too many fields
    ],
)
def test_malformed_raises_naming_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "log-start-offset-checkpoint"
    path.write_text(content)
    with pytest.raises(CheckpointError, match="log-start-offset-checkpoint"):
        OffsetCheckpointFile(path).read()


def test_topic_with_space_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        OffsetCheckpointFile(tmp_path / "cp").write({("bad topic", 0): 1})


def test_leader_epoch_checkpoint_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "leader-epoch-checkpoint"
    cp = LeaderEpochCheckpointFile(path)
    cp.write([(0, 0), (3, 100), (7, 250)])
    assert path.read_text() == "0\n3\n0 0\n3 100\n7 250\n"
    assert cp.read() == [(0, 0), (3, 100), (7, 250)]


def test_write_atomically(tmp_path: Path) -> None:
    path = tmp_path / "meta.properties"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert not (tmp_path / "meta.properties.tmp").exists()


_topics = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="._-"),
    min_size=1,
    max_size=20,
)


@given(
    entries=st.dictionaries(
        st.tuples(_topics, st.integers(0, 10_000)), st.integers(-1, 2**63 - 1), max_size=30
    )
)
def test_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, entries: dict[tuple[str, int], int]
) -> None:
    path = tmp_path_factory.mktemp("cp") / "cp"
    cp = OffsetCheckpointFile(path)
    cp.write(entries)
    assert cp.read() == entries
