"""TLS for SSL and SASL_SSL listeners: Kafka's ``ssl.*`` settings → an OpenSSL context.

Key stores: ``PEM`` (``ssl.keystore.certificate.chain`` + ``ssl.keystore.key`` inline, or
a PEM file at ``ssl.keystore.location`` holding key and chain; ``ssl.key.password``
decrypts the key) and ``PKCS12`` (``ssl.keystore.location`` + ``ssl.keystore.password``).
JKS is Java's own format and is refused with a conversion hint. Trust stores the same
way (``ssl.truststore.certificates`` / ``.location``). ``ssl.client.auth`` maps to
OpenSSL's verify modes; ``ssl.enabled.protocols`` allows TLSv1.2 and TLSv1.3 only.

Building a context reads files and decrypts keys: call :func:`build_server_context`
before the event loop runs or through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from broker.config.broker_config import BrokerConfig, ConfigError
from broker.security.cipher_names import IANA_TO_OPENSSL, TLS13_SUITES
from broker.security.listener_config import listener_value
from broker.security.principal import SslPrincipalMapper

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_INSECURE = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
_VERIFY = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_JKS_MAGIC = b"\xfe\xed\xfe\xed"
_JKS_HINT = (
    "JKS stores are not supported; convert with `keytool -importkeystore -srckeystore "
    "FILE.jks -destkeystore FILE.p12 -deststoretype PKCS12` (PKCS12) or use PEM"
)


@dataclass(frozen=True, slots=True)
class Setting:
    """One resolved ``ssl.*`` value and the key (maybe listener-prefixed) it came from."""

    key: str
    value: object

    def text(self) -> str | None:
        return self.value if isinstance(self.value, str) and self.value != "" else None


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """A listener's ``ssl.*`` settings after ``listener.name.<l>.`` overrides."""

    listener: str
    values: dict[str, Setting]

    @classmethod
    def for_listener(cls, config: BrokerConfig, listener: str) -> TlsSettings:
        names = (
            "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password",
            "ssl.key.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
            "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password",
            "ssl.truststore.certificates", "ssl.client.auth", "ssl.enabled.protocols",
            "ssl.cipher.suites", "ssl.protocol", "ssl.principal.mapping.rules",
            "ssl.allow.dn.changes", "ssl.allow.san.changes",
        )  # fmt: skip
        return cls(listener, {n: Setting(*listener_value(config, listener, n)) for n in names})

    def __getitem__(self, name: str) -> Setting:
        return self.values[name]

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.values[name].key, f"{reason} (listener {self.listener})")

    @property
    def client_auth(self) -> str:
        return str(self["ssl.client.auth"].value)

    def store_files(self) -> tuple[tuple[str, int, int], ...]:
        """(path, mtime ns, size) of the key and trust store files: a reload with unchanged
        settings rebuilds the context only when one of them changed (as Kafka does)."""
        out = []
        for name in ("ssl.keystore.location", "ssl.truststore.location"):
            path = self[name].text()
            if path is not None:
                try:
                    st = os.stat(path)
                except OSError:
                    out.append((path, -1, -1))
                else:
                    out.append((path, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def principal_mapper(self) -> SslPrincipalMapper:
        rules = self["ssl.principal.mapping.rules"]
        try:
            return SslPrincipalMapper(rules.text())
        except ValueError as exc:
            raise self.error("ssl.principal.mapping.rules", str(exc)) from None


@dataclass(frozen=True, slots=True)
class ServerTls:
    """A listener's built TLS context and what a key store reload is checked against."""

    context: ssl.SSLContext
    certificate: x509.Certificate  # the key store's own (leaf) certificate
    has_truststore: bool


def build_server_context(settings: TlsSettings) -> ssl.SSLContext:
    """An SSLContext for a listener; :class:`ConfigError` names the offending key."""
    return build_server_tls(settings).context


def build_server_tls(settings: TlsSettings) -> ServerTls:
    """The listener's context with its key store certificate (blocking: reads files)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    low, high = _protocol_range(settings)
    low, high = _apply_cipher_suites(ctx, settings, low, high)
    ctx.minimum_version, ctx.maximum_version = low, high
    chain_pem, key_pem = _load_keystore(settings)
    _load_cert_chain(ctx, chain_pem, key_pem, settings)
    ctx.verify_mode = _VERIFY[settings.client_auth]
    trusted = _load_truststore(settings)
    if trusted is not None:
        try:
            ctx.load_verify_locations(cadata=trusted)
        except ssl.SSLError as exc:
            raise settings.error(_trust_key(settings), f"unusable certificates: {exc}") from None
    elif ctx.verify_mode != ssl.CERT_NONE:
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # as the JVM's default trust store
    leaf = x509.load_pem_x509_certificate(chain_pem)
    return ServerTls(ctx, leaf, trusted is not None)


def _protocol_range(settings: TlsSettings) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    enabled = settings["ssl.enabled.protocols"].value
    assert isinstance(enabled, tuple)
    versions = []
    for name in enabled:
        if name in _INSECURE:
            raise settings.error(
                "ssl.enabled.protocols", f"{name} is insecure and not supported (TLSv1.2, TLSv1.3)"
            )
        if name not in _VERSIONS:
            raise settings.error(
                "ssl.enabled.protocols", f"unknown protocol {name!r} (TLSv1.2, TLSv1.3)"
            )
        versions.append(_VERSIONS[name])
    if not versions:
        raise settings.error("ssl.enabled.protocols", "no protocol enabled")
    low, high = min(versions), max(versions)
    # ssl.protocol=TLSv1.2 makes the context a TLS 1.2 one, whatever else is enabled.
    if settings["ssl.protocol"].value == "TLSv1.2":
        high = ssl.TLSVersion.TLSv1_2
    if low > high:
        raise settings.error("ssl.protocol", "TLSv1.2 leaves none of ssl.enabled.protocols")
    return low, high


def _apply_cipher_suites(
    ctx: ssl.SSLContext, settings: TlsSettings, low: ssl.TLSVersion, high: ssl.TLSVersion
) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    suites = settings["ssl.cipher.suites"].value
    assert isinstance(suites, tuple)
    if not suites:
        return low, high
    tls12: list[str] = []
    tls13: list[str] = []
    openssl_names = {name for name in IANA_TO_OPENSSL.values()}
    for name in suites:
        if name in TLS13_SUITES:
            tls13.append(name)
        elif name in IANA_TO_OPENSSL:
            tls12.append(IANA_TO_OPENSSL[name])
        elif name in openssl_names:
            tls12.append(name)
        else:
            raise settings.error("ssl.cipher.suites", f"unknown cipher suite {name!r}")
    if tls13 and set(tls13) != TLS13_SUITES:
        raise settings.error(
            "ssl.cipher.suites",
            "TLS 1.3 suites can only be enabled all together "
            f"({', '.join(sorted(TLS13_SUITES))})",
        )
    # A protocol version left without suites cannot be negotiated, as with Java.
    if not tls13:
        high = min(high, ssl.TLSVersion.TLSv1_2)
    if not tls12:
        low = max(low, ssl.TLSVersion.TLSv1_3)
    else:
        try:
            ctx.set_ciphers(":".join(tls12))
        except ssl.SSLError:
            raise settings.error(
                "ssl.cipher.suites", "none of the TLS 1.2 suites is available"
            ) from None
    if low > high:
        raise settings.error("ssl.cipher.suites", "no suite for any enabled protocol")
    return low, high


# --- key store ----------------------------------------------------------------------------


def _read(settings: TlsSettings, name: str) -> bytes:
    path = settings[name].text()
    assert path is not None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise settings.error(name, f"cannot read {path}: {exc.strerror or exc}") from None


def _load_keystore(settings: TlsSettings) -> tuple[bytes, bytes]:
    """(certificate chain PEM, unencrypted PKCS#8 key PEM) of the listener."""
    store_type = str(settings["ssl.keystore.type"].value).upper()
    location = settings["ssl.keystore.location"].text()
    chain = settings["ssl.keystore.certificate.chain"].text()
    key = settings["ssl.keystore.key"].text()
    store_password = settings["ssl.keystore.password"].text()
    key_password = settings["ssl.key.password"].text()
    if chain is not None or key is not None:
        if store_type != "PEM":
            raise settings.error(
                "ssl.keystore.certificate.chain" if chain is not None else "ssl.keystore.key",
                "PEM certificates and keys need ssl.keystore.type=PEM",
            )
        if chain is None or key is None:
            raise settings.error(
                "ssl.keystore.key" if key is None else "ssl.keystore.certificate.chain",
                "ssl.keystore.certificate.chain and ssl.keystore.key go together",
            )
        if location is not None:
            raise settings.error(
                "ssl.keystore.location", "cannot be combined with an inline PEM key store"
            )
        if store_password is not None:
            raise settings.error(
                "ssl.keystore.password", "a PEM key store takes only ssl.key.password"
            )
        return _pem_store(settings, chain.encode(), key.encode(), key_password)
    if location is None:
        raise settings.error(
            "ssl.keystore.location",
            "an SSL listener needs a key store: set ssl.keystore.location, or "
            "ssl.keystore.type=PEM with ssl.keystore.certificate.chain and ssl.keystore.key",
        )
    if store_type == "JKS":
        raise settings.error("ssl.keystore.type", _JKS_HINT)
    data = _read(settings, "ssl.keystore.location")
    if data.startswith(_JKS_MAGIC):
        raise settings.error("ssl.keystore.location", _JKS_HINT)
    if store_type == "PEM":
        if store_password is not None:
            raise settings.error(
                "ssl.keystore.password", "a PEM key store takes only ssl.key.password"
            )
        return _pem_store(settings, data, data, key_password)
    if store_type == "PKCS12":
        return _pkcs12_store(settings, data, store_password, key_password)
    raise settings.error("ssl.keystore.type", f"unknown type {store_type} (PEM, PKCS12)")


def _pem_store(
    settings: TlsSettings, chain: bytes, key: bytes, password: str | None
) -> tuple[bytes, bytes]:
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as exc:
        raise settings.error(_key_store_key(settings), f"no usable certificate: {exc}") from None
    try:
        private = serialization.load_pem_private_key(
            key, password.encode() if password is not None else None
        )
    except (ValueError, TypeError) as exc:
        reason = "wrong ssl.key.password or unreadable key" if password else str(exc)
        raise settings.error(_key_store_key(settings), f"cannot load the key: {reason}") from None
    return _chain_pem(certs), _key_pem(private)


def _pkcs12_store(
    settings: TlsSettings, data: bytes, store_password: str | None, key_password: str | None
) -> tuple[bytes, bytes]:
    last: Exception | None = None
    for password in dict.fromkeys((store_password, key_password)):
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(
                data, password.encode() if password is not None else None
            )
        except (ValueError, TypeError) as exc:
            last = exc
            continue
        if key is None or cert is None:
            raise settings.error("ssl.keystore.location", "the PKCS12 store holds no private key")
        return _chain_pem([cert, *extra]), _key_pem(key)
    raise settings.error(
        "ssl.keystore.password", f"cannot open the PKCS12 key store: {last}"
    ) from None


def _key_store_key(settings: TlsSettings) -> str:
    if settings["ssl.keystore.location"].text() is not None:
        return "ssl.keystore.location"
    return "ssl.keystore.key"


def _chain_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_cert_chain(
    ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes, settings: TlsSettings
) -> None:
    """OpenSSL loads keys from files only: hand them over through an unnamed memory file."""
    fd = os.memfd_create("josef-keystore", os.MFD_CLOEXEC)
    try:
        os.write(fd, key_pem + chain_pem)
        path = f"/proc/self/fd/{fd}"
        try:
            ctx.load_cert_chain(path, path)
        except ssl.SSLError as exc:
            raise settings.error(_key_store_key(settings), f"unusable key store: {exc}") from None
    finally:
        os.close(fd)


# --- trust store ----------------------------------------------------------------------------


def _trust_key(settings: TlsSettings) -> str:
    if settings["ssl.truststore.location"].text() is not None:
        return "ssl.truststore.location"
    return "ssl.truststore.certificates"


def _load_truststore(settings: TlsSettings) -> str | None:
    """PEM text of the trusted certificates, or None when no trust store is set."""
    store_type = str(settings["ssl.truststore.type"].value).upper()
    location = settings["ssl.truststore.location"].text()
    inline = settings["ssl.truststore.certificates"].text()
    if inline is not None:
        if store_type != "PEM":
            raise settings.error(
                "ssl.truststore.certificates", "PEM certificates need ssl.truststore.type=PEM"
            )
        if location is not None:
            raise settings.error(
                "ssl.truststore.location", "cannot be combined with ssl.truststore.certificates"
            )
        return _trusted_pem(settings, inline.encode())
    if location is None:
        return None
    if store_type == "JKS":
        raise settings.error("ssl.truststore.type", _JKS_HINT)
    data = _read(settings, "ssl.truststore.location")
    if data.startswith(_JKS_MAGIC):
        raise settings.error("ssl.truststore.location", _JKS_HINT)
    if store_type == "PEM":
        return _trusted_pem(settings, data)
    if store_type == "PKCS12":
        password = settings["ssl.truststore.password"].text()
        try:
            store = pkcs12.load_pkcs12(data, password.encode() if password is not None else None)
        except (ValueError, TypeError) as exc:
            raise settings.error(
                "ssl.truststore.password", f"cannot open the PKCS12 trust store: {exc}"
            ) from None
        certs = [c.certificate for c in store.additional_certs]
        if store.cert is not None:
            certs.append(store.cert.certificate)
        if not certs:
            raise settings.error("ssl.truststore.location", "the trust store holds no certificate")
        return _chain_pem(certs).decode()
    raise settings.error("ssl.truststore.type", f"unknown type {store_type} (PEM, PKCS12)")


def _trusted_pem(settings: TlsSettings, data: bytes) -> str:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise settings.error(_trust_key(settings), f"no usable certificate: {exc}") from None
    return _chain_pem(certs).decode()


def truststore_pem(settings: TlsSettings) -> str | None:
    """PEM text of the listener's trusted certificates, None without a trust store
    (blocking: reads files)."""
    return _load_truststore(settings)
