"""ControllerContext: the active controller's in-memory view of the cluster.

It is Kafka's ``ControllerContext``: live brokers with their epochs (the czxid of each
``/brokers/ids/<id>`` znode), brokers in controlled shutdown, topics with ids and replica
assignments, the leadership of every partition as last written to ZooKeeper, the state of
every partition and replica in the state machines, replicas on offline log directories,
reassignments in flight and the topic-deletion queue. It is filled from ZooKeeper on failover
and changed only by the controller's event loop (not safe to use from other tasks).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cluster.controller.model import (
    EMPTY_ASSIGNMENT,
    EPOCH_DURING_DELETE,
    NO_EPOCH,
    LeaderIsrAndControllerEpoch,
    PartitionAndReplica,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.states import PartitionState, ReplicaState
from cluster.metadata import BrokerRegistration

INITIAL_CONTROLLER_EPOCH = 0
INITIAL_CONTROLLER_EPOCH_ZK_VERSION = 0


@dataclass(slots=True)
class ControllerStats:
    """The gauges Kafka's controller keeps up to date as partitions change."""

    offline_partition_count: int = 0
    preferred_replica_imbalance_count: int = 0
    unclean_leader_elections: int = 0


class ControllerContext:
    """The controller's cache of cluster state (see the module docstring)."""

    def __init__(self) -> None:
        self.stats = ControllerStats()
        self.shutting_down_broker_ids: set[int] = set()
        self._live_brokers: dict[int, BrokerRegistration] = {}
        self._live_broker_epochs: dict[int, int] = {}
        self.epoch = INITIAL_CONTROLLER_EPOCH
        self.epoch_zk_version = INITIAL_CONTROLLER_EPOCH_ZK_VERSION

        self.all_topics: set[str] = set()
        self.topic_ids: dict[str, uuid.UUID] = {}
        self.topic_names: dict[uuid.UUID, str] = {}
        self.partition_assignments: dict[str, dict[int, ReplicaAssignment]] = {}
        self._leadership: dict[TopicPartition, LeaderIsrAndControllerEpoch] = {}
        self.partitions_being_reassigned: set[TopicPartition] = set()
        self.partition_states: dict[TopicPartition, PartitionState] = {}
        self.replica_states: dict[PartitionAndReplica, ReplicaState] = {}
        self.replicas_on_offline_dirs: dict[int, set[TopicPartition]] = {}

        self.topics_to_be_deleted: set[str] = set()
        # Topics whose partitions already moved to NON_EXISTENT: no longer counted offline.
        self.topics_with_deletion_started: set[str] = set()
        self.topics_ineligible_for_deletion: set[str] = set()

    # -- reset -----------------------------------------------------------------------------------
    def _clear_topics_state(self) -> None:
        self.all_topics.clear()
        self.topic_ids.clear()
        self.topic_names.clear()
        self.partition_assignments.clear()
        self._leadership.clear()
        self.partitions_being_reassigned.clear()
        self.replicas_on_offline_dirs.clear()
        self.partition_states.clear()
        self.stats.offline_partition_count = 0
        self.stats.preferred_replica_imbalance_count = 0
        self.replica_states.clear()

    def reset(self) -> None:
        """Forget everything (on resignation)."""
        self.topics_to_be_deleted.clear()
        self.topics_with_deletion_started.clear()
        self.topics_ineligible_for_deletion.clear()
        self.shutting_down_broker_ids.clear()
        self.epoch = 0
        self.epoch_zk_version = 0
        self._clear_topics_state()
        self._live_brokers.clear()
        self._live_broker_epochs.clear()

    # -- brokers ---------------------------------------------------------------------------------
    def set_live_brokers(self, broker_and_epochs: Mapping[BrokerRegistration, int]) -> None:
        self._live_brokers.clear()
        self._live_broker_epochs.clear()
        self.add_live_brokers(broker_and_epochs)

    def add_live_brokers(self, broker_and_epochs: Mapping[BrokerRegistration, int]) -> None:
        for broker, epoch in broker_and_epochs.items():
            self._live_brokers[broker.broker_id] = broker
            self._live_broker_epochs[broker.broker_id] = epoch

    def remove_live_brokers(self, broker_ids: Iterable[int]) -> None:
        for broker_id in broker_ids:
            self._live_brokers.pop(broker_id, None)
            self._live_broker_epochs.pop(broker_id, None)

    def update_broker_metadata(self, new: BrokerRegistration) -> None:
        self._live_brokers[new.broker_id] = new

    @property
    def live_broker_ids(self) -> set[int]:
        """Registered brokers that are not shutting down."""
        return set(self._live_broker_epochs) - self.shutting_down_broker_ids

    def is_live_broker(self, broker_id: int) -> bool:
        return broker_id in self._live_broker_epochs and (
            broker_id not in self.shutting_down_broker_ids
        )

    @property
    def live_or_shutting_down_broker_ids(self) -> set[int]:
        return set(self._live_broker_epochs)

    @property
    def live_or_shutting_down_brokers(self) -> list[BrokerRegistration]:
        return [self._live_brokers[b] for b in sorted(self._live_brokers)]

    @property
    def live_broker_id_and_epochs(self) -> Mapping[int, int]:
        return self._live_broker_epochs

    def live_or_shutting_down_broker(self, broker_id: int) -> BrokerRegistration | None:
        return self._live_brokers.get(broker_id)

    # -- topics and assignments ------------------------------------------------------------------
    def set_all_topics(self, topics: Iterable[str]) -> None:
        self.all_topics = set(topics)

    def add_topic_id(self, topic: str, topic_id: uuid.UUID) -> None:
        if topic not in self.all_topics:
            raise ValueError(f"topic {topic} is not contained in all topics.")
        existing = self.topic_ids.get(topic)
        if existing is not None and existing != topic_id:
            raise ValueError(
                f"topic ID map already contained ID for topic {topic} and new ID {topic_id} "
                f"did not match existing ID {existing}"
            )
        existing_name = self.topic_names.get(topic_id)
        if existing_name is not None and existing_name != topic:
            raise ValueError(
                f"topic name map already contained ID {topic_id} and new name {topic} did not "
                f"match existing name {existing_name}"
            )
        self.topic_ids[topic] = topic_id
        self.topic_names[topic_id] = topic

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        return self.topic_names.get(topic_id)

    def partition_replica_assignment(self, tp: TopicPartition) -> tuple[int, ...]:
        assignment = self.partition_assignments.get(tp.topic, {}).get(tp.partition)
        return assignment.replicas if assignment is not None else ()

    def partition_full_replica_assignment(self, tp: TopicPartition) -> ReplicaAssignment:
        return self.partition_assignments.get(tp.topic, {}).get(tp.partition, EMPTY_ASSIGNMENT)

    def update_partition_full_replica_assignment(
        self, tp: TopicPartition, assignment: ReplicaAssignment
    ) -> None:
        assignments = self.partition_assignments.setdefault(tp.topic, {})
        previous = assignments.get(tp.partition)
        assignments[tp.partition] = assignment
        leadership = self._leadership.get(tp)
        self._update_imbalance(tp, previous, leadership, assignment, leadership)

    def partition_full_replica_assignment_for_topic(
        self, topic: str
    ) -> dict[TopicPartition, ReplicaAssignment]:
        return {
            TopicPartition(topic, p): a
            for p, a in sorted(self.partition_assignments.get(topic, {}).items())
        }

    @property
    def all_partitions(self) -> set[TopicPartition]:
        return {
            TopicPartition(topic, p)
            for topic, assignments in self.partition_assignments.items()
            for p in assignments
        }

    def partitions_for_topic(self, topic: str) -> set[TopicPartition]:
        return {TopicPartition(topic, p) for p in self.partition_assignments.get(topic, {})}

    def partitions_on_broker(self, broker_id: int) -> set[TopicPartition]:
        return {
            TopicPartition(topic, p)
            for topic, assignments in self.partition_assignments.items()
            for p, a in assignments.items()
            if broker_id in a.replicas
        }

    def replicas_on_brokers(self, broker_ids: Iterable[int]) -> set[PartitionAndReplica]:
        wanted = set(broker_ids)
        return {
            PartitionAndReplica(TopicPartition(topic, p), r)
            for topic, assignments in self.partition_assignments.items()
            for p, a in assignments.items()
            for r in a.replicas
            if r in wanted
        }

    def replicas_for_topic(self, topic: str) -> set[PartitionAndReplica]:
        return {
            PartitionAndReplica(TopicPartition(topic, p), r)
            for p, a in self.partition_assignments.get(topic, {}).items()
            for r in a.replicas
        }

    def replicas_for_partitions(
        self, partitions: Iterable[TopicPartition]
    ) -> set[PartitionAndReplica]:
        return {
            PartitionAndReplica(tp, r)
            for tp in partitions
            for r in self.partition_replica_assignment(tp)
        }

    def is_replica_online(
        self, broker_id: int, tp: TopicPartition, include_shutting_down_brokers: bool = False
    ) -> bool:
        online = (
            broker_id in self._live_broker_epochs
            if include_shutting_down_brokers
            else self.is_live_broker(broker_id)
        )
        return online and tp not in self.replicas_on_offline_dirs.get(broker_id, ())

    def online_and_offline_replicas(
        self,
    ) -> tuple[set[PartitionAndReplica], set[PartitionAndReplica]]:
        online: set[PartitionAndReplica] = set()
        offline: set[PartitionAndReplica] = set()
        for topic, assignments in self.partition_assignments.items():
            for p, a in assignments.items():
                tp = TopicPartition(topic, p)
                for r in a.replicas:
                    (online if self.is_replica_online(r, tp) else offline).add(
                        PartitionAndReplica(tp, r)
                    )
        return online, offline

    def remove_topic(self, topic: str) -> None:
        if topic not in self.topics_to_be_deleted:
            self._clean_imbalance(topic)
        self.topics_to_be_deleted.discard(topic)
        self.topics_with_deletion_started.discard(topic)
        self.all_topics.discard(topic)
        topic_id = self.topic_ids.pop(topic, None)
        if topic_id is not None:
            self.topic_names.pop(topic_id, None)
        assignments = self.partition_assignments.pop(topic, None)
        if assignments is not None:
            for p in assignments:
                self._leadership.pop(TopicPartition(topic, p), None)

    # -- topic deletion --------------------------------------------------------------------------
    def queue_topic_deletion(self, topics: Iterable[str]) -> None:
        new = set(topics) - self.topics_to_be_deleted
        self.topics_to_be_deleted |= new
        for topic in new:
            self._clean_imbalance(topic)

    def begin_topic_deletion(self, topics: Iterable[str]) -> None:
        self.topics_with_deletion_started |= set(topics)

    def is_topic_deletion_in_progress(self, topic: str) -> bool:
        return topic in self.topics_with_deletion_started

    def is_topic_queued_up_for_deletion(self, topic: str) -> bool:
        return topic in self.topics_to_be_deleted

    def is_topic_eligible_for_deletion(self, topic: str) -> bool:
        return topic in self.topics_to_be_deleted and (
            topic not in self.topics_ineligible_for_deletion
        )

    # -- replica states --------------------------------------------------------------------------
    def replicas_in_state(self, topic: str, state: ReplicaState) -> set[PartitionAndReplica]:
        return {r for r in self.replicas_for_topic(topic) if self.replica_states.get(r) is state}

    def are_all_replicas_in_state(self, topic: str, state: ReplicaState) -> bool:
        return all(self.replica_states.get(r) is state for r in self.replicas_for_topic(topic))

    def is_any_replica_in_state(self, topic: str, state: ReplicaState) -> bool:
        return any(self.replica_states.get(r) is state for r in self.replicas_for_topic(topic))

    def put_replica_state(self, replica: PartitionAndReplica, state: ReplicaState) -> None:
        self.replica_states[replica] = state

    def put_replica_state_if_not_exists(
        self, replica: PartitionAndReplica, state: ReplicaState
    ) -> None:
        self.replica_states.setdefault(replica, state)

    def remove_replica_state(self, replica: PartitionAndReplica) -> None:
        self.replica_states.pop(replica, None)

    def replica_state(self, replica: PartitionAndReplica) -> ReplicaState:
        return self.replica_states[replica]

    # -- partition states ------------------------------------------------------------------------
    def put_partition_state(self, tp: TopicPartition, target: PartitionState) -> None:
        current = self.partition_states.get(tp, PartitionState.NON_EXISTENT_PARTITION)
        self.partition_states[tp] = target
        self._update_offline_count(tp, current, target)

    def put_partition_state_if_not_exists(self, tp: TopicPartition, state: PartitionState) -> None:
        if tp not in self.partition_states:
            self.partition_states[tp] = state
            self._update_offline_count(tp, PartitionState.NON_EXISTENT_PARTITION, state)

    def _update_offline_count(
        self, tp: TopicPartition, current: PartitionState, target: PartitionState
    ) -> None:
        if self.is_topic_deletion_in_progress(tp.topic):
            return
        offline = PartitionState.OFFLINE_PARTITION
        if current is not offline and target is offline:
            self.stats.offline_partition_count += 1
        elif current is offline and target is not offline:
            self.stats.offline_partition_count -= 1

    def partition_state(self, tp: TopicPartition) -> PartitionState:
        return self.partition_states[tp]

    def partitions_in_states(
        self, states: Iterable[PartitionState], topic: str | None = None
    ) -> set[TopicPartition]:
        wanted = set(states)
        if topic is None:
            return {tp for tp, s in self.partition_states.items() if s in wanted}
        return {
            tp for tp in self.partitions_for_topic(topic) if self.partition_states.get(tp) in wanted
        }

    # -- leadership ------------------------------------------------------------------------------
    def put_partition_leadership_info(
        self, tp: TopicPartition, info: LeaderIsrAndControllerEpoch
    ) -> None:
        previous = self._leadership.get(tp)
        self._leadership[tp] = info
        assignment = self.partition_full_replica_assignment(tp)
        self._update_imbalance(tp, assignment, previous, assignment, info)

    def partition_leadership_info(self, tp: TopicPartition) -> LeaderIsrAndControllerEpoch | None:
        return self._leadership.get(tp)

    @property
    def partitions_leadership_info(self) -> Mapping[TopicPartition, LeaderIsrAndControllerEpoch]:
        return self._leadership

    def clear_partition_leadership_info(self) -> None:
        self._leadership.clear()

    def leader_epoch(self, tp: TopicPartition) -> int:
        """The leader epoch sent in StopReplica: -2 for a topic queued for deletion."""
        if self.is_topic_queued_up_for_deletion(tp.topic):
            return EPOCH_DURING_DELETE
        info = self._leadership.get(tp)
        return info.leader_and_isr.leader_epoch if info is not None else NO_EPOCH

    @property
    def partitions_with_leaders(self) -> set[TopicPartition]:
        return {tp for tp in self._leadership if not self.is_topic_queued_up_for_deletion(tp.topic)}

    @property
    def partitions_with_offline_leader(self) -> set[TopicPartition]:
        return {
            tp
            for tp, info in self._leadership.items()
            if not self.is_replica_online(info.leader_and_isr.leader, tp)
            and not self.is_topic_queued_up_for_deletion(tp.topic)
        }

    def partition_leaders_on_broker(self, broker_id: int) -> set[TopicPartition]:
        """Partitions (with more than one replica) that ``broker_id`` leads."""
        return {
            tp
            for tp, info in self._leadership.items()
            if not self.is_topic_queued_up_for_deletion(tp.topic)
            and info.leader_and_isr.leader == broker_id
            and len(self.partition_replica_assignment(tp)) > 1
        }

    # -- preferred replica imbalance gauge -------------------------------------------------------
    def _update_imbalance(
        self,
        tp: TopicPartition,
        old_assignment: ReplicaAssignment | None,
        old_leadership: LeaderIsrAndControllerEpoch | None,
        new_assignment: ReplicaAssignment | None,
        new_leadership: LeaderIsrAndControllerEpoch | None,
    ) -> None:
        if self.is_topic_queued_up_for_deletion(tp.topic):
            return
        stats = self.stats
        if (
            old_assignment
            and old_leadership
            and not _has_preferred_leader(old_assignment, old_leadership)
        ):
            stats.preferred_replica_imbalance_count -= 1
        if (
            new_assignment
            and new_leadership
            and not _has_preferred_leader(new_assignment, new_leadership)
        ):
            stats.preferred_replica_imbalance_count += 1

    def _clean_imbalance(self, topic: str) -> None:
        for p, assignment in self.partition_assignments.get(topic, {}).items():
            info = self._leadership.get(TopicPartition(topic, p))
            if info is not None and not _has_preferred_leader(assignment, info):
                self.stats.preferred_replica_imbalance_count -= 1


def _has_preferred_leader(
    assignment: ReplicaAssignment, leadership: LeaderIsrAndControllerEpoch
) -> bool:
    if not assignment.replicas:
        return True
    preferred = assignment.replicas[0]
    if assignment.is_being_reassigned and preferred in assignment.adding_replicas:
        # Not imbalanced until the new preferred replica has joined the ISR.
        return preferred not in leadership.leader_and_isr.isr
    return leadership.leader_and_isr.leader == preferred
