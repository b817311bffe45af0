"""An asyncio-facing ZooKeeper client over kazoo (Kafka's ``KafkaZkClient`` layer).

kazoo runs its own threads: one connection thread and one callback thread. Every request here
goes through kazoo's ``*_async`` call and its completion is handed to the event loop with
``loop.call_soon_threadsafe``; watch callbacks and session events are delivered the same way,
so all callbacks run *on the event loop* and the loop never blocks on ZooKeeper.

Behaviour that callers rely on:

* ``zookeeper.connect`` is ``host:port[,host:port...][/chroot]``; a missing chroot is created
  (null data, like Kafka's ``createChrootIfNecessary``). :meth:`ZkClient.start` raises
  :class:`ConnectTimeoutError` (naming the connect string and timeout) when no session is
  established within ``zookeeper.connection.timeout.ms``.
* Each request has a deadline (``request_timeout_ms``, default the session timeout). A request
  that meets a connection loss is sent again once the session is back (Kafka's
  ``retryRequestUntilConnected``), so a retried write may find its own earlier effect
  (NODEEXISTS, BADVERSION): callers treat those as Kafka does. Reads are also retried after a
  session expiry; writes raise :class:`SessionExpiredError`.
* Watches are one-shot, as in ZooKeeper; re-arm by reading again. kazoo clears every watch
  when the connection drops and fires it with a ``SESSION`` event: re-read (and re-arm) after
  the next ``CONNECTED``. :mod:`cluster.zk.watchers` does that for you.
* Session changes arrive as :class:`SessionEvent` (CONNECTED, SUSPENDED, EXPIRED, CLOSED);
  after EXPIRED kazoo opens a new session by itself and the next CONNECTED carries
  ``new_session=True``: ephemeral znodes (broker registration, controller) must be recreated.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from kazoo import exceptions as kz
from kazoo.client import KazooClient, KazooState
from kazoo.protocol.states import KeeperState

from cluster.zk import errors
from cluster.zk.connect import ConnectString
from cluster.zk.ops import CheckOp, CreateOp, DeleteOp, Op, OpResult, SetDataOp, ZnodeStat

if TYPE_CHECKING:
    from cluster.zk.watchers import ChildrenWatcher, DataWatcher

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SESSION_TIMEOUT_MS = 18_000  # Kafka's zookeeper.session.timeout.ms default
ANY_VERSION = -1  # Kafka's ZkVersion.MatchAnyVersion

_KAZOO_ERRORS: dict[type[BaseException], type[errors.ZooKeeperError]] = {
    kz.NoNodeError: errors.NoNodeError,
    kz.NodeExistsError: errors.NodeExistsError,
    kz.BadVersionError: errors.BadVersionError,
    kz.NotEmptyError: errors.NotEmptyError,
    kz.NoChildrenForEphemeralsError: errors.NoChildrenForEphemeralsError,
    kz.ConnectionLoss: errors.ConnectionLossError,
    kz.SessionExpiredError: errors.SessionExpiredError,
    kz.AuthFailedError: errors.AuthFailedError,
    kz.NoAuthError: errors.NoAuthError,
    kz.ConnectionClosedError: errors.ClientClosedError,
    kz.RolledBackError: errors.RolledBackError,
    kz.RuntimeInconsistency: errors.RolledBackError,
}


def _translate(exc: BaseException, path: str | None) -> BaseException:
    for kazoo_type, ours in _KAZOO_ERRORS.items():
        if isinstance(exc, kazoo_type):
            return ours(path=path)
    if isinstance(exc, kz.ZookeeperError | kz.KazooException):
        return errors.ZooKeeperError(f"{type(exc).__name__}: {exc}", path)
    return exc


class SessionState(enum.Enum):
    CONNECTED = "CONNECTED"
    SUSPENDED = "SUSPENDED"  # connection lost; the session may still be alive
    EXPIRED = "EXPIRED"  # the session is gone; a new one follows
    CLOSED = "CLOSED"  # closed by us
    AUTH_FAILED = "AUTH_FAILED"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A session state change, delivered on the event loop."""

    state: SessionState
    session_id: int | None
    new_session: bool = False  # CONNECTED on a session other than the previous one


class WatchEventType(enum.Enum):
    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"
    SESSION = "SESSION"  # the connection dropped: the watch is gone, re-read after CONNECTED


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: WatchEventType
    path: str | None


