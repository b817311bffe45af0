"""What handlers call to authorize a request: Kafka's AuthHelper over the authorizer.

Without an authorizer (``authorizer.class.name`` empty) everything is allowed and the
authorized-operations bit sets list every operation the resource type supports, as
Kafka answers. With one, each check names the operation and the literal resource; the
principal and client address come from the request's connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from broker.network.context import RequestContext
from broker.security.authorizer import AclAuthorizer, audit, describe_decision
from cluster.acls import CLUSTER_NAME, SUPPORTED_OPERATIONS, AclOperation, ResourceType
from protocol.api_registry import api_name

__all__ = ["AclOperation", "RequestAuthorizer", "ResourceType"]


def operations_bitfield(operations: Iterable[AclOperation]) -> int:
    """Kafka's Utils.to32BitField: bit ``code`` set for each operation."""
    field = 0
    for op in operations:
        field |= 1 << int(op)
    return field


class RequestAuthorizer:
    """Authorization checks for request handlers; allows everything without an authorizer."""

    __slots__ = ("authorizer",)

    def __init__(self, authorizer: AclAuthorizer | None = None) -> None:
        self.authorizer = authorizer

    @property
    def enabled(self) -> bool:
        return self.authorizer is not None

    def authorize(
        self,
        ctx: RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
        log_if_denied: bool = True,
    ) -> bool:
        authz = self.authorizer
        if authz is None:
            return True
        conn = ctx.connection
        allowed = authz.authorize(conn.principal, conn.client_host, operation, resource_type, name)
        if not allowed and log_if_denied and audit.isEnabledFor(logging.INFO):
            audit.info(
                describe_decision(
                    conn.principal,
                    conn.client_host,
                    operation,
                    resource_type,
                    name,
                    False,
                    api_name(ctx.header.api_key),
                )
            )
        return allowed

    def cluster(self, ctx: RequestContext, operation: AclOperation) -> bool:
        """``operation`` on the cluster resource (``kafka-cluster``)."""
        return self.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)

    def filter(
        self,
        ctx: RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        names: Iterable[str],
        log_if_denied: bool = True,
    ) -> set[str]:
        """The names among ``names`` the request may do ``operation`` on."""
        unique = set(names)
        if self.authorizer is None:
            return unique
        return {
            n for n in unique if self.authorize(ctx, operation, resource_type, n, log_if_denied)
        }

    def by_resource_type(
        self, ctx: RequestContext, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        authz = self.authorizer
        if authz is None:
            return True
        conn = ctx.connection
        return authz.authorize_by_resource_type(
            conn.principal, conn.client_host, operation, resource_type
        )

    def operations(self, ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
        """The authorized-operations bit set of one resource (Metadata, DescribeGroups,
        DescribeCluster)."""
        supported = SUPPORTED_OPERATIONS[resource_type]
        if self.authorizer is None:
            return operations_bitfield(supported)
        return operations_bitfield(
            op for op in supported if self.authorize(ctx, op, resource_type, name, False)
        )
