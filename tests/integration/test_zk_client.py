"""cluster.zk.client.ZkClient against a real ZooKeeper ensemble (3 nodes, loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from helpers.zookeeper import ZooKeeperEnsemble, expire_session

from cluster.zk import errors
from cluster.zk.client import (
    SessionEvent,
    SessionState,
    WatchEvent,
    WatchEventType,
    ZkClient,
)
from cluster.zk.ops import CheckOp, CreateOp, DeleteOp, SetDataOp

WAIT_S = 30.0


@contextlib.contextmanager
def socket_that_never_answers() -> Iterator[int]:
    """A listening port that accepts connections but never speaks ZooKeeper."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
async def zk(zk_connect: str) -> AsyncIterator[ZkClient]:
    client = ZkClient(zk_connect, session_timeout_ms=6000, connection_timeout_ms=15000)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def test_chroot_is_created_with_null_data_like_kafka(
    zk_ensemble: ZooKeeperEnsemble, zk_chroot: str
) -> None:
    chroot = f"{zk_chroot}/nested/josef"
    async with ZkClient(zk_ensemble.connect_string(chroot)) as client:
        assert await client.exists("/") is not None
        await client.create("/x", b"1")
    async with ZkClient(zk_ensemble.connect_string()) as bare:
        await bare.sync()  # a new client may sit on a follower that lags behind
        for path in (zk_chroot, f"{zk_chroot}/nested", chroot):
            data, _ = await bare.get(path)
            assert data is None  # null, as Kafka's createRecursive writes
        assert (await bare.get(f"{chroot}/x"))[0] == b"1"


async def test_crud_null_and_empty_data_and_makepath(zk: ZkClient) -> None:
    path, stat = await zk.create("/a/b/c", b"payload", makepath=True)
    assert path == "/a/b/c" and stat.version == 0 and not stat.ephemeral
    assert (await zk.get("/a"))[0] is None  # parents: null data
    await zk.create("/empty", b"")
    assert (await zk.get("/empty"))[0] == b""
    assert sorted(await zk.get_children("/a")) == ["b"]
    stat = await zk.set("/a/b/c", b"v2")
    assert stat.version == 1
    assert await zk.get("/a/b/c") == (b"v2", stat)
    with pytest.raises(errors.NodeExistsError):
        await zk.create("/a/b/c", b"again")
    with pytest.raises(errors.NoNodeError):
        await zk.get("/missing")
    with pytest.raises(errors.NoNodeError):
        await zk.create("/no/parent", b"")
    with pytest.raises(errors.NotEmptyError):
        await zk.delete("/a")
    await zk.delete("/a", recursive=True)
    assert await zk.exists("/a") is None
    await zk.ensure_path("/p/q")
    await zk.ensure_path("/p/q")
    assert (await zk.get("/p/q"))[0] is None


async def test_sequential_and_ephemeral(zk: ZkClient, zk_connect: str) -> None:
    await zk.ensure_path("/config/changes")
    first, _ = await zk.create("/config/changes/config_change_", b"{}", sequential=True)
    second, _ = await zk.create("/config/changes/config_change_", b"{}", sequential=True)
    assert first == "/config/changes/config_change_0000000000"
    assert second == "/config/changes/config_change_0000000001"
    _, stat = await zk.create("/eph", b"me", ephemeral=True)
    assert stat.ephemeral_owner == zk.session_id
    assert await zk.czxid("/eph") == stat.czxid
    async with ZkClient(zk_connect) as other:
        await other.sync()
        assert (await other.exists("/eph")) is not None
        await zk.close()
        # Closing the session removes its ephemeral znodes at once (sync: "other" may be
        # connected to a follower that has not applied the close yet).
        await other.sync()
        assert await other.exists("/eph") is None


async def test_compare_and_set_conflicts(zk: ZkClient, zk_connect: str) -> None:
    await zk.create("/cas", b"0")
    async with ZkClient(zk_connect) as other:
        _, stat = await zk.get("/cas")
        await other.set("/cas", b"theirs", version=stat.version)
        with pytest.raises(errors.BadVersionError):
            await zk.set("/cas", b"mine", version=stat.version)
        await zk.sync()
        data, stat = await zk.get("/cas")
        assert data == b"theirs"
        assert (await zk.set("/cas", b"mine", version=stat.version)).version == stat.version + 1
        with pytest.raises(errors.BadVersionError):
            await other.delete("/cas", version=0)
        await other.delete("/cas", version=2)
        assert await zk.exists("/cas") is None


