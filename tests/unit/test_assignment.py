"""Replica assignment (cluster.assignment): Kafka's AdminUtils.assignReplicasToBrokers.

Fixed cases are the ones Kafka's own tests state (AdminRackAwareTest and the classic
rack-unaware table); properties are checked with hypothesis over broker sets, racks,
partition counts, replication factors, start indexes and shifts.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.assignment import (
    AdminOperationError,
    BrokerMetadata,
    RackAwareMode,
    assign_replicas_to_brokers,
    broker_metadatas,
    check_manual_assignment,
    new_partitions_assignment,
    rack_alternated_broker_list,
)
from protocol.errors import ErrorCode, KafkaError


def brokers_of(rack_of: dict[int, str]) -> list[BrokerMetadata]:
    return [BrokerMetadata(b, r) for b, r in sorted(rack_of.items())]


def test_rack_unaware_matches_kafkas_table() -> None:
    brokers = [BrokerMetadata(b) for b in range(5)]
    assert assign_replicas_to_brokers(brokers, 10, 3, fixed_start_index=0) == {
        0: [0, 1, 2],
        1: [1, 2, 3],
        2: [2, 3, 4],
        3: [3, 4, 0],
        4: [4, 0, 1],
        5: [0, 2, 3],
        6: [1, 3, 4],
        7: [2, 4, 0],
        8: [3, 0, 1],
        9: [4, 1, 2],
    }


def test_rack_alternated_list_and_rack_aware_assignment_match_kafka() -> None:
    rack_of = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
    assert rack_alternated_broker_list(rack_of) == [0, 3, 1, 5, 4, 2]
    assert rack_alternated_broker_list({b: r for b, r in rack_of.items() if b != 5}) == [
        0,
        3,
        1,
        4,
        2,
    ]
    assert assign_replicas_to_brokers(brokers_of(rack_of), 7, 3, 0, 0) == {
        0: [0, 3, 1],
        1: [3, 1, 5],
        2: [1, 5, 4],
        3: [5, 4, 2],
        4: [4, 2, 0],
        5: [2, 0, 3],
        6: [0, 4, 2],
    }


def test_errors_are_kafkas() -> None:
    three = [BrokerMetadata(b) for b in (1, 2, 3)]
    with pytest.raises(KafkaError) as exc:
        assign_replicas_to_brokers(three, 0, 1)
    assert exc.value.error_code == ErrorCode.invalid_partitions
    with pytest.raises(KafkaError) as exc:
        assign_replicas_to_brokers(three, 1, 0)
    assert exc.value.error_code == ErrorCode.invalid_replication_factor
    with pytest.raises(KafkaError) as exc:
        assign_replicas_to_brokers(three, 1, 4)
    assert exc.value.error_code == ErrorCode.invalid_replication_factor
    assert str(exc.value) == "Replication factor: 4 larger than available brokers: 3."
    mixed = [BrokerMetadata(1, "a"), BrokerMetadata(2), BrokerMetadata(3, "b")]
    with pytest.raises(AdminOperationError) as admin:
        assign_replicas_to_brokers(mixed, 1, 1)
    assert admin.value.error_code == ErrorCode.unknown_server_error
    with pytest.raises(AdminOperationError):
        broker_metadatas(mixed, RackAwareMode.ENFORCED)
    assert broker_metadatas(reversed(mixed), RackAwareMode.SAFE) == [
        BrokerMetadata(1),
        BrokerMetadata(2),
        BrokerMetadata(3),
    ]
    assert broker_metadatas(mixed[::2], RackAwareMode.DISABLED) == [
        BrokerMetadata(1),
        BrokerMetadata(3),
    ]


def test_single_broker_standalone() -> None:
    assert assign_replicas_to_brokers([BrokerMetadata(0)], 3, 1) == {0: [0], 1: [0], 2: [0]}


def test_new_partitions_continue_from_partition_zeros_leader() -> None:
    brokers = [BrokerMetadata(b) for b in (1, 2, 3, 4)]
    # Partition 0 led by 3: new partitions 2, 3 start at broker index 2 (id 3) + 2.
    added = new_partitions_assignment(brokers, [3, 4], existing_partitions=2, partitions_to_add=2)
    assert added == assign_replicas_to_brokers(brokers, 2, 2, 2, 2)
    assert sorted(added) == [2, 3]
    assert added[2][0] == 1 and added[3][0] == 2


def test_manual_assignment_checks() -> None:
    check_manual_assignment({2: [1, 2], 3: [2, 3]}, 2, {1, 2, 3})
    cases = [
        ({2: []}, ErrorCode.invalid_replica_assignment),
        ({2: [1, 1]}, ErrorCode.invalid_replica_assignment),
        ({2: [1, 9]}, ErrorCode.broker_not_available),
        ({2: [1, 2, 3]}, ErrorCode.invalid_replica_assignment),
    ]
    for assignment, code in cases:
        with pytest.raises(KafkaError) as exc:
            check_manual_assignment(assignment, 2, {1, 2, 3})
        assert exc.value.error_code == code, assignment


# --- properties ---------------------------------------------------------------------------

broker_ids = st.lists(st.integers(0, 200), min_size=1, max_size=12, unique=True).map(sorted)


@st.composite
def cases(draw: st.DrawFn, racks: bool) -> tuple[list[BrokerMetadata], int, int, int, int]:
    ids = draw(broker_ids)
    if racks:
        names = draw(st.lists(st.sampled_from("abcde"), min_size=len(ids), max_size=len(ids)))
        brokers = [BrokerMetadata(b, f"rack-{r}") for b, r in zip(ids, names, strict=True)]
    else:
        brokers = [BrokerMetadata(b) for b in ids]
    partitions = draw(st.integers(1, 60))
    rf = draw(st.integers(1, len(ids)))
    start_index = draw(st.integers(-1, len(ids) - 1))
    start_partition = draw(st.integers(-1, 30))
    return brokers, partitions, rf, start_index, start_partition


def _check_common(
    brokers: list[BrokerMetadata],
    assignment: dict[int, list[int]],
    partitions: int,
    rf: int,
    start_partition: int,
) -> None:
    first = max(0, start_partition)
    assert sorted(assignment) == list(range(first, first + partitions))
    ids = {b.broker_id for b in brokers}
    for replicas in assignment.values():
        assert len(replicas) == rf
        assert len(set(replicas)) == rf
        assert set(replicas) <= ids
    # Preferred leaders are balanced within one over the brokers.
    leaders = Counter(r[0] for r in assignment.values())
    counts = [leaders.get(b, 0) for b in ids]
    assert max(counts) - min(counts) <= 1


@settings(max_examples=300, deadline=None)
@given(cases(racks=False), st.integers(0, 2**32))
def test_rack_unaware_properties(
    case: tuple[list[BrokerMetadata], int, int, int, int], seed: int
) -> None:
    brokers, partitions, rf, start_index, start_partition = case
    assignment = assign_replicas_to_brokers(
        brokers, partitions, rf, start_index, start_partition, random.Random(seed)
    )
    _check_common(brokers, assignment, partitions, rf, start_partition)
    n = len(brokers)
    if start_partition <= 0 and partitions % n == 0:
        # Whole rounds: every broker holds exactly the same number of replicas.
        held = Counter(b for r in assignment.values() for b in r)
        assert set(held.values()) == {partitions * rf // n}


@settings(max_examples=300, deadline=None)
@given(cases(racks=True), st.integers(0, 2**32))
def test_rack_aware_properties(
    case: tuple[list[BrokerMetadata], int, int, int, int], seed: int
) -> None:
    brokers, partitions, rf, start_index, start_partition = case
    assignment = assign_replicas_to_brokers(
        brokers, partitions, rf, start_index, start_partition, random.Random(seed)
    )
    _check_common(brokers, assignment, partitions, rf, start_partition)
    rack_of = {b.broker_id: b.rack for b in brokers}
    racks = len(set(rack_of.values()))
    for replicas in assignment.values():
        # Distinct racks whenever there are enough of them; every rack otherwise.
        assert len({rack_of[b] for b in replicas}) == min(rf, racks)


@settings(max_examples=100, deadline=None)
@given(broker_ids, st.integers(1, 40), st.integers(1, 20), st.data())
def test_added_partitions_properties(
    ids: list[int], existing: int, added: int, data: st.DataObject
) -> None:
    brokers = [BrokerMetadata(b) for b in ids]
    rf = data.draw(st.integers(1, len(ids)))
    partition0 = data.draw(st.permutations(ids)).copy()[:rf]
    assignment = new_partitions_assignment(brokers, partition0, existing, added)
    assert sorted(assignment) == list(range(existing, existing + added))
    for replicas in assignment.values():
        assert len(set(replicas)) == rf and set(replicas) <= set(ids)
