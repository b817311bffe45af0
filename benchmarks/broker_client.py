"""Inter-broker codecs and cluster.broker_client.BrokerClient: how fast are they?

* codec: encode and decode LeaderAndIsr v7 and UpdateMetadata v8 requests the size a
  controller sends after a failover (``--partitions`` partitions over 10 topics, RF 3);
* client: requests per second of small requests (ApiVersions v3 and Metadata v12 with no
  topics) through one BrokerClient connection, with 1, 16 and 128 requests in flight,
  against a Josef broker this script starts (or ``--bootstrap host:port``, e.g. Kafka).

    python benchmarks/broker_client.py [--partitions 3000] [--seconds 3] [--bootstrap H:P]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.metadata.v12.request import MetadataRequest

import protocol.schema.leader_and_isr.v7.request as lai
import protocol.schema.update_metadata.v8.request as um
from cluster.broker_client import BrokerClient
from protocol.codec import decode_request, encode_request

TOPICS = 10


def leader_and_isr(partitions: int) -> lai.LeaderAndIsrRequest:
    per_topic = partitions // TOPICS
    return lai.LeaderAndIsrRequest(
        controller_id=1,
        controller_epoch=7,
        broker_epoch=1234,
        type_=0,
        topic_states=tuple(
            lai.LeaderAndIsrTopicState(
                topic_name=f"topic-{t}",
                topic_id=uuid.uuid4(),
                partition_states=tuple(
                    lai.LeaderAndIsrPartitionState(
                        partition_index=p,
                        controller_epoch=7,
                        leader=p % 3 + 1,
                        leader_epoch=3,
                        isr=(1, 2, 3),
                        partition_epoch=5,
                        replicas=(1, 2, 3),
                    )
                    for p in range(per_topic)
                ),
            )
            for t in range(TOPICS)
        ),
        live_leaders=tuple(
            lai.LeaderAndIsrLiveLeader(broker_id=b, host_name=f"broker-{b}", port=9092)
            for b in (1, 2, 3)
        ),
    )


def update_metadata(partitions: int) -> um.UpdateMetadataRequest:
    per_topic = partitions // TOPICS
    return um.UpdateMetadataRequest(
        controller_id=1,
        controller_epoch=7,
        broker_epoch=1234,
        topic_states=tuple(
            um.UpdateMetadataTopicState(
                topic_name=f"topic-{t}",
                topic_id=uuid.uuid4(),
                partition_states=tuple(
                    um.UpdateMetadataPartitionState(
                        partition_index=p,
                        controller_epoch=7,
                        leader=p % 3 + 1,
                        leader_epoch=3,
                        isr=(1, 2, 3),
                        zk_version=5,
                        replicas=(1, 2, 3),
                    )
                    for p in range(per_topic)
                ),
            )
            for t in range(TOPICS)
        ),
        live_brokers=tuple(
            um.UpdateMetadataBroker(
                id=b,
                endpoints=(
                    um.UpdateMetadataEndpoint(
                        port=9092, host=f"broker-{b}", listener="PLAINTEXT", security_protocol=0
                    ),
                ),
                rack=None,
            )
            for b in (1, 2, 3)
        ),
    )


def best_of(fn: Callable[[], Any], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_codec(partitions: int) -> None:
    print(f"codec, {partitions} partitions over {TOPICS} topics (median of 15):")
    for name, request in (
        ("LeaderAndIsr v7", leader_and_isr(partitions)),
        ("UpdateMetadata v8", update_metadata(partitions)),
    ):
        frame = encode_request(1, "controller-1", request)[4:]
        body_at = frame.index(b"controller-1") + len("controller-1") + 1
        key, version = int(request.__api_key__), int(request.__version__)
        encode_s = best_of(functools.partial(encode_request, 1, "controller-1", request))
        decode_s = best_of(functools.partial(decode_request, key, version, frame, body_at))
        print(
            f"  {name:18} {len(frame) / 1024:8.1f} KiB  encode {encode_s * 1e3:7.2f} ms"
            f"  decode {decode_s * 1e3:7.2f} ms"
        )


async def bench_client(host: str, port: int, seconds: float) -> None:
    print(f"BrokerClient against {host}:{port}, one connection, {seconds:g} s each:")
    requests: list[tuple[str, Any]] = [
        (
            "ApiVersions v3",
            ApiVersionsRequest(client_software_name="b", client_software_version="1"),
        ),
        (
            "Metadata v12 (no topics)",
            MetadataRequest(
                topics=(),
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=False,
            ),
        ),
    ]

    async def worker(client: BrokerClient, request: Any, deadline: float) -> int:
        done = 0
        while time.perf_counter() < deadline:
            await client.send(request)
            done += 1
        return done

    async with BrokerClient(host, port, client_id="bench") as client:
        for name, request in requests:
            for window in (1, 16, 128):
                start = time.perf_counter()
                deadline = start + seconds
                counts = await asyncio.gather(
                    *(worker(client, request, deadline) for _ in range(window))
                )
                rate = sum(counts) / (time.perf_counter() - start)
                print(f"  {name:26} in flight {window:4}: {rate:9.0f} requests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partitions", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--bootstrap", help="host:port of a running broker (default: start Josef)")
    args = parser.parse_args()
    bench_codec(args.partitions)
    if args.bootstrap:
        host, port = args.bootstrap.rsplit(":", 1)
        asyncio.run(bench_client(host, int(port), args.seconds))
        return
    from brokers import make_josef

    with tempfile.TemporaryDirectory() as tmp:
        josef = make_josef(Path(tmp))
        josef.start()
        try:
            josef.wait_ready()
            asyncio.run(bench_client("127.0.0.1", josef.port, args.seconds))
        finally:
            josef.stop()


if __name__ == "__main__":
    main()
