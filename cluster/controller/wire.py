"""Control requests on the wire: kio entities and a channel over :class:`BrokerClient`.

The controller speaks the versions Kafka 3.9's controller sends at IBP 3.9: LeaderAndIsr v7,
UpdateMetadata v8, StopReplica v4 (all flexible). Every request carries the controller id and
epoch and the target broker's epoch. :func:`broker_channel_factory` connects to each broker's
inter-broker listener (``inter.broker.listener.name``), one connection per broker, with
``str(controller_id)`` as client id as Kafka's controller does.
"""

from __future__ import annotations

import logging
import ssl as ssl_module
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from cluster.broker_client import BrokerClient
from cluster.controller.batch import ControlResponse
from cluster.controller.channel import BrokerChannel, ChannelFactory
from cluster.controller.model import TopicPartition
from cluster.controller.requests import (
    SECURITY_PROTOCOL_IDS,
    ControlRequest,
    LeaderAndIsrRequestData,
    StopReplicaRequestData,
    UpdateMetadataRequestData,
)
from cluster.metadata import BrokerRegistration
from protocol.errors import ErrorCode
from protocol.schema.leader_and_isr.v7 import request as _lai
from protocol.schema.stop_replica.v4 import request as _sr
from protocol.schema.update_metadata.v8 import request as _um

# kio's field types (i32, BrokerId, TopicName ...) are NewTypes of int/str; the schemas are
# used untyped here, as protocol.codec.request_schema hands them out elsewhere.
lai: Any = _lai
sr: Any = _sr
um: Any = _um

log = logging.getLogger(__name__)

LEADER_AND_ISR_VERSION: Final = 7
UPDATE_METADATA_VERSION: Final = 8
STOP_REPLICA_VERSION: Final = 4
ZERO_UUID: Final = uuid.UUID(int=0)

S = TypeVar("S")


def _by_topic(states: Iterable[S], topic: Callable[[S], str]) -> dict[str, list[S]]:
    grouped: dict[str, list[S]] = {}
    for s in states:
        grouped.setdefault(topic(s), []).append(s)
    return grouped


def to_kio(request: ControlRequest) -> Any:
    """The kio request entity of a control request."""
    if isinstance(request, LeaderAndIsrRequestData):
        return lai.LeaderAndIsrRequest(
            controller_id=request.controller_id,
            is_k_raft_controller=False,
            controller_epoch=request.controller_epoch,
            broker_epoch=request.broker_epoch,
            type_=0,
            topic_states=tuple(
                lai.LeaderAndIsrTopicState(
                    topic_name=topic,
                    topic_id=request.topic_ids.get(topic, ZERO_UUID),
                    partition_states=tuple(
                        lai.LeaderAndIsrPartitionState(
                            partition_index=s.partition_index,
                            controller_epoch=s.controller_epoch,
                            leader=s.leader,
                            leader_epoch=s.leader_epoch,
                            isr=s.isr,
                            partition_epoch=s.partition_epoch,
                            replicas=s.replicas,
                            adding_replicas=s.adding_replicas,
                            removing_replicas=s.removing_replicas,
                            is_new=s.is_new,
                            leader_recovery_state=s.leader_recovery_state,
                        )
                        for s in states
                    ),
                )
                for topic, states in _by_topic(
                    request.partition_states, lambda s: s.topic_name
                ).items()
            ),
            live_leaders=tuple(
                lai.LeaderAndIsrLiveLeader(
                    broker_id=x.broker_id, host_name=x.host_name, port=x.port
                )
                for x in request.live_leaders
            ),
        )
    if isinstance(request, UpdateMetadataRequestData):
        return um.UpdateMetadataRequest(
            controller_id=request.controller_id,
            is_k_raft_controller=False,
            controller_epoch=request.controller_epoch,
            broker_epoch=request.broker_epoch,
            topic_states=tuple(
                um.UpdateMetadataTopicState(
                    topic_name=topic,
                    topic_id=request.topic_ids.get(topic, ZERO_UUID),
                    partition_states=tuple(
                        um.UpdateMetadataPartitionState(
                            partition_index=s.partition_index,
                            controller_epoch=s.controller_epoch,
                            leader=s.leader,
                            leader_epoch=s.leader_epoch,
                            isr=s.isr,
                            zk_version=s.zk_version,
                            replicas=s.replicas,
                            offline_replicas=s.offline_replicas,
                        )
                        for s in states
                    ),
                )
                for topic, states in _by_topic(
                    request.partition_states, lambda s: s.topic_name
                ).items()
            ),
            live_brokers=tuple(
                um.UpdateMetadataBroker(
                    id=b.broker_id,
                    endpoints=tuple(
                        um.UpdateMetadataEndpoint(
                            port=e.port,
                            host=e.host,
                            listener=e.listener,
                            security_protocol=SECURITY_PROTOCOL_IDS.get(e.security_protocol, 0),
                        )
                        for e in b.endpoints
                    ),
                    rack=b.rack,
                )
                for b in request.live_brokers
            ),
        )
    return sr.StopReplicaRequest(
        controller_id=request.controller_id,
        is_k_raft_controller=False,
        controller_epoch=request.controller_epoch,
        broker_epoch=request.broker_epoch,
        topic_states=tuple(
            sr.StopReplicaTopicState(
                topic_name=topic,
                partition_states=tuple(
                    sr.StopReplicaPartitionState(
                        partition_index=s.partition_index,
                        leader_epoch=s.leader_epoch,
                        delete_partition=s.delete_partition,
                    )
                    for s in states
                ),
            )
            for topic, states in _by_topic(request.partition_states, lambda s: s.topic_name).items()
        ),
    )


