"""Sample inter-broker messages, in Kafka's JSON form, for KafkaGolden.java.

For every version of LeaderAndIsr, StopReplica, UpdateMetadata, ControlledShutdown and
AlterPartition that Kafka 3.9 defines, three requests and three responses: "full" (every
array filled, nullable fields set, tagged fields away from their defaults), "empty" (empty
arrays, nulls, defaults) and "random" (seeded). KafkaGolden.java reads them with Kafka's own
JsonConverter and serializes them with Kafka's own code; see that file's header for the
whole command.

    python tests/tools/interbroker_samples.py > /tmp/interbroker-samples.json
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import sys
import typing
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from helpers.kafka_json import to_kafka_json
from kio.schema.errors import ErrorCode

from protocol.codec import request_schema, response_schema

# API key -> the versions Kafka 3.9 defines
VERSIONS = {4: range(8), 5: range(5), 6: range(9), 7: range(4), 56: range(4)}
MODES = ("full", "empty", "random")
_STRINGS = ("t", "orders", "ü-topic-ø", "__consumer_offsets", "x" * 40, "")
_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def sample(cls: type[Any], rng: random.Random, mode: str) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tagged = "tag" in f.metadata
        if tagged and mode == "empty":
            continue  # keep the default: nothing goes on the wire
        values[f.name] = _value(hints[f.name], f, rng, mode, tagged)
    return cls(**values)


def _value(tp: Any, f: dataclasses.Field[Any], rng: random.Random, mode: str, tagged: bool) -> Any:
    inner, optional = _strip_optional(tp)
    kafka_type = f.metadata.get("kafka_type")
    null = mode == "empty" or (mode == "random" and rng.random() < 0.3)
    if optional and kafka_type != "uuid" and null:
        return None
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        count = {"full": 3, "empty": 0}.get(mode, rng.randint(0, 3))
        return tuple(_scalar_or_entity(item, kafka_type, rng, mode, tagged) for _ in range(count))
    return _scalar_or_entity(inner, kafka_type, rng, mode, tagged, f.default)


def _scalar_or_entity(
    tp: Any,
    kafka_type: str | None,
    rng: random.Random,
    mode: str,
    tagged: bool,
    default: Any = dataclasses.MISSING,
) -> Any:
    if dataclasses.is_dataclass(tp):
        return sample(tp, rng, mode)  # type: ignore[arg-type]
    if kafka_type == "uuid":
        return None if mode == "empty" else uuid.UUID(int=rng.getrandbits(128))
    if kafka_type == "error_code":
        return ErrorCode.none if mode == "empty" else rng.choice(list(ErrorCode))
    if kafka_type == "timedelta_i32":
        ms = 0 if mode == "empty" else rng.randint(0, 2**31 - 1)
        return datetime.timedelta(milliseconds=ms)
    if kafka_type == "bool":
        value = mode == "full" or (mode == "random" and rng.random() < 0.5)
        return (not default) if tagged and mode == "full" else value
    if kafka_type == "string":
        return "" if mode == "empty" else rng.choice(_STRINGS)
    if kafka_type in _INT_RANGES:
        low, high = _INT_RANGES[kafka_type]
        if mode == "empty":
            value = -1 if kafka_type in ("int32", "int64") else 0
        else:
            value = rng.choice((low, high, rng.randint(low, high), rng.randint(-3, 100)))
        if tagged and mode == "full" and value == default:
            value = value - 1 if value == high else value + 1
        return tp(value)
    raise TypeError(f"no sample for {tp!r} ({kafka_type})")


def main() -> None:
    out = []
    for api_key, versions in VERSIONS.items():
        for version in versions:
            for kind, schema in (
                ("request", request_schema(api_key, version)),
                ("response", response_schema(api_key, version)),
            ):
                for mode in MODES:
                    rng = random.Random(f"{api_key}-{version}-{kind}-{mode}")
                    entity = sample(schema, rng, mode)
                    out.append(
                        {
                            "apiKey": api_key,
                            "version": version,
                            "kind": kind,
                            "sample": mode,
                            "data": to_kafka_json(entity),
                        }
                    )
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
