"""Fetch (key 1): serve byte ranges of segments, waiting in purgatory for min_bytes."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.metrics.stats import BrokerTopicStats
from broker.network.context import RequestContext
from broker.network.dispatch import PreEncoded
from broker.quota.manager import ClientQuotaManager
from broker.replica.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    CachedPartition,
    FetchSession,
    FetchSessionCache,
    PartitionKey,
)
from broker.replica.partition import FetchResult
from broker.replica.replica_selector import preferred_read_replica
from broker.services import BrokerServices
from cluster.acls import AclOperation, ResourceType
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError
from protocol.fetch_response import PartitionResponse, TopicResponse, encode_fetch_response

API_KEY = 1
MIN_VERSION, MAX_VERSION = 4, 17
# Fixed bytes of a response and of each partition in it, for consumer_byte_rate.
_RESPONSE_OVERHEAD = 20
_PARTITION_OVERHEAD = 40
_NULL_UUID = uuid.UUID(int=0)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _PartitionFetch:
    topic: str | None
    topic_id: uuid.UUID
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int
    error: ErrorCode = ErrorCode.none
    result: FetchResult | None = None
    last_fetched_epoch: int = -1
    log_start_offset: int = -1
    preferred_read_replica: int = -1
    #: Listed in leader.replication.throttled.replicas (a follower's fetch, KIP-73).
    throttle_listed: bool = False


def register(services: BrokerServices) -> None:
    rm = services.replica_manager
    metadata = services.metadata
    clock = services.clock
    # Kafka's KafkaApis: fetchMaxBytes = min(request max_bytes, fetch.max.bytes) and
    # fetchMinBytes = min(request min_bytes, fetchMaxBytes).
    broker_max_bytes = int(getattr(services.config, "fetch_max_bytes", 57_671_680))
    sessions = FetchSessionCache(
        int(getattr(services.config, "max_incremental_fetch_session_cache_slots", 1000)), clock
    )

    def key_of(w: _PartitionFetch, version: int) -> PartitionKey:
        return (str(w.topic_id) if version >= 13 else (w.topic or ""), w.partition)

    def cache_entries(
        wanted: list[_PartitionFetch], version: int
    ) -> OrderedDict[PartitionKey, CachedPartition]:
        entries: OrderedDict[PartitionKey, CachedPartition] = OrderedDict()
        for w in wanted:
            entry = CachedPartition(w.topic, w.fetch_offset, w.max_bytes, w.current_leader_epoch)
            _remember(entry, w)
            entries[key_of(w, version)] = entry
        return entries

    def apply_incremental(
        session: FetchSession, request: Any, version: int
    ) -> list[_PartitionFetch]:
        for w in collect(request, version):
            key = key_of(w, version)
            entry = session.partitions.get(key)
            if entry is None:
                session.partitions[key] = CachedPartition(
                    w.topic, w.fetch_offset, w.max_bytes, w.current_leader_epoch
                )
            else:
                entry.topic = w.topic
                entry.fetch_offset = w.fetch_offset
                entry.max_bytes = w.max_bytes
                entry.current_leader_epoch = w.current_leader_epoch
        for f in request.forgotten_topics_data:
            name = str(f.topic_id) if version >= 13 else f.topic
            for p in f.partitions:
                session.partitions.pop((name, int(p)), None)
        wanted = []
        for (tkey, index), entry in session.partitions.items():
            if version >= 13:
                topic_id = uuid.UUID(tkey)
                meta = metadata.topic_by_id(topic_id)
                name = meta.name if meta is not None else None
                error = ErrorCode.none if meta is not None else ErrorCode.unknown_topic_id
            else:
                name = tkey
                meta = metadata.topic(name)
                topic_id = meta.topic_id if meta is not None else _NULL_UUID
                error = ErrorCode.none
            wanted.append(
                _PartitionFetch(
                    name,
                    topic_id,
                    index,
                    entry.fetch_offset,
                    entry.max_bytes,
                    entry.current_leader_epoch,
                    error,
                )
            )
        return wanted

    def collect(request: Any, version: int) -> list[_PartitionFetch]:
        wanted: list[_PartitionFetch] = []
        for t in request.topics:
            if version >= 13:
                topic_id = t.topic_id or _NULL_UUID
                meta = metadata.topic_by_id(topic_id)
                name = meta.name if meta is not None else None
                error = ErrorCode.none if meta is not None else ErrorCode.unknown_topic_id
            else:
                name = t.topic
                meta = metadata.topic(name)
                topic_id = meta.topic_id if meta is not None else _NULL_UUID
                error = ErrorCode.none
            for p in t.partitions:
                wanted.append(
                    _PartitionFetch(
                        name,
                        topic_id,
                        p.partition,
                        p.fetch_offset,
                        p.partition_max_bytes,
                        getattr(p, "current_leader_epoch", -1),
                        error,
                        last_fetched_epoch=getattr(p, "last_fetched_epoch", -1),
                        log_start_offset=getattr(p, "log_start_offset", -1),
                    )
                )
        return wanted

    selector = getattr(services.config, "replica_selector_class", None)

    def broker_racks() -> dict[int, str | None]:
        return {b.broker_id: b.rack for b in metadata.brokers()}

    def read_all(
        wanted: list[_PartitionFetch],
        max_bytes: int,
        isolation: int,
        replica_id: int,
        version: int,
        rack_id: str,
    ) -> tuple[int, bool]:
        # KIP-392: consumers on Fetch v11+ may read from followers (up to their HW).
        leader_only = replica_id >= 0 or version < 11
        throttle = rm.leader_throttle if replica_id >= 0 and rm.leader_throttle.enabled else None
        remaining = max_bytes
        total = 0
        errors = False
        for w in wanted:
            if w.error != ErrorCode.none and w.error != ErrorCode.offset_out_of_range:
                errors = True
                continue
            partition = rm.get_partition(w.topic, w.partition) if w.topic is not None else None
            if partition is None:
                w.error = (
                    ErrorCode.not_leader_or_follower
                    if w.topic is not None and _in_metadata(w.topic, w.partition)
                    else ErrorCode.unknown_topic_or_partition
                )
                errors = True
                continue
            serving = partition.check_serving(w.current_leader_epoch, leader_only)
            if serving != ErrorCode.none:
                w.error = serving
                errors = True
                continue
            if replica_id < 0 and rack_id and selector is not None:
                preferred = preferred_read_replica(selector, partition, rack_id, broker_racks())
                if preferred >= 0:
                    # Answer with no records: the consumer moves to that replica.
                    w.result = partition.empty_fetch_result()
                    w.preferred_read_replica = preferred
                    w.error = ErrorCode.none
                    errors = True
                    continue
            if (
                replica_id < 0
                and not partition.is_leader
                and w.fetch_offset > partition.log_end_offset
            ):
                # A follower behind the consumer: retriable, not out of range.
                w.error = ErrorCode.offset_not_available
                w.result = partition.empty_fetch_result()
                errors = True
                continue
            limit = min(w.max_bytes, remaining)
            if throttle is not None:
                w.throttle_listed = throttle.throttles(
                    partition.log.config.leader_replication_throttled_replicas, w.partition
                )
                if w.throttle_listed and replica_id not in partition.isr and throttle.exceeded():
                    limit = 0  # Kafka: no records, the follower's position still recorded
            try:
                w.result = partition.fetch_records(
                    w.fetch_offset,
                    limit,
                    isolation,
                    min_one_message=total == 0 and limit > 0,
                    replica_id=replica_id,
                    last_fetched_epoch=w.last_fetched_epoch,
                    replica_log_start_offset=w.log_start_offset,
                )
                w.error = ErrorCode.none
            except KafkaError as exc:
                w.error = exc.error_code
                if w.error == ErrorCode.kafka_storage_error and version <= 5:
                    # Kafka's down-conversion: older clients retry on this one.
                    w.error = ErrorCode.not_leader_or_follower
                w.result = partition.empty_fetch_result()
                errors = True
                continue
            if w.result.diverging_epoch is not None:
                errors = True  # answer at once: the follower must truncate
            size = len(w.result.records)
            total += size
            remaining = max(0, remaining - size)
        return total, errors

    def authorize(ctx: RequestContext, wanted: list[_PartitionFetch], replica_id: int) -> None:
        """Followers need CLUSTER_ACTION, consumers READ on each topic (Kafka's checks)."""
        auth = services.auth
        if not auth.enabled:
            return
        if replica_id >= 0:
            if not auth.cluster(ctx, AclOperation.CLUSTER_ACTION):
                for w in wanted:
                    w.error = ErrorCode.topic_authorization_failed
            return
        readable = auth.filter(
            ctx,
            AclOperation.READ,
            ResourceType.TOPIC,
            (w.topic for w in wanted if w.topic is not None and w.error == ErrorCode.none),
        )
        for w in wanted:
            if w.error == ErrorCode.none and w.topic not in readable:
                w.error = ErrorCode.topic_authorization_failed

    def _in_metadata(topic: str, index: int) -> bool:
        meta = metadata.topic(topic)
        return meta is not None and index in meta.partitions

    async def handle(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        isolation = int(getattr(request, "isolation_level", 0))
        max_bytes = min(int(request.max_bytes), broker_max_bytes)
        min_bytes = min(int(request.min_bytes), max_bytes)
        max_wait_s = request.max_wait.total_seconds()
        session_id = int(getattr(request, "session_id", 0))
        session_epoch = int(getattr(request, "session_epoch", -1))
        replica_id = (
            int(request.replica_state.replica_id)
            if version >= 15
            else int(getattr(request, "replica_id", -1))
        )
        rb = ResponseBuilder(API_KEY, version)
        quotas = services.quotas
        fetch_quota = (
            quotas.fetch if quotas is not None and quotas.fetch.enabled and replica_id < 0 else None
        )
        if fetch_quota is not None:
            # Kafka: no more than the quota window can take without a certain throttle.
            window = fetch_quota.max_value_in_window(ctx.user, ctx.client_id)
            max_bytes = max(1, min(max_bytes, int(min(window, 2**31 - 1))))
            min_bytes = min(min_bytes, max_bytes)
        session: FetchSession | None = None
        new_session = False
        if version < 7:
            wanted = collect(request, version)
        elif session_epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != 0:
                sessions.remove(session_id)
            wanted = collect(request, version)
            new_session = session_epoch == INITIAL_EPOCH
        else:
            session = sessions.get(session_id) if session_id != 0 else None
            if session is None or session.epoch != session_epoch:
                error = (
                    ErrorCode.fetch_session_id_not_found
                    if session_id != 0 and session is None
                    else ErrorCode.invalid_fetch_session_epoch
                )
                return rb(
                    None, throttle_time=NO_THROTTLE, error_code=error, session_id=0, responses=()
                )
            wanted = apply_incremental(session, request, version)
        authorize(ctx, wanted, replica_id)
        deadline = clock.monotonic() + max_wait_s
        rack_id = str(getattr(request, "rack_id", "") or "")
        total, errors = read_all(wanted, max_bytes, isolation, replica_id, version, rack_id)
        while total < min_bytes and not errors:
            left = deadline - clock.monotonic()
            if left <= 0:
                break
            keys = [(w.topic, w.partition) for w in wanted if w.topic is not None]
            parked = time.monotonic_ns()
            woken = await rm.fetch_purgatory.wait(keys, left)
            ctx.times.remote_ns += time.monotonic_ns() - parked
            if not woken:
                break
            total, errors = read_all(wanted, max_bytes, isolation, replica_id, version, rack_id)
        if replica_id >= 0 and rm.leader_throttle.enabled:
            rm.leader_throttle.record(
                sum(len(w.result.records) for w in wanted if w.throttle_listed and w.result)
            )
        corr = ctx.header.correlation_id
        if session is not None:
            # Incremental: answer only partitions with news, remember what was sent.
            changed = []
            for w in wanted:
                entry = session.partitions.get(key_of(w, version))
                if entry is not None and _remember(entry, w, apply=False):
                    changed.append((entry, w))
            session.next_epoch()
            throttle = _record_fetch(fetch_quota, ctx, [w for _, w in changed])
            if throttle:
                # Kafka's throttled response: nothing, and nothing remembered as sent.
                return build_response(corr, version, [], session.session_id, throttle)
            for entry, w in changed:
                _remember(entry, w)
            sent = [w for _, w in changed]
            _count_bytes_out(rm.topic_stats, sent, replica_id >= 0)
            return build_response(corr, version, sent, session.session_id)
        throttle = _record_fetch(fetch_quota, ctx, wanted)
        if throttle:
            return build_response(corr, version, [], 0, throttle)
        response_session_id = 0
        if new_session:
            created = sessions.create(cache_entries(wanted, version))
            if created is not None:
                response_session_id = created.session_id
        _count_bytes_out(rm.topic_stats, wanted, replica_id >= 0)
        return build_response(ctx.header.correlation_id, version, wanted, response_session_id)

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)


def _remember(entry: CachedPartition, w: _PartitionFetch, apply: bool = True) -> bool:
    """Record what the client is told (unless ``apply`` is False); True if the partition
    must be in the response."""
    r = w.result
    if r is None:
        return True
    must = bool(r.records) or w.error != ErrorCode.none or w.preferred_read_replica >= 0
    if r.high_watermark != entry.high_watermark:
        if apply:
            entry.high_watermark = r.high_watermark
        must = True
    if r.last_stable_offset != entry.last_stable_offset:
        if apply:
            entry.last_stable_offset = r.last_stable_offset
        must = True
    if r.log_start_offset != entry.log_start_offset:
        if apply:
            entry.log_start_offset = r.log_start_offset
        must = True
    return must


def _count_bytes_out(
    stats: BrokerTopicStats, sent: list[_PartitionFetch], follower: bool
) -> None:
    """BytesOutPerSec (consumers) or ReplicationBytesOutPerSec (followers), per partition."""
    for w in sent:
        result = w.result
        if w.topic is not None:
            stats.record_fetch(w.topic, len(result.records) if result is not None else 0, follower)


def _record_fetch(
    quota: ClientQuotaManager | None, ctx: RequestContext, sent: list[_PartitionFetch]
) -> int:
    """Count the response against consumer_byte_rate; the throttle time (0 within quota).

    A throttled fetch returns nothing, so its bytes are taken back (as Kafka does)."""
    if quota is None:
        return 0
    size = _RESPONSE_OVERHEAD + sum(
        _PARTITION_OVERHEAD + (len(w.result.records) if w.result is not None else 0) for w in sent
    )
    throttle = quota.record(ctx.user, ctx.client_id, size)
    if throttle > 0:
        quota.unrecord(ctx.user, ctx.client_id, size)
        ctx.throttle.at_least(throttle)
    return throttle


def build_response(
    correlation_id: int,
    version: int,
    wanted: list[_PartitionFetch],
    session_id: int,
    throttle_time_ms: int = 0,
) -> PreEncoded:
    topics: list[TopicResponse] = []
    current: list[PartitionResponse] = []
    current_key: object = None
    for w in wanted:
        key = w.topic_id if version >= 13 else w.topic
        if key != current_key or not topics:
            current = []
            topics.append(TopicResponse(w.topic, w.topic_id, current))
            current_key = key
        r = w.result
        if r is None:
            current.append(PartitionResponse(w.partition, w.error, -1, -1, -1, None, b""))
            continue
        aborted = None
        if r.aborted_transactions is not None:
            aborted = [(a.producer_id, a.first_offset) for a in r.aborted_transactions]
        current.append(
            PartitionResponse(
                w.partition,
                w.error,
                r.high_watermark,
                r.last_stable_offset,
                r.log_start_offset,
                aborted,
                r.records,
                preferred_read_replica=w.preferred_read_replica,
                diverging_epoch=r.diverging_epoch if version >= 12 else None,
            )
        )
    parts = encode_fetch_response(
        version, correlation_id, topics, session_id=session_id, throttle_time_ms=throttle_time_ms
    )
    # throttle_time_ms follows the size and the response header (v12+: one tag byte more).
    return PreEncoded(parts, throttle_at=9 if version >= 12 else 8)
