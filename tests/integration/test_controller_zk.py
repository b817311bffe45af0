"""The controller against a real 3-node ZooKeeper ensemble, with fake brokers (asyncio TCP
servers that record the LeaderAndIsr / UpdateMetadata / StopReplica they receive).

Each test runs under its own chroot. Topics are created and deleted by writing the znodes
the way Kafka's AdminZkClient writes them; assertions are on the znode JSON Kafka 3.9 writes
and on the requests each broker received.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from helpers.fake_broker import LEADER_AND_ISR, FakeBroker
from helpers.zookeeper import ZooKeeperEnsemble, expire_session
from kio.schema.alter_partition.v3 import request as ap3

from cluster.controller.config import ControllerConfig
from cluster.controller.kafka_zk import KafkaZkControllerClient
from cluster.controller.model import LeaderAndIsr, TopicPartition
from cluster.zk import paths
from cluster.zk.client import ZkClient
from cluster.zk.config_znodes import ConfigEntity
from cluster.zk.registration import ControllerMovedError
from cluster.zk.topic_znodes import (
    TopicAssignment,
    encode_partition_list,
    encode_reassign_partitions,
)
from protocol.errors import ErrorCode
from storage.clock import SystemClock

WAIT_S = 30.0


async def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll an async or plain check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class Cluster:
    def __init__(self, zk_connect: str) -> None:
        self.zk_connect = zk_connect
        self.brokers: dict[int, FakeBroker] = {}
        self.admin = ZkClient(zk_connect, session_timeout_ms=10_000)

    async def start(self, ids: list[int], config: ControllerConfig | None = None) -> None:
        await self.admin.start()
        for b in ids:
            await self.add(b, config)

    async def add(self, broker_id: int, config: ControllerConfig | None = None) -> FakeBroker:
        broker = FakeBroker(broker_id, self.zk_connect)
        if config is not None:
            broker.config = config
        self.brokers[broker_id] = await broker.start()
        return broker

    async def close(self) -> None:
        for b in self.brokers.values():
            await b.stop()
        await self.admin.close()

    def active(self) -> FakeBroker | None:
        """The one active controller; None while there is none or, for a moment after a
        session expiry, while the old one has not yet heard of it (it is fenced meanwhile)."""
        actives = [b for b in self.brokers.values() if b.controller and b.controller.is_active]
        return actives[0] if len(actives) == 1 else None

    async def controller(self) -> FakeBroker:
        return await eventually(self.active, "an active controller")  # type: ignore[no-any-return]

    async def quiet(self) -> None:
        """Wait until no controller has events queued or requests in flight (checked a few
        times in a row, since watches may still be on their way)."""
        calm = 0
        deadline = time.monotonic() + WAIT_S
        while calm < 10:
            busy = any(
                b.controller is not None
                and (
                    not b.controller.core.event_manager.is_empty()
                    or b.controller.core.channel_manager.pending()
                )
                for b in self.brokers.values()
            )
            calm = 0 if busy else calm + 1
            if time.monotonic() > deadline:
                raise AssertionError("controllers never went quiet")
            await asyncio.sleep(0.05)

    async def json(self, path: str) -> Any:
        await self.admin.sync(path)
        data, _ = await self.admin.get(path)
        return json.loads(data) if data else None

    async def state(self, topic: str, partition: int) -> tuple[dict[str, Any], int]:
        path = paths.partition_state(topic, partition)
        await self.admin.sync(path)
        data, stat = await self.admin.get(path)
        return json.loads(data), stat.version

    async def exists(self, path: str) -> bool:
        await self.admin.sync(path)
        return await self.admin.exists(path) is not None

    async def create_topic(
        self, name: str, assignment: dict[int, list[int]], configs: dict[str, str] | None = None
    ) -> uuid.UUID:
        """As Kafka's AdminZkClient: /config/topics/<t> first, then /brokers/topics/<t>."""
        topic_id = uuid.uuid4()
        await self.admin.create(
            paths.topic_config(name), ConfigEntity(configs or {}).encode(), makepath=True
        )
        await self.admin.create(
            paths.topic(name),
            TopicAssignment.of(name, topic_id, assignment).encode(),
            makepath=True,
        )
        return topic_id

    async def wait_states(self, topic: str, partitions: int) -> None:
        for p in range(partitions):
            await eventually(
                lambda p=p: self.exists(paths.partition_state(topic, p)), f"state of {topic}-{p}"
            )


