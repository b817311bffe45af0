"""ConsumerGroupDescribe (key 69) v0: members, current and target assignments of KIP-848 groups."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.group.consumer_group import ConsumerGroup
from broker.group.consumer_group_records import Partitions
from broker.handlers.consumer_group_heartbeat import consumer_protocol
from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import AUTHORIZED_OPERATIONS_OMITTED, NO_THROTTLE, ResponseBuilder

API_KEY = 69
MIN_VERSION, MAX_VERSION = 0, 0


def register(services: BrokerServices) -> None:
    async def handle(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        protocol = consumer_protocol(services)

        topics = protocol.topics if protocol is not None else None

        def assignment(partitions: Partitions) -> Any:
            return rb(
                "Assignment",
                topic_partitions=tuple(
                    rb(
                        "TopicPartitions",
                        topic_id=topic_id,
                        topic_name=topics.name_of(topic_id) or "" if topics else "",
                        partitions=tuple(sorted(parts)),
                    )
                    for topic_id, parts in sorted(partitions.items())
                ),
            )

        def failed(group_id: str, code: ErrorCode, message: str | None = None) -> Any:
            return rb(
                "DescribedGroup",
                error_code=code,
                error_message=message,
                group_id=group_id,
                group_state="",
                group_epoch=0,
                assignment_epoch=0,
                assignor_name="",
                members=(),
            )

        groups = []
        auth = services.auth
        include_ops = bool(getattr(request, "include_authorized_operations", False))
        for group_id in request.group_ids:
            if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
                groups.append(failed(group_id, ErrorCode.group_authorization_failed))
                continue
            if protocol is None:
                groups.append(failed(group_id, ErrorCode.coordinator_not_available))
                continue
            coordinator = protocol.coordinator
            if not group_id:
                groups.append(failed(group_id, ErrorCode.invalid_group_id))
                continue
            error = await coordinator.check_group(group_id)
            if error != ErrorCode.none:
                groups.append(failed(group_id, error))
                continue
            group = coordinator.groups.get(group_id)
            if group is None:
                groups.append(
                    failed(group_id, ErrorCode.group_id_not_found, f"Group {group_id} not found.")
                )
                continue
            if not isinstance(group, ConsumerGroup):
                groups.append(
                    failed(
                        group_id,
                        ErrorCode.group_id_not_found,
                        f"Group {group_id} is not a consumer group.",
                    )
                )
                continue
            members = tuple(
                rb(
                    "Member",
                    member_id=m.member_id,
                    instance_id=m.instance_id,
                    rack_id=m.rack_id,
                    member_epoch=m.member_epoch,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    subscribed_topic_names=m.subscribed_topic_names,
                    subscribed_topic_regex=m.subscribed_topic_regex,
                    assignment=assignment(m.assigned_partitions),
                    target_assignment=assignment(group.target_assignment.get(m.member_id, {})),
                )
                for m in group.members.values()
            )
            groups.append(
                rb(
                    "DescribedGroup",
                    error_code=ErrorCode.none,
                    group_id=group_id,
                    group_state=group.state_name,
                    group_epoch=group.group_epoch,
                    assignment_epoch=group.assignment_epoch,
                    assignor_name=group.preferred_assignor(),
                    members=members,
                    authorized_operations=(
                        auth.operations(ctx, ResourceType.GROUP, group_id)
                        if include_ops
                        else AUTHORIZED_OPERATIONS_OMITTED
                    ),
                )
            )
        return rb(None, throttle_time=NO_THROTTLE, groups=tuple(groups))

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)
