"""LogManager: every partition log under ``log.dirs`` (Kafka's LogManager).

Each log dir holds ``meta.properties`` (``version=0``, ``broker.id``,
``cluster.id``), ``recovery-point-offset-checkpoint``,
``log-start-offset-checkpoint``, the ``.kafka_cleanshutdown`` marker (written
by ``shutdown``, removed once loaded) and one ``<topic>-<partition>``
directory per log. A deleted partition is first renamed
``<topic>-<partition>.<uuid hex>-delete`` and removed later.

Failures: an I/O error on a log dir (ENOSPC, EIO, ...) is reported to the
``LogDirFailureChannel``: the dir goes offline, its logs are closed without
writing more and answer KAFKA_STORAGE_ERROR, background jobs and shutdown skip
it (it gets no clean-shutdown marker, so it is recovered at the next start).
See ``storage.log_dir_failure``.

Threading: ``get_log``, ``get_or_create_log``, ``logs``, ``rename_for_deletion``
and ``describe_log_dirs`` run on the loop thread; ``load``, ``flush_dirty_logs``,
``checkpoint_*``, ``cleanup_logs``, ``delete_pending_dirs`` and ``shutdown``
block and belong in a worker thread. A lock guards the partition map; the logs
guard themselves (see ``storage.log``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from protocol.errors import ErrorCode, KafkaError
from storage.checkpoint import OffsetCheckpointFile, fsync_dir, write_atomically
from storage.clock import Clock
from storage.log import Log, parse_partition_dir_name
from storage.log_config import LogConfig
from storage.log_dir_failure import KafkaStorageError, LogDirFailureChannel, is_disk_failure
from storage.log_loader import load_log

if TYPE_CHECKING:
    from storage.cleaner.log_cleaner import CleanerConfig, LogCleaner

META_PROPERTIES: Final = "meta.properties"
CLEAN_SHUTDOWN_MARKER: Final = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT: Final = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT: Final = "log-start-offset-checkpoint"
HIGH_WATERMARK_CHECKPOINT: Final = "replication-offset-checkpoint"
DELETE_DIR_SUFFIX: Final = "-delete"
_DELETE_DIR = re.compile(r"^(.+)-(\d+)\.([0-9a-f]{32})-delete$")

TopicPartition = tuple[str, int]
_LogValue = Callable[[Log], int]


@dataclass(frozen=True, slots=True)
class PartitionDirInfo:
    topic: str
    partition: int
    size: int
    offset_lag: int = 0
    is_future: bool = False


@dataclass(slots=True)
class LogDirInfo:
    path: Path
    error_code: ErrorCode = ErrorCode.none
    total_bytes: int = -1
    usable_bytes: int = -1
    partitions: list[PartitionDirInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _LoadJob:
    tp: TopicPartition
    path: Path
    config: LogConfig
    log_start_offset: int
    recovery_point: int
    clean: bool


def read_properties(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def write_meta_properties(path: Path, broker_id: int, cluster_id: str | None) -> None:
    lines = ["#", "#" + time.strftime("%a %b %d %H:%M:%S %Z %Y"), "version=0"]
    lines.append(f"broker.id={broker_id}")
    if cluster_id is not None:
        lines.append(f"cluster.id={cluster_id}")
    write_atomically(path, ("\n".join(lines) + "\n").encode())


class LogManager:
    """All partition logs of this broker. See the module docstring for threading."""

    def __init__(
        self,
        log_dirs: list[Path],
        defaults: LogConfig,
        clock: Clock,
        recovery_threads: int = 1,
        *,
        producer_id_expiration_ms: int = 86_400_000,
        failure_channel: LogDirFailureChannel | None = None,
    ) -> None:
        if not log_dirs:
            raise ValueError("at least one log dir is required")
        self.log_dirs = [Path(d) for d in log_dirs]
        self.failure_channel = failure_channel or LogDirFailureChannel()
        self.failure_channel.add_listener(self._close_logs_of_failed_dir)
        self.defaults = defaults
        self.clock = clock
        self.recovery_threads = max(1, recovery_threads)
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self._lock = threading.Lock()
        self._logs: dict[TopicPartition, Log] = {}
        self._log_dir_of: dict[TopicPartition, Path] = {}
        self.cleaner: LogCleaner | None = None

    # -- loading -------------------------------------------------------------------------

    def load(
        self,
        topic_configs: Mapping[str, LogConfig] | None = None,
        *,
        broker_id: int = 0,
        cluster_id: str | None = None,
    ) -> None:
        """Open every log in every log dir (recovering after an unclean shutdown)."""
        configs = topic_configs or {}
        for log_dir in self.log_dirs:
            try:
                self._load_dir(log_dir, configs, broker_id, cluster_id)
            except OSError as exc:
                if not is_disk_failure(exc):
                    raise  # out of descriptors: the broker says how to raise the limit
                # Kafka: a dir that cannot be loaded is offline; the others still serve.
                self.failure_channel.maybe_add_offline_log_dir(log_dir, "loading logs", exc)
        if not self.live_log_dirs:
            raise KafkaStorageError(
                "all log dirs failed to load: "
                + "; ".join(f"{d}: {r}" for d, r in self.failure_channel.offline_dirs().items())
            )

    def _load_dir(
        self,
        log_dir: Path,
        configs: Mapping[str, LogConfig],
        broker_id: int,
        cluster_id: str | None,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self._check_meta_properties(log_dir, broker_id, cluster_id)
        marker = log_dir / CLEAN_SHUTDOWN_MARKER
        clean = marker.exists()
        recovery_points = self._read_checkpoint(log_dir / RECOVERY_POINT_CHECKPOINT)
        start_offsets = self._read_checkpoint(log_dir / LOG_START_OFFSET_CHECKPOINT)
        high_watermarks = self._read_checkpoint(log_dir / HIGH_WATERMARK_CHECKPOINT)
        jobs: list[_LoadJob] = []
        for child in sorted(log_dir.iterdir()):
            if not child.is_dir():
                continue
            if child.name.endswith(DELETE_DIR_SUFFIX):
                shutil.rmtree(child, ignore_errors=True)
                continue
            tp = parse_partition_dir_name(child.name)
            if tp is not None:
                jobs.append(
                    _LoadJob(
                        tp,
                        child,
                        configs.get(tp[0], self.defaults),
                        start_offsets.get(tp, 0),
                        recovery_points.get(tp, 0),
                        clean,
                    )
                )
        loaded: list[tuple[TopicPartition, Log]] = []
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.recovery_threads) as pool:
            for future in [pool.submit(self._load_one, job) for job in jobs]:
                try:
                    loaded.append(future.result())
                except BaseException as exc:
                    failure = failure or exc
        if failure is not None:
            for _, log in loaded:  # release what did load before giving up on this dir
                log.close_handlers()
            raise failure
        with self._lock:
            for tp, log in loaded:
                # The checkpointed HW, else the log start (never the flushed end: those
                # records may not be committed). The replica manager moves it on from
                # here (a leader: to the LEO once its ISR has it).
                hw = high_watermarks.get(tp, 0)
                log.update_high_watermark(min(hw, log.log_end_offset))
                if tp in self._logs:
                    raise KafkaError(
                        f"duplicate log directories for {tp[0]}-{tp[1]}",
                        ErrorCode.kafka_storage_error,
                    )
                log.on_io_error = self._log_io_error
                self._logs[tp] = log
                self._log_dir_of[tp] = log_dir
        marker.unlink(missing_ok=True)
        fsync_dir(log_dir)

    def _load_one(self, job: _LoadJob) -> tuple[TopicPartition, Log]:
        log = load_log(
            job.path,
            job.config,
            self.clock,
            log_start_offset=job.log_start_offset,
            recovery_point=job.recovery_point,
            had_clean_shutdown=job.clean,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
        )
        return job.tp, log

    def _check_meta_properties(self, log_dir: Path, broker_id: int, cluster_id: str | None) -> None:
        path = log_dir / META_PROPERTIES
        if not path.exists():
            write_meta_properties(path, broker_id, cluster_id)
            return
        props = read_properties(path)
        found = props.get("cluster.id")
        if cluster_id is not None and found is not None and found != cluster_id:
            raise KafkaError(
                f"cluster id {cluster_id} does not match {found} in {path}",
                ErrorCode.inconsistent_cluster_id,
            )
        if props.get("broker.id") not in (None, str(broker_id)):
            raise KafkaError(
                f"broker id {broker_id} does not match {props.get('broker.id')} in {path}",
                ErrorCode.kafka_storage_error,
            )
        if found is None and cluster_id is not None:
            write_meta_properties(path, broker_id, cluster_id)

    @staticmethod
    def _read_checkpoint(path: Path) -> dict[TopicPartition, int]:
        if not path.exists():
            return {}
        return OffsetCheckpointFile(path).read()

    # -- failed log dirs (storage.log_dir_failure) ----------------------------------------

    @property
    def live_log_dirs(self) -> list[Path]:
        offline = self.failure_channel.offline_dirs()
        return [d for d in self.log_dirs if d not in offline]

    def is_offline(self, log_dir: Path) -> bool:
        return self.failure_channel.is_offline(log_dir)

    def _log_io_error(self, log: Log, what: str, exc: OSError) -> None:
        if is_disk_failure(exc):
            where = f"{what} on {log.topic}-{log.partition}"
            self.failure_channel.maybe_add_offline_log_dir(log.directory.parent, where, exc)

    def _dir_failed(self, log_dir: Path, what: str, exc: OSError) -> None:
        if is_disk_failure(exc):
            self.failure_channel.maybe_add_offline_log_dir(log_dir, what, exc)

    def _close_logs_of_failed_dir(self, log_dir: Path, _reason: str) -> None:
        """Kafka's LogManager.handleLogDirFailure: the dir's logs stop, nothing is written."""
        with self._lock:
            logs = [log for tp, log in self._logs.items() if self._log_dir_of[tp] == log_dir]
        if self.cleaner is not None:
            for log in logs:
                self.cleaner.manager.abort_cleaning((log.topic, log.partition))
        for log in logs:
            log.close_handlers()

    # -- log cleaner ---------------------------------------------------------------------

    def logs_with_dirs(self) -> dict[TopicPartition, tuple[Log, Path]]:
        """The online logs and their dirs (the cleaner's view)."""
        with self._lock:
            return {
                tp: (log, self._log_dir_of[tp])
                for tp, log in self._logs.items()
                if not log.offline
            }

    def start_cleaner(self, config: CleanerConfig) -> LogCleaner:
        """Create the log cleaner (compaction) and start its threads if enabled."""
        from storage.cleaner.log_cleaner import LogCleaner
        from storage.cleaner.manager import LogCleanerManager

        manager = LogCleanerManager(self.logs_with_dirs, self.clock)
        self.cleaner = LogCleaner(config, manager, self.clock, on_io_error=self._dir_failed)
        self.cleaner.start()
        return self.cleaner

    def truncate_to(self, topic: str, partition: int, offset: int) -> bool:
        """Truncate a log (follower), first stopping any cleaning of it. Blocking."""
        tp = (topic, partition)
        log = self._logs.get(tp)
        if log is None:
            return False
        cleaner = self.cleaner
        if cleaner is None:
            return log.truncate_to(offset)
        with cleaner.manager.paused(tp):
            truncated = log.truncate_to(offset)
            if truncated:
                cleaner.manager.maybe_truncate_checkpoint(self._log_dir_of[tp], tp, offset)
            return truncated

    def truncate_fully_and_start_at(self, topic: str, partition: int, offset: int) -> bool:
        """Empty a follower's log and restart it at ``offset`` (the leader's start). Blocking."""
        tp = (topic, partition)
        log = self._logs.get(tp)
        if log is None:
            return False
        cleaner = self.cleaner
        if cleaner is None:
            log.truncate_fully_and_start_at(offset)
            return True
        with cleaner.manager.paused(tp):
            log.truncate_fully_and_start_at(offset)
            cleaner.manager.maybe_truncate_checkpoint(self._log_dir_of[tp], tp, offset)
            return True

    # -- access (loop thread) ------------------------------------------------------------

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def logs(self) -> list[Log]:
        with self._lock:
            return list(self._logs.values())

    def get_or_create_log(
        self, topic: str, partition: int, topic_id: uuid.UUID | None, config: LogConfig
    ) -> Log:
        """The existing log, or a new one in the log dir with the fewest partitions."""
        tp = (topic, partition)
        log = self._logs.get(tp)
        if log is not None:
            return log
        live = self.live_log_dirs
        if not live:
            raise KafkaStorageError(f"no online log dir for {topic}-{partition}")
        with self._lock:
            counts = dict.fromkeys(live, 0)
            for d in self._log_dir_of.values():
                if d in counts:
                    counts[d] += 1
            log_dir = min(live, key=lambda d: counts[d])
        directory = log_dir / f"{topic}-{partition}"
        is_new = not directory.exists()
        try:
            log = load_log(
                directory,
                config,
                self.clock,
                topic_id=topic_id,
                producer_id_expiration_ms=self.producer_id_expiration_ms,
            )
        except BaseException as exc:
            if is_new:  # leave no half-made partition behind for the next start to load
                shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, OSError) and is_disk_failure(exc):
                self._dir_failed(log_dir, f"creating {topic}-{partition}", exc)
                raise KafkaStorageError(f"cannot create {topic}-{partition}: {exc}") from exc
            raise
        log.on_io_error = self._log_io_error
        with self._lock:
            self._logs[tp] = log
            self._log_dir_of[tp] = log_dir
        return log

    def update_config(self, topic: str, config: LogConfig) -> None:
        for (t, _), log in list(self._logs.items()):
            if t == topic:
                log.config = config

    def set_producer_id_expiration_ms(self, expiration_ms: int) -> None:
        """``producer.id.expiration.ms`` changed at run time: new and existing logs."""
        self.producer_id_expiration_ms = expiration_ms
        for log in self.logs():
            log.producer_state.producer_id_expiration_ms = expiration_ms

    def rename_for_deletion(self, topic: str, partition: int) -> Path | None:
        """Close the log and rename its directory ``<tp>.<uuid hex>-delete`` (fast)."""
        tp = (topic, partition)
        if self.cleaner is not None and tp in self._logs:
            self.cleaner.manager.abort_cleaning(tp)
        with self._lock:
            log = self._logs.pop(tp, None)
            self._log_dir_of.pop(tp, None)
        if log is None or log.offline:
            return None  # a failed dir is not touched; its leftovers stay until restart
        target = log.directory.with_name(
            f"{topic}-{partition}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}"
        )
        try:
            log.close_for_deletion(target)
        except KafkaStorageError:
            return None
        return target

    def delete_pending_dirs(self) -> int:
        """Remove every ``-delete`` directory (blocking)."""
        removed = 0
        for log_dir in self.live_log_dirs:
            if not log_dir.exists():
                continue
            for child in log_dir.iterdir():
                if child.is_dir() and _DELETE_DIR.match(child.name):
                    shutil.rmtree(child, ignore_errors=True)
                    removed += 1
            if removed:
                fsync_dir(log_dir)
        return removed

    # -- background work (worker thread) -------------------------------------------------

    def flush_dirty_logs(self, now_ms: int | None = None) -> int:
        """Flush logs whose flush.ms elapsed or with flush.messages unflushed messages."""
        now = self.clock.milliseconds() if now_ms is None else now_ms
        flushed = 0
        for log in self.logs():
            if log.closed:
                continue
            cfg = log.config
            unflushed = log.log_end_offset - log.recovery_point
            if unflushed > 0 and (
                unflushed >= cfg.flush_messages or now - log.last_flush_ms >= cfg.flush_ms
            ):
                try:
                    log.flush()
                except KafkaError:
                    continue  # reported: its dir is offline now
                flushed += 1
        return flushed

    def checkpoint_recovery_points(self) -> None:
        self._write_checkpoints(RECOVERY_POINT_CHECKPOINT, lambda log: log.recovery_point)

    def checkpoint_high_watermarks(self) -> None:
        """``replication-offset-checkpoint``: the high watermark of every partition."""
        self._write_checkpoints(HIGH_WATERMARK_CHECKPOINT, lambda log: log.high_watermark)

    def checkpoint_log_start_offsets(self) -> None:
        self._write_checkpoints(LOG_START_OFFSET_CHECKPOINT, lambda log: log.log_start_offset)

    def _write_checkpoints(self, name: str, value: _LogValue) -> None:
        with self._lock:
            items = [(tp, self._log_dir_of[tp], log) for tp, log in self._logs.items()]
        for log_dir in self.live_log_dirs:
            entries = {tp: value(log) for tp, d, log in items if d == log_dir and not log.closed}
            try:
                OffsetCheckpointFile(log_dir / name).write(entries)
            except OSError as exc:
                self._dir_failed(log_dir, f"writing {name}", exc)

    def cleanup_logs(self, now_ms: int | None = None) -> int:
        """Retention for every log, removal of due ``.deleted`` segments, producer expiry.
        Returns the number of segments deleted."""
        now = self.clock.milliseconds() if now_ms is None else now_ms
        deleted = 0
        manager = self.cleaner.manager if self.cleaner is not None else None
        for log in self.logs():
            if log.closed:
                continue
            tp = (log.topic, log.partition)
            try:
                # A compacted log being cleaned right now waits for the next round.
                if manager is not None and log.config.compact:
                    if manager.pause_if_idle(tp):
                        try:
                            deleted += log.delete_old_segments(now)
                        finally:
                            manager.resume(tp)
                else:
                    deleted += log.delete_old_segments(now)
                log.delete_pending(now)
                log.remove_expired_producers(now)
            except KafkaError:
                continue  # reported: its dir is offline now
        return deleted

    def shutdown(self) -> None:
        """Flush and close every log, write checkpoints and the clean-shutdown marker.

        Never raises for I/O: a dir that fails on the way goes offline and gets no marker
        (it is recovered at the next start, as after a crash)."""
        if self.cleaner is not None:
            self.cleaner.shutdown()
        logs = [log for log in self.logs() if not log.offline]
        for log in logs:
            with contextlib.suppress(KafkaError):  # reported: its dir is offline now
                log.flush()
        self.checkpoint_recovery_points()
        self.checkpoint_log_start_offsets()
        self.checkpoint_high_watermarks()
        for log in logs:
            with contextlib.suppress(KafkaError):
                log.close()
        for log_dir in self.live_log_dirs:
            try:
                write_atomically(log_dir / CLEAN_SHUTDOWN_MARKER, b"")
            except OSError as exc:
                self._dir_failed(log_dir, "writing the clean shutdown marker", exc)
                (log_dir / CLEAN_SHUTDOWN_MARKER).unlink(missing_ok=True)
        with self._lock:
            self._logs.clear()
            self._log_dir_of.clear()

    # -- describe ------------------------------------------------------------------------

    def describe_log_dirs(self) -> list[LogDirInfo]:
        with self._lock:
            items = [(tp, self._log_dir_of[tp], log) for tp, log in self._logs.items()]
        out: list[LogDirInfo] = []
        for log_dir in self.log_dirs:
            info = LogDirInfo(log_dir)
            if self.is_offline(log_dir):
                info.error_code = ErrorCode.kafka_storage_error  # as Kafka's DescribeLogDirs
                out.append(info)
                continue
            try:
                usage = shutil.disk_usage(log_dir)
                info.total_bytes, info.usable_bytes = usage.total, usage.free
            except OSError:
                info.error_code = ErrorCode.kafka_storage_error
            for (topic, partition), d, log in items:
                if d == log_dir:
                    info.partitions.append(PartitionDirInfo(topic, partition, log.size_in_bytes))
            out.append(info)
        return out
