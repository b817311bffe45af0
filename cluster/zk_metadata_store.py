"""The MetadataStore of a broker in a ZooKeeper-coordinated cluster.

Reads come from the broker's :class:`~cluster.metadata_cache.MetadataCache`, which the
controller keeps current with UpdateMetadata requests, and from topic configs read from
``/config/topics/<t>`` (re-read when a ``/config/changes`` notification names them).
Writes go to ZooKeeper the way Kafka's AdminZkClient writes them, from whichever broker
received the admin request: a new topic is its config znode and then its assignment
(``/brokers/topics/<t>`` with a topic id); deletion is a marker under
``/admin/delete_topics``; new partitions extend the assignment with a compare-and-set;
config changes are written and announced with a sequential ``/config/changes`` znode. The
controller notices each write and tells the brokers what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from kio.schema.errors import ErrorCode

from cluster.metadata import (
    BrokerConfigChanged,
    BrokerRegistration,
    EntityConfigChanged,
    MetadataEvent,
    MetadataListener,
    MetadataPublisher,
    PartitionState,
    TopicConfigChanged,
    TopicDeleted,
    TopicMetadata,
)
from cluster.metadata_cache import MetadataCache
from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigChangeNotification, ConfigEntity
from cluster.zk.errors import BadVersionError, NodeExistsError, NoNodeError
from cluster.zk.ops import ZnodeStat
from cluster.zk.registration import allocate_producer_id_block
from cluster.zk.topic_znodes import ReplicaAssignment, TopicAssignment
from cluster.zk.watchers import ChildrenWatcher, DataWatcher
from cluster.zk.znodes import BrokerInfo, ControllerRegistration
from cluster.zk_broker_configs import ZkBrokerConfigs
from cluster.zk_entity_configs import ZkEntityConfigs, is_quota_entity_path, sanitize_user
from protocol.errors import KafkaError

log = logging.getLogger(__name__)


class ZooKeeperMetadataStore:
    """MetadataStore over ZooKeeper plus the controller-fed metadata cache."""

    def __init__(
        self,
        zk: ZkClient,
        broker_id: int,
        cluster_id: str,
        internal_topics: frozenset[str] = frozenset(),
    ) -> None:
        self.zk = zk
        self.broker_id = broker_id
        self._cluster_id = cluster_id
        self._events = MetadataPublisher()
        self._configs: dict[str, dict[str, str]] = {}
        self.entity_configs_zk = ZkEntityConfigs(zk)
        self.broker_configs_zk = ZkBrokerConfigs(zk, broker_id)
        self.cache = MetadataCache(self._events, self._topic_configs, internal_topics)
        self._registered: dict[int, BrokerRegistration] = {}
        self._watchers: list[ChildrenWatcher | DataWatcher] = []
        self._elected_controller = -1
        self._last_change: str | None = None
        self._changed = asyncio.Event()
        self._events.subscribe(self._on_event)

    def _on_event(self, event: MetadataEvent) -> None:
        if isinstance(event, TopicDeleted):
            # Its /config/topics znode goes with it; a topic created again under the same
            # name must not inherit the old overrides.
            self._configs.pop(event.name, None)
        self._changed.set()

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Follow registered brokers (until the controller's view arrives) and config
        change notifications."""
        changes = await self._children(paths.CONFIG_CHANGES)
        # Notifications older than this start are already reflected in the znodes we read.
        self._last_change = max(changes) if changes else None
        await self.entity_configs_zk.load()
        await self.broker_configs_zk.load()
        self._watchers.append(self.zk.watch_children(paths.BROKER_IDS, self._on_brokers))
        self._watchers.append(self.zk.watch_data(paths.CONTROLLER, self._on_controller))
        self._watchers.append(self.zk.watch_children(paths.CONFIG_CHANGES, self._on_changes))

    async def close(self) -> None:
        for w in self._watchers:
            w.cancel()
        self._watchers.clear()

    async def _children(self, path: str) -> list[str]:
        try:
            return sorted(await self.zk.get_children(path))
        except NoNodeError:
            return []

    def _on_brokers(self, children: list[str] | None) -> None:
        asyncio.get_running_loop().create_task(self._read_brokers(children or []))

    async def _read_brokers(self, children: list[str]) -> None:
        found: dict[int, BrokerRegistration] = {}
        for child in children:
            if not child.isdigit():
                continue
            broker_id = int(child)
            try:
                data, _ = await self.zk.get(paths.broker(broker_id))
                found[broker_id] = BrokerInfo.decode(broker_id, data).to_registration()
            except NoNodeError:
                continue
            except ValueError as exc:
                log.warning("ignoring unreadable registration of broker %d: %s", broker_id, exc)
        self._registered = found

    def _on_controller(self, data: bytes | None, stat: ZnodeStat | None) -> None:
        controller = -1
        if stat is not None:
            try:
                controller = ControllerRegistration.decode(data).broker_id
            except ValueError as exc:
                log.warning("ignoring unreadable %s: %s", paths.CONTROLLER, exc)
        self._elected_controller = controller

    def _on_changes(self, children: list[str] | None) -> None:
        asyncio.get_running_loop().create_task(self._process_changes(children or []))

    async def _process_changes(self, children: list[str]) -> None:
        for child in sorted(children):
            if self._last_change is not None and child <= self._last_change:
                continue
            self._last_change = child
            try:
                data, _ = await self.zk.get(f"{paths.CONFIG_CHANGES}/{child}")
                note = ConfigChangeNotification.decode(data)
            except NoNodeError:
                continue
            except ValueError as exc:
                log.warning("ignoring config change notification %s: %s", child, exc)
                continue
            if note.entity_type == paths.CONFIG_TYPE_TOPICS:
                await self._reload_topic_config(paths.desanitize_entity_name(note.entity_name))
            elif is_quota_entity_path(note.entity_path):
                await self.entity_configs_zk.reload(note.entity_path)
                self._events.publish(EntityConfigChanged(note.entity_path))
            elif note.entity_type == paths.CONFIG_TYPE_BROKERS:
                await self._reload_broker_config(note.entity_name)

    async def _reload_broker_config(self, entity: str) -> None:
        if self.broker_configs_zk.followed(entity):
            await self.broker_configs_zk.reload(entity)
            self._events.publish(BrokerConfigChanged(entity))

    async def _reload_topic_config(self, name: str) -> None:
        configs = await self._read_topic_config(name)
        self._configs[name] = configs
        topic = self.cache.topics.get(name)
        if topic is not None and topic.configs != configs:
            topic.configs = dict(configs)
            self._events.publish(TopicConfigChanged(topic))

    async def _read_topic_config(self, name: str) -> dict[str, str]:
        try:
            data, _ = await self.zk.get(paths.topic_config(name))
        except NoNodeError:
            return {}
        return dict(ConfigEntity.decode(data, f"config of topic {name}").config)

    async def prepare_topics(self, names: list[str]) -> None:
        """Read the configs of topics not seen before (their logs may be created next)."""
        for name in names:
            if name not in self._configs:
                self._configs[name] = await self._read_topic_config(name)

    def _topic_configs(self, name: str) -> dict[str, str]:
        return self._configs.get(name, {})

    def topic_configs(self, name: str) -> dict[str, str] | None:
        """The topic's ``/config/topics`` overrides as last read, whether or not the
        controller's metadata for it has arrived (a LeaderAndIsr precedes the
        UpdateMetadata that names a new topic; logs on disk open before either)."""
        return self._configs.get(name)

    # -- reads -------------------------------------------------------------------------

    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    @property
    def controller_id(self) -> int:
        # The controller's view once it has spoken; before its first UpdateMetadata reaches
        # this broker, the one ZooKeeper shows elected (admin clients wait for one).
        controller = self.cache.controller_id
        return controller if controller >= 0 else self._elected_controller

    def brokers(self) -> list[BrokerRegistration]:
        # The controller's view once it has spoken; before that, ZooKeeper's registrations.
        source = self.cache.brokers if self.cache.controller_id >= 0 else self._registered
        return [source[b] for b in sorted(source)]

    def registered_brokers(self) -> dict[int, BrokerRegistration]:
        return dict(self._registered)

    def topics(self) -> dict[str, TopicMetadata]:
        return self.cache.topics

    def topic(self, name: str) -> TopicMetadata | None:
        return self.cache.topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        return self.cache.by_id.get(topic_id)

    def subscribe(self, listener: MetadataListener) -> None:
        self._events.subscribe(listener)

    async def wait_for_topic(
        self, name: str, timeout_ms: int, partitions: int | None = None
    ) -> bool:
        def done() -> bool:
            topic = self.cache.topics.get(name)
            return (
                topic is not None
                and len(topic.partitions) >= (partitions or 0)
                and self.cache.has_leaders(name)
            )

        return await self.wait_until(done, timeout_ms)

    async def wait_for_topic_deleted(self, name: str, timeout_ms: int) -> bool:
        return await self.wait_until(lambda: name not in self.cache.topics, timeout_ms)

    async def wait_until(self, done: Callable[[], bool], timeout_ms: int) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000.0
        while not done():
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    # -- writes (Kafka's AdminZkClient) -------------------------------------------------

    async def create_topic(
        self,
        name: str,
        assignment: dict[int, list[int]],
        configs: dict[str, str],
        is_internal: bool = False,
    ) -> TopicMetadata:
        topic_path = paths.topic(name)
        if await self.zk.exists(topic_path) is not None:
            marked = await self.zk.exists(paths.delete_topic_marker(name)) is not None
            raise KafkaError(
                f"Topic '{name}' is marked for deletion."
                if marked
                else f"Topic '{name}' already exists.",
                ErrorCode.topic_already_exists,
            )
        topic_id = uuid.uuid4()
        # Config first, so the controller and brokers find it when the topic appears.
        await self._write_config(name, configs)
        data = TopicAssignment.of(name, topic_id, assignment).encode()
        try:
            await self.zk.create(topic_path, data, makepath=True)
        except NodeExistsError:
            raise KafkaError(
                f"Topic '{name}' already exists.", ErrorCode.topic_already_exists
            ) from None
        self._configs[name] = dict(configs)
        log.info("wrote topic %s (id %s) to ZooKeeper: %s", name, topic_id, assignment)
        return TopicMetadata(
            name,
            topic_id,
            {p: PartitionState(replicas=list(r), leader=-1, isr=[]) for p, r in assignment.items()},
            dict(configs),
            is_internal=is_internal,
        )

    async def _write_config(self, name: str, configs: dict[str, str]) -> None:
        data = ConfigEntity(dict(configs)).encode()
        path = paths.topic_config(name)
        try:
            await self.zk.set(path, data)
        except NoNodeError:
            try:
                await self.zk.create(path, data, makepath=True)
            except NodeExistsError:
                await self.zk.set(path, data)

    async def delete_topic(self, name: str) -> None:
        if await self.zk.exists(paths.topic(name)) is None:
            raise KafkaError(f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition)
        with contextlib.suppress(NodeExistsError):
            await self.zk.create(paths.delete_topic_marker(name), None, makepath=True)
        log.info("marked topic %s for deletion", name)

    async def add_partitions(self, name: str, assignment: dict[int, list[int]]) -> None:
        path = paths.topic(name)
        while True:
            try:
                data, stat = await self.zk.get(path)
            except NoNodeError:
                raise KafkaError(
                    f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition
                ) from None
            current = TopicAssignment.decode(name, data)
            if any(a.is_being_reassigned for a in current.partitions.values()):
                # The controller may be rewriting this znode: Kafka refuses, too.
                raise KafkaError(
                    f"A partition reassignment is in progress for the topic '{name}'.",
                    ErrorCode.reassignment_in_progress,
                )
            parts = dict(current.partitions)
            for p, replicas in assignment.items():
                if p in parts:
                    raise KafkaError(
                        f"partition {p} of {name} already exists", ErrorCode.invalid_partitions
                    )
                parts[p] = ReplicaAssignment(tuple(replicas))
            updated = TopicAssignment(name, current.topic_id, parts)
            try:
                await self.zk.set(path, updated.encode(), version=stat.version)
                return
            except BadVersionError:
                continue  # changed meanwhile (e.g. a reassignment): read again

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        await self._write_config(name, configs)
        note = ConfigChangeNotification.of(
            paths.CONFIG_TYPE_TOPICS, paths.sanitize_entity_name(name)
        )
        created, _ = await self.zk.create(
            paths.config_change_sequence_prefix(), note.encode(), sequential=True, makepath=True
        )
        # Our own notification: apply at once (the watcher will skip it).
        self._last_change = max(self._last_change or "", created.rsplit("/", 1)[-1])
        await self._reload_topic_config(name)

    async def fetch_topic_configs(self, name: str) -> dict[str, str]:
        return await self._read_topic_config(name)

    async def reassigning_partitions(self, name: str) -> list[int]:
        try:
            data, _ = await self.zk.get(paths.topic(name))
        except NoNodeError:
            return []
        assignment = TopicAssignment.decode(name, data)
        return sorted(p for p, a in assignment.partitions.items() if a.is_being_reassigned)

    # -- user configs (SCRAM credentials, Kafka's /config/users/<user>) ----------------

    def user_configs(self) -> dict[str, dict[str, str]]:
        return self.entity_configs_zk.users

    async def set_user_configs(self, user: str, configs: dict[str, str]) -> None:
        """Replace one user's configs (empty: remove them) and notify every broker."""
        await self.set_entity_configs(f"{paths.CONFIG_TYPE_USERS}/{sanitize_user(user)}", configs)

    # -- client-id and (user, client-id) quota configs ---------------------------------

    def entity_configs(self) -> dict[str, dict[str, str]]:
        """``clients/<c>`` and ``users/<u>/clients/<c>`` configs by entity path."""
        return self.entity_configs_zk.entities

    async def set_entity_configs(self, path: str, configs: dict[str, str]) -> None:
        created = await self.entity_configs_zk.write(path, configs)
        # Our own notification: applied already (the watcher will skip it).
        self._last_change = max(self._last_change or "", created)
        self._events.publish(EntityConfigChanged(path))

    # -- dynamic broker configs (KIP-226, /config/brokers/<default> and /<id>) ----------

    def broker_configs(self, entity: str) -> dict[str, str]:
        return dict(self.broker_configs_zk.entities.get(entity, {}))

    async def read_broker_configs(self, entity: str) -> dict[str, str]:
        return await self.broker_configs_zk.read(entity)

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Write ``/config/brokers/<entity>`` and notify every broker (this one at once).

        The notification is not marked as seen: a notification of another broker's change
        with a lower sequence number may still be on its way here, and re-reading our own
        change later is harmless."""
        await self.broker_configs_zk.write(entity, configs)
        if self.broker_configs_zk.followed(entity):
            self._events.publish(BrokerConfigChanged(entity))

    async def set_consumer_offset(
        self, group: str, topic: str, partition: int, offset: int
    ) -> None:
        """Kafka's ``setOrCreateConsumerOffset``: set the znode, creating it if absent."""
        path = paths.consumer_offset(group, topic, partition)
        data = str(offset).encode()
        try:
            await self.zk.set(path, data)
        except NoNodeError:
            try:
                await self.zk.create(path, data, makepath=True)
            except NodeExistsError:
                await self.zk.set(path, data)

    async def consumer_offset(self, group: str, topic: str, partition: int) -> int | None:
        try:
            data, _ = await self.zk.get(paths.consumer_offset(group, topic, partition))
        except NoNodeError:
            return None
        return int(data) if data else None

    async def allocate_producer_id_block(self, block_size: int) -> int:
        block = await allocate_producer_id_block(self.zk, self.broker_id, block_size)
        return block.first_producer_id
