"""How each listener secures its connections (Kafka's ChannelBuilder per listener).

:func:`build_listener_security` turns the configuration into one
:class:`ListenerSecurity` per listener: the TLS context of SSL and SASL_SSL
listeners, the DN → principal mapper, and the SASL settings of SASL_* listeners.
It reads key stores, so it runs before the event loop starts or in a worker
thread; every problem is a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from broker.config.broker_config import BrokerConfig
from broker.security.authenticator import SaslAuthenticator
from broker.security.credentials import ScramCredentialStore
from broker.security.principal import (
    ANONYMOUS,
    NoMatchingRule,
    SslPrincipalMapper,
    distinguished_name,
    user,
)
from broker.security.sasl_config import SaslSettings, build_sasl_settings
from broker.security.tls import ServerTls, TlsSettings, build_server_tls

log = logging.getLogger(__name__)

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class AuthenticationFailed(Exception):
    """The peer cannot be given a principal (for example no mapping rule matches its DN)."""


@dataclass(frozen=True, slots=True)
class TransportIdentity:
    """What the transport alone says about the peer: its principal and TLS certificate DN."""

    principal: str
    tls_peer: str | None = None


@dataclass(slots=True)
class ListenerSecurity:
    """One listener's security: TLS context, principal mapping, SASL settings."""

    listener: str
    security_protocol: str
    ssl_context: ssl.SSLContext | None = None
    principal_mapper: SslPrincipalMapper | None = None
    sasl: SaslSettings | None = None
    # TLS listeners: the key store's certificate, whether a trust store is set, and the
    # context new handshakes move to after a key store reload (None: ssl_context).
    certificate: x509.Certificate | None = None
    has_truststore: bool = False
    active_context: ssl.SSLContext | None = None

    def activate(self, tls: ServerTls) -> None:
        """Serve new TLS handshakes with ``tls`` (a reloaded key / trust store); the
        listener stays bound to ``ssl_context``, whose server-name callback switches."""
        from broker.security.tls_reload import sni_switch

        bound = self.ssl_context
        assert bound is not None
        if bound.sni_callback is None:
            bound.sni_callback = sni_switch(self)
        self.active_context = None if tls.context is bound else tls.context
        self.certificate = tls.certificate
        self.has_truststore = tls.has_truststore

    def new_authenticator(self) -> SaslAuthenticator | None:
        """The per-connection SASL session of a SASL_* listener (None otherwise)."""
        return SaslAuthenticator(self.sasl) if self.sasl is not None else None

    def identify(self, transport: Any) -> TransportIdentity:
        """The principal of a new connection before any SASL exchange.

        TLS with a verified client certificate: ``User:<mapped DN>``; otherwise
        ``User:ANONYMOUS`` (as Kafka's DefaultKafkaPrincipalBuilder).
        """
        if self.ssl_context is None or self.sasl is not None:
            # SASL_SSL: the principal comes from SASL, not from a client certificate.
            return TransportIdentity(ANONYMOUS)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return TransportIdentity(ANONYMOUS)
        dn = distinguished_name(der)
        assert self.principal_mapper is not None
        try:
            return TransportIdentity(user(self.principal_mapper.name(dn)), dn)
        except NoMatchingRule as exc:
            raise AuthenticationFailed(str(exc)) from None


def build_listener_security(
    config: BrokerConfig, credentials: ScramCredentialStore | None = None
) -> dict[str, ListenerSecurity]:
    """Every listener's security, by listener name (blocking: reads key stores).

    ``credentials`` is the broker's SCRAM credential store (an empty one when only
    validating the configuration).
    """
    store = credentials if credentials is not None else ScramCredentialStore()
    out: dict[str, ListenerSecurity] = {}
    for lsn in config.listeners:
        security = ListenerSecurity(lsn.name, lsn.security_protocol)
        if lsn.security_protocol in TLS_PROTOCOLS:
            settings = TlsSettings.for_listener(config, lsn.name)
            tls = build_server_tls(settings)
            security.ssl_context = tls.context
            security.certificate = tls.certificate
            security.has_truststore = tls.has_truststore
            security.principal_mapper = settings.principal_mapper()
        if lsn.security_protocol in SASL_PROTOCOLS:
            security.sasl = build_sasl_settings(config, lsn.name, store)
        out[lsn.name] = security
    return out


async def build_listener_security_async(
    config: BrokerConfig, credentials: ScramCredentialStore
) -> dict[str, ListenerSecurity]:
    return await asyncio.to_thread(build_listener_security, config, credentials)
