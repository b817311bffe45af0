"""JSON as Kafka writes it in znodes, and strict, readable field access when decoding.

Kafka encodes with Jackson: compact (no spaces), UTF-8, keys in the order its maps iterate.
:func:`dumps` writes the same shape (keys in the order given). :class:`JsonObject` reads a
decoded object the way Kafka's ``JsonObject`` does: a missing or mistyped required field
is a :class:`~cluster.zk.errors.ZnodeDecodeError` naming the znode and the field; fields
Kafka added later (or we do not know) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cluster.zk.errors import ZnodeDecodeError


def dumps(value: Any) -> bytes:
    """Compact JSON in UTF-8, as Jackson writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_object(data: bytes | None, what: str) -> JsonObject:
    """Parse znode data that must be a JSON object."""
    if data is None:
        raise ZnodeDecodeError(what, "no data (null)", data)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZnodeDecodeError(what, f"not JSON ({exc})", data) from None
    if not isinstance(value, dict):
        raise ZnodeDecodeError(what, f"expected a JSON object, got {type(value).__name__}", data)
    return JsonObject(value, what, data)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class JsonObject:
    """A decoded JSON object plus what it is (for error messages)."""

    def __init__(self, value: Mapping[str, Any], what: str, data: bytes | None) -> None:
        self.value = value
        self.what = what
        self.data = data

    def error(self, reason: str) -> ZnodeDecodeError:
        return ZnodeDecodeError(self.what, reason, self.data)

    def __contains__(self, key: str) -> bool:
        return key in self.value

    def _required(self, key: str) -> Any:
        if key not in self.value:
            raise self.error(f"missing field {key!r}")
        return self.value[key]

    def req_int(self, key: str, default: int | None = None) -> int:
        """A JSON number that is an integer (Kafka's ``to[Int]``/``to[Long]``)."""
        if default is not None and self.value.get(key) is None:
            return default
        value = self._required(key)
        if not _is_int(value):
            raise self.error(f"field {key!r} must be an integer, got {value!r}")
        return int(value)

    def int_or_str(self, key: str) -> int:
        """An integer written either as a number or as a decimal string."""
        value = self._required(key)
        if _is_int(value):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise self.error(f"field {key!r} must be an integer or a decimal string, got {value!r}")

    def req_str(self, key: str) -> str:
        value = self._required(key)
        if not isinstance(value, str):
            raise self.error(f"field {key!r} must be a string, got {value!r}")
        return value

    def opt_str(self, key: str) -> str | None:
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"field {key!r} must be a string or null, got {value!r}")
        return value

    def int_list(self, key: str, default: list[int] | None = None) -> list[int]:
        if default is not None and key not in self.value:
            return default
        value = self._required(key)
        return self.as_int_list(value, key)

    def as_int_list(self, value: Any, where: str) -> list[int]:
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise self.error(f"{where} must be a list of integers, got {value!r}")
        return [int(v) for v in value]

    def obj(self, key: str, default: Mapping[str, Any] | None = None) -> JsonObject:
        if default is not None and self.value.get(key) is None:
            return JsonObject(default, self.what, self.data)
        value = self._required(key)
        if not isinstance(value, dict):
            raise self.error(f"field {key!r} must be a JSON object, got {value!r}")
        return JsonObject(value, self.what, self.data)

    def array(self, key: str) -> list[Any]:
        value = self._required(key)
        if not isinstance(value, list):
            raise self.error(f"field {key!r} must be a list, got {value!r}")
        return value

    def sub(self, value: Any, where: str) -> JsonObject:
        if not isinstance(value, dict):
            raise self.error(f"{where} must be a JSON object, got {value!r}")
        return JsonObject(value, self.what, self.data)

    def items(self) -> list[tuple[str, Any]]:
        return list(self.value.items())