@pytest.fixture
async def cluster(zk_connect: str) -> AsyncIterator[Cluster]:
    c = Cluster(zk_connect)
    try:
        yield c
    finally:
        await c.close()


def lai_partitions(broker: FakeBroker, controller_epoch: int | None = None) -> set[tuple[str, int]]:
    return {
        (t.topic_name, p.partition_index)
        for r in broker.leader_and_isr()
        if controller_epoch is None or r.controller_epoch == controller_epoch
        for t in r.topic_states
        for p in t.partition_states
    }


async def test_election_topic_creation_and_failover(
    cluster: Cluster, zk_ensemble: ZooKeeperEnsemble
) -> None:
    await cluster.start([1, 2, 3])
    first = await cluster.controller()
    controller_json = await cluster.json(paths.CONTROLLER)
    assert set(controller_json) == {"version", "brokerid", "timestamp", "kraftControllerEpoch"}
    assert (controller_json["version"], controller_json["brokerid"]) == (2, first.broker_id)
    assert controller_json["kraftControllerEpoch"] == -1
    await cluster.admin.sync(paths.CONTROLLER_EPOCH)
    epoch_data, epoch_stat = await cluster.admin.get(paths.CONTROLLER_EPOCH)
    assert (epoch_data, epoch_stat.version) == (b"1", 1)
    assert await cluster.json(paths.FEATURE) == {"features": {}, "version": 2, "status": 1}

    topic_id = await cluster.create_topic("orders", {0: [1, 2, 3], 1: [2, 3, 1], 2: [3, 1, 2]})
    await cluster.wait_states("orders", 3)
    state, version = await cluster.state("orders", 1)
    assert state == {
        "controller_epoch": 1,
        "leader": 2,
        "version": 1,
        "leader_epoch": 0,
        "isr": [2, 3, 1],
    }
    assert version == 0
    for b in cluster.brokers.values():
        await eventually(lambda b=b: len(lai_partitions(b)) == 3, f"LeaderAndIsr at {b.broker_id}")
        p = b.latest_partition_state("orders", 1)
        assert (p.leader, p.leader_epoch, tuple(p.isr), p.is_new) == (2, 0, (2, 3, 1), True)
        request = b.leader_and_isr()[-1]
        assert request.broker_epoch == b.broker_epoch
        assert request.topic_states[0].topic_id == topic_id

    # The controller's session expires: another broker takes over with epoch 2 and tells
    # every broker the whole state again.
    others = [b for b in cluster.brokers.values() if b is not first]
    assert first.zk is not None and first.zk.session_id is not None
    await asyncio.to_thread(
        expire_session, zk_ensemble.connect_string(), first.zk.session_id, first.zk.session_password
    )
    # Usually another broker wins; the expired one may win again on its new session: both
    # are Kafka's behaviour. Either way the epoch is 2.
    second = await eventually(
        lambda: (a := cluster.active()) is not None and a.controller.epoch == 2 and a,
        "a controller with epoch 2",
    )
    await eventually(
        lambda: all(lai_partitions(b, 2) == {("orders", p) for p in range(3)} for b in others),
        "LeaderAndIsr from epoch 2",
    )
    assert (await cluster.json(paths.CONTROLLER))["brokerid"] == second.broker_id
    # The expired broker re-registers (new broker epoch) and is told its replicas again.
    new_epoch = await eventually(
        lambda: (
            first.registrar is not None
            and first.registrar.broker_epoch != first.received[0].request.broker_epoch
            and first.registrar.broker_epoch
        ),
        "re-registration",
    )
    await eventually(
        lambda: any(
            r.controller_epoch == 2 and r.broker_epoch == new_epoch for r in first.leader_and_isr()
        ),
        "LeaderAndIsr for the re-registered broker",
    )

    # AllocateProducerIds hands out blocks on /latest_producer_id_block.
    error, start, length = await second.controller.allocate_producer_ids(
        others[0].broker_id, others[0].broker_epoch
    )
    assert (error, start, length) == (ErrorCode.none, 0, 1000)
    block = await cluster.json(paths.LATEST_PRODUCER_ID_BLOCK)
    assert block == {
        "version": 1,
        "broker": others[0].broker_id,
        "block_start": "0",
        "block_end": "999",
    }


