"""ElectLeaders (43), AlterPartitionReassignments (45) and ListPartitionReassignments (46).

An admin moving leaders and replicas. Registered in cluster mode only. As on a Kafka broker
in ZooKeeper mode, each request is answered through this broker's controller module when
it is the active controller and with NOT_CONTROLLER otherwise (admin clients send them to
Metadata's ``controller_id``): per partition for ElectLeaders, at the top level for the
reassignment APIs.

ElectLeaders with ``topic_partitions`` null means every partition; its answer then leaves
out the partitions that needed no election. A successful election is answered once this
broker's metadata shows the new leader (Kafka's DelayedElectLeader), REQUEST_TIMED_OUT if
that takes longer than the request's timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kio.schema.errors import ErrorCode

from broker.network.context import RequestContext
from broker.services import BrokerServices
from protocol.builders import NO_THROTTLE, ResponseBuilder

ELECT_LEADERS, ELECT_LEADERS_MIN, ELECT_LEADERS_MAX = 43, 0, 2
ALTER_REASSIGNMENTS, ALTER_REASSIGNMENTS_MIN, ALTER_REASSIGNMENTS_MAX = 45, 0, 0
LIST_REASSIGNMENTS, LIST_REASSIGNMENTS_MIN, LIST_REASSIGNMENTS_MAX = 46, 0, 0

PREFERRED, UNCLEAN = 0, 1
NOT_CONTROLLER_MESSAGE = "This is not the correct controller for this cluster."
DEFAULT_TIMEOUT_MS = 60_000

TopicPartition = tuple[str, int]
Result = tuple[ErrorCode, str | None]

log = logging.getLogger(__name__)


def _active_controller(services: BrokerServices) -> Any:
    """This broker's controller module if it is the active controller, else None."""
    member = services.cluster
    controller = getattr(member, "controller", None) if member is not None else None
    if controller is None or not controller.is_active:
        return None
    return controller


def _timeout_ms(request: Any) -> int:
    timeout = getattr(request, "timeout", None)
    if timeout is None:
        return DEFAULT_TIMEOUT_MS
    if hasattr(timeout, "total_seconds"):
        return max(0, int(timeout.total_seconds() * 1000))
    return max(0, int(timeout))


