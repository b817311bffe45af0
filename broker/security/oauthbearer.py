"""SASL/OAUTHBEARER (KIP-255) with Kafka's unsecured JWS tokens.

The client's one message is RFC 7628's initial response: a GS2 header (``n,`` and an
optional ``a=<authzid>``), then ``\\x01``-separated key/value pairs holding
``auth=Bearer <token>`` and SASL extensions, ended by ``\\x01\\x01`` (Kafka's
OAuthBearerClientInitialResponse). Tokens are validated as Kafka's default
OAuthBearerUnsecuredValidatorCallbackHandler does: an unsecured JWS (``alg`` ``none``,
empty signature) whose principal claim (``sub`` unless
``unsecuredValidatorPrincipalClaimName``) is a non-blank string, with a numeric ``exp``
not yet passed and an ``iat`` not in the future (both within
``unsecuredValidatorAllowableClockSkewMs``), and every scope of
``unsecuredValidatorRequiredScope`` in its scope claim (``scope`` unless
``unsecuredValidatorScopeClaimName``). Options come from the JAAS config of the
OAuthBearerLoginModule, as in Kafka.

A refused token is answered, as RFC 7628 says, with a JSON error challenge
(``{"status":"invalid_token"}``); the client acknowledges with ``\\x01`` and the exchange
fails with that JSON as the SASL_AUTHENTICATION_FAILED message. The token's expiry bounds
the session (KIP-368): the broker tells the client and closes a connection that uses an
expired session.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.security.sasl_server import SaslAuthenticationError

log = logging.getLogger(__name__)

MECHANISM = "OAUTHBEARER"
SEPARATOR = "\x01"
_OPTION = "unsecuredValidator"
_SASLNAME = r"(?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+"
_KEY = r"[A-Za-z]+"
_VALUE = r"[\x21-\x7E \t\r\n]+"
_INITIAL_RESPONSE = re.compile(
    rf"n,(?:a=(?P<authzid>{_SASLNAME}))?,\x01(?P<kvpairs>(?:{_KEY}={_VALUE}\x01)*)\x01"
)
_AUTH = re.compile(r"(?P<scheme>[A-Za-z0-9_]+) +(?P<token>[-_~+/.a-zA-Z0-9]+=*)")
_EXTENSION_KEY = re.compile(_KEY)
_EXTENSION_VALUE = re.compile(_VALUE)
_SCOPE_ITEM = re.compile(r"[\x23-\x5B\x5D-\x7E\x21]+")
# Kafka's SaslServerAuthenticator hides why a malformed message was refused.
MALFORMED = (
    "Authentication failed during authentication due to invalid credentials with SASL "
    "mechanism OAUTHBEARER"
)


class InvalidInitialResponse(Exception):
    """The client's message is not an OAUTHBEARER initial response (logged, not sent)."""


class IllegalToken(Exception):
    """A token the unsecured validator refuses; ``scope`` is set for a missing scope."""

    def __init__(self, reason: str, scope: str | None = None) -> None:
        super().__init__(reason)
        self.scope = scope


# --- the client's initial response ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientInitialResponse:
    token: str
    authorization_id: str
    extensions: dict[str, str]


def parse_initial_response(data: bytes) -> ClientInitialResponse:
    """Kafka's OAuthBearerClientInitialResponse parser."""
    text = data.decode("utf-8", errors="replace")
    match = _INITIAL_RESPONSE.fullmatch(text)
    if match is None:
        raise InvalidInitialResponse("Invalid OAUTHBEARER client first message")
    properties: dict[str, str] = {}
    for pair in match.group("kvpairs").split(SEPARATOR):
        if pair:
            key, _, value = pair.partition("=")
            properties[key] = value
    auth = properties.pop("auth", None)
    if auth is None:
        raise InvalidInitialResponse(
            "Invalid OAUTHBEARER client first message: 'auth' not specified"
        )
    for key, value in properties.items():
        if not _EXTENSION_KEY.fullmatch(key):
            raise InvalidInitialResponse(f"Extension name {key} is invalid")
        if not _EXTENSION_VALUE.fullmatch(value):
            raise InvalidInitialResponse(
                f"Extension value ({value}) for extension {key} is invalid"
            )
    auth_match = _AUTH.fullmatch(auth)
    if auth_match is None:
        raise InvalidInitialResponse(
            "Invalid OAUTHBEARER client first message: invalid 'auth' format"
        )
    if auth_match.group("scheme").lower() != "bearer":
        raise InvalidInitialResponse(
            f"Invalid scheme in OAUTHBEARER client first message: {auth_match.group('scheme')}"
        )
    return ClientInitialResponse(
        auth_match.group("token"), match.group("authzid") or "", properties
    )


