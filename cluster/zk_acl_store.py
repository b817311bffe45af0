"""ACLs in ZooKeeper, shared by every broker of the cluster, as Kafka's AclAuthorizer keeps
them (znode formats in ``cluster/zk/acl_znodes.py``).

A change is a compare-and-set on the resource's znode (created when it gets its first
ACL, deleted with its last), retried from a fresh read when another broker won the race,
then announced with a sequential znode under ``/kafka-acl-changes`` (literal patterns) or
``/kafka-acl-extended-changes``. Every broker follows both queues and re-reads the named
resource, so an ACL added at one broker applies at all of them within a ZooKeeper round
trip. Notifications older than 15 minutes are deleted, as Kafka's listener does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from cluster.acl_store import AclChange, AclListener, AclSnapshot, Entries
from cluster.acls import CONCRETE_RESOURCE_TYPES, PatternType, ResourcePattern, parse_name
from cluster.acls import ResourceType as _ResourceType
from cluster.zk import acl_znodes, errors, paths
from cluster.zk.client import ZkClient
from cluster.zk.watchers import ChildrenWatcher

log = logging.getLogger(__name__)

MAX_UPDATE_RETRIES = 10
_PATTERN_TYPES = (PatternType.LITERAL, PatternType.PREFIXED)
ChildrenCallback = Callable[[list[str] | None], None]


class ZkAclStore:
    """AclStore over ZooKeeper (``/kafka-acl``, ``/kafka-acl-extended``)."""

    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk
        self._listeners: list[AclListener] = []
        self._watchers: list[ChildrenWatcher] = []
        # Last notification processed per queue (10-digit sequence, compared as text).
        self._last: dict[PatternType, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._processing = asyncio.Lock()

    # -- life cycle ------------------------------------------------------------------------

    async def load(self) -> AclSnapshot:
        """Create Kafka's ACL paths, follow the change queues, read every resource."""
        for path in acl_znodes.acl_paths():
            await self.zk.ensure_path(path)
        for pattern_type in _PATTERN_TYPES:
            root = acl_znodes.change_root(pattern_type)
            seqs = [
                paths.sequence_number(c, paths.ACL_CHANGE_PREFIX)
                for c in await self._children(root)
                if c.startswith(paths.ACL_CHANGE_PREFIX)
            ]
            # Everything announced so far is in the znodes read below.
            self._last[pattern_type] = max(seqs) if seqs else None
            self._watchers.append(
                self.zk.watch_children(root, self._on_changes_callback(pattern_type))
            )
        snapshot: AclSnapshot = {}
        for pattern_type in _PATTERN_TYPES:
            root = acl_znodes.store_root(pattern_type)
            for type_name in await self._children(root):
                resource_type = parse_name(_ResourceType, type_name)
                if resource_type not in CONCRETE_RESOURCE_TYPES:
                    log.warning("ignoring unknown ACL resource type %s under %s", type_name, root)
                    continue
                type_path = f"{root}/{type_name}"
                for name in await self._children(type_path):
                    pattern = ResourcePattern(resource_type, name, pattern_type)
                    entries, _ = await self._read(pattern)
                    if entries:
                        snapshot[pattern] = entries
        return snapshot

    def subscribe(self, listener: AclListener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        for w in self._watchers:
            w.cancel()
        self._watchers.clear()
        for task in list(self._tasks):
            task.cancel()

    # -- reads and writes ------------------------------------------------------------------

    async def _children(self, path: str) -> list[str]:
        try:
            return sorted(await self.zk.get_children(path))
        except errors.NoNodeError:
            return []

    async def _read(self, pattern: ResourcePattern) -> tuple[Entries, int]:
        """(entries, znode version); version -1 when the znode does not exist."""
        path = acl_znodes.resource_path(pattern)
        try:
            data, stat = await self.zk.get(path)
        except errors.NoNodeError:
            return frozenset(), -1
        return acl_znodes.decode_acls(data, f"ACLs of {pattern}"), stat.version

    async def update(self, pattern: ResourcePattern, change: AclChange) -> tuple[Entries, Entries]:
        """Kafka's updateResourceAcls: compare-and-set with retries, then a notification."""
        path = acl_znodes.resource_path(pattern)
        before, version = await self._read(pattern)
        for _attempt in range(MAX_UPDATE_RETRIES + 1):
            after = change(before)
            try:
                if after == before:
                    return before, after
                if after and version >= 0:
                    await self.zk.set(path, acl_znodes.encode_acls(after), version=version)
                elif after:
                    await self.zk.create(path, acl_znodes.encode_acls(after), makepath=True)
                else:
                    await self.zk.delete(path, version=version)
            except (errors.BadVersionError, errors.NodeExistsError, errors.NoNodeError):
                # Another broker changed it meanwhile: read again and re-apply.
                await asyncio.sleep((100 + random.randrange(50)) / 1000.0)
                before, version = await self._read(pattern)
                continue
            await self.zk.create(
                acl_znodes.change_prefix(pattern.pattern_type),
                acl_znodes.encode_change(pattern),
                sequential=True,
                makepath=True,
            )
            log.info("updated ACLs for %s: %d entries", pattern, len(after))
            return before, after
        raise RuntimeError(
            f"Failed to update ACLs for {pattern} after trying {MAX_UPDATE_RETRIES} times"
        )

    # -- change notifications --------------------------------------------------------------

    def _on_changes_callback(self, pattern_type: PatternType) -> ChildrenCallback:
        def on_changes(children: list[str] | None) -> None:
            task = asyncio.get_running_loop().create_task(
                self._process(pattern_type, children or [])
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return on_changes

    async def _process(self, pattern_type: PatternType, children: list[str]) -> None:
        async with self._processing:
            await self._process_locked(pattern_type, children)

    async def _process_locked(self, pattern_type: PatternType, children: list[str]) -> None:
        root = acl_znodes.change_root(pattern_type)
        now_ms = int(time.time() * 1000)
        for child in sorted(children):
            if not child.startswith(paths.ACL_CHANGE_PREFIX):
                continue
            seq = paths.sequence_number(child, paths.ACL_CHANGE_PREFIX)
            path = f"{root}/{child}"
            last = self._last.get(pattern_type)
            if last is not None and seq <= last:
                await self._maybe_purge(path, now_ms)
                continue
            self._last[pattern_type] = seq
            try:
                data, stat = await self.zk.get(path)
            except errors.NoNodeError:
                continue
            try:
                pattern = acl_znodes.decode_change(pattern_type, data)
                entries, _ = await self._read(pattern)
            except ValueError as exc:
                log.warning("ignoring ACL change notification %s: %s", path, exc)
                continue
            log.info("processing ACL change notification for %s: %d entries", pattern,
                     len(entries))
            for listener in self._listeners:
                listener(pattern, entries)
            if now_ms - stat.ctime > acl_znodes.CHANGE_EXPIRATION_MS:
                with contextlib.suppress(errors.NoNodeError):
                    await self.zk.delete(path)

    async def _maybe_purge(self, path: str, now_ms: int) -> None:
        with contextlib.suppress(errors.NoNodeError):
            stat = await self.zk.exists(path)
            if stat is not None and now_ms - stat.ctime > acl_znodes.CHANGE_EXPIRATION_MS:
                await self.zk.delete(path)


