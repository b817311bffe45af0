"""The controller at work: how long its steps take on a real 3-node ZooKeeper ensemble.

Three fake brokers (asyncio servers that answer control requests; tests/helpers/fake_broker.py)
each run a KafkaController. With ``--partitions`` partitions (RF 3, over 10 topics):

* create  - topic znodes written -> every partition state znode created and every replica
            told (LeaderAndIsr received by all three brokers);
* loss    - a broker's session closes (its registration goes at once) -> every partition it
            led has a new leader in ZooKeeper and the survivors have been told;
* shutdown- ControlledShutdown of a broker leading a third of the partitions -> answered
            with no partition left;
* failover- the controller's session expires -> a new controller has re-sent LeaderAndIsr for
            every partition to the live brokers.

    python benchmarks/controller.py [--partitions 600]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.fake_broker import FakeBroker  # noqa: E402
from helpers.zookeeper import ZooKeeperEnsemble, expire_session  # noqa: E402

from cluster.zk import paths  # noqa: E402
from cluster.zk.client import ZkClient  # noqa: E402
from cluster.zk.config_znodes import ConfigEntity  # noqa: E402
from cluster.zk.topic_znodes import TopicAssignment  # noqa: E402

TOPICS = 10


async def until(check: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def told(broker: FakeBroker, epoch: int) -> set[tuple[str, int]]:
    return {
        (t.topic_name, p.partition_index)
        for r in broker.leader_and_isr()
        if r.controller_epoch == epoch
        for t in r.topic_states
        for p in t.partition_states
    }


async def run(partitions: int) -> None:
    per_topic = partitions // TOPICS
    with tempfile.TemporaryDirectory() as tmp, ZooKeeperEnsemble(Path(tmp), 3) as ensemble:
        connect = ensemble.connect_string("/bench")
        admin = ZkClient(connect)
        await admin.start()
        brokers = {b: await FakeBroker(b, connect).start() for b in (1, 2, 3)}
        await until(lambda: any(b.controller and b.controller.is_active for b in brokers.values()))
        controller = next(b for b in brokers.values() if b.controller and b.controller.is_active)
        assert controller.controller is not None
        print(
            f"{partitions} partitions, RF 3, {TOPICS} topics; controller is broker "
            f"{controller.broker_id}"
        )

        started = time.monotonic()
        for t in range(TOPICS):
            name = f"bench-{t}"
            assignment = {p: [(p + i) % 3 + 1 for i in range(3)] for p in range(per_topic)}
            await admin.create(paths.topic_config(name), ConfigEntity({}).encode(), makepath=True)
            await admin.create(
                paths.topic(name),
                TopicAssignment.of(name, uuid.uuid4(), assignment).encode(),
                makepath=True,
            )
        total = per_topic * TOPICS
        epoch = controller.controller.epoch
        await until(lambda: all(len(told(b, epoch)) == total for b in brokers.values()))
        print(f"create:   {time.monotonic() - started:6.2f} s")

        victim = next(b for b in (1, 2, 3) if b != controller.broker_id)
        context = controller.controller.core.context
        led = {
            tp
            for tp, i in context.partitions_leadership_info.items()
            if i.leader_and_isr.leader == victim
        }
        started = time.monotonic()
        await brokers.pop(victim).stop()

        def moved() -> bool:
            info = context.partitions_leadership_info
            return all(info[tp].leader_and_isr.leader not in (victim, -1) for tp in led) and (
                controller.controller is not None
                and controller.controller.core.event_manager.is_empty()
                and controller.controller.core.channel_manager.pending() == 0
            )

        await until(moved)
        print(f"loss:     {time.monotonic() - started:6.2f} s ({len(led)} leaders moved)")

        brokers[victim] = await FakeBroker(victim, connect).start()
        await until(lambda: victim in context.live_broker_ids)
        other = next(b for b in brokers if b not in (victim, controller.broker_id))
        await controller.controller.elect_leaders(0, None, 300_000)
        started = time.monotonic()
        error, remaining = await controller.controller.controlled_shutdown(
            other, brokers[other].broker_epoch
        )
        print(
            f"shutdown: {time.monotonic() - started:6.2f} s ({error.name}, {len(remaining)} left)"
        )

        started = time.monotonic()
        assert controller.zk is not None and controller.zk.session_id is not None
        await asyncio.to_thread(
            expire_session,
            ensemble.connect_string(),
            controller.zk.session_id,
            controller.zk.session_password,
        )

        def failed_over() -> bool:
            active = [b for b in brokers.values() if b.controller and b.controller.is_active]
            if len(active) != 1 or active[0].controller is None:
                return False
            new_epoch = active[0].controller.epoch
            return new_epoch > epoch and all(
                len(told(b, new_epoch)) == total
                for b in brokers.values()
                if b.broker_id != controller.broker_id
            )

        await until(failed_over)
        print(f"failover: {time.monotonic() - started:6.2f} s")
        for b in brokers.values():
            await b.stop()
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=600)
    args = parser.parse_args()
    asyncio.run(run(args.partitions))


if __name__ == "__main__":
    main()
