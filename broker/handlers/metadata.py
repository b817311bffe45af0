"""Metadata (key 3): brokers, controller, cluster id, topics and partition leaders."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from broker.handlers.admin_cluster import CLUSTER_OPERATIONS, operations_bitfield
from broker.network.context import RequestContext
from broker.partition_limits import RequestPartitionCap
from broker.services import BrokerServices
from broker.topic_manager import TopicSpec, topic_name_error
from cluster.metadata import TopicMetadata
from protocol.builders import AUTHORIZED_OPERATIONS_OMITTED, NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

API_KEY = 3
MIN_VERSION, MAX_VERSION = 0, 12
# READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS; with no
# authorizer every operation is allowed (Kafka reports the same).
TOPIC_OPERATIONS = (3, 4, 5, 6, 7, 8, 10, 11)
_NULL_UUID = uuid.UUID(int=0)

log = logging.getLogger(__name__)


def register(services: BrokerServices) -> None:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        rb = ResponseBuilder(API_KEY, version)
        metadata = services.metadata
        requested = request.topics
        if version == 0 and not requested:
            requested = None  # v0: an empty list means all topics
        allow_auto = bool(getattr(request, "allow_auto_topic_creation", True))
        topic_ops = (
            operations_bitfield(TOPIC_OPERATIONS)
            if getattr(request, "include_topic_authorized_operations", False)
            else AUTHORIZED_OPERATIONS_OMITTED
        )
        cluster_ops = (
            operations_bitfield(CLUSTER_OPERATIONS)
            if getattr(request, "include_cluster_authorized_operations", False)
            else AUTHORIZED_OPERATIONS_OMITTED
        )

        if version < 12 and requested and any(_needs_v12(entry) for entry in requested):
            return _invalid_request(rb, requested)
        topics_out: list[Any] = []
        cap = RequestPartitionCap()  # auto-creation, bounded as one CreateTopics
        if requested is None:
            for topic in sorted(metadata.topics().values(), key=lambda t: t.name):
                topics_out.append(_topic(rb, services, topic, ErrorCode.none, topic_ops))
        else:
            for entry in requested:
                name = entry.name
                topic_id = getattr(entry, "topic_id", None)
                if name is None:
                    by_id = (
                        metadata.topic_by_id(topic_id)
                        if topic_id is not None and topic_id != _NULL_UUID
                        else None
                    )
                    if by_id is None:
                        topics_out.append(
                            rb(
                                "MetadataResponseTopic",
                                error_code=ErrorCode.unknown_topic_id,
                                name=None,
                                topic_id=topic_id or _NULL_UUID,
                                partitions=(),
                                is_internal=False,
                            )
                        )
                    else:
                        topics_out.append(_topic(rb, services, by_id, ErrorCode.none, topic_ops))
                    continue
                by_name = metadata.topic(name)
                if by_name is not None:
                    topics_out.append(_topic(rb, services, by_name, ErrorCode.none, topic_ops))
                    continue
                if topic_name_error(name) is not None:
                    error = ErrorCode.invalid_topic_exception
                elif allow_auto and services.auto_create_topics:
                    error = await _auto_create(services, name, cap)
                else:
                    error = ErrorCode.unknown_topic_or_partition
                topics_out.append(
                    rb(
                        "MetadataResponseTopic",
                        error_code=error,
                        name=name,
                        topic_id=_NULL_UUID,
                        partitions=(),
                        is_internal=False,
                        topic_authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
                    )
                )

        brokers = []
        for b in metadata.brokers():
            endpoint = next((e for e in b.endpoints if e.listener == ctx.connection.listener), None)
            if endpoint is None:
                continue  # Kafka omits brokers without the request's listener
            brokers.append(
                rb(
                    "MetadataResponseBroker",
                    node_id=b.broker_id,
                    host=endpoint.host,
                    port=endpoint.port,
                    rack=b.rack,
                )
            )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            brokers=tuple(brokers),
            cluster_id=metadata.cluster_id,
            controller_id=metadata.controller_id,
            topics=tuple(topics_out),
            cluster_authorized_operations=cluster_ops,
        )

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)


def _needs_v12(entry: Any) -> bool:
    """Metadata v10-v11 carry topic id fields, but only v12 may use them: Kafka refuses a
    null name or a non-zero id in them (its v10-v11 responses cannot hold a null name)."""
    topic_id = getattr(entry, "topic_id", None)
    return entry.name is None or (topic_id is not None and topic_id != _NULL_UUID)


def _invalid_request(rb: ResponseBuilder, requested: Any) -> Any:
    """Kafka's error response for a Metadata request it refuses: INVALID_REQUEST for every
    requested topic (a null name becomes ""), no brokers."""
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        brokers=(),
        cluster_id=None,
        controller_id=-1,
        topics=tuple(
            rb(
                "MetadataResponseTopic",
                error_code=ErrorCode.invalid_request,
                name=entry.name or "",
                topic_id=getattr(entry, "topic_id", None) or _NULL_UUID,
                partitions=(),
                is_internal=False,
                topic_authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
            )
            for entry in requested
        ),
        cluster_authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
    )


async def _auto_create(services: BrokerServices, name: str, cap: RequestPartitionCap) -> ErrorCode:
    try:
        await services.topic_manager.create(TopicSpec(name, -1, -1), cap=cap)
    except KafkaError as exc:
        if exc.error_code == ErrorCode.topic_already_exists:
            return ErrorCode.leader_not_available
        if cap.refused == 0 or exc.error_code != ErrorCode.policy_violation:
            # One line per request for a refused batch, not one per requested topic.
            log.warning("auto-creation of topic %s failed: %s", name, exc)
        if exc.error_code == ErrorCode.policy_violation:
            cap.refused += 1
        return exc.error_code
    # Kafka answers a topic it has just created with LEADER_NOT_AVAILABLE; clients retry.
    return ErrorCode.leader_not_available


def _topic(
    rb: ResponseBuilder,
    services: BrokerServices,
    topic: TopicMetadata,
    error: ErrorCode,
    authorized_operations: int,
) -> Any:
    live = {b.broker_id for b in services.metadata.brokers()}
    me = services.broker_id
    partitions = []
    for index in sorted(topic.partitions):
        state = topic.partitions[index]
        # A replica in a failed log dir of this broker is offline, as a dead broker's is
        # (Kafka's controller then leaves such a single-replica partition without leader).
        offline = {r for r in state.replicas if r not in live}
        if me in state.replicas and services.replica_manager.is_offline(topic.name, index):
            offline.add(me)
        leader_alive = state.leader in live and state.leader not in offline
        partitions.append(
            rb(
                "MetadataResponsePartition",
                error_code=ErrorCode.none if leader_alive else ErrorCode.leader_not_available,
                partition_index=index,
                leader_id=state.leader if leader_alive else -1,
                leader_epoch=state.leader_epoch,
                replica_nodes=tuple(state.replicas),
                isr_nodes=tuple(r for r in state.isr if r in live),
                offline_replicas=tuple(r for r in state.replicas if r in offline),
            )
        )
    return rb(
        "MetadataResponseTopic",
        error_code=error,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.is_internal,
        partitions=tuple(partitions),
        topic_authorized_operations=authorized_operations,
    )
