"""AlterPartitionManager: leaders propose ISR changes to the controller (KIP-497).

A partition leader that wants to shrink or expand its ISR submits the proposal here; it is
sent to the active controller in an AlterPartition request (batched with other proposals,
one request in flight at a time, as Kafka's DefaultAlterPartitionManager does). The
controller writes the new state to ZooKeeper and answers with it; the leader applies the
ISR only then. Requests that fail as a whole (no controller, NOT_CONTROLLER, a lost
connection) are retried with a backoff; a partition-level error is handed back to the
leader, which clears its pending proposal and decides again on its next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from cluster.metadata import PartitionState
from protocol.codec import request_schema

log = logging.getLogger(__name__)

ALTER_PARTITION_VERSION = 3
RETRY_BACKOFF_S = 0.1


class IsrProposal(Protocol):
    topic: str
    topic_id: uuid.UUID
    partition: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]


Callback = Callable[[PartitionState | None, ErrorCode], None]


class ControllerConnection(Protocol):
    async def send(self, request: Any, *, timeout: float | None = None) -> Any: ...


@dataclass(slots=True)
class _Item:
    proposal: IsrProposal
    done: Callback


class AlterPartitionManager:
    """The broker's channel for ISR proposals to the controller (an IsrUpdater)."""

    def __init__(
        self,
        broker_id: int,
        broker_epoch: Callable[[], int],
        controller: Callable[[], ControllerConnection | None],
        timeout_s: float = 30.0,
    ) -> None:
        self.broker_id = broker_id
        self.broker_epoch = broker_epoch
        self.controller = controller
        self.timeout_s = timeout_s
        self._unsent: dict[tuple[uuid.UUID, int], _Item] = {}
        self._inflight: set[tuple[uuid.UUID, int]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def submit(self, change: Any, done: Callback) -> bool:
        key = (change.topic_id, change.partition)
        if key in self._unsent or key in self._inflight or self._closed:
            return False
        self._unsent[key] = _Item(change, done)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._send_loop(), name="alter-partition"
            )
        return True

    async def _send_loop(self) -> None:
        while self._unsent and not self._closed:
            batch = self._unsent
            self._unsent = {}
            self._inflight = set(batch)
            try:
                resend = await self._send(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("AlterPartition to the controller failed: %s; retrying", exc)
                resend = batch
            finally:
                self._inflight = set()
            if resend:
                for key, item in resend.items():
                    self._unsent.setdefault(key, item)
                await asyncio.sleep(RETRY_BACKOFF_S)

    async def _send(self, batch: dict[tuple[uuid.UUID, int], _Item]) -> dict[Any, _Item]:
        client = self.controller()
        if client is None:
            return batch
        schema = request_schema(56, ALTER_PARTITION_VERSION)
        module = __import__(
            schema.__module__, fromlist=["TopicData", "PartitionData", "BrokerState"]
        )
        by_topic: dict[uuid.UUID, list[Any]] = {}
        for item in batch.values():
            p = item.proposal
            by_topic.setdefault(p.topic_id, []).append(
                module.PartitionData(
                    partition_index=p.partition,
                    leader_epoch=p.leader_epoch,
                    new_isr_with_epochs=tuple(
                        module.BrokerState(broker_id=b, broker_epoch=-1) for b in p.new_isr
                    ),
                    leader_recovery_state=0,
                    partition_epoch=p.partition_epoch,
                )
            )
        request = schema(
            broker_id=self.broker_id,
            broker_epoch=self.broker_epoch(),
            topics=tuple(
                module.TopicData(topic_id=tid, partitions=tuple(parts))
                for tid, parts in by_topic.items()
            ),
        )
        response = await client.send(request, timeout=self.timeout_s)
        top = ErrorCode(response.error_code)
        if top != ErrorCode.none:
            if top in (
                ErrorCode.not_controller,
                ErrorCode.stale_broker_epoch,
                ErrorCode.request_timed_out,
            ):
                log.info("AlterPartition answered %s; retrying", top.name)
                return batch
            for item in batch.values():
                item.done(None, top)
            return {}
        answered: set[tuple[uuid.UUID, int]] = set()
        for t in response.topics:
            for p in t.partitions:
                key = (t.topic_id, int(p.partition_index))
                waiting = batch.get(key)
                if waiting is None:
                    continue
                answered.add(key)
                error = ErrorCode(p.error_code)
                if error != ErrorCode.none:
                    waiting.done(None, error)
                    continue
                waiting.done(
                    PartitionState(
                        replicas=[],
                        leader=int(p.leader_id),
                        leader_epoch=int(p.leader_epoch),
                        isr=[int(r) for r in p.isr],
                        partition_epoch=int(p.partition_epoch),
                    ),
                    ErrorCode.none,
                )
        # Kafka: a partition missing from the response is retried.
        return {k: v for k, v in batch.items() if k not in answered}

    async def shutdown(self) -> None:
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
