"""The SASL exchange of one connection (Kafka's SaslServerAuthenticator).

Until a SASL_PLAINTEXT or SASL_SSL connection is authenticated, every frame comes
here: ApiVersions (answered from the route table), then SaslHandshake, then either
SaslAuthenticate requests (handshake v1) or raw length-prefixed tokens (v0, KIP-43).
Anything else closes the connection, as in Kafka. A failed authentication answers
SASL_AUTHENTICATION_FAILED, is logged once and closes the connection after
``connection.failed.authentication.delay.ms``.

Re-authentication (KIP-368): a session expires after ``connections.max.reauth.ms``
(when > 0) or when its credential does (an OAUTHBEARER token's ``exp``), whichever
comes first, as Kafka computes it; the lifetime goes back in SaslAuthenticate v1+ and
the client re-authenticates on the same connection with SaslHandshake +
SaslAuthenticate (same mechanism, same principal). A request other than a
re-authentication arriving after the session expired closes the connection, whatever
the client's SaslAuthenticate version (Kafka disconnects clients that cannot
re-authenticate, KIP-368).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import ConnectionInfo
from broker.network.dispatch import CloseConnection
from broker.security.principal import user
from broker.security.sasl_config import SaslSettings
from broker.security.sasl_server import SaslAuthenticationError, SaslServer
from protocol.api_registry import api_name
from protocol.builders import ResponseBuilder
from protocol.codec import decode_request, encode_response, request_is_flexible
from protocol.framing import frame as size_prefixed
from protocol.headers import API_VERSIONS_KEY, peek_api, read_request_header

log = logging.getLogger(__name__)

SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
HANDSHAKE_VERSIONS = (0, 1)
AUTHENTICATE_VERSIONS = (0, 2)
MIN_REAUTH_INTERVAL_S = 1.0

Dispatch = Callable[[bytes, ConnectionInfo], Awaitable[Any]]


class SaslState(enum.Enum):
    HANDSHAKE = "expects ApiVersions or SaslHandshake"
    AUTHENTICATE = "expects SaslAuthenticate"
    RAW_TOKEN = "expects a raw SASL token (SaslHandshake v0)"
    COMPLETE = "authenticated"
    FAILED = "failed"


@dataclass(slots=True)
class AuthOutcome:
    """What the connection does with one frame the authenticator handled."""

    response: bytes | list[Any] | None
    info: ConnectionInfo
    close: bool = False  # close after writing the response
    delay_s: float = 0.0  # wait before writing the response and closing


class SaslAuthenticator:
    """One connection's SASL session: exchange state, principal, session expiry."""

    def __init__(
        self, settings: SaslSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.state = SaslState.HANDSHAKE
        self._clock = clock
        self.session_lifetime_ms = 0
        self._server: SaslServer | None = None
        self.mechanism: str | None = None
        self.principal: str | None = None
        self.session_expiry: float | None = None  # clock() seconds; None = never
        self.reauthenticating = False
        self._last_reauth_start: float | None = None

    # -- what the connection asks ----------------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self.state is SaslState.COMPLETE

    def wants(self, frame: bytes) -> bool:
        """True if this frame belongs to the SASL exchange rather than to dispatch."""
        if self.state is not SaslState.COMPLETE:
            return True
        if len(frame) < 2 or int.from_bytes(frame[:2], "big", signed=True) != SASL_HANDSHAKE:
            return False
        # KIP-368 re-authentication starts with SaslHandshake, for sessions that expire, at
        # most once a second (Kafka's MIN_REAUTH_INTERVAL; a SaslHandshake sooner goes to
        # dispatch, which answers ILLEGAL_SASL_STATE).
        if self.session_expiry is None:
            return False
        last = self._last_reauth_start
        return last is None or self._clock() - last >= MIN_REAUTH_INTERVAL_S

    def check_session(self) -> None:
        """Raise :class:`CloseConnection` when the session has expired (KIP-368)."""
        if self.session_expiry is not None and self._clock() >= self.session_expiry:
            raise CloseConnection("SASL session expired without re-authentication")

    def _reauth_ms(self) -> int:
        return self.settings.reauth_ms.get(self.mechanism or "", 0)

    # -- the exchange -----------------------------------------------------------------
    async def handle(self, frame: bytes, info: ConnectionInfo, dispatch: Dispatch) -> AuthOutcome:
        if self.state is SaslState.RAW_TOKEN:
            return self._raw_token(frame, info)
        if self.state is SaslState.FAILED:
            raise CloseConnection("request after failed authentication")
        api_key, version, correlation_id = peek_api(frame)
        if self.state is SaslState.COMPLETE:  # re-authentication begins
            self.state = SaslState.HANDSHAKE
            self.reauthenticating = True
            self._last_reauth_start = self._clock()
        if self.state is SaslState.HANDSHAKE:
            if api_key == API_VERSIONS_KEY and not self.reauthenticating:
                return AuthOutcome(await dispatch(frame, info), info)
            if api_key == SASL_HANDSHAKE:
                return self._handshake(frame, version, correlation_id, info)
        elif api_key == SASL_AUTHENTICATE:
            return self._authenticate(frame, version, correlation_id, info)
        raise CloseConnection(
            f"unexpected {api_name(api_key)} request while the SASL exchange "
            f"{self.state.value}"
        )

    def _decode(self, frame: bytes, api_key: int, version: int, low_high: tuple[int, int]) -> Any:
        low, high = low_high
        if not low <= version <= high:
            raise CloseConnection(f"unsupported version {version} of {api_name(api_key)}")
        _header, offset = read_request_header(frame, request_is_flexible(api_key, version))
        return decode_request(api_key, version, frame, offset)

    def _handshake(
        self, frame: bytes, version: int, correlation_id: int, info: ConnectionInfo
    ) -> AuthOutcome:
        request = self._decode(frame, SASL_HANDSHAKE, version, HANDSHAKE_VERSIONS)
        mechanism = str(request.mechanism)
        rb = ResponseBuilder(SASL_HANDSHAKE, version)
        enabled = self.settings.mechanisms
        if mechanism not in enabled or (
            self.reauthenticating and mechanism != self.mechanism
        ):
            log.info(
                "closing connection %s from %s:%d: SASL mechanism %r %s",
                info.connection_id, info.client_host, info.client_port, mechanism,
                "changed during re-authentication" if self.reauthenticating else "not enabled",
            )  # fmt: skip
            response = rb(
                None, error_code=ErrorCode.unsupported_sasl_mechanism, mechanisms=enabled
            )
            self.state = SaslState.FAILED
            return AuthOutcome(self._encode(SASL_HANDSHAKE, version, correlation_id, response),
                               info, close=True)  # fmt: skip
        self.mechanism = mechanism
        self._server = self.settings.new_server(mechanism)
        if version == 0 and not self.reauthenticating:
            self.state = SaslState.RAW_TOKEN
        else:
            self.state = SaslState.AUTHENTICATE
        response = rb(None, error_code=ErrorCode.none, mechanisms=enabled)
        return AuthOutcome(self._encode(SASL_HANDSHAKE, version, correlation_id, response), info)

    def _authenticate(
        self, frame: bytes, version: int, correlation_id: int, info: ConnectionInfo
    ) -> AuthOutcome:
        request = self._decode(frame, SASL_AUTHENTICATE, version, AUTHENTICATE_VERSIONS)
        rb = ResponseBuilder(SASL_AUTHENTICATE, version)
        try:
            challenge = self._evaluate(bytes(request.auth_bytes))
            info = self._maybe_complete(info)
        except SaslAuthenticationError as exc:
            response = rb(
                None,
                error_code=ErrorCode.sasl_authentication_failed,
                error_message=str(exc),
                auth_bytes=b"",
            )
            return self._failure(
                info, str(exc), self._encode(SASL_AUTHENTICATE, version, correlation_id, response)
            )
        lifetime_ms = self.session_lifetime_ms if self.state is SaslState.COMPLETE else 0
        response = rb(
            None,
            error_code=ErrorCode.none,
            error_message=None,
            auth_bytes=challenge,
            session_lifetime=datetime.timedelta(milliseconds=lifetime_ms),
        )
        return AuthOutcome(self._encode(SASL_AUTHENTICATE, version, correlation_id, response), info)

    def _raw_token(self, frame: bytes, info: ConnectionInfo) -> AuthOutcome:
        try:
            challenge = self._evaluate(frame)
            info = self._maybe_complete(info)
        except SaslAuthenticationError as exc:
            return self._failure(info, str(exc), None)  # v0 has no way to say why
        return AuthOutcome(size_prefixed(challenge), info)

    def _evaluate(self, token: bytes) -> bytes:
        if len(token) > self.settings.max_receive_size:
            raise SaslAuthenticationError(
                f"SASL token of {len(token)} bytes exceeds sasl.server.max.receive.size"
            )
        assert self._server is not None
        if self._server.complete:
            raise SaslAuthenticationError("unexpected token after the SASL exchange completed")
        return self._server.evaluate(token)

    def _maybe_complete(self, info: ConnectionInfo) -> ConnectionInfo:
        server = self._server
        assert server is not None
        if not server.complete:
            return info
        assert server.authorization_id is not None
        principal = user(server.authorization_id)
        if self.reauthenticating and principal != self.principal:
            raise SaslAuthenticationError(
                f"Cannot change principals during re-authentication from {self.principal}: "
                f"{principal}"
            )
        lifetime = self._session_lifetime(server.credential_expiration_ms)
        self.session_lifetime_ms = lifetime or 0
        self.session_expiry = self._clock() + lifetime / 1000.0 if lifetime is not None else None
        self.state = SaslState.COMPLETE
        self._server = None
        if self.reauthenticating:
            log.debug("connection %s re-authenticated as %s", info.connection_id, principal)
        else:
            log.info(
                "connection %s from %s:%d: SASL %s authenticated as %s",
                info.connection_id, info.client_host, info.client_port, self.mechanism, principal,
            )  # fmt: skip
        self.principal = principal
        self.reauthenticating = False
        return dataclasses.replace(info, principal=principal, sasl_mechanism=self.mechanism)

    def _session_lifetime(self, credential_expiration_ms: int | None) -> int | None:
        """Kafka's session lifetime (ms; None: the session never expires): the shorter of
        connections.max.reauth.ms (if > 0) and the time left on the credential."""
        reauth_ms = self._reauth_ms()
        if credential_expiration_ms is None:
            return reauth_ms if reauth_ms > 0 else None
        left = max(0, credential_expiration_ms - self.settings.clock_ms())
        return min(left, reauth_ms) if reauth_ms > 0 else left

    def _failure(self, info: ConnectionInfo, reason: str, response: bytes | None) -> AuthOutcome:
        self.state = SaslState.FAILED
        log.info(
            "Failed authentication with %s:%d (connection %s, %s): %s",
            info.client_host, info.client_port, info.connection_id, self.mechanism, reason,
        )  # fmt: skip
        delay = self.settings.failed_authentication_delay_ms / 1000.0
        return AuthOutcome(response, info, close=True, delay_s=delay)

    @staticmethod
    def _encode(api_key: int, version: int, correlation_id: int, response: Any) -> bytes:
        return encode_response(api_key, version, correlation_id, response)
