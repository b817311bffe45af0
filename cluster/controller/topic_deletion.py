"""Topic deletion (Kafka's ``TopicDeletionManager``).

A topic queued in ``/admin/delete_topics`` is deleted in steps, driven by the controller's
events: its partitions go Offline then NonExistent and every broker gets UpdateMetadata with
leader -2; each live replica goes Offline (StopReplica delete=false, out of the ISR) and then
DeletionStarted (StopReplica delete=true); each StopReplica answer marks the replica
DeletionSuccessful or DeletionIneligible. Once every replica is DeletionSuccessful the
topic's znodes go (``/brokers/topics/<t>`` recursively, ``/config/topics/<t>``,
``/admin/delete_topics/<t>``). A topic with a dead replica or a reassignment in flight is
ineligible and waits; it is retried when a broker comes back or the reassignment completes.
With ``delete.topic.enable=false`` deletion requests are removed and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from cluster.controller.config import ControllerConfig
from cluster.controller.context import ControllerContext
from cluster.controller.model import PartitionAndReplica, TopicPartition
from cluster.controller.partition_state_machine import PartitionStateMachine
from cluster.controller.replica_state_machine import ReplicaStateMachine
from cluster.controller.states import PartitionState, ReplicaState

log = logging.getLogger(__name__)


class DeletionClient(Protocol):
    """The controller operations topic deletion needs (Kafka's ``DeletionClient``)."""

    async def delete_topic(self, topic: str, epoch_zk_version: int) -> None: ...

    async def delete_topic_deletions(
        self, topics: Iterable[str], epoch_zk_version: int
    ) -> None: ...

    def mute_partition_modifications(self, topic: str) -> None: ...

    async def send_metadata_update(self, partitions: Iterable[TopicPartition]) -> None: ...


class TopicDeletionManager:
    """Drives topic deletion (see the module docstring)."""

    def __init__(
        self,
        config: ControllerConfig,
        context: ControllerContext,
        replica_state_machine: ReplicaStateMachine,
        partition_state_machine: PartitionStateMachine,
        client: DeletionClient,
    ) -> None:
        self.context = context
        self.replica_state_machine = replica_state_machine
        self.partition_state_machine = partition_state_machine
        self.client = client
        self.is_delete_topic_enabled = config.delete_topic_enable

    async def init(self, topics_to_be_deleted: set[str], ineligible: set[str]) -> None:
        if self.is_delete_topic_enabled:
            self.context.queue_topic_deletion(topics_to_be_deleted)
            self.context.topics_ineligible_for_deletion |= (
                ineligible & self.context.topics_to_be_deleted
            )
        else:
            log.info("Removing %s since delete topic is disabled", sorted(topics_to_be_deleted))
            await self.client.delete_topic_deletions(
                sorted(topics_to_be_deleted), self.context.epoch_zk_version
            )

    async def try_topic_deletion(self) -> None:
        if self.is_delete_topic_enabled:
            await self._resume_deletions()

    async def enqueue_topics_for_deletion(self, topics: set[str]) -> None:
        if self.is_delete_topic_enabled:
            self.context.queue_topic_deletion(topics)
            await self._resume_deletions()

    async def resume_deletion_for_topics(self, topics: set[str]) -> None:
        if not self.is_delete_topic_enabled:
            return
        resume = topics & self.context.topics_to_be_deleted
        if resume:
            self.context.topics_ineligible_for_deletion -= resume
            await self._resume_deletions()

    async def fail_replica_deletion(self, replicas: set[PartitionAndReplica]) -> None:
        if not self.is_delete_topic_enabled:
            return
        failed = {r for r in replicas if self.is_topic_queued_up_for_deletion(r.topic)}
        if failed:
            topics = {r.topic for r in failed}
            log.debug(
                "Deletion failed for replicas %s. Halting deletion for topics %s", failed, topics
            )
            await self.replica_state_machine.handle_state_changes(
                failed, ReplicaState.REPLICA_DELETION_INELIGIBLE
            )
            self.mark_topic_ineligible_for_deletion(topics, "replica deletion failure")
            await self._resume_deletions()

    def mark_topic_ineligible_for_deletion(self, topics: set[str], reason: str) -> None:
        if not self.is_delete_topic_enabled:
            return
        halted = self.context.topics_to_be_deleted & topics
        self.context.topics_ineligible_for_deletion |= halted
        if halted:
            log.info("Halted deletion of topics %s due to %s", ",".join(sorted(halted)), reason)

    def is_topic_queued_up_for_deletion(self, topic: str) -> bool:
        return self.is_delete_topic_enabled and self.context.is_topic_queued_up_for_deletion(topic)

    async def complete_replica_deletion(self, replicas: set[PartitionAndReplica]) -> None:
        deleted = {r for r in replicas if self.is_topic_queued_up_for_deletion(r.topic)}
        log.debug("Deletion successfully completed for replicas %s", deleted)
        await self.replica_state_machine.handle_state_changes(
            deleted, ReplicaState.REPLICA_DELETION_SUCCESSFUL
        )
        await self._resume_deletions()

    # -- internals -------------------------------------------------------------------------------
    def _is_topic_ineligible_for_deletion(self, topic: str) -> bool:
        return (
            topic in self.context.topics_ineligible_for_deletion
            if self.is_delete_topic_enabled
            else True
        )

    def _is_topic_deletion_in_progress(self, topic: str) -> bool:
        return self.is_delete_topic_enabled and self.context.is_any_replica_in_state(
            topic, ReplicaState.REPLICA_DELETION_STARTED
        )

    def _is_topic_eligible_for_deletion(self, topic: str) -> bool:
        return (
            self.context.is_topic_queued_up_for_deletion(topic)
            and not self._is_topic_deletion_in_progress(topic)
            and not self._is_topic_ineligible_for_deletion(topic)
        )

    async def _retry_deletion_for_ineligible_replicas(self, topics: set[str]) -> None:
        failed = {
            r
            for topic in topics
            for r in self.context.replicas_in_state(topic, ReplicaState.REPLICA_DELETION_INELIGIBLE)
        }
        log.debug(
            "Retrying deletion of topics %s since replicas %s were not deleted", topics, failed
        )
        await self.replica_state_machine.handle_state_changes(failed, ReplicaState.OFFLINE_REPLICA)

    async def _complete_delete_topic(self, topic: str) -> None:
        # Stop following the topic's znode first, so a re-created topic is seen as new.
        self.client.mute_partition_modifications(topic)
        deleted = self.context.replicas_in_state(topic, ReplicaState.REPLICA_DELETION_SUCCESSFUL)
        await self.replica_state_machine.handle_state_changes(
            deleted, ReplicaState.NON_EXISTENT_REPLICA
        )
        await self.client.delete_topic(topic, self.context.epoch_zk_version)
        self.context.remove_topic(topic)

    async def _on_topic_deletion(self, topics: set[str]) -> None:
        context = self.context
        unseen = topics - context.topics_with_deletion_started
        if unseen:
            partitions = sorted(tp for t in unseen for tp in context.partitions_for_topic(t))
            psm = self.partition_state_machine
            await psm.handle_state_changes(partitions, PartitionState.OFFLINE_PARTITION)
            await psm.handle_state_changes(partitions, PartitionState.NON_EXISTENT_PARTITION)
            # After the partition moves, so the offline-partition gauge stays right.
            context.begin_topic_deletion(unseen)
        # UpdateMetadata (leader -2) so brokers stop serving the topic.
        await self.client.send_metadata_update(
            sorted(tp for t in topics for tp in context.partitions_for_topic(t))
        )
        await self._on_partition_deletion(topics)

    async def _on_partition_deletion(self, topics: set[str]) -> None:
        context = self.context
        dead: list[PartitionAndReplica] = []
        retry: list[PartitionAndReplica] = []
        ineligible: set[str] = set()
        for topic in sorted(topics):
            replicas = context.replicas_for_topic(topic)
            alive = {r for r in replicas if context.is_replica_online(r.replica, r.topic_partition)}
            dead_here = replicas - alive
            deleted = context.replicas_in_state(topic, ReplicaState.REPLICA_DELETION_SUCCESSFUL)
            dead.extend(dead_here)
            retry.extend(alive - deleted)
            if dead_here:
                log.debug("Dead Replicas (%s) found for topic %s", dead_here, topic)
                ineligible.add(topic)
        rsm = self.replica_state_machine
        await rsm.handle_state_changes(dead, ReplicaState.REPLICA_DELETION_INELIGIBLE)
        # Followers stop fetching before their logs are deleted.
        await rsm.handle_state_changes(retry, ReplicaState.OFFLINE_REPLICA)
        await rsm.handle_state_changes(retry, ReplicaState.REPLICA_DELETION_STARTED)
        if ineligible:
            self.mark_topic_ineligible_for_deletion(ineligible, "offline replicas")

    async def _resume_deletions(self) -> None:
        context = self.context
        queued = set(context.topics_to_be_deleted)
        retry: set[str] = set()
        eligible: set[str] = set()
        if queued:
            log.info("Handling deletion for topics %s", ",".join(sorted(queued)))
        for topic in sorted(queued):
            if context.are_all_replicas_in_state(topic, ReplicaState.REPLICA_DELETION_SUCCESSFUL):
                await self._complete_delete_topic(topic)
                log.info("Deletion of topic %s successfully completed", topic)
            elif not context.is_any_replica_in_state(
                topic, ReplicaState.REPLICA_DELETION_STARTED
            ) and context.is_any_replica_in_state(topic, ReplicaState.REPLICA_DELETION_INELIGIBLE):
                retry.add(topic)
            if self._is_topic_eligible_for_deletion(topic):
                log.info("Deletion of topic %s (re)started", topic)
                eligible.add(topic)
        if retry:
            await self._retry_deletion_for_ineligible_replicas(retry)
        if eligible:
            await self._on_topic_deletion(eligible)
