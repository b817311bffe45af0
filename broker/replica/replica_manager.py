"""ReplicaManager: the partitions this broker hosts, their roles, and the produce path.

Roles arrive as :class:`PartitionRole` lists, Kafka's ``becomeLeaderOrFollower``: in a
cluster from the controller's LeaderAndIsr requests, on a standalone broker from the local
leadership (this broker leads everything). Leaders serve produce and fetch; followers are
handed to the replica fetchers (:class:`FollowerFetching`), which copy the leader's log.
``acks=all`` produces wait in the produce purgatory until the high watermark passes their
offsets; fetches wait in the fetch purgatory for data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from broker.metrics.stats import BrokerTopicStats
from broker.open_files import exhausted_message, is_exhausted
from broker.replica.partition import IsrUpdater, Partition
from broker.replica.purgatory import Purgatory
from broker.replica.replication_quota import ReplicationQuota
from cluster.metadata import (
    BrokersChanged,
    MetadataEvent,
    PartitionState,
    TopicConfigChanged,
    TopicDeleted,
    TopicMetadata,
)
from protocol.errors import KafkaError
from storage.clock import Clock
from storage.log import Log
from storage.log_config import LogConfig
from storage.log_manager import LogManager
from storage.log_validator import RecordValidationError

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionRole:
    """One partition's leadership as the controller decided it (a LeaderAndIsr entry)."""

    topic: str
    topic_id: uuid.UUID
    partition: int
    state: PartitionState
    is_new: bool = False


@dataclass(slots=True)
class ProduceResult:
    error: ErrorCode
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None
    #: KIP-467: (batch_index, message) of each record that made the batch invalid.
    record_errors: tuple[tuple[int, str | None], ...] = ()
    partition: Partition | None = None
    #: acks=all: the offset the high watermark must reach (last offset + 1).
    required_offset: int = -1


class FollowerFetching(Protocol):
    """The replica fetchers: copy leaders' logs into local follower partitions."""

    def add_partitions(self, partitions: list[Partition]) -> None: ...

    def remove_partitions(self, keys: Iterable[TopicPartition]) -> None: ...


RoleListener = Callable[[Partition, bool], None]
TopicConfigSource = Callable[[str], dict[str, str] | None]


