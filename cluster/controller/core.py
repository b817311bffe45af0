"""ControllerCore: the body of Kafka's ZooKeeper-mode ``KafkaController``.

It runs every :mod:`event <cluster.controller.events>` on the event manager's single task:

* election - ``/controller`` is an ephemeral znode; the broker that creates it (in one
  multi-op with the increment of ``/controller_epoch``) is the controller. Deletion of
  ``/controller`` makes every broker try again; session expiry makes the controller resign.
* failover - the new controller watches brokers, topics and the ``/admin`` requests, reads the
  whole cluster from ZooKeeper, sends UpdateMetadata to every broker, starts the replica and
  partition state machines (LeaderAndIsr to every replica, leaders elected for offline
  partitions), resumes reassignments, topic deletions and preferred elections, and schedules
  the automatic leader rebalance.
* broker, topic and notification changes, and the brokers' answers.

Topic changes live in :mod:`cluster.controller.topic_changes`, reassignments in
:mod:`cluster.controller.reassignment`; controlled shutdown,
AlterPartition, leader elections and the leader rebalance in
:mod:`cluster.controller.operations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping

from cluster.controller.batch import (
    ControllerBrokerRequestBatch,
    ControlResponse,
    IllegalBatchState,
)
from cluster.controller.channel import ChannelFactory, ControllerChannelManager
from cluster.controller.config import ControllerConfig
from cluster.controller.context import ControllerContext
from cluster.controller.events import (
    AllocateProducerIds,
    AlterPartitionReceived,
    ApiPartitionReassignment,
    AutoPreferredReplicaLeaderElection,
    BrokerChange,
    BrokerModifications,
    ControlledShutdown,
    ControllerChange,
    ControllerEvent,
    ControllerEventManager,
    ElectionTrigger,
    ElectionType,
    Expire,
    IsrChangeNotification,
    LeaderAndIsrResponseReceived,
    ListPartitionReassignments,
    LogDirEventNotification,
    PartitionModifications,
    Reelect,
    ReplicaLeaderElection,
    Startup,
    TopicChange,
    TopicDeletion,
    TopicDeletionStopReplicaResponseReceived,
    TopicUncleanLeaderElectionEnable,
    UncleanLeaderElectionEnable,
    UpdateMetadataResponseReceived,
    ZkPartitionReassignment,
)
from cluster.controller.model import PartitionAndReplica, TopicPartition
from cluster.controller.operations import ControllerOperations
from cluster.controller.partition_state_machine import PartitionStateMachine
from cluster.controller.reassignment import PartitionReassignments
from cluster.controller.replica_state_machine import ReplicaStateMachine
from cluster.controller.states import PartitionState, ReplicaState
from cluster.controller.topic_changes import TopicChanges
from cluster.controller.topic_deletion import TopicDeletionManager
from cluster.controller.zk_client import (
    ControllerMovedError,
    ControllerZkClient,
    TopicIdReplicaAssignment,
    WatchHandle,
)
from cluster.metadata import BrokerRegistration
from cluster.zk.errors import ZooKeeperError
from protocol.errors import ErrorCode
from storage.clock import Clock

log = logging.getLogger(__name__)

ZK_RETRY_BACKOFF_S = 1.0
CONTROLLER_MOVE_ATTEMPTS = 60


class ControllerCore:
    """Processes controller events (see the module docstring). Not thread-safe: only the
    event manager's task calls :meth:`process`."""

    def __init__(
        self,
        broker_id: int,
        zk: ControllerZkClient,
        config: ControllerConfig,
        channel_factory: ChannelFactory,
        clock: Clock,
    ) -> None:
        self.broker_id = broker_id
        self.zk = zk
        self.config = config
        self.clock = clock
        self.context = ControllerContext()
        self.channel_manager = ControllerChannelManager(
            broker_id,
            channel_factory,
            config.controller_socket_timeout_ms,
            config.controller_request_retry_backoff_ms,
        )
        self.event_manager = ControllerEventManager(broker_id, self)
        self.batch = self._new_batch()
        self.replica_state_machine = ReplicaStateMachine(
            broker_id, self.context, zk, self._new_batch()
        )
        self.partition_state_machine = PartitionStateMachine(
            broker_id, config, self.context, zk, self._new_batch()
        )
        self.topic_deletion_manager = TopicDeletionManager(
            config, self.context, self.replica_state_machine, self.partition_state_machine, self
        )
        self.reassignments = PartitionReassignments(self)
        self.topics = TopicChanges(self)
        self.operations = ControllerOperations(self)
        self.active_controller_id = -1
        self._controller_watch: WatchHandle | None = None
        self._session_watch: WatchHandle | None = None
        self._watches: list[WatchHandle] = []
        self._broker_watches: dict[int, WatchHandle] = {}
        self._topic_watches: dict[str, WatchHandle] = {}
        self._rebalance_task: asyncio.Task[None] | None = None

    def _new_batch(self) -> ControllerBrokerRequestBatch:
        return ControllerBrokerRequestBatch(
            self.broker_id,
            self.context,
            self.channel_manager,
            self,
            self.config.inter_broker_listener_name,
        )

    @property
    def is_active(self) -> bool:
        return self.active_controller_id == self.broker_id

    def _put(self, event: ControllerEvent) -> None:
        self.event_manager.put(event)

    def reconfigure(self, config: ControllerConfig) -> None:
        """Take new settings (dynamic broker config); used by the next events."""
        self.config = config
        self.partition_state_machine.config = config
        self.topic_deletion_manager.is_delete_topic_enabled = config.delete_topic_enable

    # -- event dispatch --------------------------------------------------------------------------
    async def process(self, event: ControllerEvent) -> None:
        try:
            await self._dispatch(event)
        except ControllerMovedError as exc:
            log.info("Controller moved to another broker when processing %s: %s", event.name, exc)
            await self.maybe_resign()
        except ZooKeeperError as exc:
            # The ZooKeeper client retries until the session ends: this one ended mid-event.
            log.error("ZooKeeper error processing %s: %s", event.name, exc)
        except Exception:
            log.exception("Error processing event %s", event.name)

    async def _dispatch(self, event: ControllerEvent) -> None:
        ops = self.operations
        reassignments = self.reassignments
        if isinstance(event, Startup):
            await self._process_startup()
        elif isinstance(event, ControllerChange):
            await self.maybe_resign()
        elif isinstance(event, Reelect):
            await self.maybe_resign()
            await self._elect()
        elif isinstance(event, Expire):
            self.active_controller_id = -1
            await self.on_controller_resignation()
        elif isinstance(event, BrokerChange):
            await self._process_broker_change()
        elif isinstance(event, BrokerModifications):
            await self._process_broker_modification(event.broker_id)
        elif isinstance(event, TopicChange):
            await self.topics.process_topic_change()
        elif isinstance(event, PartitionModifications):
            await self.topics.process_partition_modifications(event.topic)
        elif isinstance(event, TopicDeletion):
            await self.topics.process_topic_deletion()
        elif isinstance(event, LogDirEventNotification):
            await self._process_log_dir_event_notification()
        elif isinstance(event, IsrChangeNotification):
            await self._process_isr_change_notification()
        elif isinstance(event, LeaderAndIsrResponseReceived):
            await self._process_leader_and_isr_response(event.response, event.broker_id)
        elif isinstance(event, UpdateMetadataResponseReceived):
            if self.is_active and event.response.error_code != ErrorCode.none:
                log.error(
                    "Received error %s in UpdateMetadata response from broker %d",
                    event.response.error_code.name,
                    event.broker_id,
                )
        elif isinstance(event, TopicDeletionStopReplicaResponseReceived):
            await self.topics.process_topic_deletion_stop_replica_response(event)
        elif isinstance(event, UncleanLeaderElectionEnable):
            if self.is_active:
                log.info("Unclean leader election has been enabled by default")
                await self.partition_state_machine.trigger_online_partition_state_change()
        elif isinstance(event, TopicUncleanLeaderElectionEnable):
            if self.is_active:
                log.info("Unclean leader election has been enabled for topic %s", event.topic)
                await self.partition_state_machine.trigger_online_partition_state_change(
                    event.topic
                )
        elif isinstance(event, AutoPreferredReplicaLeaderElection):
            await ops.process_auto_preferred_replica_leader_election()
        elif isinstance(event, ReplicaLeaderElection):
            await ops.process_replica_leader_election(event)
        elif isinstance(event, ControlledShutdown):
            await ops.process_controlled_shutdown(event)
        elif isinstance(event, AllocateProducerIds):
            await ops.process_allocate_producer_ids(event)
        elif isinstance(event, AlterPartitionReceived):
            await ops.process_alter_partition(event)
        elif isinstance(event, ZkPartitionReassignment):
            await reassignments.process_zk_partition_reassignment()
        elif isinstance(event, ApiPartitionReassignment):
            await reassignments.process_api_partition_reassignment(event)
        elif isinstance(event, ListPartitionReassignments):
            reassignments.process_list_partition_reassignments(event)
        else:
            log.error("Unknown controller event %s", event.name)

    # -- election --------------------------------------------------------------------------------
    async def _process_startup(self) -> None:
        self._controller_watch = self.zk.watch_controller(self._on_controller_znode)
        self._session_watch = self.zk.watch_session(self._on_session_expired, self._on_new_session)
        await self._elect()

    def _on_controller_znode(self, exists: bool) -> None:
        self.event_manager.put(ControllerChange() if exists else Reelect())

    def _on_session_expired(self) -> None:
        # Pending events were computed under the old session: drop them.
        self.event_manager.clear_and_put(Expire())

    def _on_new_session(self) -> None:
        self.event_manager.put(Reelect())

    async def _elect(self) -> None:
        current = await self.zk.get_controller_id()
        self.active_controller_id = -1 if current is None else current
        if current is not None:
            log.debug(
                "Broker %d has been elected as the controller, so stopping the election", current
            )
            return
        try:
            epoch, epoch_zk_version = await self.zk.register_controller_and_increment_epoch(
                self.broker_id
            )
            self.context.epoch = epoch
            self.context.epoch_zk_version = epoch_zk_version
            self.active_controller_id = self.broker_id
            log.info(
                "%d successfully elected as the controller. Epoch incremented to %d and epoch "
                "zk version is now %d",
                self.broker_id,
                epoch,
                epoch_zk_version,
            )
            await self._on_controller_failover()
        except ControllerMovedError as exc:
            await self.maybe_resign()
            if self.active_controller_id != -1:
                log.debug(
                    "Broker %d was elected as controller instead of broker %d (%s)",
                    self.active_controller_id,
                    self.broker_id,
                    exc,
                )
            else:
                log.warning("A controller has been elected but just resigned: %s", exc)
        except Exception:
            log.exception(
                "Error while electing or becoming controller on broker %d. Trigger controller "
                "movement immediately",
                self.broker_id,
            )
            await self.trigger_controller_move()

    async def maybe_resign(self) -> None:
        was_active = self.is_active
        current = await self.zk.get_controller_id()
        self.active_controller_id = -1 if current is None else current
        if was_active and not self.is_active:
            await self.on_controller_resignation()

    async def trigger_controller_move(self) -> None:
        """Resign and delete ``/controller`` so another broker takes over (a controller that
        hit an illegal state, or could not finish its failover)."""
        try:
            current = await self.zk.get_controller_id()
            self.active_controller_id = -1 if current is None else current
        except ZooKeeperError as exc:
            log.warning("Cannot read /controller (%s); assuming it is still ours", exc)
        if not self.is_active:
            log.warning("Controller has already moved when trying to trigger controller movement")
            return
        expected = self.context.epoch_zk_version
        self.active_controller_id = -1
        await self.on_controller_resignation()
        # While /controller is ours nobody else can take over: keep trying to delete it
        # (fenced, so a newer controller's znode is never removed) until our session ends.
        for attempt in range(CONTROLLER_MOVE_ATTEMPTS):
            try:
                await self.zk.delete_controller(expected)
                return
            except ControllerMovedError:
                log.warning(
                    "Controller has already moved when trying to trigger controller movement"
                )
                return
            except ZooKeeperError as exc:
                log.warning("Deleting /controller failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(ZK_RETRY_BACKOFF_S)

    async def handle_illegal_state(self, error: IllegalBatchState) -> None:
        log.error("Forcing the controller to resign: %s", error)
        self.batch.clear()
        await self.trigger_controller_move()
        raise error

    # -- failover and resignation ----------------------------------------------------------------
    async def _on_controller_failover(self) -> None:
        zk = self.zk
        context = self.context
        await zk.ensure_feature_znode()
        log.info("Registering handlers")
        put = self._put
        self._watches = [
            zk.watch_broker_ids(lambda: put(BrokerChange())),
            zk.watch_topics(lambda: put(TopicChange())),
            zk.watch_topic_deletions(lambda: put(TopicDeletion())),
            zk.watch_log_dir_event_notifications(lambda: put(LogDirEventNotification())),
            zk.watch_isr_change_notifications(lambda: put(IsrChangeNotification())),
            zk.watch_preferred_replica_election(
                lambda: put(ReplicaLeaderElection(None, ElectionType.PREFERRED, ElectionTrigger.ZK))
            ),
            zk.watch_partition_reassignment(lambda: put(ZkPartitionReassignment())),
        ]
        log.info("Deleting log dir event notifications")
        await zk.delete_log_dir_event_notifications(None, context.epoch_zk_version)
        log.info("Deleting isr change notifications")
        await zk.delete_isr_change_notifications(None, context.epoch_zk_version)
        log.info("Initializing controller context")
        await self._initialize_controller_context()
        log.info("Fetching topic deletions in progress")
        to_delete, ineligible = await self._fetch_topic_deletions_in_progress()
        await self.topic_deletion_manager.init(to_delete, ineligible)
        # Brokers must know the live brokers before the LeaderAndIsr of the state machines.
        await self.send_update_metadata_request(context.live_or_shutting_down_broker_ids, ())
        await self.replica_state_machine.startup()
        await self.partition_state_machine.startup()
        log.info("Ready to serve as the new controller with epoch %d", context.epoch)
        await self.reassignments.initialize_partition_reassignments()
        await self.topic_deletion_manager.try_topic_deletion()
        pending = await self._fetch_pending_preferred_replica_elections()
        await self.operations.on_replica_election(
            pending, ElectionType.PREFERRED, ElectionTrigger.ZK
        )
        if self.config.auto_leader_rebalance_enable:
            self.schedule_auto_leader_rebalance(self.config.initial_leader_rebalance_delay_ms)

    async def on_controller_resignation(self) -> None:
        log.debug("Resigning")
        for handle in self._watches:
            handle.cancel()
        self._watches = []
        for broker_id in list(self._broker_watches):
            self._unwatch_broker(broker_id)
        for topic in list(self._topic_watches):
            self.unwatch_topic(topic)
        if self._rebalance_task is not None:
            self._rebalance_task.cancel()
            self._rebalance_task = None
        await self.channel_manager.shutdown()
        self.batch.clear()
        self.context.reset()
        log.info("Resigned")

    async def shutdown(self) -> None:
        """Stop the event loop, resign, and stop watching ``/controller``."""
        await self.event_manager.close()
        for handle in (self._controller_watch, self._session_watch):
            if handle is not None:
                handle.cancel()
        self._controller_watch = self._session_watch = None
        was_active = self.is_active
        expected_epoch_zk_version = self.context.epoch_zk_version
        self.active_controller_id = -1
        await self.on_controller_resignation()
        if was_active:
            # Let another broker take over now rather than when our session closes; fenced
            # by /controller_epoch so a newer controller's znode is never removed.
            with contextlib.suppress(Exception):
                await self.zk.delete_controller(expected_epoch_zk_version)

    async def _initialize_controller_context(self) -> None:
        zk = self.zk
        context = self.context
        context.set_live_brokers(await zk.get_all_broker_and_epochs())
        log.info("Initialized broker epochs cache: %s", dict(context.live_broker_id_and_epochs))
        context.set_all_topics(await zk.get_all_topics())
        for topic in sorted(context.all_topics):
            self.watch_topic(topic)
        assignments = await zk.get_replica_assignment_and_topic_ids(sorted(context.all_topics))
        await self.process_topic_ids(assignments)
        for topic_assignment in assignments:
            for p, assignment in topic_assignment.assignment.items():
                tp = TopicPartition(topic_assignment.topic, p)
                context.update_partition_full_replica_assignment(tp, assignment)
                if assignment.is_being_reassigned:
                    context.partitions_being_reassigned.add(tp)
        context.clear_partition_leadership_info()
        context.shutting_down_broker_ids.clear()
        for broker_id in sorted(context.live_or_shutting_down_broker_ids):
            self._watch_broker(broker_id)
        await self.update_leader_and_isr_cache()
        self.channel_manager.startup(context.live_or_shutting_down_brokers)
        log.info("Currently active brokers in the cluster: %s", sorted(context.live_broker_ids))
        log.info("Current list of topics in the cluster: %s", sorted(context.all_topics))

    async def process_topic_ids(self, assignments: list[TopicIdReplicaAssignment]) -> None:
        """Give ids to topics an old writer created without one; cache them all."""
        missing = [a for a in assignments if a.topic_id is None]
        if missing:
            updated = await self.zk.set_topic_ids(missing, self.context.epoch_zk_version)
            assignments = [a for a in assignments if a.topic_id is not None] + updated
        for a in assignments:
            if a.topic_id is not None:
                self.context.add_topic_id(a.topic, a.topic_id)

    async def _fetch_topic_deletions_in_progress(self) -> tuple[set[str], set[str]]:
        context = self.context
        to_delete = await self.zk.get_topic_deletions()
        with_offline_replicas = {
            topic
            for topic in context.all_topics
            if any(
                not context.is_replica_online(r.replica, r.topic_partition)
                for r in context.replicas_for_topic(topic)
            )
        }
        reassigning = {tp.topic for tp in context.partitions_being_reassigned}
        ineligible = with_offline_replicas | reassigning
        log.info("List of topics to be deleted: %s", ",".join(sorted(to_delete)))
        log.info("List of topics ineligible for deletion: %s", ",".join(sorted(ineligible)))
        return to_delete, ineligible

    async def _fetch_pending_preferred_replica_elections(self) -> set[TopicPartition]:
        context = self.context
        pending = set()
        for tp in await self.zk.get_preferred_replica_election() or ():
            replicas = context.partition_replica_assignment(tp)
            if not replicas:
                continue  # the topic is gone
            info = context.partition_leadership_info(tp)
            if info is not None and info.leader_and_isr.leader == replicas[0]:
                continue  # already done
            if self.topic_deletion_manager.is_topic_queued_up_for_deletion(tp.topic):
                continue
            pending.add(tp)
        log.info("Resuming preferred replica election for partitions: %s", sorted(pending))
        return pending

    async def update_leader_and_isr_cache(
        self, partitions: Iterable[TopicPartition] | None = None
    ) -> None:
        wanted = self.context.all_partitions if partitions is None else set(partitions)
        states = await self.zk.get_topic_partition_states(sorted(wanted))
        for tp, info in states.items():
            self.context.put_partition_leadership_info(tp, info)

    # -- watches ---------------------------------------------------------------------------------
    def _watch_broker(self, broker_id: int) -> None:
        if broker_id not in self._broker_watches:
            self._broker_watches[broker_id] = self.zk.watch_broker(
                broker_id, lambda: self._put(BrokerModifications(broker_id))
            )

    def _unwatch_broker(self, broker_id: int) -> None:
        handle = self._broker_watches.pop(broker_id, None)
        if handle is not None:
            handle.cancel()

    def watch_topic(self, topic: str) -> None:
        if topic not in self._topic_watches:
            self._topic_watches[topic] = self.zk.watch_topic(
                topic, lambda: self._put(PartitionModifications(topic))
            )

    def unwatch_topic(self, topic: str) -> None:
        handle = self._topic_watches.pop(topic, None)
        if handle is not None:
            handle.cancel()

    # -- batch answers (BatchResponseHandler): they become events --------------------------------
    def on_leader_and_isr_response(self, response: ControlResponse, broker_id: int) -> None:
        self.event_manager.put(LeaderAndIsrResponseReceived(response, broker_id))

    def on_update_metadata_response(self, response: ControlResponse, broker_id: int) -> None:
        self.event_manager.put(UpdateMetadataResponseReceived(response, broker_id))

    def on_stop_replica_response(
        self,
        error_code: ErrorCode,
        broker_id: int,
        partition_errors_for_deleting_topics: Mapping[TopicPartition, ErrorCode],
    ) -> None:
        self.event_manager.put(
            TopicDeletionStopReplicaResponseReceived(
                broker_id, error_code, dict(partition_errors_for_deleting_topics)
            )
        )

    # -- DeletionClient --------------------------------------------------------------------------
    async def delete_topic(self, topic: str, epoch_zk_version: int) -> None:
        await self.zk.delete_topic_znode(topic, epoch_zk_version)
        await self.zk.delete_topic_configs([topic], epoch_zk_version)
        await self.zk.delete_topic_deletions([topic], epoch_zk_version)

    async def delete_topic_deletions(self, topics: Iterable[str], epoch_zk_version: int) -> None:
        await self.zk.delete_topic_deletions(topics, epoch_zk_version)

    def mute_partition_modifications(self, topic: str) -> None:
        self.unwatch_topic(topic)

    async def send_metadata_update(self, partitions: Iterable[TopicPartition]) -> None:
        await self.send_update_metadata_request(
            self.context.live_or_shutting_down_broker_ids, partitions
        )

    async def send_update_metadata_request(
        self, brokers: Iterable[int], partitions: Iterable[TopicPartition]
    ) -> None:
        """UpdateMetadata with the live brokers and ``partitions`` to ``brokers``."""
        try:
            self.batch.new_batch()
            self.batch.add_update_metadata_request_for_brokers(brokers, partitions)
            self.batch.send_requests_to_brokers(self.context.epoch)
        except IllegalBatchState as exc:
            await self.handle_illegal_state(exc)

    # -- brokers ---------------------------------------------------------------------------------
    async def _process_broker_change(self) -> None:
        if not self.is_active:
            return
        context = self.context
        current = await self.zk.get_all_broker_and_epochs()
        by_id: dict[int, tuple[BrokerRegistration, int]] = {
            b.broker_id: (b, epoch) for b, epoch in current.items()
        }
        known = context.live_or_shutting_down_broker_ids
        new_ids = sorted(set(by_id) - known)
        dead_ids = sorted(known - set(by_id))
        bounced_ids = sorted(
            b for b in set(by_id) & known if by_id[b][1] > context.live_broker_id_and_epochs[b]
        )
        log.info(
            "Newly added brokers: %s, deleted brokers: %s, bounced brokers: %s, all live "
            "brokers: %s",
            new_ids,
            dead_ids,
            bounced_ids,
            sorted(by_id),
        )
        channels = self.channel_manager
        for b in new_ids:
            channels.add_broker(by_id[b][0])
        for b in bounced_ids:
            await channels.remove_broker(b)
            channels.add_broker(by_id[b][0])
        for b in dead_ids:
            await channels.remove_broker(b)
        if new_ids:
            context.add_live_brokers({by_id[b][0]: by_id[b][1] for b in new_ids})
            await self._on_broker_startup(new_ids)
        if bounced_ids:
            context.remove_live_brokers(bounced_ids)
            await self._on_broker_failure(bounced_ids)
            context.add_live_brokers({by_id[b][0]: by_id[b][1] for b in bounced_ids})
            await self._on_broker_startup(bounced_ids)
        if dead_ids:
            context.remove_live_brokers(dead_ids)
            await self._on_broker_failure(dead_ids)
        if new_ids or dead_ids or bounced_ids:
            log.info("Updated broker epochs cache: %s", dict(context.live_broker_id_and_epochs))

    async def _on_broker_startup(self, new_brokers: list[int]) -> None:
        log.info("New broker startup callback for %s", ",".join(map(str, new_brokers)))
        context = self.context
        for b in new_brokers:
            context.replicas_on_offline_dirs.pop(b, None)
        new_set = set(new_brokers)
        existing = context.live_or_shutting_down_broker_ids - new_set
        # Existing brokers learn about the new ones; new brokers get every partition state.
        await self.send_update_metadata_request(existing, ())
        await self.send_update_metadata_request(new_brokers, context.partitions_with_leaders)
        replicas = context.replicas_on_brokers(new_set)
        await self.replica_state_machine.handle_state_changes(replicas, ReplicaState.ONLINE_REPLICA)
        await self.partition_state_machine.trigger_online_partition_state_change()
        await self.reassignments.maybe_resume_reassignments(
            lambda _tp, a: any(r in new_set for r in a.target_replicas)
        )
        deleting = {
            r.topic
            for r in replicas
            if self.topic_deletion_manager.is_topic_queued_up_for_deletion(r.topic)
        }
        if deleting:
            log.info("Signaling restart of topic deletion for topics %s", sorted(deleting))
            await self.topic_deletion_manager.resume_deletion_for_topics(deleting)
        for b in new_brokers:
            self._watch_broker(b)

    async def _on_broker_failure(self, dead_brokers: list[int]) -> None:
        log.info("Broker failure callback for %s", ",".join(map(str, dead_brokers)))
        context = self.context
        for b in dead_brokers:
            context.replicas_on_offline_dirs.pop(b, None)
            if b in context.shutting_down_broker_ids:
                context.shutting_down_broker_ids.discard(b)
                log.info("Removed %d from list of shutting down brokers.", b)
        await self.on_replicas_become_offline(context.replicas_on_brokers(dead_brokers))
        for b in dead_brokers:
            self._unwatch_broker(b)

    async def on_replicas_become_offline(self, replicas: set[PartitionAndReplica]) -> None:
        deletion = self.topic_deletion_manager
        for_deletion = {r for r in replicas if deletion.is_topic_queued_up_for_deletion(r.topic)}
        not_for_deletion = replicas - for_deletion
        psm = self.partition_state_machine
        await psm.handle_state_changes(
            sorted(self.context.partitions_with_offline_leader), PartitionState.OFFLINE_PARTITION
        )
        results = await psm.trigger_online_partition_state_change()
        await self.replica_state_machine.handle_state_changes(
            not_for_deletion, ReplicaState.OFFLINE_REPLICA
        )
        if for_deletion:
            # A replica on a dead broker cannot be deleted: its topic's deletion waits.
            await deletion.fail_replica_deletion(for_deletion)
        if not not_for_deletion and all(isinstance(r, Exception) for r in results.values()):
            # Nothing changed leader or ISR: still tell brokers about the dead broker.
            await self.send_update_metadata_request(
                self.context.live_or_shutting_down_broker_ids, ()
            )

    async def _process_broker_modification(self, broker_id: int) -> None:
        if not self.is_active:
            return
        new = await self.zk.get_broker(broker_id)
        old = self.context.live_or_shutting_down_broker(broker_id)
        if new is None or old is None or new.endpoints == old.endpoints:
            return
        log.info("Updated broker metadata: %s -> %s", old, new)
        self.context.update_broker_metadata(new)
        # Reconnect to the (possibly moved) inter-broker listener.
        await self.channel_manager.remove_broker(broker_id)
        self.channel_manager.add_broker(new)
        await self.send_update_metadata_request(self.context.live_or_shutting_down_broker_ids, ())

    # -- notifications and broker answers --------------------------------------------------------
    async def _process_log_dir_event_notification(self) -> None:
        if not self.is_active:
            return
        zk = self.zk
        sequence_numbers = await zk.get_all_log_dir_event_notifications()
        try:
            broker_ids = await zk.get_broker_ids_from_log_dir_events(sequence_numbers)
            # LeaderAndIsr to every replica there: offline ones answer KAFKA_STORAGE_ERROR.
            log.info("Handling log directory failure for brokers %s", broker_ids)
            replicas = self.context.replicas_on_brokers(broker_ids)
            await self.replica_state_machine.handle_state_changes(
                replicas, ReplicaState.ONLINE_REPLICA
            )
        finally:
            await zk.delete_log_dir_event_notifications(
                sequence_numbers, self.context.epoch_zk_version
            )

    async def _process_isr_change_notification(self) -> None:
        if not self.is_active:
            return
        zk = self.zk
        sequence_numbers = await zk.get_all_isr_change_notifications()
        try:
            partitions = await zk.get_partitions_from_isr_change_notifications(sequence_numbers)
            if partitions:
                await self.update_leader_and_isr_cache(partitions)
                await self.send_update_metadata_request(
                    self.context.live_or_shutting_down_broker_ids, partitions
                )
                for tp in partitions:
                    if tp in self.context.partitions_being_reassigned:
                        await self.reassignments.maybe_complete_reassignment(tp)
        finally:
            await zk.delete_isr_change_notifications(
                sequence_numbers, self.context.epoch_zk_version
            )

    async def _process_leader_and_isr_response(
        self, response: ControlResponse, broker_id: int
    ) -> None:
        if not self.is_active:
            return
        if response.error_code != ErrorCode.none:
            log.error(
                "Received error %s in LeaderAndIsr response from broker %d",
                response.error_code.name,
                broker_id,
            )
            return
        offline = {
            tp for tp, e in response.partition_errors.items() if e == ErrorCode.kafka_storage_error
        }
        online = {tp for tp, e in response.partition_errors.items() if e == ErrorCode.none}
        context = self.context
        previous = context.replicas_on_offline_dirs.get(broker_id, set())
        current = (previous - online) | offline
        context.replicas_on_offline_dirs[broker_id] = current
        new_offline = current - previous
        if new_offline:
            log.info("Mark replicas %s on broker %d as offline", sorted(new_offline), broker_id)
            await self.on_replicas_become_offline(
                {PartitionAndReplica(tp, broker_id) for tp in new_offline}
            )

    # -- automatic leader rebalance timer --------------------------------------------------------
    def schedule_auto_leader_rebalance(self, delay_ms: int) -> None:
        if self._rebalance_task is not None and not self._rebalance_task.done():
            self._rebalance_task.cancel()

        async def fire() -> None:
            await asyncio.sleep(delay_ms / 1000.0)
            self.event_manager.put(AutoPreferredReplicaLeaderElection())

        self._rebalance_task = asyncio.get_running_loop().create_task(fire())
