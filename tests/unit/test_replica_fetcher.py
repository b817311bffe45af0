"""The replica fetcher against a leader Partition behind a fake connection: it copies the
leader's batches, resolves diverging epochs by truncation, and rides out the moments of a
leadership change when the leader does not yet know it leads (NOT_LEADER_OR_FOLLOWER,
UNKNOWN_LEADER_EPOCH: back off and retry, as Kafka's fetcher does)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.replica.partition import Partition
from cluster.metadata import PartitionState
from cluster.replica_fetcher import FetcherConfig, ReplicaFetcherManager
from protocol.errors import KafkaError
from protocol.records import NewRecord, encode_batch
from storage.clock import ManualClock
from storage.log_config import LogConfig
from storage.log_loader import load_log

TOPIC_ID = uuid.UUID(int=11)


def records(n: int, start: int = 0) -> bytes:
    return encode_batch([NewRecord(b"k", b"v%d" % i) for i in range(start, start + n)])


def partition(tmp_path: Path, broker_id: int, clock: ManualClock) -> Partition:
    log = load_log(tmp_path / f"b{broker_id}" / "t-0", LogConfig(), clock, topic_id=TOPIC_ID)
    return Partition("t", 0, TOPIC_ID, log, broker_id, clock.milliseconds)


def state(leader: int, epoch: int, isr: list[int]) -> PartitionState:
    return PartitionState(replicas=[1, 2, 3], leader=leader, leader_epoch=epoch, isr=isr)


class FakeLeaderConnection:
    """Answers Fetch and ListOffsets from a leader Partition; ``refuse`` scripts errors."""

    def __init__(self, leader: Partition) -> None:
        self.leader = leader
        self.refuse: list[ErrorCode] = []
        self.fetches = 0

    async def send(self, request: Any, *, timeout: float | None = None) -> Any:
        await asyncio.sleep(0.001)
        if hasattr(request, "replica_state"):
            return self._fetch(request)
        return self._list_offsets(request)

    def _fetch(self, request: Any) -> Any:
        self.fetches += 1
        topics = []
        for t in request.topics:
            parts = []
            for p in t.partitions:
                parts.append(self._fetch_partition(request, p))
            topics.append(SimpleNamespace(topic_id=t.topic_id, partitions=parts))
        return SimpleNamespace(error_code=ErrorCode.none, responses=topics)

    def _fetch_partition(self, request: Any, p: Any) -> Any:
        leader = self.leader
        empty = SimpleNamespace(
            partition_index=p.partition,
            high_watermark=-1,
            log_start_offset=-1,
            records=None,
            diverging_epoch=None,
        )
        if self.refuse:
            empty.error_code = self.refuse.pop(0)
            return empty
        error = leader.check_serving(int(p.current_leader_epoch))
        if error != ErrorCode.none:
            empty.error_code = error
            return empty
        try:
            result = leader.fetch_records(
                int(p.fetch_offset),
                int(p.partition_max_bytes),
                0,
                True,
                replica_id=int(request.replica_state.replica_id),
                last_fetched_epoch=int(p.last_fetched_epoch),
                replica_log_start_offset=int(p.log_start_offset),
            )
        except KafkaError as exc:
            empty.error_code = exc.error_code
            return empty
        diverging = None
        if result.diverging_epoch is not None:
            diverging = SimpleNamespace(
                epoch=result.diverging_epoch[0], end_offset=result.diverging_epoch[1]
            )
        return SimpleNamespace(
            partition_index=p.partition,
            error_code=ErrorCode.none,
            high_watermark=result.high_watermark,
            log_start_offset=result.log_start_offset,
            records=result.records,
            diverging_epoch=diverging,
        )

    def _list_offsets(self, request: Any) -> Any:
        p = request.topics[0].partitions[0]
        found = (
            self.leader.latest_offset(0, int(request.replica_id))
            if int(p.timestamp) == -1
            else self.leader.earliest_offset()
        )
        part = SimpleNamespace(error_code=ErrorCode.none, offset=found.offset)
        return SimpleNamespace(topics=[SimpleNamespace(partitions=[part])])

    async def close(self) -> None:
        pass


class Logs:
    """The replica manager's follower-log calls, run in a thread as the real ones are."""

    def __init__(self, follower: Partition) -> None:
        self.follower = follower

    async def truncate_follower(self, replica: Any, offset: int) -> None:
        await asyncio.to_thread(self.follower.log.truncate_to, offset)

    async def reset_follower(self, replica: Any, start_offset: int) -> None:
        await asyncio.to_thread(self.follower.log.truncate_fully_and_start_at, start_offset)

    async def after_follower_append(self, replica: Any, info: Any) -> None:
        pass


def manager(follower: Partition, conn: FakeLeaderConnection) -> ReplicaFetcherManager:
    return ReplicaFetcherManager(
        FetcherConfig(broker_id=follower.broker_id, fetch_wait_max_ms=10, fetch_backoff_ms=20),
        Logs(follower),
        lambda _broker: ("127.0.0.1", 1),
        lambda _host, _port: conn,
        lambda: 1,
    )


