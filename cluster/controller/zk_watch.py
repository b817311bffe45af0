"""Watches with the semantics of Kafka's ZNodeChangeHandler and ZNodeChildChangeHandler.

Every ZooKeeper watch event on the path is passed on (no de-duplication: a broker that
re-registers, or a topic deleted and created again, between two reads must still be seen:
the controller compares what it reads with what it knows), and the watch is armed again
after each event. The callback also runs once when the watch is first armed and after every
(re)connection, because a change may have happened before the watch existed or while it was
lost with the connection; what the callbacks trigger re-reads and is idempotent.

* ``children`` - the path's children changed (the path may be absent).
* ``data``     - the znode was created, changed or deleted; the callback gets whether it
                 exists now.
* ``creation`` - the znode appeared (it exists when armed, or a CREATED event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal

from cluster.zk.client import (
    SessionEvent,
    SessionState,
    WatchEvent,
    WatchEventType,
    ZkClient,
)
from cluster.zk.errors import ClientClosedError, NoNodeError, ZooKeeperError

log = logging.getLogger(__name__)

Mode = Literal["children", "data", "creation"]
RETRY_S = 0.5


class ZNodeWatch:
    """One kept watch (see the module docstring); :meth:`cancel` stops it."""

    def __init__(
        self, zk: ZkClient, path: str, mode: Mode, callback: Callable[[bool], None]
    ) -> None:
        self.zk = zk
        self.path = path
        self.mode = mode
        self.callback = callback
        self.cancelled = False
        self._task: asyncio.Task[None] | None = None
        self._again = False  # arm once more when the running arm finishes
        self._fire_after_arm = False
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> ZNodeWatch:
        self._unsubscribe = self.zk.add_session_listener(self._on_session)
        self._arm_soon(fire=True)
        return self

    def cancel(self) -> None:
        self.cancelled = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()

    # -- events -----------------------------------------------------------------------------------
    def _on_session(self, event: SessionEvent) -> None:
        if event.state is SessionState.CONNECTED and not self.cancelled:
            self._arm_soon(fire=True)

    def _on_event(self, event: WatchEvent) -> None:
        if self.cancelled:
            return
        if event.type is WatchEventType.SESSION:
            return  # the connection dropped: re-armed (and fired) on the next CONNECTED
        if self.mode == "children":
            self._fire(True)
        elif self.mode == "data":
            self._fire(event.type is not WatchEventType.DELETED)
        elif event.type is WatchEventType.CREATED:
            self._fire(True)
        self._arm_soon(fire=False)

    def _fire(self, exists: bool) -> None:
        try:
            self.callback(exists)
        except Exception:
            log.exception("watch callback on %s failed", self.path)

    # -- arming -----------------------------------------------------------------------------------
    def _arm_soon(self, fire: bool) -> None:
        self._fire_after_arm = self._fire_after_arm or fire
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._arm())

    async def _arm(self) -> None:
        while not self.cancelled:
            self._again = False
            fire, self._fire_after_arm = self._fire_after_arm, False
            try:
                exists = await self._read()
            except ClientClosedError:
                return
            except (ZooKeeperError, TimeoutError) as exc:
                log.debug("arming the watch on %s failed (%s); retrying", self.path, exc)
                self._fire_after_arm = self._fire_after_arm or fire
                with contextlib.suppress(ZooKeeperError, TimeoutError):
                    await self.zk.wait_connected()
                await asyncio.sleep(RETRY_S)
                continue
            if fire and not self.cancelled and (exists or self.mode != "creation"):
                self._fire(exists)
            if not self._again:
                return

    async def _read(self) -> bool:
        """Set the watch; whether the znode exists."""
        if self.mode == "children":
            try:
                await self.zk.get_children(self.path, watch=self._on_event)
                return True
            except NoNodeError:
                # No children watch on an absent znode: watch for its creation instead.
                return await self.zk.exists(self.path, watch=self._on_event) is not None
        return await self.zk.exists(self.path, watch=self._on_event) is not None
