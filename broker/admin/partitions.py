"""Partition-level log commands, in the vocabulary of Kafka's tools.

* ``offsets [--topic REGEX] [--partitions P,...] [--time earliest|latest|max-timestamp|MS]
  [--exclude-internal-topics]``: ListOffsets, printed ``topic:partition:offset`` like
  kafka-get-offsets.sh (a partition with no record at or after MS has no line)
* ``records delete (--offset-json-file F | --topic T --partition P --offset O)``:
  DeleteRecords at each leader, like kafka-delete-records.sh (offset -1: the high
  watermark); prints each partition's new low watermark
* ``logdirs describe [--broker-list 0,1] [--topic-list t1,t2]``: DescribeLogDirs at each
  broker: directories, partitions, sizes and offset lag (kafka-log-dirs.sh; its JSON with
  ``--output json``)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Final, TextIO

from broker.admin.client import (
    DELETE_RECORDS,
    DESCRIBE_LOG_DIRS,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    AdminClient,
    AdminError,
    KafkaResponseError,
    TopicPartition,
    check,
    error_name,
)
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.output import print_json, print_table, wants_json

MAX_TIMESTAMP: Final = -3
TIME_SPECS: Final = {
    "earliest": EARLIEST_TIMESTAMP,
    "latest": LATEST_TIMESTAMP,
    "max-timestamp": MAX_TIMESTAMP,
}
DELETE_TIMEOUT_MS: Final = 30_000


def _parse_ints(text: str, what: str) -> list[int]:
    try:
        return sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected comma-separated integers") from None


def parse_time(text: str) -> int:
    spec = text.strip().lower()
    if spec in TIME_SPECS:
        return TIME_SPECS[spec]
    try:
        value = int(spec)
    except ValueError:
        raise UsageError(
            f"bad --time {text!r}: earliest, latest, max-timestamp or epoch milliseconds"
        ) from None
    if value < MAX_TIMESTAMP:
        raise UsageError(f"bad --time {text!r}")
    return value


# --------------------------------------------------------------------------- offsets


def _offset_partitions(client: AdminClient, args: argparse.Namespace) -> list[TopicPartition]:
    cluster = client.cluster(refresh=True)
    try:
        pattern = re.compile(args.topic) if args.topic else None
    except re.error as exc:
        raise UsageError(f"bad --topic regular expression {args.topic!r}: {exc}") from None
    wanted = _parse_ints(args.partitions, "--partitions") if args.partitions else None
    tps: list[TopicPartition] = []
    for name in sorted(cluster.topics):
        info = cluster.topics[name]
        if args.exclude_internal_topics and info.internal:
            continue
        if pattern is not None and not pattern.fullmatch(name):
            continue
        for p in sorted(info.partitions):
            if wanted is None or p in wanted:
                tps.append((name, p))
    if not tps and (args.topic or args.partitions):
        raise AdminError("Could not match any topic-partitions with the specified filters")
    return tps


def _offsets(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    ts = parse_time(args.time)
    tps = _offset_partitions(client, args)
    found = client.list_offsets(dict.fromkeys(tps, ts))
    rows = [
        {"topic": t, "partition": p, "offset": found[(t, p)][0], "timestamp": found[(t, p)][1]}
        for t, p in sorted(found)
        if found[(t, p)][0] >= 0
    ]
    if wants_json(args):
        print_json(out, rows)
        return 0
    for r in rows:
        print(f"{r['topic']}:{r['partition']}:{r['offset']}", file=out)
    return 0


# --------------------------------------------------------------------------- records delete


def _delete_targets(args: argparse.Namespace) -> dict[TopicPartition, int]:
    given = [args.offset_json_file is not None, args.topic is not None]
    if given == [True, True]:
        raise UsageError("give --offset-json-file or --topic/--partition/--offset, not both")
    if args.offset_json_file is not None:
        try:
            doc = json.loads(Path(args.offset_json_file).read_text())
            targets = {
                (str(e["topic"]), int(e["partition"])): int(e["offset"]) for e in doc["partitions"]
            }
        except OSError as exc:
            raise UsageError(f"cannot read {args.offset_json_file}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"bad offset JSON in {args.offset_json_file} (expected "
                '{"partitions":[{"topic":"t","partition":0,"offset":10}],"version":1}): '
                f"{exc!r}"
            ) from None
        if len(targets) != len(doc["partitions"]):
            raise UsageError(f"{args.offset_json_file} names a partition twice")
        return targets
    if args.topic is None or args.partition is None or args.offset is None:
        raise UsageError("give --offset-json-file, or --topic, --partition and --offset")
    return {(args.topic, args.partition): args.offset}


def delete_records(
    client: AdminClient, targets: dict[TopicPartition, int]
) -> dict[TopicPartition, tuple[int, int]]:
    """DeleteRecords at each partition's leader: {partition: (error code, low watermark)}.
    Offset -1 deletes up to the high watermark."""
    pending = dict(targets)
    results: dict[TopicPartition, tuple[int, int]] = {}

    def attempt() -> dict[TopicPartition, tuple[int, int]]:
        by_leader: dict[int, dict[TopicPartition, int]] = {}
        for tp, off in pending.items():
            by_leader.setdefault(client.leader(*tp), {})[tp] = off
        retry: KafkaResponseError | None = None
        for leader, tps in by_leader.items():
            topics: dict[str, list[dict[str, int]]] = {}
            for (t, p), off in sorted(tps.items()):
                topics.setdefault(t, []).append({"partition_index": p, "offset": off})
            _v, plain = client.node(leader).request(
                DELETE_RECORDS,
                {
                    "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                    "timeout": DELETE_TIMEOUT_MS,
                },
            )
            for t in plain["topics"]:
                for p in t["partitions"]:
                    tp = (t["name"], p["partition_index"])
                    err = KafkaResponseError(p["error_code"]) if p["error_code"] else None
                    if err is not None and err.retriable:
                        retry = err
                        continue
                    results[tp] = (p["error_code"], p["low_watermark"])
                    pending.pop(tp, None)
        if retry is not None:
            raise retry
        return results

    return client.retrying("DeleteRecords", attempt)


def _records_delete(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    targets = _delete_targets(args)
    for (t, p), off in targets.items():
        if off < -1:
            raise UsageError(f"bad offset {off} for {t}-{p} (-1 means the high watermark)")
    results = delete_records(client, targets)
    failed = {tp: r for tp, r in results.items() if r[0] != 0}
    if wants_json(args):
        print_json(
            out,
            [
                {
                    "topic": t,
                    "partition": p,
                    "low_watermark": lw if code == 0 else None,
                    "error": None if code == 0 else error_name(code),
                }
                for (t, p), (code, lw) in sorted(results.items())
            ],
        )
    else:
        print("Executing records delete operation", file=out)
        print("Records delete operation completed:", file=out)
        for (t, p), (code, lw) in sorted(results.items()):
            if code == 0:
                print(f"partition: {t}-{p}\tlow_watermark: {lw}", file=out)
            else:
                print(f"partition: {t}-{p}\terror: {KafkaResponseError(code)}", file=out)
    for (t, p), (code, _lw) in sorted(failed.items()):
        print(f"Error: DeleteRecords {t}-{p}: {KafkaResponseError(code)}", file=sys.stderr)
    return 1 if failed else 0


# --------------------------------------------------------------------------- logdirs


def describe_log_dirs(
    client: AdminClient, broker: int, topics: dict[str, list[int]] | None
) -> list[dict[str, Any]]:
    """kafka-log-dirs.sh's entries for one broker: [{logDir, error, partitions: [...]}];
    ``topics`` maps each topic to the partitions to describe (None: everything)."""
    conn = client.node(broker)
    _v, plain = conn.request(
        DESCRIBE_LOG_DIRS,
        {
            "topics": None
            if topics is None
            else [{"topic": t, "partitions": ps} for t, ps in sorted(topics.items())]
        },
    )
    check(plain.get("error_code", 0), None, f"DescribeLogDirs at broker {broker}")
    dirs = []
    for r in plain["results"]:
        partitions = [
            {
                "partition": f"{t['name']}-{p['partition_index']}",
                "size": p["partition_size"],
                "offsetLag": p["offset_lag"],
                "isFuture": p["is_future_key"],
            }
            for t in r["topics"]
            for p in t["partitions"]
        ]
        entry: dict[str, Any] = {
            "logDir": r["log_dir"],
            "error": None if r["error_code"] == 0 else error_name(r["error_code"]),
            "partitions": sorted(partitions, key=lambda e: _partition_key(e["partition"])),
        }
        if r.get("total_bytes", -1) >= 0:
            entry["totalBytes"] = r["total_bytes"]
            entry["usableBytes"] = r["usable_bytes"]
        dirs.append(entry)
    return dirs


def _partition_key(name: str) -> tuple[str, int]:
    topic, _, p = name.rpartition("-")
    return topic, int(p)


def _logdirs(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    cluster = client.cluster(refresh=True)
    if args.broker_list:
        brokers = _parse_ints(args.broker_list, "--broker-list")
    else:
        brokers = sorted(cluster.brokers)
    names = [t.strip() for t in (args.topic_list or "").split(",") if t.strip()]
    topics: dict[str, list[int]] | None = None
    if names:
        # Kafka's tool asks for every partition of the named topics (unknown ones: none)
        topics = {
            n: sorted(cluster.topics[n].partitions) if n in cluster.topics else [] for n in names
        }
    doc: dict[str, Any] = {
        "version": 1,
        "brokers": [
            {"broker": b, "logDirs": describe_log_dirs(client, b, topics)} for b in brokers
        ],
    }
    if wants_json(args):
        print_json(out, doc)
        return 0
    rows = []
    for b in doc["brokers"]:
        for d in b["logDirs"]:
            if not d["partitions"]:
                rows.append((b["broker"], d["logDir"], "-", "-", "-", d["error"] or "-"))
            for p in d["partitions"]:
                rows.append(
                    (b["broker"], d["logDir"], p["partition"], p["size"], p["offsetLag"],
                     d["error"] or ("future" if p["isFuture"] else "-"))
                )  # fmt: skip
    print_table(out, ("BROKER", "DIR", "PARTITION", "SIZE", "OFFSET-LAG", "NOTE"), rows)
    return 0


# --------------------------------------------------------------------------- parsers


def register(commands: Any) -> None:
    p = commands.add_parser("offsets", help="partition offsets by time (kafka-get-offsets)")
    add_connection_args(p)
    p.add_argument("--topic", metavar="REGEX", help="topics matching REGEX (default: all)")
    p.add_argument("--partitions", metavar="P,...", help="only these partition numbers")
    p.add_argument(
        "--time",
        default="latest",
        metavar="earliest|latest|max-timestamp|MS",
        help="which offset: -2/earliest, -1/latest (default), -3/max-timestamp, or the first "
        "offset with a timestamp at or after MS",
    )
    p.add_argument("--exclude-internal-topics", action="store_true")
    p.set_defaults(handler=handler(_offsets))

    records = commands.add_parser("records", help="delete records (kafka-delete-records)")
    sub = records.add_subparsers(dest="records_command", metavar="ACTION", required=True)
    p = sub.add_parser("delete", help="move partitions' log start offsets forward")
    add_connection_args(p)
    p.add_argument(
        "--offset-json-file",
        metavar="FILE",
        help='{"partitions":[{"topic":"t","partition":0,"offset":10}],"version":1}',
    )
    p.add_argument("--topic", metavar="TOPIC")
    p.add_argument("--partition", type=int, metavar="P")
    p.add_argument("--offset", type=int, metavar="O", help="delete before O (-1: high watermark)")
    p.set_defaults(handler=handler(_records_delete))

    logdirs = commands.add_parser("logdirs", help="log directories (kafka-log-dirs)")
    sub = logdirs.add_subparsers(dest="logdirs_command", metavar="ACTION", required=True)
    p = sub.add_parser("describe", help="directories, partitions, sizes and offset lag")
    add_connection_args(p)
    p.add_argument("--broker-list", metavar="ID,...", help="brokers to ask (default: all)")
    p.add_argument("--topic-list", metavar="T,...", help="only these topics (default: all)")
    p.set_defaults(handler=handler(_logdirs))
