"""Failover time: leader stopped → first successful ``acks=all`` write on the new leader.

The probe speaks the Kafka protocol directly (Produce v3, one record, ``acks=-1``) to each
surviving broker in turn, on connections opened before the leader is stopped, every
``PROBE_INTERVAL_S``; the first ``error_code == 0`` is a write the new leader took with
its ISR (``min.insync.replicas=2`` of 3). Talking to each broker directly measures the
brokers and the controller, not a client's metadata refresh back-off. A write the old
leader acknowledges cannot count: it is never probed.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))  # Josef's protocol package

from protocol.records import NewRecord, encode_batch

PRODUCE_KEY = 0
PRODUCE_VERSION = 3  # acks, timeout, transactional_id; non-flexible; every peer serves it
PROBE_INTERVAL_S = 0.01
REQUEST_TIMEOUT_MS = 5000


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def produce_request(correlation_id: int, topic: str, partition: int, value: bytes) -> bytes:
    """A Produce v3 frame (size prefix included) with one record and ``acks=-1``."""
    batch = encode_batch([NewRecord(key=None, value=value)])
    body = (
        struct.pack(">hhi", PRODUCE_KEY, PRODUCE_VERSION, correlation_id)
        + _str("josef-bench-failover")
        + struct.pack(">hhi", -1, -1, REQUEST_TIMEOUT_MS)  # transactional_id null, acks, timeout
        + struct.pack(">i", 1)
        + _str(topic)
        + struct.pack(">ii", 1, partition)
        + struct.pack(">i", len(batch))
        + batch
    )
    return struct.pack(">i", len(body)) + body


def produce_error_code(frame: bytes) -> tuple[int, int]:
    """(correlation id, error code of the one partition) of a Produce v3 response frame
    (without its size prefix)."""
    correlation_id, topics = struct.unpack_from(">ii", frame, 0)
    pos = 8
    if topics != 1:
        raise ValueError(f"{topics} topics in a one-topic produce response")
    (name_len,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + name_len
    (partitions,) = struct.unpack_from(">i", frame, pos)
    if partitions != 1:
        raise ValueError(f"{partitions} partitions in a one-partition produce response")
    _index, error_code = struct.unpack_from(">ih", frame, pos + 4)
    return correlation_id, error_code


class ProduceProbe:
    """One connection to one broker sending one-record ``acks=all`` Produce requests."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        self.sock: socket.socket | None = None
        self.correlation_id = 0

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=1.0)
            self.sock.settimeout(REQUEST_TIMEOUT_MS / 1000 + 2)
        return self.sock

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed")
            buf += chunk
        return bytes(buf)

    def produce(self, topic: str, partition: int = 0) -> int:
        """The error code of one write; -1 for a connection failure (the broker is down)."""
        try:
            sock = self.connect()
            self.correlation_id += 1
            sock.sendall(produce_request(self.correlation_id, topic, partition, b"failover"))
            (size,) = struct.unpack(">i", self._recv_exact(sock, 4))
            corr, code = produce_error_code(self._recv_exact(sock, size))
            if corr != self.correlation_id:
                raise ConnectionError("correlation id mismatch")
            return code
        except (OSError, ValueError, struct.error):
            self.close()
            return -1

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


@dataclass
class FailoverResult:
    signal_name: str
    old_leader: int
    new_leader: int | None = None
    seconds: float | None = None
    attempts: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    write_s: float | None = None  # how long the successful write itself took
    old_leader_exit_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal_name,
            "old_leader": self.old_leader,
            "new_leader": self.new_leader,
            "failover_s": None if self.seconds is None else round(self.seconds, 3),
            "write_s": None if self.write_s is None else round(self.write_s, 3),
            "attempts": self.attempts,
            "error_codes": {str(k): v for k, v in sorted(self.errors.items())},
            "old_leader_exit_s": (
                None if self.old_leader_exit_s is None else round(self.old_leader_exit_s, 3)
            ),
        }


def probe_until_written(
    probes: dict[int, ProduceProbe],
    topic: str,
    t0: float,
    timeout: float,
    result: FailoverResult,
    old_leader_exited: Callable[[], bool] = lambda: False,
) -> None:
    """Probe each broker in turn until one acknowledges a write; fills ``result`` (and
    ``old_leader_exit_s`` when ``old_leader_exited`` turns true meanwhile)."""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        for broker_id, probe in probes.items():
            sent = time.perf_counter()
            code = probe.produce(topic)
            result.attempts += 1
            if code == 0:
                now = time.perf_counter()
                result.seconds = now - t0
                result.write_s = now - sent
                result.new_leader = broker_id
                return
            result.errors[code] += 1
        if result.old_leader_exit_s is None and old_leader_exited():
            result.old_leader_exit_s = time.perf_counter() - t0
        time.sleep(PROBE_INTERVAL_S)


def signal_name(sig: signal.Signals) -> str:
    return "kill -9" if sig == signal.SIGKILL else sig.name
