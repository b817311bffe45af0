"""Plain-text output for the admin commands: aligned tables like Kafka's tools print."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import TextIO


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
