"""The ACL authorizer: Kafka's AclAuthorizer (KIP-11, KIP-290) decisions over an AclStore.

``authorizer.class.name`` names it (Kafka's ``kafka.security.authorizer.AclAuthorizer`` or
``org.apache.kafka.metadata.authorizer.StandardAuthorizer``, which decide alike). A request
is allowed when its principal is a super user (``super.users``), or no ACL matches the
resource and ``allow.everyone.if.no.acl.found`` is true, or no matching DENY entry and at
least one matching ALLOW entry exist. Matching ACLs are those on the literal resource
name, on the wildcard ``*`` and on every PREFIXED pattern the name starts with; an entry
matches when its principal is the request's (or ``User:*``), its host is the client's
address (or ``*``) and its operation is the requested one or ALL. ALLOW of READ, WRITE,
DELETE or ALTER also allows DESCRIBE; ALLOW of ALTER_CONFIGS allows DESCRIBE_CONFIGS.

The ACLs are cached in memory (one dict lookup per pattern that may apply); the store
keeps them durably and reports changes other brokers make, which apply at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cluster.acl_store import AclStore, Entries
from cluster.acls import (
    IMPLYING_OPERATIONS,
    WILDCARD_HOST,
    WILDCARD_PRINCIPAL,
    WILDCARD_RESOURCE,
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    binding_error,
    parse_principal,
    pascal_name,
    patterns_of,
)

log = logging.getLogger(__name__)
# Kafka's "kafka.authorizer.logger": denied requests at INFO, allowed ones at DEBUG.
audit = logging.getLogger("josef.authorizer")

AUTHORIZER_CLASSES: Final = frozenset(
    {
        "kafka.security.authorizer.AclAuthorizer",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    }
)
_DECISION_CACHE_MAX = 50_000


def parse_super_users(text: str | None) -> frozenset[str]:
    """``super.users``: principals separated by ``;`` (ValueError on a malformed one)."""
    if not text or not text.strip():
        return frozenset()
    out = set()
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        kind, name = parse_principal(item)
        out.add(f"{kind}:{name}")
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class AclError:
    """Why one ACL could not be created or deleted (Kafka's ApiError)."""

    error_code: int
    message: str


INVALID_REQUEST: Final = 42
UNKNOWN_SERVER_ERROR: Final = -1


class AclAuthorizer:
    """Kafka's AclAuthorizer: authorization decisions and ACL administration."""

    def __init__(
        self,
        store: AclStore,
        super_users: frozenset[str] = frozenset(),
        allow_everyone_if_no_acl_found: bool = False,
    ) -> None:
        self.store = store
        self.super_users = super_users
        self.allow_if_no_acl = allow_everyone_if_no_acl_found
        self._acls: dict[ResourcePattern, Entries] = {}
        # By resource type: literal name -> entries, and prefix -> entries.
        self._literal: dict[ResourceType, dict[str, Entries]] = defaultdict(dict)
        self._prefixed: dict[ResourceType, dict[str, Entries]] = defaultdict(dict)
        self._decisions: dict[tuple[str, str, AclOperation, ResourceType, str], bool] = {}

    async def start(self) -> None:
        self.store.subscribe(self._apply)
        for pattern, entries in (await self.store.load()).items():
            self._apply(pattern, entries)
        log.info(
            "ACL authorizer started: %d resource pattern(s), super users %s, "
            "allow.everyone.if.no.acl.found=%s",
            len(self._acls),
            ", ".join(sorted(self.super_users)) or "none",
            str(self.allow_if_no_acl).lower(),
        )

    async def close(self) -> None:
        await self.store.close()

    def _apply(self, pattern: ResourcePattern, entries: Entries) -> None:
        """The resource's ACLs are now ``entries`` (from this broker or another)."""
        self._decisions.clear()
        if entries:
            self._acls[pattern] = entries
        else:
            self._acls.pop(pattern, None)
        by_name = (
            self._prefixed if pattern.pattern_type == PatternType.PREFIXED else self._literal
        )[pattern.resource_type]
        if entries:
            by_name[pattern.name] = entries
        else:
            by_name.pop(pattern.name, None)

    # -- decisions -------------------------------------------------------------------------

    def authorize(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        """Whether ``principal`` from ``host`` may do ``operation`` on the literal resource."""
        if principal in self.super_users:
            return True
        key = (principal, host, operation, resource_type, name)
        decided = self._decisions.get(key)
        if decided is None:
            decided = self._decide(principal, host, operation, resource_type, name)
            if len(self._decisions) >= _DECISION_CACHE_MAX:
                self._decisions.clear()
            self._decisions[key] = decided
        return decided

    def _matching(self, resource_type: ResourceType, name: str) -> list[Entries]:
        found = []
        literals = self._literal.get(resource_type)
        if literals:
            wildcard = literals.get(WILDCARD_RESOURCE)
            if wildcard:
                found.append(wildcard)
            literal = literals.get(name)
            if literal and name != WILDCARD_RESOURCE:
                found.append(literal)
        prefixed = self._prefixed.get(resource_type)
        if prefixed:
            if len(prefixed) < len(name):
                found.extend(e for p, e in prefixed.items() if name.startswith(p))
            else:
                for i in range(1, len(name) + 1):
                    entries = prefixed.get(name[:i])
                    if entries:
                        found.append(entries)
        return found

    @staticmethod
    def _exists(
        acls: list[Entries],
        principal: str,
        host: str,
        operations: frozenset[AclOperation],
        permission: AclPermissionType,
    ) -> bool:
        for entries in acls:
            for e in entries:
                if (
                    e.permission_type == permission
                    and (e.operation in operations or e.operation == AclOperation.ALL)
                    and (e.principal == principal or e.principal == WILDCARD_PRINCIPAL)
                    and (e.host == host or e.host == WILDCARD_HOST)
                ):
                    return True
        return False

    def _decide(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        acls = self._matching(resource_type, name)
        if not acls:
            return self.allow_if_no_acl
        if self._exists(acls, principal, host, frozenset((operation,)), AclPermissionType.DENY):
            return False
        allow_ops = IMPLYING_OPERATIONS.get(operation, frozenset((operation,)))
        return self._exists(acls, principal, host, allow_ops, AclPermissionType.ALLOW)

    def authorize_by_resource_type(
        self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """Kafka's authorizeByResourceType: could ``operation`` be allowed on *some* resource
        of the type (used to let idempotent producers with WRITE on any topic in)."""
        if principal in self.super_users:
            return True

        def names(permission: AclPermissionType, pattern_type: PatternType) -> set[str]:
            out = set()
            for pattern, entries in self._acls.items():
                if pattern.resource_type != resource_type or pattern.pattern_type != pattern_type:
                    continue
                for e in entries:
                    if (
                        e.permission_type == permission
                        and e.operation in (operation, AclOperation.ALL)
                        and e.principal in (principal, WILDCARD_PRINCIPAL)
                        and e.host in (host, WILDCARD_HOST)
                    ):
                        out.add(pattern.name)
                        break
            return out

        deny_literals = names(AclPermissionType.DENY, PatternType.LITERAL)
        if WILDCARD_RESOURCE in deny_literals:
            return False
        if self.allow_if_no_acl:
            return True
        deny_prefixes = names(AclPermissionType.DENY, PatternType.PREFIXED)
        allow_literals = names(AclPermissionType.ALLOW, PatternType.LITERAL)
        allow_prefixes = names(AclPermissionType.ALLOW, PatternType.PREFIXED)
        if not deny_literals and not deny_prefixes:
            return bool(allow_literals or allow_prefixes)

        def dominated(resource: str) -> bool:
            return any(resource[:i] in deny_prefixes for i in range(1, len(resource) + 1))

        return any(not dominated(p) for p in allow_prefixes) or any(
            lit == WILDCARD_RESOURCE or (lit not in deny_literals and not dominated(lit))
            for lit in allow_literals
        )

    # -- administration (CreateAcls, DeleteAcls, DescribeAcls) -----------------------------

    def acls(self, binding_filter: AclBindingFilter) -> list[AclBinding]:
        out = []
        for pattern, entries in self._acls.items():
            for e in entries:
                binding = AclBinding(pattern, e)
                if binding_filter.matches(binding):
                    out.append(binding)
        return sorted(out)

    async def create_acls(self, bindings: Sequence[AclBinding]) -> list[AclError | None]:
        """Create each binding; the error of each that failed (None: created or present)."""
        results: list[AclError | None] = [None] * len(bindings)
        by_pattern: dict[ResourcePattern, list[int]] = defaultdict(list)
        for i, binding in enumerate(bindings):
            reason = binding_error(binding)
            if reason is not None:
                results[i] = AclError(INVALID_REQUEST, reason)
            else:
                by_pattern[binding.pattern].append(i)
        for pattern, indexes in by_pattern.items():
            new = frozenset(bindings[i].entry for i in indexes)

            def add(current: Entries, new: Entries = new) -> Entries:
                return current | new

            try:
                _before, after = await self.store.update(pattern, add)
            except Exception as exc:
                log.exception("creating ACLs on %s failed", pattern)
                for i in indexes:
                    results[i] = AclError(UNKNOWN_SERVER_ERROR, str(exc) or type(exc).__name__)
                continue
            self._apply(pattern, after)
            for i in indexes:
                log.info("ACL created: %s on %s", bindings[i].entry, pattern)
        return results

    async def delete_acls(
        self, filters: Sequence[AclBindingFilter]
    ) -> list[list[tuple[AclBinding, AclError | None]]]:
        """Per filter, the bindings it deleted (each binding counts for the first filter
        that matches it) with the error of any that could not be deleted."""
        candidates: set[ResourcePattern] = set(self._acls)
        for f in filters:
            candidates.update(patterns_of(f.pattern))
        results: list[list[tuple[AclBinding, AclError | None]]] = [[] for _ in filters]
        for pattern in sorted(candidates):
            matching = [(i, f) for i, f in enumerate(filters) if f.pattern.matches(pattern)]
            if not matching:
                continue
            owners: dict[AccessControlEntry, int] = {}

            def change(current: Entries, matching: list[tuple[int, AclBindingFilter]] = matching,
                       owners: dict[AccessControlEntry, int] = owners) -> Entries:
                owners.clear()
                for e in current:
                    for i, f in matching:
                        if f.entry.matches(e):
                            owners[e] = i
                            break
                return current - frozenset(owners)

            try:
                _before, after = await self.store.update(pattern, change)
                error = None
            except Exception as exc:
                log.exception("deleting ACLs on %s failed", pattern)
                error = AclError(UNKNOWN_SERVER_ERROR, str(exc) or type(exc).__name__)
                after = None
            if after is not None:
                self._apply(pattern, after)
            for entry, i in sorted(owners.items()):
                results[i].append((AclBinding(pattern, entry), error))
                if error is None:
                    log.info("ACL deleted: %s on %s", entry, pattern)
        return results


def describe_decision(
    principal: str,
    host: str,
    operation: AclOperation,
    resource_type: ResourceType,
    name: str,
    allowed: bool,
    api: str,
) -> str:
    """Kafka's authorizer log line."""
    return (
        f"Principal = {principal} is {'Allowed' if allowed else 'Denied'} Operation = "
        f"{pascal_name(operation)} from host = {host} on resource = "
        f"{pascal_name(resource_type)}:LITERAL:{name} for request = {api}"
    )

