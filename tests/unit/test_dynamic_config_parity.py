"""Josef's answers to dynamic broker config requests next to Apache Kafka 3.9.1's.

tests/fixtures/kafka_3_9_1_dynamic_broker_configs.json holds what a real Kafka 3.9.1 broker
in ZooKeeper mode answered (recorded with tests/tools/record_kafka_dynamic_configs.py, which
says how): error codes and messages of AlterConfigs / IncrementalAlterConfigs probes on the
BROKER resource, DescribeConfigs after some of them were applied, and the znodes written.
Each probe is replayed, in order, against an in-process Josef broker started with the same
static settings; code and message must be Kafka's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.config.broker_config import load_config
from broker.config.kafka_broker_keys import KAFKA_DYNAMIC_BROKER_KEYS, KAFKA_STATIC_BROKER_KEYS
from broker.network.context import ConnectionInfo, RequestContext
from broker.server import KafkaBroker
from broker.services import BrokerServices
from cluster.zk.config_znodes import ConfigEntity
from protocol.builders import make, request_class
from protocol.codec import encode_response
from protocol.headers import RequestHeader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "kafka_3_9_1_dynamic_broker_configs.json"
RECORD: dict[str, Any] = json.loads(FIXTURE.read_text())


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[BrokerServices]:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "broker.id=0",  # set in the Kafka broker's server.properties too
            *(f"{k}={v}" for k, v in RECORD["static"].items()),
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    try:
        yield broker.services
    finally:
        await broker.shutdown()


async def call(services: BrokerServices, api_key: int, version: int, body: Any) -> Any:
    route = services.registry.get(api_key)
    assert route is not None and route.supports(version)
    ctx = RequestContext(
        RequestHeader(api_key, version, 1, "parity"),
        ConnectionInfo("c1", "127.0.0.1", 5555, "PLAINTEXT"),
    )
    response = await route.handler(ctx, body)
    encode_response(api_key, version, 1, response)
    return response


def req(api_key: int, version: int, name: str | None = None, /, **fields: Any) -> Any:
    return make(request_class(api_key, version, name), **fields)


async def probe(services: BrokerServices, p: dict[str, Any]) -> list[Any]:
    validate = not p.get("apply", False)
    if p["api"] == "inc":
        body = req(
            44,
            1,
            resources=(
                req(
                    44,
                    1,
                    "AlterConfigsResource",
                    resource_type=4,
                    resource_name=p["name"],
                    configs=tuple(
                        req(44, 1, "AlterableConfig", name=k, config_operation=op, value=v)
                        for k, v, op in p["ops"]
                    ),
                ),
            ),
            validate_only=validate,
        )
        r = (await call(services, 44, 1, body)).responses[0]
    else:
        body = req(
            33,
            2,
            resources=(
                req(
                    33,
                    2,
                    "AlterConfigsResource",
                    resource_type=4,
                    resource_name=p["name"],
                    configs=tuple(
                        req(33, 2, "AlterableConfig", name=k, value=v) for k, v, _ in p["ops"]
                    ),
                ),
            ),
            validate_only=validate,
        )
        r = (await call(services, 33, 2, body)).responses[0]
    return [int(r.error_code), r.error_message]


async def describe(services: BrokerServices, rtype: int, name: str) -> dict[str, Any]:
    body = req(
        32,
        4,
        resources=(
            req(
                32,
                4,
                "DescribeConfigsResource",
                resource_type=rtype,
                resource_name=name,
                configuration_keys=None,
            ),
        ),
        include_synonyms=True,
        include_documentation=False,
    )
    result = (await call(services, 32, 4, body)).results[0]
    return {
        e.name: {
            "name": e.name,
            "value": e.value,
            "read_only": e.read_only,
            "source": int(e.config_source),
            "sensitive": e.is_sensitive,
            "type": int(e.config_type),
            "synonyms": [[s.name, s.value, int(s.source)] for s in e.synonyms],
        }
        for e in result.configs
    }


def test_recorded_key_lists_match_the_generated_module() -> None:
    keys = RECORD["broker_keys"]
    assert {k for k, v in keys.items() if not v["read_only"]} == KAFKA_DYNAMIC_BROKER_KEYS
    assert {k for k, v in keys.items() if v["read_only"]} == KAFKA_STATIC_BROKER_KEYS


async def test_probes_answer_as_kafka(services: BrokerServices) -> None:
    for p in RECORD["probes"]:
        assert await probe(services, p) == p["kafka"], p


def _comparable(entry: dict[str, Any], kafka: dict[str, Any]) -> dict[str, Any]:
    """What must match: everything, but synonyms only where Kafka lists any. (When the
    described key itself is set nowhere Kafka lists no synonyms; Josef lists the synonyms
    of lower precedence that decide the value, e.g. log.retention.hours under an unset
    log.retention.ms.)"""
    shown = dict(entry)
    if not kafka["synonyms"]:
        shown["synonyms"] = []
    return shown


async def test_describe_after_changes_as_kafka(services: BrokerServices) -> None:
    for p in RECORD["probes"]:
        await probe(services, p)
    after = RECORD["described_after"]
    broker = await describe(services, 4, "0")
    compared = 0
    for kafka in after["broker"]["configs"]:
        if kafka["name"] == "log.dirs":
            continue  # the directory differs
        assert _comparable(broker[kafka["name"]], kafka) == kafka
        compared += 1
    assert compared == len(after["broker"]["configs"]) - 1

    default = await describe(services, 4, "")
    assert default == {c["name"]: c for c in after["default"]["configs"]}

    await call(
        services,
        19,
        5,
        req(
            19,
            5,
            topics=(
                req(
                    19,
                    5,
                    "CreatableTopic",
                    name="t1",
                    num_partitions=1,
                    replication_factor=1,
                    assignments=(),
                    configs=(),
                ),
            ),
            timeout=__import__("datetime").timedelta(seconds=5),
            validate_only=False,
        ),
    )
    topic = await describe(services, 2, "t1")
    for kafka in after["topic"]["configs"]:
        assert _comparable(topic[kafka["name"]], kafka) == kafka


async def test_stored_entities_encode_as_kafka_wrote_them(services: BrokerServices) -> None:
    for p in RECORD["probes"]:
        await probe(services, p)
    store = services.metadata
    for path, data in RECORD["znodes"].items():
        if not path.startswith("/config/brokers/"):
            continue
        entity = path.rsplit("/", 1)[-1]
        encoded = ConfigEntity(store.broker_configs(entity)).encode()  # type: ignore[attr-defined]
        assert encoded.decode() == data
