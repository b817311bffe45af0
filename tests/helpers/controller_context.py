"""Builders for controller unit tests: a ControllerContext with brokers, topics and leaders."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from cluster.controller.context import ControllerContext
from cluster.controller.model import (
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.metadata import BrokerEndpoint, BrokerRegistration


def broker(broker_id: int, rack: str | None = None) -> BrokerRegistration:
    return BrokerRegistration(
        broker_id,
        (
            BrokerEndpoint("INTERNAL", "PLAINTEXT", f"b{broker_id}.internal", 9000 + broker_id),
            BrokerEndpoint("EXTERNAL", "SASL_SSL", "localhost", 9090 + broker_id),
        ),
        rack,
    )


def context_with(
    live: Iterable[int],
    topics: Mapping[str, Mapping[int, Sequence[int]]] | None = None,
    epoch: int = 3,
) -> ControllerContext:
    """Live brokers (epoch = 100 + id), topics with plain assignments, no leaders yet."""
    ctx = ControllerContext()
    ctx.epoch = epoch
    ctx.epoch_zk_version = epoch - 1
    ctx.set_live_brokers({broker(b): 100 + b for b in live})
    for topic, partitions in (topics or {}).items():
        ctx.all_topics.add(topic)
        ctx.add_topic_id(topic, uuid.uuid5(uuid.NAMESPACE_DNS, topic))
        for p, replicas in partitions.items():
            ctx.update_partition_full_replica_assignment(
                TopicPartition(topic, p), ReplicaAssignment.of(replicas)
            )
    return ctx


def lead(
    ctx: ControllerContext,
    tp: TopicPartition,
    leader: int,
    isr: Sequence[int],
    leader_epoch: int = 0,
    partition_epoch: int = 0,
    controller_epoch: int | None = None,
) -> LeaderAndIsr:
    lai = LeaderAndIsr(leader, leader_epoch, tuple(isr), 0, partition_epoch)
    ctx.put_partition_leadership_info(
        tp,
        LeaderIsrAndControllerEpoch(
            lai, ctx.epoch if controller_epoch is None else controller_epoch
        ),
    )
    return lai
