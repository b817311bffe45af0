"""Output of the admin commands: aligned tables like Kafka's tools print (``--output
text``), or JSON documents (``--output json``) with the fields of the Admin API."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by at least two spaces; no trailing whitespace."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(line.rstrip())
    return "\n".join(lines)


def print_table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(format_table(headers, rows), file=out)


def kafka_uuid(value: uuid.UUID | None) -> str:
    """A Kafka Uuid as Kafka prints it: URL-safe base64 of the 16 bytes, unpadded."""
    if value is None:
        return "AAAAAAAAAAAAAAAAAAAAAA"
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "text") == "json"


def _json_default(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return kafka_uuid(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent, ensure_ascii=False)


def print_json(out: TextIO, value: Any) -> None:
    """One JSON document on one line (``jq`` reads it; a stream of them reads as lines)."""
    print(to_json(value), file=out)


class Progress:
    """One updating line on stderr for a long-running command, only when stderr is a
    terminal (never in pipes, files or tests)."""

    def __init__(self, what: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.what = what
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"\r{self.what}: {done}{of}\x1b[K")
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
