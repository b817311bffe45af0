"""KIP-848 consumer groups: heartbeats, reconciliation, fencing, timeouts, replay, records."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.group.classic_protocol import JoinRequest
from broker.group.consumer_group import ConsumerGroup
from broker.group.consumer_group_records import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupRecord,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    Partitions,
    TopicMetadata,
    decode_record,
    encode_key,
    encode_value,
)
from broker.group.consumer_member import (
    LEAVE_GROUP_MEMBER_EPOCH,
    ConsumerGroupConfig,
    ConsumerGroupState,
    HeartbeatRequest,
    HeartbeatResponse,
    MemberState,
    TopicInfo,
)
from broker.group.coordinator import GroupCoordinator
from broker.group.timer import ManualTimer
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from storage.clock import ManualClock

T = uuid.UUID(int=0xA1)
U = uuid.UUID(int=0xB2)
Owned = tuple[tuple[uuid.UUID, tuple[int, ...]], ...]


class Topics:
    def __init__(self, **partitions: int) -> None:
        self.infos = {
            name: TopicInfo(T if name == "t" else U if name == "u" else uuid.uuid4(), name, n)
            for name, n in partitions.items()
        }

    def topic(self, name: str) -> TopicInfo | None:
        return self.infos.get(name)

    def topic_names(self) -> Iterable[str]:
        return list(self.infos)


class Harness:
    """A group plus its log: every record goes through the codec and is replayed."""

    def __init__(self, topics: Topics, config: ConsumerGroupConfig | None = None) -> None:
        self.topics = topics
        self.group = ConsumerGroup("g", config or ConsumerGroupConfig())
        self.log: list[tuple[bytes, bytes | None]] = []
        self.now = 0

    def apply(self, records: list[ConsumerGroupRecord]) -> None:
        for record in records:
            key, value = record.encode()
            self.log.append((key, value))
            decoded = decode_record(key, value)
            assert decoded == record
            self.group.replay(decoded)

    def hb(self, member_id: str, epoch: int, **fields: object) -> HeartbeatResponse:
        if epoch == 0:
            fields.setdefault("rebalance_timeout_ms", 30_000)
            fields.setdefault("subscribed_topic_names", ("t",))
            fields.setdefault("topic_partitions", ())
        request = HeartbeatRequest(group_id="g", member_id=member_id, member_epoch=epoch, **fields)  # type: ignore[arg-type]
        records, response = self.group.heartbeat(request, self.now, self.topics)
        self.apply(records)
        return response

    def reload(self) -> ConsumerGroup:
        fresh = ConsumerGroup("g", self.group.config)
        for key, value in self.log:
            fresh.replay(decode_record(key, value))
        return fresh


def owned(assignment: Partitions | None) -> Owned:
    return tuple((t, tuple(sorted(p))) for t, p in sorted((assignment or {}).items()))


def member_state(h: Harness, member_id: str) -> MemberState:
    return h.group.members[member_id].state


def group_state(h: Harness) -> ConsumerGroupState:
    return h.group.state


def parts(response: HeartbeatResponse) -> set[int]:
    assert response.assignment is not None
    return set(response.assignment.get(T, ()))


def test_first_member_gets_everything() -> None:
    h = Harness(Topics(t=6))
    r = h.hb("a", 0)
    assert r.error_code == ErrorCode.none
    assert (r.member_id, r.member_epoch, r.heartbeat_interval_ms) == ("a", 1, 5000)
    assert parts(r) == set(range(6))
    assert group_state(h) is ConsumerGroupState.STABLE
    assert (h.group.group_epoch, h.group.assignment_epoch) == (1, 1)
    # A steady heartbeat carries no assignment and writes nothing.
    records, r2 = h.group.heartbeat(
        HeartbeatRequest(group_id="g", member_id="a", member_epoch=1), 0, h.topics
    )
    assert records == [] and r2.assignment is None and r2.member_epoch == 1


def test_partitions_are_revoked_before_they_are_reassigned() -> None:
    h = Harness(Topics(t=6))
    h.hb("a", 0)
    rb = h.hb("b", 0)
    # b is told its epoch (2) but gets nothing yet: a still owns everything.
    assert rb.member_epoch == 2 and parts(rb) == set()
    assert member_state(h, "b") is MemberState.UNRELEASED_PARTITIONS
    assert group_state(h) is ConsumerGroupState.RECONCILING
    target_b = set(h.group.target_assignment["b"][T])
    assert len(target_b) == 3
    # a, heartbeating without an owned list, is told to shrink and stays at epoch 1.
    ra = h.hb("a", 1)
    kept = parts(ra)
    assert ra.member_epoch == 1 and kept == set(range(6)) - target_b
    assert member_state(h, "a") is MemberState.UNREVOKED_PARTITIONS
    # Until a reports the revocation, b still gets nothing.
    assert h.hb("b", 2).assignment is None
    assert h.group.members["b"].assigned_partitions == {}
    # a acknowledges: it moves to epoch 2; b then gets its partitions.
    ra = h.hb("a", 1, topic_partitions=owned({T: frozenset(kept)}))
    assert ra.member_epoch == 2 and member_state(h, "a") is MemberState.STABLE
    rb = h.hb("b", 2)
    assert parts(rb) == target_b
    assert group_state(h) is ConsumerGroupState.STABLE


def test_leave_gives_partitions_to_the_others() -> None:
    h = Harness(Topics(t=4))
    h.hb("a", 0)
    h.hb("b", 0)
    kept = parts(h.hb("a", 1))
    h.hb("a", 1, topic_partitions=owned({T: frozenset(kept)}))
    h.hb("b", 2)
    r = h.hb("b", 2, topic_partitions=owned(h.group.members["b"].assigned_partitions))
    assert r.member_epoch == 2
    leave = h.hb("b", -1)
    assert (leave.member_id, leave.member_epoch, leave.error_code) == ("b", -1, ErrorCode.none)
    assert "b" not in h.group.members and "b" not in h.group.target_assignment
    assert h.group.group_epoch == 3
    assert group_state(h) is ConsumerGroupState.ASSIGNING
    ra = h.hb("a", 2)
    assert ra.member_epoch == 3 and parts(ra) == {0, 1, 2, 3}
    assert group_state(h) is ConsumerGroupState.STABLE
    # The last member leaves: the group is empty and keeps its epoch.
    h.hb("a", -1)
    assert group_state(h) is ConsumerGroupState.EMPTY and h.group.group_epoch == 4


def test_fencing_and_unknown_members() -> None:
    h = Harness(Topics(t=2))
    h.hb("a", 0)
    assert h.hb("a", 5).error_code == ErrorCode.fenced_member_epoch
    assert h.hb("zz", 1).error_code == ErrorCode.unknown_member_id
    assert h.hb("zz", -1).error_code == ErrorCode.unknown_member_id
    # Member epochs advance: 1 -> 2 after b joins and a reconciles.
    h.hb("b", 0)
    kept = parts(h.hb("a", 1))
    h.hb("a", 1, topic_partitions=owned({T: frozenset(kept)}))
    assert h.group.members["a"].member_epoch == 2
    # The previous epoch with a subset of the assignment is accepted (lost response) ...
    assert h.hb("a", 1, topic_partitions=owned({T: frozenset(kept)})).member_epoch == 2
    # ... but not with partitions it does not have, nor an older epoch.
    bad = owned({T: frozenset({0, 1})})
    assert h.hb("a", 1, topic_partitions=bad).error_code == ErrorCode.fenced_member_epoch
    assert h.hb("a", 0 + 0 * 1, topic_partitions=()).error_code == ErrorCode.none  # rejoin
    # A known member rejoining with epoch 0 keeps its identity and assignment.
    assert h.group.members["a"].member_epoch == 2


def test_request_validation() -> None:
    h = Harness(Topics(t=2))
    g = h.group

    def err(**fields: object) -> ErrorCode:
        base: dict[str, object] = {
            "group_id": "g",
            "member_id": "m",
            "member_epoch": 0,
            "rebalance_timeout_ms": 1000,
            "subscribed_topic_names": ("t",),
            "topic_partitions": (),
        }
        base.update(fields)
        _, r = g.heartbeat(HeartbeatRequest(**base), 0, h.topics)  # type: ignore[arg-type]
        return r.error_code

    assert err(member_id="") == ErrorCode.invalid_request  # v1: the client makes the id
    assert err(rebalance_timeout_ms=-1) == ErrorCode.invalid_request
    assert err(topic_partitions=None) == ErrorCode.invalid_request
    assert err(subscribed_topic_names=None) == ErrorCode.invalid_request
    assert err(instance_id="") == ErrorCode.invalid_request
    assert err(member_epoch=-3) == ErrorCode.invalid_request
    assert err(server_assignor="cooperative-sticky") == ErrorCode.unsupported_assignor
    assert err(subscribed_topic_regex="(unclosed") == ErrorCode.invalid_regular_expression
    # v0: an empty member id at join gets one generated by the coordinator.
    _, r = g.heartbeat(
        HeartbeatRequest(
            group_id="g",
            member_id="",
            member_epoch=0,
            rebalance_timeout_ms=1000,
            subscribed_topic_names=("t",),
            topic_partitions=(),
            api_version=0,
        ),
        0,
        h.topics,
    )
    assert r.error_code == ErrorCode.none and r.member_id and len(r.member_id) == 22


def test_max_size() -> None:
    h = Harness(Topics(t=2), ConsumerGroupConfig(max_size=1))
    assert h.hb("a", 0).error_code == ErrorCode.none
    assert h.hb("b", 0).error_code == ErrorCode.group_max_size_reached
    assert h.hb("a", 1).error_code == ErrorCode.none


def test_regex_subscription_and_new_topics() -> None:
    topics = Topics(t=2, other=1)
    h = Harness(topics)
    r = h.hb("a", 0, subscribed_topic_names=None, subscribed_topic_regex="t.*")
    assert r.member_epoch == 1 and parts(r) == {0, 1}
    assert set(h.group.subscription_metadata) == {"t"}
    # A matching topic appears: the next heartbeat bumps the epoch and assigns it.
    topics.infos["tu"] = TopicInfo(U, "tu", 2)
    r = h.hb("a", 1)
    assert r.member_epoch == 2 and r.assignment == {T: frozenset({0, 1}), U: frozenset({0, 1})}


def test_server_assignor_choice() -> None:
    h = Harness(Topics(t=3, u=3))
    h.hb("a", 0, subscribed_topic_names=("t", "u"), server_assignor="range")
    h.hb("b", 0, subscribed_topic_names=("t", "u"), server_assignor="range")
    assert h.group.preferred_assignor() == "range"
    assert h.group.target_assignment["a"] == {T: frozenset({0, 1}), U: frozenset({0, 1})}
    assert h.group.target_assignment["b"] == {T: frozenset({2}), U: frozenset({2})}
    assert ConsumerGroup("x").preferred_assignor() == "uniform"


def test_session_timeout_fences_a_silent_member() -> None:
    h = Harness(Topics(t=2), ConsumerGroupConfig(session_timeout_ms=1000))
    h.hb("a", 0)
    h.hb("b", 0)
    h.now = 900
    h.hb("a", 1)
    assert h.group.expire(950, h.topics) == []
    h.now = 1500
    h.apply(h.group.expire(1500, h.topics))
    assert set(h.group.members) == {"a"}
    assert h.group.expire(1500, h.topics) == []
    assert h.group.next_deadline() == 1900


def test_rebalance_timeout_fences_a_member_that_does_not_revoke() -> None:
    h = Harness(Topics(t=2), ConsumerGroupConfig(session_timeout_ms=60_000))
    h.hb("a", 0, rebalance_timeout_ms=500)
    h.hb("b", 0)
    h.now = 100
    h.hb("a", 1)  # told to revoke one partition
    assert member_state(h, "a") is MemberState.UNREVOKED_PARTITIONS
    assert h.group.expire(599, h.topics) == []
    h.apply(h.group.expire(600, h.topics))
    assert set(h.group.members) == {"b"}
    h.now = 700
    r = h.hb("b", 2)
    assert r.member_epoch == 3 and parts(r) == {0, 1}


def test_static_member_leaves_and_comes_back() -> None:
    h = Harness(Topics(t=4))
    h.hb("s1", 0, instance_id="i1")
    h.hb("m", 0)
    kept = parts(h.hb("s1", 1))
    h.hb("s1", 1, topic_partitions=owned({T: frozenset(kept)}))
    h.hb("m", 2)
    r = h.hb("s1", -2, instance_id="i1")
    assert (r.member_id, r.member_epoch) == ("s1", -2)
    assert h.group.members["s1"].member_epoch == -2
    # Its partitions stay reserved: the group epoch does not move.
    assert h.group.group_epoch == 2
    # Another incarnation of a non-released instance is refused...
    h2 = Harness(Topics(t=4))
    h2.hb("s1", 0, instance_id="i1")
    assert h2.hb("s2", 0, instance_id="i1").error_code == ErrorCode.unreleased_instance_id
    # ... but after the -2 leave the new incarnation takes the assignment over.
    r = h.hb("s2", 0, instance_id="i1")
    assert r.error_code == ErrorCode.none and r.member_epoch == 2 and parts(r) == kept
    assert "s1" not in h.group.members and h.group.static_members["i1"] == "s2"
    # The old incarnation is fenced.
    assert h.hb("s1", 2, instance_id="i1").error_code == ErrorCode.fenced_instance_id


def test_reload_rebuilds_the_same_state() -> None:
    h = Harness(Topics(t=6, u=2))
    h.hb("a", 0, subscribed_topic_names=("t", "u"))
    h.hb("b", 0, subscribed_topic_names=("t",))
    h.hb("a", 1)
    h.hb("c", 0, subscribed_topic_names=("u",))
    fresh = h.reload()
    g = h.group
    assert fresh.members == g.members
    assert fresh.target_assignment == g.target_assignment
    assert (fresh.group_epoch, fresh.assignment_epoch) == (g.group_epoch, g.assignment_epoch)
    assert fresh.subscription_metadata == g.subscription_metadata
    assert fresh.state is g.state
    assert fresh.static_members == g.static_members


def test_offset_commit_validation() -> None:
    h = Harness(Topics(t=2))
    assert h.group.validate_offset_commit("x", None, -1) == ErrorCode.none  # empty group
    h.hb("a", 0)
    g = h.group
    assert g.validate_offset_commit("a", None, 1) == ErrorCode.none
    assert g.validate_offset_commit("a", None, 0) == ErrorCode.stale_member_epoch
    assert g.validate_offset_commit("b", None, 1) == ErrorCode.unknown_member_id
    assert g.validate_offset_commit("a", None, 1, api_version=8) == ErrorCode.unsupported_version
    assert g.validate_offset_fetch("a", 1) == ErrorCode.none
    assert g.validate_offset_fetch(None, -1) == ErrorCode.none
    assert g.validate_offset_fetch("a", 7) == ErrorCode.stale_member_epoch
    assert g.validate_delete() == ErrorCode.non_empty_group
    assert g.group_type == "consumer" and g.state_name == "Stable"
    assert g.is_subscribed_to("t") and not g.is_subscribed_to("u")


def test_delete_records_empty_group() -> None:
    h = Harness(Topics(t=2))
    h.hb("a", 0)
    h.hb("a", -1)
    assert h.group.validate_delete() == ErrorCode.none
    h.apply(h.group.delete_records())
    assert group_state(h) is ConsumerGroupState.DEAD
    assert h.group.target_assignment == {} and h.group.assignment_epoch == -1


@pytest.mark.parametrize("seed", range(25))
def test_simulated_clients_never_share_a_partition(seed: int) -> None:
    """Random joins, leaves, crashes and heartbeats of well-behaved clients.

    At every point no partition is owned by two clients (a client owns what its last
    assignment said); once everybody heartbeats enough, every partition is owned once.
    """
    rng = random.Random(seed)
    topics = Topics(t=rng.randint(1, 9), u=rng.randint(0, 4))
    h = Harness(topics, ConsumerGroupConfig(session_timeout_ms=10**9))
    clients: dict[str, tuple[int, Partitions]] = {}  # member id -> (epoch, owned)
    next_id = 0
    subscriptions = [("t",), ("t", "u"), ("u",)]

    def beat(member_id: str) -> None:
        epoch, have = clients[member_id]
        r = h.hb(member_id, epoch, topic_partitions=owned(have))
        assert r.error_code == ErrorCode.none, r
        new = r.assignment if r.assignment is not None else have
        clients[member_id] = (r.member_epoch, new)

    def check_disjoint() -> None:
        seen: set[tuple[uuid.UUID, int]] = set()
        for _, have in clients.values():
            for t, ps in have.items():
                for p in ps:
                    assert (t, p) not in seen
                    seen.add((t, p))

    for _ in range(120):
        action = rng.random()
        if action < 0.15 or not clients:
            member_id = f"m{next_id}"
            next_id += 1
            r = h.hb(member_id, 0, subscribed_topic_names=rng.choice(subscriptions))
            assert r.error_code == ErrorCode.none
            clients[member_id] = (r.member_epoch, r.assignment or {})
        elif action < 0.22:
            member_id = rng.choice(sorted(clients))
            h.hb(member_id, -1)
            del clients[member_id]
        elif action < 0.25:
            member_id = rng.choice(sorted(clients))  # crash: the session timer fences it
            h.apply(h.group.fence_member(member_id, topics))
            del clients[member_id]
        else:
            beat(rng.choice(sorted(clients)))
        check_disjoint()

    for _ in range(6):
        for member_id in sorted(clients):
            beat(member_id)
        check_disjoint()
    if clients:
        assert group_state(h) is ConsumerGroupState.STABLE
        subscribed = {
            (tm.topic_id, p)
            for tm in h.group.subscription_metadata.values()
            for p in range(tm.num_partitions)
        }
        owned_now = {(t, p) for _, have in clients.values() for t, ps in have.items() for p in ps}
        assert owned_now == subscribed
    fresh = h.reload()
    assert fresh.members == h.group.members


def test_record_bytes_follow_kafkas_schema() -> None:
    assert encode_key(ConsumerGroupMetadataKey("g")) == b"\x00\x03\x00\x01g"
    assert encode_value(ConsumerGroupMetadataValue(5)) == b"\x00\x00\x00\x00\x00\x05\x00"
    assert encode_key(ConsumerGroupCurrentMemberAssignmentKey("g", "m")) == (
        b"\x00\x08\x00\x01g\x00\x01m"
    )
    value = ConsumerGroupCurrentMemberAssignmentValue(3, 2, 1, {T: frozenset({1, 0})}, {})
    assert encode_value(value) == (
        b"\x00\x00"
        + b"\x00\x00\x00\x03\x00\x00\x00\x02\x01"
        + b"\x02"
        + T.bytes
        + b"\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00"
        + b"\x01"
        + b"\x00"
    )
    records = [
        ConsumerGroupRecord(ConsumerGroupMetadataKey("g"), None),
        ConsumerGroupRecord(
            ConsumerGroupPartitionMetadataKey("g"),
            ConsumerGroupPartitionMetadataValue((TopicMetadata(T, "t", 3),)),
        ),
        ConsumerGroupRecord(
            ConsumerGroupMemberMetadataKey("g", "m"),
            ConsumerGroupMemberMetadataValue(
                instance_id=None,
                rack_id="r",
                client_id="c",
                client_host="/1.2.3.4",
                subscribed_topic_names=("t", "u"),
                subscribed_topic_regex=None,
                rebalance_timeout_ms=300_000,
                server_assignor="uniform",
            ),
        ),
        ConsumerGroupRecord(
            ConsumerGroupTargetAssignmentMetadataKey("g"),
            ConsumerGroupTargetAssignmentMetadataValue(7),
        ),
        ConsumerGroupRecord(
            ConsumerGroupTargetAssignmentMemberKey("g", "m"),
            ConsumerGroupTargetAssignmentMemberValue({T: frozenset({0, 2}), U: frozenset({1})}),
        ),
        ConsumerGroupRecord(ConsumerGroupCurrentMemberAssignmentKey("g", "m"), value),
    ]
    for record in records:
        assert decode_record(*record.encode()) == record


# --------------------------------------------------------------------------- in the coordinator


class CoordEnv:
    def __init__(self, broker: KafkaBroker, clock: ManualClock) -> None:
        self.broker = broker
        self.clock = clock
        self.timer = ManualTimer()
        self.coord: GroupCoordinator | None = None

    async def new_coordinator(self) -> GroupCoordinator:
        services = self.broker.services
        assert services is not None
        if self.coord is not None:
            self.coord.shutdown()
        self.timer = ManualTimer()
        self.coord = GroupCoordinator(
            services.config,
            self.clock,
            services.replica_manager,
            services.topic_manager,
            self.timer,
        )
        assert await self.coord.ensure_topic()
        await self.coord.wait_loaded()
        return self.coord

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)
        self.timer.advance(ms)


@pytest.fixture
async def coord_env(tmp_path: Path) -> AsyncIterator[CoordEnv]:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "offsets.topic.num.partitions=2",
            "group.consumer.session.timeout.ms=1000",
            "group.consumer.heartbeat.interval.ms=100",
            "group.consumer.assignors=range,uniform",
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    await broker.services.topic_manager.create(TopicSpec("t", 4, 1))
    env = CoordEnv(broker, ManualClock())
    await env.new_coordinator()
    try:
        yield env
    finally:
        if env.coord is not None:
            env.coord.shutdown()
        await broker.shutdown()


def join_request(member_id: str, group: str = "g") -> HeartbeatRequest:
    return HeartbeatRequest(
        group_id=group,
        member_id=member_id,
        member_epoch=0,
        rebalance_timeout_ms=5000,
        subscribed_topic_names=("t",),
        topic_partitions=(),
    )


async def test_coordinator_heartbeats_timeouts_and_reload(coord_env: CoordEnv) -> None:
    coord = coord_env.coord
    assert coord is not None
    r = await coord.consumer.heartbeat(join_request("a"))
    assert r.error_code == ErrorCode.none and r.member_epoch == 1 and r.heartbeat_interval_ms == 100
    assert r.assignment is not None and sum(len(p) for p in r.assignment.values()) == 4
    group = coord.groups["g"]
    assert isinstance(group, ConsumerGroup) and group.preferred_assignor() == "range"
    r = await coord.consumer.heartbeat(join_request("b"))
    assert r.member_epoch == 2
    # b keeps heartbeating; a goes silent and is fenced by its session timer.
    epoch = 2
    for _ in range(4):
        coord_env.advance(400)
        r = await coord.consumer.heartbeat(
            HeartbeatRequest(group_id="g", member_id="b", member_epoch=epoch)
        )
        assert r.error_code == ErrorCode.none
        epoch = r.member_epoch
        await coord.flush()
    assert set(group.members) == {"b"} and group.group_epoch == 3
    assert epoch == 3 and group.members["b"].assigned_partitions == group.target_assignment["b"]
    # A new coordinator (a restart) rebuilds the group from __consumer_offsets.
    fresh = await coord_env.new_coordinator()
    again = fresh.groups["g"]
    assert isinstance(again, ConsumerGroup)
    assert again.members == group.members
    assert again.target_assignment == group.target_assignment
    assert (again.group_epoch, again.assignment_epoch) == (3, 3)
    # ... and its session timers start again: b, silent now, is fenced.
    coord_env.advance(1500)
    await fresh.flush()
    assert again.members == {} and again.state is ConsumerGroupState.EMPTY


async def test_coordinator_group_id_belongs_to_one_protocol(coord_env: CoordEnv) -> None:
    coord = coord_env.coord
    assert coord is not None
    # An empty classic group (offsets only) gives its id up to a joining consumer member.
    err, _ = await coord.commit_offsets("simple", "", None, -1, [("t", 0, 5, -1, None)])
    assert err == ErrorCode.none
    r = await coord.consumer.heartbeat(join_request("a", group="simple"))
    assert r.error_code == ErrorCode.none
    assert isinstance(coord.groups["simple"], ConsumerGroup)
    assert coord.committed("simple")[("t", 0)].offset == 5
    # A classic JoinGroup on a consumer group is refused.
    join = await coord.classic.join(
        JoinRequest("simple", "", None, "consumer", [("range", b"")], 10_000, 10_000)
    )
    assert join.error == ErrorCode.inconsistent_group_protocol
    # A consumer-protocol heartbeat on a live classic group is refused.
    task = asyncio.ensure_future(
        coord.classic.join(
            JoinRequest(
                "classic", "", None, "consumer", [("range", b"")], 10_000, 10_000, api_version=3
            )
        )
    )
    await asyncio.sleep(0.05)
    r = await coord.consumer.heartbeat(join_request("a", group="classic"))
    assert r.error_code == ErrorCode.group_id_not_found
    task.cancel()
    # Unknown groups: a heartbeat of a member is UNKNOWN_MEMBER_ID (it rejoins), a leave
    # GROUP_ID_NOT_FOUND.
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="nope", member_id="x", member_epoch=3)
    )
    assert r.error_code == ErrorCode.unknown_member_id
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="nope", member_id="x", member_epoch=-1)
    )
    assert r.error_code == ErrorCode.group_id_not_found


async def test_coordinator_deletes_an_empty_consumer_group(coord_env: CoordEnv) -> None:
    coord = coord_env.coord
    assert coord is not None
    await coord.consumer.heartbeat(join_request("a"))
    err, _ = await coord.commit_offsets("g", "a", None, 1, [("t", 1, 7, -1, None)])
    assert err == ErrorCode.none
    assert (await coord.delete_groups(["g"]))["g"] == ErrorCode.non_empty_group
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="g", member_id="a", member_epoch=-1)
    )
    assert r.error_code == ErrorCode.none
    assert (await coord.delete_groups(["g"]))["g"] == ErrorCode.none
    assert "g" not in coord.groups
    fresh = await coord_env.new_coordinator()
    assert "g" not in fresh.groups and fresh.committed("g") == {}


async def test_consumer_group_offsets_expire_like_kafka(coord_env: CoordEnv) -> None:
    coord = coord_env.coord
    assert coord is not None
    retention = coord_env.broker.config.offsets_retention_minutes * 60_000
    await coord.consumer.heartbeat(join_request("a"))
    err, _ = await coord.commit_offsets("g", "a", None, 1, [("t", 1, 7, -1, None)])
    assert err == ErrorCode.none
    # Subscribed topics keep their offsets however old they are (wall clock only, so the
    # member's session timer does not fire).
    coord_env.clock.advance(retention + 1)
    assert await coord.cleanup_expired_offsets() == 0
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="g", member_id="a", member_epoch=-1)
    )
    assert r.error_code == ErrorCode.none
    # Empty now: nobody subscribes to t, and the commit is older than the retention.
    assert await coord.cleanup_expired_offsets() == 1
    assert coord.committed("g") == {} and "g" not in coord.groups
    fresh = await coord_env.new_coordinator()
    assert "g" not in fresh.groups and fresh.committed("g") == {}


async def test_coordinator_counts_epoch_bumps_of_joining_members(coord_env: CoordEnv) -> None:
    """consumer-group-rebalance-count: a group epoch bumped by a joining (or updating)
    member's heartbeat counts; one bumped by a member fenced or leaving does not (Kafka)."""
    coord = coord_env.coord
    assert coord is not None
    await coord.consumer.heartbeat(join_request("a"))
    r = await coord.consumer.heartbeat(join_request("b"))
    assert r.member_epoch == 2 and coord.stats.consumer_group_rebalances == 2
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="g", member_id="b", member_epoch=2)
    )
    assert r.error_code == ErrorCode.none and coord.stats.consumer_group_rebalances == 2
    # a goes silent and is fenced (epoch 3), then b leaves (epoch 4): neither counts.
    for _ in range(4):
        coord_env.advance(400)
        r = await coord.consumer.heartbeat(
            HeartbeatRequest(group_id="g", member_id="b", member_epoch=r.member_epoch)
        )
        await coord.flush()
    group = coord.groups["g"]
    assert isinstance(group, ConsumerGroup) and set(group.members) == {"b"}
    r = await coord.consumer.heartbeat(
        HeartbeatRequest(group_id="g", member_id="b", member_epoch=LEAVE_GROUP_MEMBER_EPOCH)
    )
    assert r.error_code == ErrorCode.none and group.group_epoch == 4
    assert coord.stats.consumer_group_rebalances == 2
