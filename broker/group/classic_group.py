"""A classic consumer group (JoinGroup/SyncGroup protocol): members, state, generation.

States and the moves between them (Kafka's ClassicGroupState)::

    Empty ──join──▶ PreparingRebalance ──all joined──▶ CompletingRebalance ──leader sync──▶ Stable
      ▲                 ▲  │                                   │                          │
      └── no members ───┘  └──────────── member joins, leaves or times out ◀──────────────┘
    any state ──▶ Dead (group deleted or its partition unloaded)

:data:`VALID_PREVIOUS_STATES` is the table; :meth:`ClassicGroup.transition_to` is the
only way to change the state and raises :class:`IllegalStateTransition` on any move the
table does not allow. The group is plain data plus the invariants below; timers, futures
and records are the coordinator's business.

Invariants: ``leader_id`` is a member id or None; ``static_members`` maps each static
member's instance id to its member id; ``pending_members`` holds member ids handed out
with MEMBER_ID_REQUIRED (KIP-394) that have not joined yet; a member is in exactly one
of ``members`` and ``pending_members``.
"""

from __future__ import annotations

import asyncio
import enum
import struct
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from broker.group.records import GroupMetadataValue, MemberMetadataValue

CONSUMER_PROTOCOL_TYPE = "consumer"


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


class IllegalStateTransition(RuntimeError):
    pass


@dataclass(slots=True)
class JoinResult:
    """What a JoinGroup call answers; the handler builds the versioned response."""

    error: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    # (member id, group instance id, metadata) for the leader; empty for followers.
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)
    # Nanoseconds the call waited for the rebalance (Kafka's DelayedJoin: remote time).
    parked_ns: int = 0


@dataclass(slots=True)
class SyncResult:
    error: ErrorCode
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None
    # Nanoseconds waiting for the leader's assignment or its append (remote time).
    parked_ns: int = 0


@dataclass(slots=True)
class ClassicMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_future: asyncio.Future[JoinResult] | None = None
    sync_future: asyncio.Future[SyncResult] | None = None
    is_new: bool = False
    # True when the member supports skipping assignment (JoinGroup v9+) on static rejoin.

    @property
    def is_awaiting_join(self) -> bool:
        return self.join_future is not None

    @property
    def is_awaiting_sync(self) -> bool:
        return self.sync_future is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        raise KeyError(protocol)

    def matches(self, protocols: Sequence[tuple[str, bytes]]) -> bool:
        return list(protocols) == list(self.protocols)

    def complete_join(self, result: JoinResult) -> None:
        fut, self.join_future = self.join_future, None
        if fut is not None and not fut.done():
            fut.set_result(result)

    def complete_sync(self, result: SyncResult) -> None:
        fut, self.sync_future = self.sync_future, None
        if fut is not None and not fut.done():
            fut.set_result(result)


