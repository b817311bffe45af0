"""Consumer lag seconds of partitions led elsewhere: one Fetch per leader (consumer replica id,
read_uncommitted, max_wait 0, small partition_max_bytes) from the lowest unknown committed
offset, batch headers read without decoding records, timestamps kept for offsets still
committed, leaders that fail left out."""

from __future__ import annotations

import datetime
from typing import Any

from helpers.fake_metadata import LeaderMetadata
from kio.schema.errors import ErrorCode

from broker.metrics.consumer_lag import _remote_lag_seconds
from broker.metrics.remote_offsets import RemoteHighWatermarks
from broker.metrics.remote_timestamps import (
    PARTITION_MAX_BYTES,
    FetchAsk,
    batch_timestamps,
    fetch_request,
)
from protocol.builders import make, response_class
from protocol.record_batch import HEADER_SIZE
from protocol.records import NewRecord, encode_batch


def batch(base_offset: int, count: int, base_ts: int) -> bytes:
    records = [NewRecord(None, b"x" * 50, timestamp=base_ts + i) for i in range(count)]
    return encode_batch(records, base_offset=base_offset)


# Offsets 0-2 at 1000, 3-4 at 2000, 5-7 at 3000 (the last cut short after its header, as
# Kafka trims a partition's data to partition_max_bytes).
LOG_A0 = batch(0, 3, 1000) + batch(3, 2, 2000) + batch(5, 3, 3000)[: HEADER_SIZE + 5]


def fetch_response(
    parts: dict[tuple[str, int], tuple[ErrorCode, bytes]],
    log_starts: dict[tuple[str, int], int] | None = None,
) -> Any:
    topic_cls = response_class(1, 12, "FetchableTopicResponse")
    part_cls = response_class(1, 12, "PartitionData")
    topics: dict[str, list[Any]] = {}
    for (topic, p), (error, records) in parts.items():
        topics.setdefault(topic, []).append(
            make(part_cls, partition_index=p, error_code=error, high_watermark=100,
                 last_stable_offset=100,
                 log_start_offset=(log_starts or {}).get((topic, p), 0),
                 aborted_transactions=(),
                 preferred_read_replica=-1, records=records)
        )  # fmt: skip
    return make(
        response_class(1, 12),
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=tuple(make(topic_cls, topic=t, partitions=tuple(ps)) for t, ps in topics.items()),
    )


def test_batch_headers_cover_offsets_including_a_cut_short_batch() -> None:
    response = fetch_response(
        {("a", 0): (ErrorCode.none, LOG_A0), ("a", 1): (ErrorCode.offset_out_of_range, b"")}
    )
    found = batch_timestamps(response, {("a", 0): [0, 2, 3, 5, 7, 8], ("a", 1): [4]})
    assert found == {
        ("a", 0, 0): 1000,
        ("a", 0, 2): 1000,
        ("a", 0, 3): 2000,
        ("a", 0, 5): 3000,
        ("a", 0, 7): 3000,
    }  # 8 is past the answer; a-1 answered with an error


def test_fetch_request_is_a_consumers() -> None:
    request = fetch_request(
        [FetchAsk(("b", 1), 7, PARTITION_MAX_BYTES, (7,)), FetchAsk(("a", 0), 3, 0)]
    )
    assert (request.replica_id, request.isolation_level) == (-1, 0)
    assert request.max_wait == datetime.timedelta(0) and request.min_bytes == 0
    asked = [
        (t.topic, p.partition, p.fetch_offset, p.partition_max_bytes)
        for t in request.topics
        for p in t.partitions
    ]
    assert asked == [("b", 1, 7, PARTITION_MAX_BYTES), ("a", 0, 3, 0)]