# --- unsecured JWS -------------------------------------------------------------------------


def parse_scope(text: str) -> tuple[str, ...]:
    """A space-delimited scope (Kafka's OAuthBearerScopeUtils.parseScope)."""
    items = []
    for item in text.split(" "):
        if item:
            if not _SCOPE_ITEM.fullmatch(item):
                raise ValueError(f"Invalid scope value: {item}")
            items.append(item)
    return tuple(items)


@dataclass(frozen=True, slots=True)
class UnsecuredValidatorOptions:
    """The ``unsecuredValidator*`` options of the OAuthBearerLoginModule JAAS entry."""

    principal_claim_name: str = "sub"
    scope_claim_name: str = "scope"
    required_scope: tuple[str, ...] = ()
    allowable_clock_skew_ms: int = 0

    @classmethod
    def from_jaas(cls, options: Mapping[str, str]) -> UnsecuredValidatorOptions:
        """Raises ValueError naming the bad option."""

        def option(name: str) -> str | None:
            value = options.get(_OPTION + name)
            return value.strip() if value is not None and value.strip() else None

        skew_text = option("AllowableClockSkewMs")
        skew = 0
        if skew_text is not None:
            try:
                skew = int(skew_text)
            except ValueError:
                raise ValueError(
                    f"{_OPTION}AllowableClockSkewMs: not an integer: {skew_text!r}"
                ) from None
            if not 0 <= skew <= 2**31 - 1:
                raise ValueError(
                    f"{_OPTION}AllowableClockSkewMs: Allowable clock skew millis must not be "
                    f"negative: {skew_text}"
                )
        scope_text = option("RequiredScope")
        try:
            scope = parse_scope(scope_text) if scope_text is not None else ()
        except ValueError as exc:
            raise ValueError(f"{_OPTION}RequiredScope: {exc}") from None
        return cls(
            option("PrincipalClaimName") or "sub",
            option("ScopeClaimName") or "scope",
            scope,
            skew,
        )


def _json_value(value: Any) -> Any:
    """A claim as Kafka's Jackson conversion leaves it: numbers stay numbers, arrays become
    lists of text, anything else its text."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _text(value)


def _text(value: Any) -> str:
    """Jackson's JsonNode.asText."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return ""  # objects and arrays


