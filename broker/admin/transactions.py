"""``josef transactions``: kafka-transactions.sh's list, describe, describe-producers and
abort, over the standard protocol (so they work against Kafka too).

* ``transactions list [--state S ...] [--producer-id P ...]``: every broker's
  ListTransactions, as one table;
* ``transactions describe --transactional-id ID``: DescribeTransactions at its coordinator;
* ``transactions describe-producers --topic T --partition P``: DescribeProducers at the leader;
* ``transactions abort --topic T --partition P --start-offset O``: end a hanging
  transaction the way kafka-transactions.sh does: find the producer whose open transaction
  starts at O (DescribeProducers) and write an ABORT marker for it (WriteTxnMarkers to the
  partition's leader).
"""

from __future__ import annotations

import argparse
from typing import Any, Final, TextIO

from broker.admin.client import AdminClient, check
from broker.admin.common import UsageError, add_connection_args, handler
from broker.admin.output import print_json, wants_json

DESCRIBE_PRODUCERS: Final = 61
LIST_TRANSACTIONS: Final = 66
DESCRIBE_TRANSACTIONS: Final = 65
WRITE_TXN_MARKERS: Final = 27
KEY_TYPE_TRANSACTION: Final = 1


def _table(
    out: TextIO, header: list[str], rows: list[list[Any]], args: argparse.Namespace | None = None
) -> None:
    """Kafka's kafka-transactions.sh table; with ``--output json`` a list of objects keyed
    by the same column names ("None" cells as null)."""
    if args is not None and wants_json(args):
        print_json(
            out,
            [
                {h: (None if v == "None" else v) for h, v in zip(header, row, strict=True)}
                for row in rows
            ],
        )
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip(),
              file=out)  # fmt: skip


def _list(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    rows = []
    for broker_id in sorted(client.cluster().brokers):
        _v, plain = client.node(broker_id).request(
            LIST_TRANSACTIONS,
            {"state_filters": args.state, "producer_id_filters": args.producer_id},
        )
        check(plain["error_code"], None, f"ListTransactions at broker {broker_id}")
        for t in plain["transaction_states"]:
            rows.append([t["transactional_id"], broker_id, t["producer_id"],
                         t["transaction_state"]])  # fmt: skip
    _table(out, ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"], sorted(rows),
           args)  # fmt: skip


def _describe(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    tid = args.transactional_id
    coordinator = client.find_coordinator(tid, KEY_TYPE_TRANSACTION)
    _v, plain = client.node(coordinator).request(
        DESCRIBE_TRANSACTIONS, {"transactional_ids": [tid]}
    )
    state = plain["transaction_states"][0]
    check(state["error_code"], None, f"DescribeTransactions {tid}")
    partitions = ",".join(
        f"{t['topic']}-{p}" for t in state["topics"] for p in sorted(t["partitions"])
    )
    start = state["transaction_start_time"]
    _table(
        out,
        ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
         "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TopicPartitions"],
        [[coordinator, tid, state["producer_id"], state["producer_epoch"],
          state["transaction_state"], state["transaction_timeout"],
          start if start >= 0 else "None", partitions or "None"]],
        args,
    )  # fmt: skip


def _producers(client: AdminClient, topic: str, partition: int) -> tuple[int, list[Any]]:
    leader = client.leader(topic, partition)
    _v, plain = client.node(leader).request(
        DESCRIBE_PRODUCERS, {"topics": [{"name": topic, "partition_indexes": [partition]}]}
    )
    result = plain["topics"][0]["partitions"][0]
    where = f"DescribeProducers {topic}-{partition}"
    check(result["error_code"], result.get("error_message"), where)
    return leader, list(result["active_producers"])


def _describe_producers(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    _leader, producers = _producers(client, args.topic, args.partition)
    rows = [
        [p["producer_id"], p["producer_epoch"], p["coordinator_epoch"], p["last_sequence"],
         p["last_timestamp"],
         p["current_txn_start_offset"] if p["current_txn_start_offset"] >= 0 else "None"]
        for p in producers
    ]  # fmt: skip
    _table(out, ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                 "LastTimestamp", "CurrentTransactionStartOffset"], rows, args)  # fmt: skip


def _abort(client: AdminClient, args: argparse.Namespace, out: TextIO) -> None:
    topic, partition = args.topic, args.partition
    leader, producers = _producers(client, topic, partition)
    match = [p for p in producers if p["current_txn_start_offset"] == args.start_offset]
    if not match:
        raise UsageError(
            f"no open transaction starts at offset {args.start_offset} of {topic}-{partition}"
        )
    p = match[0]
    _v, plain = client.node(leader).request(
        WRITE_TXN_MARKERS,
        {
            "markers": [
                {
                    "producer_id": p["producer_id"],
                    "producer_epoch": p["producer_epoch"],
                    "transaction_result": False,
                    "topics": [{"name": topic, "partition_indexes": [partition]}],
                    "coordinator_epoch": max(0, p["coordinator_epoch"]),
                }
            ]
        },
    )
    for marker in plain["markers"]:
        for t in marker["topics"]:
            for r in t["partitions"]:
                check(r["error_code"], None, f"WriteTxnMarkers {t['name']}-{r['partition_index']}")
    if wants_json(args):
        print_json(
            out,
            {
                "topic": topic,
                "partition": partition,
                "start_offset": args.start_offset,
                "producer_id": p["producer_id"],
                "producer_epoch": p["producer_epoch"],
                "aborted": True,
            },
        )
        return
    print(
        f"Aborted the transaction of producer {p['producer_id']} (epoch {p['producer_epoch']}) "
        f"in {topic}-{partition} starting at offset {args.start_offset}.",
        file=out,
    )


def register(commands: Any) -> None:
    txn = commands.add_parser(
        "transactions", help="list, describe and abort transactions (kafka-transactions.sh)"
    )
    sub = txn.add_subparsers(dest="transactions_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="transactions known to every broker's coordinator")
    add_connection_args(p)
    p.add_argument("--state", action="append", default=[], metavar="STATE",
                   help="only this state (Ongoing, PrepareCommit, ...; repeatable)")  # fmt: skip
    p.add_argument("--producer-id", action="append", type=int, default=[], metavar="ID")
    p.set_defaults(handler=handler(_list))

    p = sub.add_parser("describe", help="one transactional id at its coordinator")
    add_connection_args(p)
    p.add_argument("--transactional-id", required=True, metavar="ID")
    p.set_defaults(handler=handler(_describe))

    p = sub.add_parser("describe-producers", help="active producers of a partition")
    add_connection_args(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=int, required=True)
    p.set_defaults(handler=handler(_describe_producers))

    p = sub.add_parser("abort", help="abort a hanging transaction with an ABORT marker")
    add_connection_args(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=int, required=True)
    p.add_argument("--start-offset", type=int, required=True, metavar="OFFSET")
    p.set_defaults(handler=handler(_abort))
