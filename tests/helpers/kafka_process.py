"""Apache Kafka 3.9.1 brokers in ZooKeeper mode, as real peers in tests.

Two listeners, as in a docker compose cluster: INTERNAL (inter-broker, where the controller
connects) and EXTERNAL (clients; ``bootstrap``).

The jars come from /work/cache/kafka-3.9.1/libs (fetched with mvn; never committed). Each
broker gets its own directory with ``server.properties``, a log4j configuration logging to
``server.log`` and its data under ``data/``; it runs in its own process group and dies with
the test process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

KAFKA_LIBS = Path(os.environ.get("KAFKA_LIBS", "/work/cache/kafka-3.9.1/libs"))
JVM_FLAGS = (
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.net.preferIPv4Stack=true",
    "-Djava.awt.headless=true",
)


def kafka_available() -> bool:
    return (KAFKA_LIBS / "kafka_2.13-3.9.1.jar").exists() and shutil.which("java") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class KafkaBroker:
    """One Kafka broker process (see the module docstring)."""

    def __init__(
        self,
        base_dir: Path,
        broker_id: int,
        zk_connect: str,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.broker_id = broker_id
        self.zk_connect = zk_connect
        self.dir = base_dir / f"kafka{broker_id}"
        self.port = free_port()  # INTERNAL: the inter-broker (and controller) listener
        self.external_port = free_port()  # EXTERNAL: for clients
        self.overrides = overrides or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.external_port}"

    def write_config(self) -> Path:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        props = {
            "broker.id": str(self.broker_id),
            "listeners": (
                f"INTERNAL://127.0.0.1:{self.port},EXTERNAL://127.0.0.1:{self.external_port}"
            ),
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "zookeeper.connect": self.zk_connect,
            "zookeeper.session.timeout.ms": "6000",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "controlled.shutdown.enable": "true",
            "controlled.shutdown.retry.backoff.ms": "500",
            "replica.lag.time.max.ms": "10000",
            "replica.fetch.wait.max.ms": "100",
            **self.overrides,
        }
        config = self.dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, FILE\n"
            "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
            f"log4j.appender.FILE.File={self.dir / 'server.log'}\n"
            "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.FILE.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        )
        return config

    def start(self) -> KafkaBroker:
        config = self.write_config()
        stdout = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                shutil.which("java") or "java",
                *JVM_FLAGS,
                f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.dir}",
                "-cp",
                f"{KAFKA_LIBS}/*",
                "kafka.Kafka",
                str(config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        stdout.close()
        return self

    def wait_listening(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"Kafka broker {self.broker_id} exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(f"Kafka broker {self.broker_id} not listening:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (a crash: no controlled shutdown)."""
        self._signal(signal.SIGKILL)
        self.wait(30)

    def terminate(self, timeout: float = 90.0) -> int | None:
        """SIGTERM: Kafka's controlled shutdown, then exit."""
        self._signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            return self.proc.wait(30)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def log_tail(self, lines: int = 60) -> str:
        path = self.dir / "server.log"
        if not path.exists():
            path = self.dir / "stdout.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def grep_log(self, needle: str) -> list[str]:
        path = self.dir / "server.log"
        with contextlib.suppress(OSError):
            return [
                line for line in path.read_text(errors="replace").splitlines() if needle in line
            ]
        return []
