"""AlterPartition, ElectLeaders, the preferred-election znode, partition reassignment (API and
znode) and the automatic leader rebalance, on the in-memory ZooKeeper with fake brokers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.controller_harness import Bench, partitions_of, tp
from kio.schema.alter_partition.v2 import request as ap2
from kio.schema.alter_partition.v3 import request as ap3

from cluster.controller.api import KafkaController, NotControllerError
from cluster.controller.config import ControllerConfig
from cluster.controller.model import LeaderAndIsr
from protocol.errors import ErrorCode


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    b = Bench()
    yield b
    await b.close()


def alter_v3(
    broker_id: int,
    broker_epoch: int,
    topic_id: uuid.UUID,
    partition: int,
    leader_epoch: int,
    isr: list[int],
    partition_epoch: int,
    recovery: int = 0,
) -> Any:
    return ap3.AlterPartitionRequest(
        broker_id=broker_id,
        broker_epoch=broker_epoch,
        topics=(
            ap3.TopicData(
                topic_id=topic_id,
                partitions=(
                    ap3.PartitionData(
                        partition_index=partition,
                        leader_epoch=leader_epoch,
                        new_isr_with_epochs=tuple(
                            ap3.BrokerState(broker_id=b, broker_epoch=-1) for b in isr
                        ),
                        leader_recovery_state=recovery,
                        partition_epoch=partition_epoch,
                    ),
                ),
            ),
        ),
    )


def outcome(response: Any) -> tuple[Any, ...]:
    assert response.error_code == ErrorCode.none
    [topic] = response.topics
    [p] = topic.partitions
    return (p.error_code, p.leader_id, p.leader_epoch, tuple(p.isr), p.partition_epoch)


# -- AlterPartition ----------------------------------------------------------------------------
async def test_alter_partition_shrink_and_expand(bench: Bench) -> None:
    topic_id = bench.server.create_topic("t", {0: [1, 2, 3]})
    assert topic_id is not None
    c = await bench.controller(3)
    epoch1 = bench.server.brokers[1][1]
    bench.brokers.clear()
    shrink = alter_v3(1, epoch1, topic_id, 0, 0, [1, 2], 0)
    assert outcome(await c.alter_partition(shrink, 3)) == (ErrorCode.none, 1, 0, (1, 2), 1)
    # The leader epoch stays: only the ISR and the partition epoch (znode version) move.
    assert bench.state("t", 0) == (1, 0, (1, 2), 1, 1)
    await bench.settle()
    um = bench.brokers.update_metadata(2)[-1]
    assert [(s.isr, s.zk_version) for s in um.partition_states] == [((1, 2), 1)]
    # A retry of the same change is answered with the current state.
    assert outcome(await c.alter_partition(shrink, 3)) == (ErrorCode.none, 1, 0, (1, 2), 1)
    expand = alter_v3(1, epoch1, topic_id, 0, 0, [1, 2, 3], 1)
    assert outcome(await c.alter_partition(expand, 3)) == (ErrorCode.none, 1, 0, (1, 2, 3), 2)


async def test_alter_partition_errors(bench: Bench) -> None:
    topic_id = bench.server.create_topic("t", {0: [1, 2, 3]})
    assert topic_id is not None
    c = await bench.controller(3)
    e1 = bench.server.brokers[1][1]

    async def partition_error(request: Any, version: int = 3) -> ErrorCode:
        return outcome(await c.alter_partition(request, version))[0]  # type: ignore[no-any-return]

    stale = await c.alter_partition(alter_v3(1, e1 - 1, topic_id, 0, 0, [1], 0), 3)
    assert (stale.error_code, stale.topics) == (ErrorCode.stale_broker_epoch, ())
    unknown = await c.alter_partition(alter_v3(7, 1, topic_id, 0, 0, [1], 0), 3)
    assert unknown.error_code == ErrorCode.stale_broker_epoch
    assert await partition_error(alter_v3(1, e1, uuid.uuid4(), 0, 0, [1], 0)) == (
        ErrorCode.unknown_topic_id
    )
    assert await partition_error(alter_v3(1, e1, topic_id, 5, 0, [1], 0)) == (
        ErrorCode.unknown_topic_or_partition
    )
    # A newer leader epoch than the controller knows: probably not the controller any more.
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 1, [1], 0)) == (
        ErrorCode.not_controller
    )
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 0, [1], 3)) == (
        ErrorCode.not_controller
    )
    bench.server.unregister_broker(2)  # leader epoch of t-0 -> 1, version 1
    await bench.settle()
    assert bench.state("t", 0)[:2] == (1, 1)
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 0, [1, 3], 1)) == (
        ErrorCode.fenced_leader_epoch
    )
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 1, [1], 0)) == (
        ErrorCode.invalid_update_version
    )
    # Broker 2 is gone: it may not join the ISR (KIP-841); v1 says OPERATION_NOT_ATTEMPTED.
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 1, [1, 2, 3], 1)) == (
        ErrorCode.ineligible_replica
    )
    assert await partition_error(alter_v3(1, e1, topic_id, 0, 1, [1, 3], 1, recovery=1)) == (
        ErrorCode.invalid_request
    )
    other = await bench.controller(2)
    not_active = await other.alter_partition(alter_v3(1, e1, topic_id, 0, 1, [1], 1), 3)
    assert not_active.error_code == ErrorCode.not_controller


async def test_alter_partition_v2_uses_new_isr(bench: Bench) -> None:
    topic_id = bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(1)
    request = ap2.AlterPartitionRequest(
        broker_id=1,
        broker_epoch=bench.server.brokers[1][1],
        topics=(
            ap2.TopicData(
                topic_id=topic_id,
                partitions=(
                    ap2.PartitionData(
                        partition_index=0,
                        leader_epoch=0,
                        new_isr=(1,),
                        leader_recovery_state=0,
                        partition_epoch=0,
                    ),
                ),
            ),
        ),
    )
    response = await c.alter_partition(request, 2)
    assert type(response).__module__.startswith("kio.schema.alter_partition.v2")
    assert outcome(response) == (ErrorCode.none, 1, 0, (1,), 1)
    assert response.topics[0].topic_id == topic_id


async def test_alter_partition_clears_recovering(bench: Bench) -> None:
    topic_id = bench.server.create_topic("t", {0: [1, 2]})
    assert topic_id is not None
    c = await bench.controller(3)
    bench.server.write_state(tp("t", 0), LeaderAndIsr(1, 3, (1,), 1, 0), 1)
    await c.core.update_leader_and_isr_cache([tp("t", 0)])
    e1 = bench.server.brokers[1][1]
    response = await c.alter_partition(alter_v3(1, e1, topic_id, 0, 3, [1, 2], 1), 3)
    assert outcome(response)[:4] == (ErrorCode.none, 1, 3, (1, 2))
    assert bench.server.state("t", 0).leader_recovery_state == 0


# -- ElectLeaders --------------------------------------------------------------------------------
async def test_elect_preferred_leaders(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [2, 1], 2: [3, 1]})
    c = await bench.controller(2)
    bench.server.unregister_broker(1)
    await bench.settle()
    bench.server.register_broker(1)
    await bench.settle()
    assert bench.state("t", 0)[0] == 2
    # Broker 1 is back but not yet in t-0's ISR: the preferred leader is not available.
    results = await c.elect_leaders(0, [("t", 0), ("t", 1), ("t", 9)], 10_000)
    assert results[("t", 0)][0] == ErrorCode.preferred_leader_not_available
    assert results[("t", 1)] == (
        ErrorCode.election_not_needed,
        "Leader election not needed for topic partition.",
    )
    assert results[("t", 9)] == (
        ErrorCode.unknown_topic_or_partition,
        "The partition does not exist.",
    )
    # The follower catches up (AlterPartition from leader 2), then the election succeeds.
    state = bench.server.state("t", 0)
    bench.server.write_state(
        tp("t", 0), LeaderAndIsr(2, state.leader_epoch, (2, 1), 0, state.version), 1
    )
    await c.core.update_leader_and_isr_cache([tp("t", 0)])
    results = await c.elect_leaders(0, [("t", 0)], 10_000)
    assert results == {("t", 0): (ErrorCode.none, None)}
    assert bench.state("t", 0)[:3] == (1, state.leader_epoch + 1, (2, 1))


async def test_elect_unclean_leader(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    bench.server.unregister_broker(2)
    c = await bench.controller(3)
    bench.server.unregister_broker(1)
    await bench.settle()
    bench.server.register_broker(2)
    await bench.settle()
    assert bench.state("t", 0)[0] == -1
    # Clean elections find nobody; an admin's unclean election takes the out-of-sync replica.
    results = await c.elect_leaders(1, [("t", 0)], 10_000)
    assert results == {("t", 0): (ErrorCode.none, None)}
    s = bench.server.state("t", 0)
    assert (s.leader, s.isr, s.leader_recovery_state) == (2, (2,), 1)
    again = await c.elect_leaders(1, [("t", 0)], 10_000)
    assert again[("t", 0)][0] == ErrorCode.election_not_needed


async def test_elect_leaders_on_non_controller(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(1)
    other = await bench.controller(2)
    assert await other.elect_leaders(0, [("t", 0)], 10_000) == {
        ("t", 0): (ErrorCode.not_controller, None)
    }


async def test_preferred_replica_election_znode(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(3)
    bench.server.unregister_broker(1)
    await bench.settle()
    bench.server.register_broker(1)
    await bench.settle()
    state = bench.server.state("t", 0)
    bench.server.write_state(
        tp("t", 0), LeaderAndIsr(2, state.leader_epoch, (2, 1), 0, state.version), 1
    )
    # The controller reads the state znode when it elects; its cache may be stale.
    bench.server.set_preferred_election([tp("t", 0)])
    await bench.settle()
    assert bench.state("t", 0)[0] == 1
    assert bench.server.preferred is None


# -- reassignment ---------------------------------------------------------------------------------
async def complete_catch_up(bench: Bench, c: KafkaController, topic: str, partition: int) -> None:
    """The leader adds every target replica to the ISR (as AlterPartition would)."""
    topic_id = bench.server.topics[topic][0]
    assert topic_id is not None
    s = bench.server.state(topic, partition)
    replicas = c.core.context.partition_replica_assignment(tp(topic, partition))
    response = await c.alter_partition(
        alter_v3(
            s.leader,
            bench.server.brokers[s.leader][1],
            topic_id,
            partition,
            s.leader_epoch,
            list(replicas),
            s.version,
        ),
        3,
    )
    assert outcome(response)[0] == ErrorCode.none
    await bench.settle()


async def test_api_reassignment_to_a_new_broker(bench: Bench) -> None:
    bench.server.register_broker(4)
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(3)
    bench.brokers.clear()
    result = await c.alter_partition_reassignments({("t", 0): [2, 4]}, 10_000)
    assert result == {("t", 0): (ErrorCode.none, None)}
    await bench.settle()
    # Phase A: RS = TRS + ORS with AR/RR in the znode, leader epoch bumped.
    assignment = bench.server.topics["t"][1][0]
    assert (assignment.replicas, assignment.adding_replicas, assignment.removing_replicas) == (
        (2, 4, 1),
        (4,),
        (1,),
    )
    assert bench.state("t", 0)[:3] == (1, 1, (1, 2))
    # Broker 4 hears it twice, as in Kafka: with the epoch bump and as a NewReplica.
    states4 = [s for r in bench.brokers.leader_and_isr(4) for s in r.partition_states]
    assert len(states4) == 2
    assert {(s.is_new, s.replicas, s.adding_replicas, s.removing_replicas) for s in states4} == {
        (True, (2, 4, 1), (4,), (1,))
    }
    assert not bench.brokers.leader_and_isr(1)[0].partition_states[0].is_new
    assert c.list_partition_reassignments(None) == {("t", 0): ([2, 4, 1], [4], [1])}
    # Phase B once 4 is in the ISR: leader moves into TRS, 1 stopped and deleted.
    bench.brokers.clear()
    await complete_catch_up(bench, c, "t", 0)
    assignment = bench.server.topics["t"][1][0]
    assert (assignment.replicas, assignment.adding_replicas) == ((2, 4), ())
    leader, _, isr, _, _ = bench.state("t", 0)
    assert leader == 2 and isr == (2, 4)
    stops = bench.brokers.stop_replica(1)
    assert {(s.partition_index, s.delete_partition) for r in stops for s in r.partition_states} == {
        (0, False),
        (0, True),
    }
    assert c.list_partition_reassignments(None) == {}
    assert c.core.context.partitions_being_reassigned == set()


async def test_reassignment_validation_and_cancel(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(3)
    results = await c.alter_partition_reassignments(
        {("t", 0): [1, 9], ("t", 5): [1, 2], ("u", 0): None}, 10_000
    )
    assert results[("t", 0)][0] == ErrorCode.invalid_replica_assignment
    assert results[("t", 5)] == (
        ErrorCode.unknown_topic_or_partition,
        "The partition does not exist.",
    )
    assert results[("u", 0)] == (
        ErrorCode.no_reassignment_in_progress,
        "No partition reassignment is in progress.",
    )
    assert (await c.alter_partition_reassignments({("t", 0): [3, 1]}, 10_000))[("t", 0)][0] == (
        ErrorCode.none
    )
    await bench.settle()
    assert c.list_partition_reassignments([("t", 0)]) == {("t", 0): ([3, 1, 2], [3], [2])}
    bench.brokers.clear()
    assert await c.alter_partition_reassignments({("t", 0): None}, 10_000) == {
        ("t", 0): (ErrorCode.none, None)
    }
    await bench.settle()
    assignment = bench.server.topics["t"][1][0]
    assert (set(assignment.replicas), assignment.adding_replicas) == ({1, 2}, ())
    # The replica that was being added is stopped and deleted.
    assert {
        s.delete_partition for r in bench.brokers.stop_replica(3) for s in r.partition_states
    } == {False, True}
    other = await bench.controller(1)
    with pytest.raises(NotControllerError):
        await other.alter_partition_reassignments({("t", 0): [1]}, 10_000)
    with pytest.raises(NotControllerError):
        other.list_partition_reassignments(None)


async def test_zk_reassignment_and_failover_resume(bench: Bench) -> None:
    bench.server.register_broker(4)
    bench.server.create_topic("t", {0: [1, 2], 1: [2, 1]})
    c3 = await bench.controller(3)
    bench.server.set_reassignment({tp("t", 0): [4, 2], tp("t", 1): [2, 1]})
    await bench.settle()
    # t-1 needs nothing and completes at once; t-0 waits for broker 4 to catch up.
    assert bench.server.reassignment == {tp("t", 0): [4, 2]}
    assert bench.server.topics["t"][1][0].adding_replicas == (4,)
    c1 = await bench.controller(1)
    bench.server.expire(bench.sessions[3])
    await bench.settle()
    assert c1.is_active and not c3.is_active
    assert c1.core.context.partitions_being_reassigned == {tp("t", 0)}
    await complete_catch_up(bench, c1, "t", 0)
    assert bench.server.topics["t"][1][0].replicas == (4, 2)
    assert bench.state("t", 0)[0] == 4
    assert bench.server.reassignment is None


# -- automatic rebalance ---------------------------------------------------------------------------
async def test_auto_leader_rebalance(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [1, 2], 2: [2, 1]})
    config = ControllerConfig(
        auto_leader_rebalance_enable=True,
        initial_leader_rebalance_delay_ms=3_600_000,
        leader_imbalance_per_broker_percentage=10,
    )
    c = await bench.controller(3, config)
    bench.server.unregister_broker(1)
    await bench.settle()
    bench.server.register_broker(1)
    await bench.settle()
    for p in (0, 1):
        s = bench.server.state("t", p)
        bench.server.write_state(
            tp("t", p), LeaderAndIsr(2, s.leader_epoch, (2, 1), 0, s.version), 1
        )
    await c.core.update_leader_and_isr_cache()
    assert [bench.state("t", p)[0] for p in range(3)] == [2, 2, 2]
    await c.core.operations.check_and_trigger_auto_leader_rebalance()
    await bench.settle()
    assert [bench.state("t", p)[0] for p in range(3)] == [1, 1, 2]


async def test_auto_rebalance_respects_threshold(bench: Bench) -> None:
    bench.server.create_topic("t", {p: [1, 2] for p in range(10)})
    c = await bench.controller(
        3,
        ControllerConfig(
            auto_leader_rebalance_enable=False, leader_imbalance_per_broker_percentage=10
        ),
    )
    s = bench.server.state("t", 0)
    bench.server.write_state(tp("t", 0), LeaderAndIsr(2, s.leader_epoch, (2, 1), 0, s.version), 1)
    await c.core.update_leader_and_isr_cache()
    await c.core.operations.check_and_trigger_auto_leader_rebalance()
    await bench.settle()
    assert bench.state("t", 0)[0] == 2  # 1 of 10 = 10%, not above the threshold


async def test_unreachable_broker_keeps_requests_until_it_answers(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    bench.brokers.unreachable.add(2)
    c = await bench.controller(1, start=False)
    await c.startup()
    await asyncio.sleep(0.3)
    assert 2 not in bench.brokers.received
    assert c.core.channel_manager.pending() > 0
    bench.brokers.unreachable.clear()
    await bench.settle()
    assert partitions_of(bench.brokers.leader_and_isr(2)) == [("t", 0)]


async def test_allocate_producer_ids(bench: Bench) -> None:
    c = await bench.controller(1)
    other = await bench.controller(2)
    epoch2 = bench.server.brokers[2][1]
    assert await c.allocate_producer_ids(2, epoch2) == (ErrorCode.none, 0, 1000)
    assert await c.allocate_producer_ids(3, bench.server.brokers[3][1]) == (
        ErrorCode.none,
        1000,
        1000,
    )
    assert await c.allocate_producer_ids(2, epoch2 - 1) == (ErrorCode.stale_broker_epoch, -1, 0)
    assert await c.allocate_producer_ids(9, 1) == (ErrorCode.broker_id_not_registered, -1, 0)
    assert await other.allocate_producer_ids(2, epoch2) == (ErrorCode.not_controller, -1, 0)


async def test_zk_reassignment_seen_again_is_not_restarted(bench: Bench) -> None:
    from cluster.controller.events import ZkPartitionReassignment

    bench.server.register_broker(4)
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(3)
    bench.server.set_reassignment({tp("t", 0): [4, 2]})
    await bench.settle()
    epoch = bench.state("t", 0)[1]
    c.core.event_manager.put(ZkPartitionReassignment())  # e.g. a watch firing again
    await bench.settle()
    assert bench.state("t", 0)[1] == epoch
    assert bench.server.reassignment == {tp("t", 0): [4, 2]}
