"""Partition as leader and follower: high watermark over the ISR, ISR expansion and
shrinking through AlterPartition proposals, diverging epochs, acks=all completion.

Real logs in a temporary directory; the "network" between leader and followers is a
direct call of the leader's follower-fetch path, as the replica fetcher makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.replica.partition import IsrChange, Partition
from cluster.metadata import PartitionState
from protocol.errors import KafkaError
from protocol.record_batch import iter_headers
from protocol.records import NewRecord, encode_batch
from storage.clock import ManualClock
from storage.log_config import LogConfig
from storage.log_loader import load_log

T0 = 1_700_000_000_000
TOPIC_ID = uuid.UUID(int=7)
LAG_MS = 10_000
Done = Callable[[PartitionState | None, ErrorCode], None]


def records(n: int, start: int = 0) -> bytes:
    return encode_batch(
        [NewRecord(b"k%d" % i, b"v%d" % i, timestamp=T0) for i in range(start, start + n)]
    )


class FakeIsrUpdater:
    """Commits every proposal at once (as a controller would), recording them."""

    def __init__(self) -> None:
        self.proposals: list[IsrChange] = []
        self.pending: list[tuple[IsrChange, Done]] = []
        self.auto_commit = True

    def submit(self, change: IsrChange, done: Done) -> bool:
        self.proposals.append(change)
        if self.auto_commit:
            done(self._committed(change), ErrorCode.none)
        else:
            self.pending.append((change, done))
        return True

    @staticmethod
    def _committed(change: IsrChange) -> PartitionState:
        return PartitionState(
            replicas=[],
            leader=-1,
            leader_epoch=change.leader_epoch,
            isr=list(change.new_isr),
            partition_epoch=change.partition_epoch + 1,
        )

    def commit_pending(self) -> None:
        for change, done in self.pending:
            done(self._committed(change), ErrorCode.none)
        self.pending.clear()


def make_partition(
    tmp_path: Path, broker_id: int, clock: ManualClock, updater: FakeIsrUpdater | None = None,
    min_isr: int = 1,
) -> Partition:
    log = load_log(
        tmp_path / f"b{broker_id}" / "t-0",
        LogConfig(min_insync_replicas=min_isr),
        clock,
        topic_id=TOPIC_ID,
    )
    return Partition(
        "t", 0, TOPIC_ID, log, broker_id, clock.milliseconds, updater,
        replica_lag_time_max_ms=LAG_MS,
    )


def state(leader: int, epoch: int, isr: list[int], version: int = 0) -> PartitionState:
    return PartitionState(
        replicas=[1, 2, 3], leader=leader, leader_epoch=epoch, isr=isr, partition_epoch=version
    )


def replicate(leader: Partition, follower: Partition) -> int:
    """One follower fetch round; returns the bytes copied (truncating on divergence)."""
    result = leader.fetch_records(
        follower.log_end_offset,
        1 << 20,
        0,
        True,
        replica_id=follower.broker_id,
        last_fetched_epoch=follower.latest_epoch(),
        replica_log_start_offset=follower.log_start_offset,
    )
    if result.diverging_epoch is not None:
        epoch, end = result.diverging_epoch
        f_epoch, f_end = follower.follower_end_offset_for_epoch(epoch)
        target = min(end, f_end) if f_epoch == epoch else min(f_end, follower.log_end_offset)
        follower.log.truncate_to(max(target, 0))
        return -1
    follower.append_records_to_follower(
        result.records, result.high_watermark, result.log_start_offset
    )
    return len(result.records)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def test_high_watermark_waits_for_the_whole_isr(tmp_path: Path, clock: ManualClock) -> None:
    leader = make_partition(tmp_path, 1, clock)
    f2, f3 = make_partition(tmp_path, 2, clock), make_partition(tmp_path, 3, clock)
    leader.make_leader(state(1, 0, [1, 2, 3]))
    f2.make_follower(state(1, 0, [1, 2, 3]))
    f3.make_follower(state(1, 0, [1, 2, 3]))
    appended = leader.append_records_to_leader(records(5), -1)
    assert appended.required_offset == 5
    assert leader.high_watermark == 0
    assert leader.check_enough_replicas_reach_offset(5) == (False, ErrorCode.none)
    replicate(leader, f2)
    # f2 has the records, f3 not: HW stays at f3's position (0) until f3 fetches.
    replicate(leader, f2)
    assert leader.high_watermark == 0
    replicate(leader, f3)
    replicate(leader, f3)  # the fetch at offset 5 tells the leader f3 has everything
    assert leader.high_watermark == 5
    assert leader.check_enough_replicas_reach_offset(5) == (True, ErrorCode.none)
    # Followers learn the HW on their next fetch, and hold identical bytes.
    replicate(leader, f2)
    assert f2.high_watermark == 5
    assert f2.log.read(0, 1 << 20).records == leader.log.read(0, 1 << 20).records


def test_lagging_follower_is_dropped_then_rejoins(tmp_path: Path, clock: ManualClock) -> None:
    updater = FakeIsrUpdater()
    leader = make_partition(tmp_path, 1, clock, updater, min_isr=2)
    f2, f3 = make_partition(tmp_path, 2, clock), make_partition(tmp_path, 3, clock)
    leader.make_leader(state(1, 0, [1, 2, 3]))
    f2.make_follower(state(1, 0, [1, 2, 3]))
    f3.make_follower(state(1, 0, [1, 2, 3]))
    leader.append_records_to_leader(records(3), -1)
    replicate(leader, f2)
    replicate(leader, f2)
    # f3 stops fetching; after replica.lag.time.max.ms it is out of sync.
    clock.advance(LAG_MS + 1)
    replicate(leader, f2)
    assert leader.maybe_shrink_isr()
    assert updater.proposals[-1].new_isr == (1, 2)
    assert leader.isr == [1, 2] and leader.partition_epoch == 1
    assert leader.high_watermark == 3  # no longer held back by f3
    # Writes with acks=all continue with min.insync.replicas=2.
    leader.append_records_to_leader(records(2, 3), -1)
    replicate(leader, f2)
    replicate(leader, f2)
    assert leader.high_watermark == 5
    # f3 comes back, catches up, and is added again.
    while replicate(leader, f3) > 0:
        pass
    replicate(leader, f3)
    assert updater.proposals[-1].new_isr == (1, 2, 3)
    assert leader.isr == [1, 2, 3]


def test_min_insync_replicas(tmp_path: Path, clock: ManualClock) -> None:
    leader = make_partition(tmp_path, 1, clock, FakeIsrUpdater(), min_isr=2)
    leader.make_leader(state(1, 0, [1]))
    with pytest.raises(KafkaError) as info:
        leader.append_records_to_leader(records(1), -1)
    assert info.value.error_code == ErrorCode.not_enough_replicas
    assert leader.log_end_offset == 0  # nothing appended
    # acks=1 does not need the ISR.
    assert leader.append_records_to_leader(records(1), 1).info.first_offset == 0


def test_isr_shrinks_below_min_isr_after_append(tmp_path: Path, clock: ManualClock) -> None:
    updater = FakeIsrUpdater()
    leader = make_partition(tmp_path, 1, clock, updater, min_isr=2)
    f2 = make_partition(tmp_path, 2, clock)
    leader.make_leader(state(1, 0, [1, 2]))
    f2.make_follower(state(1, 0, [1, 2]))
    appended = leader.append_records_to_leader(records(2), -1)
    clock.advance(LAG_MS + 1)
    assert leader.maybe_shrink_isr()
    assert leader.isr == [1]
    assert leader.check_enough_replicas_reach_offset(appended.required_offset) == (
        True,
        ErrorCode.not_enough_replicas_after_append,
    )


def test_pending_isr_expansion_counts_for_the_high_watermark(
    tmp_path: Path, clock: ManualClock
) -> None:
    updater = FakeIsrUpdater()
    updater.auto_commit = False
    leader = make_partition(tmp_path, 1, clock, updater)
    f2 = make_partition(tmp_path, 2, clock)
    leader.make_leader(state(1, 0, [1]))
    f2.make_follower(state(1, 0, [1]))
    leader.append_records_to_leader(records(4), 1)
    assert leader.high_watermark == 4  # alone in the ISR
    replicate(leader, f2)
    replicate(leader, f2)
    assert [c.new_isr for c in updater.proposals] == [(1, 2)]
    assert leader.maximal_isr == [1, 2] and leader.isr == [1]
    leader.append_records_to_leader(records(1, 4), 1)
    assert leader.high_watermark == 4  # f2, in the maximal ISR, holds it back
    updater.commit_pending()
    assert leader.isr == [1, 2]


def test_new_leader_truncates_divergent_follower(tmp_path: Path, clock: ManualClock) -> None:
    """KIP-101/279: a former leader with unreplicated records truncates to the new leader."""
    b1 = make_partition(tmp_path, 1, clock)
    b2 = make_partition(tmp_path, 2, clock)
    b1.make_leader(state(1, 0, [1, 2]))
    b2.make_follower(state(1, 0, [1, 2]))
    b1.append_records_to_leader(records(3), 1)
    replicate(b1, b2)
    replicate(b1, b2)
    # b1 appends 2 more that never reach b2, then dies; b2 leads at epoch 1.
    b1.append_records_to_leader(records(2, 3), 1)
    b2.make_leader(state(2, 1, [2]))
    b2.append_records_to_leader(records(4, 100), 1)  # offsets 3..6 at epoch 1
    b1.make_follower(state(2, 1, [2]))
    assert replicate(b2, b1) == -1  # diverging: b1's epoch 0 ends at 3 on the leader
    assert b1.log_end_offset == 3
    while replicate(b2, b1) > 0:
        pass
    assert b1.log_end_offset == b2.log_end_offset == 7
    assert b1.log.read(0, 1 << 20).records == b2.log.read(0, 1 << 20).records
    epochs = [h.partition_leader_epoch for _, h in iter_headers(b1.log.read(0, 1 << 20).records)]
    assert epochs == [0, 1]


def test_former_leader_without_records_in_its_epoch_converges(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A broker that led an epoch without appending in it keeps that epoch in its cache;
    as a follower its diverging-epoch truncation to its own log end must drop the entry
    (Kafka truncates the epoch cache even when the log is not truncated), or every fetch
    diverges again and it never catches up."""
    b1, b2, b3 = (make_partition(tmp_path, i, clock) for i in (1, 2, 3))
    b1.make_leader(state(1, 0, [1, 2, 3]))
    b2.make_follower(state(1, 0, [1, 2, 3]))
    b3.make_follower(state(1, 0, [1, 2, 3]))
    b1.append_records_to_leader(records(4), 1)
    for f in (b2, b3):
        replicate(b1, f)
        replicate(b1, f)
    b1.make_leader(state(1, 1, [1, 3]))  # epoch 1 starts at 4, nothing appended in it
    assert b1.latest_epoch() == 1
    b3.make_leader(state(3, 2, [3]))
    b1.make_follower(state(3, 2, [3]))
    b2.make_follower(state(3, 2, [3]))
    b3.append_records_to_leader(records(2, 4), 1)
    assert replicate(b3, b1) == -1  # epoch 1 is unknown to the leader: truncate to 4
    assert b1.log_end_offset == 4 and b1.latest_epoch() == 0
    while replicate(b3, b1) > 0:
        pass
    assert b1.log_end_offset == 6
    assert b1.log.read(0, 1 << 20).records == b3.log.read(0, 1 << 20).records