async def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_follower_copies_the_leader_and_rides_out_a_leader_not_yet_leading(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    leader, follower = partition(tmp_path, 1, clock), partition(tmp_path, 2, clock)
    leader.make_leader(state(1, 3, [1, 2]))
    leader.append_records_to_leader(records(5), 1)
    follower.make_follower(state(1, 3, [1, 2]))
    conn = FakeLeaderConnection(leader)
    # The follower learned of the new leader before the leader did.
    conn.refuse = [ErrorCode.not_leader_or_follower, ErrorCode.unknown_leader_epoch]
    fetchers = manager(follower, conn)
    fetchers.add_partitions([follower])
    try:
        await wait_for(lambda: follower.log_end_offset == 5 and follower.high_watermark == 5)
        assert fetchers.fetching(("t", 0))
        assert follower.log.read(0, 1 << 20).records == leader.log.read(0, 1 << 20).records
    finally:
        await fetchers.shutdown()


async def test_fenced_follower_waits_for_the_controller(tmp_path: Path) -> None:
    clock = ManualClock()
    leader, follower = partition(tmp_path, 1, clock), partition(tmp_path, 2, clock)
    leader.make_leader(state(1, 5, [1]))
    follower.make_follower(state(1, 4, [1, 2]))  # an older epoch: the leader fences it
    conn = FakeLeaderConnection(leader)
    fetchers = manager(follower, conn)
    fetchers.add_partitions([follower])
    try:
        await wait_for(lambda: not any(f.partitions for f in fetchers.fetchers.values()))
    finally:
        await fetchers.shutdown()


@pytest.mark.parametrize("unreplicated", [0, 4])
async def test_former_leader_truncates_to_the_new_leader_and_catches_up(
    tmp_path: Path, unreplicated: int
) -> None:
    """With unreplicated records the log is cut back; without, only the epoch it led
    without appending is dropped (else it diverges on every fetch and never catches up)."""
    clock = ManualClock()
    old, new = partition(tmp_path, 1, clock), partition(tmp_path, 2, clock)
    old.make_leader(state(1, 0, [1, 2]))
    new.make_follower(state(1, 0, [1, 2]))
    data = records(3)
    old.append_records_to_leader(data, 1)
    new.append_records_to_follower(old.log.read(0, 1 << 20).records, 3, 0)
    if unreplicated:
        old.append_records_to_leader(records(unreplicated, 3), 1)  # never replicated
    old.make_leader(state(1, 1, [1]))  # led epoch 1 too, appended nothing in it
    new.make_leader(state(2, 2, [2]))
    new.append_records_to_leader(records(2, 100), 1)  # offsets 3, 4 at epoch 2
    old.make_follower(state(2, 2, [2]))
    conn = FakeLeaderConnection(new)
    fetchers = manager(old, conn)
    fetchers.add_partitions([old])
    try:
        await wait_for(lambda: old.log_end_offset == 5 and old.high_watermark == 5)
        assert old.log.read(0, 1 << 20).records == new.log.read(0, 1 << 20).records
        assert old.log.leader_epoch_cache.entries == new.log.leader_epoch_cache.entries
    finally:
        await fetchers.shutdown()


class Throttle:
    """A follower throttle whose bound is exceeded until ``lifted``."""

    def __init__(self) -> None:
        self.over = True
        self.recorded = 0

    def exceeded(self) -> bool:
        return self.over

    def record(self, size: int) -> None:
        self.recorded += size

    def throttled(self, topic: str, partition: int) -> bool:
        return True


async def test_throttled_follower_fetches_nothing_until_the_rate_falls(tmp_path: Path) -> None:
    clock = ManualClock()
    leader, follower = partition(tmp_path, 1, clock), partition(tmp_path, 2, clock)
    leader.make_leader(state(1, 3, [1]))
    leader.append_records_to_leader(records(5), 1)
    follower.make_follower(state(1, 3, [1]))
    conn = FakeLeaderConnection(leader)
    throttle = Throttle()
    fetchers = ReplicaFetcherManager(
        FetcherConfig(broker_id=2, fetch_wait_max_ms=10, fetch_backoff_ms=20),
        Logs(follower),
        lambda _broker: ("127.0.0.1", 1),
        lambda _host, _port: conn,
        lambda: 1,
        throttle,
    )
    fetchers.add_partitions([follower])
    try:
        await asyncio.sleep(0.2)
        assert follower.log_end_offset == 0 and throttle.recorded == 0
        throttle.over = False
        await wait_for(lambda: follower.log_end_offset == 5)
        assert throttle.recorded == len(leader.log.read(0, 1 << 20).records)
        # Caught up: never held back again, even over the bound.
        throttle.over = True
        leader.append_records_to_leader(records(2, 5), 1)
        await wait_for(lambda: follower.log_end_offset == 7)
    finally:
        await fetchers.shutdown()
