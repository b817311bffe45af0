"""Kafka's incremental config operations (IncrementalAlterConfigs, KIP-339)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kio.schema.errors import ErrorCode

from protocol.errors import KafkaError
from storage.log_config import ConfigDef, ConfigType

OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def _list_def(name: str, table: Mapping[str, ConfigDef], op: int) -> ConfigDef:
    definition = table.get(name)
    if definition is None:
        raise KafkaError(f"Unknown config name: {name}", ErrorCode.invalid_config)
    if definition.type is not ConfigType.LIST:
        verb = "append" if op == OP_APPEND else "subtract"
        raise KafkaError(
            f"Config value {verb} is not allowed for config key: {name}", ErrorCode.invalid_config
        )
    return definition


def apply_incremental(
    current: Mapping[str, str], ops: Sequence[Any], table: Mapping[str, ConfigDef]
) -> dict[str, str]:
    """Kafka's prepareIncrementalConfigs over ``current`` (a resource's dynamic configs):
    SET, DELETE, and APPEND/SUBTRACT on LIST keys (starting from the default when unset).
    ``ops`` have ``name``, ``config_operation`` and ``value``; ``table`` gives key types."""
    props = dict(current)
    for op in ops:
        operation, name, value = int(op.config_operation), op.name, op.value
        if operation == OP_SET:
            props[name] = value
        elif operation == OP_DELETE:
            props.pop(name, None)
        elif operation in (OP_APPEND, OP_SUBTRACT):
            definition = _list_def(name, table, operation)
            old = props.get(name)
            if old is None:
                old = definition.default_str or ""
            items = value.split(",")
            if operation == OP_APPEND:
                old_list = [v for v in old.split(",") if v] if old else []
                props[name] = ",".join(old_list + [v for v in items if v not in old_list])
            else:
                remaining = old.split(",")
                for v in items:
                    if v in remaining:
                        remaining.remove(v)
                props[name] = ",".join(remaining)
        else:
            raise KafkaError(f"Unknown operations type {operation}", ErrorCode.invalid_request)
    return props
