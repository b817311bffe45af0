"""ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments handlers
(broker.handlers.admin_replicas) against an in-process broker whose cluster membership is
a stand-in controller: what each version answers, NOT_CONTROLLER, partitions=null,
waiting for the new leader to show in this broker's metadata.

Real-cluster behaviour is in tests/integration/test_cluster_elections.py and
test_cluster_reassignment.py.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.handlers import admin_replicas
from broker.network.context import ConnectionInfo, RequestContext
from broker.server import KafkaBroker
from broker.services import BrokerServices
from broker.topic_manager import TopicSpec
from cluster.controller.api import NotControllerError
from cluster.controller.model import ReplicaAssignment, TopicPartition
from protocol.builders import make, request_class
from protocol.codec import encode_response
from protocol.headers import RequestHeader

ELECT, ALTER, LIST = 43, 45, 46
Key = tuple[str, int]


class FakeController:
    """The parts of cluster.controller.api.KafkaController the handlers call."""

    def __init__(self, services: BrokerServices) -> None:
        self.services = services
        self.is_active = True
        self.elections: list[tuple[int, list[Key] | None, int]] = []
        self.election_answers: dict[Key, tuple[ErrorCode, str | None]] = {}
        self.bump_epochs = True
        self.reassignments: list[dict[Key, Sequence[int] | None]] = []
        self.ongoing: dict[TopicPartition, ReplicaAssignment] | ErrorCode = {}
        self.moved = False

    async def elect_leaders(
        self, election_type: int, partitions: Sequence[Key] | None, timeout_ms: int
    ) -> dict[Key, tuple[ErrorCode, str | None]]:
        self.elections.append(
            (election_type, None if partitions is None else list(partitions), timeout_ms)
        )
        answers = {
            tp: self.election_answers.get(tp, (ErrorCode.none, None)) for tp in partitions or ()
        }
        if self.bump_epochs:
            # What UpdateMetadata from the controller would do to this broker's view.
            for (topic, p), (code, _) in answers.items():
                t = self.services.metadata.topic(topic)
                if code == ErrorCode.none and t is not None and p in t.partitions:
                    t.partitions[p].leader_epoch += 1
        return answers

    async def alter_partition_reassignments(
        self, reassignments: Mapping[Key, Sequence[int] | None], timeout_ms: int
    ) -> dict[Key, tuple[ErrorCode, str | None]]:
        if self.moved:
            raise NotControllerError("This is not the correct controller for this cluster.")
        self.reassignments.append(dict(reassignments))
        return {
            tp: (ErrorCode.no_reassignment_in_progress, "No partition reassignment is in progress.")
            if r is None
            else (ErrorCode.none, None)
            for tp, r in reassignments.items()
        }

    async def list_partition_reassignments_event(
        self, partitions: Sequence[Key] | None
    ) -> dict[TopicPartition, ReplicaAssignment] | ErrorCode:
        self.listed = partitions
        return self.ongoing


class FakeMember:
    def __init__(self, controller: FakeController) -> None:
        self.controller = controller


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[BrokerServices]:
    config = load_config(
        None, ["listeners=PLAINTEXT://127.0.0.1:0", f"log.dirs={tmp_path / 'logs'}"]
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    services = broker.services
    await services.topic_manager.create(TopicSpec("t", 3, 1))
    try:
        yield services
    finally:
        await broker.shutdown()


@pytest.fixture
def controller(services: BrokerServices) -> FakeController:
    fake = FakeController(services)
    services.cluster = FakeMember(fake)
    admin_replicas.register(services)
    return fake


def req(api_key: int, version: int, name: str | None = None, /, **fields: Any) -> Any:
    return make(request_class(api_key, version, name), **fields)


async def call(services: BrokerServices, api_key: int, version: int, request: Any) -> Any:
    route = services.registry.get(api_key)
    assert route is not None and route.supports(version)
    ctx = RequestContext(
        RequestHeader(api_key, version, 1, "test"),
        ConnectionInfo("c1", "127.0.0.1", 5555, "PLAINTEXT"),
    )
    response = await route.handler(ctx, request)
    encode_response(api_key, version, 1, response)  # must serialize
    return response


def election(version: int, partitions: dict[str, list[int]] | None, kind: int = 0) -> Any:
    return req(
        ELECT,
        version,
        election_type=kind,
        topic_partitions=None
        if partitions is None
        else tuple(
            req(ELECT, version, "TopicPartitions", topic=t, partitions=tuple(ps))
            for t, ps in partitions.items()
        ),
        timeout=datetime.timedelta(seconds=5),
    )


def election_results(response: Any) -> dict[Key, ErrorCode]:
    return {
        (r.topic, int(p.partition_id)): p.error_code
        for r in response.replica_election_results
        for p in r.partition_result
    }


async def test_not_registered_standalone(services: BrokerServices) -> None:
    for key in (ELECT, ALTER, LIST):
        assert services.registry.get(key) is None


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_elect_leaders(
    services: BrokerServices, controller: FakeController, version: int
) -> None:
    controller.election_answers = {("t", 1): (ErrorCode.election_not_needed, "not needed")}
    response = await call(services, ELECT, version, election(version, {"t": [0, 1]}))
    assert election_results(response) == {
        ("t", 0): ErrorCode.none,
        ("t", 1): ErrorCode.election_not_needed,
    }
    assert controller.elections == [(0, [("t", 0), ("t", 1)], 5000)]
    if version >= 1:
        assert response.error_code == ErrorCode.none


async def test_elect_all_partitions_reports_only_elections(
    services: BrokerServices, controller: FakeController
) -> None:
    controller.election_answers = {("t", 1): (ErrorCode.election_not_needed, None)}
    response = await call(services, ELECT, 2, election(2, None, kind=1))
    assert controller.elections == [(1, [("t", 0), ("t", 1), ("t", 2)], 5000)]
    assert election_results(response) == {("t", 0): ErrorCode.none, ("t", 2): ErrorCode.none}


async def test_elect_waits_for_the_new_leader_in_metadata(
    services: BrokerServices, controller: FakeController
) -> None:
    controller.bump_epochs = False  # the controller never tells this broker
    response = await call(services, ELECT, 2, election(2, {"t": [0]}))
    assert election_results(response) == {("t", 0): ErrorCode.request_timed_out}


async def test_elect_on_a_broker_that_is_not_the_controller(
    services: BrokerServices, controller: FakeController
) -> None:
    controller.is_active = False
    response = await call(services, ELECT, 2, election(2, {"t": [0, 2]}))
    assert response.error_code == ErrorCode.none  # Kafka: per partition
    assert election_results(response) == {
        ("t", 0): ErrorCode.not_controller,
        ("t", 2): ErrorCode.not_controller,
    }
    assert controller.elections == []


async def test_elect_unknown_election_type(
    services: BrokerServices, controller: FakeController
) -> None:
    response = await call(services, ELECT, 1, election(1, {"t": [0]}, kind=7))
    assert response.error_code == ErrorCode.invalid_request
    assert election_results(response) == {("t", 0): ErrorCode.invalid_request}


def alter_request(targets: list[tuple[str, int, list[int] | None]]) -> Any:
    by_topic: dict[str, list[Any]] = {}
    for topic, p, replicas in targets:
        by_topic.setdefault(topic, []).append(
            req(
                ALTER,
                0,
                "ReassignablePartition",
                partition_index=p,
                replicas=None if replicas is None else tuple(replicas),
            )
        )
    return req(
        ALTER,
        0,
        timeout=datetime.timedelta(seconds=5),
        topics=tuple(
            req(ALTER, 0, "ReassignableTopic", name=t, partitions=tuple(ps))
            for t, ps in by_topic.items()
        ),
    )


async def test_alter_partition_reassignments(
    services: BrokerServices, controller: FakeController
) -> None:
    response = await call(
        services, ALTER, 0, alter_request([("t", 0, [1]), ("t", 1, None), ("t", 0, [2, 1])])
    )
    assert response.error_code == ErrorCode.none
    # The last entry for a partition wins.
    assert controller.reassignments == [{("t", 0): [2, 1], ("t", 1): None}]
    (topic,) = response.responses
    assert topic.name == "t"
    assert [(int(p.partition_index), p.error_code) for p in topic.partitions] == [
        (0, ErrorCode.none),
        (1, ErrorCode.no_reassignment_in_progress),
    ]


async def test_alter_partition_reassignments_not_controller(
    services: BrokerServices, controller: FakeController
) -> None:
    controller.is_active = False
    response = await call(services, ALTER, 0, alter_request([("t", 0, [1])]))
    assert response.error_code == ErrorCode.not_controller and response.responses == ()
    controller.is_active = True
    controller.moved = True  # lost the election meanwhile
    response = await call(services, ALTER, 0, alter_request([("t", 0, [1])]))
    assert response.error_code == ErrorCode.not_controller


async def test_list_partition_reassignments(
    services: BrokerServices, controller: FakeController
) -> None:
    controller.ongoing = {
        TopicPartition("t", 2): ReplicaAssignment(
            (3, 1, 2), adding_replicas=(3,), removing_replicas=(2,)
        )
    }
    response = await call(
        services, LIST, 0, req(LIST, 0, timeout=datetime.timedelta(seconds=5), topics=None)
    )
    assert controller.listed is None
    assert response.error_code == ErrorCode.none
    (topic,) = response.topics
    (p,) = topic.partitions
    assert (topic.name, int(p.partition_index)) == ("t", 2)
    assert (list(p.replicas), list(p.adding_replicas), list(p.removing_replicas)) == (
        [3, 1, 2],
        [3],
        [2],
    )
    wanted = req(
        LIST,
        0,
        timeout=datetime.timedelta(seconds=5),
        topics=(
            req(LIST, 0, "ListPartitionReassignmentsTopics", name="t", partition_indexes=(2, 0)),
        ),
    )
    await call(services, LIST, 0, wanted)
    assert controller.listed == [("t", 0), ("t", 2)]
    controller.ongoing = ErrorCode.not_controller  # resigned while the event was queued
    response = await call(services, LIST, 0, wanted)
    assert response.error_code == ErrorCode.not_controller
    controller.is_active = False
    response = await call(services, LIST, 0, wanted)
    assert response.error_code == ErrorCode.not_controller and response.topics == ()


async def test_controller_failures_are_answered(
    services: BrokerServices, controller: FakeController
) -> None:
    async def broken(*_args: Any) -> Any:
        raise RuntimeError("boom")

    controller.elect_leaders = broken  # type: ignore[method-assign]
    controller.alter_partition_reassignments = broken  # type: ignore[method-assign]
    controller.list_partition_reassignments_event = broken  # type: ignore[method-assign]
    response = await call(services, ELECT, 2, election(2, {"t": [0]}))
    assert election_results(response) == {("t", 0): ErrorCode.unknown_server_error}
    response = await call(services, ALTER, 0, alter_request([("t", 0, [1])]))
    assert response.responses[0].partitions[0].error_code == ErrorCode.unknown_server_error
    response = await call(
        services, LIST, 0, req(LIST, 0, timeout=datetime.timedelta(seconds=5), topics=None)
    )
    assert response.error_code == ErrorCode.unknown_server_error
