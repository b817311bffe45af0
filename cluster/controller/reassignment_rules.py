"""KIP-455 partition reassignment rules, without ZooKeeper or brokers.

RS = the full replica set, ORS = the original replicas, TRS = the target replicas,
AR = TRS - ORS (being added), RR = ORS - TRS (being removed). A reassignment is written as
RS = TRS + ORS with AR and RR; it completes once every target replica is in the ISR, and
then RS becomes TRS. See :mod:`cluster.controller.reassignment` for the phases.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from cluster.controller.model import ReplicaAssignment
from protocol.errors import ErrorCode


def validate_replicas(
    current: ReplicaAssignment, replicas: Sequence[int], live_broker_ids: Collection[int]
) -> tuple[ErrorCode, str] | None:
    """Why a requested target replica list is refused (Kafka's ``validateReplicas``), or None."""
    if not replicas:
        return (
            ErrorCode.invalid_replica_assignment,
            "Empty replica list specified in partition reassignment.",
        )
    if len(set(replicas)) != len(replicas):
        return (
            ErrorCode.invalid_replica_assignment,
            f"Duplicate replica ids in partition reassignment replica list: {list(replicas)}",
        )
    if any(r < 0 for r in replicas):
        return (
            ErrorCode.invalid_replica_assignment,
            f"Invalid broker id in replica list: {list(replicas)}",
        )
    adding = current.reassign_to(replicas).adding_replicas
    if not set(adding) <= set(live_broker_ids):
        return (
            ErrorCode.invalid_replica_assignment,
            "Replica assignment has brokers that are not alive. Replica list: "
            f"{list(adding)}, live broker list: {sorted(live_broker_ids)}",
        )
    return None


def build_reassignment(
    current: ReplicaAssignment, target: Sequence[int] | None
) -> ReplicaAssignment | None:
    """The assignment to move to (Kafka's ``maybeBuildReassignment``). ``target`` None
    cancels: back to the original replicas if a reassignment is in flight, else None
    (NO_REASSIGNMENT_IN_PROGRESS)."""
    if current.is_being_reassigned:
        return current.reassign_to(target if target is not None else current.origin_replicas)
    if target is None:
        return None
    return current.reassign_to(target)


def is_reassignment_complete(assignment: ReplicaAssignment, isr: Collection[int] | None) -> bool:
    """Complete when nothing is being reassigned or every target replica is in the ISR
    (``isr`` None: the partition has no state yet, so not complete)."""
    if not assignment.is_being_reassigned:
        return True
    if isr is None:
        return False
    return set(assignment.target_replicas) <= set(isr)
