"""Server-side partition assignors of KIP-848 consumer groups: ``uniform`` and ``range``.

An assignor is a pure function from a :class:`GroupSpec` (each member's subscribed
topic ids and its current *target* assignment) and the partition counts of the
subscribed topics to a new target assignment ``{member_id: {topic_id: {partition}}}``.

Invariants of every result (checked by property tests):

- every partition of a topic someone subscribes to is assigned to exactly one member,
  and that member subscribes to the topic;
- a topic absent from the metadata (deleted, or not created yet) has no partitions;
- the result depends only on the inputs (member ids are ordered, never hashed).

``uniform`` (Kafka's default) balances the number of partitions per member and is
sticky: a member keeps the partitions of its current target assignment unless balance
requires moving them. With identical subscriptions (homogeneous) the counts differ by at
most one; with different subscriptions (heterogeneous) it balances as well as the
subscriptions allow, moving a partition only from a more loaded to a less loaded
subscriber of its topic.

``range`` gives each subscriber of a topic a contiguous range of its partitions, the
members ordered by instance id (static members first) then member id, so topics with the
same partition count are co-partitioned. Like Kafka's it is deterministic rather than
sticky: the same membership always yields the same assignment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

TopicId = uuid.UUID
MemberAssignment = dict[TopicId, set[int]]
GroupAssignment = dict[str, MemberAssignment]

UNIFORM_ASSIGNOR_NAME = "uniform"
RANGE_ASSIGNOR_NAME = "range"

# Kafka's heterogeneous balancing pass gives up after this many rounds over all topics.
_MAX_BALANCE_ROUNDS = 16


class PartitionAssignorError(Exception):
    """The assignor could not compute an assignment."""


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """What the assignor knows about one member."""

    subscribed_topic_ids: frozenset[TopicId]
    assignment: Mapping[TopicId, frozenset[int]] = field(default_factory=dict)
    """The member's current target assignment (the starting point for stickiness)."""
    instance_id: str | None = None
    rack_id: str | None = None


@dataclass(frozen=True, slots=True)
class GroupSpec:
    members: Mapping[str, MemberSpec]


class ConsumerGroupPartitionAssignor(Protocol):
    name: str

    def assign(self, group_spec: GroupSpec, topics: Mapping[TopicId, int]) -> GroupAssignment:
        """Compute a target assignment; ``topics`` maps topic id → partition count."""
        ...


def _subscriptions(
    group_spec: GroupSpec, topics: Mapping[TopicId, int]
) -> dict[str, frozenset[TopicId]]:
    """Each member's subscribed topics that exist and have partitions."""
    return {
        member_id: frozenset(t for t in spec.subscribed_topic_ids if topics.get(t, 0) > 0)
        for member_id, spec in group_spec.members.items()
    }


def _sorted_partitions(assignment: Mapping[TopicId, Iterable[int]]) -> list[tuple[TopicId, int]]:
    return sorted((t, p) for t, parts in assignment.items() for p in parts)