class ReplicaManager:
    """Owns the Partition objects of this broker and moves bytes in and out of them."""

    def __init__(
        self,
        broker_id: int,
        log_manager: LogManager,
        clock: Clock,
        default_config: LogConfig,
        *,
        topic_configs: TopicConfigSource | None = None,
        replica_lag_time_max_ms: int = 30_000,
        isr_updater: IsrUpdater | None = None,
        follower_fetching: FollowerFetching | None = None,
    ) -> None:
        self.broker_id = broker_id
        self.log_manager = log_manager
        self.clock = clock
        self.default_config = default_config
        self.topic_configs = topic_configs
        self.replica_lag_time_max_ms = replica_lag_time_max_ms
        self.isr_updater = isr_updater
        self.follower_fetching = follower_fetching
        self.partitions: dict[TopicPartition, Partition] = {}
        #: BrokerTopicMetrics and ISR change counters (read by the metrics collector).
        self.topic_stats = BrokerTopicStats()
        self.fetch_purgatory = Purgatory("Fetch")
        self.produce_purgatory = Purgatory("Produce")
        self._needs_flush: set[Partition] = set()
        self._role_listeners: list[RoleListener] = []
        self.controller_epoch = -1
        #: Why the last local log could not be created (standalone creation rolls back).
        self.last_creation_error: str | None = None
        #: Whether a follower's broker may join an ISR (cluster: alive in the metadata).
        self.replica_eligible: Callable[[int], bool] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Replication throttles (KIP-73), bounded by dynamic broker configs when set.
        def monotonic_ms() -> int:
            return int(clock.monotonic() * 1000)

        self.leader_throttle = ReplicationQuota(broker_id, monotonic_ms)
        self.follower_throttle = ReplicationQuota(broker_id, monotonic_ms)

    # -- configuration ---------------------------------------------------------------

    def log_config_for(self, topic: str) -> LogConfig:
        overrides = self.topic_configs(topic) if self.topic_configs is not None else None
        if not overrides:
            return self.default_config
        return LogConfig.from_topic_overrides(self.default_config, overrides)

    def topic_log_config(self, topic: TopicMetadata) -> LogConfig:
        if not topic.configs:
            return self.default_config
        return LogConfig.from_topic_overrides(self.default_config, topic.configs)

    def update_topic_config(self, topic: TopicMetadata) -> None:
        self.log_manager.update_config(topic.name, self.topic_log_config(topic))

    def reconfigure_default_log_config(self, defaults: LogConfig) -> None:
        """New broker-level log defaults (dynamic broker configs): every log gets them under
        its topic's overrides, as Kafka's DynamicLogConfig.updateLogsConfig."""
        self.default_config = defaults
        self.log_manager.defaults = defaults
        for topic in sorted({log.topic for log in self.log_manager.logs()}):
            try:
                config = self.log_config_for(topic)
            except KafkaError as exc:  # an override that no longer validates: keep the old
                log.error("log config of topic %s not updated: %s", topic, exc)
                continue
            self.log_manager.update_config(topic, config)

    def on_metadata_event(self, event: MetadataEvent) -> None:
        if isinstance(event, TopicConfigChanged):
            self.update_topic_config(event.topic)
        elif isinstance(event, BrokersChanged):
            # A broker that went away no longer holds back any high watermark.
            for partition in self.leader_partitions():
                partition.maybe_increment_high_watermark()
        elif isinstance(event, TopicDeleted):
            self.topic_stats.remove_topic(event.name)  # its series leave /metrics, as in Kafka

    def add_role_listener(self, listener: RoleListener) -> None:
        """``listener(partition, is_leader)`` after each leadership change of a partition."""
        self._role_listeners.append(listener)

    # -- roles -----------------------------------------------------------------------

    def become_leader_or_follower(
        self, controller_epoch: int, roles: Iterable[PartitionRole]
    ) -> dict[TopicPartition, ErrorCode]:
        """Apply LeaderAndIsr: make this broker leader or follower of each partition.

        A role with an older leader epoch than the partition already has is refused with
        STALE_CONTROLLER_EPOCH (whole request) or FENCED_LEADER_EPOCH (that partition).
        """
        errors: dict[TopicPartition, ErrorCode] = {}
        if controller_epoch < self.controller_epoch:
            raise KafkaError(
                f"controller epoch {controller_epoch} is older than {self.controller_epoch}",
                ErrorCode.stale_controller_epoch,
            )
        self.controller_epoch = controller_epoch
        new_followers: list[Partition] = []
        changed: list[tuple[Partition, bool]] = []
        stop_fetching: list[TopicPartition] = []
        for role in roles:
            key = (role.topic, role.partition)
            state = role.state
            if self.broker_id not in state.replicas:
                errors[key] = ErrorCode.unknown_topic_or_partition
                continue
            partition = self.partitions.get(key)
            if partition is not None and state.leader_epoch < partition.leader_epoch:
                log.info(
                    "ignoring LeaderAndIsr for %s at leader epoch %d < %d",
                    partition.name,
                    state.leader_epoch,
                    partition.leader_epoch,
                )
                errors[key] = ErrorCode.fenced_leader_epoch
                continue
            if partition is None:
                try:
                    partition = self._create_partition(role)
                except (KafkaError, OSError) as exc:
                    # Kafka's makeLeaders/makeFollowers: this partition answers
                    # KAFKA_STORAGE_ERROR; the others of the request go on.
                    self.last_creation_error = _why(exc)
                    log.error("cannot create the log of %s-%d: %s", *key, self.last_creation_error)
                    errors[key] = ErrorCode.kafka_storage_error
                    continue
            if state.leader == self.broker_id:
                was_leader = partition.is_leader
                new_epoch = partition.make_leader(state)
                stop_fetching.append(key)
                if new_epoch:
                    log.info(
                        "%s: leader at epoch %d, ISR %s, log end offset %d",
                        partition.name,
                        state.leader_epoch,
                        state.isr,
                        partition.log_end_offset,
                    )
                if not was_leader or new_epoch:
                    changed.append((partition, True))
            else:
                if partition.make_follower(state):
                    log.info(
                        "%s: follower of %d at epoch %d",
                        partition.name,
                        state.leader,
                        state.leader_epoch,
                    )
                    new_followers.append(partition)
                    changed.append((partition, False))
            errors[key] = ErrorCode.none
            self.fetch_purgatory.notify(*key)
            self.produce_purgatory.notify(*key)
        fetching = self.follower_fetching
        if fetching is not None:
            if stop_fetching:
                fetching.remove_partitions(stop_fetching)
            if new_followers:
                fetching.remove_partitions([(p.topic, p.partition) for p in new_followers])
                fetching.add_partitions(new_followers)
        for partition, is_leader in changed:
            for listener in self._role_listeners:
                try:
                    listener(partition, is_leader)
                except Exception:
                    log.exception("role listener failed for %s", partition.name)
        self._schedule_epoch_checkpoints()
        return errors

    def _schedule_epoch_checkpoints(self) -> None:
        """New leaders' epoch entries go to disk in a worker thread (callers that must
        answer only once they are durable await :meth:`checkpoint_leader_epochs`)."""
        if not any(p.log.leader_epoch_cache.dirty for p in self.partitions.values()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (tests, tools): write them now
            _checkpoint_epochs([p.log for p in self.partitions.values()])
            return
        task = loop.create_task(self.checkpoint_leader_epochs(), name="epoch-checkpoints")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _create_partition(self, role: PartitionRole) -> Partition:
        config = self.log_config_for(role.topic)
        plog = self.log_manager.get_or_create_log(role.topic, role.partition, role.topic_id, config)
        if plog.config != config:
            plog.config = config  # loaded before the topic's configs were known
        partition = Partition(
            role.topic,
            role.partition,
            role.topic_id,
            plog,
            self.broker_id,
            self.clock.milliseconds,
            isr_updater=self.isr_updater,
            replica_lag_time_max_ms=self.replica_lag_time_max_ms,
            on_high_watermark=self._on_high_watermark,
            replica_eligible=self.replica_eligible,
            isr_stats=self.topic_stats,
        )
        self.partitions[(role.topic, role.partition)] = partition
        return partition

    def _on_high_watermark(self, partition: Partition) -> None:
        self.fetch_purgatory.notify(partition.topic, partition.partition)
        self.produce_purgatory.notify(partition.topic, partition.partition)

    def stop_replicas(self, keys: Iterable[TopicPartition], delete: bool) -> list[TopicPartition]:
        """StopReplica: stop serving and fetching these partitions; ``delete`` removes their
        logs (renamed for deletion at once, files removed in the background)."""
        keys = list(keys)
        if self.follower_fetching is not None:
            self.follower_fetching.remove_partitions(keys)
        stopped = []
        for key in keys:
            partition = self.partitions.pop(key, None)
            if partition is not None:
                stopped.append(key)
                for listener in self._role_listeners:
                    try:
                        listener(partition, False)
                    except Exception:
                        log.exception("role listener failed for %s", partition.name)
            if delete:
                self.log_manager.rename_for_deletion(*key)
            self.fetch_purgatory.notify(*key)
            self.produce_purgatory.notify(*key)
        return stopped

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    def leader_partitions(self) -> list[Partition]:
        return [p for p in self.partitions.values() if p.is_leader]

    # -- produce ---------------------------------------------------------------------

    def append_to_leader(self, topic: str, index: int, data: bytes, acks: int) -> ProduceResult:
        """Validate and append one partition's batches; flushing is the caller's job."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return ProduceResult(ErrorCode.unknown_topic_or_partition)
        try:
            appended = partition.append_records_to_leader(data, acks)
        except RecordValidationError as exc:
            return ProduceResult(
                exc.error_code,
                message=str(exc) or None,
                record_errors=exc.record_errors,
                log_start_offset=partition.log.log_start_offset,
            )
        except KafkaError as exc:
            return ProduceResult(exc.error_code, message=str(exc) or None)
        info = appended.info
        if not info.duplicate:
            self.topic_stats.record_produce(topic, info.record_count, len(data))
        self.fetch_purgatory.notify(topic, index)  # followers wait for new data
        if info.needs_flush:
            self._needs_flush.add(partition)
        return ProduceResult(
            ErrorCode.none,
            base_offset=info.first_offset,
            log_append_time=info.log_append_time,
            log_start_offset=info.log_start_offset,
            partition=partition,
            required_offset=appended.required_offset,
        )

    async def wait_for_replication(self, results: list[ProduceResult], timeout_ms: int) -> int:
        """acks=all: park until every appended partition's high watermark reaches its offsets
        (Kafka's DelayedProduce); results that cannot complete get their error. Returns the
        nanoseconds spent parked in the produce purgatory (RequestMetrics' remote time)."""
        deadline = self.clock.monotonic() + max(0, timeout_ms) / 1000.0
        parked_ns = 0
        while True:
            waiting: list[tuple[str, int]] = []
            for r in results:
                p = r.partition
                if r.error != ErrorCode.none or p is None:
                    continue
                done, error = self._replication_done(p, r.required_offset)
                if not done:
                    waiting.append((p.topic, p.partition))
                    continue
                r.partition = None
                if error != ErrorCode.none:
                    r.error = error
                    r.message = None
            if not waiting:
                return parked_ns
            left = deadline - self.clock.monotonic()
            woken = False
            if left > 0:
                parked = time.monotonic_ns()
                woken = await self.produce_purgatory.wait(waiting, left)
                parked_ns += time.monotonic_ns() - parked
            if not woken:
                if self.clock.monotonic() < deadline:
                    continue
                for r in results:
                    if r.partition is not None and r.error == ErrorCode.none:
                        done, error = self._replication_done(r.partition, r.required_offset)
                        r.error = error if done else ErrorCode.request_timed_out
                        r.partition = None
                return parked_ns

    def _replication_done(
        self, partition: Partition, required_offset: int
    ) -> tuple[bool, ErrorCode]:
        if self.partitions.get((partition.topic, partition.partition)) is not partition:
            # Stopped here (StopReplica, e.g. a reassignment moved the leader away without a
            # LeaderAndIsr to this broker): answer now, as Kafka completes delayed produces
            # of stopped partitions, instead of at the request timeout.
            return True, ErrorCode.not_leader_or_follower
        return partition.check_enough_replicas_reach_offset(required_offset)

    def append_internal(
        self, topic: str, index: int, data: bytes, *, coordinator_epoch: int | None = None
    ) -> tuple[int, int]:
        """Append batches built by the broker itself (coordinators' internal topics).

        Skips client-facing validation but assigns offsets and the leader epoch like any
        leader append; raises KafkaError (e.g. NOT_LEADER_OR_FOLLOWER). Flushing follows
        the log's flush policy through :meth:`take_flush_requests`. Returns the first and
        last offsets. ``coordinator_epoch`` is set for transaction markers.
        """
        partition = self.partitions.get((topic, index))
        if partition is None:
            raise KafkaError(
                f"{topic}-{index} is not hosted here", ErrorCode.unknown_topic_or_partition
            )
        info = partition.append_internal(data, coordinator_epoch)
        self.fetch_purgatory.notify(topic, index)
        if info.needs_flush:
            self._needs_flush.add(partition)
        return info.first_offset, info.last_offset

    def take_flush_requests(self) -> list[Partition]:
        pending = list(self._needs_flush)
        self._needs_flush.clear()
        return pending

    def request_flush(self, partition: Partition) -> None:
        self._needs_flush.add(partition)

    async def flush_partitions(self, partitions: Iterable[Partition]) -> set[TopicPartition]:
        """fsync the given logs off the event loop (log.flush.interval.* policy); returns
        the partitions whose flush failed (their log dir is offline now)."""
        logs = [p.log for p in partitions]
        if not logs:
            return set()
        return await asyncio.to_thread(_flush_all, logs)

    # -- follower logs (called by the replica fetchers) ---------------------------------

    async def truncate_follower(self, replica: Any, offset: int) -> None:
        """Truncate a follower's log (off the loop; the cleaner pauses meanwhile)."""
        partition = self.partitions.get((replica.topic, replica.partition))
        if partition is None or partition.is_leader:
            return
        await asyncio.to_thread(self._truncate_and_checkpoint, partition, offset)

    def _truncate_and_checkpoint(self, partition: Partition, offset: int) -> None:
        """Worker thread: truncate, then persist the (possibly truncated) epoch cache."""
        self.log_manager.truncate_to(partition.topic, partition.partition, offset)
        partition.log.checkpoint_leader_epochs()

    async def checkpoint_leader_epochs(self) -> None:
        """Write the leader-epoch checkpoints that changed (new leaders' epoch starts) in a
        worker thread: an fsync each, too slow for the loop when many partitions move."""
        logs = [p.log for p in self.partitions.values() if p.log.leader_epoch_cache.dirty]
        if logs:
            await asyncio.to_thread(_checkpoint_epochs, logs)

    async def reset_follower(self, replica: Any, start_offset: int) -> None:
        partition = self.partitions.get((replica.topic, replica.partition))
        if partition is None or partition.is_leader:
            return
        await asyncio.to_thread(self._reset_and_checkpoint, partition, start_offset)

    def _reset_and_checkpoint(self, partition: Partition, start_offset: int) -> None:
        self.log_manager.truncate_fully_and_start_at(
            partition.topic, partition.partition, start_offset
        )
        partition.log.checkpoint_leader_epochs()

    async def after_follower_append(self, replica: Any, info: Any) -> None:
        """Flush per the flush policy, as a leader append would; checkpoint a new epoch."""
        partition = self.partitions.get((replica.topic, replica.partition))
        if partition is None:
            return
        size = getattr(info, "valid_bytes", 0) if info is not None else 0
        if size:
            self.topic_stats.record_replication_in(replica.topic, size)
        if info is not None and getattr(info, "needs_flush", False):
            await self.flush_partitions([partition])  # writes a changed epoch cache first
        elif partition.log.leader_epoch_cache.dirty:
            await asyncio.to_thread(partition.log.checkpoint_leader_epochs)

    # -- ISR maintenance -------------------------------------------------------------

    def maybe_shrink_isrs(self) -> int:
        """Kafka's isr-expiration task: drop lagging followers from leaders' ISRs."""
        return sum(1 for p in self.leader_partitions() if p.maybe_shrink_isr())

    def shutdown_partitions(self) -> None:
        self.fetch_purgatory.notify_all()
        self.produce_purgatory.notify_all()

    # -- failed log dirs -------------------------------------------------------------
    def handle_log_dir_failure(self, log_dir: Path) -> list[Partition]:
        """Kafka's handleLogDirFailure: the partitions whose log is in ``log_dir`` are
        offline (their logs answer KAFKA_STORAGE_ERROR); wake requests waiting on them.
        Returns them: in cluster mode they are reported to the controller."""
        offline = [p for p in self.partitions.values() if p.log.directory.parent == log_dir]
        for p in offline:
            self.fetch_purgatory.notify(p.topic, p.partition)
            self.produce_purgatory.notify(p.topic, p.partition)
        return offline

    def follower_throttled(self, topic: str, index: int) -> bool:
        """Whether this broker's follower of the partition is listed in its topic's
        follower.replication.throttled.replicas (KIP-73)."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return False
        listed = partition.log.config.follower_replication_throttled_replicas
        return self.follower_throttle.throttles(listed, index)

    def is_offline(self, topic: str, index: int) -> bool:
        """True when this broker's replica of the partition is in an offline log dir."""
        partition = self.partitions.get((topic, index))
        return partition is not None and partition.log.offline


def _why(exc: BaseException) -> str:
    if is_exhausted(exc):
        return exhausted_message("creating a log")
    return str(exc)


def _flush_all(logs: list[Log]) -> set[TopicPartition]:
    failed: set[TopicPartition] = set()
    for plog in logs:
        try:
            plog.flush()
        except KafkaError:
            failed.add((plog.topic, plog.partition))
    return failed


def _checkpoint_epochs(logs: list[Log]) -> None:
    for plog in logs:
        plog.checkpoint_leader_epochs()
