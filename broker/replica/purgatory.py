"""Delayed operations (Kafka's purgatories): requests parked until a partition changes.

A fetch waits for data (``min_bytes``) and an ``acks=all`` produce waits for the high
watermark to reach its offsets. Both park on the partitions they watch and are woken by
``notify(topic, partition)`` when a partition's log end offset, high watermark or
leadership changes; the waiter then re-checks its condition (Kafka's
``tryCompleteElseWatch``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class Purgatory:
    """Parks waiters on (topic, partition) keys until notified or timed out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._watchers: dict[tuple[str, int], set[asyncio.Future[None]]] = {}

    async def wait(self, keys: Iterable[tuple[str, int]], timeout_s: float) -> bool:
        """True if woken by a change, False on timeout."""
        if timeout_s <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        watched = list(keys)
        for key in watched:
            self._watchers.setdefault(key, set()).add(fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            for key in watched:
                waiters = self._watchers.get(key)
                if waiters is not None:
                    waiters.discard(fut)
                    if not waiters:
                        del self._watchers[key]

    def notify(self, topic: str, partition: int) -> None:
        waiters = self._watchers.get((topic, partition))
        if waiters:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def notify_all(self) -> None:
        for waiters in self._watchers.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    @property
    def size(self) -> int:
        return sum(len(w) for w in self._watchers.values())
