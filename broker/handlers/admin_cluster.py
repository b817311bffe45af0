"""DescribeCluster (60) and DescribeLogDirs (35)."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import CLUSTER_NAME, AclOperation, ResourceType
from protocol.builders import AUTHORIZED_OPERATIONS_OMITTED, NO_THROTTLE, ResponseBuilder

DESCRIBE_CLUSTER, DESCRIBE_CLUSTER_MIN, DESCRIBE_CLUSTER_MAX = 60, 0, 1
DESCRIBE_LOG_DIRS, DESCRIBE_LOG_DIRS_MIN, DESCRIBE_LOG_DIRS_MAX = 35, 0, 4

ENDPOINT_BROKER, ENDPOINT_CONTROLLER = 1, 2

async def _describe_cluster(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    version = ctx.api_version
    rb = ResponseBuilder(DESCRIBE_CLUSTER, version)
    endpoint_type = int(getattr(request, "endpoint_type", ENDPOINT_BROKER))
    if endpoint_type not in (ENDPOINT_BROKER, ENDPOINT_CONTROLLER):
        code = ErrorCode.invalid_request if version == 0 else ErrorCode.unsupported_endpoint_type
        return _cluster_error(rb, code, f"Unsupported endpoint type {endpoint_type}")
    if endpoint_type != ENDPOINT_BROKER:
        code = ErrorCode.invalid_request if version == 0 else ErrorCode.mismatched_endpoint_type
        return _cluster_error(
            rb,
            code,
            "The request was sent to an endpoint of type BROKER, "
            "but we wanted an endpoint of type CONTROLLER",
        )
    metadata = services.metadata
    brokers = []
    for b in metadata.brokers():
        endpoint = next((e for e in b.endpoints if e.listener == ctx.connection.listener), None)
        if endpoint is None:
            continue
        brokers.append(
            rb(
                "DescribeClusterBroker",
                broker_id=b.broker_id,
                host=endpoint.host,
                port=endpoint.port,
                rack=b.rack,
            )
        )
    controller = metadata.controller_id
    if controller not in {b.broker_id for b in brokers}:
        controller = -1
    operations = AUTHORIZED_OPERATIONS_OMITTED
    if request.include_cluster_authorized_operations:
        auth = services.auth
        operations = (
            auth.operations(ctx, ResourceType.CLUSTER, CLUSTER_NAME)
            if auth.cluster(ctx, AclOperation.DESCRIBE)
            else 0
        )
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=ENDPOINT_BROKER,
        cluster_id=metadata.cluster_id,
        controller_id=controller,
        brokers=tuple(brokers),
        cluster_authorized_operations=operations,
    )


def _cluster_error(rb: ResponseBuilder, code: ErrorCode, message: str) -> Any:
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=code,
        error_message=message,
        endpoint_type=ENDPOINT_BROKER,
        cluster_id="",
        controller_id=-1,
        brokers=(),
        cluster_authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
    )


async def _describe_log_dirs(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(DESCRIBE_LOG_DIRS, ctx.api_version)
    if not services.auth.cluster(ctx, AclOperation.DESCRIBE):
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.cluster_authorization_failed,
            results=(),
        )
    wanted: set[tuple[str, int]] | None = None
    if request.topics is not None:
        wanted = {(t.topic, int(p)) for t in request.topics for p in t.partitions}
    results = []
    for info in services.log_manager.describe_log_dirs():
        by_topic: dict[str, list[Any]] = defaultdict(list)
        if info.error_code == ErrorCode.none:
            for p in sorted(info.partitions, key=lambda p: (p.topic, p.partition)):
                if wanted is not None and (p.topic, p.partition) not in wanted:
                    continue
                by_topic[p.topic].append(
                    rb(
                        "DescribeLogDirsPartition",
                        partition_index=p.partition,
                        partition_size=p.size,
                        offset_lag=p.offset_lag,
                        is_future_key=p.is_future,
                    )
                )
        topics = tuple(
            rb("DescribeLogDirsTopic", name=topic, partitions=tuple(parts))
            for topic, parts in by_topic.items()
        )
        results.append(
            rb(
                "DescribeLogDirsResult",
                error_code=info.error_code,
                log_dir=os.path.abspath(info.path),
                topics=topics,
                total_bytes=info.total_bytes,
                usable_bytes=info.usable_bytes,
            )
        )
    return rb(None, throttle_time=NO_THROTTLE, error_code=ErrorCode.none, results=tuple(results))


def register(services: BrokerServices) -> None:
    async def describe_cluster(ctx: RequestContext, request: Any) -> Any:
        return await _describe_cluster(services, ctx, request)

    async def describe_log_dirs(ctx: RequestContext, request: Any) -> Any:
        return await _describe_log_dirs(services, ctx, request)

    registry = services.registry
    registry.register(
        DESCRIBE_CLUSTER, DESCRIBE_CLUSTER_MIN, DESCRIBE_CLUSTER_MAX, describe_cluster
    )
    registry.register(
        DESCRIBE_LOG_DIRS, DESCRIBE_LOG_DIRS_MIN, DESCRIBE_LOG_DIRS_MAX, describe_log_dirs
    )
