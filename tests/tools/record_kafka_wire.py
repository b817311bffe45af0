"""Record Apache Kafka 3.9.1's wire answers that Josef's parity tests compare with.

Starts a one-node ZooKeeper and one Kafka 3.9.1 broker in ZooKeeper mode (jars from
/work/cache/kafka-3.9.1/libs, see tests/helpers/kafka_process.py) with Kafka's defaults
(plus the listener settings the helper needs), then records:

1. ``api_versions``: the ApiVersions v3 response (API key, min and max version of each API
   the broker serves to clients; the response also lists ZooKeeper-mode inter-broker APIs);
2. ``offsets_v0``: OffsetCommit v0/v1 and OffsetFetch v0/v1 exchanges on one topic, showing
   that v0 offsets (kept in ZooKeeper under /consumers) and v1 offsets (the group
   coordinator's) are separate, and the znode a v0 commit writes;
3. ``describe_configs``: DescribeConfigs v4 (synonyms and documentation) of every config of
   a topic created with no overrides and of broker 0.

Writes ``tests/fixtures/kafka_3_9_1_wire.json`` and, from it,
``broker/config/kafka_broker_defaults.py`` (the defaults of Kafka's broker keys that Josef's
table lacks; ``--from-fixture`` regenerates only that module). Run from the repository root:

    .venv/bin/python tests/tools/record_kafka_wire.py
"""

from __future__ import annotations

import asyncio
import datetime
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
from helpers.kafka_wire import TOPIC_NAME, describe_configs_v0, offsets_exchange  # noqa: E402
from helpers.zookeeper import ZooKeeperEnsemble  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kio.schema.api_versions.v3 import request as api_versions_v3  # noqa: E402
from kio.schema.create_topics.v5 import request as create_v5  # noqa: E402
from kio.schema.describe_configs.v4 import request as describe_v4  # noqa: E402
from kio.static.primitive import i8, i16, i32  # noqa: E402

from cluster.broker_client import BrokerClient  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "kafka_3_9_1_wire.json"
DEFAULTS_MODULE = ROOT / "broker" / "config" / "kafka_broker_defaults.py"
BROKER, TOPIC = 4, 2
V0_TOPIC = "wire-v0"


def _client(bootstrap: str) -> BrokerClient:
    host, port = bootstrap.rsplit(":", 1)
    return BrokerClient(host, int(port), client_id="record-kafka-wire")


async def _api_versions(c: BrokerClient) -> list[list[int]]:
    r = await c.send(
        api_versions_v3.ApiVersionsRequest(
            client_software_name="record-kafka-wire", client_software_version="1"
        )
    )
    return sorted([int(k.api_key), int(k.min_version), int(k.max_version)] for k in r.api_keys)


def _znode(zk: str, path: str) -> str:
    client = KazooClient(zk)
    client.start()
    try:
        return str(client.get(path)[0].decode())
    finally:
        client.stop()


async def _describe(c: BrokerClient, rtype: int, name: str) -> list[dict[str, Any]]:
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
    assert int(r.error_code) == 0, r
    return [
        {
            "name": e.name,
            "value": e.value,
            "read_only": e.read_only,
            "source": int(e.config_source),
            "sensitive": e.is_sensitive,
            "type": int(e.config_type),
            "documentation": e.documentation,
            "synonyms": [[s.name, s.value, int(s.source)] for s in e.synonyms],
        }
        for e in sorted(r.configs, key=lambda e: e.name)
    ]


async def _record(bootstrap: str, zk: str) -> dict[str, Any]:
    async with _client(bootstrap) as c:
        versions = await _api_versions(c)
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
        await asyncio.sleep(2)
        offsets = await offsets_exchange(c)
        offsets["znode"] = _znode(zk, offsets["znode_path"])
        topic = await _describe(c, TOPIC, TOPIC_NAME)
        broker = await _describe(c, BROKER, "0")
        await c.send(
            create_v5.CreateTopicsRequest(
                topics=(
                    create_v5.CreatableTopic(
                        name=V0_TOPIC,
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
        await asyncio.sleep(2)
        configs_v0 = await describe_configs_v0(c, V0_TOPIC)
    return {
        "recorded_with": "Apache Kafka 3.9.1, ZooKeeper mode, Kafka's defaults, "
        "tests/tools/record_kafka_wire.py",
        "api_versions": versions,
        "offsets_v0": offsets,
        "describe_configs": {"topic": topic, "broker": broker},
        "describe_configs_v0": configs_v0,
    }


def _write_defaults_module(record: dict[str, Any]) -> None:
    from broker.config.broker_config import BROKER_CONFIGS

    rows = []
    for entry in record["describe_configs"]["broker"]:
        if entry["name"] in BROKER_CONFIGS:
            continue
        defaults = [s[1] for s in entry["synonyms"] if s[2] == 5]
        default = defaults[-1] if defaults else entry["value"] if entry["source"] == 5 else None
        rows.append(f"    {entry['name']!r}: {default!r},\n")
    DEFAULTS_MODULE.write_text(
        '"""Defaults of Apache Kafka 3.9.1\'s broker keys that Josef\'s table lacks.\n\n'
        "Generated by tests/tools/record_kafka_wire.py from a real broker's DescribeConfigs\n"
        "(tests/fixtures/kafka_3_9_1_wire.json); broker.config.support refuses such a key at\n"
        "startup unless it is set to this default or has no effect (see\n"
        'broker.config.kafka_parity). Do not edit by hand.\n"""\n\n'
        "from __future__ import annotations\n\n"
        "# ruff: noqa: E501\n\n"
        "KAFKA_BROKER_DEFAULTS: dict[str, str | None] = {\n" + "".join(rows) + "}\n"
    )
    print(f"wrote {DEFAULTS_MODULE}")


def main() -> int:
    if sys.argv[1:] == ["--from-fixture"]:
        _write_defaults_module(json.loads(FIXTURE.read_text()))
        return 0
    with tempfile.TemporaryDirectory(prefix="kafka-wire-") as tmp:
        base = Path(tmp)
        ensemble = ZooKeeperEnsemble(base / "zk", size=1).start()
        zk = ensemble.nodes[0].address + "/kafka"
        broker = KafkaBroker(base, 0, zk, {})
        try:
            broker.start()
            broker.wait_listening()
            time.sleep(3.0)
            record = asyncio.run(_record(broker.bootstrap, zk))
        finally:
            broker.terminate()
            ensemble.close()
    FIXTURE.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
    _write_defaults_module(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
