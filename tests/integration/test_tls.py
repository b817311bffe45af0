"""TLS listeners with real clients: SSL round trips, mTLS principals, refused peers.

One broker serves three listeners at once: PLAINTEXT, SSL (PKCS12 key store) and MTLS
(an SSL listener with per-listener PEM settings, ssl.client.auth=required and
ssl.principal.mapping.rules). Certificates are made in the test (tests/helpers/certs.py).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.certs import CLIENT_DN, KEY_PASSWORD, STORE_PASSWORD, Pki, make_pki
from helpers.clients import (
    KCAT,
    ClientError,
    Record,
    assert_roundtrip,
    consume_aiokafka,
    consume_confluent,
    consume_kafka_python,
    produce_aiokafka,
    produce_confluent,
    produce_kafka_python,
    unique_topic,
)

PYTHON_CLIENTS = ("kafka-python", "aiokafka", "confluent")
PRODUCE: dict[str, Any] = {
    "kafka-python": produce_kafka_python,
    "aiokafka": produce_aiokafka,
    "confluent": produce_confluent,
}
CONSUME: dict[str, Any] = {
    "kafka-python": consume_kafka_python,
    "aiokafka": consume_aiokafka,
    "confluent": consume_confluent,
}


def produce(client: str, bootstrap: str, topic: str, recs: list[Record], **cfg: Any) -> list[int]:
    """Produce to partition 0 with extra client settings (security)."""
    return PRODUCE[client](bootstrap, topic, recs, **cfg)  # type: ignore[no-any-return]


def consume(client: str, bootstrap: str, topic: str, n: int, **cfg: Any) -> list[Any]:
    return CONSUME[client](bootstrap, topic, 0, 0, n, **cfg)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class TlsBroker:
    def __init__(self, proc: BrokerProcess, ssl_port: int, mtls_port: int) -> None:
        self.proc = proc
        self.plaintext = proc.bootstrap
        self.ssl = f"127.0.0.1:{ssl_port}"
        self.mtls = f"127.0.0.1:{mtls_port}"


@pytest.fixture(scope="module")
def tls_broker(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Generator[TlsBroker, None, None]:
    require_josef("TLS settings")
    port, ssl_port, mtls_port = free_port(), free_port(), free_port()
    listeners = (
        f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port},MTLS://127.0.0.1:{mtls_port}"
    )
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(pki.server_p12),
        "ssl.keystore.password": STORE_PASSWORD,
        # Per-listener: an inline PEM key store with an encrypted key (the location and
        # store password of the PKCS12 store above are blanked for this listener).
        "listener.name.mtls.ssl.keystore.type": "PEM",
        "listener.name.mtls.ssl.keystore.location": "",
        "listener.name.mtls.ssl.keystore.password": "",
        "listener.name.mtls.ssl.keystore.certificate.chain": pki.server_chain.read_text(),
        "listener.name.mtls.ssl.keystore.key": pki.server_key_encrypted.read_text(),
        "listener.name.mtls.ssl.key.password": KEY_PASSWORD,
        "listener.name.mtls.ssl.truststore.type": "PEM",
        "listener.name.mtls.ssl.truststore.location": str(pki.ca),
        "listener.name.mtls.ssl.client.auth": "required",
        "listener.name.mtls.ssl.principal.mapping.rules": (
            "RULE:^CN=([^,]+),OU=Eng,.*$/$1@eng/L,DEFAULT"
        ),
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("tls-broker"), overrides, port=port, name="tls")
    try:
        proc.start()
        yield TlsBroker(proc, ssl_port, mtls_port)
    finally:
        proc.close()


def ssl_config(
    client: str, pki: Pki, *, cert: bool = False, ca: Path | None = None
) -> dict[str, Any]:
    """Client settings for TLS (optionally presenting the client certificate)."""
    ca_file = str(ca or pki.ca)
    if client == "confluent":
        cfg: dict[str, Any] = {"security.protocol": "SSL", "ssl.ca.location": ca_file}
        if cert:
            cfg["ssl.certificate.location"] = str(pki.client_chain)
            cfg["ssl.key.location"] = str(pki.client_key)
        return cfg
    if client == "kafka-python":
        cfg = {"security_protocol": "SSL", "ssl_cafile": ca_file}
        if cert:
            cfg["ssl_certfile"] = str(pki.client_chain)
            cfg["ssl_keyfile"] = str(pki.client_key)
        return cfg
    if client == "aiokafka":
        from aiokafka.helpers import create_ssl_context

        context = create_ssl_context(
            cafile=ca_file,
            certfile=str(pki.client_chain) if cert else None,
            keyfile=str(pki.client_key) if cert else None,
        )
        return {"security_protocol": "SSL", "ssl_context": context}
    raise ValueError(client)


def records(n: int, tag: str) -> list[Record]:
    return [Record(key=f"k{i}".encode(), value=f"{tag}-{i}".encode() * 20) for i in range(n)]


@pytest.mark.parametrize("client", PYTHON_CLIENTS)
def test_tls_roundtrip(tls_broker: TlsBroker, pki: Pki, client: str) -> None:
    topic = unique_topic("tls")
    sent = records(50, client)
    cfg = ssl_config(client, pki)
    offsets = produce(client, tls_broker.ssl, topic, sent, **cfg)
    assert offsets == list(range(50))
    got = consume(client, tls_broker.ssl, topic, 50, **cfg)
    assert_roundtrip(sent, got)
    # The same records over the PLAINTEXT listener of the same broker.
    assert_roundtrip(sent, consume_kafka_python(tls_broker.plaintext, topic, 0, 0, 50))


def kcat(
    args: list[str], stdin: bytes | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [KCAT, *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


def test_tls_roundtrip_kcat(tls_broker: TlsBroker, pki: Pki) -> None:
    topic = unique_topic("tls-kcat")
    tls = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki.ca}"]
    produced = kcat(
        ["-b", tls_broker.ssl, "-t", topic, "-P", "-K:", "-p", "0", *tls],
        stdin=b"a:one\nb:two\nc:three\n",
    )
    assert produced.returncode == 0, produced.stderr
    consumed = kcat(
        ["-b", tls_broker.ssl, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%o %k %s\n", *tls]
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.decode().splitlines() == ["0 a one", "1 b two", "2 c three"]


def test_mtls_principal_from_certificate(tls_broker: TlsBroker, pki: Pki) -> None:
    topic = unique_topic("mtls")
    sent = records(5, "mtls")
    cfg = ssl_config("confluent", pki, cert=True)
    assert produce("confluent", tls_broker.mtls, topic, sent, **cfg) == list(range(5))
    mtls = ssl_config("kafka-python", pki, cert=True)
    got = consume("kafka-python", tls_broker.mtls, topic, 5, **mtls)
    assert_roundtrip(sent, got)
    # RULE:^CN=([^,]+),OU=Eng,.*$/$1@eng/L maps the client's DN to User:alice@eng.
    deadline = time.monotonic() + 10
    line = f"TLS client {CLIENT_DN} authenticated as User:alice@eng"
    while line not in tls_broker.proc.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line in tls_broker.proc.log_text()


def _handshake(address: str, context: ssl.SSLContext) -> None:
    host, port = address.split(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        # An ApiVersions v0 request: with TLS 1.3 a refused client certificate shows
        # only on the first read (an alert, or the connection closed).
        tls.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff")
        if not tls.recv(4):
            raise ConnectionError("closed by the broker")


def test_mtls_refuses_clients_without_a_trusted_certificate(
    tls_broker: TlsBroker, pki: Pki
) -> None:
    no_cert = ssl.create_default_context(cafile=str(pki.ca))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(tls_broker.mtls, no_cert)
    untrusted = ssl.create_default_context(cafile=str(pki.ca))
    untrusted.load_cert_chain(str(pki.other_client_chain), str(pki.other_client_key))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(tls_broker.mtls, untrusted)
    trusted = ssl.create_default_context(cafile=str(pki.ca))
    trusted.load_cert_chain(str(pki.client_chain), str(pki.client_key))
    _handshake(tls_broker.mtls, trusted)


def test_client_with_wrong_ca_is_rejected(tls_broker: TlsBroker, pki: Pki) -> None:
    wrong = ssl.create_default_context(cafile=str(pki.other_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tls_broker.ssl, wrong)
    with pytest.raises(ClientError):
        produce(
            "confluent", tls_broker.ssl, unique_topic("wrong-ca"), records(1, "x"),
            timeout=5, **ssl_config("confluent", pki, ca=pki.other_ca),
        )  # fmt: skip


def test_tls_1_1_is_refused(tls_broker: TlsBroker, pki: Pki) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(pki.ca))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the point of the test
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        _handshake(tls_broker.ssl, old)
    modern = ssl.create_default_context(cafile=str(pki.ca))
    modern.minimum_version = modern.maximum_version = ssl.TLSVersion.TLSv1_2
    _handshake(tls_broker.ssl, modern)