class ClassicGroup:
    """Membership of one classic group. Not thread-safe: used on the event loop only."""

    group_type = "classic"

    def __init__(self, group_id: str, now_ms: int) -> None:
        self.group_id = group_id
        self.state = GroupState.EMPTY
        self.previous_state = GroupState.EMPTY
        self.current_state_timestamp = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, ClassicMember] = {}
        self.pending_members: set[str] = set()
        self.pending_sync: set[str] = set()
        self.static_members: dict[str, str] = {}
        self.new_member_added = False

    # -- state machine -------------------------------------------------------
    def transition_to(self, target: GroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[target]:
            raise IllegalStateTransition(
                f"group {self.group_id} cannot move from {self.state.value} to {target.value}"
            )
        self.previous_state = self.state
        self.state = target
        self.current_state_timestamp = now_ms

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    @property
    def state_name(self) -> str:
        return self.state.value

    # -- membership ----------------------------------------------------------
    def is_empty(self) -> bool:
        return not self.members and not self.pending_members

    def has_member(self, member_id: str) -> bool:
        return member_id in self.members

    def generate_member_id(self, client_id: str, group_instance_id: str | None) -> str:
        prefix = group_instance_id if group_instance_id is not None else client_id
        return f"{prefix}-{uuid.uuid4()}"

    def add_member(self, member: ClassicMember) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if self.leader_id is None:
            self.leader_id = member.member_id
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.pending_members.discard(member.member_id)

    def remove_member(self, member_id: str) -> ClassicMember | None:
        member = self.members.pop(member_id, None)
        self.pending_sync.discard(member_id)
        if member is None:
            return None
        instance_id = member.group_instance_id
        if instance_id is not None and self.static_members.get(instance_id) == member_id:
            del self.static_members[instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> ClassicMember:
        member = self.members.pop(old_id)
        member.complete_join(JoinResult(ErrorCode.fenced_instance_id, member_id=old_id))
        member.complete_sync(SyncResult(ErrorCode.fenced_instance_id))
        member.member_id = new_id
        self.members[new_id] = member
        if self.leader_id == old_id:
            self.leader_id = new_id
        self.static_members[instance_id] = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        return member

    def static_member_id(self, instance_id: str | None) -> str | None:
        if instance_id is None:
            return None
        return self.static_members.get(instance_id)

    def validate_member(self, member_id: str, instance_id: str | None, operation: str) -> ErrorCode:
        """Kafka's static-membership fencing check, then member existence."""
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                return ErrorCode.unknown_member_id
            if existing != member_id:
                return ErrorCode.fenced_instance_id
        if member_id not in self.members:
            return ErrorCode.unknown_member_id
        return ErrorCode.none

    def all_members_joined(self) -> bool:
        return not self.pending_members and all(m.is_awaiting_join for m in self.members.values())

    def not_yet_rejoined(self) -> list[ClassicMember]:
        return [m for m in self.members.values() if not m.is_awaiting_join]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # -- protocols -----------------------------------------------------------
    def candidate_protocols(self) -> list[str]:
        counts: Counter[str] = Counter()
        for m in self.members.values():
            counts.update(set(m.protocol_names()))
        n = len(self.members)
        leader = self.members.get(self.leader_id or "")
        order = leader.protocol_names() if leader else []
        cands = [p for p, c in counts.items() if c == n]
        return sorted(cands, key=lambda p: order.index(p) if p in order else len(order))

    def supports_protocols(
        self, protocol_type: str, protocols: Sequence[tuple[str, bytes]]
    ) -> bool:
        names = {name for name, _ in protocols}
        if not self.members:
            return bool(protocol_type) and bool(names)
        if self.protocol_type != protocol_type:
            return False
        counts: Counter[str] = Counter()
        for m in self.members.values():
            counts.update(set(m.protocol_names()))
        n = len(self.members)
        return any(counts[p] == n for p in names)

    def select_protocol(self) -> str:
        """Each member votes for its most preferred candidate; most votes wins
        (ties go to the earlier candidate in the leader's preference order)."""
        candidates = self.candidate_protocols()
        if not candidates:
            raise IllegalStateTransition(f"no common protocol in group {self.group_id}")
        votes: Counter[str] = Counter()
        for m in self.members.values():
            for name in m.protocol_names():
                if name in candidates:
                    votes[name] += 1
                    break
        best = max(votes.values())
        return next(p for p in candidates if votes[p] == best)

    def init_next_generation(self, now_ms: int) -> None:
        if self.members:
            self.generation_id += 1
            self.protocol_name = self.select_protocol()
            self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)
            self.pending_sync = set(self.members)
        else:
            self.generation_id += 1
            self.protocol_name = None
            self.transition_to(GroupState.EMPTY, now_ms)
            self.pending_sync = set()

    def member_metadata_for_leader(self) -> list[tuple[str, str | None, bytes]]:
        assert self.protocol_name is not None
        return [
            (m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
            for m in self.members.values()
        ]

    # -- consumer-protocol subscriptions -------------------------------------
    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to (consumer protocol), None if unknown."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None if self.members else set()
        topics: set[str] = set()
        for m in self.members.values():
            try:
                topics.update(decode_subscription_topics(m.metadata(self.protocol_name)))
            except (KeyError, ValueError, struct.error):
                return None
        return topics

    def is_subscribed_to(self, topic: str) -> bool:
        if self.is_in(GroupState.EMPTY, GroupState.DEAD):
            return False
        topics = self.subscribed_topics()
        return True if topics is None else topic in topics

    # -- offsets -------------------------------------------------------------
    def validate_offset_commit(
        self, member_id: str, instance_id: str | None, generation_id: int
    ) -> ErrorCode:
        """Kafka's ClassicGroup.validateOffsetCommit (non-transactional)."""
        if self.is_in(GroupState.DEAD):
            return ErrorCode.coordinator_not_available
        if generation_id < 0 and self.is_in(GroupState.EMPTY):
            return ErrorCode.none  # a simple consumer or an admin commit
        if generation_id >= 0 or member_id or instance_id is not None:
            error = self.validate_member(member_id, instance_id, "offset-commit")
            if error != ErrorCode.none:
                return error
            if generation_id != self.generation_id:
                return ErrorCode.illegal_generation
        elif not self.is_in(GroupState.EMPTY):
            return ErrorCode.unknown_member_id
        if self.is_in(GroupState.COMPLETING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode:
        return ErrorCode.none

    def validate_offset_delete(self) -> ErrorCode:
        if self.is_in(GroupState.DEAD):
            return ErrorCode.group_id_not_found
        if not self.is_in(GroupState.EMPTY) and self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return ErrorCode.non_empty_group
        return ErrorCode.none

    def validate_delete(self) -> ErrorCode:
        if self.is_in(GroupState.DEAD):
            return ErrorCode.group_id_not_found
        if not self.is_in(GroupState.EMPTY):
            return ErrorCode.non_empty_group
        return ErrorCode.none

    # -- persistence ---------------------------------------------------------
    def to_record(self, assignments: dict[str, bytes] | None = None) -> GroupMetadataValue:
        protocol = self.protocol_name
        members = tuple(
            MemberMetadataValue(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.metadata(protocol) if protocol is not None else b"",
                (assignments or {}).get(m.member_id, m.assignment),
            )
            for m in self.members.values()
        )
        return GroupMetadataValue(
            self.protocol_type or "",
            self.generation_id,
            protocol,
            self.leader_id,
            self.current_state_timestamp,
            members,
        )

    @classmethod
    def from_record(cls, group_id: str, value: GroupMetadataValue, now_ms: int) -> ClassicGroup:
        state_ts = value.current_state_timestamp if value.current_state_timestamp >= 0 else now_ms
        group = cls(group_id, state_ts)
        group.generation_id = value.generation
        group.protocol_type = value.protocol_type or None
        group.protocol_name = value.protocol
        for mv in value.members:
            member = ClassicMember(
                mv.member_id,
                mv.group_instance_id,
                mv.client_id,
                mv.client_host,
                mv.rebalance_timeout,
                mv.session_timeout,
                value.protocol_type,
                [(value.protocol or "", mv.subscription)],
                mv.assignment,
            )
            group.members[mv.member_id] = member
            if mv.group_instance_id is not None:
                group.static_members[mv.group_instance_id] = mv.member_id
        group.leader_id = value.leader if value.leader in group.members else None
        if group.members:
            group.state = GroupState.STABLE
            if group.leader_id is None:
                group.leader_id = next(iter(group.members))
        return group


def decode_subscription_topics(data: bytes) -> list[str]:
    """Topics of a ConsumerProtocolSubscription (any version): int16 version, [string]."""
    pos = 2
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    topics = []
    for _ in range(count):
        (n,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if n < 0 or pos + n > len(data):
            raise ValueError("bad subscription")
        topics.append(data[pos : pos + n].decode())
        pos += n
    return topics
