"""Tests for protocol.records: the record-level RecordBatch v2 codec."""

from __future__ import annotations

import contextlib
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)

from protocol.compression import CODECS
from protocol.errors import CorruptRecordError, ErrorCode
from protocol.record_batch import (
    CRC_START,
    HEADER_SIZE,
    crc_is_valid,
    fix_crc,
    read_header,
    set_base_offset,
    set_log_append_time,
)
from protocol.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    NewRecord,
    Record,
    batch_keys,
    count_records,
    decode_batch,
    encode_batch,
    encode_control_batch,
    iter_records,
    read_control_type,
)

TS_MIN = 0
TS_MAX = 1 << 42

nullable_bytes = st.one_of(st.none(), st.binary(max_size=200))
headers_st = st.lists(st.tuples(st.text(max_size=20), nullable_bytes), max_size=4).map(tuple)


@st.composite
def new_records(draw: st.DrawFn, max_size: int = 12) -> list[NewRecord]:
    count = draw(st.integers(min_value=0, max_value=max_size))
    gaps = draw(st.booleans())
    records: list[NewRecord] = []
    delta = -1
    for _ in range(count):
        if gaps:
            delta += draw(st.integers(min_value=1, max_value=1000))
            offset_delta: int | None = delta
        else:
            delta += 1
            offset_delta = draw(st.sampled_from([None, delta]))
        records.append(
            NewRecord(
                key=draw(nullable_bytes),
                value=draw(st.one_of(nullable_bytes, st.just(b""))),
                headers=draw(headers_st),
                timestamp=draw(st.integers(min_value=TS_MIN, max_value=TS_MAX)),
                offset_delta=offset_delta,
            )
        )
    return records


def expected_records(records: list[NewRecord], base_offset: int) -> list[Record]:
    out: list[Record] = []
    delta = -1
    for record in records:
        delta = delta + 1 if record.offset_delta is None else record.offset_delta
        assert record.timestamp is not None
        out.append(
            Record(base_offset + delta, record.timestamp, record.key, record.value, record.headers)
        )
    return out


def last_delta(records: list[NewRecord]) -> int:
    delta = -1
    for record in records:
        delta = delta + 1 if record.offset_delta is None else record.offset_delta
    return delta


# --------------------------------------------------------------------------- round trips


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=new_records(),
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=1 << 62),
    producer=st.tuples(
        st.integers(min_value=-1, max_value=1 << 62),
        st.integers(min_value=-1, max_value=32767),
        st.integers(min_value=-1, max_value=(1 << 31) - 1),
    ),
    transactional=st.booleans(),
    leader_epoch=st.integers(min_value=-1, max_value=(1 << 31) - 1),
)
def test_round_trip_and_header_fields(
    records: list[NewRecord],
    codec: int,
    base_offset: int,
    producer: tuple[int, int, int],
    transactional: bool,
    leader_epoch: int,
) -> None:
    producer_id, producer_epoch, base_sequence = producer
    buf = encode_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        is_transactional=transactional,
        partition_leader_epoch=leader_epoch,
    )
    header, decoded = decode_batch(buf, check_crc=True)
    assert decoded == expected_records(records, base_offset)
    assert header.size == len(buf)
    assert header.base_offset == base_offset
    assert header.records_count == len(records)
    assert header.last_offset_delta == max(last_delta(records), 0)
    assert header.compression == (codec if records else 0)
    assert header.timestamp_type == 0
    assert header.is_transactional == transactional
    assert not header.is_control
    assert header.producer_id == producer_id
    assert header.producer_epoch == producer_epoch
    assert header.base_sequence == base_sequence
    assert header.partition_leader_epoch == leader_epoch
    if records:
        assert header.base_timestamp == records[0].timestamp
        assert header.max_timestamp == max(r.timestamp for r in records if r.timestamp is not None)
    assert crc_is_valid(buf, 0, header)
    assert batch_keys(buf, 0, header) == [r.key for r in records]
    assert count_records(buf, 0, header) == len(records)
    assert [r for _, r in iter_records(buf)] == decoded


