"""The HTTP listener: ``/v1/health``, ``/v1/ready`` and ``/metrics`` on the broker's loop.

aiohttp serves on the same event loop as the Kafka listeners; every handler here only reads
state the broker already keeps, so a scrape never waits on disk or ZooKeeper. A listener
that cannot bind is logged and skipped: the Kafka listeners keep serving without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from broker.config.http_listeners import HttpEndpoint
from broker.metrics.exposition import render

log = logging.getLogger(__name__)

#: Why the broker is not ready (None when it is).
ReadinessCheck = Callable[[], str | None]
#: Adds more routes (e.g. the web console) to the listener's application.
RouteInstaller = Callable[[web.Application], None]


def metrics_registry(collectors: Sequence[Collector]) -> CollectorRegistry:
    """A registry of the broker's collectors plus the process, platform and GC ones."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


class HttpListener:
    """Serves health, readiness and Prometheus metrics on ``josef.http.listeners``."""

    def __init__(
        self,
        endpoints: Sequence[HttpEndpoint],
        registry: CollectorRegistry,
        readiness: ReadinessCheck,
        liveness: ReadinessCheck | None = None,
        routes: Sequence[RouteInstaller] = (),
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.registry = registry
        self.readiness = readiness
        self.liveness = liveness or (lambda: None)
        self.routes = tuple(routes)
        #: (host, port) actually bound, port 0 resolved.
        self.bound: list[tuple[str, int]] = []
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/health", self._health)
        app.router.add_get("/v1/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        for install in self.routes:
            install(app)
        return app

    async def start(self) -> None:
        if not self.endpoints:
            return
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        for endpoint in self.endpoints:
            site = web.TCPSite(runner, endpoint.host or None, endpoint.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                log.error(
                    "HTTP listener %s not started: %s (set josef.http.listeners to another "
                    "address, or empty to disable it)",
                    endpoint,
                    exc.strerror or exc,
                )
                continue
            server = site._server  # the bound asyncio server (port 0 resolved)
            sockets = getattr(server, "sockets", None) or ()
            for sock in sockets:
                host, port = sock.getsockname()[:2]
                self.bound.append((str(host), int(port)))
                log.info("HTTP listener on http://%s:%d (/metrics, /v1/health, /v1/ready)",
                         host, port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _health(self, _request: web.Request) -> web.Response:
        reason = self.liveness()
        if reason is None:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "failed", "reason": reason}, status=503)

    async def _ready(self, _request: web.Request) -> web.Response:
        reason = self.readiness()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = render([self.registry])
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
