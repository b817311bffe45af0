"""SASL/OAUTHBEARER with Kafka's unsecured JWS tokens, with real clients.

One broker serves PLAINTEXT and SASL_PLAINTEXT with OAUTHBEARER and PLAIN enabled; the
OAUTHBEARER JAAS config requires the scope ``kafka``. confluent-kafka uses librdkafka's
built-in unsecured JWT (``enable.sasl.oauthbearer.unsecure.jwt`` and
``sasl.oauthbearer.config``); kafka-python gets tokens made here from its
``sasl_oauth_token_provider``. Refused tokens get Kafka's JSON error as the
SASL_AUTHENTICATION_FAILED message.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from collections.abc import Generator
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, free_port, recv_exact, require_josef
from helpers.clients import (
    ClientError,
    Record,
    assert_roundtrip,
    consume_confluent,
    consume_kafka_python,
    produce_confluent,
    produce_kafka_python,
    unique_topic,
)
from kafka.errors import KafkaError
from kafka.net.sasl.oauth import AbstractTokenProvider

MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


class OAuthBroker:
    def __init__(self, proc: BrokerProcess, sasl_port: int) -> None:
        self.proc = proc
        self.sasl = f"127.0.0.1:{sasl_port}"
        self.sasl_port = sasl_port


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[OAuthBroker, None, None]:
    require_josef("OAUTHBEARER settings")
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": "OAUTHBEARER,PLAIN",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
            f'{MODULE} required unsecuredValidatorRequiredScope="kafka" '
            'unsecuredValidatorAllowableClockSkewMs="2000";'
        ),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            f'{PLAIN_MODULE} required user_alice="alice-secret";'
        ),
        "connection.failed.authentication.delay.ms": "100",
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("oauth-broker"), overrides, port=port)
    try:
        proc.start()
        yield OAuthBroker(proc, sasl_port)
    finally:
        proc.close()


def unsecured_jws(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}."


def claims(sub: str = "carol", lifetime_s: int = 3600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + lifetime_s, "scope": ["kafka"], **extra}


class Tokens(AbstractTokenProvider):  # type: ignore[misc]
    """kafka-python's token provider: a fixed unsecured JWS and extensions."""

    def __init__(self, token: str, extensions: dict[str, str] | None = None) -> None:
        super().__init__()
        self._token = token
        self._extensions = extensions or {}

    def token(self) -> str:
        return self._token

    def extensions(self) -> dict[str, str]:
        return self._extensions


def confluent_oauth(config: str) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": config,
    }


def kafka_python_oauth(provider: Tokens) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": provider,
    }


def records(tag: str, n: int = 10) -> list[Record]:
    return [Record(key=b"k%d" % i, value=f"{tag}-{i}".encode()) for i in range(n)]


def test_confluent_unsecured_jwt_roundtrip(broker: OAuthBroker) -> None:
    cfg = confluent_oauth("principal=alice scope=kafka,other extension_traceId=abc123")
    topic = unique_topic("oauth-confluent")
    sent = records("c")
    assert produce_confluent(broker.sasl, topic, sent, **cfg) == list(range(len(sent)))
    assert_roundtrip(sent, consume_confluent(broker.sasl, topic, 0, 0, len(sent), **cfg))
    assert "SASL OAUTHBEARER authenticated as User:alice" in broker.proc.log_text()


def test_kafka_python_token_provider_roundtrip(broker: OAuthBroker) -> None:
    cfg = kafka_python_oauth(Tokens(unsecured_jws(claims("carol")), {"traceId": "t-1"}))
    topic = unique_topic("oauth-kafka-python")
    sent = records("k")
    assert produce_kafka_python(broker.sasl, topic, sent, **cfg) == list(range(len(sent)))
    assert_roundtrip(sent, consume_kafka_python(broker.sasl, topic, 0, 0, len(sent), **cfg))
    # confluent reads what kafka-python wrote, as another principal
    cfg2 = confluent_oauth("principal=dave scope=kafka")
    assert_roundtrip(sent, consume_confluent(broker.sasl, topic, 0, 0, len(sent), **cfg2))
    assert "SASL OAUTHBEARER authenticated as User:carol" in broker.proc.log_text()


