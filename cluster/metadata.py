"""Cluster metadata model: brokers, topics, partition assignments and leadership.

The shapes mirror Kafka's ZooKeeper znodes (``/brokers/ids/<id>``,
``/brokers/topics/<topic>``, ``.../partitions/<p>/state``, ``/config/topics/<t>``)
so that the standalone store and the ZooKeeper store hold the same facts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

_log = logging.getLogger(__name__)


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
    #: Replicas on offline brokers or log dirs, as the controller reports them.
    offline_replicas: list[int] = field(default_factory=list)


@dataclass(slots=True)
class TopicMetadata:
    """A topic: id, partition states and per-topic config overrides."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState]
    configs: dict[str, str] = field(default_factory=dict)
    is_internal: bool = False


# -- change events ----------------------------------------------------------------------
# The store publishes these on the broker's event loop after its own state has changed;
# the replica manager, the local leadership of a standalone broker and the coordinators
# subscribe instead of being called by whoever made the change.


@dataclass(frozen=True, slots=True)
class TopicCreated:
    topic: TopicMetadata


@dataclass(frozen=True, slots=True)
class TopicDeleted:
    name: str
    topic_id: uuid.UUID
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PartitionsAdded:
    topic: TopicMetadata
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicConfigChanged:
    topic: TopicMetadata


@dataclass(frozen=True, slots=True)
class PartitionStatesChanged:
    """Leaders/ISRs of some partitions changed (cluster mode: an UpdateMetadata)."""

    topic: TopicMetadata
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BrokersChanged:
    brokers: tuple[BrokerRegistration, ...]


@dataclass(frozen=True, slots=True)
class EntityConfigChanged:
    """User or client-id entity configs changed (quotas, SCRAM credentials): Kafka's
    ``/config/users/..`` and ``/config/clients/..``, named by entity path."""

    entity_path: str


@dataclass(frozen=True, slots=True)
class BrokerConfigChanged:
    """Dynamic broker configs of an entity changed (Kafka's ``/config/brokers/<entity>``):
    ``<default>`` for the cluster-wide default, else a broker id."""

    entity: str


MetadataEvent = (
    TopicCreated
    | TopicDeleted
    | PartitionsAdded
    | TopicConfigChanged
    | PartitionStatesChanged
    | BrokersChanged
    | EntityConfigChanged
    | BrokerConfigChanged
)
MetadataListener = Callable[[MetadataEvent], None]


class MetadataPublisher:
    """Fan-out of metadata events to subscribers; a failing subscriber is logged, not fatal."""

    def __init__(self) -> None:
        self._listeners: list[MetadataListener] = []

    def subscribe(self, listener: MetadataListener) -> None:
        self._listeners.append(listener)

    def publish(self, event: MetadataEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("metadata listener failed on %s", type(event).__name__)


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

    async def fetch_topic_configs(self, name: str) -> dict[str, str]:
        """The topic's config overrides as stored (Kafka's ``fetchEntityConfig``), for a
        read-modify-write such as IncrementalAlterConfigs."""
        ...

    async def reassigning_partitions(self, name: str) -> list[int]:
        """Partitions of ``name`` with a reassignment in progress (none standalone)."""
        ...

    async def allocate_producer_id_block(self, block_size: int) -> int: ...

    def broker_configs(self, entity: str) -> dict[str, str]:
        """Dynamic broker configs of ``<default>`` or a broker id, as last seen."""
        ...

    async def read_broker_configs(self, entity: str) -> dict[str, str]:
        """The same, read from the source of truth (for read-modify-write)."""
        ...

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace an entity's dynamic broker configs; every broker is told."""
        ...

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        """Store an OffsetCommit v0 offset where Kafka 3.9 keeps it in ZooKeeper mode
        (``/consumers/<group>/offsets/<topic>/<partition>``), apart from the group
        coordinator's offsets."""
        ...

    async def consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        """The offset stored by OffsetCommit v0, or None (read by OffsetFetch v0)."""
        ...

    def subscribe(self, listener: MetadataListener) -> None:
        """Receive every change event, on the event loop, after the change is visible."""
        ...

    async def wait_for_topic(
        self, name: str, timeout_ms: int, partitions: int | None = None
    ) -> bool:
        """True once every partition of ``name`` (at least ``partitions`` of them, if given)
        has a leader known to this broker."""
        ...

    async def wait_for_topic_deleted(self, name: str, timeout_ms: int) -> bool:
        """True once ``name`` is gone from this broker's metadata."""
        ...

    async def wait_until(self, done: Callable[[], bool], timeout_ms: int) -> bool:
        """Re-check ``done`` after each metadata change until it is true (True) or
        ``timeout_ms`` has passed (False)."""
        ...

    async def close(self) -> None: ...
