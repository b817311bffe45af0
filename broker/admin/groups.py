"""``josef groups``: consumer group administration, as kafka-consumer-groups.sh does it.

* ``groups list [--state [STATE,...]]``: ListGroups on every broker
* ``groups describe GROUP ... [--members [--verbose] | --state]``: DescribeGroups (or
  ConsumerGroupDescribe for KIP-848 groups), OffsetFetch and ListOffsets; LAG is the log
  end offset minus the committed offset, "-" without a commit
* ``groups delete GROUP ...``: DeleteGroups
* ``groups reset-offsets GROUP (--topic T[:P,...] ... | --all-topics) (--to-earliest |
  --to-latest | --to-current | --to-offset N | --to-datetime ISO8601 | --shift-by N |
  --by-duration ISO8601-DURATION) [--dry-run | --execute]``: only for an inactive group
  (Empty, or no group yet); commits with generation -1 and an empty member id
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from kio.schema.errors import ErrorCode

from broker.admin.client import (
    CONSUMER_GROUP_DESCRIBE,
    DELETE_GROUPS,
    DESCRIBE_GROUPS,
    LIST_GROUPS,
    OFFSET_COMMIT,
    OFFSET_FETCH,
    AdminClient,
    AdminError,
    KafkaResponseError,
    TopicPartition,
    UnsupportedApi,
)
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.consumer_protocol import ConsumerProtocolError, decode_assignment
from broker.admin.output import Progress, print_json, print_table, wants_json

GROUP_STATES: Final = (
    "Unknown",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
)
INACTIVE_STATES: Final = frozenset({"Empty", "Dead"})


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    instance_id: str | None
    client_id: str
    host: str
    assignment: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    coordinator: int
    members: tuple[Member, ...] = field(default_factory=tuple)
    kind: str = "classic"

    @property
    def exists(self) -> bool:
        return self.state not in ("Dead", "")


def _errors_of(items: Iterable[dict[str, Any]]) -> list[tuple[int, str | None]]:
    return [(i.get("error_code", 0), i.get("error_message")) for i in items]


def _describe_classic(client: AdminClient, group: str) -> GroupDescription:
    plain = client.group_request(
        group,
        DESCRIBE_GROUPS,
        {"groups": [group], "include_authorized_operations": False},
        lambda r: [
            (g["error_code"], g.get("error_message"))
            for g in r["groups"]
            if g["error_code"] != ErrorCode.group_id_not_found.value
        ],
    )
    g = plain["groups"][0]
    coordinator = client.find_coordinator(group)
    if g["error_code"] == ErrorCode.group_id_not_found.value:
        return GroupDescription(group, "Dead", "", "", coordinator)
    members = []
    consumer = g["protocol_type"] in ("consumer", "")
    for m in g["members"]:
        tps: tuple[TopicPartition, ...] = ()
        if consumer:
            try:
                tps = tuple(decode_assignment(m["member_assignment"]).topic_partitions())
            except ConsumerProtocolError:
                tps = ()
        members.append(
            Member(
                m["member_id"], m.get("group_instance_id"), m["client_id"], m["client_host"], tps
            )
        )
    return GroupDescription(
        group,
        g["group_state"],
        g["protocol_type"],
        g["protocol_data"],
        coordinator,
        tuple(sorted(members, key=lambda m: m.member_id)),
    )


def _describe_consumer(client: AdminClient, group: str) -> GroupDescription | None:
    """A KIP-848 group through ConsumerGroupDescribe; None if the broker lacks the API or
    the group is not a consumer-protocol group."""
    try:
        client.coordinator(group).version(CONSUMER_GROUP_DESCRIBE)
    except UnsupportedApi:
        return None
    skip = {ErrorCode.group_id_not_found.value}
    plain = client.group_request(
        group,
        CONSUMER_GROUP_DESCRIBE,
        {"group_ids": [group], "include_authorized_operations": False},
        lambda r: [e for e in _errors_of(r["groups"]) if e[0] not in skip],
    )
    g = plain["groups"][0]
    if g["error_code"] != 0:
        return None
    members = []
    for m in g["members"]:
        tps = tuple(
            sorted(
                (tp["topic_name"], p)
                for tp in m["assignment"]["topic_partitions"]
                for p in tp["partitions"]
            )
        )
        members.append(
            Member(m["member_id"], m.get("instance_id"), m["client_id"], m["client_host"], tps)
        )
    return GroupDescription(
        group,
        g["group_state"],
        "consumer",
        g["assignor_name"],
        client.find_coordinator(group),
        tuple(sorted(members, key=lambda m: m.member_id)),
        kind="consumer",
    )


def describe_group(client: AdminClient, group: str) -> GroupDescription:
    desc = _describe_classic(client, group)
    if desc.members:
        return desc
    # DescribeGroups shows a KIP-848 consumer group without its members (Josef) or as
    # Dead (Kafka): ask ConsumerGroupDescribe too when the broker has it.
    try:
        other = _describe_consumer(client, group)
    except KafkaResponseError:
        other = None
    return desc if other is None else other


def committed_offsets(client: AdminClient, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets (all topics); partitions without one are left out."""

    def body(version: int) -> dict[str, Any]:
        if version >= 8:
            return {"groups": [{"group_id": group, "topics": None}], "require_stable": False}
        return {"group_id": group, "topics": None, "require_stable": False}

    def errors(plain: dict[str, Any]) -> list[tuple[int, str | None]]:
        groups = plain.get("groups")
        scopes = groups if groups else [plain]
        out: list[tuple[int, str | None]] = []
        for scope in scopes:
            out.append((scope.get("error_code", 0), None))
            for t in scope.get("topics", ()):
                out.extend(_errors_of(t["partitions"]))
        return out

    plain = client.group_request(group, OFFSET_FETCH, body, errors)
    groups = plain.get("groups")
    topics = groups[0]["topics"] if groups else plain["topics"]
    result: dict[TopicPartition, int] = {}
    for t in topics:
        for p in t["partitions"]:
            if p["committed_offset"] >= 0:
                result[(t["name"], p["partition_index"])] = p["committed_offset"]
    return result


