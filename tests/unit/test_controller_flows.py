"""The controller's event flows on an in-memory ZooKeeper with fake brokers: election and
failover, topic creation, broker loss and return, controlled shutdown, topic deletion and
partition addition, with the partition states written and the requests each broker got."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from helpers.controller_harness import QUIET, Bench, partitions_of, tp

from cluster.controller.config import ControllerConfig
from cluster.controller.model import TopicPartition
from cluster.controller.requests import LeaderAndIsrRequestData
from protocol.errors import ErrorCode


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    b = Bench()
    yield b
    await b.close()


# -- election ------------------------------------------------------------------------------------
async def test_first_controller_wins_and_bumps_epoch(bench: Bench) -> None:
    c1 = await bench.controller(1)
    c2 = await bench.controller(2)
    assert c1.is_active and not c2.is_active
    assert (c1.epoch, c2.active_controller_id) == (1, 1)
    assert bench.server.controller == 1
    assert (bench.server.controller_epoch, bench.server.controller_epoch_version) == (1, 1)
    assert bench.server.feature_znode
    # Failover sends UpdateMetadata (live brokers, no partitions yet) to every broker.
    for b in (1, 2, 3):
        [um] = bench.brokers.update_metadata(b)
        assert (um.controller_id, um.controller_epoch) == (1, 1)
        assert [x.broker_id for x in um.live_brokers] == [1, 2, 3]
        assert um.broker_epoch == bench.server.brokers[b][1]


async def test_session_expiry_moves_controller_with_new_epoch(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2, 3], 1: [2, 3, 1]})
    c1 = await bench.controller(1)
    c2 = await bench.controller(2)
    bench.brokers.clear()
    bench.server.expire(bench.sessions[1])
    await bench.settle()
    assert c2.is_active and not c1.is_active
    assert c2.epoch == 2
    assert bench.server.controller == 2
    # The new controller re-sends the state: UpdateMetadata then LeaderAndIsr to every replica.
    for b in (1, 2, 3):
        lair = bench.brokers.leader_and_isr(b)
        assert partitions_of(lair) == [("t", 0), ("t", 1)]
        assert {r.controller_epoch for r in lair} == {2}
        assert bench.brokers.update_metadata(b)[0].controller_epoch == 2


async def test_controller_znode_deletion_triggers_reelection(bench: Bench) -> None:
    c1 = await bench.controller(1)
    c2 = await bench.controller(2)
    await c1.shutdown()
    await bench.settle()
    assert c2.is_active and c2.epoch == 2


async def test_old_controller_writes_are_fenced(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    c1 = await bench.controller(1)
    # Another controller took over while c1 still believes it is active.
    bench.server.controller_epoch_version += 1
    bench.server.controller = 9
    before = bench.state("t", 0)
    bench.server.unregister_broker(1)
    await bench.settle()
    assert bench.state("t", 0) == before
    assert not c1.is_active  # it found out and resigned
    assert c1.active_controller_id == 9


# -- topic creation -------------------------------------------------------------------------------
async def test_topic_creation_initialises_partition_states(bench: Bench) -> None:
    await bench.controller(1)
    bench.server.unregister_broker(3)
    bench.server.create_topic("t", {0: [3, 1, 2], 1: [2, 3, 1]})
    await bench.settle()
    # Leader = first live replica, ISR = live replicas, leader epoch 0.
    assert bench.state("t", 0) == (1, 0, (1, 2), 1, 0)
    assert bench.state("t", 1) == (2, 0, (2, 1), 1, 0)
    [lair] = bench.brokers.leader_and_isr(2)
    assert all(s.is_new for s in lair.partition_states)
    assert [(s.partition_index, s.leader, s.replicas) for s in lair.partition_states] == [
        (0, 1, (3, 1, 2)),
        (1, 2, (2, 3, 1)),
    ]
    assert lair.topic_ids == {"t": bench.server.topics["t"][0]}
    assert [x.broker_id for x in lair.live_leaders] == [1, 2]
    um = bench.brokers.update_metadata(1)[-1]
    assert [(s.partition_index, s.offline_replicas) for s in um.partition_states] == [
        (0, (3,)),
        (1, (3,)),
    ]


async def test_topic_without_id_gets_one(bench: Bench) -> None:
    bench.server.create_topic("old", {0: [1]}, with_id=False)
    c1 = await bench.controller(1)
    topic_id = bench.server.topics["old"][0]
    assert topic_id is not None
    assert c1.core.context.topic_ids["old"] == topic_id


async def test_partition_addition(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(1)
    bench.server.add_partitions("t", {1: [2, 3], 2: [3, 1]})
    await bench.settle()
    assert bench.state("t", 1)[:3] == (2, 0, (2, 3))
    assert bench.state("t", 2)[:3] == (3, 0, (3, 1))
    assert bench.state("t", 0)[:2] == (1, 0)  # untouched


# -- broker loss and return --------------------------------------------------------------------
async def test_broker_loss_elects_new_leaders_and_shrinks_isr(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2, 3], 1: [2, 1, 3], 2: [3, 2]})
    await bench.controller(2)
    bench.brokers.clear()
    bench.server.unregister_broker(1)
    await bench.settle()
    # t-0 led by 1: new leader 2, ISR without 1, leader epoch 1, znode version 1.
    assert bench.state("t", 0) == (2, 1, (2, 3), 1, 1)
    # t-1 followed by 1: leader unchanged, ISR shrinks with a leader epoch bump.
    assert bench.state("t", 1) == (2, 1, (2, 3), 1, 1)
    assert bench.state("t", 2) == (3, 0, (3, 2), 1, 0)
    assert 1 not in bench.brokers.received
    # Election (t-0), then the OfflineReplica step (t-0 again, as Kafka does, and t-1).
    lair3 = bench.brokers.leader_and_isr(3)
    assert partitions_of(lair3) == [("t", 0), ("t", 0), ("t", 1)]
    assert {s.leader_epoch for r in lair3 for s in r.partition_states} == {1}
    um = bench.brokers.update_metadata(3)[-1]
    assert [b.broker_id for b in um.live_brokers] == [2, 3]


async def test_losing_the_last_isr_member_leaves_partition_offline(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    bench.server.unregister_broker(2)
    await bench.controller(3)
    assert bench.state("t", 0)[:3] == (1, 0, (1,))
    bench.server.unregister_broker(1)
    await bench.settle()
    # No live ISR member and no unclean election: leader -1, the ISR keeps its last member.
    assert bench.state("t", 0)[:3] == (-1, 1, (1,))
    # Broker 2 (out of sync) returns: still no leader.
    bench.server.register_broker(2)
    await bench.settle()
    assert bench.state("t", 0)[:2] == (-1, 1)
    # Broker 1 (the ISR) returns: it leads again.
    bench.server.register_broker(1)
    await bench.settle()
    assert bench.state("t", 0)[:3] == (1, 2, (1,))


async def test_unclean_election_from_topic_config(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]}, {"unclean.leader.election.enable": "true"})
    bench.server.unregister_broker(2)
    await bench.controller(3)
    bench.server.unregister_broker(1)
    await bench.settle()
    bench.server.register_broker(2)
    await bench.settle()
    s = bench.server.state("t", 0)
    assert (s.leader, s.isr, s.leader_recovery_state) == (2, (2,), 1)  # KIP-704 RECOVERING


async def test_returning_broker_gets_full_metadata_and_its_replicas(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [3, 2]})
    await bench.controller(2)
    bench.server.unregister_broker(3)
    await bench.settle()
    bench.brokers.clear()
    bench.server.register_broker(3)
    await bench.settle()
    um = bench.brokers.update_metadata(3)[0]
    assert partitions_of([um]) == [("t", 0), ("t", 1)]
    assert partitions_of(bench.brokers.leader_and_isr(3)) == [("t", 1)]
    # Existing brokers hear of broker 3 first in an UpdateMetadata without partitions.
    assert bench.brokers.update_metadata(1)[0].partition_states == ()


async def test_bounced_broker_is_failed_then_started(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(2)
    epoch_before = c.core.context.live_broker_id_and_epochs[1]
    bench.server.register_broker(1)  # re-registers with a newer czxid
    await bench.settle()
    assert c.core.context.live_broker_id_and_epochs[1] > epoch_before
    leader, leader_epoch, isr, _, _ = bench.state("t", 0)
    assert (leader, leader_epoch, isr) == (2, 1, (2,))


async def test_broker_endpoint_change_sends_update_metadata(bench: Bench) -> None:
    from helpers.fake_controller_zk import broker_registration

    await bench.controller(1)
    bench.brokers.clear()
    bench.server.update_broker(broker_registration(3, port=29999))
    await bench.settle()
    um = bench.brokers.update_metadata(1)[-1]
    assert [b.endpoints[0].port for b in um.live_brokers if b.broker_id == 3] == [29999]


# -- controlled shutdown --------------------------------------------------------------------------
async def test_controlled_shutdown_moves_leadership(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2, 3], 1: [2, 1, 3], 2: [1]})
    c = await bench.controller(2)
    bench.brokers.clear()
    czxid = bench.server.brokers[1][1]
    error, remaining = await c.controlled_shutdown(1, czxid)
    # Single-replica partitions stay: nothing can take them.
    assert (error, remaining) == (ErrorCode.none, [])
    assert bench.state("t", 0)[:3] == (2, 1, (2, 3))
    assert bench.state("t", 1)[:3] == (2, 1, (2, 3))
    await bench.settle()
    # StopReplica (delete=false) for what it follows: once directly, once as OfflineReplica.
    stops = bench.brokers.stop_replica(1)
    assert {(s.partition_index, s.delete_partition) for r in stops for s in r.partition_states} == {
        (1, False)
    }
    assert c.core.context.shutting_down_broker_ids == {1}
    # The shutting-down broker is no longer eligible for the ISR.
    assert 1 not in c.core.context.live_broker_ids


async def test_controlled_shutdown_errors(bench: Bench) -> None:
    c = await bench.controller(2)
    other = await bench.controller(3)
    assert await c.controlled_shutdown(1, 1) == (ErrorCode.stale_broker_epoch, [])
    assert await c.controlled_shutdown(7, -1) == (ErrorCode.broker_not_available, [])
    assert await other.controlled_shutdown(1, -1) == (ErrorCode.not_controller, [])


async def test_controlled_shutdown_with_no_other_isr_member_reports_partition(
    bench: Bench,
) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    bench.server.unregister_broker(2)
    c = await bench.controller(3)
    bench.server.register_broker(2)
    await bench.settle()
    error, remaining = await c.controlled_shutdown(1, -1)
    assert (error, remaining) == (ErrorCode.none, [("t", 0)])


# -- topic deletion -------------------------------------------------------------------------------
async def test_topic_deletion_removes_znodes_after_stop_replica(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [2, 3]}, {"retention.ms": "1"})
    bench.server.create_topic("keep", {0: [1]})
    c = await bench.controller(1)
    bench.brokers.clear()
    bench.server.mark_for_deletion("t")
    await bench.settle()
    assert "t" not in bench.server.topics
    assert "t" not in bench.server.topic_configs
    assert bench.server.deletions == set()
    assert not [k for k in bench.server.states if k.topic == "t"]
    assert "keep" in bench.server.topics
    assert c.core.context.all_topics == {"keep"}
    stops = bench.brokers.stop_replica(2)
    flags = [
        (s.partition_index, s.leader_epoch, s.delete_partition)
        for r in stops
        for s in r.partition_states
    ]
    # First delete=false (stop fetching), then delete=true, both with the -2 epoch sentinel.
    assert (0, -2, False) in flags and (0, -2, True) in flags
    assert flags.index((0, -2, False)) < flags.index((0, -2, True))
    um = bench.brokers.update_metadata(3)[0]
    assert {(s.topic_name, s.leader) for s in um.partition_states} == {("t", -2)}


async def test_topic_deletion_waits_for_dead_replica(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(1)
    bench.server.unregister_broker(2)
    await bench.settle()
    bench.server.mark_for_deletion("t")
    await bench.settle()
    assert "t" in bench.server.topics
    assert c.core.context.topics_ineligible_for_deletion == {"t"}
    bench.server.register_broker(2)
    await bench.settle()
    assert "t" not in bench.server.topics


async def test_failed_stop_replica_retries_deletion(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(1)
    bench.brokers.partition_errors[(2, tp("t", 0))] = ErrorCode.kafka_storage_error
    bench.server.mark_for_deletion("t")
    await bench.settle()
    assert "t" in bench.server.topics
    del bench.brokers.partition_errors[(2, tp("t", 0))]
    bench.server.register_broker(2)  # a restart resumes the deletion
    await bench.settle()
    assert "t" not in bench.server.topics


async def test_delete_topic_disabled_drops_the_request(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1]})
    await bench.controller(
        1, ControllerConfig(auto_leader_rebalance_enable=False, delete_topic_enable=False)
    )
    bench.server.mark_for_deletion("t")
    await bench.settle()
    assert "t" in bench.server.topics
    assert bench.server.deletions == set()


async def test_deleting_unknown_topic_removes_marker(bench: Bench) -> None:
    await bench.controller(1)
    bench.server.mark_for_deletion("ghost")
    await bench.settle()
    assert bench.server.deletions == set()


async def test_partitions_added_during_deletion_are_reverted(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    c = await bench.controller(1)
    bench.brokers.unreachable.add(2)  # deletion cannot finish
    bench.server.mark_for_deletion("t")
    await asyncio.sleep(0.1)  # the StopReplica to broker 2 is retried meanwhile
    bench.server.add_partitions("t", {1: [1]})
    await asyncio.sleep(0.1)
    assert set(bench.server.topics["t"][1]) == {0}
    assert TopicPartition("t", 1) not in c.core.context.all_partitions
    bench.brokers.unreachable.clear()
    await bench.settle()
    assert "t" not in bench.server.topics


# -- log directories and broker answers ----------------------------------------------------------
async def test_log_dir_failure_marks_replica_offline(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [2, 1]})
    await bench.controller(3)
    bench.brokers.partition_errors[(1, tp("t", 0))] = ErrorCode.kafka_storage_error
    bench.server.add_log_dir_event(1)
    await bench.settle()
    assert bench.server.log_dir_events == {}
    assert bench.state("t", 0)[:3] == (2, 1, (2,))
    assert bench.state("t", 1)[:3] == (2, 0, (2, 1))
    um = bench.brokers.update_metadata(3)[-1]
    assert {(s.partition_index, s.offline_replicas) for s in um.partition_states} >= {(0, (1,))}


async def test_isr_change_notification_sends_update_metadata(bench: Bench) -> None:
    from cluster.controller.model import LeaderAndIsr

    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(3)
    bench.server.write_state(tp("t", 0), LeaderAndIsr(1, 0, (1,), 0, 0), 1)
    bench.brokers.clear()
    bench.server.add_isr_change([tp("t", 0)])
    await bench.settle()
    assert bench.server.isr_changes == {}
    um = bench.brokers.update_metadata(2)[-1]
    assert [(s.partition_index, s.isr, s.zk_version) for s in um.partition_states] == [(0, (1,), 1)]


async def test_leader_and_isr_requests_use_latest_broker_epoch(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2]})
    await bench.controller(3)
    bench.brokers.clear()
    czxid = bench.server.register_broker(2)
    await bench.settle()
    lairs: list[LeaderAndIsrRequestData] = bench.brokers.leader_and_isr(2)
    assert lairs and all(r.broker_epoch == czxid for r in lairs)


async def test_quiet_config_has_no_rebalance_task(bench: Bench) -> None:
    c = await bench.controller(1, QUIET)
    assert c.core._rebalance_task is None


async def test_metrics(bench: Bench) -> None:
    bench.server.create_topic("t", {0: [1, 2], 1: [2, 1]})
    c = await bench.controller(3)
    other = await bench.controller(1)
    m = c.metrics()
    assert (m["ActiveControllerCount"], m["GlobalTopicCount"], m["GlobalPartitionCount"]) == (
        1,
        1,
        2,
    )
    assert (m["ActiveBrokerCount"], m["OfflinePartitionsCount"], m["FencedBrokerCount"]) == (
        3,
        0,
        0,
    )
    assert other.metrics()["ActiveControllerCount"] == 0
    bench.server.unregister_broker(1)
    await bench.settle()
    # t-0 moved to 2: not on its preferred replica.
    assert c.metrics()["PreferredReplicaImbalanceCount"] == 1
    bench.server.unregister_broker(2)
    await bench.settle()
    assert c.metrics()["OfflinePartitionsCount"] == 2
