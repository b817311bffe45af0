"""Delayed operations: fetches that wait for data (Kafka's fetch purgatory)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class FetchPurgatory:
    """Parks fetch requests until one of their partitions gets new data or time runs out.

    Appends call ``notify(topic, partition)``; a waiting fetch wakes up and
    re-reads, exactly like Kafka's DelayedFetch completing on a watch key.
    """

    def __init__(self) -> None:
        self._watchers: dict[tuple[str, int], set[asyncio.Future[None]]] = {}

    async def wait(self, keys: Iterable[tuple[str, int]], timeout_s: float) -> bool:
        """True if woken by new data, False on timeout."""
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
