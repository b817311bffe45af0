"""The broker's logging: ``josef.log.format`` (text or JSON lines) and ``josef.log.levels``
(log4j-style per-logger levels, ``broker.network=DEBUG,cluster=INFO,root=WARN``).

JSON lines carry ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and
``message``; a line logged while a request is handled also carries ``connection_id``,
``request_id`` (``<connection id>/<correlation id>``), ``api`` and ``client_id``, and an
exception its ``exception`` text. The request context is one ContextVar set by the
dispatcher per request (the connection's task copies it into anything it spawns).
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from typing import Final, TextIO

FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TRACE: Final = 5
OFF: Final = logging.CRITICAL + 10
#: log4j level names → Python levels (TRACE below DEBUG, FATAL = CRITICAL, OFF silences).
LEVELS: Final = {
    "TRACE": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
    "OFF": OFF,
}
ROOT: Final = "root"

logging.addLevelName(TRACE, "TRACE")


#: (connection id, correlation id, API name, client id) of the request being handled; a
#: plain tuple because the dispatcher builds one per request (a NamedTuple costs more).
RequestLogContext = tuple[str, int, str, str | None]

REQUEST_CONTEXT: contextvars.ContextVar[RequestLogContext | None] = contextvars.ContextVar(
    "josef_request_log_context", default=None
)


def parse_log_levels(text: str | None) -> dict[str, int]:
    """``logger=LEVEL,...`` → {logger name: level}; ``root`` names the root logger.
    Raises ValueError naming the bad entry."""
    out: dict[str, int] = {}
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, level = item.partition("=")
        name, level = name.strip(), level.strip().upper()
        if not sep or not name:
            raise ValueError(f"{item!r} is not logger=LEVEL")
        if level not in LEVELS:
            raise ValueError(
                f"{item!r}: {level or 'empty'} is not a level ({', '.join(LEVELS)})"
            )
        if name in out:
            raise ValueError(f"logger {name} is given twice")
        out[name] = LEVELS[level]
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = REQUEST_CONTEXT.get()
        if ctx is not None:
            connection_id, correlation_id, api, client_id = ctx
            doc["connection_id"] = connection_id
            doc["request_id"] = f"{connection_id}/{correlation_id}"
            doc["api"] = api
            if client_id is not None:
                doc["client_id"] = client_id
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure(
    log_format: str = "text",
    levels: dict[str, int] | None = None,
    root_level: int = logging.INFO,
    stream: TextIO | None = None,
) -> None:
    """(Re)configure logging: one stderr handler in ``log_format``, the root at
    ``root_level`` unless ``levels`` names ``root``, and each named logger's level."""
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    chosen = dict(levels or {})
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(chosen.pop(ROOT, root_level))
    for name, level in chosen.items():
        logging.getLogger(name).setLevel(level)
