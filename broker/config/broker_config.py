"""Broker configuration: Kafka's ``server.properties`` names, defaults and checks.

:data:`BROKER_CONFIG_DEFS` is the one table of broker keys (type, default,
validator, importance, documentation); :class:`BrokerConfig` holds the parsed
values as typed attributes (the key with ``.`` replaced by ``_``), and
DescribeConfigs for the BROKER resource and the README table are generated
from the table.

Keys that Kafka resolves through a chain of synonyms hold the *effective*
value in their attribute: ``log_retention_ms`` (ms > minutes > hours, negative
= -1 unlimited), ``log_roll_ms``, ``log_roll_jitter_ms``,
``log_flush_interval_ms`` (falls back to ``log.flush.scheduler.interval.ms``),
``zookeeper_connection_timeout_ms`` (falls back to the session timeout),
``broker_id``/``node_id``, ``listeners``/``advertised_listeners`` (parsed),
``log_dirs`` (``log.dirs`` or else ``log.dir``). The raw parsed values of every
key are in :attr:`BrokerConfig.values`.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.config.config_defs import BROKER_CONFIG_DEFS, BROKER_CONFIGS
from broker.config.http_listeners import HttpEndpoint, parse_http_listeners
from broker.config.properties import ConfigError, parse_properties
from broker.log_setup import parse_log_levels
from storage.log_config import (
    TOPIC_CONFIG_DEFS,
    ConfigEntry,
    ConfigValue,
    LogConfig,
    describe,
    render_markdown_table,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BROKER_CONFIGS",
    "BROKER_CONFIG_DEFS",
    "BrokerConfig",
    "ConfigError",
    "Listener",
    "describe_broker",
    "describe_topic",
    "generate_cluster_id",
    "is_known_key",
    "load_config",
    "parse_properties",
    "render_config_table",
]


# --- listeners ----------------------------------------------------------------

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_LISTENER = re.compile(r"^([A-Za-z0-9_-]+)://(\[[0-9A-Za-z%.:]*\]|[^:/\[\]]*):(-?\d+)$")


@dataclass(frozen=True, slots=True)
class Listener:
    """One ``NAME://host:port`` endpoint; an empty host means all interfaces."""

    name: str
    security_protocol: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"

    @property
    def all_interfaces(self) -> bool:
        return self.host in ("", "0.0.0.0", "::")


def parse_protocol_map(raw: str, key: str = "listener.security.protocol.map") -> dict[str, str]:
    """``NAME:PROTOCOL,...`` → {NAME: PROTOCOL} (names upper-cased)."""
    result: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, protocol = item.partition(":")
        name, protocol = name.strip().upper(), protocol.strip().upper()
        if not sep or not name or not protocol:
            raise ConfigError(key, f"{item!r} is not NAME:PROTOCOL")
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                key,
                f"unknown security protocol {protocol!r} (one of {', '.join(SECURITY_PROTOCOLS)})",
            )
        if name in result:
            raise ConfigError(key, f"listener name {name} is mapped twice")
        result[name] = protocol
    return result


def parse_listeners(raw: str, key: str, protocol_map: Mapping[str, str]) -> tuple[Listener, ...]:
    """Parse a comma-separated listener list; names must be unique and mapped."""
    listeners: list[Listener] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        match = _LISTENER.match(item)
        if match is None:
            raise ConfigError(key, f"{item!r} is not NAME://host:port")
        name = match.group(1).upper()
        host = match.group(2)
        if host.startswith("["):
            host = host[1:-1]
        port = int(match.group(3))
        if not 0 <= port <= 65535:
            raise ConfigError(key, f"port {port} of {item!r} is not in 0..65535")
        protocol = protocol_map.get(name)
        if protocol is None:
            raise ConfigError(
                key, f"listener name {name} has no entry in listener.security.protocol.map"
            )
        if any(existing.name == name for existing in listeners):
            raise ConfigError(key, f"listener name {name} appears more than once")
        listeners.append(Listener(name, protocol, host, port))
    if not listeners:
        raise ConfigError(key, "at least one listener is required")
    return tuple(listeners)


