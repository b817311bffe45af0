"""ListOffsets: earliest, latest, by timestamp, max timestamp, after DeleteRecords."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as CTP
from confluent_kafka.admin import AdminClient, OffsetSpec
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    KCAT,
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
    watermarks,
)
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP
from kafka.admin import KafkaAdminClient
from kafka.admin import OffsetSpec as KOffsetSpec

BASE = 1_700_000_000_000
# explicit, not monotonic: Kafka's rule is "first offset whose timestamp >= target"
STAMPS = [BASE, BASE + 10, BASE + 20, BASE + 30, BASE + 25, BASE + 40, BASE + 50, BASE + 45]


@pytest.fixture
def kconsumer(shared: BrokerProcess) -> Iterator[KafkaConsumer]:
    c = KafkaConsumer(bootstrap_servers=shared.bootstrap, group_id=None, request_timeout_ms=20000)
    yield c
    c.close()


@pytest.fixture
def cconsumer(shared: BrokerProcess) -> Iterator[Any]:
    c = Consumer(
        {
            "bootstrap.servers": shared.bootstrap,
            "group.id": "josef-tests-unused",
            "enable.auto.commit": False,
        }
    )
    yield c
    c.close()


def _stamped_topic(shared: BrokerProcess, producer: str = "kafka-python") -> str:
    topic = unique_topic("ts")
    create_topic(shared.bootstrap, topic)
    recs = [Record(None, f"v{i}".encode(), (), ts) for i, ts in enumerate(STAMPS)]
    # one batch per record so the time index sees each one
    for i, r in enumerate(recs):
        assert produce(producer, shared.bootstrap, topic, [r]) == [i]
    return topic


def test_earliest_latest_all_clients(shared: BrokerProcess, kconsumer: KafkaConsumer) -> None:
    topic = unique_topic("lo")
    create_topic(shared.bootstrap, topic, partitions=2)
    produce("confluent", shared.bootstrap, topic, [Record(None, b"x")] * 13, partition=0)
    tp0, tp1 = KTP(topic, 0), KTP(topic, 1)
    assert kconsumer.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
    assert kconsumer.end_offsets([tp0, tp1]) == {tp0: 13, tp1: 0}
    assert watermarks(shared.bootstrap, topic, 0) == (0, 13)
    assert watermarks(shared.bootstrap, topic, 1) == (0, 0)

    async def aio() -> tuple[dict[Any, int], dict[Any, int]]:
        from aiokafka import AIOKafkaConsumer
        from aiokafka import TopicPartition as ATP

        c = AIOKafkaConsumer(bootstrap_servers=shared.bootstrap, group_id=None)
        await asyncio.wait_for(c.start(), 20)
        try:
            tps = [ATP(topic, 0), ATP(topic, 1)]
            b = await asyncio.wait_for(c.beginning_offsets(tps), 20)
            e = await asyncio.wait_for(c.end_offsets(tps), 20)
            return {k.partition: v for k, v in b.items()}, {k.partition: v for k, v in e.items()}
        finally:
            await c.stop()

    assert asyncio.run(aio()) == ({0: 0, 1: 0}, {0: 13, 1: 0})

    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    for spec, expect in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 13)):
        fut = admin.list_offsets({CTP(topic, 0): spec}, request_timeout=20)
        assert fut[CTP(topic, 0)].result(timeout=20).offset == expect


@pytest.mark.parametrize("producer", ["kafka-python", "confluent"])
def test_offsets_for_times_kafka_python(
    shared: BrokerProcess, kconsumer: KafkaConsumer, producer: str
) -> None:
    topic = _stamped_topic(shared, producer)
    tp = KTP(topic, 0)
    cases = {
        BASE - 1000: (0, BASE),
        BASE: (0, BASE),
        BASE + 1: (1, BASE + 10),
        BASE + 20: (2, BASE + 20),
        BASE + 21: (3, BASE + 30),
        BASE + 26: (3, BASE + 30),
        BASE + 31: (5, BASE + 40),
        BASE + 45: (6, BASE + 50),
        BASE + 50: (6, BASE + 50),
    }
    for target, (offset, ts) in cases.items():
        got = kconsumer.offsets_for_times({tp: target})[tp]
        assert got is not None, f"no offset for {target - BASE:+d}"
        assert (got.offset, got.timestamp) == (offset, ts), f"target BASE{target - BASE:+d}"
    assert kconsumer.offsets_for_times({tp: BASE + 51})[tp] is None


def test_offsets_for_times_confluent(shared: BrokerProcess, cconsumer: Any) -> None:
    topic = _stamped_topic(shared, "aiokafka")
    targets = [BASE - 5, BASE + 11, BASE + 26, BASE + 46, BASE + 51]
    got = []
    for t in targets:  # one partition may appear only once per request
        (r,) = cconsumer.offsets_for_times([CTP(topic, 0, t)], timeout=20)
        assert r.error is None, r.error
        got.append(r.offset)
    assert got == [0, 2, 3, 6, -1]  # -1: OFFSET_END, nothing that late


def test_offsets_for_times_kcat(shared: BrokerProcess) -> None:
    require_client("kcat")
    topic = _stamped_topic(shared, "confluent")
    out = subprocess.run(
        [KCAT, "-Q", "-b", shared.bootstrap, "-t", f"{topic}:0:{BASE + 21}"],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout.decode()
    m = re.search(r"\[0\]\s+offset\s+(-?\d+)", out)
    assert m, out
    assert int(m.group(1)) == 3


def test_consume_from_timestamp(shared: BrokerProcess, kconsumer: KafkaConsumer) -> None:
    """Seek by timestamp then fetch: the records from that offset on."""
    topic = _stamped_topic(shared, "confluent")
    tp = KTP(topic, 0)
    off = kconsumer.offsets_for_times({tp: BASE + 31})[tp].offset
    got = consume("kafka-python", shared.bootstrap, topic, 0, off, len(STAMPS) - off)
    assert [c.timestamp for c in got] == STAMPS[off:]


def test_max_timestamp(shared: BrokerProcess) -> None:
    """ListOffsets -3 (v7+): offset and timestamp of the record with the largest timestamp."""
    topic = _stamped_topic(shared, "kafka-python")
    kadmin = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=20000)
    try:
        res = kadmin.list_partition_offsets({KTP(topic, 0): KOffsetSpec.MAX_TIMESTAMP})
        got = res[KTP(topic, 0)]
        assert (got.offset, got.timestamp) == (6, BASE + 50)
    finally:
        kadmin.close()
    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    fut = admin.list_offsets({CTP(topic, 0): OffsetSpec.max_timestamp()}, request_timeout=20)
    info = fut[CTP(topic, 0)].result(timeout=20)
    assert (info.offset, info.timestamp) == (6, BASE + 50)


def test_max_timestamp_inside_one_batch(shared: BrokerProcess) -> None:
    """The record's own offset inside a batch, the first of equal maxima (Kafka 3.8+)."""
    topic = unique_topic("maxts-batch")
    create_topic(shared.bootstrap, topic)
    stamps = [BASE, BASE + 70, BASE + 5, BASE + 70, BASE + 1]
    recs = [Record(None, f"v{i}".encode(), (), ts) for i, ts in enumerate(stamps)]
    assert produce("confluent", shared.bootstrap, topic, recs) == list(range(5))
    kadmin = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=20000)
    try:
        res = kadmin.list_partition_offsets({KTP(topic, 0): KOffsetSpec.MAX_TIMESTAMP})
        got = res[KTP(topic, 0)]
        assert (got.offset, got.timestamp) == (1, BASE + 70)
    finally:
        kadmin.close()
    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    fut = admin.list_offsets({CTP(topic, 0): OffsetSpec.max_timestamp()}, request_timeout=20)
    info = fut[CTP(topic, 0)].result(timeout=20)
    assert (info.offset, info.timestamp) == (1, BASE + 70)


