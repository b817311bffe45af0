"""Record how Apache Kafka 3.9.1 answers dynamic broker config requests (KIP-226).

Starts a one-node ZooKeeper and one Kafka 3.9.1 broker in ZooKeeper mode (jars from
/work/cache/kafka-3.9.1/libs, see tests/helpers/kafka_process.py) with the static settings
in ``STATIC``, then:

1. DescribeConfigs of the BROKER resource (every key with its read-only flag): the names of
   every broker key Kafka knows and which ones it can change at run time;
2. every probe in ``PROBES`` (IncrementalAlterConfigs or AlterConfigs, validate_only unless
   marked ``apply``), recording the error code and message per resource;
3. after the applied probes, DescribeConfigs with synonyms of some keys, of the cluster
   default, of a topic, and the znodes Kafka wrote under /config.

Writes ``tests/fixtures/kafka_3_9_1_dynamic_broker_configs.json`` (what the parity tests in
tests/unit/test_dynamic_config_parity.py replay against Josef) and, with ``--module``,
regenerates ``broker/config/kafka_broker_keys.py``. Run from the repository root:

    .venv/bin/python tests/tools/record_kafka_dynamic_configs.py --module
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.kafka_process import KafkaBroker  # noqa: E402
from helpers.zookeeper import ZooKeeperEnsemble  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kio.schema.alter_configs.v2 import request as alter_v2  # noqa: E402
from kio.schema.create_topics.v5 import request as create_v5  # noqa: E402
from kio.schema.describe_configs.v4 import request as describe_v4  # noqa: E402
from kio.schema.incremental_alter_configs.v1 import request as inc_v1  # noqa: E402
from kio.static.primitive import i8, i16, i32  # noqa: E402

from cluster.broker_client import BrokerClient  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "kafka_3_9_1_dynamic_broker_configs.json"
MODULE = ROOT / "broker" / "config" / "kafka_broker_keys.py"

BROKER = 4
TOPIC = 2
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

STATIC = {"log.retention.hours": "100", "log.cleaner.threads": "2", "num.io.threads": "8"}

# (api, resource name, [(key, value, op)], apply). api "inc" = IncrementalAlterConfigs v1,
# "alter" = AlterConfigs v2 (op ignored). Probes run in order; applied ones change the state
# the later ones see.
PROBES: list[dict[str, Any]] = [
    {"api": "inc", "name": "0", "ops": [["log.dirs", "/x", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.dirs", "/x", SET], ["broker.id", "3", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.hours", "5", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.minutes", "5", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.roll.hours", "5", SET]]},
    {
        "api": "inc",
        "name": "",
        "ops": [
            ["log.retention.hours", "5", SET],
            ["log.dirs", "x", SET],
            ["broker.id", "1", SET],
            ["zookeeper.connect", "x", SET],
            ["num.partitions", "3", SET],
        ],
    },
    {"api": "inc", "name": "0", "ops": [["custom.key", "5", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.ms", "abc", SET]]},
    {"api": "inc", "name": "0", "ops": [["message.max.bytes", "-1", SET]]},
    {"api": "inc", "name": "0", "ops": [["compression.type", "brotli", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.segment.bytes", "1", SET]]},
    {"api": "inc", "name": "", "ops": [["unclean.leader.election.enable", "maybe", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.message.timestamp.type", "Foo", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.cleaner.threads", "5", SET]]},
    {"api": "inc", "name": "", "ops": [["log.cleaner.threads", "5", SET]]},
    {"api": "inc", "name": "0", "ops": [["num.io.threads", "17", SET]]},
    {"api": "inc", "name": "0", "ops": [["num.io.threads", "3", SET]]},
    {"api": "inc", "name": "", "ops": [["num.network.threads", "7", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.cleaner.dedupe.buffer.size", "1000", SET]]},
    {"api": "inc", "name": "0", "ops": [["ssl.keystore.password", "x", SET]]},
    {
        "api": "inc",
        "name": "",
        "ops": [["listener.name.external.ssl.keystore.location", "/x", SET]],
    },
    {"api": "inc", "name": "", "ops": [["listeners", "PLAINTEXT://:1", SET]]},
    {"api": "inc", "name": "", "ops": [["sasl.enabled.mechanisms", "PLAIN", SET]]},
    {"api": "inc", "name": "1", "ops": [["log.retention.ms", "5", SET]]},
    {"api": "inc", "name": "abc", "ops": [["log.retention.ms", "5", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.ms", "5", APPEND]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.ms", "1", 7]]},
    {"api": "inc", "name": "0", "ops": [["log.cleanup.policy", "compact", APPEND]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.ms", "-5", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.retention.ms", None, DELETE]]},
    {"api": "alter", "name": "0", "ops": [["log.dirs", "/x", SET]]},
    {"api": "alter", "name": "", "ops": [["log.retention.ms", "1000", SET]]},
    # applied
    {
        "api": "inc",
        "name": "",
        "apply": True,
        "ops": [["log.retention.ms", "3600000", SET], ["log.cleaner.threads", "3", SET]],
    },
    {
        "api": "inc",
        "name": "0",
        "apply": True,
        "ops": [["log.retention.ms", "7200000", SET], ["message.max.bytes", "2000000", SET]],
    },
    # the current value of log.cleaner.threads is 3 now
    {"api": "inc", "name": "0", "ops": [["log.cleaner.threads", "7", SET]]},
    {"api": "inc", "name": "0", "ops": [["log.cleaner.threads", "6", SET]]},
]

DESCRIBED_BROKER_KEYS = [
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "message.max.bytes",
    "log.cleaner.threads",
    "num.io.threads",
    "log.dirs",
    "log.roll.ms",
    "log.roll.hours",
    "log.flush.interval.ms",
    "broker.id",
    "log.segment.bytes",
]
DESCRIBED_TOPIC_KEYS = ["retention.ms", "max.message.bytes", "segment.ms", "cleanup.policy"]


def _client(bootstrap: str) -> BrokerClient:
    host, port = bootstrap.rsplit(":", 1)
    return BrokerClient(host, int(port), client_id="record-kafka-dynamic-configs")


async def _probe(bootstrap: str, probe: dict[str, Any]) -> list[Any]:
    validate = not probe.get("apply", False)
    async with _client(bootstrap) as c:
        if probe["api"] == "inc":
            inc_request = inc_v1.IncrementalAlterConfigsRequest(
                resources=(
                    inc_v1.AlterConfigsResource(
                        resource_type=i8(BROKER),
                        resource_name=probe["name"],
                        configs=tuple(
                            inc_v1.AlterableConfig(name=k, config_operation=i8(op), value=v)
                            for k, v, op in probe["ops"]
                        ),
                    ),
                ),
                validate_only=validate,
            )
            response = await c.send(inc_request)
        else:
            alter_request = alter_v2.AlterConfigsRequest(
                resources=(
                    alter_v2.AlterConfigsResource(
                        resource_type=i8(BROKER),
                        resource_name=probe["name"],
                        configs=tuple(
                            alter_v2.AlterableConfig(name=k, value=v) for k, v, _ in probe["ops"]
                        ),
                    ),
                ),
                validate_only=validate,
            )
            response = await c.send(alter_request)
    (r,) = response.responses
    return [int(r.error_code), r.error_message]


async def _describe(
    bootstrap: str, rtype: int, name: str, keys: list[str] | None
) -> dict[str, Any]:
    async with _client(bootstrap) as c:
        response = await c.send(
            describe_v4.DescribeConfigsRequest(
                resources=(
                    describe_v4.DescribeConfigsResource(
                        resource_type=i8(rtype),
                        resource_name=name,
                        configuration_keys=tuple(keys) if keys else None,
                    ),
                ),
                include_synonyms=True,
                include_documentation=False,
            )
        )
    (r,) = response.results
    return {
        "error_code": int(r.error_code),
        "error_message": r.error_message,
        "configs": [
            {
                "name": e.name,
                "value": e.value,
                "read_only": e.read_only,
                "source": int(e.config_source),
                "sensitive": e.is_sensitive,
                "type": int(e.config_type),
                "synonyms": [[s.name, s.value, int(s.source)] for s in e.synonyms],
            }
            for e in r.configs
        ],
    }


async def _create_topic(bootstrap: str, name: str) -> None:
    async with _client(bootstrap) as c:
        await c.send(
            create_v5.CreateTopicsRequest(
                topics=(
                    create_v5.CreatableTopic(
                        name=name,
                        num_partitions=i32(1),
                        replication_factor=i16(1),
                        assignments=(),
                        configs=(),
                    ),
                ),
                timeout=__import__("datetime").timedelta(seconds=30),
                validate_only=False,
            )
        )


async def _record(bootstrap: str, zk: str) -> dict[str, Any]:
    everything = await _describe(bootstrap, BROKER, "0", None)
    probes = []
    for probe in PROBES:
        answer = await _probe(bootstrap, probe)
        if probe.get("apply"):
            time.sleep(2.0)  # Kafka applies through its own /config/changes notification
        probes.append({**probe, "kafka": answer})
    await _create_topic(bootstrap, "t1")
    time.sleep(2.0)
    described = {
        "broker": await _describe(bootstrap, BROKER, "0", DESCRIBED_BROKER_KEYS),
        "default": await _describe(bootstrap, BROKER, "", None),
        "topic": await _describe(bootstrap, TOPIC, "t1", DESCRIBED_TOPIC_KEYS),
    }
    client = KazooClient(zk)
    client.start()
    try:
        znodes = {
            f"/config/brokers/{child}": client.get(f"/config/brokers/{child}")[0].decode()
            for child in sorted(client.get_children("/config/brokers"))
        }
        znodes.update(
            {
                f"/config/changes/{child}": client.get(f"/config/changes/{child}")[0].decode()
                for child in sorted(client.get_children("/config/changes"))
            }
        )
    finally:
        client.stop()
    return {
        "recorded_with": "Apache Kafka 3.9.1, ZooKeeper mode, tests/tools/"
        "record_kafka_dynamic_configs.py",
        "static": STATIC,
        "broker_keys": {
            c["name"]: {"read_only": c["read_only"], "type": c["type"]}
            for c in everything["configs"]
        },
        "probes": probes,
        "described_after": described,
        "znodes": znodes,
    }


def _write_module(record: dict[str, Any]) -> None:
    keys = record["broker_keys"]
    dynamic = sorted(k for k, v in keys.items() if not v["read_only"])
    static = sorted(k for k, v in keys.items() if v["read_only"])

    def block(names: list[str]) -> str:
        return "".join(f'        "{n}",\n' for n in names)

    MODULE.write_text(
        '"""Apache Kafka 3.9.1\'s broker config keys, recorded from a real broker.\n\n'
        "Generated by tests/tools/record_kafka_dynamic_configs.py (DescribeConfigs of a\n"
        "broker in ZooKeeper mode): every key KafkaConfig defines, split by the read-only flag\n"
        "Kafka reports, i.e. whether DynamicBrokerConfig can change it at run time (KIP-226).\n"
        "Kafka answers an update of a key in :data:`KAFKA_STATIC_BROKER_KEYS` with\n"
        '"Cannot update these configs dynamically"; keys in neither set are custom keys, which\n'
        "Kafka stores as they are. Do not edit by hand.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "KAFKA_DYNAMIC_BROKER_KEYS: frozenset[str] = frozenset(\n    {\n"
        f"{block(dynamic)}"
        "    }\n)\n\n"
        "KAFKA_STATIC_BROKER_KEYS: frozenset[str] = frozenset(\n    {\n"
        f"{block(static)}"
        "    }\n)\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="store_true", help="regenerate " + str(MODULE))
    parser.add_argument(
        "--from-fixture", action="store_true", help="only regenerate the module from the fixture"
    )
    args = parser.parse_args()
    if args.from_fixture:
        _write_module(json.loads(FIXTURE.read_text()))
        print(f"wrote {MODULE}")
        return 0
    with tempfile.TemporaryDirectory(prefix="kafka-dyn-") as tmp:
        base = Path(tmp)
        ensemble = ZooKeeperEnsemble(base / "zk", size=1).start()
        broker = KafkaBroker(base, 0, ensemble.nodes[0].address + "/kafka", dict(STATIC))
        try:
            broker.start()
            broker.wait_listening()
            time.sleep(3.0)
            record = asyncio.run(_record(broker.bootstrap, ensemble.nodes[0].address + "/kafka"))
        finally:
            broker.terminate()
            ensemble.close()
    FIXTURE.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"wrote {FIXTURE}")
    if args.module:
        _write_module(record)
        print(f"wrote {MODULE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
