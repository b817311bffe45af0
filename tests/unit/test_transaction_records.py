"""``__transaction_state`` codecs against Kafka 3.9.1's bytes, hypothesis round trips,
and the transaction state machine's table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.transaction.records import (
    TransactionLogValue,
    TxnRecordFormatError,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from broker.transaction.state import (
    VALID_PREVIOUS,
    IllegalStateTransition,
    TransactionMetadata,
    TransactionState,
)

# Printed by tests/tools/TxnLogGolden.java with Kafka 3.9.1's generated classes.
GOLDEN_KEY = "000000066d792d74786e"
GOLDEN_ONGOING_V0 = (
    "0000000000000000109200070000ea60010000000200016100000002000000000000000200016200000001"
    "000000010000018bcfe5687b0000018bcfe56800"
)
GOLDEN_EMPTY_V0 = "000000000000000000010000000dbba000ffffffff0000018bcfe56800ffffffffffffffff"
GOLDEN_ONGOING_V1 = (
    "0001000000000000109200070000ea600103026103000000000000000200026202000000010000000"
    "18bcfe5687b0000018bcfe5680000"
)

ONGOING = TransactionLogValue(
    producer_id=4242,
    producer_epoch=7,
    transaction_timeout_ms=60_000,
    transaction_status=1,
    partitions={"a": [0, 2], "b": [1]},
    last_update_timestamp_ms=1_700_000_000_123,
    start_timestamp_ms=1_700_000_000_000,
)
EMPTY = TransactionLogValue(1, 0, 900_000, 0, None, 1_700_000_000_000, -1)


def test_key_matches_kafka() -> None:
    assert encode_key("my-txn").hex() == GOLDEN_KEY
    assert decode_key(bytes.fromhex(GOLDEN_KEY)) == "my-txn"


def test_values_match_kafka() -> None:
    assert encode_value(ONGOING).hex() == GOLDEN_ONGOING_V0
    assert encode_value(EMPTY).hex() == GOLDEN_EMPTY_V0
    assert encode_value(ONGOING, version=1).hex() == GOLDEN_ONGOING_V1
    assert decode_value(bytes.fromhex(GOLDEN_ONGOING_V0)) == ONGOING
    assert decode_value(bytes.fromhex(GOLDEN_EMPTY_V0)) == EMPTY
    assert decode_value(bytes.fromhex(GOLDEN_ONGOING_V1)) == ONGOING


def test_bad_records_are_refused() -> None:
    with pytest.raises(TxnRecordFormatError):
        decode_key(b"\x00\x01\x00\x01a")
    with pytest.raises(TxnRecordFormatError):
        decode_value(b"\x00\x02" + bytes(40))
    with pytest.raises(TxnRecordFormatError):
        decode_value(bytes.fromhex(GOLDEN_EMPTY_V0)[:-1])
    with pytest.raises(TxnRecordFormatError):
        decode_value(bytes.fromhex(GOLDEN_EMPTY_V0) + b"\x00")


_i64 = st.integers(-(2**63), 2**63 - 1)
_names = st.text(min_size=1, max_size=20)
_partitions = st.none() | st.dictionaries(
    _names, st.lists(st.integers(0, 2**31 - 1), max_size=5), max_size=4
)


@st.composite
def log_values(draw: st.DrawFn, flexible: bool) -> TransactionLogValue:
    return TransactionLogValue(
        producer_id=draw(_i64),
        producer_epoch=draw(st.integers(-1, 32767)),
        transaction_timeout_ms=draw(st.integers(0, 2**31 - 1)),
        transaction_status=draw(st.integers(0, 7)),
        partitions=draw(_partitions),
        last_update_timestamp_ms=draw(_i64),
        start_timestamp_ms=draw(_i64),
        previous_producer_id=draw(_i64) if flexible else -1,
        next_producer_id=draw(_i64) if flexible else -1,
        client_transaction_version=draw(st.integers(0, 2)) if flexible else 0,
    )


@given(st.text(max_size=100))
def test_key_round_trip(tid: str) -> None:
    assert decode_key(encode_key(tid)) == tid


@given(log_values(False))
def test_value_v0_round_trip(value: TransactionLogValue) -> None:
    assert decode_value(encode_value(value)) == value


@given(log_values(True))
def test_value_v1_round_trip(value: TransactionLogValue) -> None:
    assert decode_value(encode_value(value, version=1)) == value


# -- state machine ---------------------------------------------------------------------

S = TransactionState


def test_state_ids_and_names_are_kafkas() -> None:
    assert [(s.value, s.kafka_name) for s in S] == [
        (0, "Empty"),
        (1, "Ongoing"),
        (2, "PrepareCommit"),
        (3, "PrepareAbort"),
        (4, "CompleteCommit"),
        (5, "CompleteAbort"),
        (6, "Dead"),
        (7, "PrepareEpochFence"),
    ]
    assert S.from_kafka_name("Ongoing") is S.ONGOING
    assert S.from_kafka_name("Nope") is None


def test_valid_previous_states_are_kafkas() -> None:
    assert VALID_PREVIOUS[S.PREPARE_COMMIT] == {S.ONGOING}
    assert VALID_PREVIOUS[S.PREPARE_ABORT] == {S.ONGOING, S.PREPARE_EPOCH_FENCE}
    assert VALID_PREVIOUS[S.COMPLETE_COMMIT] == {S.PREPARE_COMMIT}
    assert VALID_PREVIOUS[S.COMPLETE_ABORT] == {S.PREPARE_ABORT}
    assert VALID_PREVIOUS[S.ONGOING] == {S.ONGOING, S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_transit_allows_exactly_the_table(start: TransactionState, to: TransactionState) -> None:
    meta = TransactionMetadata("t", 5, 1, 1000, start, {("a", 0)}, 10, 10)
    if start in VALID_PREVIOUS[to]:
        new = meta.transit(to, 99)
        assert new.state is to and meta.state is start  # a copy; the original is untouched
        assert new.last_update_timestamp_ms == 99
        if to in (S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT):
            assert new.partitions == set()
        # What is written is what is read back.
        again = TransactionMetadata.from_record("t", decode_value(encode_value(new.to_record())))
        assert (again.state, again.partitions, again.producer_epoch) == (
            new.state,
            new.partitions,
            new.producer_epoch,
        )
    else:
        with pytest.raises(IllegalStateTransition):
            meta.transit(to, 99)


def test_ongoing_keeps_its_start_time() -> None:
    meta = TransactionMetadata("t", 5, 1, 1000, S.EMPTY)
    ongoing = meta.transit(S.ONGOING, 100, partitions={("a", 0)})
    assert ongoing.start_timestamp_ms == 100
    more = ongoing.transit(S.ONGOING, 200, partitions={("a", 0), ("a", 1)})
    assert more.start_timestamp_ms == 100
    assert more.to_record().partitions == {"a": [0, 1]}
