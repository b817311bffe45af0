"""``--command-config``: the admin CLI over SASL_SSL (SCRAM, PLAIN), mutual TLS with PEM
and PKCS12 stores, cross-checked with confluent-kafka (librdkafka) and kafka-python on the
same secured listeners; bad files are refused with exit status 2."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.certs import Pki, make_pki
from helpers.clients import unique_topic, wait_for_topic
from helpers.josef_cli import josef, ok
from kafka import KafkaAdminClient

PLAIN_USERS = {"alice": "alice-secret"}
SCRAM_USER = ("sam", "sam-secret")
JAAS_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
JAAS_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


class SecureBroker:
    def __init__(self, proc: BrokerProcess, sasl_ssl: str, ssl: str, pki: Pki) -> None:
        self.proc = proc
        self.plaintext = proc.bootstrap
        self.sasl_ssl = sasl_ssl
        self.ssl = ssl
        self.pki = pki


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Generator[SecureBroker, None, None]:
    require_josef("SASL and TLS settings")
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    port, sasl_port, ssl_port = free_port(), free_port(), free_port()
    listeners = (
        f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{ssl_port}"
    )
    users = " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items())
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": f"{JAAS_PLAIN} required {users};",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.server_pem_store),
        "listener.name.ssl.ssl.client.auth": "required",
        "listener.name.ssl.ssl.truststore.type": "PEM",
        "listener.name.ssl.ssl.truststore.location": str(pki.ca),
        "connection.failed.authentication.delay.ms": "100",
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("secure"), overrides, port=port, name="secure")
    try:
        proc.start()
        admin = AdminClient({"bootstrap.servers": proc.bootstrap})
        upsert = [
            UserScramCredentialUpsertion(
                SCRAM_USER[0], ScramCredentialInfo(m, 4096), SCRAM_USER[1].encode()
            )
            for m in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
        ]
        for future in admin.alter_user_scram_credentials(upsert).values():
            future.result(timeout=30)
        yield SecureBroker(proc, f"127.0.0.1:{sasl_port}", f"127.0.0.1:{ssl_port}", pki)
    finally:
        proc.close()


def _props(path: Path, props: dict[str, str]) -> str:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return str(path)


def _scram_props(b: SecureBroker, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    user, password = SCRAM_USER
    return {
        "bootstrap.servers": b.sasl_ssl,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.jaas.config": f'{JAAS_SCRAM} required username="{user}" password="{password}";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(b.pki.ca),
    }


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_scram_over_sasl_ssl_matches_confluent(
    secure: SecureBroker, tmp_path: Path, mechanism: str
) -> None:
    props = _scram_props(secure, mechanism)
    cfg = _props(tmp_path / "scram.properties", props)
    topic = unique_topic("sec")
    created = json.loads(
        ok(josef(None, "topics", "create", topic, "--partitions", "2", "--command-config", cfg,
                 "--output", "json"))
    )  # fmt: skip
    assert created["name"] == topic and created["created"] is True
    wait_for_topic(secure.plaintext, topic, 2)
    listed = json.loads(
        ok(josef(None, "topics", "list", "--command-config", cfg, "--output", "json"))
    )
    # librdkafka on the same SASL_SSL listener with the same credentials
    admin = AdminClient(
        {
            "bootstrap.servers": secure.sasl_ssl,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism,
            "sasl.username": SCRAM_USER[0],
            "sasl.password": SCRAM_USER[1],
            "ssl.ca.location": str(secure.pki.ca),
        }
    )
    md = admin.list_topics(timeout=15)
    assert {t["name"] for t in listed} == set(md.topics)
    mine = next(t for t in listed if t["name"] == topic)
    assert mine["partition_count"] == len(md.topics[topic].partitions) == 2


def test_plain_with_librdkafka_style_keys(secure: SecureBroker, tmp_path: Path) -> None:
    cfg = _props(
        tmp_path / "plain.properties",
        {
            "bootstrap.servers": secure.sasl_ssl,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "alice",
            "sasl.password": PLAIN_USERS["alice"],
            "ssl.ca.location": str(secure.pki.ca),
        },
    )
    info = json.loads(
        ok(josef(None, "topics", "list", "--command-config", cfg, "--output", "json"))
    )
    assert isinstance(info, list)


def test_mutual_tls_with_pkcs12_stores_matches_kafka_python(
    secure: SecureBroker, tmp_path: Path
) -> None:
    pki = secure.pki
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    client_cert = x509.load_pem_x509_certificate(pki.client_chain.read_bytes())
    client_key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    enc = BestAvailableEncryption(b"p12-secret")
    trust = tmp_path / "trust.p12"
    trust.write_bytes(pkcs12.serialize_key_and_certificates(b"ca", None, None, [ca], enc))
    keys = tmp_path / "client.p12"
    keys.write_bytes(
        pkcs12.serialize_key_and_certificates(b"client", client_key, client_cert, [ca], enc)  # type: ignore[arg-type]
    )
    cfg = _props(
        tmp_path / "mtls.properties",
        {
            "bootstrap.servers": secure.ssl,
            "security.protocol": "SSL",
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(trust),
            "ssl.truststore.password": "p12-secret",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(keys),
            "ssl.keystore.password": "p12-secret",
        },
    )
    topic = unique_topic("mtls")
    ok(josef(None, "topics", "create", topic, "--partitions", "3", "--command-config", cfg))
    described = json.loads(
        ok(josef(None, "topics", "describe", topic, "--command-config", cfg, "--output", "json"))
    )
    kp = KafkaAdminClient(
        bootstrap_servers=secure.ssl,
        security_protocol="SSL",
        ssl_cafile=str(pki.ca),
        ssl_certfile=str(pki.client_chain),
        ssl_keyfile=str(pki.client_key),
    )
    try:
        (theirs,) = kp.describe_topics([topic])
    finally:
        kp.close()
    (mine,) = described
    assert mine["name"] == theirs["name"] == topic
    assert sorted(
        (p["partition"], p["leader"], p["replicas"], p["isr"]) for p in mine["partitions"]
    ) == sorted(
        (p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"])
        for p in theirs["partitions"]
    )

    # without a client certificate the SSL listener refuses the handshake
    bare = _props(
        tmp_path / "nocert.properties",
        {"bootstrap.servers": secure.ssl, "security.protocol": "SSL",
         "ssl.ca.location": str(pki.ca)},
    )  # fmt: skip
    proc = josef(None, "topics", "list", "--command-config", bare)
    assert proc.returncode == 1, proc.stderr


def test_wrong_password_exits_1_with_the_kafka_error(secure: SecureBroker, tmp_path: Path) -> None:
    props = _scram_props(secure)
    props["sasl.jaas.config"] = f'{JAAS_SCRAM} required username="sam" password="nope";'
    proc = josef(None, "topics", "list", "--command-config", _props(tmp_path / "bad", props))
    assert proc.returncode == 1
    assert "SASL_AUTHENTICATION_FAILED" in proc.stderr


def test_untrusted_server_certificate_exits_1(secure: SecureBroker, tmp_path: Path) -> None:
    props = _scram_props(secure)
    props["ssl.truststore.location"] = str(secure.pki.other_ca)
    proc = josef(None, "topics", "list", "--command-config", _props(tmp_path / "untrusted", props))
    assert proc.returncode == 1
    assert "TLS handshake" in proc.stderr and "CERTIFICATE_VERIFY_FAILED" in proc.stderr


def test_unknown_property_exits_2_naming_it(secure: SecureBroker, tmp_path: Path) -> None:
    cfg = _props(tmp_path / "odd", {"bootstrap.servers": secure.plaintext, "acks": "all"})
    proc = josef(None, "topics", "list", "--command-config", cfg)
    assert proc.returncode == 2
    assert proc.stderr.startswith("josef: invalid --command-config: acks: unknown client property")


def test_bootstrap_server_flag_beats_the_file(secure: SecureBroker, tmp_path: Path) -> None:
    cfg = _props(tmp_path / "plain", {"bootstrap.servers": "127.0.0.1:1", "client.id": "ops"})
    listed = json.loads(
        ok(josef(secure.plaintext, "topics", "list", "--command-config", cfg, "--output", "json"))
    )
    assert isinstance(listed, list)
