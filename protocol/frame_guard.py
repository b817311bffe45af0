"""Frame guard: a structural walk of a message body before kio decodes it.

kio's native reader sizes every array from its wire count (``Vec::with_capacity``), so
a Metadata request whose compact array claims 2^32-2 topics makes it ask for 34 GB and
Rust aborts the whole process. The guard walks the same wire layout kio reads, derived
from kio's schema dataclasses (``kafka_type`` metadata, nested entities, flexible versions,
tagged fields), and refuses a body in which a length or count does not fit in the bytes
that remain: every element an array claims must really be there, so what kio allocates
is bounded by the frame's real content. Like Kafka's own parser, a count may not exceed
the remaining bytes and bytes after the body are ignored.

Unknown tagged fields are legal (Kafka skips them); kio refuses them, so the walk records
where they are and ``strip_unknown_tags`` returns a copy of the body without them.

Each schema is compiled once into a tree of closures; consecutive fixed-size fields are
merged into one bounds check and arrays of fixed-size elements are skipped in one step.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

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

from protocol.errors import ProtocolViolation

__all__ = ["Plan", "check_body", "compile_entity", "strip_unknown_tags"]

Buffer = bytes | bytearray | memoryview


# Byte range [start, stop) of a body to replace (unknown tagged fields, and the counts and
# sizes around them), in no particular order; ranges never overlap.
TagEdit = tuple[int, int, bytes]
Edits = list[TagEdit]
# (buffer, position, end of the readable bytes, edits) -> position after the value
Walk = Callable[[Buffer, int, int, Edits], int]

_FIXED_SIZES: Final = {
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "int16": 2,
    "uint16": 2,
    "error_code": 2,
    "int32": 4,
    "uint32": 4,
    "timedelta_i32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "timedelta_i64": 8,
    "datetime_i64": 8,
    "uuid": 16,
}
# kio reads null only for these fixed-size types (uuid zero, datetime -1).
_NULLABLE_FIXED: Final = frozenset({"uuid", "datetime_i64"})
_VARIABLE: Final = frozenset({"string", "bytes", "records"})
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class Plan:
    """How to walk one value: its walk function, the fewest bytes it can take, and its
    size when that never varies (then arrays of it are skipped without a loop)."""

    walk: Walk
    min_size: int
    fixed_size: int | None


def _refuse(what: str, detail: str) -> NoReturn:
    raise ProtocolViolation(f"{what}: {detail}")


def _truncated(what: str, need: int, pos: int, end: int) -> NoReturn:
    _refuse(what, f"needs {need} bytes, {max(end - pos, 0)} remain")


def _uvarint(buf: Buffer, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, new position) of an unsigned varint of at most 5 bytes (as Kafka and kio)."""
    if pos + 5 <= end:  # unrolled: lengths of records and strings take 2-3 bytes
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        value = b & 0x7F
        b = buf[pos + 1]
        if b < 0x80:
            return value | b << 7, pos + 2
        value |= (b & 0x7F) << 7
        b = buf[pos + 2]
        if b < 0x80:
            return value | b << 14, pos + 3
        value |= (b & 0x7F) << 14
        b = buf[pos + 3]
        if b < 0x80:
            return value | b << 21, pos + 4
        value |= (b & 0x7F) << 21
        b = buf[pos + 4]
        if b < 0x80:
            return value | b << 28, pos + 5
        _refuse(what, "varint longer than 5 bytes")
    value = 0
    shift = 0
    while True:
        if pos >= end:
            _truncated(what, 1, pos, end)
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            _refuse(what, "varint longer than 5 bytes")


# -- primitives ----------------------------------------------------------------


