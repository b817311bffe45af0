"""ControllerBrokerRequestBatch: the requests one controller step sends to brokers.

A state change (a leader election, a replica going offline, a topic deletion step ...)
adds LeaderAndIsr partition states per broker, StopReplica partition states per broker and
partitions for UpdateMetadata; :meth:`send_requests_to_brokers` then builds one request of
each kind per broker and hands them to the channel, in Kafka's order: LeaderAndIsr first,
then UpdateMetadata (to every broker named, with the live brokers and the partition states),
then StopReplica. Adding a LeaderAndIsr state also schedules UpdateMetadata for that
partition to every live or shutting-down broker, as Kafka does.

Kafka's sentinels: a topic queued for deletion is sent in UpdateMetadata with leader -2
(LeaderDuringDelete) and in StopReplica with leader epoch -2 (EpochDuringDelete).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cluster.controller.context import ControllerContext
from cluster.controller.model import (
    LEADER_DURING_DELETE,
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.requests import (
    ControlRequest,
    LeaderAndIsrPartitionState,
    LeaderAndIsrRequestData,
    LiveBroker,
    LiveLeader,
    StopReplicaPartitionState,
    StopReplicaRequestData,
    UpdateMetadataPartitionState,
    UpdateMetadataRequestData,
)
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)
state_change_log = logging.getLogger("josef.state.change.logger")


class IllegalBatchState(RuntimeError):
    """A new batch was started while the previous one still held requests (a controller
    bug: Kafka resigns on it)."""


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """A broker's answer to a control request: the top-level error and per-partition errors."""

    error_code: ErrorCode
    partition_errors: Mapping[TopicPartition, ErrorCode]


ResponseCallback = Callable[[ControlResponse], None]


class RequestSender(Protocol):
    """Queues a request for a broker (Kafka's ControllerChannelManager.sendRequest)."""

    def send_request(
        self, broker_id: int, request: ControlRequest, callback: ResponseCallback | None
    ) -> None: ...


class BatchResponseHandler(Protocol):
    """Where the batch delivers the brokers' answers (they become controller events)."""

    def on_leader_and_isr_response(self, response: ControlResponse, broker_id: int) -> None: ...

    def on_update_metadata_response(self, response: ControlResponse, broker_id: int) -> None: ...

    def on_stop_replica_response(
        self,
        error_code: ErrorCode,
        broker_id: int,
        partition_errors_for_deleting_topics: Mapping[TopicPartition, ErrorCode],
    ) -> None: ...


