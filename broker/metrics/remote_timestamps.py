"""Batch timestamps at committed offsets of partitions led elsewhere (consumer lag seconds).

Lag in seconds is now - the base timestamp of the batch holding a group's first
uncommitted record. For a partition this broker hosts the log's batch header is read; for
one led by another broker the leader is asked with one Fetch (a consumer's: replica id -1,
read_uncommitted, max_wait 0, a small partition_max_bytes) and only the batch headers of
the answer are read, never its records. A batch holding offset ``o`` is the first batch
whose last offset is >= ``o`` (compaction may have removed ``o`` itself), as Fetch and the
local read both find it.

The timestamp of the batch holding an offset below the high watermark does not change, so
answers are kept while that offset is still some group's committed offset, and each
partition is asked only for the offsets still unknown.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from kio.schema.errors import ErrorCode

from protocol.builders import make, request_class
from protocol.errors import CorruptRecordError
from protocol.record_batch import HEADER_SIZE, read_header

FETCH = 1
#: Fetch v12: topic names (v13 switched to ids) and isolation level; served by Josef and Kafka.
FETCH_VERSION = 12
#: Enough for the headers of a few batches; the first partition of a request gets its first
#: batch whole however large (Kafka's min-one-message), Kafka cuts the others short (headers
#: are still read), Josef leaves them empty: they are asked first in the next round.
PARTITION_MAX_BYTES = 16 * 1024
MAX_BYTES = 1024 * 1024
CONSUMER_REPLICA_ID = -1
READ_UNCOMMITTED = 0

TopicPartition = tuple[str, int]


def fetch_request(offsets: Iterable[tuple[TopicPartition, int]]) -> Any:
    """One Fetch asking each partition from ``offset`` (in the order given: the first
    partition with data gets its first batch whole)."""
    v = FETCH_VERSION
    topic_cls = request_class(FETCH, v, "FetchTopic")
    partition_cls = request_class(FETCH, v, "FetchPartition")
    topics: dict[str, list[Any]] = {}
    for (topic, partition), offset in offsets:
        topics.setdefault(topic, []).append(
            make(
                partition_cls,
                partition=partition,
                current_leader_epoch=-1,
                fetch_offset=offset,
                last_fetched_epoch=-1,
                log_start_offset=-1,
                partition_max_bytes=PARTITION_MAX_BYTES,
            )
        )
    return make(
        request_class(FETCH, v),
        replica_id=CONSUMER_REPLICA_ID,
        max_wait=datetime.timedelta(0),
        min_bytes=0,
        max_bytes=MAX_BYTES,
        isolation_level=READ_UNCOMMITTED,
        session_id=0,
        session_epoch=-1,
        topics=tuple(make(topic_cls, topic=t, partitions=tuple(ps)) for t, ps in topics.items()),
        forgotten_topics_data=(),
        rack_id="",
    )


def batch_timestamps(
    response: Any, wanted: Mapping[TopicPartition, Iterable[int]]
) -> dict[tuple[str, int, int], int]:
    """(topic, partition, offset) -> base timestamp of the batch holding ``offset``, for the
    ``wanted`` offsets the answer's batch headers cover (partial trailing batches count as
    long as their header is whole). ``wanted`` offsets must not be below the partition's
    fetch offset. Partitions answered with an error give nothing."""
    out: dict[tuple[str, int, int], int] = {}
    for topic in response.responses:
        name = str(topic.topic)
        for p in topic.partitions:
            key = (name, int(p.partition_index))
            offsets = wanted.get(key)
            if offsets is None or p.error_code != ErrorCode.none or not p.records:
                continue
            out.update(_covered(key, bytes(p.records), sorted(set(offsets))))
    return out


def _covered(
    key: TopicPartition, records: bytes, offsets: list[int]
) -> dict[tuple[str, int, int], int]:
    out: dict[tuple[str, int, int], int] = {}
    i = 0
    pos = 0
    try:
        # Headers only; the last batch may be cut short (Kafka trims to partition_max_bytes).
        while i < len(offsets) and len(records) - pos >= HEADER_SIZE:
            header = read_header(records, pos)
            while i < len(offsets) and offsets[i] <= header.last_offset:
                out[(key[0], key[1], offsets[i])] = header.base_timestamp
                i += 1
            pos += header.size
    except CorruptRecordError:
        pass  # what was read before the bad header still holds
    return out
