"""Produce (key 0): validate batches by header and CRC, append, acknowledge."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.network.dispatch import CloseConnection
from broker.replica.replica_manager import ProduceResult
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import CorruptRecordError
from protocol.record_batch import HEADER_SIZE as RECORD_BATCH_HEADER_SIZE
from protocol.record_batch import read_header

API_KEY = 0
MIN_VERSION, MAX_VERSION = 3, 11
_UTC = datetime.UTC

log = logging.getLogger(__name__)


def _append_time(ms: int) -> datetime.datetime | None:
    if ms < 0:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz=_UTC)


def _fail_unflushed(
    results: list[tuple[str, list[tuple[int, ProduceResult]]]], failed: set[tuple[str, int]]
) -> list[tuple[str, list[tuple[int, ProduceResult]]]]:
    """Partitions whose fsync failed are not acknowledged (KAFKA_STORAGE_ERROR)."""
    storage_error = ProduceResult(ErrorCode.kafka_storage_error, message="flush failed")
    return [
        (name, [(i, storage_error if (name, i) in failed else r) for i, r in parts])
        for name, parts in results
    ]


def register(services: BrokerServices) -> None:
    rm = services.replica_manager

    async def _verify_transactional(
        request: Any, writable: set[str]
    ) -> dict[tuple[str, int], ErrorCode]:
        """KIP-890: partitions whose first transactional write the coordinator does not
        confirm, with the error to answer."""
        wanted: dict[tuple[int, int], list[tuple[str, int]]] = {}
        for topic in request.topic_data:
            if topic.name not in writable:
                continue
            for p in topic.partition_data:
                records = p.records
                if records is None or len(records) < RECORD_BATCH_HEADER_SIZE:
                    continue
                try:
                    header = read_header(records, 0)
                except CorruptRecordError:
                    continue  # refused by the append's validation
                if not header.is_transactional or header.producer_id < 0:
                    continue
                partition = rm.get_partition(topic.name, p.index)
                if partition is None or not partition.is_leader:
                    continue
                if partition.starts_transaction(header.producer_id):
                    key = (header.producer_id, header.producer_epoch)
                    wanted.setdefault(key, []).append((topic.name, p.index))
        out: dict[tuple[str, int], ErrorCode] = {}
        for (pid, epoch), tps in wanted.items():
            answer = await services.txn_verifier.verify(request.transactional_id, pid, epoch, tps)
            out.update((tp, e) for tp, e in answer.items() if e != ErrorCode.none)
        return out

    async def handle(ctx: RequestContext, request: Any) -> Any:
        acks = int(request.acks)
        results: list[tuple[str, list[tuple[int, ProduceResult]]]] = []
        if request.transactional_id is not None and not services.auth.authorize(
            ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id
        ):
            error = ErrorCode.transactional_id_authorization_failed
            for topic in request.topic_data:
                results.append(
                    (
                        topic.name,
                        [
                            (
                                p.index,
                                ProduceResult(error),
                            )
                            for p in topic.partition_data
                        ],
                    )
                )
        elif acks not in (0, 1, -1):
            for topic in request.topic_data:
                results.append(
                    (
                        topic.name,
                        [
                            (p.index, ProduceResult(ErrorCode.invalid_required_acks))
                            for p in topic.partition_data
                        ],
                    )
                )
        else:
            writable = services.auth.filter(
                ctx, AclOperation.WRITE, ResourceType.TOPIC, (t.name for t in request.topic_data)
            )
            unverified: dict[tuple[str, int], ErrorCode] = {}
            if (
                request.transactional_id is not None
                and services.txn_verifier is not None
                and services.config.transaction_partition_verification_enable
            ):
                unverified = await _verify_transactional(request, writable)
            for topic in request.topic_data:
                name = topic.name
                partition_results = []
                for p in topic.partition_data:
                    if name not in writable:
                        partition_results.append(
                            (p.index, ProduceResult(ErrorCode.topic_authorization_failed))
                        )
                        continue
                    if unverified and (name, p.index) in unverified:
                        error = unverified[(name, p.index)]
                        partition_results.append((p.index, ProduceResult(error)))
                        continue
                    if p.records is None:
                        partition_results.append((p.index, ProduceResult(ErrorCode.invalid_record)))
                        continue
                    partition_results.append(
                        (p.index, rm.append_to_leader(name, p.index, p.records, acks))
                    )
                results.append((name, partition_results))
            pending = rm.take_flush_requests()
            if pending:
                # log.flush.interval.messages/ms reached: durable before the ack, as Kafka.
                unflushed = await rm.flush_partitions(pending)
                if unflushed:
                    results = _fail_unflushed(results, unflushed)
            if acks == -1:
                # Kafka's DelayedProduce: wait until the ISR has the records.
                ctx.times.remote_ns += await rm.wait_for_replication(
                    [r for _, parts in results for _, r in parts],
                    int(request.timeout.total_seconds() * 1000),
                )
        quotas = services.quotas
        if quotas is not None and quotas.produce.enabled:
            # Kafka counts the whole request against producer_byte_rate.
            ctx.throttle.at_least(quotas.produce.record(ctx.user, ctx.client_id, ctx.size))
        if acks == 0:
            failed = [(n, i, r.error) for n, parts in results for i, r in parts if r.error]
            if failed:
                # The client reads no response; like Kafka, close the connection so
                # it notices the failure and refreshes its metadata.
                name, index, error = failed[0]
                raise CloseConnection(f"acks=0 produce to {name}-{index} failed with {error.name}")
            return None
        rb = ResponseBuilder(API_KEY, ctx.api_version)
        # v8+ carry KIP-467's per-record errors.
        with_record_errors = ctx.api_version >= 8
        return rb(
            None,
            responses=tuple(
                rb(
                    "TopicProduceResponse",
                    name=name,
                    partition_responses=tuple(
                        rb(
                            "PartitionProduceResponse",
                            index=index,
                            error_code=r.error,
                            base_offset=r.base_offset,
                            log_append_time=_append_time(r.log_append_time),
                            log_start_offset=r.log_start_offset,
                            record_errors=(
                                tuple(
                                    rb(
                                        "BatchIndexAndErrorMessage",
                                        batch_index=i,
                                        batch_index_error_message=m,
                                    )
                                    for i, m in r.record_errors
                                )
                                if with_record_errors
                                else ()
                            ),
                            error_message=r.message if r.error != ErrorCode.none else None,
                        )
                        for index, r in parts
                    ),
                )
                for name, parts in results
            ),
            throttle_time=NO_THROTTLE,
        )

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)
