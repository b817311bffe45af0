"""LogCleaner: the worker threads that compact logs (Kafka's LogCleaner).

``log.cleaner.threads`` daemon threads (never the event loop) loop: ask the
manager for the filthiest cleanable log, clean it with their own ``Cleaner``
(each owns an ``OffsetMap`` of ``dedupe.buffer.size / threads`` bytes), record
the checkpoint, and sleep ``log.cleaner.backoff.ms`` when nothing is
cleanable. All threads share one I/O throttler
(``log.cleaner.io.max.bytes.per.second``). :meth:`LogCleaner.reconfigure` applies new
settings at run time as Kafka does (dynamic broker configs): the throttle rate changes and
the threads are replaced by new ones. After each pass one INFO line
reports the partition, offsets, bytes read/written, duration and dirty ratio;
``stats()`` returns the same numbers plus every compacted partition's dirty
ratio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storage.cleaner.cleaner import Cleaner, CleanerAbortedError, CleanerStats, TopicPartition
from storage.cleaner.manager import LogCleanerManager
from storage.cleaner.offset_map import OffsetMap
from storage.cleaner.throttler import Throttler
from storage.clock import Clock
from storage.log import Log, SegmentsChangedError
from storage.log_dir_failure import KafkaStorageError

logger = logging.getLogger(__name__)

MIN_BUFFER_PER_THREAD = 1 << 20


@dataclass(slots=True)
class CleanerConfig:
    enable: bool = True
    threads: int = 1
    io_max_bytes_per_second: float = 1.7976931348623157e308
    dedupe_buffer_size: int = 134_217_728
    io_buffer_load_factor: float = 0.9
    backoff_ms: int = 15_000


@dataclass(slots=True)
class _Totals:
    passes: int = 0
    aborted: int = 0
    failed: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    messages_read: int = 0
    messages_written: int = 0
    last_run_ms: int = -1
    last_duration_ms: int = -1
    last_partition: str | None = None
    per_partition: dict[str, dict[str, Any]] = field(default_factory=dict)


class LogCleaner:
    """The cleaner pool. ``start``/``shutdown`` from any thread; ``clean_once`` for tests."""

    def __init__(
        self,
        config: CleanerConfig,
        manager: LogCleanerManager,
        clock: Clock,
        *,
        on_io_error: Callable[[Path, str, OSError], None] | None = None,
    ) -> None:
        self.config = config
        self.manager = manager
        self.clock = clock
        # Kafka's cleaner takes a log dir offline on an IOException (LogDirFailureChannel).
        self.on_io_error = on_io_error
        self._stop = threading.Event()
        self.throttler = Throttler(config.io_max_bytes_per_second, wake=self._stop)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._closed = False
        self._totals = _Totals()
        threads = max(config.threads, 1)
        self._map_bytes = max(config.dedupe_buffer_size // threads, MIN_BUFFER_PER_THREAD)

    def new_cleaner(self) -> Cleaner:
        return Cleaner(
            OffsetMap(self._map_bytes, self.config.io_buffer_load_factor),
            self.clock,
            check_done=self._check_done,
            throttle=self.throttler.maybe_throttle,
        )

    def _check_done(self, tp: TopicPartition) -> None:
        if self._stop.is_set():
            raise CleanerAbortedError("cleaner shutting down")
        self.manager.check_done(tp)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if not self.config.enable or self.config.threads <= 0:
            logger.info("log cleaner disabled")
            return
        for i in range(self.config.threads):
            t = threading.Thread(
                target=self._run, args=(self.new_cleaner(), self._stop),
                name=f"log-cleaner-{i}", daemon=True,
            )
            t.start()
            self._threads.append(t)
        logger.info(
            "log cleaner started: %d thread(s), %d bytes of offset map each",
            len(self._threads), self._map_bytes,
        )

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop the threads; a pass in progress is abandoned (its .cleaned files removed)."""
        with self._lifecycle:
            self._closed = True
            self._stop_threads(timeout_s)

    def _stop_threads(self, timeout_s: float) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0.0))
        self._threads.clear()

    def reconfigure(self, config: CleanerConfig, timeout_s: float = 30.0) -> None:
        """New settings at run time (Kafka's LogCleaner.reconfigure): update the throttle,
        stop the threads (a pass in progress is abandoned) and start ``config.threads`` new
        ones with offset maps of the new size. Blocking: run it off the event loop."""
        with self._lifecycle:
            if self._closed:
                return
            self._stop_threads(timeout_s)
            self.config = config
            self._stop = threading.Event()
            self.throttler.update_rate(config.io_max_bytes_per_second, wake=self._stop)
            threads = max(config.threads, 1)
            self._map_bytes = max(config.dedupe_buffer_size // threads, MIN_BUFFER_PER_THREAD)
            logger.info(
                "log cleaner reconfigured: %d thread(s), I/O limit %s bytes/s, backoff %d ms",
                config.threads, config.io_max_bytes_per_second, config.backoff_ms,
            )
            self.start()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _run(self, cleaner: Cleaner, stop: threading.Event) -> None:
        # ``stop`` is this generation's event: reconfigure() replaces self._stop.
        while not stop.is_set():
            try:
                did_work = self.clean_once(cleaner)
            except OSError as exc:  # e.g. the cleaner offset checkpoint on a full disk
                logger.warning("log cleaner pass failed: %s", exc)
                did_work = False
            except Exception:  # never let a thread die silently
                logger.exception("log cleaner pass failed")
                did_work = False
            if not did_work:
                stop.wait(self.config.backoff_ms / 1000.0)

    # -- one pass ------------------------------------------------------------------------

    def clean_once(self, cleaner: Cleaner | None = None) -> bool:
        """Clean the filthiest cleanable log, if any; True when a log was chosen."""
        grabbed = self.manager.grab_filthiest_compacted_log()
        if grabbed is None:
            return False
        to_clean, log_dir = grabbed
        cleaner = cleaner or self.new_cleaner()
        tp = to_clean.tp
        end_offset: int | None = None
        try:
            end_offset, stats = cleaner.clean(to_clean)
            self._record(to_clean.log, to_clean.first_dirty_offset, stats, to_clean.cleanable_ratio)
        except (CleanerAbortedError, SegmentsChangedError) as exc:
            logger.info("cleaning of %s-%s stopped: %s", tp[0], tp[1], exc)
            with self._lock:
                self._totals.aborted += 1
        except (OSError, KafkaStorageError) as exc:
            cause = exc if isinstance(exc, OSError) else exc.__cause__
            if isinstance(cause, OSError) and self.on_io_error is not None:
                self.on_io_error(log_dir, f"cleaning {tp[0]}-{tp[1]}", cause)
            logger.warning("cleaning of %s-%s failed: %s", tp[0], tp[1], exc)
            with self._lock:
                self._totals.failed += 1
        except Exception:
            logger.exception("cleaning of %s-%s failed; marking it uncleanable", tp[0], tp[1])
            self.manager.mark_uncleanable(tp)
            with self._lock:
                self._totals.failed += 1
        finally:
            self.manager.done_cleaning(tp, log_dir, end_offset)
        return True

    def _record(self, log: Log, first_dirty: int, stats: CleanerStats, ratio: float) -> None:
        elapsed = max(stats.elapsed_ms, 0)
        secs = max(elapsed / 1000.0, 1e-9)
        name = f"{log.topic}-{log.partition}"
        logger.info(
            "cleaned %s: offsets [%d, %d), %d segment(s) in %d group(s), read %d bytes "
            "(%.1f MB/s), wrote %d bytes (%.1f%% of read), %d/%d messages kept, "
            "map %.1f%% full, dirty ratio was %.3f, took %d ms",
            name, first_dirty, stats.end_offset, stats.segments_cleaned, stats.groups,
            stats.bytes_read, stats.bytes_read / secs / 1e6, stats.bytes_written,
            100.0 * stats.bytes_written / stats.bytes_read if stats.bytes_read else 0.0,
            stats.messages_written, stats.messages_read,
            100.0 * stats.buffer_utilization, ratio, elapsed,
        )
        with self._lock:
            t = self._totals
            t.passes += 1
            t.bytes_read += stats.bytes_read + stats.map_bytes_read
            t.bytes_written += stats.bytes_written
            t.messages_read += stats.messages_read
            t.messages_written += stats.messages_written
            t.last_run_ms = stats.end_ms
            t.last_duration_ms = elapsed
            t.last_partition = name
            t.per_partition[name] = {
                "last_run_ms": stats.end_ms,
                "last_duration_ms": elapsed,
                "first_dirty_offset": first_dirty,
                "end_offset": stats.end_offset,
                "dirty_ratio_before": ratio,
                **{k: v for k, v in asdict(stats).items() if k not in ("start_ms",)},
            }

    def stats(self) -> dict[str, Any]:
        """Totals since start, the last pass, per-partition last passes and dirty ratios."""
        with self._lock:
            totals = asdict(self._totals)
        ratios = {f"{t}-{p}": r for (t, p), r in dict(self.manager.dirty_ratios).items()}
        return {
            **totals,
            "threads": len(self._threads),
            "running": self.running,
            "throttled_s": self.throttler.throttled_s,
            "dirty_ratios": ratios,
            "max_compaction_delay_ms": self.manager.max_compaction_delay_ms,
            "uncleanable": sorted(f"{t}-{p}" for t, p in self.manager.uncleanable),
        }


def log_dir_of(log: Log) -> Path:
    return log.directory.parent
