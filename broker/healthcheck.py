"""``python -m broker.healthcheck``: is a broker answering on this listener?

The container health check. It opens one connection, sends ApiVersions v0 (the request
every Kafka client sends first, answerable by any broker version) and exits 0 only when a
well-formed ApiVersions v0 response with error code 0 that lists ApiVersions itself comes
back before the deadline. With ``--ready-url`` (the broker's ``/v1/ready``, served by
``josef.http.listeners``) that URL must also answer 200 within the same deadline: logs loaded
and, in a cluster, registered in ZooKeeper. Anything else (refused, timed out, closed,
malformed, an error code, 503) exits 1 with one line on stderr. Usage errors exit 1 too:
Docker reserves 2.

Standard library only, so a check costs one short-lived interpreter and one round trip.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import NoReturn

__all__ = [
    "HealthCheckError",
    "build_request",
    "check_broker",
    "check_ready",
    "main",
    "parse_address",
    "parse_response",
]

API_VERSIONS_KEY = 18
CORRELATION_ID = 0x4A05EF00
CLIENT_ID = b"josef-healthcheck"
MAX_RESPONSE_BYTES = 1 << 20
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TIMEOUT_MS = 5000
EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1


class HealthCheckError(Exception):
    """The broker did not give a valid answer; ``str()`` says what went wrong."""


def build_request(correlation_id: int = CORRELATION_ID) -> bytes:
    """A framed ApiVersions v0 request (request header v1, empty body)."""
    body = struct.pack(">hhih", API_VERSIONS_KEY, 0, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    return struct.pack(">i", len(body)) + body


def parse_response(payload: bytes, correlation_id: int = CORRELATION_ID) -> int:
    """Check an ApiVersions v0 response (without its size prefix); return its API count.

    v0 is correlation id, error code, then an array of (api key, min, max) int16 triples and
    nothing else. Raises :class:`HealthCheckError` unless the error code is 0, the array
    fills the response exactly and ApiVersions is listed with version 0 in range.
    """
    if len(payload) < 10:
        raise HealthCheckError(f"ApiVersions response of {len(payload)} bytes is too short")
    corr, error_code, count = (int(v) for v in struct.unpack_from(">ihi", payload, 0))
    if corr != correlation_id:
        raise HealthCheckError(f"correlation id {corr} does not match {correlation_id}")
    if error_code != 0:
        raise HealthCheckError(f"ApiVersions answered error code {error_code}")
    if count < 0 or len(payload) != 10 + 6 * count:
        raise HealthCheckError(
            f"malformed ApiVersions v0 response: {count} APIs in {len(payload)} bytes"
        )
    for index in range(count):
        key, low, high = struct.unpack_from(">hhh", payload, 10 + 6 * index)
        if key == API_VERSIONS_KEY and low <= 0 <= high:
            return count
    raise HealthCheckError("ApiVersions response does not list ApiVersions v0")


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port); ValueError otherwise."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address as [address]:port")
    port = int(port_text)
    if not 0 < port <= 65535:
        raise ValueError(f"port {port} of {text!r} is not in 1..65535")
    return host, port


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise HealthCheckError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def check_broker(host: str, port: int, timeout_s: float) -> int:
    """One ApiVersions v0 round trip within ``timeout_s``; the number of APIs listed.

    Raises :class:`HealthCheckError` with a one-line reason on any failure.
    """
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(build_request())
            (size,) = struct.unpack(">i", _recv_exact(sock, 4, deadline))
            if not 10 <= size <= MAX_RESPONSE_BYTES:
                raise HealthCheckError(f"ApiVersions response size {size} is not plausible")
            return parse_response(_recv_exact(sock, size, deadline))
    except TimeoutError:
        raise HealthCheckError(f"no answer within {timeout_s * 1000:.0f} ms") from None
    except OSError as exc:
        raise HealthCheckError(exc.strerror or str(exc)) from None


def check_ready(url: str, timeout_s: float) -> str:
    """GET ``url`` (``/v1/ready``); its body when it answers 200, else HealthCheckError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read(4096).decode("utf-8", "replace")).strip()
    except urllib.error.HTTPError as exc:
        body = exc.read(4096).decode("utf-8", "replace").strip()
        raise HealthCheckError(f"{url} answered {exc.code} {body}") from None
    except TimeoutError:
        raise HealthCheckError(f"{url}: no answer within {timeout_s * 1000:.0f} ms") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise HealthCheckError(f"{url}: {reason}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNHEALTHY, f"{self.prog}: error: {message}\n")


def build_parser() -> _Parser:
    parser = _Parser(
        prog="python -m broker.healthcheck",
        description="Exit 0 if a Kafka broker answers ApiVersions v0 without error.",
    )
    parser.add_argument(
        "--bootstrap-server",
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT",
        help=f"the listener to check (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--timeout-ms",
        type=int,
        default=DEFAULT_TIMEOUT_MS,
        metavar="MS",
        help=f"deadline for connect, request and response (default {DEFAULT_TIMEOUT_MS})",
    )
    parser.add_argument(
        "--ready-url",
        metavar="URL",
        help="also require 200 from this URL (the broker's /v1/ready on josef.http.listeners)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        host, port = parse_address(args.bootstrap_server)
    except ValueError as exc:
        parser.error(f"--bootstrap-server: {exc}")
    if args.timeout_ms <= 0:
        parser.error("--timeout-ms must be positive")
    ready_url = args.ready_url
    if ready_url is not None and not ready_url.startswith("http://"):
        parser.error("--ready-url must be an http:// URL")
    target = args.bootstrap_server.strip()
    deadline = time.monotonic() + args.timeout_ms / 1000
    try:
        count = check_broker(host, port, args.timeout_ms / 1000)
        if ready_url is not None:
            check_ready(ready_url, max(deadline - time.monotonic(), 0.001))
    except HealthCheckError as exc:
        print(f"unhealthy: {target}: {exc}", file=sys.stderr)
        return EXIT_UNHEALTHY
    ready = f", {ready_url} ready" if ready_url is not None else ""
    print(f"healthy: {target} answered ApiVersions ({count} APIs){ready}")
    return EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())
