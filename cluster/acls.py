"""Kafka's ACL model (KIP-11, KIP-290): resources, patterns, entries, bindings and filters.

The codes are Kafka's wire codes (``ResourceType``, ``PatternType``, ``AclOperation``,
``AclPermissionType`` in ``org.apache.kafka.common``); the filters match the way Kafka's
``ResourcePatternFilter`` / ``AccessControlEntryFilter`` do, so DescribeAcls and DeleteAcls
select exactly the bindings Kafka would. Storage (the standalone metadata document,
ZooKeeper's ``/kafka-acl``) and the authorizer's decisions live elsewhere; this module is
pure data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeVar

WILDCARD_RESOURCE: Final = "*"
WILDCARD_HOST: Final = "*"
WILDCARD_PRINCIPAL: Final = "User:*"
CLUSTER_NAME: Final = "kafka-cluster"


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


E = TypeVar("E", bound=enum.IntEnum)


def from_code(kind: type[E], code: int) -> E:
    """Kafka's ``fromCode``: an unknown code is UNKNOWN (code 0), never an error."""
    try:
        return kind(code)
    except ValueError:
        return kind(0)


def pascal_name(value: enum.IntEnum) -> str:
    """Kafka's ``SecurityUtils`` names: TRANSACTIONAL_ID → TransactionalId, READ → Read."""
    return "".join(part.capitalize() for part in value.name.split("_"))


def parse_name(kind: type[E], text: str) -> E:
    """The member named ``text`` in Pascal case or upper case (``Topic``, ``TOPIC``,
    ``TransactionalId``, ``TRANSACTIONAL_ID``, ``ClusterAction``); UNKNOWN otherwise."""
    for member in kind:
        if text in (member.name, pascal_name(member)):
            return member
    upper = text.upper().replace("-", "_")
    for member in kind:
        if upper in (member.name, pascal_name(member).upper()):
            return member
    return kind(0)


def parse_principal(text: str | None) -> tuple[str, str]:
    """``Type:name`` split at the first colon (Kafka's parseKafkaPrincipal); ValueError if
    there is none."""
    if not text or ":" not in text:
        raise ValueError(f"expected a string in format principalType:principalName but got {text}")
    kind, name = text.split(":", 1)
    return kind, name


