"""The classic consumer protocol's embedded schemas (protocol type "consumer").

JoinGroup member metadata is a ConsumerProtocolSubscription and SyncGroup / DescribeGroups
member assignments are ConsumerProtocolAssignment, both serialized with the classic
(non-flexible) encoding and a leading int16 version:

    Assignment:   version int16, [topic string, [partition int32]], user_data bytes
    Subscription: version int16, [topic string], user_data bytes,
                  v1+ [topic string, [partition int32]] owned partitions,
                  v2+ generation_id int32, v3+ rack_id string

Later versions only append fields, so a reader of version N reads what it knows and
ignores the rest, as Kafka's ConsumerProtocol does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


class ConsumerProtocolError(ValueError):
    """Bytes that are not a consumer protocol message."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ConsumerProtocolError(
                f"truncated at byte {self.pos}: need {n} of {len(self.data) - self.pos}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def i16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        return self._take(n).decode("utf-8", errors="replace")

    def bytes_(self) -> bytes | None:
        n = self.i32()
        if n < 0:
            return None
        return self._take(n)

    def count(self) -> int:
        n = self.i32()
        if n < -1:
            raise ConsumerProtocolError(f"negative array length {n}")
        return max(n, 0)

    def topic_partitions(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for _ in range(self.count()):
            topic = self.string() or ""
            out.setdefault(topic, []).extend(self.i32() for _ in range(self.count()))
        return out


def _string(value: str | None) -> bytes:
    if value is None:
        return _I16.pack(-1)
    raw = value.encode()
    return _I16.pack(len(raw)) + raw


def _bytes(value: bytes | None) -> bytes:
    if value is None:
        return _I32.pack(-1)
    return _I32.pack(len(value)) + value


def _topic_partitions(tps: dict[str, list[int]]) -> bytes:
    out = [_I32.pack(len(tps))]
    for topic, parts in tps.items():
        out.append(_string(topic))
        out.append(_I32.pack(len(parts)))
        out.extend(_I32.pack(p) for p in parts)
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class Assignment:
    partitions: dict[str, list[int]] = field(default_factory=dict)
    user_data: bytes | None = None
    version: int = 0

    def topic_partitions(self) -> list[tuple[str, int]]:
        return sorted((t, p) for t, ps in self.partitions.items() for p in ps)


@dataclass(frozen=True, slots=True)
class Subscription:
    topics: list[str] = field(default_factory=list)
    user_data: bytes | None = None
    owned_partitions: dict[str, list[int]] = field(default_factory=dict)
    generation_id: int = -1
    rack_id: str | None = None
    version: int = 0


def decode_assignment(data: bytes) -> Assignment:
    """A ConsumerProtocolAssignment; empty bytes (a member without one yet) is empty."""
    if not data:
        return Assignment()
    r = _Reader(data)
    version = r.i16()
    if version < 0:
        raise ConsumerProtocolError(f"negative assignment version {version}")
    partitions = r.topic_partitions()
    user_data = None if r.at_end() else r.bytes_()
    return Assignment(partitions, user_data, version)


def encode_assignment(assignment: Assignment) -> bytes:
    return (
        _I16.pack(assignment.version)
        + _topic_partitions(assignment.partitions)
        + _bytes(assignment.user_data)
    )


def decode_subscription(data: bytes) -> Subscription:
    if not data:
        return Subscription()
    r = _Reader(data)
    version = r.i16()
    if version < 0:
        raise ConsumerProtocolError(f"negative subscription version {version}")
    topics = [r.string() or "" for _ in range(r.count())]
    user_data = None if r.at_end() else r.bytes_()
    owned: dict[str, list[int]] = {}
    generation = -1
    rack: str | None = None
    if version >= 1 and not r.at_end():
        owned = r.topic_partitions()
    if version >= 2 and not r.at_end():
        generation = r.i32()
    if version >= 3 and not r.at_end():
        rack = r.string()
    return Subscription(topics, user_data, owned, generation, rack, version)


def encode_subscription(sub: Subscription) -> bytes:
    out = _I16.pack(sub.version)
    out += _I32.pack(len(sub.topics)) + b"".join(_string(t) for t in sub.topics)
    out += _bytes(sub.user_data)
    if sub.version >= 1:
        out += _topic_partitions(sub.owned_partitions)
    if sub.version >= 2:
        out += _I32.pack(sub.generation_id)
    if sub.version >= 3:
        out += _string(sub.rack_id)
    return out
