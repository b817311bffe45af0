"""ListOffsets (key 2): earliest, latest, max-timestamp and timestamp lookups."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.replica.partition import ListOffsetResult, Partition
from broker.services import BrokerServices
from protocol.builders import NO_THROTTLE, ResponseBuilder
from protocol.errors import KafkaError

API_KEY = 2
MIN_VERSION, MAX_VERSION = 1, 9
LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3  # v7+
EARLIEST_LOCAL = -4  # v8+ (KIP-1005)
LATEST_TIERED = -5  # v9+ (KIP-1005)


def register(services: BrokerServices) -> None:
    rm = services.replica_manager

    def lookup(topic: str, p: Any, version: int, isolation: int) -> dict[str, Any]:
        index = p.partition_index
        partition = rm.get_partition(topic, index)
        if partition is None:
            meta = services.metadata.topic(topic)
            if meta is not None and index in meta.partitions:
                return {"error_code": ErrorCode.not_leader_or_follower}
            return {"error_code": ErrorCode.unknown_topic_or_partition}
        serving = partition.check_serving(getattr(p, "current_leader_epoch", -1))
        if serving != ErrorCode.none:
            return {"error_code": serving}
        if rm.is_offline(topic, index):
            return {"error_code": ErrorCode.kafka_storage_error}
        try:
            return _lookup(partition, int(p.timestamp), version, isolation)
        except KafkaError as exc:  # e.g. an I/O failure reading the time index
            return {"error_code": exc.error_code}

    def _lookup(partition: Partition, ts: int, version: int, isolation: int) -> dict[str, Any]:
        found: ListOffsetResult | None
        if ts == LATEST:
            found = partition.latest_offset(isolation)
        elif ts == EARLIEST or (ts == EARLIEST_LOCAL and version >= 8):
            found = partition.earliest_offset()
        elif ts == LATEST_TIERED and version >= 9:
            found = None  # no tiered storage
        elif ts == MAX_TIMESTAMP and version >= 7:
            found = partition.offset_for_timestamp(None, isolation)
        elif ts < 0:
            return {"error_code": ErrorCode.invalid_request}
        else:
            found = partition.offset_for_timestamp(ts, isolation)
        if found is None:
            return {"offset": -1, "timestamp": -1, "leader_epoch": -1}
        return {
            "offset": found.offset,
            "timestamp": found.timestamp,
            "leader_epoch": found.leader_epoch,
        }

    async def handle(ctx: RequestContext, request: Any) -> Any:
        version = ctx.api_version
        isolation = int(getattr(request, "isolation_level", 0))
        rb = ResponseBuilder(API_KEY, version)
        topics = []
        for t in request.topics:
            seen: set[int] = set()
            parts = []
            for p in t.partitions:
                if p.partition_index in seen:
                    fields: dict[str, Any] = {"error_code": ErrorCode.invalid_request}
                else:
                    seen.add(p.partition_index)
                    fields = lookup(t.name, p, version, isolation)
                fields.setdefault("error_code", ErrorCode.none)
                parts.append(
                    rb("ListOffsetsPartitionResponse", partition_index=p.partition_index, **fields)
                )
            topics.append(rb("ListOffsetsTopicResponse", name=t.name, partitions=tuple(parts)))
        return rb(None, throttle_time=NO_THROTTLE, topics=tuple(topics))

    services.registry.register(API_KEY, MIN_VERSION, MAX_VERSION, handle)
