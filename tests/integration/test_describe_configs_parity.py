"""DescribeConfigs of a topic and a broker, key by key next to Apache Kafka 3.9.1's answer
(tests/fixtures/kafka_3_9_1_wire.json, recorded by tests/tools/record_kafka_wire.py with
Kafka's defaults). Every difference must be one broker/config/kafka_parity.py explains."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from helpers.broker_process import BrokerProcess, require_josef
from helpers.kafka_wire import TOPIC_NAME
from kio.schema.create_topics.v5 import request as create_v5
from kio.schema.describe_configs.v4 import request as describe_v4
from kio.static.primitive import i8, i16, i32

from broker.config.dynamic_keys import is_dynamic
from broker.config.kafka_parity import (
    DEFAULT_DIFFERENCES,
    JOSEF_ONLY_BROKER_KEYS,
    reason_not_in_josef,
)
from cluster.broker_client import BrokerClient

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kafka_3_9_1_wire.json"
TOPIC, BROKER = 2, 4
DEFAULT_CONFIG = 5
# Keys with a null default that the recording Kafka (its listener settings, ZooKeeper) or
# this test's Josef (advertised listeners) set: one side shows no default.
NULL_DEFAULT_SET_BY_ONE_SIDE = {
    "advertised.listeners",
    "inter.broker.listener.name",
    "zookeeper.connect",
}
FIELDS = ("value", "read_only", "source", "sensitive", "type", "synonyms")


async def _describe(c: BrokerClient, rtype: int, name: str) -> dict[str, dict[str, Any]]:
    response = await c.send(
        describe_v4.DescribeConfigsRequest(
            resources=(
                describe_v4.DescribeConfigsResource(
                    resource_type=i8(rtype), resource_name=name, configuration_keys=None
                ),
            ),
            include_synonyms=True,
            include_documentation=True,
        )
    )
    (r,) = response.results
    assert int(r.error_code) == 0
    return {
        e.name: {
            "value": e.value,
            "read_only": e.read_only,
            "source": int(e.config_source),
            "sensitive": e.is_sensitive,
            "type": int(e.config_type),
            "documentation": e.documentation,
            "synonyms": [[s.name, s.value, int(s.source)] for s in e.synonyms],
        }
        for e in r.configs
    }


def _default(entry: dict[str, Any]) -> str | None:
    """The key's default as the answer shows it (its DEFAULT_CONFIG synonym or value)."""
    defaults = [s[1] for s in entry["synonyms"] if s[2] == DEFAULT_CONFIG]
    if defaults:
        return defaults[-1]  # type: ignore[no-any-return]
    return entry["value"] if entry["source"] == DEFAULT_CONFIG else None


async def test_describe_configs_matches_kafka_3_9_1(broker: BrokerProcess) -> None:
    require_josef("Josef's config tables")
    recorded = json.loads(FIXTURE.read_text())["describe_configs"]
    async with BrokerClient(broker.host, broker.port, client_id="config-parity") as c:
        await c.send(
            create_v5.CreateTopicsRequest(
                topics=(
                    create_v5.CreatableTopic(
                        name=TOPIC_NAME,
                        num_partitions=i32(2),
                        replication_factor=i16(1),
                        assignments=(),
                        configs=(),
                    ),
                ),
                timeout=datetime.timedelta(seconds=30),
                validate_only=False,
            )
        )
        topic = await _describe(c, TOPIC, TOPIC_NAME)
        brk = await _describe(c, BROKER, "0")

    # Topic: every key, every field but the wording of the documentation.
    kafka_topic = {e["name"]: e for e in recorded["topic"]}
    assert set(topic) == set(kafka_topic)
    for name, kafka in kafka_topic.items():
        for field in FIELDS:
            assert topic[name][field] == kafka[field], (name, field)
        assert topic[name]["documentation"], name

    # Broker: the same key set up to the explained gaps.
    kafka_broker = {e["name"]: e for e in recorded["broker"]}
    missing = set(kafka_broker) - set(brk)
    assert {k for k in missing if reason_not_in_josef(k) is None} == set()
    assert set(brk) - set(kafka_broker) == set(JOSEF_ONLY_BROKER_KEYS)
    for name in set(kafka_broker) & set(brk):
        ours, kafka = brk[name], kafka_broker[name]
        assert (ours["type"], ours["sensitive"]) == (kafka["type"], kafka["sensitive"]), name
        assert ours["documentation"], name
        # Read-only is Kafka's except where Josef cannot apply a change at run time (its
        # dynamic-config table, in the README, says why for each key).
        if ours["read_only"] != kafka["read_only"]:
            assert ours["read_only"] and not is_dynamic(name, standalone=True), name
        # Defaults: the same, except where Josef's differ on purpose. Keys the recording
        # broker or this test set (listeners, log.dirs, broker.id, ...) show their default
        # as a synonym; a null default shows none.
        if name not in DEFAULT_DIFFERENCES and _default(ours) != _default(kafka):
            # null defaults: a key one broker set shows no default synonym at all
            assert name in NULL_DEFAULT_SET_BY_ONE_SIDE, name
        # Where neither broker set the key, value, source and synonyms are Kafka's.
        if kafka["source"] == DEFAULT_CONFIG == ours["source"] and name not in DEFAULT_DIFFERENCES:
            for field in ("value", "synonyms"):
                assert ours[field] == kafka[field], (name, field)