def from_kio_response(request: ControlRequest, response: Any) -> ControlResponse:
    """The broker's answer as a ControlResponse (LeaderAndIsr v5+ names topics by id)."""
    error = ErrorCode(int(response.error_code))
    errors: dict[TopicPartition, ErrorCode] = {}
    if isinstance(request, LeaderAndIsrRequestData):
        names = {topic_id: name for name, topic_id in request.topic_ids.items()}
        for t in response.topics:
            name = names.get(t.topic_id or ZERO_UUID)
            if name is None:
                continue
            for p in t.partition_errors:
                errors[TopicPartition(name, int(p.partition_index))] = ErrorCode(int(p.error_code))
    elif isinstance(request, StopReplicaRequestData):
        for p in response.partition_errors:
            errors[TopicPartition(p.topic_name, int(p.partition_index))] = ErrorCode(
                int(p.error_code)
            )
    return ControlResponse(error, errors)


class BrokerClientChannel:
    """A BrokerChannel over one BrokerClient connection."""

    def __init__(self, client: BrokerClient) -> None:
        self.client = client

    async def send(self, request: ControlRequest, timeout_s: float) -> ControlResponse:
        response = await self.client.send(to_kio(request), timeout=timeout_s)
        return from_kio_response(request, response)

    def disconnect(self) -> None:
        self.client.disconnect()

    async def close(self) -> None:
        await self.client.close()


class UnreachableChannel:
    """For a broker without the inter-broker listener: every send fails (and is retried,
    in case the broker re-registers with it)."""

    def __init__(self, broker: BrokerRegistration, listener: str) -> None:
        self.reason = f"broker {broker.broker_id} has no endpoint for listener {listener}"
        log.error("Cannot send control requests: %s", self.reason)

    async def send(self, request: ControlRequest, timeout_s: float) -> ControlResponse:
        raise ConnectionError(self.reason)

    def disconnect(self) -> None:
        pass

    async def close(self) -> None:
        pass


def broker_channel_factory(
    controller_id: int,
    inter_broker_listener_name: str,
    *,
    ssl: ssl_module.SSLContext | None = None,
    connect_timeout_s: float = 10.0,
) -> ChannelFactory:
    """Channels to each broker's ``inter_broker_listener_name`` endpoint (TLS if ``ssl``;
    SASL inter-broker listeners need a channel factory that authenticates)."""

    def make(broker: BrokerRegistration) -> BrokerChannel:
        endpoint = next(
            (e for e in broker.endpoints if e.listener == inter_broker_listener_name), None
        )
        if endpoint is None:
            return UnreachableChannel(broker, inter_broker_listener_name)
        client = BrokerClient(
            endpoint.host,
            endpoint.port,
            client_id=str(controller_id),
            connect_timeout=connect_timeout_s,
            ssl=ssl,
        )
        return BrokerClientChannel(client)

    return make