def test_refused_tokens_fail_with_kafkas_json_error(broker: OAuthBroker) -> None:
    topic = unique_topic("oauth-refused")
    # librdkafka: a token without the required scope
    with pytest.raises(ClientError):
        produce_confluent(
            broker.sasl, topic, [Record(value=b"x")], timeout=5,
            **confluent_oauth("principal=alice scope=other"),
        )  # fmt: skip
    # kafka-python: an expired token, and one signed with an algorithm
    expired = unsecured_jws(claims("carol", lifetime_s=-60))
    signed = unsecured_jws(claims("carol")).replace(
        base64.urlsafe_b64encode(b'{"alg": "none"}').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"alg": "HS256"}').decode().rstrip("="),
    )
    for token in (expired, signed):
        with pytest.raises((ClientError, KafkaError)):
            produce_kafka_python(
                broker.sasl, topic, [Record(value=b"x")], timeout=5,
                **kafka_python_oauth(Tokens(token)),
            )  # fmt: skip
    log = broker.proc.log_text()
    assert "The provided scope ([other]) was missing a required scope (kafka)" in log
    assert "was on or after the Expiration Time value" in log
    assert "Unsecured JWS must have 'none' for an algorithm" in log
    assert '{"status":"insufficient_scope", "scope":"[kafka]"}' in log
    # PLAIN on the same listener is unaffected
    plain = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
             "sasl_plain_username": "alice", "sasl_plain_password": "alice-secret"}  # fmt: skip
    assert produce_kafka_python(broker.sasl, topic, [Record(value=b"ok")], **plain) == [0]


# --- the wire, byte by byte ---------------------------------------------------------------


def request(api_key: int, version: int, body: bytes, correlation_id: int = 7) -> bytes:
    payload = struct.pack(">hhih", api_key, version, correlation_id, 1) + b"t" + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def authenticate(
    sock: socket.socket, token: bytes, correlation_id: int
) -> tuple[int, bytes, bytes]:
    """SaslAuthenticate v1: (error code, error message, auth bytes)."""
    sock.sendall(request(36, 1, struct.pack(">i", len(token)) + token, correlation_id))
    frame = read_frame(sock)
    correlation, code, msg_len = struct.unpack_from(">ihh", frame)
    assert correlation == correlation_id
    offset = 8
    message = b""
    if msg_len >= 0:
        message = frame[offset : offset + msg_len]
        offset += msg_len
    (auth_len,) = struct.unpack_from(">i", frame, offset)
    return code, message, frame[offset + 4 : offset + 4 + auth_len]


def test_wire_exchange_error_challenge_and_session_lifetime(broker: OAuthBroker) -> None:
    sock = socket.create_connection(("127.0.0.1", broker.sasl_port), timeout=10)
    sock.sendall(request(17, 1, struct.pack(">h", 11) + b"OAUTHBEARER"))
    assert struct.unpack_from(">ih", read_frame(sock)) == (7, 0)
    bad = unsecured_jws(claims(scope=["read"]))
    message = f"n,,\x01auth=Bearer {bad}\x01\x01".encode()
    code, _, challenge = authenticate(sock, message, 8)
    assert (code, challenge) == (0, b'{"status":"insufficient_scope", "scope":"[kafka]"}')
    code, error, _ = authenticate(sock, b"\x01", 9)
    assert (code, error) == (58, b'{"status":"insufficient_scope", "scope":"[kafka]"}')
    assert sock.recv(1) == b""
    sock.close()

    sock = socket.create_connection(("127.0.0.1", broker.sasl_port), timeout=10)
    sock.sendall(request(17, 1, struct.pack(">h", 11) + b"OAUTHBEARER"))
    read_frame(sock)
    good = unsecured_jws(claims("erin", lifetime_s=600))
    message = f"n,a=erin,\x01auth=Bearer {good}\x01traceId=x\x01\x01".encode()
    sock.sendall(request(36, 1, struct.pack(">i", len(message)) + message, 10))
    frame = read_frame(sock)
    code, msg_len, auth_len = struct.unpack_from(">hhi", frame, 4)
    (lifetime_ms,) = struct.unpack_from(">q", frame, 12)
    assert (code, msg_len, auth_len) == (0, -1, 0)
    # The token's expiry bounds the session (no connections.max.reauth.ms here).
    assert 590_000 <= lifetime_ms <= 600_000
    sock.close()
