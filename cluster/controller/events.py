"""Controller events and the queue that runs them one at a time (Kafka's
``ControllerEvent`` s and ``ControllerEventManager``).

Everything the controller does - ZooKeeper watch triggers, broker answers, admin requests,
timers - is an event. One asyncio task takes events in order and runs each to completion
before the next, so the controller's state is never touched concurrently. Events that answer
a caller carry a future; an event dropped from the queue (session expiry, shutdown) is
*preempted*: its caller gets NOT_CONTROLLER, as in Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cluster.controller.batch import ControlResponse
from cluster.controller.model import TopicPartition
from cluster.controller.zk_client import ControllerMovedError
from protocol.errors import ErrorCode

log = logging.getLogger(__name__)


class ElectionType(enum.IntEnum):
    """ElectLeaders' election type."""

    PREFERRED = 0
    UNCLEAN = 1


class ElectionTrigger(enum.Enum):
    ZK = "ZkTriggered"
    AUTO = "AutoTriggered"
    ADMIN_CLIENT = "AdminClientTriggered"


class ControllerEvent:
    """Base of all events; ``preempt`` answers a caller waiting on a dropped event."""

    def preempt(self) -> None:
        pass

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(eq=False)
class _AnsweredEvent(ControllerEvent):
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future(), kw_only=True
    )

    def complete(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


# -- election and session -----------------------------------------------------------------------
class Startup(ControllerEvent):
    pass


class ControllerChange(ControllerEvent):
    pass


class Reelect(ControllerEvent):
    pass


class Expire(ControllerEvent):
    pass


# -- ZooKeeper triggers -------------------------------------------------------------------------
class BrokerChange(ControllerEvent):
    pass


@dataclass(eq=False)
class BrokerModifications(ControllerEvent):
    broker_id: int


class TopicChange(ControllerEvent):
    pass


@dataclass(eq=False)
class PartitionModifications(ControllerEvent):
    topic: str


class TopicDeletion(ControllerEvent):
    pass


class ZkPartitionReassignment(ControllerEvent):
    pass


class LogDirEventNotification(ControllerEvent):
    pass


class IsrChangeNotification(ControllerEvent):
    pass


# -- timers and config --------------------------------------------------------------------------
class AutoPreferredReplicaLeaderElection(ControllerEvent):
    pass


class UncleanLeaderElectionEnable(ControllerEvent):
    pass


@dataclass(eq=False)
class TopicUncleanLeaderElectionEnable(ControllerEvent):
    topic: str


# -- broker answers -----------------------------------------------------------------------------
@dataclass(eq=False)
class LeaderAndIsrResponseReceived(ControllerEvent):
    response: ControlResponse
    broker_id: int


@dataclass(eq=False)
class UpdateMetadataResponseReceived(ControllerEvent):
    response: ControlResponse
    broker_id: int


@dataclass(eq=False)
class TopicDeletionStopReplicaResponseReceived(ControllerEvent):
    replica_id: int
    request_error: ErrorCode
    partition_errors: Mapping[TopicPartition, ErrorCode]


# -- requests from brokers and admin clients ----------------------------------------------------
@dataclass(eq=False)
class ControlledShutdown(_AnsweredEvent):
    """Answer: set of partitions still led, or the exception."""

    broker_id: int
    broker_epoch: int

    def preempt(self) -> None:
        self.fail(ControllerMovedError("Controller moved to another broker"))


@dataclass(eq=False)
class AlterPartitionReceived(_AnsweredEvent):
    """Answer: the AlterPartition response entity."""

    request: Any
    version: int

    def preempt(self) -> None:
        # Kafka sends nothing back (the broker's request times out and is retried).
        self.fail(ControllerMovedError("Controller moved to another broker"))


@dataclass(eq=False)
class AllocateProducerIds(_AnsweredEvent):
    """Answer: (error, first producer id, number of ids)."""

    broker_id: int
    broker_epoch: int

    def preempt(self) -> None:
        self.complete((ErrorCode.not_controller, -1, 0))


@dataclass(eq=False)
class ReplicaLeaderElection(_AnsweredEvent):
    """Answer: {partition: (error, message, new leader)}."""

    partitions: frozenset[TopicPartition] | None
    election_type: ElectionType
    trigger: ElectionTrigger

    def preempt(self) -> None:
        self.complete({tp: (ErrorCode.not_controller, None, None) for tp in self.partitions or ()})


@dataclass(eq=False)
class ApiPartitionReassignment(_AnsweredEvent):
    """Answer: {partition: (error, message)}, or a top-level ErrorCode."""

    reassignments: Mapping[TopicPartition, tuple[int, ...] | None]

    def preempt(self) -> None:
        self.complete(ErrorCode.not_controller)


@dataclass(eq=False)
class ListPartitionReassignments(_AnsweredEvent):
    """Answer: {partition: ReplicaAssignment}, or a top-level ErrorCode."""

    partitions: frozenset[TopicPartition] | None

    def preempt(self) -> None:
        self.complete(ErrorCode.not_controller)


# -- the queue ----------------------------------------------------------------------------------
class ControllerEventProcessor(Protocol):
    async def process(self, event: ControllerEvent) -> None: ...


@dataclass(eq=False)
class QueuedEvent:
    event: ControllerEvent
    processed: asyncio.Event = field(default_factory=asyncio.Event)


class ControllerEventManager:
    """Runs events one at a time, in order, on one asyncio task."""

    def __init__(self, controller_id: int, processor: ControllerEventProcessor) -> None:
        self.controller_id = controller_id
        self.processor = processor
        self._queue: asyncio.Queue[QueuedEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.current: ControllerEvent | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"controller-event-thread-{self.controller_id}"
        )

    def put(self, event: ControllerEvent) -> QueuedEvent:
        queued = QueuedEvent(event)
        if self._closed:
            event.preempt()
            queued.processed.set()
        else:
            self._queue.put_nowait(queued)
        return queued

    def clear_and_put(self, event: ControllerEvent) -> QueuedEvent:
        """Drop (preempt) every queued event, then queue ``event``."""
        self._drain()
        return self.put(event)

    def is_empty(self) -> bool:
        return self._queue.empty() and self.current is None

    async def close(self) -> None:
        """Stop after the event in progress; queued events are preempted."""
        self._closed = True
        self._drain()
        task = self._task
        if task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(task), 30)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drain(self) -> None:
        while True:
            try:
                queued = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if queued is not None:
                queued.event.preempt()
                queued.processed.set()

    async def _run(self) -> None:
        while True:
            queued = await self._queue.get()
            if queued is None:
                return
            self.current = queued.event
            try:
                await self.processor.process(queued.event)
            except asyncio.CancelledError:
                queued.event.preempt()
                raise
            except Exception:
                log.exception("Uncaught error processing event %s", queued.event.name)
            finally:
                self.current = None
                queued.processed.set()
