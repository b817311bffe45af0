"""InitProducerId (key 22): producer ids for idempotent producers."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

API_KEY = 22
MIN_VERSION, MAX_VERSION = 0, 4


def register(services: BrokerServices) -> None:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        if request.transactional_id is not None:
            # The transaction coordinator arrives with the transactions issue.
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.transactional_id_authorization_failed,
                producer_id=-1,
                producer_epoch=-1,
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