# Keys whose configuration is valid Kafka but has a per-listener or per-mechanism
# prefix; they are kept in ``BrokerConfig.unknown`` without a warning.
_KNOWN_PREFIXES = ("listener.name.",)
# Kafka's dynamic-only broker keys (QuotaConfigs.brokerQuotaConfigs): no static meaning.
_DYNAMIC_ONLY = frozenset(
    {
        "leader.replication.throttled.rate",
        "follower.replication.throttled.rate",
        "replica.alter.log.dirs.io.max.bytes.per.second",
    }
)
_warned_unknown: set[str] = set()


def is_known_key(key: str) -> bool:
    """True for a key of the broker table or of a prefixed family Kafka allows."""
    return key in BROKER_CONFIGS or key.startswith(_KNOWN_PREFIXES)


def _warn_unknown(key: str) -> None:
    if key in _warned_unknown:
        return
    _warned_unknown.add(key)
    logger.warning("unknown configuration key %s ignored", key)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The broker's configuration, one typed attribute per key of the table.

    Build it with :meth:`from_properties` or :func:`load_config`, never
    field by field. ``values`` holds every key's parsed value before
    resolution, ``originals`` the known keys that were set explicitly (raw
    strings), ``unknown`` the keys not in the table.
    """

    broker_id: int
    node_id: int
    broker_id_generation_enable: bool
    reserved_broker_max_id: int
    broker_rack: str | None
    josef_cluster_id: str | None
    zookeeper_connect: str | None
    zookeeper_session_timeout_ms: int
    zookeeper_connection_timeout_ms: int
    zookeeper_max_in_flight_requests: int
    zookeeper_set_acl: bool
    listeners: tuple[Listener, ...]
    advertised_listeners: tuple[Listener, ...]
    listener_security_protocol_map: dict[str, str]
    inter_broker_listener_name: str
    security_inter_broker_protocol: str
    num_network_threads: int
    num_io_threads: int
    background_threads: int
    queued_max_requests: int
    queued_max_request_bytes: int
    socket_send_buffer_bytes: int
    socket_receive_buffer_bytes: int
    socket_request_max_bytes: int
    socket_listen_backlog_size: int
    connections_max_idle_ms: int
    max_connections: int
    max_connections_per_ip: int
    message_max_bytes: int
    fetch_max_bytes: int
    max_incremental_fetch_session_cache_slots: int
    log_dir: str
    log_dirs: tuple[Path, ...]
    num_partitions: int
    default_replication_factor: int
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    log_segment_bytes: int
    log_roll_ms: int
    log_roll_hours: int
    log_roll_jitter_ms: int
    log_roll_jitter_hours: int
    log_retention_ms: int
    log_retention_minutes: int | None
    log_retention_hours: int
    log_retention_bytes: int
    log_retention_check_interval_ms: int
    log_cleanup_policy: tuple[str, ...]
    log_segment_delete_delay_ms: int
    log_flush_interval_messages: int
    log_flush_interval_ms: int
    log_flush_scheduler_interval_ms: int
    log_flush_offset_checkpoint_interval_ms: int
    log_flush_start_offset_checkpoint_interval_ms: int
    log_index_interval_bytes: int
    log_index_size_max_bytes: int
    log_preallocate: bool
    log_message_timestamp_type: str
    log_message_timestamp_difference_max_ms: int
    log_message_timestamp_before_max_ms: int
    log_message_timestamp_after_max_ms: int
    log_message_downconversion_enable: bool
    log_message_format_version: str
    log_local_retention_bytes: int
    log_local_retention_ms: int
    remote_log_storage_system_enable: bool
    num_recovery_threads_per_data_dir: int
    compression_type: str
    compression_gzip_level: int
    compression_lz4_level: int
    compression_zstd_level: int
    min_insync_replicas: int
    unclean_leader_election_enable: bool
    log_cleaner_enable: bool
    log_cleaner_threads: int
    log_cleaner_io_max_bytes_per_second: float
    log_cleaner_dedupe_buffer_size: int
    log_cleaner_io_buffer_size: int
    log_cleaner_io_buffer_load_factor: float
    log_cleaner_backoff_ms: int
    log_cleaner_min_cleanable_ratio: float
    log_cleaner_delete_retention_ms: int
    log_cleaner_min_compaction_lag_ms: int
    log_cleaner_max_compaction_lag_ms: int
    num_replica_fetchers: int
    replica_lag_time_max_ms: int
    replica_fetch_max_bytes: int
    replica_fetch_min_bytes: int
    replica_fetch_wait_max_ms: int
    replica_fetch_backoff_ms: int
    replica_fetch_response_max_bytes: int
    replica_selector_class: str | None
    replica_socket_timeout_ms: int
    replica_socket_receive_buffer_bytes: int
    replica_high_watermark_checkpoint_interval_ms: int
    controller_socket_timeout_ms: int
    auto_leader_rebalance_enable: bool
    leader_imbalance_check_interval_seconds: int
    leader_imbalance_per_broker_percentage: int
    controlled_shutdown_enable: bool
    controlled_shutdown_max_retries: int
    controlled_shutdown_retry_backoff_ms: int
    group_initial_rebalance_delay_ms: int
    group_min_session_timeout_ms: int
    group_max_session_timeout_ms: int
    group_max_size: int
    group_consumer_session_timeout_ms: int
    group_consumer_min_session_timeout_ms: int
    group_consumer_max_session_timeout_ms: int
    group_consumer_heartbeat_interval_ms: int
    group_consumer_min_heartbeat_interval_ms: int
    group_consumer_max_heartbeat_interval_ms: int
    group_consumer_max_size: int
    group_consumer_assignors: tuple[str, ...]
    offsets_topic_num_partitions: int
    offsets_topic_replication_factor: int
    offsets_topic_segment_bytes: int
    offsets_retention_minutes: int
    offsets_retention_check_interval_ms: int
    offsets_commit_timeout_ms: int
    offsets_load_buffer_size: int
    offset_metadata_max_bytes: int
    transaction_state_log_num_partitions: int
    transaction_state_log_replication_factor: int
    transaction_state_log_min_isr: int
    transaction_state_log_segment_bytes: int
    transaction_state_log_load_buffer_size: int
    transaction_max_timeout_ms: int
    transactional_id_expiration_ms: int
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int
    transaction_remove_expired_transaction_cleanup_interval_ms: int
    transaction_partition_verification_enable: bool
    producer_id_expiration_ms: int
    producer_id_expiration_check_interval_ms: int
    ssl_keystore_type: str
    ssl_keystore_location: str | None
    ssl_keystore_password: str | None
    ssl_key_password: str | None
    ssl_keystore_certificate_chain: str | None
    ssl_keystore_key: str | None
    ssl_truststore_type: str
    ssl_truststore_location: str | None
    ssl_truststore_password: str | None
    ssl_truststore_certificates: str | None
    ssl_client_auth: str
    ssl_enabled_protocols: tuple[str, ...]
    ssl_cipher_suites: tuple[str, ...]
    ssl_protocol: str
    ssl_principal_mapping_rules: str
    ssl_provider: str | None
    ssl_keymanager_algorithm: str
    ssl_trustmanager_algorithm: str
    ssl_endpoint_identification_algorithm: str
    ssl_secure_random_implementation: str | None
    ssl_engine_factory_class: str | None
    ssl_allow_dn_changes: bool
    ssl_allow_san_changes: bool
    security_providers: str | None
    principal_builder_class: str
    sasl_enabled_mechanisms: tuple[str, ...]
    sasl_mechanism_inter_broker_protocol: str
    sasl_jaas_config: str | None
    sasl_server_callback_handler_class: str | None
    sasl_server_max_receive_size: int
    sasl_kerberos_service_name: str | None
    sasl_kerberos_principal_to_local_rules: tuple[str, ...]
    sasl_oauthbearer_jwks_endpoint_url: str | None
    sasl_oauthbearer_expected_audience: tuple[str, ...] | None
    sasl_oauthbearer_expected_issuer: str | None
    connections_max_reauth_ms: int
    connection_failed_authentication_delay_ms: int
    delegation_token_secret_key: str | None
    authorizer_class_name: str
    super_users: str | None
    allow_everyone_if_no_acl_found: bool
    quota_window_num: int
    quota_window_size_seconds: int
    client_quota_callback_class: str | None
    josef_request_receive_timeout_ms: int
    josef_max_partitions: int
    josef_http_listeners: str
    josef_http_authentication: str
    josef_http_ssl_keystore_type: str
    josef_http_ssl_keystore_location: str | None
    josef_http_ssl_keystore_password: str | None
    josef_http_ssl_key_password: str | None
    josef_http_ssl_keystore_certificate_chain: str | None
    josef_http_ssl_keystore_key: str | None
    josef_http_ssl_enabled_protocols: tuple[str, ...]
    josef_http_ssl_cipher_suites: tuple[str, ...]
    josef_http_ssl_protocol: str
    josef_metrics_enabled: bool
    josef_metrics_max_partition_labels: int
    josef_log_format: str
    josef_log_levels: str | None
    values: dict[str, ConfigValue] = field(repr=False, compare=False)
    originals: dict[str, str] = field(repr=False)
    unknown: dict[str, str] = field(repr=False)

    # -- construction --------------------------------------------------------------

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> BrokerConfig:
        """Parse, validate and resolve ``props``; raise :class:`ConfigError`."""
        originals: dict[str, str] = {}
        unknown: dict[str, str] = {}
        for key, text in props.items():
            if key in BROKER_CONFIGS:
                originals[key] = text
            else:
                unknown[key] = text
                if not key.startswith(_KNOWN_PREFIXES) and key not in _DYNAMIC_ONLY:
                    _warn_unknown(key)
        values: dict[str, ConfigValue] = {}
        for d in BROKER_CONFIG_DEFS:
            raw = originals.get(d.name)
            if raw is None:
                values[d.name] = d.default
                continue
            try:
                values[d.name] = d.parse(raw)
            except ValueError as exc:
                raise ConfigError(d.name, str(exc)) from None
        attrs: dict[str, Any] = {d.attr: values[d.name] for d in BROKER_CONFIG_DEFS}
        attrs.update(_resolve(values, originals))
        return cls(**attrs, values=values, originals=originals, unknown=unknown)

    @classmethod
    def default(cls) -> BrokerConfig:
        """Josef's defaults (standalone, PLAINTEXT://127.0.0.1:9092, ./josef-data)."""
        return cls.from_properties({})

    def with_overrides(self, overrides: Mapping[str, str]) -> BrokerConfig:
        """A new config: these properties on top of the ones this one came from."""
        return BrokerConfig.from_properties({**self.originals, **self.unknown, **overrides})

    # -- derived views -------------------------------------------------------------

    @property
    def standalone(self) -> bool:
        """True without ``zookeeper.connect``: one node, metadata in the data dir."""
        return self.zookeeper_connect is None

    @property
    def http_listeners(self) -> tuple[HttpEndpoint, ...]:
        """Where /metrics, /v1/health and /v1/ready are served (none when empty)."""
        return parse_http_listeners(self.josef_http_listeners)

    def listener(self, name: str) -> Listener | None:
        return next((lsn for lsn in self.listeners if lsn.name == name.upper()), None)

    def advertised_listener(self, name: str) -> Listener | None:
        return next((lsn for lsn in self.advertised_listeners if lsn.name == name.upper()), None)

    def get(self, key: str) -> ConfigValue:
        """The raw parsed value of ``key`` (KeyError if it is not in the table)."""
        return self.values[key]

    def log_config_defaults(self) -> LogConfig:
        """Topic-level defaults from the broker keys (retention.ms ← log.retention.ms ...)."""
        changes: dict[str, Any] = {}
        for topic_def in TOPIC_CONFIG_DEFS:
            broker_def = next(
                (BROKER_CONFIGS[s.name] for s in topic_def.synonyms if s.name in BROKER_CONFIGS),
                None,
            )
            if broker_def is None:
                continue
            value = getattr(self, broker_def.attr)
            changes[topic_def.attr] = ",".join(value) if isinstance(value, tuple) else value
        return LogConfig(**changes)


