"""Which Kafka identity the web console uses, in process: the SASL listener and mechanism
chosen for a request's verified Basic credentials, anonymous PLAINTEXT otherwise, form tokens
bound to the user, throughput samples of partial (per-user) topic views, and the SASL_SSL
client context (the broker's own certificate trusted, no host name check)."""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from helpers.certs import Pki, make_pki

from broker.config.http_listeners import HttpEndpoint
from broker.http.console import Console, install
from broker.http.console.app import Throughput
from broker.http.console.endpoints import client_context, loopback_address
from broker.http.console.errors import ConsoleError
from broker.http.console.identity import ConsoleIdentity, SaslEndpoint, console_endpoints
from broker.http.security import BasicAuthenticator, HttpCredentials
from broker.http.server import HttpListener, metrics_registry
from broker.security.channel import ListenerSecurity
from broker.security.credentials import ScramCredentialStore
from broker.security.scram import MECHANISMS


class MemoryUsers:
    """A UserConfigStore in memory (Kafka's /config/users)."""

    def __init__(self) -> None:
        self.configs: dict[str, dict[str, str]] = {}

    def user_configs(self) -> dict[str, dict[str, str]]:
        return self.configs


def scram_user(store: MemoryUsers, user: str, password: str, mechanism: str) -> None:
    scram = MECHANISMS[mechanism]
    salt = os.urandom(16)
    credential = scram.credential(salt, scram.salted_password(password, salt, 4096), 4096)
    store.configs.setdefault(user, {})[mechanism] = credential.to_string()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


PLAIN_ALICE = {"alice": "alice-secret"}


def endpoint(
    listener: str, protocol: str, mechanisms: tuple[str, ...], plain: dict[str, str] | None = None
) -> SaslEndpoint:
    users = plain or {}
    return SaslEndpoint(listener, protocol, f"{listener.lower()}:9", mechanisms, lambda: users)


def test_anonymous_without_sasl_endpoints() -> None:
    alice = HttpCredentials("alice", "alice-secret", ("PLAIN",))
    assert ConsoleIdentity("127.0.0.1:9092").connection(alice) == ("127.0.0.1:9092", None)
    assert ConsoleIdentity("127.0.0.1:9092").connection(None) == ("127.0.0.1:9092", None)
    with pytest.raises(ConsoleError) as info:
        ConsoleIdentity(None).connection(None)
    assert (info.value.name, info.value.status) == ("NO_PLAINTEXT_LISTENER", 503)


def test_endpoints_prefer_sasl_plaintext_and_drop_oauthbearer() -> None:
    found = console_endpoints(
        [
            endpoint("SECURE", "SASL_SSL", ("SCRAM-SHA-512",)),
            endpoint("TOKENS", "SASL_PLAINTEXT", ("OAUTHBEARER",)),
            endpoint("INTERNAL", "SASL_PLAINTEXT", ("OAUTHBEARER", "PLAIN", "SCRAM-SHA-256")),
        ]
    )
    assert [(e.listener, e.mechanisms) for e in found] == [
        ("INTERNAL", ("PLAIN", "SCRAM-SHA-256")),
        ("SECURE", ("SCRAM-SHA-512",)),
    ]


def test_user_signs_in_with_the_verified_mechanism() -> None:
    identity = ConsoleIdentity(
        "127.0.0.1:9092",
        console_endpoints(
            [
                endpoint("OTHER", "SASL_PLAINTEXT", ("PLAIN",), {"alice": "another-password"}),
                endpoint("SCRAM", "SASL_PLAINTEXT", ("SCRAM-SHA-256",)),
                endpoint("SECURE", "SASL_SSL", ("PLAIN", "SCRAM-SHA-512"), PLAIN_ALICE),
            ]
        ),
    )
    # a PLAIN (JAAS) user: the listener whose JAAS config has this user and password
    address, security = identity.connection(HttpCredentials("alice", "alice-secret", ("PLAIN",)))
    assert security is not None and address == "secure:9"
    assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "PLAIN")
    assert (security.sasl_username, security.sasl_password) == ("alice", "alice-secret")
    assert security.server_hostname_check is False
    # a SCRAM user: the verified mechanism first, then the user's other SCRAM credentials
    sam = HttpCredentials("sam", "sam-secret", ("SCRAM-SHA-512", "SCRAM-SHA-256"))
    address, security = identity.connection(sam)
    assert security is not None and (address, security.sasl_mechanism) == (
        "secure:9", "SCRAM-SHA-512",
    )  # fmt: skip
    sue = HttpCredentials("sue", "sue-secret", ("SCRAM-SHA-256",))
    address, security = identity.connection(sue)
    assert security is not None and (address, security.protocol) == ("scram:9", "SASL_PLAINTEXT")


def test_no_listener_for_the_user_is_an_error_not_anonymous() -> None:
    identity = ConsoleIdentity(
        "127.0.0.1:9092",
        console_endpoints([endpoint("SCRAM", "SASL_PLAINTEXT", ("SCRAM-SHA-256",))]),
    )
    with pytest.raises(ConsoleError) as info:
        identity.connection(HttpCredentials("sue", "sue-secret", ("SCRAM-SHA-512",)))
    assert info.value.name == "UNSUPPORTED_SASL_MECHANISM"
    assert "sue" in info.value.message and "sue-secret" not in info.value.message
    with pytest.raises(ConsoleError) as info:
        identity.connection(None)
    assert info.value.status == 401


