"""Keyed timers for session, rebalance and join delays.

A coordinator schedules at most one timer per key (``"heartbeat:<group>:<member>"``);
scheduling a key again replaces its timer. :class:`LoopTimer` runs on the asyncio
loop (``loop.call_later``); :class:`ManualTimer` fires when a test advances it, so
unit tests drive session and rebalance timeouts without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Timer(Protocol):
    def schedule(self, key: str, delay_ms: int, callback: Callback) -> None: ...

    def cancel(self, key: str) -> None: ...

    def is_scheduled(self, key: str) -> bool: ...

    def cancel_all(self) -> None: ...


def _run(key: str, callback: Callback) -> None:
    try:
        callback()
    except Exception:
        log.exception("timer %s failed", key)


class LoopTimer:
    """Timers on the running asyncio loop."""

    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def schedule(self, key: str, delay_ms: int, callback: Callback) -> None:
        self.cancel(key)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._handles.pop(key, None)
            _run(key, callback)

        self._handles[key] = loop.call_later(max(0, delay_ms) / 1000.0, fire)

    def cancel(self, key: str) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def is_scheduled(self, key: str) -> bool:
        return key in self._handles

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


class ManualTimer:
    """Timers that fire only from :meth:`advance` (tests)."""

    def __init__(self) -> None:
        self.now_ms = 0
        self._entries: dict[str, tuple[int, int, Callback]] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()

    def schedule(self, key: str, delay_ms: int, callback: Callback) -> None:
        seq = next(self._seq)
        due = self.now_ms + max(0, delay_ms)
        self._entries[key] = (due, seq, callback)
        heapq.heappush(self._heap, (due, seq, key))

    def cancel(self, key: str) -> None:
        self._entries.pop(key, None)

    def is_scheduled(self, key: str) -> bool:
        return key in self._entries

    def cancel_all(self) -> None:
        self._entries.clear()
        self._heap.clear()

    def advance(self, ms: int) -> None:
        target = self.now_ms + ms
        while self._heap and self._heap[0][0] <= target:
            due, seq, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry[1] != seq:
                continue
            del self._entries[key]
            self.now_ms = due
            _run(key, entry[2])
        self.now_ms = target
