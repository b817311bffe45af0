"""CreateTopics (19), DeleteTopics (20) and CreatePartitions (37).

Josef applies topic changes synchronously (the metadata store has persisted
them when the call returns), so a successful create or delete is answered
with NONE whatever the request's timeout; Kafka's ZooKeeper mode would answer
a zero timeout with REQUEST_TIMED_OUT while the change is still in flight.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import Counter
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.partition_limits import RequestPartitionCap
from broker.services import BrokerServices
from broker.topic_manager import TopicSpec
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

CREATE_TOPICS, CREATE_TOPICS_MIN, CREATE_TOPICS_MAX = 19, 0, 7
DELETE_TOPICS, DELETE_TOPICS_MIN, DELETE_TOPICS_MAX = 20, 0, 6
CREATE_PARTITIONS, CREATE_PARTITIONS_MIN, CREATE_PARTITIONS_MAX = 37, 0, 3

NULL_UUID = uuid.UUID(int=0)

log = logging.getLogger(__name__)


def error_of(exc: Exception, what: str) -> tuple[ErrorCode, str | None]:
    """The (error code, message) a response carries for ``exc``."""
    if isinstance(exc, KafkaError):
        return exc.error_code, str(exc) or None
    log.exception("unexpected error while processing %s", what)
    return ErrorCode.unknown_server_error, str(exc) or type(exc).__name__


# --- CreateTopics ---------------------------------------------------------------------


async def _create_one(
    services: BrokerServices,
    rb: ResponseBuilder,
    topic: Any,
    validate_only: bool,
    wait_ms: int,
    cap: RequestPartitionCap,
) -> Any:
    name = topic.name
    try:
        null_configs = [c.name for c in topic.configs if c.value is None]
        if null_configs:
            raise KafkaError(
                f"Null value not supported for topic configs: {','.join(null_configs)}",
                ErrorCode.invalid_config,
            )
        configs = {c.name: c.value for c in topic.configs}
        assignment = (
            {a.partition_index: list(a.broker_ids) for a in topic.assignments}
            if topic.assignments
            else None
        )
        spec = TopicSpec(
            name, int(topic.num_partitions), int(topic.replication_factor), assignment, configs
        )
        tm = services.topic_manager
        if validate_only:
            resolved, final_configs = tm.validate(spec, cap)
            topic_id = NULL_UUID
        else:
            created = await tm.create(spec, wait_ms=wait_ms, cap=cap)
            resolved = {p: list(s.replicas) for p, s in created.partitions.items()}
            final_configs = dict(created.configs)
            topic_id = created.topic_id
    except Exception as exc:
        code, message = error_of(exc, f"CreateTopics for {name!r}")
        return _create_result(rb, name, code, message)
    config_entries: tuple[Any, ...] = ()
    if rb.has("CreatableTopicResult", "configs"):  # v5+
        config_entries = tuple(
            rb(
                "CreatableTopicConfigs",
                name=e.name,
                value=e.value,
                read_only=e.read_only,
                config_source=int(e.source),
                is_sensitive=e.is_sensitive,
            )
            for e in services.dynamic.describe_topic(final_configs)
        )
    return rb(
        "CreatableTopicResult",
        name=name,
        topic_id=topic_id,
        error_code=ErrorCode.none,
        error_message=None,
        topic_config_error_code=ErrorCode.none,
        num_partitions=len(resolved),
        replication_factor=len(resolved[min(resolved)]) if resolved else -1,
        configs=config_entries,
    )


def _without_configs(rb: ResponseBuilder) -> dict[str, Any]:
    fields = {
        "topic_config_error_code": ErrorCode.topic_authorization_failed,
        "num_partitions": -1,
        "replication_factor": -1,
        "configs": (),
    }
    return {k: v for k, v in fields.items() if rb.has("CreatableTopicResult", k)}


def _create_result(rb: ResponseBuilder, name: str, code: ErrorCode, message: str | None) -> Any:
    return rb(
        "CreatableTopicResult",
        name=name,
        topic_id=NULL_UUID,
        error_code=code,
        error_message=message,
        topic_config_error_code=ErrorCode.none,
        num_partitions=-1,
        replication_factor=-1,
        configs=(),
    )


# --- DeleteTopics ---------------------------------------------------------------------


def _requested_deletions(version: int, request: Any) -> list[tuple[str | None, uuid.UUID]]:
    if version >= 6:
        return [
            (t.name, t.topic_id if t.topic_id is not None else NULL_UUID) for t in request.topics
        ]
    return [(name, NULL_UUID) for name in request.topic_names]


async def _delete_topics(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    version = ctx.api_version
    rb = ResponseBuilder(DELETE_TOPICS, version)
    wanted = _requested_deletions(version, request)

    def result(name: str | None, topic_id: uuid.UUID, code: ErrorCode, msg: str | None) -> Any:
        return rb(
            "DeletableTopicResult", name=name, topic_id=topic_id, error_code=code, error_message=msg
        )

    def respond(results: list[Any]) -> Any:
        return rb(None, throttle_time=NO_THROTTLE, responses=tuple(results))

    if not services.topic_manager.delete_topic_enable:
        code = ErrorCode.invalid_request if version < 3 else ErrorCode.topic_deletion_disabled
        return respond([result(n, i, code, "Topic deletion is disabled.") for n, i in wanted])
    if any(n is not None and i != NULL_UUID for n, i in wanted):
        both = "Topic name and topic ID can not both be specified."
        return respond([result(n, i, ErrorCode.invalid_request, both) for n, i in wanted])

    metadata = services.metadata
    done: dict[str, tuple[uuid.UUID, ErrorCode, str | None]] = {}
    results: list[Any] = []
    timeout_ms = _timeout_ms(request)
    for requested_name, topic_id in wanted:
        if topic_id != NULL_UUID:
            topic = metadata.topic_by_id(topic_id)
            if topic is None:
                results.append(
                    result(
                        None,
                        topic_id,
                        ErrorCode.unknown_topic_id,
                        f"Topic id {topic_id} does not exist.",
                    )
                )
                continue
            name = topic.name
        else:
            name = requested_name or ""
        auth = services.auth
        if topic_id != NULL_UUID and not auth.authorize(
            ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, name, False
        ):
            # Asked by id without DESCRIBE: the name is not disclosed.
            results.append(result(None, topic_id, ErrorCode.topic_authorization_failed, None))
            continue
        if not auth.authorize(ctx, AclOperation.DELETE, ResourceType.TOPIC, name):
            results.append(result(name, topic_id, ErrorCode.topic_authorization_failed, None))
            continue
        if name not in done:
            existing = metadata.topic(name)
            if existing is None:
                done[name] = (
                    NULL_UUID,
                    ErrorCode.unknown_topic_or_partition,
                    f"Topic '{name}' does not exist.",
                )
            else:
                try:
                    await services.topic_manager.delete(name, wait_ms=timeout_ms)
                    done[name] = (existing.topic_id, ErrorCode.none, None)
                except Exception as exc:
                    code, message = error_of(exc, f"DeleteTopics for {name!r}")
                    done[name] = (existing.topic_id, code, message)
        resolved_id, code, message = done[name]
        results.append(result(name, resolved_id, code, message))
    return respond(results)


# --- CreatePartitions -----------------------------------------------------------------


async def _create_partitions(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(CREATE_PARTITIONS, ctx.api_version)
    counts = Counter(t.name for t in request.topics)
    cap = RequestPartitionCap()
    seen: set[str] = set()
    results: list[Any] = []
    for topic in request.topics:
        name = topic.name
        if name in seen:
            continue
        seen.add(name)
        if counts[name] > 1:
            code, message = ErrorCode.invalid_request, "Duplicate topic in request."
        elif not services.auth.authorize(ctx, AclOperation.ALTER, ResourceType.TOPIC, name):
            code = ErrorCode.topic_authorization_failed
            message = "The topic authorization is failed."
        else:
            assignment = (
                [list(a.broker_ids) for a in topic.assignments]
                if topic.assignments is not None
                else None
            )
            try:
                await services.topic_manager.add_partitions(
                    name,
                    int(topic.count),
                    assignment,
                    bool(request.validate_only),
                    wait_ms=_timeout_ms(request),
                    cap=cap,
                )
                code, message = ErrorCode.none, None
            except Exception as exc:
                code, message = error_of(exc, f"CreatePartitions for {name!r}")
        results.append(
            rb("CreatePartitionsTopicResult", name=name, error_code=code, error_message=message)
        )
    return rb(None, throttle_time=NO_THROTTLE, results=tuple(results))


def register(services: BrokerServices) -> None:
    async def create_topics(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(CREATE_TOPICS, ctx.api_version)
        counts = Counter(t.name for t in request.topics)
        validate_only = bool(getattr(request, "validate_only", False))  # v1+
        auth = services.auth
        names = [t.name for t in request.topics if counts[t.name] == 1]
        creatable = (
            set(names)
            if auth.cluster(ctx, AclOperation.CREATE)
            else auth.filter(ctx, AclOperation.CREATE, ResourceType.TOPIC, names)
        )
        configs_visible = auth.filter(
            ctx, AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, names, False
        )
        cap = RequestPartitionCap()
        results = []
        for topic in request.topics:
            if counts[topic.name] > 1:
                results.append(
                    _create_result(
                        rb,
                        topic.name,
                        ErrorCode.invalid_request,
                        "Found multiple entries for this topic.",
                    )
                )
            elif topic.name not in creatable:
                results.append(
                    _create_result(
                        rb,
                        topic.name,
                        ErrorCode.topic_authorization_failed,
                        "Authorization failed.",
                    )
                )
            else:
                wait_ms = _timeout_ms(request)
                created = await _create_one(services, rb, topic, validate_only, wait_ms, cap)
                if topic.name not in configs_visible and created.error_code == ErrorCode.none:
                    # Without DESCRIBE_CONFIGS the topic's settings are not returned.
                    created = dataclasses.replace(created, **_without_configs(rb))
                results.append(created)
        return rb(None, throttle_time=NO_THROTTLE, topics=tuple(results))

    async def delete_topics(ctx: RequestContext, request: Any) -> Any:
        return await _delete_topics(services, ctx, request)

    async def create_partitions(ctx: RequestContext, request: Any) -> Any:
        return await _create_partitions(services, ctx, request)

    registry = services.registry
    registry.register(CREATE_TOPICS, CREATE_TOPICS_MIN, CREATE_TOPICS_MAX, create_topics)
    registry.register(DELETE_TOPICS, DELETE_TOPICS_MIN, DELETE_TOPICS_MAX, delete_topics)
    registry.register(
        CREATE_PARTITIONS, CREATE_PARTITIONS_MIN, CREATE_PARTITIONS_MAX, create_partitions
    )


def _timeout_ms(request: Any) -> int:
    timeout = getattr(request, "timeout", None)
    if timeout is None:
        timeout = getattr(request, "timeout_ms", None)
    if timeout is None:
        return 0
    if hasattr(timeout, "total_seconds"):
        return max(0, int(timeout.total_seconds() * 1000))
    return max(0, int(timeout))
