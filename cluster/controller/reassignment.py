"""Partition reassignment (KIP-455), as Kafka's controller runs it.

RS = current replicas, ORS = original, TRS = target, AR = TRS - ORS, RR = ORS - TRS.

* Phase U (always first): write RS = TRS + ORS, AR, RR to ``/brokers/topics/<t>`` and then to
  memory; replicas added by an earlier reassignment that the new one drops are stopped.
* Phase A (TRS not all in the ISR): bump the leader epoch and send LeaderAndIsr (new RS, AR,
  RR) to ORS (is_new false) and AR (is_new true); start AR as NewReplica.
* Phase B (TRS all in the ISR): AR online; RS = TRS in memory; elect a leader in TRS if the
  current one is not in TRS or is dead, else bump the leader epoch; RR offline (out of the
  ISR, StopReplica) and deleted (StopReplica delete=true); RS = TRS in ZooKeeper; the
  partition leaves ``/admin/reassign_partitions``; UpdateMetadata to every broker.

A reassignment is checked for completion after each successful AlterPartition of the
partition and whenever a target replica's broker starts. Requests come from the
AlterPartitionReassignments API or the legacy ``/admin/reassign_partitions`` znode; the latest
one for a partition wins. Throttled catch-up (``leader/follower.replication.throttled.*``) is
not applied by the controller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from cluster.controller.batch import IllegalBatchState
from cluster.controller.election import ElectionStrategy
from cluster.controller.events import (
    ApiPartitionReassignment,
    ListPartitionReassignments,
    ZkPartitionReassignment,
)
from cluster.controller.model import (
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    PartitionAndReplica,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.partition_state_machine import StateChangeFailedError
from cluster.controller.reassignment_rules import (
    build_reassignment,
    is_reassignment_complete,
    validate_replicas,
)
from cluster.controller.states import PartitionState, ReplicaState
from cluster.controller.zk_client import ControllerMovedError
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from cluster.controller.core import ControllerCore

log = logging.getLogger(__name__)
state_change_log = logging.getLogger("josef.state.change.logger")

ApiResult = tuple[ErrorCode, str | None]
NO_ERROR: ApiResult = (ErrorCode.none, None)
PARTITION_DOES_NOT_EXIST: ApiResult = (
    ErrorCode.unknown_topic_or_partition,
    "The partition does not exist.",
)
NO_REASSIGNMENT: ApiResult = (
    ErrorCode.no_reassignment_in_progress,
    "No partition reassignment is in progress.",
)
UNKNOWN_SERVER_ERROR: ApiResult = (
    ErrorCode.unknown_server_error,
    "The server experienced an unexpected error when processing the request.",
)


class PartitionReassignments:
    """The reassignment part of the controller (see the module docstring)."""

    def __init__(self, core: ControllerCore) -> None:
        self.core = core

    # -- entry points ----------------------------------------------------------------------------
    async def initialize_partition_reassignments(self) -> None:
        """On failover: reassignments written to ZooKeeper meanwhile supplant API ones."""
        resumed = await self.process_zk_partition_reassignment()
        await self.maybe_resume_reassignments(lambda tp, _a: tp not in resumed)

    async def maybe_resume_reassignments(
        self, should_resume: Callable[[TopicPartition, ReplicaAssignment], bool]
    ) -> None:
        context = self.core.context
        for tp in sorted(context.partitions_being_reassigned):
            current = context.partition_full_replica_assignment(tp)
            if should_resume(tp, current):
                await self.on_partition_reassignment(tp, current)

    async def process_zk_partition_reassignment(self) -> set[TopicPartition]:
        """Start the reassignments in ``/admin/reassign_partitions``; the ones that started."""
        core = self.core
        if not core.is_active or not await core.zk.reassign_partitions_in_progress():
            return set()
        context = core.context
        results: dict[TopicPartition, ApiResult] = {}
        to_reassign: dict[TopicPartition, ReplicaAssignment] = {}
        for tp, target in (await core.zk.get_partition_reassignment()).items():
            tp = TopicPartition(*tp)
            current = context.partition_full_replica_assignment(tp)
            built = build_reassignment(current, target)
            if built == current and tp in context.partitions_being_reassigned:
                # Already in flight with this target (the znode was seen before): running it
                # again would only bump the leader epoch. Failover resumes it separately.
                continue
            if built is None:
                results[tp] = NO_REASSIGNMENT
            else:
                to_reassign[tp] = built
        results.update(await self.maybe_trigger_partition_reassignment(to_reassign))
        failed = {tp for tp, (error, _) in results.items() if error != ErrorCode.none}
        if failed:
            log.warning("Failed reassignment through zk with the following errors: %s", results)
            await self._maybe_remove_from_zk_reassignment(lambda tp, _r: tp in failed)
        return {tp for tp, (error, _) in results.items() if error == ErrorCode.none}

    async def process_api_partition_reassignment(self, event: ApiPartitionReassignment) -> None:
        core = self.core
        if not core.is_active:
            event.complete(ErrorCode.not_controller)
            return
        context = core.context
        results: dict[TopicPartition, ApiResult] = {}
        to_reassign: dict[TopicPartition, ReplicaAssignment] = {}
        for tp, target in event.reassignments.items():
            tp = TopicPartition(*tp)
            current = context.partition_full_replica_assignment(tp)
            if target is not None:
                error = validate_replicas(current, target, context.live_broker_ids)
                if error is not None:
                    results[tp] = error
                    continue
            built = build_reassignment(current, target)
            if built is None:
                results[tp] = NO_REASSIGNMENT
            else:
                to_reassign[tp] = built
        # The latest request wins: drop these partitions from a ZooKeeper-made reassignment.
        await self._maybe_remove_from_zk_reassignment(lambda tp, _r: tp in to_reassign)
        results.update(await self.maybe_trigger_partition_reassignment(to_reassign))
        event.complete(results)

    def process_list_partition_reassignments(self, event: ListPartitionReassignments) -> None:
        core = self.core
        if not core.is_active:
            event.complete(ErrorCode.not_controller)
            return
        context = core.context
        wanted = (
            context.partitions_being_reassigned if event.partitions is None else event.partitions
        )
        results: dict[TopicPartition, ReplicaAssignment] = {}
        for tp in wanted:
            assignment = context.partition_full_replica_assignment(TopicPartition(*tp))
            if assignment.is_being_reassigned:
                results[TopicPartition(*tp)] = assignment
        event.complete(results)

    async def maybe_trigger_partition_reassignment(
        self, reassignments: Mapping[TopicPartition, ReplicaAssignment]
    ) -> dict[TopicPartition, ApiResult]:
        core = self.core
        results: dict[TopicPartition, ApiResult] = {}
        for tp, reassignment in reassignments.items():
            if core.topic_deletion_manager.is_topic_queued_up_for_deletion(tp.topic):
                log.info("Skipping reassignment of %s since the topic is being deleted", tp)
                results[tp] = PARTITION_DOES_NOT_EXIST
            elif not core.context.partition_replica_assignment(tp):
                results[tp] = PARTITION_DOES_NOT_EXIST
            else:
                try:
                    await self.on_partition_reassignment(tp, reassignment)
                    results[tp] = NO_ERROR
                except ControllerMovedError:
                    log.info("Failed completing reassignment of %s: controller moved", tp)
                    raise
                except Exception:
                    log.exception("Error completing reassignment of partition %s", tp)
                    results[tp] = UNKNOWN_SERVER_ERROR
        return results

    async def maybe_complete_reassignment(self, tp: TopicPartition) -> None:
        reassignment = self.core.context.partition_full_replica_assignment(tp)
        if await self._is_reassignment_complete(tp, reassignment):
            log.info(
                "Target replicas %s have all caught up with the leader for reassigning "
                "partition %s",
                list(reassignment.target_replicas),
                tp,
            )
            await self.on_partition_reassignment(tp, reassignment)

    # -- the phases ------------------------------------------------------------------------------
    async def on_partition_reassignment(
        self, tp: TopicPartition, reassignment: ReplicaAssignment
    ) -> None:
        core = self.core
        context = core.context
        rsm = core.replica_state_machine
        deletion = core.topic_deletion_manager
        # No deletion while a reassignment is in progress.
        deletion.mark_topic_ineligible_for_deletion({tp.topic}, "topic reassignment in progress")
        await self._update_current_reassignment(tp, reassignment)
        adding = reassignment.adding_replicas
        removing = reassignment.removing_replicas
        if not await self._is_reassignment_complete(tp, reassignment):
            # A1, A2
            await self._update_leader_epoch_and_send_request(tp, reassignment)
            for replica in adding:
                await rsm.handle_state_changes(
                    [PartitionAndReplica(tp, replica)], ReplicaState.NEW_REPLICA
                )
            return
        # B1 .. B8
        await rsm.handle_state_changes(
            [PartitionAndReplica(tp, r) for r in adding], ReplicaState.ONLINE_REPLICA
        )
        completed = ReplicaAssignment(reassignment.target_replicas)
        context.update_partition_full_replica_assignment(tp, completed)
        await self._move_reassigned_partition_leader_if_required(tp, completed)
        await self._stop_removed_replicas(tp, removing)
        await self._update_replica_assignment_for_partition(tp, completed)
        await self._remove_partition_from_reassigning_partitions(tp, completed)
        await core.send_update_metadata_request(context.live_or_shutting_down_broker_ids, [tp])
        await deletion.resume_deletion_for_topics({tp.topic})

    async def _update_current_reassignment(
        self, tp: TopicPartition, reassignment: ReplicaAssignment
    ) -> None:
        context = self.core.context
        current = context.partition_full_replica_assignment(tp)
        if current != reassignment:
            log.debug(
                "Updating assignment of partition %s from %s to %s", tp, current, reassignment
            )
            await self._update_replica_assignment_for_partition(tp, reassignment)
            context.update_partition_full_replica_assignment(tp, reassignment)
            # Replicas an earlier reassignment was adding that this one does not want.
            unneeded = [r for r in current.replicas if r not in reassignment.replicas]
            if unneeded:
                await self._stop_removed_replicas(tp, unneeded)
        context.partitions_being_reassigned.add(tp)

    async def _is_reassignment_complete(
        self, tp: TopicPartition, assignment: ReplicaAssignment
    ) -> bool:
        if not assignment.is_being_reassigned:
            return True
        states = await self.core.zk.get_topic_partition_states([tp])
        info = states.get(tp)
        return is_reassignment_complete(
            assignment, info.leader_and_isr.isr if info is not None else None
        )

    async def _move_reassigned_partition_leader_if_required(
        self, tp: TopicPartition, new_assignment: ReplicaAssignment
    ) -> None:
        core = self.core
        info = core.context.partition_leadership_info(tp)
        if info is None:
            raise StateChangeFailedError(f"No leadership known for reassigned partition {tp}")
        leader = info.leader_and_isr.leader
        psm = core.partition_state_machine
        if leader not in new_assignment.replicas:
            log.info(
                "Leader %d for partition %s being reassigned is not in %s. Re-electing",
                leader,
                tp,
                list(new_assignment.replicas),
            )
            await psm.handle_state_changes(
                [tp], PartitionState.ONLINE_PARTITION, ElectionStrategy.REASSIGN
            )
        elif core.context.is_replica_online(leader, tp):
            # Same leader; a new epoch makes it cache the shrunk replica set.
            await self._update_leader_epoch_and_send_request(tp, new_assignment)
        else:
            await psm.handle_state_changes(
                [tp], PartitionState.ONLINE_PARTITION, ElectionStrategy.REASSIGN
            )

    async def _stop_removed_replicas(self, tp: TopicPartition, removed: Collection[int]) -> None:
        rsm = self.core.replica_state_machine
        replicas = [PartitionAndReplica(tp, r) for r in removed]
        await rsm.handle_state_changes(replicas, ReplicaState.OFFLINE_REPLICA)
        await rsm.handle_state_changes(replicas, ReplicaState.REPLICA_DELETION_STARTED)
        await rsm.handle_state_changes(replicas, ReplicaState.REPLICA_DELETION_SUCCESSFUL)
        await rsm.handle_state_changes(replicas, ReplicaState.NON_EXISTENT_REPLICA)

    async def _update_replica_assignment_for_partition(
        self, tp: TopicPartition, assignment: ReplicaAssignment
    ) -> None:
        context = self.core.context
        topic_assignment = {
            p.partition: a
            for p, a in context.partition_full_replica_assignment_for_topic(tp.topic).items()
        }
        topic_assignment[tp.partition] = assignment
        try:
            await self.core.zk.set_topic_assignment(
                tp.topic,
                context.topic_ids.get(tp.topic),
                topic_assignment,
                context.epoch_zk_version,
            )
        except LookupError:
            raise StateChangeFailedError(
                f"Failed to update assignment for {tp} since the topic has no current assignment"
            ) from None
        log.info("Successfully updated assignment of partition %s to %s", tp, assignment)

    async def _update_leader_epoch_and_send_request(
        self, tp: TopicPartition, assignment: ReplicaAssignment
    ) -> None:
        core = self.core
        updated = await self._update_leader_epoch(tp)
        if updated is None:
            state_change_log.error(
                "Failed to send LeaderAndIsr request with new replica assignment %s to leader "
                "for partition being reassigned %s",
                assignment,
                tp,
            )
            return
        batch = core.batch
        try:
            batch.new_batch()
            # is_new stops an original replica on a failed log dir from being re-created
            # elsewhere; added replicas may be created in any good log dir.
            batch.add_leader_and_isr_request_for_brokers(
                assignment.origin_replicas, tp, updated, assignment, is_new=False
            )
            batch.add_leader_and_isr_request_for_brokers(
                assignment.adding_replicas, tp, updated, assignment, is_new=True
            )
            batch.send_requests_to_brokers(core.context.epoch)
        except IllegalBatchState as exc:
            await core.handle_illegal_state(exc)
        state_change_log.info(
            "Sent LeaderAndIsr request %s with new replica assignment %s to leader %d for "
            "partition being reassigned %s",
            updated,
            assignment,
            updated.leader_and_isr.leader,
            tp,
        )

    async def _update_leader_epoch(self, tp: TopicPartition) -> LeaderIsrAndControllerEpoch | None:
        """Bump the leader epoch without changing leader or ISR (compare-and-set, retried)."""
        core = self.core
        context = core.context
        while True:
            states = await core.zk.get_topic_partition_states([tp])
            info = states.get(tp)
            if info is None:
                raise StateChangeFailedError(
                    f"Cannot update leader epoch for partition {tp} as leaderAndIsr path is "
                    "empty. This could mean we somehow tried to reassign a partition that "
                    "doesn't exist"
                )
            if info.controller_epoch > context.epoch:
                raise StateChangeFailedError(
                    "Leader and isr path written by another controller. This probably means "
                    f"the current controller with epoch {context.epoch} went through a soft "
                    f"failure and another controller was elected with epoch "
                    f"{info.controller_epoch}. Aborting state change by this controller"
                )
            result = await core.zk.update_leader_and_isr(
                {tp: info.leader_and_isr.new_epoch()}, context.epoch, context.epoch_zk_version
            )
            outcome = result.finished.get(tp)
            if isinstance(outcome, LeaderAndIsr):
                updated = LeaderIsrAndControllerEpoch(outcome, context.epoch)
                context.put_partition_leadership_info(tp, updated)
                log.info(
                    "Updated leader epoch for partition %s to %d, zkVersion=%d",
                    tp,
                    outcome.leader_epoch,
                    outcome.partition_epoch,
                )
                return updated
            if isinstance(outcome, Exception):
                raise outcome
            # BADVERSION: someone (the leader's AlterPartition) wrote first; read again.

    async def _remove_partition_from_reassigning_partitions(
        self, tp: TopicPartition, assignment: ReplicaAssignment
    ) -> None:
        context = self.core.context
        if tp not in context.partitions_being_reassigned:
            raise StateChangeFailedError(
                "Cannot remove a reassigning partition because it is not present in memory"
            )
        await self._maybe_remove_from_zk_reassignment(
            lambda p, replicas: p == tp and tuple(replicas) == assignment.replicas
        )
        context.partitions_being_reassigned.discard(tp)

    async def _maybe_remove_from_zk_reassignment(
        self, should_remove: Callable[[TopicPartition, list[int]], bool]
    ) -> None:
        core = self.core
        zk = core.zk
        if not await zk.reassign_partitions_in_progress():
            return
        current = await zk.get_partition_reassignment()
        remaining = {
            TopicPartition(*tp): r
            for tp, r in current.items()
            if not should_remove(TopicPartition(*tp), r)
        }
        removed = sorted({TopicPartition(*tp) for tp in current} - set(remaining))
        log.info(
            "Removing partitions %s from the list of reassigned partitions in zookeeper",
            [str(tp) for tp in removed],
        )
        epoch_zk_version = core.context.epoch_zk_version
        if not remaining:
            log.info(
                "No more partitions need to be reassigned. Deleting /admin/reassign_partitions"
            )
            await zk.delete_partition_reassignment(epoch_zk_version)
            # Catch a new /admin/reassign_partitions created from now on.
            core.event_manager.put(ZkPartitionReassignment())
        elif removed:
            await zk.set_or_create_partition_reassignment(remaining, epoch_zk_version)
