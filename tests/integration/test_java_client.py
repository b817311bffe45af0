"""The Java client, org.apache.kafka:kafka-clients 3.9.1 and 4.1.1, against a Josef process.

tests/clients/java/ClientScenario.java (launched as a single-file source program) creates,
describes and deletes topics with the Admin client, produces idempotently, consumes, runs a
two-member consumer group through a rebalance (classic protocol; with 4.1.1 also KIP-848's
``group.protocol=consumer``), commits offsets with metadata and fetches them back; pytest
checks its JSON report and the stored batches exactly. The jars are fetched with mvn into
the test cache (tests/helpers/client_cache.py), never committed.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
from helpers.broker_process import BrokerProcess
from helpers.client_cache import maven_libs, require_tool
from helpers.client_programs import CLIENTS_DIR, check_client, run_program, scenario_broker

PROGRAM = CLIENTS_DIR / "java" / "ClientScenario.java"
JVM_FLAGS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true")  # fmt: skip


def client_libs(version: str) -> Path:
    return maven_libs(
        f"kafka-clients-{version}",
        [("org.apache.kafka", "kafka-clients", version), ("org.slf4j", "slf4j-nop", "1.7.36")],
    )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[BrokerProcess, None, None]:
    yield from scenario_broker(tmp_path_factory, "java-clients")


@pytest.mark.timeout(900)  # the first run downloads the jars with mvn
@pytest.mark.parametrize(
    ("version", "group_protocol", "client"),
    [
        ("3.9.1", "classic", "Java kafka-clients 3.9.1"),
        ("4.1.1", "classic", "Java kafka-clients 4.1.1"),
        ("4.1.1", "consumer", "Java kafka-clients 4.1.1 (KIP-848)"),
    ],
)
def test_java_client_scenario(
    broker: BrokerProcess, version: str, group_protocol: str, client: str
) -> None:
    java = require_tool("java", "apt-get install default-jdk-headless")
    libs = client_libs(version)
    topic = f"java-{version.replace('.', '')}-{group_protocol}"
    out = run_program(
        [java, *JVM_FLAGS, "-cp", f"{libs}/*", str(PROGRAM), broker.bootstrap, topic,
         f"{topic}-group", group_protocol],
        CLIENTS_DIR / "java",
    )  # fmt: skip
    check_client(client, out, broker, topic)
