"""Run one client program (Java, Go, Node) against a Josef process and check its report."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest

from helpers.broker_process import BrokerProcess, require_josef
from helpers.client_scenario import (
    check_idempotent_batches,
    check_report,
    matrix_yes,
    parse_report,
)

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "clients"
PROGRAM_TIMEOUT_S = 240


def scenario_broker(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> Generator[BrokerProcess, None, None]:
    """One Josef process for a client's scenarios (a generator for a module fixture)."""
    require_josef("reads the stored batches of Josef's log")
    proc = BrokerProcess(
        tmp_path_factory.mktemp(name),
        {"group.initial.rebalance.delay.ms": "0", "num.partitions": "1"},
        name=name,
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.close()


def run_program(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=PROGRAM_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def check_client(client: str, stdout: str, broker: BrokerProcess, topic: str) -> None:
    """Assert the report exactly, the idempotent batches on disk, and that the features
    verified are the matrix row's "yes" cells."""
    report = parse_report(stdout)
    verified = check_report(report)
    check_idempotent_batches(broker.data_dir, topic)
    assert verified == matrix_yes(client), (client, sorted(verified))
