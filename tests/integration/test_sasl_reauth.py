"""Re-authentication (KIP-368) with real clients and on the wire.

One SASL_PLAINTEXT listener with PLAIN (``connections.max.reauth.ms`` 1500 for it only,
``listener.name.sasl_plaintext.plain.connections.max.reauth.ms``) and OAUTHBEARER (the
session lasts as long as the token). librdkafka re-authenticates on its connections when
the session ends, both for PLAIN and for short-lived unsecured JWS tokens; aiokafka does
not re-authenticate, so the broker closes its connection at the first request after the
session expired and aiokafka reconnects (every record still arrives exactly once); on the
wire, the session lifetime goes back in SaslAuthenticate v1 and a re-authentication sooner
than a second after the previous one is not one (ILLEGAL_SASL_STATE), as in Kafka.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Generator
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, free_port, recv_exact, require_josef
from helpers.clients import consume_kafka_python, unique_topic

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
REAUTH_MS = 1500


class ReauthBroker:
    def __init__(self, proc: BrokerProcess, sasl_port: int) -> None:
        self.proc = proc
        self.sasl_port = sasl_port
        self.sasl = f"127.0.0.1:{sasl_port}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[ReauthBroker, None, None]:
    require_josef("connections.max.reauth.ms")
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            f'{PLAIN_MODULE} required user_alice="alice-secret" user_bob="bob-secret" '
            'user_carol="carol-secret";'
        ),
        "listener.name.sasl_plaintext.plain.connections.max.reauth.ms": str(REAUTH_MS),
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("reauth-broker"), overrides, port=port)
    try:
        proc.start()
        yield ReauthBroker(proc, sasl_port)
    finally:
        proc.close()


def produce_slowly_confluent(bootstrap: str, topic: str, config: dict[str, Any], n: int) -> None:
    """One record every 0.2 s (about n/5 seconds), each flushed before the next."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, **config})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for i in range(n):
        producer.produce(topic, value=b"%d" % i, partition=0, on_delivery=on_delivery)
        assert producer.flush(15) == 0
        producer.poll(0.2)  # serves librdkafka's token refresh too
    assert errors == []


def values(bootstrap: str, topic: str, n: int) -> list[bytes | None]:
    return [c.value for c in consume_kafka_python(bootstrap, topic, 0, 0, n)]


def logins(log: str, principal: str) -> int:
    return log.count(f"authenticated as User:{principal}")


def test_librdkafka_reauthenticates_plain(broker: ReauthBroker) -> None:
    topic = unique_topic("reauth-plain")
    produce_slowly_confluent(
        broker.sasl, topic,
        {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
         "sasl.username": "alice", "sasl.password": "alice-secret"},
        25,
    )  # fmt: skip
    assert values(broker.proc.bootstrap, topic, 25) == [b"%d" % i for i in range(25)]
    log = broker.proc.log_text()
    # About 5 s, three session lifetimes: the sessions were renewed on the connections
    # (no login beyond one per connection, none closed for an expired session).
    assert "SASL session expired" not in log
    assert 1 <= logins(log, "alice") <= 2


def test_librdkafka_reauthenticates_when_its_token_expires(broker: ReauthBroker) -> None:
    topic = unique_topic("reauth-oauth")
    produce_slowly_confluent(
        broker.sasl, topic,
        {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
         "enable.sasl.oauthbearer.unsecure.jwt": True,
         "sasl.oauthbearer.config": "principal=oscar lifeSeconds=6"},
        45,
    )  # fmt: skip
    # About 10 s, more than a token lifetime: librdkafka refreshes its token at 80% of its
    # life and re-authenticates near the end of the session the broker gave it (the token's
    # remaining life). Much shorter tokens would have it re-authenticate with an old token
    # and then again within a second, which Kafka (and Josef) refuse.
    assert values(broker.proc.bootstrap, topic, 45) == [b"%d" % i for i in range(45)]
    log = broker.proc.log_text()
    assert "SASL session expired" not in log
    assert 1 <= logins(log, "oscar") <= 2


def test_client_that_does_not_reauthenticate_is_disconnected(broker: ReauthBroker) -> None:
    """aiokafka ignores the session lifetime: its expired connections are closed at their
    next request and it reconnects; nothing is lost or duplicated."""
    from aiokafka import AIOKafkaProducer

    topic = unique_topic("reauth-aiokafka")
    before = broker.proc.log_text().count("SASL session expired")

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.sasl, security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN", sasl_plain_username="bob",
            sasl_plain_password="bob-secret", acks="all", request_timeout_ms=20000,
        )  # fmt: skip
        await producer.start()
        try:
            for i in range(12):
                await producer.send_and_wait(topic, b"%d" % i, partition=0)
                await asyncio.sleep(0.5)
        finally:
            await producer.stop()

    asyncio.run(produce())
    assert values(broker.proc.bootstrap, topic, 12) == [b"%d" % i for i in range(12)]
    log = broker.proc.log_text()
    assert log.count("SASL session expired") > before
    assert logins(log, "bob") >= 2  # it logged in again on new connections


# --- on the wire --------------------------------------------------------------------------


def request(api_key: int, version: int, body: bytes, correlation_id: int) -> bytes:
    payload = struct.pack(">hhih", api_key, version, correlation_id, 1) + b"w" + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def handshake(sock: socket.socket, correlation_id: int) -> int:
    sock.sendall(request(17, 1, struct.pack(">h", 5) + b"PLAIN", correlation_id))
    frame = read_frame(sock)
    assert struct.unpack_from(">i", frame)[0] == correlation_id
    return int(struct.unpack_from(">h", frame, 4)[0])


def authenticate(sock: socket.socket, user: str, password: str, correlation_id: int) -> int:
    """SaslAuthenticate v1; returns the session lifetime (ms)."""
    token = f"\0{user}\0{password}".encode()
    sock.sendall(request(36, 1, struct.pack(">i", len(token)) + token, correlation_id))
    frame = read_frame(sock)
    correlation, code, msg_len, auth_len = struct.unpack_from(">ihhi", frame)
    assert (correlation, code, msg_len, auth_len) == (correlation_id, 0, -1, 0)
    return int(struct.unpack_from(">q", frame, 12)[0])


def metadata(sock: socket.socket, correlation_id: int) -> bytes:
    sock.sendall(request(3, 1, struct.pack(">i", 0), correlation_id))
    return read_frame(sock)


def test_wire_session_lifetime_reauthentication_and_expiry(broker: ReauthBroker) -> None:
    sock = socket.create_connection(("127.0.0.1", broker.sasl_port), timeout=10)
    assert handshake(sock, 1) == 0
    assert authenticate(sock, "carol", "carol-secret", 2) == REAUTH_MS
    assert struct.unpack_from(">i", metadata(sock, 3))[0] == 3
    # Re-authentication on the same connection renews the session.
    time.sleep(1.0)
    assert handshake(sock, 4) == 0
    assert authenticate(sock, "carol", "carol-secret", 5) == REAUTH_MS
    # Another SaslHandshake within a second of that one is an ordinary request: refused.
    assert handshake(sock, 6) == 34  # ILLEGAL_SASL_STATE
    time.sleep(0.8)  # past the first session's end, inside the renewed one
    assert struct.unpack_from(">i", metadata(sock, 7))[0] == 7
    # Without re-authentication the next request after the session's end closes it.
    time.sleep(REAUTH_MS / 1000 + 0.3)
    sock.sendall(request(3, 1, struct.pack(">i", 0), 8))
    assert sock.recv(1) == b""
    sock.close()
    assert "SASL session expired without re-authentication" in broker.proc.log_text()
