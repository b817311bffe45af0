"""StopReplica while acks=all produces wait for followers: they are answered at once.

A reassignment that removes the leader moves leadership elsewhere without telling the old
leader (LeaderAndIsr goes to the target replicas only); the old leader learns it from
StopReplica. Produces parked in its purgatory must then complete with
NOT_LEADER_OR_FOLLOWER (Kafka's completeDelayedFetchOrProduceRequests), not wait for the
request timeout while the client's connection stalls.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.replica.replica_manager import PartitionRole, ReplicaManager
from cluster.metadata import PartitionState
from protocol.records import NewRecord, encode_batch
from storage.clock import ManualClock
from storage.log_config import LogConfig
from storage.log_manager import LogManager

TOPIC_ID = uuid.UUID(int=11)


def leader_role(epoch: int) -> PartitionRole:
    return PartitionRole(
        "t",
        TOPIC_ID,
        0,
        PartitionState(replicas=[1, 2], leader=1, leader_epoch=epoch, isr=[1, 2]),
        is_new=True,
    )


@pytest.mark.parametrize("delete", [False, True])
async def test_stop_replica_completes_waiting_produces(tmp_path: Path, delete: bool) -> None:
    clock = ManualClock()
    defaults = LogConfig()
    log_manager = LogManager([tmp_path], defaults, clock)
    rm = ReplicaManager(1, log_manager, clock, defaults)
    assert rm.become_leader_or_follower(1, [leader_role(0)]) == {("t", 0): ErrorCode.none}
    result = rm.append_to_leader("t", 0, encode_batch([NewRecord(b"k", b"v")]), acks=-1)
    assert result.error == ErrorCode.none
    # Follower 2 never fetches: the produce waits for the high watermark.
    waiting = asyncio.get_running_loop().create_task(
        rm.wait_for_replication([result], timeout_ms=600_000)
    )
    await asyncio.sleep(0)
    assert not waiting.done()
    rm.stop_replicas([("t", 0)], delete=delete)
    await asyncio.wait_for(waiting, 10)  # a hang guard, not a timing assertion
    assert result.error == ErrorCode.not_leader_or_follower
    log_manager.shutdown()
