"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka implements them.

Credentials are kept the way Kafka keeps them: salt, iteration count, StoredKey and
ServerKey, written as ``salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>``
(Kafka's ScramCredentialUtils format). The password and the salted password are never
stored. :class:`ScramServer` runs the server side of one exchange.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from broker.security.sasl_server import SaslAuthenticationError


@dataclass(frozen=True, slots=True)
class ScramMechanism:
    """A SCRAM mechanism: its SASL name, hash and Kafka's wire type (AlterUserScram...)."""

    name: str
    hash_name: str
    type: int
    min_iterations: int = 4096

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hash_name).digest()

    def salted_password(self, password: str, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac(self.hash_name, password.encode("utf-8"), salt, iterations)

    def credential(self, salt: bytes, salted_password: bytes, iterations: int) -> ScramCredential:
        client_key = self.hmac(salted_password, b"Client Key")
        return ScramCredential(
            salt=salt,
            stored_key=self.hash(client_key),
            server_key=self.hmac(salted_password, b"Server Key"),
            iterations=iterations,
        )


SCRAM_SHA_256 = ScramMechanism("SCRAM-SHA-256", "sha256", 1)
SCRAM_SHA_512 = ScramMechanism("SCRAM-SHA-512", "sha512", 2)
MECHANISMS = {m.name: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
MECHANISMS_BY_TYPE = {m.type: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
MAX_ITERATIONS = 16384


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_string(self) -> str:
        b64 = base64.b64encode
        return (
            f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
            f"server_key={b64(self.server_key).decode()},iterations={self.iterations}"
        )

    @classmethod
    def from_string(cls, text: str) -> ScramCredential:
        fields = dict(item.split("=", 1) for item in text.split(","))
        return cls(
            salt=base64.b64decode(fields["salt"]),
            stored_key=base64.b64decode(fields["stored_key"]),
            server_key=base64.b64decode(fields["server_key"]),
            iterations=int(fields["iterations"]),
        )


# --- messages ------------------------------------------------------------------------

_CLIENT_FIRST = re.compile(
    r"n,(a=(?P<authzid>[^,]*))?,(?P<bare>n=(?P<saslname>[^,]*),r=(?P<nonce>[^,]*)(?P<ext>.*))",
    re.DOTALL,
)
_CLIENT_FINAL = re.compile(
    r"(?P<without_proof>c=(?P<channel>[^,]*),r=(?P<nonce>[^,]*)(?P<ext>.*)),p=(?P<proof>.*)",
    re.DOTALL,
)
_EXTENSION = re.compile(r"([A-Za-z]+)=([^,]*)")


def decode_saslname(name: str) -> str:
    """RFC 5802 saslname: ``=2C`` is a comma, ``=3D`` an equals sign; any other ``=`` is bad."""
    if re.search(r"=(?!2C|3D)", name):
        raise SaslAuthenticationError("Authentication failed: invalid user name encoding")
    return name.replace("=2C", ",").replace("=3D", "=")


def _extensions(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item:
            continue
        m = _EXTENSION.fullmatch(item)
        if m is None:
            raise SaslAuthenticationError("Authentication failed: invalid SCRAM extension")
        out[m.group(1)] = m.group(2)
    return out


class CredentialLookup:
    """Where a SCRAM server finds credentials (see broker.security.credentials)."""

    def scram_credential(self, user: str, mechanism: str) -> ScramCredential | None:
        raise NotImplementedError


class ScramServer:
    """The server side of one SCRAM exchange: client-first → server-first → final."""

    def __init__(self, mechanism: ScramMechanism, credentials: CredentialLookup) -> None:
        self.mechanism = mechanism
        self.mechanism_name = mechanism.name
        self._credentials = credentials
        self._step = 0
        self._user = ""
        self._gs2_header = b""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credential: ScramCredential | None = None
        self.credential_expiration_ms: int | None = None  # SCRAM credentials do not expire
        self.complete = False
        self.authorization_id: str | None = None

    def evaluate(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslAuthenticationError("Authentication failed: invalid SCRAM message") from None
        if self._step == 0:
            self._step = 1
            return self._client_first(text)
        if self._step == 1:
            self._step = 2
            return self._client_final(text)
        raise SaslAuthenticationError("Authentication failed: unexpected SCRAM message")

    def _client_first(self, text: str) -> bytes:
        m = _CLIENT_FIRST.fullmatch(text)
        if m is None:
            raise SaslAuthenticationError(
                "Authentication failed: invalid SCRAM client-first message"
            )
        user = decode_saslname(m.group("saslname"))
        authzid = m.group("authzid")
        if authzid and authzid != user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        extensions = _extensions(m.group("ext"))
        if extensions.get("tokenauth", "false").lower() == "true":
            raise SaslAuthenticationError(
                "Authentication failed: delegation tokens are not supported"
            )
        credential = self._credentials.scram_credential(user, self.mechanism.name)
        if credential is None:
            raise SaslAuthenticationError("Authentication failed: Invalid user credentials")
        self._user = user
        self._credential = credential
        self._gs2_header = text[: len(text) - len(m.group("bare"))].encode()
        self._client_first_bare = m.group("bare")
        self._nonce = m.group("nonce") + secrets.token_urlsafe(24)
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        m = _CLIENT_FINAL.fullmatch(text)
        if m is None:
            raise SaslAuthenticationError(
                "Authentication failed: invalid SCRAM client-final message"
            )
        assert self._credential is not None
        # Kafka only checks that the nonce ends with the server's (librdkafka before 2.2
        # sends the client nonce twice), so do the same.
        if not m.group("nonce").endswith(self._nonce):
            raise SaslAuthenticationError(
                "Authentication failed: Invalid client nonce in the final client message."
            )
        try:
            channel = base64.b64decode(m.group("channel"), validate=True)
            proof = base64.b64decode(m.group("proof"), validate=True)
        except ValueError:
            raise SaslAuthenticationError("Authentication failed: invalid SCRAM encoding") from None
        if channel != self._gs2_header:
            raise SaslAuthenticationError("Authentication failed: Invalid channel binding")
        auth_message = ",".join(
            (self._client_first_bare, self._server_first, m.group("without_proof"))
        ).encode()
        mech = self.mechanism
        signature = mech.hmac(self._credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise SaslAuthenticationError("Authentication failed: Invalid client credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(mech.hash(client_key), self._credential.stored_key):
            raise SaslAuthenticationError("Authentication failed: Invalid client credentials")
        server_signature = mech.hmac(self._credential.server_key, auth_message)
        self.complete = True
        self.authorization_id = self._user
        return b"v=" + base64.b64encode(server_signature)
