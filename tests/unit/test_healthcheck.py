"""broker.healthcheck: the ApiVersions v0 probe, its parser and its exit codes.

Against real brokers: tests/integration/test_healthcheck_process.py. Here: the wire format and
small in-process servers that answer wrongly, slowly or not at all.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from broker.healthcheck import (
    CORRELATION_ID,
    HealthCheckError,
    build_request,
    check_broker,
    check_ready,
    main,
    parse_address,
    parse_response,
)


def response(
    apis: list[tuple[int, int, int]],
    error_code: int = 0,
    correlation_id: int = CORRELATION_ID,
    trailing: bytes = b"",
) -> bytes:
    body = struct.pack(">ihi", correlation_id, error_code, len(apis))
    body += b"".join(struct.pack(">hhh", *api) for api in apis)
    return body + trailing


GOOD_APIS = [(0, 3, 11), (3, 0, 12), (18, 0, 4)]


def test_request_is_api_versions_v0_with_header_v1() -> None:
    frame = build_request()
    (size,) = struct.unpack_from(">i", frame, 0)
    assert size == len(frame) - 4
    key, version, corr, client_len = struct.unpack_from(">hhih", frame, 4)
    assert (key, version, corr) == (18, 0, CORRELATION_ID)
    assert frame[14:] == b"josef-healthcheck"
    assert client_len == len(b"josef-healthcheck")


def test_valid_response_counts_apis() -> None:
    assert parse_response(response(GOOD_APIS)) == 3


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00" * 6, "too short"),
        (response(GOOD_APIS, correlation_id=7), "correlation id 7"),
        (response(GOOD_APIS, error_code=35), "error code 35"),
        (response(GOOD_APIS, trailing=b"\x00\x00\x00\x00"), "malformed"),  # v1+ throttle
        (response(GOOD_APIS)[:-2], "malformed"),
        (struct.pack(">ihi", CORRELATION_ID, 0, -1), "malformed"),
        (response([(0, 3, 11)]), "does not list ApiVersions v0"),
        (response([(18, 1, 4)]), "does not list ApiVersions v0"),
    ],
)
def test_invalid_response_is_refused(payload: bytes, message: str) -> None:
    with pytest.raises(HealthCheckError, match=message):
        parse_response(payload)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        ("broker1:19092", ("broker1", 19092)),
        (" localhost:1 ", ("localhost", 1)),
        ("[::1]:9092", ("::1", 9092)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "broker1", ":9092", "host:", "host:x", "::1:9092", "h:0"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


# --- against small servers ---------------------------------------------------------------

Behaviour = Callable[[socket.socket], None]


@contextlib.contextmanager
def server(behaviour: Behaviour) -> Iterator[int]:
    """A loopback server that runs ``behaviour`` on each accepted connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                behaviour(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    (size,) = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))
    conn.recv(size, socket.MSG_WAITALL)


def answer(payload: bytes) -> Behaviour:
    def behaviour(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(struct.pack(">i", len(payload)) + payload)

    return behaviour


def silent(conn: socket.socket) -> None:
    read_request(conn)
    with contextlib.suppress(OSError):
        conn.recv(1)  # until the client gives up and closes


def test_good_server_is_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    with server(answer(response(GOOD_APIS))) as port:
        assert check_broker("127.0.0.1", port, 5.0) == 3
        assert main(["--bootstrap-server", f"127.0.0.1:{port}"]) == 0
    assert capsys.readouterr().out == f"healthy: 127.0.0.1:{port} answered ApiVersions (3 APIs)\n"


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (answer(response(GOOD_APIS, error_code=35)), "error code 35"),
        (answer(response(GOOD_APIS, correlation_id=1)), "correlation id 1"),
        (answer(b"\x00" * 3), "size"),
        (read_request, "connection closed after 0 of 4 bytes"),
        (silent, "no answer within 300 ms"),
    ],
)
def test_bad_server_is_unhealthy(
    behaviour: Behaviour, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with server(behaviour) as port:
        assert main(["--bootstrap-server", f"127.0.0.1:{port}", "--timeout-ms", "300"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"unhealthy: 127.0.0.1:{port}: ")
    assert message in err
    assert err.count("\n") == 1


def test_closed_port_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = int(s.getsockname()[1])
    assert main(["--bootstrap-server", f"127.0.0.1:{port}"]) == 1
    assert capsys.readouterr().err == f"unhealthy: 127.0.0.1:{port}: Connection refused\n"


@pytest.mark.parametrize(
    "argv",
    [["--bootstrap-server", "nohost"], ["--timeout-ms", "0"], ["--no-such-flag"]],
)
def test_usage_errors_exit_1_not_2(argv: list[str]) -> None:
    # Docker reserves exit status 2 of a health check.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 1


@contextlib.contextmanager
def http_server(status: int, body: bytes) -> Iterator[str]:
    """A one-thread HTTP server answering every GET with ``status`` and ``body``."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/ready"
    finally:
        server.shutdown()
        server.server_close()


def test_ready_url_200_passes_and_503_fails() -> None:
    with http_server(200, b'{"status": "ready"}') as url:
        assert check_ready(url, 5.0) == '{"status": "ready"}'
    not_ready = http_server(503, b'{"status": "not ready", "reason": "starting"}')
    with not_ready as url, pytest.raises(HealthCheckError, match="answered 503"):
        check_ready(url, 5.0)
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = int(s.getsockname()[1])
    with pytest.raises(HealthCheckError, match="refused"):
        check_ready(f"http://127.0.0.1:{port}/v1/ready", 5.0)


def test_ready_url_must_be_http(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--ready-url", "https://127.0.0.1:9644/v1/ready"])
    assert exit_info.value.code == 1
    assert "--ready-url must be an http:// URL" in capsys.readouterr().err
