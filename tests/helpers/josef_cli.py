"""Run the ``josef`` admin CLI as a subprocess (``python -m broker ...``) and read its tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 60.0


def josef(
    bootstrap: str | None,
    *args: str,
    stdin: str | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``josef ARGS... --bootstrap-server BOOTSTRAP``; returns the finished process."""
    cmd = [sys.executable, "-m", "broker", *args]
    if bootstrap is not None:
        cmd += ["--bootstrap-server", bootstrap]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded."""
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
        f"stderr:\n{proc.stderr}"
    )
    return proc.stdout


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of the first aligned table in ``text`` (columns split on 2+ spaces), keyed by
    the header names. Lines before the header (blank lines, notes) are skipped."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("GROUP ")), None)
    if start is None:
        start = next(i for i, ln in enumerate(lines) if re.match(r"^[A-Z#-]+(\s{2,}|$)", ln))
    headers = re.split(r"\s{2,}", lines[start].strip())
    rows = []
    for ln in lines[start + 1 :]:
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) != len(headers):
            break
        rows.append(dict(zip(headers, cells, strict=True)))
    return rows
