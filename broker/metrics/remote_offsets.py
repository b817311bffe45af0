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

from broker.metrics.remote_timestamps import (
    PARTITION_MAX_BYTES,
    FetchAsk,
    PartitionAnswer,
    answers,
    covered,
    fetch_request,
)
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
        #: (topic, partition, offset) -> base timestamp of the batch holding it, for the
        #: lagging committed offsets (raised to the leader's log start offset) of the last
        #: refresh
        self.batch_timestamps: dict[OffsetKey, int] = {}
        #: the leaders' log start offsets, as their last Fetch answers gave them
        self.log_start_offsets: dict[TopicPartition, int] = {}
        #: partitions a Fetch answered without their batch (asked first next round)
        self._starved: set[TopicPartition] = set()
        #: partitions whose leader answered OFFSET_OUT_OF_RANGE without its log start
        #: offset (Kafka): asked for it next round, with a Fetch at the high watermark
        self._below_start: set[TopicPartition] = set()
        self._refreshed_at: float | None = None
        self._running: asyncio.Task[None] | None = None

    def get(self, topic: str, partition: int) -> int | None:
        return self.high_watermarks.get((topic, partition))

    def batch_timestamp(self, topic: str, partition: int, offset: int) -> int | None:
        """Base timestamp of the leader's batch holding ``offset``, or its first batch when
        ``offset`` is below its log start (as the local computation); None if not known."""
        start = self.log_start_offsets.get((topic, partition), -1)
        return self.batch_timestamps.get((topic, partition, max(offset, start)))

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
        self._below_start &= fresh.keys()
        self.log_start_offsets = {
            tp: start for tp, start in self.log_start_offsets.items() if tp in fresh
        }
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
        """Known timestamps of lagging offsets, plus one Fetch: each lagging partition from
        its lowest offset of unknown timestamp (the answer covers the ones after it), or
        with no records at all when every timestamp is known (its log start offset, which
        retention moves, is still wanted)."""
        known: dict[OffsetKey, int] = {}
        asks: list[FetchAsk] = []
        for tp, hw in hws.items():
            start = self.log_start_offsets.get(tp, -1)
            needed = sorted({max(o, start) for o in committed.get(tp, ()) if 0 <= o < hw})
            needed = [o for o in needed if o < hw]
            if not needed:
                continue  # no lag: 0 seconds, nothing to ask
            unknown: list[int] = []
            for offset in needed:
                ts = self.batch_timestamps.get((tp[0], tp[1], offset))
                if ts is not None:
                    known[(tp[0], tp[1], offset)] = ts
                else:
                    unknown.append(offset)
            if tp in self._below_start:
                asks.append(FetchAsk(tp, hw, 0))
            elif unknown:
                asks.append(FetchAsk(tp, unknown[0], PARTITION_MAX_BYTES, tuple(unknown)))
            else:
                asks.append(FetchAsk(tp, needed[0], 0))
        client = self.clients.get(leader) if asks else None
        if client is None:
            return known
        # Partitions left without their batch last time go first (min one message).
        asks.sort(key=lambda a: (a.tp not in self._starved, a.max_bytes == 0, a.tp))
        try:
            response: Any = await client.send(fetch_request(asks))
        except Exception as exc:  # a leader that stopped answering: no seconds this round
            log.debug("Fetch to broker %d for consumer lag failed: %s", leader, exc)
            return known
        got = answers(response)
        for ask in asks:
            answer = got.get(ask.tp)
            if answer is None:
                continue
            if answer.error == ErrorCode.offset_out_of_range:
                # Retention moved past ``ask.offset``: what was known below it is not.
                tp = ask.tp
                for key in [k for k in known if k[:2] == tp and k[2] <= ask.offset]:
                    del known[key]
            known.update(self._absorb(ask, answer))
        return known

    def _absorb(self, ask: FetchAsk, answer: PartitionAnswer) -> dict[OffsetKey, int]:
        tp = ask.tp
        if answer.error == ErrorCode.offset_out_of_range:
            if answer.log_start_offset > ask.offset:
                self.log_start_offsets[tp] = answer.log_start_offset  # Josef says where
            else:
                self._below_start.add(tp)
            return {}
        if answer.error != ErrorCode.none:
            return {}
        self._below_start.discard(tp)
        if answer.log_start_offset >= 0:
            self.log_start_offsets[tp] = answer.log_start_offset
        if not ask.wanted:
            return {}
        found = covered(tp, answer.records, ask.wanted)
        if (tp[0], tp[1], ask.offset) in found:
            self._starved.discard(tp)
        else:
            self._starved.add(tp)
        return found

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
