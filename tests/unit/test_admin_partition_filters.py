"""kafka-topics --describe partition filters, as TopicCommand decides them."""

from __future__ import annotations

import pytest

from broker.admin.client import ClusterInfo, Node, PartitionInfo
from broker.admin.common import UsageError
from broker.admin.partitions import parse_time
from broker.admin.topics import partition_matches

CLUSTER = ClusterInfo("c", 1, {1: Node(1, "h", 1), 2: Node(2, "h", 2), 3: Node(3, "h", 3)}, {})


def _p(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...]) -> PartitionInfo:
    return PartitionInfo(0, leader, 0, replicas, isr, (), 0)


@pytest.mark.parametrize(
    ("which", "part", "min_isr", "expected"),
    [
        ("under_replicated_partitions", _p(1, (1, 2, 3), (1, 2)), None, True),
        ("under_replicated_partitions", _p(1, (1, 2, 3), (1, 2, 3)), None, False),
        ("unavailable_partitions", _p(-1, (1, 2), ()), None, True),
        ("unavailable_partitions", _p(9, (9,), (9,)), None, True),  # leader not live
        ("unavailable_partitions", _p(2, (1, 2), (2,)), None, False),
        ("at_min_isr_partitions", _p(1, (1, 2, 3), (1, 2)), 2, True),
        ("at_min_isr_partitions", _p(1, (1, 2, 3), (1, 2, 3)), 2, False),
        ("under_min_isr_partitions", _p(1, (1, 2, 3), (1,)), 2, True),
        ("under_min_isr_partitions", _p(1, (1, 2, 3), (1, 2)), 2, False),
    ],
)
def test_partition_filters(
    which: str, part: PartitionInfo, min_isr: int | None, expected: bool
) -> None:
    assert partition_matches(which, part, CLUSTER, min_isr) is expected


def test_get_offsets_time_specs() -> None:
    assert [parse_time(t) for t in ("earliest", "latest", "max-timestamp", "-2", "17")] == [
        -2, -1, -3, -2, 17,
    ]  # fmt: skip
    for bad in ("yesterday", "-4"):
        with pytest.raises(UsageError):
            parse_time(bad)
