"""SASL/OAUTHBEARER with Kafka's unsecured JWS tokens: the client's initial response
(RFC 7628), the unsecured validator's checks and messages, the JSON error challenge, the
session lifetime from the token's expiry, and fuzzing of both parsers."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.network.context import ConnectionInfo
from broker.network.dispatch import CloseConnection
from broker.security.authenticator import SaslAuthenticator
from broker.security.credentials import ScramCredentialStore
from broker.security.oauthbearer import (
    MALFORMED,
    IllegalToken,
    InvalidInitialResponse,
    OAuthBearerServer,
    UnsecuredValidatorOptions,
    parse_initial_response,
    validate_token,
)
from broker.security.sasl_config import SaslSettings
from broker.security.sasl_server import SaslAuthenticationError
from protocol.errors import ProtocolViolation

NOW_MS = 1_800_000_000_000
NOW_S = NOW_MS // 1000
DEFAULTS = UnsecuredValidatorOptions()
INFO = ConnectionInfo("SASL-1", "127.0.0.1", 5555, "SASL_PLAINTEXT", "SASL_PLAINTEXT")


def b64(document: Any) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jws(claims: dict[str, Any], header: dict[str, Any] | None = None, sig: str = "") -> str:
    return f"{b64(header or {'alg': 'none'})}.{b64(claims)}.{sig}"


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "iat": NOW_S - 10, "exp": NOW_S + 60, **extra}


def initial(token: str, authzid: str = "", **extensions: str) -> bytes:
    """The client's message as Kafka's OAuthBearerClientInitialResponse.toBytes writes it."""
    ext = "".join(f"\x01{k}={v}" for k, v in extensions.items())
    a = f"a={authzid}" if authzid else ""
    return f"n,{a},\x01auth=Bearer {token}{ext}\x01\x01".encode()


def reason(token: str, options: UnsecuredValidatorOptions = DEFAULTS) -> str:
    with pytest.raises(IllegalToken) as info:
        validate_token(token, options, NOW_MS)
    return str(info.value)


def test_initial_response_format() -> None:
    token = jws(claims())
    parsed = parse_initial_response(initial(token, "alice", traceId="123", x="a=b c"))
    assert (parsed.token, parsed.authorization_id) == (token, "alice")
    assert parsed.extensions == {"traceId": "123", "x": "a=b c"}
    # librdkafka's form: no authzid, no extensions
    assert parse_initial_response(b"n,,\x01auth=Bearer abc.def.\x01\x01").token == "abc.def."
    assert parse_initial_response(b"n,,\x01auth=bEaReR  x\x01\x01").token == "x"
    bad = [
        b"", b"n,,\x01\x01", b"y,,\x01auth=Bearer x\x01\x01", b"n,,\x01auth=Bearer x\x01",
        b"n,,\x01auth=Basic x\x01\x01", b"n,,\x01auth=Bearer x y\x01\x01",
        b"n,a=,\x01auth=Bearer x\x01\x01", b"n,,\x01auth=Bearer x\x011=2\x01\x01",
        b"n,,\x01auth=Bearer \xff\x01\x01", b"n,,\x01k=v\x01\x01",
    ]  # fmt: skip
    for message in bad:
        with pytest.raises(InvalidInitialResponse):
            parse_initial_response(message)


def test_valid_token_and_options() -> None:
    token = validate_token(jws(claims(scope=["read", " write "])), DEFAULTS, NOW_MS)
    assert token.principal_name == "alice"
    assert token.scope == {"read", "write"}
    assert token.lifetime_ms == (NOW_S + 60) * 1000
    options = UnsecuredValidatorOptions.from_jaas(
        {"unsecuredValidatorPrincipalClaimName": "user", "unsecuredValidatorScopeClaimName":
         "scp", "unsecuredValidatorRequiredScope": "read  write",
         "unsecuredValidatorAllowableClockSkewMs": "5000"}
    )  # fmt: skip
    assert options == UnsecuredValidatorOptions("user", "scp", ("read", "write"), 5000)
    ok = jws({"user": "bob", "exp": NOW_S + 9, "iat": NOW_S + 3, "scp": "read write x"})
    with pytest.raises(IllegalToken) as info:  # the string is one scope, as in Kafka
        validate_token(ok, options, NOW_MS)
    assert info.value.scope == "[read, write]"
    ok = jws({"user": "bob", "exp": NOW_S + 9, "iat": NOW_S + 3, "scp": ["read", "write"]})
    assert validate_token(ok, options, NOW_MS).principal_name == "bob"  # iat within the skew
    ok = jws({"user": "bob", "exp": NOW_S - 2, "iat": NOW_S - 9, "scp": ["read", "write"]})
    assert validate_token(ok, options, NOW_MS).principal_name == "bob"  # exp within the skew
    for bad in ({"unsecuredValidatorAllowableClockSkewMs": "-1"},
                {"unsecuredValidatorAllowableClockSkewMs": "x"},
                {"unsecuredValidatorRequiredScope": 'a"b'}):  # fmt: skip
        with pytest.raises(ValueError):
            UnsecuredValidatorOptions.from_jaas(bad)


def test_refusals_give_kafkas_reasons() -> None:
    assert reason(jws(claims(), {"alg": "HS256"})) == (
        "Unsecured JWS must have 'none' for an algorithm"
    )
    assert reason(jws(claims(), sig="c2ln")) == "Unsecured JWS must not contain a digital signature"
    assert reason(jws(claims(), {"typ": "JWT"})) == "JWS header must have an Algorithm value"
    assert reason("a.b") == (
        "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values"
    )
    assert reason("a..b") == "Malformed compact serialization contains '..'"
    assert reason("!!.e30.") == "malformed Base64 URL encoded value"
    assert reason(f"{b64(b'[1]')}.e30.") == "malformed JSON"
    assert reason(f"{b64(b'{')}.e30.") == "malformed JSON"
    assert reason(jws({"sub": "alice"})) == "No expiration time in JWT"
    assert reason(jws(claims(exp="soon"))) == "The 'exp' claim was not of type Number: String"
    assert reason(jws(claims(sub=" "))) == "No principal name in JWT claim: sub"
    assert reason(jws(claims(sub=7))) == "The 'sub' claim was not of type String: Integer"
    assert reason(jws(claims(scope=5))) == "The 'scope' claim was not of type List: Integer"
    assert reason(jws(claims(exp=NOW_S))) == (
        f"The indicated time ({NOW_MS} ms) minus allowable clock skew (0 ms) was on or after "
        f"the Expiration Time value ({NOW_S:f} seconds)"
    )
    assert reason(jws(claims(iat=NOW_S + 1))) == (
        f"The Issued At value ({NOW_S + 1:f} seconds) was after the indicated time ({NOW_MS} "
        "ms) plus allowable clock skew (0 ms)"
    )
    assert reason(jws(claims(iat=NOW_S - 1, exp=NOW_S - 2)), UnsecuredValidatorOptions(
        allowable_clock_skew_ms=10_000)).startswith("The Expiration Time time")  # fmt: skip


def exchange(server: OAuthBearerServer, message: bytes) -> bytes:
    return server.evaluate(message)


def test_server_answers_a_bad_token_with_a_json_error() -> None:
    server = OAuthBearerServer(DEFAULTS, lambda: NOW_MS)
    challenge = server.evaluate(initial(jws(claims(exp=NOW_S - 1))))
    assert challenge == b'{"status":"invalid_token"}' and not server.complete
    with pytest.raises(SaslAuthenticationError) as info:
        server.evaluate(b"\x01")
    assert str(info.value) == '{"status":"invalid_token"}'
    scoped = OAuthBearerServer(UnsecuredValidatorOptions(required_scope=("x",)), lambda: NOW_MS)
    assert scoped.evaluate(initial(jws(claims()))) == (
        b'{"status":"insufficient_scope", "scope":"[x]"}'
    )
    with pytest.raises(SaslAuthenticationError, match="different from the token's principal"):
        OAuthBearerServer(DEFAULTS, lambda: NOW_MS).evaluate(initial(jws(claims()), "bob"))
    with pytest.raises(SaslAuthenticationError) as info:
        OAuthBearerServer(DEFAULTS, lambda: NOW_MS).evaluate(b"garbage")
    assert str(info.value) == MALFORMED
    server = OAuthBearerServer(DEFAULTS, lambda: NOW_MS)
    assert server.evaluate(initial(jws(claims()), "alice", traceId="t1")) == b""
    assert server.complete and server.authorization_id == "alice"
    assert server.extensions == {"traceId": "t1"}
    assert server.credential_expiration_ms == (NOW_S + 60) * 1000


# --- through the connection's authenticator ----------------------------------------------


def request(api_key: int, version: int, body: bytes) -> bytes:
    return struct.pack(">hhih", api_key, version, 1, 1) + b"c" + body


def handshake(mechanism: str) -> bytes:
    return request(17, 1, struct.pack(">h", len(mechanism)) + mechanism.encode())


def authenticate(token: bytes) -> bytes:
    return request(36, 1, struct.pack(">i", len(token)) + token)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def no_dispatch(frame: bytes, info: ConnectionInfo) -> Any:
    return b""


def authenticator(clock: Clock, reauth_ms: int = 0) -> SaslAuthenticator:
    settings_ = SaslSettings(
        "SASL_PLAINTEXT", ("OAUTHBEARER",), ScramCredentialStore(),
        reauth_ms={"OAUTHBEARER": reauth_ms}, failed_authentication_delay_ms=0,
    )  # fmt: skip
    settings_.clock_ms = lambda: NOW_MS + int((clock.now - 100) * 1000)
    return SaslAuthenticator(settings_, clock)


def run(auth: SaslAuthenticator, frame: bytes) -> Any:
    return asyncio.run(auth.handle(frame, INFO, no_dispatch))


def lifetime(response: bytes) -> int:
    return int(struct.unpack(">q", response[-8:])[0])


def test_token_expiry_bounds_the_session() -> None:
    clock = Clock()
    auth = authenticator(clock)
    run(auth, handshake("OAUTHBEARER"))
    outcome = run(auth, authenticate(initial(jws(claims()))))
    assert outcome.info.principal == "User:alice" and auth.authenticated
    assert lifetime(outcome.response) == 60_000  # exp - now, without connections.max.reauth.ms
    assert auth.wants(handshake("OAUTHBEARER"))  # it may re-authenticate
    clock.now += 59.0
    auth.check_session()
    # Re-authentication with a fresh token renews the session.
    run(auth, handshake("OAUTHBEARER"))
    outcome = run(auth, authenticate(initial(jws(claims(exp=NOW_S + 120)))))
    assert lifetime(outcome.response) == 61_000
    clock.now += 60.0
    auth.check_session()
    clock.now += 2.0
    with pytest.raises(CloseConnection, match="expired"):
        auth.check_session()
    # connections.max.reauth.ms shorter than the token wins
    auth = authenticator(Clock(), reauth_ms=5000)
    run(auth, handshake("OAUTHBEARER"))
    assert lifetime(run(auth, authenticate(initial(jws(claims())))).response) == 5000


def test_refused_token_fails_after_the_acknowledgement() -> None:
    auth = authenticator(Clock())
    run(auth, handshake("OAUTHBEARER"))
    outcome = run(auth, authenticate(initial(jws(claims(sub="")))))
    assert not outcome.close and b'{"status":"invalid_token"}' in outcome.response
    outcome = run(auth, authenticate(b"\x01"))
    assert outcome.close and b'{"status":"invalid_token"}' in outcome.response
    assert struct.unpack_from(">h", outcome.response, 8)[0] == 58  # SASL_AUTHENTICATION_FAILED


# --- fuzz ------------------------------------------------------------------------------


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_claims = st.dictionaries(
    st.sampled_from(["sub", "exp", "iat", "scope", "x"]) | st.text(max_size=4), _json, max_size=6
)
_tokens = st.one_of(
    st.text(max_size=40),
    st.builds(lambda c, h: jws(c, h), _claims, st.dictionaries(
        st.sampled_from(["alg", "typ"]), st.sampled_from(["none", "HS256", 1, None]))),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text("ab-_=+/.", max_size=12),
              st.text("eyJ9", max_size=12), st.text("a.", max_size=3)),
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tokens)
def test_fuzz_token_parser_refuses_cleanly(token: str) -> None:
    try:
        parsed = validate_token(token, DEFAULTS, NOW_MS)
    except IllegalToken:
        return
    # Accepted only as the validator's rules allow.
    assert parsed.header.get("alg") == "none" and token.endswith(".")
    assert parsed.principal_name.strip() and parsed.lifetime_ms > NOW_MS


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=80),
    st.builds(initial, _tokens, st.text(max_size=6)),
    st.builds(lambda t, k, v: initial(t, **{k: v}), _tokens, st.text(max_size=5),
              st.text(max_size=8)),
))  # fmt: skip
def test_fuzz_initial_response_never_crashes_or_bypasses(message: bytes) -> None:
    server = OAuthBearerServer(DEFAULTS, lambda: NOW_MS)
    try:
        challenge = server.evaluate(message)
    except SaslAuthenticationError:
        assert not server.complete
        return
    if server.complete:
        assert challenge == b"" and server.authorization_id
        parsed = parse_initial_response(message)
        assert validate_token(parsed.token, DEFAULTS, NOW_MS).principal_name == (
            server.authorization_id
        )
    else:
        assert challenge.startswith(b'{"status":')


def _sasl_frame(kind: int, token: bytes) -> bytes:
    return handshake("OAUTHBEARER") if kind == 0 else authenticate(token)


_frames = st.one_of(
    st.builds(lambda t: authenticate(initial(t)), _tokens),
    st.builds(_sasl_frame, st.integers(0, 1), st.binary(max_size=60)),
    st.just(authenticate(b"\x01")),
    st.just(handshake("OAUTHBEARER")),
    st.builds(request, st.integers(-1, 40), st.integers(-1, 5), st.binary(max_size=20)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_frames, min_size=1, max_size=5))
def test_fuzz_oauthbearer_frames_never_crash_or_bypass(frames: list[bytes]) -> None:
    """No frame sequence crashes the authenticator, and without a token carrying the
    required scope (which the fuzzed tokens never have) nobody is authenticated."""
    clock = Clock()
    settings_ = SaslSettings(
        "SASL_PLAINTEXT", ("OAUTHBEARER",), ScramCredentialStore(),
        failed_authentication_delay_ms=0,
        oauthbearer=UnsecuredValidatorOptions(required_scope=("fuzz-only-scope",)),
    )  # fmt: skip
    settings_.clock_ms = lambda: NOW_MS
    auth = SaslAuthenticator(settings_, clock)
    info = INFO
    for frame in frames:
        if auth.authenticated and not auth.wants(frame):
            break
        try:
            outcome = asyncio.run(auth.handle(frame, info, no_dispatch))
        except (CloseConnection, ProtocolViolation):  # the connection closes on both
            break
        info = outcome.info
        if outcome.close:
            break
    assert not auth.authenticated and info.principal == "User:ANONYMOUS"