async def test_multi_applies_all_or_nothing_and_names_the_failed_op(zk: ZkClient) -> None:
    await zk.create("/controller_epoch", b"1")
    results = await zk.multi(
        [
            CheckOp("/controller_epoch", 0),
            CreateOp("/state", b"s"),
            CreateOp("/seq-", b"", sequential=True),
            SetDataOp("/controller_epoch", b"2", 0),
        ]
    )
    assert [r.path for r in results] == [
        "/controller_epoch",
        "/state",
        "/seq-0000000002",
        "/controller_epoch",
    ]
    assert results[3].stat is not None and results[3].stat.version == 1
    # A stale controller (epoch version 0) is fenced: nothing of its multi applies.
    with pytest.raises(errors.TransactionFailedError) as info:
        await zk.multi(
            [
                CheckOp("/controller_epoch", 0),
                SetDataOp("/state", b"stale"),
                DeleteOp("/seq-0000000002"),
            ]
        )
    assert info.value.index == 0 and isinstance(info.value.cause, errors.BadVersionError)
    assert (await zk.get("/state"))[0] == b"s"
    assert await zk.exists("/seq-0000000002") is not None
    # The failing op may be any of them; the others are rolled back.
    with pytest.raises(errors.TransactionFailedError) as info:
        await zk.multi([SetDataOp("/state", b"x"), CreateOp("/state", b"dup")])
    assert info.value.index == 1 and isinstance(info.value.cause, errors.NodeExistsError)
    assert info.value.op == CreateOp("/state", b"dup")
    assert (await zk.get("/state"))[0] == b"s"


async def test_watches_fire_once_on_the_event_loop(zk: ZkClient, zk_connect: str) -> None:
    loop_thread = threading.get_ident()
    events: asyncio.Queue[tuple[WatchEvent, int, bool]] = asyncio.Queue()

    def on_event(event: WatchEvent) -> None:
        running = asyncio.get_running_loop() is not None
        events.put_nowait((event, threading.get_ident(), running))

    await zk.create("/w", b"0")
    await zk.get("/w", watch=on_event)
    await zk.exists("/absent", watch=on_event)
    await zk.get_children("/w", watch=on_event)
    async with ZkClient(zk_connect) as other:
        await other.set("/w", b"1")
        await other.create("/absent", b"")
        await other.create("/w/child", b"")
        await other.set("/w", b"2")  # not watched any more: watches are one-shot
        seen = [await asyncio.wait_for(events.get(), WAIT_S) for _ in range(3)]
    assert {(e.type, e.path) for e, _, _ in seen} == {
        (WatchEventType.CHANGED, "/w"),
        (WatchEventType.CREATED, "/absent"),
        (WatchEventType.CHILD, "/w"),
    }
    assert all(thread == loop_thread and running for _, thread, running in seen)
    # Re-arm by reading again.
    data, _ = await zk.get("/w", watch=on_event)
    assert data == b"2"
    await zk.delete("/w/child")
    await zk.delete("/w")
    event, _, _ = await asyncio.wait_for(events.get(), WAIT_S)
    assert (event.type, event.path) == (WatchEventType.DELETED, "/w")
    await asyncio.sleep(0.2)
    assert events.empty()


async def test_rearming_watchers_follow_every_change(zk: ZkClient, zk_connect: str) -> None:
    data_seen: asyncio.Queue[bytes | None] = asyncio.Queue()
    children_seen: asyncio.Queue[list[str] | None] = asyncio.Queue()
    data_watcher = zk.watch_data("/brokers/ids/1", lambda data, stat: data_seen.put_nowait(data))
    kids_watcher = zk.watch_children("/brokers/ids", children_seen.put_nowait)
    try:
        assert await asyncio.wait_for(data_seen.get(), WAIT_S) is None  # absent
        assert await asyncio.wait_for(children_seen.get(), WAIT_S) is None
        async with ZkClient(zk_connect) as other:
            await other.create("/brokers/ids/1", b"a", makepath=True)
            assert await asyncio.wait_for(data_seen.get(), WAIT_S) == b"a"
            await other.set("/brokers/ids/1", b"b")
            assert await asyncio.wait_for(data_seen.get(), WAIT_S) == b"b"
            await other.create("/brokers/ids/2", b"")
            last: list[str] | None = None
            while last != ["1", "2"]:
                last = await asyncio.wait_for(children_seen.get(), WAIT_S)
            await other.delete("/brokers/ids/1")
            assert await asyncio.wait_for(data_seen.get(), WAIT_S) is None
            assert await asyncio.wait_for(children_seen.get(), WAIT_S) == ["2"]
    finally:
        data_watcher.cancel()
        kids_watcher.cancel()


async def test_close_stops_watchers_and_reports_closed(zk_connect: str) -> None:
    client = ZkClient(zk_connect)
    await client.start()
    events: list[SessionEvent] = []
    client.add_session_listener(events.append)
    seen: asyncio.Queue[list[str] | None] = asyncio.Queue()
    watcher = client.watch_children("/", seen.put_nowait)
    assert await asyncio.wait_for(seen.get(), WAIT_S) == []
    await client.close()
    assert watcher.cancelled and events[-1].state is SessionState.CLOSED
    with pytest.raises(errors.ClientClosedError):
        await client.exists("/")
    with pytest.raises(errors.ClientClosedError):
        client.watch_data("/x", lambda data, stat: None)


