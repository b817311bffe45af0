"""The admin tools against a hostile broker: responses whose counts cannot fit in them.

kio's native decoder aborts the process on a count of 2^32 (it sizes its buffer from the
count), so responses go through the frame guard too. Each case runs ``josef topics list``
in a child process against a fake broker: one ``Error:`` line and exit status 1, never a
traceback or a signal.
"""

from __future__ import annotations

import datetime
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from protocol.builders import make, response_class
from protocol.codec import encode_response

REPO = Path(__file__).resolve().parents[2]
Answer = Callable[[int, int, int], bytes]  # (api key, version, correlation id) -> frame


def api_versions_ok(api_key: int, version: int, corr: int) -> bytes:
    keys = tuple(
        make(response_class(18, version, "ApiVersion"), api_key=k, min_version=0, max_version=hi)
        for k, hi in ((3, 12), (18, 3))
    )
    body = make(
        response_class(18, version),
        error_code=ErrorCode.none,
        api_keys=keys,
        throttle_time=datetime.timedelta(0),
    )
    return encode_response(18, version, corr, body)


def limit_address_space() -> None:
    limit = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


class HostileBroker:
    """Answers each request with ``answer``; serves connections until closed."""

    def __init__(self, answer: Answer, close_after_answer: bool = False) -> None:
        self.answer = answer
        self.close_after_answer = close_after_answer
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    head = conn.recv(4, socket.MSG_WAITALL)
                    if len(head) < 4:
                        return
                    (size,) = struct.unpack(">i", head)
                    frame = conn.recv(size, socket.MSG_WAITALL)
                    api_key, version, corr = struct.unpack_from(">hhi", frame)
                    conn.sendall(self.answer(api_key, version, corr))
                    if self.close_after_answer:
                        return
            except OSError:
                return

    def close(self) -> None:
        self.server.close()


def metadata_then(body: bytes) -> Answer:
    def answer(api_key: int, version: int, corr: int) -> bytes:
        if api_key == 18:
            return api_versions_ok(api_key, version, corr)
        assert (api_key, version) == (3, 12)
        return framed(struct.pack(">i", corr) + b"\x00" + body)

    return answer


def api_versions_reply(payload: bytes) -> Answer:
    return lambda api_key, version, corr: framed(struct.pack(">i", corr) + payload)


CASES: dict[str, Answer] = {
    # ApiVersions v3 body (header v0): error 0, api_keys compact count 2^32 - 2
    "api versions keys 2^32": api_versions_reply(b"\x00\x00" + b"\xff\xff\xff\xff\x0f"),
    # UNSUPPORTED_VERSION in the v0 format with an int32 count of 0x7fffffff
    "api versions v0 count": api_versions_reply(b"\x00\x23" + b"\x7f\xff\xff\xff"),
    # a 2-byte response: no room for an error code
    "api versions short": api_versions_reply(b""),
    # Metadata v12: throttle time, then brokers compact count 2^32 - 2
    "metadata brokers 2^32": metadata_then(b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff\x0f"),
    # Metadata v12: one broker whose host string claims 2^28 bytes
    "metadata host length": metadata_then(
        b"\x00\x00\x00\x00" + b"\x02" + b"\x00\x00\x00\x01" + b"\xff\xff\xff\x7f" + bytes(16)
    ),
    # a response size of 2 GiB - 1 and then the connection closes: the tool must not set
    # aside 2 GiB for it (the child's address space is limited to 1 GiB)
    "huge response size": lambda api_key, version, corr: b"\x7f\xff\xff\xff" + bytes(1000),
}
CLOSE_AFTER_ANSWER = {"huge response size"}


@pytest.mark.parametrize("case", list(CASES))
def test_admin_cli_survives_a_hostile_broker(case: str) -> None:
    broker = HostileBroker(CASES[case], case in CLOSE_AFTER_ANSWER)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "broker",
                "topics",
                "list",
                "--bootstrap-server",
                f"127.0.0.1:{broker.port}",
                "--timeout",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            preexec_fn=limit_address_space,
        )
    finally:
        broker.close()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr
