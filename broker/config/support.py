"""What Josef does with each broker key: in effect, accepted without effect, or refused.

A broker must never look secure, replicated or limited when it is not, so a
key whose feature Josef lacks is refused at startup (``josef start`` exits 2
with one line naming the key and why) instead of being accepted and ignored.
A refused key set to Kafka's default value is accepted: people copy Kafka's
``server.properties``, which spells out many defaults.

:data:`KEY_SUPPORT` classifies every key of the broker table; a unit test
checks that none is missing. ``listener.name.<listener>.<key>`` overrides are
checked with the same rules as ``<key>``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from broker.config.broker_config import BROKER_CONFIGS, BrokerConfig, ConfigError
from broker.config.kafka_broker_defaults import KAFKA_BROKER_DEFAULTS
from broker.config.kafka_parity import refused_unless_default
from broker.security.authorizer import AUTHORIZER_CLASSES, parse_super_users
from storage.log_config import ConfigValue

__all__ = [
    "CLUSTER_MODE_AVAILABLE",
    "KEY_SUPPORT",
    "KeySupport",
    "Support",
    "check_supported",
    "is_default",
]

# Cluster mode (zookeeper.connect) is available; cluster-only keys set to non-default
# values on a standalone broker are refused (they would have no effect there).
CLUSTER_MODE_AVAILABLE = True


class Support(enum.Enum):
    IMPLEMENTED = "in effect"
    NO_EFFECT = "accepted without effect"
    CLUSTER_ONLY = "cluster mode only"
    REFUSED = "refused until implemented"


@dataclass(frozen=True, slots=True)
class KeySupport:
    status: Support
    reason: str = ""


_IN = KeySupport(Support.IMPLEMENTED)


def _no(reason: str) -> KeySupport:
    return KeySupport(Support.NO_EFFECT, reason)


def _refused(reason: str) -> KeySupport:
    return KeySupport(Support.REFUSED, reason)


def _cluster(reason: str = "") -> KeySupport:
    return KeySupport(
        Support.CLUSTER_ONLY,
        reason or "only takes effect in cluster mode (set zookeeper.connect)",
    )


_JVM = "tunes Kafka's JVM internals; Josef's behaviour is the same without it"

# fmt: off
_IMPLEMENTED = (
    "broker.id", "node.id", "broker.rack", "josef.cluster.id", "listeners",
    "advertised.listeners", "listener.security.protocol.map", "socket.request.max.bytes",
    "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "socket.listen.backlog.size",
    "connections.max.idle.ms", "message.max.bytes", "log.dir", "log.dirs", "num.partitions",
    "default.replication.factor", "auto.create.topics.enable", "delete.topic.enable",
    "log.segment.bytes", "log.roll.ms", "log.roll.hours", "log.roll.jitter.ms",
    "log.roll.jitter.hours", "log.retention.ms", "log.retention.minutes",
    "log.retention.hours", "log.retention.bytes", "log.retention.check.interval.ms",
    "log.segment.delete.delay.ms", "log.flush.interval.messages", "log.flush.interval.ms",
    "log.flush.scheduler.interval.ms", "log.flush.offset.checkpoint.interval.ms",
    "log.flush.start.offset.checkpoint.interval.ms", "log.index.interval.bytes",
    "log.index.size.max.bytes", "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms",
    "log.message.timestamp.difference.max.ms",
    "log.cleanup.policy", "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms", "group.consumer.max.size",
    "group.consumer.assignors", "min.insync.replicas", "num.recovery.threads.per.data.dir",
    "producer.id.expiration.ms", "max.incremental.fetch.session.cache.slots",
    "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "log.cleaner.enable", "log.cleaner.threads",
    "log.cleaner.io.max.bytes.per.second", "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor", "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio", "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms",
    "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms",
    "group.max.session.timeout.ms", "group.max.size", "offsets.topic.num.partitions",
    "offsets.topic.replication.factor", "offsets.topic.segment.bytes",
    "offsets.retention.minutes", "offsets.retention.check.interval.ms",
    "offsets.load.buffer.size", "offset.metadata.max.bytes",
    "transaction.state.log.num.partitions", "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr", "transaction.state.log.segment.bytes",
    "transaction.state.log.load.buffer.size", "transaction.max.timeout.ms",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transactional.id.expiration.ms",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "transaction.partition.verification.enable",
    "replica.high.watermark.checkpoint.interval.ms", "zookeeper.connect",
    "offsets.commit.timeout.ms",
    # TLS (broker/security/tls.py)
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
    "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.truststore.type",
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
    "ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites", "ssl.protocol",
    "ssl.principal.mapping.rules", "ssl.allow.dn.changes", "ssl.allow.san.changes",
    # SASL (broker/security/sasl_config.py, authenticator.py)
    "sasl.enabled.mechanisms", "sasl.jaas.config", "sasl.server.max.receive.size",
    "connections.max.reauth.ms", "connection.failed.authentication.delay.ms",
    # ACLs (broker/security/authorizer.py) and quotas (broker/quota/)
    "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
    "quota.window.num", "quota.window.size.seconds",
    # limits (issue 12: broker/partition_limits.py, broker/network/request_budget.py)
    "fetch.max.bytes", "queued.max.request.bytes", "josef.request.receive.timeout.ms",
    "josef.max.partitions", "josef.http.listeners", "josef.metrics.max.partition.labels",
    # logging (broker/log_setup.py)
    "josef.log.format", "josef.log.levels",
    "josef.metrics.enabled", "josef.http.authentication",
    "josef.http.ssl.keystore.type", "josef.http.ssl.keystore.location",
    "josef.http.ssl.keystore.password", "josef.http.ssl.key.password",
    "josef.http.ssl.keystore.certificate.chain", "josef.http.ssl.keystore.key",
    "josef.http.ssl.enabled.protocols", "josef.http.ssl.cipher.suites", "josef.http.ssl.protocol",
)

KEY_SUPPORT: dict[str, KeySupport] = {
    **{key: _IN for key in _IMPLEMENTED},
    # --- equivalent without effect
    "num.network.threads": _no(_JVM + " (one event loop serves the network)"),
    "num.io.threads": _no(_JVM + " (blocking disk work runs in worker threads)"),
    "background.threads": _no(_JVM),
    "queued.max.requests": _no(
        _JVM + " (each connection stops reading with 32 requests queued)"),
    "log.cleaner.io.buffer.size": _no(_JVM + " (the cleaner's read buffers)"),
    "ssl.keymanager.algorithm": _no(_JVM + " (TLS comes from OpenSSL)"),
    "ssl.trustmanager.algorithm": _no(_JVM + " (TLS comes from OpenSSL)"),
    "ssl.secure.random.implementation": _no(_JVM + " (TLS comes from OpenSSL)"),
    "log.message.format.version": _no(
        "deprecated: Kafka ignores it since inter.broker.protocol.version 3.0, and so does "
        "Josef (every batch is message format v2)"),
    "log.local.retention.bytes": _no(
        "applies to tiered storage only, which is off (as in Kafka without "
        "remote.log.storage.system.enable)"),
    "log.local.retention.ms": _no(
        "applies to tiered storage only, which is off (as in Kafka without "
        "remote.log.storage.system.enable)"),
    "remote.log.storage.system.enable": _refused("tiered storage (KIP-405) is not implemented"),
    "log.message.downconversion.enable": _no(
        "no Fetch version Josef serves needs down-conversion"),
    "log.preallocate": _no("segment files are not preallocated; their contents are the same"),
    "group.consumer.min.session.timeout.ms": _no(
        "bounds per-group session timeouts, which Josef does not have"),
    "group.consumer.max.session.timeout.ms": _no(
        "bounds per-group session timeouts, which Josef does not have"),
    "group.consumer.min.heartbeat.interval.ms": _no(
        "bounds per-group heartbeat intervals, which Josef does not have"),
    "group.consumer.max.heartbeat.interval.ms": _no(
        "bounds per-group heartbeat intervals, which Josef does not have"),
    "ssl.endpoint.identification.algorithm": _no(
        "applies to connections a broker opens to other brokers; a standalone broker "
        "opens none"),
    "sasl.kerberos.principal.to.local.rules": _no(
        "maps GSSAPI principals only, and GSSAPI is not supported"),
    # Single-node compose files set these like a cluster's; harmless without peers.
    "inter.broker.listener.name": _no(
        "names the listener other brokers connect to; a standalone broker has none"),
    "security.inter.broker.protocol": _no(
        "names the listener other brokers connect to; a standalone broker has none"),
    "sasl.mechanism.inter.broker.protocol": _refused(
        "brokers do not authenticate to each other with SASL yet (the inter-broker listener "
        "must be PLAINTEXT)"),
    # --- refused until implemented
    "max.connections": _refused("connection limits are not implemented yet"),
    "max.connections.per.ip": _refused("connection limits are not implemented yet"),
    "producer.id.expiration.check.interval.ms": _refused(
        "not implemented yet: idle producer ids are expired on the "
        "log.retention.check.interval.ms schedule"),
    "client.quota.callback.class": _refused("custom client quota callbacks are not supported"),
    "delegation.token.secret.key": _refused("delegation tokens are not supported"),
    "principal.builder.class": _refused(
        "custom principal builders are not supported (Josef builds principals as "
        "Kafka's DefaultKafkaPrincipalBuilder does)"),
    "security.providers": _refused("JVM security providers are not supported"),
    "ssl.provider": _refused("JVM security providers are not supported"),
    "ssl.engine.factory.class": _refused("custom TLS engine factories are not supported"),
    "sasl.server.callback.handler.class": _refused(
        "custom SASL callback handlers are not supported"),
    "sasl.kerberos.service.name": _refused("GSSAPI (Kerberos) is not supported"),
    "sasl.oauthbearer.jwks.endpoint.url": _refused(
        "OAUTHBEARER with signed tokens (JWKS) is not supported"),
    "sasl.oauthbearer.expected.audience": _refused(
        "OAUTHBEARER with signed tokens (JWKS) is not supported"),
    "sasl.oauthbearer.expected.issuer": _refused(
        "OAUTHBEARER with signed tokens (JWKS) is not supported"),
    # --- cluster mode
    "zookeeper.session.timeout.ms": _cluster(),
    "zookeeper.connection.timeout.ms": _cluster(),
    "zookeeper.max.in.flight.requests": _no(
        "kazoo pipelines ZooKeeper requests itself; Josef's ZooKeeper traffic is small"),
    "zookeeper.set.acl": _refused("ZooKeeper ACLs on Josef's znodes are not implemented yet"),
    "broker.id.generation.enable": _cluster(),
    "reserved.broker.max.id": _cluster(),
    "unclean.leader.election.enable": _cluster(),
    "num.replica.fetchers": _cluster(),
    "replica.lag.time.max.ms": _cluster(),
    "replica.fetch.max.bytes": _cluster(),
    "replica.fetch.min.bytes": _cluster(),
    "replica.fetch.wait.max.ms": _cluster(),
    "replica.fetch.backoff.ms": _cluster(),
    "replica.fetch.response.max.bytes": _cluster(),
    "replica.socket.timeout.ms": _cluster(),
    "replica.selector.class": _cluster(),
    "replica.socket.receive.buffer.bytes": _no(_JVM + " (the OS sizes fetcher sockets)"),
    "controller.socket.timeout.ms": _cluster(),
    "auto.leader.rebalance.enable": _cluster(),
    "leader.imbalance.check.interval.seconds": _cluster(),
    "leader.imbalance.per.broker.percentage": _cluster(),
    "controlled.shutdown.enable": _cluster(),
    "controlled.shutdown.max.retries": _cluster(),
    "controlled.shutdown.retry.backoff.ms": _cluster(),
}
# fmt: on

# Security protocols a listener may use today.
SUPPORTED_PROTOCOLS: frozenset[str] = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
LISTENER_PREFIX = "listener.name."
# listener.name.<l>.<mechanism>.<key>: Kafka's per-mechanism settings Josef reads.
_SASL_MECHANISM_PREFIXES = frozenset(
    {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"}
)
_PER_MECHANISM = frozenset({"sasl.jaas.config", "connections.max.reauth.ms"})
_PER_LISTENER = frozenset(
    {"connections.max.reauth.ms", "max.connections", "principal.builder.class"}
)


def is_per_listener(key: str) -> bool:
    """Keys Kafka reads with a ``listener.name.<listener>.`` prefix."""
    return key.startswith(("ssl.", "sasl.")) or key in _PER_LISTENER


def is_default(key: str, value: ConfigValue) -> bool:
    """True when ``value`` equals Kafka's default for ``key`` (an empty string = unset)."""
    default = BROKER_CONFIGS[key].default
    if value == default:
        return True
    blank = value is None or value == "" or value == ()
    return blank and (default is None or default == "" or default == ())