COMMIT_CHUNK: Final = 1000


def commit_offsets(
    client: AdminClient,
    group: str,
    offsets: dict[TopicPartition, int],
    progress: Progress | None = None,
) -> None:
    """OffsetCommit as an admin: generation -1, no member id (the group must be inactive).
    Many partitions go in requests of COMMIT_CHUNK, with progress shown between them."""
    items = sorted(offsets.items())
    for start in range(0, len(items), COMMIT_CHUNK):
        _commit_chunk(client, group, items[start : start + COMMIT_CHUNK])
        if progress is not None:
            progress.update(min(start + COMMIT_CHUNK, len(items)))
    if progress is not None:
        progress.finish()


def _commit_chunk(client: AdminClient, group: str, items: list[tuple[TopicPartition, int]]) -> None:
    topics: dict[str, list[dict[str, Any]]] = {}
    for (topic, part), off in items:
        topics.setdefault(topic, []).append(
            {
                "partition_index": part,
                "committed_offset": off,
                "committed_leader_epoch": -1,
                "committed_metadata": "",
            }
        )
    body = {
        "group_id": group,
        "generation_id_or_member_epoch": -1,
        "member_id": "",
        "group_instance_id": None,
        "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
    }
    client.group_request(
        group,
        OFFSET_COMMIT,
        body,
        lambda r: [e for t in r["topics"] for e in _errors_of(t["partitions"])],
    )


def existing_partitions(client: AdminClient, tps: Iterable[TopicPartition]) -> set[TopicPartition]:
    """The partitions among ``tps`` whose topic exists (with that partition)."""
    wanted = set(tps)
    topics = sorted({t for t, _ in wanted})
    if not topics:
        return set()
    cluster = client.metadata(topics)
    out = set()
    for t, p in wanted:
        info = cluster.topics.get(t)
        usable = info is not None and info.error_code in (0, ErrorCode.leader_not_available.value)
        if usable and info is not None and p in info.partitions:
            out.add((t, p))
    return out


