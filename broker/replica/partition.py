"""Partition: one replica of a topic partition on this broker (Kafka's ``Partition``).

Every access to a replica goes through this class: appends as leader (produce, internal
topics) and as follower (replication), reads for consumers and for followers, offset
lookups, leader-epoch and leadership checks, the high watermark and the ISR. Handlers never
reach into ``partition.log``.

As leader it tracks each follower's fetch position (:class:`ReplicaState`) and moves the
high watermark to the smallest log end offset over the in-sync replicas (plus replicas
that are caught up but not yet in the ISR, so a joining replica never sees the high
watermark above its log end). ISR changes are proposed to the controller through an
:class:`IsrUpdater` (AlterPartition) and only applied once committed; while one is in
flight the "maximal ISR" (current plus proposed) governs the high watermark, as in KIP-497.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kio.schema.errors import ErrorCode

from cluster.metadata import PartitionState
from protocol.errors import KafkaError
from storage.log_validator import (
    RecordValidationError,
    recompress_if_needed,
    validate_produce_records,
)

if TYPE_CHECKING:
    from broker.metrics.stats import BrokerTopicStats
    from storage.log import Log, LogAppendInfo

READ_UNCOMMITTED = 0
READ_COMMITTED = 1
#: Fetch/ListOffsets ``replica_id`` of a consumer; >= 0 is a follower broker.
CONSUMER_REPLICA_ID = -1

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FetchResult:
    records: bytes
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: list[Any] | None
    #: (epoch, end offset) when a follower's last fetched epoch diverges (KIP-320).
    diverging_epoch: tuple[int, int] | None = None


@dataclass(slots=True)
class ReplicaState:
    """A follower's progress as the leader sees it (Kafka's ``Replica``)."""

    broker_id: int
    log_end_offset: int = -1
    log_start_offset: int = -1
    last_caught_up_time_ms: int = 0
    last_fetch_leader_log_end_offset: int = -1
    last_fetch_time_ms: int = 0

    def update_fetch_state(
        self, fetch_offset: int, log_start_offset: int, now_ms: int, leader_end_offset: int
    ) -> None:
        # A follower that reached the leader's end (now or as of its previous fetch) is
        # caught up as of that moment; Kafka's Replica.updateFetchStateOrThrow.
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_time_ms = max(self.last_caught_up_time_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_log_end_offset:
            self.last_caught_up_time_ms = max(self.last_caught_up_time_ms, self.last_fetch_time_ms)
        self.log_end_offset = fetch_offset
        self.log_start_offset = log_start_offset
        self.last_fetch_leader_log_end_offset = leader_end_offset
        self.last_fetch_time_ms = now_ms

    def is_caught_up(self, leader_end_offset: int, now_ms: int, max_lag_ms: int) -> bool:
        return (
            leader_end_offset == self.log_end_offset
            or now_ms - self.last_caught_up_time_ms <= max_lag_ms
        )


@dataclass(frozen=True, slots=True)
class IsrChange:
    """A proposed ISR (AlterPartition) for one partition at a leader and partition epoch."""

    topic: str
    topic_id: uuid.UUID
    partition: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]


class IsrUpdater(Protocol):
    """Sends ISR proposals to the controller; calls back with the committed state or an error."""

    def submit(
        self, change: IsrChange, done: Callable[[PartitionState | None, ErrorCode], None]
    ) -> bool:
        """False when a proposal for this partition is already in flight."""
        ...


@dataclass(slots=True)
class _PendingIsr:
    proposed: tuple[int, ...]


@dataclass(slots=True)
class AppendResult:
    info: LogAppendInfo
    #: Offset the high watermark must reach for acks=all (last offset + 1).
    required_offset: int


@dataclass(slots=True)
class ListOffsetResult:
    offset: int
    timestamp: int
    leader_epoch: int


class Partition:
    """Leader or follower replica of one topic partition hosted by this broker.

    Not thread-safe: called from the broker's event loop only (the log guards itself for
    the few calls made from worker threads).
    """

    __slots__ = (
        "_ineligible_until",
        "_pending_isr",
        "broker_id",
        "clock_ms",
        "controller_epoch",
        "isr",
        "isr_stats",
        "isr_updater",
        "leader_epoch",
        "leader_epoch_start_offset",
        "leader_id",
        "log",
        "name",
        "on_high_watermark",
        "partition",
        "partition_epoch",
        "remote_replicas",
        "replica_eligible",
        "replica_lag_time_max_ms",
        "replicas",
        "topic",
        "topic_id",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        topic_id: uuid.UUID,
        log: Log,
        broker_id: int,
        clock_ms: Callable[[], int],
        isr_updater: IsrUpdater | None = None,
        replica_lag_time_max_ms: int = 30_000,
        on_high_watermark: Callable[[Partition], None] | None = None,
        replica_eligible: Callable[[int], bool] | None = None,
        isr_stats: BrokerTopicStats | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.log = log
        self.broker_id = broker_id
        self.clock_ms = clock_ms
        self.isr_updater = isr_updater
        self.replica_lag_time_max_ms = replica_lag_time_max_ms
        #: Called when the high watermark moves (wakes delayed fetches and produces).
        self.on_high_watermark = on_high_watermark
        #: Whether a follower may join the ISR (ZooKeeper mode: its broker is alive).
        self.replica_eligible = replica_eligible
        #: Counts committed ISR shrinks and expands (Kafka's IsrShrinksPerSec/IsrExpandsPerSec).
        self.isr_stats = isr_stats
        self.name = f"{topic}-{partition}"
        self.leader_id = -1
        self.leader_epoch = -1
        self.partition_epoch = -1
        self.controller_epoch = -1
        self.replicas: list[int] = []
        self.isr: list[int] = []
        self.remote_replicas: dict[int, ReplicaState] = {}
        self.leader_epoch_start_offset = -1
        self._pending_isr: _PendingIsr | None = None
        #: Followers the controller refused for the ISR (INELIGIBLE_REPLICA: shutting down),
        #: with the time until which they neither join it nor hold back the HW.
        self._ineligible_until: dict[int, int] = {}

    # -- role ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.broker_id

    def _is_stale(self, state: PartitionState) -> bool:
        """A state older than the partition epoch we know (Kafka's makeLeader/makeFollower
        skip it: an AlterPartition answer can overtake a LeaderAndIsr sent before it)."""
        if state.leader_epoch == self.leader_epoch and state.partition_epoch < self.partition_epoch:
            log.info(
                "skipping the state change of %s to %s: already at partition epoch %d",
                self.name,
                state,
                self.partition_epoch,
            )
            return True
        return False

    def make_leader(self, state: PartitionState) -> bool:
        """Become (or stay) leader at ``state``; True if this is a new leader epoch."""
        if self._is_stale(state):
            return False
        now = self.clock_ms()
        new_epoch = not self.is_leader or state.leader_epoch != self.leader_epoch
        self._set_state(state)
        if new_epoch:
            leo = self.log.log_end_offset
            self.leader_epoch_start_offset = leo
            # Later appends carry this epoch; followers truncate against it (KIP-101).
            # The checkpoint is written off the loop (ReplicaManager.checkpoint_leader_epochs).
            self.log.assign_epoch_start(state.leader_epoch, leo)
            # Followers are assumed caught up as of now, as Kafka resets them.
            self.remote_replicas = {
                r: ReplicaState(r, last_caught_up_time_ms=now if r in self.isr else 0)
                for r in self.replicas
                if r != self.broker_id
            }
        else:
            for r in self.replicas:
                if r != self.broker_id and r not in self.remote_replicas:
                    self.remote_replicas[r] = ReplicaState(r)
            for r in list(self.remote_replicas):
                if r not in self.replicas:
                    del self.remote_replicas[r]
        self.maybe_increment_high_watermark()
        return new_epoch

    def make_follower(self, state: PartitionState) -> bool:
        """Follow ``state.leader``; True if the leader or its epoch changed."""
        if self._is_stale(state):
            return False
        changed = state.leader != self.leader_id or state.leader_epoch != self.leader_epoch
        self._set_state(state)
        self.remote_replicas = {}
        self.leader_epoch_start_offset = -1
        return changed

    def _set_state(self, state: PartitionState) -> None:
        self.leader_id = state.leader
        self.leader_epoch = state.leader_epoch
        self.partition_epoch = state.partition_epoch
        self.controller_epoch = state.controller_epoch
        self.replicas = list(state.replicas)
        self.isr = list(state.isr)
        self._pending_isr = None

    @property
    def maximal_isr(self) -> list[int]:
        pending = self._pending_isr
        if pending is None:
            return self.isr
        return sorted(set(self.isr) | set(pending.proposed))

    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """Validate a client's current_leader_epoch (-1 means not given)."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return ErrorCode.none
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        return ErrorCode.unknown_leader_epoch

    def check_serving(self, current_leader_epoch: int, require_leader: bool = True) -> ErrorCode:
        """Kafka's ``getLocalLog``: epoch first, then leadership."""
        error = self.check_leader_epoch(current_leader_epoch)
        if error != ErrorCode.none:
            return error
        if require_leader and not self.is_leader:
            return ErrorCode.not_leader_or_follower
        return ErrorCode.none

    def require_leader(self) -> None:
        if not self.is_leader:
            raise KafkaError(
                f"broker {self.broker_id} does not lead {self.name}",
                ErrorCode.not_leader_or_follower,
            )

    # -- offsets ---------------------------------------------------------------------

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def last_stable_offset(self) -> int:
        return self.log.last_stable_offset

    def maybe_increment_high_watermark(self) -> bool:
        """Leader: HW = min LEO over the maximal ISR and caught-up replicas. True if moved."""
        if not self.is_leader:
            return False
        log = self.log
        leo = log.log_end_offset
        new_hw = leo
        if self.remote_replicas:
            now = self.clock_ms()
            maximal = self.maximal_isr
            lag = self.replica_lag_time_max_ms
            for replica in self.remote_replicas.values():
                end = replica.log_end_offset
                # A caught-up replica about to join the ISR holds the HW too, unless its
                # broker is gone (a broker that left after a controlled shutdown would
                # otherwise stall acks=all for replica.lag.time.max.ms).
                if end < new_hw and (
                    replica.broker_id in maximal
                    or (
                        replica.is_caught_up(leo, now, lag)
                        and self._isr_eligible(replica.broker_id)
                    )
                ):
                    new_hw = max(end, 0)
        if new_hw > log.high_watermark:
            log.update_high_watermark(new_hw)
            if self.on_high_watermark is not None:
                self.on_high_watermark(self)
            return True
        return False

    # -- leader appends --------------------------------------------------------------

    def append_records_to_leader(self, data: bytes, required_acks: int) -> AppendResult:
        """Validate and append a produce payload; raises KafkaError with Kafka's code."""
        self.require_leader()
        plog = self.log
        config = plog.config
        if required_acks == -1 and len(self.isr) < config.min_insync_replicas:
            raise KafkaError(
                f"the ISR {self.isr} of {self.name} is smaller than min.insync.replicas="
                f"{config.min_insync_replicas}",
                ErrorCode.not_enough_replicas,
            )
        try:
            validated = validate_produce_records(data, config, self.clock_ms(), self.name)
        except RecordValidationError as exc:
            log.info("rejected produce to %s: %s", self.name, exc)
            raise
        # compression.type != producer: batches in another codec are re-encoded.
        payload = recompress_if_needed(data, validated, config)
        # The validator's headers describe the payload unless it was re-encoded.
        headers = (
            list(zip(validated.positions, validated.headers, strict=True))
            if payload is data
            else None
        )
        info = plog.append_as_leader(bytearray(payload), self.leader_epoch, headers=headers)
        self.maybe_increment_high_watermark()
        return AppendResult(info, info.last_offset + 1)

    def append_internal(self, data: bytes, coordinator_epoch: int | None = None) -> LogAppendInfo:
        """Append batches built by this broker (coordinators' internal topics, markers)."""
        self.require_leader()
        info = self.log.append_as_leader(
            bytearray(data),
            self.leader_epoch,
            from_client=False,
            coordinator_epoch=coordinator_epoch,
        )
        self.maybe_increment_high_watermark()
        return info

    def starts_transaction(self, producer_id: int) -> bool:
        """A transactional batch of ``producer_id`` would open a transaction here (KIP-890:
        the leader verifies such a first write with the transaction coordinator)."""
        entry = self.log.producer_state.producers.get(producer_id)
        return entry is None or entry.current_txn_first_offset is None

    def active_producers(self) -> list[tuple[int, int, int, int, int, int]]:
        """DescribeProducers: (producer id, epoch, last sequence, last timestamp,
        coordinator epoch, start offset of the open transaction or -1) per producer."""
        self.require_leader()
        return [
            (
                e.producer_id,
                e.producer_epoch,
                e.last_seq,
                e.last_timestamp,
                e.coordinator_epoch,
                -1 if e.current_txn_first_offset is None else e.current_txn_first_offset,
            )
            for e in self.log.producer_state.producers.values()
        ]

    def check_enough_replicas_reach_offset(self, required_offset: int) -> tuple[bool, ErrorCode]:
        """acks=all: (done, error) for a produce waiting for ``required_offset``."""
        if not self.is_leader:
            return True, ErrorCode.not_leader_or_follower
        if self.log.high_watermark >= required_offset:
            if self.log.config.min_insync_replicas <= len(self.maximal_isr):
                return True, ErrorCode.none
            return True, ErrorCode.not_enough_replicas_after_append
        return False, ErrorCode.none

    # -- follower appends ------------------------------------------------------------

    def latest_epoch(self) -> int:
        """Epoch of the last batch in the local log (a follower's last fetched epoch)."""
        return self.log.latest_epoch

    def follower_end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(largest local epoch <= ``epoch``, its end offset), for truncation."""
        return self.log.end_offset_for_epoch(epoch)

    def append_records_to_follower(
        self, batches: bytes, leader_high_watermark: int, leader_log_start_offset: int
    ) -> LogAppendInfo | None:
        """Append what the leader sent (offsets kept) and follow its watermarks."""
        plog = self.log
        info = plog.append_as_follower(bytearray(batches)) if batches else None
        self.update_follower_watermarks(leader_high_watermark, leader_log_start_offset)
        return info

    def update_follower_watermarks(self, leader_hw: int, leader_log_start_offset: int) -> None:
        plog = self.log
        new_hw = min(leader_hw, plog.log_end_offset)
        if new_hw != plog.high_watermark:
            plog.update_high_watermark(new_hw)
            if self.on_high_watermark is not None:
                self.on_high_watermark(self)
        if leader_log_start_offset > plog.log_start_offset:
            target = min(leader_log_start_offset, plog.high_watermark)
            if target > plog.log_start_offset:
                plog.maybe_increment_log_start_offset(target)

    # -- reads -----------------------------------------------------------------------

    def fetch_records(
        self,
        fetch_offset: int,
        max_bytes: int,
        isolation_level: int,
        min_one_message: bool,
        *,
        replica_id: int = CONSUMER_REPLICA_ID,
        last_fetched_epoch: int = -1,
        replica_log_start_offset: int = -1,
    ) -> FetchResult:
        """Read for a consumer (up to the HW or LSO) or a follower (up to the LEO).

        A follower's fetch also records its position, which may move the high watermark
        or add it to the ISR. Raises KafkaError (e.g. OFFSET_OUT_OF_RANGE).
        """
        plog = self.log
        if replica_id >= 0:
            if last_fetched_epoch >= 0 and fetch_offset > 0:
                epoch, end = plog.end_offset_for_epoch(last_fetched_epoch)
                if epoch < last_fetched_epoch or end < fetch_offset:
                    # The follower's log diverges: it truncates and fetches again.
                    return FetchResult(
                        b"",
                        plog.high_watermark,
                        plog.last_stable_offset,
                        plog.log_start_offset,
                        None,
                        (epoch, end),
                    )
            leo = plog.log_end_offset
            data = plog.read(fetch_offset, max_bytes, None, min_one_message)
            self.update_follower_fetch_state(
                replica_id, fetch_offset, replica_log_start_offset, leo
            )
            return FetchResult(
                data.records,
                plog.high_watermark,
                plog.last_stable_offset,
                plog.log_start_offset,
                None,
            )
        hw = plog.high_watermark
        lso = plog.last_stable_offset
        upper = lso if isolation_level == READ_COMMITTED else hw
        data = plog.read(fetch_offset, max_bytes, upper, min_one_message)
        aborted: list[Any] | None = None
        if isolation_level == READ_COMMITTED:
            aborted = plog.collect_aborted_transactions(fetch_offset, upper) if data.records else []
        return FetchResult(data.records, hw, lso, plog.log_start_offset, aborted)

    def empty_fetch_result(self) -> FetchResult:
        plog = self.log
        return FetchResult(
            b"", plog.high_watermark, plog.last_stable_offset, plog.log_start_offset, None
        )

    def update_follower_fetch_state(
        self, replica_id: int, fetch_offset: int, log_start_offset: int, leader_end_offset: int
    ) -> None:
        replica = self.remote_replicas.get(replica_id)
        if replica is None:
            return  # not (or no longer) a replica: Kafka answers it but tracks nothing
        replica.update_fetch_state(
            fetch_offset, log_start_offset, self.clock_ms(), leader_end_offset
        )
        self.maybe_expand_isr(replica)
        self.maybe_increment_high_watermark()

    def latest_offset(
        self, isolation_level: int, replica_id: int = CONSUMER_REPLICA_ID
    ) -> ListOffsetResult:
        """The LSO or HW for consumers; the log end offset for a follower broker (Kafka
        answers replicas with the LEO: out-of-range handling compares logs, not HWs)."""
        plog = self.log
        if replica_id >= 0:
            offset = plog.log_end_offset
        else:
            self._check_high_watermark_caught_up()
            if isolation_level == READ_COMMITTED:
                offset = plog.last_stable_offset
            else:
                offset = plog.high_watermark
        return ListOffsetResult(offset, -1, plog.latest_epoch)

    def _check_high_watermark_caught_up(self) -> None:
        """KIP-207: right after an election the new leader's HW may lag behind records the
        old leader had committed; "latest" would then go backwards, so clients are told
        to retry (OFFSET_NOT_AVAILABLE) until the HW reaches this epoch's start offset."""
        start = self.leader_epoch_start_offset
        if self.is_leader and start > self.log.high_watermark:
            raise KafkaError(
                f"the high watermark {self.log.high_watermark} of {self.name} lags behind the "
                f"start offset {start} of leader epoch {self.leader_epoch}",
                ErrorCode.offset_not_available,
            )

    def earliest_offset(self) -> ListOffsetResult:
        plog = self.log
        start = plog.log_start_offset
        return ListOffsetResult(start, -1, plog.leader_epoch_cache.epoch_for_offset(start))

    def offset_for_timestamp(
        self, timestamp: int | None, isolation_level: int
    ) -> ListOffsetResult | None:
        """The first offset with a timestamp >= ``timestamp`` (None: max timestamp), below
        the HW (or LSO); None when there is none."""
        plog = self.log
        found = (
            plog.fetch_max_timestamp()
            if timestamp is None
            else plog.fetch_offset_by_timestamp(timestamp)
        )
        if found is None:
            return None
        upper = (
            plog.last_stable_offset if isolation_level == READ_COMMITTED else plog.high_watermark
        )
        if found.offset >= upper:
            self._check_high_watermark_caught_up()
            return None
        return ListOffsetResult(found.offset, found.timestamp, found.leader_epoch)

    def last_offset_for_leader_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (epoch, end offset) from the leader-epoch cache."""
        return self.log.end_offset_for_epoch(leader_epoch)

    def delete_records_on_leader(self, offset: int) -> int:
        """DeleteRecords: move the log start offset (-1 = the HW); returns the new one."""
        self.require_leader()
        plog = self.log
        if not plog.config.delete:
            raise KafkaError(
                f"cleanup.policy of {self.topic} does not allow deletion",
                ErrorCode.policy_violation,
            )
        target = plog.high_watermark if offset == -1 else offset
        if target < 0:
            raise KafkaError(f"invalid offset {offset}", ErrorCode.offset_out_of_range)
        plog.maybe_increment_log_start_offset(target)
        return plog.log_start_offset

    # -- ISR -------------------------------------------------------------------------

    def _isr_eligible(self, broker_id: int) -> bool:
        until = self._ineligible_until.get(broker_id)
        if until is not None:
            if self.clock_ms() < until:
                return False
            del self._ineligible_until[broker_id]
        eligible = self.replica_eligible
        return eligible is None or eligible(broker_id)

    def maybe_expand_isr(self, replica: ReplicaState) -> None:
        if self._pending_isr is not None or replica.broker_id in self.isr:
            return
        if replica.broker_id not in self.replicas or not self._isr_eligible(replica.broker_id):
            return
        log = self.log
        if (
            replica.log_end_offset >= log.high_watermark
            and self.leader_epoch_start_offset >= 0
            and replica.log_end_offset >= self.leader_epoch_start_offset
        ):
            self._propose_isr(tuple(sorted([*self.isr, replica.broker_id])), "expand")

    def out_of_sync_replicas(self, now_ms: int) -> list[int]:
        leo = self.log.log_end_offset
        lag = self.replica_lag_time_max_ms
        out = []
        for r in self.isr:
            if r == self.broker_id:
                continue
            replica = self.remote_replicas.get(r)
            if replica is None or not replica.is_caught_up(leo, now_ms, lag):
                out.append(r)
        return out

    def maybe_shrink_isr(self) -> bool:
        """Drop followers that have not caught up within replica.lag.time.max.ms."""
        if not self.is_leader or self._pending_isr is not None:
            return False
        out = self.out_of_sync_replicas(self.clock_ms())
        if not out:
            return False
        new_isr = tuple(r for r in self.isr if r not in out)
        log.info(
            "shrinking the ISR of %s from %s to %s (out of sync: %s)",
            self.name,
            self.isr,
            list(new_isr),
            out,
        )
        return self._propose_isr(new_isr, "shrink")

    def _propose_isr(self, new_isr: tuple[int, ...], why: str) -> bool:
        updater = self.isr_updater
        if updater is None:
            return False
        change = IsrChange(
            self.topic,
            self.topic_id,
            self.partition,
            self.leader_epoch,
            self.partition_epoch,
            new_isr,
        )
        # Pending before submitting: an updater may commit before submit returns.
        self._pending_isr = _PendingIsr(new_isr)
        stats = self.isr_stats

        def committed(state: PartitionState | None, error: ErrorCode) -> None:
            # Kafka's IsrShrinksPerSec/IsrExpandsPerSec: marked once the controller took it
            # (the new state may already have arrived as a LeaderAndIsr before this runs).
            if stats is not None and state is not None and error == ErrorCode.none:
                if why == "shrink":
                    stats.isr_shrinks += 1
                else:
                    stats.isr_expands += 1
            self._on_isr_committed(state, error)

        if not updater.submit(change, committed):
            self._pending_isr = None
            return False
        log.debug("proposed ISR %s for %s (%s)", list(new_isr), self.name, why)
        return True

    def _on_isr_committed(self, state: PartitionState | None, error: ErrorCode) -> None:
        pending = self._pending_isr
        self._pending_isr = None
        if state is None or error != ErrorCode.none:
            if pending is not None:
                log.info(
                    "ISR change %s of %s not committed: %s", list(pending.proposed), self.name,
                    error.name,
                )
                if error == ErrorCode.ineligible_replica:
                    # The controller will not take it (e.g. in controlled shutdown): do not
                    # hold the HW for it or propose it again within the lag window, or a
                    # departing broker stalls acks=all until its session closes (the
                    # ZooKeeper-mode gap KIP-841 closed for KRaft).
                    until = self.clock_ms() + self.replica_lag_time_max_ms
                    for broker in set(pending.proposed) - set(self.isr):
                        self._ineligible_until[broker] = until
            # The maximal ISR shrank back to the ISR: the HW may move now.
            self.maybe_increment_high_watermark()
            return
        if state.leader_epoch != self.leader_epoch or not self.is_leader:
            return  # a newer LeaderAndIsr already superseded it
        if state.partition_epoch <= self.partition_epoch:
            return
        self.isr = list(state.isr)
        self.partition_epoch = state.partition_epoch
        log.info("ISR of %s is now %s", self.name, self.isr)
        self.maybe_increment_high_watermark()

    # -- description -----------------------------------------------------------------

    def state(self) -> PartitionState:
        return PartitionState(
            replicas=list(self.replicas),
            leader=self.leader_id,
            leader_epoch=self.leader_epoch,
            isr=list(self.isr),
            controller_epoch=self.controller_epoch,
            partition_epoch=self.partition_epoch,
        )

    def __repr__(self) -> str:
        role = "leader" if self.is_leader else f"follower of {self.leader_id}"
        return f"Partition({self.name}, {role}, epoch {self.leader_epoch}, isr {self.isr})"

