"""The replica state machine (Kafka's ``ZkReplicaStateMachine``).

Transitions and what they do:

* NonExistent -> New: LeaderAndIsr (is_new) with the current leadership to the new replica.
* New -> Online: the replica joins the assignment if it was missing.
* Online/Offline/Ineligible -> Online: LeaderAndIsr with the current leadership to the replica.
* New/Online/Offline/Ineligible -> Offline: StopReplica (delete=false) to the replica; it is
  removed from the ISR (leader -1 if it led) with a compare-and-set write, and the other
  replicas get LeaderAndIsr with the shrunk ISR.
* Offline -> DeletionStarted: StopReplica (delete=true).
* DeletionStarted -> DeletionSuccessful / Ineligible: only the cached state moves.
* DeletionSuccessful -> NonExistent: the replica leaves the cached assignment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import groupby

from cluster.controller.batch import ControllerBrokerRequestBatch
from cluster.controller.context import ControllerContext
from cluster.controller.model import (
    NO_LEADER,
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    PartitionAndReplica,
    TopicPartition,
)
from cluster.controller.partition_state_machine import (
    StateChangeFailedError,
    current_partition_states,
)
from cluster.controller.states import ReplicaState
from cluster.controller.zk_client import ControllerMovedError, ControllerZkClient

log = logging.getLogger(__name__)
state_change_log = logging.getLogger("josef.state.change.logger")


class ReplicaStateMachine:
    """Moves replicas between :class:`ReplicaState` s (see the module docstring)."""

    def __init__(
        self,
        controller_id: int,
        context: ControllerContext,
        zk: ControllerZkClient,
        batch: ControllerBrokerRequestBatch,
    ) -> None:
        self.controller_id = controller_id
        self.context = context
        self.zk = zk
        self.batch = batch

    async def startup(self) -> None:
        """On becoming controller: classify every replica, then tell the live ones their
        state and stop the dead ones."""
        context = self.context
        for tp in context.all_partitions:
            for replica in context.partition_replica_assignment(tp):
                state = (
                    ReplicaState.ONLINE_REPLICA
                    if context.is_replica_online(replica, tp)
                    # A dead replica of a topic being deleted cannot be deleted yet.
                    else ReplicaState.REPLICA_DELETION_INELIGIBLE
                )
                context.put_replica_state(PartitionAndReplica(tp, replica), state)
        online, offline = context.online_and_offline_replicas()
        await self.handle_state_changes(online, ReplicaState.ONLINE_REPLICA)
        await self.handle_state_changes(offline, ReplicaState.OFFLINE_REPLICA)

    async def handle_state_changes(
        self, replicas: Iterable[PartitionAndReplica], target: ReplicaState
    ) -> None:
        ordered = sorted(replicas, key=lambda r: (r.replica, r.topic_partition))
        if not ordered:
            return
        try:
            self.batch.new_batch()
            for replica_id, group in groupby(ordered, key=lambda r: r.replica):
                await self._do_handle_state_changes(replica_id, list(group), target)
            self.batch.send_requests_to_brokers(self.context.epoch)
        except ControllerMovedError:
            log.error(
                "Controller moved to another broker when moving some replicas to %s", target.name
            )
            raise
        except Exception:
            log.exception("Error while moving some replicas to %s state", target.name)
            self.batch.clear()

    async def _do_handle_state_changes(
        self, replica_id: int, replicas: list[PartitionAndReplica], target: ReplicaState
    ) -> None:
        context = self.context
        batch = self.batch
        valid = []
        for replica in replicas:
            context.put_replica_state_if_not_exists(replica, ReplicaState.NON_EXISTENT_REPLICA)
            current = context.replica_state(replica)
            if target.can_follow(current):
                valid.append(replica)
            else:
                self._log_invalid_transition(replica, current, target)

        if target is ReplicaState.NEW_REPLICA:
            for replica in valid:
                tp = replica.topic_partition
                info = context.partition_leadership_info(tp)
                if info is not None and info.leader_and_isr.leader == replica_id:
                    self._log_failed(
                        replica,
                        context.replica_state(replica),
                        ReplicaState.OFFLINE_REPLICA,
                        StateChangeFailedError(
                            f"Replica {replica_id} for partition {tp} cannot be moved to "
                            "NewReplica state as it is being requested to become leader"
                        ),
                    )
                    continue
                if info is not None:
                    batch.add_leader_and_isr_request_for_brokers(
                        (replica_id,),
                        tp,
                        info,
                        context.partition_full_replica_assignment(tp),
                        is_new=True,
                    )
                context.put_replica_state(replica, ReplicaState.NEW_REPLICA)

        elif target is ReplicaState.ONLINE_REPLICA:
            for replica in valid:
                tp = replica.topic_partition
                if context.replica_state(replica) is ReplicaState.NEW_REPLICA:
                    assignment = context.partition_full_replica_assignment(tp)
                    if replica_id not in assignment.replicas:
                        log.error(
                            "Adding replica (%d) that is not part of the assignment %s",
                            replica_id,
                            assignment,
                        )
                        context.update_partition_full_replica_assignment(
                            tp, assignment.with_replica(replica_id)
                        )
                else:
                    info = context.partition_leadership_info(tp)
                    if info is not None:
                        batch.add_leader_and_isr_request_for_brokers(
                            (replica_id,),
                            tp,
                            info,
                            context.partition_full_replica_assignment(tp),
                            is_new=False,
                        )
                context.put_replica_state(replica, ReplicaState.ONLINE_REPLICA)

        elif target is ReplicaState.OFFLINE_REPLICA:
            await self._go_offline(replica_id, valid)

        elif target is ReplicaState.REPLICA_DELETION_STARTED:
            for replica in valid:
                context.put_replica_state(replica, ReplicaState.REPLICA_DELETION_STARTED)
                batch.add_stop_replica_request_for_brokers(
                    (replica_id,), replica.topic_partition, delete_partition=True
                )

        elif target in (
            ReplicaState.REPLICA_DELETION_INELIGIBLE,
            ReplicaState.REPLICA_DELETION_SUCCESSFUL,
        ):
            for replica in valid:
                context.put_replica_state(replica, target)

        else:  # NON_EXISTENT_REPLICA
            for replica in valid:
                tp = replica.topic_partition
                context.update_partition_full_replica_assignment(
                    tp, context.partition_full_replica_assignment(tp).remove_replica(replica_id)
                )
                context.remove_replica_state(replica)

    async def _go_offline(self, replica_id: int, valid: list[PartitionAndReplica]) -> None:
        context = self.context
        batch = self.batch
        for replica in valid:
            batch.add_stop_replica_request_for_brokers(
                (replica_id,), replica.topic_partition, delete_partition=False
            )
        with_leadership = [
            r for r in valid if context.partition_leadership_info(r.topic_partition) is not None
        ]
        without_leadership = [
            r for r in valid if context.partition_leadership_info(r.topic_partition) is None
        ]
        updated = await self._remove_replicas_from_isr(
            replica_id, [r.topic_partition for r in with_leadership]
        )
        for tp, info in updated.items():
            state_change_log.info(
                "Partition %s state changed to %s after removing replica %d from the ISR as "
                "part of transition to OfflineReplica",
                tp,
                info,
                replica_id,
            )
            if not context.is_topic_queued_up_for_deletion(tp.topic):
                recipients = [
                    r for r in context.partition_replica_assignment(tp) if r != replica_id
                ]
                batch.add_leader_and_isr_request_for_brokers(
                    recipients, tp, info, context.partition_full_replica_assignment(tp), False
                )
            context.put_replica_state(
                PartitionAndReplica(tp, replica_id), ReplicaState.OFFLINE_REPLICA
            )
        for replica in without_leadership:
            batch.add_update_metadata_request_for_brokers(
                context.live_or_shutting_down_broker_ids, (replica.topic_partition,)
            )
            context.put_replica_state(replica, ReplicaState.OFFLINE_REPLICA)

    async def _remove_replicas_from_isr(
        self, replica_id: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, LeaderIsrAndControllerEpoch]:
        results: dict[TopicPartition, LeaderIsrAndControllerEpoch] = {}
        remaining = partitions
        from_cache = True
        while remaining:
            finished, remaining = await self._do_remove_replicas_from_isr(
                replica_id, remaining, from_cache
            )
            from_cache = False
            for tp, outcome in finished.items():
                if isinstance(outcome, Exception):
                    replica = PartitionAndReplica(tp, replica_id)
                    self._log_failed(
                        replica,
                        self.context.replica_states.get(replica, ReplicaState.NON_EXISTENT_REPLICA),
                        ReplicaState.OFFLINE_REPLICA,
                        outcome,
                    )
                else:
                    results[tp] = outcome
        return results

    async def _do_remove_replicas_from_isr(
        self, replica_id: int, partitions: list[TopicPartition], from_cache: bool = False
    ) -> tuple[dict[TopicPartition, LeaderIsrAndControllerEpoch | Exception], list[TopicPartition]]:
        context = self.context
        try:
            states = await current_partition_states(self.zk, context, partitions, from_cache)
        except ControllerMovedError:
            raise
        except Exception as exc:
            return dict.fromkeys(partitions, exc), []
        finished: dict[TopicPartition, LeaderIsrAndControllerEpoch | Exception] = {}
        unchanged: dict[TopicPartition, LeaderAndIsr] = {}
        recheck: list[TopicPartition] = []
        adjusted: dict[TopicPartition, LeaderAndIsr] = {}
        for tp in partitions:
            info = states.get(tp)
            if info is None:
                # No state znode yet (creation did not finish).
                if not context.is_topic_queued_up_for_deletion(tp.topic):
                    finished[tp] = StateChangeFailedError(
                        f"Failed to change state of replica {replica_id} for partition {tp} "
                        "since the leader and isr path in zookeeper is empty"
                    )
                continue
            if info.controller_epoch > context.epoch:
                finished[tp] = StateChangeFailedError(
                    "Leader and isr path written by another controller. This probably means the "
                    f"current controller with epoch {context.epoch} went through a soft failure "
                    f"and another controller was elected with epoch {info.controller_epoch}. "
                    "Aborting state change by this controller"
                )
                continue
            lai = info.leader_and_isr
            if replica_id not in lai.isr:
                if from_cache:
                    recheck.append(tp)  # confirm from ZooKeeper, as Kafka reads it
                else:
                    unchanged[tp] = lai
                continue
            new_leader = NO_LEADER if lai.leader == replica_id else lai.leader
            # The last ISR member stays: the ISR is never emptied by a broker going down.
            new_isr = lai.isr if len(lai.isr) == 1 else tuple(r for r in lai.isr if r != replica_id)
            adjusted[tp] = lai.new_leader_and_isr(new_leader, new_isr)
        update = await self.zk.update_leader_and_isr(
            adjusted, context.epoch, context.epoch_zk_version
        )
        for tp, outcome in (*unchanged.items(), *update.finished.items()):
            if isinstance(outcome, LeaderAndIsr):
                info = LeaderIsrAndControllerEpoch(outcome, context.epoch)
                context.put_partition_leadership_info(tp, info)
                finished[tp] = info
            else:
                finished[tp] = outcome
        return finished, [*update.updates_to_retry, *recheck]

    # -- logging ---------------------------------------------------------------------------------
    def _log_invalid_transition(
        self, replica: PartitionAndReplica, current: ReplicaState, target: ReplicaState
    ) -> None:
        valid = ",".join(sorted(s.name for s in target.valid_previous_states))
        self._log_failed(
            replica,
            current,
            target,
            StateChangeFailedError(
                f"Replica {replica} should be in the {valid} states before moving to "
                f"{target.name} state. Instead it is in {current.name} state"
            ),
        )

    def _log_failed(
        self,
        replica: PartitionAndReplica,
        current: ReplicaState,
        target: ReplicaState,
        error: BaseException,
    ) -> None:
        state_change_log.error(
            "Controller %d epoch %d initiated state change of replica %d for partition %s "
            "from %s to %s failed: %s",
            self.controller_id,
            self.context.epoch,
            replica.replica,
            replica.topic_partition,
            current.name,
            target.name,
            error,
        )
