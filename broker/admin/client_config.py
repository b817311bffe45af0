"""``--command-config FILE``: a Kafka client properties file for the admin commands.

Understood keys are Kafka's client names (``bootstrap.servers``, ``client.id``,
``security.protocol``, ``ssl.*``, ``sasl.mechanism``, ``sasl.jaas.config``) plus
librdkafka's spellings of the same things (``ssl.ca.location``,
``ssl.certificate.location``, ``ssl.key.location``, ``sasl.username``,
``sasl.password``), so one file serves Kafka's tools and kcat alike. Any other key is
refused with :class:`ClientConfigError`, as is a value that cannot be used.
Key and trust stores: PEM (files or inline) and PKCS12; JKS is refused.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from broker.admin.sasl_client import SUPPORTED_MECHANISMS, SaslClient, sasl_client
from broker.config.properties import ConfigError, parse_properties
from broker.security.jaas import PLAIN_MODULE, SCRAM_MODULE, parse_jaas_config

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KNOWN_KEYS: Final = frozenset(
    {
        "bootstrap.servers",
        "client.id",
        "request.timeout.ms",
        "security.protocol",
        "ssl.truststore.location",
        "ssl.truststore.type",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
        "ssl.keystore.location",
        "ssl.keystore.type",
        "ssl.keystore.password",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.key.password",
        "ssl.endpoint.identification.algorithm",
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "sasl.mechanism",
        "sasl.jaas.config",
        "sasl.username",
        "sasl.password",
    }
)
_JKS_MAGIC: Final = b"\xfe\xed\xfe\xed"


class ClientConfigError(Exception):
    """An unusable ``--command-config`` file; the message names the key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """How an admin connection protects and authenticates itself."""

    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    server_hostname_check: bool = True
    sasl_mechanism: str | None = None
    sasl_username: str = ""
    sasl_password: str = ""

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def sasl(self) -> SaslClient:
        assert self.sasl_mechanism is not None
        return sasl_client(self.sasl_mechanism, self.sasl_username, self.sasl_password)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A parsed ``--command-config`` file."""

    bootstrap_servers: str | None = None
    client_id: str | None = None
    request_timeout_s: float | None = None
    security: ClientSecurity = ClientSecurity()


def load_client_config(path: str | os.PathLike[str]) -> ClientConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        props = parse_properties(text, str(path))
    except ConfigError as exc:
        raise ClientConfigError(exc.key, exc.reason) from None
    return client_config(props)


def client_config(props: dict[str, str]) -> ClientConfig:
    unknown = sorted(k for k in props if k not in KNOWN_KEYS)
    if unknown:
        raise ClientConfigError(
            unknown[0],
            f"unknown client property (understood: {', '.join(sorted(KNOWN_KEYS))})",
        )
    timeout: float | None = None
    if "request.timeout.ms" in props:
        try:
            timeout = int(props["request.timeout.ms"]) / 1000
        except ValueError:
            raise ClientConfigError("request.timeout.ms", "not an integer") from None
        if timeout <= 0:
            raise ClientConfigError("request.timeout.ms", "must be positive")
    return ClientConfig(
        bootstrap_servers=props.get("bootstrap.servers") or None,
        client_id=props.get("client.id") or None,
        request_timeout_s=timeout,
        security=_security(props),
    )


def _security(props: dict[str, str]) -> ClientSecurity:
    protocol = props.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol not in PROTOCOLS:
        raise ClientConfigError("security.protocol", f"{protocol!r} is not one of {PROTOCOLS}")
    tls = protocol in ("SSL", "SASL_SSL")
    sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    if not tls:
        stray = sorted(k for k in props if k.startswith("ssl."))
        if stray:
            raise ClientConfigError(stray[0], "needs security.protocol SSL or SASL_SSL")
    if not sasl:
        stray = sorted(k for k in props if k.startswith("sasl."))
        if stray:
            raise ClientConfigError(stray[0], "needs security.protocol SASL_PLAINTEXT or SASL_SSL")
    context = _ssl_context(props) if tls else None
    algorithm = props.get("ssl.endpoint.identification.algorithm", "https").strip().lower()
    if algorithm not in ("", "https", "none"):
        raise ClientConfigError("ssl.endpoint.identification.algorithm", "must be https or empty")
    check_host = algorithm == "https"
    if context is not None:
        context.check_hostname = check_host
    if not sasl:
        return ClientSecurity(protocol, context, check_host)
    mechanism = props.get("sasl.mechanism", "GSSAPI").strip().upper()
    if mechanism not in SUPPORTED_MECHANISMS:
        raise ClientConfigError(
            "sasl.mechanism", f"{mechanism} is not supported ({', '.join(SUPPORTED_MECHANISMS)})"
        )
    user, password = _credentials(props, mechanism)
    return ClientSecurity(protocol, context, check_host, mechanism, user, password)


def _credentials(props: dict[str, str], mechanism: str) -> tuple[str, str]:
    if "sasl.jaas.config" in props:
        try:
            entries = parse_jaas_config(props["sasl.jaas.config"])
        except ValueError as exc:
            raise ClientConfigError("sasl.jaas.config", str(exc)) from None
        module = PLAIN_MODULE if mechanism == "PLAIN" else SCRAM_MODULE
        entry = next((e for e in entries if e.login_module == module), None)
        if entry is None:
            raise ClientConfigError(
                "sasl.jaas.config", f"sasl.mechanism={mechanism} needs a {module} entry"
            )
        user = entry.options.get("username")
        password = entry.options.get("password")
    else:
        user = props.get("sasl.username")
        password = props.get("sasl.password")
    if not user or password is None:
        raise ClientConfigError(
            "sasl.jaas.config",
            'give username="..." password="..." (or sasl.username and sasl.password)',
        )
    return user, password


# --- TLS --------------------------------------------------------------------------------


def _read(props: dict[str, str], key: str) -> bytes:
    path = props[key]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ClientConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith(_JKS_MAGIC):
        raise ClientConfigError(key, "JKS stores are not supported; use PKCS12 or PEM")
    return data


def _store_type(props: dict[str, str], key: str, default: str) -> str:
    value = props.get(key, default).strip().upper()
    if value == "JKS":
        raise ClientConfigError(key, "JKS stores are not supported; use PKCS12 or PEM")
    if value not in ("PEM", "PKCS12"):
        raise ClientConfigError(key, f"unknown type {value} (PEM, PKCS12)")
    return value


def _pem_certs(key: str, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ClientConfigError(key, f"no usable certificate: {exc}") from None


def _chain_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _trusted(props: dict[str, str]) -> bytes | None:
    if "ssl.ca.location" in props:
        return _chain_pem(_pem_certs("ssl.ca.location", _read(props, "ssl.ca.location")))
    if "ssl.truststore.certificates" in props:
        data = props["ssl.truststore.certificates"].encode()
        return _chain_pem(_pem_certs("ssl.truststore.certificates", data))
    if "ssl.truststore.location" not in props:
        return None
    kind = _store_type(props, "ssl.truststore.type", "PKCS12")
    data = _read(props, "ssl.truststore.location")
    if kind == "PEM" or data.lstrip().startswith(b"-----BEGIN"):
        return _chain_pem(_pem_certs("ssl.truststore.location", data))
    password = props.get("ssl.truststore.password")
    try:
        store = pkcs12.load_pkcs12(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise ClientConfigError("ssl.truststore.password", f"cannot open: {exc}") from None
    certs = [c.certificate for c in store.additional_certs]
    if store.cert is not None:
        certs.append(store.cert.certificate)
    if not certs:
        raise ClientConfigError("ssl.truststore.location", "holds no certificate")
    return _chain_pem(certs)


def _private_key(key: str, data: bytes, password: str | None) -> bytes:
    try:
        private = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise ClientConfigError(key, f"cannot load the key: {exc}") from None
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _keystore(props: dict[str, str]) -> tuple[bytes, bytes] | None:
    """(chain PEM, unencrypted key PEM) for mutual TLS, or None."""
    key_password = props.get("ssl.key.password")
    if "ssl.certificate.location" in props or "ssl.key.location" in props:
        if "ssl.certificate.location" not in props or "ssl.key.location" not in props:
            raise ClientConfigError(
                "ssl.key.location", "ssl.certificate.location and ssl.key.location go together"
            )
        chain = _pem_certs("ssl.certificate.location", _read(props, "ssl.certificate.location"))
        key = _private_key("ssl.key.location", _read(props, "ssl.key.location"), key_password)
        return _chain_pem(chain), key
    if "ssl.keystore.certificate.chain" in props or "ssl.keystore.key" in props:
        chain_text = props.get("ssl.keystore.certificate.chain")
        key_text = props.get("ssl.keystore.key")
        if chain_text is None or key_text is None:
            raise ClientConfigError(
                "ssl.keystore.key",
                "ssl.keystore.certificate.chain and ssl.keystore.key go together",
            )
        chain = _pem_certs("ssl.keystore.certificate.chain", chain_text.encode())
        return _chain_pem(chain), _private_key("ssl.keystore.key", key_text.encode(), key_password)
    if "ssl.keystore.location" not in props:
        return None
    kind = _store_type(props, "ssl.keystore.type", "PKCS12")
    data = _read(props, "ssl.keystore.location")
    if kind == "PEM":
        chain = _pem_certs("ssl.keystore.location", data)
        return _chain_pem(chain), _private_key("ssl.keystore.location", data, key_password)
    last: Exception | None = None
    for password in dict.fromkeys((props.get("ssl.keystore.password"), key_password)):
        try:
            private, cert, extra = pkcs12.load_key_and_certificates(
                data, password.encode() if password else None
            )
        except (ValueError, TypeError) as exc:
            last = exc
            continue
        if private is None or cert is None:
            raise ClientConfigError("ssl.keystore.location", "holds no private key")
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _chain_pem([cert, *extra]), pem
    raise ClientConfigError("ssl.keystore.password", f"cannot open the PKCS12 store: {last}")


def _ssl_context(props: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    trusted = _trusted(props)
    if trusted is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        try:
            ctx.load_verify_locations(cadata=trusted.decode())
        except ssl.SSLError as exc:
            raise ClientConfigError("ssl.truststore.location", f"unusable: {exc}") from None
    store = _keystore(props)
    if store is not None:
        chain, key = store
        # OpenSSL loads keys from files only: an unnamed memory file keeps them off disk.
        fd = os.memfd_create("josef-client-keystore", os.MFD_CLOEXEC)
        try:
            os.write(fd, key + chain)
            path = f"/proc/self/fd/{fd}"
            try:
                ctx.load_cert_chain(path, path)
            except ssl.SSLError as exc:
                raise ClientConfigError("ssl.keystore.location", f"unusable: {exc}") from None
        finally:
            os.close(fd)
    return ctx
