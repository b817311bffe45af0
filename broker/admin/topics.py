"""``josef topics`` and ``josef configs``: topic administration and configs.

* ``topics list [--exclude-internal]``
* ``topics describe [TOPIC ...] [--under-replicated-partitions | --unavailable-partitions |
  --at-min-isr-partitions | --under-min-isr-partitions]`` (Kafka's kafka-topics.sh
  --describe layout; with a filter only the matching partition lines, as Kafka prints them)
* ``topics create TOPIC [--partitions N] [--replication-factor R] [--config k=v ...]
  [--if-not-exists]``
* ``topics alter TOPIC --partitions N`` (CreatePartitions: Kafka's assignment for the new ones)
* ``topics delete TOPIC ... [--if-exists]``
* ``configs describe (--topic T | --broker ID) [--all]``
* ``configs alter (--topic T | --broker ID) [--set k=v ...] [--delete k ...]``
  (IncrementalAlterConfigs)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final, TextIO

from kio.schema.errors import ErrorCode

from broker.admin.client import (
    CREATE_PARTITIONS,
    CREATE_TOPICS,
    DELETE_TOPICS,
    DESCRIBE_CONFIGS,
    INCREMENTAL_ALTER_CONFIGS,
    AdminClient,
    ClusterInfo,
    KafkaResponseError,
    PartitionInfo,
    TopicInfo,
    check,
)
from broker.admin.common import (
    UsageError,
    add_connection_args,
    handler,
    parse_key_value,
)
from broker.admin.output import kafka_uuid, print_json, print_table, wants_json

RESOURCE_TOPIC: Final = 2
RESOURCE_BROKER: Final = 4
OP_SET: Final = 0
OP_DELETE: Final = 1
CONFIG_SOURCES: Final = {
    0: "UNKNOWN",
    1: "DYNAMIC_TOPIC_CONFIG",
    2: "DYNAMIC_BROKER_CONFIG",
    3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
    4: "STATIC_BROKER_CONFIG",
    5: "DEFAULT_CONFIG",
    6: "DYNAMIC_BROKER_LOGGER_CONFIG",
    7: "CLIENT_METRICS_CONFIG",
    8: "GROUP_CONFIG",
}
SOURCE_DEFAULT: Final = 5
ADMIN_TIMEOUT_MS: Final = 30_000


# --------------------------------------------------------------------------- topics


def _list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    cluster = client.cluster(refresh=True)
    names = [
        n
        for n in sorted(cluster.topics)
        if not (args.exclude_internal and cluster.topics[n].internal)
    ]
    if wants_json(args):
        print_json(out, [topic_json(cluster.topics[n], brief=True) for n in names])
        return
    for name in names:
        print(name, file=out)


def topic_json(info: TopicInfo, *, brief: bool = False) -> dict[str, Any]:
    """A topic as ``--output json`` shows it (names as in Kafka's TopicDescription)."""
    rf = max((len(p.replicas) for p in info.partitions.values()), default=0)
    doc: dict[str, Any] = {
        "name": info.name,
        "topic_id": kafka_uuid(info.topic_id),
        "internal": info.internal,
        "partition_count": len(info.partitions),
        "replication_factor": rf,
    }
    if not brief:
        doc["partitions"] = [partition_json(info.partitions[i]) for i in sorted(info.partitions)]
    return doc


def partition_json(p: PartitionInfo) -> dict[str, Any]:
    return {
        "partition": p.partition,
        "leader": p.leader,
        "leader_epoch": p.leader_epoch,
        "replicas": list(p.replicas),
        "isr": list(p.isr),
        "offline_replicas": list(p.offline),
    }


def describe_configs(
    client: AdminClient, resource_type: int, name: str, keys: list[str] | None = None
) -> list[dict[str, Any]]:
    """DescribeConfigs for one resource: [{name, value, source, read_only, sensitive}]."""
    conn = client.node(int(name)) if resource_type == RESOURCE_BROKER else client.any_broker()
    _v, plain = conn.request(
        DESCRIBE_CONFIGS,
        {
            "resources": [
                {"resource_type": resource_type, "resource_name": name, "configuration_keys": keys}
            ],
            "include_synonyms": False,
        },
    )
    result = plain["results"][0]
    check(result["error_code"], result.get("error_message"), f"DescribeConfigs {name}")
    return [
        {
            "name": c["name"],
            "value": c["value"],
            "source": c.get("config_source", 0),
            "read_only": c["read_only"],
            "sensitive": c["is_sensitive"],
        }
        for c in result["configs"]
    ]


def _dynamic_configs(client: AdminClient, name: str) -> dict[str, str | None]:
    """The configs set on the topic itself (DYNAMIC_TOPIC_CONFIG), as kafka-topics shows."""
    try:
        entries = describe_configs(client, RESOURCE_TOPIC, name)
    except KafkaResponseError:
        entries = []
    return {
        str(c["name"]): c["value"]
        for c in sorted(entries, key=lambda c: str(c["name"]))
        if c["source"] == 1
    }


def _describe_topic(
    client: AdminClient, info: TopicInfo, out: TextIO, show_configs: bool = True
) -> None:
    rf = max((len(p.replicas) for p in info.partitions.values()), default=0)
    configs = ""
    if show_configs:
        configs = ",".join(
            f"{k}={'' if v is None else v}" for k, v in _dynamic_configs(client, info.name).items()
        )
    print(
        f"Topic: {info.name}\tTopicId: {kafka_uuid(info.topic_id)}\t"
        f"PartitionCount: {len(info.partitions)}\tReplicationFactor: {rf}\tConfigs: {configs}",
        file=out,
    )
    for idx in sorted(info.partitions):
        _print_partition(info.name, info.partitions[idx], out)


def _print_partition(topic: str, p: PartitionInfo, out: TextIO) -> None:
    leader = p.leader if p.leader >= 0 else "none"
    line = (
        f"\tTopic: {topic}\tPartition: {p.partition}\tLeader: {leader}"
        f"\tReplicas: {','.join(map(str, p.replicas))}\tIsr: {','.join(map(str, p.isr))}"
    )
    if p.offline:
        line += f"\tOffline: {','.join(map(str, p.offline))}"
    print(line, file=out)


PARTITION_FILTERS: Final = (
    "under_replicated_partitions",
    "unavailable_partitions",
    "at_min_isr_partitions",
    "under_min_isr_partitions",
)


def _min_isr(client: AdminClient, topic: str) -> int:
    entries = describe_configs(client, RESOURCE_TOPIC, topic, ["min.insync.replicas"])
    for c in entries:
        if c["name"] == "min.insync.replicas" and c["value"] is not None:
            return int(c["value"])
    return 1


def partition_matches(
    which: str, p: PartitionInfo, cluster: ClusterInfo, min_isr: int | None
) -> bool:
    """Kafka's kafka-topics --describe partition filters (TopicCommand's PartitionDescription)."""
    if which == "under_replicated_partitions":
        return len(p.isr) < len(p.replicas)
    if which == "unavailable_partitions":
        return p.leader < 0 or p.leader not in cluster.brokers
    assert min_isr is not None
    if which == "at_min_isr_partitions":
        return len(p.isr) == min_isr
    return len(p.isr) < min_isr


def _describe(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    cluster = client.cluster(refresh=True)
    if args.topics:
        named = client.metadata(args.topics)
        infos = []
        for name in args.topics:
            info = named.topics.get(name)
            if info is None or info.error_code != 0:
                code = (
                    ErrorCode.unknown_topic_or_partition.value if info is None else info.error_code
                )
                raise KafkaResponseError(code, context=f"topic {name}")
            infos.append(info)
    else:
        infos = [
            cluster.topics[n]
            for n in sorted(cluster.topics)
            if not (args.exclude_internal and cluster.topics[n].internal)
        ]
    chosen = [f for f in PARTITION_FILTERS if getattr(args, f, False)]
    if len(chosen) > 1:
        raise UsageError("give at most one partition filter")
    if chosen:
        which = chosen[0]
        matches: list[tuple[TopicInfo, PartitionInfo]] = []
        for info in infos:
            min_isr = _min_isr(client, info.name) if "min_isr" in which else None
            for idx in sorted(info.partitions):
                if partition_matches(which, info.partitions[idx], cluster, min_isr):
                    matches.append((info, info.partitions[idx]))
        if wants_json(args):
            print_json(out, [{"topic": i.name, **partition_json(p)} for i, p in matches])
        else:
            for info, p in matches:
                _print_partition(info.name, p, out)
        return 0
    if wants_json(args):
        docs = []
        for info in infos:
            doc = topic_json(info)
            doc["configs"] = _dynamic_configs(client, info.name)
            docs.append(doc)
        print_json(out, docs)
        return 0
    for info in infos:
        _describe_topic(client, info, out)
    return 0


def _create(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    configs = [parse_key_value(c) for c in args.config]
    conn = client.controller()
    version = conn.version(CREATE_TOPICS)
    partitions = args.partitions
    replication = args.replication_factor
    if version < 4 and (partitions is None or replication is None):
        raise UsageError(
            "this broker needs --partitions and --replication-factor (CreateTopics "
            f"v{version} has no broker defaults)"
        )
    _v, plain = conn.request(
        CREATE_TOPICS,
        {
            "topics": [
                {
                    "name": args.topic,
                    "num_partitions": -1 if partitions is None else partitions,
                    "replication_factor": -1 if replication is None else replication,
                    "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in configs],
                }
            ],
            "timeout": ADMIN_TIMEOUT_MS,
            "validate_only": args.validate_only,
        },
        version,
    )
    result = plain["topics"][0]
    code = result["error_code"]
    exists = code == ErrorCode.topic_already_exists.value and args.if_not_exists
    if not exists:
        check(code, result.get("error_message"), f"create topic {args.topic}")
    if wants_json(args):
        print_json(
            out,
            {
                "name": args.topic,
                "created": not exists and not args.validate_only,
                "already_exists": exists,
                "validate_only": args.validate_only,
                "topic_id": kafka_uuid(result.get("topic_id")),
                "partitions": result.get("num_partitions", -1),
                "replication_factor": result.get("replication_factor", -1),
            },
        )
        return 0
    if exists:
        return 0
    if args.validate_only:
        print(f"Topic {args.topic} would be created.", file=out)
    else:
        print(f"Created topic {args.topic}.", file=out)
    return 0


def _alter(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.partitions is None:
        raise UsageError("nothing to alter: give --partitions N")
    _v, plain = client.controller().request(
        CREATE_PARTITIONS,
        {
            "topics": [{"name": args.topic, "count": args.partitions, "assignments": None}],
            "timeout": ADMIN_TIMEOUT_MS,
            "validate_only": False,
        },
    )
    result = plain["results"][0]
    check(result["error_code"], result.get("error_message"), f"alter topic {args.topic}")
    if wants_json(args):
        print_json(out, {"name": args.topic, "partition_count": args.partitions})
        return 0
    print(f"Topic {args.topic} now has {args.partitions} partitions.", file=out)
    return 0


def _delete(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    conn = client.controller()

    def body(version: int) -> dict[str, Any]:
        if version >= 6:
            return {
                "topics": [{"name": t, "topic_id": None} for t in args.topics],
                "timeout": ADMIN_TIMEOUT_MS,
            }
        return {"topic_names": list(args.topics), "timeout": ADMIN_TIMEOUT_MS}

    _v, plain = conn.request(DELETE_TOPICS, body)
    errors: list[KafkaResponseError] = []
    deleted: list[str] = []
    for r in plain["responses"]:
        code = r["error_code"]
        if code == ErrorCode.unknown_topic_or_partition.value and args.if_exists:
            continue
        if code != 0:
            errors.append(
                KafkaResponseError(code, r.get("error_message"), f"delete topic {r['name']}")
            )
        else:
            deleted.append(r["name"])
            if not wants_json(args):
                print(f"Deleted topic {r['name']}.", file=out)
    if wants_json(args):
        print_json(
            out,
            {
                "deleted": deleted,
                "errors": [
                    {
                        "name": e.context.removeprefix("delete topic "),
                        "error": e.name,
                        "message": e.message,
                    }
                    for e in errors
                ],
            },
        )
        return 1 if errors else 0
    if errors:
        for err in errors[1:]:
            print(f"Error: {err}", file=sys.stderr)
        raise errors[0]
    return 0


# --------------------------------------------------------------------------- configs


def _resource(args: argparse.Namespace) -> tuple[int, str]:
    if (args.topic is None) == (args.broker is None):
        raise UsageError("give exactly one of --topic and --broker")
    if args.topic is not None:
        return RESOURCE_TOPIC, args.topic
    return RESOURCE_BROKER, str(args.broker)


def _configs_describe(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    rtype, name = _resource(args)
    entries = describe_configs(client, rtype, name)
    if not args.all:
        entries = [c for c in entries if c["source"] != SOURCE_DEFAULT]
    if wants_json(args):
        print_json(
            out,
            [
                {
                    "name": c["name"],
                    "value": None if c["sensitive"] else c["value"],
                    "source": CONFIG_SOURCES.get(c["source"], str(c["source"])),
                    "read_only": c["read_only"],
                    "sensitive": c["sensitive"],
                }
                for c in sorted(entries, key=lambda c: str(c["name"]))
            ],
        )
        return 0
    rows = []
    for c in sorted(entries, key=lambda c: str(c["name"])):
        value = "(sensitive)" if c["sensitive"] else c["value"]
        rows.append(
            (
                c["name"],
                "null" if value is None else (value or '""'),
                CONFIG_SOURCES.get(c["source"], str(c["source"])),
                "true" if c["read_only"] else "false",
            )
        )
    kind = "topic" if rtype == RESOURCE_TOPIC else "broker"
    if not rows:
        which = "" if args.all else "non-default "
        print(f"No {which}configs for {kind} {name}.", file=out)
        return 0
    print_table(out, ("CONFIG", "VALUE", "SOURCE", "READ-ONLY"), rows)
    return 0


def _configs_alter(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    rtype, name = _resource(args)
    ops: list[dict[str, Any]] = [
        {"name": k, "config_operation": OP_SET, "value": v}
        for k, v in (parse_key_value(s) for s in args.set)
    ]
    ops += [{"name": k, "config_operation": OP_DELETE, "value": None} for k in args.delete]
    if not ops:
        raise UsageError("nothing to alter: give --set key=value and/or --delete key")
    conn = client.node(int(name)) if rtype == RESOURCE_BROKER else client.controller()
    _v, plain = conn.request(
        INCREMENTAL_ALTER_CONFIGS,
        {
            "resources": [{"resource_type": rtype, "resource_name": name, "configs": ops}],
            "validate_only": False,
        },
    )
    result = plain["responses"][0]
    check(result["error_code"], result.get("error_message"), f"alter configs of {name}")
    kind = "topic" if rtype == RESOURCE_TOPIC else "broker"
    if wants_json(args):
        print_json(
            out,
            {
                "resource_type": kind,
                "resource_name": name,
                "set": {k: v for k, v in (parse_key_value(x) for x in args.set)},
                "deleted": list(args.delete),
            },
        )
        return 0
    print(f"Completed updating config for {kind} {name}.", file=out)
    return 0


# --------------------------------------------------------------------------- parsers


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="list, describe, create, alter and delete topics")
    sub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="list topic names")
    add_connection_args(p)
    p.add_argument("--exclude-internal", action="store_true", help="leave out internal topics")
    p.set_defaults(handler=handler(_list))

    p = sub.add_parser("describe", help="partitions, leaders, replicas and configs of topics")
    add_connection_args(p)
    p.add_argument("topics", nargs="*", metavar="TOPIC", help="topics (default: all)")
    p.add_argument("--exclude-internal", action="store_true", help="leave out internal topics")
    p.add_argument(
        "--under-replicated-partitions",
        action="store_true",
        help="only partitions whose ISR is smaller than the replica set",
    )
    p.add_argument(
        "--unavailable-partitions",
        action="store_true",
        help="only partitions without a live leader",
    )
    p.add_argument(
        "--at-min-isr-partitions",
        action="store_true",
        help="only partitions whose ISR size equals min.insync.replicas",
    )
    p.add_argument(
        "--under-min-isr-partitions",
        action="store_true",
        help="only partitions whose ISR is smaller than min.insync.replicas",
    )
    p.set_defaults(handler=handler(_describe))

    p = sub.add_parser("create", help="create a topic")
    add_connection_args(p)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--partitions", type=int, help="partition count (default: broker's)")
    p.add_argument(
        "--replication-factor", type=int, help="replicas per partition (default: broker's)"
    )
    p.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE", help="topic config"
    )
    p.add_argument("--if-not-exists", action="store_true", help="succeed if it exists")
    p.add_argument("--validate-only", action="store_true", help="check, do not create")
    p.set_defaults(handler=handler(_create))

    p = sub.add_parser("alter", help="add partitions to a topic")
    add_connection_args(p)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--partitions", type=int, help="the new, higher partition count")
    p.set_defaults(handler=handler(_alter))

    p = sub.add_parser("delete", help="delete topics")
    add_connection_args(p)
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--if-exists", action="store_true", help="succeed if it does not exist")
    p.set_defaults(handler=handler(_delete))

    configs = commands.add_parser("configs", help="describe and alter topic and broker configs")
    sub = configs.add_subparsers(dest="configs_command", metavar="ACTION", required=True)
    for action, fn, text in (
        ("describe", _configs_describe, "show configs (non-default ones unless --all)"),
        ("alter", _configs_alter, "set or delete dynamic configs (IncrementalAlterConfigs)"),
    ):
        p = sub.add_parser(action, help=text)
        add_connection_args(p)
        p.add_argument("--topic", metavar="TOPIC")
        p.add_argument("--broker", type=int, metavar="ID")
        if action == "describe":
            p.add_argument("--all", action="store_true", help="include default values")
        else:
            p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
            p.add_argument("--delete", action="append", default=[], metavar="KEY")
        p.set_defaults(handler=handler(fn))