def test_credentials_never_show_the_password() -> None:
    credentials = HttpCredentials("alice", "alice-secret", ("PLAIN",))
    assert "alice-secret" not in repr(credentials)
    assert "alice-secret" not in str(credentials)


async def test_verified_mechanism_comes_first() -> None:
    users = MemoryUsers()
    scram_user(users, "sam", "sam-secret", "SCRAM-SHA-256")
    scram_user(users, "sam", "sam-secret", "SCRAM-SHA-512")
    scram_user(users, "alice", "scram-password", "SCRAM-SHA-512")
    auth = BasicAuthenticator(ScramCredentialStore(users), lambda: PLAIN_ALICE)
    sam = await auth.verify(basic("sam", "sam-secret"))
    assert sam == HttpCredentials("sam", "sam-secret", ("SCRAM-SHA-256", "SCRAM-SHA-512"))
    alice = await auth.verify(basic("alice", "alice-secret"))
    assert alice == HttpCredentials("alice", "alice-secret", ("PLAIN", "SCRAM-SHA-512"))
    alice = await auth.verify(basic("alice", "scram-password"))
    assert alice == HttpCredentials("alice", "scram-password", ("SCRAM-SHA-512",))
    assert await auth.verify(basic("alice", "wrong")) is None


def test_partial_views_keep_other_users_samples() -> None:
    t = Throughput()
    t.add({"a-1": 0, "b-1": 0}, now=100.0)
    t.add({"a-1": 10}, now=102.0, complete=False)  # alice sees a-* only
    t.add({"b-1": 40}, now=104.0, complete=False)  # bob sees b-* only
    assert t.rates("a-1") == [5.0]
    assert t.rates("b-1") == [10.0]
    t.add({"b-1": 80}, now=1000.0, complete=False)  # a-1 not seen for long: dropped
    assert t.rates("a-1") == []
    assert t.rates("b-1") == [10.0, 40 / 896]


@pytest.fixture
async def authenticated() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    endpoints = [HttpEndpoint("0.0.0.0", 9644)]
    identity = ConsoleIdentity(None, (endpoint("SASL", "SASL_PLAINTEXT", ("PLAIN",)),))
    console = Console(None, endpoints, auth_enabled=True, identity=identity)
    auth = BasicAuthenticator(
        ScramCredentialStore(MemoryUsers()), lambda: {"alice": "a", "bob": "b"}
    )
    listener = HttpListener(
        endpoints, metrics_registry([]), lambda: None,
        routes=[lambda app: install(app, console)], authenticator=auth,
    )  # fmt: skip
    client = TestClient(TestServer(listener.app()))
    await client.start_server()
    yield client
    await client.close()


async def test_form_tokens_are_bound_to_the_user(
    authenticated: TestClient[web.Request, web.Application],
) -> None:
    client = authenticated
    tokens = {}
    for user, password in (("alice", "a"), ("bob", "b")):
        resp = await client.get("/topics/new", headers={"Authorization": basic(user, password)})
        assert resp.status == 200
        page = await resp.text()
        tokens[user] = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert tokens["alice"] != tokens["bob"]
    alice = {"Authorization": basic("alice", "a")}
    resp = await client.post("/topics/t/delete", data={"csrf": tokens["bob"]}, headers=alice)
    assert resp.status == 403
    # her own token: destructive actions are allowed (authenticated), so the confirmation
    resp = await client.post("/topics/t/delete", data={"csrf": tokens["alice"]}, headers=alice)
    assert resp.status == 200 and 'id="confirm"' in await resp.text()


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> None:
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(c_in, c_out, server_side=False, server_hostname=None)
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(20):
        done = True
        for side, out, peer in ((tls_client, c_out, s_in), (tls_server, s_out, c_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            data = out.read()
            if data:
                peer.write(data)
        if done:
            return
    raise AssertionError("handshake did not finish")


def _server(chain: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-pki"))


def test_sasl_ssl_context_trusts_the_listeners_own_certificate(pki: Pki, other_pki: Pki) -> None:
    leaf = x509.load_pem_x509_certificates(pki.server_chain.read_bytes())[0]
    own = ListenerSecurity("SASL_SSL", "SASL_SSL", certificate=leaf)
    # the leaf alone (no CA in any trust store) and no host name: the handshake succeeds
    _handshake(client_context(own, None)(), _server(pki.server_chain, pki.server_key))
    # a server certificate of another CA is refused
    stranger = _server(other_pki.server_chain, other_pki.server_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(client_context(own, None)(), stranger)
    # ... unless the listener's trust store holds that CA (the cluster's other brokers)
    _handshake(client_context(own, other_pki.ca.read_text())(), stranger)


def test_loopback_address_of_wildcard_binds() -> None:
    assert loopback_address("", 9092) == "127.0.0.1:9092"
    assert loopback_address("0.0.0.0", 9092) == "127.0.0.1:9092"
    assert loopback_address("::", 9092) == "[::1]:9092"
    assert loopback_address("10.0.0.5", 9093) == "10.0.0.5:9093"