@pytest.mark.parametrize("codec", CODECS)
def test_large_values(codec: int) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    records = [
        NewRecord(b"k1", big, timestamp=1),
        NewRecord(None, big[::-1], timestamp=2),
        NewRecord(b"", b"", timestamp=3),
    ]
    buf = encode_batch(records, compression=codec)
    header, decoded = decode_batch(buf, check_crc=True)
    assert [r.value for r in decoded] == [big, big[::-1], b""]
    if codec:
        assert header.size < len(big)


def test_timestamps_default_to_now_and_explicit_base() -> None:
    before = time.time_ns() // 1_000_000
    buf = encode_batch([NewRecord(b"k", b"v"), NewRecord(b"k", b"v")])
    after = time.time_ns() // 1_000_000
    header, decoded = decode_batch(buf)
    assert before <= header.base_timestamp <= after
    assert decoded[0].timestamp == decoded[1].timestamp == header.max_timestamp

    buf = encode_batch(
        [NewRecord(None, b"a", timestamp=500), NewRecord(None, b"b", timestamp=100)],
        base_timestamp=50,
    )
    header, decoded = decode_batch(buf)
    assert header.base_timestamp == 50
    assert header.max_timestamp == 500
    assert [r.timestamp for r in decoded] == [500, 100]


def test_empty_batch_keeps_offset_span() -> None:
    buf = encode_batch(
        [], base_offset=10, last_offset_delta=4, producer_id=7, producer_epoch=1, base_sequence=3
    )
    header, decoded = decode_batch(buf, check_crc=True)
    assert decoded == []
    assert header.records_count == 0
    assert header.last_offset == 14
    assert header.last_sequence == 7
    assert count_records(buf, 0, header) == 0


def test_last_offset_delta_override_keeps_range_after_dropping_tail() -> None:
    buf = encode_batch([NewRecord(b"a", b"1", timestamp=1)], last_offset_delta=9)
    header, decoded = decode_batch(buf)
    assert header.last_offset_delta == 9
    assert [r.offset for r in decoded] == [0]
    with pytest.raises(ValueError):
        encode_batch([NewRecord(b"a", b"1", offset_delta=5)], last_offset_delta=4)


def test_offset_deltas_must_increase() -> None:
    with pytest.raises(ValueError):
        encode_batch([NewRecord(b"a", None, offset_delta=3), NewRecord(b"b", None, offset_delta=3)])
    with pytest.raises(ValueError):
        encode_batch([NewRecord(b"a", None, offset_delta=1 << 31)])


def test_log_append_time_overrides_record_timestamps() -> None:
    buf = bytearray(
        encode_batch([NewRecord(b"a", b"1", timestamp=10), NewRecord(b"b", b"2", timestamp=20)])
    )
    set_log_append_time(buf, 0, 12345)
    header, decoded = decode_batch(buf, check_crc=True)
    assert header.timestamp_type == 1
    assert [r.timestamp for r in decoded] == [12345, 12345]
    assert encode_batch([NewRecord(None, b"x", timestamp=1)], timestamp_type=1)[22] & 0x08


# --------------------------------------------------------------------------- CRC


