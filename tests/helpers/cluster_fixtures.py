"""pytest fixture for Josef clusters on the shared ZooKeeper ensemble (see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from helpers.josef_cluster import JosefCluster


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


ClusterFactory = Callable[..., JosefCluster]


@pytest.fixture
def josef_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, zk_connect: str
) -> Generator[ClusterFactory, None, None]:
    """``make(size=3, overrides=None, per_broker=None, start=True)``: a Josef cluster on the
    shared ZooKeeper ensemble under a chroot of this test; stopped at the end."""
    made: list[JosefCluster] = []

    def make(
        size: int = 3,
        overrides: dict[str, str] | None = None,
        per_broker: dict[int, dict[str, str]] | None = None,
        start: bool = True,
    ) -> JosefCluster:
        cluster = JosefCluster(
            tmp_path / f"cluster{len(made)}", zk_connect, size, overrides, per_broker
        )
        made.append(cluster)
        if start:
            cluster.start()
        return cluster

    try:
        yield make
    finally:
        for c in made:
            c.close()
        if _failed(request):
            for c in made:
                print(f"\n{c.log_tails(120)}")
