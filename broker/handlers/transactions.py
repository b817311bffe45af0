"""Transaction APIs: AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26),
WriteTxnMarkers (27), TxnOffsetCommit (28), DescribeProducers (61),
DescribeTransactions (65), ListTransactions (66). InitProducerId lives in
:mod:`broker.handlers.init_producer_id` and FindCoordinator in
:mod:`broker.handlers.group_coordinator`."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from broker.transaction.coordinator import TransactionCoordinator
from broker.transaction.markers import TxnMarkerWriter
from broker.transaction.state import TransactionState
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN = 24, 25, 26
WRITE_TXN_MARKERS, TXN_OFFSET_COMMIT = 27, 28
DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 61, 65, 66


def coordinator(services: BrokerServices) -> TransactionCoordinator:
    coord = services.transaction_coordinator
    assert isinstance(coord, TransactionCoordinator)
    return coord


def _ms(ms: int) -> datetime.timedelta:
    return datetime.timedelta(milliseconds=ms)


def fenced_for(version: int, first_version: int, error: ErrorCode) -> ErrorCode:
    """KIP-588: request versions older than ``first_version`` predate PRODUCER_FENCED; their
    clients get INVALID_PRODUCER_EPOCH, which they handle the same way (as Kafka answers)."""
    if error == ErrorCode.producer_fenced and version < first_version:
        return ErrorCode.invalid_producer_epoch
    return error


def register(services: BrokerServices) -> None:
    auth = services.auth

    # -- AddPartitionsToTxn ------------------------------------------------------------

    async def add_partitions_one(
        ctx: RequestContext,
        tid: str,
        pid: int,
        epoch: int,
        topics: list[tuple[str, list[int]]],
        verify_only: bool,
    ) -> dict[tuple[str, int], ErrorCode]:
        wanted = {(t, p) for t, parts in topics for p in parts}
        if not auth.authorize(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            return dict.fromkeys(wanted, ErrorCode.transactional_id_authorization_failed)
        writable = auth.filter(ctx, AclOperation.WRITE, ResourceType.TOPIC, (t for t, _ in topics))
        errors: dict[tuple[str, int], ErrorCode] = {}
        for topic, index in wanted:
            if topic not in writable:
                errors[(topic, index)] = ErrorCode.topic_authorization_failed
                continue
            md = services.metadata.topic(topic)
            if md is None or index not in md.partitions:
                errors[(topic, index)] = ErrorCode.unknown_topic_or_partition
        if errors:
            # Kafka adds none of them then; the others were not attempted.
            return {tp: errors.get(tp, ErrorCode.operation_not_attempted) for tp in wanted}
        coord = coordinator(services)
        if verify_only:
            error = coord.check(tid)
            meta = coord.txns.get(tid)
            if error != ErrorCode.none:
                return dict.fromkeys(wanted, error)
            if meta is None or meta.producer_id != pid or meta.producer_epoch != epoch:
                return dict.fromkeys(wanted, ErrorCode.invalid_producer_id_mapping)
            ongoing = meta.state is TransactionState.ONGOING
            return {
                tp: ErrorCode.none
                if ongoing and tp in meta.partitions
                else ErrorCode.invalid_txn_state
                for tp in wanted
            }
        error = await coord.add_partitions(tid, pid, epoch, wanted)
        return dict.fromkeys(wanted, error)

    async def add_partitions_to_txn(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(ADD_PARTITIONS_TO_TXN, ctx.api_version)

        def topic_results(errors: dict[tuple[str, int], ErrorCode]) -> tuple[Any, ...]:
            by_topic: dict[str, list[tuple[int, ErrorCode]]] = {}
            for (t, p), e in sorted(errors.items()):
                by_topic.setdefault(t, []).append((p, e))
            return tuple(
                rb(
                    "AddPartitionsToTxnTopicResult",
                    name=t,
                    results_by_partition=tuple(
                        rb(
                            "AddPartitionsToTxnPartitionResult",
                            partition_index=p,
                            partition_error_code=e,
                        )
                        for p, e in parts
                    ),
                )
                for t, parts in by_topic.items()
            )

        if ctx.api_version <= 3:
            errors = await add_partitions_one(
                ctx,
                request.v3_and_below_transactional_id,
                request.v3_and_below_producer_id,
                request.v3_and_below_producer_epoch,
                [(t.name, list(t.partitions)) for t in request.v3_and_below_topics],
                False,
            )
            errors = {tp: fenced_for(ctx.api_version, 2, e) for tp, e in errors.items()}
            return rb(
                None, throttle_time=NO_THROTTLE, results_by_topic_v3_and_below=topic_results(errors)
            )
        # v4: the batched form brokers use (KIP-890), CLUSTER_ACTION only.
        if not auth.cluster(ctx, AclOperation.CLUSTER_ACTION):
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.cluster_authorization_failed,
                results_by_transaction=(),
            )
        results = []
        for txn in request.transactions:
            errors = await add_partitions_one(
                ctx,
                txn.transactional_id,
                txn.producer_id,
                txn.producer_epoch,
                [(t.name, list(t.partitions)) for t in txn.topics],
                txn.verify_only,
            )
            results.append(
                rb(
                    "AddPartitionsToTxnResult",
                    transactional_id=txn.transactional_id,
                    topic_results=topic_results(errors),
                )
            )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.none,
            results_by_transaction=tuple(results),
        )

    # -- AddOffsetsToTxn ---------------------------------------------------------------

    async def add_offsets_to_txn(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(ADD_OFFSETS_TO_TXN, ctx.api_version)
        tid = request.transactional_id
        if not auth.authorize(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            error = ErrorCode.transactional_id_authorization_failed
        elif not auth.authorize(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id):
            error = ErrorCode.group_authorization_failed
        else:
            group_coord = services.group_coordinator
            await group_coord.ensure_topic()
            index = group_coord.partition_for(request.group_id)
            error = await coordinator(services).add_partitions(
                tid,
                request.producer_id,
                request.producer_epoch,
                {("__consumer_offsets", index)},
            )
        error = fenced_for(ctx.api_version, 2, error)
        return rb(None, throttle_time=NO_THROTTLE, error_code=error)

    # -- EndTxn ------------------------------------------------------------------------

    async def end_txn(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(END_TXN, ctx.api_version)
        tid = request.transactional_id
        if not auth.authorize(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            error = ErrorCode.transactional_id_authorization_failed
        else:
            error = await coordinator(services).end_txn(
                tid, request.producer_id, request.producer_epoch, bool(request.committed)
            )
        error = fenced_for(ctx.api_version, 2, error)
        return rb(None, throttle_time=NO_THROTTLE, error_code=error)

    # -- WriteTxnMarkers ---------------------------------------------------------------

    async def write_txn_markers(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(WRITE_TXN_MARKERS, ctx.api_version)
        allowed = auth.cluster(ctx, AclOperation.CLUSTER_ACTION)
        writer: TxnMarkerWriter = coordinator(services).markers
        results = []
        for marker in request.markers:
            tps = [(t.name, int(p)) for t in marker.topics for p in t.partition_indexes]
            if not allowed:
                errors = dict.fromkeys(tps, ErrorCode.cluster_authorization_failed)
            else:
                errors = await writer.append_local(
                    marker.producer_id,
                    marker.producer_epoch,
                    bool(marker.transaction_result),
                    marker.coordinator_epoch,
                    tps,
                )
            topics: dict[str, list[Any]] = {}
            for (t, p), e in errors.items():
                topics.setdefault(t, []).append(
                    rb("WritableTxnMarkerPartitionResult", partition_index=p, error_code=e)
                )
            results.append(
                rb(
                    "WritableTxnMarkerResult",
                    producer_id=marker.producer_id,
                    topics=tuple(
                        rb("WritableTxnMarkerTopicResult", name=t, partitions=tuple(ps))
                        for t, ps in topics.items()
                    ),
                )
            )
        return rb(None, markers=tuple(results))

    # -- TxnOffsetCommit ---------------------------------------------------------------

    async def txn_offset_commit(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(TXN_OFFSET_COMMIT, ctx.api_version)
        tid = request.transactional_id
        group_id = request.group_id
        offsets = [
            (
                t.name,
                int(p.partition_index),
                int(p.committed_offset),
                int(getattr(p, "committed_leader_epoch", -1)),
                p.committed_metadata,
            )
            for t in request.topics
            for p in t.partitions
        ]
        results: dict[tuple[str, int], ErrorCode]
        if not auth.authorize(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            results = {
                (t, p): ErrorCode.transactional_id_authorization_failed for t, p, *_ in offsets
            }
        elif not auth.authorize(ctx, AclOperation.READ, ResourceType.GROUP, group_id):
            results = {(t, p): ErrorCode.group_authorization_failed for t, p, *_ in offsets}
        else:
            readable = auth.filter(
                ctx, AclOperation.READ, ResourceType.TOPIC, (o[0] for o in offsets)
            )
            allowed = [o for o in offsets if o[0] in readable]
            results = {
                (t, p): ErrorCode.topic_authorization_failed
                for t, p, *_ in offsets
                if t not in readable
            }
            error, committed = await services.group_coordinator.commit_txn_offsets(
                group_id,
                request.producer_id,
                request.producer_epoch,
                getattr(request, "member_id", ""),
                getattr(request, "group_instance_id", None),
                int(getattr(request, "generation_id", -1)),
                allowed,
            )
            if error != ErrorCode.none:
                results.update({(t, p): error for t, p, *_ in allowed})
            else:
                results.update(committed)
        by_topic: dict[str, list[Any]] = {}
        for (t, p), e in results.items():
            by_topic.setdefault(t, []).append(
                rb(
                    "TxnOffsetCommitResponsePartition",
                    partition_index=p,
                    error_code=fenced_for(ctx.api_version, 3, e),
                )
            )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            topics=tuple(
                rb("TxnOffsetCommitResponseTopic", name=t, partitions=tuple(ps))
                for t, ps in by_topic.items()
            ),
        )

    # -- DescribeTransactions / ListTransactions ---------------------------------------

    async def describe_transactions(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DESCRIBE_TRANSACTIONS, ctx.api_version)
        coord = coordinator(services)
        states = []
        for tid in request.transactional_ids:
            if not auth.authorize(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, tid):
                error, meta = ErrorCode.transactional_id_authorization_failed, None
            else:
                error, meta = coord.describe(tid)
            topics: dict[str, list[int]] = {}
            if meta is not None:
                for t, p in sorted(meta.partitions):
                    topics.setdefault(t, []).append(p)
            states.append(
                rb(
                    "TransactionState",
                    error_code=error,
                    transactional_id=tid,
                    transaction_state=meta.state.kafka_name if meta else "",
                    transaction_timeout=_ms(meta.timeout_ms if meta else 0),
                    transaction_start_time=datetime.datetime.fromtimestamp(
                        (meta.start_timestamp_ms if meta else -1) / 1000, tz=datetime.UTC
                    ),
                    producer_id=meta.producer_id if meta else -1,
                    producer_epoch=meta.producer_epoch if meta else -1,
                    topics=tuple(
                        rb("TopicData", topic=t, partitions=tuple(ps)) for t, ps in topics.items()
                    ),
                )
            )
        return rb(None, throttle_time=NO_THROTTLE, transaction_states=tuple(states))

    async def list_transactions(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(LIST_TRANSACTIONS, ctx.api_version)
        coord = coordinator(services)
        unknown = []
        wanted_states: set[TransactionState] = set()
        for name in request.state_filters:
            state = TransactionState.from_kafka_name(name)
            if state is None:
                unknown.append(name)
            else:
                wanted_states.add(state)
        pids = set(request.producer_id_filters)
        duration = int(getattr(request, "duration_filter", -1))
        now = services.clock.milliseconds()
        out = []
        for meta in coord.list():
            if wanted_states and meta.state not in wanted_states:
                continue
            if pids and meta.producer_id not in pids:
                continue
            if duration >= 0 and (
                meta.state is not TransactionState.ONGOING
                or now - meta.start_timestamp_ms <= duration
            ):
                continue
            if not auth.authorize(
                ctx,
                AclOperation.DESCRIBE,
                ResourceType.TRANSACTIONAL_ID,
                meta.transactional_id,
                False,
            ):
                continue
            out.append(
                rb(
                    "TransactionState",
                    transactional_id=meta.transactional_id,
                    producer_id=meta.producer_id,
                    transaction_state=meta.state.kafka_name,
                )
            )
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.none,
            unknown_state_filters=tuple(unknown),
            transaction_states=tuple(out),
        )

    # -- DescribeProducers -------------------------------------------------------------

    async def describe_producers(ctx: RequestContext, request: Any) -> Any:
        rb = ResponseBuilder(DESCRIBE_PRODUCERS, ctx.api_version)
        readable = auth.filter(
            ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
        )
        rm = services.replica_manager
        topics = []
        for t in request.topics:
            parts = []
            for index in t.partition_indexes:
                error, message, producers = ErrorCode.none, None, []
                partition = rm.get_partition(t.name, index)
                if t.name not in readable:
                    error = ErrorCode.topic_authorization_failed
                elif partition is None:
                    error = ErrorCode.unknown_topic_or_partition
                else:
                    try:
                        producers = partition.active_producers()
                    except KafkaError as exc:
                        error, message = exc.error_code, str(exc) or None
                parts.append(
                    rb(
                        "PartitionResponse",
                        partition_index=index,
                        error_code=error,
                        error_message=message,
                        active_producers=tuple(
                            rb(
                                "ProducerState",
                                producer_id=pid,
                                producer_epoch=epoch,
                                last_sequence=seq,
                                last_timestamp=ts,
                                coordinator_epoch=coord_epoch,
                                current_txn_start_offset=start,
                            )
                            for pid, epoch, seq, ts, coord_epoch, start in producers
                        ),
                    )
                )
            topics.append(rb("TopicResponse", name=t.name, partitions=tuple(parts)))
        return rb(None, throttle_time=NO_THROTTLE, topics=tuple(topics))

    reg = services.registry.register
    reg(ADD_PARTITIONS_TO_TXN, 0, 5, add_partitions_to_txn)
    reg(ADD_OFFSETS_TO_TXN, 0, 4, add_offsets_to_txn)
    reg(END_TXN, 0, 4, end_txn)
    reg(WRITE_TXN_MARKERS, 1, 1, write_txn_markers)
    reg(TXN_OFFSET_COMMIT, 0, 4, txn_offset_commit)
    reg(DESCRIBE_TRANSACTIONS, 0, 0, describe_transactions)
    reg(LIST_TRANSACTIONS, 0, 1, list_transactions)
    reg(DESCRIBE_PRODUCERS, 0, 0, describe_producers)
