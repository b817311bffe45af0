"""Group administration: DescribeGroups (15), ListGroups (16), DeleteGroups (42)."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.runtime import PartitionStatus
from broker.group.classic_group import ClassicGroup, GroupState
from broker.handlers.group_coordinator import coordinator
from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import AUTHORIZED_OPERATIONS_OMITTED, NO_THROTTLE, ResponseBuilder

DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS = 15, 16, 42


def register(services: BrokerServices) -> None:
    async def describe_groups(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DESCRIBE_GROUPS, ctx.api_version)
        coord = coordinator(services)
        include_ops = getattr(request, "include_authorized_operations", False)
        auth = services.auth
        described = []
        for group_id in request.groups:
            if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
                described.append(
                    rb(
                        "DescribedGroup",
                        error_code=ErrorCode.group_authorization_failed,
                        group_id=group_id,
                        group_state="",
                        protocol_type="",
                        protocol_data="",
                        members=(),
                        authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
                    )
                )
                continue
            ops = (
                auth.operations(ctx, ResourceType.GROUP, group_id)
                if include_ops
                else AUTHORIZED_OPERATIONS_OMITTED
            )
            error = await coord.check_group(group_id) if group_id else ErrorCode.invalid_group_id
            group = coord.groups.get(group_id) if error == ErrorCode.none else None
            if error != ErrorCode.none or group is None:
                described.append(
                    rb(
                        "DescribedGroup",
                        error_code=error,
                        group_id=group_id,
                        group_state="Dead" if error == ErrorCode.none else "",
                        protocol_type="",
                        protocol_data="",
                        members=(),
                        authorized_operations=ops,
                    )
                )
                continue
            members = []
            protocol_data = ""
            if isinstance(group, ClassicGroup):
                stable = group.is_in(GroupState.STABLE)
                protocol_data = (group.protocol_name or "") if stable else ""
                for m in group.members.values():
                    members.append(
                        rb(
                            "DescribedGroupMember",
                            member_id=m.member_id,
                            group_instance_id=m.group_instance_id,
                            client_id=m.client_id,
                            client_host=m.client_host,
                            member_metadata=m.metadata(protocol_data) if stable else b"",
                            member_assignment=m.assignment if stable else b"",
                        )
                    )
            described.append(
                rb(
                    "DescribedGroup",
                    error_code=ErrorCode.none,
                    group_id=group_id,
                    group_state=group.state_name,
                    protocol_type=group.protocol_type or "",
                    protocol_data=protocol_data,
                    members=tuple(members),
                    authorized_operations=ops,
                )
            )
        return rb(None, throttle_time=NO_THROTTLE, groups=tuple(described))

    async def list_groups(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(LIST_GROUPS, ctx.api_version)
        coord = coordinator(services)
        states = {s.lower() for s in getattr(request, "states_filter", ())}
        types = {t.lower() for t in getattr(request, "types_filter", ())}
        error = ErrorCode.none
        if any(s is PartitionStatus.LOADING for s in coord.partitions.values()):
            error = ErrorCode.coordinator_load_in_progress
        auth = services.auth
        # DESCRIBE on the cluster lists every group; otherwise those the principal describes.
        all_groups = auth.cluster(ctx, AclOperation.DESCRIBE)
        listed = []
        for group_id, group in sorted(coord.groups.items()):
            if coord.check_group_id(group_id) != ErrorCode.none:
                continue
            if not all_groups and not auth.authorize(
                ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id, False
            ):
                continue
            if states and group.state_name.lower() not in states:
                continue
            if types and group.group_type.lower() not in types:
                continue
            listed.append(
                rb(
                    "ListedGroup",
                    group_id=group_id,
                    protocol_type=group.protocol_type or "",
                    group_state=group.state_name,
                    group_type=group.group_type,
                )
            )
        return rb(None, throttle_time=NO_THROTTLE, error_code=error, groups=tuple(listed))

    async def delete_groups(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DELETE_GROUPS, ctx.api_version)
        deletable = services.auth.filter(
            ctx, AclOperation.DELETE, ResourceType.GROUP, request.groups_names
        )
        results = dict(
            await coordinator(services).delete_groups(
                [g for g in request.groups_names if g in deletable]
            )
        )
        for g in request.groups_names:
            if g not in deletable:
                results[g] = ErrorCode.group_authorization_failed
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            results=tuple(
                rb("DeletableGroupResult", group_id=g, error_code=results[g])
                for g in request.groups_names
            ),
        )

    reg = services.registry
    reg.register(DESCRIBE_GROUPS, 0, 5, describe_groups)
    reg.register(LIST_GROUPS, 0, 5, list_groups)
    reg.register(DELETE_GROUPS, 0, 2, delete_groups)
