"""Watchers that stay registered: Kafka's ZNodeChangeHandler / ZNodeChildChangeHandler.

ZooKeeper watches fire once, and kazoo drops them all when the connection is lost. These
re-read (and so re-arm) after every event and after every reconnection or new session, and
call back on the event loop only when what they watch really changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cluster.zk import errors
from cluster.zk.client import SessionEvent, SessionState, WatchEvent, WatchEventType
from cluster.zk.ops import ZnodeStat

if TYPE_CHECKING:
    from cluster.zk.client import ZkClient

log = logging.getLogger(__name__)


class _Watcher:
    """Shared machinery: refresh on every event, re-arm after reconnects, stop on cancel."""

    def __init__(self, client: ZkClient, path: str) -> None:
        self.client = client
        self.path = path
        self.cancelled = False
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.client.add_session_listener(self._on_session)
        self._dirty.set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        self.cancelled = True
        self.client._discard_watcher(self)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()

    def _on_event(self, event: WatchEvent) -> None:
        if event.type is not WatchEventType.SESSION:
            self._dirty.set()
        # SESSION: the watch is gone; _on_session re-reads on the next CONNECTED.

    def _on_session(self, event: SessionEvent) -> None:
        if event.state is SessionState.CONNECTED:
            self._dirty.set()

    async def _run(self) -> None:
        while not self.cancelled:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._refresh()
            except errors.ClientClosedError:
                return
            except (errors.ConnectionLossError, errors.SessionExpiredError, TimeoutError):
                self._dirty.set()
                with contextlib.suppress(errors.ZooKeeperError, TimeoutError):
                    await self.client.wait_connected()
            except Exception:
                log.exception("ZooKeeper watcher on %s failed; retrying", self.path)
                await asyncio.sleep(0.5)
                self._dirty.set()

    async def _refresh(self) -> None:
        raise NotImplementedError


class DataWatcher(_Watcher):
    """Re-arming data watch on one znode (like Kafka's ZNodeChangeHandler, kept registered)."""

    def __init__(
        self,
        client: ZkClient,
        path: str,
        callback: Callable[[bytes | None, ZnodeStat | None], None],
    ) -> None:
        super().__init__(client, path)
        self._callback = callback
        self._last: tuple[int, int] | bool | None = False  # False: nothing delivered yet

    async def _refresh(self) -> None:
        while True:
            try:
                data, stat = await self.client.get(self.path, watch=self._on_event)
                break
            except errors.NoNodeError:
                absent = await self.client.exists(self.path, watch=self._on_event)
                if absent is None:
                    data, stat = None, None
                    break
        key = (stat.czxid, stat.mzxid) if stat is not None else None
        if key != self._last and not self.cancelled:
            self._last = key
            self._callback(data, stat)


class ChildrenWatcher(_Watcher):
    """Re-arming children watch (like Kafka's ZNodeChildChangeHandler, kept registered)."""

    def __init__(
        self, client: ZkClient, path: str, callback: Callable[[list[str] | None], None]
    ) -> None:
        super().__init__(client, path)
        self._callback = callback
        self._last: list[str] | bool | None = False

    async def _refresh(self) -> None:
        while True:
            try:
                children: list[str] | None = sorted(
                    await self.client.get_children(self.path, watch=self._on_event)
                )
                break
            except errors.NoNodeError:
                if await self.client.exists(self.path, watch=self._on_event) is None:
                    children = None
                    break
        if children != self._last and not self.cancelled:
            self._last = children
            self._callback(children)
