"""The transaction coordinator in-process: a real broker's logs, a manual clock.

Requests go straight into :class:`TransactionCoordinator`; the data partitions' logs are
read back to check markers and last stable offsets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from broker.config.broker_config import load_config
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from broker.transaction.coordinator import TRANSACTION_STATE_TOPIC, TransactionCoordinator
from broker.transaction.markers import TxnMarkerWriter
from broker.transaction.records import decode_key, decode_value, encode_key, encode_value
from broker.transaction.state import TransactionState
from protocol.records import CONTROL_COMMIT, NewRecord, encode_batch, iter_records
from storage.clock import ManualClock

S = TransactionState
TOPIC = "t"


class Env:
    def __init__(self, broker: KafkaBroker, clock: ManualClock) -> None:
        self.broker = broker
        self.clock = clock
        self.coord = self.new_coordinator()

    @property
    def services(self):  # type: ignore[no-untyped-def]
        assert self.broker.services is not None
        return self.broker.services

    def new_coordinator(self) -> TransactionCoordinator:
        s = self.broker.services
        assert s is not None
        markers = TxnMarkerWriter(
            s.replica_manager, self.clock, group_coordinator=s.group_coordinator
        )
        self.coord = TransactionCoordinator(
            s.config, self.clock, s.replica_manager, s.topic_manager, s.producer_ids, markers
        )
        return self.coord

    def produce(self, pid: int, epoch: int, seq: int, value: bytes, index: int = 0) -> int:
        batch = encode_batch(
            [NewRecord(None, value)],
            producer_id=pid,
            producer_epoch=epoch,
            base_sequence=seq,
            is_transactional=True,
        )
        result = self.services.replica_manager.append_to_leader(TOPIC, index, batch, -1)
        assert result.error == ErrorCode.none, result
        return result.base_offset

    def log(self, index: int = 0):  # type: ignore[no-untyped-def]
        p = self.services.replica_manager.get_partition(TOPIC, index)
        assert p is not None
        return p.log

    def markers(self, index: int = 0) -> list[tuple[int, bool]]:
        """(offset, commit?) of every transaction marker in the partition."""
        plog = self.log(index)
        data = plog.read(plog.log_start_offset, 1 << 20).records
        out = []
        for header, record in iter_records(data):
            if header.is_control:
                key = record.key or b""
                out.append((record.offset, int.from_bytes(key[2:4], "big") == CONTROL_COMMIT))
        return out

    async def settle(self) -> None:
        """Let background completions (markers, Complete* records) finish."""
        for _ in range(200):
            tasks = list(self.coord._completions.values())
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)
        raise AssertionError("completions did not settle")


async def make_env(tmp_path: Path) -> Env:
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp_path / 'logs'}",
            "offsets.topic.num.partitions=2",
            "transaction.state.log.num.partitions=2",
            "transaction.max.timeout.ms=60000",
        ],
    )
    broker = KafkaBroker(config)
    await broker.start()
    assert broker.services is not None
    await broker.services.topic_manager.create(TopicSpec(TOPIC, 2, 1))
    env = Env(broker, ManualClock())
    assert await env.coord.ensure_topic()
    await env.coord.wait_loaded()
    return env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await make_env(tmp_path)
    try:
        yield e
    finally:
        e.coord.shutdown()
        await e.broker.shutdown()


async def test_init_bumps_the_epoch_and_writes_kafkas_record(env: Env) -> None:
    c = env.coord
    error, pid, epoch = await c.init_producer_id("app", 30_000)
    assert (error, epoch) == (ErrorCode.none, 0)
    error, pid2, epoch2 = await c.init_producer_id("app", 30_000)
    assert (error, pid2, epoch2) == (ErrorCode.none, pid, 1)
    # The record in __transaction_state is Kafka's: Empty, no partitions (null).
    index = c.partition_for("app")
    part = env.services.replica_manager.get_partition(TRANSACTION_STATE_TOPIC, index)
    data = part.log.read(0, 1 << 20).records
    records = [
        (decode_key(r.key or b""), decode_value(r.value or b"")) for _, r in iter_records(data)
    ]
    assert [(k, v.producer_epoch, v.transaction_status, v.partitions) for k, v in records] == [
        ("app", 0, 0, None),
        ("app", 1, 0, None),
    ]
    assert records[-1][1].transaction_timeout_ms == 30_000


async def test_invalid_requests(env: Env) -> None:
    c = env.coord
    assert (await c.init_producer_id("", 1000))[0] == ErrorCode.invalid_request
    assert (await c.init_producer_id("x", 60_001))[0] == ErrorCode.invalid_transaction_timeout
    assert (await c.init_producer_id("x", 0))[0] == ErrorCode.invalid_transaction_timeout
    _, pid, epoch = await c.init_producer_id("x", 1000)
    assert await c.add_partitions("x", pid + 1, epoch, {(TOPIC, 0)}) == (
        ErrorCode.invalid_producer_id_mapping
    )
    assert await c.add_partitions("nobody", pid, epoch, {(TOPIC, 0)}) == (
        ErrorCode.invalid_producer_id_mapping
    )
    assert await c.end_txn("x", pid, epoch, True) == ErrorCode.invalid_txn_state  # Empty


async def test_commit_writes_markers_and_moves_the_lso(env: Env) -> None:
    c = env.coord
    _, pid, epoch = await c.init_producer_id("app", 30_000)
    assert await c.add_partitions("app", pid, epoch, {(TOPIC, 0), (TOPIC, 1)}) == ErrorCode.none
    assert c.txns["app"].state is S.ONGOING
    env.produce(pid, epoch, 0, b"x")
    env.produce(pid, epoch, 1, b"y")
    assert env.log().last_stable_offset == 0
    assert await c.end_txn("app", pid, epoch, True) == ErrorCode.none
    await env.settle()
    assert c.txns["app"].state is S.COMPLETE_COMMIT
    assert env.markers(0) == [(2, True)]
    assert env.markers(1) == [(0, True)]  # a partition added but never written to
    assert env.log().last_stable_offset == 3
    # A retried EndTxn(commit) is answered NONE; abort now is INVALID_TXN_STATE.
    assert await c.end_txn("app", pid, epoch, True) == ErrorCode.none
    assert await c.end_txn("app", pid, epoch, False) == ErrorCode.invalid_txn_state
    # The next transaction starts from CompleteCommit.
    assert await c.add_partitions("app", pid, epoch, {(TOPIC, 0)}) == ErrorCode.none
    env.produce(pid, epoch, 2, b"z")
    assert await c.end_txn("app", pid, epoch, False) == ErrorCode.none
    await env.settle()
    assert env.markers(0) == [(2, True), (4, False)]
    assert env.log().last_stable_offset == 5
    assert [
        (a.producer_id, a.first_offset) for a in env.log().collect_aborted_transactions(0, 5)
    ] == [(pid, 3)]


async def test_new_incarnation_fences_and_aborts_the_open_transaction(env: Env) -> None:
    c = env.coord
    _, pid, epoch = await c.init_producer_id("app", 30_000)
    await c.add_partitions("app", pid, epoch, {(TOPIC, 0)})
    env.produce(pid, epoch, 0, b"zombie")
    error, _, _ = await c.init_producer_id("app", 30_000)
    assert error == ErrorCode.concurrent_transactions  # aborting the old one first
    await env.settle()
    assert c.txns["app"].state is S.COMPLETE_ABORT
    assert env.markers(0) == [(1, False)]
    assert env.log().last_stable_offset == 2
    error, pid2, epoch2 = await c.init_producer_id("app", 30_000)
    assert (error, pid2, epoch2) == (ErrorCode.none, pid, epoch + 2)
    # The old incarnation is fenced everywhere.
    assert await c.add_partitions("app", pid, epoch, {(TOPIC, 0)}) == ErrorCode.producer_fenced
    assert await c.end_txn("app", pid, epoch, True) == ErrorCode.producer_fenced


async def test_timed_out_transaction_is_aborted_with_a_bumped_epoch(env: Env) -> None:
    c = env.coord
    _, pid, epoch = await c.init_producer_id("slow", 10_000)
    await c.add_partitions("slow", pid, epoch, {(TOPIC, 1)})
    env.produce(pid, epoch, 0, b"late", index=1)
    env.clock.advance(9_999)
    assert await c.abort_timed_out_transactions() == 0
    env.clock.advance(1)
    assert await c.abort_timed_out_transactions() == 1
    await env.settle()
    meta = c.txns["slow"]
    assert (meta.state, meta.producer_epoch) == (S.COMPLETE_ABORT, epoch + 1)
    assert env.markers(1) == [(1, False)]
    assert await c.end_txn("slow", pid, epoch, True) == ErrorCode.producer_fenced


async def test_prepare_commit_found_on_load_is_completed(env: Env) -> None:
    """A broker that died between PrepareCommit and CompleteCommit: the coordinator that
    loads the partition sends the markers and completes the transaction."""
    c = env.coord
    _, pid, epoch = await c.init_producer_id("crash", 30_000)
    await c.add_partitions("crash", pid, epoch, {(TOPIC, 0)})
    env.produce(pid, epoch, 0, b"v")
    # Write PrepareCommit as the dead coordinator did, without completing it.
    meta = c.txns["crash"].transit(S.PREPARE_COMMIT, env.clock.milliseconds())
    record = (encode_key("crash"), encode_value(meta.to_record()))
    assert await c.runtime.write(c.partition_for("crash"), [record]) == ErrorCode.none
    assert env.markers(0) == []
    c.shutdown()
    fresh = env.new_coordinator()
    fresh.runtime.start()
    await fresh.wait_loaded()
    await env.settle()
    assert fresh.txns["crash"].state is S.COMPLETE_COMMIT
    assert env.markers(0) == [(1, True)]
    assert env.log().last_stable_offset == 2


async def test_idle_transactional_ids_expire(env: Env) -> None:
    c = env.coord
    expiration = int(env.services.config.transactional_id_expiration_ms)
    _, pid, epoch = await c.init_producer_id("idle", 30_000)
    _, pid2, epoch2 = await c.init_producer_id("busy", 30_000)
    await c.add_partitions("busy", pid2, epoch2, {(TOPIC, 0)})
    env.clock.advance(expiration - 1)
    assert await c.remove_expired_transactional_ids() == 0
    env.clock.advance(1)
    assert await c.remove_expired_transactional_ids() == 1  # an open transaction stays
    assert "idle" not in c.txns and "busy" in c.txns
    # The tombstone is in __transaction_state: a reload does not bring the id back.
    c.shutdown()
    fresh = env.new_coordinator()
    fresh.runtime.start()
    await fresh.wait_loaded()
    assert "idle" not in fresh.txns and fresh.txns["busy"].state is S.ONGOING
    # A new producer with the expired id gets a new producer id.
    error, new_pid, new_epoch = await fresh.init_producer_id("idle", 30_000)
    assert error == ErrorCode.none and (new_pid, new_epoch) != (pid, epoch + 1)
    assert new_pid != pid


_OPS = st.lists(
    st.sampled_from(["init", "add", "produce", "commit", "abort", "timeout", "restart"]),
    min_size=1,
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=_OPS)
def test_random_interleavings_never_leave_the_lso_stuck(tmp_path_factory, ops) -> None:  # type: ignore[no-untyped-def]
    """Whatever producers, timeouts and restarts do, once every transaction is ended
    (committed, aborted or timed out) the LSO reaches the log end and read_committed never
    includes aborted data."""

    async def run() -> None:
        env = await make_env(tmp_path_factory.mktemp("prop"))
        try:
            c = env.coord
            pid = epoch = -1
            seq = 0
            aborted_values: set[bytes] = set()
            open_values: list[bytes] = []
            n = 0
            for op in ops:
                if op == "init":
                    error, pid, epoch = await c.init_producer_id("p", 30_000)
                    if error == ErrorCode.concurrent_transactions:
                        await env.settle()
                        aborted_values.update(open_values)
                        open_values.clear()
                        error, pid, epoch = await c.init_producer_id("p", 30_000)
                    assert error == ErrorCode.none
                    seq = 0
                elif op == "add" and pid >= 0:
                    await c.add_partitions("p", pid, epoch, {(TOPIC, 0)})
                elif op == "produce" and pid >= 0:
                    meta = c.txns.get("p")
                    if meta and meta.state is S.ONGOING and meta.producer_epoch == epoch:
                        n += 1
                        value = f"v{n}".encode()
                        env.produce(pid, epoch, seq, value)
                        seq += 1
                        open_values.append(value)
                elif op in ("commit", "abort") and pid >= 0:
                    error = await c.end_txn("p", pid, epoch, op == "commit")
                    await env.settle()
                    if error == ErrorCode.none and op == "abort":
                        aborted_values.update(open_values)
                    if error == ErrorCode.none:
                        open_values.clear()
                elif op == "timeout":
                    env.clock.advance(30_000)
                    if await c.abort_timed_out_transactions():
                        aborted_values.update(open_values)
                        open_values.clear()
                    await env.settle()
                elif op == "restart":
                    c.shutdown()
                    c = env.new_coordinator()
                    c.runtime.start()
                    await c.wait_loaded()
                    await env.settle()
            # End whatever is open, as the timeout would.
            env.clock.advance(30_000)
            if await c.abort_timed_out_transactions():
                aborted_values.update(open_values)
            await env.settle()
            plog = env.log()
            assert plog.last_stable_offset == plog.log_end_offset
            aborted = plog.collect_aborted_transactions(0, plog.log_end_offset)
            data = plog.read(0, 1 << 22).records
            visible = []
            for header, record in iter_records(data):
                if header.is_control:
                    continue
                if any(a.first_offset <= record.offset <= a.last_offset for a in aborted):
                    continue
                visible.append(record.value)
            assert not aborted_values & set(visible)
        finally:
            env.coord.shutdown()
            await env.broker.shutdown()

    asyncio.run(run())


async def test_txn_offsets_are_pending_until_the_marker_and_reload(env: Env) -> None:
    """TxnOffsetCommit offsets live in __consumer_offsets as a transactional batch: hidden
    until the COMMIT marker, dropped by ABORT, and a reload of the partition replays
    the batches and markers to the same state."""
    from broker.group.coordinator import OFFSETS_TOPIC, GroupCoordinator

    group_coord = env.services.group_coordinator
    assert await group_coord.ensure_topic()
    await group_coord.wait_loaded()
    index = group_coord.partition_for("g")
    _, pid, epoch = await env.coord.init_producer_id("offsets-app", 30_000)
    markers = env.coord.markers

    async def commit_offset(offset: int) -> None:
        error, results = await group_coord.commit_txn_offsets(
            "g", pid, epoch, "", None, -1, [(TOPIC, 0, offset, -1, None)]
        )
        assert error == ErrorCode.none and results == {(TOPIC, 0): ErrorCode.none}

    await commit_offset(5)
    assert group_coord.has_pending_txn_offset("g", (TOPIC, 0))
    assert (TOPIC, 0) not in group_coord.committed("g")
    errors = await markers.append_local(pid, epoch, True, 0, [(OFFSETS_TOPIC, index)])
    assert errors == {(OFFSETS_TOPIC, index): ErrorCode.none}
    assert group_coord.committed("g")[(TOPIC, 0)].offset == 5
    assert not group_coord.has_pending_txn_offset("g", (TOPIC, 0))
    await commit_offset(7)
    await markers.append_local(pid, epoch, False, 0, [(OFFSETS_TOPIC, index)])
    assert group_coord.committed("g")[(TOPIC, 0)].offset == 5  # aborted
    await commit_offset(9)  # left open
    s = env.services
    fresh = GroupCoordinator(s.config, env.clock, s.replica_manager, s.topic_manager)
    fresh.runtime.start()
    await fresh.wait_loaded()
    try:
        assert fresh.committed("g")[(TOPIC, 0)].offset == 5
        assert fresh.has_pending_txn_offset("g", (TOPIC, 0))
        assert fresh.pending_txn_offsets[pid]["g"][(TOPIC, 0)].offset == 9
    finally:
        fresh.shutdown()


async def test_a_state_write_that_does_not_commit_leaves_the_old_state(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record reaches the local log but its replication wait fails: the transaction
    stays where it was (no PrepareCommit, no markers), as Kafka's coordinator drops the
    pending state, and the retried EndTxn completes it."""
    c = env.coord
    error, pid, epoch = await c.init_producer_id("app", 30_000)
    assert error == ErrorCode.none
    assert await c.add_partitions("app", pid, epoch, {(TOPIC, 0)}) == ErrorCode.none
    runtime = c.runtime

    async def failing_commit(index: int, required_offset: int) -> ErrorCode:
        return ErrorCode.not_enough_replicas

    monkeypatch.setattr(runtime, "commit", failing_commit)
    assert await c.end_txn("app", pid, epoch, True) == ErrorCode.not_enough_replicas
    assert c.txns["app"].state is S.ONGOING  # not PrepareCommit
    assert not c._completions  # no markers started
    monkeypatch.undo()
    assert await c.end_txn("app", pid, epoch, True) == ErrorCode.none
    await env.settle()
    assert c.txns["app"].state is S.COMPLETE_COMMIT
