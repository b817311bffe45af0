"""Which Kafka identity the web console's admin connections have.

With ``josef.http.authentication=basic`` and a SASL listener offering PLAIN or SCRAM, the
console signs in to that listener as the HTTP user, with the password of the request's
Basic credentials: Kafka's authorizer then applies that user's ACLs to every page and
action. Otherwise (no HTTP authentication, or no usable SASL listener) it connects to a
PLAINTEXT listener, where the broker sees User:ANONYMOUS.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from broker.admin.client_config import ClientSecurity
from broker.http.console.errors import ConsoleError
from broker.http.security import HttpCredentials

#: What the admin client can sign in with (OAUTHBEARER needs a token the console has not).
CONSOLE_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
NO_PLAINTEXT: Final = (
    "The web console reads the cluster through a PLAINTEXT Kafka listener of this broker, "
    "and this broker has none (listeners)."
)


@dataclass(frozen=True, slots=True)
class SaslEndpoint:
    """A SASL listener of this broker that the console signs in on as the HTTP user."""

    listener: str
    protocol: str  # SASL_PLAINTEXT or SASL_SSL
    address: str  # host:port to connect to (loopback for a wildcard bind)
    mechanisms: tuple[str, ...]
    #: The listener's PLAIN users (its JAAS config), read at each sign-in.
    plain_users: Callable[[], Mapping[str, str]] = dict
    #: SASL_SSL: the client context (built in the worker thread, per connection).
    ssl_context: Callable[[], ssl.SSLContext] | None = None

    def accepts(self, mechanism: str, credentials: HttpCredentials) -> bool:
        """The listener enables ``mechanism`` and, for PLAIN, knows this user and password."""
        if mechanism not in self.mechanisms:
            return False
        if mechanism != "PLAIN":
            return True  # the broker checks the SCRAM credential
        known = self.plain_users().get(credentials.user)
        return known is not None and hmac.compare_digest(
            known.encode(), credentials.password.encode()
        )


@dataclass(frozen=True, slots=True)
class ConsoleIdentity:
    """How the console reaches the cluster: anonymously through ``plaintext``, or, when
    ``sasl`` lists endpoints, as each request's authenticated user."""

    plaintext: str | None
    sasl: tuple[SaslEndpoint, ...] = ()

    @property
    def per_user(self) -> bool:
        return bool(self.sasl)

    def connection(
        self, credentials: HttpCredentials | None
    ) -> tuple[str, ClientSecurity | None]:
        """(bootstrap address, client security) of one admin client for a request with
        ``credentials`` (blocking for SASL_SSL: builds the TLS context)."""
        if not self.sasl:
            if self.plaintext is None:
                raise ConsoleError("NO_PLAINTEXT_LISTENER", NO_PLAINTEXT, 503)
            return self.plaintext, None
        if credentials is None:
            raise ConsoleError(
                "SASL_AUTHENTICATION_FAILED", "the console needs the request's credentials", 401
            )
        for mechanism in credentials.mechanisms:
            for endpoint in self.sasl:
                if endpoint.accepts(mechanism, credentials):
                    context = endpoint.ssl_context() if endpoint.ssl_context else None
                    security = ClientSecurity(
                        endpoint.protocol,
                        context,
                        # SASL_SSL: the loopback address is not in the certificate.
                        server_hostname_check=False,
                        sasl_mechanism=mechanism,
                        sasl_username=credentials.user,
                        sasl_password=credentials.password,
                    )
                    return endpoint.address, security
        offered = "; ".join(
            f"{e.listener}: {', '.join(e.mechanisms)}" for e in self.sasl
        )
        raise ConsoleError(
            "UNSUPPORTED_SASL_MECHANISM",
            f"user {credentials.user} signs in with {', '.join(credentials.mechanisms)}, which "
            f"no SASL listener of this broker accepts for this user ({offered})",
            503,
        )

    def describe(self) -> str:
        """One line for the startup log: which identity the console uses, and where."""
        if self.sasl:
            first = self.sasl[0]
            return (
                f"the web console signs in as each HTTP user (SASL {'/'.join(first.mechanisms)} "
                f"on {first.protocol} listener {first.listener} at {first.address}): their "
                "ACLs apply"
            )
        if self.plaintext is None:
            return "the web console has no PLAINTEXT listener to read the cluster through"
        return f"the web console reads the cluster as User:ANONYMOUS (PLAINTEXT {self.plaintext})"


def console_endpoints(endpoints: Sequence[SaslEndpoint]) -> tuple[SaslEndpoint, ...]:
    """The usable endpoints, SASL_PLAINTEXT before SASL_SSL, mechanisms narrowed to
    those the console can sign in with."""
    usable = []
    for endpoint in endpoints:
        mechanisms = tuple(m for m in endpoint.mechanisms if m in CONSOLE_MECHANISMS)
        if mechanisms and endpoint.protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            usable.append(
                SaslEndpoint(
                    endpoint.listener, endpoint.protocol, endpoint.address, mechanisms,
                    endpoint.plain_users, endpoint.ssl_context,
                )
            )
    usable.sort(key=lambda e: e.protocol != "SASL_PLAINTEXT")
    return tuple(usable)
