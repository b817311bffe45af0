"""kio entities <-> the JSON form of Kafka's generated ``*JsonConverter`` classes.

Kafka's converters name fields in lowerCamelCase (``controllerId``), write UUIDs as
Kafka's base64url ``Uuid`` strings, int64 as JSON numbers and durations as milliseconds.
Used by the golden-bytes test and by the tool that makes its samples
(tests/tools/interbroker_samples.py).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import types
import typing
import uuid
from functools import cache
from typing import Any

# kio's Python names whose Kafka name the generic rule does not give back.
_CAMEL_EXCEPTIONS = {
    "is_k_raft_controller": "isKRaftController",
    "throttle_time": "throttleTimeMs",
    "type_": "type",
}


def camel(name: str) -> str:
    special = _CAMEL_EXCEPTIONS.get(name)
    if special is not None:
        return special
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def kafka_uuid(value: uuid.UUID | None) -> str:
    raw = (value or uuid.UUID(int=0)).bytes
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_kafka_uuid(text: str) -> uuid.UUID | None:
    value = uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))
    return None if value.int == 0 else value  # kio reads the zero UUID as None


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def to_kafka_json(entity: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(entity):
        out[camel(f.name)] = _value_to_json(f.metadata.get("kafka_type"), getattr(entity, f.name))
    return out


def _value_to_json(kafka_type: str | None, value: Any) -> Any:
    if isinstance(value, tuple):
        return [_value_to_json(kafka_type, v) for v in value]
    if dataclasses.is_dataclass(value):
        return to_kafka_json(value)
    if kafka_type == "uuid":
        return kafka_uuid(value)
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.timedelta):
        return int(value / datetime.timedelta(milliseconds=1))
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"no JSON form for {value!r}")


def from_kafka_json(cls: type[Any], data: dict[str, Any]) -> Any:
    """The entity ``cls`` from Kafka's JSON; fields Kafka left out keep their defaults."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = camel(f.name)
        if key not in data:
            continue
        values[f.name] = _value_from_json(hints[f.name], f.metadata.get("kafka_type"), data[key])
    return cls(**values)


def _value_from_json(tp: Any, kafka_type: str | None, raw: Any) -> Any:
    inner, _optional = _strip_optional(tp)
    if raw is None:
        return None
    if typing.get_origin(inner) is tuple:
        item_type = typing.get_args(inner)[0]
        return tuple(_value_from_json(item_type, kafka_type, v) for v in raw)
    if dataclasses.is_dataclass(inner):
        return from_kafka_json(inner, raw)  # type: ignore[arg-type]
    if kafka_type == "uuid":
        return parse_kafka_uuid(raw)
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return inner(raw)
    if isinstance(inner, type) and issubclass(inner, datetime.timedelta):
        return datetime.timedelta(milliseconds=raw)
    return raw
