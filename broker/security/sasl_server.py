"""The server side of a SASL mechanism (javax.security.sasl.SaslServer in Kafka).

A :class:`SaslServer` is fed the client's tokens one by one and returns its
challenges; it raises :class:`SaslAuthenticationError` on bad credentials. When
``complete`` is True, ``authorization_id`` names the authenticated user and
``credential_expiration_ms`` (epoch ms, or None) when its credential expires (an
OAUTHBEARER token's ``exp``), which bounds the session (KIP-368).
"""

from __future__ import annotations

from typing import Protocol


class SaslAuthenticationError(Exception):
    """Credentials refused: answered with SASL_AUTHENTICATION_FAILED and this message."""


class SaslServer(Protocol):
    mechanism_name: str
    complete: bool
    authorization_id: str | None
    credential_expiration_ms: int | None

    def evaluate(self, token: bytes) -> bytes: ...


class PlainServer:
    """SASL/PLAIN (RFC 4616): ``[authzid] NUL authcid NUL password`` in one token."""

    mechanism_name = "PLAIN"

    def __init__(self, users: dict[str, str]) -> None:
        self._users = users
        self.complete = False
        self.authorization_id: str | None = None
        self.credential_expiration_ms: int | None = None

    def evaluate(self, token: bytes) -> bytes:
        import hmac

        try:
            parts = token.decode("utf-8").split("\0")
        except UnicodeDecodeError:
            raise SaslAuthenticationError("Invalid SASL/PLAIN response: not UTF-8") from None
        if len(parts) != 3:
            raise SaslAuthenticationError(
                f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}"
            )
        authzid, username, password = parts
        if not username:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        expected = self._users.get(username)
        # Compare even for unknown users so timing does not reveal which users exist.
        ok = hmac.compare_digest(
            (expected if expected is not None else "\0" + password).encode(), password.encode()
        )
        if not ok or expected is None:
            raise SaslAuthenticationError("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        self.complete = True
        self.authorization_id = username
        return b""