def _fixed(size: int, what: str) -> Plan:
    def walk(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        pos += size
        if pos > end:
            _truncated(what, size, pos - size, end)
        return pos

    return Plan(walk, size, size)


def _compact_bytes(nullable: bool, what: str) -> Plan:
    def walk(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        if pos < end and buf[pos] < 0x80:
            n = buf[pos]
            pos += 1
        else:
            n, pos = _uvarint(buf, pos, end, what)
        if n == 0:
            if not nullable:
                _refuse(what, "null for a non-nullable string or bytes")
            return pos
        pos += n - 1
        if pos > end:
            _truncated(what, n - 1, pos - n + 1, end)
        return pos

    return Plan(walk, 1, None)


def _legacy_bytes(width: int, nullable: bool, what: str) -> Plan:
    """int16 (strings) or int32 (bytes) length, -1 for null."""

    unpack = (_I16 if width == 2 else _I32).unpack_from

    def walk(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        start = pos + width
        if start > end:
            _truncated(what, width, pos, end)
        (n,) = unpack(buf, pos)
        if n < 0:
            if n != -1 or not nullable:
                _refuse(what, f"length {n}")
            return start
        pos = start + n
        if pos > end:
            _truncated(what, n, start, end)
        return pos

    return Plan(walk, width, None)


def _primitive(kafka_type: str, flexible: bool, optional: bool, what: str) -> Plan:
    size = _FIXED_SIZES.get(kafka_type)
    if size is not None:
        if optional and kafka_type not in _NULLABLE_FIXED:
            raise NotImplementedError(f"{what}: nullable {kafka_type} is not readable by kio")
        return _fixed(size, what)
    if kafka_type not in _VARIABLE:
        raise NotImplementedError(f"{what}: unknown kafka_type {kafka_type!r}")
    if flexible:
        return _compact_bytes(optional, what)
    return _legacy_bytes(2 if kafka_type == "string" else 4, optional, what)


# -- arrays --------------------------------------------------------------------


def _array(item: Plan, flexible: bool, nullable: bool, entity: str, field: str) -> Plan:
    what = f"{entity}.{field}"
    item_walk = item.walk
    item_fixed = item.fixed_size
    # An element takes at least one byte (Kafka: "only N bytes remaining").
    least = max(item.min_size, 1)
    unpack_i32 = _I32.unpack_from

    def elements(buf: Buffer, pos: int, end: int, edits: Edits, count: int) -> int:
        if count * least > end - pos:
            _refuse(
                what,
                f"array of {count} elements of at least {least} bytes, "
                f"{max(end - pos, 0)} bytes remain",
            )
        if item_fixed is not None:
            return pos + count * item_fixed
        for _ in range(count):
            pos = item_walk(buf, pos, end, edits)
        return pos

    def null(pos: int) -> int:
        if not nullable:
            # kio reads any array as nullable; handlers rely on the schema (Kafka refuses)
            raise ProtocolViolation(f"non-nullable field {field} of {entity} is null")
        return pos

    def walk_compact(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        if pos < end and buf[pos] < 0x80:
            n = buf[pos]
            pos += 1
        else:
            n, pos = _uvarint(buf, pos, end, what)
        if n == 0:
            return null(pos)
        if n == 1:
            return pos
        return elements(buf, pos, end, edits, n - 1)

    def walk_legacy(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        if pos + 4 > end:
            _truncated(what, 4, pos, end)
        (count,) = unpack_i32(buf, pos)
        pos += 4
        if count <= 0:
            if count == 0:
                return pos
            if count != -1:
                _refuse(what, f"array length {count}")
            return null(pos)
        return elements(buf, pos, end, edits, count)

    return Plan(walk_compact if flexible else walk_legacy, 1 if flexible else 4, None)


# -- entities ------------------------------------------------------------------


def _tagged_section(known: dict[int, Walk], what: str) -> Walk:
    def walk(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        if pos < end and buf[pos] == 0:
            return pos + 1  # the common case: no tagged fields
        start = pos
        count, pos = _uvarint(buf, pos, end, what)
        count_end = pos
        if 2 * count > end - pos:
            _refuse(what, f"{count} tagged fields, {end - pos} bytes remain")
        dropped = 0
        for _ in range(count):
            field_start = pos
            tag, pos = _uvarint(buf, pos, end, what)
            size, pos = _uvarint(buf, pos, end, what)
            stop = pos + size
            if stop > end:
                _truncated(f"{what} tag {tag}", size, pos, end)
            field = known.get(tag)
            if field is None:
                edits.append((field_start, stop, b""))
                dropped += 1
            else:
                first_inner = len(edits)
                if field(buf, pos, stop, edits) != stop:
                    _refuse(what, f"tagged field {tag} is shorter than its size {size}")
                if len(edits) > first_inner:
                    # unknown tags inside a known tagged field: its size changes too
                    inner = edits[first_inner:]
                    del edits[first_inner:]
                    content = _apply(buf, pos, stop, inner)
                    encoded = _encode_uvarint(tag) + _encode_uvarint(len(content)) + content
                    edits.append((field_start, stop, encoded))
            pos = stop
        if dropped:
            edits.append((start, count_end, _encode_uvarint(count - dropped)))
        return pos

    return walk


def _entity_body(lead: int, lead_what: str, steps: tuple[Walk, ...], tagged: Walk | None) -> Walk:
    """Fields of one entity: a leading run of fixed-size fields (one bounds check), the
    other fields, then the tagged-field section of flexible versions (usually one 0 byte)."""

    if tagged is None:

        def walk(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
            pos += lead
            if pos > end:
                _truncated(lead_what, lead, pos - lead, end)
            for step in steps:
                pos = step(buf, pos, end, edits)
            return pos

        return walk

    if len(steps) == 1:  # e.g. a partition: fixed fields, records, tags
        (only,) = steps

        def walk_flexible_1(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
            pos += lead
            if pos > end:
                _truncated(lead_what, lead, pos - lead, end)
            pos = only(buf, pos, end, edits)
            if pos < end and buf[pos] == 0:
                return pos + 1  # no tagged fields
            return tagged(buf, pos, end, edits)

        return walk_flexible_1

    def walk_flexible(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        pos += lead
        if pos > end:
            _truncated(lead_what, lead, pos - lead, end)
        for step in steps:
            pos = step(buf, pos, end, edits)
        if pos < end and buf[pos] == 0:
            return pos + 1  # no tagged fields
        return tagged(buf, pos, end, edits)

    return walk_flexible


def _field_plan(field: dataclasses.Field[Any], flexible: bool, tagged: bool, entity: str) -> Plan:
    what = f"{entity}.{field.name}"
    kind = classify_field(field)
    if isinstance(kind, PrimitiveField):
        # kio reads a tagged primitive as non-nullable
        optional = is_optional(field) and not tagged
        return _primitive(get_schema_field_type(field), flexible, optional, what)
    if isinstance(kind, PrimitiveTupleField):
        item = _primitive(get_schema_field_type(field), flexible, False, what + "[]")
        return _array(item, flexible, is_optional(field), entity, field.name)
    if isinstance(kind, EntityField):
        return compile_entity(kind.type_, is_optional(field))
    if isinstance(kind, EntityTupleField):
        item = compile_entity(kind.type_, False)
        return _array(item, flexible, is_optional(field), entity, field.name)
    raise NotImplementedError(f"{what}: unsupported field {kind!r}")  # pragma: no cover


def compile_entity(cls: type[Any], nullable: bool = False) -> Plan:
    """The walk plan of one kio entity class (cached: compiled once per schema)."""
    plan = _plans.get((cls, nullable))
    if plan is None:
        plan = _plans[cls, nullable] = _compile_entity(cls, nullable)
    return plan


_plans: dict[tuple[type[Any], bool], Plan] = {}


def _compile_entity(cls: type[Any], nullable: bool) -> Plan:
    flexible = bool(cls.__flexible__)
    name = cls.__name__
    steps: list[Walk] = []
    known: dict[int, Walk] = {}
    min_size = 1 if flexible else 0
    # Runs of fixed-size fields are checked at once: the run before the first variable-size
    # field inside the entity's own walk, later ones as steps.
    lead: tuple[int, str] | None = None
    run: list[str] = []
    run_size = 0

    def end_run() -> None:
        nonlocal lead, run_size
        what = f"{name}.{run[0]}" + (f"..{run[-1]}" if len(run) > 1 else "") if run else name
        if lead is None:
            lead = (run_size, what)
        elif run:
            steps.append(_fixed(run_size, what).walk)
        run.clear()
        run_size = 0

    for field in dataclasses.fields(cls):
        tag = get_field_tag(field)
        plan = _field_plan(field, flexible, tag is not None, name)
        if tag is not None:
            known[int(tag)] = plan.walk
            continue
        min_size += plan.min_size
        if plan.fixed_size is not None:
            run.append(field.name)
            run_size += plan.fixed_size
            continue
        end_run()
        steps.append(plan.walk)
    if known and not flexible:
        raise NotImplementedError(f"{name}: tagged fields in a non-flexible schema")
    if not steps and not flexible and not nullable:
        return Plan(_fixed(run_size, name).walk, run_size, run_size)
    end_run()
    assert lead is not None
    tagged = _tagged_section(known, name) if flexible else None
    body = _entity_body(lead[0], lead[1], tuple(steps), tagged)
    if not nullable:
        return Plan(body, min_size, None)

    def walk_nullable(buf: Buffer, pos: int, end: int, edits: Edits) -> int:
        if pos >= end:
            _truncated(name, 1, pos, end)
        if buf[pos] == 0xFF:  # int8 -1: null
            return pos + 1
        return body(buf, pos + 1, end, edits)

    return Plan(walk_nullable, 1, None)


def check_body(schema: type[Any], buf: Buffer, offset: int) -> tuple[int, Edits]:
    """Walk a body of ``schema`` at ``offset``; raises ProtocolViolation when any length or
    count runs past the buffer. Returns the end of the body and the unknown tagged fields
    found (usually none)."""
    walk = _walks.get(schema)
    if walk is None:
        walk = _walks[schema] = compile_entity(schema).walk
    edits: Edits = []
    return walk(buf, offset, len(buf), edits), edits


_walks: dict[type[Any], Walk] = {}


def strip_unknown_tags(buf: Buffer, edits: Edits) -> bytes:
    """A copy of ``buf`` without the unknown tagged fields ``check_body`` found."""
    return _apply(buf, 0, len(buf), edits)


def _apply(buf: Buffer, start: int, stop: int, edits: Edits) -> bytes:
    out = bytearray()
    pos = start
    for edit_start, edit_stop, replacement in sorted(edits):
        out += buf[pos:edit_start]
        out += replacement
        pos = edit_stop
    out += buf[pos:stop]
    return bytes(out)


def _encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
