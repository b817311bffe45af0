"""``josef.http.listeners``: the HTTP(S) endpoints of health, readiness and Prometheus metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass

from broker.config.properties import ConfigError

KEY = "josef.http.listeners"
_HTTP_LISTENER = re.compile(
    r"^(https?)://(\[[0-9A-Za-z%.:]*\]|[^:/\[\]]*):(\d+)/?$", re.IGNORECASE
)
_LOOPBACK_HOSTS = ("localhost", "::1")


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """One ``http://host:port`` (or ``https://``, TLS from ``josef.http.ssl.*``) the broker's
    HTTP server binds; empty host = all interfaces."""

    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Only this machine can reach it (127.0.0.0/8, ::1, localhost)."""
        return self.host.startswith("127.") or self.host.lower() in _LOOPBACK_HOSTS


def parse_http_listeners(raw: str | None) -> tuple[HttpEndpoint, ...]:
    """Comma-separated ``http://host:port`` / ``https://host:port`` items; an empty value
    disables the listener."""
    endpoints: list[HttpEndpoint] = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        match = _HTTP_LISTENER.match(item)
        if match is None:
            raise ConfigError(KEY, f"{item!r} is not http://host:port or https://host:port")
        host = match.group(2)
        if host.startswith("["):
            host = host[1:-1]
        port = int(match.group(3))
        if port > 65535:
            raise ConfigError(KEY, f"port {port} of {item!r} is not in 0..65535")
        endpoint = HttpEndpoint(host, port, match.group(1).lower() == "https")
        if any((e.host, e.port) == (host, port) for e in endpoints):
            raise ConfigError(KEY, f"{item!r} appears more than once")
        endpoints.append(endpoint)
    return tuple(endpoints)
