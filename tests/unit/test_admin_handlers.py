"""Admin API handlers against an in-process broker (real metadata store, logs, topic manager).

Requests are kio entities handed to the registered handler; every response is also
serialized, so a field a version lacks or a wrong type fails here.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.network.context import ConnectionInfo, RequestContext
from broker.server import KafkaBroker
from broker.services import BrokerServices
from protocol.builders import make, request_class
from protocol.codec import encode_response
from protocol.headers import RequestHeader
from protocol.records import NewRecord, encode_batch

TIMEOUT = datetime.timedelta(seconds=5)
NULL_UUID = uuid.UUID(int=0)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[BrokerServices]:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "log.retention.hours=100",
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    try:
        yield broker.services
    finally:
        await broker.shutdown()


def req(api_key: int, version: int, name: str | None = None, /, **fields: Any) -> Any:
    return make(request_class(api_key, version, name), **fields)


async def call(services: BrokerServices, api_key: int, version: int, request: Any) -> Any:
    route = services.registry.get(api_key)
    assert route is not None and route.supports(version)
    ctx = RequestContext(
        RequestHeader(api_key, version, 1, "test"),
        ConnectionInfo("c1", "127.0.0.1", 5555, "PLAINTEXT"),
    )
    response = await route.handler(ctx, request)
    encode_response(api_key, version, 1, response)  # must serialize
    return response


# --- helpers per API ---------------------------------------------------------------------


async def create_topics(
    services: BrokerServices,
    *topics: tuple[str, int, int, dict[str, str | None]],
    version: int = 7,
    validate_only: bool = False,
) -> list[Any]:
    body = req(
        19,
        version,
        topics=tuple(
            req(
                19,
                version,
                "CreatableTopic",
                name=name,
                num_partitions=n,
                replication_factor=rf,
                assignments=(),
                configs=tuple(
                    req(19, version, "CreatableTopicConfig", name=k, value=v)
                    for k, v in configs.items()
                ),
            )
            for name, n, rf, configs in topics
        ),
        timeout=TIMEOUT,
        validate_only=validate_only,
    )
    return list((await call(services, 19, version, body)).topics)


async def describe(
    services: BrokerServices,
    rtype: int,
    name: str,
    keys: tuple[str, ...] | None = None,
    version: int = 4,
    synonyms: bool = False,
    docs: bool = False,
) -> Any:
    body = req(
        32,
        version,
        resources=(
            req(
                32,
                version,
                "DescribeConfigsResource",
                resource_type=rtype,
                resource_name=name,
                configuration_keys=keys,
            ),
        ),
        include_synonyms=synonyms,
        include_documentation=docs,
    )
    return (await call(services, 32, version, body)).results[0]


async def incremental(
    services: BrokerServices,
    rtype: int,
    name: str,
    ops: list[tuple[str, int, str | None]],
    validate_only: bool = False,
    version: int = 1,
) -> Any:
    body = req(
        44,
        version,
        resources=(
            req(
                44,
                version,
                "AlterConfigsResource",
                resource_type=rtype,
                resource_name=name,
                configs=tuple(
                    req(44, version, "AlterableConfig", name=k, config_operation=op, value=v)
                    for k, op, v in ops
                ),
            ),
        ),
        validate_only=validate_only,
    )
    return (await call(services, 44, version, body)).responses[0]


def produce(services: BrokerServices, topic: str, count: int) -> None:
    batch = encode_batch([NewRecord(b"k", b"v%d" % i) for i in range(count)])
    result = services.replica_manager.append_to_leader(topic, 0, batch, acks=-1)
    assert result.error == ErrorCode.none


# --- CreateTopics / DeleteTopics / CreatePartitions ------------------------------------------


async def test_create_topics_v7_returns_metadata_and_configs(services: BrokerServices) -> None:
    (result,) = await create_topics(services, ("t1", 3, -1, {"retention.ms": "1000"}))
    assert result.error_code == ErrorCode.none
    assert result.num_partitions == 3 and result.replication_factor == 1
    assert result.topic_id != NULL_UUID
    configs = {c.name: c for c in result.configs}
    assert configs["retention.ms"].value == "1000"
    assert configs["retention.ms"].config_source == 1  # DYNAMIC_TOPIC_CONFIG
    assert configs["retention.bytes"].config_source == 5  # DEFAULT_CONFIG
    topic = services.metadata.topic("t1")
    assert topic is not None and topic.topic_id == result.topic_id
    assert len(topic.partitions) == 3


async def test_create_topics_validate_only_and_errors(services: BrokerServices) -> None:
    (result,) = await create_topics(services, ("v1", 2, 1, {}), version=5, validate_only=True)
    assert result.error_code == ErrorCode.none and result.num_partitions == 2
    assert services.metadata.topic("v1") is None

    await create_topics(services, ("exists", 1, 1, {}))
    results = await create_topics(
        services,
        ("dup", 1, 1, {}),
        ("dup", 1, 1, {}),
        ("bad name!", 1, 1, {}),
        ("exists", 1, 1, {}),
        ("badcfg", 1, 1, {"no.such.config": "1"}),
        ("nullcfg", 1, 1, {"retention.ms": None}),
        ("zero", 0, 1, {}),
        ("rf3", 1, 3, {}),
        version=2,
    )
    codes = [(r.name, r.error_code) for r in results]
    assert codes == [
        ("dup", ErrorCode.invalid_request),
        ("dup", ErrorCode.invalid_request),
        ("bad name!", ErrorCode.invalid_topic_exception),
        ("exists", ErrorCode.topic_already_exists),
        ("badcfg", ErrorCode.invalid_config),
        ("nullcfg", ErrorCode.invalid_config),
        ("zero", ErrorCode.invalid_partitions),
        ("rf3", ErrorCode.invalid_replication_factor),
    ]
    assert all(r.error_message for r in results)
    assert services.metadata.topic("dup") is None


async def test_delete_topics_by_name_and_id(services: BrokerServices) -> None:
    (a,) = await create_topics(services, ("a", 1, 1, {}))
    await create_topics(services, ("b", 1, 1, {}))

    def state(name: str | None, topic_id: uuid.UUID) -> Any:
        return req(20, 6, "DeleteTopicState", name=name, topic_id=topic_id)

    unknown_id = uuid.uuid4()
    body = req(
        20,
        6,
        topics=(
            state(None, a.topic_id),
            state("b", NULL_UUID),
            state("zz", NULL_UUID),
            state(None, unknown_id),
        ),
        timeout=TIMEOUT,
    )
    out = (await call(services, 20, 6, body)).responses
    assert [(r.name, r.error_code) for r in out] == [
        ("a", ErrorCode.none),
        ("b", ErrorCode.none),
        ("zz", ErrorCode.unknown_topic_or_partition),
        (None, ErrorCode.unknown_topic_id),
    ]
    assert out[0].topic_id == a.topic_id
    assert services.metadata.topic("a") is None and services.metadata.topic("b") is None

    both = req(20, 6, topics=(state("x", unknown_id),), timeout=TIMEOUT)
    (r,) = (await call(services, 20, 6, both)).responses
    assert r.error_code == ErrorCode.invalid_request

    services.topic_manager.delete_topic_enable = False
    for version, code in ((1, ErrorCode.invalid_request), (4, ErrorCode.topic_deletion_disabled)):
        body = req(20, version, topic_names=("x",), timeout=TIMEOUT)
        (r,) = (await call(services, 20, version, body)).responses
        assert r.error_code == code


async def test_create_partitions(services: BrokerServices) -> None:
    await create_topics(services, ("p", 1, 1, {}))

    async def grow(*topics: tuple[str, int], validate_only: bool = False) -> list[Any]:
        body = req(
            37,
            3,
            topics=tuple(
                req(37, 3, "CreatePartitionsTopic", name=n, count=c, assignments=None)
                for n, c in topics
            ),
            timeout=TIMEOUT,
            validate_only=validate_only,
        )
        return [(r.name, r.error_code) for r in (await call(services, 37, 3, body)).results]

    assert await grow(("p", 4), validate_only=True) == [("p", ErrorCode.none)]
    topic = services.metadata.topic("p")
    assert topic is not None and len(topic.partitions) == 1
    assert await grow(("p", 3)) == [("p", ErrorCode.none)]
    assert services.replica_manager.get_partition("p", 2) is not None
    assert await grow(("p", 3), ("q", 2)) == [
        ("p", ErrorCode.invalid_partitions),
        ("q", ErrorCode.unknown_topic_or_partition),
    ]
    assert await grow(("p", 2)) == [("p", ErrorCode.invalid_partitions)]
    assert await grow(("p", 5), ("p", 6)) == [("p", ErrorCode.invalid_request)]


# --- configs ---------------------------------------------------------------------------------


async def test_describe_configs(services: BrokerServices) -> None:
    await create_topics(services, ("c", 1, 1, {"retention.ms": "5000"}))
    result = await describe(services, 2, "c", synonyms=True, docs=True)
    assert result.error_code == ErrorCode.none
    entries = {e.name: e for e in result.configs}
    retention = entries["retention.ms"]
    assert retention.value == "5000" and retention.config_source == 1
    # Kafka 3.9: the topic override, then the broker synonyms from log.retention.ms (unset)
    assert [s.name for s in retention.synonyms] == ["retention.ms"]
    assert retention.documentation and retention.config_type == 5  # LONG

    only = await describe(services, 2, "c", keys=("cleanup.policy", "nope"), version=1)
    assert [(e.name, e.value, e.synonyms) for e in only.configs] == [
        ("cleanup.policy", "delete", ())
    ]

    assert (await describe(services, 2, "missing")).error_code == (
        ErrorCode.unknown_topic_or_partition
    )
    assert (await describe(services, 2, "bad/name")).error_code == (
        ErrorCode.invalid_topic_exception
    )
    broker = await describe(services, 4, str(services.broker_id), keys=("log.retention.hours",))
    (entry,) = broker.configs
    assert entry.value == "100" and entry.config_source == 4  # STATIC_BROKER_CONFIG
    assert (await describe(services, 4, "")).configs == ()
    assert (await describe(services, 4, "77")).error_code == ErrorCode.invalid_request
    assert (await describe(services, 4, "x")).error_code == ErrorCode.invalid_request
    loggers = await describe(services, 8, str(services.broker_id), keys=("root",))
    assert [e.name for e in loggers.configs] == ["root"]
    assert (await describe(services, 8, "")).error_code == ErrorCode.invalid_request
    assert (await describe(services, 16, "x")).error_code == ErrorCode.invalid_request


async def test_alter_configs_replaces_all_overrides(services: BrokerServices) -> None:
    await create_topics(services, ("ac", 1, 1, {"retention.ms": "5000", "segment.ms": "9999"}))

    async def alter(rtype: int, name: str, configs: dict[str, str], validate: bool) -> Any:
        body = req(
            33,
            2,
            resources=(
                req(
                    33,
                    2,
                    "AlterConfigsResource",
                    resource_type=rtype,
                    resource_name=name,
                    configs=tuple(
                        req(33, 2, "AlterableConfig", name=k, value=v) for k, v in configs.items()
                    ),
                ),
            ),
            validate_only=validate,
        )
        return (await call(services, 33, 2, body)).responses[0]

    assert (await alter(2, "ac", {"retention.ms": "1"}, True)).error_code == ErrorCode.none
    topic = services.metadata.topic("ac")
    assert topic is not None and topic.configs["retention.ms"] == "5000"
    assert (await alter(2, "ac", {"retention.ms": "1"}, False)).error_code == ErrorCode.none
    topic = services.metadata.topic("ac")
    assert topic is not None and topic.configs == {"retention.ms": "1"}
    partition = services.replica_manager.get_partition("ac", 0)
    assert partition is not None and partition.log.config.retention_ms == 1
    assert (await alter(2, "ac", {"retention.ms": "x"}, False)).error_code == (
        ErrorCode.invalid_config
    )
    assert (await alter(2, "nope", {}, False)).error_code == ErrorCode.unknown_topic_or_partition
    assert (await alter(4, "", {}, False)).error_code == ErrorCode.none
    refused = await alter(4, str(services.broker_id), {"log.retention.hours": "1"}, False)
    assert refused.error_code == ErrorCode.invalid_request and refused.error_message


async def test_incremental_alter_configs(services: BrokerServices) -> None:
    await create_topics(services, ("ic", 1, 1, {}))

    def overrides() -> dict[str, str]:
        topic = services.metadata.topic("ic")
        assert topic is not None
        return topic.configs

    r = await incremental(services, 2, "ic", [("cleanup.policy", 2, "compact")])
    assert r.error_code == ErrorCode.none and overrides() == {"cleanup.policy": "delete,compact"}
    r = await incremental(services, 2, "ic", [("cleanup.policy", 3, "delete")])
    assert r.error_code == ErrorCode.none and overrides() == {"cleanup.policy": "compact"}
    r = await incremental(
        services, 2, "ic", [("retention.ms", 0, "7"), ("cleanup.policy", 1, None)]
    )
    assert r.error_code == ErrorCode.none and overrides() == {"retention.ms": "7"}
    r = await incremental(services, 2, "ic", [("retention.ms", 0, "8")], validate_only=True)
    assert r.error_code == ErrorCode.none and overrides() == {"retention.ms": "7"}

    errors: list[tuple[list[tuple[str, int, str | None]], ErrorCode]] = [
        ([("retention.ms", 2, "1")], ErrorCode.invalid_config),
        ([("no.such", 0, "1")], ErrorCode.invalid_config),
        ([("no.such", 2, "1")], ErrorCode.invalid_config),
        ([("retention.ms", 0, None)], ErrorCode.invalid_request),
        ([("retention.ms", 0, "1"), ("retention.ms", 1, None)], ErrorCode.invalid_request),
        ([("retention.ms", 9, "1")], ErrorCode.invalid_request),
    ]
    for ops, code in errors:
        assert (await incremental(services, 2, "ic", ops)).error_code == code, ops
    assert overrides() == {"retention.ms": "7"}
    assert (await incremental(services, 2, "zz", [])).error_code == (
        ErrorCode.unknown_topic_or_partition
    )
    broker = str(services.broker_id)
    assert (
        await incremental(services, 4, broker, [("log.retention.hours", 1, None)])
    ).error_code == (ErrorCode.none)
    assert (
        await incremental(services, 4, broker, [("log.retention.hours", 0, "1")])
    ).error_code == (ErrorCode.invalid_request)


async def test_incremental_alter_broker_logger(services: BrokerServices) -> None:
    name = "josef.test.admin.logger"
    logger = logging.getLogger(name)
    broker = str(services.broker_id)
    r = await incremental(services, 8, broker, [(name, 0, "DEBUG")])
    assert r.error_code == ErrorCode.none and logger.level == logging.DEBUG
    described = await describe(services, 8, broker, keys=(name,))
    assert [(e.name, e.value) for e in described.configs] == [(name, "DEBUG")]
    r = await incremental(services, 8, broker, [(name, 1, None)])
    assert r.error_code == ErrorCode.none and logger.level == logging.NOTSET
    assert (await incremental(services, 8, broker, [(name, 0, "LOUD")])).error_code == (
        ErrorCode.invalid_config
    )
    assert (await incremental(services, 8, broker, [("root", 1, None)])).error_code == (
        ErrorCode.invalid_request
    )
    assert (await incremental(services, 8, broker, [(name, 2, "x")])).error_code == (
        ErrorCode.invalid_request
    )


# --- cluster -----------------------------------------------------------------------------------


async def test_describe_cluster(services: BrokerServices) -> None:
    body = req(60, 1, include_cluster_authorized_operations=True, endpoint_type=1)
    r = await call(services, 60, 1, body)
    assert r.error_code == ErrorCode.none and r.cluster_id == services.metadata.cluster_id
    assert [b.broker_id for b in r.brokers] == [services.broker_id]
    assert r.controller_id == services.broker_id
    assert r.cluster_authorized_operations == sum(1 << c for c in (5, 7, 8, 9, 10, 11, 12))
    r0 = await call(services, 60, 0, req(60, 0, include_cluster_authorized_operations=False))
    assert r0.cluster_authorized_operations == -(2**31)
    r = await call(
        services, 60, 1, req(60, 1, include_cluster_authorized_operations=False, endpoint_type=2)
    )
    assert r.error_code == ErrorCode.mismatched_endpoint_type
    r = await call(
        services, 60, 1, req(60, 1, include_cluster_authorized_operations=False, endpoint_type=9)
    )
    assert r.error_code == ErrorCode.unsupported_endpoint_type


async def test_describe_log_dirs(services: BrokerServices) -> None:
    await create_topics(services, ("d1", 2, 1, {}), ("d2", 1, 1, {}))
    produce(services, "d1", 3)
    r = await call(services, 35, 4, req(35, 4, topics=None))
    (result,) = r.results
    assert result.error_code == ErrorCode.none and result.total_bytes > 0
    sizes = {
        (t.name, p.partition_index): p.partition_size for t in result.topics for p in t.partitions
    }
    assert set(sizes) == {("d1", 0), ("d1", 1), ("d2", 0)} and sizes[("d1", 0)] > 0
    only = req(35, 1, topics=(req(35, 1, "DescribableLogDirTopic", topic="d2", partitions=(0,)),))
    (result,) = (await call(services, 35, 1, only)).results
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in result.topics] == [
        ("d2", [0])
    ]


# --- records -----------------------------------------------------------------------------------


async def delete_records(
    services: BrokerServices, topic: str, *parts: tuple[int, int], version: int = 2
) -> Any:
    body = req(
        21,
        version,
        topics=(
            req(
                21,
                version,
                "DeleteRecordsTopic",
                name=topic,
                partitions=tuple(
                    req(21, version, "DeleteRecordsPartition", partition_index=p, offset=o)
                    for p, o in parts
                ),
            ),
        ),
        timeout=TIMEOUT,
    )
    (t,) = (await call(services, 21, version, body)).topics
    return [(p.error_code, p.low_watermark) for p in t.partitions]


async def test_delete_records(services: BrokerServices) -> None:
    await create_topics(services, ("r", 1, 1, {}), ("rc", 1, 1, {"cleanup.policy": "compact"}))
    produce(services, "r", 5)
    assert await delete_records(services, "r", (0, 2)) == [(ErrorCode.none, 2)]
    partition = services.replica_manager.get_partition("r", 0)
    assert partition is not None and partition.log.log_start_offset == 2
    assert await delete_records(services, "r", (0, 1)) == [(ErrorCode.none, 2)]
    assert await delete_records(services, "r", (0, 6)) == [(ErrorCode.offset_out_of_range, -1)]
    assert await delete_records(services, "r", (0, -1), (3, 1)) == [
        (ErrorCode.none, 5),
        (ErrorCode.unknown_topic_or_partition, -1),
    ]
    assert await delete_records(services, "rc", (0, 0)) == [(ErrorCode.policy_violation, -1)]
    assert await delete_records(services, "nope", (0, 0)) == [
        (ErrorCode.unknown_topic_or_partition, -1)
    ]


async def test_offset_for_leader_epoch(services: BrokerServices) -> None:
    await create_topics(services, ("e", 1, 1, {}))
    produce(services, "e", 4)

    async def ask(version: int, *parts: tuple[str, int, int, int]) -> list[tuple[Any, ...]]:
        fields: dict[str, Any] = {"replica_id": -1} if version >= 3 else {}
        body = req(
            23,
            version,
            topics=tuple(
                req(
                    23,
                    version,
                    "OffsetForLeaderTopic",
                    topic=t,
                    partitions=(
                        req(
                            23,
                            version,
                            "OffsetForLeaderPartition",
                            partition=p,
                            current_leader_epoch=cur,
                            leader_epoch=ep,
                        ),
                    ),
                )
                for t, p, cur, ep in parts
            ),
            **fields,
        )
        out = (await call(services, 23, version, body)).topics
        return [
            (t.topic, p.error_code, p.leader_epoch, p.end_offset) for t in out for p in t.partitions
        ]

    partition = services.replica_manager.get_partition("e", 0)
    assert partition is not None
    epoch = partition.leader_epoch
    assert await ask(4, ("e", 0, epoch, epoch)) == [("e", ErrorCode.none, epoch, 4)]
    assert await ask(2, ("e", 0, -1, epoch)) == [("e", ErrorCode.none, epoch, 4)]
    assert await ask(3, ("e", 0, epoch + 1, epoch), ("e", 5, -1, 0), ("x", 0, -1, 0)) == [
        ("e", ErrorCode.unknown_leader_epoch, -1, -1),
        ("e", ErrorCode.unknown_topic_or_partition, -1, -1),
        ("x", ErrorCode.unknown_topic_or_partition, -1, -1),
    ]


# --- every advertised version answers a successful request --------------------------------------


async def test_every_version_serializes(services: BrokerServices) -> None:
    for version in range(2, 8):
        (r,) = await create_topics(
            services, (f"v{version}", 1, 1, {"retention.ms": "1"}), version=version
        )
        assert r.error_code == ErrorCode.none, version
        produce(services, f"v{version}", 3)
    for version in range(1, 5):
        r = await describe(services, 2, "v2", version=version, synonyms=True, docs=True)
        assert r.error_code == ErrorCode.none and r.configs
    for version in range(0, 3):
        body = req(33, version, resources=(), validate_only=False)
        assert (await call(services, 33, version, body)).responses == ()
    for version in range(0, 2):
        r = await incremental(services, 2, "v2", [("retention.ms", 0, "2")], version=version)
        assert r.error_code == ErrorCode.none
    for version in range(0, 4):
        body = req(
            37,
            version,
            topics=(
                req(
                    37,
                    version,
                    "CreatePartitionsTopic",
                    name="v3",
                    count=2 + version,
                    assignments=None,
                ),
            ),
            timeout=TIMEOUT,
            validate_only=False,
        )
        (r,) = (await call(services, 37, version, body)).results
        assert r.error_code == ErrorCode.none, version
    for version in range(0, 3):
        expected = [(ErrorCode.none, 1 + version)]
        assert await delete_records(services, "v4", (0, 1 + version), version=version) == expected
    for version in range(2, 5):
        fields: dict[str, Any] = {"replica_id": -1} if version >= 3 else {}
        body = req(23, version, topics=(), **fields)
        assert (await call(services, 23, version, body)).topics == ()
    for version in range(1, 5):
        (d,) = (await call(services, 35, version, req(35, version, topics=None))).results
        assert d.error_code == ErrorCode.none
    for version in range(0, 2):
        fields = {"endpoint_type": 1} if version >= 1 else {}
        body = req(60, version, include_cluster_authorized_operations=True, **fields)
        assert (await call(services, 60, version, body)).error_code == ErrorCode.none
    for version, name in ((1, "v5"), (5, "v6"), (6, "v7")):
        if version >= 6:
            body = req(
                20,
                version,
                topics=(req(20, 6, "DeleteTopicState", name=name, topic_id=NULL_UUID),),
                timeout=TIMEOUT,
            )
        else:
            body = req(20, version, topic_names=(name,), timeout=TIMEOUT)
        (r,) = (await call(services, 20, version, body)).responses
        assert r.error_code == ErrorCode.none, version
