"""Where Josef's DescribeConfigs differs from Apache Kafka 3.9.1's, and why.

The parity test (tests/integration/test_describe_configs_parity.py) holds Josef's answer
for a topic and a broker next to a real Kafka 3.9.1's (tests/fixtures/kafka_3_9_1_wire.json,
recorded by tests/tools/record_kafka_wire.py) key by key: name, value, source, read-only
flag, sensitivity, synonyms and type. Every difference it finds must be listed here; the
README's tables are generated from this module.

Documentation strings differ for every key by design: Josef describes each key in its own
words (it may not copy Kafka's text); the test checks that every key has one.
"""

from __future__ import annotations

_KRAFT = "KRaft mode only; Josef runs standalone or in ZooKeeper mode"
_TIERED = "tiered storage (KIP-405) is not implemented"
_SHARE = "share groups (KIP-932, early access in Kafka 3.9) are not implemented"
_ZK_TLS = "TLS to ZooKeeper is not implemented (kazoo connects in plaintext)"
_SASL_LOGIN = "OAUTHBEARER and GSSAPI (Kerberos) logins are not supported"
_PASSWORD_ENCODER = "dynamic password configs are not stored encrypted (no password encoder)"
_TOKENS = "delegation tokens are not supported"
_JVM_METRICS = "JMX/metrics reporters of the JVM have no counterpart"
_PURGATORY = "purge interval of the JVM purgatories; Josef's purgatories need no purging"
_QUOTA_WINDOWS = "quota sample windows: Josef's quota windows are fixed"
_POLICIES = "pluggable policy classes are not supported"
_NEW_COORDINATOR = "settings of Kafka's new group coordinator runtime (threads, batching)"

#: Kafka 3.9.1 broker keys that Josef does not know (a warning at startup, as for any
#: unknown key, and absent from DescribeConfigs), by prefix or name, with the reason.
KAFKA_BROKER_KEYS_NOT_IN_JOSEF: dict[str, str] = {
    "broker.heartbeat.interval.ms": _KRAFT,
    "broker.session.timeout.ms": _KRAFT,
    "controller.listener.names": _KRAFT,
    "controller.quorum.": _KRAFT,
    "early.start.listeners": _KRAFT,
    "eligible.leader.replicas.enable": _KRAFT + " (KIP-966)",
    "initial.broker.registration.timeout.ms": _KRAFT,
    "metadata.": _KRAFT,
    "process.roles": _KRAFT,
    "sasl.mechanism.controller.protocol": _KRAFT,
    "zookeeper.metadata.migration.enable": _KRAFT + " (ZooKeeper to KRaft migration)",
    "remote.": _TIERED,
    "group.share.": _SHARE,
    "zookeeper.ssl.": _ZK_TLS,
    "zookeeper.clientCnxnSocket": _ZK_TLS,
    "sasl.login.": _SASL_LOGIN,
    "sasl.oauthbearer.": _SASL_LOGIN,
    "sasl.kerberos.kinit.cmd": _SASL_LOGIN,
    "sasl.kerberos.min.time.before.relogin": _SASL_LOGIN,
    "sasl.kerberos.ticket.renew.jitter": _SASL_LOGIN,
    "sasl.kerberos.ticket.renew.window.factor": _SASL_LOGIN,
    "sasl.client.callback.handler.class": _SASL_LOGIN,
    "password.encoder.": _PASSWORD_ENCODER,
    "delegation.token.": _TOKENS,
    "auto.include.jmx.reporter": _JVM_METRICS,
    "kafka.metrics.": _JVM_METRICS,
    "metric.reporters": _JVM_METRICS,
    "metrics.": _JVM_METRICS,
    "delete.records.purgatory.purge.interval.requests": _PURGATORY,
    "fetch.purgatory.purge.interval.requests": _PURGATORY,
    "producer.purgatory.purge.interval.requests": _PURGATORY,
    "alter.log.dirs.replication.quota.window.": _QUOTA_WINDOWS,
    "controller.quota.window.": _QUOTA_WINDOWS,
    "replication.quota.window.": _QUOTA_WINDOWS,
    "alter.config.policy.class.name": _POLICIES,
    "create.topic.policy.class.name": _POLICIES,
    "group.coordinator.append.linger.ms": _NEW_COORDINATOR,
    "group.coordinator.threads": _NEW_COORDINATOR,
    "group.coordinator.rebalance.protocols": "Josef serves both group protocols (classic, "
    "consumer) always",
    "control.plane.listener.name": "a separate controller listener (KIP-291) is not "
    "implemented; controller requests share the inter-broker listener",
    "inter.broker.protocol.version": "Josef's brokers always speak 3.9's inter-broker "
    "versions; a mixed-version cluster is not supported",
    "log.dir.failure.timeout.ms": _KRAFT + " (KIP-858)",
    "max.connection.creation.rate": "connection limits are not implemented yet",
    "max.connections.per.ip.overrides": "connection limits are not implemented yet",
    "max.request.partition.size.limit": "share-fetch limit (KIP-932), not implemented",
    "num.replica.alter.log.dirs.threads": "moving replicas between log directories is not "
    "implemented",
    "offsets.commit.required.acks": "deprecated; offset commits are written with acks=all",
    "offsets.topic.compression.codec": "offset commit batches are not compressed",
    "request.timeout.ms": "timeout of the JVM's inter-broker clients; Josef's have their own",
    "socket.connection.setup.timeout.max.ms": "connection backoff of the JVM's network "
    "client; Josef's inter-broker client reconnects on its own schedule",
    "socket.connection.setup.timeout.ms": "connection backoff of the JVM's network client; "
    "Josef's inter-broker client reconnects on its own schedule",
    "telemetry.max.bytes": "client telemetry (KIP-714) is not implemented",
}

