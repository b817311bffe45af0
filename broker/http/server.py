"""The HTTP listener: ``/v1/health``, ``/v1/ready`` and ``/metrics`` on the broker's loop.

aiohttp serves on the same event loop as the Kafka listeners; every handler here only reads
state the broker already keeps, so a scrape never waits on disk or ZooKeeper. A listener
that cannot bind is logged and skipped: the Kafka listeners keep serving without it.
``https://`` endpoints use the ``josef.http.ssl.*`` context; with Basic authentication on,
every path but the probes (/v1/health, /v1/ready) needs the broker's SASL users.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from broker.config.http_listeners import HttpEndpoint
from broker.http.security import BasicAuthenticator, HttpCredentials
from broker.metrics.exposition import render

log = logging.getLogger(__name__)

#: Why the broker is not ready (None when it is).
ReadinessCheck = Callable[[], str | None]
#: Adds more routes (e.g. the web console) to the listener's application.
RouteInstaller = Callable[[web.Application], None]
#: Paths answered without authentication (Kubernetes probes and the Docker health check).
OPEN_PATHS = frozenset({"/v1/health", "/v1/ready"})
REALM = 'Basic realm="josef", charset="UTF-8"'
#: The authenticated user of a request (absent when authentication is off or not needed).
USER_KEY = web.RequestKey("josef.user", str)
#: Its verified credentials (the web console signs in to Kafka with them): kept on the
#: request only, so the password lives as long as the request.
CREDENTIALS_KEY = web.RequestKey("josef.credentials", HttpCredentials)


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
        *,
        routes: Sequence[RouteInstaller] = (),
        ssl_context: ssl.SSLContext | None = None,
        authenticator: BasicAuthenticator | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.registry = registry
        self.readiness = readiness
        self.liveness = liveness or (lambda: None)
        self.routes = tuple(routes)
        self.ssl_context = ssl_context
        self.authenticator = authenticator
        #: Awaited before each /metrics render (e.g. asking leaders for high watermarks).
        self.before_scrape: list[Callable[[], Awaitable[None]]] = []
        #: (host, port) actually bound, port 0 resolved.
        self.bound: list[tuple[str, int]] = []
        self._runner: web.AppRunner | None = None
        if any(e.tls for e in self.endpoints) and ssl_context is None:
            raise ValueError("https endpoints need an SSL context")

    @property
    def auth_enabled(self) -> bool:
        """Requests other than the probes must carry a broker user's credentials."""
        return self.authenticator is not None

    @property
    def loopback_only(self) -> bool:
        """Every endpoint binds a loopback address: only this machine reaches it."""
        return all(e.loopback for e in self.endpoints)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
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
        if self.auth_enabled and any(not e.tls and not e.loopback for e in self.endpoints):
            log.warning(
                "josef.http.authentication=basic on a plain http:// listener reachable from "
                "other machines (%s): passwords cross the network in clear text; use https://",
                ", ".join(str(e) for e in self.endpoints if not e.tls and not e.loopback),
            )
        for endpoint in self.endpoints:
            site = web.TCPSite(
                runner,
                endpoint.host or None,
                endpoint.port,
                reuse_address=True,
                ssl_context=self.ssl_context if endpoint.tls else None,
            )
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
            scheme = "https" if endpoint.tls else "http"
            for sock in sockets:
                host, port = sock.getsockname()[:2]
                self.bound.append((str(host), int(port)))
                log.info("HTTP listener on %s://%s:%d (/metrics, /v1/health, /v1/ready%s)",
                         scheme, host, port, ", basic auth" if self.auth_enabled else "")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @web.middleware
    async def _authenticate(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Basic authentication of everything but the probes (401 and a challenge)."""
        authenticator = self.authenticator
        if authenticator is None or request.path in OPEN_PATHS:
            return await handler(request)
        credentials = await authenticator.verify(request.headers.get("Authorization"))
        if credentials is None:
            return web.json_response(
                {"status": "unauthorized"}, status=401, headers={"WWW-Authenticate": REALM}
            )
        request[USER_KEY] = credentials.user
        request[CREDENTIALS_KEY] = credentials
        return await handler(request)

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
        for prepare in self.before_scrape:
            try:
                await prepare()
            except Exception:  # a scrape still answers with what is known
                log.exception("preparing /metrics failed")
        body = render([self.registry])
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
