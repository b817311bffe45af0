"""Injected time, so retention, roll and timeouts are testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def milliseconds(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """Wall-clock milliseconds for timestamps; monotonic seconds for timeouts."""

    def milliseconds(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms
        self._mono = 0.0

    def milliseconds(self) -> int:
        return self.now_ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        self._mono += ms / 1000.0