WatchCallback = Callable[[WatchEvent], None]
SessionListener = Callable[[SessionEvent], None]


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class ZkClient:
    """One ZooKeeper session for a broker, used from the event loop."""

    def __init__(
        self,
        connect: str | ConnectString,
        *,
        session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS,
        connection_timeout_ms: int | None = None,
        request_timeout_ms: int | None = None,
    ) -> None:
        self.connect = (
            connect if isinstance(connect, ConnectString) else ConnectString.parse(connect)
        )
        self.session_timeout_ms = session_timeout_ms
        self.connection_timeout_ms = (
            connection_timeout_ms if connection_timeout_ms is not None else session_timeout_ms
        )
        self.request_timeout_ms = (
            request_timeout_ms if request_timeout_ms is not None else session_timeout_ms
        )
        self._kazoo: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[SessionListener] = []
        self._watchers: set[_Cancellable] = set()
        self._connected = asyncio.Event()
        self._state = SessionState.CLOSED
        self._last_session_id: int | None = None  # written on the kazoo connection thread

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (creating the chroot if missing); ConnectTimeoutError when that takes longer
        than ``connection_timeout_ms`` in all."""
        if self._kazoo is not None:
            raise RuntimeError("ZkClient already started")
        self._loop = asyncio.get_running_loop()
        deadline = self._loop.time() + self.connection_timeout_ms / 1000.0
        if self.connect.chroot is not None:
            await self._ensure_chroot(deadline)
        self._kazoo = self._new_kazoo(self.connect)
        self._kazoo.add_listener(self._on_kazoo_state)
        try:
            await self._start_kazoo(self._kazoo, deadline)
        except BaseException:
            self._kazoo = None
            raise
        # The CONNECTED event is on its way to the loop; requests may go out right now.
        self._state = SessionState.CONNECTED
        self._connected.set()

    def _new_kazoo(self, connect: ConnectString) -> Any:
        return KazooClient(
            hosts=str(connect),
            timeout=self.session_timeout_ms / 1000.0,
            # Reconnect quickly and forever; the session timeout decides what is lost.
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0},
            logger=logging.getLogger("kazoo.client"),
        )

    async def _start_kazoo(self, client: Any, deadline: float) -> None:
        assert self._loop is not None
        timeout_s = max(deadline - self._loop.time(), 0.0)
        # kazoo's blocking start() would, on a timeout, wait up to the session timeout for
        # its connection thread; wait for the event ourselves and stop it in the background.
        started = await asyncio.to_thread(client.start_async)
        await asyncio.to_thread(started.wait, timeout_s)
        if not client.connected:
            threading.Thread(
                target=_quietly_close, args=(client,), name="zk-abandon", daemon=True
            ).start()
            raise errors.ConnectTimeoutError(str(self.connect), self.connection_timeout_ms)

    async def _ensure_chroot(self, deadline: float) -> None:
        """Create the chroot (and its parents, null data) through a client without it."""
        bare = self._new_kazoo(self.connect.without_chroot())
        await self._start_kazoo(bare, deadline)
        chroot = self.connect.chroot
        assert chroot is not None
        try:
            prefix = ""
            for part in chroot.strip("/").split("/"):
                prefix += "/" + part
                if await asyncio.to_thread(bare.exists, prefix) is None:
                    with contextlib.suppress(kz.NodeExistsError):
                        await asyncio.to_thread(bare.create, prefix, None)
                        log.info("created ZooKeeper chroot path %s", prefix)
        finally:
            await asyncio.to_thread(_quietly_close, bare)

    async def close(self) -> None:
        """Close the session (its ephemeral znodes go at once), stop kazoo's threads and the
        re-arming watchers; listeners get a CLOSED event."""
        client, self._kazoo = self._kazoo, None
        for watcher in list(self._watchers):
            watcher.cancel()
        self._watchers.clear()
        if client is not None:
            await asyncio.to_thread(_quietly_close, client)
            self._deliver_session_event(SessionEvent(SessionState.CLOSED, self._last_session_id))
        self._connected.clear()

    async def __aenter__(self) -> ZkClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- session -----------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def session_id(self) -> int | None:
        """The current session id (a ZooKeeper sessionId; ephemeral owners carry it)."""
        client = self._kazoo
        if client is None or client.client_id is None:
            return None
        session_id = client.client_id[0]
        return int(session_id) if session_id else None

    @property
    def session_password(self) -> bytes | None:
        client = self._kazoo
        if client is None or client.client_id is None:
            return None
        return bytes(client.client_id[1])

    @property
    def negotiated_session_timeout_ms(self) -> int | None:
        client = self._kazoo
        return int(client._session_timeout) if client is not None else None

    def add_session_listener(self, listener: SessionListener) -> Callable[[], None]:
        """``listener(SessionEvent)`` runs on the loop at every change; returns an unsubscriber."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def wait_connected(self, timeout_ms: int | None = None) -> None:
        """Wait for a live session; RequestTimeoutError after ``timeout_ms``."""
        self._check_open()
        timeout = (timeout_ms if timeout_ms is not None else self.request_timeout_ms) / 1000.0
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise errors.RequestTimeoutError("no ZooKeeper session") from None

    def _on_kazoo_state(self, _state: Any) -> None:
        # kazoo's connection thread: read what we need now, act on the loop.
        client = self._kazoo
        if client is None:
            return
        keeper = client.client_state
        if keeper in (KeeperState.CONNECTED, KeeperState.CONNECTED_RO):
            session_id = client.client_id[0] if client.client_id else None
            new = self._last_session_id is not None and session_id != self._last_session_id
            self._last_session_id = session_id
            event = SessionEvent(SessionState.CONNECTED, session_id, new)
        elif keeper == KeeperState.EXPIRED_SESSION:
            event = SessionEvent(SessionState.EXPIRED, self._last_session_id)
        elif keeper == KeeperState.AUTH_FAILED:
            event = SessionEvent(SessionState.AUTH_FAILED, self._last_session_id)
        elif keeper == KeeperState.CLOSED or _state == KazooState.LOST:
            event = SessionEvent(SessionState.CLOSED, self._last_session_id)
        else:
            event = SessionEvent(SessionState.SUSPENDED, self._last_session_id)
        self._post(self._deliver_session_event, event)

    def _deliver_session_event(self, event: SessionEvent) -> None:
        self._state = event.state
        if event.state is SessionState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        log.info(
            "ZooKeeper session %s: %s%s",
            _hex(event.session_id),
            event.state.value,
            " (new session)" if event.new_session else "",
        )
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("ZooKeeper session listener failed")

    # -- thread hand-off ---------------------------------------------------------------------
    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(fn, *args)

    def _watcher(self, callback: WatchCallback | None) -> Callable[[Any], None] | None:
        if callback is None:
            return None

        def on_kazoo_event(event: Any) -> None:
            kind = WatchEventType.SESSION if event.type == "NONE" else WatchEventType(event.type)
            self._post(_safe_call, callback, WatchEvent(kind, event.path))

        return on_kazoo_event

    def _client(self) -> Any:
        self._check_open()
        return self._kazoo

    def _check_open(self) -> None:
        if self._kazoo is None:
            raise errors.ClientClosedError("ZooKeeper client is not started or was closed")

    def _submit(self, start: Callable[[], Any], path: str | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any) -> None:
            if fut.done():
                return  # timed out or cancelled meanwhile
            exc = result.exception
            if exc is None:
                fut.set_result(result.value)
            else:
                fut.set_exception(_translate(exc, path))

        def on_complete(result: Any) -> None:
            self._post(settle, result)

        try:
            async_result = start()
        except (kz.KazooException, kz.ZookeeperError) as exc:
            raise _translate(exc, path) from exc
        async_result.rawlink(on_complete)
        return fut

    async def _request(
        self,
        start: Callable[[], Any],
        path: str | None,
        *,
        read: bool,
        timeout_ms: int | None,
    ) -> Any:
        """Send, retry on connection loss (reads also on expiry) until the deadline."""
        loop = asyncio.get_running_loop()
        budget = (timeout_ms if timeout_ms is not None else self.request_timeout_ms) / 1000.0
        deadline = loop.time() + budget
        while True:
            self._check_open()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise errors.RequestTimeoutError(path=path)
            fut = self._submit(start, path)
            try:
                return await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise errors.RequestTimeoutError(path=path) from None
            except errors.ConnectionLossError:
                pass
            except errors.SessionExpiredError:
                if not read:
                    raise
            # Wait for the session to come back, then send again.
            remaining = deadline - loop.time()
            try:
                await asyncio.wait_for(self._connected.wait(), max(remaining, 0))
            except TimeoutError:
                raise errors.RequestTimeoutError(path=path) from None

    # -- reads --------------------------------------------------------------------------------
    async def get(
        self, path: str, *, watch: WatchCallback | None = None, timeout_ms: int | None = None
    ) -> tuple[bytes | None, ZnodeStat]:
        """Data (None for a znode created with null data) and stat; NoNodeError if absent
        (and then no watch is set, as in ZooKeeper: use :meth:`exists` to watch creation)."""
        client = self._client()
        w = self._watcher(watch)
        data, stat = await self._request(
            lambda: client.get_async(path, w), path, read=True, timeout_ms=timeout_ms
        )
        return data, ZnodeStat.from_kazoo(stat)

    async def exists(
        self, path: str, *, watch: WatchCallback | None = None, timeout_ms: int | None = None
    ) -> ZnodeStat | None:
        """The stat, or None; the watch (if any) is set either way."""
        client = self._client()
        w = self._watcher(watch)
        stat = await self._request(
            lambda: client.exists_async(path, w), path, read=True, timeout_ms=timeout_ms
        )
        return ZnodeStat.from_kazoo(stat) if stat is not None else None

    async def get_children(
        self, path: str, *, watch: WatchCallback | None = None, timeout_ms: int | None = None
    ) -> list[str]:
        client = self._client()
        w = self._watcher(watch)
        children = await self._request(
            lambda: client.get_children_async(path, w), path, read=True, timeout_ms=timeout_ms
        )
        return list(children)

    async def sync(self, path: str = "/", *, timeout_ms: int | None = None) -> None:
        """Make the server this session talks to catch up with the leader, so the next read
        sees every write committed before (ZooKeeper reads can lag on a follower)."""
        client = self._client()
        await self._request(lambda: client.sync_async(path), path, read=True, timeout_ms=timeout_ms)

    async def czxid(self, path: str, *, timeout_ms: int | None = None) -> int:
        """The zxid that created ``path`` (Kafka's broker epoch for ``/brokers/ids/<id>``)."""
        stat = await self.exists(path, timeout_ms=timeout_ms)
        if stat is None:
            raise errors.NoNodeError(path=path)
        return stat.czxid

    # -- writes -------------------------------------------------------------------------------
    async def create(
        self,
        path: str,
        data: bytes | None = None,
        *,
        ephemeral: bool = False,
        sequential: bool = False,
        makepath: bool = False,
        timeout_ms: int | None = None,
    ) -> tuple[str, ZnodeStat]:
        """Create ``path``; returns the created path (with the sequence suffix) and its stat.

        ``data=None`` stores null, as Kafka does for its container znodes. ``makepath``
        creates missing parents as persistent znodes with null data (Kafka's
        ``createRecursive``).
        """
        client = self._client()

        async def attempt() -> tuple[str, ZnodeStat]:
            created, stat = await self._request(
                lambda: client.create_async(
                    path, data, ephemeral=ephemeral, sequence=sequential, include_data=True
                ),
                path,
                read=False,
                timeout_ms=timeout_ms,
            )
            return str(created), ZnodeStat.from_kazoo(stat)

        try:
            return await attempt()
        except errors.NoNodeError:
            parent = path.rsplit("/", 1)[0]
            if not makepath or not parent:
                raise
        await self.ensure_path(parent, timeout_ms=timeout_ms)
        return await attempt()

    async def ensure_path(self, path: str, *, timeout_ms: int | None = None) -> None:
        """Create ``path`` and missing parents (persistent, null data) unless it exists."""
        if path in ("", "/") or await self.exists(path, timeout_ms=timeout_ms) is not None:
            return
        with contextlib.suppress(errors.NodeExistsError):
            await self.create(path, None, makepath=True, timeout_ms=timeout_ms)

    async def set(
        self,
        path: str,
        data: bytes,
        *,
        version: int = ANY_VERSION,
        timeout_ms: int | None = None,
    ) -> ZnodeStat:
        """Set data if the znode's version is ``version`` (-1: any); BadVersionError if not."""
        client = self._client()
        stat = await self._request(
            lambda: client.set_async(path, data, version), path, read=False, timeout_ms=timeout_ms
        )
        return ZnodeStat.from_kazoo(stat)

    async def delete(
        self,
        path: str,
        *,
        version: int = ANY_VERSION,
        recursive: bool = False,
        timeout_ms: int | None = None,
    ) -> None:
        """Delete ``path`` (if at ``version``); ``recursive`` deletes its subtree first."""
        client = self._client()
        if recursive:
            try:
                children = await self.get_children(path, timeout_ms=timeout_ms)
            except errors.NoNodeError:
                return
            for child in children:
                with contextlib.suppress(errors.NoNodeError):
                    await self.delete(f"{path.rstrip('/')}/{child}", recursive=True)
        await self._request(
            lambda: client.delete_async(path, version), path, read=False, timeout_ms=timeout_ms
        )

    async def multi(self, ops: Sequence[Op], *, timeout_ms: int | None = None) -> list[OpResult]:
        """Run ``ops`` atomically (ZooKeeper's multi). All apply, or none and
        :class:`TransactionFailedError` names the op that failed (``index``, ``cause``)."""
        client = self._client()
        if not ops:
            return []

        def start() -> Any:
            txn = client.transaction()
            for op in ops:
                if isinstance(op, CheckOp):
                    txn.check(op.path, op.version)
                elif isinstance(op, CreateOp):
                    txn.create(op.path, op.data, ephemeral=op.ephemeral, sequence=op.sequential)
                elif isinstance(op, SetDataOp):
                    txn.set_data(op.path, op.data, op.version)
                elif isinstance(op, DeleteOp):
                    txn.delete(op.path, op.version)
                else:
                    raise TypeError(f"not a ZooKeeper op: {op!r}")
            return txn.commit_async()

        raw = await self._request(start, None, read=False, timeout_ms=timeout_ms)
        failure = _multi_failure(ops, raw)
        if failure is not None:
            raise failure
        return [self._op_result(op, value) for op, value in zip(ops, raw, strict=True)]

    def _op_result(self, op: Op, value: Any) -> OpResult:
        if isinstance(op, CreateOp):
            return OpResult(op, path=self._unchroot(str(value)))
        if isinstance(op, SetDataOp):
            return OpResult(op, path=op.path, stat=ZnodeStat.from_kazoo(value))
        return OpResult(op, path=op.path)

    def _unchroot(self, path: str) -> str:
        chroot = self.connect.chroot
        if chroot and path.startswith(chroot):
            return path[len(chroot) :] or "/"
        return path

    # -- watchers that re-arm themselves -------------------------------------------------------
    def watch_data(
        self, path: str, callback: Callable[[bytes | None, ZnodeStat | None], None]
    ) -> DataWatcher:
        """Call ``callback(data, stat)`` now and after every change of ``path`` (stat None:
        absent), across reconnections and new sessions, until ``cancel()``."""
        from cluster.zk.watchers import DataWatcher

        self._check_open()
        watcher = DataWatcher(self, path, callback)
        self._watchers.add(watcher)
        watcher.start()
        return watcher

    def watch_children(
        self, path: str, callback: Callable[[list[str] | None], None]
    ) -> ChildrenWatcher:
        """Call ``callback(children)`` now and after every change of ``path``'s children
        (None while ``path`` does not exist), until ``cancel()``."""
        from cluster.zk.watchers import ChildrenWatcher

        self._check_open()
        watcher = ChildrenWatcher(self, path, callback)
        self._watchers.add(watcher)
        watcher.start()
        return watcher

    def _discard_watcher(self, watcher: _Cancellable) -> None:
        self._watchers.discard(watcher)


