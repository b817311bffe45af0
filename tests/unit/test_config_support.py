"""Every broker key is classified; keys Josef does not implement are refused, not ignored."""

from __future__ import annotations

import pytest

from broker.config.broker_config import BROKER_CONFIG_DEFS, BROKER_CONFIGS, BrokerConfig
from broker.config.properties import ConfigError
from broker.config.support import KEY_SUPPORT, Support, check_supported, is_default
from storage.log_config import ConfigDef, ConfigType, OneOf, Range


def non_default(d: ConfigDef) -> str:
    """A valid raw value for ``d`` that differs from its default."""
    if isinstance(d.validator, OneOf):
        choice = next(v for v in d.validator.values if v != d.default and (v,) != d.default)
        return choice
    if d.type is ConfigType.BOOLEAN:
        return "false" if d.default is True else "true"
    if d.type in (ConfigType.INT, ConfigType.LONG, ConfigType.SHORT):
        if not isinstance(d.default, int):
            return "1"
        low = d.validator.min if isinstance(d.validator, Range) else None
        below = d.default - 1
        return str(below if low is None or below >= low else d.default + 1)
    if d.type is ConfigType.DOUBLE:
        return str((d.default if isinstance(d.default, float) else 0.0) / 2 + 0.25)
    if d.name == "zookeeper.connect":
        return "127.0.0.1:2181"
    if d.name == "josef.http.listeners":
        return "http://127.0.0.1:0"
    return "something-else"


def default_text(d: ConfigDef) -> str:
    text = d.default_str
    return "" if text is None else text


def test_every_broker_key_is_classified() -> None:
    assert set(KEY_SUPPORT) == set(BROKER_CONFIGS)
    for name, entry in KEY_SUPPORT.items():
        if entry.status is not Support.IMPLEMENTED:
            assert entry.reason, f"{name} needs a reason"


REFUSED = [d for d in BROKER_CONFIG_DEFS if KEY_SUPPORT[d.name].status is Support.REFUSED]
CLUSTER_ONLY = [d for d in BROKER_CONFIG_DEFS if KEY_SUPPORT[d.name].status is Support.CLUSTER_ONLY]
ACCEPTED = [
    d
    for d in BROKER_CONFIG_DEFS
    if KEY_SUPPORT[d.name].status in (Support.IMPLEMENTED, Support.NO_EFFECT)
]


@pytest.mark.parametrize("d", REFUSED + CLUSTER_ONLY, ids=lambda d: d.name)
def test_unimplemented_key_with_other_value_is_refused(d: ConfigDef) -> None:
    config = BrokerConfig.from_properties({d.name: non_default(d)})
    with pytest.raises(ConfigError) as info:
        check_supported(config)
    assert info.value.key == d.name
    assert KEY_SUPPORT[d.name].reason in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("d", REFUSED + CLUSTER_ONLY, ids=lambda d: d.name)
def test_unimplemented_key_at_its_default_is_accepted(d: ConfigDef) -> None:
    numeric_unset = d.default is None and d.type not in (ConfigType.STRING, ConfigType.PASSWORD)
    config = BrokerConfig.from_properties({} if numeric_unset else {d.name: default_text(d)})
    assert is_default(d.name, config.values[d.name])
    check_supported(config)


@pytest.mark.parametrize("d", ACCEPTED, ids=lambda d: d.name)
def test_implemented_and_no_effect_keys_are_accepted(d: ConfigDef) -> None:
    if d.name in ("broker.id", "node.id"):
        raw = "3"
    elif d.name in ("listeners", "advertised.listeners"):
        raw = "PLAINTEXT://127.0.0.1:19092"
    elif d.name == "listener.security.protocol.map":
        raw = "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT"
    elif d.name in ("log.dir", "log.dirs"):
        raw = "/tmp/josef-support-test"
    elif d.name == "josef.cluster.id":
        raw = "MkU3OEVBNTcwNTJENDM2Qg"
    elif d.name == "inter.broker.listener.name":
        raw = "PLAINTEXT"
    elif d.name == "log.cleaner.dedupe.buffer.size":
        raw = str(64 * 1024 * 1024)
    elif d.name == "group.consumer.assignors":
        raw = "range"
    elif d.name == "log.cleaner.io.max.bytes.per.second":
        raw = "1000000"
    elif d.name == "log.message.format.version":
        raw = "2.8-IV1"
    elif d.name == "compression.gzip.level":
        raw = "9"
    elif d.name == "authorizer.class.name":
        raw = "kafka.security.authorizer.AclAuthorizer"
    elif d.name == "super.users":
        raw = "User:admin;User:ops"
    elif d.name == "josef.log.levels":
        raw = "broker.network=DEBUG,root=WARN"
    else:
        raw = non_default(d)
    check_supported(BrokerConfig.from_properties({d.name: raw}))


