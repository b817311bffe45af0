"""Fetch v17 (Kafka 3.9, KIP-853: a tagged replica directory id, response as v16), which
kafka-python also reads as the sign of a 3.9 broker."""

from __future__ import annotations

import datetime
import uuid

from helpers.broker_process import BrokerProcess
from helpers.clients import Record, consume, create_topic, produce, unique_topic
from kio.schema.fetch.v17 import request as fetch_v17
from kio.schema.metadata.v12 import request as metadata_v12
from kio.static.primitive import i8, i32, i64

from cluster.broker_client import BrokerClient
from protocol.records import iter_records


async def test_fetch_v17_reads_records(shared: BrokerProcess) -> None:
    topic = unique_topic("f17")
    create_topic(shared.bootstrap, topic)
    produce("confluent", shared.bootstrap, topic, [Record(b"k", b"v%d" % i) for i in range(3)])
    async with BrokerClient(shared.host, shared.port, client_id="fetch-v17") as c:
        meta = await c.send(
            metadata_v12.MetadataRequest(
                topics=(metadata_v12.MetadataRequestTopic(topic_id=None, name=topic),),
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=False,
            )
        )
        topic_id = meta.topics[0].topic_id
        assert isinstance(topic_id, uuid.UUID)
        response = await c.send(
            fetch_v17.FetchRequest(
                replica_state=fetch_v17.ReplicaState(),
                max_wait=datetime.timedelta(milliseconds=100),
                min_bytes=i32(1),
                max_bytes=i32(1 << 20),
                isolation_level=i8(0),
                session_id=i32(0),
                session_epoch=i32(-1),
                topics=(
                    fetch_v17.FetchTopic(
                        topic_id=topic_id,
                        partitions=(
                            fetch_v17.FetchPartition(
                                partition=i32(0),
                                current_leader_epoch=i32(-1),
                                fetch_offset=i64(0),
                                last_fetched_epoch=i32(-1),
                                log_start_offset=i64(-1),
                                partition_max_bytes=i32(1 << 20),
                                replica_directory_id=uuid.uuid4(),
                            ),
                        ),
                    ),
                ),
                forgotten_topics_data=(),
                rack_id="",
            )
        )
    [t] = response.responses
    [p] = t.partitions
    assert (t.topic_id, int(p.error_code), int(p.high_watermark)) == (topic_id, 0, 3)
    assert [r.value for _, r in iter_records(p.records)] == [b"v0", b"v1", b"v2"]
    got = consume("kafka-python", shared.bootstrap, topic, 0, 0, 3)
    assert [c.value for c in got] == [b"v0", b"v1", b"v2"]
