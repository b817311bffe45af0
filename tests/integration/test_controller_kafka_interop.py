"""Josef's controller driving real Apache Kafka 3.9.1 brokers (ZooKeeper mode).

The controller (broker id 100, on a fake broker that also answers Kafka's broker-to-controller
APIs) wins the election first; two Kafka brokers then join. Kafka's brokers must accept our
LeaderAndIsr / UpdateMetadata / StopReplica exactly as they accept their own controller's:
clients produce and consume through them, a crashed leader is replaced, the returning replica
is put back in the ISR through Kafka's own AlterPartition, a preferred election moves
leadership back, a SIGTERM runs Kafka's controlled shutdown against us, and a deleted topic's
logs disappear from the Kafka brokers' disks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from helpers.fake_broker import FakeBroker
from helpers.kafka_process import KafkaBroker, kafka_available
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition

from cluster.controller.config import ControllerConfig
from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigEntity
from cluster.zk.topic_znodes import TopicAssignment
from protocol.errors import ErrorCode

# Two Kafka JVMs and about a minute: run with -m soak.
pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not kafka_available(), reason="Kafka 3.9.1 jars not available"),
]

WAIT_S = 90.0
CONTROLLER_ID = 100


async def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def admin(zk_connect: str) -> AsyncIterator[ZkClient]:
    zk = ZkClient(zk_connect, session_timeout_ms=10_000)
    await zk.start()
    yield zk
    await zk.close()


async def state(admin: ZkClient, topic: str, partition: int) -> dict[str, Any]:
    path = paths.partition_state(topic, partition)
    await admin.sync(path)
    data, _ = await admin.get(path)
    return json.loads(data)  # type: ignore[no-any-return]


def produce(bootstrap: str, topic: str, values: list[tuple[int, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
    )
    errors: list[Any] = []
    for partition, value in values:
        producer.produce(
            topic, value, partition=partition, on_delivery=lambda e, _m: e and errors.append(e)
        )
    assert producer.flush(60) == 0
    assert errors == []


def consume(bootstrap: str, topic: str, partition: int, count: int) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    try:
        consumer.assign([KPTopicPartition(topic, partition)])
        consumer.seek_to_beginning()
        out: list[bytes] = []
        for record in consumer:
            out.append(record.value)
            if len(out) >= count:
                break
        return out
    finally:
        consumer.close()


async def test_josef_controller_drives_kafka_brokers(
    zk_connect: str, admin: ZkClient, tmp_path: Path
) -> None:
    controller_node = FakeBroker(
        CONTROLLER_ID,
        zk_connect,
        listener="INTERNAL",  # clients (on EXTERNAL) never see this node in Metadata
        config=ControllerConfig(
            auto_leader_rebalance_enable=False, inter_broker_listener_name="INTERNAL"
        ),
    )
    kafka = {b: KafkaBroker(tmp_path, b, zk_connect) for b in (1, 2)}
    try:
        await controller_node.start()
        controller = controller_node.controller
        assert controller is not None
        await eventually(lambda: controller.is_active, "our controller elected")
        for k in kafka.values():
            k.start()
        for k in kafka.values():
            await asyncio.to_thread(k.wait_listening)
        await eventually(
            lambda: {1, 2} <= controller.core.context.live_broker_ids, "Kafka brokers registered"
        )
        # Kafka's own controllers stay passive: /controller is ours.
        assert json.loads((await admin.get(paths.CONTROLLER))[0])["brokerid"] == CONTROLLER_ID

        # A topic created as Kafka's AdminZkClient creates it.
        topic_id = uuid.uuid4()
        await admin.create(paths.topic_config("interop"), ConfigEntity({}).encode(), makepath=True)
        await admin.create(
            paths.topic("interop"),
            TopicAssignment.of("interop", topic_id, {0: [1, 2], 1: [2, 1]}).encode(),
            makepath=True,
        )
        await eventually(
            lambda: all(
                (k.dir / "data" / f"interop-{p}").is_dir() for k in kafka.values() for p in (0, 1)
            ),
            "Kafka brokers created the replicas",
        )
        bootstrap = ",".join(k.bootstrap for k in kafka.values())
        await asyncio.to_thread(produce, bootstrap, "interop", [(0, b"a0"), (1, b"a1")])
        assert await asyncio.to_thread(consume, bootstrap, "interop", 0, 1) == [b"a0"]

        # Kafka broker 1 crashes: we elect 2 for partition 0 and Kafka's broker 2 follows.
        kafka[1].kill()
        await eventually(lambda: 1 not in controller.core.context.live_broker_ids, "broker 1 gone")
        s0 = await eventually(
            lambda: _leader_is(admin, "interop", 0, 2), "broker 2 leads interop-0"
        )
        assert (s0["isr"], s0["leader_epoch"]) == ([2], 1)
        await asyncio.to_thread(produce, kafka[2].bootstrap, "interop", [(0, b"b0")])

        # Broker 1 returns, catches up, and Kafka's leader (broker 2) sends us AlterPartition.
        kafka[1] = KafkaBroker(tmp_path, 1, zk_connect)  # new ports, same data directory
        kafka[1].start()
        await asyncio.to_thread(kafka[1].wait_listening)

        async def isr_expanded() -> bool:
            s = await state(admin, "interop", 0)
            return sorted(s["isr"]) == [1, 2]

        await eventually(isr_expanded, "Kafka's AlterPartition expands the ISR", timeout=120)
        alter = [r for r in controller_node.received if r.api_key == 56]
        assert alter and alter[-1].request.broker_id == 2

        # Preferred leader election through our controller: broker 1 leads interop-0 again.
        results = await controller.elect_leaders(0, [("interop", 0)], 30_000)
        assert results == {("interop", 0): (ErrorCode.none, None)}
        await eventually(lambda: _leader_is(admin, "interop", 0, 1), "broker 1 leads again")
        await asyncio.to_thread(produce, bootstrap, "interop", [(0, b"c0")])
        assert await asyncio.to_thread(consume, bootstrap, "interop", 0, 3) == [b"a0", b"b0", b"c0"]

        # SIGTERM: Kafka's controlled shutdown asks us to move leadership away first.
        assert await asyncio.to_thread(kafka[2].terminate) in (0, 143)  # 143: JVM on SIGTERM
        assert kafka[2].grep_log("Controlled shutdown request returned successfully")
        shutdowns = [r for r in controller_node.received if r.api_key == 7]
        assert shutdowns and shutdowns[-1].request.broker_id == 2
        for p in (0, 1):
            s = await state(admin, "interop", p)
            assert s["leader"] == 1 and s["isr"] == [1]

        # Topic deletion: StopReplica(delete) makes the live Kafka broker drop its logs.
        await admin.create(paths.delete_topic_marker("interop"), None)

        async def deleted() -> bool:
            await admin.sync(paths.topic("interop"))
            return await admin.exists(paths.topic("interop")) is None

        kafka[2] = KafkaBroker(tmp_path, 2, zk_connect)
        kafka[2].start()
        await eventually(deleted, "topic deleted", timeout=120)
        await eventually(
            lambda: (
                not any(
                    d.name.startswith("interop-") and not d.name.endswith("-delete")
                    for k in kafka.values()
                    for d in (k.dir / "data").iterdir()
                )
            ),
            "replica logs gone",
        )
    finally:
        for k in kafka.values():
            k.kill()
        await controller_node.stop()


async def _leader_is(
    admin: ZkClient, topic: str, partition: int, leader: int
) -> dict[str, Any] | None:
    s = await state(admin, topic, partition)
    return s if s["leader"] == leader else None
