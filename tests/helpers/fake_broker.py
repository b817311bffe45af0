"""Fake brokers for controller tests against a real ZooKeeper.

A :class:`FakeBroker` is a small asyncio TCP server speaking Kafka's framing: it decodes the
LeaderAndIsr, UpdateMetadata and StopReplica requests it receives (recording them with the
controller id and epoch and its own broker epoch), and answers success, or the error scripted
for a partition. It registers itself in ``/brokers/ids/<id>`` with Kafka's JSON through its own
ZooKeeper session, and runs a :class:`KafkaController` on that session, as a Josef broker will.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any

from cluster.controller.api import KafkaController
from cluster.controller.config import ControllerConfig
from cluster.controller.wire import broker_channel_factory
from cluster.metadata import BrokerEndpoint
from cluster.zk.client import ZkClient
from cluster.zk.registration import BrokerRegistrar, create_top_level_paths
from cluster.zk.znodes import BrokerInfo
from protocol.codec import (
    decode_request,
    encode_response,
    request_is_flexible,
    response_schema,
)
from protocol.errors import ErrorCode
from protocol.framing import FrameDecoder
from protocol.headers import peek_api, read_request_header
from storage.clock import SystemClock

LEADER_AND_ISR, STOP_REPLICA, UPDATE_METADATA = 4, 5, 6
LISTENER = "INTERNAL"


@dataclass
class Received:
    api_key: int
    version: int
    request: Any


@dataclass
class FakeBroker:
    """One fake broker: server, ZooKeeper session, registration and controller."""

    broker_id: int
    zk_connect: str
    config: ControllerConfig = field(
        default_factory=lambda: ControllerConfig(
            auto_leader_rebalance_enable=False, inter_broker_listener_name=LISTENER
        )
    )
    session_timeout_ms: int = 6000
    received: list[Received] = field(default_factory=list)
    partition_errors: dict[tuple[str, int], ErrorCode] = field(default_factory=dict)
    port: int = 0
    zk: ZkClient | None = None
    registrar: BrokerRegistrar | None = None
    controller: KafkaController | None = None
    _server: asyncio.Server | None = None
    _connections: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, *, with_controller: bool = True) -> FakeBroker:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.zk = ZkClient(self.zk_connect, session_timeout_ms=self.session_timeout_ms)
        await self.zk.start()
        await create_top_level_paths(self.zk)
        await self.register()
        if with_controller:
            await self.start_controller()
        return self

    async def register(self) -> int:
        assert self.zk is not None
        info = BrokerInfo(
            self.broker_id,
            (BrokerEndpoint(LISTENER, "PLAINTEXT", "127.0.0.1", self.port),),
        )
        self.registrar = BrokerRegistrar(self.zk, info)
        epoch = await self.registrar.register()
        self.registrar.keep_registered()
        return epoch

    async def start_controller(self) -> KafkaController:
        assert self.zk is not None
        self.controller = KafkaController(
            self.broker_id,
            self.zk,
            self.config,
            broker_channel_factory(self.broker_id, LISTENER),
            SystemClock(),
        )
        await self.controller.startup()
        return self.controller

    @property
    def broker_epoch(self) -> int:
        assert self.registrar is not None and self.registrar.broker_epoch is not None
        return self.registrar.broker_epoch

    async def stop(self) -> None:
        """Clean stop: controller resigns, session closes (its ephemerals go at once)."""
        if self.controller is not None:
            await self.controller.shutdown()
        if self.registrar is not None:
            self.registrar.close()
        if self.zk is not None:
            await self.zk.close()
        await self.stop_server()

    async def stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._connections):
                w.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    # -- inbox -----------------------------------------------------------------------------------
    def of(self, api_key: int) -> list[Any]:
        return [r.request for r in self.received if r.api_key == api_key]

    def leader_and_isr(self) -> list[Any]:
        return self.of(LEADER_AND_ISR)

    def update_metadata(self) -> list[Any]:
        return self.of(UPDATE_METADATA)

    def stop_replica(self) -> list[Any]:
        return self.of(STOP_REPLICA)

    def latest_partition_state(self, topic: str, partition: int) -> Any | None:
        """The last LeaderAndIsr partition state received for the partition."""
        for request in reversed(self.leader_and_isr()):
            for t in request.topic_states:
                if t.topic_name != topic:
                    continue
                for p in t.partition_states:
                    if p.partition_index == partition:
                        return p
        return None

    # -- server ----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        decoder = FrameDecoder(64 * 1024 * 1024)
        try:
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    writer.write(self._answer(frame))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    def _answer(self, frame: bytes) -> bytes:
        api_key, version, _ = peek_api(frame)
        header, pos = read_request_header(frame, request_is_flexible(api_key, version))
        request = decode_request(api_key, version, frame, pos)
        self.received.append(Received(api_key, version, request))
        schema = response_schema(api_key, version)
        nested = sys.modules[schema.__module__]
        if api_key == LEADER_AND_ISR:
            response = schema(
                error_code=ErrorCode.none,
                topics=tuple(
                    nested.LeaderAndIsrTopicError(
                        topic_id=t.topic_id,
                        partition_errors=tuple(
                            nested.LeaderAndIsrPartitionError(
                                partition_index=p.partition_index,
                                error_code=self.partition_errors.get(
                                    (t.topic_name, p.partition_index), ErrorCode.none
                                ),
                            )
                            for p in t.partition_states
                        ),
                    )
                    for t in request.topic_states
                ),
            )
        elif api_key == STOP_REPLICA:
            response = schema(
                error_code=ErrorCode.none,
                partition_errors=tuple(
                    nested.StopReplicaPartitionError(
                        topic_name=t.topic_name,
                        partition_index=p.partition_index,
                        error_code=ErrorCode.none,
                    )
                    for t in request.topic_states
                    for p in t.partition_states
                ),
            )
        else:
            response = schema(error_code=ErrorCode.none)
        return encode_response(api_key, version, header.correlation_id, response)
