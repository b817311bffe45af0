"""The HTTP listener's TLS and Basic authentication, in process: https:// parsing, the
josef.http.ssl.* context, Basic credentials against SCRAM and PLAIN users, 401 challenges,
open probes, and the warning for Basic authentication over plain http."""

from __future__ import annotations

import base64
import logging
import os
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers.certs import STORE_PASSWORD, Pki, make_pki
from prometheus_client import CollectorRegistry

from broker.config.broker_config import load_config
from broker.config.http_listeners import HttpEndpoint, parse_http_listeners
from broker.config.properties import ConfigError
from broker.http.security import (
    BasicAuthenticator,
    build_http_ssl_context,
    parse_basic,
    scram_password_matches,
)
from broker.http.server import HttpListener
from broker.security.credentials import ScramCredentialStore
from broker.security.scram import MECHANISMS


class MemoryUsers:
    """A UserConfigStore in memory (Kafka's /config/users)."""

    def __init__(self) -> None:
        self.configs: dict[str, dict[str, str]] = {}

    def user_configs(self) -> dict[str, dict[str, str]]:
        return self.configs

    async def set_user_configs(self, user: str, configs: dict[str, str]) -> None:
        self.configs[user] = configs


def scram_user(
    store: MemoryUsers, user: str, password: str, mechanism: str, iterations: int = 4096
) -> None:
    scram = MECHANISMS[mechanism]
    salt = os.urandom(16)
    credential = scram.credential(
        salt, scram.salted_password(password, salt, iterations), iterations
    )
    store.configs.setdefault(user, {})[mechanism] = credential.to_string()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --- configuration ----------------------------------------------------------------------


def test_https_endpoints_parse() -> None:
    assert parse_http_listeners("https://127.0.0.1:9645, http://:9644") == (
        HttpEndpoint("127.0.0.1", 9645, tls=True),
        HttpEndpoint("", 9644),
    )
    assert str(HttpEndpoint("::1", 443, tls=True)) == "https://[::1]:443"
    with pytest.raises(ConfigError, match="appears more than once"):
        parse_http_listeners("http://127.0.0.1:1,https://127.0.0.1:1")
    with pytest.raises(ConfigError, match="https://host:port"):
        parse_http_listeners("ftp://127.0.0.1:1")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("", False), ("0.0.0.0", False), ("10.0.0.1", False), ("::", False)],
)  # fmt: skip
def test_loopback_endpoints(host: str, loopback: bool) -> None:
    assert HttpEndpoint(host, 1).loopback is loopback


def test_https_without_key_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["josef.http.listeners=https://127.0.0.1:0", f"log.dirs={tmp_path}"])
    assert err.value.key == "josef.http.listeners"
    assert "https://127.0.0.1:0 needs a key store" in str(err.value)
    assert "josef.http.ssl.keystore.location" in str(err.value)


def test_authentication_values(tmp_path: Path) -> None:
    base = [f"log.dirs={tmp_path}"]
    assert load_config(None, base).josef_http_authentication == "none"
    assert (
        load_config(None, [*base, "josef.http.authentication=basic"]).josef_http_authentication
        == "basic"
    )
    with pytest.raises(ConfigError) as err:
        load_config(None, [*base, "josef.http.authentication=digest"])
    assert err.value.key == "josef.http.authentication"


def test_ssl_context_from_pkcs12_and_pem(pki: Pki, tmp_path: Path) -> None:
    listeners = "josef.http.listeners=https://127.0.0.1:0"
    p12 = load_config(None, [listeners, f"log.dirs={tmp_path}",
                             f"josef.http.ssl.keystore.location={pki.server_p12}",
                             f"josef.http.ssl.keystore.password={STORE_PASSWORD}"])  # fmt: skip
    assert isinstance(build_http_ssl_context(p12), ssl.SSLContext)
    pem_store = f"josef.http.ssl.keystore.location={pki.server_pem_store}"
    pem = load_config(
        None, [listeners, f"log.dirs={tmp_path}", "josef.http.ssl.keystore.type=PEM", pem_store]
    )
    assert isinstance(build_http_ssl_context(pem), ssl.SSLContext)
    wrong = load_config(None, [listeners, f"log.dirs={tmp_path}",
                               f"josef.http.ssl.keystore.location={pki.server_p12}",
                               "josef.http.ssl.keystore.password=nope"])  # fmt: skip
    with pytest.raises(ConfigError) as err:
        build_http_ssl_context(wrong)
    assert err.value.key == "josef.http.ssl.keystore.password"
    plain = load_config(None, ["josef.http.listeners=http://127.0.0.1:0", f"log.dirs={tmp_path}"])
    assert build_http_ssl_context(plain) is None


# --- credentials --------------------------------------------------------------------------


def test_parse_basic() -> None:
    assert parse_basic(basic("alice", "pa:ss wörd")) == ("alice", "pa:ss wörd")
    assert parse_basic("basic " + base64.b64encode(b"u:").decode()) == ("u", "")
    no_colon = "Basic " + base64.b64encode(b"no-colon").decode()
    no_user = "Basic " + base64.b64encode(b":p").decode()
    for bad in (None, "", "Bearer abc", "Basic", "Basic !!!", no_colon, no_user):
        assert parse_basic(bad) is None, bad


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_scram_password_check(mechanism: str) -> None:
    users = MemoryUsers()
    scram_user(users, "sam", "sam-secret", mechanism)
    credential = ScramCredentialStore(users).scram_credential("sam", mechanism)
    assert credential is not None
    assert scram_password_matches(credential, mechanism, "sam-secret")
    assert not scram_password_matches(credential, mechanism, "sam-secreT")
    assert not scram_password_matches(credential, mechanism, "")


