"""Raw-frame mutation fuzzing of the request decode path, in a child process (issue 12).

A hostile count once made kio's native decoder allocate tens of GB and abort the broker
(SIGABRT: no exception, no traceback, the process is gone). The fuzzer in
tests/helpers/frame_fuzz.py mutates length fields, varints, counts, truncates and splices
valid frames (every routed API version, plus frames recorded from real clients) and runs
each through RequestDispatcher.dispatch. It runs in a child process, under an address-space
limit, so an abort or a huge allocation fails the test instead of killing pytest.

Against the code before the frame guard the default run aborts within a thousand frames
on every seed tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.hostile_frames import hostile_frames

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
CHILD = TESTS / "helpers" / "frame_fuzz.py"
FIXTURES = TESTS / "fixtures" / "client_frames.txt"
MEMORY_LIMIT_MB = 2048


def run_child(*args: str, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(CHILD), "--memory-limit-mb", str(MEMORY_LIMIT_MB), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, (
        f"fuzz child exited with {proc.returncode} (negative: killed by signal "
        f"{-proc.returncode})\nstderr (tail):\n{proc.stderr[-4000:]}"
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def check_run(result: dict[str, Any], frames: int) -> None:
    assert result["frames"] == frames
    assert result["decoded"] + result["refused"] == frames
    # both outcomes occur: the mutations are neither all harmless nor all fatal
    assert result["decoded"] > frames // 50 and result["refused"] > frames // 2
    print(
        f"\nframe fuzz: {frames} frames from {result['seeds']} seeds, "
        f"{result['decoded']} decoded, {result['refused']} refused, "
        f"{result['frames_per_s']} frames/s"
    )


def test_real_client_fixtures_are_present() -> None:
    lines = [ln for ln in FIXTURES.read_text().splitlines() if ln and not ln.startswith("#")]
    clients = {ln.split()[0] for ln in lines}
    assert {"kafka-python", "confluent", "aiokafka", "kcat"} <= clients
    assert len(lines) >= 40


def test_real_client_frames_decode() -> None:
    """Every recorded real-client frame decodes (none is refused by the guard)."""
    frames = [ln.split()[-1] for ln in FIXTURES.read_text().splitlines() if ln[:1] not in "#"]
    args = [a for f in frames if f for a in ("--frame", f)]
    outcomes = run_child(*args, timeout=120)["outcomes"]
    assert outcomes == ["decoded"] * len(frames)


CRAFTED = hostile_frames()


def test_crafted_frames_are_refused_not_fatal() -> None:
    """The frames that aborted the process are refused (ProtocolViolation: one log line)."""
    args = [a for frame in CRAFTED.values() for a in ("--frame", frame.hex())]
    outcomes = run_child(*args, timeout=120)["outcomes"]
    assert dict(zip(CRAFTED, outcomes, strict=True)) == dict.fromkeys(CRAFTED, "refused")


def test_mutated_frames_never_abort() -> None:
    """20,000 mutated frames through the real decode path (a few seconds)."""
    frames = 20_000
    result = run_child(
        "--frames", str(frames), "--seed", "12", "--fixtures", str(FIXTURES), timeout=300
    )
    check_run(result, frames)


@pytest.mark.soak
@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_frames_never_abort_soak(seed: int) -> None:
    """1,000,000 mutated frames per seed (about a minute each on a 2-core machine)."""
    frames = 1_000_000
    result = run_child(
        "--frames", str(frames), "--seed", str(seed), "--fixtures", str(FIXTURES), timeout=3600
    )
    check_run(result, frames)
