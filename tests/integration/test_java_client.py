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


@pytest.mark.timeout(900)
def test_java_producer_fails_only_the_invalid_records(broker: BrokerProcess) -> None:
    """KIP-467: the keyless records of a batch to a compacted topic fail with
    InvalidRecordException carrying the broker's per-record message; the others fail as
    part of that batch, are sent again by the application and land in order."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from helpers.clients import consume

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("java-kip467", 1, 1, config={"cleanup.policy": "compact"})])[
        "java-kip467"
    ].result(30)
    java = require_tool("java", "apt-get install default-jdk-headless")
    libs = client_libs("3.9.1")
    out = run_program(
        [java, *JVM_FLAGS, "-cp", f"{libs}/*", str(CLIENTS_DIR / "java" / "RecordErrors.java"),
         broker.bootstrap, "java-kip467"],
        CLIENTS_DIR / "java",
    )  # fmt: skip
    lines = [line.split("\t") for line in out.splitlines() if line.count("\t") == 3]
    first = {int(i): (kind, detail) for step, i, kind, detail in lines if step == "first"}
    assert set(first) == {0, 1, 2, 3, 4}
    for bad in (1, 3):
        kind, message = first[bad]
        assert kind == "InvalidRecordException"
        assert message.startswith("Compacted topic cannot accept message without key")
    for good in (0, 2, 4):
        kind, message = first[good]
        assert kind == "KafkaException", first[good]
        assert "part of a batch which had one more more invalid records" in message
    retried = [(int(i), int(offset)) for step, i, _ok, offset in lines if step == "retry"]
    assert retried == [(0, 0), (2, 1), (4, 2)]  # nothing of the rejected batch was stored
    got = consume("confluent", broker.bootstrap, "java-kip467", 0, 0, 3)
    assert [(r.key, r.value) for r in got] == [(b"k0", b"v0"), (b"k2", b"v2"), (b"k4", b"v4")]


@pytest.mark.timeout(900)
def test_java_transactions(broker: BrokerProcess) -> None:
    """The Java client's transactional producer and read_committed consumer: committed
    records only, markers counted in offsets, and fencing by a new incarnation."""
    java = require_tool("java", "apt-get install default-jdk-headless")
    libs = client_libs("3.9.1")
    out = run_program(
        [java, *JVM_FLAGS, "-cp", f"{libs}/*", str(CLIENTS_DIR / "java" / "Transactions.java"),
         broker.bootstrap, "java-txn", "java-txn-id"],
        CLIENTS_DIR / "java",
    )  # fmt: skip
    seen = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line and
                not line.startswith("end_offset"))  # fmt: skip
    assert seen["fenced"] == "ProducerFencedException"
    assert seen["committed"] == "c0,c1,c2,c5,c6"
    # The fenced producer's "z" never reached the log (its AddPartitionsToTxn was fenced).
    assert seen["uncommitted"] == "c0,c1,c2,a3,a4,c5,c6"
    # 7 records and one marker per transaction: commit, abort, commit, commit.
    ends = [line.split("\t") for line in out.splitlines() if line.startswith("end_offset")]
    assert ends == [
        ["end_offset", "read_committed", "11"], ["end_offset", "read_uncommitted", "11"]
    ]
