"""``josef produce`` and ``josef consume``: console producer and consumer.

``produce TOPIC`` sends one record per stdin line (Produce v3+, RecordBatch v2 built with
``protocol.records.encode_batch``); ``--key-separator SEP`` splits each line into key and
value at the first SEP. ``--header K=V`` (repeatable) adds headers to every record;
``--parse-headers`` reads them from each line as Kafka's console producer does
(``h1:v1,h2:v2<TAB>key<SEP>value``). ``--key-format``/``--value-format`` text, json
(validated), base64 or hex (decoded). Keyed records go to murmur2(key) % partitions as
Kafka's default partitioner does; unkeyed ones are spread round-robin, one batch per
partition; ``--partition P`` sends everything to P.

``consume TOPIC`` prints records from every partition (or ``--partition P`` from
``--offset O``), starting at the log end unless ``--from-beginning``; it stops after
``--max-messages N`` records or ``--timeout-ms`` without one. With ``--group G`` it joins
the consumer group (classic protocol, range assignor), starts from the group's committed
offsets and commits what it printed. ``-f FORMAT`` prints with kcat's format tokens
(:mod:`broker.admin.record_format`); ``--output json`` prints one JSON object per record.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Final, TextIO

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
from broker.admin.group_member import GroupMember, RebalanceNeeded
from broker.admin.groups import committed_offsets
from broker.admin.output import Progress, print_json, wants_json
from broker.admin.record_format import (
    FORMATS,
    Delivered,
    FormatError,
    compile_format,
    decode_json,
    decode_text,
    encode_field,
    headers_json,
    headers_text,
    parse_header,
)
from protocol.record_batch import CompressionType, RecordBatchHeader
from protocol.records import Headers, NewRecord, Record, encode_batch, iter_records

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


def _line_headers(line: str, args: argparse.Namespace, number: int) -> tuple[Headers, str]:
    """Kafka's console producer parse.headers: ``k1:v1,k2:v2<delimiter>rest``."""
    head, found, rest = line.partition(args.headers_delimiter)
    if not found:
        raise AdminError(
            f"no headers delimiter {args.headers_delimiter!r} in line {number}: {line!r}"
        )
    headers: list[tuple[str, bytes | None]] = []
    for item in head.split(args.headers_separator) if head else []:
        key, sep, value = item.partition(args.headers_key_separator)
        if not key:
            raise AdminError(f"bad header {item!r} in line {number}")
        null = args.null_marker is not None and value == args.null_marker
        headers.append((key, None if null or not sep else value.encode()))
    return tuple(headers), rest


def _record(line: str, number: int, args: argparse.Namespace, fixed: Headers) -> NewRecord:
    headers = fixed
    if args.parse_headers:
        parsed, line = _line_headers(line, args, number)
        headers = fixed + parsed
    key: bytes | None = None
    text = line
    sep = args.key_separator
    if sep is not None:
        k, found, v = line.partition(sep)
        if not found:
            raise AdminError(f"no key separator {sep!r} in line {number}: {line!r}")
        text = v
        null_key = args.null_marker is not None and k == args.null_marker
        key = None if null_key else encode_field(k, args.key_format, f"key in line {number}")
    if args.null_marker is not None and text == args.null_marker:
        value = None
    else:
        value = encode_field(text, args.value_format, f"value in line {number}")
    return NewRecord(key, value, headers)


