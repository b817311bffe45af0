"""Random sequences of cluster events (brokers dying and returning, topics created and
deleted, controlled shutdowns, preferred elections, reassignments, controller failovers) on
the in-memory ZooKeeper; after each settles, Kafka's invariants hold:

* a partition's leader is in its ISR, or -1; a leader is a live broker;
* the ISR only holds assigned replicas and never empties;
* leader epochs and znode versions never go back;
* a partition with a live ISR member has a leader (no unclean election is configured);
* every live replica's last LeaderAndIsr carries the partition's current leader epoch, and
  the last UpdateMetadata each live broker got lists exactly the live brokers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from helpers.controller_harness import Bench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.schema.alter_partition.v3 import request as ap3

from cluster.controller.api import KafkaController
from cluster.controller.model import TopicPartition

BROKERS = (1, 2, 3, 4)

op = st.one_of(
    st.tuples(st.just("kill"), st.sampled_from(BROKERS)),
    st.tuples(st.just("start"), st.sampled_from(BROKERS)),
    st.tuples(st.just("bounce"), st.sampled_from(BROKERS)),
    st.tuples(
        st.just("create"),
        st.lists(st.sampled_from(BROKERS), min_size=1, max_size=3, unique=True),
    ),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("shutdown"), st.sampled_from(BROKERS)),
    st.tuples(st.just("prefer"), st.integers(0, 5)),
    st.tuples(
        st.just("reassign"),
        st.integers(0, 5),
        st.lists(st.sampled_from(BROKERS), min_size=1, max_size=3, unique=True),
    ),
    st.tuples(st.just("failover"), st.sampled_from(BROKERS)),
    st.tuples(st.just("catch_up"), st.integers(0, 5), st.integers(0, 1)),
)


async def scenario(ops: list[tuple[Any, ...]]) -> None:
    bench = Bench(live=BROKERS)
    controllers: dict[int, KafkaController] = {}
    for b in BROKERS:
        controllers[b] = await bench.controller(b)
    topics: list[str] = []
    history: dict[TopicPartition, tuple[int, int]] = {}
    try:
        for step, action in enumerate(ops):
            await apply(bench, controllers, topics, step, action)
            await bench.settle()
            check(bench, history)
    finally:
        await bench.close()


def active(controllers: dict[int, KafkaController]) -> KafkaController | None:
    return next((c for c in controllers.values() if c.is_active), None)


async def apply(
    bench: Bench,
    controllers: dict[int, KafkaController],
    topics: list[str],
    step: int,
    action: tuple[Any, ...],
) -> None:
    server = bench.server
    kind = action[0]
    live = set(server.brokers)
    if kind == "kill" and action[1] in live and len(live) > 1:
        server.unregister_broker(action[1])
    elif kind == "start" and action[1] not in live:
        server.register_broker(action[1])
    elif kind == "bounce" and action[1] in live:
        server.register_broker(action[1])  # a newer registration: the broker restarted
    elif kind == "create":
        name = f"t{step}"
        replicas = list(action[1])
        server.create_topic(name, {0: replicas, 1: replicas[::-1]})
        topics.append(name)
    elif kind == "delete" and topics:
        server.mark_for_deletion(topics[action[1] % len(topics)])
    elif kind == "shutdown" and (c := active(controllers)) is not None and action[1] in live:
        await c.controlled_shutdown(action[1], -1)
    elif kind == "prefer" and topics and (c := active(controllers)) is not None:
        await c.elect_leaders(0, [(topics[action[1] % len(topics)], 0)], 10_000)
    elif kind == "reassign" and topics and (c := active(controllers)) is not None:
        await c.alter_partition_reassignments(
            {(topics[action[1] % len(topics)], 1): list(action[2])}, 10_000
        )
    elif kind == "failover" and (c := active(controllers)) is not None:
        server.expire(bench.sessions[c.broker_id])
    elif kind == "catch_up" and topics and (c := active(controllers)) is not None:
        await catch_up(bench, c, TopicPartition(topics[action[1] % len(topics)], action[2]))


async def catch_up(bench: Bench, c: KafkaController, tp: TopicPartition) -> None:
    """The leader adds every live, caught-up replica to the ISR (AlterPartition v3)."""
    server = bench.server
    state = server.states.get(tp)
    if state is None or state.leader == -1 or tp.topic not in server.topics:
        return
    topic_id, assignment = server.topics[tp.topic]
    context = c.core.context
    isr = [r for r in assignment[tp.partition].replicas if context.is_live_broker(r)]
    if state.leader not in isr:
        return
    request = ap3.AlterPartitionRequest(
        broker_id=state.leader,
        broker_epoch=server.brokers[state.leader][1],
        topics=(
            ap3.TopicData(
                topic_id=topic_id,
                partitions=(
                    ap3.PartitionData(
                        partition_index=tp.partition,
                        leader_epoch=state.leader_epoch,
                        new_isr_with_epochs=tuple(
                            ap3.BrokerState(broker_id=r, broker_epoch=-1) for r in isr
                        ),
                        leader_recovery_state=0,
                        partition_epoch=state.version,
                    ),
                ),
            ),
        ),
    )
    await c.alter_partition(request, 3)


def check(bench: Bench, history: dict[TopicPartition, tuple[int, int]]) -> None:
    server = bench.server
    live = set(server.brokers)
    controllers = [c for c in bench.controllers if c.is_active]
    assert len(controllers) <= 1
    assert server.controller in (None, *(c.broker_id for c in controllers))
    shutting_down: set[int] = set()
    for c in controllers:
        shutting_down = set(c.core.context.shutting_down_broker_ids)
    for tp, state in server.states.items():
        _topic_id, assignment = server.topics[tp.topic]
        replicas = assignment[tp.partition].replicas
        assert state.isr, f"{tp}: empty ISR"
        assert set(state.isr) <= set(replicas), f"{tp}: ISR {state.isr} not in {replicas}"
        if state.leader != -1:
            assert state.leader in state.isr, f"{tp}: leader {state.leader} not in {state.isr}"
            assert state.leader in live or tp.topic in server.deletions
        previous = history.get(tp)
        if previous is not None:
            assert (state.leader_epoch, state.version) >= previous
        history[tp] = (state.leader_epoch, state.version)
        if tp.topic in server.deletions:
            continue
        electable = (set(state.isr) & live) - shutting_down
        if electable:
            assert state.leader != -1, f"{tp}: no leader though {electable} are in the ISR"
        if not controllers:
            continue
        for r in replicas:
            if r not in live or r in shutting_down:
                continue
            seen = [
                s.leader_epoch
                for req in bench.brokers.leader_and_isr(r)
                if req.controller_epoch == server.controller_epoch
                for s in req.partition_states
                if (s.topic_name, s.partition_index) == tp
            ]
            assert seen and seen[-1] == state.leader_epoch, (
                f"{tp}: broker {r} last heard leader epoch {seen[-1:]} not {state.leader_epoch}"
            )
    if controllers:
        for b in live:
            ums = bench.brokers.update_metadata(b)
            assert ums, f"broker {b} got no UpdateMetadata"
            assert {x.broker_id for x in ums[-1].live_brokers} == live


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=12))
def test_invariants_hold_under_random_events(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(scenario(ops))