async def test_session_expiry_delivers_expired_then_a_new_session(
    zk: ZkClient, zk_ensemble: ZooKeeperEnsemble, zk_connect: str
) -> None:
    events: asyncio.Queue[SessionEvent] = asyncio.Queue()
    zk.add_session_listener(events.put_nowait)
    watch_events: asyncio.Queue[WatchEvent] = asyncio.Queue()
    children: asyncio.Queue[list[str] | None] = asyncio.Queue()
    await zk.create("/eph", b"", ephemeral=True)
    await zk.create("/watched", b"")
    await zk.get("/watched", watch=watch_events.put_nowait)
    watcher = zk.watch_children("/watched", children.put_nowait)
    assert await asyncio.wait_for(children.get(), WAIT_S) == []
    old_session = zk.session_id
    assert old_session is not None and zk.session_password is not None

    await asyncio.to_thread(
        expire_session, zk_ensemble.connect_string(), old_session, zk.session_password
    )

    # On an ensemble the client may first reconnect to the old session (the clone has not
    # closed it yet): wait for the new session.
    states: list[SessionEvent] = []
    while not states or not (states[-1].state is SessionState.CONNECTED and states[-1].new_session):
        states.append(await asyncio.wait_for(events.get(), WAIT_S))
    kinds = [e.state for e in states]
    assert SessionState.EXPIRED in kinds
    assert kinds.index(SessionState.EXPIRED) < len(kinds) - 1
    assert states[-1].new_session and states[-1].session_id != old_session
    assert zk.session_id == states[-1].session_id and zk.connected
    # The one-shot watch was dropped with a SESSION event; the ephemeral znode is gone.
    assert (await asyncio.wait_for(watch_events.get(), WAIT_S)).type is WatchEventType.SESSION
    await zk.sync()
    assert await zk.exists("/eph") is None
    # Writes work on the new session, and the re-arming watcher still follows changes.
    async with ZkClient(zk_connect) as other:
        await other.create("/watched/after", b"")
    last: list[str] | None = []
    while last != ["after"]:
        last = await asyncio.wait_for(children.get(), WAIT_S)
    watcher.cancel()


async def test_connect_timeout_names_the_connect_string_and_timeout() -> None:
    with socket_that_never_answers() as port:
        client = ZkClient(f"127.0.0.1:{port}/josef", connection_timeout_ms=1500)
        with pytest.raises(errors.ConnectTimeoutError) as info:
            await client.start()
    message = str(info.value)
    assert f"127.0.0.1:{port}/josef" in message
    assert "zookeeper.connection.timeout.ms=1500" in message
    with pytest.raises(errors.ClientClosedError):
        await client.get("/")


async def test_requests_have_deadlines(zk_single: ZooKeeperEnsemble) -> None:
    async with ZkClient(
        zk_single.connect_string("/d"), session_timeout_ms=30000, request_timeout_ms=1000
    ) as client:
        await client.create("/x", b"")
        events: asyncio.Queue[SessionEvent] = asyncio.Queue()
        client.add_session_listener(events.put_nowait)
        zk_single.nodes[0].pause()  # the server stops answering, sockets stay open
        try:
            with pytest.raises(errors.RequestTimeoutError):
                await client.get("/x")
            with pytest.raises(errors.RequestTimeoutError):
                await client.set("/x", b"y", timeout_ms=500)
        finally:
            zk_single.nodes[0].resume()
        # The same session comes back (no expiry: the server was only paused).
        session = client.session_id
        await client.wait_connected(timeout_ms=30000)
        assert client.session_id == session
        assert (await client.get("/x"))[0] in (b"", b"y")


async def test_a_client_keeps_working_when_a_zookeeper_node_dies(
    zk_fresh_ensemble: ZooKeeperEnsemble,
) -> None:
    async with ZkClient(zk_fresh_ensemble.connect_string("/k"), session_timeout_ms=10000) as zk:
        events: list[SessionEvent] = []
        zk.add_session_listener(events.append)
        await zk.create("/eph", b"", ephemeral=True)
        session = zk.session_id
        for node in list(zk_fresh_ensemble.nodes):
            # Kill each node in turn (the leader among them); two of three keep a quorum.
            node.kill()
            zk_fresh_ensemble.wait_serving()
            for i in range(20):
                await zk.create(f"/n{node.node_id}-{i}", b"x")
            assert len(await zk.get_children("/")) == 1 + 20 * node.node_id
            node.start()
            zk_fresh_ensemble.wait_serving()
        assert zk.session_id == session  # the session survived every failover
        assert await zk.exists("/eph") is not None
        assert SessionState.EXPIRED not in [e.state for e in events]
