"""MetadataCache: a broker's view of the cluster as the controller last described it.

In a ZooKeeper-mode Kafka cluster a broker does not read partition leadership from
ZooKeeper: the controller pushes it with UpdateMetadata requests (live brokers with their
endpoints and racks, and every partition's leader, leader epoch, ISR, replicas and offline
replicas). Metadata, FindCoordinator and the clients' routing answer from this cache.
A partition whose leader is -2 (Kafka's LeaderDuringDelete) belongs to a topic being
deleted and leaves the cache.

Updates publish :mod:`cluster.metadata` events (topic created, partitions added, topic
deleted, partition states changed, brokers changed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cluster.metadata import (
    BrokerRegistration,
    BrokersChanged,
    MetadataPublisher,
    PartitionsAdded,
    PartitionState,
    PartitionStatesChanged,
    TopicCreated,
    TopicDeleted,
    TopicMetadata,
)

#: Kafka's LeaderAndIsr.LeaderDuringDelete: the partition's topic is being deleted.
LEADER_DURING_DELETE = -2


@dataclass(frozen=True, slots=True)
class PartitionUpdate:
    """One partition state of an UpdateMetadata request."""

    topic: str
    topic_id: uuid.UUID
    partition: int
    state: PartitionState


class MetadataCache:
    """Live brokers, topics and partition states pushed by the controller."""

    def __init__(
        self,
        publisher: MetadataPublisher,
        topic_configs: Callable[[str], dict[str, str]] | None = None,
        internal_topics: Iterable[str] = (),
    ) -> None:
        self._events = publisher
        self._topic_configs = topic_configs
        self._internal = frozenset(internal_topics)
        self.controller_id = -1
        self.controller_epoch = -1
        self.brokers: dict[int, BrokerRegistration] = {}
        self.topics: dict[str, TopicMetadata] = {}
        self.by_id: dict[uuid.UUID, TopicMetadata] = {}

    def update(
        self,
        controller_id: int,
        controller_epoch: int,
        live_brokers: list[BrokerRegistration],
        partitions: list[PartitionUpdate],
    ) -> None:
        """Apply one UpdateMetadata request; publish what changed."""
        self.controller_id = controller_id
        self.controller_epoch = max(self.controller_epoch, controller_epoch)
        new_brokers = {b.broker_id: b for b in live_brokers}
        brokers_changed = new_brokers != self.brokers
        self.brokers = new_brokers
        created: dict[str, TopicMetadata] = {}
        added: dict[str, list[int]] = {}
        changed: dict[str, list[int]] = {}
        removed: dict[uuid.UUID, tuple[TopicMetadata, list[int]]] = {}
        for update in partitions:
            topic = self.topics.get(update.topic)
            if update.state.leader == LEADER_DURING_DELETE:
                if topic is not None and update.partition in topic.partitions:
                    del topic.partitions[update.partition]
                    removed.setdefault(topic.topic_id, (topic, []))[1].append(update.partition)
                continue
            if topic is not None and topic.topic_id != update.topic_id and _known(update.topic_id):
                # Deleted and recreated under the same name: the old topic is gone.
                self._drop(topic)
                self._events.publish(
                    TopicDeleted(topic.name, topic.topic_id, tuple(sorted(topic.partitions)))
                )
                topic = None
            if topic is None:
                configs = self._topic_configs(update.topic) if self._topic_configs else {}
                topic = TopicMetadata(
                    update.topic,
                    update.topic_id,
                    {},
                    dict(configs or {}),
                    is_internal=update.topic in self._internal,
                )
                self.topics[topic.name] = topic
                self.by_id[topic.topic_id] = topic
                created[topic.name] = topic
            if update.partition in topic.partitions:
                if topic.partitions[update.partition] != update.state:
                    changed.setdefault(topic.name, []).append(update.partition)
            elif topic.name not in created:
                added.setdefault(topic.name, []).append(update.partition)
            topic.partitions[update.partition] = update.state
        for topic, parts in removed.values():
            if not topic.partitions:
                self._drop(topic)
                self._events.publish(TopicDeleted(topic.name, topic.topic_id, tuple(sorted(parts))))
        for topic in created.values():
            self._events.publish(TopicCreated(topic))
        for name, parts in added.items():
            self._events.publish(PartitionsAdded(self.topics[name], tuple(sorted(parts))))
        for name, parts in changed.items():
            if name in self.topics:
                self._events.publish(PartitionStatesChanged(self.topics[name], tuple(parts)))
        if brokers_changed:
            self._events.publish(BrokersChanged(tuple(self.brokers.values())))

    def _drop(self, topic: TopicMetadata) -> None:
        self.topics.pop(topic.name, None)
        self.by_id.pop(topic.topic_id, None)

    def leader_of(self, topic: str, partition: int) -> int:
        t = self.topics.get(topic)
        if t is None:
            return -1
        state = t.partitions.get(partition)
        return -1 if state is None else state.leader

    def has_leaders(self, name: str) -> bool:
        topic = self.topics.get(name)
        return (
            topic is not None
            and bool(topic.partitions)
            and all(s.leader >= 0 for s in topic.partitions.values())
        )


def _known(topic_id: uuid.UUID) -> bool:
    return topic_id.int != 0
