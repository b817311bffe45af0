"""The state of one transactional id, as Kafka's TransactionMetadata keeps it.

States and their ids are Kafka's (the ids are what ``__transaction_state`` stores):
Empty 0, Ongoing 1, PrepareCommit 2, PrepareAbort 3, CompleteCommit 4, CompleteAbort 5,
Dead 6, PrepareEpochFence 7. A move is legal only from the states listed in
``VALID_PREVIOUS``; :meth:`TransactionMetadata.check_transition` raises otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from broker.transaction.records import TransactionLogValue

NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
#: Kafka bumps to a new producer id when the epoch would pass Short.MaxValue - 1.
MAX_PRODUCER_EPOCH: Final = 32767


class TransactionState(enum.IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        return _NAMES[self]

    @classmethod
    def from_kafka_name(cls, name: str) -> TransactionState | None:
        for state, n in _NAMES.items():
            if n == name:
                return state
        return None


_NAMES: Final = {
    TransactionState.EMPTY: "Empty",
    TransactionState.ONGOING: "Ongoing",
    TransactionState.PREPARE_COMMIT: "PrepareCommit",
    TransactionState.PREPARE_ABORT: "PrepareAbort",
    TransactionState.COMPLETE_COMMIT: "CompleteCommit",
    TransactionState.COMPLETE_ABORT: "CompleteAbort",
    TransactionState.DEAD: "Dead",
    TransactionState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}

_S = TransactionState
VALID_PREVIOUS: Final[dict[TransactionState, frozenset[TransactionState]]] = {
    _S.EMPTY: frozenset({_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.ONGOING: frozenset({_S.ONGOING, _S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.PREPARE_COMMIT: frozenset({_S.ONGOING}),
    _S.PREPARE_ABORT: frozenset({_S.ONGOING, _S.PREPARE_EPOCH_FENCE}),
    _S.COMPLETE_COMMIT: frozenset({_S.PREPARE_COMMIT}),
    _S.COMPLETE_ABORT: frozenset({_S.PREPARE_ABORT}),
    _S.DEAD: frozenset({_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.PREPARE_EPOCH_FENCE: frozenset({_S.ONGOING}),
}

#: States in which markers are being written; requests get CONCURRENT_TRANSACTIONS.
PREPARE_STATES: Final = frozenset({_S.PREPARE_COMMIT, _S.PREPARE_ABORT})


class IllegalStateTransition(Exception):
    """A transition Kafka's state machine does not allow."""


@dataclass(slots=True)
class TransactionMetadata:
    """One transactional id: its producer id and epoch, state, timeout and partitions."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TransactionState
    partitions: set[tuple[str, int]] = field(default_factory=set)
    start_timestamp_ms: int = -1
    last_update_timestamp_ms: int = -1
    #: Epoch before the last bump (memory only, as Kafka: lets a retried
    #: InitProducerId get the same answer).
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    previous_producer_id: int = NO_PRODUCER_ID

    def check_transition(self, to: TransactionState) -> None:
        if self.state not in VALID_PREVIOUS[to]:
            raise IllegalStateTransition(
                f"transactional id {self.transactional_id}: cannot move from "
                f"{self.state.kafka_name} to {to.kafka_name}"
            )

    def to_record(self) -> TransactionLogValue:
        partitions: dict[str, list[int]] | None = None
        if self.state is not TransactionState.EMPTY:
            partitions = {}
            for topic, index in sorted(self.partitions):
                partitions.setdefault(topic, []).append(index)
        return TransactionLogValue(
            self.producer_id,
            self.producer_epoch,
            self.timeout_ms,
            int(self.state),
            partitions,
            self.last_update_timestamp_ms,
            self.start_timestamp_ms,
        )

    @classmethod
    def from_record(cls, transactional_id: str, value: TransactionLogValue) -> TransactionMetadata:
        partitions: set[tuple[str, int]] = set()
        state = TransactionState(value.transaction_status)
        if state is not TransactionState.EMPTY and value.partitions:
            partitions = {(t, p) for t, ids in value.partitions.items() for p in ids}
        return cls(
            transactional_id,
            value.producer_id,
            value.producer_epoch,
            value.transaction_timeout_ms,
            state,
            partitions,
            value.start_timestamp_ms,
            value.last_update_timestamp_ms,
            previous_producer_id=value.previous_producer_id,
        )

    def transit(
        self,
        to: TransactionState,
        now_ms: int,
        *,
        producer_id: int | None = None,
        producer_epoch: int | None = None,
        timeout_ms: int | None = None,
        partitions: set[tuple[str, int]] | None = None,
    ) -> TransactionMetadata:
        """The metadata after a legal move to ``to`` (a copy: state changes on replay)."""
        self.check_transition(to)
        start = self.start_timestamp_ms
        if to is TransactionState.ONGOING and self.state is not TransactionState.ONGOING:
            start = now_ms
        elif to is TransactionState.EMPTY:
            start = -1
        new_partitions = set(self.partitions) if partitions is None else partitions
        if to in (
            TransactionState.EMPTY,
            TransactionState.COMPLETE_COMMIT,
            TransactionState.COMPLETE_ABORT,
        ):
            new_partitions = set()
        return TransactionMetadata(
            self.transactional_id,
            self.producer_id if producer_id is None else producer_id,
            self.producer_epoch if producer_epoch is None else producer_epoch,
            self.timeout_ms if timeout_ms is None else timeout_ms,
            to,
            new_partitions,
            start,
            now_ms,
            self.last_producer_epoch,
            self.previous_producer_id,
        )