def _multi_failure(ops: Sequence[Op], raw: Sequence[Any]) -> errors.TransactionFailedError | None:
    failed: list[tuple[int, BaseException]] = [
        (i, r) for i, r in enumerate(raw) if isinstance(r, BaseException)
    ]
    if not failed:
        return None
    rolled = (kz.RolledBackError, kz.RuntimeInconsistency)
    index, exc = next(((i, e) for i, e in failed if not isinstance(e, rolled)), failed[0])
    cause = _translate(exc, ops[index].path)
    if not isinstance(cause, errors.ZooKeeperError):
        cause = errors.ZooKeeperError(str(cause), ops[index].path)
    return errors.TransactionFailedError(index, ops[index], cause)


def _safe_call(callback: Callable[[T], None], arg: T) -> None:
    try:
        callback(arg)
    except Exception:
        log.exception("ZooKeeper watch callback failed")


def _quietly_close(client: Any) -> None:
    try:
        client.stop()
    except Exception:  # kazoo may complain that its writer thread did not stop in time
        log.debug("stopping kazoo", exc_info=True)
    finally:
        client.close()


def _hex(session_id: int | None) -> str:
    return "none" if session_id is None else f"0x{session_id:x}"


__all__ = [
    "ANY_VERSION",
    "SessionEvent",
    "SessionListener",
    "SessionState",
    "WatchCallback",
    "WatchEvent",
    "WatchEventType",
    "ZkClient",
]
