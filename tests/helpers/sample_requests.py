"""Sample kio entities with every field filled in (seeds for the frame fuzzer and guard tests).

Unlike the admin tools' builder (Kafka's implicit defaults: empty arrays, nulls), a sample has
one to three elements in every array, nested entities, non-default tagged fields and, now and
then, null where the schema allows it, so the encoded frame exercises every length field.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from typing import Any

from kio.schema.errors import ErrorCode
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveField,
    PrimitiveTupleField,
    classify_field,
    get_field_tag,
    get_schema_field_type,
    is_optional,
)

from protocol.codec import request_schema

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_NAMES = ["orders", "t", "payments-eu", "a" * 40, "x.y_z", "ünï"]


def _primitive(kafka_type: str, rng: random.Random, small: bool) -> Any:
    if kafka_type == "bool":
        return rng.random() < 0.5
    if kafka_type in ("int8", "int16", "int32", "int64"):
        if small:
            return rng.choice([0, 1, -1, 2, 3])
        bits = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}[kafka_type]
        return rng.choice([0, 1, -1, 3, rng.randrange(-(2**bits), 2**bits)])
    if kafka_type in ("uint16", "uint32", "uint64"):
        if small:
            return rng.choice([0, 1, 3])
        bits = {"uint16": 16, "uint32": 32, "uint64": 64}[kafka_type]
        return rng.randrange(0, 2**bits)
    if kafka_type == "float64":
        return rng.random()
    if kafka_type == "string":
        return rng.choice(_NAMES)
    if kafka_type in ("bytes", "records"):
        return rng.randbytes(rng.choice([0, 1, 7, 61]))
    if kafka_type == "uuid":
        return uuid.UUID(int=rng.getrandbits(128) | 1)
    if kafka_type == "error_code":
        return rng.choice([ErrorCode.none, ErrorCode.unknown_topic_or_partition])
    if kafka_type in ("timedelta_i32", "timedelta_i64"):
        return datetime.timedelta(milliseconds=rng.randrange(0, 100 if small else 60_000))
    if kafka_type == "datetime_i64":
        return _EPOCH + datetime.timedelta(milliseconds=rng.randrange(0, 2**41))
    raise TypeError(f"no sample for kafka_type {kafka_type!r}")


def sample_entity(
    cls: type[Any], rng: random.Random, null_rate: float = 0.1, *, small: bool = False
) -> Any:
    """An instance of kio entity ``cls`` with sample values in every field. ``small`` keeps
    numbers (counts, timeouts, partition numbers) in 0-3, for requests a broker executes."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = classify_field(f)
        tagged = get_field_tag(f) is not None
        if tagged and rng.random() < 0.3 and f.default is not dataclasses.MISSING:
            continue  # leave the tagged field at its default: not on the wire
        nullable = is_optional(f) and not tagged
        if nullable and rng.random() < null_rate:
            values[f.name] = None
            continue
        if isinstance(kind, PrimitiveField):
            values[f.name] = _primitive(get_schema_field_type(f), rng, small)
        elif isinstance(kind, PrimitiveTupleField):
            kafka_type = get_schema_field_type(f)
            values[f.name] = tuple(
                _primitive(kafka_type, rng, small) for _ in range(rng.randint(1, 3))
            )
        elif isinstance(kind, EntityField):
            values[f.name] = sample_entity(kind.type_, rng, null_rate, small=small)
        elif isinstance(kind, EntityTupleField):
            values[f.name] = tuple(
                sample_entity(kind.type_, rng, null_rate, small=small)
                for _ in range(rng.randint(1, 3))
            )
    return cls(**values)


def sample_request(api_key: int, version: int, rng: random.Random, *, small: bool = False) -> Any:
    return sample_entity(request_schema(api_key, version), rng, small=small)