def _resolve(values: Mapping[str, ConfigValue], originals: Mapping[str, str]) -> dict[str, Any]:
    """The attributes whose value depends on other keys, with cross-key checks."""
    out: dict[str, Any] = {}

    def as_int(key: str) -> int | None:
        value = values[key]
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def as_str(key: str) -> str | None:
        value = values[key]
        return value if isinstance(value, str) else None

    zk = as_str("zookeeper.connect")
    zk = zk.strip() if zk is not None and zk.strip() else None
    out["zookeeper_connect"] = zk
    standalone = zk is None

    session = as_int("zookeeper.session.timeout.ms")
    connection = as_int("zookeeper.connection.timeout.ms")
    out["zookeeper_connection_timeout_ms"] = connection if connection is not None else session

    # broker.id / node.id
    broker_id = as_int("broker.id")
    node_id = as_int("node.id")
    assert broker_id is not None and node_id is not None
    if broker_id != -1 and node_id != -1 and broker_id != node_id:
        raise ConfigError(
            "node.id", f"{node_id} must equal broker.id ({broker_id}) when both are set"
        )
    resolved = broker_id if broker_id != -1 else node_id
    if standalone:
        if resolved == -1:
            explicit = "broker.id" in originals or "node.id" in originals
            if explicit:
                key = "broker.id" if "broker.id" in originals else "node.id"
                raise ConfigError(
                    key,
                    "-1 (a generated id) needs zookeeper.connect; "
                    "a standalone broker needs an id >= 0",
                )
            resolved = 0
    else:
        generation = values["broker.id.generation.enable"] is True
        max_reserved = as_int("reserved.broker.max.id")
        assert max_reserved is not None
        if generation and resolved > max_reserved:
            raise ConfigError(
                "broker.id",
                f"{resolved} must not be greater than reserved.broker.max.id ({max_reserved})",
            )
        if not generation and resolved < 0:
            raise ConfigError(
                "broker.id", "must be set (>= 0) when broker.id.generation.enable is false"
            )
    out["broker_id"] = resolved
    out["node_id"] = resolved

    # listeners
    protocol_map = parse_protocol_map(as_str("listener.security.protocol.map") or "")
    out["listener_security_protocol_map"] = protocol_map
    listeners = parse_listeners(as_str("listeners") or "", "listeners", protocol_map)
    seen_ports: dict[int, str] = {}
    for lsn in listeners:
        if lsn.port != 0 and lsn.port in seen_ports:
            raise ConfigError(
                "listeners", f"{seen_ports[lsn.port]} and {lsn.name} use the same port {lsn.port}"
            )
        seen_ports[lsn.port] = lsn.name
    out["listeners"] = listeners
    advertised_raw = as_str("advertised.listeners")
    if advertised_raw is None or not advertised_raw.strip():
        advertised = listeners
    else:
        advertised = parse_listeners(advertised_raw, "advertised.listeners", protocol_map)
        names = {lsn.name for lsn in listeners}
        for lsn in advertised:
            if lsn.host in ("0.0.0.0", "::"):
                raise ConfigError(
                    "advertised.listeners", f"{lsn} advertises the non-routable address {lsn.host}"
                )
            if lsn.name not in names:
                raise ConfigError(
                    "advertised.listeners", f"listener name {lsn.name} is not in listeners"
                )
    out["advertised_listeners"] = advertised

    if "inter.broker.listener.name" in originals and "security.inter.broker.protocol" in originals:
        raise ConfigError(
            "inter.broker.listener.name",
            "only one of inter.broker.listener.name and security.inter.broker.protocol may be set",
        )
    inter = as_str("inter.broker.listener.name")
    inter_name = (
        inter.strip().upper() if inter else (as_str("security.inter.broker.protocol") or "")
    )
    if not standalone and all(lsn.name != inter_name for lsn in advertised):
        raise ConfigError(
            "inter.broker.listener.name",
            f"inter-broker listener {inter_name} must be one of advertised.listeners",
        )
    out["inter_broker_listener_name"] = inter_name

    # log dirs
    dirs_raw = as_str("log.dirs")
    key = "log.dirs"
    if dirs_raw is None or not dirs_raw.strip():
        dirs_raw, key = as_str("log.dir") or "", "log.dir"
    dirs = tuple(Path(part.strip()) for part in dirs_raw.split(",") if part.strip())
    if not dirs:
        raise ConfigError(key, "at least one directory is required")
    if len(set(dirs)) != len(dirs):
        raise ConfigError(key, "a directory is listed twice")
    out["log_dirs"] = dirs

    # Kafka's chains: the most precise key that is set wins.
    out["log_roll_ms"] = _chain(values, "log.roll.ms", ("log.roll.hours", 3_600_000))
    out["log_roll_jitter_ms"] = _chain(
        values, "log.roll.jitter.ms", ("log.roll.jitter.hours", 3_600_000)
    )
    retention = _chain(
        values,
        "log.retention.ms",
        ("log.retention.minutes", 60_000),
        ("log.retention.hours", 3_600_000),
    )
    out["log_retention_ms"] = -1 if retention < 0 else retention
    out["log_flush_interval_ms"] = _chain(
        values, "log.flush.interval.ms", ("log.flush.scheduler.interval.ms", 1)
    )

    threads = as_int("log.cleaner.threads") or 0
    dedupe = as_int("log.cleaner.dedupe.buffer.size") or 0
    if threads > 0 and dedupe // threads < 1024 * 1024:
        raise ConfigError(
            "log.cleaner.dedupe.buffer.size", "must be at least 1 MiB per cleaner thread"
        )

    queued = as_int("queued.max.request.bytes")
    request_max = as_int("socket.request.max.bytes")
    if queued is not None and request_max is not None and 0 < queued < request_max:
        # Kafka's KafkaConfig check: a request that can never fit would wait forever.
        raise ConfigError(
            "queued.max.request.bytes",
            f"{queued} must be -1 or at least socket.request.max.bytes ({request_max})",
        )

    http = parse_http_listeners(as_str("josef.http.listeners"))  # ConfigError when invalid
    if any(e.tls for e in http) and not (
        as_str("josef.http.ssl.keystore.location")
        or as_str("josef.http.ssl.keystore.certificate.chain")
    ):
        raise ConfigError(
            "josef.http.listeners",
            f"{next(e for e in http if e.tls)} needs a key store: set "
            "josef.http.ssl.keystore.location (a PKCS12 file, or PEM with "
            "josef.http.ssl.keystore.type=PEM), or josef.http.ssl.keystore.type=PEM with "
            "josef.http.ssl.keystore.certificate.chain and josef.http.ssl.keystore.key",
        )
    try:
        parse_log_levels(as_str("josef.log.levels"))
    except ValueError as exc:
        raise ConfigError("josef.log.levels", str(exc)) from None

    cluster_id = as_str("josef.cluster.id")
    if cluster_id is not None and not is_valid_cluster_id(cluster_id):
        raise ConfigError(
            "josef.cluster.id", f"{cluster_id!r} is not a base64url-encoded 16-byte id"
        )
    return out


