"""SASL mechanisms and the per-connection authenticator, in process.

SCRAM against RFC 7677's test vector, PLAIN, JAAS parsing, the authenticator's state
machine (handshake v0/v1, failures, KIP-368 re-authentication) and a hypothesis fuzz
of SaslHandshake / SaslAuthenticate frames: no crash, no authentication bypass.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import struct
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.config.broker_config import BrokerConfig, ConfigError
from broker.network.context import ConnectionInfo
from broker.network.dispatch import CloseConnection
from broker.security import scram
from broker.security.authenticator import SaslAuthenticator, SaslState
from broker.security.channel import build_listener_security
from broker.security.credentials import ScramCredentialStore
from broker.security.jaas import OAUTHBEARER_MODULE, parse_jaas_config, plain_users
from broker.security.sasl_config import SaslSettings
from broker.security.sasl_server import PlainServer, SaslAuthenticationError
from protocol.errors import ProtocolViolation
from protocol.framing import FrameDecoder, FrameTooLarge

INFO = ConnectionInfo("SASL-1", "127.0.0.1", 5555, "SASL_PLAINTEXT", "SASL_PLAINTEXT")


class MemoryUsers:
    def __init__(self) -> None:
        self.configs: dict[str, dict[str, str]] = {}

    def user_configs(self) -> dict[str, dict[str, str]]:
        return self.configs

    async def set_user_configs(self, user: str, configs: dict[str, str]) -> None:
        self.configs[user] = configs


def store_with(user: str, password: str, mechanism: scram.ScramMechanism) -> ScramCredentialStore:
    store = ScramCredentialStore(MemoryUsers())
    salt = b"0123456789abcdef"
    salted = mechanism.salted_password(password, salt, 4096)
    credential = mechanism.credential(salt, salted, 4096)
    asyncio.run(store.alter(user, {mechanism.name: credential}, set()))
    return store


# --- SCRAM ------------------------------------------------------------------------------


def test_scram_sha_256_rfc7677_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    mech = scram.SCRAM_SHA_256
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    store = ScramCredentialStore(MemoryUsers())
    credential = mech.credential(salt, mech.salted_password("pencil", salt, 4096), 4096)
    asyncio.run(store.alter("user", {mech.name: credential}, set()))
    fake = types.SimpleNamespace(token_urlsafe=lambda _n: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    monkeypatch.setattr(scram, "secrets", fake)
    server = scram.ScramServer(mech, store)
    first = server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = server.evaluate(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.complete and server.authorization_id == "user"


def test_credential_string_round_trip() -> None:
    cred = scram.SCRAM_SHA_512.credential(b"salt", b"x" * 64, 8192)
    text = cred.to_string()
    assert text.startswith("salt=c2FsdA==,stored_key=") and text.endswith(",iterations=8192")
    assert scram.ScramCredential.from_string(text) == cred


def scram_client(
    mechanism: scram.ScramMechanism, user: str, password: str
) -> tuple[bytes, Any]:
    """A minimal SCRAM client: the first message and a function answering server-first."""
    cnonce = "fyko+d2lbbFgONRv9qkxdawL"
    bare = f"n={user},r={cnonce}"

    def final(server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salt = base64.b64decode(fields["s"])
        salted = mechanism.salted_password(password, salt, int(fields["i"]))
        client_key = mechanism.hmac(salted, b"Client Key")
        without_proof = f"c=biws,r={fields['r']}"
        auth = f"{bare},{server_first.decode()},{without_proof}".encode()
        signature = mechanism.hmac(mechanism.hash(client_key), auth)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    return f"n,,{bare}".encode(), final


@pytest.mark.parametrize("mech", [scram.SCRAM_SHA_256, scram.SCRAM_SHA_512])
def test_scram_exchange_and_wrong_password(mech: scram.ScramMechanism) -> None:
    store = store_with("alice", "secret", mech)
    first, final = scram_client(mech, "alice", "secret")
    server = scram.ScramServer(mech, store)
    server_final = server.evaluate(final(server.evaluate(first)))
    assert server_final.startswith(b"v=") and server.authorization_id == "alice"
    first, final = scram_client(mech, "alice", "wrong")
    server = scram.ScramServer(mech, store)
    with pytest.raises(SaslAuthenticationError):
        server.evaluate(final(server.evaluate(first)))
    assert not server.complete
    with pytest.raises(SaslAuthenticationError, match="Invalid user credentials"):
        scram.ScramServer(mech, store).evaluate(b"n,,n=nobody,r=abc")


def test_plain() -> None:
    server = PlainServer({"alice": "pw"})
    assert server.evaluate(b"\0alice\0pw") == b"" and server.authorization_id == "alice"
    for token, fragment in [
        (b"\0alice\0nope", "Invalid username or password"),
        (b"\0mallory\0pw", "Invalid username or password"),
        (b"bob\0alice\0pw", "different from username"),
        (b"alice\0pw", "expected 3 tokens"),
        (b"\0\0pw", "username not specified"),
    ]:
        with pytest.raises(SaslAuthenticationError, match=fragment):
            PlainServer({"alice": "pw"}).evaluate(token)


def test_jaas_parsing() -> None:
    entries = parse_jaas_config(
        'org.apache.kafka.common.security.plain.PlainLoginModule required\n'
        '  username="admin" password="admin-secret"\n'
        '  user_admin="admin-secret" user_alice="a\\"b;c";'
    )
    assert entries[0].flag == "required"
    assert plain_users(entries) == {"admin": "admin-secret", "alice": 'a"b;c'}
    for bad in ["", "Module", "Module required user_a=", 'Module maybe a="b";',
                'Module required a="b"']:  # fmt: skip
        with pytest.raises(ValueError):
            parse_jaas_config(bad)


def test_sasl_listener_configuration_errors() -> None:
    base = {"listeners": "SASL_PLAINTEXT://127.0.0.1:9094"}
    cases = [
        ({}, "sasl.enabled.mechanisms", "GSSAPI (Kerberos) is not supported"),
        ({"sasl.enabled.mechanisms": "FOO"}, "sasl.enabled.mechanisms", "unsupported"),
        ({"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.jaas.config":
          f"{OAUTHBEARER_MODULE} required unsecuredValidatorAllowableClockSkewMs=\"-1\";"},
         "sasl.jaas.config", "must not be negative"),
        ({"sasl.enabled.mechanisms": "OAUTHBEARER",
          "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
          f"{OAUTHBEARER_MODULE} required unsecuredValidatorRequiredScope=\"a\\\\b\";"},
         "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config", "Invalid scope value"),
        ({"sasl.enabled.mechanisms": "PLAIN"},
         "listener.name.sasl_plaintext.plain.sasl.jaas.config", "needs a JAAS config"),
        ({"sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": "M required a=\"b\";"},
         "sasl.jaas.config", "no user_"),
    ]  # fmt: skip
    for props, key, fragment in cases:
        with pytest.raises(ConfigError) as info:
            build_listener_security(BrokerConfig.from_properties({**base, **props}))
        assert info.value.key == key
        assert fragment in str(info.value)
    config = BrokerConfig.from_properties(
        {**base, "sasl.enabled.mechanisms": "SCRAM-SHA-256",
         "connections.max.reauth.ms": "60000",
         "listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms": "5000"}
    )  # fmt: skip
    sasl = build_listener_security(config)["SASL_PLAINTEXT"].sasl
    assert sasl is not None and sasl.reauth_ms == {"SCRAM-SHA-256": 5000}


# --- the authenticator --------------------------------------------------------------------


def request(api_key: int, version: int, body: bytes, correlation_id: int = 1) -> bytes:
    flexible = (api_key == 36 and version >= 2)
    header = struct.pack(">hhi", api_key, version, correlation_id) + struct.pack(">h", 1) + b"c"
    if flexible:
        header += b"\x00"
    return header + body


def handshake(mechanism: str, version: int = 1) -> bytes:
    return request(17, version, struct.pack(">h", len(mechanism)) + mechanism.encode())


def authenticate(token: bytes, version: int = 1, correlation_id: int = 2) -> bytes:
    if version >= 2:
        body = _uvarint(len(token) + 1) + token + b"\x00"
    else:
        body = struct.pack(">i", len(token)) + token
    return request(36, version, body, correlation_id)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_authenticator(
    clock: Clock | None = None, reauth_ms: int = 0
) -> tuple[SaslAuthenticator, ScramCredentialStore]:
    store = store_with("sam", "sam-pw", scram.SCRAM_SHA_256)
    settings_ = SaslSettings(
        "SASL_PLAINTEXT",
        ("PLAIN", "SCRAM-SHA-256"),
        store,
        plain_users={"alice": "alice-pw", "bob": "bob-pw"},
        reauth_ms={"PLAIN": reauth_ms, "SCRAM-SHA-256": reauth_ms},
        failed_authentication_delay_ms=0,
    )
    return SaslAuthenticator(settings_, clock or Clock()), store


async def no_dispatch(frame: bytes, info: ConnectionInfo) -> Any:
    return b"api-versions"


def run(auth: SaslAuthenticator, frame: bytes, info: ConnectionInfo = INFO) -> Any:
    return asyncio.run(auth.handle(frame, info, no_dispatch))


def error_code(response: bytes, flexible: bool = False) -> int:
    # size, correlation id, (tagged fields of a v1 header), error code
    return int(struct.unpack_from(">h", response, 9 if flexible else 8)[0])


def test_plain_over_handshake_v1_with_session_lifetime() -> None:
    clock = Clock()
    auth, _ = make_authenticator(clock, reauth_ms=10_000)
    assert run(auth, request(18, 0, b"")).response == b"api-versions"
    assert error_code(run(auth, handshake("PLAIN")).response) == 0
    outcome = run(auth, authenticate(b"\0alice\0alice-pw"))
    assert error_code(outcome.response) == 0
    # v1: error, error message (null), auth bytes (empty), session lifetime 10000 ms
    assert outcome.response.endswith(struct.pack(">hi", -1, 0) + struct.pack(">q", 10_000))
    assert outcome.info.principal == "User:alice" and outcome.info.sasl_mechanism == "PLAIN"
    assert auth.authenticated and not auth.wants(request(3, 1, b""))
    auth.check_session()
    clock.now += 10.0
    with pytest.raises(CloseConnection, match="expired"):
        auth.check_session()


def test_reauthentication_keeps_the_principal() -> None:
    clock = Clock()
    auth, _ = make_authenticator(clock, reauth_ms=1000)
    run(auth, handshake("PLAIN"))
    info = run(auth, authenticate(b"\0alice\0alice-pw")).info
    clock.now += 0.9
    assert auth.wants(handshake("PLAIN"))
    assert error_code(run(auth, handshake("PLAIN"), info).response) == 0
    outcome = run(auth, authenticate(b"\0alice\0alice-pw", version=2), info)
    assert error_code(outcome.response, flexible=True) == 0 and auth.authenticated
    clock.now += 0.9
    auth.check_session()  # the new session runs from the re-authentication
    # Another principal on re-authentication is refused and closes the connection.
    run(auth, handshake("PLAIN"), info)
    outcome = run(auth, authenticate(b"\0bob\0bob-pw"), info)
    assert error_code(outcome.response) == 58 and outcome.close
    assert b"Cannot change principals" in outcome.response


def test_failures_close_the_connection() -> None:
    auth, _ = make_authenticator()
    run(auth, handshake("SCRAM-SHA-256"))
    outcome = run(auth, authenticate(b"n,,n=sam,r=x"))
    assert error_code(outcome.response) == 0 and not outcome.close
    outcome = run(auth, authenticate(b"c=biws,r=bogus,p=AAAA"))
    assert error_code(outcome.response) == 58 and outcome.close
    assert auth.state is SaslState.FAILED
    with pytest.raises(CloseConnection):
        run(auth, request(18, 0, b""))
    auth, _ = make_authenticator()
    with pytest.raises(CloseConnection, match="Metadata"):
        run(auth, request(3, 1, struct.pack(">i", 0)))
    auth, _ = make_authenticator()
    outcome = run(auth, handshake("GSSAPI"))
    assert error_code(outcome.response) == 33 and outcome.close


def test_handshake_v0_raw_scram_tokens() -> None:
    auth, _ = make_authenticator()
    run(auth, handshake("SCRAM-SHA-256", version=0))
    first, final = scram_client(scram.SCRAM_SHA_256, "sam", "sam-pw")
    server_first = run(auth, first).response[4:]
    outcome = run(auth, final(server_first))
    assert outcome.response[4:].startswith(b"v=") and outcome.info.principal == "User:sam"


def test_frames_are_bounded_before_authentication() -> None:
    decoder = FrameDecoder(100 * 1024 * 1024)
    decoder.max_size = 524_288
    with pytest.raises(FrameTooLarge):
        decoder.feed(struct.pack(">i", 524_289))


# --- fuzz ---------------------------------------------------------------------------------

_frames = st.one_of(
    st.binary(max_size=64),
    st.builds(handshake, st.sampled_from(["PLAIN", "SCRAM-SHA-256", "GSSAPI", "", "plain"]),
              st.integers(-1, 3)),
    st.builds(authenticate, st.binary(max_size=96), st.integers(-1, 3)),
    st.builds(authenticate, st.sampled_from([b"\0alice\0wrong", b"\0\0", b"n,,n=sam,r=abc",
                                             b"n,,n=sam,r=", b"c=biws,r=x,p=", b"\0alice"])),
    st.builds(request, st.integers(-2, 80), st.integers(-1, 20), st.binary(max_size=32)),
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_frames, min_size=1, max_size=6))
def test_fuzz_sasl_frames_never_crash_or_bypass(frames: list[bytes]) -> None:
    auth, _ = make_authenticator()
    info = INFO
    for frame in frames:
        if auth.authenticated and not auth.wants(frame):
            break
        try:
            outcome = asyncio.run(auth.handle(frame, info, no_dispatch))
        except (CloseConnection, ProtocolViolation):
            break
        info = outcome.info
        if outcome.close:
            break
    # Without a right password no frame sequence authenticates.
    assert not auth.authenticated
    assert info.principal == "User:ANONYMOUS"


def test_stored_keys_match_rfc_definitions() -> None:
    mech = scram.SCRAM_SHA_512
    salted = mech.salted_password("pw", b"salt", 4096)
    assert salted == hashlib.pbkdf2_hmac("sha512", b"pw", b"salt", 4096)
    cred = mech.credential(b"salt", salted, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    assert cred.stored_key == hashlib.sha512(client_key).digest()
    assert cred.server_key == hmac.new(salted, b"Server Key", "sha512").digest()


def test_reauthentication_at_most_once_a_second() -> None:
    """Kafka's MIN_REAUTH_INTERVAL: a SaslHandshake within a second of the last
    re-authentication's start is not one (dispatch answers it with ILLEGAL_SASL_STATE)."""
    clock = Clock()
    auth, _ = make_authenticator(clock, reauth_ms=10_000)
    run(auth, handshake("PLAIN"))
    info = run(auth, authenticate(b"\0alice\0alice-pw")).info
    assert auth.wants(handshake("PLAIN"))  # the first re-authentication may come at once
    run(auth, handshake("PLAIN"), info)
    run(auth, authenticate(b"\0alice\0alice-pw"), info)
    clock.now += 0.5
    assert not auth.wants(handshake("PLAIN"))
    clock.now += 0.5
    assert auth.wants(handshake("PLAIN"))
    # Sessions that never expire are never re-authenticated.
    auth, _ = make_authenticator(clock, reauth_ms=0)
    run(auth, handshake("PLAIN"))
    run(auth, authenticate(b"\0alice\0alice-pw"))
    assert auth.authenticated and not auth.wants(handshake("PLAIN"))
