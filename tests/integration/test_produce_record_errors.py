"""KIP-467 per-record produce errors against a real broker, with librdkafka and kafka-python.

Kafka rejects a batch holding invalid records (no key on a compacted topic, a timestamp
outside message.timestamp.before/after.max.ms) with INVALID_RECORD / INVALID_TIMESTAMP and
lists the bad records; clients fail only those and report the others as retriable.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess
from helpers.clients import consume, create_topic, unique_topic
from helpers.raw import RawConn, array, i16, i32, string

from protocol.records import NewRecord, encode_batch

INVALID_TIMESTAMP = 32
INVALID_RECORD = 87
COMPACTED_MESSAGE = "Compacted topic cannot accept message without key in topic partition {}-0"


def _confluent_produce_one_batch(bootstrap: str, topic: str, records: list[Any]) -> list[Any]:
    """Produce ``records`` (key, value, timestamp) in one batch; the delivery error of each."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 1000,  # one batch
            "message.timeout.ms": 30000,
            "enable.idempotence": False,
            "batch.num.messages": 1000,
        }
    )
    errors: list[Any] = [None] * len(records)

    def report(i: int) -> Any:
        def cb(err: Any, _msg: Any) -> None:
            errors[i] = err if err is not None else "ok"

        return cb

    for i, (key, value, ts) in enumerate(records):
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report(i)}
        if ts is not None:
            kwargs["timestamp"] = ts
        producer.produce(topic, partition=0, **kwargs)
    assert producer.flush(30) == 0
    assert all(e is not None for e in errors)
    return errors


def test_confluent_fails_only_keyless_records_on_compacted_topic(shared: BrokerProcess) -> None:
    from confluent_kafka import KafkaError

    topic = unique_topic("kip467c")
    create_topic(shared.bootstrap, topic, config={"cleanup.policy": "compact"})
    records = [(b"a", b"1", None), (None, b"2", None), (b"c", b"3", None), (None, b"4", None)]
    errors = _confluent_produce_one_batch(shared.bootstrap, topic, records)
    codes = [e.code() for e in errors]
    assert codes == [
        KafkaError._INVALID_DIFFERENT_RECORD,
        KafkaError.INVALID_RECORD,
        KafkaError._INVALID_DIFFERENT_RECORD,
        KafkaError.INVALID_RECORD,
    ]
    # the application retries the good records, which are then delivered
    retry = [r for r, c in zip(records, codes, strict=True) if c != KafkaError.INVALID_RECORD]
    assert _confluent_produce_one_batch(shared.bootstrap, topic, retry) == ["ok", "ok"]
    got = consume("kafka-python", shared.bootstrap, topic, 0, 0, 2)
    assert [(c.offset, c.key, c.value) for c in got] == [(0, b"a", b"1"), (1, b"c", b"3")]


def test_confluent_invalid_timestamp_per_record(shared: BrokerProcess) -> None:
    from confluent_kafka import KafkaError

    topic = unique_topic("kip467t")
    create_topic(
        shared.bootstrap,
        topic,
        config={
            "message.timestamp.before.max.ms": "3600000",
            "message.timestamp.after.max.ms": "3600000",
        },
    )
    now = int(time.time() * 1000)
    records = [(b"k", b"1", now), (b"k", b"2", now - 86_400_000), (b"k", b"3", now)]
    errors = _confluent_produce_one_batch(shared.bootstrap, topic, records)
    # librdkafka splits a batch by record_errors for INVALID_RECORD only: with
    # INVALID_TIMESTAMP every record of the batch fails, as against Kafka.
    assert [e.code() for e in errors] == [KafkaError.INVALID_TIMESTAMP] * 3
    # the broker lists the one bad record
    batch = encode_batch([NewRecord(b"k", v, timestamp=t) for _, v, t in records])
    with RawConn(shared.host, shared.port) as conn:
        error, listed, message = _produce_v8(conn, topic, batch)
    assert error == INVALID_TIMESTAMP
    assert [i for i, _ in listed] == [1]
    assert listed[0][1].startswith(
        f"Timestamp {now - 86_400_000} of message with offset 1 is out of range. "
        "The timestamp should be within ["
    )
    assert message == "One or more records have been rejected due to invalid timestamp"
    assert _confluent_produce_one_batch(shared.bootstrap, topic, [records[0], records[2]]) == [
        "ok",
        "ok",
    ]
    got = consume("confluent", shared.bootstrap, topic, 0, 0, 2)
    assert [(c.offset, c.value, c.timestamp) for c in got] == [(0, b"1", now), (1, b"3", now)]


