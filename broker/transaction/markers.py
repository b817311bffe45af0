"""Transaction markers: the control batches that end a transaction in each partition.

:class:`TxnMarkerWriter` is both sides of Kafka's WriteTxnMarkers:

* the partition leader's side (:meth:`append_local`): append a COMMIT or ABORT control
  batch with the producer's id and epoch and the coordinator's epoch, wait until it is
  replicated (acks=all), and tell the group coordinator when the partition belongs to
  ``__consumer_offsets`` (pending transactional offsets become visible or are dropped);
* the coordinator's side (:meth:`write`, Kafka's TransactionMarkerChannelManager):
  deliver the markers of one transaction to every partition it touched, retrying until
  each leader has them. Partitions led here take the local path; partitions led by
  another broker go through ``remote`` (a WriteTxnMarkers request to their leader).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kio.schema.errors import ErrorCode

from broker.replica.replica_manager import ProduceResult, ReplicaManager
from protocol.errors import KafkaError
from protocol.records import encode_control_batch
from storage.clock import Clock

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
RETRY_BACKOFF_S = 0.1

TopicPartition = tuple[str, int]
#: (leader id, producer id, epoch, commit, coordinator epoch, partitions) → errors
RemoteSender = Callable[
    [int, int, int, bool, int, list[TopicPartition]], Awaitable[dict[TopicPartition, ErrorCode]]
]

#: Errors after which a marker is not retried (Kafka's completion handler drops them:
#: the producer moved on, or a newer coordinator owns the transaction).
_FINAL_ERRORS = frozenset(
    {
        ErrorCode.invalid_producer_epoch,
        ErrorCode.transaction_coordinator_fenced,
        ErrorCode.producer_fenced,
    }
)


class TxnMarkerWriter:
    """Writes transaction markers to local partitions and sends them to remote leaders."""

    def __init__(
        self,
        replica_manager: ReplicaManager,
        clock: Clock,
        *,
        group_coordinator: Any = None,
        timeout_ms: int = 30_000,
    ) -> None:
        self.replica_manager = replica_manager
        self.clock = clock
        self.group_coordinator = group_coordinator
        self.timeout_ms = timeout_ms
        #: Set in cluster mode: how markers reach a partition led by another broker.
        self.remote: RemoteSender | None = None
        #: Leader of a partition per the metadata (None when the topic is gone).
        self.leader_of: Callable[[str, int], int | None] | None = None

    # -- leader side -------------------------------------------------------------------

    async def append_local(
        self,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        partitions: list[TopicPartition],
    ) -> dict[TopicPartition, ErrorCode]:
        """Append one marker to each partition led here and wait until replicated."""
        rm = self.replica_manager
        now = self.clock.milliseconds()
        errors: dict[TopicPartition, ErrorCode] = {}
        waiting: list[tuple[TopicPartition, ProduceResult]] = []
        for topic, index in partitions:
            partition = rm.get_partition(topic, index)
            if partition is None:
                errors[(topic, index)] = ErrorCode.unknown_topic_or_partition
                continue
            batch = encode_control_batch(
                commit=commit,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                coordinator_epoch=coordinator_epoch,
                timestamp=now,
            )
            try:
                _first, last = rm.append_internal(
                    topic, index, batch, coordinator_epoch=coordinator_epoch
                )
            except KafkaError as exc:
                errors[(topic, index)] = exc.error_code
                continue
            result = ProduceResult(ErrorCode.none, partition=partition, required_offset=last + 1)
            waiting.append(((topic, index), result))
        pending = rm.take_flush_requests()
        if pending:
            await rm.flush_partitions(pending)
        if waiting:
            await rm.wait_for_replication([r for _, r in waiting], self.timeout_ms)
        for tp, result in waiting:
            errors[tp] = result.error
            if result.error == ErrorCode.none and tp[0] == OFFSETS_TOPIC:
                coord = self.group_coordinator
                if coord is not None:
                    coord.complete_txn(producer_id, commit, tp[1])
        return errors

    # -- coordinator side --------------------------------------------------------------

    async def write(
        self,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        partitions: set[TopicPartition],
        still_valid: Callable[[], bool],
    ) -> bool:
        """Deliver the markers until every partition has one (or its topic is gone).

        Returns False when ``still_valid`` turned false first (the coordinator lost the
        transaction's partition): the new coordinator finishes the job.
        """
        pending = set(partitions)
        while pending:
            if not still_valid():
                return False
            local: list[TopicPartition] = []
            remote: dict[int, list[TopicPartition]] = {}
            for tp in sorted(pending):
                partition = self.replica_manager.get_partition(*tp)
                if partition is not None and partition.is_leader:
                    local.append(tp)
                    continue
                leader = self.leader_of(*tp) if self.leader_of is not None else None
                if leader is None:
                    # The topic was deleted: nothing left to mark (as Kafka skips it).
                    pending.discard(tp)
                elif leader >= 0 and self.remote is not None:
                    remote.setdefault(leader, []).append(tp)
            results: dict[TopicPartition, ErrorCode] = {}
            if local:
                results.update(
                    await self.append_local(
                        producer_id, producer_epoch, commit, coordinator_epoch, local
                    )
                )
            for leader, tps in remote.items():
                assert self.remote is not None
                try:
                    results.update(
                        await self.remote(
                            leader, producer_id, producer_epoch, commit, coordinator_epoch, tps
                        )
                    )
                except Exception as exc:  # any failure means: retry later
                    log.info("WriteTxnMarkers to broker %d failed: %s", leader, exc)
            for tp, error in results.items():
                if error == ErrorCode.none:
                    pending.discard(tp)
                elif error in _FINAL_ERRORS:
                    log.warning(
                        "marker for producer %d epoch %d in %s-%d not written: %s",
                        producer_id,
                        producer_epoch,
                        tp[0],
                        tp[1],
                        error.name,
                    )
                    pending.discard(tp)
            if pending:
                await asyncio.sleep(RETRY_BACKOFF_S)
        return True
