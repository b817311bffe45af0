"""A listener (Kafka's ``listeners`` entry): one TCP server socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from broker.network.connection import KafkaConnection
from broker.network.dispatch import RequestDispatcher
from broker.network.request_budget import RequestBudget

log = logging.getLogger(__name__)


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
        self._server: asyncio.Server | None = None

    async def start_server_only(self) -> None:
        """Bind the socket (resolving port 0) without accepting connections yet."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: KafkaConnection(self),
            host=self.host or None,
            port=self.port,
            reuse_address=True,
            backlog=1024,
            start_serving=False,
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

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
