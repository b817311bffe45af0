"""The route table: API key → implemented version range → handler.

Handlers register once per API key with the versions they implement; a second
registration of the same key raises. ApiVersions is computed from this table,
so the broker never advertises what it does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from kio.schema.index import api_key_map as kio_api_key_map

from protocol.schema.index import API_KEY_NAMES as INTERBROKER_API_KEY_NAMES

H = TypeVar("H")

# Every API key with a schema: kio's, plus the ZooKeeper-mode controller requests.
api_key_map: dict[int, str] = {**kio_api_key_map, **INTERBROKER_API_KEY_NAMES}


@dataclass(frozen=True, slots=True)
class ApiRoute(Generic[H]):
    api_key: int
    min_version: int
    max_version: int
    handler: H

    @property
    def name(self) -> str:
        return api_name(self.api_key)

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


def api_name(api_key: int) -> str:
    raw = api_key_map.get(api_key)
    if raw is None:
        return f"Unknown({api_key})"
    return "".join(part.capitalize() for part in raw.split("_"))


class ApiRegistry(Generic[H]):
    """Route table used by dispatch and by the ApiVersions handler."""

    def __init__(self) -> None:
        self._routes: dict[int, ApiRoute[H]] = {}

    def register(self, api_key: int, min_version: int, max_version: int, handler: H) -> None:
        if api_key in self._routes:
            raise ValueError(f"API key {api_key} ({api_name(api_key)}) registered twice")
        if api_key not in api_key_map:
            raise ValueError(f"unknown API key {api_key}")
        if not 0 <= min_version <= max_version:
            raise ValueError(f"bad version range {min_version}-{max_version} for {api_key}")
        self._routes[api_key] = ApiRoute(api_key, min_version, max_version, handler)

    def get(self, api_key: int) -> ApiRoute[H] | None:
        return self._routes.get(api_key)

    def routes(self) -> list[ApiRoute[H]]:
        return [self._routes[k] for k in sorted(self._routes)]