def test_max_timestamp_empty_partition(shared: BrokerProcess) -> None:
    topic = unique_topic("maxts-empty")
    create_topic(shared.bootstrap, topic)
    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    fut = admin.list_offsets({CTP(topic, 0): OffsetSpec.max_timestamp()}, request_timeout=20)
    info = fut[CTP(topic, 0)].result(timeout=20)
    assert (info.offset, info.timestamp) == (-1, -1)


def test_delete_records_moves_earliest(shared: BrokerProcess, kconsumer: KafkaConsumer) -> None:
    topic = unique_topic("delrec")
    create_topic(shared.bootstrap, topic, partitions=2)
    recs = [Record(f"k{i}".encode(), f"v{i}".encode()) for i in range(10)]
    produce("confluent", shared.bootstrap, topic, recs, partition=0)
    produce("confluent", shared.bootstrap, topic, recs, partition=1)

    admin = AdminClient({"bootstrap.servers": shared.bootstrap})
    futs = admin.delete_records([CTP(topic, 0, 4)], request_timeout=20)
    deleted = futs[CTP(topic, 0, 4)].result(timeout=20)
    assert deleted.low_watermark == 4
    tp = KTP(topic, 0)
    assert kconsumer.beginning_offsets([tp]) == {tp: 4}
    assert kconsumer.end_offsets([tp]) == {tp: 10}
    assert watermarks(shared.bootstrap, topic, 1) == (0, 10)  # the other partition untouched
    assert_roundtrip(
        recs[4:], consume("aiokafka", shared.bootstrap, topic, 0, 4, 6), first_offset=4
    )

    # below the log start: OFFSET_OUT_OF_RANGE for an assign+seek consumer without reset
    c = Consumer(
        {
            "bootstrap.servers": shared.bootstrap,
            "group.id": "josef-tests-unused",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
        }
    )
    try:
        c.assign([CTP(topic, 0, 1)])
        err = None
        for _ in range(40):
            m = c.poll(0.5)
            if m is not None and m.error() is not None:
                err = m.error()
                break
            assert m is None, f"read offset {m.offset()} below the log start offset"
        assert err is not None and err.code() == KafkaError._AUTO_OFFSET_RESET, err
    finally:
        c.close()

    # delete everything (-1 = high watermark) with kafka-python's admin client
    kadmin = KafkaAdminClient(bootstrap_servers=shared.bootstrap, request_timeout_ms=20000)
    try:
        kadmin.delete_records({KTP(topic, 1): -1})
    finally:
        kadmin.close()
    assert watermarks(shared.bootstrap, topic, 1) == (10, 10)
    # deleting beyond the high watermark is refused
    futs = admin.delete_records([CTP(topic, 0, 11)], request_timeout=20)
    with pytest.raises(KafkaException) as info:
        futs[CTP(topic, 0, 11)].result(timeout=20)
    assert info.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    # produce continues at the high watermark
    assert produce("kafka-python", shared.bootstrap, topic, recs[:2], partition=1) == [10, 11]
