"""Kafka's key store compatibility rules for a reload (SslFactory.CertificateEntries)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broker.security.tls_reload import SslReloadError, ensure_compatible, subject_alt_names


def cert(cn: str, org: str, *dns: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def test_same_dn_and_more_sans_are_compatible() -> None:
    old = cert("*.example.com", "Kafka", "localhost", "*.example.com")
    ensure_compatible(old, old, False, False)
    ensure_compatible(
        old, cert("*.example.com", "Kafka", "localhost", "*.example.com", "x"), False, False
    )
    # DNs compare without case, as Kafka's RFC 2253 names do
    ensure_compatible(
        old, cert("*.EXAMPLE.COM", "KAFKA", "localhost", "*.example.com"), False, False
    )
    assert subject_alt_names(old) == {(2, "localhost"), (2, "*.example.com")}


def test_dn_and_san_changes_are_refused_unless_allowed() -> None:
    old = cert("*.example.com", "Kafka", "localhost", "*.example.com")
    other_dn = cert("*.another.example.com", "Kafka", "localhost", "*.example.com")
    with pytest.raises(SslReloadError) as info:
        ensure_compatible(old, other_dn, False, False)
    assert str(info.value) == (
        "Keystore DistinguishedName does not match:  existing={alias=kafka, "
        "DN=CN=*.example.com, O=Kafka}, new={alias=kafka, DN=CN=*.another.example.com, O=Kafka}"
    )
    ensure_compatible(old, other_dn, True, False)
    fewer = cert("*.example.com", "Kafka", "localhost")
    with pytest.raises(SslReloadError, match="Keystore SubjectAltNames do not match"):
        ensure_compatible(old, fewer, False, False)
    ensure_compatible(old, fewer, False, True)
    with pytest.raises(SslReloadError, match="SubjectAltNames"):
        ensure_compatible(old, cert("x", "y", "localhost"), True, False)


async def _handshake(port: int, pki: Any, client_pki: Any) -> bytes | None:
    """Serial-bearing DER certificate the server shows, or None if the handshake fails."""
    import asyncio
    import ssl

    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(client_pki.client_chain, client_pki.client_key)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.write(b"x")
        await writer.drain()
        data = await reader.read(1)  # the server echoes once the handshake is accepted
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return der if data == b"x" else None
    except (ssl.SSLError, ConnectionError):
        return None


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_activate_switches_certificate_and_trust_store(tmp_path: Any, loop_kind: str) -> None:
    """New handshakes use the activated context (key store and trust store); a connection
    made before keeps working."""
    import asyncio

    from helpers.certs import make_pki

    from broker.config.broker_config import BrokerConfig
    from broker.security.channel import build_listener_security
    from broker.security.tls import TlsSettings, build_server_tls

    old, new = make_pki(tmp_path / "old"), make_pki(tmp_path / "new")

    def props(pki: Any) -> dict[str, str]:
        return {
            "listeners": "SSL://127.0.0.1:0", "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(pki.server_pem_store), "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(pki.ca), "ssl.client.auth": "required",
        }  # fmt: skip

    security = build_listener_security(BrokerConfig.from_properties(props(old)))["SSL"]
    assert security.ssl_context is not None

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def scenario() -> None:
        server = await asyncio.get_running_loop().create_server(
            Echo, "127.0.0.1", 0, ssl=security.ssl_context
        )
        port = server.sockets[0].getsockname()[1]
        assert await _handshake(port, old, old) is not None
        assert await _handshake(port, old, new) is None  # client of an untrusted CA
        kept_reader, kept_writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=_client_ctx(old, old)
        )
        reloaded = build_server_tls(TlsSettings.for_listener(
            BrokerConfig.from_properties(props(new)), "SSL"))  # fmt: skip
        security.activate(reloaded)
        assert await _handshake(port, new, new) is not None  # new certificate, new CA
        # the server no longer trusts client certificates of the old CA
        assert await _handshake(port, new, old) is None
        kept_writer.write(b"y")
        assert await kept_reader.read(1) == b"y"  # the connection made before goes on
        kept_writer.close()
        server.close()

    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(scenario())
    else:
        asyncio.run(scenario())


def _client_ctx(pki: Any, client_pki: Any) -> Any:
    import ssl

    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(client_pki.client_chain, client_pki.client_key)
    return ctx