def _refusal(key: str, value: ConfigValue, standalone: bool) -> str | None:
    entry = KEY_SUPPORT[key]
    if entry.status is Support.REFUSED or (
        entry.status is Support.CLUSTER_ONLY and (standalone or not CLUSTER_MODE_AVAILABLE)
    ):
        return None if is_default(key, value) else entry.reason
    return None


def _listener_overrides(config: BrokerConfig) -> Iterator[tuple[str, str, str, str]]:
    """(full key, listener name, inner key, raw value) of every listener.name. key."""
    for full, raw in config.unknown.items():
        if full.startswith(LISTENER_PREFIX):
            name, _, inner = full[len(LISTENER_PREFIX) :].partition(".")
            yield full, name.upper(), inner, raw


def _check_authorizer(config: BrokerConfig) -> None:
    name = (config.authorizer_class_name or "").strip()
    if name and name not in AUTHORIZER_CLASSES:
        raise ConfigError(
            "authorizer.class.name",
            f"{name} is not supported; use kafka.security.authorizer.AclAuthorizer or "
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer (the same ACL semantics)",
        )
    try:
        parse_super_users(config.super_users)
    except ValueError as exc:
        raise ConfigError("super.users", str(exc)) from None


def _check_kafka_only_keys(config: BrokerConfig) -> None:
    """Kafka 3.9 keys missing from Josef's table: refused unless at Kafka's default, when
    their feature is missing (tiered storage, KRaft, ZooKeeper TLS, ...)."""
    for key, raw in config.unknown.items():
        if key not in KAFKA_BROKER_DEFAULTS:
            continue
        reason = refused_unless_default(key)
        if reason is None:
            continue
        default = KAFKA_BROKER_DEFAULTS[key] or ""
        if raw.strip().lower() != default.lower():
            raise ConfigError(key, f"{reason} (accepted only at Kafka's default {default!r})")


