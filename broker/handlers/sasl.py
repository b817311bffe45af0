"""SASL APIs seen by dispatch, and SCRAM credential administration.

SaslHandshake (17) and SaslAuthenticate (36) are served by the connection's
authenticator (broker.security.authenticator) on SASL listeners until the client
is authenticated; one that reaches dispatch (a PLAINTEXT or SSL listener, or an
authenticated connection without re-authentication) gets ILLEGAL_SASL_STATE, as
from Kafka's KafkaApis.

DescribeUserScramCredentials (50) and AlterUserScramCredentials (51) follow
Kafka's validation and error codes (ZkAdminManager).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.security.scram import MAX_ITERATIONS, MECHANISMS_BY_TYPE, ScramCredential
from broker.services import BrokerServices
from cluster.acls import AclOperation
from protocol.builders import NO_THROTTLE, ResponseBuilder

SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
DESCRIBE_SCRAM, ALTER_SCRAM = 50, 51

_EMPTY_USER = "Username must not be empty"
_UNKNOWN_MECHANISM = "Unknown SCRAM mechanism"


def register(services: BrokerServices) -> None:
    async def handshake(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(SASL_HANDSHAKE, ctx.api_version)
        return rb(None, error_code=ErrorCode.illegal_sasl_state, mechanisms=())

    async def authenticate(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(SASL_AUTHENTICATE, ctx.api_version)
        return rb(
            None,
            error_code=ErrorCode.illegal_sasl_state,
            error_message="SaslAuthenticate request received after successful authentication",
            auth_bytes=b"",
        )

    async def describe(ctx: RequestContext, request: Any) -> Any:
        if not services.auth.cluster(ctx, AclOperation.DESCRIBE):
            rb = ResponseBuilder(DESCRIBE_SCRAM, ctx.api_version)
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.cluster_authorization_failed,
                error_message="Cluster authorization failed.",
                results=(),
            )
        return _describe(services, ctx, request)

    async def alter(ctx: RequestContext, request: Any) -> Any:
        if not services.auth.cluster(ctx, AclOperation.ALTER):
            rb = ResponseBuilder(ALTER_SCRAM, ctx.api_version)
            users = dict.fromkeys(c.name for c in (*request.upsertions, *request.deletions))
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                results=tuple(
                    rb(
                        "AlterUserScramCredentialsResult",
                        user=name,
                        error_code=ErrorCode.cluster_authorization_failed,
                        error_message="Cluster authorization failed.",
                    )
                    for name in users
                ),
            )
        return await _alter(services, ctx, request)

    services.registry.register(SASL_HANDSHAKE, 0, 1, handshake)
    services.registry.register(SASL_AUTHENTICATE, 0, 2, authenticate)
    services.registry.register(DESCRIBE_SCRAM, 0, 0, describe)
    services.registry.register(ALTER_SCRAM, 0, 0, alter)


def _describe(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(DESCRIBE_SCRAM, ctx.api_version)
    known = services.scram_credentials.users()

    def result(user: str, code: ErrorCode = ErrorCode.none, message: str | None = None) -> Any:
        infos = ()
        if code is ErrorCode.none:
            infos = tuple(
                rb("CredentialInfo", mechanism=m.type, iterations=known[user][m.name].iterations)
                for m in MECHANISMS_BY_TYPE.values()
                if m.name in known[user]
            )
        return rb(
            "DescribeUserScramCredentialsResult",
            user=user,
            error_code=code,
            error_message=message,
            credential_infos=infos,
        )

    names = [u.name for u in request.users] if request.users else []
    results = []
    if not names:
        results = [result(user) for user in sorted(known)]
    else:
        counts = Counter(names)
        for name in dict.fromkeys(names):
            if not name:
                results.append(result(name, ErrorCode.resource_not_found, _EMPTY_USER))
            elif counts[name] > 1:
                results.append(
                    result(
                        name,
                        ErrorCode.duplicate_resource,
                        "Cannot describe SCRAM credentials for the same user twice in a "
                        f"single request: {name}",
                    )
                )
            elif name not in known:
                results.append(
                    result(
                        name,
                        ErrorCode.resource_not_found,
                        f"Attempt to describe a user credential that does not exist: {name}",
                    )
                )
            else:
                results.append(result(name))
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        results=tuple(results),
    )


async def _alter(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(ALTER_SCRAM, ctx.api_version)
    errors: dict[str, tuple[ErrorCode, str]] = {}
    for d in request.deletions:
        if not d.name:
            errors[d.name] = (ErrorCode.unacceptable_credential, _EMPTY_USER)
        elif int(d.mechanism) not in MECHANISMS_BY_TYPE:
            errors[d.name] = (ErrorCode.unsupported_sasl_mechanism, _UNKNOWN_MECHANISM)
    for u in request.upsertions:
        mechanism = MECHANISMS_BY_TYPE.get(int(u.mechanism))
        if not u.name:
            errors[u.name] = (ErrorCode.unacceptable_credential, _EMPTY_USER)
        elif mechanism is None:
            errors[u.name] = (ErrorCode.unsupported_sasl_mechanism, _UNKNOWN_MECHANISM)
        elif u.iterations > MAX_ITERATIONS:
            errors[u.name] = (ErrorCode.unacceptable_credential, "Too many iterations")
        elif u.iterations < mechanism.min_iterations:
            errors[u.name] = (ErrorCode.unacceptable_credential, "Too few iterations")
    pairs = Counter(
        (c.name, int(c.mechanism))
        for c in (*request.upsertions, *request.deletions)
        if c.name not in errors
    )
    for (name, _mechanism), count in pairs.items():
        if count > 1:
            errors[name] = (
                ErrorCode.duplicate_resource,
                "A user credential cannot be altered twice in the same request",
            )
    known = services.scram_credentials.users()
    for d in request.deletions:
        if d.name in errors:
            continue
        if MECHANISMS_BY_TYPE[int(d.mechanism)].name not in known.get(d.name, {}):
            errors[d.name] = (
                ErrorCode.resource_not_found,
                "Attempt to delete a user credential that does not exist",
            )
    changes: dict[str, tuple[dict[str, ScramCredential], set[str]]] = {}
    for d in request.deletions:
        if d.name not in errors:
            mechanism_name = MECHANISMS_BY_TYPE[int(d.mechanism)].name
            changes.setdefault(d.name, ({}, set()))[1].add(mechanism_name)
    for u in request.upsertions:
        if u.name not in errors:
            mechanism = MECHANISMS_BY_TYPE[int(u.mechanism)]
            # The client sends the salted password; only StoredKey and ServerKey are kept.
            credential = mechanism.credential(bytes(u.salt), bytes(u.salted_password), u.iterations)
            changes.setdefault(u.name, ({}, set()))[0][mechanism.name] = credential
    results = [
        rb("AlterUserScramCredentialsResult", user=name, error_code=code, error_message=message)
        for name, (code, message) in errors.items()
    ]
    for name, (upserts, deletes) in changes.items():
        await services.scram_credentials.alter(name, upserts, deletes)
        results.append(
            rb(
                "AlterUserScramCredentialsResult",
                user=name,
                error_code=ErrorCode.none,
                error_message=None,
            )
        )
    return rb(None, throttle_time=NO_THROTTLE, results=tuple(results))
