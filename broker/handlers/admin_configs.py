"""DescribeConfigs (32), AlterConfigs (33) and IncrementalAlterConfigs (44).

Resources: TOPIC configs are the per-topic overrides kept by the metadata
store; BROKER configs are the static configuration overlaid with the dynamic
broker configs of KIP-226 (a broker id, or the empty name for the cluster-wide
default), described and altered through
:class:`~broker.config.dynamic_broker_config.DynamicBrokerConfig`;
BROKER_LOGGER maps to Python's ``logging`` loggers and can be described and
changed at run time, as Kafka does with its log4j loggers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kio.schema.errors import ErrorCode

from broker.config.incremental import OP_APPEND, OP_DELETE, OP_SET, OP_SUBTRACT, apply_incremental
from broker.handlers.admin_topics import error_of
from broker.network.context import RequestContext
from broker.services import BrokerServices
from broker.topic_manager import topic_name_error
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError
from storage.log_config import TOPIC_CONFIGS, ConfigEntry, ConfigSource, ConfigType

DESCRIBE_CONFIGS, DESCRIBE_CONFIGS_MIN, DESCRIBE_CONFIGS_MAX = 32, 0, 4
ALTER_CONFIGS, ALTER_CONFIGS_MIN, ALTER_CONFIGS_MAX = 33, 0, 2
INCREMENTAL_ALTER, INCREMENTAL_ALTER_MIN, INCREMENTAL_ALTER_MAX = 44, 0, 1

TOPIC = 2
BROKER = 4
BROKER_LOGGER = 8

_OP_NAMES = {OP_APPEND: "APPEND", OP_SUBTRACT: "SUBTRACT"}

ROOT_LOGGER = "root"
_LEVELS_TO_PY = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": 5,
}

log = logging.getLogger(__name__)


def _invalid(message: str) -> KafkaError:
    return KafkaError(message, ErrorCode.invalid_request)


def _check_node_id(services: BrokerServices, name: str) -> None:
    try:
        requested = int(name)
    except ValueError:
        raise _invalid(f"Node id must be an integer, but it is: {name}") from None
    if requested != services.broker_id:
        raise _invalid(f"Unexpected broker id, expected {services.broker_id}, but received {name}")


# --- loggers (BROKER_LOGGER) ------------------------------------------------------------


def _level_name(level: int) -> str:
    if level >= logging.CRITICAL:
        return "FATAL"
    if level >= logging.ERROR:
        return "ERROR"
    if level >= logging.WARNING:
        return "WARN"
    if level >= logging.INFO:
        return "INFO"
    if level >= logging.DEBUG:
        return "DEBUG"
    return "TRACE"


def current_loggers() -> dict[str, str]:
    """Every existing logger with its effective level in log4j's names, root first."""
    out = {ROOT_LOGGER: _level_name(logging.getLogger().getEffectiveLevel())}
    for name in sorted(logging.root.manager.loggerDict):
        logger = logging.root.manager.loggerDict[name]
        if isinstance(logger, logging.Logger):
            out[name] = _level_name(logger.getEffectiveLevel())
    return out


def _logger_exists(name: str) -> bool:
    if name == ROOT_LOGGER:
        return True
    return isinstance(logging.root.manager.loggerDict.get(name), logging.Logger)


def _py_logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == ROOT_LOGGER else logging.getLogger(name)


def _alter_loggers(ops: Sequence[Any], validate_only: bool) -> None:
    for op in ops:
        operation = int(op.config_operation)
        if operation == OP_SET:
            if not _logger_exists(op.name):
                raise KafkaError(f"Logger {op.name} does not exist!", ErrorCode.invalid_config)
            if op.value not in _LEVELS_TO_PY:
                raise KafkaError(
                    f"Cannot set the log level of {op.name} to {op.value} as it is not a "
                    f"supported log level. Valid log levels are {', '.join(_LEVELS_TO_PY)}",
                    ErrorCode.invalid_config,
                )
        elif operation == OP_DELETE:
            if not _logger_exists(op.name):
                raise KafkaError(f"Logger {op.name} does not exist!", ErrorCode.invalid_config)
            if op.name == ROOT_LOGGER:
                raise _invalid(f"Removing the log level of the {ROOT_LOGGER} logger is not allowed")
        elif operation in _OP_NAMES:
            raise _invalid(
                f"{_OP_NAMES[operation]} operation is not allowed for the BROKER_LOGGER resource"
            )
        else:
            raise _invalid(
                f"Unknown operation type {operation} is not allowed for the BROKER_LOGGER resource"
            )
    if validate_only:
        return
    for op in ops:
        logger = _py_logger(op.name)
        if int(op.config_operation) == OP_SET:
            logger.setLevel(_LEVELS_TO_PY[op.value])
            log.warning("Updated the log level of %s to %s", op.name, op.value)
        else:
            logger.setLevel(logging.NOTSET)
            log.warning("Unset the log level of %s", op.name)


