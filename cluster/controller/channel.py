"""ControllerChannelManager: one request queue and sender task per live broker.

Kafka's controller keeps, per live broker, a queue and a ``RequestSendThread`` that sends one
request at a time to the broker's inter-broker listener and retries (with a 100 ms backoff,
reconnecting) until it gets an answer or the broker is removed. Requests to one broker are
therefore delivered in the order the controller produced them. Here the thread is an asyncio
task and the connection is a :class:`BrokerChannel` made by the injected factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cluster.controller.batch import ControlResponse, ResponseCallback
from cluster.controller.requests import ControlRequest, request_name
from cluster.metadata import BrokerRegistration

log = logging.getLogger(__name__)


class BrokerChannel(Protocol):
    """A connection to one broker that sends control requests and decodes the answers."""

    async def send(self, request: ControlRequest, timeout_s: float) -> ControlResponse:
        """Send and wait for the answer; raise on a lost connection or after ``timeout_s``."""
        ...

    def disconnect(self) -> None:
        """Drop the connection (the next send reconnects)."""
        ...

    async def close(self) -> None: ...


ChannelFactory = Callable[[BrokerRegistration], BrokerChannel]


@dataclass(eq=False)
class _QueueItem:
    request: ControlRequest
    callback: ResponseCallback | None
    enqueued_at: float


class _RequestSendTask:
    """Kafka's RequestSendThread for one broker."""

    def __init__(
        self,
        controller_id: int,
        broker: BrokerRegistration,
        channel: BrokerChannel,
        socket_timeout_s: float,
        backoff_s: float,
    ) -> None:
        self.controller_id = controller_id
        self.broker = broker
        self.channel = channel
        self.socket_timeout_s = socket_timeout_s
        self.backoff_s = backoff_s
        self.queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        self.busy = False  # a request is being sent or answered

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(),
            name=f"Controller-{self.controller_id}-to-broker-{self.broker.broker_id}-send-thread",
        )

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.channel.close()
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            self.busy = True
            try:
                response = await self._send_until_answered(item.request)
                self.sent += 1
                if item.callback is not None:
                    try:
                        item.callback(response)
                    except Exception:
                        log.exception(
                            "Handling the %s response of broker %d failed",
                            request_name(item.request),
                            self.broker.broker_id,
                        )
            finally:
                self.busy = False

    async def _send_until_answered(self, request: ControlRequest) -> ControlResponse:
        broker_id = self.broker.broker_id
        while True:
            try:
                return await self.channel.send(request, self.socket_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Kept until the broker answers or the controller drops the broker.
                log.warning(
                    "Controller %d epoch %d fails to send %s request to broker %d. "
                    "Reconnecting to broker. (%s)",
                    self.controller_id,
                    request.controller_epoch,
                    request_name(request),
                    broker_id,
                    exc,
                )
                self.channel.disconnect()
                await asyncio.sleep(self.backoff_s)


class ControllerChannelManager:
    """Per-broker request queues (see the module docstring)."""

    def __init__(
        self,
        controller_id: int,
        channel_factory: ChannelFactory,
        socket_timeout_ms: int,
        backoff_ms: int = 100,
    ) -> None:
        self.controller_id = controller_id
        self.channel_factory = channel_factory
        self.socket_timeout_s = socket_timeout_ms / 1000.0
        self.backoff_s = backoff_ms / 1000.0
        self._brokers: dict[int, _RequestSendTask] = {}

    @property
    def broker_ids(self) -> set[int]:
        return set(self._brokers)

    def startup(self, brokers: list[BrokerRegistration]) -> None:
        for broker in brokers:
            self.add_broker(broker)

    async def shutdown(self) -> None:
        for broker_id in list(self._brokers):
            await self.remove_broker(broker_id)

    def add_broker(self, broker: BrokerRegistration) -> None:
        if broker.broker_id in self._brokers:
            return
        sender = _RequestSendTask(
            self.controller_id,
            broker,
            self.channel_factory(broker),
            self.socket_timeout_s,
            self.backoff_s,
        )
        self._brokers[broker.broker_id] = sender
        sender.start()

    async def remove_broker(self, broker_id: int) -> None:
        sender = self._brokers.pop(broker_id, None)
        if sender is not None:
            await sender.stop()

    def send_request(
        self, broker_id: int, request: ControlRequest, callback: ResponseCallback | None
    ) -> None:
        sender = self._brokers.get(broker_id)
        if sender is None:
            log.warning(
                "Not sending request %s with controllerId=%d, controllerEpoch=%d, "
                "brokerEpoch=%d to broker %d, since it is offline.",
                request_name(request),
                request.controller_id,
                request.controller_epoch,
                request.broker_epoch,
                broker_id,
            )
            return
        loop = asyncio.get_running_loop()
        sender.queue.put_nowait(_QueueItem(request, callback, loop.time()))

    def pending(self) -> int:
        """Requests queued or in flight, over all brokers."""
        return sum(s.queue.qsize() + s.busy for s in self._brokers.values())

    def queue_size(self, broker_id: int | None = None) -> int:
        if broker_id is not None:
            sender = self._brokers.get(broker_id)
            return sender.queue.qsize() if sender is not None else 0
        return sum(s.queue.qsize() for s in self._brokers.values())
