"""The admin CLI's client side of SASL (PLAIN, SCRAM against the broker's own ScramServer)
and its ``--command-config`` parsing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from broker.admin.client_config import ClientConfigError, client_config, load_client_config
from broker.admin.sasl_client import PlainClient, SaslClientError, ScramClient, sasl_client
from broker.security.sasl_server import SaslAuthenticationError
from broker.security.scram import (
    MECHANISMS,
    CredentialLookup,
    ScramCredential,
    ScramServer,
)


class _Users(CredentialLookup):
    def __init__(self, mechanism: str, users: dict[str, str]) -> None:
        m = MECHANISMS[mechanism]
        self.creds = {
            u: m.credential(
                b"salt-" + u.encode(), m.salted_password(p, b"salt-" + u.encode(), 4096), 4096
            )
            for u, p in users.items()
        }

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.creds.get(user)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_client_against_the_broker_server(mechanism: str) -> None:
    server = ScramServer(MECHANISMS[mechanism], _Users(mechanism, {"a,b=c": "pw"}))
    client = sasl_client(mechanism, "a,b=c", "pw")
    assert isinstance(client, ScramClient)
    final = client.respond(server.evaluate(client.first()))
    assert final is not None
    assert client.respond(server.evaluate(final)) is None
    assert client.done and server.complete


def test_scram_client_wrong_password_is_refused_by_the_server() -> None:
    server = ScramServer(MECHANISMS["SCRAM-SHA-256"], _Users("SCRAM-SHA-256", {"u": "right"}))
    client = sasl_client("SCRAM-SHA-256", "u", "wrong")
    final = client.respond(server.evaluate(client.first()))
    assert final is not None
    with pytest.raises(SaslAuthenticationError):
        server.evaluate(final)


def test_scram_client_rejects_a_forged_server_signature() -> None:
    client = sasl_client("SCRAM-SHA-256", "u", "pw")
    first = client.first().decode()
    nonce = first.split("r=", 1)[1]
    salt = base64.b64encode(b"x").decode()
    assert client.respond(f"r={nonce}srv,s={salt},i=4096".encode()) is not None
    with pytest.raises(SaslClientError, match="signature"):
        client.respond(b"v=" + base64.b64encode(b"\0" * 32))


def test_scram_client_rejects_a_nonce_it_did_not_start() -> None:
    client = sasl_client("SCRAM-SHA-512", "u", "pw")
    client.first()
    with pytest.raises(SaslClientError, match="nonce"):
        client.respond(b"r=other,s=eA==,i=4096")


def test_plain_message() -> None:
    client = sasl_client("PLAIN", "alice", "secret")
    assert isinstance(client, PlainClient)
    assert client.first() == b"\0alice\0secret"


def test_jaas_config_gives_the_credentials() -> None:
    cfg = client_config(
        {
            "security.protocol": "sasl_plaintext",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
            'required username="sam" password="p\\"w";',
        }
    )
    sec = cfg.security
    assert (sec.protocol, sec.sasl_mechanism, sec.sasl_username, sec.sasl_password) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "sam",
        'p"w',
    )
    assert sec.ssl_context is None


@pytest.mark.parametrize(
    ("props", "key"),
    [
        ({"bootstrap.servers": "x:1", "linger.ms": "5"}, "linger.ms"),
        ({"security.protocol": "TLS"}, "security.protocol"),
        ({"ssl.ca.location": "/x"}, "ssl.ca.location"),
        ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"}, "sasl.mechanism"),
        (
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
                'required username="a" password="b";',
            },
            "sasl.jaas.config",
        ),
        (
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "PlainLoginModule required username=",
            },
            "sasl.jaas.config",
        ),
        ({"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent"}, "ssl.truststore"),
        (
            {
                "security.protocol": "SSL",
                "ssl.truststore.type": "JKS",
                "ssl.truststore.location": "/x",
            },
            "ssl.truststore.type",
        ),
        ({"request.timeout.ms": "soon"}, "request.timeout.ms"),
    ],
)
def test_bad_properties_name_the_key(props: dict[str, str], key: str) -> None:
    with pytest.raises(ClientConfigError, match=key.replace(".", r"\.")):
        client_config(props)


def test_file_with_bootstrap_and_client_id(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# a comment\nbootstrap.servers=h1:9092,h2:9092\nclient.id=ops\n")
    cfg = load_client_config(path)
    assert cfg.bootstrap_servers == "h1:9092,h2:9092"
    assert cfg.client_id == "ops"
    assert cfg.security.protocol == "PLAINTEXT"
    with pytest.raises(ClientConfigError, match="cannot read"):
        load_client_config(tmp_path / "missing.properties")
