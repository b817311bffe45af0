"""Raw-socket Kafka protocol bits for tests that must send exactly what they mean.

Only non-flexible (classic) encodings: request header v1 (api_key, api_version,
correlation_id, client_id) and response header v0 (correlation_id).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Sequence

from helpers.broker_process import recv_exact

# error codes used by the tests
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
LEADER_NOT_AVAILABLE = 5


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def array(items: Sequence[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def request_frame(
    api_key: int,
    api_version: int,
    correlation_id: int,
    body: bytes,
    client_id: str | None = "raw",
    *,
    flexible_header: bool = False,
) -> bytes:
    """A framed request with header v1, or v2 (empty tagged fields) when ``flexible_header``."""
    payload = i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)
    payload += (b"\x00" if flexible_header else b"") + body
    return i32(len(payload)) + payload


class Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, fmt: str) -> int:
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(v)

    def i8(self) -> int:
        return self._take(">b")

    def i16(self) -> int:
        return self._take(">h")

    def i32(self) -> int:
        return self._take(">i")

    def i64(self) -> int:
        return self._take(">q")

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self) -> bytes | None:
        n = self.i32()
        if n < 0:
            return None
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def remaining(self) -> int:
        return len(self.data) - self.pos


class RawConn:
    """One TCP connection speaking raw frames. Use as a context manager."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self._corr = 0

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def next_correlation_id(self) -> int:
        self._corr += 1
        return self._corr

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_request(
        self,
        api_key: int,
        api_version: int,
        body: bytes,
        client_id: str | None = "raw",
        *,
        flexible_header: bool = False,
    ) -> int:
        corr = self.next_correlation_id()
        self.send(
            request_frame(
                api_key, api_version, corr, body, client_id, flexible_header=flexible_header
            )
        )
        return corr

    def recv_response(self, correlation_id: int | None = None) -> Reader:
        """Read one response frame; check the correlation id; return a reader after it."""
        size = struct.unpack(">i", recv_exact(self.sock, 4))[0]
        assert 4 <= size <= 100 * 1024 * 1024, f"bad response size {size}"
        data = recv_exact(self.sock, size)
        r = Reader(data)
        corr = r.i32()
        if correlation_id is not None:
            assert corr == correlation_id, f"correlation id {corr} != {correlation_id}"
        return r

    def request(self, api_key: int, api_version: int, body: bytes) -> Reader:
        return self.recv_response(self.send_request(api_key, api_version, body))

    def wait_closed(self, timeout: float = 5.0) -> tuple[bool, bytes]:
        """(True, data) if the peer closed within ``timeout``; any bytes received are returned."""
        deadline = time.monotonic() + timeout
        got = bytearray()
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            except (ConnectionResetError, BrokenPipeError):
                return True, bytes(got)
            if not chunk:
                return True, bytes(got)
            got += chunk
        return False, bytes(got)


# ------------------------------------------------------------------ request bodies
def metadata_v1_body(topics: Sequence[str] | None) -> bytes:
    return array(None if topics is None else [string(t) for t in topics])


def metadata_v4_body(topics: Sequence[str] | None, allow_auto_create: bool) -> bytes:
    return metadata_v1_body(topics) + i8(1 if allow_auto_create else 0)


def parse_metadata_topics(r: Reader, version: int) -> dict[str, int]:
    """Metadata v1..v4 response (after the correlation id): topic name -> error code."""
    assert 1 <= version <= 4, version
    if version >= 3:
        r.i32()  # throttle_time_ms
    for _ in range(r.i32()):  # brokers
        r.i32()
        r.string()
        r.i32()
        r.string()  # rack (v1+)
    if version >= 2:
        r.string()  # cluster_id
    r.i32()  # controller id
    out: dict[str, int] = {}
    for _ in range(r.i32()):
        err = r.i16()
        name = r.string()
        r.i8()  # is_internal
        for _ in range(r.i32()):
            r.i16()
            r.i32()
            r.i32()
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        assert name is not None
        out[name] = err
    return out


def create_topics_body(
    version: int,
    topics: Sequence[tuple[str, int, int]],
    timeout_ms: int = 10_000,
    validate_only: bool = False,
) -> bytes:
    """CreateTopics v0..v4 (non-flexible) request body."""
    assert 0 <= version <= 4, version
    items = [
        string(name) + i32(partitions) + i16(replication) + array([]) + array([])
        for name, partitions, replication in topics
    ]
    body = array(items) + i32(timeout_ms)
    if version >= 1:
        body += i8(1 if validate_only else 0)
    return body


def parse_create_topics(r: Reader, version: int) -> dict[str, int]:
    """CreateTopics v0..v4 response: topic name -> error code."""
    if version >= 2:
        r.i32()  # throttle_time_ms
    out: dict[str, int] = {}
    for _ in range(r.i32()):
        name = r.string()
        assert name is not None
        out[name] = r.i16()
        if version >= 1:
            r.string()  # error_message
    return out


def api_versions(host: str, port: int) -> dict[int, tuple[int, int]]:
    """The broker's advertised {api_key: (min, max)} from ApiVersions v0."""
    with RawConn(host, port) as c:
        err, ranges = parse_api_versions_v0(c.request(18, 0, b""))
    assert err == 0, err
    return ranges


def pick_version(ranges: dict[int, tuple[int, int]], api_key: int, lo: int, hi: int) -> int:
    """The highest version in [lo, hi] the broker supports (these tests' encoders' range)."""
    assert api_key in ranges, f"api key {api_key} not advertised"
    bmin, bmax = ranges[api_key]
    v = min(hi, bmax)
    assert v >= max(lo, bmin), f"no common version for api {api_key}: broker {bmin}-{bmax}"
    return v


def parse_api_versions_v0(r: Reader) -> tuple[int, dict[int, tuple[int, int]]]:
    """(error code, {api_key: (min, max)}) from an ApiVersions v0-format body."""
    err = r.i16()
    ranges: dict[int, tuple[int, int]] = {}
    for _ in range(r.i32()):
        key = r.i16()
        ranges[key] = (r.i16(), r.i16())
    return err, ranges
