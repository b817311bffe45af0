"""KIP-848 members: request/response shapes, member state and reconciliation
(Kafka's CurrentAssignmentBuilder), heartbeat validation; used by ConsumerGroup."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum
from typing import Protocol

from kio.schema.errors import ErrorCode

from broker.group.assignors import (
    UNIFORM_ASSIGNOR_NAME,
)
from broker.group.consumer_group_records import (
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataValue,
    Partitions,
)

LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
INT_MAX = 2**31 - 1  # member epochs wrap below this


class GroupError(Exception):
    """A request fails with a Kafka error code (and message)."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or code.name)
        self.code = code
        self.message = message


class MemberState(IntEnum):
    """Kafka's MemberState, with its record byte values."""

    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


class ConsumerGroupState(Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    topic_id: uuid.UUID
    name: str
    num_partitions: int


class TopicsView(Protocol):
    """What the group needs to know about the cluster's topics."""

    def topic(self, name: str) -> TopicInfo | None: ...

    def topic_names(self) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class ConsumerGroupConfig:
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 5_000
    max_size: int = INT_MAX
    assignors: tuple[str, ...] = (UNIFORM_ASSIGNOR_NAME, "range")
    """Enabled server-side assignors; the first is the default (group.consumer.assignors)."""

    @property
    def default_assignor(self) -> str:
        return self.assignors[0]


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    topic_partitions: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None = None
    client_id: str = ""
    client_host: str = ""
    api_version: int = 1


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    error_code: ErrorCode = ErrorCode.none
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Partitions | None = None

    @classmethod
    def error(cls, exc: GroupError) -> HeartbeatResponse:
        return cls(error_code=exc.code, error_message=exc.message)


@dataclass(frozen=True, slots=True)
class ConsumerGroupMember:
    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    assigned_partitions: Partitions = field(default_factory=dict)
    partitions_pending_revocation: Partitions = field(default_factory=dict)

    def is_reconciled_to(self, target_epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == target_epoch

    def with_epoch(self, epoch: int, **changes: object) -> ConsumerGroupMember:
        """Kafka's updateMemberEpoch: the previous epoch becomes the current one."""
        return replace(self, member_epoch=epoch, previous_member_epoch=self.member_epoch, **changes)  # type: ignore[arg-type]

    def metadata_value(self) -> ConsumerGroupMemberMetadataValue:
        return ConsumerGroupMemberMetadataValue(
            instance_id=self.instance_id,
            rack_id=self.rack_id,
            client_id=self.client_id,
            client_host=self.client_host,
            subscribed_topic_names=self.subscribed_topic_names,
            subscribed_topic_regex=self.subscribed_topic_regex,
            rebalance_timeout_ms=self.rebalance_timeout_ms,
            server_assignor=self.server_assignor,
        )

    def assignment_value(self) -> ConsumerGroupCurrentMemberAssignmentValue:
        return ConsumerGroupCurrentMemberAssignmentValue(
            member_epoch=self.member_epoch,
            previous_member_epoch=self.previous_member_epoch,
            state=int(self.state),
            assigned_partitions=self.assigned_partitions,
            partitions_pending_revocation=self.partitions_pending_revocation,
        )


def generate_member_id() -> str:
    """A Kafka-style member id (a random UUID in URL-safe base64, as Uuid.toString())."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


# --------------------------------------------------------------------------- reconciliation


def _owns_any(
    owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None, partitions: Partitions
) -> bool:
    """Whether the member (per its request) still owns any of ``partitions``.

    Without an owned list in the request we cannot tell, so we assume it does.
    """
    if owned is None:
        return True
    return any(p in partitions.get(t, ()) for t, parts in owned for p in parts)


def next_member_assignment(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Partitions,
    partition_epoch: Callable[[uuid.UUID, int], int],
    owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None,
) -> ConsumerGroupMember:
    """Move ``member`` one step towards ``target`` (Kafka's CurrentAssignmentBuilder).

    ``partition_epoch(topic, p)`` is the epoch of the member currently owning a partition,
    -1 if nobody owns it; ``owned`` is what the member reported in its heartbeat.
    Raises FENCED_MEMBER_EPOCH for a member in an unknown state that still owns partitions.
    """

    def compute(epoch: int, current: Partitions) -> ConsumerGroupMember:
        unreleased = False
        assigned: dict[uuid.UUID, frozenset[int]] = {}
        revoke: dict[uuid.UUID, frozenset[int]] = {}
        pending: dict[uuid.UUID, frozenset[int]] = {}
        for topic_id in set(target) | set(current):
            want = target.get(topic_id, frozenset())
            have = current.get(topic_id, frozenset())
            keep = have & want
            to_assign = want - keep
            free = frozenset(p for p in to_assign if partition_epoch(topic_id, p) == -1)
            unreleased = unreleased or free != to_assign
            if keep:
                assigned[topic_id] = keep
            if have - keep:
                revoke[topic_id] = have - keep
            if free:
                pending[topic_id] = free
        if revoke and _owns_any(owned, revoke):
            return member.with_epoch(
                epoch,
                state=MemberState.UNREVOKED_PARTITIONS,
                assigned_partitions=assigned,
                partitions_pending_revocation=revoke,
            )
        for topic_id, parts in pending.items():
            assigned[topic_id] = assigned.get(topic_id, frozenset()) | parts
        state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
        return member.with_epoch(
            target_epoch,
            state=state,
            assigned_partitions=assigned,
            partitions_pending_revocation={},
        )

    if member.state is MemberState.STABLE:
        if member.member_epoch != target_epoch:
            return compute(member.member_epoch, member.assigned_partitions)
        return member
    if member.state is MemberState.UNREVOKED_PARTITIONS:
        if _owns_any(owned, member.partitions_pending_revocation):
            return member
        return compute(member.member_epoch + 1, member.assigned_partitions)
    if member.state is MemberState.UNRELEASED_PARTITIONS:
        return compute(member.member_epoch, member.assigned_partitions)
    if owned is None or owned:
        raise GroupError(
            ErrorCode.fenced_member_epoch,
            "The consumer group member is in a unknown state. "
            "The member must abandon all its partitions and rejoin.",
        )
    return compute(target_epoch, member.assigned_partitions)


# --------------------------------------------------------------------------- validation


def validate_heartbeat(request: HeartbeatRequest, config: ConsumerGroupConfig) -> None:
    """Request-level checks of GroupMetadataManager, before any group is looked at."""

    def invalid(message: str) -> GroupError:
        return GroupError(ErrorCode.invalid_request, message)

    if not request.group_id:
        raise invalid("GroupId can't be empty.")
    if request.instance_id == "":
        raise invalid("InstanceId can't be empty.")
    if request.rack_id == "":
        raise invalid("RackId can't be empty.")
    epoch = request.member_epoch
    if not request.member_id and (request.api_version >= 1 or epoch != 0):
        raise invalid("MemberId can't be empty.")
    if epoch == 0:
        if request.rebalance_timeout_ms == -1:
            raise invalid("RebalanceTimeoutMs must be provided in first request.")
        if request.topic_partitions is None or request.topic_partitions:
            raise invalid("TopicPartitions must be empty when (re-)joining.")
        if request.subscribed_topic_names is None and request.subscribed_topic_regex is None:
            raise invalid(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when "
                "(re-)joining."
            )
    elif epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        if request.instance_id is None:
            raise invalid("InstanceId can't be null.")
    elif epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        raise invalid("MemberEpoch is invalid.")
    if request.subscribed_topic_regex:
        compile_regex(request.subscribed_topic_regex)
    if request.server_assignor is not None and request.server_assignor not in config.assignors:
        raise GroupError(
            ErrorCode.unsupported_assignor,
            f"ServerAssignor {request.server_assignor} is not supported. "
            f"Supported assignors: {', '.join(config.assignors)}.",
        )


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def compile_regex(regex: str) -> re.Pattern[str]:
    """Compile a subscription regex (Kafka uses RE2J; Python's syntax covers the common case)."""
    pattern = _REGEX_CACHE.get(regex)
    if pattern is None:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise GroupError(
                ErrorCode.invalid_regular_expression, f"SubscribedTopicRegex {regex!r}: {exc}"
            ) from None
        if len(_REGEX_CACHE) > 1024:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[regex] = pattern
    return pattern


# --------------------------------------------------------------------------- the group
