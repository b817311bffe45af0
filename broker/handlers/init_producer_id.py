"""InitProducerId (key 22): producer ids for idempotent producers."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.handlers.transactions import fenced_for
from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import CLUSTER_NAME, AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

API_KEY = 22
MIN_VERSION, MAX_VERSION = 0, 5


def register(services: BrokerServices) -> None:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        auth = services.auth
        denied = None
        if request.transactional_id is not None:
            if not auth.authorize(
                ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id
            ):
                denied = ErrorCode.transactional_id_authorization_failed
        elif not auth.authorize(
            ctx, AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME, False
        ) and not auth.by_resource_type(ctx, AclOperation.WRITE, ResourceType.TOPIC):
            # Idempotence needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
            denied = ErrorCode.cluster_authorization_failed
        if denied is not None:
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=denied,
                producer_id=-1,
                producer_epoch=-1,
            )
        if request.transactional_id is not None:
            error, pid, epoch = await services.transaction_coordinator.init_producer_id(
                request.transactional_id,
                int(request.transaction_timeout.total_seconds() * 1000),
                int(getattr(request, "producer_id", -1)),
                int(getattr(request, "producer_epoch", -1)),
            )
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=fenced_for(ctx.api_version, 4, error),
                producer_id=pid,
                producer_epoch=epoch,
            )
        # Kafka hands an idempotent producer a fresh id (epoch 0) on every call,
        # whatever id/epoch it sends (v3+), and v0-v2 carry none.
        try:
            producer_id = await services.producer_ids.generate()
        except KafkaError as exc:
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=exc.error_code,
                producer_id=-1,
                producer_epoch=-1,
            )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.none,
            producer_id=producer_id,
            producer_epoch=0,
        )

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)