def _produce(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.acks not in ACKS:
        raise UsageError(f"--acks must be one of all, 1, 0 (got {args.acks!r})")
    acks = ACKS[args.acks]
    codecs = {v: k for k, v in CompressionType.NAMES.items()}
    compression = codecs[args.compression]
    try:
        fixed: Headers = tuple(parse_header(h) for h in args.header)
    except FormatError as exc:
        raise UsageError(str(exc)) from None
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
    stream = sys.stdin if args.file is None else open(args.file, encoding="utf-8")  # noqa: SIM115
    total = 0
    sent: dict[int, list[int]] = {}  # partition -> [records, first offset, last offset]

    def flush(pending: dict[int, list[NewRecord]]) -> None:
        bases = produce_records(client, args.topic, pending, acks=acks, compression=compression)
        for p, base in bases.items():
            entry = sent.setdefault(p, [0, base, -1])
            entry[0] += len(pending[p])
            entry[2] = base + len(pending[p]) - 1 if base >= 0 else -1

    try:
        pending: dict[int, list[NewRecord]] = {}
        pending_bytes = 0
        for line in _lines(stream):
            try:
                record = _record(line, total + 1, args, fixed)
            except FormatError as exc:
                raise AdminError(str(exc)) from None
            if args.partition is not None:
                part = args.partition
            elif record.key is not None:
                part = partitions[partition_for_key(record.key, len(partitions))]
            else:
                part = sticky
            pending.setdefault(part, []).append(record)
            pending_bytes += len(line) + 16
            total += 1
            if (
                interactive
                or pending_bytes >= MAX_BATCH_BYTES
                or len(pending[part]) >= args.batch_size
            ):
                flush(pending)
                pending = {}
                pending_bytes = 0
                sticky = next(round_robin)
        flush(pending)
    finally:
        if stream is not sys.stdin:
            stream.close()
    if wants_json(args):
        print_json(
            out,
            {
                "topic": args.topic,
                "records": total,
                "partitions": [
                    {"partition": p, "records": n, "first_offset": first, "last_offset": last}
                    for p, (n, first, last) in sorted(sent.items())
                ],
            },
        )
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


Printer = Callable[[Delivered], None]


def _printer(args: argparse.Namespace, out: TextIO) -> Printer:
    """How each record is printed: kcat format, one JSON object, or Kafka's console
    consumer layout (with --print-* fields)."""
    if args.format is not None:
        try:
            render = compile_format(args.format)
        except FormatError as exc:
            raise UsageError(str(exc)) from None
        binary: BinaryIO | None = getattr(out, "buffer", None)

        def print_format(d: Delivered) -> None:
            data = render(d)
            if binary is not None:
                out.flush()
                binary.write(data)
            else:
                out.write(data.decode("utf-8", "replace"))

        return print_format
    if wants_json(args):

        def print_record_json(d: Delivered) -> None:
            r = d.record
            print_json(
                out,
                {
                    "topic": d.topic,
                    "partition": d.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "timestamp_type": "LogAppendTime" if d.timestamp_type else "CreateTime",
                    "headers": headers_json(r.headers),
                    "key": decode_json(r.key, args.key_format),
                    "value": decode_json(r.value, args.value_format),
                },
            )

        return print_record_json

    def print_text(d: Delivered) -> None:
        r = d.record
        parts: list[str] = []
        if args.print_timestamp:
            kind = "LogAppendTime" if d.timestamp_type else "CreateTime"
            parts.append(f"{kind}:{r.timestamp}")
        if args.print_partition:
            parts.append(f"Partition:{d.partition}")
        if args.print_offset:
            parts.append(f"Offset:{r.offset}")
        if args.print_headers:
            parts.append(headers_text(r.headers, ":", "null") or "NO_HEADERS")
        if args.print_key:
            key = decode_text(r.key, args.key_format)
            parts.append("null" if key is None else key)
        value = decode_text(r.value, args.value_format)
        parts.append("null" if value is None else value)
        print(args.separator.join(parts), file=out)

    return print_text


class _Limit(Exception):
    """--max-messages reached."""


def _consume(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.offset is not None and args.partition is None:
        raise UsageError("--offset needs --partition")
    if args.offset is not None and args.from_beginning:
        raise UsageError("--offset and --from-beginning are exclusive")
    if args.group is not None and (args.partition is not None or args.offset is not None):
        raise UsageError("--group assigns partitions itself: no --partition or --offset")
    if args.format is not None and wants_json(args):
        raise UsageError("-f/--format and --output json are exclusive")
    emit = _printer(args, out)
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
    progress = Progress("Consumed", args.max_messages)
    state = _ConsumeState(args.max_messages)
    try:
        if args.group is None:
            positions = _start_offsets(client, tps, args)
            _fetch_loop(client, args, tps, positions, state, emit, out, progress)
        else:
            _group_loop(client, args, state, emit, out, progress)
    except _Limit:
        pass
    finally:
        out.flush()
        progress.finish()
        print(f"Processed a total of {state.count} messages", file=sys.stderr)
    return 0


class _ConsumeState:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.count = 0

    @property
    def done(self) -> bool:
        return self.limit is not None and self.count >= self.limit


def _fetch_round(
    client: AdminClient,
    args: argparse.Namespace,
    tps: list[TopicPartition],
    positions: dict[TopicPartition, int],
    state: _ConsumeState,
    emit: Printer,
    progress: Progress,
) -> bool:
    """One Fetch per leader; prints what came, moves ``positions`` past each printed
    record (and past skipped control batches). Raises _Limit at --max-messages."""
    got = False
    by_leader: dict[int, list[TopicPartition]] = {}
    for tp in tps:
        by_leader.setdefault(client.leader(*tp), []).append(tp)
    for leader, leader_tps in by_leader.items():
        for tp, records, next_offset in fetch_records(client, leader, leader_tps, positions, args):
            for ts_type, record in records:
                emit(Delivered(tp[0], tp[1], record, ts_type))
                positions[tp] = record.offset + 1
                state.count += 1
                progress.update(state.count)
                got = True
                if state.done:
                    raise _Limit
            positions[tp] = max(positions[tp], next_offset)
    return got


def _fetch_loop(
    client: AdminClient,
    args: argparse.Namespace,
    tps: list[TopicPartition],
    positions: dict[TopicPartition, int],
    state: _ConsumeState,
    emit: Printer,
    out: TextIO,
    progress: Progress,
) -> None:
    idle_deadline = None if args.timeout_ms is None else time.monotonic() + args.timeout_ms / 1000
    while not state.done:
        if _fetch_round(client, args, tps, positions, state, emit, progress):
            out.flush()
            if args.timeout_ms is not None:
                idle_deadline = time.monotonic() + args.timeout_ms / 1000
        elif idle_deadline is not None and time.monotonic() >= idle_deadline:
            return


def _group_loop(
    client: AdminClient,
    args: argparse.Namespace,
    state: _ConsumeState,
    emit: Printer,
    out: TextIO,
    progress: Progress,
) -> None:
    """Consume as a member of ``--group``: committed offsets first (else the reset
    policy), commit after each round that printed records and when leaving."""
    member = GroupMember(client, args.group, [args.topic])
    positions: dict[TopicPartition, int] = {}
    committed: dict[TopicPartition, int] = {}
    idle_deadline = None if args.timeout_ms is None else time.monotonic() + args.timeout_ms / 1000

    def commit() -> None:
        moved = {tp: off for tp, off in positions.items() if committed.get(tp) != off}
        member.commit(moved)
        committed.update(moved)

    try:
        while True:
            tps = member.join()
            known = committed_offsets(client, args.group)
            committed = {tp: known[tp] for tp in tps if tp in known}
            fresh = [tp for tp in tps if tp not in committed]
            positions = dict(committed)
            if fresh:
                positions.update(_start_offsets(client, fresh, args))
            try:
                while True:
                    try:
                        got = bool(tps) and _fetch_round(
                            client, args, tps, positions, state, emit, progress
                        )
                    finally:
                        if state.done:
                            commit()
                    if not tps:
                        time.sleep(min(args.max_wait_ms, 500) / 1000)
                    member.poll_heartbeat()
                    if got:
                        out.flush()
                        commit()
                        if args.timeout_ms is not None:
                            idle_deadline = time.monotonic() + args.timeout_ms / 1000
                    elif idle_deadline is not None and time.monotonic() >= idle_deadline:
                        commit()
                        return
            except RebalanceNeeded:
                continue
    finally:
        try:
            member.leave()
        except AdminError as exc:
            print(f"Warning: leaving group {args.group}: {exc}", file=sys.stderr)


def fetch_records(
    client: AdminClient,
    leader: int,
    tps: list[TopicPartition],
    positions: dict[TopicPartition, int],
    args: argparse.Namespace,
) -> Iterator[tuple[TopicPartition, list[tuple[int, Record]], int]]:
    """One Fetch to ``leader``: yields (partition, [(timestamp type, record)] at or after
    the position, next position); read_committed drops aborted transactions."""
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
            records: list[tuple[int, Record]] = []
            next_offset = position
            aborted = (
                _AbortedFilter(p.get("aborted_transactions") or ())
                if args.isolation_level == "read_committed"
                else None
            )
            for header, record in iter_records(data):
                next_offset = max(next_offset, header.next_offset)
                if aborted is not None and aborted.skip(header, record):
                    continue
                if header.is_control or record.offset < position:
                    continue
                records.append((header.timestamp_type, record))
            # Control-only or fully skipped batches still move the position on.
            yield tp, records, next_offset


class _AbortedFilter:
    """read_committed: drop records of aborted transactions, as Kafka's consumer does
    with the Fetch response's aborted_transactions (producer id, first offset) list. A
    transactional batch is dropped while its producer has an aborted transaction started
    at or before the batch's last offset; that producer's ABORT marker ends it."""

    def __init__(self, aborted: Iterable[dict[str, int]]) -> None:
        self._pending = sorted((a["first_offset"], a["producer_id"]) for a in aborted)
        self._open: set[int] = set()

    def skip(self, header: RecordBatchHeader, record: Record) -> bool:
        if not header.is_transactional:
            return False
        while self._pending and self._pending[0][0] <= header.last_offset:
            self._open.add(self._pending.pop(0)[1])
        if header.is_control:
            if header.producer_id in self._open and _control_type(record) == CONTROL_ABORT:
                self._open.discard(header.producer_id)
            return True
        return header.producer_id in self._open


CONTROL_ABORT: Final = 0


def _control_type(record: Record) -> int:
    """The type of a control record (key: version int16, type int16): 0 abort, 1 commit."""
    key = record.key or b""
    return int.from_bytes(key[2:4], "big", signed=True) if len(key) >= 4 else -1


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
    p.add_argument(
        "--null-marker", metavar="TEXT", help="a key, value or header equal to TEXT is null"
    )
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a header on every record (repeatable; KEY alone: null value)",
    )
    p.add_argument(
        "--parse-headers",
        action="store_true",
        help="each line starts with headers: k1:v1,k2:v2 then --headers-delimiter",
    )
    p.add_argument("--headers-delimiter", default="\t", metavar="SEP", help="default TAB")
    p.add_argument("--headers-separator", default=",", metavar="SEP", help="default ,")
    p.add_argument("--headers-key-separator", default=":", metavar="SEP", help="default :")
    p.add_argument("--key-format", choices=FORMATS, default="text", help="how keys are given")
    p.add_argument("--value-format", choices=FORMATS, default="text", help="how values are given")
    p.add_argument("--file", metavar="PATH", help="read lines from PATH instead of stdin")
    p.add_argument("--verbose", action="store_true", help="report the record count")
    p.set_defaults(handler=handler(_produce))

    p = commands.add_parser("consume", help="print records (optionally as a group member)")
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
    p.add_argument("--print-headers", action="store_true")
    p.add_argument("--separator", default="\t", metavar="SEP", help="between printed fields")
    p.add_argument(
        "--group",
        metavar="GROUP",
        help="join consumer group GROUP: resume from its committed offsets, commit progress",
    )
    p.add_argument(
        "-f",
        "--format",
        metavar="FORMAT",
        help="kcat format string: %%t %%p %%o %%k %%K %%s %%S %%R %%h %%T, \\n \\t",
    )
    p.add_argument("--key-format", choices=FORMATS, default="text", help="how keys are shown")
    p.add_argument("--value-format", choices=FORMATS, default="text", help="how values are shown")
    p.add_argument(
        "--isolation-level",
        default="read_uncommitted",
        choices=("read_uncommitted", "read_committed"),
    )
    p.add_argument("--max-wait-ms", type=int, default=500, help=argparse.SUPPRESS)
    p.add_argument("--max-partition-bytes", type=int, default=1024 * 1024, help=argparse.SUPPRESS)
    p.set_defaults(handler=handler(_consume))
