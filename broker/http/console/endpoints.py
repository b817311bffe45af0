"""The web console's way into the cluster, chosen from this broker's own listeners.

``console_identity`` picks, at startup, a PLAINTEXT listener for anonymous access and,
when the HTTP listener authenticates users, the SASL listeners (SASL_PLAINTEXT first) on
which the console signs in as each user (:mod:`broker.http.console.identity`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from broker.config.broker_config import BrokerConfig
from broker.http.console.identity import ConsoleIdentity, SaslEndpoint, console_endpoints
from broker.security.channel import ListenerSecurity
from broker.security.sasl_config import SaslSettings
from broker.security.tls import TlsSettings, truststore_pem

if TYPE_CHECKING:
    from broker.network.listener import Listener


def loopback_address(host: str, port: int) -> str:
    """host:port to reach a listener from this machine (loopback for a wildcard bind)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def plaintext_bootstrap(listeners: Sequence[Listener], inter_broker: str) -> str | None:
    """A bound PLAINTEXT listener (the inter-broker one first), None without any."""
    plain = [lst for lst in listeners if lst.security_protocol == "PLAINTEXT"]
    plain.sort(key=lambda lst: lst.name != inter_broker)
    return loopback_address(plain[0].host, plain[0].port) if plain else None


def client_context(security: ListenerSecurity, trusted: str | None) -> Callable[[], ssl.SSLContext]:
    """A client context for the console's SASL_SSL connections to this broker's listener.

    The console connects to a loopback address, which the listener's certificate does not
    name: no host name check. It verifies nothing beyond what the broker's own certificate
    needs: that certificate itself is trusted (a partial chain), plus the listener's trust
    store, to which the other brokers' certificates of a cluster usually chain.
    """

    def build() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        pem = ""
        if security.certificate is not None:  # the current one, after key store reloads
            pem = security.certificate.public_bytes(serialization.Encoding.PEM).decode()
        ctx.load_verify_locations(cadata=pem + (trusted or ""))
        return ctx

    return build


def _plain_users(sasl: SaslSettings) -> Callable[[], Mapping[str, str]]:
    return lambda: sasl.plain_users


def sasl_endpoints(config: BrokerConfig, listeners: Sequence[Listener]) -> list[SaslEndpoint]:
    """Every SASL listener as an endpoint (blocking: reads SASL_SSL trust stores)."""
    out = []
    for lst in listeners:
        security = lst.security
        sasl = security.sasl if security is not None else None
        if security is None or sasl is None:
            continue
        context = None
        if lst.security_protocol == "SASL_SSL":
            settings = TlsSettings.for_listener(config, lst.name)
            if settings.client_auth == "required" or security.certificate is None:
                continue  # the console has no client certificate to present
            context = client_context(security, truststore_pem(settings))
        out.append(
            SaslEndpoint(
                lst.name,
                lst.security_protocol,
                loopback_address(lst.host, lst.port),
                sasl.mechanisms,
                plain_users=_plain_users(sasl),
                ssl_context=context,
            )
        )
    return out


def console_identity(
    config: BrokerConfig, listeners: Sequence[Listener], per_user: bool
) -> ConsoleIdentity:
    """Anonymous over PLAINTEXT, or, when ``per_user`` (HTTP Basic authentication) and a
    SASL listener offers PLAIN or SCRAM, as each request's user (blocking)."""
    plaintext = plaintext_bootstrap(listeners, config.inter_broker_listener_name)
    sasl = console_endpoints(sasl_endpoints(config, listeners)) if per_user else ()
    return ConsoleIdentity(plaintext, sasl)
