"""MetadataCache: the broker's view from UpdateMetadata, and the events it publishes."""

from __future__ import annotations

import uuid

from cluster.metadata import (
    BrokerEndpoint,
    BrokerRegistration,
    BrokersChanged,
    MetadataEvent,
    MetadataPublisher,
    PartitionsAdded,
    PartitionState,
    PartitionStatesChanged,
    TopicCreated,
    TopicDeleted,
)
from cluster.metadata_cache import LEADER_DURING_DELETE, MetadataCache, PartitionUpdate

A = uuid.UUID(int=1)
B = uuid.UUID(int=2)


def broker(i: int) -> BrokerRegistration:
    return BrokerRegistration(i, (BrokerEndpoint("PLAINTEXT", "PLAINTEXT", "h", 9000 + i),))


def st(leader: int, epoch: int = 0, isr: list[int] | None = None) -> PartitionState:
    return PartitionState(replicas=[1, 2], leader=leader, leader_epoch=epoch, isr=isr or [1, 2])


def make() -> tuple[MetadataCache, list[MetadataEvent]]:
    events: list[MetadataEvent] = []
    pub = MetadataPublisher()
    pub.subscribe(events.append)
    return MetadataCache(pub, lambda name: {"retention.ms": "1"}, {"__consumer_offsets"}), events


def test_topic_lifecycle_events() -> None:
    cache, events = make()
    cache.update(1, 5, [broker(1), broker(2)], [PartitionUpdate("t", A, 0, st(1))])
    assert [type(e) for e in events] == [TopicCreated, BrokersChanged]
    t = cache.topics["t"]
    assert t.topic_id == A and t.configs == {"retention.ms": "1"} and not t.is_internal
    assert cache.controller_id == 1 and cache.controller_epoch == 5
    assert cache.has_leaders("t") and cache.leader_of("t", 0) == 1
    events.clear()
    # Same brokers, a new partition and a leader change.
    cache.update(
        1, 5, [broker(1), broker(2)],
        [PartitionUpdate("t", A, 1, st(2)), PartitionUpdate("t", A, 0, st(2, 1, [2]))],
    )
    assert [type(e) for e in events] == [PartitionsAdded, PartitionStatesChanged]
    assert events[0].partitions == (1,)  # type: ignore[union-attr]
    assert events[1].partitions == (0,)  # type: ignore[union-attr]
    events.clear()
    # Deletion: every partition marked with the LeaderDuringDelete sentinel.
    cache.update(
        1, 5, [broker(1)],
        [PartitionUpdate("t", A, p, st(LEADER_DURING_DELETE)) for p in (0, 1)],
    )
    assert [type(e) for e in events] == [TopicDeleted, BrokersChanged]
    assert events[0] == TopicDeleted("t", A, (0, 1))
    assert "t" not in cache.topics and A not in cache.by_id


def test_recreated_topic_replaces_the_old_one() -> None:
    cache, events = make()
    cache.update(1, 1, [broker(1)], [PartitionUpdate("t", A, 0, st(1))])
    events.clear()
    cache.update(1, 1, [broker(1)], [PartitionUpdate("t", B, 0, st(1))])
    assert [type(e) for e in events] == [TopicDeleted, TopicCreated]
    assert cache.topics["t"].topic_id == B and A not in cache.by_id


def test_internal_topics_and_missing_leaders() -> None:
    cache, _ = make()
    cache.update(1, 1, [broker(1)], [PartitionUpdate("__consumer_offsets", A, 0, st(-1))])
    assert cache.topics["__consumer_offsets"].is_internal
    assert not cache.has_leaders("__consumer_offsets")
    assert not cache.has_leaders("unknown")
