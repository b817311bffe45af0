"""SCRAM credentials per user, kept where Kafka keeps user configs.

Kafka stores a user's SCRAM credentials as that user's entity configs (ZooKeeper
``/config/users/<user>``: ``{"SCRAM-SHA-256": "salt=...,stored_key=...,..."}``).
:class:`UserConfigStore` is that storage: the standalone metadata document today,
ZooKeeper in cluster mode. :class:`ScramCredentialStore` reads and changes the
credentials through it and answers the SCRAM servers' lookups from memory.
"""

from __future__ import annotations

from typing import Protocol

from broker.security.scram import MECHANISMS, CredentialLookup, ScramCredential


class UserConfigStore(Protocol):
    """Per-user entity configs (Kafka's ``/config/users``), durable."""

    def user_configs(self) -> dict[str, dict[str, str]]: ...

    async def set_user_configs(self, user: str, configs: dict[str, str]) -> None: ...


class ScramCredentialStore(CredentialLookup):
    """SCRAM credentials by user and mechanism, backed by a :class:`UserConfigStore`."""

    def __init__(self, backing: UserConfigStore | None = None) -> None:
        self._backing = backing

    def attach(self, backing: UserConfigStore) -> None:
        self._backing = backing

    def _configs(self) -> dict[str, dict[str, str]]:
        return self._backing.user_configs() if self._backing is not None else {}

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        text = self._configs().get(user, {}).get(mechanism)
        if text is None:
            return None
        try:
            return ScramCredential.from_string(text)
        except (KeyError, ValueError):
            return None

    def users(self) -> dict[str, dict[str, ScramCredential]]:
        """Every user with at least one SCRAM credential."""
        out: dict[str, dict[str, ScramCredential]] = {}
        for user, configs in self._configs().items():
            creds = {
                m: ScramCredential.from_string(text)
                for m, text in configs.items()
                if m in MECHANISMS
            }
            if creds:
                out[user] = creds
        return out

    async def alter(
        self, user: str, upserts: dict[str, ScramCredential], deletes: set[str]
    ) -> None:
        """Apply one user's changes in one durable write."""
        assert self._backing is not None
        configs = dict(self._configs().get(user, {}))
        for mechanism in deletes:
            configs.pop(mechanism, None)
        for mechanism, credential in upserts.items():
            configs[mechanism] = credential.to_string()
        await self._backing.set_user_configs(user, configs)