class FakeLeader:
    """Answers ListOffsets with high watermarks and Fetch from in-memory logs."""

    def __init__(self, hws: dict[tuple[str, int], int], logs: dict[tuple[str, int], bytes]):
        self.hws = hws
        self.logs = logs
        self.requests: list[Any] = []
        self.fail_fetch = False
        self.fail_all = False
        #: partitions answered empty unless asked first (Josef's whole-batch reads)
        self.only_first: set[tuple[str, int]] = set()
        #: log start offsets (0 unless set); OFFSET_OUT_OF_RANGE below them
        self.log_starts: dict[tuple[str, int], int] = {}
        #: answer OFFSET_OUT_OF_RANGE with log start -1, as Kafka does
        self.kafka_errors = False

    async def send(self, request: Any, *, timeout: float | None = None) -> Any:
        self.requests.append(request)
        if self.fail_all:
            raise ConnectionError("down")
        if int(request.__api_key__) == 2:
            rc = response_class(2, 4)
            topic_cls = response_class(2, 4, "ListOffsetsTopicResponse")
            part_cls = response_class(2, 4, "ListOffsetsPartitionResponse")
            topics = []
            for t in request.topics:
                parts = [
                    make(part_cls, partition_index=p.partition_index, error_code=ErrorCode.none,
                         timestamp=-1, offset=self.hws[(t.name, p.partition_index)],
                         leader_epoch=0)
                    for p in t.partitions
                ]  # fmt: skip
                topics.append(make(topic_cls, name=t.name, partitions=tuple(parts)))
            return make(rc, throttle_time=0, topics=tuple(topics))
        if self.fail_fetch:
            raise TimeoutError("slow")
        parts: dict[tuple[str, int], tuple[ErrorCode, bytes]] = {}
        starts: dict[tuple[str, int], int] = {}
        first = True
        for t in request.topics:
            for p in t.partitions:
                key = (t.topic, p.partition)
                start = starts[key] = self.log_starts.get(key, 0)
                if p.fetch_offset < start:
                    parts[key] = (ErrorCode.offset_out_of_range, b"")
                    if self.kafka_errors:
                        starts[key] = -1
                    continue
                data = _from(self.logs[key], p.fetch_offset)
                if p.partition_max_bytes == 0 or (key in self.only_first and not first):
                    data = b""
                first = first and not data
                parts[key] = (ErrorCode.none, data)
        return fetch_response(parts, starts)


def _from(log: bytes, offset: int) -> bytes:
    """The log's bytes from the batch holding ``offset`` (headers only are read here)."""
    pos = 0
    while pos < len(log):
        base = int.from_bytes(log[pos : pos + 8], "big")
        size = 12 + int.from_bytes(log[pos + 8 : pos + 12], "big")
        last = base + int.from_bytes(log[pos + 23 : pos + 27], "big")
        if last >= offset:
            return log[pos:]
        pos += size
    return b""


class Clients:
    def __init__(self, leaders: dict[int, FakeLeader]) -> None:
        self.leaders = leaders

    def get(self, broker_id: int) -> FakeLeader | None:
        return self.leaders.get(broker_id)

    async def close(self) -> None:
        pass


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


LOG_B0 = batch(0, 4, 5000) + batch(4, 4, 6000)


def setup(
    committed: dict[tuple[str, int], set[int]],
) -> tuple[RemoteHighWatermarks, FakeLeader, FakeLeader, Clock]:
    two = FakeLeader({("a", 0): 8, ("a", 1): 3}, {("a", 0): LOG_A0, ("a", 1): batch(0, 3, 9)})
    three = FakeLeader({("b", 0): 8}, {("b", 0): LOG_B0})
    clock = Clock()
    remote = RemoteHighWatermarks(
        1,
        LeaderMetadata({("a", 0): 2, ("a", 1): 2, ("b", 0): 3}),  # type: ignore[arg-type]
        Clients({2: two, 3: three}),  # type: ignore[arg-type]
        lambda: list(committed),
        committed=lambda: committed,
        clock=clock,
    )
    return remote, two, three, clock


M = PARTITION_MAX_BYTES


def fetches(leader: FakeLeader) -> list[list[tuple[str, int, int, int]]]:
    """(topic, partition, fetch offset, partition_max_bytes) of each Fetch sent."""
    return [
        [
            (t.topic, p.partition, p.fetch_offset, p.partition_max_bytes)
            for t in r.topics
            for p in t.partitions
        ]
        for r in leader.requests
        if int(r.__api_key__) == 1
    ]


