"""Per-request context handed to every API handler."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.metrics.stats import RequestTimes
from protocol.headers import RequestHeader


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Who is on a connection, as handlers (and the authorizer) see it.

    A snapshot: the connection replaces it when authentication (or KIP-368
    re-authentication) changes the principal.
    """

    connection_id: str
    client_host: str
    client_port: int
    listener: str
    security_protocol: str = "PLAINTEXT"
    principal: str = "User:ANONYMOUS"
    # Distinguished name of the verified TLS client certificate, if any.
    tls_peer: str | None = None
    # SASL mechanism the principal authenticated with, if any.
    sasl_mechanism: str | None = None


class Throttle:
    """The throttle time a request earned (quota violations), filled in while handling it."""

    __slots__ = ("ms",)

    def __init__(self) -> None:
        self.ms = 0

    def at_least(self, ms: int) -> None:
        if ms > self.ms:
            self.ms = ms


@dataclass(frozen=True, slots=True)
class RequestContext:
    header: RequestHeader
    connection: ConnectionInfo
    # Size of the request frame in bytes (what produce quotas count).
    size: int = 0
    throttle: Throttle = field(default_factory=Throttle)
    # Phase timestamps (RequestMetrics); handlers add purgatory waits to ``times.remote_ns``.
    times: RequestTimes = field(default_factory=RequestTimes)

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or ""

    @property
    def user(self) -> str:
        """The principal's name (``alice`` for ``User:alice``), as quotas name users."""
        return self.connection.principal.partition(":")[2]
