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
partition is asked only from its lowest offset still unknown; a partition whose offsets
are all known is still asked, without records (partition_max_bytes 0), for the leader's
log start offset: a committed offset below it counts from the first batch, as locally.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class FetchAsk:
    """One partition of the round's Fetch: from ``offset``, at most ``max_bytes`` (0: no
    records, only the leader's log start offset), for the batches holding ``wanted``."""

    tp: TopicPartition
    offset: int
    max_bytes: int
    wanted: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionAnswer:
    error: int
    log_start_offset: int
    records: bytes


def fetch_request(asks: Iterable[FetchAsk]) -> Any:
    """One Fetch asking each partition (in the order given: the first partition with data
    gets its first batch whole)."""
    v = FETCH_VERSION
    topic_cls = request_class(FETCH, v, "FetchTopic")
    partition_cls = request_class(FETCH, v, "FetchPartition")
    topics: dict[str, list[Any]] = {}
    for ask in asks:
        topics.setdefault(ask.tp[0], []).append(
            make(
                partition_cls,
                partition=ask.tp[1],
                current_leader_epoch=-1,
                fetch_offset=ask.offset,
                last_fetched_epoch=-1,
                log_start_offset=-1,
                partition_max_bytes=ask.max_bytes,
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


def answers(response: Any) -> dict[TopicPartition, PartitionAnswer]:
    """The partitions of a Fetch response (records as bytes, b"" when none)."""
    out: dict[TopicPartition, PartitionAnswer] = {}
    for topic in response.responses:
        name = str(topic.topic)
        for p in topic.partitions:
            out[(name, int(p.partition_index))] = PartitionAnswer(
                int(p.error_code), int(p.log_start_offset), bytes(p.records or b"")
            )
    return out


def batch_timestamps(
    response: Any, wanted: Mapping[TopicPartition, Iterable[int]]
) -> dict[tuple[str, int, int], int]:
    """(topic, partition, offset) -> base timestamp of the batch holding ``offset``, for the
    ``wanted`` offsets the answer's batch headers cover (partial trailing batches count as
    long as their header is whole). ``wanted`` offsets must not be below the partition's
    fetch offset. Partitions answered with an error give nothing."""
    out: dict[tuple[str, int, int], int] = {}
    for key, answer in answers(response).items():
        offsets = wanted.get(key)
        if offsets is None or answer.error != ErrorCode.none:
            continue
        out.update(covered(key, answer.records, offsets))
    return out


def covered(
    key: TopicPartition, records: bytes, wanted: Iterable[int]
) -> dict[tuple[str, int, int], int]:
    """Timestamps of the ``wanted`` offsets whose batch header is in ``records``."""
    offsets = sorted(set(wanted))
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
