"""Which broker keys may change at run time (KIP-226): Kafka's rules and Josef's answer.

Kafka 3.9 (DynamicBrokerConfig) accepts an AlterConfigs or IncrementalAlterConfigs of a
BROKER resource when, in this order:

1. no key is one KafkaConfig defines but cannot change at run time
   (:data:`~broker.config.kafka_broker_keys.KAFKA_STATIC_BROKER_KEYS`);
2. no key store or trust store key is given without a ``listener.name.<l>.`` prefix;
3. every value parses and validates with the key's type and validator (prefixed keys as
   their base key; keys Kafka does not know are custom keys and stored as they are);
4. at the cluster-wide default (empty resource name) no key is per-broker only (listener,
   TLS and SASL settings);
5. the components that apply the change accept it (cleaner threads and thread pools may
   change to between half and double their current size).

Josef then refuses, with a reason, the keys Kafka can change at run time but Josef cannot
(listeners, TLS settings other than key and trust stores, SASL, connection limits,
replication throttles, keys Josef does not implement), unless set to Kafka's default, like
the startup check in :mod:`broker.config.support`. :func:`josef_refusal` answers that per key.

Messages are Kafka's, Scala collection formatting included (``Set(a, b)``; ``HashSet(...)``
beyond four keys), so that tools matching on them behave the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from broker.config.config_defs import BROKER_CONFIGS
from broker.config.kafka_broker_keys import KAFKA_DYNAMIC_BROKER_KEYS, KAFKA_STATIC_BROKER_KEYS
from broker.config.support import KEY_SUPPORT, Support, is_default
from cluster.zk.jvm_order import (
    java_hashmap_order,
    java_properties_order,
    scala_immutable_set_order,
    scala_mutable_hashmap_order,
)
from storage.log_config import (
    INT_MAX,
    LONG_MAX,
    LONG_MIN,
    SHORT_MAX,
    SHORT_MIN,
    TOPIC_CONFIG_DEFS,
    ConfigDef,
    ConfigType,
    Importance,
    OneOf,
    Range,
    parse_value,
)

__all__ = [
    "BROKER_QUOTA_CONFIGS",
    "CLEANER_CONFIGS",
    "DYNAMIC_SECURITY_CONFIGS",
    "LOG_CONFIGS",
    "PER_BROKER_CONFIGS",
    "THREAD_POOL_CONFIGS",
    "base_key",
    "broker_config_synonyms",
    "config_def",
    "is_dynamic",
    "josef_refusal",
    "kafka_type_error",
    "scala_set",
]

LISTENER_PREFIX = "listener.name."
_LISTENER_KEY = re.compile(r"^listener\.name\.[^.]*\.(.*)$")

# SslConfigs.RECONFIGURABLE_CONFIGS: key and trust stores, changeable only per listener.
DYNAMIC_SECURITY_CONFIGS: frozenset[str] = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.key.password",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.truststore.certificates",
    }
)
# DynamicListenerConfig.ReconfigurableConfigs.
LISTENER_RECONFIGURABLE_CONFIGS: frozenset[str] = frozenset(
    {
        "advertised.listeners", "listeners", "listener.security.protocol.map",
        "principal.builder.class", "ssl.protocol", "ssl.provider", "ssl.cipher.suites",
        "ssl.enabled.protocols", "ssl.keystore.type", "ssl.keystore.location",
        "ssl.keystore.password", "ssl.key.password", "ssl.truststore.type",
        "ssl.truststore.location", "ssl.truststore.password", "ssl.keymanager.algorithm",
        "ssl.trustmanager.algorithm", "ssl.endpoint.identification.algorithm",
        "ssl.secure.random.implementation", "ssl.client.auth", "ssl.engine.factory.class",
        "sasl.mechanism.inter.broker.protocol", "sasl.jaas.config", "sasl.enabled.mechanisms",
        "sasl.kerberos.service.name", "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.ticket.renew.window.factor", "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.min.time.before.relogin", "sasl.kerberos.principal.to.local.rules",
        "sasl.login.refresh.window.factor", "sasl.login.refresh.window.jitter",
        "sasl.login.refresh.min.period.seconds", "sasl.login.refresh.buffer.seconds",
        "max.connections", "max.connection.creation.rate", "num.network.threads",
    }
)  # fmt: skip
CLUSTER_LEVEL_LISTENER_CONFIGS = frozenset(
    {"max.connections", "max.connection.creation.rate", "num.network.threads"}
)
PER_BROKER_CONFIGS: frozenset[str] = (
    DYNAMIC_SECURITY_CONFIGS | LISTENER_RECONFIGURABLE_CONFIGS
) - CLUSTER_LEVEL_LISTENER_CONFIGS
# Set per listener and SASL mechanism: listener.name.<l>.<mechanism>.<key>.
LISTENER_MECHANISM_CONFIGS = (
    "sasl.jaas.config",
    "sasl.login.callback.handler.class",
    "sasl.login.class",
    "sasl.server.callback.handler.class",
    "connections.max.reauth.ms",
)

# QuotaConfigs.brokerQuotaConfigs: broker keys that exist only as dynamic configs.
_THROTTLE_DOC = "Replication throttle in bytes/s (reassignments)."
BROKER_QUOTA_CONFIGS: dict[str, ConfigDef] = {
    d.name: d
    for d in (
        ConfigDef(
            "leader.replication.throttled.rate", ConfigType.LONG, LONG_MAX, _THROTTLE_DOC,
            Range(0), Importance.MEDIUM,
        ),
        ConfigDef(
            "follower.replication.throttled.rate", ConfigType.LONG, LONG_MAX, _THROTTLE_DOC,
            Range(0), Importance.MEDIUM,
        ),
        ConfigDef(
            "replica.alter.log.dirs.io.max.bytes.per.second", ConfigType.LONG, LONG_MAX,
            "Throttle of moves between log dirs in bytes/s.", Range(0), Importance.MEDIUM,
        ),
    )
}  # fmt: skip

# Components Kafka reconfigures, by the keys they watch.
# DynamicLogConfig: the broker key behind each topic config's default.
LOG_CONFIGS: frozenset[str] = frozenset(
    d.synonyms[0].name for d in TOPIC_CONFIG_DEFS if d.synonyms
) & KAFKA_DYNAMIC_BROKER_KEYS
# LogCleaner.ReconfigurableConfigs.
CLEANER_CONFIGS: frozenset[str] = frozenset(
    {
        "log.cleaner.threads",
        "log.cleaner.dedupe.buffer.size",
        "log.cleaner.io.buffer.load.factor",
        "log.cleaner.io.buffer.size",
        "message.max.bytes",
        "log.cleaner.io.max.bytes.per.second",
        "log.cleaner.backoff.ms",
    }
)
# DynamicThreadPool.ReconfigurableConfigs and the network threads (SocketServer): resized
# to between half and double the current size.
THREAD_POOL_CONFIGS = (
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
    "num.network.threads",
)

# Keys Josef changes at run time; the other dynamic keys it implements are refused below
# or have no effect (broker.config.support).
APPLIED_CONFIGS: frozenset[str] = (
    LOG_CONFIGS
    | CLEANER_CONFIGS
    | {"num.recovery.threads.per.data.dir", "num.replica.fetchers", "producer.id.expiration.ms",
       "transaction.partition.verification.enable"}
)

_STARTUP_ONLY = {
    "listeners": "Josef binds its listeners at startup; change them in the configuration "
    "and restart the broker",
    "advertised.listeners": "the advertised listeners are registered at startup; change "
    "them in the configuration and restart the broker",
    "listener.security.protocol.map": "listeners are bound at startup; change them in the "
    "configuration and restart the broker",
}
_TLS_RELOAD = (
    "only key and trust stores (listener.name.<listener>.ssl.keystore.* and "
    "ssl.truststore.*) are reloaded at run time; other TLS settings are read at startup"
)
_SASL_RELOAD = "SASL settings are read at startup (changing them at run time is not implemented)"
_NOT_IMPLEMENTED = {
    "remote.fetch.max.wait.ms": "tiered storage is not implemented",
    "remote.log.index.file.cache.total.size.bytes": "tiered storage is not implemented",
    "remote.log.manager.copy.max.bytes.per.second": "tiered storage is not implemented",
    "remote.log.manager.fetch.max.bytes.per.second": "tiered storage is not implemented",
    "max.connection.creation.rate": "connection limits are not implemented yet",
    "max.connections.per.ip.overrides": "connection limits are not implemented yet",
    "metric.reporters": "metrics reporters are not supported",
}
_LOG_DIR_MOVES = "moving replicas between log dirs (AlterReplicaLogDirs) is not supported"


def base_key(key: str) -> str:
    """``listener.name.<l>.<key>`` → ``<key>`` (Kafka validates the base key's type)."""
    match = _LISTENER_KEY.match(key)
    return match.group(1) if match else key


def _mechanism_base(key: str) -> str:
    """The config a listener (and mechanism) prefixed key sets: its type and synonym."""
    base = base_key(key)
    return next((m for m in LISTENER_MECHANISM_CONFIGS if base.endswith(m)), base)


def config_def(key: str) -> ConfigDef | None:
    """The definition behind a broker key, a prefixed one or a dynamic-only one."""
    return (
        BROKER_CONFIGS.get(key)
        or BROKER_QUOTA_CONFIGS.get(key)
        or BROKER_CONFIGS.get(_mechanism_base(key))
    )


def is_non_dynamic(key: str) -> bool:
    """A key Kafka (or Josef) defines that cannot change at run time."""
    if key in KAFKA_DYNAMIC_BROKER_KEYS or key in BROKER_QUOTA_CONFIGS:
        return False
    return key in KAFKA_STATIC_BROKER_KEYS or key in BROKER_CONFIGS


def is_dynamic(key: str, standalone: bool) -> bool:
    """True when Josef accepts run-time updates of ``key`` (DescribeConfigs' read_only is
    the opposite). Custom keys are stored but stay read-only, as in Kafka."""
    if key.startswith(LISTENER_PREFIX) or key not in KAFKA_DYNAMIC_BROKER_KEYS:
        return False
    return _refusal_reason(key, standalone) is None


def _refusal_reason(key: str, standalone: bool) -> str | None:
    """Why Josef cannot apply ``key`` at run time (None: it can, or it has no effect)."""
    if key.startswith(LISTENER_PREFIX):
        base = _mechanism_base(key)
        if base in DYNAMIC_SECURITY_CONFIGS:
            return None  # reloaded (broker.security.tls_reload)
        if base.startswith("ssl."):
            return _TLS_RELOAD
        if base.startswith("sasl.") or base == "connections.max.reauth.ms":
            return _SASL_RELOAD
        return f"per-listener {base} is read at startup"
    if key == "replica.alter.log.dirs.io.max.bytes.per.second":
        return _LOG_DIR_MOVES
    if key in BROKER_QUOTA_CONFIGS:  # the replication throttles (KIP-73)
        return "only takes effect in cluster mode (set zookeeper.connect)" if standalone else None
    if key in _NOT_IMPLEMENTED:
        return _NOT_IMPLEMENTED[key]
    if key not in KAFKA_DYNAMIC_BROKER_KEYS:
        return None  # custom key: stored, no effect (Kafka too)
    if key not in BROKER_CONFIGS:
        if key.startswith(("sasl.kerberos.", "sasl.login.")):
            return (
                "the broker's own SASL login (GSSAPI, or OAUTHBEARER token retrieval for "
                "inter-broker SASL) is not supported"
            )
        return "not implemented by Josef"
    support = KEY_SUPPORT[key]
    if support.status is Support.REFUSED:
        return support.reason
    if support.status is Support.CLUSTER_ONLY:
        return support.reason if standalone else None
    if support.status is Support.NO_EFFECT or key in APPLIED_CONFIGS:
        return None
    if key in _STARTUP_ONLY:
        return _STARTUP_ONLY[key]
    if key.startswith("ssl."):
        return _TLS_RELOAD
    if key.startswith("sasl."):
        return _SASL_RELOAD
    return "Josef reads it only at startup"


def josef_refusal(key: str, raw: str | None, standalone: bool) -> str | None:
    """Why Josef refuses to set ``key`` to ``raw`` at run time, or None.

    A refused key set to Kafka's default value is accepted (it changes nothing), as at
    startup."""
    reason = _refusal_reason(key, standalone)
    if reason is None:
        return None
    definition = config_def(key)
    if raw is not None and definition is not None:
        try:
            value = definition.parse(raw)
        except ValueError:
            return reason
        if key in BROKER_CONFIGS and is_default(key, value):
            return None
        if value == definition.default:
            return None
    return reason


def is_per_broker(key: str) -> bool:
    """Kafka's per-broker-only keys: listener, TLS and SASL settings (plain or prefixed),
    which the cluster-wide default may not hold."""
    if key in PER_BROKER_CONFIGS:
        return True
    return bool(_LISTENER_KEY.match(key)) and base_key(key) not in CLUSTER_LEVEL_LISTENER_CONFIGS


def what_changes(key: str) -> str:
    """For the README: what a run-time change of an applied key does in Josef."""
    notes = {
        "log.cleaner.threads": "the log cleaner's threads are replaced (half to double)",
        "num.replica.fetchers": "followers move to the new number of fetchers (half to double)",
        "num.recovery.threads.per.data.dir": "threads of the next log recovery or shutdown",
        "producer.id.expiration.ms": "idle producer ids of every log expire after it",
        "transaction.partition.verification.enable": "the next transactional produce "
        "requests are verified (KIP-890) or not",
        "unclean.leader.election.enable": "default of the topic config; turned on, the "
        "controller elects leaders where only that was missing",
        "log.flush.interval.ms": "default of flush.ms, and the log flusher's schedule",
        "message.max.bytes": "default of max.message.bytes; the log cleaner restarts",
    }
    if key in notes:
        return notes[key]
    if key in CLEANER_CONFIGS:
        return "the log cleaner restarts with it"
    topic = next(
        (d.name for d in TOPIC_CONFIG_DEFS if d.synonyms and d.synonyms[0].name == key), None
    )
    if topic is not None:
        return f"default of {topic} for every topic without its own"
    return "applied at once"


def dynamic_key_rows() -> list[tuple[str, str, str]]:
    """(key, scope, what Josef does) for every key Kafka 3.9 can change at run time."""
    rows: list[tuple[str, str, str]] = []
    for key in sorted(KAFKA_DYNAMIC_BROKER_KEYS | set(BROKER_QUOTA_CONFIGS)):
        if key in DYNAMIC_SECURITY_CONFIGS:
            scope = "per listener of a broker"
        elif is_per_broker(key):
            scope = "per broker"
        else:
            scope = "cluster-wide or per broker"
        reason = _refusal_reason(key, standalone=False)
        support = KEY_SUPPORT.get(key)
        if key in DYNAMIC_SECURITY_CONFIGS:
            definition = config_def(key)
            if definition is not None and definition.type is ConfigType.PASSWORD:
                what = (
                    "refused as by Kafka without password.encoder.secret (passwords are "
                    "stored only encrypted; Josef has no password encoder)"
                )
            else:
                what = (
                    "reloaded: new connections get the new store, established ones keep "
                    "theirs (same DN and SANs unless ssl.allow.dn.changes / "
                    "ssl.allow.san.changes)"
                )
        elif reason is not None:
            what = f"refused: {reason}"
        elif support is not None and support.status is Support.NO_EFFECT:
            what = f"accepted without effect ({support.reason})"
        else:
            what = what_changes(key)
            if support is not None and support.status is Support.CLUSTER_ONLY:
                what += " (cluster mode only; refused on a standalone broker)"
        rows.append((key, scope, what))
    return rows


def broker_config_synonyms(key: str, match_listener_override: bool = True) -> list[str]:
    """Kafka's DynamicBrokerConfig.brokerConfigSynonyms: the keys that set the same
    config, highest precedence first."""
    for chain in _CHAINS:
        if key in chain:
            if key == "log.flush.scheduler.interval.ms":
                return [key]  # only log.flush.interval.ms falls back to it
            return list(chain)
    if match_listener_override and _LISTENER_KEY.match(key):
        return [key, _mechanism_base(key)]
    return [key]


_CHAINS = (
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
)


# --- Kafka's messages -------------------------------------------------------------------


def scala_set(keys: Iterable[str], props_order: Iterable[str] | None = None) -> str:
    """Kafka's ``Set(...)``/``HashSet(...)`` of keys filtered from a Properties whose keys
    were set in ``props_order`` (defaults to ``keys``)."""
    wanted = set(keys)
    order = [k for k in java_properties_order(props_order or list(keys)) if k in wanted]
    items = scala_immutable_set_order(order)
    name = "Set" if len(items) <= 4 else "HashSet"
    return f"{name}({', '.join(items)})"


def scala_mutable_set(keys: Iterable[str]) -> str:
    """A Scala mutable ``HashSet`` filtered from a Java ``HashSet`` (Kafka's
    DynamicSecurityConfigs)."""
    ordered = java_hashmap_order(keys)
    return f"HashSet({', '.join(scala_mutable_hashmap_order(ordered))})"


_INTEGER = re.compile(r"^[+-]?\d+$")
_BOUNDS = {
    ConfigType.SHORT: (SHORT_MIN, SHORT_MAX),
    ConfigType.INT: (-INT_MAX - 1, INT_MAX),
    ConfigType.LONG: (LONG_MIN, LONG_MAX),
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def kafka_type_error(definition: ConfigDef, key: str, raw: str) -> str | None:
    """Kafka's ConfigException message for a value that does not parse or validate."""
    reason = _kafka_reason(definition, raw)
    if reason is None:
        return None
    shown, text = reason
    return f"Invalid value {shown} for configuration {key}: {text}"


def _kafka_reason(definition: ConfigDef, raw: str) -> tuple[str, str] | None:
    text = raw.strip()
    kind = definition.type
    if kind is ConfigType.BOOLEAN and text.lower() not in ("true", "false"):
        return raw, "Expected value to be either true or false"
    if kind in _BOUNDS:
        low, high = _BOUNDS[kind]
        if not _INTEGER.match(text) or not low <= int(text) <= high:
            return raw, f"Not a number of type {kind.name}"
    if kind is ConfigType.DOUBLE:
        try:
            float(text)
        except ValueError:
            return raw, "Not a number of type DOUBLE"
    try:
        value = parse_value(kind, raw)
    except ValueError as exc:
        return raw, str(exc)
    validator = definition.validator
    if isinstance(validator, Range) and isinstance(value, int | float):
        if validator.min is not None and value < validator.min:
            return raw, f"Value must be at least {_num(validator.min)}"
        if validator.max is not None and value > validator.max:
            return raw, f"Value must be no more than {_num(validator.max)}"
    if isinstance(validator, OneOf):
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if item is not None and item not in validator.values:
                return str(item), f"String must be one of: {', '.join(validator.values)}"
    return None


def invalid_dynamic(message: str) -> str:
    """How Kafka reports a component refusing a change (ConfigException inside
    ConfigException "Invalid dynamic configuration")."""
    return (
        f"Invalid value org.apache.kafka.common.config.ConfigException: {message} "
        "for configuration Invalid dynamic configuration"
    )


def thread_pool_error(key: str, new: int, old: int) -> str | None:
    """Kafka's DynamicThreadPool rule: at least 1, between half and double the current."""
    if new == old:
        return None
    prefix = f"Dynamic thread count update validation failed for {key}={new}"
    if new <= 0:
        return invalid_dynamic(f"{prefix}, value should be at least 1")
    if new < old // 2:
        return invalid_dynamic(f"{prefix}, value should be at least half the current value {old}")
    if new > old * 2:
        return invalid_dynamic(
            f"{prefix}, value should not be greater than double the current value {old}"
        )
    return None


def cleaner_threads_error(new: int, old: int) -> str | None:
    """Kafka's LogCleaner.validateReconfiguration."""
    if new < 1:
        return invalid_dynamic("Log cleaner threads should be at least 1")
    if new < old // 2:
        return invalid_dynamic(
            f"Log cleaner threads cannot be reduced to less than half the current value {old}"
        )
    if new > old * 2:
        return invalid_dynamic(
            f"Log cleaner threads cannot be increased to more than double the current value {old}"
        )
    return None


def validation_errors(
    props: Mapping[str, str], per_broker: bool, order: Iterable[str] | None = None
) -> str | None:
    """Kafka's DynamicBrokerConfig.validateConfigs (steps 1-4 of the module docstring):
    the first failure's message, or None. ``order`` is the order in which the keys were
    set (Kafka builds its message from a java.util.Properties)."""
    keys = list(order) if order is not None else list(props)
    non_dynamic = [k for k in props if is_non_dynamic(k)]
    if non_dynamic:
        return f"Cannot update these configs dynamically: {scala_set(non_dynamic, keys)}"
    security = [k for k in props if k in DYNAMIC_SECURITY_CONFIGS]
    if security:
        return (
            "These security configs can be dynamically updated only per-listener using the "
            f"listener prefix: {scala_mutable_set(security)}"
        )
    for key, raw in props.items():
        base = base_key(key)
        definition = BROKER_CONFIGS.get(base) or BROKER_QUOTA_CONFIGS.get(base)
        if definition is None:
            continue  # custom key
        error = kafka_type_error(definition, base, raw)
        if error is not None:
            return error
    if not per_broker:
        per_broker_keys = [k for k in props if is_per_broker(k)]
        if per_broker_keys:
            return (
                "Cannot update these configs at default cluster level, broker id must be "
                f"specified: {scala_set(per_broker_keys, keys)}"
            )
    return None
