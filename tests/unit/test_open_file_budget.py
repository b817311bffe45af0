"""Descriptors per partition, index preallocation and atomic topic creation (issue 12 §3)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.open_files import is_exhausted
from broker.partition_limits import PartitionLimits
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from protocol.errors import KafkaError
from storage.clock import ManualClock
from storage.index_base import ALLOCATION_CHUNK
from storage.log_config import LogConfig
from storage.log_manager import LogManager
from storage.offset_index import OffsetIndex
from storage.transaction_index import AbortedTxn, TransactionIndex


def open_fds() -> list[str]:
    targets = []
    for n in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the descriptor listdir itself used
            targets.append(os.readlink(f"/proc/self/fd/{n}"))
    return targets


def fds_under(path: Path) -> int:
    return sum(1 for target in open_fds() if target.startswith(str(path)))


def test_a_partition_keeps_one_descriptor(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], LogConfig(), ManualClock(1_000))
    manager.load()
    logs = [manager.get_or_create_log("t", i, None, LogConfig()) for i in range(20)]
    assert fds_under(tmp_path) == 20  # the active segments' .log files, nothing else
    for plog in logs:
        plog.roll()
    assert fds_under(tmp_path) == 20  # an empty active segment does not roll
    manager.shutdown()
    assert fds_under(tmp_path) == 0
    again = LogManager([tmp_path], LogConfig(), ManualClock(2_000))
    again.load()
    assert fds_under(tmp_path) == 20
    again.shutdown()


def test_index_is_mapped_lazily_and_allocated_ahead(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000000.index"
    idx = OffsetIndex(path, 0, 1024 * 1024)
    assert path.stat().st_size == 1024 * 1024
    # Sparse except the first chunk, which was allocated on open (ENOSPC shows here).
    assert path.stat().st_blocks * 512 <= ALLOCATION_CHUNK + 4096
    assert idx._region is None and fds_under(tmp_path) == 0
    for i in range(1, 2000):
        idx.append(i, i * 100)
    assert idx._region is not None and fds_under(tmp_path) == 0
    assert path.stat().st_blocks * 512 >= 2000 * 8
    assert idx.lookup(1500) == (1500, 150_000)
    idx.close()
    assert path.stat().st_size == 1999 * 8
    with pytest.raises(ValueError):
        idx.lookup(3)


def test_full_disk_is_an_error_at_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(OSError) as info:
        OffsetIndex(tmp_path / "00000000000000000000.index", 0, 1024 * 1024)
    assert info.value.errno == errno.ENOSPC


def test_transaction_index_keeps_no_descriptor(tmp_path: Path) -> None:
    idx = TransactionIndex(tmp_path / "00000000000000000000.txnindex", 0)
    idx.append(AbortedTxn(7, 0, 10, 11))
    idx.append(AbortedTxn(8, 12, 20, 21))
    assert fds_under(tmp_path) == 0
    idx.flush()
    assert TransactionIndex(idx.path, 0).entries == idx.entries


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    config = load_config(
        None, ["listeners=PLAINTEXT://127.0.0.1:0", f"log.dirs={tmp_path / 'logs'}"]
    )
    b = KafkaBroker(config)
    await b.start()
    try:
        yield b
    finally:
        await b.shutdown()


async def test_failed_creation_leaves_nothing_behind(
    broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = broker.services
    assert services is not None
    manager = services.log_manager
    real = manager.get_or_create_log
    calls = 0

    def flaky(topic: str, partition: int, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 5:
            (tmp_path / "logs" / f"{topic}-{partition}").mkdir()  # as a failed load leaves it
            raise OSError(errno.EMFILE, "Too many open files")
        return real(topic, partition, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(manager, "get_or_create_log", flaky)
    with pytest.raises(KafkaError) as info:
        await services.topic_manager.create(TopicSpec("half", 8, 1))
    assert info.value.error_code == ErrorCode.kafka_storage_error
    assert "ulimit" in str(info.value)
    assert services.metadata.topic("half") is None
    assert not any(t == "half" for t, _ in services.replica_manager.partitions)
    assert manager.get_log("half", 0) is None
    await broker._delete_pending()
    live = [p.name for p in (tmp_path / "logs").iterdir() if p.name.startswith("half-")]
    assert live == ["half-4"]  # only the directory the fake failure made itself

    # Added partitions cannot be taken back out of the metadata (nor can Kafka's): the
    # request answers KAFKA_STORAGE_ERROR and the one that failed stays offline here.
    monkeypatch.setattr(manager, "get_or_create_log", real)
    await services.topic_manager.create(TopicSpec("grow", 2, 1))
    calls = 0
    monkeypatch.setattr(manager, "get_or_create_log", flaky)
    with pytest.raises(KafkaError) as info:
        await services.topic_manager.add_partitions("grow", 12, None, False)
    assert info.value.error_code == ErrorCode.kafka_storage_error
    assert "ulimit" in str(info.value)
    local = sorted(p for t, p in services.replica_manager.partitions if t == "grow")
    assert local == [p for p in range(12) if p != 6]


def test_headroom_check_refuses_before_creating() -> None:
    limits = PartitionLimits(
        100_000, lambda: 10, open_files=lambda: 600, file_limit=lambda: 1024, fd_reserve=256
    )
    limits.check_new_local(168)  # 600 + 168 + 256 = 1024
    with pytest.raises(KafkaError) as info:
        limits.check_new_local(169)
    assert info.value.error_code == ErrorCode.policy_violation
    assert "open-file limit" in str(info.value)
    maps = PartitionLimits(100_000, lambda: 30_000, map_limit=lambda: 65_530)
    maps.check_new_local(1_000)
    with pytest.raises(KafkaError) as info:
        maps.check_new_local(2_300)
    assert "vm.max_map_count" in str(info.value)


def test_is_exhausted_follows_causes() -> None:
    try:
        try:
            raise OSError(errno.EMFILE, "Too many open files")
        except OSError as inner:
            raise RuntimeError("load failed") from inner
    except RuntimeError as exc:
        assert is_exhausted(exc)
    assert not is_exhausted(OSError(errno.ENOSPC, "full"))


def test_cluster_check_names_the_broker_that_would_exceed_the_limit() -> None:
    limits = PartitionLimits(10, lambda: 0)
    limits.check_brokers({1: 9, 2: 4}, {1: 1, 2: 6})  # exactly at the limit: allowed
    with pytest.raises(KafkaError) as info:
        limits.check_brokers({1: 9, 2: 4, 3: 10}, {1: 1, 2: 7})
    assert info.value.error_code == ErrorCode.policy_violation
    assert str(info.value) == (
        "Broker 2 hosts 4 partition(s); 7 more would exceed josef.max.partitions=10."
    )
    limits.check_brokers({3: 10}, {1: 10})  # a full broker not named by the assignment
