"""ReplicaManager: the partitions this broker hosts and the produce/fetch paths into them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kio.schema.errors import ErrorCode

from broker.replica.partition import Partition
from broker.replica.purgatory import FetchPurgatory
from cluster.metadata import TopicMetadata
from protocol.errors import KafkaError
from storage.clock import Clock
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager
from storage.log_validator import (
    RecordValidationError,
    recompress_if_needed,
    validate_produce_records,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ProduceResult:
    error: ErrorCode
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None


class ReplicaManager:
    """Owns the Partition objects of this broker and moves bytes in and out of them."""

    def __init__(
        self,
        broker_id: int,
        log_manager: LogManager,
        clock: Clock,
        default_config: LogConfig,
    ) -> None:
        self.broker_id = broker_id
        self.log_manager = log_manager
        self.clock = clock
        self.default_config = default_config
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.purgatory = FetchPurgatory()
        self._needs_flush: set[Partition] = set()

    # -- partition lifecycle -------------------------------------------------
    def topic_log_config(self, topic: TopicMetadata) -> LogConfig:
        if not topic.configs:
            return self.default_config
        return LogConfig.from_topic_overrides(self.default_config, topic.configs)

    def ensure_topic(self, topic: TopicMetadata) -> list[Partition]:
        """Create or refresh local replicas of every partition of ``topic`` this broker hosts."""
        config = self.topic_log_config(topic)
        created: list[Partition] = []
        for index, state in topic.partitions.items():
            if self.broker_id not in state.replicas:
                continue
            key = (topic.name, index)
            existing = self.partitions.get(key)
            if existing is not None:
                existing.leader_id = state.leader
                existing.leader_epoch = state.leader_epoch
                existing.replicas = list(state.replicas)
                existing.isr = list(state.isr)
                continue
            plog = self.log_manager.get_or_create_log(topic.name, index, topic.topic_id, config)
            partition = Partition(
                topic.name,
                index,
                topic.topic_id,
                plog,
                self.broker_id,
                state.leader,
                state.leader_epoch,
                list(state.replicas),
                list(state.isr),
            )
            if partition.is_leader:
                partition.maybe_advance_high_watermark()
            self.partitions[key] = partition
            created.append(partition)
        return created

    def update_topic_config(self, topic: TopicMetadata) -> None:
        self.log_manager.update_config(topic.name, self.topic_log_config(topic))

    def remove_topic(self, name: str) -> None:
        self.remove_partitions(name, [k[1] for k in self.partitions if k[0] == name])

    def remove_partitions(self, topic: str, indexes: Iterable[int]) -> None:
        """Drop these local replicas and their logs (deletion, or a creation rolled back)."""
        for index in indexes:
            self.partitions.pop((topic, index), None)
            self.log_manager.rename_for_deletion(topic, index)
            self.purgatory.notify(topic, index)

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    # -- produce -------------------------------------------------------------
    def append_to_leader(self, topic: str, index: int, data: bytes, acks: int) -> ProduceResult:
        """Validate and append one partition's batches; flushing is the caller's job."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return ProduceResult(ErrorCode.unknown_topic_or_partition)
        if not partition.is_leader:
            return ProduceResult(ErrorCode.not_leader_or_follower)
        plog = partition.log
        config = plog.config
        if acks == -1 and len(partition.isr) < config.min_insync_replicas:
            return ProduceResult(
                ErrorCode.not_enough_replicas,
                message=f"ISR {partition.isr} smaller than min.insync.replicas "
                f"{config.min_insync_replicas}",
            )
        try:
            validated = validate_produce_records(data, config, self.clock.milliseconds())
            # compression.type != producer: batches in another codec are re-encoded.
            payload = recompress_if_needed(data, validated, config)
            # The validator's headers describe the payload unless it was re-encoded.
            headers = (
                list(zip(validated.positions, validated.headers, strict=True))
                if payload is data
                else None
            )
            info = plog.append_as_leader(
                bytearray(payload), partition.leader_epoch, headers=headers
            )
        except RecordValidationError as exc:
            log.info("rejected produce to %s: %s", partition.name, exc)
            return ProduceResult(exc.error_code, message=str(exc))
        except KafkaError as exc:
            return ProduceResult(exc.error_code, message=str(exc) or None)
        if partition.maybe_advance_high_watermark():
            self.purgatory.notify(topic, index)
        result = ProduceResult(
            ErrorCode.none,
            base_offset=info.first_offset,
            log_append_time=info.log_append_time,
            log_start_offset=info.log_start_offset,
        )
        if info.needs_flush:
            self._needs_flush.add(partition)
        return result

    def append_internal(self, topic: str, index: int, data: bytes) -> tuple[int, int]:
        """Append batches built by the broker itself (coordinators' internal topics).

        Skips client-facing validation but assigns offsets and the leader epoch like any
        leader append; raises KafkaError (e.g. NOT_LEADER_OR_FOLLOWER). Flushing follows
        the log's flush policy through :meth:`take_flush_requests`. Returns the first and
        last offsets.
        """
        partition = self.partitions.get((topic, index))
        if partition is None:
            raise KafkaError(
                f"{topic}-{index} is not hosted here", ErrorCode.unknown_topic_or_partition
            )
        partition.require_leader()
        info = partition.log.append_as_leader(
            bytearray(data), partition.leader_epoch, from_client=False
        )
        if partition.maybe_advance_high_watermark():
            self.purgatory.notify(topic, index)
        if info.needs_flush:
            self._needs_flush.add(partition)
        return info.first_offset, info.last_offset

    def take_flush_requests(self) -> list[Partition]:
        pending = list(self._needs_flush)
        self._needs_flush.clear()
        return pending

    async def flush_partitions(self, partitions: Iterable[Partition]) -> set[tuple[str, int]]:
        """fsync the given logs off the event loop (log.flush.interval.* policy); returns
        the partitions whose flush failed (their log dir is offline now)."""
        logs = [p.log for p in partitions]
        if not logs:
            return set()
        return await asyncio.to_thread(_flush_all, logs)

    def shutdown_partitions(self) -> None:
        self.purgatory.notify_all()

    # -- failed log dirs -------------------------------------------------------------
    def handle_log_dir_failure(self, log_dir: Path) -> list[Partition]:
        """Kafka's handleLogDirFailure: the partitions whose log is in ``log_dir`` are
        offline (their logs answer KAFKA_STORAGE_ERROR); wake fetches waiting on them.
        Returns them: in cluster mode they are reported to the controller."""
        offline = [p for p in self.partitions.values() if p.log.directory.parent == log_dir]
        for p in offline:
            self.purgatory.notify(p.topic, p.partition)
        return offline

    def is_offline(self, topic: str, index: int) -> bool:
        """True when this broker's replica of the partition is in an offline log dir."""
        partition = self.partitions.get((topic, index))
        return partition is not None and partition.log.offline


def _flush_all(logs: list[Log]) -> set[tuple[str, int]]:
    failed: set[tuple[str, int]] = set()
    for plog in logs:
        try:
            plog.flush()
        except KafkaError:
            failed.add((plog.topic, plog.partition))
    return failed
