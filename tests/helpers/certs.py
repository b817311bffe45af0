"""Test certificates made with ``cryptography``: a CA, a server and client certificates.

``make_pki(directory)`` writes PEM files (CA, server chain and key, client chain and key,
an encrypted server key), a PKCS12 server key store and a second, untrusted CA with its
own client, and returns their paths. Keys are ECDSA P-256 (fast handshakes).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_PASSWORD = "key-secret"
STORE_PASSWORD = "store-secret"
CLIENT_DN = "CN=alice,OU=Eng,O=Josef Tests,C=US"


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: Path
    server_chain: Path
    server_key: Path
    server_key_encrypted: Path
    server_pem_store: Path  # key + chain in one PEM file
    server_p12: Path
    client_chain: Path
    client_key: Path
    other_ca: Path
    other_client_chain: Path
    other_client_key: Path
    ca_key: Path



_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


SERVER_SANS: list[x509.GeneralName] = [
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
]


def _name(dn: list[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in dn])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name([(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    *,
    server: bool,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans or SERVER_SANS), False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _ca("Josef Test CA")
    server_key, server = _leaf(
        ca_key, ca, _name([(NameOID.COMMON_NAME, "localhost")]), server=True
    )
    client_subject = _name(
        [
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.ORGANIZATION_NAME, "Josef Tests"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Eng"),
            (NameOID.COMMON_NAME, "alice"),
        ]
    )
    client_key, client = _leaf(ca_key, ca, client_subject, server=False)
    other_ca_key, other_ca = _ca("Untrusted CA")
    other_key, other_client = _leaf(
        other_ca_key, other_ca, _name([(NameOID.COMMON_NAME, "mallory")]), server=False
    )

    def write(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        return path

    p12 = pkcs12.serialize_key_and_certificates(
        b"server",
        server_key,
        server,
        [ca],
        serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
    )
    return Pki(
        directory=directory,
        ca=write("ca.pem", _pem(ca)),
        server_chain=write("server.pem", _pem(server) + _pem(ca)),
        server_key=write("server.key", _key(server_key)),
        server_key_encrypted=write("server-enc.key", _key(server_key, KEY_PASSWORD)),
        server_pem_store=write("server-store.pem", _key(server_key) + _pem(server) + _pem(ca)),
        server_p12=write("server.p12", p12),
        client_chain=write("client.pem", _pem(client)),
        client_key=write("client.key", _key(client_key)),
        other_ca=write("other-ca.pem", _pem(other_ca)),
        other_client_chain=write("other-client.pem", _pem(other_client)),
        other_client_key=write("other-client.key", _key(other_key)),
        ca_key=write("ca.key", _key(ca_key)),
    )


def issue_server_store(
    pki: Pki,
    path: Path,
    *,
    common_name: str = "localhost",
    sans: list[x509.GeneralName] | None = None,
) -> int:
    """Write a PEM key store (key + chain) with a new server certificate from the PKI's CA
    at ``path``; returns the certificate's serial number."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    key, cert = _leaf(
        ca_key, ca, _name([(NameOID.COMMON_NAME, common_name)]), server=True, sans=sans
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_key(key) + _pem(cert) + _pem(ca))
    tmp.replace(path)
    return int(cert.serial_number)


def served_serial(host: str, port: int, ca: Path) -> int:
    """Serial number of the certificate a TLS listener serves to a new connection."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((host, port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)
