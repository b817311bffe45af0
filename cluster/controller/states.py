"""Partition and replica states of Kafka's controller state machines.

Each state lists the states it may be entered from (Kafka's ``validPreviousStates``);
:meth:`PartitionState.transition_to` and :meth:`ReplicaState.transition_to` return the
target or raise :class:`IllegalStateTransition`. The state machines skip (and log) the
partitions or replicas whose move is illegal, as Kafka does.
"""

from __future__ import annotations

import enum


class IllegalStateTransition(Exception):
    """A partition or replica cannot move from its current state to the requested one."""

    def __init__(self, what: str, current: enum.Enum, target: enum.Enum, valid: frozenset[str]):
        self.current = current
        self.target = target
        super().__init__(
            f"{what} should be in one of {','.join(sorted(valid))} states before moving to "
            f"{target.name} state. Instead it is in {current.name} state"
        )


class PartitionState(enum.Enum):
    """Kafka's partition states (the values are Kafka's state bytes).

    * NEW_PARTITION: replicas assigned, no leader yet.
    * ONLINE_PARTITION: a leader has been elected.
    * OFFLINE_PARTITION: the elected leader died (or the partition is being deleted).
    * NON_EXISTENT_PARTITION: never created, or deleted.
    """

    NEW_PARTITION = 0
    ONLINE_PARTITION = 1
    OFFLINE_PARTITION = 2
    NON_EXISTENT_PARTITION = 3

    @property
    def valid_previous_states(self) -> frozenset[PartitionState]:
        return _PARTITION_PREVIOUS[self]

    def can_follow(self, current: PartitionState) -> bool:
        return current in _PARTITION_PREVIOUS[self]

    def transition_to(self, target: PartitionState, what: str = "partition") -> PartitionState:
        """``target`` if a partition in this state may move there; else raise."""
        if self not in _PARTITION_PREVIOUS[target]:
            valid = frozenset(s.name for s in _PARTITION_PREVIOUS[target])
            raise IllegalStateTransition(what, self, target, valid)
        return target


_PARTITION_PREVIOUS: dict[PartitionState, frozenset[PartitionState]] = {
    PartitionState.NEW_PARTITION: frozenset({PartitionState.NON_EXISTENT_PARTITION}),
    PartitionState.ONLINE_PARTITION: frozenset(
        {
            PartitionState.NEW_PARTITION,
            PartitionState.ONLINE_PARTITION,
            PartitionState.OFFLINE_PARTITION,
        }
    ),
    PartitionState.OFFLINE_PARTITION: frozenset(
        {
            PartitionState.NEW_PARTITION,
            PartitionState.ONLINE_PARTITION,
            PartitionState.OFFLINE_PARTITION,
        }
    ),
    PartitionState.NON_EXISTENT_PARTITION: frozenset({PartitionState.OFFLINE_PARTITION}),
}


class ReplicaState(enum.Enum):
    """Kafka's replica states (the values are Kafka's state bytes).

    * NEW_REPLICA: created by a reassignment; may only be told to follow.
    * ONLINE_REPLICA: part of the assignment and its broker is up.
    * OFFLINE_REPLICA: its broker is down (or it is being removed).
    * REPLICA_DELETION_STARTED: StopReplica with delete=true was sent.
    * REPLICA_DELETION_SUCCESSFUL: the broker confirmed the deletion.
    * REPLICA_DELETION_INELIGIBLE: the deletion failed (or its broker is down); retried later.
    * NON_EXISTENT_REPLICA: deleted.
    """

    NEW_REPLICA = 1
    ONLINE_REPLICA = 2
    OFFLINE_REPLICA = 3
    REPLICA_DELETION_STARTED = 4
    REPLICA_DELETION_SUCCESSFUL = 5
    REPLICA_DELETION_INELIGIBLE = 6
    NON_EXISTENT_REPLICA = 7

    @property
    def valid_previous_states(self) -> frozenset[ReplicaState]:
        return _REPLICA_PREVIOUS[self]

    def can_follow(self, current: ReplicaState) -> bool:
        return current in _REPLICA_PREVIOUS[self]

    def transition_to(self, target: ReplicaState, what: str = "replica") -> ReplicaState:
        """``target`` if a replica in this state may move there; else raise."""
        if self not in _REPLICA_PREVIOUS[target]:
            valid = frozenset(s.name for s in _REPLICA_PREVIOUS[target])
            raise IllegalStateTransition(what, self, target, valid)
        return target


_LIVE_REPLICA_STATES = frozenset(
    {
        ReplicaState.NEW_REPLICA,
        ReplicaState.ONLINE_REPLICA,
        ReplicaState.OFFLINE_REPLICA,
        ReplicaState.REPLICA_DELETION_INELIGIBLE,
    }
)

_REPLICA_PREVIOUS: dict[ReplicaState, frozenset[ReplicaState]] = {
    ReplicaState.NEW_REPLICA: frozenset({ReplicaState.NON_EXISTENT_REPLICA}),
    ReplicaState.ONLINE_REPLICA: _LIVE_REPLICA_STATES,
    ReplicaState.OFFLINE_REPLICA: _LIVE_REPLICA_STATES,
    ReplicaState.REPLICA_DELETION_STARTED: frozenset({ReplicaState.OFFLINE_REPLICA}),
    ReplicaState.REPLICA_DELETION_SUCCESSFUL: frozenset({ReplicaState.REPLICA_DELETION_STARTED}),
    ReplicaState.REPLICA_DELETION_INELIGIBLE: frozenset(
        {ReplicaState.OFFLINE_REPLICA, ReplicaState.REPLICA_DELETION_STARTED}
    ),
    ReplicaState.NON_EXISTENT_REPLICA: frozenset({ReplicaState.REPLICA_DELETION_SUCCESSFUL}),
}
