"""The controller as the broker uses it: Kafka's ZooKeeper-mode ``KafkaController``.

Every broker runs one :class:`KafkaController`. :meth:`~KafkaController.startup` joins the
election on ``/controller``; the broker that wins reads the cluster from ZooKeeper and from
then on tells brokers what they lead and follow (LeaderAndIsr, UpdateMetadata, StopReplica to
each broker's inter-broker listener). The broker's request handlers call the ``async`` methods
below for ControlledShutdown, AlterPartition, ElectLeaders and the reassignment APIs; each
becomes an event of the controller's single event loop (:mod:`cluster.controller.events`).
On a broker that is not the active controller they answer NOT_CONTROLLER.

Wiring: see :mod:`cluster.controller`. ``zk`` is a started
:class:`cluster.zk.client.ZkClient` (or any :class:`ControllerZkClient`); ``channel_factory``
makes, for a broker registration, the connection used to send it control requests
(:func:`cluster.controller.wire.broker_channel_factory` builds one over
:class:`cluster.broker_client.BrokerClient`); ``clock`` is a :class:`storage.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cluster.controller.channel import ChannelFactory
from cluster.controller.config import ControllerConfig
from cluster.controller.core import ControllerCore
from cluster.controller.events import (
    AllocateProducerIds,
    AlterPartitionReceived,
    ApiPartitionReassignment,
    ControlledShutdown,
    ElectionTrigger,
    ElectionType,
    ListPartitionReassignments,
    ReplicaLeaderElection,
    Startup,
    TopicUncleanLeaderElectionEnable,
    UncleanLeaderElectionEnable,
)
from cluster.controller.model import TopicPartition
from cluster.controller.operations import (
    BrokerNotAvailableError,
    StaleBrokerEpochError,
    alter_partition_error,
)
from cluster.controller.states import ReplicaState
from cluster.controller.zk_client import ControllerMovedError, ControllerZkClient
from protocol.errors import ErrorCode
from storage.clock import Clock

__all__ = ["ControllerConfig", "KafkaController", "NotControllerError"]

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]


class NotControllerError(Exception):
    """This broker is not the active controller (answer NOT_CONTROLLER at the top level)."""


class KafkaController:
    """One broker's controller module (see the module docstring)."""

    def __init__(
        self,
        broker_id: int,
        zk: Any,
        config: ControllerConfig,
        channel_factory: ChannelFactory,
        clock: Clock,
    ) -> None:
        self.broker_id = broker_id
        self.config = config
        self._core = ControllerCore(
            broker_id, _controller_zk(zk, clock), config, channel_factory, clock
        )
        self._started = False

    # -- life cycle ------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Join the controller election; returns at once (the election runs as an event)."""
        if self._started:
            return
        self._started = True
        self._core.event_manager.start()
        self._core.event_manager.put(Startup())

    async def shutdown(self) -> None:
        """Stop processing events, resign if active (freeing ``/controller``), close channels."""
        if not self._started:
            return
        self._started = False
        await self._core.shutdown()

    @property
    def is_active(self) -> bool:
        return self._core.is_active

    @property
    def epoch(self) -> int:
        """The controller epoch while active (0 otherwise)."""
        return self._core.context.epoch

    @property
    def active_controller_id(self) -> int:
        """The controller this broker last saw in ``/controller`` (-1: none)."""
        return self._core.active_controller_id

    @property
    def core(self) -> ControllerCore:
        """The event processor (for tests and diagnostics)."""
        return self._core

    def metrics(self) -> dict[str, int]:
        """Kafka's controller gauges (kafka.controller:type=KafkaController,name=...), and
        the count behind UncleanLeaderElectionsPerSec; zeros on a broker that is not active."""
        core = self._core
        context = core.context
        active = core.is_active
        deleting = context.topics_to_be_deleted if active else set()
        replicas = [r for t in deleting for r in context.replicas_for_topic(t)]
        states = context.replica_states
        return {
            "ActiveControllerCount": int(active),
            "OfflinePartitionsCount": context.stats.offline_partition_count if active else 0,
            "PreferredReplicaImbalanceCount": (
                context.stats.preferred_replica_imbalance_count if active else 0
            ),
            "GlobalTopicCount": len(context.all_topics) if active else 0,
            "GlobalPartitionCount": len(context.partitions_leadership_info) if active else 0,
            "TopicsToDeleteCount": len(deleting),
            "ReplicasToDeleteCount": sum(
                states.get(r) is not ReplicaState.REPLICA_DELETION_SUCCESSFUL for r in replicas
            ),
            "TopicsIneligibleToDeleteCount": (
                len(context.topics_ineligible_for_deletion) if active else 0
            ),
            "ReplicasIneligibleToDeleteCount": sum(
                states.get(r) is ReplicaState.REPLICA_DELETION_INELIGIBLE for r in replicas
            ),
            "ActiveBrokerCount": len(context.live_or_shutting_down_broker_ids) if active else 0,
            "FencedBrokerCount": 0,  # always 0 in ZooKeeper mode
            "UncleanLeaderElections": context.stats.unclean_leader_elections,
        }

    def reconfigure(self, config: ControllerConfig) -> None:
        """Apply changed settings (dynamic broker config)."""
        self.config = config
        self._core.reconfigure(config)

    def enable_default_unclean_leader_election(self) -> None:
        """``unclean.leader.election.enable`` became true for the cluster: elect where possible."""
        self._core.event_manager.put(UncleanLeaderElectionEnable())

    def enable_topic_unclean_leader_election(self, topic: str) -> None:
        """A topic's ``unclean.leader.election.enable`` became true."""
        if self.is_active:
            self._core.event_manager.put(TopicUncleanLeaderElectionEnable(topic))

    async def _answer(self, future: asyncio.Future[Any]) -> Any:
        """Wait for an event's answer for at most controller.socket.timeout.ms (the broker
        gives up on its request then, and retries)."""
        timeout_s = self.config.controller_socket_timeout_ms / 1000.0
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)

    # -- requests --------------------------------------------------------------------------------
    async def controlled_shutdown(
        self, broker_id: int, broker_epoch: int
    ) -> tuple[ErrorCode, list[PartitionKey]]:
        """ControlledShutdown: move leadership off ``broker_id`` and take it out of ISRs.
        Returns the error and the partitions it still leads (the broker retries while any)."""
        event = ControlledShutdown(broker_id, broker_epoch)
        self._core.event_manager.put(event)
        try:
            remaining = await self._answer(event.future)
        except TimeoutError:
            return ErrorCode.request_timed_out, []
        except ControllerMovedError:
            return ErrorCode.not_controller, []
        except StaleBrokerEpochError:
            return ErrorCode.stale_broker_epoch, []
        except BrokerNotAvailableError:
            return ErrorCode.broker_not_available, []
        except Exception:
            log.exception("Controlled shutdown of broker %d failed", broker_id)
            return ErrorCode.unknown_server_error, []
        return ErrorCode.none, [(tp.topic, tp.partition) for tp in sorted(remaining)]

    async def allocate_producer_ids(
        self, broker_id: int, broker_epoch: int
    ) -> tuple[ErrorCode, int, int]:
        """AllocateProducerIds (KIP-730): the next block of producer ids for ``broker_id``,
        as (error, first id, number of ids)."""
        event = AllocateProducerIds(broker_id, broker_epoch)
        self._core.event_manager.put(event)
        try:
            result: tuple[ErrorCode, int, int] = await self._answer(event.future)
        except TimeoutError:
            return ErrorCode.request_timed_out, -1, 0
        return result

    async def alter_partition(self, request: Any, version: int) -> Any:
        """AlterPartition (v0-v3 kio request entity) -> the response entity of that version."""
        event = AlterPartitionReceived(request, version)
        self._core.event_manager.put(event)
        try:
            return await self._answer(event.future)
        except TimeoutError:
            # Still queued: it may apply later; the leader's retry is idempotent.
            return alter_partition_error(version, ErrorCode.request_timed_out)
        except ControllerMovedError:
            return alter_partition_error(version, ErrorCode.not_controller)

    async def elect_leaders(
        self, election_type: int, partitions: Sequence[PartitionKey] | None, timeout_ms: int
    ) -> dict[PartitionKey, tuple[ErrorCode, str | None]]:
        """ElectLeaders (0 preferred, 1 unclean) for ``partitions`` (None: all). Partitions
        whose election has not finished within ``timeout_ms`` get REQUEST_TIMED_OUT."""
        wanted = None if partitions is None else frozenset(TopicPartition(*p) for p in partitions)
        event = ReplicaLeaderElection(
            wanted, ElectionType(election_type), ElectionTrigger.ADMIN_CLIENT
        )
        self._core.event_manager.put(event)
        try:
            answers = await asyncio.wait_for(asyncio.shield(event.future), timeout_ms / 1000.0)
        except TimeoutError:
            return {
                (tp.topic, tp.partition): (ErrorCode.request_timed_out, None)
                for tp in sorted(wanted or ())
            }
        return {(tp.topic, tp.partition): (e, m) for tp, (e, m, _leader) in answers.items()}

    async def alter_partition_reassignments(
        self, reassignments: Mapping[PartitionKey, Sequence[int] | None], timeout_ms: int
    ) -> dict[PartitionKey, tuple[ErrorCode, str | None]]:
        """AlterPartitionReassignments: target replicas per partition (None cancels).
        NotControllerError if this broker is not the controller."""
        event = ApiPartitionReassignment(
            {
                TopicPartition(*tp): (None if r is None else tuple(r))
                for tp, r in reassignments.items()
            }
        )
        self._core.event_manager.put(event)
        try:
            result = await asyncio.wait_for(asyncio.shield(event.future), timeout_ms / 1000.0)
        except TimeoutError:
            return {tp: (ErrorCode.request_timed_out, None) for tp in reassignments}
        if isinstance(result, ErrorCode):
            raise NotControllerError("This is not the correct controller for this cluster.")
        return {(tp.topic, tp.partition): v for tp, v in result.items()}

    def list_partition_reassignments(
        self, partitions: Sequence[PartitionKey] | None
    ) -> dict[PartitionKey, tuple[list[int], list[int], list[int]]]:
        """ListPartitionReassignments: replicas, adding and removing replicas of each listed
        partition (None: all) that is being reassigned. NotControllerError if not active."""
        core = self._core
        if not core.is_active:
            raise NotControllerError("This is not the correct controller for this cluster.")
        context = core.context
        wanted = (
            context.partitions_being_reassigned
            if partitions is None
            else {TopicPartition(*p) for p in partitions}
        )
        out: dict[PartitionKey, tuple[list[int], list[int], list[int]]] = {}
        for tp in sorted(wanted):
            a = context.partition_full_replica_assignment(tp)
            if a.is_being_reassigned:
                out[(tp.topic, tp.partition)] = (
                    list(a.replicas),
                    list(a.adding_replicas),
                    list(a.removing_replicas),
                )
        return out

    async def list_partition_reassignments_event(
        self, partitions: Sequence[PartitionKey] | None
    ) -> Any:
        """The same as an event in the controller queue (Kafka's way), for callers that need
        the answer ordered after earlier requests."""
        event = ListPartitionReassignments(
            None if partitions is None else frozenset(TopicPartition(*p) for p in partitions)
        )
        self._core.event_manager.put(event)
        return await event.future


def _controller_zk(zk: Any, clock: Clock) -> ControllerZkClient:
    """Use ``zk`` as is if it already speaks the controller's protocol, else wrap the
    :class:`cluster.zk.client.ZkClient`."""
    if hasattr(zk, "register_controller_and_increment_epoch"):
        controller_zk: ControllerZkClient = zk
        return controller_zk
    from cluster.controller.kafka_zk import KafkaZkControllerClient

    return KafkaZkControllerClient(zk, clock)
