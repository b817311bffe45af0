"""Leadership on a standalone broker: it is its own controller and leads every partition.

It plays the controller's part for the replica manager: at start-up and whenever the
metadata store reports a topic created, extended or deleted, it hands the replica manager
the same LeaderAndIsr / StopReplica decisions a Kafka controller would send to a
single-broker cluster.
"""

from __future__ import annotations

import logging

from broker.replica.replica_manager import PartitionRole, ReplicaManager
from cluster.metadata import (
    MetadataEvent,
    MetadataStore,
    PartitionsAdded,
    TopicCreated,
    TopicDeleted,
    TopicMetadata,
)

log = logging.getLogger(__name__)

#: A standalone broker's controller epoch never changes.
STANDALONE_CONTROLLER_EPOCH = 0


class LocalLeadership:
    """Turns standalone metadata changes into replica roles (leader of everything)."""

    def __init__(self, metadata: MetadataStore, replica_manager: ReplicaManager) -> None:
        self.metadata = metadata
        self.replica_manager = replica_manager

    def start(self) -> None:
        """Lead every partition already in the metadata, then follow changes."""
        for topic in self.metadata.topics().values():
            self._lead(topic, sorted(topic.partitions))
        self.metadata.subscribe(self.on_event)

    def on_event(self, event: MetadataEvent) -> None:
        rm = self.replica_manager
        if isinstance(event, TopicCreated):
            self._lead(event.topic, sorted(event.topic.partitions))
        elif isinstance(event, PartitionsAdded):
            self._lead(event.topic, list(event.partitions))
        elif isinstance(event, TopicDeleted):
            rm.stop_replicas([(event.name, p) for p in event.partitions], delete=True)

    def _lead(self, topic: TopicMetadata, partitions: list[int]) -> None:
        roles = [
            PartitionRole(topic.name, topic.topic_id, p, topic.partitions[p])
            for p in partitions
            if p in topic.partitions
        ]
        errors = self.replica_manager.become_leader_or_follower(
            STANDALONE_CONTROLLER_EPOCH, roles
        )
        for (name, index), error in errors.items():
            if error.value != 0:
                log.error("cannot lead %s-%d: %s", name, index, error.name)