def _by_topic(keys: Iterable[TopicPartition]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for topic, partition in sorted(keys):
        out.setdefault(topic, []).append(partition)
    return out


# --- ElectLeaders -------------------------------------------------------------------------


def _leader_epochs(
    services: BrokerServices, keys: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    out: dict[TopicPartition, int] = {}
    for topic, partition in keys:
        t = services.metadata.topic(topic)
        state = t.partitions.get(partition) if t is not None else None
        out[(topic, partition)] = state.leader_epoch if state is not None else -1
    return out


async def _wait_for_new_leaders(
    services: BrokerServices, before: dict[TopicPartition, int], timeout_ms: int
) -> set[TopicPartition]:
    """Wait until this broker's metadata shows a leader elected after ``before`` for each
    partition; returns those still waiting at the deadline."""

    def waiting() -> set[TopicPartition]:
        left = set()
        for (topic, partition), epoch in before.items():
            t = services.metadata.topic(topic)
            state = t.partitions.get(partition) if t is not None else None
            if state is None or state.leader < 0 or state.leader_epoch <= epoch:
                left.add((topic, partition))
        return left

    if waiting():
        await services.metadata.wait_until(lambda: not waiting(), timeout_ms)
    return waiting()


async def _elect_leaders(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(ELECT_LEADERS, ctx.api_version)
    election_type = int(getattr(request, "election_type", PREFERRED))
    timeout_ms = _timeout_ms(request)
    all_partitions = request.topic_partitions is None
    if all_partitions:
        wanted = {(t.name, p) for t in services.metadata.topics().values() for p in t.partitions}
    else:
        wanted = {(t.topic, int(p)) for t in request.topic_partitions for p in t.partitions}

    top_error = ErrorCode.none
    results: dict[TopicPartition, Result] = {}
    controller = _active_controller(services)
    if election_type not in (PREFERRED, UNCLEAN):
        top_error = ErrorCode.invalid_request
        message = f"Unknown election type {election_type}"
        results = dict.fromkeys(wanted, (ErrorCode.invalid_request, message))
    elif controller is None:
        results = dict.fromkeys(wanted, (ErrorCode.not_controller, NOT_CONTROLLER_MESSAGE))
    elif wanted:
        clock = services.clock
        started = clock.monotonic()
        before = _leader_epochs(services, wanted)
        try:
            answers = await controller.elect_leaders(election_type, sorted(wanted), timeout_ms)
        except Exception as exc:
            log.exception("ElectLeaders failed in the controller")
            answers = dict.fromkeys(wanted, (ErrorCode.unknown_server_error, str(exc) or None))
        results = {tp: (code, msg) for tp, (code, msg) in answers.items()}
        elected = {
            tp: before.get(tp, -1) for tp, (code, _) in results.items() if code == ErrorCode.none
        }
        left_ms = timeout_ms - int((clock.monotonic() - started) * 1000)
        for tp in await _wait_for_new_leaders(services, elected, max(0, left_ms)):
            results[tp] = (ErrorCode.request_timed_out, None)
        log.info(
            "%s leader election for %d partition(s): %s",
            "preferred" if election_type == PREFERRED else "unclean",
            len(wanted),
            {f"{t}-{p}": code.name for (t, p), (code, _) in sorted(results.items())},
        )
    if all_partitions:
        # Across all partitions only the ones elected or failed are reported.
        results = {tp: r for tp, r in results.items() if r[0] != ErrorCode.election_not_needed}
    topics = []
    for topic, partitions in _by_topic(results).items():
        topics.append(
            rb(
                "ReplicaElectionResult",
                topic=topic,
                partition_result=tuple(
                    rb(
                        "PartitionResult",
                        partition_id=p,
                        error_code=results[(topic, p)][0],
                        error_message=results[(topic, p)][1],
                    )
                    for p in partitions
                ),
            )
        )
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=top_error,
        replica_election_results=tuple(topics),
    )


# --- AlterPartitionReassignments ----------------------------------------------------------


async def _alter_reassignments(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(ALTER_REASSIGNMENTS, ctx.api_version)
    controller = _active_controller(services)
    if controller is None:
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.not_controller,
            error_message=NOT_CONTROLLER_MESSAGE,
            responses=(),
        )
    # The last entry for a partition wins, as in Kafka's map of the request.
    targets: dict[TopicPartition, list[int] | None] = {}
    for topic in request.topics:
        for p in topic.partitions:
            replicas = None if p.replicas is None else [int(r) for r in p.replicas]
            targets[(topic.name, int(p.partition_index))] = replicas
    results: dict[TopicPartition, Result] = {}
    if targets:
        from cluster.controller.api import NotControllerError

        try:
            results = await controller.alter_partition_reassignments(targets, _timeout_ms(request))
        except NotControllerError as exc:
            return rb(
                None,
                throttle_time=NO_THROTTLE,
                error_code=ErrorCode.not_controller,
                error_message=str(exc),
                responses=(),
            )
        except Exception as exc:
            log.exception("AlterPartitionReassignments failed in the controller")
            results = dict.fromkeys(targets, (ErrorCode.unknown_server_error, str(exc) or None))
        log.info(
            "partition reassignment %s: %s",
            {f"{t}-{p}": r for (t, p), r in sorted(targets.items())},
            {f"{t}-{p}": code.name for (t, p), (code, _) in sorted(results.items())},
        )
    responses = tuple(
        rb(
            "ReassignableTopicResponse",
            name=topic,
            partitions=tuple(
                rb(
                    "ReassignablePartitionResponse",
                    partition_index=p,
                    error_code=results.get((topic, p), (ErrorCode.unknown_server_error, None))[0],
                    error_message=results.get((topic, p), (ErrorCode.none, None))[1],
                )
                for p in partitions
            ),
        )
        for topic, partitions in _by_topic(targets).items()
    )
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        responses=responses,
    )


# --- ListPartitionReassignments -----------------------------------------------------------


async def _list_reassignments(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    rb = ResponseBuilder(LIST_REASSIGNMENTS, ctx.api_version)

    def not_controller() -> Any:
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.not_controller,
            error_message=NOT_CONTROLLER_MESSAGE,
            topics=(),
        )

    controller = _active_controller(services)
    if controller is None:
        return not_controller()
    wanted: list[TopicPartition] | None = None
    if request.topics is not None:
        wanted = sorted({(t.name, int(p)) for t in request.topics for p in t.partition_indexes})
    try:
        answer = await controller.list_partition_reassignments_event(wanted)
    except Exception as exc:
        log.exception("ListPartitionReassignments failed in the controller")
        return rb(
            None,
            throttle_time=NO_THROTTLE,
            error_code=ErrorCode.unknown_server_error,
            error_message=str(exc) or None,
            topics=(),
        )
    if isinstance(answer, ErrorCode):
        return not_controller()
    ongoing = {(tp.topic, tp.partition): a for tp, a in answer.items()}
    topics = tuple(
        rb(
            "OngoingTopicReassignment",
            name=topic,
            partitions=tuple(
                rb(
                    "OngoingPartitionReassignment",
                    partition_index=p,
                    replicas=tuple(ongoing[(topic, p)].replicas),
                    adding_replicas=tuple(ongoing[(topic, p)].adding_replicas),
                    removing_replicas=tuple(ongoing[(topic, p)].removing_replicas),
                )
                for p in partitions
            ),
        )
        for topic, partitions in _by_topic(ongoing).items()
    )
    return rb(
        None,
        throttle_time=NO_THROTTLE,
        error_code=ErrorCode.none,
        error_message=None,
        topics=topics,
    )


def register(services: BrokerServices) -> None:
    if services.cluster is None:
        return  # standalone: one broker leads everything, nothing to move

    async def elect_leaders(ctx: RequestContext, request: Any) -> Any:
        return await _elect_leaders(services, ctx, request)

    async def alter_reassignments(ctx: RequestContext, request: Any) -> Any:
        return await _alter_reassignments(services, ctx, request)

    async def list_reassignments(ctx: RequestContext, request: Any) -> Any:
        return await _list_reassignments(services, ctx, request)

    registry = services.registry
    registry.register(ELECT_LEADERS, ELECT_LEADERS_MIN, ELECT_LEADERS_MAX, elect_leaders)
    registry.register(
        ALTER_REASSIGNMENTS, ALTER_REASSIGNMENTS_MIN, ALTER_REASSIGNMENTS_MAX, alter_reassignments
    )
    registry.register(
        LIST_REASSIGNMENTS, LIST_REASSIGNMENTS_MIN, LIST_REASSIGNMENTS_MAX, list_reassignments
    )
