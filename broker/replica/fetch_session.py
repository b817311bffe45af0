"""Incremental fetch sessions (KIP-227): the broker remembers a consumer's partitions.

Epoch rules from the KIP: session 0 / epoch -1 is a sessionless full fetch;
session 0 / epoch 0 asks for a new session; (id, epoch>0) is an incremental
fetch whose epoch must match; (id, -1) closes the session; (id, 0) closes it
and opens a new one. Incremental responses carry only partitions with news.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from storage.clock import Clock

INITIAL_EPOCH: Final = 0
FINAL_EPOCH: Final = -1
INVALID_SESSION_ID: Final = 0

# (topic name or topic id string, partition)
PartitionKey = tuple[str, int]


@dataclass(slots=True)
class CachedPartition:
    """What the session knows of one partition: the client's position and what it was told."""

    topic: str | None
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1


@dataclass(slots=True)
class FetchSession:
    session_id: int
    epoch: int
    partitions: OrderedDict[PartitionKey, CachedPartition] = field(default_factory=OrderedDict)
    last_used: float = 0.0

    def next_epoch(self) -> None:
        self.epoch = self.epoch + 1 if self.epoch < 2**31 - 1 else 1


class FetchSessionCache:
    """Bounded cache of sessions (max.incremental.fetch.session.cache.slots).

    When full, the session idle the longest is evicted if it has been idle for
    at least ``min_eviction_idle_s``; otherwise no session is created and the
    client gets session id 0 (a full, sessionless response), as in Kafka.
    """

    def __init__(self, max_slots: int, clock: Clock, min_eviction_idle_s: float = 120.0) -> None:
        self.max_slots = max_slots
        self.clock = clock
        self.min_eviction_idle_s = min_eviction_idle_s
        self._sessions: dict[int, FetchSession] = {}
        self._rng = random.Random()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_used = self.clock.monotonic()
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def create(self, partitions: OrderedDict[PartitionKey, CachedPartition]) -> FetchSession | None:
        if self.max_slots <= 0:
            return None
        now = self.clock.monotonic()
        if len(self._sessions) >= self.max_slots:
            oldest = min(self._sessions.values(), key=lambda s: s.last_used)
            if now - oldest.last_used < self.min_eviction_idle_s:
                return None
            del self._sessions[oldest.session_id]
        session_id = 0
        while session_id == INVALID_SESSION_ID or session_id in self._sessions:
            session_id = self._rng.randint(1, 2**31 - 1)
        session = FetchSession(session_id, 1, partitions, now)
        self._sessions[session_id] = session
        return session
