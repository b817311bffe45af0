"""Inter-broker APIs of a ZooKeeper-mode cluster (registered only in cluster mode).

From the controller to every broker: LeaderAndIsr (4) — lead or follow these partitions;
StopReplica (5) — stop (and maybe delete) replicas; UpdateMetadata (6) — the cluster as
the controller sees it. From brokers to the controller: ControlledShutdown (7) and
AlterPartition (56, ISR changes proposed by leaders), answered by the controller object
when this broker is the active controller, NOT_CONTROLLER otherwise.

Requests from a controller with an older epoch get STALE_CONTROLLER_EPOCH; requests meant
for an older registration of this broker (broker epoch) get STALE_BROKER_EPOCH, as in Kafka.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.network.dispatch import Handler
from broker.replica.replica_manager import PartitionRole
from broker.services import BrokerServices
from cluster.acls import AclOperation
from cluster.metadata import BrokerEndpoint, BrokerRegistration, PartitionState
from cluster.metadata_cache import PartitionUpdate
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

LEADER_AND_ISR, STOP_REPLICA, UPDATE_METADATA, CONTROLLED_SHUTDOWN = 4, 5, 6, 7
ALTER_PARTITION = 56
# Josef's controller sends the versions Kafka 3.9's controller sends to a 3.9 broker.
LEADER_AND_ISR_VERSIONS = (7, 7)
STOP_REPLICA_VERSIONS = (4, 4)
UPDATE_METADATA_VERSIONS = (8, 8)
CONTROLLED_SHUTDOWN_VERSIONS = (3, 3)
ALTER_PARTITION_VERSIONS = (2, 3)
_SECURITY_PROTOCOLS = {0: "PLAINTEXT", 1: "SSL", 2: "SASL_PLAINTEXT", 3: "SASL_SSL"}
_NULL_UUID = uuid.UUID(int=0)

log = logging.getLogger(__name__)


class ClusterMember(Protocol):
    """What these handlers need of the broker's cluster membership (broker.cluster_node)."""

    broker_id: int

    @property
    def broker_epoch(self) -> int: ...

    def check_controller(self, controller_id: int, controller_epoch: int) -> ErrorCode: ...

    async def prepare_topics(self, names: list[str]) -> None: ...

    def apply_update_metadata(
        self,
        controller_id: int,
        controller_epoch: int,
        brokers: list[BrokerRegistration],
        partitions: list[PartitionUpdate],
    ) -> None: ...

    @property
    def controller(self) -> Any: ...