async def test_broker_loss_moves_leaders_with_epoch_bumps(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    controller = await cluster.controller()
    victim_id = next(b for b in (1, 2, 3) if b != controller.broker_id)
    survivors = [b for b in (1, 2, 3) if b != victim_id]
    await cluster.create_topic("t", {0: [victim_id, *survivors], 1: [*survivors, victim_id]})
    await cluster.wait_states("t", 2)
    victim = cluster.brokers.pop(victim_id)
    await victim.stop()

    async def moved() -> bool:
        state, _ = await cluster.state("t", 0)
        return state["leader"] != victim_id

    await eventually(moved, "new leader of t-0")
    state0, version0 = await cluster.state("t", 0)
    assert (state0["leader"], state0["leader_epoch"], state0["isr"]) == (survivors[0], 1, survivors)
    assert version0 == 1
    state1, version1 = await cluster.state("t", 1)
    assert (state1["leader"], state1["leader_epoch"], state1["isr"]) == (survivors[0], 1, survivors)
    assert version1 == 1
    for b in survivors:
        broker = cluster.brokers[b]
        await eventually(
            lambda broker=broker: (
                (p := broker.latest_partition_state("t", 0)) is not None and p.leader_epoch == 1
            ),
            "LeaderAndIsr with the new leader",
        )
        um = broker.update_metadata()[-1]
        assert sorted(x.id for x in um.live_brokers) == survivors


async def test_old_controller_is_fenced(cluster: Cluster, zk_ensemble: ZooKeeperEnsemble) -> None:
    await cluster.start([1, 2])
    first = await cluster.controller()
    await cluster.create_topic("t", {0: [1, 2]})
    await cluster.wait_states("t", 1)
    assert first.controller is not None and first.zk is not None
    old_epoch_zk_version = first.controller.core.context.epoch_zk_version
    stale_client = KafkaZkControllerClient(cluster.admin, SystemClock())
    assert first.zk.session_id is not None
    await asyncio.to_thread(
        expire_session, zk_ensemble.connect_string(), first.zk.session_id, first.zk.session_password
    )
    await eventually(
        lambda: (
            (a := cluster.active()) is not None
            and a.controller is not None
            and a.controller.epoch == 2
        ),
        "failover",
    )
    await cluster.quiet()
    before = await cluster.state("t", 0)
    # A write fenced with the old controller's /controller_epoch version fails as a whole.
    with pytest.raises(ControllerMovedError):
        await stale_client.update_leader_and_isr(
            {TopicPartition("t", 0): LeaderAndIsr(2, 9, (2,), 0, before[1])},
            1,
            old_epoch_zk_version,
        )
    assert await cluster.state("t", 0) == before


async def test_alter_partition_compare_and_set(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    controller = await cluster.controller()
    assert controller.controller is not None
    leader_id = next(b for b in (1, 2, 3) if b != controller.broker_id)
    follower = next(b for b in (1, 2, 3) if b not in (leader_id, controller.broker_id))
    topic_id = await cluster.create_topic("t", {0: [leader_id, follower]})
    await cluster.wait_states("t", 1)
    await eventually(
        lambda: (
            ("t", 0)
            in {tuple(tp) for tp in controller.controller.core.context.partitions_leadership_info}
        ),
        "leadership cached",
    )
    leader = cluster.brokers[leader_id]

    def shrink(partition_epoch: int) -> Any:
        return ap3.AlterPartitionRequest(
            broker_id=leader_id,
            broker_epoch=leader.broker_epoch,
            topics=(
                ap3.TopicData(
                    topic_id=topic_id,
                    partitions=(
                        ap3.PartitionData(
                            partition_index=0,
                            leader_epoch=0,
                            new_isr_with_epochs=(
                                ap3.BrokerState(broker_id=leader_id, broker_epoch=-1),
                            ),
                            leader_recovery_state=0,
                            partition_epoch=partition_epoch,
                        ),
                    ),
                ),
            ),
        )

    response = await controller.controller.alter_partition(shrink(0), 3)
    [p] = response.topics[0].partitions
    assert (p.error_code, list(p.isr), p.partition_epoch, p.leader_epoch) == (
        ErrorCode.none,
        [leader_id],
        1,
        0,
    )
    state, version = await cluster.state("t", 0)
    assert (state["isr"], state["leader_epoch"], version) == ([leader_id], 0, 1)
    # Someone else wrote the znode meanwhile (version 2): the controller's CAS fails.
    await cluster.admin.set(
        paths.partition_state("t", 0),
        json.dumps({**state, "isr": [leader_id, follower]}, separators=(",", ":")).encode(),
        version=1,
    )
    expand = ap3.AlterPartitionRequest(
        broker_id=leader_id,
        broker_epoch=leader.broker_epoch,
        topics=(
            ap3.TopicData(
                topic_id=topic_id,
                partitions=(
                    ap3.PartitionData(
                        partition_index=0,
                        leader_epoch=0,
                        new_isr_with_epochs=tuple(
                            ap3.BrokerState(broker_id=b, broker_epoch=-1)
                            for b in (leader_id, follower, 99)
                        ),
                        leader_recovery_state=0,
                        partition_epoch=1,
                    ),
                ),
            ),
        ),
    )
    response = await controller.controller.alter_partition(expand, 3)
    assert response.topics[0].partitions[0].error_code == ErrorCode.ineligible_replica
    retry = await controller.controller.alter_partition(shrink(1), 3)
    assert retry.topics[0].partitions[0].error_code == ErrorCode.none  # idempotent: same state
    stale = await controller.controller.alter_partition(shrink(0), 3)
    assert stale.topics[0].partitions[0].error_code == ErrorCode.none  # equal apart from epoch


async def test_topic_deletion_and_partition_addition(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    await cluster.controller()
    topic_id = await cluster.create_topic("t", {0: [1, 2]}, {"retention.ms": "1000"})
    await cluster.wait_states("t", 1)
    # CreatePartitions: the broker rewrites /brokers/topics/<t>; the controller starts them.
    await cluster.admin.set(
        paths.topic("t"),
        TopicAssignment.of("t", topic_id, {0: [1, 2], 1: [2, 3], 2: [3, 1]}).encode(),
    )
    await cluster.wait_states("t", 3)
    state2, _ = await cluster.state("t", 2)
    assert (state2["leader"], state2["isr"], state2["leader_epoch"]) == (3, [3, 1], 0)

    await cluster.admin.create(paths.delete_topic_marker("t"), None)

    async def gone() -> bool:
        # Kafka's order: the topic znode, its config, then the marker.
        return not await cluster.exists(paths.delete_topic_marker("t"))

    await eventually(gone, "deletion marker removed")
    assert not await cluster.exists(paths.topic("t"))
    assert not await cluster.exists(paths.topic_config("t"))
    for b in (1, 2, 3):
        flags = {
            (t.topic_name, p.partition_index, p.leader_epoch, p.delete_partition)
            for r in cluster.brokers[b].stop_replica()
            for t in r.topic_states
            for p in t.partition_states
        }
        assert {f for f in flags if f[3]} == {
            ("t", p, -2, True)
            for p, replicas in ((0, (1, 2)), (1, (2, 3)), (2, (3, 1)))
            if b in replicas
        }


async def test_controlled_shutdown_and_preferred_election(cluster: Cluster) -> None:
    await cluster.start([1, 2, 3])
    controller = await cluster.controller()
    assert controller.controller is not None
    target = next(b for b in (1, 2, 3) if b != controller.broker_id)
    other = next(b for b in (1, 2, 3) if b not in (target, controller.broker_id))
    await cluster.create_topic("t", {0: [target, other], 1: [other, target]})
    await cluster.wait_states("t", 2)
    error, remaining = await controller.controller.controlled_shutdown(
        target, cluster.brokers[target].broker_epoch
    )
    assert (error, remaining) == (ErrorCode.none, [])
    state0, _ = await cluster.state("t", 0)
    assert (state0["leader"], state0["isr"], state0["leader_epoch"]) == (other, [other], 1)
    state1, _ = await cluster.state("t", 1)
    assert (state1["leader"], state1["isr"], state1["leader_epoch"]) == (other, [other], 1)

    # It comes back (a restart: new registration) and catches up; the legacy znode asks
    # for the preferred leader.
    restarted = cluster.brokers.pop(target)
    await restarted.stop()
    await cluster.add(target)
    await eventually(
        lambda: target in controller.controller.core.context.live_broker_ids, "restart"
    )
    await cluster.quiet()
    _, version = await cluster.state("t", 0)
    await cluster.admin.set(
        paths.partition_state("t", 0),
        json.dumps({**state0, "isr": [other, target]}, separators=(",", ":")).encode(),
        version=version,
    )
    await cluster.admin.create(paths.PREFERRED_REPLICA_ELECTION, encode_partition_list([("t", 0)]))

    async def preferred() -> bool:
        state, _ = await cluster.state("t", 0)
        return state["leader"] == target and not await cluster.exists(
            paths.PREFERRED_REPLICA_ELECTION
        )

    await eventually(preferred, "preferred leader elected and znode removed")


async def test_reassignment_to_a_new_broker_through_the_znode(cluster: Cluster) -> None:
    await cluster.start([1, 2])
    controller = await cluster.controller()
    assert controller.controller is not None
    topic_id = await cluster.create_topic("t", {0: [1, 2]})
    await cluster.wait_states("t", 1)
    newcomer = await cluster.add(3)
    await eventually(lambda: 3 in controller.controller.core.context.live_broker_ids, "broker 3")
    await cluster.admin.create(
        paths.REASSIGN_PARTITIONS, encode_reassign_partitions({("t", 0): [3, 2]})
    )

    async def phase_a() -> bool:
        assignment = await cluster.json(paths.topic("t"))
        return bool(assignment["adding_replicas"])

    await eventually(phase_a, "reassignment started")
    assignment = await cluster.json(paths.topic("t"))
    assert assignment["partitions"] == {"0": [3, 2, 1]}
    assert (assignment["adding_replicas"], assignment["removing_replicas"]) == (
        {"0": [3]},
        {"0": [1]},
    )
    await eventually(
        lambda: newcomer.latest_partition_state("t", 0) is not None, "LeaderAndIsr at 3"
    )
    p = newcomer.latest_partition_state("t", 0)
    assert (p.is_new, list(p.adding_replicas), list(p.removing_replicas)) == (True, [3], [1])

    # Broker 3 caught up: the leader adds it to the ISR with AlterPartition.
    await cluster.quiet()
    state, version = await cluster.state("t", 0)
    leader = cluster.brokers[state["leader"]]
    response = await controller.controller.alter_partition(
        ap3.AlterPartitionRequest(
            broker_id=state["leader"],
            broker_epoch=leader.broker_epoch,
            topics=(
                ap3.TopicData(
                    topic_id=topic_id,
                    partitions=(
                        ap3.PartitionData(
                            partition_index=0,
                            leader_epoch=state["leader_epoch"],
                            new_isr_with_epochs=tuple(
                                ap3.BrokerState(broker_id=b, broker_epoch=-1)
                                for b in (*state["isr"], 3)
                            ),
                            leader_recovery_state=0,
                            partition_epoch=version,
                        ),
                    ),
                ),
            ),
        ),
        3,
    )
    assert response.topics[0].partitions[0].error_code == ErrorCode.none

    async def done() -> bool:
        assignment = await cluster.json(paths.topic("t"))
        return assignment["partitions"] == {"0": [3, 2]} and not await cluster.exists(
            paths.REASSIGN_PARTITIONS
        )

    await eventually(done, "reassignment completed")
    final, _ = await cluster.state("t", 0)
    assert final["leader"] == 3 and set(final["isr"]) == {2, 3}
    deletes = {
        p.delete_partition
        for r in cluster.brokers[1].stop_replica()
        for t in r.topic_states
        for p in t.partition_states
    }
    assert deletes == {False, True}


async def test_auto_leader_rebalance(cluster: Cluster) -> None:
    config = ControllerConfig(
        inter_broker_listener_name="INTERNAL",
        auto_leader_rebalance_enable=True,
        leader_imbalance_check_interval_seconds=1,
        initial_leader_rebalance_delay_ms=200,
    )
    await cluster.start([1, 2], config)
    controller = await cluster.controller()
    assert controller.controller is not None
    await cluster.create_topic("t", {0: [1, 2], 1: [2, 1]})
    await cluster.wait_states("t", 2)
    # Leadership of t-0 moved to 2 (say after a restart of 1) while 1 is back in the ISR.
    # (Written behind the controller's back: only once it is done with the topic.)
    await cluster.quiet()
    state, version = await cluster.state("t", 0)
    await cluster.admin.set(
        paths.partition_state("t", 0),
        json.dumps({**state, "leader": 2, "leader_epoch": 1}, separators=(",", ":")).encode(),
        version=version,
    )
    # The controller's session may be on a ZooKeeper server that has not applied it yet.
    assert controller.zk is not None
    await controller.zk.sync(paths.partition_state("t", 0))
    await controller.controller.core.update_leader_and_isr_cache([TopicPartition("t", 0)])

    async def rebalanced() -> bool:
        s, _ = await cluster.state("t", 0)
        return s["leader"] == 1 and s["leader_epoch"] == 2

    await eventually(rebalanced, "automatic preferred leader election")
    assert any(r.api_key == LEADER_AND_ISR for r in cluster.brokers[1].received)


async def test_losing_a_zookeeper_node_changes_nothing(
    cluster: Cluster, zk_ensemble: ZooKeeperEnsemble
) -> None:
    await cluster.start([1, 2, 3])
    controller = await cluster.controller()
    await cluster.create_topic("before", {0: [1, 2, 3]})
    await cluster.wait_states("before", 1)
    # Kill the ZooKeeper leader: clients lose their connections and move to the others.
    await asyncio.to_thread(zk_ensemble.leader().kill)
    await cluster.create_topic("after", {0: [3, 2, 1]})
    await cluster.wait_states("after", 1)
    state, _ = await cluster.state("after", 0)
    assert (state["leader"], state["isr"]) == (3, [3, 2, 1])
    assert cluster.active() is controller  # the sessions survived: no failover
    victim_id = next(b for b in (1, 2, 3) if b != controller.broker_id)
    victim = cluster.brokers.pop(victim_id)
    await victim.stop()

    async def shrunk() -> bool:
        s, _ = await cluster.state("before", 0)
        return victim_id not in s["isr"]

    await eventually(shrunk, "ISR without the stopped broker")


async def test_batched_state_writes_fall_back_on_a_conflict(cluster: Cluster) -> None:
    await cluster.start([1, 2])
    controller = await cluster.controller()
    assert controller.controller is not None
    await cluster.create_topic("t", {p: [1, 2] for p in range(4)})
    await cluster.wait_states("t", 4)
    await cluster.quiet()
    context = controller.controller.core.context
    client = KafkaZkControllerClient(cluster.admin, SystemClock())
    # Partition 2 changed behind our back: its version moved on.
    s2, v2 = await cluster.state("t", 2)
    await cluster.admin.set(
        paths.partition_state("t", 2), json.dumps(s2, separators=(",", ":")).encode(), version=v2
    )
    updates = {}
    for p in range(4):
        s, v = await cluster.state("t", p) if p != 2 else (s2, v2)
        updates[TopicPartition("t", p)] = LeaderAndIsr(
            s["leader"], s["leader_epoch"] + 1, (1, 2), 0, v
        )
    result = await client.update_leader_and_isr(updates, context.epoch, context.epoch_zk_version)
    assert result.updates_to_retry == (TopicPartition("t", 2),)
    assert sorted(result.finished) == [TopicPartition("t", p) for p in (0, 1, 3)]
    for p in (0, 1, 3):
        written = result.finished[TopicPartition("t", p)]
        assert isinstance(written, LeaderAndIsr)
        state, version = await cluster.state("t", p)
        assert (state["leader_epoch"], version) == (written.leader_epoch, written.partition_epoch)
    # All at once when nothing conflicts: one multi, every version bumped.
    again = {
        tp: lai.new_epoch().with_partition_epoch(lai.partition_epoch)
        for tp, lai in result.finished.items()
        if isinstance(lai, LeaderAndIsr)
    }
    second = await client.update_leader_and_isr(again, context.epoch, context.epoch_zk_version)
    assert second.updates_to_retry == () and len(second.finished) == 3


async def test_a_broker_registering_again_at_once_is_seen_as_bounced(cluster: Cluster) -> None:
    await cluster.start([1, 2])
    controller = await cluster.controller()
    assert controller.controller is not None
    other = cluster.brokers[next(b for b in (1, 2) if b != controller.broker_id)]
    await cluster.create_topic("t", {0: [controller.broker_id, other.broker_id]})
    await cluster.wait_states("t", 1)
    await cluster.quiet()
    context = controller.controller.core.context
    old_epoch = context.live_broker_id_and_epochs[other.broker_id]
    # Gone and back within one round trip: the children of /brokers/ids look the same to a
    # reader that comes late, but the registration (and the broker epoch) is new.
    path = paths.broker(other.broker_id)
    data, _ = await cluster.admin.get(path)
    await cluster.admin.delete(path)
    _, stat = await cluster.admin.create(path, data, ephemeral=True)
    await eventually(
        lambda: context.live_broker_id_and_epochs.get(other.broker_id) == stat.czxid,
        "the new broker epoch",
    )
    assert stat.czxid > old_epoch
    await eventually(
        lambda: any(r.broker_epoch == stat.czxid for r in other.leader_and_isr()),
        "LeaderAndIsr with the new broker epoch",
    )
