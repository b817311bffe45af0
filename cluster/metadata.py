"""Cluster metadata model: brokers, topics, partition assignments and leadership.

The shapes mirror Kafka's ZooKeeper znodes (``/brokers/ids/<id>``,
``/brokers/topics/<topic>``, ``.../partitions/<p>/state``, ``/config/topics/<t>``)
so that the standalone store and the ZooKeeper store hold the same facts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    listener: str
    security_protocol: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    """A live broker (``/brokers/ids/<id>``)."""

    broker_id: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None = None


@dataclass(slots=True)
class PartitionState:
    """Leadership of one partition (``/brokers/topics/<t>/partitions/<p>/state``)."""

    replicas: list[int]
    leader: int
    leader_epoch: int = 0
    isr: list[int] = field(default_factory=list)
    controller_epoch: int = 0
    partition_epoch: int = 0


@dataclass(slots=True)
class TopicMetadata:
    """A topic: id, partition states and per-topic config overrides."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState]
    configs: dict[str, str] = field(default_factory=dict)
    is_internal: bool = False


class MetadataStore(Protocol):
    """What the broker needs from the metadata layer (standalone or ZooKeeper)."""

    @property
    def cluster_id(self) -> str: ...

    @property
    def controller_id(self) -> int: ...

    def brokers(self) -> list[BrokerRegistration]: ...

    def topics(self) -> dict[str, TopicMetadata]: ...

    def topic(self, name: str) -> TopicMetadata | None: ...

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None: ...

    async def create_topic(
        self,
        name: str,
        assignment: dict[int, list[int]],
        configs: dict[str, str],
        is_internal: bool = False,
    ) -> TopicMetadata: ...

    async def delete_topic(self, name: str) -> None: ...

    async def add_partitions(self, name: str, assignment: dict[int, list[int]]) -> None: ...

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None: ...

    async def allocate_producer_id_block(self, block_size: int) -> int: ...

    async def close(self) -> None: ...
