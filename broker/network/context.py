"""Per-request context handed to every API handler."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.headers import RequestHeader


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    connection_id: str
    client_host: str
    client_port: int
    listener: str
    security_protocol: str = "PLAINTEXT"
    principal: str = "User:ANONYMOUS"


@dataclass(frozen=True, slots=True)
class RequestContext:
    header: RequestHeader
    connection: ConnectionInfo

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or ""
