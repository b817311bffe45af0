"""DescribeClientQuotas (48) and AlterClientQuotas (49), as Kafka's KafkaApis serves them:
DESCRIBE_CONFIGS / ALTER_CONFIGS on the cluster, entity configs in the metadata store
(the standalone document or ZooKeeper's ``/config/users`` and ``/config/clients``)."""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.quota import admin
from broker.quota.entities import EntityConfigSource
from broker.services import BrokerServices
from cluster.acls import AclOperation
from protocol.builders import NO_THROTTLE, ResponseBuilder

DESCRIBE_CLIENT_QUOTAS, ALTER_CLIENT_QUOTAS = 48, 49
MIN_VERSION, MAX_VERSION = 0, 1
_AUTHZ_FAILED = "Cluster authorization failed."

log = logging.getLogger(__name__)


def _source(services: BrokerServices) -> EntityConfigSource:
    return services.metadata  # type: ignore[return-value]


def register(services: BrokerServices) -> None:
    async def describe(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DESCRIBE_CLIENT_QUOTAS, ctx.api_version)

        def failed(code: ErrorCode, message: str) -> Any:
            return rb(
                None, throttle_time=NO_THROTTLE, error_code=code, error_message=message,
                entries=None,
            )  # fmt: skip

        if not services.auth.cluster(ctx, AclOperation.DESCRIBE_CONFIGS):
            return failed(ErrorCode.cluster_authorization_failed, _AUTHZ_FAILED)
        components = [
            admin.FilterComponent(c.entity_type, int(c.match_type), c.match)
            for c in request.components
        ]
        try:
            found = admin.describe(_source(services), components, bool(request.strict))
        except admin.QuotaRequestError as exc:
            return failed(ErrorCode(exc.error_code), str(exc))
        entries = tuple(
            rb(
                "EntryData",
                entity=tuple(
                    rb("EntityData", entity_type=t, entity_name=n) for t, n in entity.entries()
                ),
                values=tuple(
                    rb("ValueData", key=k, value=v) for k, v in sorted(values.items())
                ),
            )
            for entity, values in found
        )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.none,
            error_message=None,
            entries=entries,
        )

    async def alter(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(ALTER_CLIENT_QUOTAS, ctx.api_version)
        allowed = services.auth.cluster(ctx, AclOperation.ALTER_CONFIGS)
        out = []
        for entry in request.entries:
            pairs = [(e.entity_type, e.entity_name) for e in entry.entity]
            code, message = ErrorCode.none, None
            if not allowed:
                code, message = ErrorCode.cluster_authorization_failed, _AUTHZ_FAILED
            else:
                try:
                    entity = admin.parse_entity(pairs)
                    ops = [
                        admin.QuotaOp(o.key, None if o.remove else float(o.value))
                        for o in entry.ops
                    ]
                    await admin.alter(_source(services), entity, ops, bool(request.validate_only))
                    if not request.validate_only:
                        log.info("client quotas of %s: %s", entity.describe(),
                                 ", ".join(f"{o.key}={o.value}" for o in ops))
                except admin.QuotaRequestError as exc:
                    code, message = ErrorCode(exc.error_code), str(exc)
                except Exception as exc:
                    log.exception("AlterClientQuotas failed for %s", pairs)
                    code, message = ErrorCode.unknown_server_error, str(exc) or type(exc).__name__
            out.append(
                rb(
                    "EntryData",
                    error_code=code,
                    error_message=message,
                    entity=tuple(
                        rb("EntityData", entity_type=t, entity_name=n) for t, n in pairs
                    ),
                )
            )
        return rb(None, throttle_time=NO_THROTTLE, entries=tuple(out))

    registry = services.registry
    registry.register(DESCRIBE_CLIENT_QUOTAS, MIN_VERSION, MAX_VERSION, describe)
    registry.register(ALTER_CLIENT_QUOTAS, MIN_VERSION, MAX_VERSION, alter)
