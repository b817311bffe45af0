"""The ZooKeeper steps every broker (and the controller) takes, done the way Kafka 3.9 does.

* :func:`create_top_level_paths` - the persistent paths a broker creates at start-up.
* :func:`get_or_create_cluster_id` - ``/cluster/id``, created once with create-if-absent.
* :func:`generate_broker_id` - ``broker.id`` from the version of a write to ``/brokers/seqid``.
* :class:`BrokerRegistrar` - the ephemeral ``/brokers/ids/<id>`` (czxid = broker epoch),
  NODEEXISTS handled like Kafka's ``CheckedEphemeral``, re-created on a new session.
* :func:`allocate_producer_id_block` - the next block on ``/latest_producer_id_block`` (CAS).
* :func:`register_controller_and_increment_epoch` / :func:`fenced_multi` - controller
  election through ``/controller`` and fencing with ``/controller_epoch``'s version.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence

from cluster.zk import paths
from cluster.zk.client import SessionEvent, SessionState, ZkClient
from cluster.zk.errors import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    TransactionFailedError,
    ZooKeeperError,
)
from cluster.zk.ops import CheckOp, CreateOp, Op, OpResult, SetDataOp
from cluster.zk.znodes import (
    INITIAL_CONTROLLER_EPOCH,
    PRODUCER_ID_BLOCK_SIZE,
    BrokerInfo,
    ControllerRegistration,
    ProducerIdsBlock,
    decode_cluster_id,
    decode_controller_epoch,
    encode_cluster_id,
    encode_controller_epoch,
)

log = logging.getLogger(__name__)

LONG_MAX = 2**63 - 1


class BrokerIdAlreadyRegisteredError(NodeExistsError):
    """``/brokers/ids/<id>`` belongs to another live session: another broker has this id."""

    def __init__(self, broker_id: int, owner_session: int) -> None:
        self.broker_id = broker_id
        self.owner_session = owner_session
        super().__init__(
            f"broker id {broker_id} already registered by ZooKeeper session "
            f"0x{owner_session:x}: is another broker running with broker.id={broker_id}?",
            paths.broker(broker_id),
        )


class ControllerMovedError(Exception):
    """Kafka's ControllerMovedException: another broker is (or became) the controller, or
    this controller's epoch was superseded; stop acting as controller."""


class ProducerIdsExhaustedError(Exception):
    """No producer id block is left below 2^63 (Kafka treats this as fatal)."""


def new_cluster_id() -> str:
    """Kafka's ``Uuid.randomUuid().toString``: URL-safe base64 of a random UUID, no padding,
    never starting with '-' (so it cannot be mistaken for an option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


async def create_top_level_paths(zk: ZkClient) -> None:
    """Kafka's ``createTopLevelPaths``: each persistent path, null data, if missing."""
    for path in paths.PERSISTENT_PATHS:
        await zk.ensure_path(path)


async def get_cluster_id(zk: ZkClient) -> str | None:
    try:
        data, _ = await zk.get(paths.CLUSTER_ID)
    except NoNodeError:
        return None
    return decode_cluster_id(data)


async def get_or_create_cluster_id(
    zk: ZkClient, propose: Callable[[], str] = new_cluster_id
) -> str:
    """The cluster id in ``/cluster/id``; the first broker creates it. Two brokers racing
    both propose an id; create-if-absent makes one win and the other read the winner's."""
    existing = await get_cluster_id(zk)
    if existing is not None:
        return existing
    proposed = propose()
    try:
        await zk.create(paths.CLUSTER_ID, encode_cluster_id(proposed), makepath=True)
        log.info("created cluster id %s in %s", proposed, paths.CLUSTER_ID)
        return proposed
    except NodeExistsError:
        winner = await get_cluster_id(zk)
        if winner is None:
            raise ZooKeeperError(
                f"{paths.CLUSTER_ID} existed and then vanished while reading the cluster id"
            ) from None
        return winner


async def generate_broker_id(zk: ZkClient, reserved_broker_max_id: int) -> int:
    """Kafka's generated ``broker.id``: the new version of ``/brokers/seqid`` after an
    unconditional write (1, 2, ...), plus ``reserved.broker.max.id`` so that it never
    collides with a configured id."""
    while True:
        try:
            stat = await zk.set(paths.BROKER_SEQUENCE_ID, b"")
            return stat.version + reserved_broker_max_id
        except NoNodeError:
            with contextlib.suppress(NodeExistsError):
                await zk.create(paths.BROKER_SEQUENCE_ID, b"", makepath=True)


