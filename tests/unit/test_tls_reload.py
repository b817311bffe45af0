"""Kafka's key store compatibility rules for a reload (SslFactory.CertificateEntries)."""

from __future__ import annotations

import datetime

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
