"""Produce validation and idempotence, answered with Kafka's error codes (raw Produce v7)."""

from __future__ import annotations

import struct

from helpers.broker_process import BrokerProcess
from helpers.clients import consume, create_topic, unique_topic
from helpers.raw import RawConn, array, i16, i32, string

from protocol.record_batch import fix_crc
from protocol.records import NewRecord, encode_batch

NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_REQUIRED_ACKS = 21
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_RECORD = 87


def produce_body(topic: str, partition: int, records: bytes, acks: int = 1) -> bytes:
    part = i32(partition) + i32(len(records)) + records
    return string(None) + i16(acks) + i32(5000) + array([string(topic) + array([part])])


def produce(
    conn: RawConn, topic: str, records: bytes, acks: int = 1, partition: int = 0
) -> tuple[int, int]:
    r = conn.request(0, 7, produce_body(topic, partition, records, acks))
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == partition
    error, base_offset = r.i16(), r.i64()
    return error, base_offset


def idempotent_batch(seq: int, count: int, pid: int = 4242, epoch: int = 0) -> bytes:
    return encode_batch(
        [NewRecord(key=b"k", value=b"v%d" % (seq + i)) for i in range(count)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


def test_invalid_batches_get_kafka_error_codes(shared: BrokerProcess) -> None:
    topic = unique_topic("validate")
    create_topic(shared.bootstrap, topic, partitions=1)
    good = encode_batch([NewRecord(key=b"a", value=b"1")])
    with RawConn(shared.host, shared.port) as conn:
        assert produce(conn, topic, good) == (NONE, 0)
        corrupt = bytearray(good)
        corrupt[-1] ^= 0xFF  # body changed, CRC not fixed
        assert produce(conn, topic, bytes(corrupt))[0] == CORRUPT_MESSAGE
        magic1 = bytearray(good)
        magic1[16] = 1
        assert produce(conn, topic, bytes(magic1))[0] == INVALID_RECORD
        wrong_count = bytearray(good)
        struct.pack_into(">i", wrong_count, 57, 3)  # header says 3 records, delta says 1
        fix_crc(wrong_count, 0)
        assert produce(conn, topic, bytes(wrong_count))[0] == INVALID_RECORD
        big = encode_batch([NewRecord(key=None, value=b"x" * 1_100_000)])
        assert produce(conn, topic, big)[0] == MESSAGE_TOO_LARGE
        assert produce(conn, topic, good, acks=2)[0] == INVALID_REQUIRED_ACKS
        assert produce(conn, topic, good, partition=7)[0] == UNKNOWN_TOPIC_OR_PARTITION
        # nothing but the first batch was appended
        assert produce(conn, topic, good) == (NONE, 1)
    got = consume("confluent", shared.bootstrap, topic, 0, 0, 2)
    assert [(c.offset, c.key, c.value) for c in got] == [(0, b"a", b"1"), (1, b"a", b"1")]


def test_acks0_failure_closes_the_connection(shared: BrokerProcess) -> None:
    with RawConn(shared.host, shared.port) as conn:
        conn.send_request(0, 7, produce_body("no-such-topic-acks0", 0, b"\x00" * 70, acks=0))
        closed, data = conn.wait_closed()
        assert closed and data == b""


def test_idempotent_sequences(shared: BrokerProcess) -> None:
    topic = unique_topic("idem")
    create_topic(shared.bootstrap, topic, partitions=1)
    with RawConn(shared.host, shared.port) as conn:
        assert produce(conn, topic, idempotent_batch(0, 3)) == (NONE, 0)
        assert produce(conn, topic, idempotent_batch(3, 2)) == (NONE, 3)
        # a retry of an acknowledged batch is answered with its original offset
        assert produce(conn, topic, idempotent_batch(0, 3)) == (NONE, 0)
        assert produce(conn, topic, idempotent_batch(3, 2)) == (NONE, 3)
        # a gap is refused
        assert produce(conn, topic, idempotent_batch(9, 1))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        # a fenced (older) epoch is refused once a newer epoch wrote
        assert produce(conn, topic, idempotent_batch(0, 1, epoch=1)) == (NONE, 5)
        assert produce(conn, topic, idempotent_batch(5, 1, epoch=0))[0] == INVALID_PRODUCER_EPOCH
    got = consume("kafka-python", shared.bootstrap, topic, 0, 0, 6)
    assert [c.offset for c in got] == list(range(6))
    assert [c.value for c in got] == [b"v0", b"v1", b"v2", b"v3", b"v4", b"v0"]
