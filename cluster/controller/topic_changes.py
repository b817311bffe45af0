"""Topic changes as Kafka's controller handles them: new topics (``/brokers/topics``
children), new partitions (a topic znode's data), deletion requests
(``/admin/delete_topics``) and the StopReplica answers that move a deletion on.

A new partition goes NonExistent -> New -> Online (leader = first live replica, ISR = live
replicas) and its replicas New -> Online. Partitions added to a topic queued for deletion are
refused: the topic znode is rewritten without them. Deletion itself is
:class:`~cluster.controller.topic_deletion.TopicDeletionManager`'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cluster.controller.election import ElectionStrategy
from cluster.controller.events import TopicDeletionStopReplicaResponseReceived
from cluster.controller.model import PartitionAndReplica, TopicPartition
from cluster.controller.states import PartitionState, ReplicaState
from protocol.errors import ErrorCode

if TYPE_CHECKING:
    from cluster.controller.core import ControllerCore

log = logging.getLogger(__name__)


class TopicChanges:
    """The topic part of the controller (see the module docstring)."""

    def __init__(self, core: ControllerCore) -> None:
        self.core = core

    async def process_topic_change(self) -> None:
        if not self.core.is_active:
            return
        context = self.core.context
        topics = await self.core.zk.get_all_topics()
        new_topics = topics - context.all_topics
        deleted = context.all_topics - topics
        context.set_all_topics(topics)
        for topic in sorted(new_topics):
            self.core.watch_topic(topic)
        added = await self.core.zk.get_replica_assignment_and_topic_ids(sorted(new_topics))
        for topic in deleted:
            context.remove_topic(topic)
            self.core.unwatch_topic(topic)
        await self.core.process_topic_ids(added)
        new_partitions: set[TopicPartition] = set()
        for topic_assignment in added:
            for p, assignment in topic_assignment.assignment.items():
                tp = TopicPartition(topic_assignment.topic, p)
                context.update_partition_full_replica_assignment(tp, assignment)
                new_partitions.add(tp)
        log.info("New topics: %s, deleted topics: %s", sorted(new_topics), sorted(deleted))
        if new_partitions:
            await self.on_new_partition_creation(new_partitions)

    async def on_new_partition_creation(self, partitions: set[TopicPartition]) -> None:
        log.info("New partition creation callback for %s", ",".join(map(str, sorted(partitions))))
        ordered = sorted(partitions)
        replicas = self.core.context.replicas_for_partitions(ordered)
        psm = self.core.partition_state_machine
        rsm = self.core.replica_state_machine
        await psm.handle_state_changes(ordered, PartitionState.NEW_PARTITION)
        await rsm.handle_state_changes(replicas, ReplicaState.NEW_REPLICA)
        await psm.handle_state_changes(
            ordered, PartitionState.ONLINE_PARTITION, ElectionStrategy.OFFLINE
        )
        await rsm.handle_state_changes(replicas, ReplicaState.ONLINE_REPLICA)

    async def process_partition_modifications(self, topic: str) -> None:
        if not self.core.is_active:
            return
        context = self.core.context
        found_list = await self.core.zk.get_replica_assignment_and_topic_ids([topic])
        if not found_list:
            return
        found = found_list[0]
        to_add = {
            TopicPartition(topic, p): a
            for p, a in found.assignment.items()
            if not context.partition_replica_assignment(TopicPartition(topic, p))
        }
        if self.core.topic_deletion_manager.is_topic_queued_up_for_deletion(topic):
            if to_add:
                log.warning(
                    "Skipping adding partitions %s for topic %s since it is currently being "
                    "deleted",
                    ",".join(str(tp.partition) for tp in sorted(to_add)),
                    topic,
                )
                existing = set(await self.core.zk.get_topic_partitions(topic))
                restored = {
                    p: context.partition_full_replica_assignment(TopicPartition(topic, p))
                    for p in found.assignment
                    if p in existing
                }
                await self.core.zk.set_topic_assignment(
                    topic, context.topic_ids.get(topic), restored, context.epoch_zk_version
                )
            return
        if to_add:
            log.info("New partitions to be added %s", {str(tp): a for tp, a in to_add.items()})
            for tp, assignment in to_add.items():
                context.update_partition_full_replica_assignment(tp, assignment)
            await self.on_new_partition_creation(set(to_add))

    async def process_topic_deletion(self) -> None:
        if not self.core.is_active:
            return
        context = self.core.context
        to_delete = await self.core.zk.get_topic_deletions()
        non_existent = to_delete - context.all_topics
        if non_existent:
            log.warning("Ignoring request to delete non-existing topics %s", sorted(non_existent))
            await self.core.zk.delete_topic_deletions(
                sorted(non_existent), context.epoch_zk_version
            )
        to_delete -= non_existent
        deletion = self.core.topic_deletion_manager
        if self.core.config.delete_topic_enable:
            if to_delete:
                log.info("Starting topic deletion for topics %s", ",".join(sorted(to_delete)))
                reassigning = {tp.topic for tp in context.partitions_being_reassigned}
                for topic in to_delete & reassigning:
                    deletion.mark_topic_ineligible_for_deletion(
                        {topic}, "topic reassignment in progress"
                    )
                await deletion.enqueue_topics_for_deletion(to_delete)
        else:
            log.info("Removing %s since delete topic is disabled", sorted(to_delete))
            await self.core.zk.delete_topic_deletions(sorted(to_delete), context.epoch_zk_version)

    async def process_topic_deletion_stop_replica_response(
        self, event: TopicDeletionStopReplicaResponseReceived
    ) -> None:
        if not self.core.is_active:
            return
        errors = event.partition_errors
        if event.request_error != ErrorCode.none:
            in_error = set(errors)
        else:
            in_error = {tp for tp, e in errors.items() if e != ErrorCode.none}
        deletion = self.core.topic_deletion_manager
        await deletion.fail_replica_deletion(
            {PartitionAndReplica(tp, event.replica_id) for tp in in_error}
        )
        if len(in_error) != len(errors):
            deleted = set(errors) - in_error
            await deletion.complete_replica_deletion(
                {PartitionAndReplica(tp, event.replica_id) for tp in deleted}
            )