class BrokerRegistrar:
    """Keeps this broker registered in ``/brokers/ids/<id>``.

    :meth:`register` creates the ephemeral znode Kafka's way (a multi of create + set, so
    its data version is 1) and returns the broker epoch (its czxid). If the znode exists:
    owned by the current session (a retried create after a connection loss) it is kept;
    owned by the session this registrar registered with before (a new session after expiry,
    ZOOKEEPER-2985) it is deleted and created again; owned by anyone else it is
    :class:`BrokerIdAlreadyRegisteredError`.
    """

    def __init__(self, zk: ZkClient, info: BrokerInfo) -> None:
        self.zk = zk
        self.info = info
        self.path = paths.broker(info.broker_id)
        self.broker_epoch: int | None = None
        self._registered_session: int | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def register(self) -> int:
        stat_czxid = await self._create()
        self.broker_epoch = stat_czxid
        self._registered_session = self.zk.session_id
        log.info(
            "registered broker %d at %s, broker epoch (czxid) %d",
            self.info.broker_id,
            self.path,
            stat_czxid,
        )
        return stat_czxid

    async def _create(self) -> int:
        data = self.info.encode()
        try:
            results = await self.zk.multi(
                [CreateOp(self.path, b"", ephemeral=True), SetDataOp(self.path, data, 0)]
            )
        except TransactionFailedError as exc:
            if isinstance(exc.cause, NodeExistsError):
                return await self._after_node_exists()
            if isinstance(exc.cause, NoNodeError) and exc.index == 0:
                # /brokers/ids is missing (Kafka creates it at start-up): create, retry.
                await self.zk.ensure_path(paths.BROKER_IDS)
                return await self._create()
            raise exc.cause from exc
        stat = results[1].stat
        assert stat is not None
        return stat.czxid

    async def _after_node_exists(self) -> int:
        try:
            _, stat = await self.zk.get(self.path)
        except NoNodeError:
            return await self._create()  # it went away meanwhile: try again
        owner = stat.ephemeral_owner
        current = self.zk.session_id
        if owner == current:
            return stat.czxid
        if owner == self._registered_session:
            log.info(
                "%s still owned by our expired session 0x%x; re-creating it", self.path, owner
            )
            with contextlib.suppress(NoNodeError):
                await self.zk.delete(self.path)
            return await self._create()
        raise BrokerIdAlreadyRegisteredError(self.info.broker_id, owner)

    def keep_registered(self, on_registered: Callable[[int], None] | None = None) -> None:
        """Re-register whenever a new session is established (after an expiry); call
        ``on_registered(broker_epoch)`` each time. Stops with :meth:`close`."""
        if self._unsubscribe is not None:
            return

        def on_session(event: SessionEvent) -> None:
            busy = self._task is not None and not self._task.done()
            if event.state is SessionState.CONNECTED and event.new_session and not busy:
                self._task = asyncio.get_running_loop().create_task(
                    self._reregister(on_registered)
                )

        self._unsubscribe = self.zk.add_session_listener(on_session)

    async def _reregister(self, on_registered: Callable[[int], None] | None) -> None:
        while True:
            try:
                epoch = await self.register()
            except BrokerIdAlreadyRegisteredError:
                log.error("cannot re-register: %s", self.path, exc_info=True)
                raise
            except (ZooKeeperError, TimeoutError):
                log.warning("re-registering %s failed; retrying", self.path, exc_info=True)
                await asyncio.sleep(0.2)
                continue
            if on_registered is not None:
                on_registered(epoch)
            return

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()