class ControllerBrokerRequestBatch:
    """Accumulates and sends the control requests of one state change (see module doc)."""

    def __init__(
        self,
        controller_id: int,
        context: ControllerContext,
        sender: RequestSender,
        handler: BatchResponseHandler,
        inter_broker_listener_name: str,
    ) -> None:
        self.controller_id = controller_id
        self.context = context
        self.sender = sender
        self.handler = handler
        self.inter_broker_listener_name = inter_broker_listener_name
        self.leader_and_isr_requests: dict[
            int, dict[TopicPartition, LeaderAndIsrPartitionState]
        ] = {}
        self.stop_replica_requests: dict[int, dict[TopicPartition, StopReplicaPartitionState]] = {}
        self.update_metadata_brokers: set[int] = set()
        self.update_metadata_partitions: dict[TopicPartition, UpdateMetadataPartitionState] = {}

    @property
    def is_empty(self) -> bool:
        return not (
            self.leader_and_isr_requests
            or self.stop_replica_requests
            or self.update_metadata_brokers
        )

    def new_batch(self) -> None:
        if self.leader_and_isr_requests:
            raise IllegalBatchState(
                "Controller to broker state change requests batch is not empty while creating "
                f"a new one. Some LeaderAndIsr state changes {self.leader_and_isr_requests} "
                "might be lost"
            )
        if self.stop_replica_requests:
            raise IllegalBatchState(
                "Controller to broker state change requests batch is not empty while creating "
                f"a new one. Some StopReplica state changes {self.stop_replica_requests} "
                "might be lost"
            )
        if self.update_metadata_brokers:
            raise IllegalBatchState(
                "Controller to broker state change requests batch is not empty while creating "
                "a new one. Some UpdateMetadata state changes to brokers "
                f"{sorted(self.update_metadata_brokers)} might be lost"
            )

    def clear(self) -> None:
        self.leader_and_isr_requests.clear()
        self.stop_replica_requests.clear()
        self.update_metadata_brokers.clear()
        self.update_metadata_partitions.clear()

    # -- adding ----------------------------------------------------------------------------------
    def add_leader_and_isr_request_for_brokers(
        self,
        broker_ids: Iterable[int],
        tp: TopicPartition,
        leadership: LeaderIsrAndControllerEpoch,
        assignment: ReplicaAssignment,
        is_new: bool,
    ) -> None:
        lai = leadership.leader_and_isr
        for broker_id in broker_ids:
            if broker_id < 0:
                continue
            states = self.leader_and_isr_requests.setdefault(broker_id, {})
            previous = states.get(tp)
            already_new = previous is not None and previous.is_new
            states[tp] = LeaderAndIsrPartitionState(
                topic_name=tp.topic,
                partition_index=tp.partition,
                controller_epoch=leadership.controller_epoch,
                leader=lai.leader,
                leader_epoch=lai.leader_epoch,
                isr=lai.isr,
                partition_epoch=lai.partition_epoch,
                replicas=assignment.replicas,
                adding_replicas=assignment.adding_replicas,
                removing_replicas=assignment.removing_replicas,
                is_new=is_new or already_new,
                leader_recovery_state=lai.leader_recovery_state,
            )
        self.add_update_metadata_request_for_brokers(
            self.context.live_or_shutting_down_broker_ids, (tp,)
        )

    def add_stop_replica_request_for_brokers(
        self, broker_ids: Iterable[int], tp: TopicPartition, delete_partition: bool
    ) -> None:
        leader_epoch = self.context.leader_epoch(tp)  # -2 while the topic is being deleted
        for broker_id in broker_ids:
            if broker_id < 0:
                continue
            states = self.stop_replica_requests.setdefault(broker_id, {})
            previous = states.get(tp)
            already_delete = previous is not None and previous.delete_partition
            states[tp] = StopReplicaPartitionState(
                tp.topic, tp.partition, leader_epoch, already_delete or delete_partition
            )

    def add_update_metadata_request_for_brokers(
        self, broker_ids: Iterable[int], partitions: Iterable[TopicPartition] = ()
    ) -> None:
        """UpdateMetadata to ``broker_ids`` with the current state of ``partitions``
        (partitions without a leader yet are skipped)."""
        self.update_metadata_brokers.update(b for b in broker_ids if b >= 0)
        context = self.context
        for tp in partitions:
            leadership = context.partition_leadership_info(tp)
            if leadership is None:
                log.info(
                    "Leader not yet assigned for partition %s. Skip sending UpdateMetadataRequest.",
                    tp,
                )
                continue
            lai = leadership.leader_and_isr
            replicas = context.partition_replica_assignment(tp)
            offline = tuple(r for r in replicas if not context.is_replica_online(r, tp))
            leader = (
                LEADER_DURING_DELETE
                if context.is_topic_queued_up_for_deletion(tp.topic)
                else lai.leader
            )
            self.update_metadata_partitions[tp] = UpdateMetadataPartitionState(
                topic_name=tp.topic,
                partition_index=tp.partition,
                controller_epoch=leadership.controller_epoch,
                leader=leader,
                leader_epoch=lai.leader_epoch,
                isr=lai.isr,
                zk_version=lai.partition_epoch,
                replicas=replicas,
                offline_replicas=offline,
            )

    # -- sending ---------------------------------------------------------------------------------
    def send_requests_to_brokers(self, controller_epoch: int) -> None:
        try:
            self._send_leader_and_isr_requests(controller_epoch)
            self._send_update_metadata_requests(controller_epoch)
            self._send_stop_replica_requests(controller_epoch)
        except Exception as exc:
            if self.leader_and_isr_requests or self.update_metadata_brokers:
                log.error("Haven't been able to send control requests: %s", exc)
            raise IllegalBatchState(str(exc)) from exc

    def _send_leader_and_isr_requests(self, controller_epoch: int) -> None:
        context = self.context
        live = context.live_or_shutting_down_broker_ids
        for broker_id, states in sorted(self.leader_and_isr_requests.items()):
            if broker_id not in live:
                continue
            leader_ids = {s.leader for s in states.values()}
            become_leaders = sum(1 for s in states.values() if s.leader == broker_id)
            state_change_log.info(
                "Sending LeaderAndIsr request to broker %d with %d become-leader and %d "
                "become-follower partitions",
                broker_id,
                become_leaders,
                len(states) - become_leaders,
            )
            topics = {tp.topic for tp in states}
            request = LeaderAndIsrRequestData(
                controller_id=self.controller_id,
                controller_epoch=controller_epoch,
                broker_epoch=context.live_broker_id_and_epochs[broker_id],
                partition_states=tuple(states[tp] for tp in sorted(states)),
                topic_ids={
                    t: context.topic_ids[t] for t in sorted(topics) if t in context.topic_ids
                },
                live_leaders=self._live_leaders(leader_ids),
            )
            self.sender.send_request(
                broker_id, request, _bind(self.handler.on_leader_and_isr_response, broker_id)
            )
        self.leader_and_isr_requests.clear()

    def _live_leaders(self, leader_ids: set[int]) -> tuple[LiveLeader, ...]:
        out = []
        for broker in self.context.live_or_shutting_down_brokers:
            if broker.broker_id not in leader_ids:
                continue
            endpoint = next(
                (e for e in broker.endpoints if e.listener == self.inter_broker_listener_name),
                None,
            )
            if endpoint is None:
                log.warning(
                    "Broker %d has no endpoint for listener %s",
                    broker.broker_id,
                    self.inter_broker_listener_name,
                )
                continue
            out.append(LiveLeader(broker.broker_id, endpoint.host, endpoint.port))
        return tuple(out)

    def _send_update_metadata_requests(self, controller_epoch: int) -> None:
        context = self.context
        if not self.update_metadata_brokers:
            self.update_metadata_partitions.clear()
            return
        state_change_log.info(
            "Sending UpdateMetadata request to brokers %s for %d partitions",
            sorted(self.update_metadata_brokers),
            len(self.update_metadata_partitions),
        )
        partition_states = tuple(
            self.update_metadata_partitions[tp] for tp in sorted(self.update_metadata_partitions)
        )
        live_brokers = tuple(
            LiveBroker(b.broker_id, b.endpoints, b.rack)
            for b in context.live_or_shutting_down_brokers
        )
        topics = {s.topic_name for s in partition_states}
        topic_ids = {t: context.topic_ids[t] for t in sorted(topics) if t in context.topic_ids}
        live = context.live_or_shutting_down_broker_ids
        for broker_id in sorted(self.update_metadata_brokers & live):
            request = UpdateMetadataRequestData(
                controller_id=self.controller_id,
                controller_epoch=controller_epoch,
                broker_epoch=context.live_broker_id_and_epochs[broker_id],
                partition_states=partition_states,
                live_brokers=live_brokers,
                topic_ids=topic_ids,
            )
            self.sender.send_request(
                broker_id, request, _bind(self.handler.on_update_metadata_response, broker_id)
            )
        self.update_metadata_brokers.clear()
        self.update_metadata_partitions.clear()

    def _send_stop_replica_requests(self, controller_epoch: int) -> None:
        context = self.context
        live = context.live_or_shutting_down_broker_ids
        for broker_id, states in sorted(self.stop_replica_requests.items()):
            if broker_id not in live:
                continue
            state_change_log.info(
                "Sending StopReplica request for %d replicas to broker %d", len(states), broker_id
            )
            request = StopReplicaRequestData(
                controller_id=self.controller_id,
                controller_epoch=controller_epoch,
                broker_epoch=context.live_broker_id_and_epochs[broker_id],
                partition_states=tuple(states[tp] for tp in sorted(states)),
            )
            deleted = {tp for tp, s in states.items() if s.delete_partition}
            self.sender.send_request(
                broker_id, request, self._stop_replica_callback(broker_id, deleted)
            )
        self.stop_replica_requests.clear()

    def _stop_replica_callback(
        self, broker_id: int, deleted: set[TopicPartition]
    ) -> ResponseCallback:
        def on_response(response: ControlResponse) -> None:
            errors = {
                tp: error
                for tp, error in response.partition_errors.items()
                if self.context.is_topic_deletion_in_progress(tp.topic) and tp in deleted
            }
            if errors:
                self.handler.on_stop_replica_response(response.error_code, broker_id, errors)

        return on_response


def _bind(fn: Callable[[ControlResponse, int], None], broker_id: int) -> ResponseCallback:
    return lambda response: fn(response, broker_id)
