"""Where ACLs are kept: the standalone metadata document, or ZooKeeper (``zk_acl_store``).

An :class:`AclStore` holds, per resource pattern, the set of access control entries, and
changes one resource at a time (Kafka's ``updateResourceAcls``: read, transform, write
with a compare-and-set, retry). Changes made elsewhere (another broker of the cluster)
reach the authorizer through the listener it subscribes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from cluster.acls import AccessControlEntry, ResourcePattern

Entries = frozenset[AccessControlEntry]
AclSnapshot = dict[ResourcePattern, Entries]
# (resource, its entries now); called on the event loop.
AclListener = Callable[[ResourcePattern, Entries], None]
AclChange = Callable[[Entries], Entries]


class AclStore(Protocol):
    async def load(self) -> AclSnapshot:
        """Every resource with ACLs."""
        ...

    async def update(self, pattern: ResourcePattern, change: AclChange) -> tuple[Entries, Entries]:
        """Apply ``change`` to the resource's entries durably; (before, after)."""
        ...

    def subscribe(self, listener: AclListener) -> None:
        """Be told of changes this broker did not make."""
        ...

    async def close(self) -> None: ...


class AclDocument(Protocol):
    """The part of the standalone metadata store that keeps ACLs."""

    def acls(self) -> AclSnapshot: ...

    async def set_acls(self, pattern: ResourcePattern, entries: Entries) -> None: ...


class StandaloneAclStore:
    """ACLs in the standalone broker's ``josef-metadata.json`` (no other broker to tell)."""

    def __init__(self, document: AclDocument) -> None:
        self._document = document
        self._lock = asyncio.Lock()

    async def load(self) -> AclSnapshot:
        return dict(self._document.acls())

    async def update(self, pattern: ResourcePattern, change: AclChange) -> tuple[Entries, Entries]:
        async with self._lock:
            before = self._document.acls().get(pattern, frozenset())
            after = change(before)
            if after != before:
                await self._document.set_acls(pattern, after)
            return before, after

    def subscribe(self, listener: AclListener) -> None:
        return None

    async def close(self) -> None:
        return None
