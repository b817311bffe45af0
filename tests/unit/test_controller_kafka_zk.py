"""KafkaZkControllerClient: ZooKeeper timeouts and lost connections are retried while the
session lives (the controller never drops a step half done), and end with the session."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.controller import kafka_zk
from cluster.controller.kafka_zk import KafkaZkControllerClient
from cluster.zk.client import SessionState
from cluster.zk.errors import ConnectionLossError, NoNodeError, RequestTimeoutError
from cluster.zk.ops import ZnodeStat
from storage.clock import ManualClock


class FlakyZk:
    """A ZkClient stand-in whose reads fail ``failures`` times first."""

    def __init__(self, failures: list[Exception], state: SessionState = SessionState.CONNECTED):
        self.failures = failures
        self.state = state
        self.calls = 0

    async def get_children(self, path: str) -> list[str]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if path == "/brokers/topics":
            return ["a", "b"]
        raise NoNodeError(path=path)

    async def get(self, path: str) -> tuple[bytes | None, ZnodeStat]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        raise NoNodeError(path=path)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_zk, "RETRY_BACKOFF_S", 0.0)


async def test_timeouts_and_connection_loss_are_retried() -> None:
    zk = FlakyZk([RequestTimeoutError(path="/x"), ConnectionLossError(path="/x")])
    client = KafkaZkControllerClient(zk, ManualClock())  # type: ignore[arg-type]
    assert await client.get_all_topics() == {"a", "b"}
    assert zk.calls == 3


async def test_no_node_is_an_answer_not_a_failure() -> None:
    zk = FlakyZk([])
    client = KafkaZkControllerClient(zk, ManualClock())  # type: ignore[arg-type]
    assert await client.get_controller_id() is None
    assert await client.get_preferred_replica_election() is None
    assert zk.calls == 2


@pytest.mark.parametrize("state", [SessionState.EXPIRED, SessionState.CLOSED])
async def test_an_ended_session_stops_the_retries(state: SessionState) -> None:
    zk: Any = FlakyZk([RequestTimeoutError(path="/x")] * 5, state)
    client = KafkaZkControllerClient(zk, ManualClock())
    with pytest.raises(RequestTimeoutError):
        await client.get_all_topics()
    assert zk.calls == 1
