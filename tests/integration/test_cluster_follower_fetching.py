"""KIP-392 follower fetching: with ``replica.selector.class`` set to Kafka's
RackAwareReplicaSelector, a leader sends a consumer that gives its ``client.rack`` to an
in-sync follower in that rack (an empty answer with ``preferred_read_replica``), the
follower serves it up to its high watermark, and librdkafka consumers with ``client.rack``
read everything through it.
"""

from __future__ import annotations

import asyncio
import datetime
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from helpers.cluster_fixtures import ClusterFactory
from kio.schema.fetch.v11.request import FetchPartition, FetchRequest, FetchTopic

from cluster.broker_client import BrokerClient

RACKS = {1: "rack-a", 2: "rack-b", 3: "rack-c"}
RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


async def fetch_v11(host: str, port: int, rack: str, offset: int = 0) -> tuple[int, int, int]:
    """(error, preferred read replica, bytes of records) of one consumer Fetch v11."""
    request = FetchRequest(
        replica_id=-1,
        max_wait=datetime.timedelta(milliseconds=100),
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            FetchTopic(
                topic="near",
                partitions=(
                    FetchPartition(
                        partition=0,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id=rack,
    )
    async with BrokerClient(host, port, client_id="kip392-test") as client:
        response = await client.send(request, timeout=15)
    p = response.responses[0].partitions[0]
    return int(p.error_code), int(p.preferred_read_replica), len(p.records or b"")


def test_consumers_read_from_a_replica_in_their_rack(josef_cluster: ClusterFactory) -> None:
    cluster = josef_cluster(
        3,
        overrides={"replica.selector.class": RACK_AWARE},
        per_broker={i: {"broker.rack": rack} for i, rack in RACKS.items()},
    )
    cluster.create_topic("near", 1, 3)
    cluster.wait_isr("near", 0, {1, 2, 3})
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(200):
        p.produce("near", value=b"n-%d" % i)
    assert p.flush(30) == 0
    leader = cluster.wait_leaders("near", 1)[0]
    follower = next(b for b in (1, 2, 3) if b != leader)
    lb, fb = cluster[leader], cluster[follower]
    # The leader points a consumer from the follower's rack at the follower ...
    deadline = time.monotonic() + 30
    while True:
        error, preferred, size = asyncio.run(fetch_v11(lb.host, lb.port, RACKS[follower]))
        if preferred == follower or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (error, preferred, size) == (0, follower, 0)
    # ... a consumer in the leader's own rack (or without a rack) reads from the leader ...
    error, preferred, size = asyncio.run(fetch_v11(lb.host, lb.port, RACKS[leader]))
    assert (error, preferred) == (0, -1) and size > 0
    # ... and the follower serves consumers (Fetch v11+) up to its high watermark.
    error, preferred, size = asyncio.run(fetch_v11(fb.host, fb.port, RACKS[follower]))
    assert error == 0 and size > 0
    # A follower behind the consumer's position answers a retriable error, not out of range.
    error, _, _ = asyncio.run(fetch_v11(fb.host, fb.port, RACKS[follower], offset=10_000))
    assert error == 78  # OFFSET_NOT_AVAILABLE

    c = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": "near-readers",
            "client.rack": RACKS[follower],
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition("near", 0, 0)])
    got: list[bytes] = []
    end = time.monotonic() + 60
    while len(got) < 200 and time.monotonic() < end:
        msg = c.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    c.close()
    assert got == [b"n-%d" % i for i in range(200)]
