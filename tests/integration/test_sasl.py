"""SASL with real clients: PLAIN and SCRAM-SHA-256/512 over SASL_PLAINTEXT and SASL_SSL.

One broker serves PLAINTEXT, SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and
SASL_SSL (SCRAM-SHA-512, PLAIN). PLAIN users come from the listener's JAAS config;
SCRAM users are created and removed at runtime with confluent-kafka's
alter_user_scram_credentials.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from helpers.broker_process import BrokerProcess, free_port, recv_exact, require_josef
from helpers.certs import Pki, make_pki
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
from kafka.errors import KafkaError

PLAIN_USERS = {"alice": "alice-secret", "bob": "bob-secret"}
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
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_TYPES = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
               "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}  # fmt: skip


class SaslBroker:
    def __init__(self, proc: BrokerProcess, sasl_port: int, sasl_ssl_port: int, pki: Pki) -> None:
        self.proc = proc
        self.plaintext = proc.bootstrap
        self.sasl = f"127.0.0.1:{sasl_port}"
        self.sasl_ssl = f"127.0.0.1:{sasl_ssl_port}"
        self.pki = pki


def jaas(users: dict[str, str]) -> str:
    entries = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return f"org.apache.kafka.common.security.plain.PlainLoginModule required {entries};"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[SaslBroker, None, None]:
    require_josef("SASL settings")
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    port, sasl_port, ssl_port = free_port(), free_port(), free_port()
    listeners = (
        f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
        f"SASL_SSL://127.0.0.1:{ssl_port}"
    )
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(PLAIN_USERS),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "sasl.jaas.config": jaas({"carol": "carol-secret"}),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.server_pem_store),
        "connection.failed.authentication.delay.ms": "300",
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("sasl-broker"), overrides, port=port, name="sasl")
    try:
        proc.start()
        yield SaslBroker(proc, sasl_port, ssl_port, pki)
    finally:
        proc.close()


def scram_admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def upsert_scram(bootstrap: str, user: str, password: str, mechanisms: tuple[str, ...]) -> None:
    admin = scram_admin(bootstrap)
    alterations = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(SCRAM_TYPES[m], 4096), password.encode()
        )
        for m in mechanisms
    ]
    for future in admin.alter_user_scram_credentials(alterations).values():
        future.result(timeout=30)


@pytest.fixture(scope="module")
def scram_users(sasl_broker: SaslBroker) -> dict[str, str]:
    users = {"sam": "sam-secret", "sue": "sue-secret"}
    for user, password in users.items():
        upsert_scram(sasl_broker.plaintext, user, password, ("SCRAM-SHA-256", "SCRAM-SHA-512"))
    return users


def sasl_config(
    client: str, mechanism: str, user: str, password: str, *, tls: Pki | None = None
) -> dict[str, Any]:
    protocol = "SASL_SSL" if tls is not None else "SASL_PLAINTEXT"
    if client == "confluent":
        cfg: dict[str, Any] = {
            "security.protocol": protocol,
            "sasl.mechanism": mechanism,
            "sasl.username": user,
            "sasl.password": password,
        }
        if tls is not None:
            cfg["ssl.ca.location"] = str(tls.ca)
        return cfg
    cfg = {
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    if tls is not None:
        if client == "kafka-python":
            cfg["ssl_cafile"] = str(tls.ca)
        else:
            from aiokafka.helpers import create_ssl_context

            cfg["ssl_context"] = create_ssl_context(cafile=str(tls.ca))
    return cfg


def credentials(mechanism: str, scram_users: dict[str, str]) -> tuple[str, str]:
    if mechanism == "PLAIN":
        return "alice", PLAIN_USERS["alice"]
    return "sam", scram_users["sam"]


def roundtrip(client: str, bootstrap: str, cfg: dict[str, Any], n: int = 20) -> None:
    topic = unique_topic(f"sasl-{client}")
    sent = [Record(key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(n)]
    assert PRODUCE[client](bootstrap, topic, sent, **cfg) == list(range(n))
    assert_roundtrip(sent, CONSUME[client](bootstrap, topic, 0, 0, n, **cfg))


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent"])
def test_sasl_roundtrip(
    sasl_broker: SaslBroker, scram_users: dict[str, str], client: str, mechanism: str
) -> None:
    user, password = credentials(mechanism, scram_users)
    roundtrip(client, sasl_broker.sasl, sasl_config(client, mechanism, user, password))


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_sasl_roundtrip_kcat(
    sasl_broker: SaslBroker, scram_users: dict[str, str], mechanism: str
) -> None:
    user, password = credentials(mechanism, scram_users)
    topic = unique_topic("sasl-kcat")
    auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]  # fmt: skip
    produced = subprocess.run(
        [KCAT, "-b", sasl_broker.sasl, "-t", topic, "-P", "-K:", "-p", "0", *auth],
        input=b"a:one\nb:two\n", capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(
        [KCAT, "-b", sasl_broker.sasl, "-t", topic, "-C", "-e", "-o", "beginning",
         "-f", "%o %k %s\n", *auth],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.decode().splitlines() == ["0 a one", "1 b two"]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_sasl_ssl(sasl_broker: SaslBroker, scram_users: dict[str, str], client: str) -> None:
    tls = sasl_broker.pki
    roundtrip(client, sasl_broker.sasl_ssl,
              sasl_config(client, "SCRAM-SHA-512", "sue", scram_users["sue"], tls=tls))  # fmt: skip
    # PLAIN on SASL_SSL: no listener JAAS, so the users of sasl.jaas.config apply.
    roundtrip(client, sasl_broker.sasl_ssl,
              sasl_config(client, "PLAIN", "carol", "carol-secret", tls=tls))  # fmt: skip


def test_sasl_ssl_refuses_mechanism_not_enabled_there(
    sasl_broker: SaslBroker, scram_users: dict[str, str]
) -> None:
    cfg = sasl_config("confluent", "SCRAM-SHA-256", "sam", scram_users["sam"], tls=sasl_broker.pki)
    with pytest.raises(ClientError):
        PRODUCE["confluent"](sasl_broker.sasl_ssl, unique_topic("x"), [Record(value=b"x")],
                             timeout=5, **cfg)  # fmt: skip


# --- raw protocol checks -----------------------------------------------------------------


def request(api_key: int, version: int, body: bytes, correlation_id: int = 7) -> bytes:
    header = struct.pack(">hhi", api_key, version, correlation_id) + struct.pack(">h", 4) + b"test"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def kstring(text: str) -> bytes:
    return struct.pack(">h", len(text)) + text.encode()


def read_frame(sock: socket.socket) -> bytes:
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.settimeout(10)
    return sock


def test_wrong_password_fails_and_others_are_unaffected(
    sasl_broker: SaslBroker, scram_users: dict[str, str]
) -> None:
    good = connect(sasl_broker.sasl)
    good.sendall(request(17, 1, kstring("PLAIN")))
    assert struct.unpack_from(">h", read_frame(good), 4)[0] == 0
    bad = connect(sasl_broker.sasl)
    bad.sendall(request(17, 1, kstring("PLAIN")))
    handshake = read_frame(bad)
    assert struct.unpack_from(">ih", handshake) == (7, 0)
    token = b"\0alice\0wrong"
    started = time.monotonic()
    bad.sendall(request(36, 0, struct.pack(">i", len(token)) + token, correlation_id=8))
    answer = read_frame(bad)
    elapsed = time.monotonic() - started
    correlation, code = struct.unpack_from(">ih", answer)
    assert (correlation, code) == (8, 58)  # SASL_AUTHENTICATION_FAILED
    (length,) = struct.unpack_from(">h", answer, 6)
    assert answer[8 : 8 + length] == b"Authentication failed: Invalid username or password"
    assert bad.recv(1) == b""  # then the broker closes the connection
    # connection.failed.authentication.delay.ms=300 (not asserted: no timed assertions)
    del elapsed
    # The connection that is mid-handshake still authenticates and works.
    token = b"\0alice\0" + PLAIN_USERS["alice"].encode()
    good.sendall(request(36, 0, struct.pack(">i", len(token)) + token, correlation_id=9))
    assert struct.unpack_from(">ih", read_frame(good)) == (9, 0)
    good.sendall(request(3, 1, struct.pack(">i", 0), correlation_id=10))  # Metadata v1, no topics
    assert struct.unpack_from(">i", read_frame(good))[0] == 10
    good.close()
    bad.close()
    for client in ("confluent", "kafka-python"):
        wrong = sasl_config(client, "SCRAM-SHA-256", "sam", "not-sams-password")
        # kafka-python gives up while bootstrapping (KafkaTimeoutError), before the helper.
        with pytest.raises((ClientError, KafkaError)):
            PRODUCE[client](sasl_broker.sasl, unique_topic("wrong"), [Record(value=b"x")],
                            timeout=5, **wrong)  # fmt: skip
    log = sasl_broker.proc.log_text()
    assert "Failed authentication with 127.0.0.1" in log
    assert "Invalid username or password" in log


def test_requests_before_authentication_close_the_connection(sasl_broker: SaslBroker) -> None:
    sock = connect(sasl_broker.sasl)
    sock.sendall(request(18, 0, b""))  # ApiVersions is allowed
    assert struct.unpack_from(">ih", read_frame(sock)) == (7, 0)
    sock.sendall(request(3, 1, struct.pack(">i", 0), correlation_id=11))  # Metadata is not
    with pytest.raises(ConnectionError):
        read_frame(sock)
    sock.close()
    sock = connect(sasl_broker.sasl)
    sock.sendall(request(17, 1, kstring("GSSAPI")))
    answer = read_frame(sock)
    correlation, code = struct.unpack_from(">ih", answer)
    assert (correlation, code) == (7, 33)  # UNSUPPORTED_SASL_MECHANISM, enabled ones listed
    assert b"SCRAM-SHA-512" in answer and b"PLAIN" in answer
    sock.close()


def test_handshake_v0_raw_tokens(sasl_broker: SaslBroker) -> None:
    sock = connect(sasl_broker.sasl)
    sock.sendall(request(17, 0, kstring("PLAIN")))
    assert struct.unpack_from(">ih", read_frame(sock)) == (7, 0)
    token = b"\0bob\0" + PLAIN_USERS["bob"].encode()
    sock.sendall(struct.pack(">i", len(token)) + token)
    assert read_frame(sock) == b""  # PLAIN's empty final token
    sock.sendall(request(18, 0, b"", correlation_id=12))
    assert struct.unpack_from(">ih", read_frame(sock)) == (12, 0)
    sock.close()


def test_plaintext_listener_answers_sasl_requests_with_illegal_state(
    sasl_broker: SaslBroker,
) -> None:
    sock = connect(sasl_broker.plaintext)
    sock.sendall(request(17, 1, kstring("PLAIN")))
    assert struct.unpack_from(">ih", read_frame(sock)) == (7, 34)  # ILLEGAL_SASL_STATE
    sock.close()


def test_scram_users_added_and_removed_at_runtime(sasl_broker: SaslBroker) -> None:
    bootstrap = sasl_broker.plaintext
    upsert_scram(bootstrap, "tmp-user", "tmp-secret", ("SCRAM-SHA-256",))
    admin = scram_admin(bootstrap)
    described = admin.describe_user_scram_credentials(["tmp-user"])["tmp-user"].result(timeout=30)
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_256, 4096)]
    cfg = sasl_config("confluent", "SCRAM-SHA-256", "tmp-user", "tmp-secret")
    roundtrip("confluent", sasl_broker.sasl, cfg, n=3)
    # Changing the password takes effect for new connections.
    upsert_scram(bootstrap, "tmp-user", "new-secret", ("SCRAM-SHA-256",))
    with pytest.raises(ClientError):
        roundtrip("confluent", sasl_broker.sasl, {**cfg, "message.timeout.ms": 5000}, n=1)
    new = sasl_config("kafka-python", "SCRAM-SHA-256", "tmp-user", "new-secret")
    roundtrip("kafka-python", sasl_broker.sasl, new, n=2)
    deletion = UserScramCredentialDeletion("tmp-user", ScramMechanism.SCRAM_SHA_256)
    for future in admin.alter_user_scram_credentials([deletion]).values():
        future.result(timeout=30)
    with pytest.raises((ClientError, KafkaError)):
        PRODUCE["kafka-python"](
            sasl_broker.sasl, unique_topic("gone"), [Record(value=b"x")], timeout=5,
            **sasl_config("kafka-python", "SCRAM-SHA-256", "tmp-user", "new-secret"),
        )  # fmt: skip
    # Deleting again: RESOURCE_NOT_FOUND; describing an unknown user too.
    future = admin.alter_user_scram_credentials([deletion])["tmp-user"]
    with pytest.raises(Exception, match="does not exist"):
        future.result(timeout=30)
    with pytest.raises(Exception, match="does not exist"):
        admin.describe_user_scram_credentials(["tmp-user"])["tmp-user"].result(timeout=30)


def test_scram_credentials_survive_a_restart(tmp_path: Path) -> None:
    require_josef("restart with SCRAM users")
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    proc = BrokerProcess(
        tmp_path / "b", {"listeners": listeners, "advertised.listeners": listeners,
                         "sasl.enabled.mechanisms": "SCRAM-SHA-512"}, port=port,
    )  # fmt: skip
    try:
        proc.start()
        upsert_scram(proc.bootstrap, "durable", "durable-secret", ("SCRAM-SHA-512",))
        proc.restart()
        cfg = sasl_config("confluent", "SCRAM-SHA-512", "durable", "durable-secret")
        roundtrip("confluent", f"127.0.0.1:{sasl_port}", cfg, n=2)
        # Only salted, iterated keys are on disk, never the password.
        document = (proc.data_dir / "josef-metadata.json").read_text()
        assert "durable-secret" not in document and "stored_key=" in document
    finally:
        proc.close()


def test_reauthentication_kip368(tmp_path: Path) -> None:
    """With connections.max.reauth.ms, librdkafka re-authenticates on its connection."""
    require_josef("connections.max.reauth.ms")
    from confluent_kafka import Producer

    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    proc = BrokerProcess(
        tmp_path / "b",
        {"listeners": listeners, "advertised.listeners": listeners,
         "sasl.enabled.mechanisms": "SCRAM-SHA-256", "connections.max.reauth.ms": "1500"},
        port=port,
    )  # fmt: skip
    try:
        proc.start()
        upsert_scram(proc.bootstrap, "reauth", "reauth-secret", ("SCRAM-SHA-256",))
        producer = Producer(
            {"bootstrap.servers": f"127.0.0.1:{sasl_port}",
             **sasl_config("confluent", "SCRAM-SHA-256", "reauth", "reauth-secret")}
        )  # fmt: skip
        topic = unique_topic("reauth")
        errors: list[str] = []
        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for i in range(25):  # about 5 s: three session lifetimes
            producer.produce(topic, value=b"%d" % i, partition=0, on_delivery=on_delivery)
            assert producer.flush(10) == 0
            time.sleep(0.2)
        assert errors == []
        log = proc.log_text()
        # Sessions were renewed on the same connections instead of expiring: no connection
        # closed for an expired session, and no more logins than connections.
        assert "SASL session expired" not in log
        assert 1 <= log.count("authenticated as User:reauth") <= 2
        got = consume_kafka_python(proc.bootstrap, topic, 0, 0, 25)
        assert [c.value for c in got] == [b"%d" % i for i in range(25)]
    finally:
        proc.close()
