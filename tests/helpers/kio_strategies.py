"""Hypothesis strategies for any kio-style message dataclass, derived from its fields'
``kafka_type`` metadata, nested entities and nullability (the same facts kio's reader and
writer use), so a round-trip test needs no per-message code."""

from __future__ import annotations

import dataclasses
import datetime
import typing
from functools import cache
from typing import Any

from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

_INTS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
MAX_ITEMS = 3


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def _scalar(kafka_type: str, tp: Any) -> st.SearchStrategy[Any]:
    if kafka_type in _INTS:
        low, high = _INTS[kafka_type]
        return st.integers(low, high).map(tp)
    if kafka_type == "bool":
        return st.booleans()
    if kafka_type == "string":
        return st.text(max_size=20)
    if kafka_type == "uuid":
        # kio reads the zero UUID back as None
        return st.none() | st.uuids().filter(lambda u: u.int != 0)
    if kafka_type == "error_code":
        return st.sampled_from(list(ErrorCode))
    if kafka_type == "timedelta_i32":
        return st.integers(0, 2**31 - 1).map(lambda ms: datetime.timedelta(milliseconds=ms))
    if kafka_type == "bytes":
        return st.binary(max_size=20)
    raise NotImplementedError(f"no strategy for {kafka_type}")


@cache
def entities(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Instances of the kio entity class ``cls`` with arbitrary valid field values."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        fields[f.name] = _field(hints[f.name], f.metadata.get("kafka_type"))
    return st.builds(cls, **fields)


def _field(tp: Any, kafka_type: str | None) -> st.SearchStrategy[Any]:
    inner, optional = _strip_optional(tp)
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        items = st.lists(_item(item, kafka_type), max_size=MAX_ITEMS).map(tuple)
        return st.none() | items if optional else items
    value = _item(inner, kafka_type)
    if optional and kafka_type != "uuid":
        return st.none() | value
    return value


def _item(tp: Any, kafka_type: str | None) -> st.SearchStrategy[Any]:
    if dataclasses.is_dataclass(tp):
        return st.deferred(lambda: entities(tp))  # type: ignore[arg-type]
    assert kafka_type is not None, tp
    return _scalar(kafka_type, tp)


__all__ = ["entities"]
