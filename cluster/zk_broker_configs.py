"""Dynamic broker configs in ZooKeeper (KIP-226): ``/config/brokers/<default>`` and
``/config/brokers/<id>``.

Kafka's AdminZkClient.changeBrokerConfig writes the whole entity (``{"version":1,
"config":{...}}``, values as strings), then a ``/config/changes/config_change_<seq>``
notification ``{"version":2,"entity_path":"brokers/<entity>"}``; every broker follows the
queue and re-reads the entity it names. A broker reads ``<default>`` and its own id at
start-up, before its components are built.
"""

from __future__ import annotations

import logging

from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigChangeNotification, ConfigEntity
from cluster.zk.errors import NodeExistsError, NoNodeError

log = logging.getLogger(__name__)

BROKERS = paths.CONFIG_TYPE_BROKERS


class ZkBrokerConfigs:
    """Cached dynamic broker configs of the entities a broker follows."""

    def __init__(self, zk: ZkClient, broker_id: int) -> None:
        self.zk = zk
        self.broker_id = broker_id
        self.entities: dict[str, dict[str, str]] = {}

    def followed(self, entity: str) -> bool:
        """Only the default and this broker's own configs change this broker."""
        return entity in (paths.DEFAULT_ENTITY, str(self.broker_id))

    async def load(self) -> None:
        for entity in (paths.DEFAULT_ENTITY, str(self.broker_id)):
            await self.reload(entity)

    async def read(self, entity: str) -> dict[str, str]:
        """``/config/brokers/<entity>`` as ZooKeeper holds it now (absent: empty)."""
        try:
            data, _ = await self.zk.get(paths.config_entity(BROKERS, entity))
        except NoNodeError:
            return {}
        return dict(ConfigEntity.decode(data, f"config of broker {entity}").config)

    async def reload(self, entity: str) -> None:
        try:
            configs = await self.read(entity)
        except ValueError as exc:
            log.error("ignoring unreadable dynamic config of broker %s: %s", entity, exc)
            return
        self.entities[entity] = configs

    async def write(self, entity: str, configs: dict[str, str]) -> str:
        """Replace the entity's configs and announce it; returns the notification's name."""
        path = paths.config_entity(BROKERS, entity)
        data = ConfigEntity(dict(configs)).encode()
        try:
            await self.zk.set(path, data)
        except NoNodeError:
            try:
                await self.zk.create(path, data, makepath=True)
            except NodeExistsError:
                await self.zk.set(path, data)
        note = ConfigChangeNotification.of(BROKERS, entity)
        created, _ = await self.zk.create(
            paths.config_change_sequence_prefix(), note.encode(), sequential=True, makepath=True
        )
        self.entities[entity] = dict(configs)
        return created.rsplit("/", 1)[-1]