def register(services: BrokerServices) -> None:
    member: ClusterMember | None = services.cluster
    if member is None:
        return  # standalone: no controller, no inter-broker requests
    rm = services.replica_manager

    def stale_broker_epoch(request: Any) -> bool:
        epoch = int(getattr(request, "broker_epoch", -1))
        return epoch != -1 and epoch < member.broker_epoch

    async def leader_and_isr(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(LEADER_AND_ISR, ctx.api_version)
        error = member.check_controller(int(request.controller_id), int(request.controller_epoch))
        if error == ErrorCode.none and stale_broker_epoch(request):
            error = ErrorCode.stale_broker_epoch
        roles: list[PartitionRole] = []
        for t in request.topic_states:
            topic_id = t.topic_id or _NULL_UUID
            for p in t.partition_states:
                roles.append(
                    PartitionRole(
                        t.topic_name,
                        topic_id,
                        int(p.partition_index),
                        PartitionState(
                            replicas=[int(r) for r in p.replicas],
                            leader=int(p.leader),
                            leader_epoch=int(p.leader_epoch),
                            isr=[int(r) for r in p.isr],
                            controller_epoch=int(p.controller_epoch),
                            partition_epoch=int(p.partition_epoch),
                        ),
                        is_new=bool(p.is_new),
                    )
                )
        results: dict[tuple[str, int], ErrorCode] = {}
        if error == ErrorCode.none:
            # New topics need their configs (ZooKeeper) before their logs are created.
            await member.prepare_topics(sorted({r.topic for r in roles}))
            try:
                results = rm.become_leader_or_follower(int(request.controller_epoch), roles)
            except KafkaError as exc:
                error = exc.error_code
            # New leader epochs are on disk before the controller hears back (as in Kafka,
            # whose makeLeader writes the checkpoint), without an fsync per partition on
            # the event loop.
            await rm.checkpoint_leader_epochs()
        else:
            log.info(
                "refusing LeaderAndIsr from controller %d epoch %d: %s",
                request.controller_id,
                request.controller_epoch,
                error.name,
            )
        topics = []
        for t in request.topic_states:
            topics.append(
                rb(
                    "LeaderAndIsrTopicError",
                    topic_id=t.topic_id or _NULL_UUID,
                    partition_errors=tuple(
                        rb(
                            "LeaderAndIsrPartitionError",
                            partition_index=p.partition_index,
                            error_code=error
                            if error != ErrorCode.none
                            else results.get((t.topic_name, int(p.partition_index)), error),
                        )
                        for p in t.partition_states
                    ),
                )
            )
        return rb(None, error_code=error, topics=tuple(topics))

    async def stop_replica(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(STOP_REPLICA, ctx.api_version)
        error = member.check_controller(int(request.controller_id), int(request.controller_epoch))
        if error == ErrorCode.none and stale_broker_epoch(request):
            error = ErrorCode.stale_broker_epoch
        partition_errors = []
        if error == ErrorCode.none:
            for t in request.topic_states:
                deleting = [
                    (t.topic_name, int(p.partition_index))
                    for p in t.partition_states
                    if p.delete_partition
                ]
                keeping = [
                    (t.topic_name, int(p.partition_index))
                    for p in t.partition_states
                    if not p.delete_partition
                ]
                fenced: set[tuple[str, int]] = set()
                for p in t.partition_states:
                    key = (t.topic_name, int(p.partition_index))
                    local = rm.get_partition(*key)
                    epoch = int(p.leader_epoch)
                    # -2: the topic is being deleted, always applies (Kafka's sentinel).
                    if local is not None and epoch >= 0 and epoch < local.leader_epoch:
                        fenced.add(key)
                if keeping:
                    rm.stop_replicas([k for k in keeping if k not in fenced], delete=False)
                if deleting:
                    rm.stop_replicas([k for k in deleting if k not in fenced], delete=True)
                for p in t.partition_states:
                    key = (t.topic_name, int(p.partition_index))
                    partition_errors.append(
                        rb(
                            "StopReplicaPartitionError",
                            topic_name=t.topic_name,
                            partition_index=p.partition_index,
                            error_code=ErrorCode.fenced_leader_epoch
                            if key in fenced
                            else ErrorCode.none,
                        )
                    )
        return rb(None, error_code=error, partition_errors=tuple(partition_errors))

    async def update_metadata(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(UPDATE_METADATA, ctx.api_version)
        error = member.check_controller(int(request.controller_id), int(request.controller_epoch))
        if error == ErrorCode.none and stale_broker_epoch(request):
            error = ErrorCode.stale_broker_epoch
        if error != ErrorCode.none:
            return rb(None, error_code=error)
        brokers = [
            BrokerRegistration(
                int(b.id),
                tuple(
                    BrokerEndpoint(
                        e.listener,
                        _SECURITY_PROTOCOLS.get(int(e.security_protocol), "PLAINTEXT"),
                        e.host,
                        int(e.port),
                    )
                    for e in b.endpoints
                ),
                b.rack,
            )
            for b in request.live_brokers
        ]
        partitions = [
            PartitionUpdate(
                t.topic_name,
                t.topic_id or _NULL_UUID,
                int(p.partition_index),
                PartitionState(
                    replicas=[int(r) for r in p.replicas],
                    leader=int(p.leader),
                    leader_epoch=int(p.leader_epoch),
                    isr=[int(r) for r in p.isr],
                    controller_epoch=int(p.controller_epoch),
                    partition_epoch=int(p.zk_version),
                    offline_replicas=[int(r) for r in p.offline_replicas],
                ),
            )
            for t in request.topic_states
            for p in t.partition_states
        ]
        await member.prepare_topics(sorted({p.topic for p in partitions}))
        member.apply_update_metadata(
            int(request.controller_id), int(request.controller_epoch), brokers, partitions
        )
        return rb(None, error_code=ErrorCode.none)

    async def controlled_shutdown(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(CONTROLLED_SHUTDOWN, ctx.api_version)
        controller = member.controller
        if controller is None or not controller.is_active:
            return rb(None, error_code=ErrorCode.not_controller, remaining_partitions=())
        error, remaining = await controller.controlled_shutdown(
            int(request.broker_id), int(getattr(request, "broker_epoch", -1))
        )
        return rb(
            None,
            error_code=error,
            remaining_partitions=tuple(
                rb("RemainingPartition", topic_name=t, partition_index=p) for t, p in remaining
            ),
        )

    async def alter_partition(ctx: RequestContext, request: Any) -> Any:
        controller = member.controller
        if controller is None or not controller.is_active:
            rb = ResponseBuilder(ALTER_PARTITION, ctx.api_version)
            return rb(
                None, throttle_time=NO_THROTTLE, error_code=ErrorCode.not_controller, topics=()
            )
        return await controller.alter_partition(request, ctx.api_version)

    def cluster_action(api_key: int, handler: Handler) -> Handler:
        """Only brokers (CLUSTER_ACTION on the cluster) may send these, as in Kafka."""

        async def checked(ctx: RequestContext, request: Any) -> Any:
            if services.auth.cluster(ctx, AclOperation.CLUSTER_ACTION):
                return await handler(ctx, request)
            rb = ResponseBuilder(api_key, ctx.api_version)
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.cluster_authorization_failed,
                topics=(),
                partition_errors=(),
                remaining_partitions=(),
            )

        return checked

    registry = services.registry
    for api_key, versions, handler in (
        (LEADER_AND_ISR, LEADER_AND_ISR_VERSIONS, leader_and_isr),
        (STOP_REPLICA, STOP_REPLICA_VERSIONS, stop_replica),
        (UPDATE_METADATA, UPDATE_METADATA_VERSIONS, update_metadata),
        (CONTROLLED_SHUTDOWN, CONTROLLED_SHUTDOWN_VERSIONS, controlled_shutdown),
        (ALTER_PARTITION, ALTER_PARTITION_VERSIONS, alter_partition),
    ):
        registry.register(api_key, *versions, cluster_action(api_key, handler))
