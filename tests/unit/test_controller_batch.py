"""ControllerBrokerRequestBatch: which requests each broker gets, with what contents."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from helpers.controller_context import context_with, lead
from hypothesis import given
from hypothesis import strategies as st

from cluster.controller.batch import (
    ControllerBrokerRequestBatch,
    ControlResponse,
    IllegalBatchState,
    ResponseCallback,
)
from cluster.controller.model import (
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.requests import (
    ControlRequest,
    LeaderAndIsrPartitionState,
    LeaderAndIsrRequestData,
    LiveLeader,
    StopReplicaPartitionState,
    StopReplicaRequestData,
    UpdateMetadataPartitionState,
    UpdateMetadataRequestData,
)
from protocol.errors import ErrorCode

T0 = TopicPartition("t", 0)
T1 = TopicPartition("t", 1)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[int, ControlRequest, ResponseCallback | None]] = []
        self.responses: list[tuple[str, int, object]] = []

    def send_request(
        self, broker_id: int, request: ControlRequest, callback: ResponseCallback | None
    ) -> None:
        self.sent.append((broker_id, request, callback))

    def on_leader_and_isr_response(self, response: ControlResponse, broker_id: int) -> None:
        self.responses.append(("LeaderAndIsr", broker_id, response))

    def on_update_metadata_response(self, response: ControlResponse, broker_id: int) -> None:
        self.responses.append(("UpdateMetadata", broker_id, response))

    def on_stop_replica_response(
        self,
        error_code: ErrorCode,
        broker_id: int,
        partition_errors_for_deleting_topics: Mapping[TopicPartition, ErrorCode],
    ) -> None:
        self.responses.append(
            ("StopReplica", broker_id, dict(partition_errors_for_deleting_topics))
        )

    def of_type(self, kind: type) -> dict[int, ControlRequest]:
        return {b: r for b, r, _ in self.sent if isinstance(r, kind)}


def make(live: list[int], topics: dict[str, dict[int, list[int]]]):  # type: ignore[no-untyped-def]
    ctx = context_with(live, topics)
    rec = Recorder()
    return ctx, rec, ControllerBrokerRequestBatch(1, ctx, rec, rec, "INTERNAL")


def test_leader_and_isr_to_each_replica_then_update_metadata_to_all() -> None:
    ctx, rec, batch = make([1, 2, 3], {"t": {0: [1, 2]}})
    lai = lead(ctx, T0, 1, [1, 2], leader_epoch=5, partition_epoch=8)
    batch.new_batch()
    batch.add_leader_and_isr_request_for_brokers(
        [1, 2], T0, LeaderIsrAndControllerEpoch(lai, 3), ReplicaAssignment.of([1, 2]), is_new=True
    )
    batch.send_requests_to_brokers(3)
    assert batch.is_empty
    kinds = [type(r).__name__ for _, r, _ in rec.sent]
    assert kinds == ["LeaderAndIsrRequestData"] * 2 + ["UpdateMetadataRequestData"] * 3
    lair = rec.of_type(LeaderAndIsrRequestData)
    assert set(lair) == {1, 2}
    req = lair[2]
    assert isinstance(req, LeaderAndIsrRequestData)
    assert (req.controller_id, req.controller_epoch, req.broker_epoch) == (1, 3, 102)
    assert req.partition_states == (
        LeaderAndIsrPartitionState("t", 0, 3, 1, 5, (1, 2), 8, (1, 2), (), (), True, 0),
    )
    assert req.topic_ids == {"t": ctx.topic_ids["t"]}
    assert req.live_leaders == (LiveLeader(1, "b1.internal", 9001),)
    um = rec.of_type(UpdateMetadataRequestData)
    assert set(um) == {1, 2, 3}
    um3 = um[3]
    assert isinstance(um3, UpdateMetadataRequestData)
    assert um3.broker_epoch == 103
    assert um3.partition_states == (
        UpdateMetadataPartitionState("t", 0, 3, 1, 5, (1, 2), 8, (1, 2), ()),
    )
    assert [b.broker_id for b in um3.live_brokers] == [1, 2, 3]
    assert um3.live_brokers[0].endpoints[1].listener == "EXTERNAL"


def test_is_new_and_delete_flags_are_sticky() -> None:
    ctx, rec, batch = make([1, 2], {"t": {0: [1, 2]}})
    lai = lead(ctx, T0, 1, [1, 2])
    info = LeaderIsrAndControllerEpoch(lai, 3)
    batch.new_batch()
    batch.add_leader_and_isr_request_for_brokers([2], T0, info, ReplicaAssignment.of([1, 2]), True)
    batch.add_leader_and_isr_request_for_brokers([2], T0, info, ReplicaAssignment.of([1, 2]), False)
    batch.add_stop_replica_request_for_brokers([2], T1, delete_partition=True)
    batch.add_stop_replica_request_for_brokers([2], T1, delete_partition=False)
    batch.send_requests_to_brokers(3)
    lair = rec.of_type(LeaderAndIsrRequestData)[2]
    assert isinstance(lair, LeaderAndIsrRequestData)
    assert lair.partition_states[0].is_new
    stop = rec.of_type(StopReplicaRequestData)[2]
    assert isinstance(stop, StopReplicaRequestData)
    assert stop.partition_states == (StopReplicaPartitionState("t", 1, -1, True),)


def test_deleting_topic_uses_minus_two_sentinels() -> None:
    ctx, rec, batch = make([1, 2], {"t": {0: [1, 2]}})
    lead(ctx, T0, 1, [1, 2], leader_epoch=4)
    ctx.queue_topic_deletion({"t"})
    batch.new_batch()
    batch.add_update_metadata_request_for_brokers([1, 2], [T0])
    batch.add_stop_replica_request_for_brokers([1, 2], T0, delete_partition=True)
    batch.send_requests_to_brokers(3)
    um = rec.of_type(UpdateMetadataRequestData)[1]
    assert isinstance(um, UpdateMetadataRequestData)
    assert um.partition_states[0].leader == -2
    assert um.partition_states[0].leader_epoch == 4
    stop = rec.of_type(StopReplicaRequestData)[2]
    assert isinstance(stop, StopReplicaRequestData)
    assert stop.partition_states == (StopReplicaPartitionState("t", 0, -2, True),)


def test_offline_replicas_in_update_metadata_and_skipped_partitions() -> None:
    ctx, rec, batch = make([1, 3], {"t": {0: [1, 2, 3], 1: [3]}})
    lead(ctx, T0, 1, [1, 3])
    ctx.replicas_on_offline_dirs[3] = {T0}
    batch.new_batch()
    batch.add_update_metadata_request_for_brokers([1, 3], [T0, T1])  # T1 has no leader yet
    batch.send_requests_to_brokers(3)
    um = rec.of_type(UpdateMetadataRequestData)[1]
    assert isinstance(um, UpdateMetadataRequestData)
    assert [(s.partition_index, s.offline_replicas) for s in um.partition_states] == [(0, (2, 3))]


def test_requests_to_dead_brokers_are_dropped() -> None:
    ctx, rec, batch = make([1], {"t": {0: [1, 2]}})
    lai = lead(ctx, T0, 1, [1, 2])
    batch.new_batch()
    batch.add_leader_and_isr_request_for_brokers(
        [1, 2, -1], T0, LeaderIsrAndControllerEpoch(lai, 3), ReplicaAssignment.of([1, 2]), False
    )
    batch.add_stop_replica_request_for_brokers([2], T0, False)
    batch.send_requests_to_brokers(3)
    assert [(b, type(r).__name__) for b, r, _ in rec.sent] == [
        (1, "LeaderAndIsrRequestData"),
        (1, "UpdateMetadataRequestData"),
    ]


def test_new_batch_refuses_when_previous_not_sent() -> None:
    _, _, batch = make([1], {})
    batch.new_batch()
    batch.add_update_metadata_request_for_brokers([1])
    with pytest.raises(IllegalBatchState, match="UpdateMetadata"):
        batch.new_batch()
    batch.clear()
    batch.new_batch()


def test_response_callbacks() -> None:
    ctx, rec, batch = make([1, 2], {"t": {0: [1, 2], 1: [1, 2]}, "u": {0: [2]}})
    lai = lead(ctx, T0, 1, [1, 2])
    ctx.queue_topic_deletion({"t"})
    ctx.begin_topic_deletion({"t"})
    batch.new_batch()
    batch.add_leader_and_isr_request_for_brokers(
        [2], T0, LeaderIsrAndControllerEpoch(lai, 3), ReplicaAssignment.of([1, 2]), False
    )
    batch.add_stop_replica_request_for_brokers([2], T0, delete_partition=True)
    batch.add_stop_replica_request_for_brokers([2], T1, delete_partition=False)
    batch.add_stop_replica_request_for_brokers([2], TopicPartition("u", 0), delete_partition=True)
    batch.send_requests_to_brokers(3)
    ok = ErrorCode.none
    for _, _request, callback in rec.sent:
        assert callback is not None
        callback(
            ControlResponse(
                ok,
                {
                    T0: ErrorCode.kafka_storage_error,
                    T1: ok,
                    TopicPartition("u", 0): ok,
                },
            )
        )
    kinds = [(k, b) for k, b, _ in rec.responses]
    assert ("LeaderAndIsr", 2) in kinds
    assert ("UpdateMetadata", 1) in kinds
    # Only replicas deleted for a topic whose deletion has started are reported.
    [stop] = [r for k, _, r in rec.responses if k == "StopReplica"]
    assert stop == {T0: ErrorCode.kafka_storage_error}


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["lai", "stop", "um"]),
            st.lists(st.integers(0, 4), max_size=4),
            st.integers(0, 2),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_every_broker_gets_at_most_one_request_of_each_kind(
    ops: list[tuple[str, list[int], int, bool]],
) -> None:
    ctx, rec, batch = make([1, 2, 3], {"t": {0: [1, 2, 3], 1: [2, 3], 2: [3, 1]}})
    for p in range(3):
        lead(
            ctx,
            TopicPartition("t", p),
            ctx.partition_replica_assignment(TopicPartition("t", p))[0],
            [3],
        )
    batch.new_batch()
    expected_lai: dict[int, set[int]] = {}
    expected_stop: dict[int, dict[int, bool]] = {}
    for kind, brokers, p, flag in ops:
        tp = TopicPartition("t", p)
        if kind == "lai":
            info = ctx.partition_leadership_info(tp)
            assert info is not None
            batch.add_leader_and_isr_request_for_brokers(
                brokers, tp, info, ctx.partition_full_replica_assignment(tp), flag
            )
            for b in brokers:
                expected_lai.setdefault(b, set()).add(p)
        elif kind == "stop":
            batch.add_stop_replica_request_for_brokers(brokers, tp, flag)
            for b in brokers:
                states = expected_stop.setdefault(b, {})
                states[p] = states.get(p, False) or flag
        else:
            batch.add_update_metadata_request_for_brokers(brokers, [tp])
    batch.send_requests_to_brokers(3)
    seen = [(b, type(r)) for b, r, _ in rec.sent]
    assert len(seen) == len(set(seen))
    live = {1, 2, 3}
    lair = rec.of_type(LeaderAndIsrRequestData)
    assert {b: {s.partition_index for s in r.partition_states} for b, r in lair.items()} == {
        b: ps for b, ps in expected_lai.items() if b in live
    }
    stops = rec.of_type(StopReplicaRequestData)
    assert {
        b: {s.partition_index: s.delete_partition for s in r.partition_states}
        for b, r in stops.items()
    } == {b: ps for b, ps in expected_stop.items() if b in live}
    if expected_lai:
        assert set(rec.of_type(UpdateMetadataRequestData)) == live
    assert batch.is_empty