async def test_authenticator_scram_and_plain_users() -> None:
    users = MemoryUsers()
    scram_user(users, "sam", "sam-secret", "SCRAM-SHA-256")
    scram_user(users, "sue", "sue-secret", "SCRAM-SHA-512")
    plain = {"alice": "alice-secret"}
    auth = BasicAuthenticator(ScramCredentialStore(users), lambda: plain)
    assert await auth.authenticate(basic("sam", "sam-secret")) == "sam"
    assert await auth.authenticate(basic("sam", "sam-secret")) == "sam"  # remembered
    assert await auth.authenticate(basic("sue", "sue-secret")) == "sue"
    assert await auth.authenticate(basic("alice", "alice-secret")) == "alice"
    assert await auth.authenticate(basic("alice", "sam-secret")) is None
    assert await auth.authenticate(basic("sam", "wrong")) is None
    assert await auth.authenticate(basic("nobody", "x")) is None
    assert await auth.authenticate(None) is None
    # A changed password: the remembered success does not apply to the new credential.
    scram_user(users, "sam", "new-secret", "SCRAM-SHA-256")
    assert await auth.authenticate(basic("sam", "sam-secret")) is None
    assert await auth.authenticate(basic("sam", "new-secret")) == "sam"
    del users.configs["sam"]
    assert await auth.authenticate(basic("sam", "new-secret")) is None
    plain.clear()
    assert await auth.authenticate(basic("alice", "alice-secret")) is None


async def test_wrong_credentials_wait_the_failed_authentication_delay() -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    users = MemoryUsers()
    auth = BasicAuthenticator(ScramCredentialStore(users), lambda: {"a": "pw"}, 0.25, sleep)
    assert await auth.authenticate(None) is None  # no credentials: a challenge, no wait
    assert await auth.authenticate(basic("a", "pw")) == "a"
    assert slept == []
    assert await auth.authenticate(basic("a", "bad")) is None
    assert await auth.authenticate("Basic !!!") is None
    assert slept == [0.25, 0.25]


# --- the listener ---------------------------------------------------------------------------


async def _request(
    url: str, headers: dict[str, str] | None = None, ssl_context: Any = None
) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers or {}, ssl=ssl_context) as response,
    ):
        return response.status, dict(response.headers), await response.text()


async def test_https_listener_with_basic_auth(pki: Pki) -> None:
    users = MemoryUsers()
    scram_user(users, "sam", "sam-secret", "SCRAM-SHA-512")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_chain, pki.server_key)
    listener = HttpListener(
        [HttpEndpoint("127.0.0.1", 0, tls=True)],
        CollectorRegistry(),
        lambda: None,
        ssl_context=context,
        authenticator=BasicAuthenticator(ScramCredentialStore(users), dict),
    )
    assert listener.auth_enabled and listener.loopback_only
    await listener.start()
    try:
        host, port = listener.bound[0]
        base = f"https://{host}:{port}"
        client = ssl.create_default_context(cafile=str(pki.ca))
        assert (await _request(base + "/v1/health", ssl_context=client))[0] == 200
        assert (await _request(base + "/v1/ready", ssl_context=client))[0] == 200
        status, headers, _ = await _request(base + "/metrics", ssl_context=client)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="josef", charset="UTF-8"'
        bad = {"Authorization": basic("sam", "nope")}
        assert (await _request(base + "/metrics", bad, client))[0] == 401
        good = {"Authorization": basic("sam", "sam-secret")}
        assert (await _request(base + "/metrics", good, client))[0] == 200
        assert (await _request(base + "/nothing", good, client))[0] == 404
        assert (await _request(base + "/nothing", ssl_context=client))[0] == 401
    finally:
        await listener.stop()


async def test_without_auth_everything_is_open() -> None:
    listener = HttpListener([HttpEndpoint("127.0.0.1", 0)], CollectorRegistry(), lambda: None)
    assert not listener.auth_enabled
    await listener.start()
    try:
        host, port = listener.bound[0]
        assert (await _request(f"http://{host}:{port}/metrics"))[0] == 200
    finally:
        await listener.stop()


async def test_basic_auth_over_plain_http_off_loopback_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = BasicAuthenticator(ScramCredentialStore(MemoryUsers()), dict)
    for endpoints, warned in (
        ([HttpEndpoint("127.0.0.1", 0), HttpEndpoint("::1", 0)], False),
        ([HttpEndpoint("", 0), HttpEndpoint("127.0.0.1", 0)], True),
    ):
        caplog.clear()
        listener = HttpListener(endpoints, CollectorRegistry(), lambda: None, authenticator=auth)
        assert listener.loopback_only is not warned
        with caplog.at_level(logging.WARNING, logger="broker.http.server"):
            await listener.start()
            await listener.stop()
        warnings = [r for r in caplog.records if "clear text" in r.getMessage()]
        assert len(warnings) == (1 if warned else 0)


def test_https_endpoint_needs_a_context() -> None:
    with pytest.raises(ValueError, match="SSL context"):
        HttpListener([HttpEndpoint("127.0.0.1", 0, tls=True)], CollectorRegistry(), lambda: None)
