"""DescribeAcls (29), CreateAcls (30) and DeleteAcls (31): Kafka's AclApis.

DescribeAcls needs DESCRIBE on the cluster, CreateAcls and DeleteAcls need ALTER
(CLUSTER_AUTHORIZATION_FAILED otherwise). Without an authorizer they answer
SECURITY_DISABLED. Filters and bindings naming an UNKNOWN code (or a filter-only value
such as ANY in an ACL to create) get INVALID_REQUEST: Kafka cannot even parse such a
request and closes the connection; answering keeps clients informed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from cluster.acls import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    acl_filter,
    from_code,
)
from protocol.builders import NO_THROTTLE, ResponseBuilder

DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
MIN_VERSION, MAX_VERSION = 0, 3
# PatternType.LITERAL: the only pattern type of the v0 requests.
LITERAL = int(PatternType.LITERAL)
_NO_AUTHORIZER = "No Authorizer is configured on the broker"
_AUTHZ_FAILED = "Cluster authorization failed."

log = logging.getLogger(__name__)


def _error(code: int) -> ErrorCode:
    return ErrorCode(code)


def _filter_of(f: Any, kind: str) -> tuple[AclBindingFilter, str | None]:
    """(filter, why it is invalid or None)."""
    binding_filter = acl_filter(
        int(f.resource_type_filter),
        f.resource_name_filter,
        int(getattr(f, "pattern_type_filter", LITERAL)),  # v1+; v0 filters literal names
        f.principal_filter,
        f.host_filter,
        int(f.operation),
        int(f.permission_type),
    )
    unknown = binding_filter.unknown_element()
    if unknown is not None:
        return binding_filter, f"{kind} contains an UNKNOWN {unknown}"
    return binding_filter, None


def _binding_of(c: Any) -> AclBinding:
    return AclBinding(
        ResourcePattern(
            from_code(ResourceType, int(c.resource_type)),
            c.resource_name,
            from_code(PatternType, int(getattr(c, "resource_pattern_type", LITERAL))),  # v1+
        ),
        AccessControlEntry(
            c.principal,
            c.host,
            from_code(AclOperation, int(c.operation)),
            from_code(AclPermissionType, int(c.permission_type)),
        ),
    )


def register(services: BrokerServices) -> None:
    async def describe_acls(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DESCRIBE_ACLS, ctx.api_version)

        def failed(code: ErrorCode, message: str) -> Any:
            return rb(
                None, throttle_time=NO_THROTTLE, error_code=code, error_message=message,
                resources=(),
            )  # fmt: skip

        auth = services.auth
        if not auth.cluster(ctx, AclOperation.DESCRIBE):
            return failed(ErrorCode.cluster_authorization_failed, _AUTHZ_FAILED)
        if auth.authorizer is None:
            return failed(ErrorCode.security_disabled, _NO_AUTHORIZER)
        binding_filter, invalid = _filter_of(request, "DescribeAclsRequest")
        if invalid is not None:
            return failed(ErrorCode.invalid_request, invalid)
        by_pattern: dict[ResourcePattern, list[AccessControlEntry]] = defaultdict(list)
        for binding in auth.authorizer.acls(binding_filter):
            by_pattern[binding.pattern].append(binding.entry)
        resources = tuple(
            rb(
                "DescribeAclsResource",
                resource_type=int(pattern.resource_type),
                resource_name=pattern.name,
                pattern_type=int(pattern.pattern_type),
                acls=tuple(
                    rb(
                        "AclDescription",
                        principal=e.principal,
                        host=e.host,
                        operation=int(e.operation),
                        permission_type=int(e.permission_type),
                    )
                    for e in entries
                ),
            )
            for pattern, entries in sorted(by_pattern.items())
        )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.none,
            error_message=None,
            resources=resources,
        )

    async def create_acls(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(CREATE_ACLS, ctx.api_version)

        def results(outcomes: list[tuple[ErrorCode, str | None]]) -> Any:
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                results=tuple(
                    rb("AclCreationResult", error_code=code, error_message=message)
                    for code, message in outcomes
                ),
            )

        auth = services.auth
        count = len(request.creations)
        if not auth.cluster(ctx, AclOperation.ALTER):
            return results([(ErrorCode.cluster_authorization_failed, _AUTHZ_FAILED)] * count)
        if auth.authorizer is None:
            return results([(ErrorCode.security_disabled, _NO_AUTHORIZER)] * count)
        bindings = [_binding_of(c) for c in request.creations]
        errors = await auth.authorizer.create_acls(bindings)
        return results(
            [
                (ErrorCode.none, None) if e is None else (_error(e.error_code), e.message)
                for e in errors
            ]
        )

    async def delete_acls(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DELETE_ACLS, ctx.api_version)

        def filter_result(code: ErrorCode, message: str | None, matching: tuple[Any, ...]) -> Any:
            return rb(
                "DeleteAclsFilterResult",
                error_code=code,
                error_message=message,
                matching_acls=matching,
            )

        def respond(filter_results: list[Any]) -> Any:
            return rb(None, throttle_time=NO_THROTTLE, filter_results=tuple(filter_results))

        auth = services.auth
        count = len(request.filters)
        if not auth.cluster(ctx, AclOperation.ALTER):
            failed = filter_result(ErrorCode.cluster_authorization_failed, _AUTHZ_FAILED, ())
            return respond([failed] * count)
        if auth.authorizer is None:
            return respond([filter_result(ErrorCode.security_disabled, _NO_AUTHORIZER, ())] * count)
        parsed = [_filter_of(f, "DeleteAclsFilter") for f in request.filters]
        valid = [(i, f) for i, (f, invalid) in enumerate(parsed) if invalid is None]
        deleted = await auth.authorizer.delete_acls([f for _, f in valid])
        by_index = {i: deleted[n] for n, (i, _) in enumerate(valid)}
        out = []
        for i, (_f, invalid) in enumerate(parsed):
            if invalid is not None:
                out.append(filter_result(ErrorCode.invalid_request, invalid, ()))
                continue
            matching = tuple(
                rb(
                    "DeleteAclsMatchingAcl",
                    error_code=ErrorCode.none if err is None else _error(err.error_code),
                    error_message=None if err is None else err.message,
                    resource_type=int(b.pattern.resource_type),
                    resource_name=b.pattern.name,
                    pattern_type=int(b.pattern.pattern_type),
                    principal=b.entry.principal,
                    host=b.entry.host,
                    operation=int(b.entry.operation),
                    permission_type=int(b.entry.permission_type),
                )
                for b, err in by_index[i]
            )
            out.append(filter_result(ErrorCode.none, None, matching))
        return respond(out)

    registry = services.registry
    registry.register(DESCRIBE_ACLS, MIN_VERSION, MAX_VERSION, describe_acls)
    registry.register(CREATE_ACLS, MIN_VERSION, MAX_VERSION, create_acls)
    registry.register(DELETE_ACLS, MIN_VERSION, MAX_VERSION, delete_acls)