# Reasons whose keys only tune Kafka's JVM machinery or have no effect in ZooKeeper mode:
# accepted at any value (with the unknown-key warning). Every other key of
# KAFKA_BROKER_KEYS_NOT_IN_JOSEF is refused at startup unless set to Kafka's default, as
# Josef refuses the settings it does not implement.
_NO_EFFECT_REASONS = frozenset(
    {
        _JVM_METRICS,
        _PURGATORY,
        _QUOTA_WINDOWS,
        _NEW_COORDINATOR,
        _KRAFT + " (KIP-858)",
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["inter.broker.protocol.version"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["max.request.partition.size.limit"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["num.replica.alter.log.dirs.threads"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["offsets.commit.required.acks"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["offsets.topic.compression.codec"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["request.timeout.ms"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["socket.connection.setup.timeout.ms"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["socket.connection.setup.timeout.max.ms"],
        KAFKA_BROKER_KEYS_NOT_IN_JOSEF["telemetry.max.bytes"],
    }
)

#: Josef's broker keys that Kafka's DescribeConfigs does not list, and why.
JOSEF_ONLY_BROKER_KEYS: dict[str, str] = {
    "allow.everyone.if.no.acl.found": "an AclAuthorizer property: Kafka reads it from the "
    "server properties but does not describe it",
    "super.users": "an AclAuthorizer property: Kafka reads it from the server properties "
    "but does not describe it",
    "producer.id.expiration.check.interval.ms": "an internal key in Kafka, not described",
    "josef.cluster.id": "Josef's own key",
    "josef.max.partitions": "Josef's own key",
    "josef.http.listeners": "Josef's own key",
    "josef.metrics.max.partition.labels": "Josef's own key",
    "josef.metrics.enabled": "Josef's own key",
    "josef.http.authentication": "Josef's own key",
    "josef.http.ssl.keystore.type": "Josef's own key",
    "josef.http.ssl.keystore.location": "Josef's own key",
    "josef.http.ssl.keystore.password": "Josef's own key",
    "josef.http.ssl.key.password": "Josef's own key",
    "josef.http.ssl.keystore.certificate.chain": "Josef's own key",
    "josef.http.ssl.keystore.key": "Josef's own key",
    "josef.http.ssl.enabled.protocols": "Josef's own key",
    "josef.http.ssl.cipher.suites": "Josef's own key",
    "josef.http.ssl.protocol": "Josef's own key",
    "josef.request.receive.timeout.ms": "Josef's own key",
    "josef.log.format": "Josef's own key (Kafka configures logging in log4j.properties)",
    "josef.log.levels": "Josef's own key (Kafka configures logging in log4j.properties)",
}

#: Broker keys whose default differs from Kafka 3.9.1's on purpose.
DEFAULT_DIFFERENCES: dict[str, str] = {
    "listeners": "Josef binds 127.0.0.1:9092 unless told otherwise (Kafka binds every interface)",
    "log.dir": "Josef's default data directory is ./josef-data",
    "queued.max.request.bytes": "Josef bounds request bytes in flight by default (256 MiB); "
    "Kafka's -1 is unbounded",
    "group.consumer.assignors": "Josef names its server-side assignors uniform and range "
    "(Kafka names them by Java class)",
}


def reason_not_in_josef(key: str) -> str | None:
    """Why Kafka's broker key ``key`` is not in Josef's table (None: no reason listed)."""
    for name, reason in KAFKA_BROKER_KEYS_NOT_IN_JOSEF.items():
        if key == name or (name.endswith(".") and key.startswith(name)):
            return reason
    return None


def refused_unless_default(key: str) -> str | None:
    """The reason to refuse Kafka's broker key ``key`` at startup unless it has Kafka's
    default value; None when any value is accepted (no effect) or the key is not Kafka's."""
    reason = reason_not_in_josef(key)
    if reason is None or reason in _NO_EFFECT_REASONS:
        return None
    return reason


def render_broker_key_gaps(kafka_keys: list[str]) -> str:
    """Markdown: every Kafka 3.9.1 broker key Josef does not know, grouped by reason."""
    groups: dict[str, list[str]] = {}
    for key in sorted(kafka_keys):
        groups.setdefault(reason_not_in_josef(key) or "(no reason recorded)", []).append(key)
    lines = ["| why | at startup | keys |", "| --- | --- | --- |"]
    for reason, keys in sorted(groups.items()):
        what = (
            "accepted, no effect"
            if reason in _NO_EFFECT_REASONS
            else "refused unless Kafka's default"
        )
        lines.append(f"| {reason} | {what} | {', '.join(f'`{k}`' for k in keys)} |")
    return "\n".join(lines) + "\n"


def render_other_differences() -> str:
    lines = ["| key | difference |", "| --- | --- |"]
    for key, reason in sorted(DEFAULT_DIFFERENCES.items()):
        lines.append(f"| `{key}` | default differs: {reason} |")
    for key, reason in sorted(JOSEF_ONLY_BROKER_KEYS.items()):
        lines.append(f"| `{key}` | not in Kafka's answer: {reason} |")
    return "\n".join(lines) + "\n"
