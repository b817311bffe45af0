"""The controller's requests to brokers, as the request batch builds them.

These mirror what Kafka's ``LeaderAndIsrRequest.Builder``, ``UpdateMetadataRequest.Builder``
and ``StopReplicaRequest.Builder`` receive: flat partition states plus the request-level
fields. :mod:`cluster.controller.wire` turns them into the kio entities that go on the wire
(LeaderAndIsr v7, UpdateMetadata v8, StopReplica v4, as Kafka 3.9 sends at IBP 3.9).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cluster.metadata import BrokerEndpoint

# Kafka's SecurityProtocol ids, sent in UpdateMetadata endpoints.
SECURITY_PROTOCOL_IDS: Mapping[str, int] = {
    "PLAINTEXT": 0,
    "SSL": 1,
    "SASL_PLAINTEXT": 2,
    "SASL_SSL": 3,
}


@dataclass(frozen=True, slots=True)
class LeaderAndIsrPartitionState:
    topic_name: str
    partition_index: int
    controller_epoch: int
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    partition_epoch: int
    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()
    is_new: bool = False
    leader_recovery_state: int = 0

    def with_is_new(self, is_new: bool) -> LeaderAndIsrPartitionState:
        return replace(self, is_new=is_new)


@dataclass(frozen=True, slots=True)
class UpdateMetadataPartitionState:
    topic_name: str
    partition_index: int
    controller_epoch: int
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    zk_version: int
    replicas: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StopReplicaPartitionState:
    topic_name: str
    partition_index: int
    leader_epoch: int
    delete_partition: bool


@dataclass(frozen=True, slots=True)
class LiveLeader:
    """A broker leading a partition of a LeaderAndIsr request, at its inter-broker listener."""

    broker_id: int
    host_name: str
    port: int


@dataclass(frozen=True, slots=True)
class LiveBroker:
    """A live broker in an UpdateMetadata request: every listener, and its rack."""

    broker_id: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None


@dataclass(frozen=True, slots=True)
class LeaderAndIsrRequestData:
    controller_id: int
    controller_epoch: int
    broker_epoch: int
    partition_states: tuple[LeaderAndIsrPartitionState, ...]
    topic_ids: Mapping[str, uuid.UUID] = field(default_factory=dict)
    live_leaders: tuple[LiveLeader, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateMetadataRequestData:
    controller_id: int
    controller_epoch: int
    broker_epoch: int
    partition_states: tuple[UpdateMetadataPartitionState, ...]
    live_brokers: tuple[LiveBroker, ...]
    topic_ids: Mapping[str, uuid.UUID] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StopReplicaRequestData:
    controller_id: int
    controller_epoch: int
    broker_epoch: int
    partition_states: tuple[StopReplicaPartitionState, ...]


ControlRequest = LeaderAndIsrRequestData | UpdateMetadataRequestData | StopReplicaRequestData


def request_name(request: ControlRequest) -> str:
    if isinstance(request, LeaderAndIsrRequestData):
        return "LeaderAndIsr"
    if isinstance(request, UpdateMetadataRequestData):
        return "UpdateMetadata"
    return "StopReplica"