def test_kafka_python_reads_record_errors(shared: BrokerProcess) -> None:
    from kafka import KafkaProducer
    from kafka.errors import InvalidRecordError, KafkaError

    topic = unique_topic("kip467k")
    create_topic(shared.bootstrap, topic, config={"cleanup.policy": "compact"})
    producer = KafkaProducer(
        bootstrap_servers=shared.bootstrap, linger_ms=1000, enable_idempotence=False, retries=0
    )
    try:
        futures = [
            producer.send(topic, key=k, value=v, partition=0)
            for k, v in [(b"a", b"1"), (None, b"2"), (b"c", b"3")]
        ]
        producer.flush(30)
        outcomes = []
        for f in futures:
            with pytest.raises(KafkaError) as info:
                f.get(timeout=30)
            outcomes.append(info.value)
    finally:
        producer.close(timeout=10)
    # one listed record: kafka-python raises the top-level error class with its message
    assert isinstance(outcomes[1], InvalidRecordError)
    assert COMPACTED_MESSAGE.format(topic) in str(outcomes[1])
    for other in (outcomes[0], outcomes[2]):
        assert not isinstance(other, InvalidRecordError)
        assert "part of a batch which had one more more invalid records" in str(other)


def _produce_v8(
    conn: RawConn, topic: str, records: bytes
) -> tuple[int, list[tuple[int, str]], str]:
    part = i32(0) + i32(len(records)) + records
    body = string(None) + i16(1) + i32(5000) + array([string(topic) + array([part])])
    r = conn.request(0, 8, body)
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == 0
    error, base_offset, _append_time, _log_start = r.i16(), r.i64(), r.i64(), r.i64()
    assert base_offset == -1
    listed = [(r.i32(), r.string()) for _ in range(r.i32())]
    return error, listed, r.string()


def test_raw_v8_response_lists_bad_records(shared: BrokerProcess) -> None:
    topic = unique_topic("kip467r")
    create_topic(shared.bootstrap, topic, config={"cleanup.policy": "compact"})
    batch = encode_batch([NewRecord(None, b"0"), NewRecord(b"k", b"1"), NewRecord(None, b"2")])
    with RawConn(shared.host, shared.port) as conn:
        error, listed, message = _produce_v8(conn, topic, batch)
    text = COMPACTED_MESSAGE.format(topic)
    assert error == INVALID_RECORD
    assert listed == [(0, text), (2, text)]
    assert message == (
        "One or more records have been rejected due to 2 record errors in total, and only "
        f"showing the first three errors at most: [RecordError(batchIndex=0, message='{text}'), "
        f"RecordError(batchIndex=2, message='{text}')]"
    )


def test_log_append_time_rewrites_batch_timestamps(shared: BrokerProcess) -> None:
    topic = unique_topic("lat")
    create_topic(shared.bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    errors = _confluent_produce_one_batch(
        shared.bootstrap, topic, [(b"k", b"1", 1000), (b"k", b"2", 2000)]
    )
    assert errors == ["ok", "ok"]
    after = int(time.time() * 1000)
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": shared.bootstrap,
            "group.id": unique_topic("g"),
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        msgs = consumer.consume(2, timeout=30)
    finally:
        consumer.close()
    assert len(msgs) == 2 and all(m.error() is None for m in msgs)
    stamps = [m.timestamp() for m in msgs]
    assert {t for t, _ in stamps} == {TIMESTAMP_LOG_APPEND_TIME}
    assert stamps[0][1] == stamps[1][1] and before <= stamps[0][1] <= after
    got = consume("kafka-python", shared.bootstrap, topic, 0, 0, 2)
    assert [c.timestamp for c in got] == [stamps[0][1]] * 2
