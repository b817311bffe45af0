"""An in-memory stand-in for ZooKeeper as the controller sees it, and fake broker channels.

:class:`FakeZkServer` holds the cluster's znode contents in Kafka's terms (controller and
epoch with its znode version, broker registrations with czxids, topic assignments, partition
states with versions, ``/admin`` requests, notifications). Each :class:`FakeZkSession` is one
broker's session and implements :class:`cluster.controller.zk_client.ControllerZkClient`,
fencing writes on ``/controller_epoch``'s version exactly as the real client must. Watches fire
asynchronously (``call_soon``) after every change, like ZooKeeper's.

:class:`FakeBrokers` makes channels that record every control request per broker and answer
success (or scripted errors).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.controller.batch import ControlResponse
from cluster.controller.model import (
    LeaderAndIsr,
    LeaderIsrAndControllerEpoch,
    ReplicaAssignment,
    TopicPartition,
)
from cluster.controller.requests import (
    ControlRequest,
    LeaderAndIsrRequestData,
    StopReplicaRequestData,
    UpdateMetadataRequestData,
)
from cluster.controller.zk_client import (
    ControllerMovedError,
    TopicIdReplicaAssignment,
    UpdateLeaderAndIsrResult,
)
from cluster.metadata import BrokerEndpoint, BrokerRegistration
from protocol.errors import ErrorCode


class BadVersion(Exception):
    pass


@dataclass
class _Watch:
    kind: str
    key: Any
    callback: Callable[..., None]
    active: bool = True

    def cancel(self) -> None:
        self.active = False


@dataclass
class StoredState:
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int
    leader_recovery_state: int
    version: int

    def as_info(self) -> LeaderIsrAndControllerEpoch:
        return LeaderIsrAndControllerEpoch(
            LeaderAndIsr(
                self.leader, self.leader_epoch, self.isr, self.leader_recovery_state, self.version
            ),
            self.controller_epoch,
        )


def broker_registration(broker_id: int, port: int | None = None) -> BrokerRegistration:
    return BrokerRegistration(
        broker_id,
        (BrokerEndpoint("PLAINTEXT", "PLAINTEXT", "127.0.0.1", port or 19000 + broker_id),),
        None,
    )


@dataclass
class FakeZkServer:
    """The shared znode state (see the module docstring)."""

    controller: int | None = None
    controller_owner: int | None = None  # session id owning the ephemeral /controller
    controller_epoch: int | None = None
    controller_epoch_version: int = -1
    brokers: dict[int, tuple[BrokerRegistration, int, int]] = field(default_factory=dict)
    topics: dict[str, tuple[uuid.UUID | None, dict[int, ReplicaAssignment]]] = field(
        default_factory=dict
    )
    partition_dirs: set[TopicPartition] = field(default_factory=set)
    states: dict[TopicPartition, StoredState] = field(default_factory=dict)
    topic_configs: dict[str, dict[str, str]] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    reassignment: dict[TopicPartition, list[int]] | None = None
    preferred: set[TopicPartition] | None = None
    log_dir_events: dict[str, int] = field(default_factory=dict)
    isr_changes: dict[str, list[TopicPartition]] = field(default_factory=dict)
    feature_znode: bool = False
    next_producer_id: int = 0
    watches: list[_Watch] = field(default_factory=list)
    sessions: dict[int, FakeZkSession] = field(default_factory=dict)
    _zxid: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    writes: int = 0

    # -- sessions --------------------------------------------------------------------------------
    def session(self) -> FakeZkSession:
        s = FakeZkSession(self, next(self._zxid))
        self.sessions[s.session_id] = s
        return s

    def expire(self, session: FakeZkSession) -> None:
        """Expire a session: its ephemerals go, it hears EXPIRED then a new session."""
        old = session.session_id
        for broker_id, (_reg, _czxid, owner) in list(self.brokers.items()):
            if owner == old:
                del self.brokers[broker_id]
                self._fire("broker_ids", None)
        if self.controller_owner == old:
            self.controller = None
            self.controller_owner = None
            self._fire("controller", None, False)
        session.session_id = next(self._zxid)
        self.sessions[session.session_id] = session
        for w in list(session.session_watches):
            if w.active:
                w.callback[0]()
        for w in list(session.session_watches):
            if w.active:
                w.callback[1]()

    # -- what brokers and admin tools write ------------------------------------------------------
    def register_broker(self, broker_id: int, owner: int = 0) -> int:
        czxid = next(self._zxid)
        self.brokers[broker_id] = (broker_registration(broker_id), czxid, owner)
        self._fire("broker_ids", None)
        return czxid

    def update_broker(self, registration: BrokerRegistration) -> None:
        _reg, czxid, owner = self.brokers[registration.broker_id]
        self.brokers[registration.broker_id] = (registration, czxid, owner)
        self._fire("broker", registration.broker_id)

    def unregister_broker(self, broker_id: int) -> None:
        del self.brokers[broker_id]
        self._fire("broker_ids", None)

    def create_topic(
        self,
        name: str,
        assignment: Mapping[int, Iterable[int]],
        configs: Mapping[str, str] | None = None,
        topic_id: uuid.UUID | None = None,
        with_id: bool = True,
    ) -> uuid.UUID | None:
        """As AdminZkClient: /config/topics/<t> first, then /brokers/topics/<t>."""
        self.topic_configs[name] = dict(configs or {})
        tid = (topic_id or uuid.uuid4()) if with_id else None
        self.topics[name] = (tid, {p: ReplicaAssignment.of(r) for p, r in assignment.items()})
        self._fire("topics", None)
        return tid

    def add_partitions(self, name: str, assignment: Mapping[int, Iterable[int]]) -> None:
        tid, current = self.topics[name]
        merged = dict(current)
        merged.update({p: ReplicaAssignment.of(r) for p, r in assignment.items()})
        self.topics[name] = (tid, merged)
        self._fire("topic", name)

    def mark_for_deletion(self, name: str) -> None:
        self.deletions.add(name)
        self._fire("deletions", None)

    def set_reassignment(self, reassignment: Mapping[TopicPartition, list[int]]) -> None:
        existed = self.reassignment is not None
        self.reassignment = {TopicPartition(*tp): list(r) for tp, r in reassignment.items()}
        if not existed:
            self._fire("reassign", None)

    def set_preferred_election(self, partitions: Iterable[TopicPartition]) -> None:
        existed = self.preferred is not None
        self.preferred = {TopicPartition(*tp) for tp in partitions}
        if not existed:
            self._fire("preferred", None)

    def add_log_dir_event(self, broker_id: int) -> None:
        self.log_dir_events[f"{next(self._seq):010d}"] = broker_id
        self._fire("log_dir", None)

    def add_isr_change(self, partitions: Iterable[TopicPartition]) -> None:
        self.isr_changes[f"{next(self._seq):010d}"] = [TopicPartition(*tp) for tp in partitions]
        self._fire("isr_change", None)

    def write_state(self, tp: TopicPartition, lai: LeaderAndIsr, controller_epoch: int) -> int:
        """An unfenced write (e.g. a leader's ISR change in old Kafka); bumps the version."""
        old = self.states[tp]
        self.states[tp] = StoredState(
            lai.leader,
            lai.leader_epoch,
            lai.isr,
            controller_epoch,
            lai.leader_recovery_state,
            old.version + 1,
        )
        return old.version + 1

    def state(self, topic: str, partition: int) -> StoredState:
        return self.states[TopicPartition(topic, partition)]

    # -- internals -------------------------------------------------------------------------------
    def _fire(self, kind: str, key: Any, *args: Any) -> None:
        loop = asyncio.get_running_loop()
        for w in list(self.watches):
            if w.active and w.kind == kind and w.key == key:
                loop.call_soon(_call_if_active, w, args)

    def _check(self, epoch_zk_version: int) -> None:
        if epoch_zk_version >= 0 and epoch_zk_version != self.controller_epoch_version:
            raise ControllerMovedError(
                f"controller epoch zkVersion {epoch_zk_version} != {self.controller_epoch_version}"
            )
        self.writes += 1


def _call_if_active(w: _Watch, args: tuple[Any, ...]) -> None:
    if w.active:
        w.callback(*args)


class FakeZkSession:
    """One broker's session: implements ControllerZkClient over a FakeZkServer."""

    def __init__(self, server: FakeZkServer, session_id: int) -> None:
        self.server = server
        self.session_id = session_id
        self.session_watches: list[Any] = []
        self.delay: float = 0.0  # seconds added to every call, to widen races in tests

    async def _pause(self) -> None:
        await asyncio.sleep(self.delay)

    # -- election --------------------------------------------------------------------------------
    async def get_controller_id(self) -> int | None:
        await self._pause()
        return self.server.controller

    async def register_controller_and_increment_epoch(self, controller_id: int) -> tuple[int, int]:
        await self._pause()
        s = self.server
        if s.controller_epoch is None:
            s.controller_epoch, s.controller_epoch_version = 0, 0
        if s.controller is not None:
            if s.controller == controller_id and s.controller_owner == self.session_id:
                return s.controller_epoch, s.controller_epoch_version
            raise ControllerMovedError("Controller moved to another broker")
        s.controller = controller_id
        s.controller_owner = self.session_id
        s.controller_epoch += 1
        s.controller_epoch_version += 1
        s._fire("controller", None, True)
        return s.controller_epoch, s.controller_epoch_version

    async def delete_controller(self, epoch_zk_version: int) -> None:
        s = self.server
        s._check(epoch_zk_version)
        if s.controller is not None:
            s.controller = None
            s.controller_owner = None
            s._fire("controller", None, False)

    async def ensure_feature_znode(self) -> None:
        self.server.feature_znode = True

    async def allocate_producer_id_block(self, broker_id: int) -> tuple[int, int]:
        first = self.server.next_producer_id
        self.server.next_producer_id += 1000
        return first, 1000

    # -- brokers ---------------------------------------------------------------------------------
    async def get_all_broker_and_epochs(self) -> dict[BrokerRegistration, int]:
        await self._pause()
        return {reg: czxid for reg, czxid, _owner in self.server.brokers.values()}

    async def get_broker(self, broker_id: int) -> BrokerRegistration | None:
        found = self.server.brokers.get(broker_id)
        return found[0] if found else None

    # -- topics ----------------------------------------------------------------------------------
    async def get_all_topics(self) -> set[str]:
        await self._pause()
        return set(self.server.topics)

    async def get_replica_assignment_and_topic_ids(
        self, topics: Collection[str]
    ) -> list[TopicIdReplicaAssignment]:
        await self._pause()
        out = []
        for t in topics:
            if t in self.server.topics:
                tid, assignment = self.server.topics[t]
                out.append(TopicIdReplicaAssignment(t, tid, dict(assignment)))
        return out

    async def set_topic_ids(
        self, assignments: Iterable[TopicIdReplicaAssignment], epoch_zk_version: int
    ) -> list[TopicIdReplicaAssignment]:
        out = []
        for a in assignments:
            self.server._check(epoch_zk_version)
            tid = uuid.uuid4()
            self.server.topics[a.topic] = (tid, dict(a.assignment))
            out.append(TopicIdReplicaAssignment(a.topic, tid, a.assignment))
        return out

    async def set_topic_assignment(
        self,
        topic: str,
        topic_id: uuid.UUID | None,
        assignment: Mapping[int, ReplicaAssignment],
        epoch_zk_version: int,
    ) -> None:
        await self._pause()
        self.server._check(epoch_zk_version)
        if topic not in self.server.topics:
            raise LookupError(topic)
        self.server.topics[topic] = (topic_id, dict(assignment))
        self.server._fire("topic", topic)

    async def get_topic_partitions(self, topic: str) -> list[int]:
        return sorted(tp.partition for tp in self.server.partition_dirs if tp.topic == topic)

    async def get_topic_configs(self, topics: Collection[str]) -> dict[str, dict[str, str]]:
        return {t: dict(self.server.topic_configs.get(t, {})) for t in topics}

    # -- partition states ------------------------------------------------------------------------
    async def get_topic_partition_states(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, LeaderIsrAndControllerEpoch]:
        await self._pause()
        return {
            TopicPartition(*tp): self.server.states[tp].as_info()
            for tp in partitions
            if tp in self.server.states
        }

    async def create_topic_partition_states(
        self,
        states: Mapping[TopicPartition, LeaderIsrAndControllerEpoch],
        epoch_zk_version: int,
    ) -> dict[TopicPartition, Exception | None]:
        await self._pause()
        out: dict[TopicPartition, Exception | None] = {}
        for tp, info in states.items():
            self.server._check(epoch_zk_version)
            self.server.partition_dirs.add(tp)
            if tp in self.server.states:
                out[tp] = FileExistsError(str(tp))
                continue
            lai = info.leader_and_isr
            self.server.states[tp] = StoredState(
                lai.leader,
                lai.leader_epoch,
                lai.isr,
                info.controller_epoch,
                lai.leader_recovery_state,
                0,
            )
            out[tp] = None
        return out

    async def update_leader_and_isr(
        self,
        leader_and_isrs: Mapping[TopicPartition, LeaderAndIsr],
        controller_epoch: int,
        epoch_zk_version: int,
    ) -> UpdateLeaderAndIsrResult:
        await self._pause()
        finished: dict[TopicPartition, LeaderAndIsr | Exception] = {}
        retry = []
        for tp, lai in leader_and_isrs.items():
            self.server._check(epoch_zk_version)
            current = self.server.states.get(tp)
            if current is None:
                finished[tp] = LookupError(str(tp))
            elif current.version != lai.partition_epoch:
                retry.append(tp)
            else:
                self.server.states[tp] = StoredState(
                    lai.leader,
                    lai.leader_epoch,
                    lai.isr,
                    controller_epoch,
                    lai.leader_recovery_state,
                    current.version + 1,
                )
                finished[tp] = lai.with_partition_epoch(current.version + 1)
        return UpdateLeaderAndIsrResult(finished, tuple(retry))

    # -- deletion --------------------------------------------------------------------------------
    async def get_topic_deletions(self) -> set[str]:
        return set(self.server.deletions)

    async def delete_topic_deletions(self, topics: Iterable[str], epoch_zk_version: int) -> None:
        for t in topics:
            self.server._check(epoch_zk_version)
            self.server.deletions.discard(t)

    async def delete_topic_znode(self, topic: str, epoch_zk_version: int) -> None:
        s = self.server
        s._check(epoch_zk_version)
        s.topics.pop(topic, None)
        for tp in [tp for tp in s.states if tp.topic == topic]:
            del s.states[tp]
        s.partition_dirs = {tp for tp in s.partition_dirs if tp.topic != topic}
        s._fire("topics", None)

    async def delete_topic_configs(self, topics: Iterable[str], epoch_zk_version: int) -> None:
        for t in topics:
            self.server._check(epoch_zk_version)
            self.server.topic_configs.pop(t, None)

    # -- /admin ----------------------------------------------------------------------------------
    async def get_partition_reassignment(self) -> dict[TopicPartition, list[int]]:
        return dict(self.server.reassignment or {})

    async def set_or_create_partition_reassignment(
        self, reassignment: Mapping[TopicPartition, list[int]], epoch_zk_version: int
    ) -> None:
        self.server._check(epoch_zk_version)
        self.server.reassignment = {TopicPartition(*tp): list(r) for tp, r in reassignment.items()}

    async def delete_partition_reassignment(self, epoch_zk_version: int) -> None:
        self.server._check(epoch_zk_version)
        self.server.reassignment = None

    async def reassign_partitions_in_progress(self) -> bool:
        return self.server.reassignment is not None

    async def get_preferred_replica_election(self) -> set[TopicPartition] | None:
        p = self.server.preferred
        return None if p is None else set(p)

    async def delete_preferred_replica_election(self, epoch_zk_version: int) -> None:
        self.server._check(epoch_zk_version)
        self.server.preferred = None

    # -- notifications ---------------------------------------------------------------------------
    async def get_all_log_dir_event_notifications(self) -> list[str]:
        return sorted(self.server.log_dir_events)

    async def get_broker_ids_from_log_dir_events(
        self, sequence_numbers: Iterable[str]
    ) -> list[int]:
        return [
            self.server.log_dir_events[s]
            for s in sequence_numbers
            if s in self.server.log_dir_events
        ]

    async def delete_log_dir_event_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None:
        self.server._check(epoch_zk_version)
        seqs = list(self.server.log_dir_events) if sequence_numbers is None else sequence_numbers
        for s in seqs:
            self.server.log_dir_events.pop(s, None)

    async def get_all_isr_change_notifications(self) -> list[str]:
        return sorted(self.server.isr_changes)

    async def get_partitions_from_isr_change_notifications(
        self, sequence_numbers: Iterable[str]
    ) -> list[TopicPartition]:
        out: list[TopicPartition] = []
        for s in sequence_numbers:
            out.extend(self.server.isr_changes.get(s, []))
        return out

    async def delete_isr_change_notifications(
        self, sequence_numbers: Iterable[str] | None, epoch_zk_version: int
    ) -> None:
        self.server._check(epoch_zk_version)
        seqs = list(self.server.isr_changes) if sequence_numbers is None else sequence_numbers
        for s in seqs:
            self.server.isr_changes.pop(s, None)

    # -- watches ---------------------------------------------------------------------------------
    def _watch(self, kind: str, key: Any, callback: Callable[..., None]) -> _Watch:
        w = _Watch(kind, key, callback)
        self.server.watches.append(w)
        return w

    def watch_session(
        self, on_expired: Callable[[], None], on_new_session: Callable[[], None]
    ) -> _Watch:
        w = _Watch("session", None, (on_expired, on_new_session))  # type: ignore[arg-type]
        self.session_watches.append(w)
        return w

    def watch_controller(self, on_change: Callable[[bool], None]) -> _Watch:
        return self._watch("controller", None, on_change)

    def watch_broker_ids(self, on_change: Callable[[], None]) -> _Watch:
        return self._watch("broker_ids", None, on_change)

    def watch_broker(self, broker_id: int, on_change: Callable[[], None]) -> _Watch:
        return self._watch("broker", broker_id, on_change)

    def watch_topics(self, on_change: Callable[[], None]) -> _Watch:
        return self._watch("topics", None, on_change)

    def watch_topic(self, topic: str, on_change: Callable[[], None]) -> _Watch:
        return self._watch("topic", topic, on_change)

    def watch_topic_deletions(self, on_change: Callable[[], None]) -> _Watch:
        return self._watch("deletions", None, on_change)

    def watch_partition_reassignment(self, on_created: Callable[[], None]) -> _Watch:
        return self._watch("reassign", None, on_created)

    def watch_preferred_replica_election(self, on_created: Callable[[], None]) -> _Watch:
        return self._watch("preferred", None, on_created)

    def watch_log_dir_event_notifications(self, on_change: Callable[[], None]) -> _Watch:
        return self._watch("log_dir", None, on_change)

    def watch_isr_change_notifications(self, on_change: Callable[[], None]) -> _Watch:
        return self._watch("isr_change", None, on_change)


# -- fake brokers -------------------------------------------------------------------------------
class FakeBrokerChannel:
    def __init__(self, owner: FakeBrokers, broker: BrokerRegistration) -> None:
        self.owner = owner
        self.broker = broker
        self.closed = False

    async def send(self, request: ControlRequest, timeout_s: float) -> ControlResponse:
        await asyncio.sleep(0)
        if self.broker.broker_id in self.owner.unreachable:
            raise ConnectionError("unreachable")
        self.owner.received.setdefault(self.broker.broker_id, []).append(request)
        errors: dict[TopicPartition, ErrorCode] = {}
        if isinstance(request, LeaderAndIsrRequestData | StopReplicaRequestData):
            for s in request.partition_states:
                tp = TopicPartition(s.topic_name, s.partition_index)
                errors[tp] = self.owner.partition_errors.get(
                    (self.broker.broker_id, tp), ErrorCode.none
                )
        return ControlResponse(ErrorCode.none, errors)

    def disconnect(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeBrokers:
    """Records what each broker receives; ``partition_errors`` scripts per-partition errors."""

    received: dict[int, list[ControlRequest]] = field(default_factory=dict)
    partition_errors: dict[tuple[int, TopicPartition], ErrorCode] = field(default_factory=dict)
    unreachable: set[int] = field(default_factory=set)

    def factory(self, broker: BrokerRegistration) -> FakeBrokerChannel:
        return FakeBrokerChannel(self, broker)

    def clear(self) -> None:
        self.received.clear()

    def of(self, broker_id: int, kind: type) -> list[Any]:
        return [r for r in self.received.get(broker_id, []) if isinstance(r, kind)]

    def leader_and_isr(self, broker_id: int) -> list[LeaderAndIsrRequestData]:
        return self.of(broker_id, LeaderAndIsrRequestData)

    def update_metadata(self, broker_id: int) -> list[UpdateMetadataRequestData]:
        return self.of(broker_id, UpdateMetadataRequestData)

    def stop_replica(self, broker_id: int) -> list[StopReplicaRequestData]:
        return self.of(broker_id, StopReplicaRequestData)