class UniformAssignor:
    """Balanced and sticky; Kafka's default server-side assignor."""

    name = UNIFORM_ASSIGNOR_NAME

    def assign(self, group_spec: GroupSpec, topics: Mapping[TopicId, int]) -> GroupAssignment:
        if not group_spec.members:
            return {}
        subs = _subscriptions(group_spec, topics)
        if len(set(subs.values())) == 1:
            return self._homogeneous(group_spec, next(iter(subs.values())), topics)
        return self._heterogeneous(group_spec, subs, topics)

    @staticmethod
    def _homogeneous(
        group_spec: GroupSpec, subscribed: frozenset[TopicId], topics: Mapping[TopicId, int]
    ) -> GroupAssignment:
        member_ids = sorted(group_spec.members)
        result: GroupAssignment = {m: {} for m in member_ids}
        if not subscribed:
            return result
        total = sum(topics[t] for t in subscribed)
        min_quota, extra = divmod(total, len(member_ids))

        # Partitions each member may keep: still subscribed, still existing, not claimed twice.
        claimed: set[tuple[TopicId, int]] = set()
        retained: dict[str, list[tuple[TopicId, int]]] = {}
        for member_id in member_ids:
            keep: list[tuple[TopicId, int]] = []
            for tp in _sorted_partitions(group_spec.members[member_id].assignment):
                topic_id, partition = tp
                if (
                    topic_id in subscribed
                    and 0 <= partition < topics[topic_id]
                    and tp not in claimed
                ):
                    claimed.add(tp)
                    keep.append(tp)
            retained[member_id] = keep

        # The extra partitions go first to members already holding more than the minimum,
        # so that nobody gives up a partition balance would let it keep.
        by_need = sorted(member_ids, key=lambda m: (-min(len(retained[m]), min_quota + 1), m))
        quota = {m: min_quota + (1 if i < extra else 0) for i, m in enumerate(by_need)}

        unassigned: list[tuple[TopicId, int]] = []
        for member_id in member_ids:
            keep = retained[member_id]
            q = quota[member_id]
            for topic_id, partition in keep[:q]:
                result[member_id].setdefault(topic_id, set()).add(partition)
            unassigned.extend(keep[q:])
        for topic_id in sorted(subscribed):
            for partition in range(topics[topic_id]):
                if (topic_id, partition) not in claimed:
                    unassigned.append((topic_id, partition))
        unassigned.sort()

        index = 0
        for member_id in member_ids:
            room = quota[member_id] - sum(len(p) for p in result[member_id].values())
            for topic_id, partition in unassigned[index : index + room]:
                result[member_id].setdefault(topic_id, set()).add(partition)
            index += max(room, 0)
        if index < len(unassigned):
            raise PartitionAssignorError("partitions were left unassigned")
        return result

    @staticmethod
    def _heterogeneous(
        group_spec: GroupSpec,
        subs: Mapping[str, frozenset[TopicId]],
        topics: Mapping[TopicId, int],
    ) -> GroupAssignment:
        member_ids = sorted(group_spec.members)
        index = {m: i for i, m in enumerate(member_ids)}
        subscribers: dict[TopicId, list[str]] = {}
        for member_id in member_ids:
            for topic_id in subs[member_id]:
                subscribers.setdefault(topic_id, []).append(member_id)

        result: GroupAssignment = {m: {} for m in member_ids}
        size = dict.fromkeys(member_ids, 0)
        owner: dict[tuple[TopicId, int], str] = {}
        for member_id in member_ids:
            for tp in _sorted_partitions(group_spec.members[member_id].assignment):
                topic_id, partition = tp
                if (
                    topic_id in subs[member_id]
                    and 0 <= partition < topics[topic_id]
                    and tp not in owner
                ):
                    owner[tp] = member_id
                    result[member_id].setdefault(topic_id, set()).add(partition)
                    size[member_id] += 1

        def move(topic_id: TopicId, partition: int, to: str) -> None:
            old = owner.get((topic_id, partition))
            if old is not None:
                parts = result[old][topic_id]
                parts.discard(partition)
                if not parts:
                    del result[old][topic_id]
                size[old] -= 1
            owner[(topic_id, partition)] = to
            result[to].setdefault(topic_id, set()).add(partition)
            size[to] += 1

        # Topics with the most partitions per subscriber first, then fewer subscribers.
        order = sorted(
            subscribers,
            key=lambda t: (-topics[t] / len(subscribers[t]), len(subscribers[t]), t),
        )
        for topic_id in order:
            subs_of_topic = subscribers[topic_id]
            for partition in range(topics[topic_id]):
                if (topic_id, partition) not in owner:
                    least = min(subs_of_topic, key=lambda m: (size[m], index[m]))
                    move(topic_id, partition, least)

        # Move partitions from the most to the least loaded subscriber of their topic while
        # that improves the balance.
        movable = [t for t in order if len(subscribers[t]) >= 2]
        for _ in range(_MAX_BALANCE_ROUNDS):
            moved = False
            for topic_id in movable:
                subs_of_topic = subscribers[topic_id]
                while True:
                    least = min(subs_of_topic, key=lambda m: (size[m], index[m]))
                    holders = [m for m in subs_of_topic if result[m].get(topic_id)]
                    most = max(holders, key=lambda m: (size[m], -index[m]))
                    if size[most] - size[least] <= 1:
                        break
                    move(topic_id, max(result[most][topic_id]), least)
                    moved = True
            if not moved:
                break
        return result


class RangeAssignor:
    """Contiguous ranges per topic, co-partitioned across topics; deterministic."""

    name = RANGE_ASSIGNOR_NAME

    def assign(self, group_spec: GroupSpec, topics: Mapping[TopicId, int]) -> GroupAssignment:
        subs = _subscriptions(group_spec, topics)

        def order(member_id: str) -> tuple[int, str, str]:
            instance_id = group_spec.members[member_id].instance_id
            if instance_id is not None:
                return (0, instance_id, member_id)
            return (1, "", member_id)

        member_ids = sorted(group_spec.members, key=order)
        subscribers: dict[TopicId, int] = {}
        for member_id in member_ids:
            for topic_id in subs[member_id]:
                subscribers[topic_id] = subscribers.get(topic_id, 0) + 1
        next_start: dict[TopicId, int] = dict.fromkeys(subscribers, 0)
        extras: dict[TopicId, int] = {t: topics[t] % n for t, n in subscribers.items()}

        result: GroupAssignment = {}
        for member_id in member_ids:
            assignment: MemberAssignment = {}
            for topic_id in sorted(subs[member_id]):
                quota = topics[topic_id] // subscribers[topic_id]
                if extras[topic_id] > 0:
                    quota += 1
                    extras[topic_id] -= 1
                start = next_start[topic_id]
                end = min(start + quota, topics[topic_id])
                next_start[topic_id] = end
                if start < end:
                    assignment[topic_id] = set(range(start, end))
            result[member_id] = assignment
        return result


ASSIGNORS: dict[str, ConsumerGroupPartitionAssignor] = {
    UNIFORM_ASSIGNOR_NAME: UniformAssignor(),
    RANGE_ASSIGNOR_NAME: RangeAssignor(),
}


def get_assignor(name: str) -> ConsumerGroupPartitionAssignor:
    try:
        return ASSIGNORS[name]
    except KeyError:
        raise PartitionAssignorError(f"unknown assignor {name!r}") from None
