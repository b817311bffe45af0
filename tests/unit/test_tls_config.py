"""TLS settings → SSLContext: key and trust stores, protocols, cipher suites, clear errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from helpers.certs import KEY_PASSWORD, STORE_PASSWORD, Pki, make_pki

from broker.config.broker_config import BrokerConfig, ConfigError
from broker.security.channel import build_listener_security
from broker.security.tls import TlsSettings, build_server_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def settings(props: dict[str, str]) -> TlsSettings:
    config = BrokerConfig.from_properties({"listeners": "SSL://127.0.0.1:9093", **props})
    return TlsSettings.for_listener(config, "SSL")


def context(props: dict[str, str]) -> ssl.SSLContext:
    return build_server_context(settings(props))


def pem_store(pki: Pki) -> dict[str, str]:
    return {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki.server_pem_store)}


def test_key_store_forms(pki: Pki) -> None:
    context(pem_store(pki))
    context(
        {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": pki.server_chain.read_text(),
            "ssl.keystore.key": pki.server_key_encrypted.read_text(),
            "ssl.key.password": KEY_PASSWORD,
        }
    )
    context(
        {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(pki.server_p12),
            "ssl.keystore.password": STORE_PASSWORD,
        }
    )


def expect_error(props: dict[str, str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        context(props)
    assert info.value.key == key, str(info.value)
    assert fragment in str(info.value)


def test_key_store_errors(pki: Pki, tmp_path: Path) -> None:
    expect_error({}, "ssl.keystore.location", "needs a key store")
    expect_error(
        {"ssl.keystore.location": str(pki.server_p12)}, "ssl.keystore.type", "JKS stores"
    )
    expect_error(
        {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": str(pki.server_p12),
         "ssl.keystore.password": "wrong"},
        "ssl.keystore.password", "cannot open",
    )  # fmt: skip
    expect_error(
        {"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": "x"},
        "ssl.keystore.key", "go together",
    )  # fmt: skip
    expect_error(
        {"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": pki.server_chain.read_text(),
         "ssl.keystore.key": pki.server_key_encrypted.read_text(), "ssl.key.password": "wrong"},
        "ssl.keystore.key", "cannot load the key",
    )  # fmt: skip
    expect_error(
        {**pem_store(pki), "ssl.keystore.location": str(tmp_path / "missing.pem")},
        "ssl.keystore.location", "cannot read",
    )  # fmt: skip
    expect_error(
        {**pem_store(pki), "ssl.keystore.password": "x"}, "ssl.keystore.password", "PEM"
    )


def test_trust_store_and_client_auth(pki: Pki) -> None:
    trust = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca)}
    ctx = context({**pem_store(pki), "ssl.client.auth": "required", **trust})
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "Josef Test CA"),),)]
    ctx = context({**pem_store(pki), "ssl.client.auth": "requested",
                   "ssl.truststore.type": "PEM",
                   "ssl.truststore.certificates": pki.ca.read_text()})  # fmt: skip
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert context(pem_store(pki)).verify_mode == ssl.CERT_NONE
    expect_error(
        {**pem_store(pki), "ssl.truststore.location": str(pki.ca)}, "ssl.truststore.type", "JKS"
    )


@pytest.mark.parametrize(
    ("protocols", "protocol", "low", "high"),
    [
        ("TLSv1.2,TLSv1.3", "TLSv1.3", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3),
        ("TLSv1.3", "TLSv1.3", ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3),
        ("TLSv1.2", "TLSv1.3", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
        ("TLSv1.2,TLSv1.3", "TLSv1.2", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
    ],
)
def test_protocol_versions(
    pki: Pki, protocols: str, protocol: str, low: ssl.TLSVersion, high: ssl.TLSVersion
) -> None:
    ctx = context({**pem_store(pki), "ssl.enabled.protocols": protocols, "ssl.protocol": protocol})
    assert (ctx.minimum_version, ctx.maximum_version) == (low, high)


def test_insecure_protocols_are_refused(pki: Pki) -> None:
    expect_error({**pem_store(pki), "ssl.enabled.protocols": "TLSv1.1,TLSv1.2"},
                 "ssl.enabled.protocols", "TLSv1.1 is insecure")  # fmt: skip
    expect_error({**pem_store(pki), "ssl.enabled.protocols": "TLSv1.3", "ssl.protocol": "TLSv1.2"},
                 "ssl.protocol", "leaves none")  # fmt: skip


def test_cipher_suites(pki: Pki) -> None:
    ctx = context(
        {**pem_store(pki), "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
    )
    names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names == {"ECDHE-ECDSA-AES128-GCM-SHA256"}
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2  # no TLS 1.3 suite listed
    tls13 = "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256"
    ctx = context({**pem_store(pki), "ssl.cipher.suites": tls13})
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    expect_error({**pem_store(pki), "ssl.cipher.suites": "TLS_NOT_A_SUITE"},
                 "ssl.cipher.suites", "unknown cipher suite")  # fmt: skip
    expect_error({**pem_store(pki), "ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"},
                 "ssl.cipher.suites", "all together")  # fmt: skip


def test_per_listener_overrides(pki: Pki) -> None:
    config = BrokerConfig.from_properties(
        {
            "listeners": "PLAINTEXT://:9092,INTERNAL://:9093,EXTERNAL://:9094",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,EXTERNAL:SSL",
            **pem_store(pki),
            "listener.name.external.ssl.client.auth": "required",
            "listener.name.external.ssl.truststore.type": "PEM",
            "listener.name.external.ssl.truststore.location": str(pki.ca),
            "listener.name.external.ssl.principal.mapping.rules": "RULE:^CN=(.*?),.*$/$1/",
        }
    )
    security = build_listener_security(config)
    assert security["PLAINTEXT"].ssl_context is None
    internal, external = security["INTERNAL"], security["EXTERNAL"]
    assert internal.ssl_context is not None and external.ssl_context is not None
    assert internal.ssl_context.verify_mode == ssl.CERT_NONE
    assert external.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert external.principal_mapper is not None
    assert external.principal_mapper.name("CN=bob,O=x") == "bob"
    bad = config.with_overrides({"listener.name.internal.ssl.principal.mapping.rules": "nope"})
    with pytest.raises(ConfigError) as info:
        build_listener_security(bad)
    assert info.value.key == "listener.name.internal.ssl.principal.mapping.rules"
