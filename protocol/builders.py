"""Build kio message entities of any version from one set of keyword arguments.

Handlers describe a response once; fields a version lacks are dropped, so the
same handler code serves every version in its range.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from functools import cache
from typing import Any, Final

from protocol.codec import request_schema, response_schema

# throttle_time of a response when no quota applies (clients pause on non-zero values).
NO_THROTTLE: Final = datetime.timedelta(0)
# authorized_operations when the client did not ask for them (Integer.MIN_VALUE).
AUTHORIZED_OPERATIONS_OMITTED: Final = -(2**31)

_fields: dict[type[Any], frozenset[str]] = {}


def _field_names(cls: type[Any]) -> frozenset[str]:
    names = _fields.get(cls)
    if names is None:
        names = _fields[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return names


def make(cls: type[Any], **fields: Any) -> Any:
    names = _field_names(cls)
    return cls(**{k: v for k, v in fields.items() if k in names})


def has_field(cls: type[Any], name: str) -> bool:
    return name in _field_names(cls)


@cache
def response_class(api_key: int, version: int, name: str | None = None) -> type[Any]:
    """The top-level response class, or a nested class of the same module by name."""
    top = response_schema(api_key, version)
    if name is None:
        return top
    return getattr(sys.modules[top.__module__], name)  # type: ignore[no-any-return]


@cache
def request_class(api_key: int, version: int, name: str | None = None) -> type[Any]:
    top = request_schema(api_key, version)
    if name is None:
        return top
    return getattr(sys.modules[top.__module__], name)  # type: ignore[no-any-return]


class ResponseBuilder:
    """Shortcut for one (api_key, version): ``rb("PartitionData", index=0, ...)``."""

    __slots__ = ("api_key", "version")

    def __init__(self, api_key: int, version: int) -> None:
        self.api_key = api_key
        self.version = version

    def __call__(self, name: str | None = None, /, **fields: Any) -> Any:
        return make(response_class(self.api_key, self.version, name), **fields)

    def has(self, name: str | None, field: str) -> bool:
        return has_field(response_class(self.api_key, self.version, name), field)
