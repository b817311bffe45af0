"""One scenario, many clients: every client program under tests/clients/ prints the same JSON
report (see tests/clients/README.md), and :func:`check_report` asserts on it exactly.

The compatibility matrix (tests/clients/matrix.json, rendered into README.md by
``python -m broker.docs``) lists, per client, the features its test checks; a client test
asserts that the features it verified are exactly the matrix row's "yes" cells, so the README
cannot claim what no test checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PARTITIONS = 3
PER_PARTITION = 10
MATRIX_PATH = Path(__file__).resolve().parents[1] / "clients" / "matrix.json"

# Matrix columns, in order: the report keys each feature's assertions read.
FEATURES = (
    "admin",
    "produce",
    "idempotent",
    "consume",
    "group_rebalance",
    "offsets",
    "kip848",
)


def load_matrix() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MATRIX_PATH.read_text())
    return data


def matrix_yes(client: str) -> set[str]:
    row = load_matrix()["clients"][client]["features"]
    return {f for f, cell in row.items() if cell == "yes"}


def parse_report(stdout: str) -> dict[str, Any]:
    """The last line of a client program's stdout that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            report: dict[str, Any] = json.loads(line)
            return report
    raise AssertionError(f"no JSON report in the client's output:\n{stdout}")


def expected_records() -> list[list[Any]]:
    n = PARTITIONS * PER_PARTITION
    return sorted([i % PARTITIONS, i // PARTITIONS, f"k{i}", f"v{i}"] for i in range(n))


def check_report(report: dict[str, Any], *, idempotent: bool = True) -> set[str]:
    """Assert the scenario's outcome exactly; returns the features it verified."""
    n = PARTITIONS * PER_PARTITION
    verified: set[str] = set()
    # admin: create (and a second create refused), describe, describe of an unknown topic,
    # delete (the topic is no longer listed)
    assert report["create_again_error"] == "TOPIC_ALREADY_EXISTS"
    assert report["describe_partitions"] == [[p, 0, 1] for p in range(PARTITIONS)]
    assert report["describe_unknown_error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert report["deleted_topic_listed"] is False
    verified.add("admin")
    # produce: record i goes to partition i % 3 and gets the next offset there
    assert report["produced"] == [[i % PARTITIONS, i // PARTITIONS] for i in range(n)]
    verified.add("produce")
    if idempotent:
        assert report["idempotent"] is True
        verified.add("idempotent")
    # consume (assigned partitions, from the beginning): every record exactly once
    assert sorted(report["consumed"]) == expected_records()
    assert report["end_offsets"] == [PER_PARTITION] * PARTITIONS
    verified.add("consume")
    # a lone member gets all partitions; a second member joins and the group rebalances
    # into two non-empty assignments covering every partition once; the two read all records
    assert report["first_member_assignment"] == PARTITIONS
    sizes = report["assignment_sizes"]
    assert len(sizes) == 2 and min(sizes) >= 1 and sum(sizes) == PARTITIONS, sizes
    assert report["assigned_partitions"] == list(range(PARTITIONS))
    assert report["group_consumed"] == n
    assert report["group_next_offsets"] == [PER_PARTITION] * PARTITIONS
    # the coordinator describes the group, of the protocol the members joined with, with both
    assert report["group_type_while_active"] == report["group_protocol"]
    assert report["members_while_active"] == 2
    verified.add("group_rebalance")
    # commit with metadata, fetch back through the consumer and through the admin client
    committed = [[p, PER_PARTITION, f"m{p}"] for p in range(PARTITIONS)]
    assert report["consumer_committed"] == committed
    assert report["admin_fetched_offsets"] == committed
    assert report["group_state_after_close"] == "Empty"
    assert report["group_members_after_close"] == 0
    verified.add("offsets")
    if report.get("group_protocol") == "consumer":
        verified.add("kip848")
    return verified


def stored_producer_batches(data_dir: Path, topic: str) -> dict[int, list[tuple[int, int, int]]]:
    """(producer id, base sequence, record count) of every batch stored for ``topic``, per
    partition, read from the broker's segment files."""
    from protocol.record_batch import iter_headers

    batches: dict[int, list[tuple[int, int, int]]] = {}
    for p in range(PARTITIONS):
        found = batches.setdefault(p, [])
        for segment in sorted((data_dir / f"{topic}-{p}").glob("*.log")):
            buf = segment.read_bytes()
            end = len(buf)
            # a preallocated tail reads as zeros: stop at the first empty batch length
            pos = 0
            while pos + 12 <= end and int.from_bytes(buf[pos + 8 : pos + 12], "big") > 0:
                pos += 12 + int.from_bytes(buf[pos + 8 : pos + 12], "big")
            for _, h in iter_headers(buf, 0, min(pos, end)):
                found.append((h.producer_id, h.base_sequence, h.records_count))
    return batches


def check_idempotent_batches(data_dir: Path, topic: str) -> None:
    """Every stored batch carries one producer id (>= 0) and each partition's sequences run
    0, 1, ... without a gap or a repeat: what an idempotent producer writes."""
    batches = stored_producer_batches(data_dir, topic)
    producer_ids = {pid for found in batches.values() for pid, _, _ in found}
    assert len(producer_ids) == 1 and min(producer_ids) >= 0, batches
    for found in batches.values():
        expected_seq = 0
        for _, base_sequence, count in found:
            assert base_sequence == expected_seq, batches
            expected_seq += count
        assert expected_seq == PER_PARTITION, batches
