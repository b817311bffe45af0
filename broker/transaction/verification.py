"""KIP-890 (part 1) transaction verification, the partition leader's side.

Before the first transactional write of a producer to a partition (the one that would open
a transaction there), the leader asks the transaction coordinator whether the partition is
in the producer's ongoing transaction: directly when the coordinator is this broker, with
AddPartitionsToTxn v4 (``verify_only``) otherwise. A write to a partition the producer
never added gets INVALID_TXN_STATE, so a late or stray write cannot open a transaction
nobody will ever end (a hanging transaction that would hold the last stable offset).
Only produce requests with a ``transactional_id`` come here; other produce is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kio.schema.errors import ErrorCode

from broker.transaction.coordinator import TRANSACTION_STATE_TOPIC, TransactionCoordinator
from broker.transaction.state import TransactionState
from cluster.broker_client import BrokerClient, BrokerClients
from cluster.metadata import MetadataStore
from protocol.builders import make, request_class

log = logging.getLogger(__name__)

ADD_PARTITIONS_TO_TXN = 24
VERIFY_VERSION = 4

TopicPartition = tuple[str, int]

#: Coordinator answers a produce cannot pass on as they are (Kafka's mapping for
#: verification: the client retries a produce that failed on NOT_ENOUGH_REPLICAS).
_RETRIABLE = frozenset(
    {
        ErrorCode.not_coordinator,
        ErrorCode.coordinator_not_available,
        ErrorCode.coordinator_load_in_progress,
        ErrorCode.concurrent_transactions,
        ErrorCode.request_timed_out,
    }
)


def produce_error(error: ErrorCode) -> ErrorCode:
    if error in _RETRIABLE:
        return ErrorCode.not_enough_replicas
    if error in (ErrorCode.producer_fenced, ErrorCode.invalid_producer_id_mapping):
        return ErrorCode.invalid_producer_epoch
    return error


class TxnPartitionVerifier:
    """Asks the transaction coordinator whether partitions are in a transaction."""

    def __init__(
        self,
        broker_id: int,
        coordinator: TransactionCoordinator,
        metadata: MetadataStore,
        endpoint_of: Callable[[int], tuple[str, int] | None] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.broker_id = broker_id
        self.coordinator = coordinator
        self.metadata = metadata
        self.endpoint_of = endpoint_of
        self.timeout_s = timeout_s
        self._clients = (
            BrokerClients(endpoint_of, f"broker-{broker_id}-txn-verification", timeout_s)
            if endpoint_of is not None
            else None
        )

    def _local(
        self, tid: str, producer_id: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode] | None:
        """The answer when this broker coordinates ``tid``; None when it does not."""
        error = self.coordinator.check(tid)
        if error == ErrorCode.not_coordinator:
            return None
        if error != ErrorCode.none:
            return dict.fromkeys(partitions, error)
        meta = self.coordinator.txns.get(tid)
        if meta is None or meta.producer_id != producer_id:
            return dict.fromkeys(partitions, ErrorCode.invalid_producer_id_mapping)
        if meta.producer_epoch != epoch:
            return dict.fromkeys(partitions, ErrorCode.producer_fenced)
        ongoing = meta.state is TransactionState.ONGOING
        return {
            tp: ErrorCode.none if ongoing and tp in meta.partitions else ErrorCode.invalid_txn_state
            for tp in partitions
        }

    async def verify(
        self, tid: str, producer_id: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        """Per partition: NONE when it is in the ongoing transaction, else the produce error."""
        answer = self._local(tid, producer_id, epoch, partitions)
        if answer is None:
            answer = await self._remote(tid, producer_id, epoch, partitions)
        return {tp: produce_error(e) for tp, e in answer.items()}

    async def _remote(
        self, tid: str, producer_id: int, epoch: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        topic = self.metadata.topic(TRANSACTION_STATE_TOPIC)
        state = None if topic is None else topic.partitions.get(self.coordinator.partition_for(tid))
        if state is None or state.leader < 0 or self.endpoint_of is None:
            return dict.fromkeys(partitions, ErrorCode.coordinator_not_available)
        client = self._client(state.leader)
        if client is None:
            return dict.fromkeys(partitions, ErrorCode.coordinator_not_available)
        by_topic: dict[str, list[int]] = {}
        for t, p in partitions:
            by_topic.setdefault(t, []).append(p)
        req = request_class(ADD_PARTITIONS_TO_TXN, VERIFY_VERSION)
        txn_cls = request_class(
            ADD_PARTITIONS_TO_TXN, VERIFY_VERSION, "AddPartitionsToTxnTransaction"
        )
        topic_cls = request_class(ADD_PARTITIONS_TO_TXN, VERIFY_VERSION, "AddPartitionsToTxnTopic")
        request = make(
            req,
            transactions=(
                make(
                    txn_cls,
                    transactional_id=tid,
                    producer_id=producer_id,
                    producer_epoch=epoch,
                    verify_only=True,
                    topics=tuple(
                        make(topic_cls, name=t, partitions=tuple(ps)) for t, ps in by_topic.items()
                    ),
                ),
            ),
        )
        try:
            response = await client.send(request)
        except Exception as exc:  # the coordinator's broker is unreachable: retriable
            log.info("transaction verification at broker %d failed: %s", state.leader, exc)
            return dict.fromkeys(partitions, ErrorCode.coordinator_not_available)
        if response.error_code != ErrorCode.none:
            return dict.fromkeys(partitions, response.error_code)
        out = dict.fromkeys(partitions, ErrorCode.invalid_txn_state)
        for result in response.results_by_transaction:
            for t in result.topic_results:
                for r in t.results_by_partition:
                    out[(t.name, int(r.partition_index))] = r.partition_error_code
        return out

    def _client(self, broker_id: int) -> BrokerClient | None:
        assert self._clients is not None
        return self._clients.get(broker_id)

    async def close(self) -> None:
        if self._clients is not None:
            await self._clients.close()
