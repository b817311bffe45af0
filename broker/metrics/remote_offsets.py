"""High watermarks of partitions this broker does not host, for consumer lag in a cluster.

A group coordinator holds committed offsets for partitions led anywhere in the cluster,
but only the partitions it hosts have a high watermark here. Before ``/metrics`` is
scraped, the missing ones are asked from their leaders with ListOffsets (latest,
read_uncommitted: the high watermark, as Kafka Exporter asks it), one request per leader,
concurrently, each bounded by a timeout; answers are kept until the next scrape. Nothing
of this runs on the request path, and a broker nobody scrapes sends nothing.

In the same round, once a leader's high watermarks are known, partitions some group lags
on are asked from that leader with one Fetch for the batch timestamps at the committed
offsets (``broker.metrics.remote_timestamps``: lag in seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from kio.schema.errors import ErrorCode

from broker.metrics.remote_timestamps import batch_timestamps, fetch_request
from cluster.broker_client import BrokerClients
from cluster.metadata import MetadataStore
from protocol.builders import make, request_class

log = logging.getLogger(__name__)

LIST_OFFSETS = 2
#: ListOffsets v4: isolation level and current leader epoch, served by every Josef and Kafka.
LIST_OFFSETS_VERSION = 4
LATEST_TIMESTAMP = -1
READ_UNCOMMITTED = 0
CONSUMER_REPLICA_ID = -1  # a consumer's view: bounded by the high watermark

TopicPartition = tuple[str, int]
OffsetKey = tuple[str, int, int]  # (topic, partition, committed offset)


class RemoteHighWatermarks:
    """Leaders' high watermarks of the partitions ``wanted()`` names that are not hosted
    here, refreshed by :meth:`refresh` (the HTTP listener calls it before a scrape)."""

    def __init__(
        self,
        broker_id: int,
        metadata: MetadataStore,
        clients: BrokerClients,
        wanted: Callable[[], Iterable[TopicPartition]],
        *,
        committed: Callable[[], Mapping[TopicPartition, Collection[int]]] | None = None,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker_id = broker_id
        self.metadata = metadata
        self.clients = clients
        self.wanted = wanted
        #: the committed offsets of the wanted partitions (None: no lag seconds asked)
        self.committed = committed
        self.min_interval_s = min_interval_s
        self.clock = clock
        #: (topic, partition) -> the leader's high watermark at the last refresh
        self.high_watermarks: dict[TopicPartition, int] = {}
        #: (topic, partition, committed offset) -> base timestamp of the batch holding it,
        #: for offsets below the leader's high watermark at the last refresh
        self.batch_timestamps: dict[OffsetKey, int] = {}
        #: partitions a Fetch answered without their batch (asked first next round)
        self._starved: set[TopicPartition] = set()
        self._refreshed_at: float | None = None
        self._running: asyncio.Task[None] | None = None

    def get(self, topic: str, partition: int) -> int | None:
        return self.high_watermarks.get((topic, partition))

    def batch_timestamp(self, topic: str, partition: int, offset: int) -> int | None:
        """Base timestamp of the leader's batch holding ``offset`` (None if not known)."""
        return self.batch_timestamps.get((topic, partition, offset))

    async def refresh(self) -> None:
        """Ask the leaders (at most once per ``min_interval_s``; concurrent scrapes share
        one round). Leaders that fail or time out leave their partitions out."""
        running = self._running
        if running is None or running.done():
            last = self._refreshed_at
            if last is not None and self.clock() - last < self.min_interval_s:
                return
            running = self._running = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(running)

    async def _refresh(self) -> None:
        by_leader: dict[int, dict[str, list[int]]] = {}
        for topic, partition in set(self.wanted()):
            meta = self.metadata.topic(topic)
            state = meta.partitions.get(partition) if meta is not None else None
            if state is None or state.leader < 0:
                continue
            by_leader.setdefault(state.leader, {}).setdefault(topic, []).append(partition)
        committed = self.committed() if self.committed is not None else {}
        results = await asyncio.gather(
            *(self._ask(leader, topics, committed) for leader, topics in by_leader.items())
        )
        fresh: dict[TopicPartition, int] = {}
        timestamps: dict[OffsetKey, int] = {}
        for hws, found in results:
            fresh.update(hws)
            timestamps.update(found)
        self.high_watermarks = fresh
        self.batch_timestamps = timestamps
        self._starved &= fresh.keys()
        self._refreshed_at = self.clock()

    async def _ask(
        self,
        leader: int,
        topics: dict[str, list[int]],
        committed: Mapping[TopicPartition, Collection[int]],
    ) -> tuple[dict[TopicPartition, int], dict[OffsetKey, int]]:
        hws = await self._high_watermarks(leader, topics)
        if not committed or not hws:
            return hws, {}
        return hws, await self._timestamps(leader, hws, committed)

    async def _timestamps(
        self,
        leader: int,
        hws: dict[TopicPartition, int],
        committed: Mapping[TopicPartition, Collection[int]],
    ) -> dict[OffsetKey, int]:
        """Known timestamps of lagging offsets, plus one Fetch for the unknown ones: per
        partition from its lowest unknown offset (Fetch answers from there on)."""
        known: dict[OffsetKey, int] = {}
        unknown: dict[TopicPartition, list[int]] = {}
        for tp, hw in hws.items():
            for offset in sorted(set(committed.get(tp, ()))):
                if offset >= hw or offset < 0:
                    continue  # no lag: 0 seconds, nothing to ask
                ts = self.batch_timestamps.get((tp[0], tp[1], offset))
                if ts is not None:
                    known[(tp[0], tp[1], offset)] = ts
                else:
                    unknown.setdefault(tp, []).append(offset)
        if not unknown:
            return known
        client = self.clients.get(leader)
        if client is None:
            return known
        # Partitions left without their batch last time go first (min one message).
        order = sorted(unknown, key=lambda tp: (tp not in self._starved, tp))
        try:
            response: Any = await client.send(fetch_request((tp, unknown[tp][0]) for tp in order))
        except Exception as exc:  # a leader that stopped answering: no seconds this round
            log.debug("Fetch to broker %d for consumer lag failed: %s", leader, exc)
            return known
        found = batch_timestamps(response, unknown)
        for tp, offsets in unknown.items():
            if (tp[0], tp[1], offsets[0]) in found:
                self._starved.discard(tp)
            else:
                self._starved.add(tp)
        known.update(found)
        return known

    async def _high_watermarks(
        self, leader: int, topics: dict[str, list[int]]
    ) -> dict[TopicPartition, int]:
        client = self.clients.get(leader)
        if client is None:
            return {}
        request = _list_offsets_request(topics)
        try:
            response: Any = await client.send(request)
        except Exception as exc:  # an unreachable leader: its partitions are unknown now
            log.debug("ListOffsets to broker %d for consumer lag failed: %s", leader, exc)
            return {}
        out: dict[TopicPartition, int] = {}
        for topic in response.topics:
            for p in topic.partitions:
                if p.error_code == ErrorCode.none and int(p.offset) >= 0:
                    out[(str(topic.name), int(p.partition_index))] = int(p.offset)
        return out

    async def close(self) -> None:
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
        await self.clients.close()


def _list_offsets_request(topics: dict[str, list[int]]) -> Any:
    v = LIST_OFFSETS_VERSION
    partition_cls = request_class(LIST_OFFSETS, v, "ListOffsetsPartition")
    topic_cls = request_class(LIST_OFFSETS, v, "ListOffsetsTopic")
    return make(
        request_class(LIST_OFFSETS, v),
        replica_id=CONSUMER_REPLICA_ID,
        isolation_level=READ_UNCOMMITTED,
        topics=tuple(
            make(
                topic_cls,
                name=name,
                partitions=tuple(
                    make(
                        partition_cls,
                        partition_index=p,
                        current_leader_epoch=-1,
                        timestamp=LATEST_TIMESTAMP,
                    )
                    for p in sorted(partitions)
                ),
            )
            for name, partitions in sorted(topics.items())
        ),
    )
