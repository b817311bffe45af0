"""KIP-848 consumer groups with librdkafka (confluent-kafka, ``group.protocol=consumer``).

librdkafka speaks ConsumerGroupHeartbeat v1 and commits with OffsetCommit v9 (member
epochs). The broker runs with a short heartbeat interval and session timeout so that
rebalances take a few seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import Record, create_topic, produce_confluent, unique_topic

PARTITIONS = 6
PER_PARTITION = 10
KIP848_OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "300",
    "group.consumer.session.timeout.ms": "4000",
    "offsets.topic.num.partitions": "4",
}


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Ownership:
    """Who owns which partition, as the members' rebalance callbacks report it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: dict[int, str] = {}
        self.violations: list[str] = []

    def assigned(self, member: str, partitions: list[int]) -> None:
        with self.lock:
            for p in partitions:
                other = self.owner.get(p)
                if other is not None and other != member:
                    self.violations.append(f"{member} got {p} while {other} still owns it")
                self.owner[p] = member

    def revoked(self, member: str, partitions: list[int]) -> None:
        with self.lock:
            for p in partitions:
                if self.owner.get(p) == member:
                    del self.owner[p]

    def of(self, member: str) -> set[int]:
        with self.lock:
            return {p for p, m in self.owner.items() if m == member}

    def snapshot(self) -> dict[int, str]:
        with self.lock:
            return dict(self.owner)


