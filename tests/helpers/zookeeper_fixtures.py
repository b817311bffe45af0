"""pytest fixtures for a real ZooKeeper ensemble (imported by tests/conftest.py).

* ``zookeeper_ensemble`` - session scope, 3 nodes, shared by every test that only reads and
  writes znodes; each test works under its own chroot (``zk_chroot`` / ``zk_connect``).
* ``zk_ensemble``        - that shared ensemble for one test: restarted first if an earlier
                           test left a node down, its log tails printed if the test fails.
* ``zk_chroot``          - a chroot unique to the test (``/t-<test name>-<random>``).
* ``zk_connect``         - ``zookeeper.connect`` for the shared ensemble with that chroot.
* ``zk_ensemble_factory``- ``make(size=3)``: a fresh ensemble owned by the test (stop, kill,
                           pause nodes freely); always killed at the end of the test.
* ``zk_fresh_ensemble``  - ``make(3)``; ``zk_single`` - ``make(1)`` (a standalone server).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from helpers.zookeeper import ZooKeeperEnsemble, ZooKeeperError

EnsembleFactory = Callable[..., ZooKeeperEnsemble]


def _test_failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def _start(ensemble: ZooKeeperEnsemble) -> ZooKeeperEnsemble:
    try:
        return ensemble.start()
    except ZooKeeperError as exc:
        pytest.fail(f"could not start ZooKeeper: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def zookeeper_ensemble(
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[ZooKeeperEnsemble, None, None]:
    ensemble = ZooKeeperEnsemble(tmp_path_factory.mktemp("zookeeper"), size=3)
    try:
        _start(ensemble)
        yield ensemble
    finally:
        ensemble.close()


@pytest.fixture
def zk_ensemble(
    request: pytest.FixtureRequest, zookeeper_ensemble: ZooKeeperEnsemble
) -> Generator[ZooKeeperEnsemble, None, None]:
    zookeeper_ensemble.ensure_healthy()
    yield zookeeper_ensemble
    if _test_failed(request):
        print(f"\n{zookeeper_ensemble.log_tails()}")


@pytest.fixture
def zk_chroot(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60].strip("-.")
    return f"/t-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def zk_connect(zk_ensemble: ZooKeeperEnsemble, zk_chroot: str) -> str:
    return zk_ensemble.connect_string(zk_chroot)


@pytest.fixture
def zk_ensemble_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Generator[EnsembleFactory, None, None]:
    made: list[ZooKeeperEnsemble] = []

    def make(size: int = 3) -> ZooKeeperEnsemble:
        ensemble = ZooKeeperEnsemble(tmp_path / f"zookeeper{len(made)}", size=size)
        made.append(ensemble)
        return _start(ensemble)

    try:
        yield make
    finally:
        if _test_failed(request):
            for ensemble in made:
                print(f"\n{ensemble.log_tails()}")
        for ensemble in made:
            ensemble.close()


@pytest.fixture
def zk_fresh_ensemble(zk_ensemble_factory: EnsembleFactory) -> ZooKeeperEnsemble:
    return zk_ensemble_factory(3)


@pytest.fixture
def zk_single(zk_ensemble_factory: EnsembleFactory) -> ZooKeeperEnsemble:
    return zk_ensemble_factory(1)
