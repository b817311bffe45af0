"""``josef quotas``: describe and alter client quotas with kafka-configs.sh's vocabulary.

* ``quotas describe [ENTITY...]``: every quota, or those of the named entities
* ``quotas alter ENTITY... [--add-config k=v[,k=v]] [--delete-config k[,k]]``

ENTITY is ``--entity-type users|clients`` followed by ``--entity-name NAME`` or
``--entity-default`` (a user and a client together name a (user, client-id) quota), or
the shortcuts ``--user NAME``, ``--user-defaults``, ``--client NAME``,
``--client-defaults``. Keys: producer_byte_rate, consumer_byte_rate (bytes per second),
request_percentage, controller_mutation_rate.
"""

from __future__ import annotations

import argparse
from typing import Any, Final, TextIO

from broker.admin.client import AdminClient, check
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.output import print_json, wants_json

DESCRIBE_CLIENT_QUOTAS: Final = 48
ALTER_CLIENT_QUOTAS: Final = 49
USER: Final = "user"
CLIENT_ID: Final = "client-id"
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2
_TYPES: Final = {"users": USER, "user": USER, "clients": CLIENT_ID, "client": CLIENT_ID}

_UNSET: Final = object()


def _entity(args: argparse.Namespace) -> dict[str, object]:
    """entity type -> name, None for the default entity, _UNSET for "any of the type"."""
    out: dict[str, object] = {}
    pending: str | None = None
    for kind, value in args.entity:
        if kind == "type":
            if pending is not None:
                out[pending] = _UNSET
            mapped = _TYPES.get(value)
            if mapped is None:
                raise UsageError(f"--entity-type must be users or clients, not {value!r}")
            pending = mapped
        else:
            if pending is None:
                raise UsageError(f"{kind} needs a preceding --entity-type")
            out[pending] = value
            pending = None
    if pending is not None:
        out[pending] = _UNSET
    if args.user is not None:
        out[USER] = args.user
    if args.user_defaults:
        out[USER] = None
    if args.client is not None:
        out[CLIENT_ID] = args.client
    if args.client_defaults:
        out[CLIENT_ID] = None
    return out


class _EntityAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: str | None = None) -> None:
        items = list(getattr(namespace, "entity", None) or [])
        if option == "--entity-type":
            items.append(("type", values))
        elif option == "--entity-name":
            items.append(("--entity-name", values))
        else:
            items.append(("--entity-default", None))
        namespace.entity = items


def describe_entity(entity: list[dict[str, Any]]) -> str:
    parts = []
    for e in sorted(entity, key=lambda e: e["entity_type"] != USER):
        name = e["entity_name"]
        kind = "user-principal" if e["entity_type"] == USER else e["entity_type"]
        parts.append(f"{kind} '{name}'" if name is not None else f"the default {kind}")
    return ", ".join(parts)


def _format(value: float) -> str:
    return repr(float(value))


def describe_quotas(
    client: AdminClient, components: list[dict[str, Any]], strict: bool
) -> list[dict[str, Any]]:
    _v, plain = client.any_broker().request(
        DESCRIBE_CLIENT_QUOTAS, {"components": components, "strict": strict}
    )
    check(plain["error_code"], plain.get("error_message"), "DescribeClientQuotas")
    return list(plain["entries"] or [])


def _describe(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    entity = _entity(args)
    components = []
    for kind, name in entity.items():
        if name is _UNSET:
            components.append({"entity_type": kind, "match_type": MATCH_SPECIFIED, "match": None})
        elif name is None:
            components.append({"entity_type": kind, "match_type": MATCH_DEFAULT, "match": None})
        else:
            components.append({"entity_type": kind, "match_type": MATCH_EXACT, "match": name})
    entries = describe_quotas(client, components, strict=bool(components))
    if wants_json(args):
        print_json(
            out,
            [
                {
                    "entity": {c["entity_type"]: c["entity_name"] for c in e["entity"]},
                    "values": {v["key"]: v["value"] for v in e["values"]},
                }
                for e in sorted(entries, key=lambda e: describe_entity(e["entity"]))
            ],
        )
        return
    for e in sorted(entries, key=lambda e: describe_entity(e["entity"])):
        values = ", ".join(
            f"{v['key']}={_format(v['value'])}" for v in sorted(e["values"], key=lambda v: v["key"])
        )
        print(f"Quota configs for {describe_entity(e['entity'])} are {values}", file=out)


def _parse_configs(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"expected key=value in --add-config, got {item!r}")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"{key.strip()} must be a number, got {value!r}") from None
    return out


def _alter(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    entity = _entity(args)
    if not entity or any(v is _UNSET for v in entity.values()):
        raise UsageError("name the entity: --entity-type with --entity-name or --entity-default "
                         "(or --user/--client/--user-defaults/--client-defaults)")
    ops: list[dict[str, Any]] = []
    for text in args.add_config:
        for key, value in _parse_configs(text).items():
            ops.append({"key": key, "value": value, "remove": False})
    for text in args.delete_config:
        for key in (k.strip() for k in text.split(",")):
            if key:
                ops.append({"key": key, "value": 0.0, "remove": True})
    if not ops:
        raise UsageError("nothing to change: use --add-config and/or --delete-config")
    wire_entity = [{"entity_type": k, "entity_name": v} for k, v in entity.items()]
    _v, plain = client.any_broker().request(
        ALTER_CLIENT_QUOTAS,
        {"entries": [{"entity": wire_entity, "ops": ops}], "validate_only": False},
    )
    for e in plain["entries"]:
        check(e["error_code"], e.get("error_message"), "AlterClientQuotas")
    if wants_json(args):
        print_json(
            out,
            {
                "entity": {c["entity_type"]: c["entity_name"] for c in wire_entity},
                "set": {o["key"]: o["value"] for o in ops if not o["remove"]},
                "deleted": [o["key"] for o in ops if o["remove"]],
            },
        )
        return
    print(f"Completed updating config for {describe_entity(wire_entity)}.", file=out)


def _add_entity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entity-type", action=_EntityAction, metavar="users|clients")
    p.add_argument("--entity-name", action=_EntityAction, metavar="NAME")
    p.add_argument("--entity-default", action=_EntityAction, nargs=0)
    p.add_argument("--user", metavar="NAME", help="a user principal's name (alice)")
    p.add_argument("--user-defaults", action="store_true", help="the default user")
    p.add_argument("--client", metavar="CLIENT_ID")
    p.add_argument("--client-defaults", action="store_true", help="the default client id")
    p.set_defaults(entity=[])


def register(commands: Any) -> None:
    quotas = commands.add_parser(
        "quotas", help="describe and alter client quotas (kafka-configs.sh)"
    )
    sub = quotas.add_subparsers(dest="quotas_command", metavar="ACTION", required=True)

    p = sub.add_parser("describe", help="quotas of every entity, or of the named ones")
    add_connection_args(p)
    _add_entity_args(p)
    p.set_defaults(handler=handler(_describe))

    p = sub.add_parser("alter", help="set (--add-config) or remove (--delete-config) quotas")
    add_connection_args(p)
    _add_entity_args(p)
    p.add_argument("--add-config", action="append", default=[], metavar="K=V[,K=V]")
    p.add_argument("--delete-config", action="append", default=[], metavar="K[,K]")
    p.set_defaults(handler=handler(_alter))
