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

from broker.config.broker_config import BrokerConfig
from broker.security.principal import (
    ANONYMOUS,
    NoMatchingRule,
    SslPrincipalMapper,
    distinguished_name,
    user,
)
from broker.security.tls import TlsSettings, build_server_context

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
    """One listener's security: TLS context and principal mapping (SASL: see sasl)."""

    listener: str
    security_protocol: str
    ssl_context: ssl.SSLContext | None = None
    principal_mapper: SslPrincipalMapper | None = None

    def identify(self, transport: Any) -> TransportIdentity:
        """The principal of a new connection before any SASL exchange.

        TLS with a verified client certificate: ``User:<mapped DN>``; otherwise
        ``User:ANONYMOUS`` (as Kafka's DefaultKafkaPrincipalBuilder).
        """
        if self.ssl_context is None:
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


def build_listener_security(config: BrokerConfig) -> dict[str, ListenerSecurity]:
    """Every listener's security, by listener name (blocking: reads key stores)."""
    out: dict[str, ListenerSecurity] = {}
    for lsn in config.listeners:
        security = ListenerSecurity(lsn.name, lsn.security_protocol)
        if lsn.security_protocol in TLS_PROTOCOLS:
            settings = TlsSettings.for_listener(config, lsn.name)
            security.ssl_context = build_server_context(settings)
            security.principal_mapper = settings.principal_mapper()
        out[lsn.name] = security
    return out


async def build_listener_security_async(config: BrokerConfig) -> dict[str, ListenerSecurity]:
    return await asyncio.to_thread(build_listener_security, config)
