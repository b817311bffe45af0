"""Render the supported-API table (README) from the live route table."""

from __future__ import annotations

from typing import Any

from broker.handlers import register_all
from broker.network.dispatch import Registry


class _Unwired:
    """Stands in for BrokerServices at registration time: handlers only close over it."""

    def __init__(self) -> None:
        self.registry = Registry()

    def __getattr__(self, name: str) -> Any:
        return None


def supported_apis() -> list[tuple[int, str, int, int]]:
    services = _Unwired()
    register_all(services)  # type: ignore[arg-type]
    return [(r.api_key, r.name, r.min_version, r.max_version) for r in services.registry.routes()]


def render_markdown() -> str:
    lines = ["| API | key | versions |", "| --- | --- | --- |"]
    for key, name, lo, hi in supported_apis():
        lines.append(f"| {name} | {key} | {lo}-{hi} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