def test_kafka_server_properties_defaults_are_accepted() -> None:
    # The keys of Kafka's shipped server.properties that Josef accepts, at their values there.
    config = BrokerConfig.from_properties(
        {
            "broker.id": "0",
            "num.network.threads": "3",
            "num.io.threads": "8",
            "socket.send.buffer.bytes": "102400",
            "socket.receive.buffer.bytes": "102400",
            "socket.request.max.bytes": "104857600",
            "num.partitions": "1",
            "num.recovery.threads.per.data.dir": "1",
            "offsets.topic.replication.factor": "1",
            "log.retention.hours": "168",
            "log.retention.check.interval.ms": "300000",
            "group.initial.rebalance.delay.ms": "0",
            "authorizer.class.name": "",
            "zookeeper.session.timeout.ms": "18000",
        }
    )
    check_supported(config)


def test_cluster_keys_need_zookeeper_connect() -> None:
    standalone = BrokerConfig.from_properties({"replica.lag.time.max.ms": "5000"})
    with pytest.raises(ConfigError, match=r"only takes effect in cluster mode"):
        check_supported(standalone)
    cluster = BrokerConfig.from_properties(
        {"zookeeper.connect": "127.0.0.1:2181/josef", "replica.lag.time.max.ms": "5000"}
    )
    check_supported(cluster)


def test_inter_broker_listener_must_be_plaintext_in_a_cluster() -> None:
    config = BrokerConfig.from_properties(
        {
            "zookeeper.connect": "127.0.0.1:2181",
            "listeners": "PLAINTEXT://127.0.0.1:9092,SECURE://127.0.0.1:9093",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SECURE:SSL",
            "inter.broker.listener.name": "SECURE",
        }
    )
    with pytest.raises(ConfigError, match=r"PLAINTEXT only"):
        check_supported(config)


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("listener.name.external.ssl.engine.factory.class", "not supported"),
        ("listener.name.external.log.retention.ms", "per-listener"),
        ("listener.name.external.no.such.key", "per-listener"),
        ("listener.name.external.plain.sasl.server.callback.handler.class", "per-mechanism"),
    ],
)
def test_listener_prefixed_keys_follow_the_same_rules(key: str, fragment: str) -> None:
    config = BrokerConfig.from_properties({key: "1000"})
    with pytest.raises(ConfigError) as info:
        check_supported(config)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_per_mechanism_listener_keys_are_accepted() -> None:
    check_supported(
        BrokerConfig.from_properties(
            {
                "listener.name.sasl.plain.sasl.jaas.config": "x required;",
                "listener.name.sasl.scram-sha-256.connections.max.reauth.ms": "1000",
            }
        )
    )


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("process.roles", "broker,controller", "KRaft mode only"),
        ("zookeeper.ssl.client.enable", "true", "TLS to ZooKeeper"),
        ("remote.log.manager.thread.pool.size", "4", "tiered storage"),
        ("create.topic.policy.class.name", "com.example.Policy", "policy classes"),
        ("delegation.token.master.key", "secret", "delegation tokens"),
        ("password.encoder.secret", "s3cret", "password encoder"),
    ],
)
def test_kafka_keys_josef_lacks_are_refused_unless_default(key: str, value: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_supported(BrokerConfig.from_properties({key: value}))
    assert info.value.key == key and why in info.value.reason


def test_kafka_keys_josef_lacks_at_kafkas_default_or_without_effect_are_accepted() -> None:
    check_supported(
        BrokerConfig.from_properties(
            {
                "zookeeper.ssl.client.enable": "false",
                "remote.log.manager.thread.pool.size": "10",
                "metrics.num.samples": "5",
                "fetch.purgatory.purge.interval.requests": "100",
                "inter.broker.protocol.version": "3.9",
                "request.timeout.ms": "15000",
                "some.custom.key": "x",
            }
        )
    )
