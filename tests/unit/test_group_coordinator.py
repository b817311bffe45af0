"""The classic group coordinator in-process: real logs, manual timers and clock.

Each test drives JoinGroup/SyncGroup/Heartbeat/LeaveGroup/offset calls straight into
:class:`GroupCoordinator` (parked calls run as tasks) and moves time with ManualTimer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.coordinator.runtime import PartitionStatus
from broker.group.classic_group import (
    ClassicGroup,
    GroupState,
    IllegalStateTransition,
    JoinResult,
)
from broker.group.classic_protocol import JoinRequest, SyncRequest
from broker.group.coordinator import OFFSETS_TOPIC, GroupCoordinator
from broker.group.records import (
    GroupMetadataKey,
    OffsetCommitKey,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
)
from broker.group.timer import ManualTimer
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from protocol.records import iter_records
from storage.clock import ManualClock

T = TypeVar("T")
SESSION = 1000
REBALANCE = 3000


class Env:
    def __init__(
        self, broker: KafkaBroker, coord: GroupCoordinator, timer: ManualTimer, clock: ManualClock
    ) -> None:
        self.broker = broker
        self.coord = coord
        self.timer = timer
        self.clock = clock

    def new_coordinator(self) -> GroupCoordinator:
        services = self.broker.services
        assert services is not None
        self.timer = ManualTimer()
        self.coord = GroupCoordinator(
            services.config,
            self.clock,
            services.replica_manager,
            services.topic_manager,
            self.timer,
        )
        return self.coord

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)
        self.timer.advance(ms)


async def make_env(tmp_path: Path, *extra: str) -> Env:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "offsets.topic.num.partitions=3",
            "group.initial.rebalance.delay.ms=0",
            "group.min.session.timeout.ms=100",
            *extra,
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    await broker.services.topic_manager.create(TopicSpec("t", 4, 1))
    env = Env(broker, None, ManualTimer(), ManualClock())  # type: ignore[arg-type]
    coord = env.new_coordinator()
    assert await coord.ensure_topic()
    await coord.wait_loaded()
    return env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await make_env(tmp_path)
    try:
        yield e
    finally:
        e.coord.shutdown()
        await e.broker.shutdown()


def jreq(
    member_id: str = "",
    protocols: list[tuple[str, bytes]] | None = None,
    instance: str | None = None,
    version: int = 9,
    group: str = "g",
) -> JoinRequest:
    return JoinRequest(
        group,
        member_id,
        instance,
        "consumer",
        protocols if protocols is not None else [("range", b"meta")],
        SESSION,
        REBALANCE,
        client_id="cli",
        client_host="/127.0.0.1",
        api_version=version,
    )


def spawn(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    return asyncio.get_running_loop().create_task(coro)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def join_new(env: Env, **kw: Any) -> asyncio.Task[JoinResult]:
    """KIP-394 two-step join; returns the parked second join."""
    first = await env.coord.classic.join(jreq(**kw))
    assert first.error == ErrorCode.member_id_required
    task = spawn(env.coord.classic.join(jreq(member_id=first.member_id, **kw)))
    await settle()
    return task


async def form_single(env: Env) -> str:
    task = await join_new(env)
    result = await task
    assert result.error == ErrorCode.none and result.leader == result.member_id
    sync = await env.coord.classic.sync(
        SyncRequest(
            "g", result.generation_id, result.member_id, assignments={result.member_id: b"A"}
        )
    )
    assert sync.error == ErrorCode.none and sync.assignment == b"A"
    return result.member_id


def group(env: Env, gid: str = "g") -> ClassicGroup:
    g = env.coord.groups[gid]
    assert isinstance(g, ClassicGroup)
    return g


def log_records(env: Env, gid: str = "g") -> list[tuple[Any, bytes | None]]:
    services = env.broker.services
    assert services is not None
    partition = services.replica_manager.get_partition(OFFSETS_TOPIC, env.coord.partition_for(gid))
    assert partition is not None
    data = partition.log.read(partition.log.log_start_offset, 1 << 20).records
    return [(decode_key(r.key or b""), r.value) for _, r in iter_records(data)]


# ---------------------------------------------------------------------------------- tests


def test_state_table_rejects_illegal_moves() -> None:
    g = ClassicGroup("x", 0)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(GroupState.STABLE, 1)
    g.transition_to(GroupState.PREPARING_REBALANCE, 1)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(GroupState.STABLE, 2)
    g.transition_to(GroupState.COMPLETING_REBALANCE, 2)
    g.transition_to(GroupState.STABLE, 3)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(GroupState.EMPTY, 4)
    g.transition_to(GroupState.DEAD, 4)


async def test_single_member_forms_group_and_persists_assignment(env: Env) -> None:
    mid = await form_single(env)
    g = group(env)
    assert g.state is GroupState.STABLE and g.generation_id == 1 and g.protocol_name == "range"
    assert mid.startswith("cli-")
    records = [(k, v) for k, v in log_records(env) if isinstance(k, GroupMetadataKey)]
    assert records, "the leader's SyncGroup writes a GroupMetadata record"
    assert records[-1][1] is not None
    value = decode_group_metadata_value(records[-1][1])
    assert value.generation == 1 and value.protocol == "range" and value.leader == mid
    assert value.members[0].assignment == b"A" and value.members[0].subscription == b"meta"
    assert await env.coord.classic.heartbeat("g", 1, mid, None) == ErrorCode.none
    assert await env.coord.classic.heartbeat("g", 0, mid, None) == ErrorCode.illegal_generation
    assert await env.coord.classic.heartbeat("g", 1, "nobody", None) == ErrorCode.unknown_member_id


async def test_join_v3_gets_member_id_directly(env: Env) -> None:
    result = await env.coord.classic.join(jreq(version=3))
    assert result.error == ErrorCode.none and result.member_id and result.generation_id == 1


async def test_second_member_triggers_rebalance(env: Env) -> None:
    m1 = await form_single(env)
    t2 = await join_new(env)
    assert group(env).state is GroupState.PREPARING_REBALANCE
    assert not t2.done()
    assert await env.coord.classic.heartbeat("g", 1, m1, None) == ErrorCode.rebalance_in_progress
    r1 = await env.coord.classic.join(jreq(member_id=m1))
    r2 = await t2
    assert r1.generation_id == r2.generation_id == 2
    assert r1.leader == m1 and len(r1.members) == 2 and r2.members == []
    follower = spawn(env.coord.classic.sync(SyncRequest("g", 2, r2.member_id)))
    await settle()
    assert not follower.done(), "followers wait for the leader's assignment"
    leader = await env.coord.classic.sync(
        SyncRequest("g", 2, m1, assignments={m1: b"one", r2.member_id: b"two"})
    )
    assert leader.assignment == b"one" and (await follower).assignment == b"two"
    assert group(env).state is GroupState.STABLE


async def test_session_timeout_removes_member_and_rebalances(env: Env) -> None:
    m1 = await form_single(env)
    t2 = await join_new(env)
    r1 = await env.coord.classic.join(jreq(member_id=m1))
    r2 = await t2
    await asyncio.gather(
        env.coord.classic.sync(SyncRequest("g", 2, m1, assignments={m1: b"1", r2.member_id: b"2"})),
        env.coord.classic.sync(SyncRequest("g", 2, r2.member_id)),
    )
    # m1 keeps heartbeating, m2 goes silent.
    for _ in range(3):
        env.advance(SESSION // 2)
        await env.coord.classic.heartbeat("g", r1.generation_id, m1, None)
    env.advance(100)
    g = group(env)
    assert r2.member_id not in g.members
    assert g.state is GroupState.PREPARING_REBALANCE
    r = await env.coord.classic.join(jreq(member_id=m1))
    assert r.error == ErrorCode.none and r.generation_id == 3 and len(r.members) == 1


async def test_rebalance_timeout_drops_members_that_do_not_rejoin(env: Env) -> None:
    m1 = await form_single(env)
    t2 = await join_new(env)  # m1 never rejoins
    env.advance(REBALANCE)
    r2 = await t2
    assert r2.error == ErrorCode.none and r2.leader == r2.member_id and r2.generation_id == 2
    assert m1 not in group(env).members


async def test_leave_group_and_empty_group_record(env: Env) -> None:
    m1 = await form_single(env)
    err, results = await env.coord.classic.leave("g", [(m1, None), ("ghost", None)])
    assert err == ErrorCode.none
    assert [r[2] for r in results] == [ErrorCode.none, ErrorCode.unknown_member_id]
    g = group(env)
    assert g.state is GroupState.EMPTY and g.generation_id == 2
    last = [v for k, v in log_records(env) if isinstance(k, GroupMetadataKey)][-1]
    assert last is not None and decode_group_metadata_value(last).members == ()


async def test_static_member_rejoin_keeps_assignment_without_rebalance(env: Env) -> None:
    r = await env.coord.classic.join(jreq(instance="inst-1"))
    assert r.error == ErrorCode.none, "static members skip MEMBER_ID_REQUIRED"
    old = r.member_id
    assert old.startswith("inst-1-")
    await env.coord.classic.sync(SyncRequest("g", 1, old, "inst-1", assignments={old: b"P"}))
    # restart: same instance id, unknown member id
    again = await env.coord.classic.join(jreq(instance="inst-1"))
    assert again.error == ErrorCode.none and again.generation_id == 1
    assert again.member_id != old and again.skip_assignment  # leader, v9
    g = group(env)
    assert g.state is GroupState.STABLE and g.generation_id == 1
    sync = await env.coord.classic.sync(SyncRequest("g", 1, again.member_id, "inst-1"))
    assert sync.assignment == b"P"
    assert await env.coord.classic.heartbeat("g", 1, old, "inst-1") == ErrorCode.fenced_instance_id


async def test_protocol_selection_and_inconsistent_protocol(env: Env) -> None:
    a = await join_new(env, protocols=[("roundrobin", b"a"), ("range", b"a")])
    ra = await a
    await env.coord.classic.sync(SyncRequest("g", 1, ra.member_id, assignments={}))
    bad = await env.coord.classic.join(jreq(protocols=[("sticky", b"")]))
    assert bad.error == ErrorCode.inconsistent_group_protocol
    b = await join_new(env, protocols=[("range", b"b"), ("roundrobin", b"b")])
    await env.coord.classic.join(
        jreq(member_id=ra.member_id, protocols=[("roundrobin", b"a"), ("range", b"a")])
    )
    rb = await b
    # one vote each; the tie goes to the leader's preference
    assert rb.protocol_name == "roundrobin"


async def test_session_timeout_bounds_and_invalid_group(env: Env) -> None:
    req = jreq()
    req.session_timeout_ms = 10
    assert (await env.coord.classic.join(req)).error == ErrorCode.invalid_session_timeout
    assert (await env.coord.classic.join(jreq(group=""))).error == ErrorCode.invalid_group_id
    unknown = await env.coord.classic.join(jreq(member_id="m-x", group="fresh"))
    assert unknown.error == ErrorCode.unknown_member_id


async def test_group_max_size(tmp_path: Path) -> None:
    e = await make_env(tmp_path, "group.max.size=1")
    try:
        await form_single(e)
        r = await e.coord.classic.join(jreq())
        assert r.error == ErrorCode.group_max_size_reached
    finally:
        e.coord.shutdown()
        await e.broker.shutdown()


async def test_initial_rebalance_delay(tmp_path: Path) -> None:
    e = await make_env(tmp_path, "group.initial.rebalance.delay.ms=500")
    try:
        t1 = await join_new(e)
        t2 = await join_new(e)
        e.advance(400)
        await settle()
        assert not t1.done() and not t2.done()
        e.advance(1000)
        r1, r2 = await t1, await t2
        assert r1.generation_id == r2.generation_id == 1
        assert {r1.leader} == {r2.leader}
    finally:
        e.coord.shutdown()
        await e.broker.shutdown()


async def test_offsets_commit_fetch_delete_and_reload(env: Env) -> None:
    coord = env.coord
    # a simple consumer: generation -1, no member id
    err, res = await coord.commit_offsets(
        "simple",
        "",
        None,
        -1,
        [("t", 0, 10, 3, "hello"), ("t", 9, 1, -1, None), ("t", 1, 5, -1, "x" * 5000)],
    )
    assert err == ErrorCode.none
    assert res[("t", 0)] == ErrorCode.none
    assert res[("t", 9)] == ErrorCode.unknown_topic_or_partition
    assert res[("t", 1)] == ErrorCode.offset_metadata_too_large
    err, offsets = await coord.fetch_offsets("simple", [("t", 0), ("t", 2)])
    om = offsets[("t", 0)]
    assert om is not None and (om.offset, om.leader_epoch, om.metadata) == (10, 3, "hello")
    assert offsets[("t", 2)] is None
    assert env.coord.groups["simple"].state_name == "Empty"
    rec = [(k, v) for k, v in log_records(env, "simple") if isinstance(k, OffsetCommitKey)]
    assert rec[-1][0] == OffsetCommitKey("simple", "t", 0)
    assert rec[-1][1] is not None and decode_offset_commit_value(rec[-1][1]).offset == 10
    # commits with a generation against a group that does not exist
    err, _ = await coord.commit_offsets("nogroup", "m", None, 3, [("t", 0, 1, -1, None)])
    assert err == ErrorCode.illegal_generation
    # a consumer group member commits; then reload everything from the log
    mid = await form_single(env)
    err, res = await coord.commit_offsets("g", mid, None, 1, [("t", 3, 77, 0, "m")])
    assert err == ErrorCode.none and res[("t", 3)] == ErrorCode.none
    err, _ = await coord.commit_offsets("g", mid, None, 0, [("t", 3, 78, 0, "m")])
    assert err == ErrorCode.illegal_generation
    err, _ = await coord.commit_offsets("g", "", None, -1, [("t", 3, 78, 0, "m")])
    assert err == ErrorCode.unknown_member_id
    # OffsetDelete: the group is Stable; its subscription (b"meta") is not decodable → subscribed
    err, res = await coord.delete_offsets("g", [("t", 3)])
    assert err == ErrorCode.none and res[("t", 3)] == ErrorCode.group_subscribed_to_topic
    err, res = await coord.delete_offsets("simple", [("t", 0)])
    assert err == ErrorCode.none and res[("t", 0)] == ErrorCode.none
    assert (await coord.fetch_offsets("simple", [("t", 0)]))[1][("t", 0)] is None

    env.coord.shutdown()
    fresh = env.new_coordinator()
    await fresh.startup()
    assert fresh.check_group_id("g") in (ErrorCode.coordinator_load_in_progress, ErrorCode.none)
    await fresh.wait_loaded()
    assert fresh.check_group_id("g") == ErrorCode.none
    g = fresh.groups["g"]
    assert isinstance(g, ClassicGroup)
    assert g.state is GroupState.STABLE and g.generation_id == 1 and mid in g.members
    assert g.members[mid].assignment == b"A"
    om2 = (await fresh.fetch_offsets("g", None))[1][("t", 3)]
    assert om2 is not None and om2.offset == 77 and om2.metadata == "m"
    # the reloaded member keeps its session only while it heartbeats
    assert await fresh.classic.heartbeat("g", 1, mid, None) == ErrorCode.none
    env.advance(SESSION + 1)
    assert mid not in g.members


async def test_delete_groups(env: Env) -> None:
    mid = await form_single(env)
    await env.coord.commit_offsets("g", mid, None, 1, [("t", 0, 5, -1, None)])
    res = await env.coord.delete_groups(["g", "missing", ""])
    assert res == {
        "g": ErrorCode.non_empty_group,
        "missing": ErrorCode.group_id_not_found,
        "": ErrorCode.invalid_group_id,
    }
    await env.coord.classic.leave("g", [(mid, None)])
    assert (await env.coord.delete_groups(["g"]))["g"] == ErrorCode.none
    assert "g" not in env.coord.groups and not env.coord.committed("g")
    tail = log_records(env)[-2:]
    assert tail[0][0] == OffsetCommitKey("g", "t", 0) and tail[0][1] is None
    assert tail[1][0] == GroupMetadataKey("g") and tail[1][1] is None


async def test_offset_retention_for_empty_groups(tmp_path: Path) -> None:
    e = await make_env(tmp_path, "offsets.retention.minutes=1")
    try:
        await e.coord.commit_offsets("simple", "", None, -1, [("t", 0, 1, -1, None)])
        assert await e.coord.cleanup_expired_offsets() == 0
        e.advance(61_000)
        assert await e.coord.cleanup_expired_offsets() == 1
        assert "simple" not in e.coord.groups
    finally:
        e.coord.shutdown()
        await e.broker.shutdown()


async def test_not_coordinator_and_loading(env: Env) -> None:
    idx = env.coord.partition_for("g")
    env.coord.partitions[idx] = PartitionStatus.LOADING
    assert (await env.coord.classic.join(jreq())).error == ErrorCode.coordinator_load_in_progress
    del env.coord.partitions[idx]
    assert (await env.coord.classic.join(jreq())).error == ErrorCode.not_coordinator
    err, _ = await env.coord.commit_offsets("g", "", None, -1, [("t", 0, 1, -1, None)])
    assert err == ErrorCode.not_coordinator
