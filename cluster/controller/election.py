"""Leader election: Kafka's ``PartitionLeaderElectionAlgorithms`` and ``Election``.

The algorithms pick a leader from a partition's replicas (in assignment order); the
``leader_for_*`` functions turn the pick into the next :class:`LeaderAndIsr` (leader epoch + 1)
and name the replicas that must hear about it. Pure functions over the controller context.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from cluster.controller.context import ControllerContext
from cluster.controller.model import LeaderAndIsr, TopicPartition


class ElectionStrategy(enum.Enum):
    """Kafka's ``PartitionLeaderElectionStrategy`` (the unclean flag of the offline strategy
    is carried separately as ``allow_unclean``)."""

    OFFLINE = "OfflinePartitionLeaderElectionStrategy"
    REASSIGN = "ReassignPartitionLeaderElectionStrategy"
    PREFERRED = "PreferredReplicaPartitionLeaderElectionStrategy"
    CONTROLLED_SHUTDOWN = "ControlledShutdownPartitionLeaderElectionStrategy"


@dataclass(frozen=True, slots=True)
class ElectionResult:
    """The new leadership (None: no eligible leader) and the replicas to send it to."""

    topic_partition: TopicPartition
    leader_and_isr: LeaderAndIsr | None
    live_replicas: tuple[int, ...]


# -- the algorithms -----------------------------------------------------------------------------
def offline_partition_leader_election(
    assignment: Sequence[int],
    isr: Collection[int],
    live_replicas: Collection[int],
    unclean_leader_election_enabled: bool,
) -> tuple[int | None, bool]:
    """The first live replica in the ISR; else, if unclean election is enabled, the first
    live replica. Returns the leader and whether the election was unclean."""
    for replica in assignment:
        if replica in live_replicas and replica in isr:
            return replica, False
    if unclean_leader_election_enabled:
        for replica in assignment:
            if replica in live_replicas:
                return replica, True
    return None, False


def reassign_partition_leader_election(
    reassignment: Sequence[int], isr: Collection[int], live_replicas: Collection[int]
) -> int | None:
    """The first target replica that is live and in the ISR."""
    return next((r for r in reassignment if r in live_replicas and r in isr), None)


def preferred_replica_partition_leader_election(
    assignment: Sequence[int], isr: Collection[int], live_replicas: Collection[int]
) -> int | None:
    """The preferred (first assigned) replica, if it is live and in the ISR."""
    if assignment and assignment[0] in live_replicas and assignment[0] in isr:
        return assignment[0]
    return None


def controlled_shutdown_partition_leader_election(
    assignment: Sequence[int],
    isr: Collection[int],
    live_replicas: Collection[int],
    shutting_down_brokers: Collection[int],
) -> int | None:
    """The first replica that is live, in the ISR and not shutting down."""
    return next(
        (
            r
            for r in assignment
            if r in live_replicas and r in isr and r not in shutting_down_brokers
        ),
        None,
    )


# -- elections over the context -----------------------------------------------------------------
def leader_for_offline(
    context: ControllerContext,
    is_leader_recovery_supported: bool,
    partitions: Iterable[tuple[TopicPartition, LeaderAndIsr | None, bool]],
) -> list[ElectionResult]:
    """Elect leaders for new or offline partitions. Each entry is (partition, current
    leadership or None to skip, whether unclean election is allowed for it)."""
    results = []
    for tp, current, unclean_allowed in partitions:
        assignment = context.partition_replica_assignment(tp)
        live = tuple(r for r in assignment if context.is_replica_online(r, tp))
        if current is None:
            results.append(ElectionResult(tp, None, live))
            continue
        leader, unclean = offline_partition_leader_election(
            assignment, current.isr, set(live), unclean_allowed
        )
        new: LeaderAndIsr | None = None
        if leader is not None:
            if unclean:
                context.stats.unclean_leader_elections += 1
            if leader in current.isr:
                new_isr: tuple[int, ...] = tuple(
                    r for r in current.isr if context.is_replica_online(r, tp)
                )
                new = current.new_leader_and_isr(leader, new_isr)
            elif is_leader_recovery_supported:
                # Not in the old ISR: the partition recovers before others join (KIP-704).
                new = current.new_recovering_leader_and_isr(leader, (leader,))
            else:
                new = current.new_leader_and_isr(leader, (leader,))
        results.append(ElectionResult(tp, new, live))
    return results


def leader_for_reassign(
    context: ControllerContext, partitions: Iterable[tuple[TopicPartition, LeaderAndIsr]]
) -> list[ElectionResult]:
    """Elect a leader among the target replicas of a reassignment."""
    results = []
    for tp, current in partitions:
        target = context.partition_full_replica_assignment(tp).target_replicas
        live = {r for r in target if context.is_replica_online(r, tp)}
        leader = reassign_partition_leader_election(target, current.isr, live)
        new = current.new_leader(leader) if leader is not None else None
        results.append(ElectionResult(tp, new, target))
    return results


def leader_for_preferred_replica(
    context: ControllerContext, partitions: Iterable[tuple[TopicPartition, LeaderAndIsr]]
) -> list[ElectionResult]:
    """Move leadership to the preferred replica where it is live and in the ISR."""
    results = []
    for tp, current in partitions:
        assignment = context.partition_replica_assignment(tp)
        live = {r for r in assignment if context.is_replica_online(r, tp)}
        leader = preferred_replica_partition_leader_election(assignment, current.isr, live)
        new = current.new_leader(leader) if leader is not None else None
        results.append(ElectionResult(tp, new, assignment))
    return results


def leader_for_controlled_shutdown(
    context: ControllerContext, partitions: Iterable[tuple[TopicPartition, LeaderAndIsr]]
) -> list[ElectionResult]:
    """Move leadership off shutting-down brokers and drop them from the ISR."""
    shutting_down = set(context.shutting_down_broker_ids)
    results = []
    for tp, current in partitions:
        assignment = context.partition_replica_assignment(tp)
        live = tuple(
            r
            for r in assignment
            if context.is_replica_online(r, tp, include_shutting_down_brokers=True)
        )
        leader = controlled_shutdown_partition_leader_election(
            assignment, current.isr, set(live), shutting_down
        )
        new_isr = tuple(r for r in current.isr if r not in shutting_down)
        new = current.new_leader_and_isr(leader, new_isr) if leader is not None else None
        results.append(ElectionResult(tp, new, live))
    return results
