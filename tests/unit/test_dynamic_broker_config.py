"""Dynamic broker configs (KIP-226): which keys may change, validation, precedence, and
what a running broker applies (in-process broker, real metadata store and logs)."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import BrokerConfig, load_config
from broker.config.config_defs import BROKER_CONFIGS
from broker.config.dynamic_broker_config import (
    DEFAULT_ENTITY,
    DynamicBrokerConfig,
    effective_props,
)
from broker.config.dynamic_keys import (
    broker_config_synonyms,
    is_dynamic,
    josef_refusal,
    validation_errors,
)
from broker.config.kafka_broker_keys import KAFKA_DYNAMIC_BROKER_KEYS
from broker.network.context import ConnectionInfo, RequestContext
from broker.server import KafkaBroker
from broker.services import BrokerServices
from cluster.metadata import BrokerConfigChanged
from cluster.standalone import METADATA_FILE
from protocol.builders import make, request_class
from protocol.codec import encode_response
from protocol.errors import KafkaError
from protocol.headers import RequestHeader
from protocol.records import NewRecord, encode_batch
from storage.log_config import ConfigSource

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
BROKER, TOPIC = 4, 2

# --- which keys may change, and Kafka's messages ------------------------------------------


def test_dynamic_keys_josef_applies_or_refuses() -> None:
    applied = [
        "log.retention.ms", "log.retention.bytes", "log.segment.bytes", "log.roll.ms",
        "message.max.bytes", "compression.type", "min.insync.replicas", "log.cleanup.policy",
        "log.flush.interval.ms", "log.flush.interval.messages", "log.cleaner.threads",
        "log.cleaner.io.max.bytes.per.second", "log.cleaner.backoff.ms",
        "log.message.timestamp.type", "log.message.timestamp.before.max.ms",
        "num.recovery.threads.per.data.dir", "producer.id.expiration.ms",
        "log.message.timestamp.difference.max.ms", "compression.zstd.level",
        "compression.gzip.level", "log.local.retention.ms",
        # no effect in Josef, accepted as Kafka does
        "num.io.threads", "num.network.threads", "background.threads", "log.preallocate",
    ]  # fmt: skip
    for key in applied:
        assert is_dynamic(key, standalone=True), key
    refused = [
        "listeners", "advertised.listeners", "listener.security.protocol.map",
        "ssl.keystore.location", "sasl.enabled.mechanisms", "max.connections",
        "max.connections.per.ip", "principal.builder.class", "metric.reporters",
    ]  # fmt: skip
    for key in refused:
        assert not is_dynamic(key, standalone=False), key
    # cluster-only keys: dynamic in a cluster, refused on a standalone broker
    for key in ("unclean.leader.election.enable", "num.replica.fetchers"):
        assert is_dynamic(key, standalone=False) and not is_dynamic(key, standalone=True)
    # keys Kafka cannot change at run time, listener overrides and custom keys are read-only
    for key in ("log.retention.hours", "log.dirs", "broker.id", "listener.name.a.ssl.key.password"):
        assert not is_dynamic(key, standalone=False), key
    # every Kafka dynamic key Josef has is either applied, without effect or refused
    for key in KAFKA_DYNAMIC_BROKER_KEYS & set(BROKER_CONFIGS):
        is_dynamic(key, standalone=False)


def test_refusals_name_a_reason_and_accept_the_default() -> None:
    assert josef_refusal("max.connections", "100", standalone=False) == (
        "connection limits are not implemented yet"
    )
    assert josef_refusal("max.connections", "2147483647", standalone=False) is None
    # key and trust stores reload per listener; other TLS settings are read at startup
    assert josef_refusal("listener.name.ssl.ssl.keystore.location", "/k.p12", False) is None
    reason = josef_refusal("listener.name.ssl.ssl.client.auth", "required", False)
    assert reason is not None and "only key and trust stores" in reason
    assert josef_refusal("unclean.leader.election.enable", "true", standalone=True) == (
        "only takes effect in cluster mode (set zookeeper.connect)"
    )
    assert josef_refusal("unclean.leader.election.enable", "true", standalone=False) is None
    assert josef_refusal("leader.replication.throttled.rate", "1000", False) is None
    assert josef_refusal("follower.replication.throttled.rate", "1000", True) == (
        "only takes effect in cluster mode (set zookeeper.connect)"
    )
    assert josef_refusal("replica.alter.log.dirs.io.max.bytes.per.second", "1000", False) == (
        "moving replicas between log dirs (AlterReplicaLogDirs) is not supported"
    )
    assert josef_refusal("custom.key", "x", standalone=False) is None


def test_validation_messages_are_kafkas() -> None:
    def check(props: dict[str, str], per_broker: bool = True) -> str | None:
        return validation_errors(props, per_broker)

    assert check({"log.dirs": "/x", "broker.id": "3"}) == (
        "Cannot update these configs dynamically: Set(broker.id, log.dirs)"
    )
    five = ["log.retention.hours", "log.dirs", "broker.id", "zookeeper.connect", "num.partitions"]
    assert check(dict.fromkeys(five, "1")) == (
        "Cannot update these configs dynamically: HashSet(num.partitions, log.dirs, "
        "zookeeper.connect, log.retention.hours, broker.id)"
    )
    # a key Kafka defines and Josef does not is still refused as non-dynamic
    assert check({"inter.broker.protocol.version": "3.9"}) == (
        "Cannot update these configs dynamically: Set(inter.broker.protocol.version)"
    )
    assert check({"ssl.keystore.password": "x"}) == (
        "These security configs can be dynamically updated only per-listener using the "
        "listener prefix: HashSet(ssl.keystore.password)"
    )
    assert check({"log.retention.ms": "abc"}) == (
        "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
    )
    assert check({"log.cleanup.policy": "compact,forever"}) == (
        "Invalid value forever for configuration log.cleanup.policy: String must be one of: "
        "compact, delete"
    )
    assert check({"listener.name.a.ssl.client.auth": "sometimes"}) == (
        "Invalid value sometimes for configuration ssl.client.auth: String must be one of: "
        "required, requested, none"
    )
    assert check({"listeners": "PLAINTEXT://:1"}, per_broker=False) == (
        "Cannot update these configs at default cluster level, broker id must be specified: "
        "Set(listeners)"
    )
    assert check({"max.connections": "10"}, per_broker=False) is None  # cluster-level
    assert check({"custom.key": "anything", "log.retention.ms": "-5"}) is None


def test_synonyms_and_effective_props() -> None:
    assert broker_config_synonyms("log.retention.hours") == [
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ]
    assert broker_config_synonyms("log.flush.scheduler.interval.ms") == [
        "log.flush.scheduler.interval.ms"
    ]
    assert broker_config_synonyms("listener.name.ext.plain.sasl.jaas.config") == [
        "listener.name.ext.plain.sasl.jaas.config",
        "sasl.jaas.config",
    ]
    props = effective_props(
        {"log.retention.hours": "100", "num.partitions": "3"},
        {"log.retention.ms": "3600000"},
        {"log.retention.ms": "7200000"},
    )
    # a dynamic log.retention.ms hides the static log.retention.hours (Kafka's overrideProps)
    assert props == {"num.partitions": "3", "log.retention.ms": "7200000"}


# --- DynamicBrokerConfig over a store ---------------------------------------------------


class MemoryStore:
    """A BrokerConfigStore in memory that tells its subscriber like the real ones."""

    def __init__(self, entities: dict[str, dict[str, str]] | None = None) -> None:
        self.entities = entities or {}
        self.listener: Any = None

    def broker_configs(self, entity: str) -> dict[str, str]:
        return dict(self.entities.get(entity, {}))

    async def read_broker_configs(self, entity: str) -> dict[str, str]:
        return self.broker_configs(entity)

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        self.entities[entity] = dict(configs)
        if self.listener is not None:
            self.listener(BrokerConfigChanged(entity))


class Op:
    def __init__(self, name: str, value: str | None, op: int = SET) -> None:
        self.name, self.value, self.config_operation = name, value, op


def dynamic_config(
    static: dict[str, str], entities: dict[str, dict[str, str]] | None = None
) -> tuple[DynamicBrokerConfig, MemoryStore]:
    store = MemoryStore(entities)
    dynamic = DynamicBrokerConfig(BrokerConfig.from_properties(static), 0, store)
    store.listener = dynamic.on_metadata_event
    dynamic.load()
    return dynamic, store


async def test_precedence_per_broker_over_default_over_static() -> None:
    dynamic, store = dynamic_config({"log.retention.hours": "100"})
    assert dynamic.current.log_retention_ms == 100 * 3_600_000
    await dynamic.alter("", [Op("log.retention.ms", "3600000")], True, False)
    assert dynamic.current.log_retention_ms == 3_600_000
    await dynamic.alter("0", [Op("log.retention.ms", "7200000")], True, False)
    assert dynamic.current.log_retention_ms == 7_200_000
    assert store.entities == {
        DEFAULT_ENTITY: {"log.retention.ms": "3600000"},
        "0": {"log.retention.ms": "7200000"},
    }
    # the default changing underneath does not beat the per-broker value
    await dynamic.alter("", [Op("log.retention.ms", "60000")], True, False)
    assert dynamic.current.log_retention_ms == 7_200_000
    await dynamic.alter("0", [Op("log.retention.ms", None, DELETE)], True, False)
    assert dynamic.current.log_retention_ms == 60_000
    await dynamic.alter("", [Op("log.retention.ms", None, DELETE)], True, False)
    assert dynamic.current.log_retention_ms == 100 * 3_600_000


async def test_alter_configs_replaces_the_layer_and_validate_only_stores_nothing() -> None:
    dynamic, store = dynamic_config({})
    ops = [Op("log.retention.ms", "1000"), Op("num.io.threads", "9")]
    await dynamic.alter("0", ops, False, False)
    await dynamic.alter("0", [Op("log.cleaner.backoff.ms", "500")], False, True)
    assert store.entities["0"] == {"log.retention.ms": "1000", "num.io.threads": "9"}
    await dynamic.alter("0", [Op("log.cleaner.backoff.ms", "500")], False, False)
    assert store.entities["0"] == {"log.cleaner.backoff.ms": "500"}
    assert dynamic.current.log_retention_ms == 604_800_000
    await dynamic.alter("0", [Op("log.cleanup.policy", "compact", APPEND)], True, False)
    assert store.entities["0"]["log.cleanup.policy"] == "delete,compact"
    with pytest.raises(KafkaError) as err:
        await dynamic.alter("7", [Op("log.retention.ms", "1")], True, False)
    assert (err.value.error_code, str(err.value)) == (
        ErrorCode.invalid_request,
        "Unexpected broker id, expected 0, but received 7",
    )


async def test_refused_keys_and_component_validation() -> None:
    dynamic, _ = dynamic_config({"log.cleaner.threads": "2"})

    async def error(name: str, *ops: Op) -> str:
        with pytest.raises(KafkaError) as err:
            await dynamic.alter(name, list(ops), True, False)
        assert err.value.error_code == ErrorCode.invalid_request
        return str(err.value)

    assert await error("0", Op("listeners", "PLAINTEXT://:1")) == (
        "Josef cannot update these configs dynamically: listeners (Josef binds its listeners "
        "at startup; change them in the configuration and restart the broker)"
    )
    assert "unclean.leader.election.enable (only takes effect in cluster mode" in await error(
        "", Op("unclean.leader.election.enable", "true")
    )
    dynamic.add_reconfigurable(
        "cleaner",
        {"log.cleaner.threads"},
        lambda old, new: None,
        lambda old, new: "no" if new.log_cleaner_threads > 2 * old.log_cleaner_threads else None,
    )
    assert await error("0", Op("log.cleaner.threads", "5")) == "no"
    assert await error("0", Op("log.cleaner.dedupe.buffer.size", "1000")) == (
        "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner "
        "thread."
    )


def test_stored_configs_that_cannot_apply_are_dropped_at_load(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stored = {
        DEFAULT_ENTITY: {"log.retention.ms": "60000", "listeners": "X://:1", "log.dirs": "/x"},
        "0": {"message.max.bytes": "nope", "min.insync.replicas": "2", "custom.key": "v"},
    }
    with caplog.at_level(logging.ERROR):
        dynamic, _ = dynamic_config({}, stored)
    assert dynamic.default_layer == {"log.retention.ms": "60000"}
    assert dynamic.broker_layer == {"min.insync.replicas": "2", "custom.key": "v"}
    assert dynamic.current.min_insync_replicas == 2
    assert dynamic.current.log_retention_ms == 60000
    logged = caplog.text
    assert "listeners ignored: a per-broker config" in logged
    assert "log.dirs ignored: not a dynamic config" in logged
    assert "message.max.bytes ignored: Invalid value nope" in logged


async def test_reconfigurables_see_only_their_keys() -> None:
    dynamic, _ = dynamic_config({"log.retention.hours": "100"})
    seen: list[tuple[str, int, int]] = []
    dynamic.add_reconfigurable(
        "retention",
        {"log.retention.ms", "log.retention.hours"},
        lambda old, new: seen.append(("retention", old.log_retention_ms, new.log_retention_ms)),
    )
    dynamic.add_reconfigurable(
        "size", {"message.max.bytes"}, lambda old, new: seen.append(("size", 0, 0))
    )
    await dynamic.alter("0", [Op("log.retention.ms", "1000")], True, False)
    await dynamic.alter("0", [Op("log.retention.ms", None, DELETE)], True, False)
    assert seen == [("retention", 360_000_000, 1000), ("retention", 1000, 360_000_000)]


async def test_describe_sources_synonyms_and_read_only() -> None:
    dynamic, _ = dynamic_config({"log.retention.hours": "100", "log.cleaner.threads": "2"})
    await dynamic.alter(
        "", [Op("log.retention.ms", "3600000"), Op("log.cleaner.threads", "3")], True, False
    )
    await dynamic.alter(
        "0", [Op("log.retention.ms", "7200000"), Op("custom.key", "secret")], True, False
    )
    entries = {e.name: e for e in dynamic.describe("0")}
    retention = entries["log.retention.ms"]
    assert (retention.value, retention.source, retention.read_only) == (
        "7200000",
        ConfigSource.DYNAMIC_BROKER_CONFIG,
        False,
    )
    assert [(s.name, s.value, s.source) for s in retention.synonyms] == [
        ("log.retention.ms", "7200000", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", "3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.hours", "100", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    hours = entries["log.retention.hours"]
    # hidden by the dynamic log.retention.ms, as in Kafka: the value falls back to the default
    assert (hours.value, hours.source, hours.read_only) == (
        "168",
        ConfigSource.STATIC_BROKER_CONFIG,
        True,
    )
    threads = entries["log.cleaner.threads"]
    assert (threads.value, threads.source) == ("3", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    custom = entries["custom.key"]
    assert (custom.value, custom.is_sensitive, custom.read_only) == (None, True, True)
    assert entries["listeners"].read_only and not entries["num.io.threads"].read_only
    default = {e.name: e for e in dynamic.describe("")}
    assert set(default) == {"log.retention.ms", "log.cleaner.threads"}
    assert [(s.name, s.source) for s in default["log.retention.ms"].synonyms] == [
        ("log.retention.ms", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    ]
    with pytest.raises(KafkaError, match="expected 0 or empty string, but received 3"):
        dynamic.describe("3")
    topic = {e.name: e for e in dynamic.describe_topic({})}
    assert (topic["retention.ms"].value, topic["retention.ms"].source) == (
        "7200000",
        ConfigSource.DYNAMIC_BROKER_CONFIG,
    )


# --- a running broker ---------------------------------------------------------------------


def broker_config(data: Path, *extra: str) -> BrokerConfig:
    return load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={data}",
            "log.retention.hours=100",
            "log.cleaner.threads=2",
            *extra,
        ],
    )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[BrokerServices]:
    broker = KafkaBroker(broker_config(tmp_path / "logs"))
    await broker.start()
    assert broker.services is not None
    try:
        yield broker.services
    finally:
        await broker.shutdown()


def req(api_key: int, version: int, name: str | None = None, /, **fields: Any) -> Any:
    return make(request_class(api_key, version, name), **fields)


async def call(services: BrokerServices, api_key: int, version: int, body: Any) -> Any:
    route = services.registry.get(api_key)
    assert route is not None and route.supports(version)
    ctx = RequestContext(
        RequestHeader(api_key, version, 1, "test"),
        ConnectionInfo("c1", "127.0.0.1", 5555, "PLAINTEXT"),
    )
    response = await route.handler(ctx, body)
    encode_response(api_key, version, 1, response)
    return response


async def incremental(
    services: BrokerServices, name: str, *ops: tuple[str, str | None, int], validate: bool = False
) -> tuple[ErrorCode, str | None]:
    body = req(
        44,
        1,
        resources=(
            req(
                44,
                1,
                "AlterConfigsResource",
                resource_type=BROKER,
                resource_name=name,
                configs=tuple(
                    req(44, 1, "AlterableConfig", name=k, config_operation=op, value=v)
                    for k, v, op in ops
                ),
            ),
        ),
        validate_only=validate,
    )
    r = (await call(services, 44, 1, body)).responses[0]
    return ErrorCode(r.error_code), r.error_message


async def create_topic(services: BrokerServices, name: str, configs: dict[str, str]) -> None:
    body = req(
        19,
        5,
        topics=(
            req(
                19,
                5,
                "CreatableTopic",
                name=name,
                num_partitions=1,
                replication_factor=1,
                assignments=(),
                configs=tuple(
                    req(19, 5, "CreatableTopicConfig", name=k, value=v) for k, v in configs.items()
                ),
            ),
        ),
        timeout=datetime.timedelta(seconds=5),
        validate_only=False,
    )
    (topic,) = (await call(services, 19, 5, body)).topics
    assert topic.error_code == ErrorCode.none


async def produce(services: BrokerServices, topic: str, value: bytes) -> ErrorCode:
    batch = encode_batch([NewRecord(b"k", value)])
    body = req(
        0,
        9,
        transactional_id=None,
        acks=1,
        timeout=datetime.timedelta(seconds=5),
        topic_data=(
            req(
                0,
                9,
                "TopicProduceData",
                name=topic,
                partition_data=(req(0, 9, "PartitionProduceData", index=0, records=batch),),
            ),
        ),
    )
    response = await call(services, 0, 9, body)
    return ErrorCode(response.responses[0].partition_responses[0].error_code)


def log_config(services: BrokerServices, topic: str) -> Any:
    partition = services.replica_manager.get_partition(topic, 0)
    assert partition is not None
    return partition.log.config


async def test_log_defaults_reach_topics_without_an_override(services: BrokerServices) -> None:
    await create_topic(services, "plain", {})
    await create_topic(services, "own", {"retention.ms": "5000", "max.message.bytes": "100000"})
    assert await incremental(
        services,
        "",
        ("log.retention.ms", "60000", SET),
        ("message.max.bytes", "2000", SET),
        ("min.insync.replicas", "1", SET),
        ("compression.type", "gzip", SET),
    ) == (ErrorCode.none, None)
    plain, own = log_config(services, "plain"), log_config(services, "own")
    assert (plain.retention_ms, plain.max_message_bytes, plain.compression_type) == (
        60000,
        2000,
        "gzip",
    )
    assert (own.retention_ms, own.max_message_bytes, own.compression_type) == (
        5000,
        100000,
        "gzip",
    )
    # the next produce sees the new limit; a topic created afterwards starts with it
    assert await produce(services, "plain", b"x" * 3000) == ErrorCode.message_too_large
    assert await produce(services, "own", b"x" * 3000) == ErrorCode.none
    await create_topic(services, "later", {})
    assert log_config(services, "later").retention_ms == 60000
    assert services.config.message_max_bytes == 2000
    # back to the static configuration
    assert await incremental(
        services, "", ("log.retention.ms", None, DELETE), ("message.max.bytes", None, DELETE)
    ) == (ErrorCode.none, None)
    assert log_config(services, "plain").retention_ms == 100 * 3_600_000
    assert await produce(services, "plain", b"x" * 3000) == ErrorCode.none


async def test_cleaner_threads_and_other_components(services: BrokerServices) -> None:
    cleaner = services.log_manager.cleaner
    assert cleaner is not None and cleaner.stats()["threads"] == 2
    code, message = await incremental(services, "0", ("log.cleaner.threads", "5", SET))
    assert code == ErrorCode.invalid_request and message is not None
    assert "cannot be increased to more than double the current value 2" in message
    assert await incremental(
        services,
        "0",
        ("log.cleaner.threads", "3", SET),
        ("log.cleaner.io.max.bytes.per.second", "1000000", SET),
    ) == (ErrorCode.none, None)
    assert cleaner.stats()["threads"] == 3 and cleaner.throttler.rate == 1_000_000
    assert await incremental(
        services,
        "0",
        ("num.recovery.threads.per.data.dir", "2", SET),
        ("producer.id.expiration.ms", "1000", SET),
        ("num.io.threads", "12", SET),
    ) == (ErrorCode.none, None)
    assert services.log_manager.recovery_threads == 2
    assert services.log_manager.producer_id_expiration_ms == 1000
    code, message = await incremental(services, "0", ("num.io.threads", "40", SET))
    assert (code, message) == (
        ErrorCode.invalid_request,
        "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count "
        "update validation failed for num.io.threads=40, value should not be greater than "
        "double the current value 12 for configuration Invalid dynamic configuration",
    )


async def test_refused_on_a_standalone_broker(services: BrokerServices) -> None:
    for key, value in (
        ("unclean.leader.election.enable", "true"),
        ("num.replica.fetchers", "2"),
        ("max.connections", "10"),
        ("listener.name.plaintext.ssl.keystore.location", "/k.p12"),
    ):
        code, message = await incremental(services, "0", (key, value, SET))
        assert code == ErrorCode.invalid_request, key
        assert message is not None and message.startswith(
            f"Josef cannot update these configs dynamically: {key} ("
        )
    assert services.dynamic.broker_layer == {}


async def test_dynamic_configs_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "logs"
    broker = KafkaBroker(broker_config(data))
    await broker.start()
    assert broker.services is not None
    try:
        assert await incremental(
            broker.services, "", ("log.retention.ms", "60000", SET)
        ) == (ErrorCode.none, None)
        assert await incremental(
            broker.services, "0", ("log.cleaner.threads", "4", SET), validate=True
        ) == (ErrorCode.none, None)
        assert await incremental(
            broker.services, "0", ("log.cleaner.threads", "3", SET)
        ) == (ErrorCode.none, None)
    finally:
        await broker.shutdown()
    document = json.loads((data / METADATA_FILE).read_text())
    assert document["broker_configs"] == {
        "<default>": {"log.retention.ms": "60000"},
        "0": {"log.cleaner.threads": "3"},
    }
    broker = KafkaBroker(broker_config(data))
    await broker.start()
    assert broker.services is not None
    try:
        config = broker.services.config
        assert (config.log_retention_ms, config.log_cleaner_threads) == (60000, 3)
        cleaner = broker.services.log_manager.cleaner
        assert cleaner is not None and cleaner.stats()["threads"] == 3
        assert broker.services.replica_manager.default_config.retention_ms == 60000
    finally:
        await broker.shutdown()


async def test_flusher_follows_log_flush_interval_ms(services: BrokerServices) -> None:
    await create_topic(services, "f", {})
    assert await produce(services, "f", b"x") == ErrorCode.none
    partition = services.replica_manager.get_partition("f", 0)
    assert partition is not None
    log = partition.log
    # log.flush.interval.ms is unset: nothing flushes this log on time
    assert log.recovery_point < log.log_end_offset
    assert await incremental(services, "", ("log.flush.interval.ms", "100", SET)) == (
        ErrorCode.none,
        None,
    )
    assert log.config.flush_ms == 100
    deadline = asyncio.get_running_loop().time() + 30
    while log.recovery_point < log.log_end_offset:
        assert asyncio.get_running_loop().time() < deadline, "the flusher never ran"
        await asyncio.sleep(0.05)
