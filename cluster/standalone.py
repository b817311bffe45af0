"""Standalone metadata store: one node, metadata persisted in its own data dir.

The document ``josef-metadata.json`` at the top of the first log dir holds the
cluster id, the topics (id, partition states, config overrides), the next
producer id block, per-user entity configs (SCRAM credentials and quotas, as Kafka's
``/config/users``), client-id and (user, client-id) quota configs (``/config/clients``,
``/config/users/<u>/clients/<c>``), the ACLs (as Kafka's ``/kafka-acl``) and the dynamic
broker configs (Kafka's ``/config/brokers/<default>`` and ``/config/brokers/<id>``, under
``broker_configs``). It is rewritten atomically (tmp + fsync + rename) off the event loop
on every change.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.acls import AccessControlEntry, PatternType, ResourcePattern, ResourceType
from cluster.metadata import (
    BrokerConfigChanged,
    BrokerRegistration,
    EntityConfigChanged,
    MetadataListener,
    MetadataPublisher,
    PartitionsAdded,
    PartitionState,
    TopicConfigChanged,
    TopicCreated,
    TopicDeleted,
    TopicMetadata,
)
from cluster.zk.acl_znodes import decode_acls, encode_acls
from cluster.zk_entity_configs import desanitize_user, sanitize_user

METADATA_FILE = "josef-metadata.json"
FORMAT_VERSION = 1


def new_cluster_id() -> str:
    """Kafka cluster ids are url-safe base64 of a random UUID without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StandaloneMetadataStore:
    """MetadataStore for a single broker that is its own controller."""

    def __init__(
        self, data_dir: Path, broker: BrokerRegistration, initial_cluster_id: str | None = None
    ) -> None:
        self._initial_cluster_id = initial_cluster_id
        self._path = data_dir / METADATA_FILE
        self._broker = broker
        self._topics: dict[str, TopicMetadata] = {}
        self._by_id: dict[uuid.UUID, TopicMetadata] = {}
        self._cluster_id = ""
        self._next_producer_id = 0
        self._users: dict[str, dict[str, str]] = {}
        # Quota entities other than plain users, by Kafka's sanitized entity path
        # ("clients/<c>", "users/<u>/clients/<c>").
        self._entities: dict[str, dict[str, str]] = {}
        self._acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
        self._broker_configs: dict[str, dict[str, str]] = {}
        # OffsetCommit v0 offsets: group -> "topic/partition" -> offset (Kafka keeps them
        # in ZooKeeper under /consumers; the standalone document stands in for it).
        self._consumer_offsets: dict[str, dict[str, int]] = {}
        self._lock = asyncio.Lock()
        self._events = MetadataPublisher()

    # -- loading -------------------------------------------------------------
    def load(self) -> None:
        """Blocking: read the document, or create a new cluster identity."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if not self._path.exists():
            self._cluster_id = self._initial_cluster_id or new_cluster_id()
            _write_atomically(self._path, self._serialize())
            return
        try:
            doc = json.loads(self._path.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read cluster metadata {self._path}: {exc}") from exc
        self._cluster_id = str(doc["cluster_id"])
        self._next_producer_id = int(doc.get("next_producer_id", 0))
        self._users = {
            str(user): {str(k): str(v) for k, v in configs.items()}
            for user, configs in doc.get("users", {}).items()
        }
        self._entities = {
            str(path): {str(k): str(v) for k, v in configs.items()}
            for path, configs in doc.get("entities", {}).items()
        }
        self._acls = _load_acls(doc.get("acls", []), self._path)
        self._broker_configs = {
            str(entity): {str(k): str(v) for k, v in configs.items()}
            for entity, configs in doc.get("broker_configs", {}).items()
        }
        self._consumer_offsets = {
            str(group): {str(k): int(v) for k, v in offsets.items()}
            for group, offsets in doc.get("consumer_offsets", {}).items()
        }
        for name, t in doc.get("topics", {}).items():
            topic = TopicMetadata(
                name=name,
                topic_id=uuid.UUID(t["topic_id"]),
                partitions={
                    int(p): PartitionState(
                        replicas=list(s["replicas"]),
                        leader=int(s["leader"]),
                        leader_epoch=int(s.get("leader_epoch", 0)),
                        isr=list(s.get("isr", s["replicas"])),
                        controller_epoch=int(s.get("controller_epoch", 0)),
                        partition_epoch=int(s.get("partition_epoch", 0)),
                    )
                    for p, s in t["partitions"].items()
                },
                configs=dict(t.get("configs", {})),
                is_internal=bool(t.get("is_internal", False)),
            )
            self._topics[name] = topic
            self._by_id[topic.topic_id] = topic

    def _serialize(self) -> bytes:
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "cluster_id": self._cluster_id,
            "next_producer_id": self._next_producer_id,
            "users": self._users,
            "entities": self._entities,
            "acls": _dump_acls(self._acls),
            "broker_configs": self._broker_configs,
            "consumer_offsets": self._consumer_offsets,
            "topics": {
                t.name: {
                    "topic_id": str(t.topic_id),
                    "is_internal": t.is_internal,
                    "configs": t.configs,
                    "partitions": {
                        str(p): {
                            "replicas": s.replicas,
                            "leader": s.leader,
                            "leader_epoch": s.leader_epoch,
                            "isr": s.isr,
                            "controller_epoch": s.controller_epoch,
                            "partition_epoch": s.partition_epoch,
                        }
                        for p, s in sorted(t.partitions.items())
                    },
                }
                for t in self._topics.values()
            },
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    async def _persist(self) -> None:
        data = self._serialize()
        await asyncio.to_thread(_write_atomically, self._path, data)

    # -- reads ---------------------------------------------------------------
    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    @property
    def controller_id(self) -> int:
        return self._broker.broker_id

    def brokers(self) -> list[BrokerRegistration]:
        return [self._broker]

    def topics(self) -> dict[str, TopicMetadata]:
        return self._topics

    def topic(self, name: str) -> TopicMetadata | None:
        return self._topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        return self._by_id.get(topic_id)

    # -- writes --------------------------------------------------------------
    async def create_topic(
        self,
        name: str,
        assignment: dict[int, list[int]],
        configs: dict[str, str],
        is_internal: bool = False,
    ) -> TopicMetadata:
        async with self._lock:
            if name in self._topics:
                raise KeyError(name)
            topic_id = uuid.uuid4()
            while topic_id in self._by_id or topic_id.int == 0:
                topic_id = uuid.uuid4()
            topic = TopicMetadata(
                name=name,
                topic_id=topic_id,
                partitions={
                    p: PartitionState(replicas=list(r), leader=r[0], isr=list(r))
                    for p, r in assignment.items()
                },
                configs=dict(configs),
                is_internal=is_internal,
            )
            self._topics[name] = topic
            self._by_id[topic_id] = topic
            await self._persist()
        self._events.publish(TopicCreated(topic))
        return topic

    async def delete_topic(self, name: str) -> None:
        async with self._lock:
            topic = self._topics.pop(name)
            self._by_id.pop(topic.topic_id, None)
            await self._persist()
        self._events.publish(TopicDeleted(name, topic.topic_id, tuple(sorted(topic.partitions))))

    async def add_partitions(self, name: str, assignment: dict[int, list[int]]) -> None:
        async with self._lock:
            topic = self._topics[name]
            for p, r in assignment.items():
                topic.partitions[p] = PartitionState(replicas=list(r), leader=r[0], isr=list(r))
            await self._persist()
        self._events.publish(PartitionsAdded(topic, tuple(sorted(assignment))))

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        async with self._lock:
            topic = self._topics[name]
            topic.configs = dict(configs)
            await self._persist()
        self._events.publish(TopicConfigChanged(topic))

    async def fetch_topic_configs(self, name: str) -> dict[str, str]:
        topic = self._topics.get(name)
        return dict(topic.configs) if topic is not None else {}

    async def reassigning_partitions(self, name: str) -> list[int]:
        return []  # one broker: nothing to reassign

    async def allocate_producer_id_block(self, block_size: int) -> int:
        async with self._lock:
            first = self._next_producer_id
            self._next_producer_id = first + block_size
            await self._persist()
            return first

    def subscribe(self, listener: MetadataListener) -> None:
        self._events.subscribe(listener)

    async def wait_for_topic(
        self, name: str, timeout_ms: int, partitions: int | None = None
    ) -> bool:
        # This broker leads every partition as soon as the topic exists.
        topic = self._topics.get(name)
        return topic is not None and len(topic.partitions) >= (partitions or 0)

    async def wait_for_topic_deleted(self, name: str, timeout_ms: int) -> bool:
        return name not in self._topics

    async def wait_until(self, done: Callable[[], bool], timeout_ms: int) -> bool:
        return done()  # every change is applied before the call that made it returns

    def user_configs(self) -> dict[str, dict[str, str]]:
        """Per-user entity configs (Kafka's /config/users/<user>)."""
        return self._users

    async def set_user_configs(self, user: str, configs: dict[str, str]) -> None:
        """Replace one user's configs; an empty dict removes the user."""
        async with self._lock:
            if configs:
                self._users[user] = dict(configs)
            else:
                self._users.pop(user, None)
            await self._persist()
        self._events.publish(EntityConfigChanged(f"users/{sanitize_user(user)}"))

    def entity_configs(self) -> dict[str, dict[str, str]]:
        """Quota entities other than plain users (Kafka's /config/clients/<c> and
        /config/users/<u>/clients/<c>), by sanitized entity path."""
        return self._entities

    async def set_entity_configs(self, path: str, configs: dict[str, str]) -> None:
        if path.startswith("users/") and path.count("/") == 1:
            await self.set_user_configs(desanitize_user(path.split("/", 1)[1]), configs)
            return
        async with self._lock:
            if configs:
                self._entities[path] = dict(configs)
            else:
                self._entities.pop(path, None)
            await self._persist()
        self._events.publish(EntityConfigChanged(path))

    def acls(self) -> dict[ResourcePattern, frozenset[AccessControlEntry]]:
        return self._acls

    async def set_acls(
        self, pattern: ResourcePattern, entries: frozenset[AccessControlEntry]
    ) -> None:
        """Replace one resource's ACLs (empty: remove the resource), durably."""
        async with self._lock:
            if entries:
                self._acls[pattern] = entries
            else:
                self._acls.pop(pattern, None)
            await self._persist()

    def broker_configs(self, entity: str) -> dict[str, str]:
        """Dynamic broker configs of ``<default>`` or a broker id (KIP-226)."""
        return dict(self._broker_configs.get(entity, {}))

    async def read_broker_configs(self, entity: str) -> dict[str, str]:
        return self.broker_configs(entity)

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace an entity's dynamic broker configs durably; an empty dict clears them."""
        async with self._lock:
            if configs:
                self._broker_configs[entity] = dict(configs)
            else:
                self._broker_configs.pop(entity, None)
            await self._persist()
        self._events.publish(BrokerConfigChanged(entity))

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        async with self._lock:
            self._consumer_offsets.setdefault(group, {})[f"{topic}/{partition}"] = offset
            await self._persist()

    async def consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        return self._consumer_offsets.get(group, {}).get(f"{topic}/{partition}")

    async def close(self) -> None:
        return None


def _dump_acls(acls: dict[ResourcePattern, frozenset[AccessControlEntry]]) -> list[Any]:
    """The ACLs as Kafka's znodes hold them, one object per resource pattern."""
    return [
        {
            "resource_type": p.resource_type.name,
            "pattern_type": p.pattern_type.name,
            "name": p.name,
            "acls": json.loads(encode_acls(entries))["acls"],
        }
        for p, entries in sorted(acls.items())
    ]


def _load_acls(
    items: list[Any], path: Path
) -> dict[ResourcePattern, frozenset[AccessControlEntry]]:
    out: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
    for item in items:
        try:
            pattern = ResourcePattern(
                ResourceType[item["resource_type"]],
                str(item["name"]),
                PatternType[item["pattern_type"]],
            )
            data = json.dumps({"acls": item["acls"], "version": 1}).encode()
            entries = decode_acls(data, f"ACLs of {pattern} in {path}")
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeError(f"cannot read the ACLs in {path}: {exc}") from exc
        if entries:
            out[pattern] = entries
    return out
