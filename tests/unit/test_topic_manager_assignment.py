"""TopicManager's use of Kafka's replica assignment: CreateTopics (and so auto-creation and
the internal topics, which go through the same path) over the live brokers with their
racks; CreatePartitions continuing from partition 0's leader, with Kafka's checks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.topic_manager import TopicManager, TopicSpec
from cluster.assignment import BrokerMetadata, new_partitions_assignment
from cluster.metadata import BrokerRegistration, PartitionState, TopicMetadata
from protocol.errors import KafkaError
from storage.log_config import LogConfig


class StubStore:
    """The MetadataStore calls TopicManager makes, over fixed brokers and topics."""

    def __init__(self, racks: dict[int, str | None]) -> None:
        self._brokers = [BrokerRegistration(b, (), rack) for b, rack in racks.items()]
        self._topics: dict[str, TopicMetadata] = {}
        self.reassigning: list[int] = []
        self.added: dict[int, list[int]] | None = None

    def brokers(self) -> list[BrokerRegistration]:
        return list(self._brokers)

    def topics(self) -> dict[str, TopicMetadata]:
        return self._topics

    def topic(self, name: str) -> TopicMetadata | None:
        return self._topics.get(name)

    def add_topic(self, name: str, assignment: dict[int, list[int]]) -> None:
        self._topics[name] = TopicMetadata(
            name,
            uuid.uuid4(),
            {p: PartitionState(replicas=r, leader=r[0], isr=r) for p, r in assignment.items()},
        )

    async def reassigning_partitions(self, name: str) -> list[int]:
        return self.reassigning

    async def add_partitions(self, name: str, assignment: dict[int, list[int]]) -> None:
        self.added = assignment

    async def wait_for_topic(
        self, name: str, timeout_ms: int, partitions: int | None = None
    ) -> bool:
        return True


class StubReplicaManager:
    default_config = LogConfig()
    broker_id = 1
    partitions: dict[tuple[str, int], Any] = {}


def manager(store: StubStore) -> TopicManager:
    rm: Any = StubReplicaManager()
    metadata: Any = store
    return TopicManager(metadata, rm, 1, 1, True, standalone=False)


def test_create_topics_assign_over_live_brokers() -> None:
    tm = manager(StubStore({3: None, 1: None, 2: None}))
    assignment, _ = tm.validate(TopicSpec("t", 6, 3))
    assert sorted(assignment) == list(range(6))
    assert all(sorted(r) == [1, 2, 3] for r in assignment.values())
    assert sorted(r[0] for r in assignment.values()) == [1, 1, 2, 2, 3, 3]
    with pytest.raises(KafkaError) as exc:
        tm.validate(TopicSpec("t", 1, 4))
    assert exc.value.error_code == ErrorCode.invalid_replication_factor


def test_create_topics_rack_aware() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    tm = manager(StubStore(dict(racks)))
    assignment, _ = tm.validate(TopicSpec("t", 12, 3))
    assert all(len({racks[b] for b in r}) == 3 for r in assignment.values())


def test_create_topics_refuses_a_partial_rack_set() -> None:
    tm = manager(StubStore({1: "a", 2: None, 3: "b"}))
    with pytest.raises(KafkaError) as exc:
        tm.validate(TopicSpec("t", 1, 2))
    assert exc.value.error_code == ErrorCode.unknown_server_error
    assert "rack" in str(exc.value)


def test_manual_assignment_checks() -> None:
    tm = manager(StubStore({1: None, 2: None, 3: None}))
    cases = [
        ({0: [1, 2], 1: [3]}, "same number of replicas"),
        ({0: [1, 1]}, "Duplicate replica assignment"),
        ({0: [1], 2: [2]}, "consecutive 0-based"),
        ({0: [1, 9]}, "Unknown broker"),
    ]
    for assignment, message in cases:
        with pytest.raises(KafkaError) as exc:
            tm.validate(TopicSpec("t", -1, -1, assignment))
        assert exc.value.error_code == ErrorCode.invalid_replica_assignment, assignment
        assert message in str(exc.value)


async def test_create_partitions() -> None:
    store = StubStore({1: None, 2: None, 3: None, 4: None})
    store.add_topic("t", {0: [3, 4], 1: [4, 1]})
    tm = manager(store)
    await tm.add_partitions("t", 5, None, validate_only=False)
    brokers = [BrokerMetadata(b) for b in (1, 2, 3, 4)]
    assert store.added == new_partitions_assignment(brokers, [3, 4], 2, 3)
    assert store.added is not None and [r[0] for r in store.added.values()] == [1, 2, 3]

    store.added = None
    await tm.add_partitions("t", 3, [[2, 3]], validate_only=False)
    assert store.added == {2: [2, 3]}
    errors = [
        ([[2, 9]], ErrorCode.invalid_replica_assignment),  # unknown broker
        ([[2, 3], [1, 2]], ErrorCode.invalid_replica_assignment),  # one too many
        ([[2]], ErrorCode.invalid_replica_assignment),  # replication factor differs
        ([[2, 2]], ErrorCode.invalid_replica_assignment),  # duplicate
    ]
    for manual, code in errors:
        with pytest.raises(KafkaError) as exc:
            await tm.add_partitions("t", 3, manual, validate_only=False)
        assert exc.value.error_code == code, manual
    with pytest.raises(KafkaError) as exc:
        await tm.add_partitions("t", 2, None, validate_only=False)
    assert exc.value.error_code == ErrorCode.invalid_partitions
    with pytest.raises(KafkaError) as exc:
        await tm.add_partitions("nope", 2, None, validate_only=False)
    assert exc.value.error_code == ErrorCode.unknown_topic_or_partition
    store.reassigning = [1]
    with pytest.raises(KafkaError) as exc:
        await tm.add_partitions("t", 4, None, validate_only=True)
    assert exc.value.error_code == ErrorCode.reassignment_in_progress