# --- authorization (Kafka's ConfigHelper / KafkaApis) ------------------------------------


def _unauthorized(
    services: BrokerServices, ctx: RequestContext, resource: Any, operation: AclOperation
) -> tuple[ErrorCode, str] | None:
    """(error, message) when the request may not ``operation`` the resource's configs:
    topics need it on the topic, broker and logger configs on the cluster."""
    rtype = int(resource.resource_type)
    auth = services.auth
    if rtype == TOPIC:
        if not auth.authorize(ctx, operation, ResourceType.TOPIC, resource.resource_name):
            return ErrorCode.topic_authorization_failed, "Topic authorization failed."
    elif rtype in (BROKER, BROKER_LOGGER) and not auth.cluster(ctx, operation):
        return ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
    return None


# --- DescribeConfigs --------------------------------------------------------------------


def _describe_entries(
    services: BrokerServices, resource: Any
) -> tuple[list[ConfigEntry], ErrorCode, str | None]:
    rtype, name = int(resource.resource_type), resource.resource_name
    keys: Iterable[str] | None = resource.configuration_keys or None
    if rtype == TOPIC:
        reason = topic_name_error(name)
        if reason is not None:
            return [], ErrorCode.invalid_topic_exception, reason
        topic = services.metadata.topic(name)
        if topic is None:
            return [], ErrorCode.unknown_topic_or_partition, None
        return services.dynamic.describe_topic(topic.configs, keys), ErrorCode.none, None
    if rtype == BROKER:
        try:
            return services.dynamic.describe(name, keys), ErrorCode.none, None
        except KafkaError as exc:
            return [], exc.error_code, str(exc)
    if rtype == BROKER_LOGGER:
        if not name:
            return [], ErrorCode.invalid_request, "Broker id must not be empty"
        try:
            _check_node_id(services, name)
        except KafkaError as exc:
            return [], exc.error_code, str(exc)
        wanted = set(keys) if keys is not None else None
        entries = [
            ConfigEntry(
                logger,
                level,
                ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG,
                False,
                False,
                (),
                ConfigType.STRING,
                None,
            )
            for logger, level in current_loggers().items()
            if wanted is None or logger in wanted
        ]
        return entries, ErrorCode.none, None
    return [], ErrorCode.invalid_request, f"Unsupported resource type: {rtype}"


