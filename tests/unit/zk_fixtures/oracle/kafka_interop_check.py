"""Manual check: a running Apache Kafka 3.9 cluster acts on znodes written by cluster.zk.

Not part of the test suite (it needs a Kafka cluster in ZooKeeper mode, whose jars are never
committed). Point it at the cluster's ``zookeeper.connect`` and bootstrap servers:

    PYTHONPATH=. .venv/bin/python tests/unit/zk_fixtures/oracle/kafka_interop_check.py \
        --zookeeper 127.0.0.1:2181/kafka --bootstrap 127.0.0.1:9092

It (1) creates a topic the way a Kafka broker's AdminZkClient does, with our codecs, and
produces/consumes through Kafka; (2) changes that topic's config with our ConfigEntity and
change notification and reads it back with DescribeConfigs; (3) registers a pretend broker
with our BrokerRegistrar and finds it in Kafka's DescribeCluster; (4) allocates a producer
id block with our helper and checks that Kafka's next block follows it; (5) deletes the topic
with our marker. Every step prints OK or raises.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from cluster.metadata import BrokerEndpoint
from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigChangeNotification, ConfigEntity
from cluster.zk.registration import BrokerRegistrar, allocate_producer_id_block
from cluster.zk.topic_znodes import LeaderIsrAndControllerEpoch, TopicAssignment
from cluster.zk.znodes import BrokerInfo, ProducerIdsBlock


async def wait_for(what: str, check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check() if callable(check) else None
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.2)


async def main(zookeeper: str, bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    brokers = sorted(admin.list_topics(timeout=10).brokers)
    topic = f"josef-interop-{uuid.uuid4().hex[:6]}"
    async with ZkClient(zookeeper) as zk:
        # 1. topic creation as AdminZkClient writes it: config first, then the assignment.
        assignment = TopicAssignment.of(
            topic, uuid.uuid4(), {p: [brokers[p % len(brokers)], brokers[(p + 1) % len(brokers)]]
                                  for p in range(3)}
        )
        config = ConfigEntity({"retention.ms": "3600000"})
        await zk.create(paths.topic_config(topic), config.encode())
        await zk.create(paths.topic(topic), assignment.encode())

        async def states_ready() -> bool:
            for p in range(3):
                stat = await zk.exists(paths.partition_state(topic, p))
                if stat is None:
                    return False
            return True

        await wait_for("Kafka's controller creates partition states", states_ready)
        for p in range(3):
            data, _ = await zk.get(paths.partition_state(topic, p))
            state = LeaderIsrAndControllerEpoch.decode(data)
            assert state.leader == assignment.partitions[p].replicas[0], state
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        for i in range(30):
            producer.produce(topic, key=str(i).encode(), value=b"v%d" % i)
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 30 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                got += 1
        consumer.close()
        assert got == 30, got
        print(f"OK 1: Kafka created {topic} from our znodes; 30 records produced and consumed")

        # 2. config change + notification.
        changed = ConfigEntity({"retention.ms": "7200000", "cleanup.policy": "compact"})
        await zk.set(paths.topic_config(topic), changed.encode())
        await zk.create(paths.config_change_sequence_prefix(),
                        ConfigChangeNotification.of("topics", topic).encode(), sequential=True)
        resource = ConfigResource(ResourceType.TOPIC, topic)

        def config_applied() -> bool:
            configs = admin.describe_configs([resource])[resource].result(10)
            return (configs["retention.ms"].value == "7200000"
                    and configs["cleanup.policy"].value == "compact")

        await wait_for("brokers apply the config change", config_applied)
        print("OK 2: brokers applied our config change notification")

        # 3. a pretend broker registration, with the listeners of a real one (the controller
        # needs the inter-broker listener on every broker).
        real, _ = await zk.get(paths.broker(brokers[0]))
        listeners = BrokerInfo.decode(brokers[0], real).endpoints
        fake = BrokerInfo(
            77,
            tuple(BrokerEndpoint(e.listener, e.security_protocol, "198.51.100.7", 9092 + i)
                  for i, e in enumerate(listeners)),
            rack="rack-z",
        )
        registrar = BrokerRegistrar(zk, fake)
        epoch = await registrar.register()

        def fake_listed() -> bool:
            cluster = admin.describe_cluster().result(10)
            return any(
                (n.id, n.host, n.port, n.rack) == (77, "198.51.100.7", 9092, "rack-z")
                for n in cluster.nodes
            )

        await wait_for("Kafka lists broker 77", fake_listed)
        await zk.delete(paths.broker(77))
        print(f"OK 3: Kafka lists our registered broker 77 (broker epoch {epoch})")

        # 4. producer ids.
        ours = await allocate_producer_id_block(zk, broker_id=77)
        txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": topic})
        txn.init_transactions(30)
        data, _ = await zk.get(paths.LATEST_PRODUCER_ID_BLOCK)
        latest = ProducerIdsBlock.decode(data)
        if latest == ours:
            # A broker only asks for a block when its current one runs out.
            print(f"OK 4: our block {ours.first_producer_id}-{ours.last_producer_id} written; "
                  "Kafka did not need a new block this time (run again to see one)")
        else:
            assert latest.first_producer_id == ours.next_block_first_id(), (ours, latest)
            print(f"OK 4: our block {ours.first_producer_id}-{ours.last_producer_id}; Kafka's "
                  f"next block starts at {latest.first_producer_id}")

        # 5. deletion through our marker.
        await zk.create(paths.delete_topic_marker(topic), None)

        async def deleted() -> bool:
            return (await zk.exists(paths.topic(topic)) is None
                    and await zk.exists(paths.delete_topic_marker(topic)) is None)

        await wait_for("the controller deletes the topic", deleted, timeout=60)
        print("OK 5: Kafka's controller deleted the topic from our marker")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--zookeeper", required=True)
    parser.add_argument("--bootstrap", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.zookeeper, args.bootstrap))
