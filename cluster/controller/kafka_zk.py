"""The controller's ZooKeeper operations over :class:`cluster.zk.client.ZkClient`.

:class:`KafkaZkControllerClient` implements :class:`~cluster.controller.zk_client.
ControllerZkClient` the way Kafka's ``KafkaZkClient`` does it: Kafka's paths and JSON (the
codecs of :mod:`cluster.zk`), every controller write in a multi-op that first checks
``/controller_epoch``'s version (:func:`cluster.zk.registration.fenced_multi`), reads and
writes of many znodes issued concurrently, and a deadline on every request (the ZkClient's
request timeout). Watches (:mod:`cluster.controller.zk_watch`) pass on every ZooKeeper event,
as Kafka's handlers do, and are re-armed across reconnections and sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from cluster.controller.model import (
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.zk_client import (
    ControllerMovedError,
    TopicIdReplicaAssignment,
    UpdateLeaderAndIsrResult,
)
from cluster.controller.zk_watch import Mode, ZNodeWatch
from cluster.metadata import BrokerRegistration
from cluster.zk import paths
from cluster.zk import topic_znodes as tz
from cluster.zk.client import SessionEvent, SessionState, ZkClient
from cluster.zk.config_znodes import ConfigEntity, LogDirEventNotification
from cluster.zk.errors import (
    BadVersionError,
    ConnectionLossError,
    NodeExistsError,
    NoNodeError,
    RequestTimeoutError,
    TransactionFailedError,
)
from cluster.zk.ops import CreateOp, DeleteOp, Op, OpResult, SetDataOp
from cluster.zk.registration import (
    allocate_producer_id_block,
    fenced_multi,
    read_controller_id,
    register_controller_and_increment_epoch,
)
from cluster.zk.znodes import BrokerInfo, FeatureZNode, FeatureZNodeStatus
from storage.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")
ANY_VERSION = -1
RETRY_BACKOFF_S = 0.5
# Writes per multi: far below jute.maxbuffer (1 MB) with ~100-byte partition states.
MULTI_BATCH = 500


class _Handle:
    """Cancels a watcher or a session listener."""

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def cancel(self) -> None:
        self._cancel()


class KafkaZkControllerClient:
    """See the module docstring."""

    def __init__(self, zk: ZkClient, clock: Clock) -> None:
        self.zk = zk
        self.clock = clock

    # -- retries ---------------------------------------------------------------------------------
    async def _retry(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a request again after a timeout or a lost connection while the session lives
        (Kafka's retryRequestsUntilConnected: the controller never drops a step half done).
        Each attempt keeps the ZkClient's deadline; an expired or closed session ends it."""
        attempt = 0
        while True:
            try:
                return await fn(*args)
            except (RequestTimeoutError, ConnectionLossError) as exc:
                if self.zk.state in (SessionState.EXPIRED, SessionState.CLOSED):
                    raise
                attempt += 1
                log.warning("ZooKeeper request failed (attempt %d), retrying: %s", attempt, exc)
                await asyncio.sleep(RETRY_BACKOFF_S)

    # -- fenced writes ---------------------------------------------------------------------------
    async def _write(self, epoch_zk_version: int, op: Op) -> OpResult:
        """One controller write: fenced unless ``epoch_zk_version`` is -1. The op's own
        failure is raised as its cause (NoNodeError, BadVersionError, NodeExistsError)."""
        if epoch_zk_version < 0:
            return (await self._retry(self.zk.multi, [op]))[0]
        try:
            return (await self._retry(fenced_multi, self.zk, epoch_zk_version, [op]))[0]
        except TransactionFailedError as exc:
            raise exc.cause from exc

    async def _write_all(self, epoch_zk_version: int, ops: Sequence[Op]) -> list[OpResult] | None:
        """Many controller writes in one fenced multi (one ZooKeeper round trip instead of
        one each); None if one of them failed, so that the caller writes them one by one
        and learns each one's outcome, as Kafka's one-multi-per-znode writes would."""
        if not ops:
            return []
        try:
            return await self._retry(fenced_multi, self.zk, epoch_zk_version, ops)
        except TransactionFailedError:
            return None

    async def _delete_if_exists(self, path: str, epoch_zk_version: int) -> None:
        with contextlib.suppress(NoNodeError):
            await self._write(epoch_zk_version, DeleteOp(path))

    async def _create_container(self, path: str) -> None:
        """A container znode with null data, as Kafka creates them. Not fenced: a multi
        cannot create null data, and a container is harmless (without makepath it cannot
        bring back a deleted topic); the state znodes under it are fenced."""
        with contextlib.suppress(NodeExistsError, NoNodeError):
            await self._retry(self.zk.create, path, None)

    async def _get_or_none(self, path: str) -> tuple[bytes | None, Any] | None:
        try:
            return await self._retry(self.zk.get, path)
        except NoNodeError:
            return None

    async def _children(self, path: str) -> list[str]:
        try:
            return await self._retry(self.zk.get_children, path)
        except NoNodeError:
            return []

    # -- election --------------------------------------------------------------------------------
    async def get_controller_id(self) -> int | None:
        return await self._retry(read_controller_id, self.zk)

    async def register_controller_and_increment_epoch(self, controller_id: int) -> tuple[int, int]:
        return await self._retry(
            register_controller_and_increment_epoch,
            self.zk,
            controller_id,
            self.clock.milliseconds(),
        )

    async def delete_controller(self, epoch_zk_version: int) -> None:
        await self._delete_if_exists(paths.CONTROLLER, epoch_zk_version)

    async def ensure_feature_znode(self) -> None:
        found = await self._get_or_none(paths.FEATURE)
        if found is None:
            try:
                await self._retry(self.zk.create, paths.FEATURE, FeatureZNode().encode())
                log.info("Created %s (feature versioning enabled)", paths.FEATURE)
            except NodeExistsError:
                pass
            return
        data, _stat = found
        existing = FeatureZNode.decode(data)
        features = existing.features if existing.status is FeatureZNodeStatus.ENABLED else {}
        wanted = FeatureZNode(FeatureZNodeStatus.ENABLED, features)
        if wanted != existing:
            await self._retry(self.zk.set, paths.FEATURE, wanted.encode())

    async def allocate_producer_id_block(self, broker_id: int) -> tuple[int, int]:
        block = await self._retry(allocate_producer_id_block, self.zk, broker_id)
        return block.first_producer_id, block.size

    # -- brokers ---------------------------------------------------------------------------------
    async def _broker_and_epoch(self, broker_id: int) -> tuple[BrokerRegistration, int] | None:
        found = await self._get_or_none(paths.broker(broker_id))
        if found is None:
            return None
        data, stat = found
        return BrokerInfo.decode(broker_id, data).to_registration(), stat.czxid

    async def get_all_broker_and_epochs(self) -> dict[BrokerRegistration, int]:
        ids = sorted(int(c) for c in await self._children(paths.BROKER_IDS) if c.isdigit())
        found = await _gather(self._broker_and_epoch(b) for b in ids)
        return {reg: epoch for reg, epoch in (f for f in found if f is not None)}

    async def get_broker(self, broker_id: int) -> BrokerRegistration | None:
        found = await self._broker_and_epoch(broker_id)
        return None if found is None else found[0]

    # -- topics ----------------------------------------------------------------------------------
    async def get_all_topics(self) -> set[str]:
        return set(await self._children(paths.BROKER_TOPICS))

    async def _topic(self, topic: str) -> TopicIdReplicaAssignment | None:
        found = await self._get_or_none(paths.topic(topic))
        if found is None:
            return None
        decoded = tz.TopicAssignment.decode(topic, found[0])
        return TopicIdReplicaAssignment(
            topic,
            decoded.topic_id,
            {
                p: ReplicaAssignment(a.replicas, a.adding_replicas, a.removing_replicas)
                for p, a in decoded.partitions.items()
            },
        )

    async def get_replica_assignment_and_topic_ids(
        self, topics: Collection[str]
    ) -> list[TopicIdReplicaAssignment]:
        found = await _gather(self._topic(t) for t in topics)
        return [f for f in found if f is not None]

    @staticmethod
    def _encode_topic(
        topic: str, topic_id: uuid.UUID | None, assignment: Mapping[int, ReplicaAssignment]
    ) -> bytes:
        return tz.TopicAssignment(
            topic,
            topic_id,
            {
                p: tz.ReplicaAssignment(a.replicas, a.adding_replicas, a.removing_replicas)
                for p, a in assignment.items()
            },
        ).encode()

    async def set_topic_ids(
        self, assignments: Iterable[TopicIdReplicaAssignment], epoch_zk_version: int
    ) -> list[TopicIdReplicaAssignment]:
        updated = [
            TopicIdReplicaAssignment(a.topic, uuid.uuid4(), a.assignment) for a in assignments
        ]
        await _gather(
            self._write(
                epoch_zk_version,
                SetDataOp(
                    paths.topic(a.topic), self._encode_topic(a.topic, a.topic_id, a.assignment)
                ),
            )
            for a in updated
        )
        return updated

    async def set_topic_assignment(
        self,
        topic: str,
        topic_id: uuid.UUID | None,
        assignment: Mapping[int, ReplicaAssignment],
        epoch_zk_version: int,
    ) -> None:
        data = self._encode_topic(topic, topic_id, assignment)
        try:
            await self._write(epoch_zk_version, SetDataOp(paths.topic(topic), data))
        except NoNodeError:
            raise LookupError(f"topic {topic} has no assignment znode") from None

    async def get_topic_partitions(self, topic: str) -> list[int]:
        children = await self._children(paths.topic_partitions(topic))
        return sorted(int(c) for c in children if c.isdigit())

    async def get_topic_configs(self, topics: Collection[str]) -> dict[str, dict[str, str]]:
        ordered = list(topics)
        found = await _gather(self._get_or_none(paths.topic_config(t)) for t in ordered)
        return {
            t: dict(ConfigEntity.decode(f[0]).config) if f is not None else {}
            for t, f in zip(ordered, found, strict=True)
        }

    # -- partition states ------------------------------------------------------------------------
    async def get_topic_partition_states(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, LeaderIsrAndControllerEpoch]:
        ordered = [TopicPartition(*tp) for tp in partitions]
        found = await _gather(
            self._get_or_none(paths.partition_state(tp.topic, tp.partition)) for tp in ordered
        )
        out: dict[TopicPartition, LeaderIsrAndControllerEpoch] = {}
        for tp, f in zip(ordered, found, strict=True):
            if f is None or f[0] is None:
                continue
            state = tz.LeaderIsrAndControllerEpoch.decode(f[0], f"partition state {tp}")
            out[tp] = LeaderIsrAndControllerEpoch(
                LeaderAndIsr(
                    state.leader,
                    state.leader_epoch,
                    state.isr,
                    int(state.leader_recovery_state),
                    f[1].version,
                ),
                state.controller_epoch,
            )
        return out

    async def create_topic_partition_states(
        self,
        states: Mapping[TopicPartition, LeaderIsrAndControllerEpoch],
        epoch_zk_version: int,
    ) -> dict[TopicPartition, Exception | None]:
        topics = sorted({tp.topic for tp in states})
        # Containers first (null data, as Kafka), then the state znodes.
        await _gather(self._create_container(paths.topic_partitions(t)) for t in topics)
        await _gather(
            self._create_container(paths.topic_partition(tp.topic, tp.partition)) for tp in states
        )

        async def create(tp: TopicPartition, info: LeaderIsrAndControllerEpoch) -> Exception | None:
            try:
                await self._write(
                    epoch_zk_version,
                    CreateOp(paths.partition_state(tp.topic, tp.partition), _encode_state(info)),
                )
            except ControllerMovedError:
                raise
            except Exception as exc:
                return exc
            return None

        ordered = list(states.items())
        ops = [
            CreateOp(paths.partition_state(tp.topic, tp.partition), _encode_state(info))
            for tp, info in ordered
        ]
        out: dict[TopicPartition, Exception | None] = {}
        for start, chunk in _chunks(ordered):
            if await self._write_all(epoch_zk_version, ops[start : start + len(chunk)]):
                out.update((tp, None) for tp, _ in chunk)
                continue
            # One of them failed (it exists already): one write each, for each one's outcome.
            results = await _gather(create(tp, info) for tp, info in chunk)
            out.update((tp, r) for (tp, _), r in zip(chunk, results, strict=True))
        return out

    async def update_leader_and_isr(
        self,
        leader_and_isrs: Mapping[TopicPartition, LeaderAndIsr],
        controller_epoch: int,
        epoch_zk_version: int,
    ) -> UpdateLeaderAndIsrResult:
        async def update(tp: TopicPartition, lai: LeaderAndIsr) -> LeaderAndIsr | Exception | None:
            data = _encode_state(LeaderIsrAndControllerEpoch(lai, controller_epoch))
            try:
                result = await self._write(
                    epoch_zk_version,
                    SetDataOp(
                        paths.partition_state(tp.topic, tp.partition), data, lai.partition_epoch
                    ),
                )
            except ControllerMovedError:
                raise
            except BadVersionError:
                return None  # lost the compare-and-set: re-read and retry
            except Exception as exc:
                return exc
            assert result.stat is not None
            return lai.with_partition_epoch(result.stat.version)

        ordered = list(leader_and_isrs.items())
        finished: dict[TopicPartition, LeaderAndIsr | Exception] = {}
        retry = []
        for _start, chunk in _chunks(ordered):
            ops = [
                SetDataOp(
                    paths.partition_state(tp.topic, tp.partition),
                    _encode_state(LeaderIsrAndControllerEpoch(lai, controller_epoch)),
                    lai.partition_epoch,
                )
                for tp, lai in chunk
            ]
            written = await self._write_all(epoch_zk_version, ops)
            if written is not None:
                for (tp, lai), result in zip(chunk, written, strict=True):
                    assert result.stat is not None
                    finished[tp] = lai.with_partition_epoch(result.stat.version)
                continue
            # Someone else wrote one of them first: one write each, for each one's outcome.
            results = await _gather(update(tp, lai) for tp, lai in chunk)
            for (tp, _), r in zip(chunk, results, strict=True):
                if r is None:
                    retry.append(tp)
                else:
                    finished[tp] = r
        return UpdateLeaderAndIsrResult(finished, tuple(retry))

    # -- topic deletion --------------------------------------------------------------------------
    async def get_topic_deletions(self) -> set[str]:
        return set(await self._children(paths.DELETE_TOPICS))

    async def delete_topic_deletions(self, topics: Iterable[str], epoch_zk_version: int) -> None:
        await _gather(
            self._delete_if_exists(paths.delete_topic_marker(t), epoch_zk_version) for t in topics
        )

    async def delete_topic_znode(self, topic: str, epoch_zk_version: int) -> None:
        await self._delete_recursive(paths.topic(topic), epoch_zk_version)

    async def _delete_recursive(self, path: str, epoch_zk_version: int) -> None:
        children = await self._children(path)
        await _gather(self._delete_recursive(f"{path}/{c}", epoch_zk_version) for c in children)
        await self._delete_if_exists(path, epoch_zk_version)

    async def delete_topic_configs(self, topics: Iterable[str], epoch_zk_version: int) -> None:
        await _gather(
            self._delete_if_exists(paths.topic_config(t), epoch_zk_version) for t in topics
        )

    # -- /admin requests -------------------------------------------------------------------------
    async def get_partition_reassignment(self) -> dict[TopicPartition, list[int]]:
        found = await self._get_or_none(paths.REASSIGN_PARTITIONS)
        if found is None:
            return {}
        decoded = tz.decode_reassign_partitions(found[0])
        return {TopicPartition(*tp): r for tp, r in decoded.items()}

    async def set_or_create_partition_reassignment(
        self, reassignment: Mapping[TopicPartition, list[int]], epoch_zk_version: int
    ) -> None:
        data = tz.encode_reassign_partitions({(t, p): r for (t, p), r in reassignment.items()})
        try:
            await self._write(epoch_zk_version, SetDataOp(paths.REASSIGN_PARTITIONS, data))
        except NoNodeError:
            await self._write(epoch_zk_version, CreateOp(paths.REASSIGN_PARTITIONS, data))

    async def delete_partition_reassignment(self, epoch_zk_version: int) -> None:
        await self._delete_if_exists(paths.REASSIGN_PARTITIONS, epoch_zk_version)

    async def reassign_partitions_in_progress(self) -> bool:
        return await self._retry(self.zk.exists, paths.REASSIGN_PARTITIONS) is not None

    async def get_preferred_replica_election(self) -> set[TopicPartition] | None:
        found = await self._get_or_none(paths.PREFERRED_REPLICA_ELECTION)
        if found is None:
            return None
        partitions = tz.decode_partition_list(found[0], paths.PREFERRED_REPLICA_ELECTION)
        return {TopicPartition(*tp) for tp in partitions}

    async def delete_preferred_replica_election(self, epoch_zk_version: int) -> None:
        await self._delete_if_exists(paths.PREFERRED_REPLICA_ELECTION, epoch_zk_version)

    # -- notifications ---------------------------------------------------------------------------
    async def get_all_log_dir_event_notifications(self) -> list[str]:
        return _sequence_numbers(
            await self._children(paths.LOG_DIR_EVENT_NOTIFICATION), paths.LOG_DIR_EVENT_PREFIX
        )

    async def get_broker_ids_from_log_dir_events(
        self, sequence_numbers: Iterable[str]
    ) -> list[int]:
        prefix = paths.log_dir_event_sequence_prefix()
        found = await _gather(self._get_or_none(prefix + s) for s in sequence_numbers)
        return [LogDirEventNotification.decode(f[0]).broker_id for f in found if f is not None]

    async def delete_log_dir_event_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None:
        if sequence_numbers is None:
            sequence_numbers = await self.get_all_log_dir_event_notifications()
        prefix = paths.log_dir_event_sequence_prefix()
        await _gather(
            self._delete_if_exists(prefix + s, epoch_zk_version) for s in sequence_numbers
        )

    async def get_all_isr_change_notifications(self) -> list[str]:
        return _sequence_numbers(
            await self._children(paths.ISR_CHANGE_NOTIFICATION), paths.ISR_CHANGE_PREFIX
        )

    async def get_partitions_from_isr_change_notifications(
        self, sequence_numbers: Iterable[str]
    ) -> list[TopicPartition]:
        prefix = paths.isr_change_sequence_prefix()
        found = await _gather(self._get_or_none(prefix + s) for s in sequence_numbers)
        out: list[TopicPartition] = []
        for f in found:
            if f is not None:
                out.extend(
                    TopicPartition(*tp) for tp in tz.decode_partition_list(f[0], "isr change")
                )
        return out

    async def delete_isr_change_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None:
        if sequence_numbers is None:
            sequence_numbers = await self.get_all_isr_change_notifications()
        prefix = paths.isr_change_sequence_prefix()
        await _gather(
            self._delete_if_exists(prefix + s, epoch_zk_version) for s in sequence_numbers
        )

    # -- watches ---------------------------------------------------------------------------------
    def watch_session(
        self, on_expired: Callable[[], None], on_new_session: Callable[[], None]
    ) -> _Handle:
        def listener(event: SessionEvent) -> None:
            if event.state is SessionState.EXPIRED:
                on_expired()
            elif event.state is SessionState.CONNECTED and event.new_session:
                on_new_session()

        return _Handle(self.zk.add_session_listener(listener))

    def _watch(self, path: str, mode: Mode, callback: Callable[[bool], None]) -> _Handle:
        return _Handle(ZNodeWatch(self.zk, path, mode, callback).start().cancel)

    def watch_controller(self, on_change: Callable[[bool], None]) -> _Handle:
        return self._watch(paths.CONTROLLER, "data", on_change)

    def _watch_children(self, path: str, on_change: Callable[[], None]) -> _Handle:
        return self._watch(path, "children", lambda _exists: on_change())

    def _watch_data(self, path: str, on_change: Callable[[], None]) -> _Handle:
        return self._watch(path, "data", lambda _exists: on_change())

    def _watch_creation(self, path: str, on_created: Callable[[], None]) -> _Handle:
        return self._watch(path, "creation", lambda _exists: on_created())

    def watch_broker_ids(self, on_change: Callable[[], None]) -> _Handle:
        return self._watch_children(paths.BROKER_IDS, on_change)

    def watch_broker(self, broker_id: int, on_change: Callable[[], None]) -> _Handle:
        return self._watch_data(paths.broker(broker_id), on_change)

    def watch_topics(self, on_change: Callable[[], None]) -> _Handle:
        return self._watch_children(paths.BROKER_TOPICS, on_change)

    def watch_topic(self, topic: str, on_change: Callable[[], None]) -> _Handle:
        return self._watch_data(paths.topic(topic), on_change)

    def watch_topic_deletions(self, on_change: Callable[[], None]) -> _Handle:
        return self._watch_children(paths.DELETE_TOPICS, on_change)

    def watch_partition_reassignment(self, on_created: Callable[[], None]) -> _Handle:
        return self._watch_creation(paths.REASSIGN_PARTITIONS, on_created)

    def watch_preferred_replica_election(self, on_created: Callable[[], None]) -> _Handle:
        return self._watch_creation(paths.PREFERRED_REPLICA_ELECTION, on_created)

    def watch_log_dir_event_notifications(self, on_change: Callable[[], None]) -> _Handle:
        return self._watch_children(paths.LOG_DIR_EVENT_NOTIFICATION, on_change)

    def watch_isr_change_notifications(self, on_change: Callable[[], None]) -> _Handle:
        return self._watch_children(paths.ISR_CHANGE_NOTIFICATION, on_change)


def _encode_state(info: LeaderIsrAndControllerEpoch) -> bytes:
    lai = info.leader_and_isr
    return tz.LeaderIsrAndControllerEpoch(
        lai.leader,
        lai.leader_epoch,
        lai.isr,
        info.controller_epoch,
        tz.LeaderRecoveryState(lai.leader_recovery_state),
    ).encode()


def _chunks(items: list[T], size: int = MULTI_BATCH) -> Iterable[tuple[int, list[T]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def _sequence_numbers(children: Iterable[str], prefix: str) -> list[str]:
    return sorted(c[len(prefix) :] for c in children if c.startswith(prefix))


async def _gather(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently (Kafka pipelines its ZooKeeper requests); the first error wins, but
    only after every request has finished, so none is left running unobserved."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for r in results:
        if isinstance(r, ControllerMovedError):
            raise r
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]
