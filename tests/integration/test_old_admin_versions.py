"""CreateTopics v0-1 and DeleteTopics v0 (Kafka 3.9 serves them; kio has no schema, so
protocol/schema holds ones generated from Kafka 3.9's definitions)."""

from __future__ import annotations

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
