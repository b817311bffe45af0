"""A failing log dir goes offline as in Kafka (issue 12 §5): errors, not crashes."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.records import NewRecord, encode_batch
from storage.clock import ManualClock
from storage.log_config import LogConfig
from storage.log_dir_failure import KafkaStorageError, LogDirFailureChannel
from storage.log_manager import CLEAN_SHUTDOWN_MARKER, LogManager


def batch(n: int = 1) -> bytearray:
    return bytearray(encode_batch([NewRecord(b"k", b"v" * 100) for _ in range(n)]))


class FullDisk:
    """Makes pwrite/fsync/fallocate under ``root`` fail with ENOSPC once armed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = str(root)
        self.armed = False
        self._pwrite = os.pwrite
        self._write = os.write
        monkeypatch.setattr(os, "pwrite", self._guard(self._pwrite))
        monkeypatch.setattr(os, "write", self._guard(self._write))

    def _guard(self, real: Callable[..., int]) -> Callable[..., int]:
        def wrapped(fd: int, *args: object) -> int:
            if self.armed:
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    target = ""
                if target.startswith(self.root):
                    raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, *args)

        return wrapped


def test_full_dir_goes_offline_and_the_other_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    channel = LogDirFailureChannel()
    reports: list[Path] = []
    channel.add_listener(lambda d, reason: reports.append(d))
    manager = LogManager([a, b], LogConfig(), ManualClock(1_000), failure_channel=channel)
    manager.load()
    in_a = manager.get_or_create_log("t", 0, None, LogConfig())
    in_b = manager.get_or_create_log("t", 1, None, LogConfig())
    assert in_a.directory.parent == a and in_b.directory.parent == b
    in_a.append_as_leader(batch(), 0)
    full = FullDisk(monkeypatch, a)
    full.armed = True
    with pytest.raises(KafkaStorageError) as info:
        in_a.append_as_leader(batch(), 0)
    assert info.value.error_code == ErrorCode.kafka_storage_error
    assert reports == [a] and manager.live_log_dirs == [b]
    assert in_a.offline and in_a.closed
    with pytest.raises(KafkaStorageError):
        in_a.read(0, 1000)  # offline: nothing touches the failed dir again
    in_b.append_as_leader(batch(), 0)
    assert in_b.read(0, 10_000).records
    # New partitions go to the live dir only; background jobs skip the failed one.
    assert manager.get_or_create_log("t", 2, None, LogConfig()).directory.parent == b
    manager.flush_dirty_logs()
    manager.checkpoint_recovery_points()
    manager.cleanup_logs()
    info_a, info_b = manager.describe_log_dirs()
    assert info_a.error_code == ErrorCode.kafka_storage_error
    assert info_b.error_code == ErrorCode.none
    manager.shutdown()  # never raises
    assert not (a / CLEAN_SHUTDOWN_MARKER).exists()
    assert (b / CLEAN_SHUTDOWN_MARKER).exists()
    # Space is back: a restart recovers the failed dir, the acknowledged batch is there.
    full.armed = False
    again = LogManager([a, b], LogConfig(), ManualClock(2_000))
    again.load()
    restored = again.get_log("t", 0)
    assert restored is not None and restored.log_end_offset == 1
    again.shutdown()


def test_checkpoint_failure_takes_its_dir_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = LogDirFailureChannel()
    manager = LogManager([tmp_path], LogConfig(), ManualClock(1_000), failure_channel=channel)
    manager.load()
    plog = manager.get_or_create_log("t", 0, None, LogConfig())
    plog.append_as_leader(batch(), 0)
    full = FullDisk(monkeypatch, tmp_path)
    full.armed = True
    manager.checkpoint_recovery_points()  # logged, reported, not raised
    assert channel.is_offline(tmp_path) and plog.offline
    manager.shutdown()
    assert not (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()


def test_all_dirs_failing_to_load_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = LogManager([tmp_path], LogConfig(), ManualClock(1_000))
    first.load()
    first.get_or_create_log("t", 0, None, LogConfig()).append_as_leader(batch(), 0)
    first.shutdown()

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    again = LogManager([tmp_path], LogConfig(), ManualClock(2_000))
    with pytest.raises(KafkaStorageError) as info:
        again.load()
    assert "all log dirs failed to load" in str(info.value) and "ENOSPC" in str(info.value)


def test_descriptor_shortage_does_not_fail_the_dir(tmp_path: Path) -> None:
    channel = LogDirFailureChannel()
    manager = LogManager([tmp_path], LogConfig(), ManualClock(1_000), failure_channel=channel)
    manager.load()
    plog = manager.get_or_create_log("t", 0, None, LogConfig())
    assert plog.on_io_error is not None
    plog.on_io_error(plog, "roll", OSError(errno.EMFILE, "Too many open files"))
    assert not channel.offline_dirs()
    manager.shutdown()
