"""cluster.broker_client.BrokerClient against a real Josef broker process: ApiVersions,
CreateTopics, Metadata, Produce and Fetch (cross-checked with confluent-kafka and
kafka-python), pipelined requests answered in order, a deadline that closes the connection,
and a broker restart."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess
from helpers.clients import Record, consume, produce, unique_topic
from helpers.raw import api_versions as raw_api_versions
from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12.request import FetchPartition, FetchRequest, FetchTopic
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData

from cluster.broker_client import BrokerClient, BrokerDisconnected, RequestTimedOut
from protocol.records import NewRecord, encode_batch, iter_records

PRODUCE, FETCH, METADATA, CREATE_TOPICS = 0, 1, 3, 19


def client_for(broker: BrokerProcess, **kwargs: Any) -> BrokerClient:
    kwargs.setdefault("request_timeout", 15.0)
    return BrokerClient(broker.host, broker.port, client_id="broker-client-test", **kwargs)


def metadata(topic: str | None = None) -> MetadataRequest:
    topics = None if topic is None else (MetadataRequestTopic(topic_id=None, name=topic),)
    return MetadataRequest(
        topics=topics, allow_auto_topic_creation=False, include_topic_authorized_operations=False
    )


def produce_request(topic: str, batch: bytes, acks: int = -1) -> ProduceRequest:
    return ProduceRequest(
        transactional_id=None,
        acks=acks,
        timeout=datetime.timedelta(seconds=10),
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=0, records=batch),)
            ),
        ),
    )


def fetch_request(
    topic: str, offset: int, *, max_wait_ms: int = 0, min_bytes: int = 0, max_bytes: int = 1 << 20
) -> FetchRequest:
    return FetchRequest(
        replica_id=-1,
        max_wait=datetime.timedelta(milliseconds=max_wait_ms),
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            FetchTopic(
                topic=topic,
                partitions=(
                    FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=max_bytes,
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id="",
    )


def batch_of(*values: bytes) -> bytes:
    return encode_batch([NewRecord(key=b"k-" + v, value=v) for v in values])


def fetched(response: Any) -> list[tuple[int, bytes | None, bytes | None]]:
    (topic,) = response.responses
    (partition,) = topic.partitions
    assert partition.error_code == ErrorCode.none, partition.error_code
    return [(r.offset, r.key, r.value) for _h, r in iter_records(partition.records or b"")]


async def create(client: BrokerClient, topic: str) -> None:
    response = await client.send(
        CreateTopicsRequest(
            topics=(
                CreatableTopic(
                    name=topic, num_partitions=1, replication_factor=1, assignments=(), configs=()
                ),
            ),
            timeout=datetime.timedelta(seconds=10),
        )
    )
    assert [(t.name, t.error_code) for t in response.topics] == [(topic, ErrorCode.none)]
    for _ in range(100):  # until the partition has a leader
        (described,) = (await client.send(metadata(topic))).topics
        if described.error_code == ErrorCode.none and described.partitions[0].leader_id >= 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{topic} has no leader")


async def test_api_versions_handshake(shared: BrokerProcess) -> None:
    async with client_for(shared) as client:
        versions = await client.api_versions()
        assert dict(versions.ranges) == raw_api_versions(shared.host, shared.port)
        for api_key, version in ((PRODUCE, 9), (FETCH, 12), (METADATA, 12), (CREATE_TOPICS, 7)):
            assert versions.highest_common(api_key, version, version) == version


async def test_produce_and_fetch_cross_checked_with_real_clients(shared: BrokerProcess) -> None:
    topic = unique_topic("bc")
    async with client_for(shared) as client:
        await create(client, topic)
        response = await client.send(produce_request(topic, batch_of(b"a", b"b", b"c")))
        (partition,) = response.responses[0].partition_responses
        assert (partition.error_code, partition.base_offset) == (ErrorCode.none, 0)

        # librdkafka reads what BrokerClient wrote
        seen = await asyncio.to_thread(consume, "confluent", shared.bootstrap, topic, 0, 0, 3)
        assert [(c.offset, c.key, c.value) for c in seen] == [
            (0, b"k-a", b"a"),
            (1, b"k-b", b"b"),
            (2, b"k-c", b"c"),
        ]
        # BrokerClient reads what kafka-python wrote
        offsets = await asyncio.to_thread(
            produce, "kafka-python", shared.bootstrap, topic, [Record(b"k-d", b"d")]
        )
        assert offsets == [3]
        records = fetched(await client.send(fetch_request(topic, 0)))
        assert records == [
            (0, b"k-a", b"a"),
            (1, b"k-b", b"b"),
            (2, b"k-c", b"c"),
            (3, b"k-d", b"d"),
        ]
        assert client.connections_made == 1


async def test_pipelined_requests_are_answered_in_order(shared: BrokerProcess) -> None:
    topic = unique_topic("bc-pipe")
    count = 40
    async with client_for(shared) as client:
        await create(client, topic)
        values = [f"v{i}".encode() for i in range(count)]
        # one connection, all requests on the wire at once: the broker appends them in
        # order, so the i-th request gets offset i
        responses = await asyncio.gather(
            *(client.send(produce_request(topic, batch_of(v))) for v in values)
        )
        offsets = [r.responses[0].partition_responses[0].base_offset for r in responses]
        assert offsets == list(range(count))
        fetches = await asyncio.gather(
            *(client.send(fetch_request(topic, i, max_bytes=1)) for i in range(count))
        )
        # max_bytes=1 still returns the first batch whole: exactly record i
        assert [fetched(f)[0] for f in fetches] == [(i, b"k-" + v, v) for i, v in enumerate(values)]
        assert client.connections_made == 1


async def test_timeout_closes_the_connection_and_the_next_call_reconnects(
    shared: BrokerProcess,
) -> None:
    topic = unique_topic("bc-timeout")
    async with client_for(shared, reconnect_backoff=0.01) as client:
        await create(client, topic)
        # nothing to fetch: the broker parks the request for max_wait, longer than our deadline
        parked = fetch_request(topic, 0, max_wait_ms=20_000, min_bytes=1)
        with pytest.raises(RequestTimedOut, match="Fetch v12"):
            await client.send(parked, timeout=0.5)
        assert not client.connected
        (described,) = (await client.send(metadata(topic))).topics
        assert described.error_code == ErrorCode.none
        assert client.connections_made == 2


async def test_broker_restart(broker: BrokerProcess) -> None:
    topic = unique_topic("bc-restart")
    async with client_for(broker, check_api_versions=True, reconnect_backoff=0.01) as client:
        await create(client, topic)
        await client.send(produce_request(topic, batch_of(b"before")))
        first_versions = client.peer_versions
        assert first_versions is not None

        await asyncio.to_thread(broker.stop)
        with pytest.raises(BrokerDisconnected):
            await client.send(metadata(topic))
        await asyncio.to_thread(broker.start)

        response = await client.send(produce_request(topic, batch_of(b"after")))
        assert response.responses[0].partition_responses[0].base_offset == 1
        assert [r[2] for r in fetched(await client.send(fetch_request(topic, 0)))] == [
            b"before",
            b"after",
        ]
        assert client.connections_made == 2
        assert client.peer_versions == first_versions  # the handshake ran again
