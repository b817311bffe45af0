"""TLS and HTTP Basic authentication of the HTTP listener.

``https://`` entries of ``josef.http.listeners`` take their certificate from the
``josef.http.ssl.*`` keys, named and read as Kafka's listener ``ssl.*`` keys are (the same
OpenSSL context builder, ``broker.security.tls``). ``josef.http.authentication=basic``
checks HTTP Basic credentials against the broker's own SASL users: SCRAM credentials
(the password is salted with the stored salt and iterations and its StoredKey compared,
as a SCRAM exchange proves it) and the PLAIN users of the listeners' JAAS configs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from broker.config.broker_config import BrokerConfig
from broker.security.credentials import ScramCredentialStore
from broker.security.scram import MECHANISMS, ScramCredential
from broker.security.tls import Setting, TlsSettings, build_server_context

HTTP_SSL_PREFIX = "josef.http."
#: ssl.* keys the HTTP listener has its own josef.http.ssl.* key for.
_OWN_KEYS = (
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
    "ssl.protocol",
)
#: The rest of what the context builder reads: no client certificates on HTTP.
_FIXED: dict[str, object] = {
    "ssl.truststore.type": "PEM",
    "ssl.truststore.location": None,
    "ssl.truststore.password": None,
    "ssl.truststore.certificates": None,
    "ssl.client.auth": "none",
    "ssl.principal.mapping.rules": "DEFAULT",
    "ssl.allow.dn.changes": False,
    "ssl.allow.san.changes": False,
}
_CACHE_SIZE = 1024


def http_tls_settings(config: BrokerConfig) -> TlsSettings:
    """The HTTP listener's TLS settings, each named by the josef.http.ssl.* key it came from."""
    values = {name: Setting(HTTP_SSL_PREFIX + name, config.get(HTTP_SSL_PREFIX + name))
              for name in _OWN_KEYS}  # fmt: skip
    values.update({name: Setting(HTTP_SSL_PREFIX + name, v) for name, v in _FIXED.items()})
    return TlsSettings("HTTP", values)


def build_http_ssl_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The context of the https:// endpoints, None without any (blocking: reads files;
    :class:`ConfigError` names the offending josef.http.ssl.* key)."""
    if not any(e.tls for e in config.http_listeners):
        return None
    return build_server_context(http_tls_settings(config))


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header (RFC 7617), None if absent or
    malformed."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        return None
    return user, password


def scram_password_matches(credential: ScramCredential, mechanism: str, password: str) -> bool:
    """The password salted as ``credential`` was gives its StoredKey (blocking: PBKDF2)."""
    scram = MECHANISMS[mechanism]
    salted = scram.salted_password(password, credential.salt, credential.iterations)
    derived = scram.credential(credential.salt, salted, credential.iterations)
    return hmac.compare_digest(derived.stored_key, credential.stored_key) and hmac.compare_digest(
        derived.server_key, credential.server_key
    )


@dataclass(frozen=True, slots=True)
class HttpCredentials:
    """A request's verified Basic credentials. The web console signs in to Kafka with them
    (SASL), so they live on the request only; the password never appears in a repr."""

    user: str
    password: str = field(repr=False)
    #: SASL mechanisms to sign in with, best first: the one the password was verified
    #: against (PLAIN for a JAAS user), then other SCRAM mechanisms the user has a
    #: credential for (not checked here: the broker checks them).
    mechanisms: tuple[str, ...] = ()


class BasicAuthenticator:
    """Checks HTTP Basic credentials against the broker's SASL users.

    PBKDF2 with thousands of iterations takes milliseconds, so SCRAM checks run in a worker
    thread, and a successful one is remembered (keyed by a keyed hash of user, password and
    the stored credential, so a changed or deleted credential is checked afresh) to keep
    a scraper's every request from paying for it. Wrong credentials are answered after
    ``failed_delay_s`` (Kafka's connection.failed.authentication.delay.ms), which slows
    password guessing.
    """

    def __init__(
        self,
        credentials: ScramCredentialStore,
        plain_users: Callable[[], dict[str, str]],
        failed_delay_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.credentials = credentials
        self.plain_users = plain_users
        self.failed_delay_s = failed_delay_s
        self._sleep = sleep
        self._secret = os.urandom(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    async def authenticate(self, header: str | None) -> str | None:
        """The user name when ``header`` carries valid credentials, else None."""
        credentials = await self.verify(header)
        return None if credentials is None else credentials.user

    async def verify(self, header: str | None) -> HttpCredentials | None:
        """The credentials of ``header`` when they are valid, else None."""
        if header is None:
            return None  # no credentials yet: the challenge goes out at once
        credentials = await self._check(header)
        if credentials is None and self.failed_delay_s > 0:
            await self._sleep(self.failed_delay_s)
        return credentials

    async def _check(self, header: str) -> HttpCredentials | None:
        parsed = parse_basic(header)
        if parsed is None:
            return None
        user, password = parsed
        scram = [m for m in MECHANISMS if self.credentials.scram_credential(user, m) is not None]
        plain = self.plain_users().get(user)
        if plain is not None and hmac.compare_digest(plain.encode(), password.encode()):
            return HttpCredentials(user, password, ("PLAIN", *scram))
        for mechanism in scram:
            credential = self.credentials.scram_credential(user, mechanism)
            if credential is None:
                continue
            others = tuple(m for m in scram if m != mechanism)
            key = self._cache_key(user, password, credential)
            if key in self._verified:
                self._verified.move_to_end(key)
                return HttpCredentials(user, password, (mechanism, *others))
            if await asyncio.to_thread(scram_password_matches, credential, mechanism, password):
                self._verified[key] = None
                if len(self._verified) > _CACHE_SIZE:
                    self._verified.popitem(last=False)
                return HttpCredentials(user, password, (mechanism, *others))
        return None

    def _cache_key(self, user: str, password: str, credential: ScramCredential) -> bytes:
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        for part in (user.encode(), password.encode(), credential.to_string().encode()):
            mac.update(len(part).to_bytes(4, "big"))
            mac.update(part)
        return mac.digest()