def test_kafka_3_9_topic_keys_through_admin_clients(shared: BrokerProcess) -> None:
    """Deprecated and tiered-storage keys, created with confluent-kafka and read back with
    kafka-python's admin client; remote storage refused with Kafka's message."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from helpers.clients import unique_topic
    from kafka.admin import ConfigResource, KafkaAdminClient

    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    name = unique_topic("k39")
    ok = NewTopic(
        name,
        num_partitions=1,
        replication_factor=1,
        config={
            "message.format.version": "2.8",
            "local.retention.ms": "60000",
            "message.downconversion.enable": "false",
            "leader.replication.throttled.replicas": "0:0",
            "compression.zstd.level": "7",
        },
    )
    refused = NewTopic(
        unique_topic("tiered"),
        num_partitions=1,
        replication_factor=1,
        config={"remote.storage.enable": "true"},
    )
    futures = admin.create_topics([ok, refused], operation_timeout=30, request_timeout=30)
    futures[name].result(timeout=30)
    try:
        futures[refused.topic].result(timeout=30)
        raise AssertionError("remote.storage.enable=true was accepted")
    except Exception as exc:  # confluent_kafka.KafkaException
        error = exc.args[0]
        assert error.name() == "INVALID_CONFIG"
        assert "Tiered Storage functionality is disabled in the broker" in error.str()
    client = KafkaAdminClient(bootstrap_servers=shared.bootstrap)
    try:
        res = client.describe_configs([ConfigResource("TOPIC", name)], config_filter="all")
    finally:
        client.close()
    configs = {k: v["value"] for k, v in res["topic"][name].items()}
    assert configs["message.format.version"] == "2.8"
    assert configs["local.retention.ms"] == "60000"
    assert configs["message.downconversion.enable"] == "false"
    assert configs["leader.replication.throttled.replicas"] == "0:0"
    assert configs["compression.zstd.level"] == "7"
    assert configs["remote.storage.enable"] == "false"


async def test_describe_configs_v0_as_kafka_3_9(broker: BrokerProcess) -> None:
    """v0 (is_default instead of sources) answers as the recorded Kafka 3.9.1 broker."""
    require_josef("Josef's config tables")
    from helpers.kafka_wire import describe_configs_v0

    recorded = json.loads(FIXTURE.read_text())["describe_configs_v0"]
    async with BrokerClient(broker.host, broker.port, client_id="config-v0") as c:
        await c.send(
            create_v5.CreateTopicsRequest(
                topics=(
                    create_v5.CreatableTopic(
                        name="wire-v0",
                        num_partitions=i32(1),
                        replication_factor=i16(1),
                        assignments=(),
                        configs=(
                            create_v5.CreatableTopicConfig(name="retention.ms", value="1000"),
                        ),
                    ),
                ),
                timeout=datetime.timedelta(seconds=30),
                validate_only=False,
            )
        )
        ours = await describe_configs_v0(c, "wire-v0")
    assert ours == recorded
