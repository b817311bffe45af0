"""The transaction coordinator (Kafka's TransactionCoordinator + TransactionStateManager).

It owns the transactional ids whose ``__transaction_state`` partition this broker leads
(``abs(javaHash(transactional.id)) % transaction.state.log.num.partitions``). Every state
change is a ``__transaction_state`` record written with acks=all through the shared
:class:`~broker.coordinator.runtime.CoordinatorRuntime`; memory changes only when the
record is replayed, so loading the partition after a restart or failover runs the same
code. Requests for one transactional id are serialized by a lock; the completion of a
transaction (markers, then CompleteCommit/CompleteAbort) holds it too, so a producer's
next request simply waits for the previous transaction to finish instead of retrying
on CONCURRENT_TRANSACTIONS (it still gets that error if the wait is long).

On load, transactions found in PrepareCommit/PrepareAbort are completed (markers re-sent);
a periodic check aborts Ongoing transactions older than their ``transaction.timeout.ms``
after bumping the epoch, which fences the producer (as Kafka does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.runtime import CoordinatorRuntime, PartitionStatus
from broker.group.group_metadata_manager import partition_for
from broker.producer_ids import ProducerIdManager
from broker.replica.replica_manager import ReplicaManager
from broker.topic_manager import TopicManager, TopicSpec
from broker.transaction.markers import TxnMarkerWriter
from broker.transaction.records import (
    TxnRecordFormatError,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from broker.transaction.state import (
    MAX_PRODUCER_EPOCH,
    NO_PRODUCER_EPOCH,
    PREPARE_STATES,
    TransactionMetadata,
    TransactionState,
)
from protocol.errors import KafkaError
from storage.clock import Clock

log = logging.getLogger(__name__)

TRANSACTION_STATE_TOPIC = "__transaction_state"
#: How long a request waits for the transaction's previous operation before it is
#: answered CONCURRENT_TRANSACTIONS (the client retries).
LOCK_WAIT_S = 5.0

_S = TransactionState


class _Busy(Exception):
    pass


class TransactionCoordinator:
    """Kafka's transaction coordinator for the ``__transaction_state`` partitions led here."""

    def __init__(
        self,
        config: Any,
        clock: Clock,
        replica_manager: ReplicaManager,
        topic_manager: TopicManager,
        producer_ids: ProducerIdManager,
        markers: TxnMarkerWriter,
    ) -> None:
        self.config = config
        self.clock = clock
        self.replica_manager = replica_manager
        self.topic_manager = topic_manager
        self.producer_ids = producer_ids
        self.markers = markers
        self.txns: dict[str, TransactionMetadata] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._completions: dict[str, asyncio.Task[None]] = {}
        self._warned_rf = False
        self.runtime = CoordinatorRuntime(
            TRANSACTION_STATE_TOPIC,
            self,
            replica_manager,
            topic_manager,
            clock,
            num_partitions=int(config.transaction_state_log_num_partitions),
            load_buffer_size=int(config.transaction_state_log_load_buffer_size),
            write_timeout_ms=int(getattr(config, "request_timeout_ms", 30_000)),
            topic_spec=self._topic_spec,
        )

    # -- partitions --------------------------------------------------------------------

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.runtime.num_partitions)

    async def startup(self) -> None:
        self.runtime.start()

    async def ensure_topic(self) -> bool:
        return await self.runtime.ensure_topic()

    async def wait_loaded(self) -> None:
        await self.runtime.wait_loaded()

    def _topic_spec(self, live_brokers: int) -> TopicSpec | None:
        wanted = int(self.config.transaction_state_log_replication_factor)
        min_isr = int(self.config.transaction_state_log_min_isr)
        if getattr(self.config, "standalone", True):
            rf = 1
            min_isr = 1
        elif live_brokers < wanted:
            if self._warned_rf:
                return None
            self._warned_rf = True
            log.warning(
                "cannot create %s yet: %d broker(s) alive, fewer than its replication "
                "factor %d (transaction.state.log.replication.factor); transactional "
                "producers get COORDINATOR_NOT_AVAILABLE until enough brokers have started",
                TRANSACTION_STATE_TOPIC,
                live_brokers,
                wanted,
            )
            return None
        else:
            rf = wanted
        return TopicSpec(
            TRANSACTION_STATE_TOPIC,
            self.runtime.num_partitions,
            rf,
            configs={
                "cleanup.policy": "compact",
                "compression.type": "uncompressed",
                "min.insync.replicas": str(min(min_isr, rf)),
                "unclean.leader.election.enable": "false",
                "segment.bytes": str(self.config.transaction_state_log_segment_bytes),
            },
        )

    def check(self, transactional_id: str) -> ErrorCode:
        """NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS / NONE for this id."""
        if not self.runtime.active:
            return ErrorCode.not_coordinator
        status = self.runtime.partitions.get(self.partition_for(transactional_id))
        if status is None:
            return ErrorCode.not_coordinator
        if status is PartitionStatus.LOADING:
            return ErrorCode.coordinator_load_in_progress
        return ErrorCode.none

    async def _check(self, transactional_id: str) -> ErrorCode:
        if not self.runtime.partitions and self.runtime.active:
            await self.ensure_topic()
        return self.check(transactional_id)

    def coordinator_epoch(self, index: int) -> int:
        partition = self.replica_manager.get_partition(TRANSACTION_STATE_TOPIC, index)
        return partition.leader_epoch if partition is not None else -1

    # -- shard callbacks ---------------------------------------------------------------

    def replay(self, key: bytes, value: bytes | None, live: bool) -> None:
        try:
            tid = decode_key(key)
            if value is None:
                self.txns.pop(tid, None)
                return
            meta = TransactionMetadata.from_record(tid, decode_value(value))
        except (TxnRecordFormatError, ValueError) as exc:
            log.warning("skipping undecodable %s record: %s", TRANSACTION_STATE_TOPIC, exc)
            return
        old = self.txns.get(tid)
        if old is not None and old.producer_id == meta.producer_id:
            meta.last_producer_epoch = old.last_producer_epoch
        self.txns[tid] = meta

    def replay_transactional(self, producer_id: int, key: bytes, value: bytes | None) -> None:
        """``__transaction_state`` holds no transactional batches."""

    def replay_marker(self, producer_id: int, commit: bool, index: int) -> None:
        """``__transaction_state`` holds no markers."""

    def on_loaded(self, index: int) -> None:
        # Kafka resumes transactions caught between prepare and complete.
        for tid, meta in list(self.txns.items()):
            if self.partition_for(tid) == index and meta.state in PREPARE_STATES:
                self._start_completion(tid)

    def on_unloaded(self, index: int) -> None:
        for tid in [t for t in self.txns if self.partition_for(t) == index]:
            del self.txns[tid]
            task = self._completions.pop(tid, None)
            if task is not None:
                task.cancel()

    # -- locking and writing -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, transactional_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(transactional_id)
        if lock is None:
            lock = self._locks[transactional_id] = asyncio.Lock()
        try:
            await asyncio.wait_for(lock.acquire(), LOCK_WAIT_S)
        except TimeoutError:
            raise _Busy() from None
        try:
            yield
        finally:
            lock.release()
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(transactional_id, None)

    async def _write(self, meta: TransactionMetadata) -> ErrorCode:
        """Persist ``meta`` (acks=all); it is in memory once replayed. A write that does not
        commit (e.g. NOT_ENOUGH_REPLICAS) leaves the state it had before, as Kafka's
        coordinator drops its pending state; a later load replays the log as it is."""
        tid = meta.transactional_id
        before = self.txns.get(tid)
        record = (encode_key(tid), encode_value(meta.to_record()))
        error = await self.runtime.write(self.partition_for(tid), [record])
        if error != ErrorCode.none and self.check(tid) == ErrorCode.none:
            if before is None:
                self.txns.pop(tid, None)
            else:
                self.txns[tid] = before
        return error

    # -- InitProducerId ----------------------------------------------------------------

    async def init_producer_id(
        self,
        transactional_id: str,
        timeout_ms: int,
        expected_producer_id: int = -1,
        expected_epoch: int = -1,
    ) -> tuple[ErrorCode, int, int]:
        """(error, producer id, epoch) for a transactional producer (Kafka's
        handleInitProducerId): a new id, or the id with its epoch bumped, aborting an
        open transaction of the previous incarnation first."""
        if not transactional_id:
            return ErrorCode.invalid_request, -1, -1
        max_timeout = int(self.config.transaction_max_timeout_ms)
        if timeout_ms <= 0 or timeout_ms > max_timeout:
            return ErrorCode.invalid_transaction_timeout, -1, -1
        error = await self._check(transactional_id)
        if error != ErrorCode.none:
            return error, -1, -1
        try:
            async with self._locked(transactional_id):
                return await self._init_locked(
                    transactional_id, timeout_ms, expected_producer_id, expected_epoch
                )
        except _Busy:
            return ErrorCode.concurrent_transactions, -1, -1

    async def _init_locked(
        self, tid: str, timeout_ms: int, expected_pid: int, expected_epoch: int
    ) -> tuple[ErrorCode, int, int]:
        error = self.check(tid)
        if error != ErrorCode.none:
            return error, -1, -1
        now = self.clock.milliseconds()
        meta = self.txns.get(tid)
        if meta is None:
            try:
                pid = await self.producer_ids.generate()
            except KafkaError as exc:
                return exc.error_code, -1, -1
            meta = TransactionMetadata(tid, pid, NO_PRODUCER_EPOCH, timeout_ms, _S.EMPTY)
        if expected_pid >= 0 and not (
            meta.producer_epoch == NO_PRODUCER_EPOCH
            or expected_pid == meta.producer_id
            or (
                expected_pid == meta.previous_producer_id
                and expected_epoch >= MAX_PRODUCER_EPOCH - 1
            )
        ):
            return ErrorCode.producer_fenced, -1, -1
        if meta.state in PREPARE_STATES:
            return ErrorCode.concurrent_transactions, -1, -1
        if meta.state is _S.ONGOING:
            # Fence the previous incarnation: abort its transaction with a bumped epoch.
            error = await self._abort_with_fence(meta)
            if error != ErrorCode.none:
                return error, -1, -1
            return ErrorCode.concurrent_transactions, -1, -1
        if meta.state not in (_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT):
            return ErrorCode.concurrent_transactions, -1, -1
        if (
            expected_pid >= 0
            and expected_pid == meta.producer_id
            and expected_epoch != meta.producer_epoch
            and expected_epoch == meta.last_producer_epoch
        ):
            # A retry of a bump whose answer was lost: the same answer again.
            return ErrorCode.none, meta.producer_id, meta.producer_epoch
        if (
            expected_pid >= 0
            and expected_pid == meta.producer_id
            and (expected_epoch not in (meta.producer_epoch, -1))
        ):
            return ErrorCode.producer_fenced, -1, -1
        pid, epoch, previous = meta.producer_id, meta.producer_epoch + 1, meta.previous_producer_id
        if epoch >= MAX_PRODUCER_EPOCH:
            try:
                pid = await self.producer_ids.generate()
            except KafkaError as exc:
                return exc.error_code, -1, -1
            previous, epoch = meta.producer_id, 0
        new = meta.transit(
            _S.EMPTY, now, producer_id=pid, producer_epoch=epoch, timeout_ms=timeout_ms
        )
        new.previous_producer_id = previous
        error = await self._write(new)
        if error != ErrorCode.none:
            return error, -1, -1
        current = self.txns.get(tid)
        if current is not None:
            current.last_producer_epoch = meta.producer_epoch
        return ErrorCode.none, pid, epoch

    async def _abort_with_fence(self, meta: TransactionMetadata) -> ErrorCode:
        """Bump the epoch and move to PrepareAbort (Kafka's PrepareEpochFence path)."""
        epoch = meta.producer_epoch
        if epoch < MAX_PRODUCER_EPOCH - 1:
            epoch += 1
        now = self.clock.milliseconds()
        new = meta.transit(_S.PREPARE_ABORT, now, producer_epoch=epoch)
        error = await self._write(new)
        if error == ErrorCode.none:
            self._start_completion(meta.transactional_id)
        return error

    # -- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------

    def _validate(self, meta: TransactionMetadata | None, pid: int, epoch: int) -> ErrorCode:
        if meta is None or meta.producer_id != pid:
            return ErrorCode.invalid_producer_id_mapping
        if meta.producer_epoch != epoch:
            return ErrorCode.producer_fenced
        return ErrorCode.none

    async def add_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: set[tuple[str, int]]
    ) -> ErrorCode:
        """Add partitions to the ongoing transaction (starting one if none is open)."""
        if not transactional_id:
            return ErrorCode.invalid_request
        error = await self._check(transactional_id)
        if error != ErrorCode.none:
            return error
        try:
            async with self._locked(transactional_id):
                error = self.check(transactional_id)
                if error != ErrorCode.none:
                    return error
                meta = self.txns.get(transactional_id)
                error = self._validate(meta, producer_id, epoch)
                if error != ErrorCode.none or meta is None:
                    return error
                if meta.state in PREPARE_STATES:
                    return ErrorCode.concurrent_transactions
                if meta.state is _S.ONGOING and partitions <= meta.partitions:
                    return ErrorCode.none
                if meta.state not in (_S.EMPTY, _S.ONGOING, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT):
                    return ErrorCode.concurrent_transactions
                new = meta.transit(
                    _S.ONGOING, self.clock.milliseconds(), partitions=meta.partitions | partitions
                )
                return await self._write(new)
        except _Busy:
            return ErrorCode.concurrent_transactions

    # -- EndTxn ------------------------------------------------------------------------

    async def end_txn(
        self, transactional_id: str, producer_id: int, epoch: int, commit: bool
    ) -> ErrorCode:
        """Kafka's handleEndTransaction: PrepareCommit/PrepareAbort written, then markers
        and the Complete state in the background."""
        if not transactional_id:
            return ErrorCode.invalid_request
        error = await self._check(transactional_id)
        if error != ErrorCode.none:
            return error
        try:
            async with self._locked(transactional_id):
                error = self.check(transactional_id)
                if error != ErrorCode.none:
                    return error
                meta = self.txns.get(transactional_id)
                error = self._validate(meta, producer_id, epoch)
                if error != ErrorCode.none or meta is None:
                    if (
                        error == ErrorCode.producer_fenced
                        and meta is not None
                        and meta.state is _S.COMPLETE_ABORT
                        and not commit
                        and epoch == meta.last_producer_epoch
                    ):
                        return ErrorCode.none  # the retried abort of a fenced epoch
                    return error
                state = meta.state
                if state is _S.ONGOING:
                    to = _S.PREPARE_COMMIT if commit else _S.PREPARE_ABORT
                    error = await self._write(meta.transit(to, self.clock.milliseconds()))
                    if error == ErrorCode.none:
                        self._start_completion(transactional_id)
                    return error
                if state is _S.COMPLETE_COMMIT:
                    return ErrorCode.none if commit else ErrorCode.invalid_txn_state
                if state is _S.COMPLETE_ABORT:
                    return ErrorCode.invalid_txn_state if commit else ErrorCode.none
                if state is _S.PREPARE_COMMIT:
                    return (
                        ErrorCode.concurrent_transactions if commit else ErrorCode.invalid_txn_state
                    )
                if state is _S.PREPARE_ABORT:
                    return (
                        ErrorCode.invalid_txn_state if commit else ErrorCode.concurrent_transactions
                    )
                return ErrorCode.invalid_txn_state
        except _Busy:
            return ErrorCode.concurrent_transactions

    def _start_completion(self, tid: str) -> None:
        old = self._completions.get(tid)
        if old is not None and not old.done():
            return
        task = asyncio.get_running_loop().create_task(self._complete(tid), name=f"txn-{tid}")
        self._completions[tid] = task
        task.add_done_callback(
            lambda t: self._completions.pop(tid, None) if self._completions.get(tid) is t else None
        )

    async def _complete(self, tid: str) -> None:
        """Markers to every partition, then CompleteCommit/CompleteAbort."""
        while True:
            try:
                async with self._locked(tid):
                    meta = self.txns.get(tid)
                    if meta is None or meta.state not in PREPARE_STATES:
                        return
                    commit = meta.state is _S.PREPARE_COMMIT
                    index = self.partition_for(tid)
                    if meta.partitions:
                        done = await self.markers.write(
                            meta.producer_id,
                            meta.producer_epoch,
                            commit,
                            self.coordinator_epoch(index),
                            set(meta.partitions),
                            lambda: self.check(tid) == ErrorCode.none,
                        )
                        if not done:
                            return
                    to = _S.COMPLETE_COMMIT if commit else _S.COMPLETE_ABORT
                    current = self.txns.get(tid)
                    if current is None or current.state is not meta.state:
                        return
                    error = await self._write(current.transit(to, self.clock.milliseconds()))
                    if error == ErrorCode.none:
                        return
                    log.warning("cannot complete transaction %s: %s", tid, error.name)
            except _Busy:
                pass
            except asyncio.CancelledError:
                raise
            if self.check(tid) != ErrorCode.none:
                return
            await asyncio.sleep(0.1)

    # -- timeouts ----------------------------------------------------------------------

    async def abort_timed_out_transactions(self) -> int:
        """Abort (with an epoch bump that fences the producer) every Ongoing transaction
        older than its timeout; the count started."""
        now = self.clock.milliseconds()
        aborted = 0
        for tid, meta in list(self.txns.items()):
            if meta.state is not _S.ONGOING or self.check(tid) != ErrorCode.none:
                continue
            if meta.start_timestamp_ms + meta.timeout_ms > now:
                continue
            lock = self._locks.get(tid)
            if lock is not None and lock.locked():
                continue
            try:
                async with self._locked(tid):
                    current = self.txns.get(tid)
                    if current is None or current.state is not _S.ONGOING:
                        continue
                    log.info(
                        "aborting transaction %s of producer %d: older than its timeout %d ms",
                        tid,
                        current.producer_id,
                        current.timeout_ms,
                    )
                    if await self._abort_with_fence(current) == ErrorCode.none:
                        aborted += 1
            except _Busy:
                continue
        return aborted

    async def remove_expired_transactional_ids(self) -> int:
        """transactional.id.expiration.ms: forget ids idle that long with no open
        transaction (a tombstone in ``__transaction_state``); the count removed."""
        now = self.clock.milliseconds()
        expiration = int(self.config.transactional_id_expiration_ms)
        idle = (_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT)
        removed = 0
        for tid, meta in list(self.txns.items()):
            if meta.state not in idle or self.check(tid) != ErrorCode.none:
                continue
            if meta.last_update_timestamp_ms + expiration > now:
                continue
            try:
                async with self._locked(tid):
                    current = self.txns.get(tid)
                    if current is None or current.state not in idle:
                        continue
                    if current.last_update_timestamp_ms + expiration > now:
                        continue
                    index = self.partition_for(tid)
                    if await self.runtime.write(index, [(encode_key(tid), None)]) == ErrorCode.none:
                        removed += 1
            except _Busy:
                continue
        if removed:
            log.info("removed %d expired transactional id(s)", removed)
        return removed

    # -- describe / list ---------------------------------------------------------------

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionMetadata | None]:
        error = self.check(transactional_id)
        if error != ErrorCode.none:
            return error, None
        meta = self.txns.get(transactional_id)
        if meta is None:
            return ErrorCode.transactional_id_not_found, None
        return ErrorCode.none, meta

    def list(self) -> list[TransactionMetadata]:
        return [m for t, m in self.txns.items() if self.check(t) == ErrorCode.none]

    # -- shutdown ----------------------------------------------------------------------

    async def flush(self) -> None:
        await self.runtime.flush()

    def shutdown(self) -> None:
        self.runtime.shutdown()
        for task in self._completions.values():
            task.cancel()
        self._completions.clear()
