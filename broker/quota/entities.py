"""Quota entities and keys as Kafka names them (``/config/users``, ``/config/clients``).

An entity is a user, a client id, or a (user, client id) pair; either part may be the
default entity (``<default>``). Entities are identified by Kafka's entity path with
sanitized names: ``users/alice``, ``clients/<default>``, ``users/alice/clients/app-1``.

For a connection of user U with client id C, the quota that applies is the first one set
in this order (Kafka's ClientQuotaManager): ``users/U/clients/C``,
``users/U/clients/<default>``, ``users/U``, ``users/<default>/clients/C``,
``users/<default>/clients/<default>``, ``users/<default>``, ``clients/C``,
``clients/<default>``. Each quota key (producer_byte_rate, consumer_byte_rate,
request_percentage) is resolved on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from cluster.zk.paths import DEFAULT_ENTITY, desanitize_entity_name, sanitize_entity_name
from cluster.zk_entity_configs import sanitize_user

DEFAULT: Final = DEFAULT_ENTITY
USER: Final = "user"
CLIENT_ID: Final = "client-id"
IP: Final = "ip"

PRODUCER_BYTE_RATE: Final = "producer_byte_rate"
CONSUMER_BYTE_RATE: Final = "consumer_byte_rate"
REQUEST_PERCENTAGE: Final = "request_percentage"
CONTROLLER_MUTATION_RATE: Final = "controller_mutation_rate"
# Key -> whether Kafka stores it as an integer (LONG) rather than a DOUBLE.
QUOTA_KEYS: Final[Mapping[str, bool]] = {
    PRODUCER_BYTE_RATE: True,
    CONSUMER_BYTE_RATE: True,
    REQUEST_PERCENTAGE: False,
    CONTROLLER_MUTATION_RATE: False,
}
# controller_mutation_rate (KIP-599) is refused by AlterClientQuotas: not enforced yet.


class EntityConfigSource(Protocol):
    """The metadata store's user and client-id entity configs."""

    def user_configs(self) -> dict[str, dict[str, str]]: ...

    def entity_configs(self) -> dict[str, dict[str, str]]: ...

    async def set_entity_configs(self, path: str, configs: dict[str, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class QuotaEntity:
    """A quota entity: ``user`` / ``client_id`` hold plain names, None for the default
    entity of that type; ``has_user`` / ``has_client`` say which types it names."""

    has_user: bool
    user: str | None
    has_client: bool
    client_id: str | None

    @property
    def path(self) -> str:
        parts = []
        if self.has_user:
            parts.append(f"users/{DEFAULT if self.user is None else sanitize_user(self.user)}")
        if self.has_client:
            name = DEFAULT if self.client_id is None else sanitize_entity_name(self.client_id)
            parts.append(f"clients/{name}")
        return "/".join(parts)

    def entries(self) -> list[tuple[str, str | None]]:
        """(entity type, name or None for default) in Kafka's wire form."""
        out: list[tuple[str, str | None]] = []
        if self.has_user:
            out.append((USER, self.user))
        if self.has_client:
            out.append((CLIENT_ID, self.client_id))
        return out

    def describe(self) -> str:
        parts = []
        if self.has_user:
            parts.append("the default user" if self.user is None else f"user '{self.user}'")
        if self.has_client:
            client = self.client_id
            parts.append("the default client-id" if client is None else f"client-id '{client}'")
        return ", ".join(parts)


def entity_from_path(path: str) -> QuotaEntity | None:
    parts = path.split("/")
    if len(parts) == 2 and parts[0] in ("users", "clients"):
        name = None if parts[1] == DEFAULT else desanitize_entity_name(parts[1])
        if parts[0] == "users":
            return QuotaEntity(True, name, False, None)
        return QuotaEntity(False, None, True, name)
    if len(parts) == 4 and parts[0] == "users" and parts[2] == "clients":
        user = None if parts[1] == DEFAULT else desanitize_entity_name(parts[1])
        client = None if parts[3] == DEFAULT else desanitize_entity_name(parts[3])
        return QuotaEntity(True, user, True, client)
    return None


def quota_configs(source: EntityConfigSource) -> dict[str, dict[str, str]]:
    """Every entity's quota keys (other keys, such as SCRAM credentials, left out)."""
    out: dict[str, dict[str, str]] = {}
    for user, configs in source.user_configs().items():
        quotas = {k: v for k, v in configs.items() if k in QUOTA_KEYS}
        if quotas:
            out[f"users/{sanitize_user(user)}"] = quotas
    for path, configs in source.entity_configs().items():
        quotas = {k: v for k, v in configs.items() if k in QUOTA_KEYS}
        if quotas:
            out[path] = quotas
    return out


def all_configs_of(source: EntityConfigSource, path: str) -> dict[str, str]:
    """Everything stored for one entity (a user's SCRAM credentials included)."""
    entity = entity_from_path(path)
    if entity is not None and entity.has_user and not entity.has_client:
        key = DEFAULT if entity.user is None else entity.user
        return dict(source.user_configs().get(key, {}))
    return dict(source.entity_configs().get(path, {}))


def format_value(key: str, value: float) -> str:
    """As Kafka stores it: LONG keys as integers, DOUBLE keys as Java prints doubles."""
    if QUOTA_KEYS.get(key, False):
        return str(int(value))
    return repr(float(value))
