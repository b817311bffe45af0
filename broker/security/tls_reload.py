"""Key and trust store reload of TLS listeners at run time (Kafka's dynamic SSL
reconfiguration, KIP-226: ``listener.name.<l>.ssl.keystore.*`` / ``ssl.truststore.*``).

A change is validated as Kafka's SslFactory does: the new stores must load; the new key
store's certificate keeps the distinguished name (unless ``ssl.allow.dn.changes``) and
every subject alternative name of the old one (unless ``ssl.allow.san.changes``); a trust
store cannot be added to a listener that had none. The same request with unchanged
settings reloads the store files if they changed on disk (Kafka's
``reloadUpdatedFilesWithoutConfigChange``).

Applying it: the listener's server socket keeps the context it was bound with; that
context's server-name callback, which OpenSSL runs on every ClientHello, moves each new
handshake to the current context (``SSLObject.context``). New connections get the new
certificate; established ones keep theirs.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509

from broker.config.broker_config import BrokerConfig, ConfigError
from broker.config.dynamic_keys import invalid_dynamic
from broker.security.tls import ServerTls, TlsSettings, build_server_tls

if TYPE_CHECKING:
    from broker.security.channel import ListenerSecurity

log = logging.getLogger(__name__)

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
_ALIAS = "kafka"  # the alias Kafka gives the entry of a PEM key store
_SAN_TYPES: dict[type[x509.GeneralName], int] = {
    x509.OtherName: 0,
    x509.RFC822Name: 1,
    x509.DNSName: 2,
    x509.DirectoryName: 4,
    x509.UniformResourceIdentifier: 6,
    x509.IPAddress: 7,
    x509.RegisteredID: 8,
}


class SslReloadError(Exception):
    """A new key or trust store Kafka's SslFactory would refuse (message is Kafka's)."""


def _dn(cert: x509.Certificate) -> str:
    return ", ".join(attr.rfc4514_string() for attr in reversed(list(cert.subject)))


def subject_alt_names(cert: x509.Certificate) -> frozenset[tuple[int, str]]:
    """(Java's GeneralName type number, value) of every SAN, as X509Certificate lists them."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return frozenset()
    out = set()
    for name in ext.value:
        value = name.value
        text = value.rfc4514_string() if isinstance(value, x509.Name) else str(value)
        out.add((_SAN_TYPES.get(type(name), -1), text))
    return frozenset(out)


def _san_text(sans: frozenset[tuple[int, str]]) -> str:
    return "[" + ", ".join(f"[{t}, {v}]" for t, v in sorted(sans)) + "]"


def ensure_compatible(
    old: x509.Certificate, new: x509.Certificate, allow_dn_changes: bool, allow_san_changes: bool
) -> None:
    """Kafka's CertificateEntries.ensureCompatible for the key store's one entry."""
    if not allow_dn_changes:
        same = old.subject == new.subject or _dn(old).lower() == _dn(new).lower()
        if not same:
            raise SslReloadError(
                "Keystore DistinguishedName does not match:  "
                f"existing={{alias={_ALIAS}, DN={_dn(old)}}}, "
                f"new={{alias={_ALIAS}, DN={_dn(new)}}}"
            )
    if not allow_san_changes:
        old_sans, new_sans = subject_alt_names(old), subject_alt_names(new)
        if not old_sans <= new_sans:
            raise SslReloadError(
                "Keystore SubjectAltNames do not match:  "
                f"existing={{alias={_ALIAS}, SAN={_san_text(old_sans)}}}, "
                f"new={{alias={_ALIAS}, SAN={_san_text(new_sans)}}}"
            )


@dataclass(frozen=True, slots=True)
class _Built:
    fingerprint: tuple[Any, ...]
    tls: ServerTls


def _fingerprint(settings: TlsSettings) -> tuple[Any, ...]:
    values = tuple(sorted((k, repr(s.value)) for k, s in settings.values.items()))
    return values, settings.store_files()


class ListenerTlsReloader:
    """Validates and applies key / trust store changes of every TLS listener.

    ``validate`` builds the new context (blocking: call it off the event loop where it
    can matter); the context is kept, so ``reconfigure`` with the same settings and
    unchanged files only switches to it."""

    def __init__(self, listeners: Mapping[str, ListenerSecurity]) -> None:
        self._listeners = {
            name: sec for name, sec in listeners.items() if sec.ssl_context is not None
        }
        self._current: dict[str, _Built] = {}
        self._candidates: dict[str, _Built] = {}

    def start(self, static: BrokerConfig, effective: BrokerConfig) -> None:
        """Record the contexts built from ``static`` and apply what the dynamic layers of
        ``effective`` change (broker start-up; blocking). Raises :class:`ConfigError`."""
        for name, security in self._listeners.items():
            settings = TlsSettings.for_listener(static, name)
            assert security.ssl_context is not None and security.certificate is not None
            self._current[name] = _Built(
                _fingerprint(settings),
                ServerTls(security.ssl_context, security.certificate, security.has_truststore),
            )
        try:
            self._check(effective, files_only=False)
        except SslReloadError as exc:
            raise ConfigError("listener.name", f"dynamic TLS settings: {exc}") from None
        self.reconfigure(effective, effective)

    # -- validation ----------------------------------------------------------------------

    def _check(self, new: BrokerConfig, files_only: bool) -> list[str]:
        """Build and check a new context for every listener whose settings changed (or,
        ``files_only``, whose settings are the same but whose store files changed); the
        names of those listeners."""
        changed = []
        for name in self._listeners:
            settings = TlsSettings.for_listener(new, name)
            fingerprint = _fingerprint(settings)
            current = self._current[name].fingerprint
            same_settings = fingerprint[0] == current[0]
            if files_only != same_settings or (files_only and fingerprint[1] == current[1]):
                continue
            candidate = self._candidates.get(name)
            if candidate is None or candidate.fingerprint != fingerprint:
                candidate = _Built(fingerprint, self._build(settings, self._current[name].tls))
                self._candidates[name] = candidate
            changed.append(name)
        return changed

    @staticmethod
    def _build(settings: TlsSettings, current: ServerTls) -> ServerTls:
        try:
            new = build_server_tls(settings)
        except ConfigError as exc:
            raise SslReloadError(f"{exc.key}: {exc.reason}") from None
        if new.has_truststore and not current.has_truststore:
            raise SslReloadError(
                "Cannot add SSL truststore to an existing listener for which no truststore "
                "was configured."
            )
        allow_dn = settings["ssl.allow.dn.changes"].value is True
        allow_san = settings["ssl.allow.san.changes"].value is True
        ensure_compatible(current.certificate, new.certificate, allow_dn, allow_san)
        return new

    def validate(self, old: BrokerConfig, new: BrokerConfig) -> str | None:
        """Kafka's message for a key or trust store change SslFactory refuses, or None."""
        try:
            self._check(new, files_only=False)
        except SslReloadError as exc:
            return message(exc)
        return None

    # -- applying ------------------------------------------------------------------------

    def reconfigure(self, old: BrokerConfig, new: BrokerConfig, files_only: bool = False) -> None:
        for name in self._check(new, files_only):
            built = self._candidates.pop(name)
            self._current[name] = built
            self._listeners[name].activate(built.tls)
            log.info(
                "listener %s: TLS key store reloaded (certificate %s, serial %x)",
                name, _dn(built.tls.certificate), built.tls.certificate.serial_number,
            )  # fmt: skip

    def reload_files(self, config: BrokerConfig) -> str | None:
        """An update that leaves the settings as they are: reload the store files that
        changed on disk (blocking). Returns Kafka's message when the new files are refused."""
        try:
            self.reconfigure(config, config, files_only=True)
        except SslReloadError as exc:
            return message(exc)
        return None


def message(exc: SslReloadError) -> str:
    """How Kafka reports it in AlterConfigs / IncrementalAlterConfigs."""
    return invalid_dynamic(
        "Validation of dynamic config update of SSLFactory failed: "
        f"org.apache.kafka.common.config.ConfigException: {exc}"
    )


def sni_switch(security: ListenerSecurity) -> Any:
    """The server-name callback of a listener's bound context (see the module doc)."""

    def select(ssl_object: Any, _server_name: str | None, context: ssl.SSLContext) -> None:
        active = security.active_context
        if active is not None and active is not context:
            ssl_object.context = active

    return select
