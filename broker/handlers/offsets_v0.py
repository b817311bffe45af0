"""OffsetCommit v0 and OffsetFetch v0: the pre-0.9 consumer's offsets, kept apart.

Kafka 3.9 (ZooKeeper mode) does not give these versions to the group coordinator: a v0
commit is written to ``/consumers/<group>/offsets/<topic>/<partition>`` (the offset only,
no metadata, no group membership check, on any broker) and a v0 fetch reads from there.
Josef does the same through the metadata store (ZooKeeper in cluster mode, the standalone
metadata document otherwise), so v0 offsets and the coordinator's offsets (v1+) never see
each other, as in Kafka.
"""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import ResponseBuilder

OFFSET_COMMIT, OFFSET_FETCH = 8, 9
# OffsetFetchResponse.INVALID_OFFSET / NO_METADATA
INVALID_OFFSET = -1
NO_METADATA = ""

log = logging.getLogger(__name__)


def _partition_exists(services: BrokerServices, topic: str, partition: int) -> bool:
    meta = services.metadata.topic(topic)
    return meta is not None and partition in meta.partitions


async def commit_v0(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(OFFSET_COMMIT, 0)
    auth = services.auth
    group_ok = auth.authorize(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    readable = (
        auth.filter(ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics))
        if group_ok
        else set()
    )
    max_metadata = int(services.config.offset_metadata_max_bytes)
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            if not group_ok:
                error = ErrorCode.group_authorization_failed
            elif t.name not in readable:
                error = ErrorCode.topic_authorization_failed
            elif not _partition_exists(services, t.name, p.partition_index):
                error = ErrorCode.unknown_topic_or_partition
            elif p.committed_metadata is not None and len(p.committed_metadata) > max_metadata:
                error = ErrorCode.offset_metadata_too_large
            else:
                try:
                    await services.metadata.set_consumer_offset(
                        request.group_id, t.name, p.partition_index, p.committed_offset
                    )
                    error = ErrorCode.none
                except Exception:
                    log.exception("OffsetCommit v0 for group %s failed", request.group_id)
                    error = ErrorCode.unknown_server_error
            partitions.append(
                rb(
                    "OffsetCommitResponsePartition",
                    partition_index=p.partition_index,
                    error_code=error,
                )
            )
        topics.append(rb("OffsetCommitResponseTopic", name=t.name, partitions=tuple(partitions)))
    return rb(None, topics=tuple(topics))


async def fetch_v0(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(OFFSET_FETCH, 0)
    auth = services.auth

    def partition(index: int, offset: int, error: ErrorCode) -> Any:
        return rb(
            "OffsetFetchResponsePartition",
            partition_index=index,
            committed_offset=offset,
            metadata=NO_METADATA,
            error_code=error,
        )

    def unknown(index: int) -> Any:
        # OffsetFetchResponse.UNKNOWN_PARTITION
        return partition(index, INVALID_OFFSET, ErrorCode.unknown_topic_or_partition)

    group_ok = auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, request.group_id)
    describable = (
        auth.filter(
            ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t.name for t in request.topics)
        )
        if group_ok
        else set()
    )
    topics = []
    for t in request.topics:
        partitions = []
        for index in t.partition_indexes:
            if not group_ok:
                partitions.append(
                    partition(index, INVALID_OFFSET, ErrorCode.group_authorization_failed)
                )
            elif t.name not in describable:
                partitions.append(
                    partition(index, INVALID_OFFSET, ErrorCode.topic_authorization_failed)
                )
            elif not _partition_exists(services, t.name, index):
                partitions.append(unknown(index))
            else:
                try:
                    stored = await services.metadata.consumer_offset(
                        request.group_id, t.name, index
                    )
                    # Kafka's UNKNOWN_PARTITION also answers a partition without an offset.
                    partitions.append(
                        unknown(index)
                        if stored is None
                        else partition(index, stored, ErrorCode.none)
                    )
                except Exception:
                    log.exception("OffsetFetch v0 for group %s failed", request.group_id)
                    partitions.append(
                        partition(index, INVALID_OFFSET, ErrorCode.unknown_server_error)
                    )
        topics.append(rb("OffsetFetchResponseTopic", name=t.name, partitions=tuple(partitions)))
    return rb(None, topics=tuple(topics))
