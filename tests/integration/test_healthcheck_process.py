"""``python -m broker.healthcheck`` (the container health check) against real processes:
a running broker passes, a stopped one and a closed port fail with exit status 1.

The argument lists are the ones docker/Dockerfile and docker/docker-compose.yml run, with
only the address pointed at the test broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest
from helpers.broker_process import REPO_ROOT, BrokerProcess, require_josef
from helpers.docker_files import (
    compose_config,
    docker_compose_binary,
    dockerfile_instructions,
    healthcheck_command,
)

# A guard against a hung check, not a measurement: failures must come back long before it.
GUARD_S = 60


def run_check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a health-check command line as Docker would (``python`` = this interpreter)."""
    assert argv[:3] == ["python", "-m", "broker.healthcheck"], argv
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=str(REPO_ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )


def pointed_at(argv: list[str], bootstrap: str, http_url: str | None = None) -> list[str]:
    """``argv`` aimed at a test broker: its listener, and its /v1/ready when given."""
    out = list(argv)
    out[out.index("--bootstrap-server") + 1] = bootstrap
    if "--ready-url" in out:
        assert http_url is not None, "this check also asks /v1/ready"
        out[out.index("--ready-url") + 1] = f"{http_url}/v1/ready"
    return out


DEFAULT_ARGV = ["python", "-m", "broker.healthcheck", "--bootstrap-server", "127.0.0.1:9092"]


def test_running_broker_is_healthy_then_stopped_broker_is_not(broker: BrokerProcess) -> None:
    ok = run_check(pointed_at(DEFAULT_ARGV, broker.bootstrap))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"healthy: {broker.bootstrap} answered ApiVersions (")
    assert ok.stderr == ""

    broker.stop()
    down = run_check(pointed_at(DEFAULT_ARGV, broker.bootstrap))
    assert down.returncode == 1
    assert down.stdout == ""
    assert down.stderr == f"unhealthy: {broker.bootstrap}: Connection refused\n"


def test_closed_port_fails_with_status_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = int(s.getsockname()[1])
    result = run_check([*pointed_at(DEFAULT_ARGV, f"127.0.0.1:{port}"), "--timeout-ms", "2000"])
    assert result.returncode == 1
    assert result.stderr == f"unhealthy: 127.0.0.1:{port}: Connection refused\n"


def test_listener_that_never_answers_fails_at_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:  # accepts (backlog), never answers
        port = int(s.getsockname()[1])
        result = run_check([*pointed_at(DEFAULT_ARGV, f"127.0.0.1:{port}"), "--timeout-ms", "500"])
    assert result.returncode == 1
    assert result.stderr == f"unhealthy: 127.0.0.1:{port}: no answer within 500 ms\n"


def test_dockerfile_health_check_passes_against_a_broker(broker: BrokerProcess) -> None:
    argv = healthcheck_command(dockerfile_instructions())
    result = run_check(pointed_at(argv, broker.bootstrap, broker.http_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f"{broker.http_url}/v1/ready ready\n")


def test_compose_health_check_passes_against_each_listener(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """The compose file's broker check, against a broker with INTERNAL and EXTERNAL listeners."""
    require_josef("sets Josef's listener keys")
    binary = docker_compose_binary()
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    with socket.create_server(("127.0.0.1", 0)) as s:
        internal = int(s.getsockname()[1])
    b = broker_factory(start=False)
    b.overrides.update(
        {
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
            "listeners": f"EXTERNAL://127.0.0.1:{b.port},INTERNAL://127.0.0.1:{internal}",
            "advertised.listeners": f"EXTERNAL://127.0.0.1:{b.port},"
            f"INTERNAL://127.0.0.1:{internal}",
            "inter.broker.listener.name": "INTERNAL",
        }
    )
    b.start()
    for name, service in compose_config(binary)["services"].items():
        test = service["healthcheck"]["test"]
        if "broker.healthcheck" not in test:
            continue
        result = run_check(pointed_at(test[1:], f"127.0.0.1:{internal}", b.http_url))
        assert result.returncode == 0, f"{name}: {result.stderr}"
