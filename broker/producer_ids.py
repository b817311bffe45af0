"""Producer id allocation: blocks reserved in the metadata store, never reused."""

from __future__ import annotations

import asyncio
import logging

from kio.schema.errors import ErrorCode

from cluster.metadata import MetadataStore
from protocol.errors import KafkaError

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK_SIZE = 1000


class ProducerIdManager:
    """Hands out producer ids from blocks persisted before use (as Kafka's
    ``/latest_producer_id_block``), so a restart can never reissue an id."""

    def __init__(self, metadata: MetadataStore, block_size: int = PRODUCER_ID_BLOCK_SIZE) -> None:
        self._metadata = metadata
        self._block_size = block_size
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def generate(self) -> int:
        async with self._lock:
            if self._next >= self._end:
                try:
                    first = await self._metadata.allocate_producer_id_block(self._block_size)
                except OSError as exc:
                    # Kafka answers a producer id block it cannot get with a retriable error.
                    log.error("cannot reserve producer ids: %s", exc)
                    raise KafkaError(
                        f"cannot reserve producer ids: {exc}",
                        ErrorCode.coordinator_load_in_progress,
                    ) from exc
                self._next, self._end = first, first + self._block_size
            pid = self._next
            self._next += 1
            return pid