# Kafka's AclEntry.supportedOperations: what authorized_operations bit sets range over.
SUPPORTED_OPERATIONS: Final[dict[ResourceType, tuple[AclOperation, ...]]] = {
    ResourceType.TOPIC: (
        AclOperation.READ,
        AclOperation.WRITE,
        AclOperation.CREATE,
        AclOperation.DESCRIBE,
        AclOperation.DELETE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE),
    ResourceType.CLUSTER: (
        AclOperation.CREATE,
        AclOperation.CLUSTER_ACTION,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
        AclOperation.IDEMPOTENT_WRITE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE),
    ResourceType.DELEGATION_TOKEN: (AclOperation.DESCRIBE,),
    ResourceType.USER: (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
}

# ALLOW of any of these grants the key (AclAuthorizer: DESCRIBE is implied by READ, WRITE,
# DELETE and ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS). ALL grants everything.
IMPLYING_OPERATIONS: Final[dict[AclOperation, frozenset[AclOperation]]] = {
    AclOperation.DESCRIBE: frozenset(
        {
            AclOperation.DESCRIBE,
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.DELETE,
            AclOperation.ALTER,
        }
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset(
        {AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
    ),
}

# Concrete values an ACL may hold (not the filter-only ANY/MATCH nor UNKNOWN).
CONCRETE_RESOURCE_TYPES: Final = tuple(SUPPORTED_OPERATIONS)
CONCRETE_PATTERN_TYPES: Final = (PatternType.LITERAL, PatternType.PREFIXED)


@dataclass(frozen=True, slots=True, order=True)
class ResourcePattern:
    """A resource an ACL applies to: a literal name (``*`` = every resource of the type)
    or a name prefix."""

    resource_type: ResourceType
    name: str
    pattern_type: PatternType

    def __str__(self) -> str:
        return f"{pascal_name(self.resource_type)}:{self.pattern_type.name}:{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class AccessControlEntry:
    """Who (principal ``Type:name``, ``User:*`` for everyone), from where (host address,
    ``*`` for any), which operation, ALLOW or DENY."""

    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType

    def __str__(self) -> str:
        return (
            f"{self.principal} has {self.permission_type.name} permission for operations: "
            f"{pascal_name(self.operation)} from hosts: {self.host}"
        )


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry


def binding_error(binding: AclBinding) -> str | None:
    """Why Kafka would refuse to create ``binding`` (None if it is acceptable)."""
    p, e = binding.pattern, binding.entry
    if p.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        return f"Invalid resource type {p.resource_type.name}"
    if p.pattern_type not in CONCRETE_PATTERN_TYPES:
        return f"Invalid pattern type {p.pattern_type.name}"
    if e.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        return f"Invalid operation {e.operation.name}"
    if e.permission_type not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
        return f"Invalid permission type {e.permission_type.name}"
    if p.resource_type == ResourceType.CLUSTER and p.name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    if not p.name:
        return "Invalid empty resource name"
    if "/" in p.name:
        return f"ACL binding contains invalid resource name: {p.name}"
    try:
        parse_principal(e.principal)
    except ValueError as exc:
        return str(exc)
    if e.host is None:
        return "Host must not be null"
    return None


@dataclass(frozen=True, slots=True)
class ResourcePatternFilter:
    """Selects resource patterns: ANY type; a null name for any name; pattern type ANY
    (exact name, any pattern type), MATCH (every pattern that would apply to the name:
    the literal, the ``*`` wildcard and each prefix of it) or one pattern type."""

    resource_type: ResourceType
    name: str | None
    pattern_type: PatternType

    def matches(self, pattern: ResourcePattern) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != pattern.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and (
            self.pattern_type != pattern.pattern_type
        ):
            return False
        if self.name is None:
            return True
        if self.pattern_type in (PatternType.ANY, pattern.pattern_type):
            return self.name == pattern.name
        # MATCH
        if pattern.pattern_type == PatternType.LITERAL:
            return self.name == pattern.name or pattern.name == WILDCARD_RESOURCE
        if pattern.pattern_type == PatternType.PREFIXED:
            return self.name.startswith(pattern.name)
        return False

    def indefinite_field(self) -> str | None:
        """Why this filter may match more than one pattern (None if it cannot)."""
        if self.resource_type == ResourceType.ANY:
            return "Resource type is ANY."
        if self.resource_type == ResourceType.UNKNOWN:
            return "Resource type is UNKNOWN."
        if self.name is None:
            return "Resource name is NULL."
        if self.pattern_type == PatternType.MATCH:
            return "Resource pattern type is MATCH."
        if self.pattern_type == PatternType.UNKNOWN:
            return "Resource pattern type is UNKNOWN."
        return None


@dataclass(frozen=True, slots=True)
class AccessControlEntryFilter:
    """Selects entries: null principal/host for any, operation and permission ANY for any."""

    principal: str | None
    host: str | None
    operation: AclOperation
    permission_type: AclPermissionType

    def matches(self, entry: AccessControlEntry) -> bool:
        if self.principal is not None and self.principal != entry.principal:
            return False
        if self.host is not None and self.host != entry.host:
            return False
        if self.operation != AclOperation.ANY and self.operation != entry.operation:
            return False
        return self.permission_type in (AclPermissionType.ANY, entry.permission_type)


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    pattern: ResourcePatternFilter
    entry: AccessControlEntryFilter

    def matches(self, binding: AclBinding) -> bool:
        return self.pattern.matches(binding.pattern) and self.entry.matches(binding.entry)

    def unknown_element(self) -> str | None:
        """Kafka refuses filters holding UNKNOWN values (the request does not parse)."""
        if self.pattern.resource_type == ResourceType.UNKNOWN:
            return "resource type"
        if self.pattern.pattern_type == PatternType.UNKNOWN:
            return "pattern type"
        if self.entry.operation == AclOperation.UNKNOWN:
            return "operation"
        if self.entry.permission_type == AclPermissionType.UNKNOWN:
            return "permission type"
        return None


ANY_FILTER: Final = AclBindingFilter(
    ResourcePatternFilter(ResourceType.ANY, None, PatternType.ANY),
    AccessControlEntryFilter(None, None, AclOperation.ANY, AclPermissionType.ANY),
)


def acl_filter(
    resource_type: int,
    name: str | None,
    pattern_type: int,
    principal: str | None,
    host: str | None,
    operation: int,
    permission_type: int,
) -> AclBindingFilter:
    """A filter from wire codes (unknown codes become UNKNOWN, as in Kafka)."""
    return AclBindingFilter(
        ResourcePatternFilter(
            from_code(ResourceType, resource_type), name, from_code(PatternType, pattern_type)
        ),
        AccessControlEntryFilter(
            principal,
            host,
            from_code(AclOperation, operation),
            from_code(AclPermissionType, permission_type),
        ),
    )


def patterns_of(pattern_filter: ResourcePatternFilter) -> tuple[ResourcePattern, ...]:
    """The patterns a definite filter names (Kafka's filterToResources), for deleting ACLs
    this broker may not have cached yet."""
    if pattern_filter.indefinite_field() is not None or pattern_filter.name is None:
        return ()
    rtype, name = pattern_filter.resource_type, pattern_filter.name
    if pattern_filter.pattern_type == PatternType.ANY:
        return (
            ResourcePattern(rtype, name, PatternType.LITERAL),
            ResourcePattern(rtype, name, PatternType.PREFIXED),
        )
    if pattern_filter.pattern_type in CONCRETE_PATTERN_TYPES:
        return (ResourcePattern(rtype, name, pattern_filter.pattern_type),)
    return ()
