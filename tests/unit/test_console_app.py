"""The web console's routes in process (aiohttp test server, no cluster behind it): a broker
without a PLAINTEXT listener says so on every page, static files are served from the
package, and forms are checked (token, same origin, destructive-action rule) before any
request reaches the cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from broker.config.http_listeners import HttpEndpoint
from broker.http.console import Console, install
from broker.http.server import HttpListener, metrics_registry


async def _client(console: Console) -> TestClient[web.Request, web.Application]:
    listener = HttpListener(
        console.endpoints,
        metrics_registry([]),
        lambda: None,
        routes=[lambda app: install(app, console)],
    )
    client = TestClient(TestServer(listener.app()))
    await client.start_server()
    return client


@pytest.fixture
async def no_plaintext() -> AsyncIterator[tuple[Console, TestClient[web.Request, web.Application]]]:
    console = Console(None, [HttpEndpoint("127.0.0.1", 9644)])
    client = await _client(console)
    yield console, client
    await client.close()


@pytest.mark.parametrize("path", ["/", "/topics", "/topics/t", "/topics/t/messages", "/groups",
                                  "/group?id=g"])
async def test_pages_say_there_is_no_plaintext_listener(
    no_plaintext: tuple[Console, TestClient[web.Request, web.Application]], path: str
) -> None:
    _console, client = no_plaintext
    resp = await client.get(path)
    assert resp.status == 503
    text = await resp.text()
    assert "NO_PLAINTEXT_LISTENER" in text and "PLAINTEXT Kafka listener" in text
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_health_and_static_files_still_served(
    no_plaintext: tuple[Console, TestClient[web.Request, web.Application]],
) -> None:
    _console, client = no_plaintext
    assert (await client.get("/v1/health")).status == 200
    css = await client.get("/console/static/console.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert "font" in await css.text()
    js = await client.get("/console/static/console.js")
    assert js.status == 200 and "data-refresh" in await js.text()
    assert (await client.get("/console/static/../app.py")).status == 404
    assert (await client.get("/console/static/nope.css")).status == 404


async def test_forms_need_the_token_and_the_same_origin(
    no_plaintext: tuple[Console, TestClient[web.Request, web.Application]],
) -> None:
    console, client = no_plaintext
    resp = await client.post("/topics", data={"name": "t"})
    assert resp.status == 403 and "form token" in await resp.text()
    resp = await client.post(
        "/topics",
        data={"name": "t", "csrf": console.csrf_token()},
        headers={"Origin": "http://attacker.example"},
    )
    assert resp.status == 403 and "cross-origin" in await resp.text()
    # a good post gets as far as the cluster call: here, no PLAINTEXT listener
    resp = await client.post("/topics", data={"name": "t", "csrf": console.csrf_token()})
    assert resp.status == 503 and "NO_PLAINTEXT_LISTENER" in await resp.text()


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.0.2.7"])
async def test_destructive_actions_refused_unless_loopback(host: str) -> None:
    console = Console("127.0.0.1:9", [HttpEndpoint(host, 9644)])
    assert console.destructive_allowed is False
    client = await _client(console)
    try:
        token = console.csrf_token()
        for path, form in (
            ("/topics/t/delete", {}),
            ("/topics/t/config", {"key": "retention.ms", "value": "1"}),
            ("/group/reset", {"id": "g", "scenario": "earliest"}),
        ):
            resp = await client.post(path, data={"csrf": token, **form})
            assert resp.status == 403, path
            assert "not loopback-only" in await resp.text()
    finally:
        await client.close()


def test_auth_or_an_explicit_flag_allows_destructive_actions() -> None:
    wildcard = [HttpEndpoint("0.0.0.0", 9644)]
    assert Console(None, wildcard, auth_enabled=True).destructive_allowed is True
    assert Console(None, wildcard, destructive_allowed=True).destructive_allowed is True
    assert Console(None, [HttpEndpoint("127.0.0.1", 1)]).destructive_allowed is True
    assert (
        Console(None, [HttpEndpoint("127.0.0.1", 1)], destructive_allowed=False)
        .destructive_allowed
        is False
    )
