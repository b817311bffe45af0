"""Classic group membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and their timers.

Follows Kafka's classic group coordinator:

* A new member (empty member id) of JoinGroup v4+ first gets MEMBER_ID_REQUIRED with its
  id and is *pending* until it joins with that id (KIP-394); static members (group
  instance id) are admitted directly, and a static member whose instance id is known
  replaces the old member id (fencing it: FENCED_INSTANCE_ID) — in a Stable group with
  unchanged protocols without a rebalance (KIP-345).
* A join that changes membership or protocols moves the group to PreparingRebalance.
  The join phase ends when every member has rejoined, or after the rebalance timeout
  (members that did not rejoin are removed); an Empty group's first rebalance waits
  group.initial.rebalance.delay.ms, extended while new members keep arriving, up to the
  rebalance timeout. Then the generation increments, the protocol is chosen by vote, and
  each member gets its JoinGroup answer (the leader with every member's metadata).
* The leader's SyncGroup carries the assignment; it is written to __consumer_offsets
  (GroupMetadata record), then every member's SyncGroup is answered and the group is
  Stable. Members that never send SyncGroup within the rebalance timeout are removed.
* Heartbeats reset the session timer; a member whose session expires is removed, which
  starts a rebalance. Heartbeat answers REBALANCE_IN_PROGRESS while one is prepared.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.coordinator.runtime import coordinator_error
from broker.group.classic_group import (
    ClassicGroup,
    ClassicMember,
    GroupState,
    JoinResult,
    SyncResult,
)
from protocol.errors import KafkaError

if TYPE_CHECKING:
    from broker.group.group_metadata_manager import GroupMetadataManager

log = logging.getLogger(__name__)

NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


@dataclass(slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str = ""
    client_host: str = ""
    api_version: int = 9
    reason: str | None = None

    @property
    def requires_known_member_id(self) -> bool:
        return self.api_version >= 4

    @property
    def supports_skip_assignment(self) -> bool:
        return self.api_version >= 9


@dataclass(slots=True)
class SyncRequest:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignments: dict[str, bytes] = field(default_factory=dict)


class ClassicProtocol:
    """The classic group operations of a :class:`GroupMetadataManager`."""

    def __init__(self, coordinator: GroupMetadataManager) -> None:
        self.coord = coordinator
        self._initial_delay: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- helpers -------------------------------------------------------------
    @property
    def _now(self) -> int:
        return self.coord.clock.milliseconds()

    def _group(self, group_id: str) -> ClassicGroup | None:
        group = self.coord.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    @staticmethod
    def _hb_key(group: ClassicGroup, member_id: str) -> str:
        return f"heartbeat:{group.group_id}:{member_id}"

    def _schedule_heartbeat(self, group: ClassicGroup, member: ClassicMember) -> None:
        timeout = NEW_MEMBER_JOIN_TIMEOUT_MS if member.is_new else member.session_timeout_ms
        mid = member.member_id
        self.coord.timer.schedule(
            self._hb_key(group, mid), timeout, lambda: self._heartbeat_expired(group, mid)
        )

    def _schedule_pending_heartbeat(self, group: ClassicGroup, mid: str, timeout: int) -> None:
        self.coord.timer.schedule(
            self._hb_key(group, mid), timeout, lambda: self._pending_expired(group, mid)
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- JoinGroup -----------------------------------------------------------
    async def join(self, req: JoinRequest) -> JoinResult:
        coord = self.coord
        if not req.group_id:
            return JoinResult(ErrorCode.invalid_group_id, member_id=req.member_id)
        error = await coord.check_group(req.group_id)
        if error != ErrorCode.none:
            return JoinResult(error, member_id=req.member_id)
        cfg = coord.config
        if not (
            cfg.group_min_session_timeout_ms
            <= req.session_timeout_ms
            <= cfg.group_max_session_timeout_ms
        ):
            return JoinResult(ErrorCode.invalid_session_timeout, member_id=req.member_id)
        existing = coord.groups.get(req.group_id)
        if existing is not None and not isinstance(existing, ClassicGroup):
            return JoinResult(ErrorCode.inconsistent_group_protocol, member_id=req.member_id)
        group = existing
        if group is None:
            if req.member_id:
                return JoinResult(ErrorCode.unknown_member_id, member_id=req.member_id)
            group = ClassicGroup(req.group_id, self._now)
            coord.groups[req.group_id] = group
        if not self._accept_joining_member(group, req.member_id):
            return JoinResult(ErrorCode.group_max_size_reached, member_id=req.member_id)
        future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        if not req.member_id:
            self._join_new_member(group, req, future)
        else:
            self._join_existing_member(group, req, future)
        parked = time.monotonic_ns()
        result = dataclasses.replace(await future, parked_ns=time.monotonic_ns() - parked)
        if (
            result.error != ErrorCode.none
            and group.is_in(GroupState.EMPTY)
            and group.is_empty()
            and group.generation_id == 0
            and not coord.committed(group.group_id)
            and coord.groups.get(group.group_id) is group
        ):
            del coord.groups[group.group_id]  # a group that never formed
        return result

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = int(self.coord.config.group_max_size)
        if group.is_in(GroupState.EMPTY, GroupState.DEAD):
            return True
        if group.is_in(GroupState.PREPARING_REBALANCE):
            member = group.members.get(member_id)
            if member is not None and member.is_awaiting_join:
                return True
            awaiting = sum(1 for m in group.members.values() if m.is_awaiting_join)
            return awaiting < max_size
        return member_id in group.members or len(group.members) < max_size

    def _join_new_member(
        self, group: ClassicGroup, req: JoinRequest, future: asyncio.Future[JoinResult]
    ) -> None:
        if group.is_in(GroupState.DEAD):
            future.set_result(JoinResult(ErrorCode.coordinator_not_available))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            future.set_result(JoinResult(ErrorCode.inconsistent_group_protocol))
            return
        new_id = group.generate_member_id(req.client_id, req.group_instance_id)
        if req.group_instance_id is not None:
            old_id = group.static_member_id(req.group_instance_id)
            if old_id is not None:
                self._update_static_member(group, req, old_id, new_id, future)
            else:
                self._add_member_and_rebalance(group, req, new_id, future)
        elif req.requires_known_member_id:
            group.pending_members.add(new_id)
            self._schedule_pending_heartbeat(group, new_id, req.session_timeout_ms)
            future.set_result(JoinResult(ErrorCode.member_id_required, member_id=new_id))
        else:
            self._add_member_and_rebalance(group, req, new_id, future)

    def _join_existing_member(
        self, group: ClassicGroup, req: JoinRequest, future: asyncio.Future[JoinResult]
    ) -> None:
        mid = req.member_id
        if group.is_in(GroupState.DEAD):
            future.set_result(JoinResult(ErrorCode.coordinator_not_available, member_id=mid))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            future.set_result(JoinResult(ErrorCode.inconsistent_group_protocol, member_id=mid))
            return
        if mid in group.pending_members:
            self._add_member_and_rebalance(group, req, mid, future)
            return
        error = group.validate_member(mid, req.group_instance_id, "join-group")
        if error != ErrorCode.none:
            future.set_result(JoinResult(error, member_id=mid))
            return
        member = group.members[mid]
        state = group.state
        if state is GroupState.PREPARING_REBALANCE:
            self._update_member_and_rebalance(group, member, req, future)
        elif state is GroupState.COMPLETING_REBALANCE:
            if member.matches(req.protocols):
                future.set_result(self._current_join_result(group, member, with_members=True))
                self._schedule_heartbeat(group, member)
            else:
                self._update_member_and_rebalance(group, member, req, future)
        elif state is GroupState.STABLE:
            if group.leader_id == mid or not member.matches(req.protocols):
                self._update_member_and_rebalance(group, member, req, future)
            else:
                future.set_result(self._current_join_result(group, member, with_members=False))
                self._schedule_heartbeat(group, member)
        else:
            future.set_result(JoinResult(ErrorCode.unknown_member_id, member_id=mid))

    def _current_join_result(
        self, group: ClassicGroup, member: ClassicMember, with_members: bool
    ) -> JoinResult:
        is_leader = group.leader_id == member.member_id
        return JoinResult(
            ErrorCode.none,
            member_id=member.member_id,
            generation_id=group.generation_id,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=group.leader_id or "",
            members=group.member_metadata_for_leader() if with_members and is_leader else [],
        )

    def _add_member_and_rebalance(
        self,
        group: ClassicGroup,
        req: JoinRequest,
        member_id: str,
        future: asyncio.Future[JoinResult],
    ) -> None:
        member = ClassicMember(
            member_id,
            req.group_instance_id,
            req.client_id,
            req.client_host,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            req.protocol_type,
            list(req.protocols),
            join_future=future,
            is_new=True,
        )
        group.add_member(member)
        if group.is_in(GroupState.PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        self._schedule_heartbeat(group, member)
        self._maybe_prepare_rebalance_or_complete_join(group, f"{member_id} joined")

    def _update_member_and_rebalance(
        self,
        group: ClassicGroup,
        member: ClassicMember,
        req: JoinRequest,
        future: asyncio.Future[JoinResult],
    ) -> None:
        self._update_member(member, req, future)
        self._maybe_prepare_rebalance_or_complete_join(
            group, f"{member.member_id} rejoined (reason: {req.reason})"
        )

    @staticmethod
    def _update_member(
        member: ClassicMember, req: JoinRequest, future: asyncio.Future[JoinResult]
    ) -> None:
        if member.join_future is not None and member.join_future is not future:
            member.complete_join(JoinResult(ErrorCode.rebalance_in_progress, member.member_id))
        member.protocols = list(req.protocols)
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.join_future = future

    def _update_static_member(
        self,
        group: ClassicGroup,
        req: JoinRequest,
        old_id: str,
        new_id: str,
        future: asyncio.Future[JoinResult],
    ) -> None:
        instance_id = req.group_instance_id
        assert instance_id is not None
        self.coord.timer.cancel(self._hb_key(group, old_id))
        member = group.replace_static_member(instance_id, old_id, new_id)
        old = (list(member.protocols), member.rebalance_timeout_ms, member.session_timeout_ms)
        self._update_member(member, req, future)
        self._schedule_heartbeat(group, member)
        if group.is_in(GroupState.STABLE):
            if group.protocol_name == group.select_protocol():
                member.join_future = None
                self._spawn(
                    self._persist_static_replacement(group, member, req, old_id, old, future)
                )
            else:
                self._maybe_prepare_rebalance_or_complete_join(
                    group, f"static member {instance_id} rejoined with other protocols"
                )
        elif group.is_in(GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"static member {instance_id} rejoined")
        else:
            self._maybe_complete_join(group)
        log.info(
            "static member %s of group %s replaced %s by %s",
            instance_id,
            group.group_id,
            old_id,
            new_id,
        )

    async def _persist_static_replacement(
        self,
        group: ClassicGroup,
        member: ClassicMember,
        req: JoinRequest,
        old_id: str,
        old: tuple[list[tuple[str, bytes]], int, int],
        future: asyncio.Future[JoinResult],
    ) -> None:
        coord = self.coord
        new_id = member.member_id
        error = await coord.write(group.group_id, [coord.group_record(group, None)])
        if error != ErrorCode.none:
            member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms = old
            assert req.group_instance_id is not None
            if group.members.get(new_id) is member:
                self.coord.timer.cancel(self._hb_key(group, new_id))
                group.replace_static_member(req.group_instance_id, new_id, old_id)
                self._schedule_heartbeat(group, member)
            future.set_result(JoinResult(error, member_id=""))
            return
        is_leader = group.leader_id == new_id
        skip = is_leader and req.supports_skip_assignment
        future.set_result(
            JoinResult(
                ErrorCode.none,
                member_id=new_id,
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                leader=group.leader_id or "",
                skip_assignment=skip,
                members=group.member_metadata_for_leader() if skip else [],
            )
        )

    # -- rebalance -----------------------------------------------------------
    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY):
            self._prepare_rebalance(group, reason)
        elif group.is_in(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(group)

    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        timer = self.coord.timer
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment_error(group, ErrorCode.rebalance_in_progress)
        timer.cancel(f"sync:{group.group_id}")
        initial = group.is_in(GroupState.EMPTY)
        rebalance_timeout = group.rebalance_timeout_ms()
        delay = int(self.coord.config.group_initial_rebalance_delay_ms)
        group.transition_to(GroupState.PREPARING_REBALANCE, self._now)
        log.info(
            "preparing to rebalance group %s in generation %d: %s",
            group.group_id,
            group.generation_id,
            reason,
        )
        if initial and delay > 0:
            self._initial_delay.add(group.group_id)
            group.new_member_added = False
            first = min(delay, rebalance_timeout)
            self._schedule_initial_join(group, first, max(rebalance_timeout - delay, 0))
        else:
            self._initial_delay.discard(group.group_id)
            timer.schedule(
                f"join:{group.group_id}", rebalance_timeout, lambda: self._complete_join(group)
            )
            self._maybe_complete_join(group)

    def _schedule_initial_join(self, group: ClassicGroup, delay: int, remaining: int) -> None:
        initial = int(self.coord.config.group_initial_rebalance_delay_ms)

        def expired() -> None:
            if group.new_member_added and remaining > 0:
                group.new_member_added = False
                self._schedule_initial_join(
                    group, min(initial, remaining), max(remaining - initial, 0)
                )
            else:
                self._complete_join(group)

        self.coord.timer.schedule(f"join:{group.group_id}", delay, expired)

    def _maybe_complete_join(self, group: ClassicGroup) -> None:
        if (
            group.is_in(GroupState.PREPARING_REBALANCE)
            and group.group_id not in self._initial_delay
            and group.all_members_joined()
        ):
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        coord = self.coord
        if not group.is_in(GroupState.PREPARING_REBALANCE):
            return
        coord.timer.cancel(f"join:{group.group_id}")
        self._initial_delay.discard(group.group_id)
        for member in group.not_yet_rejoined():
            log.info(
                "removing member %s of group %s: it did not rejoin",
                member.member_id,
                group.group_id,
            )
            self._remove_member(group, member)
        group.init_next_generation(self._now)
        if group.is_in(GroupState.EMPTY):
            log.info("group %s is empty in generation %d", group.group_id, group.generation_id)
            coord.write_in_background(group.group_id, [coord.group_record(group, {})])
            return
        log.info(
            "group %s stabilising generation %d (%s) with %d member(s)",
            group.group_id,
            group.generation_id,
            group.protocol_name,
            len(group.members),
        )
        for member in list(group.members.values()):
            member.complete_join(self._current_join_result(group, member, with_members=True))
            member.is_new = False
            self._schedule_heartbeat(group, member)
        generation = group.generation_id
        coord.timer.schedule(
            f"sync:{group.group_id}",
            group.rebalance_timeout_ms(),
            lambda: self._sync_expired(group, generation),
        )

    def _sync_expired(self, group: ClassicGroup, generation: int) -> None:
        if generation != group.generation_id or not group.pending_sync:
            return
        if not group.is_in(GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            return
        for mid in list(group.pending_sync):
            member = group.members.get(mid)
            if member is not None:
                log.info("removing member %s of group %s: no SyncGroup", mid, group.group_id)
                self._remove_member(group, member)
        group.pending_sync.clear()
        self._maybe_prepare_rebalance_or_complete_join(group, "members did not sync in time")

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            member.complete_sync(SyncResult(error))

    def _remove_member(self, group: ClassicGroup, member: ClassicMember) -> None:
        member.complete_join(JoinResult(ErrorCode.unknown_member_id, member_id=member.member_id))
        member.complete_sync(SyncResult(ErrorCode.unknown_member_id))
        self.coord.timer.cancel(self._hb_key(group, member.member_id))
        group.remove_member(member.member_id)

    def _remove_member_and_update(
        self, group: ClassicGroup, member: ClassicMember, why: str
    ) -> None:
        self._remove_member(group, member)
        if group.is_in(GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, why)
        elif group.is_in(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(group)

    def _heartbeat_expired(self, group: ClassicGroup, member_id: str) -> None:
        member = group.members.get(member_id)
        if member is None or group.is_in(GroupState.DEAD):
            return
        if not member.is_new and (member.is_awaiting_join or member.is_awaiting_sync):
            self._schedule_heartbeat(group, member)  # blocked in JoinGroup/SyncGroup
            return
        log.info("member %s of group %s: session expired", member_id, group.group_id)
        self._remove_member_and_update(group, member, f"member {member_id} session expired")

    def _pending_expired(self, group: ClassicGroup, member_id: str) -> None:
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self._maybe_complete_join(group)

    # -- SyncGroup -----------------------------------------------------------
    async def sync(self, req: SyncRequest) -> SyncResult:
        coord = self.coord
        if not req.group_id:
            return SyncResult(ErrorCode.invalid_group_id)
        error = await coord.check_group(req.group_id)
        if error != ErrorCode.none:
            return SyncResult(error)
        group = self._group(req.group_id)
        if group is None:
            return SyncResult(ErrorCode.unknown_member_id)
        if group.is_in(GroupState.DEAD):
            return SyncResult(ErrorCode.coordinator_not_available)
        error = group.validate_member(req.member_id, req.group_instance_id, "sync-group")
        if error != ErrorCode.none:
            return SyncResult(error)
        if req.generation_id != group.generation_id:
            return SyncResult(ErrorCode.illegal_generation)
        if (req.protocol_type is not None and req.protocol_type != group.protocol_type) or (
            req.protocol_name is not None and req.protocol_name != group.protocol_name
        ):
            return SyncResult(ErrorCode.inconsistent_group_protocol)
        member = group.members[req.member_id]
        if group.is_in(GroupState.EMPTY):
            return SyncResult(ErrorCode.unknown_member_id)
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return SyncResult(ErrorCode.rebalance_in_progress)
        if group.is_in(GroupState.STABLE):
            group.pending_sync.discard(member.member_id)
            self._maybe_cancel_sync_timer(group)
            return SyncResult(
                ErrorCode.none, member.assignment, group.protocol_type, group.protocol_name
            )
        # CompletingRebalance
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        member.complete_sync(SyncResult(ErrorCode.rebalance_in_progress))
        member.sync_future = future
        group.pending_sync.discard(member.member_id)
        parked = time.monotonic_ns()
        if group.leader_id == member.member_id:
            await self._store_leader_assignment(group, req.assignments)
        return dataclasses.replace(await future, parked_ns=time.monotonic_ns() - parked)

    async def _store_leader_assignment(
        self, group: ClassicGroup, assignments: dict[str, bytes]
    ) -> None:
        coord = self.coord
        full = {mid: assignments.get(mid, b"") for mid in group.members}
        generation = group.generation_id
        try:
            required = coord.append(group.group_id, [coord.group_record(group, full)])
        except KafkaError as exc:
            error = coordinator_error(exc)
            log.warning("storing assignment of group %s failed: %s", group.group_id, exc)
            if group.is_in(GroupState.COMPLETING_REBALANCE) and group.generation_id == generation:
                self._reset_and_propagate_assignment_error(group, error)
                self._prepare_rebalance(group, "failed to store the assignment")
            return
        if not (group.is_in(GroupState.COMPLETING_REBALANCE) and group.generation_id == generation):
            return
        for mid, data in full.items():
            group.members[mid].assignment = data
        group.transition_to(GroupState.STABLE, self._now)
        error = await coord.commit(group.group_id, required)
        if not (group.is_in(GroupState.STABLE) and group.generation_id == generation):
            return
        if error != ErrorCode.none:
            # Kafka: the assignment was not committed; members rejoin.
            log.warning("committing assignment of group %s failed: %s", group.group_id, error.name)
            self._reset_and_propagate_assignment_error(group, error)
            self._prepare_rebalance(group, "failed to commit the assignment")
            return
        coord.stats.completed_rebalances += 1
        for member in group.members.values():
            member.complete_sync(
                SyncResult(
                    ErrorCode.none, member.assignment, group.protocol_type, group.protocol_name
                )
            )
        self._maybe_cancel_sync_timer(group)

    def _maybe_cancel_sync_timer(self, group: ClassicGroup) -> None:
        if not group.pending_sync:
            self.coord.timer.cancel(f"sync:{group.group_id}")

    # -- Heartbeat -----------------------------------------------------------
    async def heartbeat(
        self, group_id: str, generation_id: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        if not group_id:
            return ErrorCode.invalid_group_id
        error = await self.coord.check_group(group_id)
        if error != ErrorCode.none:
            return error
        group = self._group(group_id)
        if group is None:
            return ErrorCode.unknown_member_id
        if group.is_in(GroupState.DEAD):
            return ErrorCode.coordinator_not_available
        error = group.validate_member(member_id, instance_id, "heartbeat")
        if error != ErrorCode.none:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.illegal_generation
        if group.is_in(GroupState.EMPTY):
            return ErrorCode.unknown_member_id
        self._schedule_heartbeat(group, group.members[member_id])
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    # -- LeaveGroup ----------------------------------------------------------
    async def leave(
        self, group_id: str, members: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[tuple[str, str | None, ErrorCode]]]:
        if not group_id:
            return ErrorCode.invalid_group_id, []
        error = await self.coord.check_group(group_id)
        if error != ErrorCode.none:
            return error, []
        group = self._group(group_id)
        if group is None:
            return ErrorCode.unknown_member_id, []
        if group.is_in(GroupState.DEAD):
            return ErrorCode.coordinator_not_available, []
        results: list[tuple[str, str | None, ErrorCode]] = []
        for member_id, instance_id in members:
            mid = member_id
            if not mid and instance_id is not None:
                mid = group.static_member_id(instance_id) or ""
                if not mid:
                    results.append((member_id, instance_id, ErrorCode.unknown_member_id))
                    continue
            if mid in group.pending_members:
                group.pending_members.discard(mid)
                self.coord.timer.cancel(self._hb_key(group, mid))
                self._maybe_complete_join(group)
                results.append((member_id, instance_id, ErrorCode.none))
                continue
            err = group.validate_member(mid, instance_id, "leave-group")
            if err != ErrorCode.none:
                results.append((member_id, instance_id, err))
                continue
            log.info("member %s leaves group %s", mid, group_id)
            self._remove_member_and_update(group, group.members[mid], f"member {mid} left")
            results.append((member_id, instance_id, ErrorCode.none))
        return ErrorCode.none, results

    # -- loading / unloading -------------------------------------------------
    def on_loaded(self, group: ClassicGroup) -> None:
        for member in group.members.values():
            self._schedule_heartbeat(group, member)

    def unload(self, group: ClassicGroup) -> None:
        timer = self.coord.timer
        timer.cancel(f"join:{group.group_id}")
        timer.cancel(f"sync:{group.group_id}")
        for mid in list(group.members) + list(group.pending_members):
            timer.cancel(self._hb_key(group, mid))
        for member in group.members.values():
            member.complete_join(JoinResult(ErrorCode.not_coordinator, member.member_id))
            member.complete_sync(SyncResult(ErrorCode.not_coordinator))
