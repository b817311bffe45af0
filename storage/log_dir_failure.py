"""Log directory failures (Kafka's LogDirFailureChannel and KafkaStorageException).

When an I/O operation on a log fails (ENOSPC on append, EIO on fsync, a
checkpoint that cannot be written...), Kafka does not close connections or
crash: the operation answers KAFKA_STORAGE_ERROR and the whole log directory is
taken offline, because a disk that failed once cannot be trusted. Every
partition in it goes offline (produce and fetch answer KAFKA_STORAGE_ERROR),
its files are closed without writing anything more, and in cluster mode the
controller is told (``/log_dir_event_notification``) so that leadership moves.
With every log directory offline the broker shuts down. A failed directory
stays offline until the broker restarts (recovery then runs on it, as after a
crash), exactly as in Kafka.

:class:`LogDirFailureChannel` is where storage code reports a failure; the
broker subscribes to it. Reports may come from any thread (the event loop,
flush and checkpoint workers, cleaner threads); listeners are called on the
reporting thread and must hand work to the loop themselves.

Running out of descriptors (EMFILE/ENFILE) or memory (ENOMEM, e.g. no memory
map left) says nothing about the disk: such errors fail the operation with
KAFKA_STORAGE_ERROR but leave the directory online.
"""

from __future__ import annotations

import errno
import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

#: errno values that describe the process's resources, not the disk.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})

FailureListener = Callable[[Path, str], None]


class KafkaStorageError(KafkaError):
    """An I/O failure on a log, or a log in an offline directory (KAFKA_STORAGE_ERROR)."""

    error_code = ErrorCode.kafka_storage_error


def is_disk_failure(exc: BaseException) -> bool:
    """True for an OSError that should take its log directory offline."""
    return isinstance(exc, OSError) and exc.errno not in RESOURCE_ERRNOS


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{name}: {exc.strerror or exc}"
    return repr(exc)


class LogDirFailureChannel:
    """The set of offline log directories and who to tell when one fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offline: dict[Path, str] = {}
        self._listeners: list[FailureListener] = []

    def add_listener(self, listener: FailureListener) -> None:
        """Called as ``listener(log_dir, reason)`` once per directory that goes offline.

        The broker's listener marks partitions offline and shuts down when no directory
        is left; in cluster mode it is also where the controller must be notified."""
        self._listeners.append(listener)

    def maybe_add_offline_log_dir(self, log_dir: Path, what: str, exc: BaseException) -> bool:
        """Record ``log_dir`` as offline after ``what`` failed with ``exc``; True the first time.

        Logs one line (no traceback: the errno says it all)."""
        log_dir = Path(log_dir)
        reason = f"{what} failed: {describe(exc)}"
        with self._lock:
            if log_dir in self._offline:
                return False
            self._offline[log_dir] = reason
            listeners = list(self._listeners)
        log.error("log dir %s is offline: %s", log_dir, reason)
        for listener in listeners:
            try:
                listener(log_dir, reason)
            except Exception:
                log.exception("log dir failure listener failed")
        return True

    def is_offline(self, log_dir: Path) -> bool:
        with self._lock:
            return Path(log_dir) in self._offline

    def offline_dirs(self) -> dict[Path, str]:
        with self._lock:
            return dict(self._offline)


class StorageGuarded(Protocol):
    """What :func:`io_guarded` needs from the object whose methods it wraps (a ``Log``)."""

    offline: bool

    def offline_error(self) -> KafkaStorageError: ...

    def storage_error(self, what: str, exc: OSError) -> KafkaStorageError: ...


G = TypeVar("G", bound=StorageGuarded)
P = ParamSpec("P")
R = TypeVar("R")


def io_guarded(method: Callable[Concatenate[G, P], R]) -> Callable[Concatenate[G, P], R]:
    """Kafka's ``maybeHandleIOException``: an OSError from ``method`` becomes a
    KafkaStorageError (after ``storage_error`` reported it), and nothing runs on an
    offline object."""
    what = method.__name__.lstrip("_").replace("_", " ")

    @functools.wraps(method)
    def guarded(self: G, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.offline:
            raise self.offline_error()
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise self.storage_error(what, exc) from exc

    return guarded
