"""``josef elect-leaders`` and ``josef reassign``: where partitions' leaders and replicas are,
with the options and output of Kafka's kafka-leader-election.sh and
kafka-reassign-partitions.sh.

* ``elect-leaders --election-type preferred|unclean (--topic T --partition P |
  --all-topic-partitions | --path-to-json-file F)``: ElectLeaders at the controller
* ``reassign --generate --topics-to-move-json-file F --broker-list 1,2,3
  [--disable-rack-aware]``: a proposed assignment (Kafka's replica assignment over those
  brokers), nothing changed
* ``reassign --execute --reassignment-json-file F [--additional]``: AlterPartitionReassignments;
  prints the current assignment first, to keep for a rollback; refused while another
  reassignment is in progress unless ``--additional``
* ``reassign --verify --reassignment-json-file F``: completed or still in progress
* ``reassign --cancel --reassignment-json-file F``: AlterPartitionReassignments with null
  replicas for those of its partitions being reassigned (back to the original replicas)
* ``reassign --list``: ListPartitionReassignments

Reassignment JSON: ``{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}``;
topics to move: ``{"version":1,"topics":[{"topic":"t"}]}``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from kio.schema.errors import ErrorCode

from broker.admin.client import (
    ALTER_PARTITION_REASSIGNMENTS,
    ELECT_LEADERS,
    LIST_PARTITION_REASSIGNMENTS,
    AdminClient,
    AdminError,
    KafkaResponseError,
    TopicPartition,
    check,
    error_name,
)
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.output import print_json, wants_json
from cluster.assignment import (
    BrokerMetadata,
    RackAwareMode,
    assign_replicas_to_brokers,
    broker_metadatas,
)

ELECTION_TYPES: Final = {"PREFERRED": 0, "UNCLEAN": 1}
ADMIN_TIMEOUT_MS: Final = 30_000
CANNOT_EXECUTE_BECAUSE_OF_EXISTING: Final = (
    "Cannot execute because there is an existing partition assignment.  Use --additional to "
    "override this and create a new partition assignment in addition to the existing one."
)


def _tp(tp: TopicPartition) -> str:
    return f"{tp[0]}-{tp[1]}"


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from exc


# --------------------------------------------------------------------------- elect-leaders


def _election_partitions(args: argparse.Namespace) -> list[TopicPartition] | None:
    chosen = [args.all_topic_partitions, args.topic is not None, args.path_to_json_file is not None]
    if sum(chosen) != 1:
        raise UsageError(
            "give exactly one of --all-topic-partitions, --topic (with --partition) and "
            "--path-to-json-file"
        )
    if args.all_topic_partitions:
        return None
    if args.topic is not None:
        if args.partition is None:
            raise UsageError("--partition is required with --topic")
        return [(args.topic, args.partition)]
    doc = _read_json(args.path_to_json_file, "partition list")
    try:
        return [(str(p["topic"]), int(p["partition"])) for p in doc["partitions"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"bad partition list in {args.path_to_json_file}: {exc!r}") from exc


def elect_leaders(
    client: AdminClient, election_type: int, partitions: Sequence[TopicPartition] | None
) -> dict[TopicPartition, tuple[int, str | None]]:
    """ElectLeaders at the controller: {partition: (error code, message)}."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions or ():
        by_topic.setdefault(topic, []).append(partition)
    body = {
        "election_type": election_type,
        "topic_partitions": None
        if partitions is None
        else [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
        "timeout": ADMIN_TIMEOUT_MS,
    }
    _v, plain = client.controller().request(ELECT_LEADERS, body)
    check(plain.get("error_code", 0), None, "ElectLeaders")
    return {
        (r["topic"], p["partition_id"]): (p["error_code"], p.get("error_message"))
        for r in plain["replica_election_results"]
        for p in r["partition_result"]
    }


def _elect(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    kind = args.election_type.upper()
    partitions = _election_partitions(args)
    results = elect_leaders(client, ELECTION_TYPES[kind], partitions)
    done = sorted(tp for tp, (code, _) in results.items() if code == 0)
    noop = sorted(
        tp for tp, (code, _) in results.items() if code == ErrorCode.election_not_needed.value
    )
    failed = {
        tp: r
        for tp, r in sorted(results.items())
        if r[0] not in (0, ErrorCode.election_not_needed.value)
    }
    if wants_json(args):
        print_json(
            out,
            {
                "election_type": kind,
                "elected": _tps_json(done),
                "not_needed": _tps_json(noop),
                "failed": [
                    {"topic": t, "partition": p, "error": error_name(c), "message": m}
                    for (t, p), (c, m) in failed.items()
                ],
            },
        )
        if failed:
            raise AdminError(f"{len(failed)} replica(s) could not be elected")
        return 0
    if done:
        print(
            f"Successfully completed leader election ({kind}) for partitions "
            f"{', '.join(map(_tp, done))}",
            file=out,
        )
    if noop:
        print(f"Valid replica already elected for partitions {', '.join(map(_tp, noop))}", file=out)
    if not results:
        print("No partitions needed a leader election.", file=out)
    if failed:
        for tp, (code, message) in failed.items():
            text = error_name(code) + (f": {message}" if message else "")
            print(
                f"Error completing leader election ({kind}) for partition: {_tp(tp)}: {text}",
                file=out,
            )
        raise AdminError(f"{len(failed)} replica(s) could not be elected")
    return 0


# --------------------------------------------------------------------------- reassign


def _reassignment_doc(assignment: Mapping[TopicPartition, Sequence[int]]) -> dict[str, Any]:
    return {
        "version": 1,
        "partitions": [
            {
                "topic": t,
                "partition": p,
                "replicas": list(r),
                "log_dirs": ["any"] * len(r),
            }
            for (t, p), r in sorted(assignment.items())
        ],
    }


def _reassignment_json(assignment: Mapping[TopicPartition, Sequence[int]]) -> str:
    """Kafka's reassignment JSON, as kafka-reassign-partitions.sh prints it."""
    return json.dumps(_reassignment_doc(assignment), separators=(",", ":"))


def _tps_json(tps: Iterable[TopicPartition]) -> list[dict[str, Any]]:
    return [{"topic": t, "partition": p} for t, p in tps]


def parse_reassignment(doc: Any, source: str) -> dict[TopicPartition, list[int]]:
    try:
        entries = doc["partitions"]
        out = {
            (str(e["topic"]), int(e["partition"])): [int(r) for r in e["replicas"]] for e in entries
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"bad reassignment in {source}: {exc!r}") from exc
    if not out:
        raise UsageError(f"no partitions in {source}")
    if len(out) != len(entries):
        raise UsageError(f"a partition appears twice in {source}")
    for tp, replicas in out.items():
        if len(set(replicas)) != len(replicas):
            raise UsageError(f"duplicate replicas for {_tp(tp)}: {replicas}")
    return out


def current_assignment(
    client: AdminClient, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, list[int]]:
    wanted = sorted(set(partitions))
    cluster = client.metadata(sorted({t for t, _ in wanted}))
    out: dict[TopicPartition, list[int]] = {}
    for topic, partition in wanted:
        info = cluster.topics.get(topic)
        p = info.partitions.get(partition) if info is not None else None
        if info is None or info.error_code != 0 or p is None:
            raise KafkaResponseError(
                ErrorCode.unknown_topic_or_partition.value,
                f"Topic {topic} partition {partition} not found",
            )
        out[(topic, partition)] = list(p.replicas)
    return out


def alter_reassignments(
    client: AdminClient, targets: Mapping[TopicPartition, Sequence[int] | None]
) -> dict[TopicPartition, tuple[int, str | None]]:
    """AlterPartitionReassignments at the controller (None cancels)."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), replicas in sorted(targets.items()):
        by_topic.setdefault(topic, []).append(
            {"partition_index": partition, "replicas": None if replicas is None else list(replicas)}
        )
    _v, plain = client.controller().request(
        ALTER_PARTITION_REASSIGNMENTS,
        {
            "timeout": ADMIN_TIMEOUT_MS,
            "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()],
        },
    )
    check(plain["error_code"], plain.get("error_message"), "AlterPartitionReassignments")
    return {
        (t["name"], p["partition_index"]): (p["error_code"], p.get("error_message"))
        for t in plain["responses"]
        for p in t["partitions"]
    }


def list_reassignments(
    client: AdminClient, partitions: Iterable[TopicPartition] | None = None
) -> dict[TopicPartition, tuple[list[int], list[int], list[int]]]:
    """ListPartitionReassignments at the controller: replicas, adding, removing."""
    topics = None
    if partitions is not None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(set(partitions)):
            by_topic.setdefault(topic, []).append(partition)
        topics = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
    _v, plain = client.controller().request(
        LIST_PARTITION_REASSIGNMENTS, {"timeout": ADMIN_TIMEOUT_MS, "topics": topics}
    )
    check(plain["error_code"], plain.get("error_message"), "ListPartitionReassignments")
    return {
        (t["name"], p["partition_index"]): (
            list(p["replicas"]),
            list(p["adding_replicas"]),
            list(p["removing_replicas"]),
        )
        for t in plain["topics"]
        for p in t["partitions"]
    }


def _check_errors(results: Mapping[TopicPartition, tuple[int, str | None]], what: str) -> None:
    failed = {tp: r for tp, r in sorted(results.items()) if r[0] != 0}
    if failed:
        lines = [
            f"{_tp(tp)}: {error_name(code)}" + (f": {message}" if message else "")
            for tp, (code, message) in failed.items()
        ]
        raise AdminError(f"Error {what} partition(s):\n" + "\n".join(lines))


def _reassign_execute(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    targets = parse_reassignment(
        _read_json(args.reassignment_json_file, "reassignment"), args.reassignment_json_file
    )
    brokers = set(client.cluster(refresh=True).brokers)
    unknown = sorted({r for replicas in targets.values() for r in replicas} - brokers)
    if unknown:
        raise AdminError(f"Unknown broker id(s) {', '.join(map(str, unknown))}")
    if not args.additional and list_reassignments(client):
        raise AdminError(CANNOT_EXECUTE_BECAUSE_OF_EXISTING)
    current = current_assignment(client, targets)
    if not wants_json(args):
        print("Current partition replica assignment\n", file=out)
        print(_reassignment_json(current), file=out)
        print("\nSave this to use as the --reassignment-json-file option during rollback", file=out)
    results = alter_reassignments(client, targets)
    _check_errors(results, "reassigning")
    if wants_json(args):
        started = _tps_json(sorted(targets))
        print_json(out, {"current": _reassignment_doc(current), "started": started})
        return 0
    print(
        "Successfully started partition reassignment"
        f"{'s' if len(targets) > 1 else ''} for {','.join(map(_tp, sorted(targets)))}",
        file=out,
    )
    return 0


def _reassign_verify(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    targets = parse_reassignment(
        _read_json(args.reassignment_json_file, "reassignment"), args.reassignment_json_file
    )
    ongoing = list_reassignments(client, targets)
    current = current_assignment(client, targets)
    if wants_json(args):
        statuses = [
            {
                "topic": t,
                "partition": p,
                "status": "in_progress"
                if (t, p) in ongoing
                else "completed"
                if current[(t, p)] == targets[(t, p)]
                else "not_active",
                "replicas": list(current[(t, p)]),
                "target_replicas": list(targets[(t, p)]),
            }
            for t, p in sorted(targets)
        ]
        print_json(out, statuses)
        complete = all(st["status"] == "completed" for st in statuses)
        return 0 if complete or not args.fail_if_incomplete else 1
    print("Status of partition reassignment:", file=out)
    done = True
    for tp in sorted(targets):
        if tp in ongoing:
            done = False
            print(f"Reassignment of partition {_tp(tp)} is still in progress.", file=out)
        elif current[tp] == targets[tp]:
            print(f"Reassignment of partition {_tp(tp)} is completed.", file=out)
        else:
            done = False
            print(
                f"There is no active reassignment of partition {_tp(tp)}, but replica set is "
                f"{','.join(map(str, current[tp]))} rather than "
                f"{','.join(map(str, targets[tp]))}.",
                file=out,
            )
    return 0 if done or not args.fail_if_incomplete else 1


def _reassign_cancel(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    targets = parse_reassignment(
        _read_json(args.reassignment_json_file, "reassignment"), args.reassignment_json_file
    )
    active = sorted(list_reassignments(client, targets))
    if not active and wants_json(args):
        print_json(out, {"cancelled": []})
        return 0
    if not active:
        print("None of the specified partition reassignments are active.", file=out)
        return 0
    results = alter_reassignments(client, dict.fromkeys(active))
    _check_errors(results, "cancelling reassignment of")
    if wants_json(args):
        print_json(out, {"cancelled": _tps_json(active)})
        return 0
    print(
        f"Successfully cancelled partition reassignment{'s' if len(active) > 1 else ''} for: "
        f"{','.join(map(_tp, active))}",
        file=out,
    )
    return 0


def _reassign_list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    ongoing = list_reassignments(client)
    if wants_json(args):
        print_json(
            out,
            [
                {
                    "topic": t,
                    "partition": p,
                    "replicas": list(r),
                    "adding_replicas": list(a),
                    "removing_replicas": list(rm),
                }
                for (t, p), (r, a, rm) in sorted(ongoing.items())
            ],
        )
        return 0
    if not ongoing:
        print("No partition reassignments found.", file=out)
        return 0
    print("Current partition reassignments:", file=out)
    for tp, (replicas, adding, removing) in sorted(ongoing.items()):
        line = f"{_tp(tp)}: replicas: {','.join(map(str, replicas))}."
        if adding:
            line += f" adding: {','.join(map(str, adding))}."
        if removing:
            line += f" removing: {','.join(map(str, removing))}."
        print(line, file=out)
    return 0


def _reassign_generate(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    doc = _read_json(args.topics_to_move_json_file, "topics to move")
    try:
        topics = sorted({str(t["topic"]) for t in doc["topics"]})
    except (KeyError, TypeError) as exc:
        raise UsageError(f"bad topics in {args.topics_to_move_json_file}: {exc!r}") from exc
    if args.broker_list is None:
        raise UsageError("--broker-list is required with --generate")
    try:
        wanted = {int(b) for b in args.broker_list.split(",") if b.strip()}
    except ValueError as exc:
        raise UsageError(f"bad --broker-list {args.broker_list!r}") from exc
    cluster = client.cluster(refresh=True)
    unknown = sorted(wanted - set(cluster.brokers))
    if unknown:
        raise AdminError(f"Unknown broker id(s) {', '.join(map(str, unknown))}")
    mode = RackAwareMode.DISABLED if args.disable_rack_aware else RackAwareMode.ENFORCED
    brokers = broker_metadatas((BrokerMetadata(b, cluster.brokers[b].rack) for b in wanted), mode)
    current: dict[TopicPartition, list[int]] = {}
    proposed: dict[TopicPartition, list[int]] = {}
    for topic in topics:
        info = client.topic(topic)
        parts = {p: list(i.replicas) for p, i in info.partitions.items()}
        for p, replicas in parts.items():
            current[(topic, p)] = replicas
        rf = len(parts[min(parts)])
        for p, replicas in assign_replicas_to_brokers(brokers, len(parts), rf).items():
            proposed[(topic, p)] = replicas
    if wants_json(args):
        print_json(
            out, {"current": _reassignment_doc(current), "proposed": _reassignment_doc(proposed)}
        )
        return 0
    print("Current partition replica assignment", file=out)
    print(_reassignment_json(current), file=out)
    print("\nProposed partition reassignment configuration", file=out)
    print(_reassignment_json(proposed), file=out)
    return 0


def _reassign(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    actions = {
        "generate": _reassign_generate,
        "execute": _reassign_execute,
        "verify": _reassign_verify,
        "cancel": _reassign_cancel,
        "list": _reassign_list,
    }
    chosen = [name for name in actions if getattr(args, name)]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --generate, --execute, --verify, --cancel, --list")
    action = chosen[0]
    if action in ("execute", "verify", "cancel") and args.reassignment_json_file is None:
        raise UsageError(f"--reassignment-json-file is required with --{action}")
    if action == "generate" and args.topics_to_move_json_file is None:
        raise UsageError("--topics-to-move-json-file is required with --generate")
    return actions[action](client, args, out)


# --------------------------------------------------------------------------- parsers


def register(commands: Any) -> None:
    p = commands.add_parser(
        "elect-leaders",
        help="elect preferred or unclean leaders (kafka-leader-election.sh)",
        description="ElectLeaders at the controller, with kafka-leader-election.sh's options.",
    )
    add_connection_args(p)
    p.add_argument(
        "--election-type",
        required=True,
        type=str.upper,
        choices=sorted(ELECTION_TYPES),
        help="PREFERRED: move leadership to the first replica; UNCLEAN: elect any live "
        "replica of a partition without a leader",
    )
    p.add_argument("--topic", metavar="TOPIC", help="the topic of --partition")
    p.add_argument("--partition", type=int, metavar="P", help="the partition (with --topic)")
    p.add_argument(
        "--all-topic-partitions", action="store_true", help="every partition of every topic"
    )
    p.add_argument(
        "--path-to-json-file",
        metavar="FILE",
        help='partitions as {"partitions":[{"topic":"t","partition":0}]}',
    )
    p.set_defaults(handler=handler(_elect))

    p = commands.add_parser(
        "reassign",
        help="move partition replicas between brokers (kafka-reassign-partitions.sh)",
        description="Partition reassignment with kafka-reassign-partitions.sh's options.",
    )
    add_connection_args(p)
    p.add_argument("--generate", action="store_true", help="propose an assignment")
    p.add_argument("--execute", action="store_true", help="start a reassignment")
    p.add_argument("--verify", action="store_true", help="check a reassignment's progress")
    p.add_argument("--cancel", action="store_true", help="cancel a reassignment")
    p.add_argument("--list", action="store_true", help="list reassignments in progress")
    p.add_argument("--reassignment-json-file", metavar="FILE")
    p.add_argument("--topics-to-move-json-file", metavar="FILE")
    p.add_argument("--broker-list", metavar="ID[,ID...]", help="brokers for --generate")
    p.add_argument(
        "--disable-rack-aware", action="store_true", help="--generate ignoring broker racks"
    )
    p.add_argument(
        "--additional",
        action="store_true",
        help="--execute while other reassignments are in progress",
    )
    p.add_argument(
        "--fail-if-incomplete",
        action="store_true",
        help="--verify exits 1 while the reassignment is not complete",
    )
    p.set_defaults(handler=handler(_reassign))
