"""FindCoordinator (key 10): which broker coordinates a group (v4+: many keys at once)."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.group.coordinator import OFFSETS_TOPIC, GroupCoordinator
from broker.network.context import RequestContext
from broker.services import BrokerServices
from broker.transaction.coordinator import TRANSACTION_STATE_TOPIC
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder

API_KEY = 10
MIN_VERSION, MAX_VERSION = 0, 6

KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1


def coordinator(services: BrokerServices) -> GroupCoordinator:
    coord = services.group_coordinator
    assert isinstance(coord, GroupCoordinator)
    return coord


def register(services: BrokerServices) -> None:
    async def find(
        ctx: RequestContext, key: str, key_type: int
    ) -> tuple[ErrorCode, str | None, int, str, int]:
        """(error, message, node id, host, port) for one key."""
        auth = services.auth
        if key_type == KEY_TYPE_TRANSACTION:
            if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
                return ErrorCode.transactional_id_authorization_failed, None, -1, "", -1
            txn = services.transaction_coordinator
            if not await txn.ensure_topic():
                return ErrorCode.coordinator_not_available, None, -1, "", -1
            return locate(ctx, TRANSACTION_STATE_TOPIC, txn.partition_for(key))
        if key_type != KEY_TYPE_GROUP:
            return ErrorCode.invalid_request, f"Unknown key type {key_type}", -1, "", -1
        if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, key):
            return ErrorCode.group_authorization_failed, None, -1, "", -1
        coord = coordinator(services)
        if not await coord.ensure_topic():
            return ErrorCode.coordinator_not_available, None, -1, "", -1
        return locate(ctx, OFFSETS_TOPIC, coord.partition_for(key))

    def locate(
        ctx: RequestContext, internal_topic: str, index: int
    ) -> tuple[ErrorCode, str | None, int, str, int]:
        """The leader of the coordinator's partition, on the listener the client used."""
        topic = services.metadata.topic(internal_topic)
        if topic is None:
            return ErrorCode.coordinator_not_available, None, -1, "", -1
        state = topic.partitions.get(index)
        if state is None or state.leader < 0:
            return ErrorCode.coordinator_not_available, None, -1, "", -1
        reg = services.registration(state.leader)
        if reg is None:
            return ErrorCode.coordinator_not_available, None, -1, "", -1
        endpoint = next((e for e in reg.endpoints if e.listener == ctx.connection.listener), None)
        if endpoint is None:
            return ErrorCode.coordinator_not_available, None, -1, "", -1
        return ErrorCode.none, None, reg.broker_id, endpoint.host, endpoint.port

    async def handle(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        if ctx.api_version >= 4:
            coordinators = []
            for key in request.coordinator_keys:
                error, message, node, host, port = await find(ctx, key, request.key_type)
                coordinators.append(
                    rb(
                        "Coordinator",
                        key=key,
                        node_id=node,
                        host=host,
                        port=port,
                        error_code=error,
                        error_message=message,
                    )
                )
            return rb(None, throttle_time=NO_THROTTLE, coordinators=tuple(coordinators))
        key_type = request.key_type if ctx.api_version >= 1 else KEY_TYPE_GROUP
        error, message, node, host, port = await find(ctx, request.key, key_type)
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=error,
            error_message=message,
            node_id=node,
            host=host,
            port=port,
        )

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)
