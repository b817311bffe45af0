"""``josef produce`` and ``josef consume``: console producer and consumer (no group).

``produce TOPIC`` sends one record per stdin line (Produce v3+, RecordBatch v2 built with
``protocol.records.encode_batch``); ``--key-separator SEP`` splits each line into key and
value at the first SEP. Keyed records go to murmur2(key) % partitions as Kafka's default
partitioner does; unkeyed ones are spread round-robin, one batch per partition.

``consume TOPIC`` prints records from every partition (or ``--partition P`` from
``--offset O``), starting at the log end unless ``--from-beginning``; it stops after
``--max-messages N`` records or ``--timeout-ms`` without one.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from typing import Any, Final, TextIO

from kio.schema.errors import ErrorCode

from broker.admin.client import (
    EARLIEST_TIMESTAMP,
    FETCH,
    LATEST_TIMESTAMP,
    PRODUCE,
    AdminClient,
    AdminError,
    KafkaResponseError,
    TopicPartition,
    UnsupportedApi,
    check,
)
from broker.admin.common import UsageError, add_connection_args, handler
from protocol.record_batch import CompressionType
from protocol.records import NewRecord, Record, encode_batch, iter_records

ACKS: Final = {"all": -1, "-1": -1, "1": 1, "0": 0}
PRODUCE_TIMEOUT_MS: Final = 30_000
MAX_BATCH_BYTES: Final = 512 * 1024


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = length & ~3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# --------------------------------------------------------------------------- produce


def produce_records(
    client: AdminClient,
    topic: str,
    by_partition: dict[int, list[NewRecord]],
    *,
    acks: int = -1,
    compression: int = 0,
) -> dict[int, int]:
    """Produce each partition's records as one batch to its leader; returns the base offset
    per partition (-1 with acks=0). Retriable errors are retried."""
    pending = {p: recs for p, recs in by_partition.items() if recs}
    offsets: dict[int, int] = {}

    def attempt() -> dict[int, int]:
        by_leader: dict[int, list[int]] = {}
        for p in pending:
            by_leader.setdefault(client.leader(topic, p), []).append(p)
        retry: KafkaResponseError | None = None
        for leader, parts in by_leader.items():
            body = {
                "transactional_id": None,
                "acks": acks,
                "timeout": PRODUCE_TIMEOUT_MS,
                "topic_data": [
                    {
                        "name": topic,
                        "partition_data": [
                            {
                                "index": p,
                                "records": encode_batch(pending[p], compression=compression),
                            }
                            for p in sorted(parts)
                        ],
                    }
                ],
            }
            _v, plain = client.node(leader).request(PRODUCE, body)
            if acks == 0:
                for p in parts:
                    offsets[p] = -1
                    pending.pop(p, None)
                continue
            for t in plain["responses"]:
                for pr in t["partition_responses"]:
                    code = pr["error_code"]
                    if code != 0:
                        err = KafkaResponseError(
                            code, pr.get("error_message"), f"produce to {topic}-{pr['index']}"
                        )
                        if not err.retriable:
                            raise err
                        retry = err
                        continue
                    offsets[pr["index"]] = pr["base_offset"]
                    pending.pop(pr["index"], None)
        if retry is not None:
            raise retry
        return offsets

    if not pending:
        return offsets
    return client.retrying(f"produce to {topic}", attempt)


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line[:-1] if line.endswith("\n") else line


def _produce(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.acks not in ACKS:
        raise UsageError(f"--acks must be one of all, 1, 0 (got {args.acks!r})")
    acks = ACKS[args.acks]
    codecs = {v: k for k, v in CompressionType.NAMES.items()}
    compression = codecs[args.compression]
    info = client.topic(args.topic)
    partitions = sorted(info.partitions)
    if args.partition is not None:
        if args.partition not in info.partitions:
            raise KafkaResponseError(
                ErrorCode.unknown_topic_or_partition.value,
                f"topic {args.topic} has no partition {args.partition}",
            )
        partitions = [args.partition]
    round_robin = itertools.cycle(partitions)
    sticky = next(round_robin)
    interactive = sys.stdin.isatty()
    sep = args.key_separator
    stream = sys.stdin if args.file is None else open(args.file, encoding="utf-8")  # noqa: SIM115
    total = 0
    try:
        pending: dict[int, list[NewRecord]] = {}
        pending_bytes = 0
        for line in _lines(stream):
            key: bytes | None = None
            text = line
            if sep is not None:
                k, found, v = line.partition(sep)
                if not found:
                    raise AdminError(f"no key separator {sep!r} in line {total + 1}: {line!r}")
                key, text = k.encode(), v
            value = (
                None if args.null_marker is not None and text == args.null_marker else text.encode()
            )
            if args.partition is not None:
                part = args.partition
            elif key is not None:
                part = partitions[partition_for_key(key, len(partitions))]
            else:
                part = sticky
            pending.setdefault(part, []).append(NewRecord(key, value))
            pending_bytes += len(line) + 16
            total += 1
            if (
                interactive
                or pending_bytes >= MAX_BATCH_BYTES
                or len(pending[part]) >= args.batch_size
            ):
                produce_records(client, args.topic, pending, acks=acks, compression=compression)
                pending = {}
                pending_bytes = 0
                sticky = next(round_robin)
        produce_records(client, args.topic, pending, acks=acks, compression=compression)
    finally:
        if stream is not sys.stdin:
            stream.close()
    if args.verbose:
        print(f"Produced {total} record(s) to {args.topic}.", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- consume


def _start_offsets(
    client: AdminClient, tps: list[TopicPartition], args: argparse.Namespace
) -> dict[TopicPartition, int]:
    if args.offset is not None:
        spec = str(args.offset).lower()
        if spec in ("earliest", "beginning"):
            return client.offsets_earliest(tps)
        if spec in ("latest", "end"):
            return client.offsets_latest(tps)
        try:
            value = int(spec)
        except ValueError as exc:
            raise UsageError(
                f"--offset must be a number, earliest or latest: {args.offset!r}"
            ) from exc
        if value < 0:  # -N: N before the end
            latest = client.offsets_latest(tps)
            earliest = client.offsets_earliest(tps)
            return {tp: max(earliest[tp], latest[tp] + value) for tp in tps}
        return dict.fromkeys(tps, value)
    ts = EARLIEST_TIMESTAMP if args.from_beginning else LATEST_TIMESTAMP
    return {tp: off for tp, (off, _ts) in client.list_offsets(dict.fromkeys(tps, ts)).items()}


def _format(record: Record, partition: int, args: argparse.Namespace) -> str:
    parts: list[str] = []
    if args.print_timestamp:
        parts.append(f"CreateTime:{record.timestamp}")
    if args.print_partition:
        parts.append(f"Partition:{partition}")
    if args.print_offset:
        parts.append(f"Offset:{record.offset}")
    if args.print_key:
        parts.append("null" if record.key is None else record.key.decode("utf-8", "replace"))
    value = "null" if record.value is None else record.value.decode("utf-8", "replace")
    parts.append(value)
    separator: str = args.separator
    return separator.join(parts)


def _consume(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.offset is not None and args.partition is None:
        raise UsageError("--offset needs --partition")
    if args.offset is not None and args.from_beginning:
        raise UsageError("--offset and --from-beginning are exclusive")
    info = client.topic(args.topic)
    if args.partition is not None:
        if args.partition not in info.partitions:
            raise KafkaResponseError(
                ErrorCode.unknown_topic_or_partition.value,
                f"topic {args.topic} has no partition {args.partition}",
            )
        tps = [(args.topic, args.partition)]
    else:
        tps = [(args.topic, p) for p in sorted(info.partitions)]
    positions = _start_offsets(client, tps, args)
    count = 0
    limit = args.max_messages
    idle_deadline = None if args.timeout_ms is None else time.monotonic() + args.timeout_ms / 1000
    try:
        while limit is None or count < limit:
            got = False
            by_leader: dict[int, list[TopicPartition]] = {}
            for tp in tps:
                by_leader.setdefault(client.leader(*tp), []).append(tp)
            for leader, leader_tps in by_leader.items():
                for tp, records, next_offset in _fetch(client, leader, leader_tps, positions, args):
                    positions[tp] = next_offset
                    for record in records:
                        print(_format(record, tp[1], args), file=out)
                        count += 1
                        got = True
                        if limit is not None and count >= limit:
                            break
                    if limit is not None and count >= limit:
                        break
                if limit is not None and count >= limit:
                    break
            if got:
                out.flush()
                if args.timeout_ms is not None:
                    idle_deadline = time.monotonic() + args.timeout_ms / 1000
            elif idle_deadline is not None and time.monotonic() >= idle_deadline:
                break
    finally:
        print(f"Processed a total of {count} messages", file=sys.stderr)
    return 0


def _fetch(
    client: AdminClient,
    leader: int,
    tps: list[TopicPartition],
    positions: dict[TopicPartition, int],
    args: argparse.Namespace,
) -> Iterator[tuple[TopicPartition, list[Any], int]]:
    """One Fetch to ``leader``: yields (partition, records at or after the position, next
    position)."""
    topics: dict[str, list[dict[str, Any]]] = {}
    for t, p in tps:
        topics.setdefault(t, []).append(
            {
                "partition": p,
                "current_leader_epoch": -1,
                "fetch_offset": positions[(t, p)],
                "last_fetched_epoch": -1,
                "log_start_offset": -1,
                "partition_max_bytes": args.max_partition_bytes,
            }
        )
    wait_ms = args.max_wait_ms
    body = {
        "replica_id": -1,
        "max_wait": wait_ms,
        "min_bytes": 1,
        "max_bytes": 50 * 1024 * 1024,
        "isolation_level": 1 if args.isolation_level == "read_committed" else 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    try:
        _v, plain = client.node(leader).request(FETCH, body)
    except UnsupportedApi:
        raise
    check(plain.get("error_code", 0), context="Fetch")
    for t in plain["responses"]:
        for p in t["partitions"]:
            tp = (t["topic"], p["partition_index"])
            code = p["error_code"]
            position = positions[tp]
            if code == ErrorCode.offset_out_of_range.value:
                reset = EARLIEST_TIMESTAMP if args.from_beginning else LATEST_TIMESTAMP
                (new, _ts) = client.list_offsets({tp: reset})[tp]
                yield tp, [], new
                continue
            if code != 0:
                err = KafkaResponseError(code, context=f"fetch {tp[0]}-{tp[1]}")
                if err.retriable:
                    client.cluster(refresh=True)
                    time.sleep(0.1)
                    continue
                raise err
            data = p.get("records") or b""
            records = []
            next_offset = position
            for header, record in iter_records(data):
                next_offset = max(next_offset, header.next_offset)
                if header.is_control or record.offset < position:
                    continue
                records.append(record)
            # Control-only or fully skipped batches still move the position on.
            yield tp, records, next_offset


# --------------------------------------------------------------------------- parsers


def register(commands: Any) -> None:
    p = commands.add_parser("produce", help="produce stdin lines as records")
    add_connection_args(p)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--key-separator", metavar="SEP", help="split each line into KEY SEP VALUE")
    p.add_argument("--partition", type=int, metavar="P", help="send every record to P")
    p.add_argument("--acks", default="all", help="all (default), 1 or 0")
    p.add_argument(
        "--compression",
        default="none",
        choices=sorted(CompressionType.NAMES.values()),
        help="batch compression codec",
    )
    p.add_argument("--batch-size", type=int, default=1000, metavar="N", help="records per batch")
    p.add_argument("--null-marker", metavar="TEXT", help="a value equal to TEXT is sent as null")
    p.add_argument("--file", metavar="PATH", help="read lines from PATH instead of stdin")
    p.add_argument("--verbose", action="store_true", help="report the record count")
    p.set_defaults(handler=handler(_produce))

    p = commands.add_parser("consume", help="print records (no consumer group)")
    add_connection_args(p)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--from-beginning", action="store_true", help="start at the log start")
    p.add_argument("--partition", type=int, metavar="P", help="only partition P")
    p.add_argument(
        "--offset", metavar="O", help="start offset with --partition: N, -N, earliest, latest"
    )
    p.add_argument("--max-messages", type=int, metavar="N", help="stop after N records")
    p.add_argument(
        "--timeout-ms", type=int, metavar="MS", help="stop after MS without a new record"
    )
    p.add_argument("--print-key", action="store_true")
    p.add_argument("--print-offset", action="store_true")
    p.add_argument("--print-partition", action="store_true")
    p.add_argument("--print-timestamp", action="store_true")
    p.add_argument("--separator", default="\t", metavar="SEP", help="between printed fields")
    p.add_argument(
        "--isolation-level",
        default="read_uncommitted",
        choices=("read_uncommitted", "read_committed"),
    )
    p.add_argument("--max-wait-ms", type=int, default=500, help=argparse.SUPPRESS)
    p.add_argument("--max-partition-bytes", type=int, default=1024 * 1024, help=argparse.SUPPRESS)
    p.set_defaults(handler=handler(_consume))
