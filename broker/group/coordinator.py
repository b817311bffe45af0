"""The group coordinator: group membership protocols on top of the group metadata manager.

:class:`GroupCoordinator` is what the handlers talk to. It is the
:class:`~broker.group.group_metadata_manager.GroupMetadataManager` (groups, offsets,
``__consumer_offsets``) with the two membership protocols wired in: the classic one
(JoinGroup/SyncGroup/Heartbeat/LeaveGroup, :attr:`classic`) and KIP-848's
(ConsumerGroupHeartbeat, :attr:`consumer`).
"""

from __future__ import annotations

from typing import Any

from broker.group.base import Group
from broker.group.classic_group import ClassicGroup
from broker.group.classic_protocol import ClassicProtocol
from broker.group.consumer_protocol import ConsumerProtocol
from broker.group.group_metadata_manager import (
    OFFSETS_TOPIC,
    GroupMetadataManager,
    OffsetAndMetadata,
    java_string_hash,
    partition_for,
)
from broker.group.timer import Timer
from broker.replica.replica_manager import ReplicaManager
from broker.topic_manager import TopicManager
from storage.clock import Clock

__all__ = [
    "OFFSETS_TOPIC",
    "GroupCoordinator",
    "OffsetAndMetadata",
    "java_string_hash",
    "partition_for",
]


class GroupCoordinator(GroupMetadataManager):
    """Kafka's group coordinator for the ``__consumer_offsets`` partitions this broker leads."""

    def __init__(
        self,
        config: Any,
        clock: Clock,
        replica_manager: ReplicaManager,
        topic_manager: TopicManager,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, clock, replica_manager, topic_manager, timer)
        self.classic = ClassicProtocol(self)
        # KIP-848 groups: registers the ConsumerGroup* record replay before any load.
        self.consumer = ConsumerProtocol(self)

    def group_loaded(self, group: Group) -> None:
        if isinstance(group, ClassicGroup):
            self.classic.on_loaded(group)

    def group_unloaded(self, group: Group) -> None:
        if isinstance(group, ClassicGroup):
            self.classic.unload(group)