@settings(deadline=None, max_examples=100)
@given(records=new_records(max_size=4), codec=st.sampled_from(CODECS), bit=st.integers(min_value=0))
def test_flipped_bit_after_crc_field_breaks_crc(
    records: list[NewRecord], codec: int, bit: int
) -> None:
    buf = bytearray(encode_batch(records, compression=codec))
    header = read_header(buf)
    assert crc_is_valid(buf, 0, header)
    covered_bits = (len(buf) - CRC_START) * 8
    index = CRC_START * 8 + bit % covered_bits
    buf[index // 8] ^= 1 << (index % 8)
    assert not crc_is_valid(buf, 0, header)
    with pytest.raises(CorruptRecordError):
        decode_batch(buf, check_crc=True)


@settings(deadline=None, max_examples=50)
@given(
    records=new_records(max_size=4),
    codec=st.sampled_from(CODECS),
    stamp=st.integers(min_value=0, max_value=TS_MAX),
    base_offset=st.integers(min_value=0, max_value=1 << 62),
)
def test_header_rewrites_keep_crc_valid(
    records: list[NewRecord], codec: int, stamp: int, base_offset: int
) -> None:
    buf = bytearray(encode_batch(records, compression=codec))
    set_base_offset(buf, 0, base_offset)
    set_log_append_time(buf, 0, stamp)
    header = read_header(buf)
    assert crc_is_valid(buf, 0, header)
    assert header.max_timestamp == stamp
    assert header.timestamp_type == 1
    _, decoded = decode_batch(buf, check_crc=True)
    assert all(r.timestamp == stamp for r in decoded)
    assert [r.offset for r in decoded] == [
        r.offset + base_offset for r in expected_records(records, 0)
    ]


# --------------------------------------------------------------------------- control batches


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    buf = encode_control_batch(
        commit=commit,
        producer_id=42,
        producer_epoch=3,
        coordinator_epoch=9,
        base_offset=100,
        timestamp=777,
        partition_leader_epoch=5,
    )
    header, decoded = decode_batch(buf, check_crc=True)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 3, -1)
    assert header.partition_leader_epoch == 5
    assert header.records_count == 1 and header.last_offset == 100
    (record,) = decoded
    assert record.offset == 100 and record.timestamp == 777
    assert record.key == struct.pack(">hh", 0, 1 if commit else 0)
    assert record.value == struct.pack(">hi", 0, 9)
    assert read_control_type(buf, 0) == (CONTROL_COMMIT if commit else CONTROL_ABORT)

    theirs = DefaultRecordBatch(bytearray(buf))
    assert theirs.is_control_batch and theirs.validate_crc()
    (control,) = list(theirs)
    assert control.commit == commit and control.abort == (not commit)


def test_read_control_type_on_data_batch_and_offset() -> None:
    data = encode_batch([NewRecord(b"k", b"v", timestamp=1)])
    marker = encode_control_batch(
        commit=False, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp=2
    )
    assert read_control_type(data) is None
    assert read_control_type(data + marker, len(data)) == CONTROL_ABORT
    empty_control = encode_batch([], is_control=True, is_transactional=True, producer_id=1)
    assert read_control_type(empty_control) is None
    bad = encode_batch([NewRecord(b"\x00", None, timestamp=1)], is_control=True)
    with pytest.raises(CorruptRecordError):
        read_control_type(bad)


# --------------------------------------------------------------------------- buffers of batches


def test_iter_records_over_several_batches_ignores_incomplete_tail() -> None:
    first = encode_batch([NewRecord(b"a", b"1", timestamp=1)], base_offset=0)
    second = encode_batch(
        [NewRecord(b"b", b"2", timestamp=2), NewRecord(b"c", None, timestamp=3)],
        base_offset=1,
        compression=4,
    )
    third = encode_batch([NewRecord(b"d", b"4", timestamp=4)], base_offset=3)
    buf = first + second + third[:-5]
    got = [(h.base_offset, r.offset, r.key) for h, r in iter_records(memoryview(buf))]
    assert got == [(0, 0, b"a"), (1, 1, b"b"), (1, 2, b"c")]
    assert len(list(iter_records(first + second + third))) == 4


def test_decode_batch_at_position_and_truncated() -> None:
    first = encode_batch([NewRecord(b"a", b"1", timestamp=1)])
    second = encode_batch([NewRecord(b"b", b"2", timestamp=2)], base_offset=1)
    header, decoded = decode_batch(first + second, len(first))
    assert header.base_offset == 1 and decoded[0].key == b"b"
    with pytest.raises(CorruptRecordError):
        decode_batch(second[:-1])
    with pytest.raises(CorruptRecordError):
        decode_batch(second[:30])


