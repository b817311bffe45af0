"""``josef acls``: list, add and remove ACLs with kafka-acls.sh's vocabulary.

* ``acls list [RESOURCE...] [--principal P] [--resource-pattern-type any|match|literal|prefixed]``
* ``acls add (--allow-principal P | --deny-principal P)... [--allow-host H] [--deny-host H]
  (--operation OP... | --producer | --consumer) RESOURCE... [--resource-pattern-type
  literal|prefixed]``
* ``acls remove`` with the same options: principals, hosts and operations narrow what is
  removed; without them every ACL of the resources goes.

RESOURCE is ``--topic T``, ``--group G``, ``--cluster``, ``--transactional-id ID`` or
``--delegation-token ID`` (each repeatable). Operations take Kafka's names in any case:
Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs,
IdempotentWrite, All. ``--producer`` grants Write, Describe and Create on the topics
(plus IdempotentWrite on the cluster with ``--idempotent``); ``--consumer`` Read and
Describe on the topics and Read on the groups, as kafka-acls.sh does.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any, Final, TextIO

from broker.admin.client import AdminClient, check
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.output import print_json, wants_json
from cluster.acls import (
    CLUSTER_NAME,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    from_code,
    parse_name,
    parse_principal,
)

DESCRIBE_ACLS: Final = 29
CREATE_ACLS: Final = 30
DELETE_ACLS: Final = 31

_OPERATIONS: Final = tuple(
    op for op in AclOperation if op not in (AclOperation.UNKNOWN, AclOperation.ANY)
)


def _operation(text: str) -> AclOperation:
    op = parse_name(AclOperation, text)
    if op in (AclOperation.UNKNOWN, AclOperation.ANY):
        names = ", ".join(_pascal(o) for o in _OPERATIONS)
        raise UsageError(f"unknown operation {text!r} (one of {names})")
    return op


def _pascal(value: Any) -> str:
    return "".join(p.capitalize() for p in value.name.split("_"))


def _pattern_type(text: str, allowed: Iterable[PatternType]) -> PatternType:
    pt = parse_name(PatternType, text)
    allowed = tuple(allowed)
    if pt not in allowed:
        names = "|".join(p.name.lower() for p in allowed)
        raise UsageError(f"--resource-pattern-type must be {names}, not {text!r}")
    return pt


def _resources(args: argparse.Namespace) -> list[tuple[ResourceType, str]]:
    out: list[tuple[ResourceType, str]] = []
    out += [(ResourceType.TOPIC, t) for t in args.topic]
    out += [(ResourceType.GROUP, g) for g in args.group]
    if args.cluster:
        out.append((ResourceType.CLUSTER, CLUSTER_NAME))
    out += [(ResourceType.TRANSACTIONAL_ID, t) for t in args.transactional_id]
    out += [(ResourceType.DELEGATION_TOKEN, t) for t in args.delegation_token]
    return out


def describe_pattern(rtype: int, name: str, ptype: int) -> str:
    return (
        f"ResourcePattern(resourceType={from_code(ResourceType, rtype).name}, name={name}, "
        f"patternType={from_code(PatternType, ptype).name})"
    )


def describe_entry(principal: str, host: str, operation: int, permission: int) -> str:
    return (
        f"(principal={principal}, host={host}, "
        f"operation={from_code(AclOperation, operation).name}, "
        f"permissionType={from_code(AclPermissionType, permission).name})"
    )


def list_acls(
    client: AdminClient,
    rtype: ResourceType = ResourceType.ANY,
    name: str | None = None,
    pattern_type: PatternType = PatternType.ANY,
    principal: str | None = None,
) -> list[dict[str, Any]]:
    """DescribeAcls: [{resource_type, resource_name, pattern_type, acls: [...]}]."""
    _v, plain = client.any_broker().request(
        DESCRIBE_ACLS,
        {
            "resource_type_filter": int(rtype),
            "resource_name_filter": name,
            "pattern_type_filter": int(pattern_type),
            "principal_filter": principal,
            "host_filter": None,
            "operation": int(AclOperation.ANY),
            "permission_type": int(AclPermissionType.ANY),
        },
    )
    check(plain["error_code"], plain.get("error_message"), "DescribeAcls")
    return list(plain["resources"])


def binding_json(
    rtype: Any, name: Any, ptype: Any, principal: Any, host: Any, operation: Any, permission: Any
) -> dict[str, Any]:
    """An ACL binding as ``--output json`` shows it (Kafka's AclBinding, enum names)."""
    return {
        "resource_type": from_code(ResourceType, rtype).name,
        "resource_name": name,
        "pattern_type": from_code(PatternType, ptype).name,
        "principal": principal,
        "host": host,
        "operation": from_code(AclOperation, operation).name,
        "permission_type": from_code(AclPermissionType, permission).name,
    }


def _print_resources(resources: list[dict[str, Any]], out: TextIO) -> None:
    for r in resources:
        pattern = describe_pattern(r["resource_type"], r["resource_name"], r["pattern_type"])
        print(f"Current ACLs for resource `{pattern}`: ", file=out)
        for a in r["acls"]:
            entry = describe_entry(a["principal"], a["host"], a["operation"], a["permission_type"])
            print(f" \t{entry} ", file=out)
        print(file=out)


def _list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    resources: list[tuple[ResourceType, str | None]] = list(_resources(args))
    # As kafka-acls.sh: named resources default to LITERAL patterns, no resource to all.
    pattern_type = _pattern_type(
        args.resource_pattern_type or ("literal" if resources else "any"),
        (PatternType.ANY, PatternType.MATCH, PatternType.LITERAL, PatternType.PREFIXED),
    )
    bindings: list[dict[str, Any]] = []
    for rtype, name in resources or [(ResourceType.ANY, None)]:
        found = list_acls(client, rtype, name, pattern_type, args.principal)
        if not wants_json(args):
            _print_resources(found, out)
            continue
        for r in found:
            for a in r["acls"]:
                bindings.append(
                    binding_json(
                        r["resource_type"],
                        r["resource_name"],
                        r["pattern_type"],
                        a["principal"],
                        a["host"],
                        a["operation"],
                        a["permission_type"],
                    )
                )
    if wants_json(args):
        print_json(out, bindings)


# (principal, host, operation, permission); None principal/host: any (remove only).
Entry = tuple[str | None, str | None, AclOperation, AclPermissionType]


def _principals(args: argparse.Namespace) -> list[tuple[AclPermissionType, str, str]]:
    out = []
    for permission, principals, hosts in (
        (AclPermissionType.ALLOW, args.allow_principal, args.allow_host or ["*"]),
        (AclPermissionType.DENY, args.deny_principal, args.deny_host or ["*"]),
    ):
        for principal in principals:
            try:
                parse_principal(principal)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            out += [(permission, principal, host) for host in hosts]
    return out


def _convenience(args: argparse.Namespace, rtype: ResourceType) -> list[AclOperation]:
    ops: list[AclOperation] = []
    if args.producer and rtype == ResourceType.TOPIC:
        ops += [AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE]
    if args.producer and args.idempotent and rtype == ResourceType.CLUSTER:
        ops += [AclOperation.IDEMPOTENT_WRITE]
    if args.consumer and rtype == ResourceType.TOPIC:
        ops += [AclOperation.READ, AclOperation.DESCRIBE]
    if args.consumer and rtype == ResourceType.GROUP:
        ops += [AclOperation.READ]
    return ops


def _bindings(args: argparse.Namespace, removing: bool) -> list[tuple[ResourcePattern,
                                                                     list[Entry]]]:
    """Per resource pattern, the entries to add (or filters to remove)."""
    pattern_type = _pattern_type(
        args.resource_pattern_type or "literal",
        (PatternType.LITERAL, PatternType.PREFIXED)
        + ((PatternType.ANY, PatternType.MATCH) if removing else ()),
    )
    resources = _resources(args)
    if args.producer and args.idempotent and not args.cluster:
        resources.append((ResourceType.CLUSTER, CLUSTER_NAME))
    if not resources:
        raise UsageError("name a resource: --topic, --group, --cluster, --transactional-id "
                         "or --delegation-token")
    principals = _principals(args)
    ops = [_operation(o) for o in args.operation]
    if not removing:
        if not principals:
            raise UsageError("name a principal with --allow-principal or --deny-principal")
        if not ops and not args.producer and not args.consumer:
            raise UsageError("name at least one --operation (or --producer / --consumer)")
    out: list[tuple[ResourcePattern, list[Entry]]] = []
    for rtype, name in resources:
        wanted = ops + _convenience(args, rtype)
        pattern_name = name if rtype != ResourceType.CLUSTER else CLUSTER_NAME
        pattern = ResourcePattern(
            rtype, pattern_name,
            PatternType.LITERAL if rtype == ResourceType.CLUSTER else pattern_type,
        )  # fmt: skip
        entries: list[Entry] = []
        if principals:
            for permission, principal, host in principals:
                for op in wanted or ([AclOperation.ANY] if removing else []):
                    entries.append((principal, host, op, permission))
        elif removing:
            for op in wanted or [AclOperation.ANY]:
                entries.append((None, None, op, AclPermissionType.ANY))
        if entries:
            out.append((pattern, entries))
    if not out:
        raise UsageError("no ACL to " + ("remove" if removing else "add"))
    return out


def _add(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    creations = []
    text = not wants_json(args)
    for pattern, entries in _bindings(args, removing=False):
        if text:
            print(f"Adding ACLs for resource `{_pattern_text(pattern)}`: ", file=out)
        for principal, host, op, permission in entries:
            assert principal is not None and host is not None
            if text:
                print(f" \t{describe_entry(principal, host, op, permission)} ", file=out)
            creations.append(
                {
                    "resource_type": int(pattern.resource_type),
                    "resource_name": pattern.name,
                    "resource_pattern_type": int(pattern.pattern_type),
                    "principal": principal,
                    "host": host,
                    "operation": int(op),
                    "permission_type": int(permission),
                }
            )
        if text:
            print(file=out)
    _v, plain = client.any_broker().request(CREATE_ACLS, {"creations": creations})
    for result in plain["results"]:
        check(result["error_code"], result.get("error_message"), "CreateAcls")
    if not text:
        print_json(
            out,
            {
                "created": [
                    binding_json(
                        c["resource_type"],
                        c["resource_name"],
                        c["resource_pattern_type"],
                        c["principal"],
                        c["host"],
                        c["operation"],
                        c["permission_type"],
                    )
                    for c in creations
                ]
            },
        )


def _remove(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    filters = []
    for pattern, entries in _bindings(args, removing=True):
        for principal, host, op, permission in entries:
            filters.append(
                {
                    "resource_type_filter": int(pattern.resource_type),
                    "resource_name_filter": pattern.name,
                    "pattern_type_filter": int(pattern.pattern_type),
                    "principal_filter": principal,
                    "host_filter": host,
                    "operation": int(op),
                    "permission_type": int(permission),
                }
            )
    _v, plain = client.any_broker().request(DELETE_ACLS, {"filters": filters})
    removed: list[dict[str, Any]] = []
    for result in plain["filter_results"]:
        check(result["error_code"], result.get("error_message"), "DeleteAcls")
        for m in result["matching_acls"]:
            check(m["error_code"], m.get("error_message"), "DeleteAcls")
            removed.append(
                binding_json(
                    m["resource_type"],
                    m["resource_name"],
                    m["pattern_type"],
                    m["principal"],
                    m["host"],
                    m["operation"],
                    m["permission_type"],
                )
            )
            if wants_json(args):
                continue
            text = describe_pattern(m["resource_type"], m["resource_name"], m["pattern_type"])
            entry = describe_entry(m["principal"], m["host"], m["operation"], m["permission_type"])
            print(f"Removed ACL {entry} from resource `{text}`", file=out)
    if wants_json(args):
        print_json(out, {"removed": removed})
    elif not removed:
        print("No matching ACLs", file=out)


def _pattern_text(pattern: ResourcePattern) -> str:
    return describe_pattern(int(pattern.resource_type), pattern.name, int(pattern.pattern_type))


def _add_resource_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC")
    p.add_argument("--group", action="append", default=[], metavar="GROUP")
    p.add_argument("--cluster", action="store_true", help="the cluster resource")
    p.add_argument("--transactional-id", action="append", default=[], metavar="ID")
    p.add_argument("--delegation-token", action="append", default=[], metavar="ID")
    p.add_argument(
        "--resource-pattern-type",
        metavar="TYPE",
        help="literal or prefixed (list and remove also any or match)",
    )


def _add_entry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-principal", action="append", default=[], metavar="TYPE:NAME")
    p.add_argument("--deny-principal", action="append", default=[], metavar="TYPE:NAME")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST")
    p.add_argument("--deny-host", action="append", default=[], metavar="HOST")
    p.add_argument("--operation", action="append", default=[], metavar="OPERATION")
    p.add_argument("--producer", action="store_true", help="Write, Describe, Create on topics")
    p.add_argument("--consumer", action="store_true", help="Read, Describe on topics, Read on "
                   "groups")  # fmt: skip
    p.add_argument("--idempotent", action="store_true",
                   help="with --producer: IdempotentWrite on the cluster")  # fmt: skip


def register(commands: Any) -> None:
    acls = commands.add_parser("acls", help="list, add and remove ACLs (kafka-acls.sh)")
    sub = acls.add_subparsers(dest="acls_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="list ACLs (all, or of the named resources)")
    add_connection_args(p)
    _add_resource_args(p)
    p.add_argument("--principal", metavar="TYPE:NAME", help="only this principal's ACLs")
    p.set_defaults(handler=handler(_list))

    p = sub.add_parser("add", help="add ACLs")
    add_connection_args(p)
    _add_resource_args(p)
    _add_entry_args(p)
    p.set_defaults(handler=handler(_add))

    p = sub.add_parser("remove", help="remove ACLs")
    add_connection_args(p)
    _add_resource_args(p)
    _add_entry_args(p)
    p.set_defaults(handler=handler(_remove))
