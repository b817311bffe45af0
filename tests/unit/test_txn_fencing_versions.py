"""KIP-588: PRODUCER_FENCED only for request versions that know it (InitProducerId v4+,
AddPartitionsToTxn, AddOffsetsToTxn and EndTxn v2+, TxnOffsetCommit v3+); older clients get
INVALID_PRODUCER_EPOCH, as Kafka answers them."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from broker.handlers.transactions import fenced_for


@pytest.mark.parametrize(("first", "older"), [(4, 3), (2, 1), (2, 0), (3, 2)])
def test_older_versions_get_invalid_producer_epoch(first: int, older: int) -> None:
    assert fenced_for(older, first, ErrorCode.producer_fenced) == ErrorCode.invalid_producer_epoch
    assert fenced_for(first, first, ErrorCode.producer_fenced) == ErrorCode.producer_fenced
    assert fenced_for(older, first, ErrorCode.none) == ErrorCode.none
    assert fenced_for(older, first, ErrorCode.invalid_txn_state) == ErrorCode.invalid_txn_state
