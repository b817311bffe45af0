"""High watermarks of partitions this broker does not host, for consumer lag in a cluster.

A group coordinator holds committed offsets for partitions led anywhere in the cluster,
but only the partitions it hosts have a high watermark here. Before ``/metrics`` is
scraped, the missing ones are asked from their leaders with ListOffsets (latest,
read_uncommitted: the high watermark, as Kafka Exporter asks it), one request per leader,
concurrently, each bounded by a timeout; answers are kept until the next scrape. Nothing
of this runs on the request path, and a broker nobody scrapes sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kio.schema.errors import ErrorCode

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
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker_id = broker_id
        self.metadata = metadata
        self.clients = clients
        self.wanted = wanted
        self.min_interval_s = min_interval_s
        self.clock = clock
        #: (topic, partition) -> the leader's high watermark at the last refresh
        self.high_watermarks: dict[TopicPartition, int] = {}
        self._refreshed_at: float | None = None
        self._running: asyncio.Task[None] | None = None

    def get(self, topic: str, partition: int) -> int | None:
        return self.high_watermarks.get((topic, partition))

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
        results = await asyncio.gather(
            *(self._ask(leader, topics) for leader, topics in by_leader.items())
        )
        fresh: dict[TopicPartition, int] = {}
        for answer in results:
            fresh.update(answer)
        self.high_watermarks = fresh
        self._refreshed_at = self.clock()

    async def _ask(self, leader: int, topics: dict[str, list[int]]) -> dict[TopicPartition, int]:
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