def _chain(values: Mapping[str, ConfigValue], first: str, *rest: tuple[str, int]) -> int:
    value = values[first]
    if isinstance(value, int):
        return value
    for key, factor in rest:
        value = values[key]
        if isinstance(value, int):
            return value * factor
    raise AssertionError(f"no value for {first}")  # the last key of a chain has a default


# --- loading ------------------------------------------------------------------------


def load_config(path: Path | None, overrides: Sequence[str] = ()) -> BrokerConfig:
    """Read ``path`` (Java properties, UTF-8) and apply ``key=value`` overrides.

    Overrides beat the file. An unreadable or unparsable file, a malformed
    override or an invalid value raises :class:`ConfigError`.
    """
    props: dict[str, str] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            raise ConfigError(str(path), reason) from None
        except OSError as exc:
            reason = f"cannot read configuration file: {exc.strerror or exc}"
            raise ConfigError(str(path), reason) from None
        props.update(parse_properties(text, str(path)))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(item or "override", "an override must be key=value")
        props[key.strip()] = value
    return BrokerConfig.from_properties(props)


# --- cluster ids ----------------------------------------------------------------------


def generate_cluster_id() -> str:
    """A random id in Kafka's Uuid form: 16 bytes, base64url without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def is_valid_cluster_id(text: str) -> bool:
    if len(text) != 22 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return False
    try:
        return len(base64.urlsafe_b64decode(text + "==")) == 16
    except ValueError:
        return False


# --- DescribeConfigs and documentation --------------------------------------------------

def describe_broker(config: BrokerConfig, names: Iterable[str] | None = None) -> list[ConfigEntry]:
    """DescribeConfigs entries for the BROKER resource of a broker without dynamic configs.

    Source is STATIC_BROKER_CONFIG for keys set in the properties file or an
    override, DEFAULT_CONFIG otherwise; every entry is read-only. Passwords are
    reported as sensitive with a null value. ``names`` limits the result (unknown
    names are skipped). A running broker answers through
    :class:`broker.config.dynamic_broker_config.DynamicBrokerConfig`, which adds the
    dynamic layers (KIP-226).
    """
    from broker.config.broker_describe import ConfigLayers, broker_entries

    return [
        e
        for e in broker_entries(config, ConfigLayers(config.originals), names)
        if e.name in BROKER_CONFIGS
    ]


def broker_default_strings() -> dict[str, str | None]:
    """Every broker key's default as a string (for DEFAULT_CONFIG synonyms)."""
    return {d.name: d.default_str for d in BROKER_CONFIG_DEFS}


def describe_topic(
    config: BrokerConfig,
    overrides: Mapping[str, str],
    names: Iterable[str] | None = None,
    *,
    static: Mapping[str, str] | None = None,
    dynamic_broker: Mapping[str, str] | None = None,
    dynamic_default: Mapping[str, str] | None = None,
) -> list[ConfigEntry]:
    """DescribeConfigs entries for a topic with these overrides on this broker.

    ``config`` is the broker's current configuration; ``static`` the keys it was started
    with (default: ``config.originals``) and ``dynamic_*`` its dynamic broker configs."""
    return describe(
        config.log_config_defaults(),
        overrides,
        config.originals if static is None else static,
        broker_defaults=broker_default_strings(),
        names=names,
        dynamic_broker=dynamic_broker,
        dynamic_default=dynamic_default,
    )


def render_config_table() -> str:
    """The README's broker configuration table (Markdown)."""
    return render_markdown_table(BROKER_CONFIG_DEFS)
