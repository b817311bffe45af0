"""Replication throttles (KIP-73): which partitions a topic's throttled-replicas value names
on a broker, and the rate bound over Kafka's replication quota window."""

from __future__ import annotations

from broker.replica.replication_quota import (
    FOLLOWER_RATE,
    LEADER_RATE,
    LONG_MAX,
    FollowerSide,
    ReplicationQuota,
    rate_of,
)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def test_listed_partitions_are_those_of_this_broker() -> None:
    q = ReplicationQuota(2, Clock())
    assert q.throttles("0:1,0:2,3:2", 0) and q.throttles("0:1,0:2,3:2", 3)
    assert not q.throttles("0:1,0:2,3:2", 1)
    assert not q.throttles("1:1,1:3", 1)  # listed, but for other brokers
    assert q.throttles("*", 7)
    assert not q.throttles("", 0)


def test_no_bound_means_never_exceeded_and_nothing_measured() -> None:
    clock = Clock()
    q = ReplicationQuota(1, clock)
    assert not q.enabled
    q.record(10**12)
    assert not q.exceeded()
    q.set_rate(1_000)
    assert not q.exceeded()  # nothing was measured while unbounded


def test_rate_above_the_bound_until_the_window_drains() -> None:
    clock = Clock()
    q = ReplicationQuota(1, clock, num_samples=11, window_ms=1_000)
    q.set_rate(100_000)
    # A fresh sensor spans at least 10 windows: 1 MB is exactly the bound.
    q.record(1_000_000)
    assert not q.exceeded()
    q.record(100_000)
    assert q.exceeded()
    clock.ms += 12_000  # every sample expired
    assert not q.exceeded()
    q.set_rate(LONG_MAX)
    q.record(10**9)
    assert not q.exceeded()


def test_rates_come_from_the_dynamic_layers() -> None:
    assert rate_of({}, LEADER_RATE) == LONG_MAX
    assert rate_of({LEADER_RATE: "5000", FOLLOWER_RATE: " "}, LEADER_RATE) == 5000
    assert rate_of({FOLLOWER_RATE: " "}, FOLLOWER_RATE) == LONG_MAX


def test_follower_side_combines_quota_and_topic_lists() -> None:
    clock = Clock()
    q = ReplicationQuota(3, clock)
    side = FollowerSide(q, lambda topic, p: topic == "t" and p == 1)
    assert side.throttled("t", 1) and not side.throttled("t", 0)
    q.set_rate(10)
    side.record(1_000)
    assert side.exceeded()