def test_leader_epoch_checks(tmp_path: Path, clock: ManualClock) -> None:
    p = make_partition(tmp_path, 1, clock)
    p.make_leader(state(1, 3, [1]))
    assert p.check_serving(-1) == ErrorCode.none
    assert p.check_serving(3) == ErrorCode.none
    assert p.check_serving(2) == ErrorCode.fenced_leader_epoch
    assert p.check_serving(4) == ErrorCode.unknown_leader_epoch
    p.make_follower(state(2, 4, [2]))
    assert p.check_serving(4) == ErrorCode.not_leader_or_follower
    with pytest.raises(KafkaError) as info:
        p.append_records_to_leader(records(1), 1)
    assert info.value.error_code == ErrorCode.not_leader_or_follower
    assert p.check_enough_replicas_reach_offset(1) == (True, ErrorCode.not_leader_or_follower)


def test_latest_offset_is_the_high_watermark_for_consumers_and_the_end_for_followers(
    tmp_path: Path, clock: ManualClock
) -> None:
    leader = make_partition(tmp_path, 1, clock)
    leader.make_leader(state(1, 0, [1, 2]))
    leader.append_records_to_leader(records(4), 1)
    assert leader.high_watermark == 0  # follower 2 has nothing yet
    assert leader.latest_offset(0).offset == 0
    assert leader.latest_offset(0, replica_id=2).offset == 4


def test_new_leader_with_lagging_high_watermark_answers_offset_not_available(
    tmp_path: Path, clock: ManualClock
) -> None:
    """KIP-207: "latest" must not go backwards after an election."""
    b1, b2 = make_partition(tmp_path, 1, clock), make_partition(tmp_path, 2, clock)
    b1.make_leader(state(1, 0, [1, 2]))
    b2.make_follower(state(1, 0, [1, 2]))
    b1.append_records_to_leader(records(4), 1)
    replicate(b1, b2)  # b2 has the records; the HWs move on its next fetch
    assert b2.log_end_offset == 4 and b2.high_watermark == 0
    b2.make_leader(state(2, 1, [1, 2]))
    b1.make_follower(state(2, 1, [1, 2]))
    with pytest.raises(KafkaError) as info:
        b2.latest_offset(0)
    assert info.value.error_code == ErrorCode.offset_not_available
    assert b2.latest_offset(0, replica_id=1).offset == 4  # followers are answered
    replicate(b2, b1)  # b1 fetches at 4: the HW reaches the epoch's start
    assert b2.latest_offset(0).offset == 4


def test_a_departed_caught_up_replica_does_not_hold_the_high_watermark(
    tmp_path: Path, clock: ManualClock
) -> None:
    """After a controlled shutdown moved leadership, the old leader fetches once as a
    follower (caught up, not in the ISR) and leaves: once its broker is gone it must not
    hold the HW back for replica.lag.time.max.ms, nor be proposed for the ISR."""
    updater = FakeIsrUpdater()
    updater.auto_commit = False
    leader = make_partition(tmp_path, 1, clock, updater)
    f2, f3 = make_partition(tmp_path, 2, clock), make_partition(tmp_path, 3, clock)
    alive = {1, 2, 3}
    leader.replica_eligible = alive.__contains__
    leader.make_leader(state(1, 0, [1, 3]))
    f2.make_follower(state(1, 0, [1, 3]))
    f3.make_follower(state(1, 0, [1, 3]))
    leader.append_records_to_leader(records(2), -1)
    replicate(leader, f3)
    replicate(leader, f2)
    assert [c.new_isr for c in updater.proposals] == [(1, 2, 3)]  # f2 caught up: proposed
    updater.pending.clear()
    leader._pending_isr = None  # the controller refused it (f2 is shutting down)
    alive.discard(2)  # f2's broker is gone
    leader.append_records_to_leader(records(3, 2), -1)
    replicate(leader, f3)
    replicate(leader, f3)
    assert leader.high_watermark == 5  # f2 (LEO 2, "caught up" by time) is not waited for
    replicate(leader, f2)
    assert len(updater.proposals) == 1  # an ineligible replica is not proposed


