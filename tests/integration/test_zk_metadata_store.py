"""cluster.zk_metadata_store.ZooKeeperMetadataStore against a real ZooKeeper ensemble (no
brokers): the admin writes and reads the cluster's admin APIs rely on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from kio.schema.errors import ErrorCode

from cluster.metadata import PartitionState
from cluster.metadata_cache import LEADER_DURING_DELETE, PartitionUpdate
from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigEntity
from cluster.zk.topic_znodes import ReplicaAssignment, TopicAssignment
from cluster.zk.znodes import ControllerRegistration
from cluster.zk_metadata_store import ZooKeeperMetadataStore
from protocol.errors import KafkaError

WAIT_S = 30.0


@pytest.fixture
async def store(zk_connect: str) -> AsyncIterator[ZooKeeperMetadataStore]:
    zk = ZkClient(zk_connect, session_timeout_ms=6000, connection_timeout_ms=15000)
    await zk.start()
    store = ZooKeeperMetadataStore(zk, 1, "cluster-id")
    await store.start()
    try:
        yield store
    finally:
        await store.close()
        await zk.close()


async def eventually(check: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


def partition(topic: str, topic_id: uuid.UUID, leader: int) -> PartitionUpdate:
    return PartitionUpdate(topic, topic_id, 0, PartitionState([1], leader, isr=[1]))


async def test_controller_known_before_the_first_update_metadata(
    store: ZooKeeperMetadataStore,
) -> None:
    assert store.controller_id == -1
    await store.zk.create(paths.CONTROLLER, ControllerRegistration(7).encode())
    await eventually(lambda: store.controller_id == 7)
    store.cache.update(3, 1, [], [])  # the controller's own word wins once it comes
    assert store.controller_id == 3


async def test_topic_configs_fetched_from_zookeeper(store: ZooKeeperMetadataStore) -> None:
    await store.create_topic("t", {0: [1]}, {"retention.ms": "5"})
    assert await store.fetch_topic_configs("t") == {"retention.ms": "5"}
    # Written by another broker: visible to a read-modify-write here at once.
    await store.zk.set(paths.topic_config("t"), ConfigEntity({"segment.ms": "9"}).encode())
    assert await store.fetch_topic_configs("t") == {"segment.ms": "9"}
    assert await store.fetch_topic_configs("absent") == {}


async def test_reassignment_in_progress_blocks_new_partitions(
    store: ZooKeeperMetadataStore,
) -> None:
    topic = await store.create_topic("r", {0: [1, 2], 1: [2, 1]}, {})
    assert await store.reassigning_partitions("r") == []
    reassigning = TopicAssignment(
        "r",
        topic.topic_id,
        {
            0: ReplicaAssignment((3, 1, 2), adding_replicas=(3,), removing_replicas=(2,)),
            1: ReplicaAssignment((2, 1)),
        },
    )
    await store.zk.set(paths.topic("r"), reassigning.encode())
    assert await store.reassigning_partitions("r") == [0]
    with pytest.raises(KafkaError) as exc:
        await store.add_partitions("r", {2: [1, 2]})
    assert exc.value.error_code == ErrorCode.reassignment_in_progress
    assert await store.reassigning_partitions("absent") == []


async def test_recreated_topic_does_not_keep_old_configs(store: ZooKeeperMetadataStore) -> None:
    await store.zk.create(
        paths.topic_config("c"), ConfigEntity({"max.message.bytes": "100"}).encode(), makepath=True
    )
    old_id = uuid.uuid4()
    await store.prepare_topics(["c"])
    store.cache.update(1, 1, [], [partition("c", old_id, 1)])
    assert store.topic("c") is not None and store.topic("c").configs == {"max.message.bytes": "100"}
    # Deleted (the controller removes its config znode), created again without overrides.
    store.cache.update(1, 1, [], [partition("c", old_id, LEADER_DURING_DELETE)])
    assert store.topic("c") is None
    await store.zk.delete(paths.topic_config("c"))
    await store.prepare_topics(["c"])
    store.cache.update(1, 1, [], [partition("c", uuid.uuid4(), 1)])
    recreated = store.topic("c")
    assert recreated is not None and recreated.configs == {}


async def test_offset_commit_v0_offsets_live_under_consumers(
    store: ZooKeeperMetadataStore,
) -> None:
    """Kafka 3.9's setOrCreateConsumerOffset / getConsumerOffset: the offset as decimal text
    at /consumers/<group>/offsets/<topic>/<partition> (recorded from Kafka in
    tests/fixtures/kafka_3_9_1_wire.json)."""
    assert await store.consumer_offset("g", "t", 0) is None
    await store.set_consumer_offset("g", "t", 0, 11)
    data, _ = await store.zk.get("/consumers/g/offsets/t/0")
    assert data == b"11"
    await store.set_consumer_offset("g", "t", 0, 12)
    assert await store.consumer_offset("g", "t", 0) == 12
    assert await store.consumer_offset("g", "t", 1) is None
