"""Transaction bookkeeping while cleaning (Kafka's CleanedTransactionMetadata).

The cleaner walks the batches of a log in offset order. Aborted transactions
(from the ``.txnindex`` files) become "ongoing aborted" once the walk reaches
their first offset; data batches of such a producer are discarded. A
transactional data batch of any other producer opens an "ongoing committed"
transaction that its COMMIT marker closes.

A marker may be discarded (once its delete horizon has passed, see
``storage.cleaner.cleaner``) only when no batch of its transaction remains:
an ABORT marker whose aborted data was seen in this pass is kept (and its
aborted-transaction entry is written to the cleaned segment's index); a
COMMIT marker is kept while data of its transaction was seen in this pass.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from protocol.record_batch import RecordBatchHeader
from protocol.records import CONTROL_ABORT, CONTROL_COMMIT
from storage.transaction_index import AbortedTxn, TransactionIndex


@dataclass(slots=True)
class _AbortedTxnState:
    txn: AbortedTxn
    last_obsolete_offset: int | None = None


@dataclass(slots=True)
class CleanedTransactionMetadata:
    """Per-pass transaction state; ``cleaned_index`` receives retained aborted txns."""

    _aborted: list[tuple[int, int, AbortedTxn]] = field(default_factory=list)
    _seq: int = 0
    ongoing_committed: set[int] = field(default_factory=set)
    ongoing_aborted: dict[int, _AbortedTxnState] = field(default_factory=dict)
    cleaned_index: TransactionIndex | None = None

    def add_aborted_transactions(self, txns: list[AbortedTxn]) -> None:
        for txn in txns:
            heapq.heappush(self._aborted, (txn.first_offset, self._seq, txn))
            self._seq += 1

    def _consume_aborted_up_to(self, offset: int) -> None:
        while self._aborted and self._aborted[0][0] <= offset:
            _, _, txn = heapq.heappop(self._aborted)
            self.ongoing_aborted.setdefault(txn.producer_id, _AbortedTxnState(txn))

    def on_control_batch_read(self, header: RecordBatchHeader, control_type: int | None) -> bool:
        """Update state for a marker; True when the marker may be discarded."""
        self._consume_aborted_up_to(header.last_offset)
        pid = header.producer_id
        if control_type == CONTROL_ABORT:
            state = self.ongoing_aborted.pop(pid, None)
            if state is not None and state.last_obsolete_offset is not None:
                # Keep the marker until every batch of the transaction is gone.
                if self.cleaned_index is not None:
                    self.cleaned_index.append(state.txn)
                return False
            return True
        if control_type == CONTROL_COMMIT:
            if pid in self.ongoing_committed:
                self.ongoing_committed.discard(pid)
                return False
            return True
        return False

    def on_batch_read(self, header: RecordBatchHeader) -> bool:
        """Update state for a data batch; True when it belongs to an aborted transaction."""
        self._consume_aborted_up_to(header.last_offset)
        if not header.is_transactional:
            return False
        state = self.ongoing_aborted.get(header.producer_id)
        if state is not None:
            state.last_obsolete_offset = header.last_offset
            return True
        self.ongoing_committed.add(header.producer_id)
        return False