async def _describe_configs(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(DESCRIBE_CONFIGS, ctx.api_version)
    synonyms = bool(getattr(request, "include_synonyms", False))
    docs = bool(getattr(request, "include_documentation", False))
    results = []
    for resource in request.resources:
        entries: list[ConfigEntry]
        code: ErrorCode
        message: str | None
        try:
            denied = _unauthorized(services, ctx, resource, AclOperation.DESCRIBE_CONFIGS)
            if denied is not None:
                entries, (code, message) = [], denied
            else:
                entries, code, message = _describe_entries(services, resource)
        except Exception as exc:
            entries = []
            code, message = error_of(exc, "DescribeConfigs")
        configs = tuple(
            rb(
                "DescribeConfigsResourceResult",
                name=e.name,
                value=e.value,
                read_only=e.read_only,
                config_source=int(e.source),
                # v0: Kafka 3.9's broker never sets IsDefault (recorded in
                # tests/fixtures/kafka_3_9_1_wire.json); clients read false.
                is_default=False,
                is_sensitive=e.is_sensitive,
                synonyms=tuple(
                    rb("DescribeConfigsSynonym", name=s.name, value=s.value, source=int(s.source))
                    for s in e.synonyms
                )
                if synonyms
                else (),
                config_type=int(e.config_type),
                documentation=e.documentation if docs else None,
            )
            for e in entries
        )
        results.append(
            rb(
                "DescribeConfigsResult",
                error_code=code,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
                configs=configs,
            )
        )
    return rb(None, throttle_time=NO_THROTTLE, results=tuple(results))


# --- AlterConfigs and IncrementalAlterConfigs ------------------------------------------


def _preprocess(resources: Sequence[Any], incremental: bool) -> dict[int, KafkaError]:
    """Request-level checks shared by both alter APIs: index of resource → error."""
    errors: dict[int, KafkaError] = {}
    ids = Counter((int(r.resource_type), r.resource_name) for r in resources)
    for i, r in enumerate(resources):
        if ids[(int(r.resource_type), r.resource_name)] > 1:
            errors[i] = _invalid("Each resource must appear at most once.")
            continue
        names = [c.name for c in r.configs]
        if len(set(names)) != len(names):
            errors[i] = _invalid("Error due to duplicate config keys")
            continue
        nulls = [
            c.name
            for c in r.configs
            if c.value is None and not (incremental and int(c.config_operation) == OP_DELETE)
        ]
        if nulls:
            errors[i] = _invalid("Null value not supported for : " + ", ".join(nulls))
    return errors


def _require_topic(services: BrokerServices, name: str) -> dict[str, str]:
    if not name:
        raise _invalid("Default topic resources are not allowed.")
    topic = services.metadata.topic(name)
    if topic is None:
        raise KafkaError(
            f"The topic '{name}' does not exist.", ErrorCode.unknown_topic_or_partition
        )
    return dict(topic.configs)


async def _alter_one(
    services: BrokerServices, resource: Any, validate_only: bool, incremental: bool
) -> None:
    rtype, name = int(resource.resource_type), resource.resource_name
    if rtype == TOPIC:
        _require_topic(services, name)
        if incremental:
            # From the store, not this broker's view: another broker may have just written.
            current = await services.metadata.fetch_topic_configs(name)
            new = apply_incremental(current, resource.configs, TOPIC_CONFIGS)
        else:
            new = {c.name: c.value for c in resource.configs}
        await services.topic_manager.set_configs(name, new, validate_only)
    elif rtype == BROKER:
        await services.dynamic.alter(name, resource.configs, incremental, validate_only)
    elif rtype == BROKER_LOGGER and incremental:
        _check_node_id(services, name)
        _alter_loggers(resource.configs, validate_only)
    else:
        raise _invalid(f"Unknown resource type {rtype}")


async def _alter(
    services: BrokerServices, ctx: RequestContext, request: Any, api_key: int, incremental: bool
) -> Any:
    rb = ResponseBuilder(api_key, ctx.api_version)
    validate_only = bool(request.validate_only)
    errors = _preprocess(request.resources, incremental)
    responses = []
    for i, resource in enumerate(request.resources):
        code, message = ErrorCode.none, None
        try:
            if i in errors:
                raise errors[i]
            denied = _unauthorized(services, ctx, resource, AclOperation.ALTER_CONFIGS)
            if denied is not None:
                raise KafkaError(denied[1], denied[0])
            await _alter_one(services, resource, validate_only, incremental)
        except Exception as exc:
            code, message = error_of(exc, "AlterConfigs")
        responses.append(
            rb(
                "AlterConfigsResourceResponse",
                error_code=code,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return rb(None, throttle_time=NO_THROTTLE, responses=tuple(responses))


def register(services: BrokerServices) -> None:
    async def describe_configs(ctx: RequestContext, request: Any) -> Any:
        return await _describe_configs(services, ctx, request)

    async def alter_configs(ctx: RequestContext, request: Any) -> Any:
        return await _alter(services, ctx, request, ALTER_CONFIGS, incremental=False)

    async def incremental_alter_configs(ctx: RequestContext, request: Any) -> Any:
        return await _alter(services, ctx, request, INCREMENTAL_ALTER, incremental=True)

    registry = services.registry
    registry.register(
        DESCRIBE_CONFIGS, DESCRIBE_CONFIGS_MIN, DESCRIBE_CONFIGS_MAX, describe_configs
    )
    registry.register(ALTER_CONFIGS, ALTER_CONFIGS_MIN, ALTER_CONFIGS_MAX, alter_configs)
    registry.register(
        INCREMENTAL_ALTER, INCREMENTAL_ALTER_MIN, INCREMENTAL_ALTER_MAX, incremental_alter_configs
    )