async def test_one_fetch_per_leader_from_the_lowest_lagging_offset() -> None:
    # Two groups on a-0 (offsets 2 and 5), a-1 caught up (3 == hw), one group on b-0.
    committed = {("a", 0): {5, 2}, ("a", 1): {3}, ("b", 0): {4}}
    remote, two, three, clock = setup(committed)
    await remote.refresh()
    assert fetches(two) == [[("a", 0, 2, M)]]  # a-1 has no lag: not asked
    assert fetches(three) == [[("b", 0, 4, M)]]
    assert remote.batch_timestamps == {("a", 0, 2): 1000, ("a", 0, 5): 3000, ("b", 0, 4): 6000}
    request = two.requests[-1]
    assert (request.replica_id, request.isolation_level, request.max_wait) == (
        -1, 0, datetime.timedelta(0)
    )  # fmt: skip

    # Next round: known offsets are not asked again (a Fetch without records keeps the
    # leader's log start offset known); a new commit is.
    committed[("a", 0)] = {3}
    clock.now += 1.5
    await remote.refresh()
    assert fetches(two)[-1] == [("a", 0, 3, M)]
    assert fetches(three)[-1] == [("b", 0, 4, 0)]
    assert remote.batch_timestamps == {("a", 0, 3): 2000, ("b", 0, 4): 6000}
    assert remote.batch_timestamp("b", 0, 4) == 6000


async def test_failed_leaders_are_left_out() -> None:
    committed = {("a", 0): {2}, ("b", 0): {4}}
    remote, two, three, clock = setup(committed)
    two.fail_fetch = True
    await remote.refresh()
    assert remote.batch_timestamps == {("b", 0, 4): 6000}
    assert remote.get("a", 0) == 8  # the high watermark still came
    three.fail_all = True
    two.fail_fetch = False
    clock.now += 1.5
    await remote.refresh()
    assert remote.batch_timestamps == {("a", 0, 2): 1000}  # nothing kept of broker 3
    assert remote.get("b", 0) is None


async def test_partition_left_empty_is_asked_first_next_round() -> None:
    committed = {("a", 0): {2}, ("a", 1): {0}}
    remote, two, _three, clock = setup(committed)
    two.hws[("a", 1)] = 3
    two.only_first = {("a", 0), ("a", 1)}
    await remote.refresh()
    assert fetches(two) == [[("a", 0, 2, M), ("a", 1, 0, M)]]
    assert remote.batch_timestamps == {("a", 0, 2): 1000}
    clock.now += 1.5
    await remote.refresh()
    assert fetches(two)[-1] == [("a", 1, 0, M), ("a", 0, 2, 0)]
    assert remote.batch_timestamps == {("a", 0, 2): 1000, ("a", 1, 0): 9}


async def test_committed_offset_below_the_leaders_log_start() -> None:
    """As locally: the age of the leader's first batch. A Josef leader names its log start
    offset with OFFSET_OUT_OF_RANGE; a Kafka leader (-1) is asked for it with a Fetch at the
    high watermark the next round."""
    for kafka in (False, True):
        committed = {("b", 0): {1}}
        remote, _two, three, clock = setup(committed)
        three.log_starts[("b", 0)] = 4  # retention removed the batch of offsets 0-3
        three.kafka_errors = kafka
        await remote.refresh()
        assert remote.batch_timestamp("b", 0, 1) is None
        if kafka:
            clock.now += 1.5
            await remote.refresh()
            assert fetches(three)[-1] == [("b", 0, 8, 0)]  # at the high watermark
            assert remote.batch_timestamp("b", 0, 1) is None
        clock.now += 1.5
        await remote.refresh()
        assert fetches(three)[-1] == [("b", 0, 4, M)]
        assert remote.batch_timestamp("b", 0, 1) == 6000
        # Retention moves on past the committed offset's batch: asked again from there.
        three.log_starts[("b", 0)] = 8
        clock.now += 1.5
        await remote.refresh()
        assert fetches(three)[-1] == [("b", 0, 4, 0)]  # only the log start offset
        assert remote.batch_timestamp("b", 0, 1) is None  # log start 8 == hw: nothing


def test_remote_lag_seconds_semantics() -> None:
    class Remote:
        def batch_timestamp(self, topic: str, partition: int, offset: int) -> int | None:
            return {("t", 0, 5): 10_000}.get((topic, partition, offset))

    remote: Any = Remote()
    assert _remote_lag_seconds(remote, "t", 0, 5, 9, 12_500) == 2.5
    assert _remote_lag_seconds(remote, "t", 0, 9, 9, 12_500) == 0.0  # caught up
    assert _remote_lag_seconds(remote, "t", 0, 6, 9, 12_500) is None  # not known: no series
    assert _remote_lag_seconds(remote, "t", 0, 5, 9, 9_000) == 0.0  # clock skew: not negative
