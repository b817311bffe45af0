"""The web console's shared state and plumbing: the admin-client calls, errors, CSRF.

The console is a Kafka client of the cluster: it connects to one of the broker's own
listeners and from there reaches every broker (partition leaders, group coordinators, the
controller). Each admin call opens a short-lived ``AdminClient`` in a worker thread, as the
request's user when HTTP authentication is on and a SASL listener allows it
(:mod:`broker.http.console.identity`), else anonymously over PLAINTEXT.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import ipaddress
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final, TypeVar

from aiohttp import web

from broker.admin.client import AdminClient, AdminError, KafkaResponseError
from broker.admin.common import UsageError
from broker.config.http_listeners import HttpEndpoint
from broker.http.console import html
from broker.http.console.data import open_client
from broker.http.console.errors import ConsoleError as ConsoleError
from broker.http.console.identity import ConsoleIdentity
from broker.http.server import CREDENTIALS_KEY, USER_KEY

T = TypeVar("T")
STATIC_DIR: Final = Path(__file__).with_name("static")
STATIC_FILES: Final = {"console.css": "text/css", "console.js": "text/javascript"}
MAX_CONCURRENT_CALLS: Final = 4
SAMPLES_KEPT: Final = 30
MIN_SAMPLE_GAP_S: Final = 1.0
#: No frames, nothing but this origin's own files; the console has no inline script.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: Topics not sampled for this long lose their samples (per-user views are partial).
STALE_SAMPLES_S: Final = 600.0


def loopback_only(endpoints: Iterable[HttpEndpoint]) -> bool:
    """True when every HTTP endpoint binds a loopback address (an empty host is all
    interfaces, so it is not)."""
    for endpoint in endpoints:
        host = endpoint.host.strip("[]")
        if host.lower() == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return False
        except ValueError:
            return False
    return True


class Throughput:
    """Samples of each topic's summed log end offsets, for the records/s sparklines."""

    def __init__(self) -> None:
        self._samples: dict[str, collections.deque[tuple[float, int]]] = {}

    def add(self, ends: dict[str, int], now: float | None = None, complete: bool = True) -> None:
        """Sample ``ends``; a ``complete`` view (every topic) drops the topics it lacks,
        a partial one (a user sees only the topics their ACLs allow) only stale ones."""
        now = time.monotonic() if now is None else now
        for topic, end in ends.items():
            samples = self._samples.setdefault(topic, collections.deque(maxlen=SAMPLES_KEPT))
            if samples and now - samples[-1][0] < MIN_SAMPLE_GAP_S:
                continue
            samples.append((now, end))
        for topic in list(self._samples):
            if topic in ends:
                continue
            samples = self._samples[topic]
            if complete or not samples or now - samples[-1][0] > STALE_SAMPLES_S:
                del self._samples[topic]

    def rates(self, topic: str) -> list[float]:
        samples = list(self._samples.get(topic, ()))
        return [
            max(e2 - e1, 0) / (t2 - t1)
            for (t1, e1), (t2, e2) in itertools.pairwise(samples)
            if t2 > t1
        ]


class Console:
    """The web console of one broker: pages and actions over the cluster's Admin API."""

    def __init__(
        self,
        bootstrap: str | None,
        endpoints: Sequence[HttpEndpoint],
        *,
        auth_enabled: bool = False,
        destructive_allowed: bool | None = None,
        identity: ConsoleIdentity | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.endpoints = tuple(endpoints)
        #: Anonymous over PLAINTEXT, or each request's user over SASL.
        self.identity = identity if identity is not None else ConsoleIdentity(bootstrap)
        #: Delete topic, alter config and reset offsets are allowed only when every HTTP
        #: endpoint is loopback, or basic auth protects the listener.
        self.destructive_allowed = (
            destructive_allowed
            if destructive_allowed is not None
            else auth_enabled or loopback_only(self.endpoints)
        )
        self.throughput = Throughput()
        self.cluster_id: str | None = None
        self._secret = secrets.token_bytes(32)
        self._calls = asyncio.Semaphore(MAX_CONCURRENT_CALLS)

    # ---- admin calls off the loop

    async def call(self, request: web.Request, fn: Callable[[AdminClient], T]) -> T:
        """Run ``fn`` with a fresh admin client in a worker thread, signed in as the
        request's user when the console has a SASL listener for it; Kafka and connection
        errors become ConsoleError (shown on the page, never as a stack trace)."""
        identity = self.identity
        credentials = request.get(CREDENTIALS_KEY)

        def run() -> T:
            bootstrap, security = identity.connection(credentials)
            with open_client(bootstrap, security) as client:
                return fn(client)

        async with self._calls:
            try:
                return await asyncio.to_thread(run)
            except ConsoleError:
                raise
            except KafkaResponseError as exc:
                message = exc.message or ""
                if exc.context:
                    message = f"{exc.context}: {message}" if message else exc.context
                raise ConsoleError(exc.name, message) from None
            except UsageError as exc:
                raise ConsoleError("INVALID_REQUEST", str(exc)) from None
            except AdminError as exc:
                raise ConsoleError("CLUSTER_UNREACHABLE", str(exc), 502) from None

    # ---- CSRF and destructive actions

    def csrf_token(self, user: str | None = None) -> str:
        """The form token of ``user``'s pages (None: without authentication). Bound to the
        user, so one user's token cannot forge another user's form post."""
        mac = hmac.new(self._secret, b"josef-console-csrf", hashlib.sha256)
        if user is not None:
            mac.update(b"\x00" + user.encode())
        return mac.hexdigest()

    def csrf_field(self, request: web.Request) -> html.Markup:
        return html.hidden("csrf", self.csrf_token(request.get(USER_KEY)))

    def check_post(self, request: web.Request, form: dict[str, str]) -> None:
        """A form post must carry the page's token and, if the browser says where it comes
        from, come from this same origin."""
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            expected = f"{request.scheme}://{request.host}"
            if origin != expected:
                raise ConsoleError("FORBIDDEN", f"cross-origin form post from {origin}", 403)
        expected = self.csrf_token(request.get(USER_KEY))
        if not hmac.compare_digest(form.get("csrf", ""), expected):
            raise ConsoleError("FORBIDDEN", "missing or stale form token: reload the page", 403)

    def check_destructive(self) -> None:
        if not self.destructive_allowed:
            listeners = ", ".join(str(e) for e in self.endpoints)
            raise ConsoleError(
                "FORBIDDEN",
                "destructive actions (delete topic, alter config, reset offsets) are refused: "
                f"the HTTP listener is not loopback-only ({listeners}) and basic auth is off",
                403,
            )

    # ---- responses

    def render(
        self,
        title: str,
        body: html.Markup,
        *,
        active: str = "",
        refresh_s: int | None = None,
        status: int = 200,
    ) -> web.Response:
        text = html.page(
            title, body, active=active, refresh_s=refresh_s, cluster_id=self.cluster_id
        )
        return web.Response(
            text=text, status=status, content_type="text/html", charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    def error_page(self, title: str, error: ConsoleError, active: str = "") -> web.Response:
        return self.render(
            title, html.error_box(error.name, error.message), active=active, status=error.status
        )


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    ctype = STATIC_FILES.get(name)
    if ctype is None:
        raise web.HTTPNotFound()
    data = await asyncio.to_thread((STATIC_DIR / name).read_bytes)
    return web.Response(
        body=data, content_type=ctype, charset="utf-8",
        headers={"Cache-Control": "max-age=300"},
    )


async def read_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}
