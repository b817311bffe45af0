"""DeleteRecords (21) and OffsetForLeaderEpoch (23).

On one node the leader's log start offset is the partition's low watermark,
so DeleteRecords answers as soon as the local log start offset has moved.
"""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from broker.topic_manager import INTERNAL_TOPICS
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

DELETE_RECORDS, DELETE_RECORDS_MIN, DELETE_RECORDS_MAX = 21, 0, 2
OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_MIN, OFFSET_FOR_LEADER_EPOCH_MAX = 23, 0, 4

log = logging.getLogger(__name__)


def _in_metadata(services: BrokerServices, topic: str, index: int) -> bool:
    meta = services.metadata.topic(topic)
    return meta is not None and index in meta.partitions


def delete_records_on_partition(
    services: BrokerServices, topic: str, index: int, offset: int
) -> tuple[ErrorCode, int]:
    """(error, low watermark) after moving the log start offset of one partition."""
    if not _in_metadata(services, topic, index):
        return ErrorCode.unknown_topic_or_partition, -1
    meta = services.metadata.topic(topic)
    if topic in INTERNAL_TOPICS or (meta is not None and meta.is_internal):
        return ErrorCode.invalid_topic_exception, -1
    partition = services.replica_manager.get_partition(topic, index)
    if partition is None or not partition.is_leader:
        return ErrorCode.not_leader_or_follower, -1
    try:
        low = partition.delete_records_on_leader(offset)
    except KafkaError as exc:
        return exc.error_code, -1
    except Exception:
        log.exception("DeleteRecords on %s-%d failed", topic, index)
        return ErrorCode.unknown_server_error, -1
    return ErrorCode.none, low


async def _delete_records(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(DELETE_RECORDS, ctx.api_version)
    deletable = services.auth.filter(
        ctx, AclOperation.DELETE, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            if t.name not in deletable:
                code, low = ErrorCode.topic_authorization_failed, -1
            else:
                code, low = delete_records_on_partition(
                    services, t.name, int(p.partition_index), int(p.offset)
                )
            parts.append(
                rb(
                    "DeleteRecordsPartitionResult",
                    partition_index=p.partition_index,
                    low_watermark=low,
                    error_code=code,
                )
            )
        topics.append(rb("DeleteRecordsTopicResult", name=t.name, partitions=tuple(parts)))
    return rb(None, throttle_time=NO_THROTTLE, topics=tuple(topics))


def end_offset_for(
    services: BrokerServices, topic: str, index: int, current_epoch: int, epoch: int
) -> tuple[ErrorCode, int, int]:
    """(error, leader epoch, end offset) as Kafka's Partition.lastOffsetForLeaderEpoch."""
    partition = services.replica_manager.get_partition(topic, index)
    if partition is None:
        if _in_metadata(services, topic, index):
            return ErrorCode.not_leader_or_follower, -1, -1
        return ErrorCode.unknown_topic_or_partition, -1, -1
    error = partition.check_serving(current_epoch)
    if error != ErrorCode.none:
        return error, -1, -1
    found_epoch, end_offset = partition.last_offset_for_leader_epoch(epoch)
    return ErrorCode.none, found_epoch, end_offset


async def _offset_for_leader_epoch(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> Any:
    rb = ResponseBuilder(OFFSET_FOR_LEADER_EPOCH, ctx.api_version)
    auth = services.auth
    # Followers (CLUSTER_ACTION) may ask about any topic, consumers about those they describe.
    allowed: set[str] | None = None
    if not auth.cluster(ctx, AclOperation.CLUSTER_ACTION):
        allowed = auth.filter(
            ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t.topic for t in request.topics)
        )
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            if allowed is not None and t.topic not in allowed:
                code, epoch, end = ErrorCode.topic_authorization_failed, -1, -1
            else:
                code, epoch, end = end_offset_for(
                    services,
                    t.topic,
                    int(p.partition),
                    int(getattr(p, "current_leader_epoch", -1)),  # v2+
                    int(p.leader_epoch),
                )
            parts.append(
                rb(
                    "EpochEndOffset",
                    error_code=code,
                    partition=p.partition,
                    leader_epoch=epoch,
                    end_offset=end,
                )
            )
        topics.append(rb("OffsetForLeaderTopicResult", topic=t.topic, partitions=tuple(parts)))
    return rb(None, throttle_time=NO_THROTTLE, topics=tuple(topics))


def register(services: BrokerServices) -> None:
    async def delete_records(ctx: RequestContext, request: Any) -> Any:
        return await _delete_records(services, ctx, request)

    async def offset_for_leader_epoch(ctx: RequestContext, request: Any) -> Any:
        return await _offset_for_leader_epoch(services, ctx, request)

    registry = services.registry
    registry.register(DELETE_RECORDS, DELETE_RECORDS_MIN, DELETE_RECORDS_MAX, delete_records)
    registry.register(
        OFFSET_FOR_LEADER_EPOCH,
        OFFSET_FOR_LEADER_EPOCH_MIN,
        OFFSET_FOR_LEADER_EPOCH_MAX,
        offset_for_leader_epoch,
    )