def _with_body(template: bytes, body: bytes, count: int, attributes: int | None = None) -> bytes:
    """A batch with ``template``'s header, ``body`` as records and a fresh CRC."""
    buf = bytearray(template[:HEADER_SIZE] + body)
    struct.pack_into(">i", buf, 8, len(buf) - 12)
    struct.pack_into(">i", buf, 57, count)
    if attributes is not None:
        struct.pack_into(">h", buf, 21, attributes)
    fix_crc(buf, 0)
    return bytes(buf)


def test_count_mismatch_and_trailing_garbage() -> None:
    good = encode_batch([NewRecord(b"a", b"1", timestamp=1), NewRecord(b"b", b"2", timestamp=1)])
    body = good[HEADER_SIZE:]
    header = read_header(good)
    wrong_count = _with_body(good, body, 3)
    with pytest.raises(CorruptRecordError):
        decode_batch(wrong_count)
    with pytest.raises(CorruptRecordError):
        batch_keys(wrong_count, 0, read_header(wrong_count))
    assert count_records(wrong_count, 0, read_header(wrong_count)) == 2

    trailing = _with_body(good, body + b"\x00\x01", 2)
    for fn in (decode_batch,):
        with pytest.raises(CorruptRecordError):
            fn(trailing)
    with pytest.raises(CorruptRecordError):
        count_records(trailing, 0, read_header(trailing))
    assert count_records(good, 0, header) == 2


def test_unknown_codec_in_batch_is_corrupt() -> None:
    good = encode_batch([NewRecord(b"a", b"1", timestamp=1)])
    bad = _with_body(good, good[HEADER_SIZE:], 1, attributes=6)
    with pytest.raises(CorruptRecordError) as error:
        decode_batch(bad)
    assert error.value.error_code == ErrorCode.unsupported_compression_type


@pytest.mark.parametrize("codec", CODECS)
def test_batch_keys_and_count_on_compressed(codec: int) -> None:
    records = [NewRecord(None if i % 3 == 0 else b"k%d" % i, b"v" * i) for i in range(50)]
    buf = encode_batch(records, compression=codec)
    header = read_header(buf)
    assert batch_keys(buf, 0, header) == [r.key for r in records]
    assert count_records(buf, 0, header) == 50


# --------------------------------------------------------------------------- fuzz


def _only_corrupt(buf: bytes) -> None:
    with contextlib.suppress(CorruptRecordError):
        decode_batch(buf)
    with contextlib.suppress(CorruptRecordError):
        list(iter_records(buf))
    with contextlib.suppress(CorruptRecordError):
        header = read_header(buf)
        batch_keys(buf, 0, header)
    with contextlib.suppress(CorruptRecordError):
        header = read_header(buf)
        count_records(buf, 0, header)
    with contextlib.suppress(CorruptRecordError):
        read_control_type(buf)


@settings(deadline=None, max_examples=300)
@given(data=st.binary(max_size=400))
def test_random_bytes_raise_only_corrupt(data: bytes) -> None:
    _only_corrupt(data)


@settings(deadline=None, max_examples=500)
@given(
    body=st.binary(max_size=300),
    count=st.integers(min_value=-2, max_value=100),
    attributes=st.integers(min_value=0, max_value=0x3F),
)
def test_valid_header_random_body_raises_only_corrupt(
    body: bytes, count: int, attributes: int
) -> None:
    template = encode_batch([NewRecord(b"k", b"v", timestamp=1)])
    _only_corrupt(_with_body(template, body, count, attributes))