def check_supported(config: BrokerConfig) -> None:
    """Raise :class:`ConfigError` for the first setting Josef would otherwise ignore."""
    standalone = config.standalone
    if not standalone:
        inter = config.advertised_listener(config.inter_broker_listener_name)
        if inter is not None and inter.security_protocol != "PLAINTEXT":
            raise ConfigError(
                "inter.broker.listener.name",
                f"the inter-broker listener {inter.name} uses {inter.security_protocol}; "
                "brokers talk to each other over PLAINTEXT only for now",
            )
    for key in KEY_SUPPORT:
        if key in config.originals:
            reason = _refusal(key, config.values[key], standalone)
            if reason is not None:
                raise ConfigError(key, reason)
    for full, _name, inner, raw in _listener_overrides(config):
        mechanism, _, rest = inner.partition(".")
        if mechanism.upper() in _SASL_MECHANISM_PREFIXES and rest:
            if rest in _PER_MECHANISM:
                continue  # read by broker.security.sasl_config
            raise ConfigError(full, f"{rest} is not a per-mechanism setting Josef implements")
        d = BROKER_CONFIGS.get(inner)
        if d is None or not is_per_listener(inner):
            raise ConfigError(full, f"{inner} is not a per-listener setting Josef implements")
        try:
            value = d.parse(raw)
        except ValueError as exc:
            raise ConfigError(full, str(exc)) from None
        reason = _refusal(inner, value, standalone)
        if reason is not None:
            raise ConfigError(full, reason)
    _check_authorizer(config)
    _check_kafka_only_keys(config)
    for lsn in config.listeners:
        if lsn.security_protocol not in SUPPORTED_PROTOCOLS:
            raise ConfigError(
                "listeners", f"listener {lsn.name} uses {lsn.security_protocol}: not supported"
            )
