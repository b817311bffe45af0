"""What the controller needs from ZooKeeper (the controller's part of Kafka's KafkaZkClient).

:class:`ControllerZkClient` names the reads, fenced writes and watches of Kafka's ZooKeeper-mode
controller in Kafka's terms (topic assignments, partition states, ``/admin`` requests ...); the
implementation over :mod:`cluster.zk` encodes Kafka's znode JSON. Every write that takes an
``epoch_zk_version`` runs in a multi-op with a version check on ``/controller_epoch`` (Kafka's
``checkControllerAndEpoch``) and raises :class:`ControllerMovedError` when that check fails:
a controller that lost its election can never overwrite the new controller's state.

Watch callbacks run on the event loop and only signal that something may have changed; the
controller re-reads. They can fire spuriously (on registration, after a reconnect), so what
they trigger must be idempotent, as Kafka's handlers are.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cluster.controller.model import (
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.metadata import BrokerRegistration
from cluster.zk.registration import ControllerMovedError

__all__ = [
    "ControllerMovedError",
    "ControllerZkClient",
    "TopicIdReplicaAssignment",
    "UpdateLeaderAndIsrResult",
    "WatchHandle",
]


@dataclass(frozen=True, slots=True)
class TopicIdReplicaAssignment:
    """``/brokers/topics/<topic>``: the topic id (None if an old writer left none) and the
    replica assignment of each partition."""

    topic: str
    topic_id: uuid.UUID | None
    assignment: Mapping[int, ReplicaAssignment]


@dataclass(frozen=True, slots=True)
class UpdateLeaderAndIsrResult:
    """Outcome of compare-and-set writes of partition states: the written state (its
    ``partition_epoch`` now the new znode version) or the error, per partition, and the
    partitions that lost the compare-and-set (BADVERSION: re-read and retry)."""

    finished: Mapping[TopicPartition, LeaderAndIsr | Exception] = field(default_factory=dict)
    updates_to_retry: tuple[TopicPartition, ...] = ()


class WatchHandle(Protocol):
    def cancel(self) -> None: ...


Signal = Callable[[], None]


class ControllerZkClient(Protocol):
    """See the module docstring. ``epoch_zk_version`` is the controller's
    ``/controller_epoch`` znode version from its election."""

    # -- election --------------------------------------------------------------------------------
    async def get_controller_id(self) -> int | None: ...

    async def register_controller_and_increment_epoch(self, controller_id: int) -> tuple[int, int]:
        """Create ``/controller`` (ephemeral) and bump ``/controller_epoch`` in one multi-op
        (creating ``/controller_epoch`` at 0 first if absent). Returns (epoch, its znode
        version); ControllerMovedError if another broker won."""
        ...

    async def delete_controller(self, epoch_zk_version: int) -> None: ...

    async def ensure_feature_znode(self) -> None:
        """Create ``/feature`` (enabled, nothing finalized) unless it exists, or enable it
        (Kafka's enableFeatureVersioning at IBP >= 2.7, with no default finalized features)."""
        ...

    async def allocate_producer_id_block(self, broker_id: int) -> tuple[int, int]:
        """The next block of producer ids on ``/latest_producer_id_block`` (compare-and-set,
        retried): (first id, length)."""
        ...

    # -- brokers ---------------------------------------------------------------------------------
    async def get_all_broker_and_epochs(self) -> dict[BrokerRegistration, int]:
        """Every registered broker with its epoch (the czxid of its registration)."""
        ...

    async def get_broker(self, broker_id: int) -> BrokerRegistration | None: ...

    # -- topics ----------------------------------------------------------------------------------
    async def get_all_topics(self) -> set[str]: ...

    async def get_replica_assignment_and_topic_ids(
        self, topics: Collection[str]
    ) -> list[TopicIdReplicaAssignment]: ...

    async def set_topic_ids(
        self, assignments: Iterable[TopicIdReplicaAssignment], epoch_zk_version: int
    ) -> list[TopicIdReplicaAssignment]:
        """Give each topic (which has none) a new random topic id, written to its znode."""
        ...

    async def set_topic_assignment(
        self,
        topic: str,
        topic_id: uuid.UUID | None,
        assignment: Mapping[int, ReplicaAssignment],
        epoch_zk_version: int,
    ) -> None:
        """Rewrite ``/brokers/topics/<topic>``; LookupError if the topic znode is gone."""
        ...

    async def get_topic_partitions(self, topic: str) -> list[int]:
        """The partitions that have a ``/brokers/topics/<t>/partitions/<p>`` znode."""
        ...

    async def get_topic_configs(self, topics: Collection[str]) -> dict[str, dict[str, str]]:
        """Each topic's overrides in ``/config/topics/<t>`` (empty if none)."""
        ...

    # -- partition states ------------------------------------------------------------------------
    async def get_topic_partition_states(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, LeaderIsrAndControllerEpoch]:
        """The state znodes that exist (``partition_epoch`` = the znode version)."""
        ...

    async def create_topic_partition_states(
        self,
        states: Mapping[TopicPartition, LeaderIsrAndControllerEpoch],
        epoch_zk_version: int,
    ) -> dict[TopicPartition, Exception | None]:
        """Create the state znodes (and their parents); None where created."""
        ...

    async def update_leader_and_isr(
        self,
        leader_and_isrs: Mapping[TopicPartition, LeaderAndIsr],
        controller_epoch: int,
        epoch_zk_version: int,
    ) -> UpdateLeaderAndIsrResult:
        """Write each state if its znode is still at ``partition_epoch`` (compare-and-set)."""
        ...

    # -- topic deletion --------------------------------------------------------------------------
    async def get_topic_deletions(self) -> set[str]: ...

    async def delete_topic_deletions(
        self, topics: Iterable[str], epoch_zk_version: int
    ) -> None: ...

    async def delete_topic_znode(self, topic: str, epoch_zk_version: int) -> None:
        """Delete ``/brokers/topics/<topic>`` and everything under it."""
        ...

    async def delete_topic_configs(self, topics: Iterable[str], epoch_zk_version: int) -> None: ...

    # -- /admin requests -------------------------------------------------------------------------
    async def get_partition_reassignment(self) -> dict[TopicPartition, list[int]]: ...

    async def set_or_create_partition_reassignment(
        self, reassignment: Mapping[TopicPartition, list[int]], epoch_zk_version: int
    ) -> None: ...

    async def delete_partition_reassignment(self, epoch_zk_version: int) -> None: ...

    async def reassign_partitions_in_progress(self) -> bool: ...

    async def get_preferred_replica_election(self) -> set[TopicPartition] | None:
        """The partitions in ``/admin/preferred_replica_election``; None if it is absent."""
        ...

    async def delete_preferred_replica_election(self, epoch_zk_version: int) -> None: ...

    # -- notifications ---------------------------------------------------------------------------
    async def get_all_log_dir_event_notifications(self) -> list[str]:
        """Sequence numbers of the ``log_dir_event_<seq>`` children."""
        ...

    async def get_broker_ids_from_log_dir_events(
        self, sequence_numbers: Iterable[str]
    ) -> list[int]: ...

    async def delete_log_dir_event_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None:
        """Delete the given notifications (None: all of them)."""
        ...

    async def get_all_isr_change_notifications(self) -> list[str]: ...

    async def get_partitions_from_isr_change_notifications(
        self, sequence_numbers: Iterable[str]
    ) -> list[TopicPartition]: ...

    async def delete_isr_change_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None: ...

    # -- watches (see the module docstring) ------------------------------------------------------
    def watch_session(self, on_expired: Signal, on_new_session: Signal) -> WatchHandle:
        """``on_expired`` when the ZooKeeper session expires (ephemerals gone), then
        ``on_new_session`` once a new session is established."""
        ...

    def watch_controller(self, on_change: Callable[[bool], None]) -> WatchHandle:
        """``on_change(exists)`` when ``/controller`` is created, changed or deleted."""
        ...

    def watch_broker_ids(self, on_change: Signal) -> WatchHandle: ...

    def watch_broker(self, broker_id: int, on_change: Signal) -> WatchHandle: ...

    def watch_topics(self, on_change: Signal) -> WatchHandle: ...

    def watch_topic(self, topic: str, on_change: Signal) -> WatchHandle: ...

    def watch_topic_deletions(self, on_change: Signal) -> WatchHandle: ...

    def watch_partition_reassignment(self, on_created: Signal) -> WatchHandle:
        """Fires when ``/admin/reassign_partitions`` is created (not on changes)."""
        ...

    def watch_preferred_replica_election(self, on_created: Signal) -> WatchHandle:
        """Fires when ``/admin/preferred_replica_election`` is created."""
        ...

    def watch_log_dir_event_notifications(self, on_change: Signal) -> WatchHandle: ...

    def watch_isr_change_notifications(self, on_change: Signal) -> WatchHandle: ...
