"""The console's one error type: what a page shows instead of a stack trace."""

from __future__ import annotations


class ConsoleError(Exception):
    """A failure shown on the page: a Kafka error name (or a kind) and a message."""

    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.status = status
