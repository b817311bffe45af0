"""The client side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677).

Sans-io: a mechanism answers each server challenge with the next client message; the
connection carries them in SaslAuthenticate requests after a SaslHandshake.
"""

from __future__ import annotations

import base64
import hmac
import secrets

from broker.security.scram import MECHANISMS as SCRAM_MECHANISMS
from broker.security.scram import ScramMechanism

SUPPORTED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SaslClientError(Exception):
    """The server's messages do not follow the mechanism, or it failed to prove itself."""


class SaslClient:
    """One authentication exchange: ``first()`` then ``respond(challenge)`` until ``done``."""

    mechanism: str
    done: bool = False

    def first(self) -> bytes:
        raise NotImplementedError

    def respond(self, challenge: bytes) -> bytes | None:
        """The next message, or None when the exchange is complete."""
        raise NotImplementedError


class PlainClient(SaslClient):
    """PLAIN: one message ``authzid NUL username NUL password``."""

    mechanism = "PLAIN"

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def first(self) -> bytes:
        self.done = True
        return b"\x00" + self.username.encode() + b"\x00" + self.password.encode()

    def respond(self, challenge: bytes) -> bytes | None:
        return None


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise SaslClientError(f"malformed SCRAM message {message!r}")
        out[key] = value
    return out


class ScramClient(SaslClient):
    """SCRAM: client-first, server-first, client-final (with proof), server-final
    (with the server signature, verified here)."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str) -> None:
        self.mechanism = mechanism.name
        self._mech = mechanism
        self.username = username
        self.password = password
        self.nonce = base64.b64encode(secrets.token_bytes(24)).decode()
        self._first_bare = f"n={_saslname(username)},r={self.nonce}"
        self._server_signature = b""
        self._step = 0

    def first(self) -> bytes:
        self._step = 1
        return ("n,," + self._first_bare).encode()

    def respond(self, challenge: bytes) -> bytes | None:
        text = challenge.decode("utf-8", "replace")
        if self._step == 1:
            self._step = 2
            return self._final(text)
        if self._step == 2:
            attrs = _attributes(text)
            if "e" in attrs:
                raise SaslClientError(f"SCRAM server error: {attrs['e']}")
            signature = base64.b64decode(attrs.get("v", ""))
            if not hmac.compare_digest(signature, self._server_signature):
                raise SaslClientError("SCRAM server signature does not match")
            self.done = True
            return None
        raise SaslClientError("SCRAM exchange already complete")

    def _final(self, server_first: str) -> bytes:
        attrs = _attributes(server_first)
        if "e" in attrs:
            raise SaslClientError(f"SCRAM server error: {attrs['e']}")
        nonce = attrs.get("r", "")
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise SaslClientError("SCRAM server nonce does not extend the client nonce")
        try:
            salt = base64.b64decode(attrs["s"], validate=True)
            iterations = int(attrs["i"])
        except (KeyError, ValueError) as exc:
            raise SaslClientError(f"malformed SCRAM server-first message: {exc}") from None
        m = self._mech
        salted = m.salted_password(self.password, salt, iterations)
        client_key = m.hmac(salted, b"Client Key")
        stored_key = m.hash(client_key)
        without_proof = f"c=biws,r={nonce}"  # biws = base64("n,,")
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        signature = m.hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = m.hmac(m.hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def sasl_client(mechanism: str, username: str, password: str) -> SaslClient:
    if mechanism == "PLAIN":
        return PlainClient(username, password)
    scram = SCRAM_MECHANISMS.get(mechanism)
    if scram is None:
        raise ValueError(
            f"unsupported SASL mechanism {mechanism!r} ({', '.join(SUPPORTED_MECHANISMS)})"
        )
    return ScramClient(scram, username, password)
