"""A SASL listener's settings: enabled mechanisms, PLAIN users, SCRAM store, lifetimes.

Per-listener values follow Kafka: ``listener.name.<l>.sasl.enabled.mechanisms``,
``listener.name.<l>.<mechanism>.sasl.jaas.config`` (Josef also falls back to
``sasl.jaas.config``), ``listener.name.<l>[.<mechanism>].connections.max.reauth.ms``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.config.broker_config import BrokerConfig, ConfigError
from broker.security.credentials import ScramCredentialStore
from broker.security.jaas import OAUTHBEARER_MODULE, parse_jaas_config, plain_users
from broker.security.listener_config import listener_key, listener_raw, listener_value
from broker.security.oauthbearer import OAuthBearerServer, UnsecuredValidatorOptions
from broker.security.sasl_server import PlainServer, SaslServer
from broker.security.scram import MECHANISMS as SCRAM_MECHANISMS
from broker.security.scram import ScramServer

SUPPORTED_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
# Keys Kafka reads with a listener.name.<l>.<mechanism>. prefix that Josef implements.
MECHANISM_KEYS = ("sasl.jaas.config", "connections.max.reauth.ms")


@dataclass(slots=True)
class SaslSettings:
    """How one SASL_PLAINTEXT / SASL_SSL listener authenticates clients."""

    listener: str
    mechanisms: tuple[str, ...]
    credentials: ScramCredentialStore
    plain_users: dict[str, str] = field(default_factory=dict)
    oauthbearer: UnsecuredValidatorOptions = field(default_factory=UnsecuredValidatorOptions)
    reauth_ms: dict[str, int] = field(default_factory=dict)  # by mechanism; 0 = none
    failed_authentication_delay_ms: int = 100
    max_receive_size: int = 524_288
    # Wall clock (epoch ms) for credential lifetimes (OAUTHBEARER tokens).
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))

    def new_server(self, mechanism: str) -> SaslServer:
        if mechanism == "PLAIN":
            return PlainServer(self.plain_users)
        if mechanism == "OAUTHBEARER":
            return OAuthBearerServer(self.oauthbearer, self.clock_ms)
        return ScramServer(SCRAM_MECHANISMS[mechanism], self.credentials)


def _mechanism_raw(
    config: BrokerConfig, listener: str, mechanism: str, key: str
) -> tuple[str, str] | None:
    return listener_raw(config, listener, f"{mechanism.lower()}.{key}")


def build_sasl_settings(
    config: BrokerConfig, listener: str, credentials: ScramCredentialStore
) -> SaslSettings:
    key, value = listener_value(config, listener, "sasl.enabled.mechanisms")
    assert isinstance(value, tuple)
    mechanisms = tuple(m.strip().upper() for m in value if m.strip())
    if not mechanisms:
        raise ConfigError(key, f"no SASL mechanism enabled (listener {listener})")
    for mechanism in mechanisms:
        if mechanism == "GSSAPI":
            raise ConfigError(
                key,
                f"GSSAPI (Kerberos) is not supported (listener {listener}); enable PLAIN, "
                "SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            )
        if mechanism not in SUPPORTED_MECHANISMS:
            raise ConfigError(
                key,
                f"unsupported SASL mechanism {mechanism} (listener {listener}); "
                f"supported: {', '.join(SUPPORTED_MECHANISMS)}",
            )
    settings = SaslSettings(listener, mechanisms, credentials)
    if "PLAIN" in mechanisms:
        settings.plain_users = _plain_users(config, listener)
    if "OAUTHBEARER" in mechanisms:
        settings.oauthbearer = _oauthbearer_options(config, listener)
    for mechanism in mechanisms:
        found = _mechanism_raw(config, listener, mechanism, "connections.max.reauth.ms")
        if found is not None:
            written, raw = found
            try:
                reauth = int(raw.strip())
            except ValueError:
                raise ConfigError(written, f"expected an integer (long), got {raw!r}") from None
        else:
            _, value_ = listener_value(config, listener, "connections.max.reauth.ms")
            assert isinstance(value_, int)
            reauth = value_
        settings.reauth_ms[mechanism] = max(0, reauth)
    settings.failed_authentication_delay_ms = config.connection_failed_authentication_delay_ms
    _, size = listener_value(config, listener, "sasl.server.max.receive.size")
    assert isinstance(size, int)
    settings.max_receive_size = size
    return settings


def _plain_users(config: BrokerConfig, listener: str) -> dict[str, str]:
    found = _mechanism_raw(config, listener, "PLAIN", "sasl.jaas.config")
    if found is None:
        text = config.sasl_jaas_config
        key = "sasl.jaas.config"
        if text is None or not text.strip():
            raise ConfigError(
                listener_key(listener, "plain.sasl.jaas.config"),
                f"PLAIN on listener {listener} needs a JAAS config with user_<name>=\"<password>\" "
                "entries (this key, or sasl.jaas.config)",
            )
    else:
        key, text = found
    try:
        entries = parse_jaas_config(text)
    except ValueError as exc:
        raise ConfigError(key, f"invalid JAAS config: {exc}") from None
    users = plain_users(entries)
    if not users:
        raise ConfigError(
            key, f'no user_<name>="<password>" entry for PLAIN (listener {listener})'
        )
    return users


def _oauthbearer_options(config: BrokerConfig, listener: str) -> UnsecuredValidatorOptions:
    """The unsecured validator's options from the OAuthBearerLoginModule JAAS entry
    (``listener.name.<l>.oauthbearer.sasl.jaas.config``, else ``sasl.jaas.config``);
    Kafka's defaults without one."""
    found = _mechanism_raw(config, listener, "OAUTHBEARER", "sasl.jaas.config")
    if found is None:
        key, text = "sasl.jaas.config", config.sasl_jaas_config
        if text is None or not text.strip():
            return UnsecuredValidatorOptions()
    else:
        key, text = found
    try:
        entries = parse_jaas_config(text)
    except ValueError as exc:
        raise ConfigError(key, f"invalid JAAS config: {exc}") from None
    modules = [e for e in entries if e.login_module == OAUTHBEARER_MODULE]
    if found is not None and not modules:
        raise ConfigError(key, f"OAUTHBEARER needs the login module {OAUTHBEARER_MODULE}")
    try:
        return UnsecuredValidatorOptions.from_jaas(modules[0].options if modules else {})
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None
