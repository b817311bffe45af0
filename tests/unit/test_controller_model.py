"""Controller model: KIP-455 replica assignments, LeaderAndIsr transitions, state tables and
the reassignment rules (Kafka's ReplicaAssignment, LeaderAndIsr, PartitionState/ReplicaState,
validateReplicas/maybeBuildReassignment/isReassignmentComplete)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cluster.controller.model import (
    RECOVERED,
    RECOVERING,
    LeaderAndIsr,
    PartitionAndReplica,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.reassignment_rules import (
    build_reassignment,
    is_reassignment_complete,
    validate_replicas,
)
from cluster.controller.states import IllegalStateTransition, PartitionState, ReplicaState
from protocol.errors import ErrorCode

distinct_ids = st.lists(st.integers(0, 12), min_size=1, max_size=6, unique=True)


# -- ReplicaAssignment ------------------------------------------------------------------------
def test_reassign_disjoint_matches_kafka_example() -> None:
    # KafkaController.onPartitionReassignment's doc: ORS {1,2,3} -> TRS {4,5,6}.
    moving = ReplicaAssignment.of([1, 2, 3]).reassign_to([4, 5, 6])
    assert moving == ReplicaAssignment((4, 5, 6, 1, 2, 3), (4, 5, 6), (1, 2, 3))
    assert moving.origin_replicas == (1, 2, 3)
    assert moving.target_replicas == (4, 5, 6)
    assert moving.is_being_reassigned


def test_reassign_overlapping_puts_target_first() -> None:
    # updateCurrentReassignment's doc: [1,2,3] reassigned to [3,4,2] is written [3,4,2,1].
    moving = ReplicaAssignment.of([1, 2, 3]).reassign_to([3, 4, 2])
    assert moving == ReplicaAssignment((3, 4, 2, 1), (4,), (1,))
    # Cancelling cannot restore the original order, only the original set.
    cancelled = build_reassignment(moving, None)
    assert cancelled == ReplicaAssignment((3, 2, 1))
    assert not cancelled.is_being_reassigned


def test_reassign_to_same_replicas_is_not_a_reassignment() -> None:
    assert ReplicaAssignment.of([2, 1]).reassign_to([2, 1]) == ReplicaAssignment((2, 1))


def test_remove_replica_removes_everywhere() -> None:
    a = ReplicaAssignment((4, 5, 1, 2), (4, 5), (1, 2)).remove_replica(1)
    assert a == ReplicaAssignment((4, 5, 2), (4, 5), (2,))


@given(origin=distinct_ids, target=distinct_ids)
def test_reassign_to_invariants(origin: list[int], target: list[int]) -> None:
    moving = ReplicaAssignment.of(origin).reassign_to(target)
    assert moving.target_replicas == tuple(target)
    # ORS keeps its members but not necessarily its order (Kafka's documented limitation).
    assert set(moving.origin_replicas) == set(origin)
    assert len(set(moving.replicas)) == len(moving.replicas)
    assert set(moving.replicas) == set(origin) | set(target)
    assert set(moving.adding_replicas) == set(target) - set(origin)
    assert set(moving.removing_replicas) == set(origin) - set(target)
    assert moving.replicas[: len(target)] == tuple(target)


@given(origin=distinct_ids, first=distinct_ids, second=distinct_ids)
def test_replacing_a_reassignment_keeps_the_origin(
    origin: list[int], first: list[int], second: list[int]
) -> None:
    moving = ReplicaAssignment.of(origin).reassign_to(first)
    assume(moving.is_being_reassigned)
    replaced = build_reassignment(moving, second)
    assert replaced is not None
    assert set(replaced.origin_replicas) == set(origin)
    assert replaced.target_replicas == tuple(second)
    cancelled = build_reassignment(moving, None)
    assert cancelled is not None
    assert set(cancelled.replicas) == set(origin)
    assert not cancelled.is_being_reassigned


def test_cancel_without_reassignment_is_none() -> None:
    assert build_reassignment(ReplicaAssignment.of([1, 2]), None) is None


# -- reassignment rules ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("replicas", "reason"),
    [
        ([], "Empty replica list"),
        ([1, 1], "Duplicate replica ids"),
        ([1, -1], "Invalid broker id"),
        ([1, 9], "brokers that are not alive"),
    ],
)
def test_validate_replicas_refuses(replicas: list[int], reason: str) -> None:
    error = validate_replicas(ReplicaAssignment.of([1, 2]), replicas, {1, 2, 3})
    assert error is not None
    assert error[0] is ErrorCode.invalid_replica_assignment
    assert reason in error[1]


def test_validate_replicas_allows_dead_original_replicas() -> None:
    # Only replicas being added must be alive; 2 is an original replica and may be down.
    assert validate_replicas(ReplicaAssignment.of([1, 2]), [2, 3], {1, 3}) is None


def test_reassignment_complete_when_targets_in_isr() -> None:
    moving = ReplicaAssignment.of([1, 2, 3]).reassign_to([4, 5, 6])
    assert not is_reassignment_complete(moving, (1, 2, 3, 4, 5))
    assert is_reassignment_complete(moving, (1, 2, 3, 4, 5, 6))
    assert not is_reassignment_complete(moving, None)
    assert is_reassignment_complete(ReplicaAssignment.of([1]), ())


# -- LeaderAndIsr ------------------------------------------------------------------------------
def test_leader_and_isr_transitions_bump_leader_epoch_only() -> None:
    base = LeaderAndIsr(1, 4, (1, 2, 3), RECOVERED, 7)
    assert base.new_leader(2) == LeaderAndIsr(2, 5, (1, 2, 3), RECOVERED, 7)
    assert base.new_leader_and_isr(3, (3,)) == LeaderAndIsr(3, 5, (3,), RECOVERED, 7)
    assert base.new_recovering_leader_and_isr(9, (9,)) == LeaderAndIsr(9, 5, (9,), RECOVERING, 7)
    assert base.new_epoch() == LeaderAndIsr(1, 5, (1, 2, 3), RECOVERED, 7)
    assert base.with_partition_epoch(8).partition_epoch == 8
    assert LeaderAndIsr(-1).leader_opt is None


def test_equals_allow_stale_partition_epoch() -> None:
    current = LeaderAndIsr(1, 4, (1, 2), RECOVERED, 7)
    assert LeaderAndIsr(1, 4, (1, 2), RECOVERED, 5).equals_allow_stale_partition_epoch(current)
    assert not LeaderAndIsr(1, 4, (1, 2), RECOVERED, 8).equals_allow_stale_partition_epoch(current)
    assert not LeaderAndIsr(1, 4, (2, 1), RECOVERED, 7).equals_allow_stale_partition_epoch(current)


def test_keys_compare_as_plain_tuples() -> None:
    tp = TopicPartition("t", 3)
    assert tp == ("t", 3)
    assert {("t", 3): 1}[tp] == 1
    assert str(tp) == "t-3"
    assert str(PartitionAndReplica(tp, 2)) == "[Topic=t,Partition=3,Replica=2]"


# -- state tables ------------------------------------------------------------------------------
PARTITION_TABLE = {
    PartitionState.NEW_PARTITION: {PartitionState.NON_EXISTENT_PARTITION},
    PartitionState.ONLINE_PARTITION: {
        PartitionState.NEW_PARTITION,
        PartitionState.ONLINE_PARTITION,
        PartitionState.OFFLINE_PARTITION,
    },
    PartitionState.OFFLINE_PARTITION: {
        PartitionState.NEW_PARTITION,
        PartitionState.ONLINE_PARTITION,
        PartitionState.OFFLINE_PARTITION,
    },
    PartitionState.NON_EXISTENT_PARTITION: {PartitionState.OFFLINE_PARTITION},
}

R = ReplicaState
REPLICA_TABLE = {
    R.NEW_REPLICA: {R.NON_EXISTENT_REPLICA},
    R.ONLINE_REPLICA: {
        R.NEW_REPLICA,
        R.ONLINE_REPLICA,
        R.OFFLINE_REPLICA,
        R.REPLICA_DELETION_INELIGIBLE,
    },
    R.OFFLINE_REPLICA: {
        R.NEW_REPLICA,
        R.ONLINE_REPLICA,
        R.OFFLINE_REPLICA,
        R.REPLICA_DELETION_INELIGIBLE,
    },
    R.REPLICA_DELETION_STARTED: {R.OFFLINE_REPLICA},
    R.REPLICA_DELETION_SUCCESSFUL: {R.REPLICA_DELETION_STARTED},
    R.REPLICA_DELETION_INELIGIBLE: {R.OFFLINE_REPLICA, R.REPLICA_DELETION_STARTED},
    R.NON_EXISTENT_REPLICA: {R.REPLICA_DELETION_SUCCESSFUL},
}


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(PartitionState, PartitionState))
)
def test_partition_transitions(current: PartitionState, target: PartitionState) -> None:
    assert target.valid_previous_states == PARTITION_TABLE[target]
    if current in PARTITION_TABLE[target]:
        assert current.transition_to(target) is target
        assert target.can_follow(current)
    else:
        with pytest.raises(IllegalStateTransition, match=f"Instead it is in {current.name}"):
            current.transition_to(target, "partition t-0")
        assert not target.can_follow(current)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(R, R)))
def test_replica_transitions(current: ReplicaState, target: ReplicaState) -> None:
    assert target.valid_previous_states == REPLICA_TABLE[target]
    if current in REPLICA_TABLE[target]:
        assert current.transition_to(target) is target
    else:
        with pytest.raises(IllegalStateTransition):
            current.transition_to(target)


def test_state_values_are_kafka_state_bytes() -> None:
    assert [s.value for s in PartitionState] == [0, 1, 2, 3]
    assert [s.value for s in ReplicaState] == [1, 2, 3, 4, 5, 6, 7]
