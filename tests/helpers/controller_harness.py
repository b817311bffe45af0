"""A controller test bench on the in-memory ZooKeeper and fake brokers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cluster.controller.api import KafkaController
from cluster.controller.config import ControllerConfig
from cluster.controller.model import TopicPartition
from helpers.fake_controller_zk import FakeBrokers, FakeZkServer, FakeZkSession
from storage.clock import ManualClock

QUIET = ControllerConfig(auto_leader_rebalance_enable=False)


class Bench:
    """Brokers registered in a FakeZkServer, controllers that use it, and their inboxes."""

    def __init__(self, live: Iterable[int] = (1, 2, 3)) -> None:
        self.server = FakeZkServer()
        self.brokers = FakeBrokers()
        self.controllers: list[KafkaController] = []
        self.sessions: dict[int, FakeZkSession] = {}
        for b in live:
            self.server.register_broker(b)

    async def controller(
        self, broker_id: int, config: ControllerConfig = QUIET, start: bool = True
    ) -> KafkaController:
        session = self.server.session()
        self.sessions[broker_id] = session
        controller = KafkaController(
            broker_id, session, config, self.brokers.factory, ManualClock()
        )
        self.controllers.append(controller)
        if start:
            await controller.startup()
            await self.settle()
        return controller

    async def settle(self, rounds: int = 2000) -> None:
        """Wait until every controller's queue is empty and no request is in flight."""
        quiet = 0
        for _ in range(rounds):
            await asyncio.sleep(0.001)
            busy = any(
                not c.core.event_manager.is_empty() or c.core.channel_manager.pending()
                for c in self.controllers
            )
            quiet = 0 if busy else quiet + 1
            if quiet >= 5:
                return
        raise AssertionError("controllers did not settle")

    async def close(self) -> None:
        for c in self.controllers:
            await c.shutdown()

    def state(self, topic: str, partition: int) -> tuple[int, int, tuple[int, ...], int, int]:
        """(leader, leader_epoch, isr, controller_epoch, zk version) of a state znode."""
        s = self.server.state(topic, partition)
        return s.leader, s.leader_epoch, s.isr, s.controller_epoch, s.version


def tp(topic: str, partition: int) -> TopicPartition:
    return TopicPartition(topic, partition)


def partitions_of(requests: Iterable[Any]) -> list[tuple[str, int]]:
    return sorted((s.topic_name, s.partition_index) for r in requests for s in r.partition_states)
