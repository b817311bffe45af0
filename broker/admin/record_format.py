"""How ``josef produce`` reads and ``josef consume`` prints keys, values and headers.

* Key/value formats: ``text`` (UTF-8), ``json`` (must parse as JSON; produced as given,
  consumed as an embedded JSON value), ``base64`` and ``hex`` (binary).
* kcat's ``-f`` format strings: ``%t`` topic, ``%p`` partition, ``%o`` offset, ``%k`` key,
  ``%K`` key length (-1 for null), ``%s`` value, ``%S`` value length (-1 for null), ``%R``
  value length as a big-endian int32, ``%h`` headers as ``n=v`` CSV, ``%T`` timestamp (ms),
  ``%%`` a percent sign; escapes ``\\n \\r \\t \\\\`` and ``\\xXX``. Nothing is appended:
  end the format with ``\\n`` for one record per line, as with kcat.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from protocol.records import Headers, Record

FORMATS: Final = ("text", "json", "base64", "hex")


class FormatError(ValueError):
    """Input that does not match its declared format, or a bad format string."""


def encode_field(text: str, fmt: str, what: str) -> bytes:
    """Produce side: a key or value given on the command line / stdin in ``fmt``."""
    if fmt == "text":
        return text.encode()
    if fmt == "json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise FormatError(f"{what} is not valid JSON: {exc}") from None
        return text.encode()
    if fmt == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FormatError(f"{what} is not valid base64: {exc}") from None
    if fmt == "hex":
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise FormatError(f"{what} is not valid hex: {exc}") from None
    raise FormatError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")


def decode_text(data: bytes | None, fmt: str) -> str | None:
    """Consume side, as text: hex/base64 encode, json compacts (invalid JSON as text)."""
    if data is None:
        return None
    if fmt == "hex":
        return data.hex()
    if fmt == "base64":
        return base64.b64encode(data).decode()
    text = data.decode("utf-8", "replace")
    if fmt == "json":
        try:
            return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
        except ValueError:
            return text
    return text


def decode_json(data: bytes | None, fmt: str) -> Any:
    """Consume side, for ``--output json``: json embeds the parsed value."""
    if data is None:
        return None
    if fmt == "json":
        text = data.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text
    return decode_text(data, fmt)


def headers_text(headers: Headers, key_sep: str = "=", null: str = "NULL") -> str:
    """kcat's ``%h`` (``k=v,k2=NULL``); Kafka's console consumer uses ``:`` and ``null``."""
    return ",".join(
        f"{k}{key_sep}{null if v is None else v.decode('utf-8', 'replace')}" for k, v in headers
    )


def headers_json(headers: Headers) -> list[dict[str, str | None]]:
    return [
        {"key": k, "value": None if v is None else v.decode("utf-8", "replace")} for k, v in headers
    ]


def parse_header(text: str) -> tuple[str, bytes | None]:
    """``key=value`` (kcat -H); ``key`` alone is a header with a null value."""
    key, sep, value = text.partition("=")
    if not key:
        raise FormatError(f"bad header {text!r}: expected key=value")
    return key, value.encode() if sep else None


@dataclass(frozen=True, slots=True)
class Delivered:
    """One consumed record with where it came from."""

    topic: str
    partition: int
    record: Record
    timestamp_type: int = 0


Piece = Callable[[Delivered], bytes]


def _len(data: bytes | None) -> int:
    return -1 if data is None else len(data)


_TOKENS: Final[dict[str, Piece]] = {
    "t": lambda d: d.topic.encode(),
    "p": lambda d: str(d.partition).encode(),
    "o": lambda d: str(d.record.offset).encode(),
    "k": lambda d: d.record.key or b"",
    "K": lambda d: str(_len(d.record.key)).encode(),
    "s": lambda d: d.record.value or b"",
    "S": lambda d: str(_len(d.record.value)).encode(),
    "R": lambda d: struct.pack(">i", _len(d.record.value)),
    "h": lambda d: headers_text(d.record.headers).encode(),
    "T": lambda d: str(d.record.timestamp).encode(),
}
_ESCAPES: Final = {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\"}


def compile_format(fmt: str) -> Callable[[Delivered], bytes]:
    """A kcat ``-f`` format string as a function from a record to the bytes to print."""
    pieces: list[Piece | bytes] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%":
            if i + 1 >= len(fmt):
                raise FormatError("format string ends with %")
            token = fmt[i + 1]
            if token == "%":
                pieces.append(b"%")
            elif token in _TOKENS:
                pieces.append(_TOKENS[token])
            else:
                raise FormatError(f"unknown format token %{token} (kcat's: %t %p %o %k %K "
                                  "%s %S %R %h %T)")  # fmt: skip
            i += 2
        elif c == "\\" and i + 1 < len(fmt):
            nxt = fmt[i + 1]
            if nxt in _ESCAPES:
                pieces.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "x" and i + 3 < len(fmt):
                try:
                    pieces.append(bytes([int(fmt[i + 2 : i + 4], 16)]))
                except ValueError:
                    raise FormatError(f"bad escape {fmt[i : i + 4]!r}") from None
                i += 4
            else:
                pieces.append(nxt.encode())
                i += 2
        else:
            j = i
            while j < len(fmt) and fmt[j] not in "%\\":
                j += 1
            pieces.append(fmt[i:j].encode())
            i = j

    def render(d: Delivered) -> bytes:
        return b"".join(p if isinstance(p, bytes) else p(d) for p in pieces)

    return render
