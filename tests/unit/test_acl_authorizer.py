"""The ACL authorizer's decisions and ACL administration: Kafka's AclAuthorizer semantics
(KIP-11, KIP-290) checked case by case against an in-memory store."""

from __future__ import annotations

import asyncio

import pytest

from broker.security.authorizer import AclAuthorizer, parse_super_users
from cluster.acl_store import AclSnapshot, Entries, StandaloneAclStore
from cluster.acls import (
    ANY_FILTER,
    CLUSTER_NAME,
    AccessControlEntry,
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

R, W, D, ALL = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.ALL
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
ALICE, BOB = "User:alice", "User:bob"
HOST = "10.0.0.1"


class MemoryDocument:
    def __init__(self) -> None:
        self.data: AclSnapshot = {}

    def acls(self) -> AclSnapshot:
        return self.data

    async def set_acls(self, pattern: ResourcePattern, entries: Entries) -> None:
        if entries:
            self.data[pattern] = entries
        else:
            self.data.pop(pattern, None)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def make(
    *bindings: tuple[ResourceType, str, PatternType, str, str, AclOperation, AclPermissionType],
    super_users: str = "",
    allow_if_none: bool = False,
) -> AclAuthorizer:
    doc = MemoryDocument()
    for rtype, name, ptype, principal, host, op, perm in bindings:
        pattern = ResourcePattern(rtype, name, ptype)
        entry = AccessControlEntry(principal, host, op, perm)
        doc.data[pattern] = doc.data.get(pattern, frozenset()) | {entry}
    authz = AclAuthorizer(StandaloneAclStore(doc), parse_super_users(super_users), allow_if_none)
    run(authz.start())
    return authz


def allowed(
    authz: AclAuthorizer,
    op: AclOperation,
    name: str,
    principal: str = ALICE,
    rtype: ResourceType = TOPIC,
    host: str = HOST,
) -> bool:
    return authz.authorize(principal, host, op, rtype, name)


def test_no_acl_denies_unless_allow_everyone() -> None:
    assert not allowed(make(), R, "orders")
    assert allowed(make(allow_if_none=True), R, "orders")


def test_allow_everyone_applies_only_to_resources_without_acls() -> None:
    authz = make((TOPIC, "orders", LIT, BOB, "*", R, ALLOW), allow_if_none=True)
    assert allowed(authz, R, "payments")  # no ACL there
    assert not allowed(authz, R, "orders")  # ACLs exist, none for alice
    assert allowed(authz, R, "orders", principal=BOB)


def test_super_user_bypasses_everything() -> None:
    authz = make((TOPIC, "*", LIT, "User:*", "*", ALL, DENY), super_users="User:admin; User:ops")
    assert allowed(authz, W, "orders", principal="User:admin")
    assert allowed(authz, AclOperation.CLUSTER_ACTION, CLUSTER_NAME, "User:ops", CLUSTER)
    assert not allowed(authz, W, "orders")


def test_literal_wildcard_and_prefixed_patterns() -> None:
    authz = make(
        (TOPIC, "orders", LIT, ALICE, "*", R, ALLOW),
        (TOPIC, "*", LIT, BOB, "*", R, ALLOW),
        (TOPIC, "app-", PRE, "User:carol", "*", R, ALLOW),
    )
    assert allowed(authz, R, "orders")
    assert not allowed(authz, R, "orders2")
    assert allowed(authz, R, "anything", principal=BOB)
    assert allowed(authz, R, "app-1", principal="User:carol")
    assert allowed(authz, R, "app-", principal="User:carol")
    assert not allowed(authz, R, "app", principal="User:carol")
    assert not allowed(authz, R, "xapp-1", principal="User:carol")


def test_wildcard_principal_and_host_matching() -> None:
    authz = make(
        (TOPIC, "orders", LIT, "User:*", HOST, R, ALLOW),
        (TOPIC, "pay", LIT, ALICE, "*", R, ALLOW),
    )
    assert allowed(authz, R, "orders", principal=BOB)
    assert not allowed(authz, R, "orders", host="10.0.0.2")
    assert allowed(authz, R, "pay", host="192.168.1.1")
    # The principal type is part of the principal.
    assert not allowed(authz, R, "pay", principal="Group:alice")


def test_deny_wins_over_allow() -> None:
    authz = make(
        (TOPIC, "orders", LIT, ALICE, "*", R, ALLOW),
        (TOPIC, "orders", LIT, ALICE, HOST, R, DENY),
    )
    assert not allowed(authz, R, "orders")
    assert allowed(authz, R, "orders", host="10.0.0.9")


def test_prefixed_deny_beats_literal_allow_and_wildcard_deny_beats_all() -> None:
    authz = make(
        (TOPIC, "secret-orders", LIT, ALICE, "*", R, ALLOW),
        (TOPIC, "secret-", PRE, "User:*", "*", R, DENY),
        (GROUP, "*", LIT, ALICE, "*", ALL, DENY),
        (GROUP, "g1", LIT, ALICE, "*", R, ALLOW),
    )
    assert not allowed(authz, R, "secret-orders")
    assert not allowed(authz, R, "g1", rtype=GROUP)


def test_implied_operations() -> None:
    authz = make(
        (TOPIC, "t", LIT, ALICE, "*", W, ALLOW),
        (TOPIC, "c", LIT, ALICE, "*", AclOperation.ALTER_CONFIGS, ALLOW),
        (GROUP, "g", LIT, ALICE, "*", ALL, ALLOW),
    )
    assert allowed(authz, D, "t")  # DESCRIBE implied by WRITE
    assert not allowed(authz, R, "t")
    assert allowed(authz, AclOperation.DESCRIBE_CONFIGS, "c")  # implied by ALTER_CONFIGS
    assert not allowed(authz, D, "c")  # ALTER_CONFIGS does not imply DESCRIBE
    for op in (R, D, AclOperation.DELETE):
        assert allowed(authz, op, "g", rtype=GROUP)


def test_deny_of_an_operation_does_not_deny_what_it_implies() -> None:
    # Kafka checks DENY for the requested operation only.
    authz = make(
        (TOPIC, "t", LIT, ALICE, "*", D, ALLOW),
        (TOPIC, "t", LIT, ALICE, "*", R, DENY),
    )
    assert allowed(authz, D, "t")
    assert not allowed(authz, R, "t")
    deny_all = make(
        (TOPIC, "t", LIT, ALICE, "*", D, ALLOW), (TOPIC, "t", LIT, ALICE, "*", ALL, DENY)
    )
    assert not allowed(deny_all, D, "t")


def test_authorize_by_resource_type() -> None:
    def by_type(authz: AclAuthorizer, principal: str = ALICE) -> bool:
        return authz.authorize_by_resource_type(principal, HOST, W, TOPIC)

    assert not by_type(make())
    assert by_type(make((TOPIC, "t", LIT, ALICE, "*", W, ALLOW)))
    assert by_type(make((TOPIC, "app-", PRE, ALICE, "*", ALL, ALLOW)))
    assert not by_type(make((TOPIC, "t", LIT, ALICE, "*", R, ALLOW)))
    # A wildcard DENY denies every topic.
    assert not by_type(
        make((TOPIC, "t", LIT, ALICE, "*", W, ALLOW), (TOPIC, "*", LIT, ALICE, "*", W, DENY))
    )
    # An allowed literal dominated by a prefixed deny does not count.
    assert not by_type(
        make((TOPIC, "app-1", LIT, ALICE, "*", W, ALLOW), (TOPIC, "app", PRE, ALICE, "*", W, DENY))
    )
    assert by_type(
        make(
            (TOPIC, "app-1", LIT, ALICE, "*", W, ALLOW),
            (TOPIC, "other", LIT, ALICE, "*", W, ALLOW),
            (TOPIC, "app", PRE, ALICE, "*", W, DENY),
        )
    )
    assert by_type(make(), principal=ALICE) is False
    assert by_type(make(super_users=ALICE))


def binding(
    rtype: ResourceType, name: str, ptype: PatternType, principal: str, op: AclOperation,
    perm: AclPermissionType = ALLOW, host: str = "*",
) -> AclBinding:  # fmt: skip
    return AclBinding(
        ResourcePattern(rtype, name, ptype), AccessControlEntry(principal, host, op, perm)
    )


def test_create_validates_and_applies_immediately() -> None:
    authz = make()
    results = run(
        authz.create_acls(
            [
                binding(TOPIC, "orders", LIT, ALICE, R),
                binding(CLUSTER, "not-the-cluster", LIT, ALICE, D),
                binding(TOPIC, "", LIT, ALICE, R),
                binding(TOPIC, "a/b", LIT, ALICE, R),
                binding(TOPIC, "x", LIT, "alice", R),
                binding(TOPIC, "x", PatternType.MATCH, ALICE, R),
                binding(TOPIC, "x", LIT, ALICE, AclOperation.ANY),
                binding(ResourceType.ANY, "x", LIT, ALICE, R),
            ]
        )
    )
    assert isinstance(results, list)
    assert results[0] is None
    assert all(r is not None and r.error_code == 42 for r in results[1:])
    assert allowed(authz, R, "orders")
    # Creating it again is not an error.
    assert run(authz.create_acls([binding(TOPIC, "orders", LIT, ALICE, R)])) == [None]


def test_describe_filters_follow_kafka_matching() -> None:
    authz = make(
        (TOPIC, "orders", LIT, ALICE, "*", R, ALLOW),
        (TOPIC, "*", LIT, BOB, "*", R, ALLOW),
        (TOPIC, "ord", PRE, BOB, "*", W, ALLOW),
        (GROUP, "orders", LIT, ALICE, "*", R, ALLOW),
    )

    def names(
        rtype: ResourceType, name: str | None, ptype: PatternType, principal: str | None = None
    ) -> list[tuple[str, str, str]]:
        f = AclBindingFilter(
            ResourcePatternFilter(rtype, name, ptype),
            AccessControlEntryFilter(principal, None, AclOperation.ANY, AclPermissionType.ANY),
        )
        return [
            (b.pattern.resource_type.name, b.pattern.name, b.pattern.pattern_type.name)
            for b in authz.acls(f)
        ]

    assert len(authz.acls(ANY_FILTER)) == 4
    assert names(TOPIC, "orders", PatternType.ANY) == [("TOPIC", "orders", "LITERAL")]
    assert sorted(names(TOPIC, "orders", PatternType.MATCH)) == [
        ("TOPIC", "*", "LITERAL"),
        ("TOPIC", "ord", "PREFIXED"),
        ("TOPIC", "orders", "LITERAL"),
    ]
    assert names(TOPIC, "ord", PRE) == [("TOPIC", "ord", "PREFIXED")]
    assert names(ResourceType.ANY, "orders", LIT) == [
        ("TOPIC", "orders", "LITERAL"),
        ("GROUP", "orders", "LITERAL"),
    ]
    assert names(ResourceType.ANY, None, PatternType.ANY, principal=BOB) == [
        ("TOPIC", "*", "LITERAL"),
        ("TOPIC", "ord", "PREFIXED"),
    ]


def test_delete_attributes_each_binding_to_the_first_matching_filter() -> None:
    authz = make(
        (TOPIC, "orders", LIT, ALICE, "*", R, ALLOW),
        (TOPIC, "orders", LIT, BOB, "*", R, ALLOW),
        (TOPIC, "app-", PRE, ALICE, "*", W, ALLOW),
    )
    alice_filter = AclBindingFilter(
        ResourcePatternFilter(ResourceType.ANY, None, PatternType.ANY),
        AccessControlEntryFilter(ALICE, None, AclOperation.ANY, AclPermissionType.ANY),
    )
    deleted = run(authz.delete_acls([alice_filter, ANY_FILTER]))
    assert isinstance(deleted, list)
    first = sorted((b.pattern.name, b.entry.principal) for b, err in deleted[0] if err is None)
    second = [(b.pattern.name, b.entry.principal) for b, _ in deleted[1]]
    assert first == [("app-", ALICE), ("orders", ALICE)]
    assert second == [("orders", BOB)]
    assert authz.acls(ANY_FILTER) == []
    assert not allowed(authz, R, "orders", principal=BOB)


def test_changes_reported_by_the_store_apply_at_once() -> None:
    doc = MemoryDocument()
    store = StandaloneAclStore(doc)
    listeners = []
    store.subscribe = listeners.append  # type: ignore[method-assign]
    authz = AclAuthorizer(store)
    run(authz.start())
    (listener,) = listeners
    pattern = ResourcePattern(TOPIC, "orders", LIT)
    listener(pattern, frozenset({AccessControlEntry(ALICE, "*", R, ALLOW)}))
    assert allowed(authz, R, "orders")
    listener(pattern, frozenset())
    assert not allowed(authz, R, "orders")


@pytest.mark.parametrize("text", ["alice", "User:a;bob"])
def test_super_users_must_be_principals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_super_users(text)


def test_super_users_list() -> None:
    assert parse_super_users(" User:a ; User:b;;") == frozenset({"User:a", "User:b"})
    assert parse_super_users(None) == frozenset()