def _decode_part(part: str) -> dict[str, Any]:
    try:
        # Base64URL as RFC 7515 says (standard Base64 accepted too), padding optional.
        raw = base64.b64decode(
            part.replace("-", "+").replace("_", "/") + "=" * (-len(part) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise IllegalToken("malformed Base64 URL encoded value") from None
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise IllegalToken("malformed JSON") from None
    if not isinstance(document, dict):
        raise IllegalToken("malformed JSON")
    return {str(k): _json_value(v) for k, v in document.items()}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Jackson refuses NaN and Infinity too


def _simple_type(value: Any) -> str:
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "ArrayList"
    if isinstance(value, float):
        return "Double"
    return "Integer" if -(2**31) <= value < 2**31 else "Long"


def _number(claims: Mapping[str, Any], name: str) -> float | int | None:
    value = claims.get(name)
    if isinstance(value, int) and abs(value) >= 2**63:
        return math.copysign(math.inf, value)  # beyond a long: only its size matters
    if value is None or isinstance(value, int | float):
        return value
    raise IllegalToken(f"The '{name}' claim was not of type Number: {_simple_type(value)}")


def _seconds_to_ms(value: float) -> int:
    """Java's Math.round(seconds * 1000), saturating."""
    ms = float(value) * 1000
    if math.isnan(ms):
        return 0
    if not math.isfinite(ms):
        return 2**63 - 1 if ms > 0 else -(2**63)
    return max(-(2**63), min(2**63 - 1, math.floor(ms + 0.5)))


@dataclass(frozen=True, slots=True)
class UnsecuredJws:
    """A parsed unsecured JWS (Kafka's OAuthBearerUnsecuredJws)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    principal_name: str
    scope: frozenset[str]
    lifetime_ms: int  # the expiry, in ms since the epoch
    start_time_ms: int | None = None
    issued_at: float | int | None = field(default=None)
    expiration_time: float | int = 0

    @classmethod
    def parse(cls, compact: str, principal_claim: str, scope_claim: str) -> UnsecuredJws:
        if ".." in compact:
            raise IllegalToken("Malformed compact serialization contains '..'")
        splits = compact.split(".")
        if len(splits) != 3:
            raise IllegalToken(
                "Unsecured JWS compact serializations must have 3 dot-separated "
                "Base64URL-encoded values"
            )
        header = _decode_part(splits[0])
        claims = _decode_part(splits[1])
        if "alg" not in header:
            raise IllegalToken("JWS header must have an Algorithm value")
        if _text(header["alg"]) != "none":
            raise IllegalToken("Unsecured JWS must have 'none' for an algorithm")
        if splits[2]:
            raise IllegalToken("Unsecured JWS must not contain a digital signature")
        scope = _scope(claims, scope_claim)
        exp = _number(claims, "exp")
        if exp is None:
            raise IllegalToken("No expiration time in JWT")
        principal = claims.get(principal_claim)
        if principal is not None and not isinstance(principal, str):
            raise IllegalToken(
                f"The '{principal_claim}' claim was not of type String: {_simple_type(principal)}"
            )
        if principal is None or not principal.strip():
            raise IllegalToken(f"No principal name in JWT claim: {principal_claim}")
        iat = _number(claims, "iat")
        return cls(
            header, claims, principal, scope, _seconds_to_ms(exp),
            _seconds_to_ms(iat) if iat is not None else None, iat, exp,
        )  # fmt: skip


def _scope(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return frozenset({value.strip()}) if value.strip() else frozenset()
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise IllegalToken(f"The '{name}' claim was not of type List: {_simple_type(value)}")
    return frozenset(item.strip() for item in value if item.strip())


def _java_list(items: tuple[str, ...] | frozenset[str]) -> str:
    return "[" + ", ".join(items) + "]"


def validate_token(compact: str, options: UnsecuredValidatorOptions, now_ms: int) -> UnsecuredJws:
    """Kafka's OAuthBearerUnsecuredValidatorCallbackHandler checks, in its order."""
    jws = UnsecuredJws.parse(compact, options.principal_claim_name, options.scope_claim_name)
    skew = options.allowable_clock_skew_ms
    if jws.issued_at is not None and 1000 * jws.issued_at > now_ms + skew:
        raise IllegalToken(
            f"The Issued At value ({jws.issued_at:f} seconds) was after the indicated time "
            f"({now_ms} ms) plus allowable clock skew ({skew} ms)"
        )
    if now_ms - skew >= 1000 * jws.expiration_time:
        raise IllegalToken(
            f"The indicated time ({now_ms} ms) minus allowable clock skew ({skew} ms) was on "
            f"or after the Expiration Time value ({jws.expiration_time:f} seconds)"
        )
    if jws.issued_at is not None and jws.expiration_time <= jws.issued_at:
        raise IllegalToken(
            f"The Expiration Time time ({float(jws.expiration_time):f} seconds) was not after "
            f"the Issued At time ({float(jws.issued_at):f} seconds)"
        )
    for required in options.required_scope:
        if required not in jws.scope:
            raise IllegalToken(
                f"The provided scope ({_java_list(jws.scope)}) was missing a required scope "
                f"({required}).  All required scope elements: "
                f"{_java_list(options.required_scope)}",
                scope=_java_list(options.required_scope),
            )
    return jws


def error_challenge(error: IllegalToken) -> str:
    """The JSON error RFC 7628 sends back (Kafka's jsonErrorResponse)."""
    if error.scope is not None:
        return f'{{"status":"insufficient_scope", "scope":"{error.scope}"}}'
    return '{"status":"invalid_token"}'


# --- the SASL server -----------------------------------------------------------------------


class OAuthBearerServer:
    """Server side of one OAUTHBEARER exchange (Kafka's OAuthBearerSaslServer)."""

    mechanism_name = MECHANISM

    def __init__(
        self,
        options: UnsecuredValidatorOptions,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._options = options
        self._clock_ms = clock_ms
        self._error: str | None = None
        self.complete = False
        self.authorization_id: str | None = None
        self.credential_expiration_ms: int | None = None
        self.extensions: dict[str, str] = {}

    def evaluate(self, token: bytes) -> bytes:
        if token == SEPARATOR.encode() and self._error is not None:
            # The client acknowledged our error challenge: the exchange fails with it.
            raise SaslAuthenticationError(self._error)
        self._error = None
        try:
            response = parse_initial_response(token)
        except InvalidInitialResponse as exc:
            log.info("OAUTHBEARER: %s", exc)
            raise SaslAuthenticationError(MALFORMED) from None
        try:
            jws = validate_token(response.token, self._options, self._clock_ms())
        except IllegalToken as exc:
            self._error = error_challenge(exc)
            log.info("OAUTHBEARER token refused: %s", exc)
            return self._error.encode()
        if response.authorization_id and response.authorization_id != jws.principal_name:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id "
                f"({response.authorization_id}) that is different from the token's principal "
                f"name ({jws.principal_name})"
            )
        # The unsecured validator accepts every extension (they are kept for the session).
        self.extensions = response.extensions
        self.credential_expiration_ms = jws.lifetime_ms
        self.authorization_id = jws.principal_name
        self.complete = True
        return b""
