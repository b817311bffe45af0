"""ACL znodes as Kafka's AclAuthorizer writes them (ZkData's ZkAclStore / ZkAclChangeStore).

* ``/kafka-acl/<ResourceType>/<name>`` (LITERAL patterns) and
  ``/kafka-acl-extended/prefixed/<ResourceType>/<name>`` (PREFIXED):
  ``{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*",
  "operation":"Read"}],"version":1}``; the resource type in Pascal case (``Topic``,
  ``TransactionalId``), the Cluster resource named ``kafka-cluster``. A resource without
  ACLs has no znode.
* ``/kafka-acl-changes/acl_changes_<seq>``: ``TOPIC:orders`` in plain text (literal
  patterns); ``/kafka-acl-extended-changes/acl_changes_<seq>``:
  ``{"version":1,"resourceType":"GROUP","name":"app-","patternType":"PREFIXED"}``. Every
  broker re-reads the named resource when one appears.
"""

from __future__ import annotations

from collections.abc import Iterable

from cluster.acls import (
    CONCRETE_RESOURCE_TYPES,
    AccessControlEntry,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    parse_name,
    parse_principal,
    pascal_name,
)
from cluster.zk import paths
from cluster.zk.errors import ZnodeDecodeError
from cluster.zk.znode_json import dumps, parse_object

ACL_VERSION = 1
EXTENDED_CHANGE_VERSION = 1
# ZkNodeChangeNotificationListener deletes notifications older than this.
CHANGE_EXPIRATION_MS = 15 * 60 * 1000


def store_root(pattern_type: PatternType) -> str:
    """``/kafka-acl`` for LITERAL, ``/kafka-acl-extended/<pattern type>`` otherwise."""
    if pattern_type == PatternType.LITERAL:
        return paths.LITERAL_ACLS
    return f"{paths.EXTENDED_ACLS}/{pattern_type.name.lower()}"


def change_root(pattern_type: PatternType) -> str:
    if pattern_type == PatternType.LITERAL:
        return paths.LITERAL_ACL_CHANGES
    return paths.EXTENDED_ACL_CHANGES


def type_path(pattern_type: PatternType, resource_type: ResourceType) -> str:
    return f"{store_root(pattern_type)}/{pascal_name(resource_type)}"


def resource_path(pattern: ResourcePattern) -> str:
    return f"{type_path(pattern.pattern_type, pattern.resource_type)}/{pattern.name}"


def change_prefix(pattern_type: PatternType) -> str:
    """Create a PERSISTENT_SEQUENTIAL znode at this path to announce a change."""
    return f"{change_root(pattern_type)}/{paths.ACL_CHANGE_PREFIX}"


def acl_paths() -> list[str]:
    """What Kafka's createAclPaths makes at start-up, parents first."""
    out: list[str] = []
    for pattern_type in (PatternType.LITERAL, PatternType.PREFIXED):
        out.append(store_root(pattern_type))
        out.extend(type_path(pattern_type, t) for t in CONCRETE_RESOURCE_TYPES)
    out += [paths.LITERAL_ACL_CHANGES, paths.EXTENDED_ACL_CHANGES]
    return out


def encode_acls(entries: Iterable[AccessControlEntry]) -> bytes:
    """A resource znode's data; keys in the order Kafka's HashMaps iterate them."""
    acls = [
        {
            "principal": e.principal,
            "permissionType": pascal_name(e.permission_type),
            "host": e.host,
            "operation": pascal_name(e.operation),
        }
        for e in sorted(entries)
    ]
    return dumps({"acls": acls, "version": ACL_VERSION})


def decode_acls(data: bytes | None, what: str) -> frozenset[AccessControlEntry]:
    """Null or empty data holds no ACLs, as Kafka reads it."""
    if data is None or not data.strip():
        return frozenset()
    js = parse_object(data, what)
    if js.req_int("version") != ACL_VERSION:
        raise js.error(f"unsupported version {js.value.get('version')!r}")
    items = js.value.get("acls")
    if not isinstance(items, list):
        raise js.error("'acls' must be a list")
    out: set[AccessControlEntry] = set()
    for item in items:
        if not isinstance(item, dict):
            raise js.error(f"ACL entry {item!r} is not an object")
        fields = {}
        for key in ("principal", "permissionType", "host", "operation"):
            value = item.get(key)
            if not isinstance(value, str):
                raise js.error(f"ACL entry field {key!r} must be a string, got {value!r}")
            fields[key] = value
        try:
            parse_principal(fields["principal"])
        except ValueError as exc:
            raise js.error(str(exc)) from None
        operation = parse_name(AclOperation, fields["operation"])
        permission = parse_name(AclPermissionType, fields["permissionType"])
        if operation in (AclOperation.UNKNOWN, AclOperation.ANY):
            raise js.error(f"unknown operation {fields['operation']!r}")
        if permission not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
            raise js.error(f"unknown permission type {fields['permissionType']!r}")
        out.add(AccessControlEntry(fields["principal"], fields["host"], operation, permission))
    return frozenset(out)


def encode_change(pattern: ResourcePattern) -> bytes:
    if pattern.pattern_type == PatternType.LITERAL:
        return f"{pattern.resource_type.name}:{pattern.name}".encode()
    return dumps(
        {
            "version": EXTENDED_CHANGE_VERSION,
            "resourceType": pattern.resource_type.name,
            "name": pattern.name,
            "patternType": pattern.pattern_type.name,
        }
    )


def decode_change(pattern_type: PatternType, data: bytes | None) -> ResourcePattern:
    """The resource a notification names; ZnodeDecodeError if it cannot be read."""
    what = f"ACL change notification ({pattern_type.name.lower()})"
    if pattern_type == PatternType.LITERAL:
        text = (data or b"").decode("utf-8", "replace")
        if ":" not in text:
            raise ZnodeDecodeError(what, "expected ResourceType:ResourceName", data)
        kind, name = text.split(":", 1)
        resource_type = parse_name(ResourceType, kind)
        if resource_type not in CONCRETE_RESOURCE_TYPES:
            raise ZnodeDecodeError(what, f"unknown resource type {kind!r}", data)
        return ResourcePattern(resource_type, name, PatternType.LITERAL)
    js = parse_object(data, what)
    version = js.req_int("version")
    if version > EXTENDED_CHANGE_VERSION:
        raise js.error(f"unsupported version {version}")
    fields = [js.value.get(k) for k in ("resourceType", "name", "patternType")]
    if not all(isinstance(f, str) for f in fields):
        raise js.error("resourceType, name and patternType must be strings")
    kind, name, pattern = (str(f) for f in fields)
    resource_type = parse_name(ResourceType, kind)
    parsed_pattern = parse_name(PatternType, pattern)
    if resource_type not in CONCRETE_RESOURCE_TYPES or parsed_pattern != PatternType.PREFIXED:
        raise js.error(f"unexpected resource {kind}/{pattern}")
    return ResourcePattern(resource_type, name, parsed_pattern)