class Member:
    """One confluent-kafka consumer polling, processing and committing on its own thread."""

    def __init__(
        self, name: str, bootstrap: str, group: str, topic: str, ownership: Ownership
    ) -> None:
        self.name = name
        self.topic = topic
        self.ownership = ownership
        self.consumed: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.commits = 0
        self._stop = threading.Event()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "group.protocol": "consumer",
                "client.id": name,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
            }
        )
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.ownership.assigned(self.name, [tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._commit()
        self.ownership.revoked(self.name, [tp.partition for tp in partitions])

    def _commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
            self.commits += 1
        except KafkaException as exc:
            err = exc.args[0]
            # Nothing to commit, or an epoch bump raced the commit: the next one retries.
            if err.code() not in (
                KafkaError._NO_OFFSET,
                KafkaError.STALE_MEMBER_EPOCH,
                KafkaError.UNKNOWN_MEMBER_ID,
                KafkaError.REBALANCE_IN_PROGRESS,
            ):
                self.errors.append(f"commit: {err}")

    def _run(self) -> None:
        c = self.consumer
        c.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stop.is_set():
                msgs = c.consume(num_messages=100, timeout=0.1)
                got = False
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            self.errors.append(str(err))
                        continue
                    self.consumed.append((int(m.partition() or 0), int(m.offset() or 0)))
                    got = True
                if got:
                    self._commit()
        finally:
            c.close()  # leaves the group (ConsumerGroupHeartbeat with epoch -1)
            with self.ownership.lock:
                for p in [p for p, m in self.ownership.owner.items() if m == self.name]:
                    del self.ownership.owner[p]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), f"{self.name} did not close"


def balanced(ownership: Ownership, members: list[Member]) -> bool:
    owner = ownership.snapshot()
    if sorted(owner) != list(range(PARTITIONS)):
        return False
    counts = [len(ownership.of(m.name)) for m in members]
    return set(owner.values()) <= {m.name for m in members} and max(counts) - min(counts) <= 1


def describe_matches(bootstrap: str, group: str, ownership: Ownership, names: set[str]) -> None:
    """AdminClient.describe_consumer_groups (ConsumerGroupDescribe) agrees with the members."""
    from confluent_kafka import ConsumerGroupType
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def agrees() -> bool:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
        assert desc.type == ConsumerGroupType.CONSUMER, desc.type
        got = {
            m.client_id: {tp.partition for tp in m.assignment.topic_partitions}
            for m in desc.members
        }
        return str(desc.state).endswith("STABLE") and got == {n: ownership.of(n) for n in names}

    wait_until("ConsumerGroupDescribe agrees", agrees, timeout=10)


@pytest.fixture
def kip848_broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    require_josef("KIP-848 group coordinator")
    return broker_factory(KIP848_OVERRIDES)


def produce_round(bootstrap: str, topic: str, tag: str, n: int) -> None:
    for p in range(PARTITIONS):
        produce_confluent(
            bootstrap,
            topic,
            [Record(None, f"{tag}-{p}-{i}".encode()) for i in range(n)],
            partition=p,
        )


def test_group_forms_rebalances_commits_and_resumes(kip848_broker: BrokerProcess) -> None:
    bootstrap = kip848_broker.bootstrap
    topic = unique_topic("kip848")
    group = f"g-{topic}"
    create_topic(bootstrap, topic, PARTITIONS)
    produce_round(bootstrap, topic, "a", PER_PARTITION)

    ownership = Ownership()
    members: list[Member] = []
    try:
        a = Member("a", bootstrap, group, topic, ownership)
        members.append(a)
        wait_until("a owns every partition", lambda: balanced(ownership, [a]))

        b = Member("b", bootstrap, group, topic, ownership)
        members.append(b)
        wait_until("a and b share the partitions", lambda: balanced(ownership, [a, b]))
        assert len(ownership.of("a")) == len(ownership.of("b")) == 3

        c = Member("c", bootstrap, group, topic, ownership)
        members.append(c)
        wait_until("a, b and c share the partitions", lambda: balanced(ownership, [a, b, c]))
        assert [len(ownership.of(m)) for m in "abc"] == [2, 2, 2]
        describe_matches(bootstrap, group, ownership, {"a", "b", "c"})

        # Everything produced so far gets processed.
        wait_until(
            "all records consumed",
            lambda: len({x for m in members for x in m.consumed}) == PARTITIONS * PER_PARTITION,
        )

        # b leaves cleanly: its partitions go to a and c.
        b.close()
        members.remove(b)
        wait_until("a and c share the partitions", lambda: balanced(ownership, [a, c]))

        # Committed offsets reach the end of what was consumed.
        def committed_all() -> bool:
            probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
            try:
                tps = probe.committed(
                    [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10
                )
            finally:
                probe.close()
            return all(tp.offset == PER_PARTITION for tp in tps)

        wait_until("offsets committed", committed_all, timeout=20)
    finally:
        for m in members:
            m.close()
    errors = [e for m in [*members] for e in m.errors]
    assert not errors, errors
    assert not ownership.violations, ownership.violations
    # Each record was processed exactly once (commits after processing, clean leaves).
    seen = [x for m in (a, b, c) for x in m.consumed]
    assert len(seen) == len(set(seen)) == PARTITIONS * PER_PARTITION

    # A restarted consumer resumes from the committed offsets.
    produce_round(bootstrap, topic, "b", 2)
    again = Ownership()
    d = Member("d", bootstrap, group, topic, again)
    try:
        wait_until("d consumes the new records", lambda: len(d.consumed) >= PARTITIONS * 2)
        time.sleep(0.5)
    finally:
        d.close()
    assert sorted(d.consumed) == sorted(
        (p, PER_PARTITION + i) for p in range(PARTITIONS) for i in range(2)
    )
    assert not again.violations and not d.errors


def test_group_survives_a_broker_restart(kip848_broker: BrokerProcess) -> None:
    """Members, epochs and offsets of a KIP-848 group are rebuilt from __consumer_offsets."""
    bootstrap = kip848_broker.bootstrap
    topic = unique_topic("kip848r")
    group = f"g-{topic}"
    create_topic(bootstrap, topic, PARTITIONS)
    produce_round(bootstrap, topic, "a", 3)
    ownership = Ownership()
    a = Member("a", bootstrap, group, topic, ownership)
    try:
        wait_until("a consumed everything", lambda: len(a.consumed) == PARTITIONS * 3)
        wait_until("a committed", lambda: a.commits > 0)
    finally:
        a.close()

    kip848_broker.stop()
    kip848_broker.start()

    produce_round(bootstrap, topic, "b", 1)
    again = Ownership()
    b = Member("b", bootstrap, group, topic, again)
    try:
        wait_until("b consumed the new records", lambda: len(b.consumed) >= PARTITIONS)
        time.sleep(0.5)
    finally:
        b.close()
    assert sorted(b.consumed) == [(p, 3) for p in range(PARTITIONS)]


_CRASHER = """
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "group.protocol": "consumer", "client.id": "crasher"})
def on_assign(consumer, partitions):
    print("assigned", len(partitions), flush=True)
c.subscribe([sys.argv[3]], on_assign=on_assign)
while True:
    c.poll(0.1)
"""


def test_killed_member_is_fenced_after_the_session_timeout(
    kip848_broker: BrokerProcess,
) -> None:
    """A member killed without leaving loses its partitions after the session timeout."""
    bootstrap = kip848_broker.bootstrap
    topic = unique_topic("kip848k")
    group = f"g-{topic}"
    create_topic(bootstrap, topic, PARTITIONS)
    crasher = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, bootstrap, group, topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    ownership = Ownership()
    a: Member | None = None
    try:
        assert crasher.stdout is not None
        assert crasher.stdout.readline().startswith("assigned")
        a = Member("a", bootstrap, group, topic, ownership)
        wait_until("a gets its share", lambda: len(ownership.of("a")) == PARTITIONS // 2)
        crasher.send_signal(signal.SIGKILL)
        crasher.wait(10)
        killed_at = time.monotonic()
        wait_until("a owns every partition", lambda: ownership.of("a") == set(range(PARTITIONS)))
        # Session timeout (4 s) plus a few heartbeats.
        assert time.monotonic() - killed_at < 10
    finally:
        if crasher.poll() is None:
            crasher.kill()
            crasher.wait(10)
        if a is not None:
            a.close()
    assert not ownership.violations and not a.errors
