"""The new admin commands against Apache Kafka 3.9.1 itself (standard protocol only):
cluster info, offsets, records delete, logdirs describe, produce with headers and
consume --group / -f / --output json, checked with confluent-kafka on the same broker."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from helpers.clients import consume_confluent
from helpers.josef_cli import josef, ok
from helpers.kafka_process import KafkaBroker, kafka_available

pytestmark = pytest.mark.skipif(not kafka_available(), reason="Kafka 3.9.1 jars not present")


@pytest.fixture
def kafka(tmp_path: Path, zk_connect: str) -> Generator[KafkaBroker, None, None]:
    broker = KafkaBroker(tmp_path, 1, zk_connect)
    try:
        broker.start()
        broker.wait_listening()
        yield broker
    finally:
        broker.kill()


def jcli(k: KafkaBroker, *args: str, stdin: str | None = None) -> Any:
    out = ok(josef(k.bootstrap, *args, "--output", "json", stdin=stdin))
    return json.loads(out) if "\n" not in out.strip() else [json.loads(x) for x in out.splitlines()]


def test_new_commands_against_kafka(kafka: KafkaBroker) -> None:
    k = kafka
    admin = AdminClient({"bootstrap.servers": k.bootstrap})
    md = admin.describe_cluster().result(timeout=60)
    info = jcli(k, "cluster", "info")
    assert info["cluster_id"] == md.cluster_id and info["controller_id"] == md.controller.id == 1
    assert [b["id"] for b in info["brokers"]] == [1]

    ok(
        josef(
            k.bootstrap, "topics", "create", "kt", "--partitions", "2", "--replication-factor", "1"
        )
    )
    lines = "".join(f"h:{i}\tk{i}:v{i}\n" for i in range(6))
    produced = jcli(k, "produce", "kt", "--partition", "0", "--parse-headers", "--key-separator",
                    ":", stdin=lines)  # fmt: skip
    assert produced["partitions"] == [
        {"partition": 0, "records": 6, "first_offset": 0, "last_offset": 5}
    ]
    got = consume_confluent(k.bootstrap, "kt", 0, 0, 6)
    assert [(r.key, r.value, r.headers) for r in got] == [
        (f"k{i}".encode(), f"v{i}".encode(), (("h", str(i).encode()),)) for i in range(6)
    ]

    latest = jcli(k, "offsets", "--topic", "kt")
    assert [(r["partition"], r["offset"]) for r in latest] == [(0, 6), (1, 0)]
    deleted = jcli(k, "records", "delete", "--topic", "kt", "--partition", "0", "--offset", "2")
    assert deleted == [{"topic": "kt", "partition": 0, "low_watermark": 2, "error": None}]
    earliest = jcli(k, "offsets", "--topic", "kt", "--time", "earliest")
    assert [(r["partition"], r["offset"]) for r in earliest] == [(0, 2), (1, 0)]

    dirs = jcli(k, "logdirs", "describe", "--topic-list", "kt")
    (broker,) = dirs["brokers"]
    (logdir,) = broker["logDirs"]
    assert Path(logdir["logDir"]).resolve() == (k.dir / "data").resolve()
    sizes = {p["partition"]: p["size"] for p in logdir["partitions"]}
    assert sizes["kt-0"] > 0 and sizes["kt-1"] == 0

    # a group member against Kafka's group coordinator: resumes past the deleted records
    docs = jcli(k, "consume", "kt", "--group", "kg", "--from-beginning", "--max-messages", "4")
    assert [(d["partition"], d["offset"], d["key"], d["headers"]) for d in docs] == [
        (0, o, f"k{o}", [{"key": "h", "value": str(o)}]) for o in range(2, 6)
    ]
    groups = jcli(k, "groups", "describe", "kg")
    assert {(o["partition"], o["current_offset"]) for o in groups[0]["offsets"]} >= {(0, 6)}
    fmt = ok(josef(k.bootstrap, "consume", "kt", "--partition", "0", "--offset", "4",
                   "--max-messages", "2", "-f", "%p:%o:%k=%s;%h\\n"))  # fmt: skip
    assert fmt == "0:4:k4=v4;h=4\n0:5:k5=v5;h=5\n"


def test_command_config_sasl_against_kafka(tmp_path: Path, zk_connect: str) -> None:
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    k = KafkaBroker(
        tmp_path,
        1,
        zk_connect,
        {
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,PLAIN",
            "listener.name.external.scram-sha-256.sasl.jaas.config": f"{scram} required;",
            "listener.name.external.plain.sasl.jaas.config": (
                f'{plain} required user_alice="alice-secret";'
            ),
        },
    )
    try:
        k.start()
        k.wait_listening()
        internal = f"127.0.0.1:{k.port}"
        admin = AdminClient({"bootstrap.servers": internal})
        upsert = UserScramCredentialUpsertion(
            "sam", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"sam-secret"
        )
        for f in admin.alter_user_scram_credentials([upsert]).values():
            f.result(timeout=60)
        for name, props in {
            "scram": {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.jaas.config": f'{scram} required username="sam" password="sam-secret";',
            },
            "plain": {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": f'{plain} required username="alice" password="alice-secret";',
            },
        }.items():
            cfg = tmp_path / f"{name}.properties"
            cfg.write_text("".join(f"{key}={v}\n" for key, v in props.items()))
            doc = json.loads(
                ok(josef(k.bootstrap, "cluster", "info", "--command-config", str(cfg),
                         "--output", "json"))
            )  # fmt: skip
            assert doc["brokers"][0]["id"] == 1
        cfg = tmp_path / "bad.properties"
        cfg.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
            f'sasl.jaas.config={scram} required username="sam" password="wrong";\n'
        )
        bad = josef(k.bootstrap, "cluster", "info", "--command-config", str(cfg))
        assert bad.returncode == 1 and "SASL_AUTHENTICATION_FAILED" in bad.stderr
    finally:
        k.kill()
