"""Kafka's ``__transaction_state`` record schemas (TransactionLogKey / TransactionLogValue).

* Key: int16 version 0, then the transactional id as a string.
* Value: int16 version, then v0 (what Kafka 3.9 writes, ``transaction.version`` 0):
  producerId int64, producerEpoch int16, transactionTimeoutMs int32, transactionStatus
  int8, transactionPartitions nullable array of (topic string, partitionIds int32 array)
  — null when the state is Empty — transactionLastUpdateTimestampMs int64,
  transactionStartTimestampMs int64. v1 is the flexible form (compact strings and
  arrays, a tagged-field section per struct) with tagged fields 0 previousProducerId,
  1 nextProducerId, 2 clientTransactionVersion; it is decoded, not written.

A null value (a tombstone) removes an expired transactional id.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from protocol.primitives import PrimitiveReader, PrimitiveWriter

TRANSACTION_LOG_KEY_VERSION: Final = 0
TRANSACTION_LOG_VALUE_VERSION: Final = 0

_I16: Final = struct.Struct(">h")
_I64: Final = struct.Struct(">q")


class TxnRecordFormatError(ValueError):
    """A ``__transaction_state`` key or value that does not match Kafka's schema."""


@dataclass(frozen=True, slots=True)
class TransactionLogValue:
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    transaction_status: int
    #: topic → partition ids; None for an Empty transaction (Kafka writes null then).
    partitions: dict[str, list[int]] | None
    last_update_timestamp_ms: int
    start_timestamp_ms: int
    previous_producer_id: int = -1
    next_producer_id: int = -1
    client_transaction_version: int = 0
    extra_tags: dict[int, bytes] = field(default_factory=dict, compare=False)


def encode_key(transactional_id: str) -> bytes:
    w = PrimitiveWriter(error=TxnRecordFormatError)
    w.i16(TRANSACTION_LOG_KEY_VERSION)
    w.string(transactional_id)
    return w.getvalue()


def decode_key(data: bytes) -> str:
    r = PrimitiveReader(data, error=TxnRecordFormatError)
    version = r.i16()
    if version != TRANSACTION_LOG_KEY_VERSION:
        raise TxnRecordFormatError(f"unknown __transaction_state key version {version}")
    tid = r.string()
    r.end()
    return tid


def encode_value(value: TransactionLogValue, version: int = TRANSACTION_LOG_VALUE_VERSION) -> bytes:
    if version not in (0, 1):
        raise TxnRecordFormatError(f"unknown __transaction_state value version {version}")
    flexible = version >= 1
    w = PrimitiveWriter(flexible, error=TxnRecordFormatError)
    w.i16(version)
    w.i64(value.producer_id)
    w.i16(value.producer_epoch)
    w.i32(value.transaction_timeout_ms)
    w.i8(value.transaction_status)
    if value.partitions is None:
        if flexible:
            w.uvarint(0)
        else:
            w.i32(-1)
    else:
        w.array_len(len(value.partitions))
        for topic, ids in value.partitions.items():
            w.string(topic)
            w.array_len(len(ids))
            for i in ids:
                w.i32(i)
            w.tags()
    w.i64(value.last_update_timestamp_ms)
    w.i64(value.start_timestamp_ms)
    if flexible:
        tags: dict[int, bytes] = dict(value.extra_tags)
        if value.previous_producer_id != -1:
            tags[0] = _I64.pack(value.previous_producer_id)
        if value.next_producer_id != -1:
            tags[1] = _I64.pack(value.next_producer_id)
        if value.client_transaction_version != 0:
            tags[2] = _I16.pack(value.client_transaction_version)
        w.uvarint(len(tags))
        for tag in sorted(tags):
            w.uvarint(tag)
            w.uvarint(len(tags[tag]))
            w.buf += tags[tag]
    return w.getvalue()


def decode_value(data: bytes) -> TransactionLogValue:
    r = PrimitiveReader(data, error=TxnRecordFormatError)
    version = r.i16()
    if version not in (0, 1):
        raise TxnRecordFormatError(f"unknown __transaction_state value version {version}")
    flexible = version >= 1
    r.flexible = flexible
    producer_id = r.i64()
    epoch = r.i16()
    timeout = r.i32()
    status = r.i8()
    count = r.uvarint() - 1 if flexible else r.i32()
    partitions: dict[str, list[int]] | None = None
    if count >= 0:
        partitions = {}
        for _ in range(count):
            topic = r.string()
            ids = [r.i32() for _ in range(r.array_len())]
            r.read_tags()
            partitions.setdefault(topic, []).extend(ids)
    last_update = r.i64()
    start = r.i64()
    prev_pid = next_pid = -1
    client_version = 0
    extra: dict[int, bytes] = {}
    if flexible:
        for tag, raw in r.read_tags().items():
            if tag == 0 and len(raw) == 8:
                prev_pid = _I64.unpack(raw)[0]
            elif tag == 1 and len(raw) == 8:
                next_pid = _I64.unpack(raw)[0]
            elif tag == 2 and len(raw) == 2:
                client_version = _I16.unpack(raw)[0]
            else:
                extra[tag] = raw
    r.end()
    return TransactionLogValue(
        producer_id,
        epoch,
        timeout,
        status,
        partitions,
        last_update,
        start,
        prev_pid,
        next_pid,
        client_version,
        extra,
    )
