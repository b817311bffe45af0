"""CreateTopics v0-1 and DeleteTopics v0 (Kafka 3.9 serves them; kio has no schema, so
protocol/schema holds ones generated from Kafka 3.9's definitions)."""

from __future__ import annotations

from typing import Any

from helpers.broker_process import BrokerProcess
from helpers.clients import unique_topic, wait_for_topic
from kio.static.primitive import i16, i32

from cluster.broker_client import BrokerClient
from protocol.schema.create_topics.v0 import request as create_v0
from protocol.schema.create_topics.v1 import request as create_v1
from protocol.schema.delete_topics.v0 import request as delete_v0

NONE, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, UNKNOWN_TOPIC = 0, 36, 37, 3


def _topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


async def test_create_topics_v0_v1_and_delete_topics_v0(shared: BrokerProcess) -> None:
    a, b, c = unique_topic("v0a"), unique_topic("v1b"), unique_topic("v1c")

    def v0_topic(name: str, partitions: int) -> create_v0.CreatableTopic:
        return create_v0.CreatableTopic(
            name=name,
            num_partitions=i32(partitions),
            replication_factor=i16(1),
            assignments=(),
            configs=(create_v0.CreatableTopicConfig(name="cleanup.policy", value="compact"),),
        )

    async with BrokerClient(shared.host, shared.port, client_id="old-admin") as client:
        r0 = await client.send(
            create_v0.CreateTopicsRequest(
                topics=(v0_topic(a, 2), v0_topic(unique_topic("bad"), 0)), timeout_ms=i32(30000)
            )
        )
        assert [(t.name == a, int(t.error_code)) for t in r0.topics] == [
            (True, NONE),
            (False, INVALID_PARTITIONS),
        ]
        topic_v1 = create_v1.CreatableTopic(
            name=b, num_partitions=i32(1), replication_factor=i16(1), assignments=(), configs=()
        )
        validated = await client.send(
            create_v1.CreateTopicsRequest(
                topics=(topic_v1,), timeout_ms=i32(30000), validate_only=True
            )
        )
        assert [(t.name, int(t.error_code)) for t in validated.topics] == [(b, NONE)]
        again = await client.send(
            create_v1.CreateTopicsRequest(
                topics=(
                    create_v1.CreatableTopic(
                        name=a,
                        num_partitions=i32(1),
                        replication_factor=i16(1),
                        assignments=(),
                        configs=(),
                    ),
                    create_v1.CreatableTopic(
                        name=c,
                        num_partitions=i32(1),
                        replication_factor=i16(1),
                        assignments=(),
                        configs=(),
                    ),
                ),
                timeout_ms=i32(30000),
                validate_only=False,
            )
        )
        [dup, made] = again.topics
        assert (int(dup.error_code), int(made.error_code)) == (TOPIC_ALREADY_EXISTS, NONE)
        assert dup.error_message  # v1 carries the message
        wait_for_topic(shared.bootstrap, a, 2)
        topics = _topics(shared.bootstrap)
        assert a in topics and c in topics and b not in topics  # validate_only created nothing
        deleted = await client.send(
            delete_v0.DeleteTopicsRequest(topic_names=(a, b), timeout_ms=i32(30000))
        )
        assert sorted((t.name, int(t.error_code)) for t in deleted.responses) == sorted(
            [(a, NONE), (b, UNKNOWN_TOPIC)]
        )


async def test_offset_for_leader_epoch_v0_v1_and_describe_log_dirs_v0(
    shared: BrokerProcess,
) -> None:
    from helpers.clients import Record, create_topic, produce

    from protocol.schema.describe_log_dirs.v0 import request as log_dirs_v0
    from protocol.schema.offset_for_leader_epoch.v0 import request as epoch_v0
    from protocol.schema.offset_for_leader_epoch.v1 import request as epoch_v1

    topic = unique_topic("ofle")
    create_topic(shared.bootstrap, topic)
    produce("kafka-python", shared.bootstrap, topic, [Record(b"k", b"v%d" % i) for i in range(4)])
    async with BrokerClient(shared.host, shared.port, client_id="old-admin") as client:
        for module in (epoch_v0, epoch_v1):
            module_any: Any = module
            r = await client.send(
                module_any.OffsetForLeaderEpochRequest(
                    topics=(
                        module_any.OffsetForLeaderTopic(
                            topic=topic,
                            partitions=(
                                module_any.OffsetForLeaderPartition(
                                    partition=i32(0), leader_epoch=i32(0)
                                ),
                            ),
                        ),
                    )
                )
            )
            [p] = r.topics[0].partitions
            assert (int(p.error_code), int(p.end_offset)) == (NONE, 4)
            if module is epoch_v1:
                assert int(p.leader_epoch) == 0
        dirs = await client.send(
            log_dirs_v0.DescribeLogDirsRequest(
                topics=(log_dirs_v0.DescribableLogDirTopic(topic=topic, partitions=(i32(0),)),)
            )
        )
    [result] = dirs.results
    assert int(result.error_code) == NONE
    [t] = result.topics
    assert t.name == topic and [int(p.partition_index) for p in t.partitions] == [0]
    assert int(t.partitions[0].partition_size) > 0
