"""Kafka's primitive types (int8-64, unsigned varint, strings, bytes, arrays, uuid,
tagged fields) for the hand-written schemas: ``__consumer_offsets`` records and the
Fetch response hot path. ``flexible`` selects the compact encodings of KIP-482."""

from __future__ import annotations

import struct
import uuid
from typing import Final

_I8: Final = struct.Struct(">b")
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class PrimitiveWriter:
    """Appends primitives to a buffer; ``string``/``bytes_``/``array_len``/``tags`` use
    the compact (flexible) forms when ``flexible`` is set."""

    __slots__ = ("buf", "error", "flexible")

    def __init__(self, flexible: bool = False, *, error: type[Exception] = ValueError) -> None:
        self.buf = bytearray()
        self.flexible = flexible
        self.error = error

    def i8(self, v: int) -> None:
        self.buf += _I8.pack(v)

    def i16(self, v: int) -> None:
        self.buf += _I16.pack(v)

    def i32(self, v: int) -> None:
        self.buf += _I32.pack(v)

    def i64(self, v: int) -> None:
        self.buf += _I64.pack(v)

    def uvarint(self, v: int) -> None:
        while v >= 0x80:
            self.buf.append((v & 0x7F) | 0x80)
            v >>= 7
        self.buf.append(v)

    def uuid(self, u: uuid.UUID) -> None:
        self.buf += u.bytes

    def string(self, s: str | None) -> None:
        if s is None:
            if self.flexible:
                self.uvarint(0)
            else:
                self.i16(-1)
            return
        data = s.encode()
        if self.flexible:
            self.uvarint(len(data) + 1)
        else:
            if len(data) > 0x7FFF:
                raise self.error(f"string of {len(data)} bytes is too long")
            self.i16(len(data))
        self.buf += data

    def bytes_(self, b: bytes) -> None:
        if self.flexible:
            self.uvarint(len(b) + 1)
        else:
            self.i32(len(b))
        self.buf += b

    def array_len(self, n: int) -> None:
        if self.flexible:
            self.uvarint(n + 1)
        else:
            self.i32(n)

    def tags(self) -> None:
        """An empty tagged-field section (flexible only)."""
        if self.flexible:
            self.uvarint(0)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class PrimitiveReader:
    """Reads primitives; malformed input raises ``error`` (the caller's exception type)."""

    __slots__ = ("data", "error", "flexible", "pos")

    def __init__(
        self,
        data: bytes,
        pos: int = 0,
        *,
        flexible: bool = False,
        error: type[Exception] = ValueError,
    ) -> None:
        self.data = data
        self.pos = pos
        self.flexible = flexible
        self.error = error

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise self.error(f"truncated record at byte {self.pos} (needs {n})")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def i8(self) -> int:
        return int(_I8.unpack(self._take(1))[0])

    def i16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise self.error("varint too long")

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self._take(16))

    def nullable_string(self) -> str | None:
        n = self.uvarint() - 1 if self.flexible else self.i16()
        if n < 0:
            return None
        try:
            return self._take(n).decode()
        except UnicodeDecodeError as exc:
            raise self.error(f"invalid UTF-8 string: {exc}") from exc

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise self.error("null in a non-nullable string field")
        return s

    def bytes_(self) -> bytes:
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            raise self.error("null in a non-nullable bytes field")
        return bytes(self._take(n))

    def array_len(self) -> int:
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            raise self.error("null in a non-nullable array")
        return n

    def read_tags(self) -> dict[int, bytes]:
        """The tagged fields (tag → raw bytes); none when not flexible."""
        tags: dict[int, bytes] = {}
        if self.flexible:
            for _ in range(self.uvarint()):
                tag = self.uvarint()
                tags[tag] = self._take(self.uvarint())
        return tags

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.error(f"{len(self.data) - self.pos} trailing byte(s) after record")
