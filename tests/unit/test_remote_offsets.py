"""RemoteHighWatermarks: one ListOffsets (latest, read_uncommitted, consumer replica id) per
leader for the wanted partitions, failed leaders left out, at most one round per interval,
concurrent scrapes sharing a round."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers.fake_metadata import LeaderMetadata
from kio.schema.errors import ErrorCode

from broker.metrics.remote_offsets import RemoteHighWatermarks
from protocol.builders import make, response_class


class FakeClient:
    def __init__(self, leader: int, hws: dict[tuple[str, int], int], log: list[Any]) -> None:
        self.leader = leader
        self.hws = hws
        self.log = log
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def send(self, request: Any, *, timeout: float | None = None) -> Any:
        self.log.append((self.leader, request))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("down")
        rc = response_class(2, 4)
        topic_cls = response_class(2, 4, "ListOffsetsTopicResponse")
        part_cls = response_class(2, 4, "ListOffsetsPartitionResponse")
        topics = []
        for t in request.topics:
            parts = []
            for p in t.partitions:
                hw = self.hws.get((t.name, p.partition_index))
                error = ErrorCode.none if hw is not None else ErrorCode.not_leader_or_follower
                parts.append(
                    make(part_cls, partition_index=p.partition_index, error_code=error,
                         timestamp=-1, offset=hw if hw is not None else -1, leader_epoch=0)
                )  # fmt: skip
            topics.append(make(topic_cls, name=t.name, partitions=tuple(parts)))
        return make(rc, throttle_time=0, topics=tuple(topics))


class FakeClients:
    def __init__(self, clients: dict[int, FakeClient]) -> None:
        self.clients = clients
        self.closed = False

    def get(self, broker_id: int) -> FakeClient | None:
        return self.clients.get(broker_id)

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_remote(
    wanted: list[tuple[str, int]],
) -> tuple[RemoteHighWatermarks, dict[int, FakeClient], list[Any], Clock]:
    leaders = {("a", 0): 2, ("a", 1): 3, ("b", 0): 2, ("c", 0): -1}
    hws = {("a", 0): 10, ("a", 1): 20, ("b", 0): 30}
    log: list[Any] = []
    clients = {2: FakeClient(2, hws, log), 3: FakeClient(3, hws, log)}
    clock = Clock()
    remote = RemoteHighWatermarks(
        1,
        LeaderMetadata(leaders),  # type: ignore[arg-type]
        FakeClients(clients),  # type: ignore[arg-type]
        lambda: wanted,
        min_interval_s=1.0,
        clock=clock,
    )
    return remote, clients, log, clock


async def test_one_request_per_leader_with_consumer_semantics() -> None:
    remote, _clients, log, _ = make_remote([("a", 0), ("a", 1), ("b", 0), ("c", 0), ("x", 0)])
    await remote.refresh()
    assert remote.high_watermarks == {("a", 0): 10, ("a", 1): 20, ("b", 0): 30}
    assert sorted(leader for leader, _ in log) == [2, 3]
    to_2 = next(r for leader, r in log if leader == 2)
    assert (to_2.replica_id, to_2.isolation_level) == (-1, 0)
    asked = {(t.name, p.partition_index, p.timestamp) for t in to_2.topics for p in t.partitions}
    assert asked == {("a", 0, -1), ("b", 0, -1)}


async def test_failed_leader_is_left_out_and_interval_is_respected() -> None:
    remote, clients, log, clock = make_remote([("a", 0), ("a", 1)])
    await remote.refresh()
    assert remote.get("a", 1) == 20
    clients[3].fail = True
    clients[2].hws[("a", 0)] = 15
    await remote.refresh()  # within the interval: nothing asked
    assert len(log) == 2 and remote.get("a", 0) == 10
    clock.now += 1.5
    await remote.refresh()
    assert remote.high_watermarks == {("a", 0): 15}  # broker 3 failed: unknown, not stale
    assert remote.get("a", 1) is None


async def test_concurrent_scrapes_share_one_round() -> None:
    remote, clients, log, _ = make_remote([("a", 0)])
    gate = clients[2].gate = asyncio.Event()
    first = asyncio.create_task(remote.refresh())
    second = asyncio.create_task(remote.refresh())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert len(log) == 1 and remote.get("a", 0) == 10
    await remote.close()
