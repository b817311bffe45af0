"""Checkpoint files: small text files Kafka rewrites atomically.

Format (the same as Kafka's ``CheckpointFile``), UTF-8 text, ``\\n`` line ends::

    <version>          always 0 for the files here
    <count>            number of entry lines that follow
    <entry>            one per line, fields separated by whitespace
    ...

``OffsetCheckpointFile`` entries are ``<topic> <partition> <offset>``; they back
``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``,
``replication-offset-checkpoint`` and ``cleaner-offset-checkpoint`` at the top
of a log dir. ``LeaderEpochCheckpointFile`` entries are ``<epoch> <start_offset>``
(``leader-epoch-checkpoint`` inside each partition dir).

Writes go to ``<path>.tmp``, are flushed and fsynced, renamed over the file and
the directory is fsynced, so a reader sees either the old or the new contents,
never a torn file. A leftover ``.tmp`` from a crash is simply overwritten by the
next write and never read. Writing blocks on fsync: call it from a worker
thread, not from the event loop.

Not safe to call concurrently on the same path from several threads; owners
serialise writes (Kafka uses one lock per file, so does ``CheckpointFile``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = [
    "CheckpointError",
    "CheckpointFile",
    "LeaderEpochCheckpointFile",
    "OffsetCheckpointFile",
    "fsync_dir",
    "write_atomically",
]

CURRENT_VERSION: Final = 0


class CheckpointError(Exception):
    """A checkpoint file that cannot be parsed; the message names the file."""


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or create inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path | str, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically: write ``<path>.tmp``, fsync, rename, fsync dir.

    Blocking (fsync); run it in a worker thread when called from the event loop.
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    if sync:
        fsync_dir(target.parent)


class CheckpointFile:
    """A versioned list of whitespace-separated text entries, rewritten atomically."""

    def __init__(self, path: Path | str, version: int = CURRENT_VERSION) -> None:
        self.path = Path(path)
        self.version = version
        self._lock = threading.Lock()

    def write_lines(self, lines: Sequence[str]) -> None:
        parts = [str(self.version), str(len(lines)), *lines]
        data = ("\n".join(parts) + "\n").encode("utf-8")
        with self._lock:
            write_atomically(self.path, data)

    def read_lines(self) -> list[list[str]]:
        """Entry lines split on whitespace; a missing or empty file gives ``[]``."""
        with self._lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return []
            except UnicodeDecodeError as exc:
                raise CheckpointError(f"checkpoint file {self.path} is not UTF-8 text") from exc
        lines = text.splitlines()
        if not lines:
            return []
        version = self._to_int(lines[0])
        if version != self.version:
            raise CheckpointError(
                f"unrecognised version {version} (expected {self.version}) "
                f"in checkpoint file {self.path}"
            )
        if len(lines) < 2:
            return []
        expected = self._to_int(lines[1])
        entries = [line.split() for line in lines[2:]]
        if len(entries) != expected:
            raise CheckpointError(
                f"expected {expected} entries in checkpoint file {self.path}, found {len(entries)}"
            )
        return entries

    def _to_int(self, line: str) -> int:
        try:
            return int(line.strip())
        except ValueError:
            raise CheckpointError(
                f"malformed line in checkpoint file {self.path}: {line!r}"
            ) from None

    def _malformed(self, fields: list[str]) -> CheckpointError:
        return CheckpointError(
            f"malformed line in checkpoint file {self.path}: {' '.join(fields)!r}"
        )


class OffsetCheckpointFile(CheckpointFile):
    """``<topic> <partition> <offset>`` per line; maps (topic, partition) → offset."""

    def write(self, entries: Mapping[tuple[str, int], int]) -> None:
        lines = []
        for (topic, partition), offset in entries.items():
            if not topic or any(ch.isspace() for ch in topic):
                raise ValueError(f"topic name {topic!r} cannot be written to a checkpoint")
            lines.append(f"{topic} {partition} {offset}")
        self.write_lines(lines)

    def read(self) -> dict[tuple[str, int], int]:
        result: dict[tuple[str, int], int] = {}
        for fields in self.read_lines():
            if len(fields) != 3:
                raise self._malformed(fields)
            try:
                partition = int(fields[1])
                offset = int(fields[2])
            except ValueError:
                raise self._malformed(fields) from None
            result[(fields[0], partition)] = offset
        return result


class LeaderEpochCheckpointFile(CheckpointFile):
    """``<epoch> <start_offset>`` per line, in increasing epoch order."""

    def write(self, entries: Iterable[tuple[int, int]]) -> None:
        self.write_lines([f"{epoch} {start}" for epoch, start in entries])

    def read(self) -> list[tuple[int, int]]:
        result: list[tuple[int, int]] = []
        for fields in self.read_lines():
            if len(fields) != 2:
                raise self._malformed(fields)
            try:
                result.append((int(fields[0]), int(fields[1])))
            except ValueError:
                raise self._malformed(fields) from None
        return result
