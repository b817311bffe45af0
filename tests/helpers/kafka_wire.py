"""The wire exchanges recorded from Apache Kafka 3.9.1 by tests/tools/record_kafka_wire.py
and replayed against Josef by the parity tests (same requests, same order)."""

from __future__ import annotations

import asyncio
from typing import Any

from kio.schema.find_coordinator.v1 import request as find_v1
from kio.schema.offset_fetch.v1 import request as fetch_v1
from kio.static.primitive import i8, i32, i64

from cluster.broker_client import BrokerClient
from protocol.schema.offset_commit.v0 import request as commit_v0
from protocol.schema.offset_commit.v1 import request as commit_v1
from protocol.schema.offset_fetch.v0 import request as fetch_v0

TOPIC_NAME = "wire-t"
GROUP = "wire-g"


def _commit_parts(resp: Any) -> list[list[Any]]:
    return sorted(
        [t.name, int(p.partition_index), int(p.error_code)]
        for t in resp.topics
        for p in t.partitions
    )


def _fetch_parts(resp: Any) -> list[list[Any]]:
    return sorted(
        [t.name, int(p.partition_index), int(p.committed_offset), p.metadata, int(p.error_code)]
        for t in resp.topics
        for p in t.partitions
    )


async def _fetch(c: BrokerClient, version: int, partitions: list[int], topic: str) -> Any:
    module: Any = fetch_v0 if version == 0 else fetch_v1
    return await c.send(
        module.OffsetFetchRequest(
            group_id=GROUP,
            topics=(
                module.OffsetFetchRequestTopic(
                    name=topic, partition_indexes=tuple(i32(p) for p in partitions)
                ),
            ),
        )
    )


async def offsets_exchange(c: BrokerClient) -> dict[str, Any]:
    """OffsetCommit v0/v1 and OffsetFetch v0/v1 on TOPIC_NAME (2 partitions, created first);
    the answers, partitions sorted."""
    out: dict[str, Any] = {}
    # v0: any broker, no coordinator; topic partition 0 exists, 5 does not
    r = await c.send(
        commit_v0.OffsetCommitRequest(
            group_id=GROUP,
            topics=(
                commit_v0.OffsetCommitRequestTopic(
                    name=TOPIC_NAME,
                    partitions=(
                        commit_v0.OffsetCommitRequestPartition(
                            partition_index=i32(0),
                            committed_offset=i64(11),
                            committed_metadata="meta-v0",
                        ),
                        commit_v0.OffsetCommitRequestPartition(
                            partition_index=i32(5),
                            committed_offset=i64(1),
                            committed_metadata=None,
                        ),
                    ),
                ),
                commit_v0.OffsetCommitRequestTopic(
                    name="no-such-topic",
                    partitions=(
                        commit_v0.OffsetCommitRequestPartition(
                            partition_index=i32(0),
                            committed_offset=i64(1),
                            committed_metadata="",
                        ),
                    ),
                ),
            ),
        )
    )
    out["commit_v0"] = _commit_parts(r)
    out["fetch_v0_after_v0"] = _fetch_parts(await _fetch(c, 0, [0, 1, 5], TOPIC_NAME))
    out["fetch_v0_unknown_topic"] = _fetch_parts(await _fetch(c, 0, [0], "no-such-topic"))
    out["fetch_v1_after_v0"] = _fetch_parts(await _fetch(c, 1, [0], TOPIC_NAME))
    # v1 goes to the coordinator (generation -1, no member: a simple consumer)
    for _ in range(30):
        found = await c.send(find_v1.FindCoordinatorRequest(key=GROUP, key_type=i8(0)))
        if int(found.error_code) == 0:
            break
        await asyncio.sleep(1)
    r = await c.send(
        commit_v1.OffsetCommitRequest(
            group_id=GROUP,
            generation_id_or_member_epoch=i32(-1),
            member_id="",
            topics=(
                commit_v1.OffsetCommitRequestTopic(
                    name=TOPIC_NAME,
                    partitions=(
                        commit_v1.OffsetCommitRequestPartition(
                            partition_index=i32(0),
                            committed_offset=i64(22),
                            commit_timestamp=i64(-1),
                            committed_metadata="meta-v1",
                        ),
                    ),
                ),
            ),
        )
    )
    out["commit_v1"] = _commit_parts(r)
    out["fetch_v1_after_v1"] = _fetch_parts(await _fetch(c, 1, [0], TOPIC_NAME))
    out["fetch_v0_after_v1"] = _fetch_parts(await _fetch(c, 0, [0], TOPIC_NAME))
    out["znode_path"] = f"/consumers/{GROUP}/offsets/{TOPIC_NAME}/0"
    return out


async def describe_configs_v0(c: BrokerClient, topic: str) -> dict[str, Any]:
    """DescribeConfigs v0 of a topic (retention.ms overridden by the caller) and broker 0,
    a few keys each: (value, read_only, is_default, is_sensitive)."""
    from protocol.schema.describe_configs.v0 import request as describe_v0

    def entries(result: Any) -> dict[str, list[Any]]:
        return {
            e.name: [e.value, e.read_only, e.is_default, e.is_sensitive] for e in result.configs
        }

    r = await c.send(
        describe_v0.DescribeConfigsRequest(
            resources=(
                describe_v0.DescribeConfigsResource(
                    resource_type=i8(2),
                    resource_name=topic,
                    configuration_keys=("retention.ms", "segment.bytes", "cleanup.policy"),
                ),
                describe_v0.DescribeConfigsResource(
                    resource_type=i8(4),
                    resource_name="0",
                    configuration_keys=("num.partitions", "log.segment.bytes", "broker.id"),
                ),
            )
        )
    )
    topic_result, broker_result = r.results
    return {"topic": entries(topic_result), "broker": entries(broker_result)}
