"""Process entry point of the ``josef`` command and of ``python -m broker``."""

from __future__ import annotations

import sys


def main() -> int:
    # kio registers hypothesis strategies whenever hypothesis is importable (installs with
    # the test extra); a broker or CLI process never uses them, and that import costs
    # ~0.7 s of CPU at every start. Blocked only when nothing imported it yet.
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    from broker.cli import main as cli_main

    return cli_main()