@settings(deadline=None, max_examples=500)
@given(
    records=new_records(max_size=5),
    codec=st.sampled_from(CODECS),
    flips=st.lists(st.integers(min_value=0), min_size=1, max_size=3),
    cut=st.integers(min_value=0, max_value=50),
)
def test_mutated_batches_raise_only_corrupt(
    records: list[NewRecord], codec: int, flips: list[int], cut: int
) -> None:
    buf = bytearray(encode_batch(records, compression=codec))
    for flip in flips:
        index = HEADER_SIZE * 8 + flip % max((len(buf) - HEADER_SIZE) * 8, 1)
        if index // 8 < len(buf):
            buf[index // 8] ^= 1 << (index % 8)
    fix_crc(buf, 0)
    _only_corrupt(bytes(buf))
    _only_corrupt(bytes(buf[: len(buf) - cut]))


# --------------------------------------------------------------------------- kafka-python interop


def _theirs(
    records: list[NewRecord], codec: int, producer: tuple[int, int, int], transactional: bool
) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer[0],
        producer_epoch=producer[1],
        base_sequence=producer[2],
        batch_size=1 << 30,
    )
    delta = -1
    for record in records:
        delta = delta + 1 if record.offset_delta is None else record.offset_delta
        builder.append(delta, record.timestamp, record.key, record.value, list(record.headers))
    return bytes(builder.build())


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=new_records().filter(bool),
    codec=st.sampled_from(CODECS),
    compressible=st.booleans(),
    producer=st.sampled_from([(-1, -1, -1), (1234, 2, 17)]),
)
def test_kafka_python_builder_decodes_identically(
    records: list[NewRecord], codec: int, compressible: bool, producer: tuple[int, int, int]
) -> None:
    if compressible:
        # kafka-python sends uncompressed when compression does not pay off.
        records = [NewRecord(b"key" * 50, b"value" * 100, timestamp=1), *records]
    transactional = producer[0] >= 0
    buf = _theirs(records, codec, producer, transactional)
    header, decoded = decode_batch(buf, check_crc=True)
    assert decoded == expected_records(records, 0)
    if compressible:
        assert header.compression == codec
    assert header.records_count == len(records)
    assert header.last_offset_delta == last_delta(records)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == producer
    assert header.is_transactional == transactional
    assert batch_keys(buf, 0, header) == [r.key for r in records]
    assert count_records(buf, 0, header) == len(records)


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=new_records(),
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=1 << 40),
    log_append=st.booleans(),
)
def test_kafka_python_reader_decodes_ours(
    records: list[NewRecord], codec: int, base_offset: int, log_append: bool
) -> None:
    buf = bytearray(
        encode_batch(
            records,
            base_offset=base_offset,
            compression=codec,
            producer_id=5,
            producer_epoch=1,
            base_sequence=0,
        )
    )
    if log_append:
        set_log_append_time(buf, 0, 99)
    theirs = DefaultRecordBatch(bytearray(buf))
    assert theirs.validate_crc()
    assert theirs.base_offset == base_offset
    assert theirs.compression_type == (codec if records else 0)
    assert theirs.records_count == len(records)
    assert theirs.last_offset_delta == max(last_delta(records), 0)
    assert (theirs.producer_id, theirs.producer_epoch, theirs.base_sequence) == (5, 1, 0)
    got = [(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in theirs]
    _, ours = decode_batch(buf)
    assert got == [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in ours]
    expected = expected_records(records, base_offset)
    assert [(r.offset, r.key, r.value, r.headers) for r in expected] == [
        (r.offset, r.key, r.value, r.headers) for r in ours
    ]


@settings(max_examples=80)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.binary(max_size=300)),
            st.binary(max_size=50),
            st.integers(-(2**40), 2**40),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([0, 1, 4]),
)
def test_scan_records_agrees_with_decode(
    rows: list[tuple[bytes | None, bytes, int]], codec: int
) -> None:
    """scan_records (produce-time validation) reads what decode_batch reads."""
    from protocol.records import scan_records

    base = 1_700_000_000_000
    buf = encode_batch(
        [NewRecord(k, v, (), base + d) for k, v, d in rows], compression=codec, base_timestamp=base
    )
    header, decoded = decode_batch(buf)
    assert scan_records(buf, 0, header) == [
        (r.offset - header.base_offset, r.timestamp - header.base_timestamp, r.key is not None)
        for r in decoded
    ]
