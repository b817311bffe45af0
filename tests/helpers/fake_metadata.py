"""A metadata cache stand-in for unit tests: topics whose partitions have one leader each."""

from __future__ import annotations

import uuid

from cluster.metadata import PartitionState, TopicMetadata


class LeaderMetadata:
    """Answers ``topic(name)`` like the broker's metadata cache, from (topic, partition) →
    leader broker id."""

    def __init__(self, leaders: dict[tuple[str, int], int]) -> None:
        self.topics: dict[str, TopicMetadata] = {}
        for (topic, p), leader in leaders.items():
            meta = self.topics.setdefault(topic, TopicMetadata(topic, uuid.uuid4(), {}))
            meta.partitions[p] = PartitionState([leader], leader)

    def topic(self, name: str) -> TopicMetadata | None:
        return self.topics.get(name)