def log_end_offsets(
    client: AdminClient, tps: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    return client.offsets_latest(existing_partitions(client, tps))


# --------------------------------------------------------------------------- list


def _canonical_states(text: str | None) -> list[str]:
    if not text:
        return []
    by_lower = {s.lower(): s for s in GROUP_STATES}
    out = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        canonical = by_lower.get(name.lower())
        if canonical is None:
            raise UsageError(f"unknown group state {name!r}; states: {', '.join(GROUP_STATES)}")
        out.append(canonical)
    return out


def list_groups(client: AdminClient, states: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """[(group id, state, protocol type)] from every broker of the cluster."""
    cluster = client.cluster(refresh=True)
    found: dict[str, tuple[str, str, str]] = {}
    wanted = {s.lower() for s in states}
    for node_id in sorted(cluster.brokers):
        conn = client.node(node_id)

        def body(version: int) -> dict[str, Any]:
            return {"states_filter": list(states) if version >= 4 else [], "types_filter": []}

        _v, plain = conn.request(LIST_GROUPS, body)
        if plain["error_code"] != 0:
            raise KafkaResponseError(plain["error_code"], context=f"ListGroups on broker {node_id}")
        for g in plain["groups"]:
            state = g.get("group_state", "")
            if wanted and state and state.lower() not in wanted:
                continue
            found[g["group_id"]] = (g["group_id"], state, g.get("protocol_type", ""))
    return [found[k] for k in sorted(found)]


def _list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    states = _canonical_states(args.state)
    groups = list_groups(client, states)
    if wants_json(args):
        print_json(
            out, [{"group_id": g, "state": s or None, "protocol_type": t} for g, s, t in groups]
        )
        return 0
    if args.state is None:
        for gid, _state, _ptype in groups:
            print(gid, file=out)
    else:
        print_table(out, ("GROUP", "STATE"), [(g, s or "-") for g, s, _ in groups])
    return 0


# --------------------------------------------------------------------------- describe


def describe_offsets(
    client: AdminClient, desc: GroupDescription
) -> list[tuple[str, int, int | None, int | None, int | None, Member | None]]:
    """Rows (topic, partition, committed, log end offset, lag, member) sorted by partition."""
    committed = committed_offsets(client, desc.group_id)
    owner: dict[TopicPartition, Member] = {}
    for m in desc.members:
        for tp in m.assignment:
            owner[tp] = m
    tps = set(committed) | set(owner)
    leo = log_end_offsets(client, tps)
    rows = []
    for tp in sorted(tps):
        cur = committed.get(tp)
        end = leo.get(tp)
        lag = None if cur is None or end is None else max(end - cur, 0)
        rows.append((tp[0], tp[1], cur, end, lag, owner.get(tp)))
    return rows


def member_json(m: Member) -> dict[str, Any]:
    return {
        "member_id": m.member_id,
        "group_instance_id": m.instance_id,
        "client_id": m.client_id,
        "host": m.host,
        "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
    }


def group_json(client: AdminClient, desc: GroupDescription, offsets: bool) -> dict[str, Any]:
    """A group as ``--output json`` shows it (fields of Kafka's ConsumerGroupDescription)."""
    coord = client.cluster().brokers.get(desc.coordinator)
    doc: dict[str, Any] = {
        "group_id": desc.group_id,
        "state": desc.state,
        "type": desc.kind,
        "protocol_type": desc.protocol_type,
        "partition_assignor": desc.protocol,
        "coordinator": {
            "id": desc.coordinator,
            "host": coord.host if coord else None,
            "port": coord.port if coord else None,
        },
        "members": [member_json(m) for m in desc.members],
    }
    if offsets:
        doc["offsets"] = [
            {
                "topic": topic,
                "partition": part,
                "current_offset": cur,
                "log_end_offset": end,
                "lag": lag,
                "member_id": None if m is None else m.member_id,
            }
            for topic, part, cur, end, lag, m in describe_offsets(client, desc)
        ]
    return doc


def _describe_one(client: AdminClient, args: argparse.Namespace, group: str, out: TextIO) -> bool:
    desc = describe_group(client, group)
    if args.state:
        print(file=out)
        coord = client.cluster().brokers.get(desc.coordinator)
        where = f"{coord.host}:{coord.port} ({coord.node_id})" if coord else f"({desc.coordinator})"
        print_table(
            out,
            ("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"),
            [(group, where, desc.protocol or "-", desc.state, len(desc.members))],
        )
        return desc.exists
    if args.members:
        if not desc.exists:
            print(f"Error: Consumer group '{group}' does not exist.", file=sys.stderr)
            return False
        print(file=out)
        if not desc.members:
            print(f"Consumer group '{group}' has no active members.", file=out)
            return True
        headers = ["GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
        if args.verbose:
            headers.append("ASSIGNMENT")
        member_rows: list[list[object]] = []
        for m in desc.members:
            row: list[object] = [
                group,
                m.member_id,
                m.instance_id or "-",
                m.host,
                m.client_id,
                len(m.assignment),
            ]
            if args.verbose:
                row.append(_format_assignment(m.assignment))
            member_rows.append(row)
        print_table(out, headers, member_rows)
        return True
    rows = describe_offsets(client, desc)
    if not desc.exists and not rows:
        print(f"Error: Consumer group '{group}' does not exist.", file=sys.stderr)
        return False
    print(file=out)
    if desc.state in ("PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling"):
        print(f"Warning: Consumer group '{group}' is rebalancing.", file=out)
    elif not desc.members:
        print(f"Consumer group '{group}' has no active members.", file=out)
    table = [
        (
            group,
            topic,
            part,
            "-" if cur is None else cur,
            "-" if end is None else end,
            "-" if lag is None else lag,
            "-" if m is None else m.member_id,
            "-" if m is None else m.host,
            "-" if m is None else m.client_id,
        )
        for topic, part, cur, end, lag, m in rows
    ]
    print_table(
        out,
        (
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ),
        table,
    )
    return True


def _format_assignment(tps: Sequence[TopicPartition]) -> str:
    by_topic: dict[str, list[int]] = {}
    for t, p in tps:
        by_topic.setdefault(t, []).append(p)
    if not by_topic:
        return "-"
    return ",".join(f"{t}:{','.join(map(str, sorted(ps)))}" for t, ps in sorted(by_topic.items()))


def _describe(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    groups = list(args.groups)
    if args.all_groups:
        groups += [g for g, _s, _t in list_groups(client) if g not in groups]
    elif not groups:
        raise UsageError("give a GROUP or --all-groups")
    if wants_json(args):
        docs = []
        ok = True
        for group in groups:
            desc = describe_group(client, group)
            doc = group_json(client, desc, offsets=not (args.members or args.state))
            if not desc.exists and not doc.get("offsets"):
                print(f"Error: Consumer group '{group}' does not exist.", file=sys.stderr)
                ok = False
            docs.append(doc)
        print_json(out, docs)
        return 0 if ok else 1
    ok = True
    for group in groups:
        ok = _describe_one(client, args, group, out) and ok
    return 0 if ok else 1


# --------------------------------------------------------------------------- delete


def _delete(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    failed: list[str] = []
    done: list[str] = []
    errors: list[dict[str, str]] = []
    for group in args.groups:
        try:
            client.group_request(
                group,
                DELETE_GROUPS,
                {"groups_names": [group]},
                lambda r: _errors_of(r["results"]),
            )
            done.append(group)
        except KafkaResponseError as exc:
            print(f"Error: deleting group '{group}': {exc.name}: {exc.message}", file=sys.stderr)
            failed.append(group)
            errors.append({"group_id": group, "error": exc.name, "message": exc.message})
    if wants_json(args):
        print_json(out, {"deleted": done, "errors": errors})
    elif done:
        names = ", ".join(f"'{g}'" for g in done)
        print(f"Deletion of requested consumer groups ({names}) was successful.", file=out)
    return 1 if failed else 0


# --------------------------------------------------------------------------- reset-offsets


_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> datetime.timedelta:
    """An ISO-8601 duration as Kafka's --by-duration takes it: PnDTnHnMnS."""
    m = _DURATION.match(text.strip())
    if m is None or text.strip().upper() in ("P", "PT", "-P", "-PT"):
        raise UsageError(f"bad duration {text!r}; expected PnDTnHnMnS, e.g. PT1H30M")
    delta = datetime.timedelta(
        days=float(m["days"] or 0),
        hours=float(m["hours"] or 0),
        minutes=float(m["minutes"] or 0),
        seconds=float(m["seconds"] or 0),
    )
    return -delta if m["sign"] else delta


def parse_datetime(text: str) -> int:
    """ISO-8601 date-time to epoch milliseconds; without a zone it is local time."""
    raw = text.strip()
    try:
        when = datetime.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise UsageError(
            f"bad date-time {text!r}; expected ISO-8601 like 2024-01-31T12:00:00.000Z"
        ) from exc
    if when.tzinfo is None:
        when = when.astimezone()  # local time zone, as Kafka's tool does
    return int(when.timestamp() * 1000)


def _parse_topic_spec(spec: str) -> tuple[str, list[int] | None]:
    topic, sep, parts = spec.partition(":")
    if not topic:
        raise UsageError(f"bad --topic {spec!r}")
    if not sep:
        return topic, None
    try:
        return topic, sorted({int(p) for p in parts.split(",") if p.strip()})
    except ValueError as exc:
        raise UsageError(f"bad partition list in --topic {spec!r}") from exc


def _reset_partitions(
    client: AdminClient, args: argparse.Namespace, committed: dict[TopicPartition, int]
) -> list[TopicPartition]:
    if args.all_topics:
        return sorted(committed)
    tps: set[TopicPartition] = set()
    for spec in args.topic:
        topic, parts = _parse_topic_spec(spec)
        info = client.topic(topic)
        if parts is None:
            tps.update((topic, p) for p in info.partitions)
            continue
        for p in parts:
            if p not in info.partitions:
                raise KafkaResponseError(
                    ErrorCode.unknown_topic_or_partition.value,
                    f"topic {topic} has no partition {p}",
                )
            tps.add((topic, p))
    return sorted(tps)


def plan_reset(
    client: AdminClient,
    args: argparse.Namespace,
    tps: Sequence[TopicPartition],
    committed: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """The new offset of each partition for the chosen reset scenario."""
    earliest = client.offsets_earliest(tps)
    latest = client.offsets_latest(tps)

    def clamp(tp: TopicPartition, off: int) -> int:
        return max(earliest[tp], min(latest[tp], off))

    if args.to_earliest:
        return dict(earliest)
    if args.to_latest:
        return dict(latest)
    if args.to_offset is not None:
        return {tp: clamp(tp, args.to_offset) for tp in tps}
    if args.to_current:
        return {tp: committed.get(tp, latest[tp]) for tp in tps}
    if args.shift_by is not None:
        missing = [f"{t}-{p}" for t, p in tps if (t, p) not in committed]
        if missing:
            raise AdminError(f"--shift-by needs a committed offset; none for {', '.join(missing)}")
        return {tp: clamp(tp, committed[tp] + args.shift_by) for tp in tps}
    if args.to_datetime is not None or args.by_duration is not None:
        if args.to_datetime is not None:
            ts = parse_datetime(args.to_datetime)
        else:
            now = datetime.datetime.now(datetime.UTC)
            ts = int((now - parse_duration(args.by_duration)).timestamp() * 1000)
        found = client.list_offsets(dict.fromkeys(tps, ts))
        return {tp: latest[tp] if found[tp][0] < 0 else found[tp][0] for tp in tps}
    raise UsageError("choose a reset scenario (--to-earliest, --to-latest, --to-offset, ...)")


def _reset(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if not args.topic and not args.all_topics:
        raise UsageError("give --topic TOPIC[:PARTITIONS] (repeatable) or --all-topics")
    if args.topic and args.all_topics:
        raise UsageError("--topic and --all-topics are exclusive")
    if args.dry_run and args.execute:
        raise UsageError("--dry-run and --execute are exclusive")
    if args.to_datetime is not None:
        parse_datetime(args.to_datetime)  # usage errors before any request
    if args.by_duration is not None:
        parse_duration(args.by_duration)
    group = args.group
    desc = describe_group(client, group)
    if desc.state not in INACTIVE_STATES:
        print(
            f"Error: Assignments can only be reset if the group '{group}' is inactive, "
            f"but the current state is {desc.state}.",
            file=sys.stderr,
        )
        return 1
    committed = committed_offsets(client, group)
    tps = _reset_partitions(client, args, committed)
    if not tps:
        print(f"Consumer group '{group}' has no offsets to reset.", file=sys.stderr)
        if wants_json(args):
            print_json(out, [])
        return 0
    plan = plan_reset(client, args, tps, committed)
    if args.execute:
        commit_offsets(client, group, plan, Progress(f"Resetting offsets of {group}", len(plan)))
    elif not args.dry_run:
        print(
            "WARN: No action will be performed as the --execute option is missing. "
            "In a future major release, the default behavior of this command will be to "
            "prompt the user before executing the reset rather than doing a dry run. "
            "You should add the --dry-run option explicitly if you are scripting this command "
            "and want to keep the current default behavior without prompting.",
            file=sys.stderr,
        )
    if wants_json(args):
        print_json(
            out,
            [
                {"group_id": group, "topic": t, "partition": p, "new_offset": plan[(t, p)]}
                for t, p in sorted(plan)
            ],
        )
        return 0
    print(file=out)
    print_table(
        out,
        ("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"),
        [(group, t, p, plan[(t, p)]) for t, p in sorted(plan)],
    )
    return 0


# --------------------------------------------------------------------------- parsers


def register(commands: Any) -> None:
    groups = commands.add_parser("groups", help="list, describe, delete groups; reset offsets")
    sub = groups.add_subparsers(dest="groups_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="list groups")
    add_connection_args(p)
    p.add_argument(
        "--state",
        nargs="?",
        const="",
        metavar="STATE[,STATE...]",
        help="show states; with a value, only groups in those states",
    )
    p.set_defaults(handler=handler(_list))

    p = sub.add_parser(
        "describe", help="members, assignments, committed offsets, log end offsets and lag"
    )
    add_connection_args(p)
    p.add_argument("groups", nargs="*", metavar="GROUP")
    p.add_argument("--all-groups", action="store_true", help="describe every group")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--members", action="store_true", help="one row per member")
    view.add_argument("--state", action="store_true", help="the group's state")
    p.add_argument("--verbose", action="store_true", help="with --members: the assignments")
    p.set_defaults(handler=handler(_describe))

    p = sub.add_parser("delete", help="delete groups (they must have no members)")
    add_connection_args(p)
    p.add_argument("groups", nargs="+", metavar="GROUP")
    p.set_defaults(handler=handler(_delete))

    p = sub.add_parser("reset-offsets", help="set an inactive group's committed offsets")
    add_connection_args(p)
    p.add_argument("group", metavar="GROUP")
    p.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC[:P,...]",
        help="a topic, optionally with partitions (repeatable)",
    )
    p.add_argument("--all-topics", action="store_true", help="every topic the group committed")
    scenario = p.add_mutually_exclusive_group(required=True)
    scenario.add_argument("--to-earliest", action="store_true")
    scenario.add_argument("--to-latest", action="store_true")
    scenario.add_argument("--to-current", action="store_true")
    scenario.add_argument("--to-offset", type=int, metavar="N")
    scenario.add_argument("--to-datetime", metavar="ISO8601")
    scenario.add_argument("--by-duration", metavar="PnDTnHnMnS")
    scenario.add_argument("--shift-by", type=int, metavar="N")
    p.add_argument("--dry-run", action="store_true", help="show the new offsets only")
    p.add_argument("--execute", action="store_true", help="commit the new offsets")
    p.set_defaults(handler=handler(_reset))
