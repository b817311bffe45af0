"""Committed offsets: OffsetCommit (8), OffsetFetch (9, v8+ many groups), OffsetDelete (47).

Version 0 of OffsetCommit and OffsetFetch bypasses the group coordinator (offsets_v0).
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.group.coordinator import OffsetAndMetadata
from broker.handlers.group_coordinator import coordinator
from broker.handlers.offsets_v0 import commit_v0, fetch_v0
from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder

OFFSET_COMMIT, OFFSET_FETCH, OFFSET_DELETE = 8, 9, 47
# Kafka's OffsetFetchResponse.NO_METADATA: "" for a partition without a committed offset.
NO_METADATA = ""


def _ms(value: Any) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return int(value)


def register(services: BrokerServices) -> None:
    async def offset_commit(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        if version == 0:
            return await commit_v0(services, ctx, request)
        rb = ResponseBuilder(OFFSET_COMMIT, version)
        auth = services.auth
        group_ok = auth.authorize(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
        readable = (
            auth.filter(
                ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
            )
            if group_ok
            else set()
        )
        offsets = [
            (
                t.name,
                p.partition_index,
                p.committed_offset,
                getattr(p, "committed_leader_epoch", -1),
                p.committed_metadata,
            )
            for t in request.topics
            if t.name in readable
            for p in t.partitions
        ]
        expire = -1
        if 2 <= version <= 4:
            retention = _ms(request.retention_time)
            if retention >= 0:
                expire = services.clock.milliseconds() + retention
        group_error = ErrorCode.none if group_ok else ErrorCode.group_authorization_failed
        results: dict[tuple[str, int], ErrorCode] = {}
        if offsets:
            group_error, results = await coordinator(services).commit_offsets(
                request.group_id,
                request.member_id,
                getattr(request, "group_instance_id", None),
                request.generation_id_or_member_epoch,
                offsets,
                expire,
            )
        topics = tuple(
            rb(
                "OffsetCommitResponseTopic",
                name=t.name,
                partitions=tuple(
                    rb(
                        "OffsetCommitResponsePartition",
                        partition_index=p.partition_index,
                        error_code=(
                            ErrorCode.topic_authorization_failed
                            if group_ok and t.name not in readable
                            else group_error
                            if group_error != ErrorCode.none
                            else results.get((t.name, p.partition_index), ErrorCode.none)
                        ),
                    )
                    for p in t.partitions
                ),
            )
            for t in request.topics
        )
        return rb(None, throttle_time=NO_THROTTLE, topics=topics)

    def _partition(
        rb: ResponseBuilder, name: str, index: int, om: OffsetAndMetadata | None, error: ErrorCode
    ) -> Any:
        return rb(
            name,
            partition_index=index,
            committed_offset=om.offset if om is not None else -1,
            committed_leader_epoch=om.leader_epoch if om is not None else -1,
            metadata=om.metadata if om is not None else NO_METADATA,
            error_code=error,
        )

    async def fetch_group(
        ctx: RequestContext,
        rb: ResponseBuilder,
        group_id: str,
        topics: Any,
        member_id: str | None,
        member_epoch: int,
        part_cls: str,
        topic_cls: str,
        require_stable: bool = False,
    ) -> tuple[ErrorCode, tuple[Any, ...]]:
        auth = services.auth
        if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            return ErrorCode.group_authorization_failed, ()
        # Offsets of topics the principal may not describe are not shown.
        describable = auth.filter(
            ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t.name for t in topics or ())
        )
        wanted = (
            None
            if topics is None
            else [(t.name, p) for t in topics if t.name in describable for p in t.partition_indexes]
        )
        error, offsets = await coordinator(services).fetch_offsets(
            group_id, wanted, member_id, member_epoch
        )
        if error != ErrorCode.none:
            return error, ()
        visible: set[str] | None = None
        if topics is None and auth.enabled:
            visible = auth.filter(
                ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, {t for t, _ in offsets}, False
            )
        by_topic: dict[str, list[Any]] = {}
        coord = coordinator(services)
        for (topic, index), om in offsets.items():
            if visible is not None and topic not in visible:
                continue
            if require_stable and coord.has_pending_txn_offset(group_id, (topic, index)):
                # KIP-447: an open transaction holds an offset of this partition.
                by_topic.setdefault(topic, []).append(
                    _partition(rb, part_cls, index, None, ErrorCode.unstable_offset_commit)
                )
                continue
            by_topic.setdefault(topic, []).append(
                _partition(rb, part_cls, index, om, ErrorCode.none)
            )
        for t in topics or ():
            if t.name not in describable:
                by_topic.setdefault(t.name, []).extend(
                    _partition(rb, part_cls, p, None, ErrorCode.topic_authorization_failed)
                    for p in t.partition_indexes
                )
        return ErrorCode.none, tuple(
            rb(topic_cls, name=name, partitions=tuple(parts)) for name, parts in by_topic.items()
        )

    async def offset_fetch(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        if version == 0:
            return await fetch_v0(services, ctx, request)
        rb = ResponseBuilder(OFFSET_FETCH, version)
        if version >= 8:
            groups = []
            for g in request.groups:
                error, topics = await fetch_group(
                    ctx,
                    rb,
                    g.group_id,
                    g.topics,
                    getattr(g, "member_id", None),
                    getattr(g, "member_epoch", -1),
                    "OffsetFetchResponsePartitions",
                    "OffsetFetchResponseTopics",
                    bool(getattr(request, "require_stable", False)),
                )
                groups.append(
                    rb(
                        "OffsetFetchResponseGroup",
                        group_id=g.group_id,
                        topics=topics,
                        error_code=error,
                    )
                )
            return rb(None, throttle_time=NO_THROTTLE, groups=tuple(groups))
        error, topics = await fetch_group(
            ctx,
            rb,
            request.group_id,
            request.topics,
            None,
            -1,
            "OffsetFetchResponsePartition",
            "OffsetFetchResponseTopic",
            bool(getattr(request, "require_stable", False)),
        )
        if error != ErrorCode.none and version < 2:
            # v1 has no top-level error: report it on every requested partition.
            topics = tuple(
                rb(
                    "OffsetFetchResponseTopic",
                    name=t.name,
                    partitions=tuple(
                        _partition(rb, "OffsetFetchResponsePartition", p, None, error)
                        for p in t.partition_indexes
                    ),
                )
                for t in request.topics or ()
            )
        return rb(None, throttle_time=NO_THROTTLE, topics=topics, error_code=error)

    async def offset_delete(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(OFFSET_DELETE, ctx.api_version)
        auth = services.auth
        if not auth.authorize(ctx, AclOperation.DELETE, ResourceType.GROUP, request.group_id):
            return rb(
                None,
                error_code=ErrorCode.group_authorization_failed,
                throttle_time=NO_THROTTLE,
                topics=(),
            )
        readable = auth.filter(
            ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
        )
        wanted = [
            (t.name, p.partition_index)
            for t in request.topics
            if t.name in readable
            for p in t.partitions
        ]
        error, results = await coordinator(services).delete_offsets(request.group_id, wanted)
        results = dict(results)
        for t in request.topics:
            if t.name not in readable:
                for p in t.partitions:
                    results[(t.name, p.partition_index)] = ErrorCode.topic_authorization_failed
        topics: tuple[Any, ...] = ()
        if error == ErrorCode.none:
            topics = tuple(
                rb(
                    "OffsetDeleteResponseTopic",
                    name=t.name,
                    partitions=tuple(
                        rb(
                            "OffsetDeleteResponsePartition",
                            partition_index=p.partition_index,
                            error_code=results.get((t.name, p.partition_index), ErrorCode.none),
                        )
                        for p in t.partitions
                    ),
                )
                for t in request.topics
            )
        return rb(None, error_code=error, throttle_time=NO_THROTTLE, topics=topics)

    reg = services.registry
    reg.register(OFFSET_COMMIT, 0, 9, offset_commit)
    reg.register(OFFSET_FETCH, 0, 9, offset_fetch)
    reg.register(OFFSET_DELETE, 0, 0, offset_delete)
