"""What brokers and admin clients ask of the controller: controlled shutdown, AlterPartition,
leader elections (ElectLeaders, ``/admin/preferred_replica_election``) and the automatic
preferred-leader rebalance (``auto.leader.rebalance.enable``, ``leader.imbalance.*``).

Each runs inside one controller event, with Kafka's decisions and error codes.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cluster.controller.batch import IllegalBatchState
from cluster.controller.election import (
    ElectionStrategy,
    preferred_replica_partition_leader_election,
)
from cluster.controller.events import (
    AllocateProducerIds,
    AlterPartitionReceived,
    ControlledShutdown,
    ElectionTrigger,
    ElectionType,
    ReplicaLeaderElection,
)
from cluster.controller.model import (
    NO_LEADER,
    RECOVERED,
    RECOVERING,
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    PartitionAndReplica,
    TopicPartition,
)
from cluster.controller.partition_state_machine import ElectionOutcome, StateChangeFailedError
from cluster.controller.states import PartitionState, ReplicaState
from cluster.controller.zk_client import ControllerMovedError
from protocol.builders import NO_THROTTLE
from protocol.codec import response_schema
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from cluster.controller.core import ControllerCore

log = logging.getLogger(__name__)

ALTER_PARTITION_KEY = 56
_ZERO_UUID = uuid.UUID(int=0)
UNKNOWN_BROKER_EPOCH = -1  # Kafka's AbstractControlRequest.UNKNOWN_BROKER_EPOCH

ElectionAnswer = tuple[ErrorCode, str | None, int | None]  # error, message, new leader


class StaleBrokerEpochError(Exception):
    """The request comes from an older incarnation of the broker (STALE_BROKER_EPOCH)."""


class BrokerNotAvailableError(Exception):
    """The broker is not registered (BROKER_NOT_AVAILABLE)."""


class ControllerOperations:
    """Broker and admin requests handled by the controller (see the module docstring)."""

    def __init__(self, core: ControllerCore) -> None:
        self.core = core

    # -- controlled shutdown ---------------------------------------------------------------------
    async def process_controlled_shutdown(self, event: ControlledShutdown) -> None:
        try:
            remaining = await self._do_controlled_shutdown(event.broker_id, event.broker_epoch)
        except Exception as exc:
            event.fail(exc)
            if isinstance(exc, ControllerMovedError):
                raise
        else:
            event.complete(remaining)

    async def _do_controlled_shutdown(
        self, broker_id: int, broker_epoch: int
    ) -> set[TopicPartition]:
        core = self.core
        context = core.context
        if not core.is_active:
            raise ControllerMovedError(
                "Controller moved to another broker. Aborting controlled shutdown"
            )
        if broker_epoch != UNKNOWN_BROKER_EPOCH:
            cached = context.live_broker_id_and_epochs.get(broker_id)
            if cached is not None and broker_epoch < cached:
                message = (
                    "Received controlled shutdown request from an old broker epoch "
                    f"{broker_epoch} for broker {broker_id}. Current broker epoch is {cached}."
                )
                log.info(message)
                raise StaleBrokerEpochError(message)
        log.info("Shutting down broker %d", broker_id)
        if broker_id not in context.live_or_shutting_down_broker_ids:
            raise BrokerNotAvailableError(f"Broker id {broker_id} does not exist.")
        context.shutting_down_broker_ids.add(broker_id)
        to_act_on = [
            tp
            for tp in sorted(context.partitions_on_broker(broker_id))
            if len(context.partition_replica_assignment(tp)) > 1
            and context.partition_leadership_info(tp) is not None
            and not core.topic_deletion_manager.is_topic_queued_up_for_deletion(tp.topic)
        ]
        led = [tp for tp in to_act_on if _leader(core, tp) == broker_id]
        followed = [tp for tp in to_act_on if _leader(core, tp) != broker_id]
        await core.partition_state_machine.handle_state_changes(
            led, PartitionState.ONLINE_PARTITION, ElectionStrategy.CONTROLLED_SHUTDOWN
        )
        batch = core.batch
        try:
            batch.new_batch()
            for tp in followed:
                batch.add_stop_replica_request_for_brokers([broker_id], tp, delete_partition=False)
            batch.send_requests_to_brokers(context.epoch)
        except IllegalBatchState as exc:
            await core.handle_illegal_state(exc)
        # As a follower it leaves the ISRs; the leaders hear of the shrunk ISR.
        await core.replica_state_machine.handle_state_changes(
            [PartitionAndReplica(tp, broker_id) for tp in followed], ReplicaState.OFFLINE_REPLICA
        )
        return context.partition_leaders_on_broker(broker_id)

    # -- AllocateProducerIds (KIP-730) -----------------------------------------------------------
    async def process_allocate_producer_ids(self, event: AllocateProducerIds) -> None:
        core = self.core
        if not core.is_active:
            event.complete((ErrorCode.not_controller, -1, 0))
            return
        known_epoch = core.context.live_broker_id_and_epochs.get(event.broker_id)
        if known_epoch is None:
            log.warning("Ignoring AllocateProducerIds due to unknown broker %d", event.broker_id)
            event.complete((ErrorCode.broker_id_not_registered, -1, 0))
            return
        if known_epoch != event.broker_epoch:
            log.warning(
                "Ignoring AllocateProducerIds due to stale broker epoch %d for broker %d",
                event.broker_epoch,
                event.broker_id,
            )
            event.complete((ErrorCode.stale_broker_epoch, -1, 0))
            return
        try:
            first, length = await core.zk.allocate_producer_id_block(event.broker_id)
        except Exception as exc:
            log.error("Allocating producer ids for broker %d failed: %s", event.broker_id, exc)
            event.complete((ErrorCode.unknown_server_error, -1, 0))
            return
        event.complete((ErrorCode.none, first, length))

    # -- AlterPartition --------------------------------------------------------------------------
    async def process_alter_partition(self, event: AlterPartitionReceived) -> None:
        try:
            responses = await self._try_process_alter_partition(event)
        except ControllerMovedError:
            event.complete(alter_partition_error(event.version, ErrorCode.not_controller))
            raise
        except Exception:
            log.exception("Error when processing AlterPartition: %s", event.request)
            event.complete(alter_partition_error(event.version, ErrorCode.unknown_server_error))
            return
        # A successful ISR expansion may complete a reassignment.
        reassignments = self.core.reassignments
        for tp, outcome in responses.items():
            if tp in self.core.context.partitions_being_reassigned and isinstance(
                outcome, LeaderAndIsr
            ):
                await reassignments.maybe_complete_reassignment(tp)

    async def _try_process_alter_partition(
        self, event: AlterPartitionReceived
    ) -> dict[TopicPartition, ErrorCode | LeaderAndIsr]:
        core = self.core
        context = core.context
        request = event.request
        version = event.version
        use_topic_ids = version > 1
        if not core.is_active:
            event.complete(alter_partition_error(version, ErrorCode.not_controller))
            return {}
        broker_id = int(request.broker_id)
        known_epoch = context.live_broker_id_and_epochs.get(broker_id)
        if known_epoch is None or known_epoch != int(request.broker_epoch):
            log.info(
                "Ignoring AlterPartition due to %s broker %d (epoch %d, known %s)",
                "unknown" if known_epoch is None else "stale epoch of",
                broker_id,
                request.broker_epoch,
                known_epoch,
            )
            event.complete(alter_partition_error(version, ErrorCode.stale_broker_epoch))
            return {}

        proposed: dict[TopicPartition, LeaderAndIsr] = {}
        unknown_topic_ids: list[tuple[Any, tuple[int, ...]]] = []
        for topic in request.topics:
            name = context.topic_name(topic.topic_id) if use_topic_ids else topic.topic_name
            if name is None:
                unknown_topic_ids.append(
                    (topic.topic_id, tuple(int(p.partition_index) for p in topic.partitions))
                )
                continue
            for p in topic.partitions:
                if version >= 3:
                    isr = tuple(int(b.broker_id) for b in p.new_isr_with_epochs)
                else:
                    isr = tuple(int(b) for b in p.new_isr)
                recovery = int(getattr(p, "leader_recovery_state", RECOVERED))
                proposed[TopicPartition(name, int(p.partition_index))] = LeaderAndIsr(
                    broker_id, int(p.leader_epoch), isr, recovery, int(p.partition_epoch)
                )

        responses: dict[TopicPartition, ErrorCode | LeaderAndIsr] = {}
        accepted: dict[TopicPartition, LeaderAndIsr] = {}
        for tp, new in proposed.items():
            outcome = self._check_alter_partition(broker_id, tp, new, version)
            if outcome is None:
                accepted[tp] = new
            else:
                responses[tp] = outcome

        update = await core.zk.update_leader_and_isr(
            accepted, context.epoch, context.epoch_zk_version
        )
        successful: list[TopicPartition] = []
        for tp, result in update.finished.items():
            if isinstance(result, LeaderAndIsr):
                log.debug("ISR for partition %s updated to %s.", tp, result)
                responses[tp] = result
                successful.append(tp)
            else:
                log.error("Failed to update ISR for partition %s: %s", tp, result)
                responses[tp] = (
                    ErrorCode.not_controller
                    if isinstance(result, ControllerMovedError)
                    else ErrorCode.unknown_server_error
                )
        for tp in update.updates_to_retry:
            log.info(
                "Failed to update ISR to %s for partition %s, bad ZK version.", accepted[tp], tp
            )
            responses[tp] = ErrorCode.invalid_update_version

        # Kafka re-reads these from ZooKeeper; what it would read is what was just written.
        for tp in successful:
            written = responses[tp]
            assert isinstance(written, LeaderAndIsr)
            context.put_partition_leadership_info(
                tp, LeaderIsrAndControllerEpoch(written, context.epoch)
            )
        await core.send_update_metadata_request(context.live_or_shutting_down_broker_ids, proposed)
        event.complete(_alter_partition_response(core, version, responses, unknown_topic_ids))
        return responses

    def _check_alter_partition(
        self, broker_id: int, tp: TopicPartition, new: LeaderAndIsr, version: int
    ) -> ErrorCode | LeaderAndIsr | None:
        """Kafka's checks, in Kafka's order; None accepts the new state."""
        context = self.core.context
        info = context.partition_leadership_info(tp)
        if info is None:
            return ErrorCode.unknown_topic_or_partition
        current = info.leader_and_isr
        if new.partition_epoch > current.partition_epoch or new.leader_epoch > current.leader_epoch:
            # The leader knows a newer state than we do: we are probably not the controller.
            return ErrorCode.not_controller
        if new.leader_epoch < current.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        if new.equals_allow_stale_partition_epoch(current):
            return current  # already so (idempotent retry)
        if new.partition_epoch < current.partition_epoch:
            return ErrorCode.invalid_update_version
        if new.leader_recovery_state == RECOVERING and len(new.isr) > 1:
            log.info(
                "Rejecting AlterPartition from node %d for %s: leader is recovering and "
                "ISR is greater than 1: %s",
                broker_id,
                tp,
                new,
            )
            return ErrorCode.invalid_request
        if current.leader_recovery_state == RECOVERED and new.leader_recovery_state == RECOVERING:
            log.info(
                "Rejecting AlterPartition from node %d for %s: the leader recovery state "
                "cannot change from RECOVERED to RECOVERING: %s",
                broker_id,
                tp,
                new,
            )
            return ErrorCode.invalid_request
        ineligible = set(new.isr) - context.live_broker_ids
        if ineligible:
            log.info(
                "Rejecting AlterPartition request from node %d for %s because it specified "
                "ineligible replicas %s in the new ISR %s.",
                broker_id,
                tp,
                sorted(ineligible),
                list(new.isr),
            )
            return (
                ErrorCode.ineligible_replica if version > 1 else ErrorCode.operation_not_attempted
            )
        return None

    # -- leader elections ------------------------------------------------------------------------
    async def process_replica_leader_election(self, event: ReplicaLeaderElection) -> None:
        core = self.core
        context = core.context
        if not core.is_active:
            event.preempt()
            return
        if event.trigger is ElectionTrigger.ADMIN_CLIENT:
            partitions = (
                set(event.partitions) if event.partitions is not None else context.all_partitions
            )
        else:
            in_zk = await core.zk.get_preferred_replica_election()
            if in_zk is None:
                event.complete({})
                return
            partitions = set(event.partitions) if event.partitions is not None else in_zk
        partitions = {TopicPartition(*tp) for tp in partitions}
        all_partitions = context.all_partitions
        unknown = {tp for tp in partitions if tp not in all_partitions}
        for tp in sorted(unknown):
            log.info(
                "Skipping replica leader election (%s) for partition %s by %s since it "
                "doesn't exist.",
                event.election_type.name,
                tp,
                event.trigger.value,
            )
        known = partitions - unknown
        deletion = core.topic_deletion_manager
        being_deleted = {tp for tp in known if deletion.is_topic_queued_up_for_deletion(tp.topic)}
        live = known - being_deleted
        electable = {tp for tp in live if self._election_needed(tp, event.election_type)}
        results = await self.on_replica_election(electable, event.election_type, event.trigger)
        answers: dict[TopicPartition, ElectionAnswer] = {}
        for tp, outcome in results.items():
            if isinstance(outcome, LeaderAndIsr):
                answers[tp] = (ErrorCode.none, None, outcome.leader)
            elif isinstance(outcome, StateChangeFailedError):
                error = (
                    ErrorCode.preferred_leader_not_available
                    if event.election_type is ElectionType.PREFERRED
                    else ErrorCode.eligible_leaders_not_available
                )
                answers[tp] = (error, str(outcome), None)
            elif isinstance(outcome, ControllerMovedError):
                answers[tp] = (ErrorCode.not_controller, str(outcome), None)
            else:
                answers[tp] = (ErrorCode.unknown_server_error, str(outcome), None)
        for tp in live - electable:
            answers[tp] = (
                ErrorCode.election_not_needed,
                "Leader election not needed for topic partition.",
                None,
            )
        for tp in being_deleted:
            answers[tp] = (ErrorCode.invalid_topic_exception, "The topic is being deleted", None)
        for tp in unknown:
            answers[tp] = (
                ErrorCode.unknown_topic_or_partition,
                "The partition does not exist.",
                None,
            )
        event.complete(answers)

    def _election_needed(self, tp: TopicPartition, election_type: ElectionType) -> bool:
        context = self.core.context
        info = context.partition_leadership_info(tp)
        leader = info.leader_and_isr.leader if info is not None else NO_LEADER
        if election_type is ElectionType.PREFERRED:
            replicas = context.partition_replica_assignment(tp)
            return not replicas or leader != replicas[0]
        return leader == NO_LEADER or not context.is_live_broker(leader)

    async def on_replica_election(
        self,
        partitions: Collection[TopicPartition],
        election_type: ElectionType,
        trigger: ElectionTrigger,
    ) -> dict[TopicPartition, ElectionOutcome]:
        core = self.core
        log.info(
            "Starting replica leader election (%s) for partitions %s triggered by %s",
            election_type.name,
            ",".join(map(str, sorted(partitions))),
            trigger.value,
        )
        if election_type is ElectionType.PREFERRED:
            strategy, allow_unclean = ElectionStrategy.PREFERRED, False
        else:
            # Unclean only when an admin asked for it.
            strategy = ElectionStrategy.OFFLINE
            allow_unclean = trigger is ElectionTrigger.ADMIN_CLIENT
        try:
            results = await core.partition_state_machine.handle_state_changes(
                sorted(partitions), PartitionState.ONLINE_PARTITION, strategy, allow_unclean
            )
            if trigger is not ElectionTrigger.ADMIN_CLIENT:
                for tp, outcome in results.items():
                    if isinstance(outcome, ControllerMovedError):
                        raise outcome
                    if isinstance(outcome, Exception):
                        log.error(
                            "Error completing replica leader election (%s) for partition %s: %s",
                            election_type.name,
                            tp,
                            outcome,
                        )
            return results
        finally:
            if trigger is not ElectionTrigger.ADMIN_CLIENT:
                await self._remove_partitions_from_preferred_replica_election(
                    partitions, trigger is ElectionTrigger.AUTO
                )

    async def _remove_partitions_from_preferred_replica_election(
        self, partitions: Iterable[TopicPartition], is_auto: bool
    ) -> None:
        core = self.core
        context = core.context
        for tp in partitions:
            info = context.partition_leadership_info(tp)
            replicas = context.partition_replica_assignment(tp)
            if info is None or not replicas:
                continue
            if info.leader_and_isr.leader == replicas[0]:
                log.info(
                    "Partition %s completed preferred replica leader election. New leader is %d",
                    tp,
                    replicas[0],
                )
            else:
                log.warning(
                    "Partition %s failed to complete preferred replica leader election "
                    "to %d. Leader is still %d",
                    tp,
                    replicas[0],
                    info.leader_and_isr.leader,
                )
        if not is_auto:
            await core.zk.delete_preferred_replica_election(context.epoch_zk_version)
            # Catch the next /admin/preferred_replica_election.
            core.event_manager.put(
                ReplicaLeaderElection(None, ElectionType.PREFERRED, ElectionTrigger.ZK)
            )

    # -- automatic preferred-leader rebalance ----------------------------------------------------
    async def process_auto_preferred_replica_leader_election(self) -> None:
        core = self.core
        if not core.is_active:
            return
        try:
            log.info("Processing automatic preferred replica leader election")
            await self.check_and_trigger_auto_leader_rebalance()
        finally:
            core.schedule_auto_leader_rebalance(
                core.config.leader_imbalance_check_interval_seconds * 1000
            )

    async def check_and_trigger_auto_leader_rebalance(self) -> None:
        core = self.core
        context = core.context
        deletion = core.topic_deletion_manager
        by_preferred: dict[int, list[TopicPartition]] = {}
        for tp in sorted(context.all_partitions):
            replicas = context.partition_replica_assignment(tp)
            if replicas and not deletion.is_topic_queued_up_for_deletion(tp.topic):
                by_preferred.setdefault(replicas[0], []).append(tp)
        threshold = core.config.leader_imbalance_per_broker_percentage / 100
        for broker, tps in sorted(by_preferred.items()):
            not_preferred = [
                tp
                for tp in tps
                if (info := context.partition_leadership_info(tp)) is not None
                and info.leader_and_isr.leader != broker
            ]
            ratio = len(not_preferred) / len(tps)
            log.debug("Leader imbalance ratio for broker %d is %s", broker, ratio)
            if ratio > threshold:
                candidates = {
                    tp
                    for tp in not_preferred
                    if not deletion.is_topic_queued_up_for_deletion(tp.topic)
                    and tp.topic in context.all_topics
                    and self._can_preferred_replica_be_leader(tp)
                }
                await self.on_replica_election(
                    candidates, ElectionType.PREFERRED, ElectionTrigger.AUTO
                )

    def _can_preferred_replica_be_leader(self, tp: TopicPartition) -> bool:
        context = self.core.context
        assignment = context.partition_replica_assignment(tp)
        live = {r for r in assignment if context.is_replica_online(r, tp)}
        info = context.partition_leadership_info(tp)
        isr = info.leader_and_isr.isr if info is not None else ()
        return preferred_replica_partition_leader_election(assignment, isr, live) is not None


def _leader(core: ControllerCore, tp: TopicPartition) -> int:
    info = core.context.partition_leadership_info(tp)
    return info.leader_and_isr.leader if info is not None else NO_LEADER


def alter_partition_error(version: int, error: ErrorCode) -> Any:
    schema = response_schema(ALTER_PARTITION_KEY, version)
    return schema(throttle_time=NO_THROTTLE, error_code=error, topics=())


def _alter_partition_response(
    core: ControllerCore,
    version: int,
    responses: Mapping[TopicPartition, ErrorCode | LeaderAndIsr],
    unknown_topic_ids: list[tuple[Any, tuple[int, ...]]],
) -> Any:
    """Kafka's AlterPartition response: per partition the recorded state or an error."""
    schema = response_schema(ALTER_PARTITION_KEY, version)
    module = sys.modules[schema.__module__]
    topic_cls, partition_cls = module.TopicData, module.PartitionData
    use_topic_ids = version > 1

    def partition(index: int, outcome: ErrorCode | LeaderAndIsr) -> Any:
        if isinstance(outcome, LeaderAndIsr):
            fields: dict[str, Any] = {
                "partition_index": index,
                "error_code": ErrorCode.none,
                "leader_id": outcome.leader,
                "leader_epoch": outcome.leader_epoch,
                "isr": outcome.isr,
                "partition_epoch": outcome.partition_epoch,
            }
            if version >= 1:
                fields["leader_recovery_state"] = outcome.leader_recovery_state
            return partition_cls(**fields)
        return partition_cls(
            partition_index=index,
            error_code=outcome,
            leader_id=0,
            leader_epoch=0,
            partition_epoch=0,
        )

    topics = []
    for topic_id, indexes in unknown_topic_ids:
        topics.append(
            topic_cls(
                topic_id=topic_id,
                partitions=tuple(partition(i, ErrorCode.unknown_topic_id) for i in indexes),
            )
        )
    by_topic: dict[str, list[tuple[int, ErrorCode | LeaderAndIsr]]] = {}
    for tp, outcome in sorted(responses.items()):
        by_topic.setdefault(tp.topic, []).append((tp.partition, outcome))
    for name, outcomes in by_topic.items():
        key: dict[str, Any] = (
            {"topic_id": core.context.topic_ids.get(name, _ZERO_UUID)}
            if use_topic_ids
            else {"topic_name": name}
        )
        topics.append(topic_cls(**key, partitions=tuple(partition(i, o) for i, o in outcomes)))
    return schema(throttle_time=NO_THROTTLE, error_code=ErrorCode.none, topics=tuple(topics))
