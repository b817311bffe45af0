"""Leader election strategies and the controller context they read (Kafka's
PartitionLeaderElectionAlgorithms, Election, ControllerContext)."""

from __future__ import annotations

from helpers.controller_context import context_with, lead
from hypothesis import given
from hypothesis import strategies as st

from cluster.controller.election import (
    controlled_shutdown_partition_leader_election,
    leader_for_controlled_shutdown,
    leader_for_offline,
    leader_for_preferred_replica,
    leader_for_reassign,
    offline_partition_leader_election,
    preferred_replica_partition_leader_election,
    reassign_partition_leader_election,
)
from cluster.controller.model import (
    EPOCH_DURING_DELETE,
    NO_EPOCH,
    RECOVERED,
    RECOVERING,
    LeaderAndIsr,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.states import PartitionState

T0 = TopicPartition("t", 0)


# -- algorithms --------------------------------------------------------------------------------
def test_offline_picks_first_live_isr_replica_in_assignment_order() -> None:
    assert offline_partition_leader_election([3, 1, 2], [1, 2], {1, 2, 3}, False) == (1, False)
    assert offline_partition_leader_election([3, 1, 2], [2, 1], {2}, False) == (2, False)


def test_offline_without_live_isr_needs_unclean() -> None:
    assert offline_partition_leader_election([1, 2, 3], [1], {2, 3}, False) == (None, False)
    assert offline_partition_leader_election([1, 2, 3], [1], {3, 2}, True) == (2, True)
    assert offline_partition_leader_election([1, 2], [1], set(), True) == (None, False)


def test_preferred_is_only_the_first_replica() -> None:
    assert preferred_replica_partition_leader_election([2, 1], [1, 2], {1, 2}) == 2
    assert preferred_replica_partition_leader_election([2, 1], [1], {1, 2}) is None
    assert preferred_replica_partition_leader_election([2, 1], [1, 2], {1}) is None
    assert preferred_replica_partition_leader_election([], [1], {1}) is None


def test_reassign_and_controlled_shutdown() -> None:
    assert reassign_partition_leader_election([4, 5], [1, 5], {4, 5}) == 5
    assert controlled_shutdown_partition_leader_election([1, 2, 3], [1, 2, 3], {1, 2, 3}, {1}) == 2
    assert controlled_shutdown_partition_leader_election([1, 2], [1], {1, 2}, {1}) is None


@given(
    assignment=st.lists(st.integers(0, 8), min_size=1, max_size=5, unique=True),
    isr=st.sets(st.integers(0, 8)),
    live=st.sets(st.integers(0, 8)),
    unclean=st.booleans(),
)
def test_offline_election_properties(
    assignment: list[int], isr: set[int], live: set[int], unclean: bool
) -> None:
    leader, was_unclean = offline_partition_leader_election(assignment, isr, live, unclean)
    clean = [r for r in assignment if r in live and r in isr]
    if clean:
        assert (leader, was_unclean) == (clean[0], False)
    elif unclean and any(r in live for r in assignment):
        assert leader == next(r for r in assignment if r in live)
        assert was_unclean
    else:
        assert leader is None


# -- elections over the context ------------------------------------------------------------------
def test_offline_election_drops_dead_replicas_from_isr_and_bumps_epoch() -> None:
    ctx = context_with([2, 3], {"t": {0: [1, 2, 3]}})
    current = lead(ctx, T0, 1, [1, 2, 3], leader_epoch=4, partition_epoch=9)
    [result] = leader_for_offline(ctx, True, [(T0, current, False)])
    assert result.leader_and_isr == LeaderAndIsr(2, 5, (2, 3), RECOVERED, 9)
    assert result.live_replicas == (2, 3)


def test_unclean_election_marks_recovering_when_supported() -> None:
    ctx = context_with([3], {"t": {0: [1, 2, 3]}})
    current = lead(ctx, T0, 1, [1], leader_epoch=2)
    [result] = leader_for_offline(ctx, True, [(T0, current, True)])
    assert result.leader_and_isr == LeaderAndIsr(3, 3, (3,), RECOVERING, 0)
    assert ctx.stats.unclean_leader_elections == 1
    [plain] = leader_for_offline(ctx, False, [(T0, current, True)])
    assert plain.leader_and_isr == LeaderAndIsr(3, 3, (3,), RECOVERED, 0)
    [refused] = leader_for_offline(ctx, True, [(T0, current, False)])
    assert refused.leader_and_isr is None
    [skipped] = leader_for_offline(ctx, True, [(T0, None, True)])
    assert skipped.leader_and_isr is None


def test_offline_dir_makes_replica_offline() -> None:
    ctx = context_with([1, 2], {"t": {0: [1, 2]}})
    current = lead(ctx, T0, 1, [1, 2])
    ctx.replicas_on_offline_dirs[1] = {T0}
    [result] = leader_for_offline(ctx, True, [(T0, current, False)])
    assert result.leader_and_isr is not None
    assert (result.leader_and_isr.leader, result.leader_and_isr.isr) == (2, (2,))


def test_preferred_election_keeps_isr() -> None:
    ctx = context_with([1, 2], {"t": {0: [1, 2]}})
    current = lead(ctx, T0, 2, [2, 1], leader_epoch=7)
    [result] = leader_for_preferred_replica(ctx, [(T0, current)])
    assert result.leader_and_isr == LeaderAndIsr(1, 8, (2, 1), RECOVERED, 0)
    assert result.live_replicas == (1, 2)


def test_reassign_election_uses_target_replicas() -> None:
    ctx = context_with([1, 2, 3, 4], {"t": {0: [1, 2]}})
    ctx.update_partition_full_replica_assignment(
        T0, ReplicaAssignment.of([1, 2]).reassign_to([3, 4])
    )
    current = lead(ctx, T0, 1, [1, 2, 4, 3])
    [result] = leader_for_reassign(ctx, [(T0, current)])
    assert result.leader_and_isr is not None
    assert result.leader_and_isr.leader == 3
    assert result.live_replicas == (3, 4)


def test_controlled_shutdown_election_removes_shutting_down_from_isr() -> None:
    ctx = context_with([1, 2, 3], {"t": {0: [1, 2, 3]}})
    ctx.shutting_down_broker_ids.add(1)
    current = lead(ctx, T0, 1, [1, 2, 3], leader_epoch=1)
    [result] = leader_for_controlled_shutdown(ctx, [(T0, current)])
    assert result.leader_and_isr == LeaderAndIsr(2, 2, (2, 3), RECOVERED, 0)
    # Shutting-down brokers still hear about it.
    assert result.live_replicas == (1, 2, 3)


# -- context ---------------------------------------------------------------------------------
def test_live_brokers_exclude_shutting_down() -> None:
    ctx = context_with([1, 2, 3])
    ctx.shutting_down_broker_ids.add(2)
    assert ctx.live_broker_ids == {1, 3}
    assert ctx.live_or_shutting_down_broker_ids == {1, 2, 3}
    assert not ctx.is_live_broker(2)
    assert ctx.is_replica_online(2, T0, include_shutting_down_brokers=True)
    ctx.remove_live_brokers([3])
    assert ctx.live_broker_id_and_epochs == {1: 101, 2: 102}


def test_leader_epoch_sentinel_during_delete() -> None:
    ctx = context_with([1], {"t": {0: [1]}})
    assert ctx.leader_epoch(T0) == NO_EPOCH
    lead(ctx, T0, 1, [1], leader_epoch=6)
    assert ctx.leader_epoch(T0) == 6
    ctx.queue_topic_deletion({"t"})
    assert ctx.leader_epoch(T0) == EPOCH_DURING_DELETE
    assert ctx.partitions_with_leaders == set()


def test_partitions_with_offline_leader_and_leaders_on_broker() -> None:
    ctx = context_with([2], {"t": {0: [1, 2], 1: [2, 1], 2: [1]}})
    lead(ctx, T0, 1, [1, 2])
    lead(ctx, TopicPartition("t", 1), 2, [2, 1])
    lead(ctx, TopicPartition("t", 2), 1, [1])
    assert ctx.partitions_with_offline_leader == {T0, ("t", 2)}
    # Single-replica partitions do not count as "led" for controlled shutdown.
    assert ctx.partition_leaders_on_broker(1) == {T0}
    assert ctx.partitions_on_broker(2) == {T0, ("t", 1)}


def test_preferred_replica_imbalance_gauge() -> None:
    ctx = context_with([1, 2], {"t": {0: [1, 2], 1: [2, 1]}})
    lead(ctx, T0, 2, [1, 2])
    lead(ctx, TopicPartition("t", 1), 2, [1, 2])
    assert ctx.stats.preferred_replica_imbalance_count == 1
    lead(ctx, T0, 1, [1, 2])
    assert ctx.stats.preferred_replica_imbalance_count == 0
    lead(ctx, T0, 2, [1, 2])
    ctx.queue_topic_deletion({"t"})
    assert ctx.stats.preferred_replica_imbalance_count == 0


def test_offline_partition_gauge_ignores_topics_being_deleted() -> None:
    ctx = context_with([1], {"t": {0: [1]}, "u": {0: [1]}})
    ctx.put_partition_state(T0, PartitionState.OFFLINE_PARTITION)
    ctx.put_partition_state(TopicPartition("u", 0), PartitionState.OFFLINE_PARTITION)
    assert ctx.stats.offline_partition_count == 2
    ctx.put_partition_state(T0, PartitionState.ONLINE_PARTITION)
    assert ctx.stats.offline_partition_count == 1
    ctx.begin_topic_deletion({"u"})
    ctx.put_partition_state(TopicPartition("u", 0), PartitionState.NON_EXISTENT_PARTITION)
    assert ctx.stats.offline_partition_count == 1


def test_remove_topic_forgets_everything() -> None:
    ctx = context_with([1], {"t": {0: [1]}})
    lead(ctx, T0, 1, [1])
    topic_id = ctx.topic_ids["t"]
    ctx.remove_topic("t")
    assert ctx.all_topics == set()
    assert ctx.topic_name(topic_id) is None
    assert ctx.partition_leadership_info(T0) is None
    assert ctx.partition_replica_assignment(T0) == ()
