"""Classic group membership: JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13)."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.group.classic_protocol import JoinRequest, SyncRequest
from broker.handlers.group_coordinator import coordinator
from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder

JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP = 11, 14, 12, 13


def _ms(value: Any) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return int(value)


def register(services: BrokerServices) -> None:
    def denied(ctx: RequestContext, group_id: str) -> bool:
        return not services.auth.authorize(ctx, AclOperation.READ, ResourceType.GROUP, group_id)

    async def join_group(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        rb = ResponseBuilder(JOIN_GROUP, version)
        if denied(ctx, request.group_id):
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.group_authorization_failed,
                generation_id=-1,
                protocol_type=None,
                protocol_name=None if version >= 7 else "",
                leader="",
                skip_assignment=False,
                member_id="",
                members=(),
            )
        session = _ms(request.session_timeout)
        rebalance = _ms(request.rebalance_timeout) if version >= 1 else session
        req = JoinRequest(
            group_id=request.group_id,
            member_id=request.member_id,
            group_instance_id=getattr(request, "group_instance_id", None),
            protocol_type=request.protocol_type,
            protocols=[(p.name, p.metadata) for p in request.protocols],
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            client_id=ctx.client_id,
            client_host="/" + ctx.connection.client_host,
            api_version=version,
            reason=getattr(request, "reason", None),
        )
        result = await coordinator(services).classic.join(req)
        ctx.times.remote_ns += result.parked_ns
        members = tuple(
            rb("JoinGroupResponseMember", member_id=mid, group_instance_id=iid, metadata=meta)
            for mid, iid, meta in result.members
        )
        protocol_name = result.protocol_name
        if version < 7 and protocol_name is None:
            protocol_name = ""
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=result.error,
            generation_id=result.generation_id,
            protocol_type=result.protocol_type,
            protocol_name=protocol_name,
            leader=result.leader,
            skip_assignment=result.skip_assignment,
            member_id=result.member_id,
            members=members,
        )

    async def sync_group(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(SYNC_GROUP, ctx.api_version)
        if denied(ctx, request.group_id):
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.group_authorization_failed,
                protocol_type=None,
                protocol_name=None,
                assignment=b"",
            )
        req = SyncRequest(
            group_id=request.group_id,
            generation_id=request.generation_id,
            member_id=request.member_id,
            group_instance_id=getattr(request, "group_instance_id", None),
            protocol_type=getattr(request, "protocol_type", None),
            protocol_name=getattr(request, "protocol_name", None),
            assignments={a.member_id: a.assignment for a in request.assignments},
        )
        result = await coordinator(services).classic.sync(req)
        ctx.times.remote_ns += result.parked_ns
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=result.error,
            protocol_type=result.protocol_type if result.error == ErrorCode.none else None,
            protocol_name=result.protocol_name if result.error == ErrorCode.none else None,
            assignment=result.assignment,
        )

    async def heartbeat(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(HEARTBEAT, ctx.api_version)
        if denied(ctx, request.group_id):
            error = ErrorCode.group_authorization_failed
            return rb(None, throttle_time=NO_THROTTLE, error_code=error)
        error = await coordinator(services).classic.heartbeat(
            request.group_id,
            request.generation_id,
            request.member_id,
            getattr(request, "group_instance_id", None),
        )
        return rb(None, throttle_time=NO_THROTTLE, error_code=error)

    async def leave_group(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        rb = ResponseBuilder(LEAVE_GROUP, version)
        if denied(ctx, request.group_id):
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.group_authorization_failed,
                members=(),
            )
        if version >= 3:
            members = [(m.member_id, m.group_instance_id) for m in request.members]
        else:
            members = [(request.member_id, None)]
        error, results = await coordinator(services).classic.leave(request.group_id, members)
        if version < 3:
            if error == ErrorCode.none and results:
                error = results[0][2]
            return rb(None, throttle_time=NO_THROTTLE, error_code=error)
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=error,
            members=tuple(
                rb("MemberResponse", member_id=mid, group_instance_id=iid, error_code=err)
                for mid, iid, err in results
            ),
        )

    reg = services.registry
    reg.register(JOIN_GROUP, 0, 9, join_group)
    reg.register(SYNC_GROUP, 0, 5, sync_group)
    reg.register(HEARTBEAT, 0, 4, heartbeat)
    reg.register(LEAVE_GROUP, 0, 5, leave_group)