async def allocate_producer_id_block(
    zk: ZkClient, broker_id: int, block_size: int = PRODUCER_ID_BLOCK_SIZE
) -> ProducerIdsBlock:
    """Kafka's ``ZkProducerIdManager.getNewProducerIdBlock``: read the last block and its
    version, write the next one with a compare-and-set, retry on a lost race. Blocks never
    overlap; a write lost to a connection loss at worst skips a block."""
    while True:
        try:
            data, stat = await zk.get(paths.LATEST_PRODUCER_ID_BLOCK)
            version: int | None = stat.version
        except NoNodeError:
            data, version = None, None
        if data:
            current = ProducerIdsBlock.decode(data)
            if current.last_producer_id > LONG_MAX - block_size:
                raise ProducerIdsExhaustedError(
                    f"producer ids exhausted (last block ends at {current.last_producer_id})"
                )
            block = ProducerIdsBlock(broker_id, current.next_block_first_id(), block_size)
        else:
            block = ProducerIdsBlock(broker_id, 0, block_size)
        try:
            if version is None:
                await zk.create(paths.LATEST_PRODUCER_ID_BLOCK, block.encode(), makepath=True)
            else:
                await zk.set(paths.LATEST_PRODUCER_ID_BLOCK, block.encode(), version=version)
        except (BadVersionError, NodeExistsError):
            continue
        log.debug("allocated producer id block %s", block)
        return block


async def read_controller_epoch(zk: ZkClient) -> tuple[int, int] | None:
    """(epoch, znode version) of ``/controller_epoch``, or None before any election."""
    try:
        data, stat = await zk.get(paths.CONTROLLER_EPOCH)
    except NoNodeError:
        return None
    return decode_controller_epoch(data), stat.version


async def read_controller_id(zk: ZkClient) -> int | None:
    try:
        data, _ = await zk.get(paths.CONTROLLER)
    except NoNodeError:
        return None
    return ControllerRegistration.decode(data).broker_id


async def register_controller_and_increment_epoch(
    zk: ZkClient, broker_id: int, timestamp_ms: int | None = None
) -> tuple[int, int]:
    """Try to become the controller: one multi creates the ephemeral ``/controller`` and
    bumps ``/controller_epoch`` with a check on its version. Returns (new epoch, epoch znode
    version: the fencing token for :func:`fenced_multi`); ControllerMovedError if another
    broker won."""
    current = await read_controller_epoch(zk)
    if current is None:
        try:
            initial = encode_controller_epoch(INITIAL_CONTROLLER_EPOCH)
            await zk.create(paths.CONTROLLER_EPOCH, initial)
            current = (INITIAL_CONTROLLER_EPOCH, 0)
        except NodeExistsError:
            current = await read_controller_epoch(zk)
            if current is None:
                raise ControllerMovedError(f"{paths.CONTROLLER_EPOCH} vanished") from None
    epoch, epoch_version = current
    new_epoch = epoch + 1
    registration = ControllerRegistration(broker_id, timestamp_ms).encode()
    bump = encode_controller_epoch(new_epoch)
    try:
        results = await zk.multi(
            [
                CreateOp(paths.CONTROLLER, registration, ephemeral=True),
                SetDataOp(paths.CONTROLLER_EPOCH, bump, epoch_version),
            ]
        )
    except TransactionFailedError as exc:
        if not isinstance(exc.cause, NodeExistsError | BadVersionError):
            raise exc.cause from exc
        # Maybe our own earlier attempt applied (a retry after a connection loss).
        if await read_controller_id(zk) == broker_id:
            now = await read_controller_epoch(zk)
            if now is not None and now[0] == new_epoch:
                return now
        raise ControllerMovedError(
            f"broker {broker_id} lost the controller election (epoch {new_epoch})"
        ) from exc
    stat = results[1].stat
    assert stat is not None
    return new_epoch, stat.version


async def fenced_multi(
    zk: ZkClient, controller_epoch_zk_version: int, ops: Sequence[Op]
) -> list[OpResult]:
    """Run ``ops`` only if ``/controller_epoch`` is still at the version this controller set
    (Kafka wraps every controller write this way). ControllerMovedError if it is not;
    TransactionFailedError (``index`` into ``ops``) if one of ``ops`` failed."""
    try:
        check = CheckOp(paths.CONTROLLER_EPOCH, controller_epoch_zk_version)
        results = await zk.multi([check, *ops])
    except TransactionFailedError as exc:
        if exc.index == 0:
            raise ControllerMovedError(
                f"controller epoch znode moved past version {controller_epoch_zk_version}"
            ) from exc
        raise TransactionFailedError(exc.index - 1, exc.op, exc.cause) from exc
    return results[1:]
