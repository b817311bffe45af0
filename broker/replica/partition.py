"""A partition replica hosted by this broker: its log, leader epoch and watermarks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from protocol.errors import KafkaError

if TYPE_CHECKING:
    from storage.log import Log

READ_UNCOMMITTED = 0
READ_COMMITTED = 1


@dataclass(slots=True)
class FetchResult:
    records: bytes
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: list[Any] | None


class Partition:
    """Leader (or, later, follower) replica of one topic partition on this broker.

    On a single node the ISR is this broker alone, so the high watermark is
    the log end offset after each append.
    """

    __slots__ = (
        "broker_id",
        "isr",
        "leader_epoch",
        "leader_id",
        "log",
        "name",
        "partition",
        "replicas",
        "topic",
        "topic_id",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        topic_id: uuid.UUID,
        log: Log,
        broker_id: int,
        leader_id: int,
        leader_epoch: int,
        replicas: list[int],
        isr: list[int],
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.log = log
        self.broker_id = broker_id
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.replicas = replicas
        self.isr = isr
        self.name = f"{topic}-{partition}"

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.broker_id

    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """Validate a client's current_leader_epoch (-1 means not given)."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return ErrorCode.none
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        return ErrorCode.unknown_leader_epoch

    def require_leader(self) -> None:
        if not self.is_leader:
            raise KafkaError(
                f"broker {self.broker_id} does not lead {self.name}",
                ErrorCode.not_leader_or_follower,
            )

    def maybe_advance_high_watermark(self) -> bool:
        """Single node: HW follows the LEO. Returns True when it moved."""
        log = self.log
        leo = log.log_end_offset
        if leo != log.high_watermark:
            log.update_high_watermark(leo)
            return True
        return False

    def read(
        self, fetch_offset: int, max_bytes: int, isolation_level: int, min_one_message: bool
    ) -> FetchResult:
        log = self.log
        hw = log.high_watermark
        lso = log.last_stable_offset
        upper = lso if isolation_level == READ_COMMITTED else hw
        data = log.read(fetch_offset, max_bytes, upper, min_one_message)
        aborted: list[Any] | None = None
        if isolation_level == READ_COMMITTED:
            aborted = log.collect_aborted_transactions(fetch_offset, upper) if data.records else []
        return FetchResult(data.records, hw, lso, log.log_start_offset, aborted)
