"""Apache Kafka 3.9.1's own admin tools against Josef: kafka-acls.sh (kafka.admin.AclCommand)
and kafka-configs.sh (kafka.admin.ConfigCommand) add, list and remove ACLs and describe
and alter client quotas, SCRAM credentials, topic and broker configs; kafka-topics.sh
(org.apache.kafka.tools.TopicCommand), kafka-consumer-groups.sh
(org.apache.kafka.tools.consumer.group.ConsumerGroupCommand), kafka-producer-perf-test.sh
(org.apache.kafka.tools.ProducerPerformance) and kafka-consumer-perf-test.sh
(org.apache.kafka.tools.ConsumerPerformance) print what they print against Kafka.

The jars come from ``KAFKA_LIBS`` or /work/cache/kafka-3.9.1/libs when present, else mvn
fetches them into the test cache (tests/helpers/client_cache.py); never committed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Generator

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.client_cache import kafka_libs, require_tool

# the module's broker fixture fetches Kafka's jars with mvn on a machine that lacks them
pytestmark = pytest.mark.timeout(900)
JVM_FLAGS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true", "-Dlog4j.configuration=file:/dev/null")  # fmt: skip


def run_kafka_tool(main: str, *args: str) -> subprocess.CompletedProcess[str]:
    java = require_tool("java", "apt-get install default-jdk-headless")
    return subprocess.run(
        [java, *JVM_FLAGS, "-cp", f"{kafka_libs()}/*", main, *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def kafka_tool(main: str, *args: str) -> str:
    done = run_kafka_tool(main, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[BrokerProcess, None, None]:
    require_josef("the ACL authorizer")
    kafka_libs()  # fetched once, before the broker starts
    proc = BrokerProcess(
        tmp_path_factory.mktemp("kafka-tools"),
        {
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:ANONYMOUS",
        },
        name="tools",
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.close()


def test_kafka_acls_sh(broker: BrokerProcess) -> None:
    acls = "kafka.admin.AclCommand"
    bs = ("--bootstrap-server", broker.bootstrap)
    added = kafka_tool(acls, *bs, "--add", "--allow-principal", "User:alice", "--operation",
                       "Read", "--topic", "orders", "--group", "app-",
                       "--resource-pattern-type", "prefixed")  # fmt: skip
    assert "Adding ACLs for resource `ResourcePattern(resourceType=GROUP, name=app-, " \
           "patternType=PREFIXED)`" in added  # fmt: skip
    kafka_tool(acls, *bs, "--add", "--deny-principal", "User:bob", "--deny-host", "10.1.1.1",
               "--operation", "Write", "--topic", "orders")  # fmt: skip
    listed = kafka_tool(acls, *bs, "--list", "--topic", "orders")  # LITERAL by default
    assert "(principal=User:bob, host=10.1.1.1, operation=WRITE, permissionType=DENY)" in listed
    assert "User:alice" not in listed
    matching = kafka_tool(acls, *bs, "--list", "--topic", "orders", "--resource-pattern-type",
                          "any")  # fmt: skip
    assert "patternType=PREFIXED" in matching and "User:alice" in matching
    kafka_tool(acls, *bs, "--remove", "--force", "--allow-principal", "User:alice",
               "--operation", "Read", "--topic", "orders", "--group", "app-",
               "--resource-pattern-type", "prefixed")  # fmt: skip
    after = kafka_tool(acls, *bs, "--list")
    assert "User:alice" not in after and "User:bob" in after


def test_kafka_configs_sh_quotas_and_scram(broker: BrokerProcess) -> None:
    configs = "kafka.admin.ConfigCommand"
    bs = ("--bootstrap-server", broker.bootstrap)
    kafka_tool(configs, *bs, "--alter", "--add-config",
               "producer_byte_rate=1024,consumer_byte_rate=2048", "--entity-type", "users",
               "--entity-name", "alice")  # fmt: skip
    kafka_tool(configs, *bs, "--alter", "--add-config", "request_percentage=25",
               "--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients",
               "--entity-name", "app")  # fmt: skip
    kafka_tool(configs, *bs, "--alter", "--add-config",
               "SCRAM-SHA-256=[iterations=8192,password=alice-secret]", "--entity-type", "users",
               "--entity-name", "alice")  # fmt: skip
    out = kafka_tool(configs, *bs, "--describe", "--entity-type", "users", "--entity-name",
                     "alice")  # fmt: skip
    assert ("Quota configs for user-principal 'alice' are consumer_byte_rate=2048.0, "
            "producer_byte_rate=1024.0") in out  # fmt: skip
    assert "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=" \
           "iterations=8192" in out  # fmt: skip
    nested = kafka_tool(configs, *bs, "--describe", "--entity-type", "users", "--entity-name",
                        "alice", "--entity-type", "clients", "--entity-name", "app")  # fmt: skip
    assert "Quota configs for user-principal 'alice', client-id 'app' are " \
           "request_percentage=25.0" in nested  # fmt: skip
    kafka_tool(configs, *bs, "--alter", "--delete-config", "producer_byte_rate",
               "--entity-type", "users", "--entity-name", "alice")  # fmt: skip
    out = kafka_tool(configs, *bs, "--describe", "--entity-type", "users", "--entity-name",
                     "alice")  # fmt: skip
    assert "are consumer_byte_rate=2048.0\n" in out and "producer_byte_rate" not in out


TOPICS = "org.apache.kafka.tools.TopicCommand"
GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def test_kafka_topics_sh(broker: BrokerProcess) -> None:
    bs = ("--bootstrap-server", broker.bootstrap)
    created = kafka_tool(TOPICS, *bs, "--create", "--topic", "tools-topics", "--partitions",
                         "3", "--replication-factor", "1", "--config",
                         "retention.ms=123456")  # fmt: skip
    assert created == "Created topic tools-topics.\n"
    described = kafka_tool(TOPICS, *bs, "--describe", "--topic", "tools-topics").splitlines()
    assert re.fullmatch(
        r"Topic: tools-topics\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\t"
        r"ReplicationFactor: 1\tConfigs: retention.ms=123456",
        described[0],
    ), described[0]
    assert described[1:] == [
        f"\tTopic: tools-topics\tPartition: {p}\tLeader: 0\tReplicas: 0\tIsr: 0\tElr: N/A\t"
        "LastKnownElr: N/A"
        for p in range(3)
    ]
    assert "tools-topics" in kafka_tool(TOPICS, *bs, "--list").splitlines()
    kafka_tool(TOPICS, *bs, "--alter", "--topic", "tools-topics", "--partitions", "5")
    described = kafka_tool(TOPICS, *bs, "--describe", "--topic", "tools-topics").splitlines()
    assert "\tPartitionCount: 5\t" in described[0] and len(described) == 6
    again = run_kafka_tool(TOPICS, *bs, "--create", "--topic", "tools-topics", "--partitions", "1")
    assert again.returncode == 1
    assert "Topic 'tools-topics' already exists." in again.stdout + again.stderr
    kafka_tool(TOPICS, *bs, "--delete", "--topic", "tools-topics")
    assert "tools-topics" not in kafka_tool(TOPICS, *bs, "--list").splitlines()


def test_kafka_configs_sh_topics_and_brokers(broker: BrokerProcess) -> None:
    configs = "kafka.admin.ConfigCommand"
    bs = ("--bootstrap-server", broker.bootstrap)
    kafka_tool(TOPICS, *bs, "--create", "--topic", "tools-configs", "--partitions", "1")
    topic = ("--entity-type", "topics", "--entity-name", "tools-configs")
    out = kafka_tool(configs, *bs, "--alter", *topic, "--add-config",
                     "retention.ms=86400000,max.message.bytes=2000000")  # fmt: skip
    assert out == "Completed updating config for topic tools-configs.\n"
    assert kafka_tool(configs, *bs, "--describe", *topic) == (
        "Dynamic configs for topic tools-configs are:\n"
        "  max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
        "max.message.bytes=2000000, DEFAULT_CONFIG:message.max.bytes=1048588}\n"
        # Kafka lists no broker synonym when the first one (log.retention.ms) is unset.
        "  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
        "retention.ms=86400000}\n"
    )
    kafka_tool(configs, *bs, "--alter", *topic, "--delete-config", "max.message.bytes")
    assert "max.message.bytes" not in kafka_tool(configs, *bs, "--describe", *topic)
    bad = run_kafka_tool(configs, *bs, "--alter", *topic, "--add-config", "no.such.key=1")
    assert bad.returncode == 1 and "InvalidConfigurationException" in bad.stdout + bad.stderr

    default = ("--entity-type", "brokers", "--entity-default")
    out = kafka_tool(configs, *bs, "--alter", *default, "--add-config", "log.cleaner.threads=2")
    assert out == "Completed updating default config for brokers in the cluster.\n"
    assert kafka_tool(configs, *bs, "--describe", *default) == (
        "Default configs for brokers in the cluster are:\n"
        "  log.cleaner.threads=2 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.threads=2}\n"
    )
    broker0 = ("--entity-type", "brokers", "--entity-name", "0")
    out = kafka_tool(configs, *bs, "--alter", *broker0, "--add-config", "message.max.bytes=2000000")
    assert out == "Completed updating config for broker 0.\n"
    assert kafka_tool(configs, *bs, "--describe", *broker0) == (
        "Dynamic configs for broker 0 are:\n"
        "  message.max.bytes=2000000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
        "message.max.bytes=2000000, DEFAULT_CONFIG:message.max.bytes=1048588}\n"
    )
    kafka_tool(configs, *bs, "--alter", *broker0, "--delete-config", "message.max.bytes")
    kafka_tool(configs, *bs, "--alter", *default, "--delete-config", "log.cleaner.threads")
    assert kafka_tool(configs, *bs, "--describe", *broker0) == "Dynamic configs for broker 0 are:\n"


def groups_tool(*args: str) -> str:
    """kafka-consumer-groups.sh; its admin calls time out after 5 s by default, too short on a
    loaded 2-core machine."""
    return kafka_tool(GROUPS, "--timeout", "60000", *args)


def group_rows(out: str) -> list[list[str]]:
    """The rows of kafka-consumer-groups.sh --describe below its header line."""
    lines = [line.split() for line in out.splitlines() if line.strip()]
    header = next(i for i, cols in enumerate(lines) if cols[0] == "GROUP")
    return lines[header + 1 :]


def test_perf_tests_and_kafka_consumer_groups_sh(broker: BrokerProcess) -> None:
    bs = ("--bootstrap-server", broker.bootstrap)
    n = 5000
    kafka_tool(TOPICS, *bs, "--create", "--topic", "tools-perf", "--partitions", "3")
    produced = kafka_tool("org.apache.kafka.tools.ProducerPerformance", "--topic", "tools-perf",
                          "--num-records", str(n), "--record-size", "100", "--throughput", "-1",
                          "--producer-props", f"bootstrap.servers={broker.bootstrap}",
                          "acks=all")  # fmt: skip
    last = produced.splitlines()[-1]
    summary = (rf"{n} records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg "
               r"latency, [\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th")  # fmt: skip
    assert re.match(summary, last), produced
    consumed = kafka_tool("org.apache.kafka.tools.ConsumerPerformance", *bs, "--topic",
                          "tools-perf", "--messages", str(n), "--group", "tools-perf-group",
                          "--timeout", "60000")  # fmt: skip
    header, values = consumed.splitlines()[-2:]
    stats = dict(zip(header.split(", "), values.split(", "), strict=True))
    assert int(stats["data.consumed.in.nMsg"]) == n, consumed
    assert float(stats["data.consumed.in.MB"]) == round(n * 100 / 1024 / 1024, 4)
    # ConsumerPerformance commits on close: the group holds every partition's end offset
    rows = group_rows(groups_tool(*bs, "--describe", "--group", "tools-perf-group"))
    assert sorted(r[2] for r in rows) == ["0", "1", "2"]
    assert all(r[0] == "tools-perf-group" and r[1] == "tools-perf" for r in rows)
    assert all(r[3] == r[4] and r[5] == "0" and r[6:] == ["-", "-", "-"] for r in rows), rows
    assert sum(int(r[4]) for r in rows) == n
    state = group_rows(groups_tool(*bs, "--describe", "--group", "tools-perf-group",
                                  "--state"))  # fmt: skip
    assert state == [["tools-perf-group", "127.0.0.1:" + str(broker.port), "(0)", "Empty", "0"]]
    assert "tools-perf-group" in groups_tool(*bs, "--list").splitlines()
    ends = {r[2]: r[4] for r in rows}
    reset = groups_tool(*bs, "--reset-offsets", "--to-earliest", "--execute", "--group",
                        "tools-perf-group", "--topic", "tools-perf")  # fmt: skip
    # Kafka 3.9.1's tool prints the header and the rows without line breaks between them
    words = reset.split()
    assert words[:4] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], reset
    new_offsets = sorted(words[i : i + 4] for i in range(4, len(words), 4))
    assert new_offsets == [["tools-perf-group", "tools-perf", str(p), "0"] for p in range(3)]
    rows = group_rows(groups_tool(*bs, "--describe", "--group", "tools-perf-group"))
    lags = sorted((r[2], r[3], r[5]) for r in rows)
    assert lags == [(p, "0", end) for p, end in sorted(ends.items())]


def test_kafka_consumer_groups_sh_live_member(broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer

    bs = ("--bootstrap-server", broker.bootstrap)
    kafka_tool(TOPICS, *bs, "--create", "--topic", "tools-live", "--partitions", "2")
    consumer = KafkaConsumer("tools-live", bootstrap_servers=broker.bootstrap,
                             group_id="tools-live-group", client_id="live-client",
                             enable_auto_commit=False)  # fmt: skip
    try:
        for _ in range(600):
            consumer.poll(timeout_ms=100)
            if len(consumer.assignment()) == 2:
                break
        assert len(consumer.assignment()) == 2
        members = group_rows(groups_tool(*bs, "--describe", "--group", "tools-live-group",
                                        "--members"))  # fmt: skip
        assert len(members) == 1
        group, member_id, host, client_id, partitions = members[0]
        assert (group, client_id, partitions) == ("tools-live-group", "live-client", "2")
        assert member_id.startswith("live-client-") and host == "/127.0.0.1"
        state = group_rows(groups_tool(*bs, "--describe", "--group", "tools-live-group",
                                      "--state"))  # fmt: skip
        assert state == [["tools-live-group", f"127.0.0.1:{broker.port}", "(0)", "range",
                          "Stable", "1"]]  # fmt: skip
        offsets = group_rows(groups_tool(*bs, "--describe", "--group", "tools-live-group"))
        assert sorted((r[2], r[3], r[4], r[5], r[6]) for r in offsets) == [
            ("0", "-", "0", "-", member_id), ("1", "-", "0", "-", member_id)
        ]  # fmt: skip
    finally:
        consumer.close()
