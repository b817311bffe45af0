"""Errors of the admin client: Kafka error codes with Kafka's names and messages."""

from __future__ import annotations

import ast
import inspect
import itertools
from functools import cache
from typing import Final

from kio.schema.errors import ErrorCode

NONE: Final = 0

# Retried (after refreshing metadata or the coordinator) until the deadline.
RETRIABLE: Final = frozenset(
    {
        ErrorCode.coordinator_load_in_progress.value,
        ErrorCode.coordinator_not_available.value,
        ErrorCode.not_coordinator.value,
        ErrorCode.leader_not_available.value,
        ErrorCode.not_leader_or_follower.value,
        ErrorCode.request_timed_out.value,
        ErrorCode.fenced_leader_epoch.value,
        ErrorCode.unknown_leader_epoch.value,
        ErrorCode.offset_not_available.value,
    }
)


@cache
def _error_docs() -> dict[str, str]:
    """Kafka's message for each error code, from the docstrings in kio's ErrorCode source."""
    docs: dict[str, str] = {}
    try:
        tree = ast.parse(inspect.getsource(ErrorCode))
    except (OSError, TypeError, SyntaxError):
        return docs
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.targets[0].id] = nxt.value.value
    return docs


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name.upper()
    except ValueError:
        return f"UNKNOWN_ERROR_CODE_{code}"


def error_description(code: int) -> str:
    try:
        return _error_docs().get(ErrorCode(code).name, "")
    except ValueError:
        return ""


class AdminError(Exception):
    """A failure the command reports and exits with status 1."""


class KafkaResponseError(AdminError):
    """An error code in a response."""

    def __init__(self, code: int, message: str | None = None, context: str = "") -> None:
        self.code = code
        self.name = error_name(code)
        self.message = message or error_description(code)
        self.context = context
        text = f"{self.name}: {self.message}" if self.message else self.name
        super().__init__(f"{context}: {text}" if context else text)

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE


def check(code: int, message: str | None = None, context: str = "") -> None:
    if code != NONE:
        raise KafkaResponseError(code, message, context)


class UnsupportedApi(AdminError):
    """No version of an API that both this client and the broker support."""
