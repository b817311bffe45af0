"""ZkAclStore on a real ZooKeeper: two brokers' stores changing the same resource at once
both land (compare-and-set, retried), each learns the other's changes through the change
notifications, and a resource without ACLs has no znode, as with Kafka's AclAuthorizer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from cluster.acl_store import Entries
from cluster.acls import (
    AccessControlEntry,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from cluster.zk.acl_znodes import decode_acls
from cluster.zk.client import ZkClient
from cluster.zk_acl_store import ZkAclStore

ORDERS = ResourcePattern(ResourceType.TOPIC, "orders", PatternType.LITERAL)
TEAM = ResourcePattern(ResourceType.GROUP, "team-", PatternType.PREFIXED)


def entry(principal: str, op: AclOperation = AclOperation.READ) -> AccessControlEntry:
    return AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW)


@pytest.fixture
async def clients(zk_connect: str) -> AsyncIterator[tuple[ZkClient, ZkClient]]:
    a = ZkClient(zk_connect, session_timeout_ms=6000, connection_timeout_ms=15000)
    b = ZkClient(zk_connect, session_timeout_ms=6000, connection_timeout_ms=15000)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def adding(new: AccessControlEntry) -> Callable[[Entries], Entries]:
    return lambda current: current | {new}


async def wait_for(seen: dict[ResourcePattern, Entries], pattern: ResourcePattern,
                   wanted: Entries) -> None:  # fmt: skip
    for _ in range(200):
        if seen.get(pattern) == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{pattern}: {seen.get(pattern)} != {wanted}")


async def test_concurrent_updates_and_notifications(clients: tuple[ZkClient, ZkClient]) -> None:
    a, b = clients
    store_a, store_b = ZkAclStore(a), ZkAclStore(b)
    assert await store_a.load() == {}
    assert await store_b.load() == {}
    seen_a: dict[ResourcePattern, Entries] = {}
    seen_b: dict[ResourcePattern, Entries] = {}
    store_a.subscribe(lambda p, e: seen_a.__setitem__(p, e))
    store_b.subscribe(lambda p, e: seen_b.__setitem__(p, e))
    try:
        adds = [
            store.update(ORDERS, adding(entry(f"User:{name}{i}")))
            for i in range(10)
            for name, store in (("a", store_a), ("b", store_b))
        ]
        await asyncio.gather(*adds)
        expected = frozenset(entry(f"User:{name}{i}") for i in range(10) for name in "ab")
        data, _ = await a.get("/kafka-acl/Topic/orders")
        assert decode_acls(data, "test") == expected
        await wait_for(seen_a, ORDERS, expected)
        await wait_for(seen_b, ORDERS, expected)

        await store_b.update(TEAM, lambda cur: cur | {entry("User:x", AclOperation.ALL)})
        await wait_for(seen_a, TEAM, frozenset({entry("User:x", AclOperation.ALL)}))
        assert await a.exists("/kafka-acl-extended/prefixed/Group/team-") is not None

        # The last ACL of a resource takes its znode with it.
        await store_a.update(TEAM, lambda cur: frozenset())
        assert await a.exists("/kafka-acl-extended/prefixed/Group/team-") is None
        await wait_for(seen_b, TEAM, frozenset())
        assert await ZkAclStore(a).load() == {ORDERS: expected}
    finally:
        await store_a.close()
        await store_b.close()
