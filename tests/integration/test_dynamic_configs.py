"""Dynamic broker configs (KIP-226) on a standalone broker process, through real clients:
confluent-kafka's AdminClient (incremental_alter_configs / describe_configs), kafka-python's
admin, and Kafka 3.9.1's own kafka-configs tool (ConfigCommand) for the cluster-wide default
(neither Python client can name the empty BROKER resource)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from conftest import BrokerFactory
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import create_topic, unique_topic, watermarks
from helpers.cluster_admin import kafka_tool
from helpers.josef_cluster import wait_until
from kafka import KafkaProducer
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import KafkaAdminClient
from kafka.errors import MessageSizeTooLargeError

CONFIG_COMMAND = "kafka.admin.ConfigCommand"


@pytest.fixture(autouse=True)
def _josef_only() -> None:
    require_josef("dynamic broker configs are Josef's (Tansu has none)")


def admin(broker: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def alter_broker(
    broker: BrokerProcess, ops: dict[str, tuple[str | None, AlterConfigOpType]]
) -> None:
    resource = ConfigResource(
        ResourceType.BROKER,
        "0",
        incremental_configs=[
            ConfigEntry(k, v, incremental_operation=op) for k, (v, op) in ops.items()
        ],
    )
    client = admin(broker)  # kept alive until the answers are in
    for future in client.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def describe_broker(broker: BrokerProcess, name: str = "0") -> dict[str, Any]:
    resource = ConfigResource(ResourceType.BROKER, name)
    client = admin(broker)
    future = client.describe_configs([resource])[resource]  # librdkafka asks for synonyms
    return dict(future.result(timeout=30))


def config_command(broker: BrokerProcess, *args: str) -> str:
    tool = kafka_tool(CONFIG_COMMAND, "--bootstrap-server", broker.bootstrap, *args)
    return tool.stdout + tool.stderr


def test_retention_default_changed_at_run_time_deletes_old_segments(
    broker_factory: BrokerFactory,
) -> None:
    broker = broker_factory({"log.retention.check.interval.ms": "200"})
    topic = unique_topic("dynret")
    create_topic(broker.bootstrap, topic, config={"segment.bytes": "1024"})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(40):
        producer.produce(topic, value=b"v" * 100, key=b"%d" % i)
        producer.flush(10)
    assert watermarks(broker.bootstrap, topic) == (0, 40)
    time.sleep(0.3)  # the closed segments get older than the retention set next

    # log.retention.ms for this broker only, at run time (no restart, no topic override)
    alter_broker(broker, {"log.retention.ms": ("100", AlterConfigOpType.SET)})
    wait_until("old segments deleted", lambda: watermarks(broker.bootstrap, topic)[0] > 0)
    low, high = watermarks(broker.bootstrap, topic)
    assert 0 < low <= high == 40  # every closed segment was older than 100 ms

    entry = describe_broker(broker)["log.retention.ms"]
    assert (entry.value, entry.source, entry.is_read_only) == (
        "100",
        ConfigSource.DYNAMIC_BROKER_CONFIG.value,
        False,
    )
    assert [(s.name, s.value, s.source) for s in entry.synonyms.values()][:1] == [
        ("log.retention.ms", "100", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    ]
    alter_broker(broker, {"log.retention.ms": (None, AlterConfigOpType.DELETE)})
    entry = describe_broker(broker)["log.retention.ms"]
    assert entry.source == ConfigSource.DEFAULT_CONFIG.value


def test_message_max_bytes_enforced_on_the_next_produce(broker: BrokerProcess) -> None:
    topic = unique_topic("dynsize")
    create_topic(broker.bootstrap, topic)
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, max_request_size=10_000_000, retries=0
    )
    try:
        producer.send(topic, b"x" * 2000).get(timeout=30)
        # kafka-python checks the key against the keys DescribeConfigs says are dynamic
        limit = KConfigResource("BROKER", "0", configs={"message.max.bytes": "1000"})
        kadmin.alter_configs([limit])
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(topic, b"x" * 2000).get(timeout=30)
        # librdkafka: the broker's MSG_SIZE_TOO_LARGE for the record
        errors: list[Any] = []
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "retries": 0})
        p.produce(topic, b"y" * 2000, on_delivery=lambda err, _msg: errors.append(err))
        p.flush(30)
        assert [e.code() for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE]
        described = kadmin.describe_configs(
            [KConfigResource("BROKER", "0", configs={"message.max.bytes": None})],
            include_synonyms=True,
        )
        entry = described["broker"]["0"]["message.max.bytes"]
        assert (entry["value"], entry["config_source"]) == ("1000", "DYNAMIC_BROKER_CONFIG")
        kadmin.reset_configs([KConfigResource("BROKER", "0", configs=["message.max.bytes"])])
        producer.send(topic, b"x" * 2000).get(timeout=30)
    finally:
        producer.close()
        kadmin.close()


def test_errors_are_kafkas(broker: BrokerProcess) -> None:
    def error(ops: dict[str, tuple[str | None, AlterConfigOpType]]) -> tuple[int, str]:
        with pytest.raises(KafkaException) as err:
            alter_broker(broker, ops)
        kafka_error = err.value.args[0]
        return kafka_error.code(), kafka_error.str()

    assert error({"log.dirs": ("/x", AlterConfigOpType.SET)}) == (
        42,
        "Cannot update these configs dynamically: Set(log.dirs)",
    )
    assert error({"log.retention.ms": ("soon", AlterConfigOpType.SET)}) == (
        42,
        "Invalid value soon for configuration log.retention.ms: Not a number of type LONG",
    )
    code, message = error({"listeners": ("PLAINTEXT://:1", AlterConfigOpType.SET)})
    assert code == 42 and message.startswith(
        "Josef cannot update these configs dynamically: listeners ("
    )
    assert describe_broker(broker)["listeners"].is_read_only


def test_cluster_default_with_kafka_configs_survives_a_restart(broker: BrokerProcess) -> None:
    out = config_command(
        broker,
        "--entity-type", "brokers", "--entity-default", "--alter",
        "--add-config", "log.cleaner.threads=2,log.retention.ms=3600000",
    )  # fmt: skip
    assert "Completed updating default config for brokers in the cluster." in out, out
    wait_until(
        "the cleaner restarted with 2 threads",
        lambda: "log cleaner reconfigured: 2 thread(s)" in broker.log_text(),
    )
    out = config_command(broker, "--entity-type", "brokers", "--entity-default", "--describe")
    assert "Default configs for brokers in the cluster are:" in out, out
    assert (
        "log.retention.ms=3600000 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000}"
    ) in out
    out = config_command(
        broker, "--entity-type", "brokers", "--entity-name", "0", "--alter",
        "--add-config", "log.dirs=/elsewhere",
    )  # fmt: skip
    assert "Cannot update these configs dynamically: Set(log.dirs)" in out, out

    broker.restart()
    entries = describe_broker(broker)
    for key, value in (("log.cleaner.threads", "2"), ("log.retention.ms", "3600000")):
        assert (entries[key].value, entries[key].source) == (
            value,
            ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
        )
    assert "log cleaner started: 2 thread(s)" in broker.log_text()
    out = config_command(
        broker, "--entity-type", "brokers", "--entity-default", "--alter",
        "--delete-config", "log.cleaner.threads,log.retention.ms",
    )  # fmt: skip
    assert "Completed updating default config" in out, out
    assert describe_broker(broker)["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