def test_late_leader_and_isr_with_an_older_partition_epoch_is_skipped(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Kafka's makeLeader/makeFollower skip a state older than the partition epoch they
    know (an AlterPartition answer can overtake a LeaderAndIsr sent before it)."""
    updater = FakeIsrUpdater()
    leader = make_partition(tmp_path, 1, clock, updater)
    leader.make_leader(state(1, 2, [1, 2, 3], version=5))
    clock.advance(LAG_MS + 1)
    assert leader.maybe_shrink_isr()  # committed at partition epoch 6
    assert leader.isr == [1] and leader.partition_epoch == 6
    assert not leader.make_leader(state(1, 2, [1, 2, 3], version=5))
    assert leader.isr == [1] and leader.partition_epoch == 6
    follower = make_partition(tmp_path, 2, clock)
    follower.make_follower(state(3, 4, [3], version=9))
    assert not follower.make_follower(state(1, 4, [1, 3], version=8))
    assert follower.leader_id == 3 and follower.partition_epoch == 9


def test_a_replica_refused_as_ineligible_stops_holding_the_high_watermark(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A broker in controlled shutdown fetches once as a follower of the partitions it gave
    away; the controller refuses it for the ISR (INELIGIBLE_REPLICA). From then on, for
    replica.lag.time.max.ms, the leader neither waits for it nor proposes it again."""
    updater = FakeIsrUpdater()
    updater.auto_commit = False
    leader = make_partition(tmp_path, 1, clock, updater)
    f2, f3 = make_partition(tmp_path, 2, clock), make_partition(tmp_path, 3, clock)
    leader.make_leader(state(1, 1, [1, 2]))
    f2.make_follower(state(1, 1, [1, 2]))
    f3.make_follower(state(1, 1, [1, 2]))
    leader.append_records_to_leader(records(2), -1)
    replicate(leader, f2)
    replicate(leader, f3)
    replicate(leader, f3)  # f3 caught up: proposed
    assert [c.new_isr for c in updater.proposals] == [(1, 2, 3)]
    ((_change, done),) = updater.pending
    updater.pending.clear()
    leader.append_records_to_leader(records(3, 2), -1)  # f3 stops fetching (shutting down)
    replicate(leader, f2)
    replicate(leader, f2)
    assert leader.high_watermark == 2  # held by f3 in the maximal ISR
    done(None, ErrorCode.ineligible_replica)
    assert leader.high_watermark == 5  # neither the pending ISR nor f3 holds it now
    replicate(leader, f3)
    assert len(updater.proposals) == 1  # not proposed again within the lag window
    clock.advance(LAG_MS + 1)
    replicate(leader, f3)
    replicate(leader, f3)
    assert [c.new_isr for c in updater.proposals][-1] == (1, 2, 3)  # eligible again
