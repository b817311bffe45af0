"""The compose file's ZooKeeper health check, run against Debian's ZooKeeper 3.8 on loopback.

It must pass on a serving node and fail on a node that runs but has no quorum (it answers
``ruok`` but not ``srvr``) and on a closed port: the brokers' ``depends_on:
service_healthy`` waits on exactly this.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.broker_process import free_port
from helpers.docker_files import compose_config, docker_compose_binary

ZK_SERVER = Path("/usr/share/zookeeper/bin/zkServer.sh")
START_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def zookeeper_check() -> list[str]:
    """The healthcheck ``test`` of zoo1 in the resolved compose file."""
    binary = docker_compose_binary()
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    if not ZK_SERVER.exists() or shutil.which("java") is None:
        pytest.skip("ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)")
    service: dict[str, Any] = compose_config(binary)["services"]["zoo1"]
    test: list[str] = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    return test[1:]


def run_check(argv: list[str], port: int) -> int:
    text = [a.replace("/2181", f"/{port}") for a in argv]
    return subprocess.run(text, capture_output=True, timeout=60, check=False).returncode


def four_letter_word(port: int, word: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(word)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out


@contextlib.contextmanager
def zookeeper(workdir: Path, *, ensemble_of_3: bool) -> Iterator[int]:
    """One ZooKeeper server; with ``ensemble_of_3`` it is node 1 of 3 whose peers never start."""
    data = workdir / "data"
    data.mkdir(parents=True)
    (data / "myid").write_text("1\n")
    port = free_port()
    lines = [
        "tickTime=500",
        "initLimit=10",
        "syncLimit=5",
        f"dataDir={data}",
        f"clientPort={port}",
        "admin.enableServer=false",
        "4lw.commands.whitelist=srvr,ruok",
    ]
    if ensemble_of_3:
        lines += [f"server.{n}=127.0.0.1:{free_port()}:{free_port()}" for n in (1, 2, 3)]
    cfg = workdir / "zoo.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, ZOO_LOG_DIR=str(workdir), JVMFLAGS="-Xmx128m")
    with open(workdir / "zookeeper.out", "wb") as out:
        proc = subprocess.Popen(
            [str(ZK_SERVER), "start-foreground", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, (workdir / "zookeeper.out").read_text()
            with contextlib.suppress(OSError):
                if four_letter_word(port, b"ruok") == b"imok":
                    break
            assert time.monotonic() < deadline, "ZooKeeper did not answer ruok"
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def test_serving_node_is_healthy(zookeeper_check: list[str], tmp_path: Path) -> None:
    with zookeeper(tmp_path, ensemble_of_3=False) as port:
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"Mode: " not in four_letter_word(port, b"srvr"):
            assert time.monotonic() < deadline, "standalone ZooKeeper never served"
            time.sleep(0.2)
        assert [run_check(zookeeper_check, port) for _ in range(20)] == [0] * 20


def test_node_without_quorum_is_unhealthy(zookeeper_check: list[str], tmp_path: Path) -> None:
    with zookeeper(tmp_path, ensemble_of_3=True) as port:
        assert four_letter_word(port, b"ruok") == b"imok"  # running ...
        assert b"Mode: " not in four_letter_word(port, b"srvr")  # ... but not serving
        assert run_check(zookeeper_check, port) != 0


def test_closed_port_is_unhealthy(zookeeper_check: list[str]) -> None:
    assert run_check(zookeeper_check, free_port()) != 0
