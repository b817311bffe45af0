"""Apache Kafka 3.9.1's own admin tools against Josef: kafka-acls.sh (kafka.admin.AclCommand)
and kafka-configs.sh (kafka.admin.ConfigCommand) add, list and remove ACLs and describe
and alter client quotas and SCRAM credentials exactly as they do against Kafka.

The jars come from ``KAFKA_LIBS`` (default /work/cache/kafka-3.9.1/libs, fetched with mvn,
never committed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess, require_josef

KAFKA_LIBS = Path(os.environ.get("KAFKA_LIBS", "/work/cache/kafka-3.9.1/libs"))
JVM_FLAGS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true", "-Dlog4j.configuration=file:/dev/null")  # fmt: skip


def kafka_tool(main: str, *args: str) -> str:
    done = subprocess.run(
        ["java", *JVM_FLAGS, "-cp", f"{KAFKA_LIBS}/*", main, *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[BrokerProcess, None, None]:
    require_josef("the ACL authorizer")
    if not (KAFKA_LIBS / "kafka_2.13-3.9.1.jar").exists() or shutil.which("java") is None:
        pytest.skip(f"needs Java and Apache Kafka 3.9.1's jars in {KAFKA_LIBS}")
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
