"""tests/clients/matrix.json is well formed (every row has every feature and names an existing
test that names the client), and the scenario checker accepts the right outcome and rejects
wrong ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.client_scenario import (
    FEATURES,
    PARTITIONS,
    PER_PARTITION,
    check_report,
    expected_records,
    load_matrix,
)

REPO = Path(__file__).resolve().parents[2]


def test_matrix_rows_cover_every_feature() -> None:
    matrix = load_matrix()
    assert tuple(matrix["features"]) == FEATURES
    assert matrix["clients"]
    for client, row in matrix["clients"].items():
        assert tuple(row["features"]) == FEATURES, client
        assert (REPO / row["test"]).is_file(), client
        assert client in (REPO / row["test"]).read_text(), f"{row['test']} never names {client}"
        assert all(isinstance(cell, str) and cell for cell in row["features"].values())


def good_report(group_protocol: str = "classic") -> dict[str, Any]:
    n = PARTITIONS * PER_PARTITION
    committed = [[p, PER_PARTITION, f"m{p}"] for p in range(PARTITIONS)]
    return {
        "group_protocol": group_protocol,
        "create_again_error": "TOPIC_ALREADY_EXISTS",
        "describe_partitions": [[p, 0, 1] for p in range(PARTITIONS)],
        "describe_unknown_error": "UNKNOWN_TOPIC_OR_PARTITION",
        "produced": [[i % PARTITIONS, i // PARTITIONS] for i in range(n)],
        "idempotent": True,
        "consumed": list(reversed(expected_records())),
        "end_offsets": [PER_PARTITION] * PARTITIONS,
        "first_member_assignment": PARTITIONS,
        "assignment_sizes": [1, 2],
        "assigned_partitions": list(range(PARTITIONS)),
        "group_consumed": n,
        "group_next_offsets": [PER_PARTITION] * PARTITIONS,
        "group_type_while_active": group_protocol,
        "members_while_active": 2,
        "consumer_committed": committed,
        "admin_fetched_offsets": committed,
        "group_state_after_close": "Empty",
        "group_members_after_close": 0,
        "deleted_topic_listed": False,
    }


def test_check_report_verifies_every_feature() -> None:
    assert check_report(good_report()) == set(FEATURES) - {"kip848"}
    assert check_report(good_report("consumer")) == set(FEATURES)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("create_again_error", "NONE"),
        ("produced", [[0, 0]] * 30),
        ("consumed", expected_records()[1:]),
        ("assignment_sizes", [3, 0]),
        ("group_type_while_active", "consumer"),
        ("admin_fetched_offsets", [[p, PER_PARTITION, ""] for p in range(PARTITIONS)]),
        ("group_state_after_close", "Stable"),
        ("deleted_topic_listed", True),
    ],
)
def test_check_report_rejects_a_wrong_outcome(key: str, value: object) -> None:
    report = good_report()
    report[key] = value
    with pytest.raises(AssertionError):
        check_report(report)
