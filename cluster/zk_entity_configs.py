"""User and client-id entity configs in ZooKeeper (``/config/users``, ``/config/clients``).

Kafka keeps a user's SCRAM credentials and quotas in ``/config/users/<user>``, client-id
quotas in ``/config/clients/<client-id>`` and (user, client-id) quotas in
``/config/users/<user>/clients/<client-id>``; ``<default>`` names the default entity,
other names are sanitized (URL-encoded). Every change is written, then announced with a
``/config/changes`` notification naming the entity path, so every broker re-reads it.

Entity paths here are Kafka's: ``users/<sanitized>``, ``clients/<sanitized>``,
``users/<sanitized>/clients/<sanitized>``. Users are also offered by their plain name (the
SCRAM credential store's view), where ``<default>`` stands for the default user.
"""

from __future__ import annotations

import logging

from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigChangeNotification, ConfigEntity
from cluster.zk.errors import NodeExistsError, NoNodeError

log = logging.getLogger(__name__)

USERS = paths.CONFIG_TYPE_USERS
CLIENTS = paths.CONFIG_TYPE_CLIENTS
DEFAULT = paths.DEFAULT_ENTITY


def sanitize_user(user: str) -> str:
    """A user's name in entity paths (``<default>`` stays the default entity)."""
    return DEFAULT if user == DEFAULT else paths.sanitize_entity_name(user)


def desanitize_user(sanitized: str) -> str:
    return DEFAULT if sanitized == DEFAULT else paths.desanitize_entity_name(sanitized)


def is_quota_entity_path(path: str) -> bool:
    """``users/<u>``, ``clients/<c>`` or ``users/<u>/clients/<c>``."""
    parts = path.split("/")
    if len(parts) == 2:
        return parts[0] in (USERS, CLIENTS) and bool(parts[1])
    return len(parts) == 4 and parts[0] == USERS and parts[2] == CLIENTS and all(parts)


class ZkEntityConfigs:
    """Cached user / client-id entity configs, re-read on notifications."""

    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk
        # Users by plain name (SCRAM credentials and user quotas).
        self.users: dict[str, dict[str, str]] = {}
        # clients/<c> and users/<u>/clients/<c>, by entity path.
        self.entities: dict[str, dict[str, str]] = {}

    async def _children(self, path: str) -> list[str]:
        try:
            return sorted(await self.zk.get_children(path))
        except NoNodeError:
            return []

    async def load(self) -> None:
        for user in await self._children(paths.config_entity_type(USERS)):
            await self.reload(f"{USERS}/{user}")
            nested = paths.config_entity(USERS, f"{user}/{CLIENTS}")
            for client in await self._children(nested):
                await self.reload(f"{USERS}/{user}/{CLIENTS}/{client}")
        for client in await self._children(paths.config_entity_type(CLIENTS)):
            await self.reload(f"{CLIENTS}/{client}")

    async def reload(self, entity_path: str) -> None:
        """Re-read ``/config/<entity_path>`` (an empty or absent znode has no configs)."""
        if not is_quota_entity_path(entity_path):
            return
        entity_type, name = entity_path.split("/", 1)
        try:
            data, _ = await self.zk.get(paths.config_entity(entity_type, name))
            configs = dict(ConfigEntity.decode(data, f"config of {entity_path}").config)
        except NoNodeError:
            configs = {}
        except ValueError as exc:
            log.warning("ignoring unreadable config of %s: %s", entity_path, exc)
            return
        if entity_type == USERS and "/" not in name:
            user = desanitize_user(name)
            if configs:
                self.users[user] = configs
            else:
                self.users.pop(user, None)
        elif configs:
            self.entities[entity_path] = configs
        else:
            self.entities.pop(entity_path, None)

    async def write(self, entity_path: str, configs: dict[str, str]) -> str:
        """Replace the entity's configs and announce it; returns the notification's name."""
        entity_type, name = entity_path.split("/", 1)
        path = paths.config_entity(entity_type, name)
        data = ConfigEntity(dict(configs)).encode()
        try:
            await self.zk.set(path, data)
        except NoNodeError:
            try:
                await self.zk.create(path, data, makepath=True)
            except NodeExistsError:
                await self.zk.set(path, data)
        note = ConfigChangeNotification.of(entity_type, name)
        created, _ = await self.zk.create(
            paths.config_change_sequence_prefix(), note.encode(), sequential=True, makepath=True
        )
        await self.reload(entity_path)
        return created.rsplit("/", 1)[-1]
