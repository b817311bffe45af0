"""A listener (Kafka's ``listeners`` entry): one TCP server socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from broker.network.connection import KafkaConnection
from broker.network.dispatch import RequestDispatcher
from broker.network.request_budget import RequestBudget
from broker.security.channel import ListenerSecurity

log = logging.getLogger(__name__)

# A TLS handshake not finished by then is dropped (connections.max.idle.ms starts after it).
TLS_HANDSHAKE_TIMEOUT_S = 30.0


class Listener:
    """Accepts connections for one named listener and tracks them."""

    def __init__(
        self,
        name: str,
        security_protocol: str,
        host: str,
        port: int,
        dispatcher: RequestDispatcher,
        max_request_size: int,
        idle_timeout_ms: int,
        *,
        backlog: int = 50,
        send_buffer_bytes: int = -1,
        receive_buffer_bytes: int = -1,
        security: ListenerSecurity | None = None,
        request_budget: RequestBudget | None = None,
        receive_timeout_ms: int = 0,
    ) -> None:
        self.name = name
        self.security_protocol = security_protocol
        self.host = host
        self.port = port
        self.dispatcher = dispatcher
        self.max_request_size = max_request_size
        self.idle_timeout_s = idle_timeout_ms / 1000.0 if idle_timeout_ms > 0 else 0.0
        # Shared by every listener of the broker (queued.max.request.bytes is broker-wide).
        self.request_budget = request_budget or RequestBudget(-1)
        self.receive_timeout_s = receive_timeout_ms / 1000.0 if receive_timeout_ms > 0 else 0.0
        self.connections: set[KafkaConnection] = set()
        #: Connections accepted and closed since start (socket-server-metrics totals).
        self.connections_created = 0
        self.connections_closed = 0
        self._server: asyncio.Server | None = None
        self.security = security
        self._backlog = backlog
        # socket.send/receive.buffer.bytes; -1 keeps the OS default (and its autotuning).
        self._buffer_sizes = (
            (socket.SO_SNDBUF, send_buffer_bytes),
            (socket.SO_RCVBUF, receive_buffer_bytes),
        )

    async def start_server_only(self) -> None:
        """Bind the socket (resolving port 0) without accepting connections yet."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: KafkaConnection(self),
            host=self.host or None,
            port=self.port,
            reuse_address=True,
            backlog=self._backlog,
            start_serving=False,
            **self._tls_arguments(),
        )
        for server_sock in self._server.sockets:
            # Accepted sockets inherit the listening socket's buffer sizes.
            for option, size in self._buffer_sizes:
                if size > 0:
                    server_sock.setsockopt(socket.SOL_SOCKET, option, size)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    def _tls_arguments(self) -> dict[str, Any]:
        context = self.security.ssl_context if self.security is not None else None
        if context is None:
            return {}
        return {"ssl": context, "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT_S}

    async def start_serving(self) -> None:
        assert self._server is not None
        await self._server.start_serving()
        log.info(
            "listener %s (%s) on %s:%d",
            self.name,
            self.security_protocol,
            self.host or "0.0.0.0",
            self.port,
        )

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def drain(self, timeout_s: float) -> None:
        """Let in-flight requests finish (bounded), then close every connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(c.busy for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        # Let written responses leave (uvloop flushes writes after the current iteration).
        await asyncio.sleep(0)
        while any(c.unsent for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for c in list(self.connections):
            c.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), max(0.1, deadline - loop.time()))
