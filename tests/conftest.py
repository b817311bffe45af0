"""Shared fixtures: real broker processes (Josef, or Tansu with JOSEF_TEST_BROKER=tansu).

* ``broker``         - one fresh broker per test (function scope), default configuration.
* ``broker_factory`` - ``broker_factory(overrides={...}, name="b1", start=True)`` makes more
                       brokers or ones with custom ``--override`` settings; all are stopped at
                       the end of the test.
* ``shared_broker``  - one broker for the whole session, for read-only round trips on unique
                       topics (``unique_topic()``), to keep the suite fast.
* ``zookeeper_ensemble``, ``zk_ensemble``, ``zk_connect``, ``zk_fresh_ensemble``,
  ``zk_single`` ... - real ZooKeeper ensembles (helpers/zookeeper_fixtures.py).

On a test failure the log tail of every broker the test used is printed (shown by pytest in
the "Captured stdout teardown" section).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers.broker_process import BrokerProcess, broker_kind
from helpers.cluster_fixtures import josef_cluster  # noqa: F401 - fixture
from helpers.zookeeper_fixtures import (  # noqa: F401 - fixtures, see that module
    zk_chroot,
    zk_connect,
    zk_ensemble,
    zk_ensemble_factory,
    zk_fresh_ensemble,
    zk_single,
    zookeeper_ensemble,
)

# Hypothesis' per-example deadline is a timing assertion; on a loaded 2-core CI machine an
# fsync can take longer than 200 ms. Outcomes are asserted, not speed.
settings.register_profile("josef", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("josef")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its schemas with deprecated importlib.resources calls.
    config.addinivalue_line(
        "filterwarnings", "ignore:.*is deprecated. Use files:DeprecationWarning"
    )


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(
        getattr(node, f"rep_{when}", None) is not None and getattr(node, f"rep_{when}").failed
        for when in ("setup", "call")
    )


def _report(brokers: list[BrokerProcess]) -> None:
    for b in brokers:
        print(f"\n----- {b!r} log tail ({b.log_path}) -----\n{b.log_tail(80)}")


def pytest_report_header() -> str:
    return f"broker under test: {broker_kind()}"


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Generator[BrokerProcess, None, None]:
    b = BrokerProcess(tmp_path / "broker")
    try:
        b.start()
        yield b
    finally:
        b.close()
        if _failed(request):
            _report([b])


BrokerFactory = Callable[..., BrokerProcess]


@pytest.fixture
def broker_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Generator[BrokerFactory, None, None]:
    made: list[BrokerProcess] = []

    def make(
        overrides: dict[str, str] | None = None,
        *,
        name: str | None = None,
        start: bool = True,
        broker_id: int = 0,
    ) -> BrokerProcess:
        nm = name or f"broker{len(made)}"
        b = BrokerProcess(tmp_path / nm, overrides, name=nm, broker_id=broker_id)
        made.append(b)
        if start:
            b.start()
        return b

    try:
        yield make
    finally:
        for b in made:
            b.close()
        if _failed(request):
            _report(made)


@pytest.fixture(scope="session")
def shared_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[BrokerProcess, None, None]:
    b = BrokerProcess(tmp_path_factory.mktemp("shared-broker"), name="shared")
    try:
        b.start()
        yield b
    finally:
        b.close()


@pytest.fixture
def shared(
    request: pytest.FixtureRequest, shared_broker: BrokerProcess
) -> Generator[BrokerProcess, None, None]:
    """``shared_broker`` plus a log tail on failure (and a restart if an earlier test broke it)."""
    if not shared_broker.running:
        shared_broker.start()
    yield shared_broker
    if _failed(request):
        _report([shared_broker])

