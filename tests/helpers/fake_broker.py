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
from protocol.builders import NO_THROTTLE, ResponseBuilder
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

LEADER_AND_ISR, STOP_REPLICA, UPDATE_METADATA, CONTROLLED_SHUTDOWN = 4, 5, 6, 7
API_VERSIONS, ALTER_PARTITION, ALLOCATE_PRODUCER_IDS = 18, 56, 67
LISTENER = "INTERNAL"
# What the fake serves: the control APIs, and (to real Kafka brokers) the controller's APIs.
SERVED = {
    API_VERSIONS: (0, 3),
    LEADER_AND_ISR: (7, 7),
    STOP_REPLICA: (4, 4),
    UPDATE_METADATA: (8, 8),
    CONTROLLED_SHUTDOWN: (3, 3),
    ALTER_PARTITION: (2, 3),
    ALLOCATE_PRODUCER_IDS: (0, 0),
}


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
    listener: str = LISTENER
    config: ControllerConfig | None = None
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
        if self.config is None:
            self.config = ControllerConfig(
                auto_leader_rebalance_enable=False, inter_broker_listener_name=self.listener
            )
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
            (BrokerEndpoint(self.listener, "PLAINTEXT", "127.0.0.1", self.port),),
        )
        self.registrar = BrokerRegistrar(self.zk, info)
        epoch = await self.registrar.register()
        self.registrar.keep_registered()
        return epoch

    async def start_controller(self) -> KafkaController:
        assert self.zk is not None and self.config is not None
        self.controller = KafkaController(
            self.broker_id,
            self.zk,
            self.config,
            broker_channel_factory(self.broker_id, self.config.inter_broker_listener_name),
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
                    writer.write(await self._answer(frame))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, frame: bytes) -> bytes:
        api_key, version, _ = peek_api(frame)
        if api_key == API_VERSIONS and version > SERVED[API_VERSIONS][1]:
            # Kafka's rule: a v0 body with UNSUPPORTED_VERSION and our ranges.
            header, _pos = read_request_header(frame, False)
            return encode_response(
                API_VERSIONS,
                0,
                header.correlation_id,
                self._api_versions(0, ErrorCode.unsupported_version),
            )
        header, pos = read_request_header(frame, request_is_flexible(api_key, version))
        request = decode_request(api_key, version, frame, pos)
        self.received.append(Received(api_key, version, request))
        response = await self._response(api_key, version, request)
        return encode_response(api_key, version, header.correlation_id, response)

    def _api_versions(self, version: int, error: ErrorCode = ErrorCode.none) -> Any:
        rb = ResponseBuilder(API_VERSIONS, version)
        keys = tuple(
            rb("ApiVersion", api_key=k, min_version=lo, max_version=hi)
            for k, (lo, hi) in sorted(SERVED.items())
        )
        return rb(None, error_code=error, api_keys=keys, throttle_time=NO_THROTTLE)

    async def _response(self, api_key: int, version: int, request: Any) -> Any:
        """Control requests are answered as a broker; controller APIs go to the controller."""
        controller = self.controller
        if api_key == API_VERSIONS:
            return self._api_versions(version)
        if api_key == ALTER_PARTITION:
            assert controller is not None
            return await controller.alter_partition(request, version)
        if api_key == CONTROLLED_SHUTDOWN:
            assert controller is not None
            error, remaining = await controller.controlled_shutdown(
                int(request.broker_id), int(request.broker_epoch)
            )
            rb = ResponseBuilder(CONTROLLED_SHUTDOWN, version)
            return rb(
                None,
                error_code=error,
                remaining_partitions=tuple(
                    rb("RemainingPartition", topic_name=t, partition_index=p) for t, p in remaining
                ),
            )
        if api_key == ALLOCATE_PRODUCER_IDS:
            assert controller is not None
            error, start, length = await controller.allocate_producer_ids(
                int(request.broker_id), int(request.broker_epoch)
            )
            return ResponseBuilder(ALLOCATE_PRODUCER_IDS, version)(
                None,
                throttle_time=NO_THROTTLE,
                error_code=error,
                producer_id_start=start,
                producer_id_len=length,
            )
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
        return response
