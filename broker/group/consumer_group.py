"""KIP-848 consumer groups: group and member state, heartbeats, reconciliation.

The coordinator drives a :class:`ConsumerGroup` in Kafka's "handler → records → replay"
style: :meth:`ConsumerGroup.heartbeat` (and :meth:`ConsumerGroup.expire`) validate and
compute, and return the records to append to ``__consumer_offsets`` plus the response;
they never change the group. The group changes only in :meth:`ConsumerGroup.replay`, so
loading ``__consumer_offsets`` after a restart rebuilds the same state.

Epochs. The *group epoch* is bumped whenever the membership or the subscriptions (or the
metadata of subscribed topics) change. When the group epoch is ahead of the *assignment
epoch*, the next heartbeat computes a new *target assignment* with the server-side
assignor and sets the assignment epoch to the group epoch. Each member then reconciles
its *current assignment* towards its target one heartbeat at a time
(:func:`next_member_assignment`, Kafka's CurrentAssignmentBuilder):

- partitions the member owns but must give up are revoked first; the member stays at its
  epoch in ``UNREVOKED_PARTITIONS`` until a heartbeat shows it no longer owns them;
- a partition is handed to a member only once no other member owns it (its *partition
  epoch* is -1); until then the member is ``UNRELEASED_PARTITIONS``;
- the member epoch advances to the target epoch once nothing remains to revoke.

Group state (derived, as Kafka's ``maybeUpdateGroupState``): EMPTY without members,
ASSIGNING while the group epoch is ahead of the assignment epoch, RECONCILING while some
member is not STABLE at the assignment epoch, STABLE otherwise; DEAD once deleted.

Timers (session timeout, rebalance timeout) are not state: they live in memory, are
rearmed by heartbeats and, after a load, start from the load time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace

from kio.schema.errors import ErrorCode

from broker.group.assignors import (
    ASSIGNORS,
    GroupSpec,
    MemberSpec,
    PartitionAssignorError,
)
from broker.group.consumer_group_records import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupRecord,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    Partitions,
    TopicMetadata,
    freeze,
)
from broker.group.consumer_member import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroupConfig,
    ConsumerGroupMember,
    ConsumerGroupState,
    GroupError,
    HeartbeatRequest,
    HeartbeatResponse,
    MemberState,
    TopicsView,
    compile_regex,
    generate_member_id,
    next_member_assignment,
    validate_heartbeat,
)

_EMPTY: Partitions = {}


class ConsumerGroup:
    """One consumer-protocol group. Not safe to call concurrently (one event loop owns it)."""

    def __init__(self, group_id: str, config: ConsumerGroupConfig | None = None) -> None:
        self.group_id = group_id
        self.config = config or ConsumerGroupConfig()
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerGroupMember] = {}
        self.target_assignment: dict[str, Partitions] = {}
        self.subscription_metadata: dict[str, TopicMetadata] = {}
        self.static_members: dict[str, str] = {}
        self.deleted = False
        self._partition_epochs: dict[tuple[uuid.UUID, int], int] = {}
        # Timers: member id -> deadline (ms); rebalance: member id -> (deadline, epoch).
        self._session_deadlines: dict[str, int] = {}
        self._rebalance_deadlines: dict[str, tuple[int, int]] = {}

    # ----------------------------------------------------------------- derived state

    @property
    def state(self) -> ConsumerGroupState:
        if self.deleted:
            return ConsumerGroupState.DEAD
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def is_empty(self) -> bool:
        return not self.members

    def partition_epoch(self, topic_id: uuid.UUID, partition: int) -> int:
        return self._partition_epochs.get((topic_id, partition), -1)

    def preferred_assignor(self, members: Iterable[ConsumerGroupMember] | None = None) -> str:
        counts: dict[str, int] = {}
        for m in self.members.values() if members is None else members:
            if m.server_assignor is not None:
                counts[m.server_assignor] = counts.get(m.server_assignor, 0) + 1
        if not counts:
            return self.config.default_assignor
        return min(counts, key=lambda name: (-counts[name], name))

    def subscribed_topic_names(
        self, members: Iterable[ConsumerGroupMember], topics: TopicsView
    ) -> set[str]:
        names: set[str] = set()
        regexes: set[str] = set()
        for m in members:
            names.update(m.subscribed_topic_names)
            if m.subscribed_topic_regex:
                regexes.add(m.subscribed_topic_regex)
        if regexes:
            all_names = [n for n in topics.topic_names() if not n.startswith("__")]
            for regex in regexes:
                pattern = compile_regex(regex)
                names.update(n for n in all_names if pattern.fullmatch(n))
        return names

    def _member_topic_ids(
        self, member: ConsumerGroupMember, topics: TopicsView
    ) -> frozenset[uuid.UUID]:
        ids: set[uuid.UUID] = set()
        for name in self.subscribed_topic_names([member], topics):
            info = topics.topic(name)
            if info is not None:
                ids.add(info.topic_id)
        return frozenset(ids)

    def _compute_subscription_metadata(
        self, members: Iterable[ConsumerGroupMember], topics: TopicsView
    ) -> dict[str, TopicMetadata]:
        out: dict[str, TopicMetadata] = {}
        for name in sorted(self.subscribed_topic_names(members, topics)):
            info = topics.topic(name)
            if info is not None:
                out[name] = TopicMetadata(info.topic_id, info.name, info.num_partitions)
        return out

    def _epoch_record(self, epoch: int) -> ConsumerGroupRecord:
        return ConsumerGroupRecord(
            ConsumerGroupMetadataKey(self.group_id), ConsumerGroupMetadataValue(epoch)
        )

    def _metadata_record(self, metadata: Mapping[str, TopicMetadata]) -> ConsumerGroupRecord:
        return ConsumerGroupRecord(
            ConsumerGroupPartitionMetadataKey(self.group_id),
            ConsumerGroupPartitionMetadataValue(tuple(metadata[n] for n in sorted(metadata))),
        )

    def _member_record(self, member: ConsumerGroupMember) -> ConsumerGroupRecord:
        return ConsumerGroupRecord(
            ConsumerGroupMemberMetadataKey(self.group_id, member.member_id),
            member.metadata_value(),
        )

    def _current_record(self, member: ConsumerGroupMember) -> ConsumerGroupRecord:
        return ConsumerGroupRecord(
            ConsumerGroupCurrentMemberAssignmentKey(self.group_id, member.member_id),
            member.assignment_value(),
        )

    def _target_record(self, member_id: str, partitions: Partitions) -> ConsumerGroupRecord:
        return ConsumerGroupRecord(
            ConsumerGroupTargetAssignmentMemberKey(self.group_id, member_id),
            ConsumerGroupTargetAssignmentMemberValue(partitions),
        )

    def _remove_member_records(self, member_id: str) -> list[ConsumerGroupRecord]:
        """Tombstones for a member; the order matters for replay."""
        g = self.group_id
        return [
            ConsumerGroupRecord(ConsumerGroupCurrentMemberAssignmentKey(g, member_id), None),
            ConsumerGroupRecord(ConsumerGroupTargetAssignmentMemberKey(g, member_id), None),
            ConsumerGroupRecord(ConsumerGroupMemberMetadataKey(g, member_id), None),
        ]

    # ----------------------------------------------------------------- heartbeat

    def heartbeat(
        self, request: HeartbeatRequest, now_ms: int, topics: TopicsView
    ) -> tuple[list[ConsumerGroupRecord], HeartbeatResponse]:
        """Handle a ConsumerGroupHeartbeat addressed to this group.

        The caller has already checked that the group id belongs to a consumer group (or is
        free and the member is joining). Errors come back as a response with no records.
        """
        try:
            validate_heartbeat(request, self.config)
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                return self._leave(request, topics)
            return self._heartbeat(request, now_ms, topics)
        except GroupError as exc:
            return [], HeartbeatResponse.error(exc)

    def _check_epoch(
        self,
        member: ConsumerGroupMember,
        received: int,
        owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None,
    ) -> None:
        if received > member.member_epoch:
            raise GroupError(
                ErrorCode.fenced_member_epoch,
                f"The consumer group member has a greater member epoch ({received}) than the "
                f"one known by the group coordinator ({member.member_epoch}). "
                "The member must abandon all its partitions and rejoin.",
            )
        if received < member.member_epoch:
            # A member retrying with the previous epoch and a subset of its partitions is
            # accepted: the response that bumped its epoch may have been lost.
            subset = owned is not None and all(
                p in member.assigned_partitions.get(t, ()) for t, parts in owned for p in parts
            )
            if received != member.previous_member_epoch or not subset:
                raise GroupError(
                    ErrorCode.fenced_member_epoch,
                    f"The consumer group member has a smaller member epoch ({received}) than "
                    f"the one known by the group coordinator ({member.member_epoch}). "
                    "The member must abandon all its partitions and rejoin.",
                )

    def _heartbeat(
        self, request: HeartbeatRequest, now_ms: int, topics: TopicsView
    ) -> tuple[list[ConsumerGroupRecord], HeartbeatResponse]:
        records: list[ConsumerGroupRecord] = []
        joining = request.member_epoch == 0
        member_id = request.member_id or generate_member_id()
        if len(self.members) >= self.config.max_size and member_id not in self.members:
            raise GroupError(
                ErrorCode.group_max_size_reached,
                "The consumer group has reached its maximum capacity of "
                f"{self.config.max_size} members.",
            )

        replaced: str | None = None
        instance_id = request.instance_id
        existing_static = (
            self.members.get(self.static_members.get(instance_id, ""))
            if instance_id is not None
            else None
        )
        if instance_id is None or (joining and existing_static is None):
            member = self.members.get(member_id)
            if member is None:
                if not joining:
                    raise GroupError(
                        ErrorCode.unknown_member_id,
                        f"Member {member_id} is not a member of group {self.group_id}.",
                    )
                member = ConsumerGroupMember(member_id)
            elif not joining:
                # A known member rejoining with epoch 0 (after FENCED_MEMBER_EPOCH, keeping
                # its member id) is accepted as it is.
                self._check_epoch(member, request.member_epoch, request.topic_partitions)
        elif joining:
            assert existing_static is not None
            if existing_static.member_id != member_id:
                if existing_static.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                    raise GroupError(
                        ErrorCode.unreleased_instance_id,
                        f"Static member {member_id} with instance id {instance_id} cannot join "
                        f"the group because the instance id is owned by "
                        f"{existing_static.member_id} member.",
                    )
                # The static member comes back under a new member id: it takes over the
                # previous incarnation's assignment.
                replaced = existing_static.member_id
                member = replace(
                    existing_static, member_id=member_id, member_epoch=0, previous_member_epoch=0
                )
                records += self._remove_member_records(replaced)
                records.append(self._member_record(member))
                records.append(
                    self._target_record(member_id, self.target_assignment.get(replaced, _EMPTY))
                )
                records.append(self._current_record(member))
            else:
                member = existing_static
        else:
            if existing_static is None:
                raise GroupError(
                    ErrorCode.unknown_member_id, f"Instance id {instance_id} is unknown."
                )
            if existing_static.member_id != member_id:
                raise GroupError(
                    ErrorCode.fenced_instance_id,
                    f"Static member {member_id} with instance id {instance_id} was fenced by "
                    f"member {existing_static.member_id}.",
                )
            member = existing_static
            self._check_epoch(member, request.member_epoch, request.topic_partitions)

        # 1. Update the member; bump the group epoch if its subscription changed.
        updated = replace(
            member,
            instance_id=instance_id if instance_id is not None else member.instance_id,
            rack_id=request.rack_id if request.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=(
                request.rebalance_timeout_ms
                if request.rebalance_timeout_ms != -1
                else member.rebalance_timeout_ms
            ),
            server_assignor=(
                request.server_assignor
                if request.server_assignor is not None
                else member.server_assignor
            ),
            subscribed_topic_names=(
                tuple(sorted(set(request.subscribed_topic_names)))
                if request.subscribed_topic_names is not None
                else member.subscribed_topic_names
            ),
            subscribed_topic_regex=(
                (request.subscribed_topic_regex or None)
                if request.subscribed_topic_regex is not None
                else member.subscribed_topic_regex
            ),
            client_id=request.client_id,
            client_host=request.client_host,
        )
        bump = False
        if updated != member:
            records.append(self._member_record(updated))
            bump = (
                updated.subscribed_topic_names != member.subscribed_topic_names
                or updated.subscribed_topic_regex != member.subscribed_topic_regex
            )

        others = {mid: m for mid, m in self.members.items() if mid not in (member_id, replaced)}
        everyone = [*others.values(), updated]
        metadata = self._compute_subscription_metadata(everyone, topics)
        if metadata != self.subscription_metadata:
            bump = True
            records.append(self._metadata_record(metadata))
        group_epoch = self.group_epoch
        if bump:
            group_epoch += 1
            records.append(self._epoch_record(group_epoch))

        # 2. A new target assignment when the group epoch moved ahead of it.
        if group_epoch > self.assignment_epoch:
            targets = dict(self.target_assignment)
            if replaced is not None:
                targets[member_id] = targets.pop(replaced, _EMPTY)
            new_targets = self._assign(
                {**others, member_id: updated}, targets, metadata, topics, records, group_epoch
            )
            target_epoch = group_epoch
            target = new_targets.get(member_id, _EMPTY)
        else:
            target_epoch = self.assignment_epoch
            target = self.target_assignment.get(
                replaced if replaced is not None else member_id, _EMPTY
            )

        # 3. Reconcile the member towards its target.
        reconciled = updated
        if not updated.is_reconciled_to(target_epoch):
            reconciled = next_member_assignment(
                updated, target_epoch, target, self.partition_epoch, request.topic_partitions
            )
            if reconciled != updated:
                records.append(self._current_record(reconciled))
                if reconciled.state is MemberState.UNREVOKED_PARTITIONS:
                    self._rebalance_deadlines[member_id] = (
                        now_ms + max(reconciled.rebalance_timeout_ms, 0),
                        reconciled.member_epoch,
                    )
                else:
                    self._rebalance_deadlines.pop(member_id, None)

        self._session_deadlines[member_id] = now_ms + self.config.session_timeout_ms
        if replaced is not None:
            self._session_deadlines.pop(replaced, None)
            self._rebalance_deadlines.pop(replaced, None)

        full = joining or (
            request.rebalance_timeout_ms != -1
            and request.subscribed_topic_names is not None
            and request.topic_partitions is not None
        )
        assignment = None
        if full or reconciled.assigned_partitions != member.assigned_partitions:
            assignment = reconciled.assigned_partitions
        return records, HeartbeatResponse(
            member_id=member_id,
            member_epoch=reconciled.member_epoch,
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            assignment=assignment,
        )

    def _assign(
        self,
        members: Mapping[str, ConsumerGroupMember],
        targets: Mapping[str, Partitions],
        metadata: Mapping[str, TopicMetadata],
        topics: TopicsView,
        records: list[ConsumerGroupRecord],
        group_epoch: int,
    ) -> dict[str, Partitions]:
        """Compute the target assignment for ``group_epoch`` and append its records."""
        name = self.preferred_assignor(members.values())
        topic_partitions = {tm.topic_id: tm.num_partitions for tm in metadata.values()}
        spec = GroupSpec(
            {
                mid: MemberSpec(
                    subscribed_topic_ids=self._member_topic_ids(m, topics)
                    & frozenset(topic_partitions),
                    assignment=targets.get(mid, _EMPTY),
                    instance_id=m.instance_id,
                    rack_id=m.rack_id,
                )
                for mid, m in members.items()
            }
        )
        try:
            result = ASSIGNORS[name].assign(spec, topic_partitions)
        except (PartitionAssignorError, KeyError) as exc:
            raise GroupError(
                ErrorCode.unknown_server_error,
                f"Failed to compute a new target assignment for epoch {group_epoch}: {exc}",
            ) from None
        new_targets: dict[str, Partitions] = {}
        for mid in sorted(members):
            new = freeze(result.get(mid, {}))
            new_targets[mid] = new
            if mid not in self.target_assignment or self.target_assignment[mid] != new:
                records.append(self._target_record(mid, new))
        records.append(
            ConsumerGroupRecord(
                ConsumerGroupTargetAssignmentMetadataKey(self.group_id),
                ConsumerGroupTargetAssignmentMetadataValue(group_epoch),
            )
        )
        return new_targets

    # ----------------------------------------------------------------- leaving and fencing

    def _leave(
        self, request: HeartbeatRequest, topics: TopicsView
    ) -> tuple[list[ConsumerGroupRecord], HeartbeatResponse]:
        response = HeartbeatResponse(member_id=request.member_id, member_epoch=request.member_epoch)
        if request.instance_id is None:
            member = self.members.get(request.member_id)
            if member is None:
                raise GroupError(
                    ErrorCode.unknown_member_id,
                    f"Member {request.member_id} is not a member of group {self.group_id}.",
                )
            return self.fence_member(member.member_id, topics), response
        member_id = self.static_members.get(request.instance_id)
        member = self.members.get(member_id) if member_id is not None else None
        if member is None:
            raise GroupError(
                ErrorCode.unknown_member_id, f"Instance id {request.instance_id} is unknown."
            )
        if member.member_id != request.member_id:
            raise GroupError(
                ErrorCode.fenced_instance_id,
                f"Static member {request.member_id} with instance id {request.instance_id} "
                f"was fenced by member {member.member_id}.",
            )
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            # The static member will be back: keep its partitions until its session expires.
            leaving = replace(
                member,
                member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                partitions_pending_revocation={},
            )
            return [self._current_record(leaving)], HeartbeatResponse(
                member_id=member.member_id, member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH
            )
        return self.fence_member(member.member_id, topics), response

    def fence_member(self, member_id: str, topics: TopicsView) -> list[ConsumerGroupRecord]:
        """Records removing a member and bumping the group epoch; [] for an unknown member."""
        member = self.members.get(member_id)
        if member is None:
            return []
        records = self._remove_member_records(member_id)
        remaining = [m for mid, m in self.members.items() if mid != member_id]
        metadata = self._compute_subscription_metadata(remaining, topics)
        if metadata != self.subscription_metadata:
            records.append(self._metadata_record(metadata))
        records.append(self._epoch_record(self.group_epoch + 1))
        self._session_deadlines.pop(member_id, None)
        self._rebalance_deadlines.pop(member_id, None)
        return records

    def expire(self, now_ms: int, topics: TopicsView) -> list[ConsumerGroupRecord]:
        """Records fencing members whose session or rebalance timeout has passed.

        Members without a session timer (just loaded) get one starting now.
        """
        records: list[ConsumerGroupRecord] = []
        fenced: set[str] = set()
        for member_id, member in list(self.members.items()):
            deadline = self._session_deadlines.get(member_id)
            if deadline is None:
                self._session_deadlines[member_id] = now_ms + self.config.session_timeout_ms
                continue
            expired = now_ms >= deadline
            rebalance = self._rebalance_deadlines.get(member_id)
            if rebalance is not None and now_ms >= rebalance[0]:
                if member.member_epoch == rebalance[1]:
                    expired = True
                else:
                    del self._rebalance_deadlines[member_id]
            if expired:
                fenced.add(member_id)
        # Fence one at a time against the state the earlier fencings leave behind: the
        # epoch bumps by one per member and metadata is computed without all of them.
        epoch = self.group_epoch
        remaining = dict(self.members)
        for member_id in sorted(fenced):
            del remaining[member_id]
            records += self._remove_member_records(member_id)
            epoch += 1
            records.append(self._epoch_record(epoch))
            self._session_deadlines.pop(member_id, None)
            self._rebalance_deadlines.pop(member_id, None)
        if fenced:
            metadata = self._compute_subscription_metadata(remaining.values(), topics)
            if metadata != self.subscription_metadata:
                records.insert(len(records) - 1, self._metadata_record(metadata))
        return records

    def start_session_timers(self, now_ms: int) -> None:
        """Give members without a session timer (just loaded) one that starts now."""
        for member_id in self.members:
            if member_id not in self._session_deadlines:
                self._session_deadlines[member_id] = now_ms + self.config.session_timeout_ms

    def next_deadline(self) -> int | None:
        deadlines = list(self._session_deadlines.values())
        deadlines += [d for d, _ in self._rebalance_deadlines.values()]
        return min(deadlines) if deadlines else None

    # ----------------------------------------------------------------- the coordinator's Group

    group_type = "consumer"

    @property
    def state_name(self) -> str:
        return self.state.value

    @property
    def protocol_type(self) -> str | None:
        return "consumer"

    def is_subscribed_to(self, topic: str) -> bool:
        return topic in self.subscription_metadata or any(
            topic in m.subscribed_topic_names for m in self.members.values()
        )

    def validate_offset_commit(
        self,
        member_id: str,
        instance_id: str | None,
        generation_id: int,
        *,
        is_transactional: bool = False,
        api_version: int = 9,
    ) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetCommit (``generation_id`` is the member epoch)."""
        if generation_id < 0 and not self.members:
            return ErrorCode.none
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.unknown_member_id
        if not is_transactional and api_version < 9:
            # "OffsetCommit version 9 or above must be used by members using the modern
            # group protocol"
            return ErrorCode.unsupported_version
        if generation_id != member.member_epoch:
            return ErrorCode.stale_member_epoch
        return ErrorCode.none

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetFetch."""
        if member_id is None and member_epoch < 0:
            return ErrorCode.none
        member = self.members.get(member_id or "")
        if member is None:
            return ErrorCode.unknown_member_id
        if member_epoch != member.member_epoch:
            return ErrorCode.stale_member_epoch
        return ErrorCode.none

    def validate_offset_delete(self) -> ErrorCode:
        return ErrorCode.none

    def validate_delete(self) -> ErrorCode:
        return ErrorCode.non_empty_group if self.members else ErrorCode.none

    def deletion_records(self) -> list[tuple[bytes, bytes | None]]:
        """The coordinator's DeleteGroups hook: :meth:`delete_records`, encoded."""
        return [r.encode() for r in self.delete_records()]

    def delete_records(self) -> list[ConsumerGroupRecord]:
        """Tombstones deleting the whole group (DeleteGroups; only when EMPTY)."""
        if self.members:
            raise GroupError(ErrorCode.non_empty_group, "The group is not empty.")
        g = self.group_id
        records = [
            ConsumerGroupRecord(ConsumerGroupTargetAssignmentMemberKey(g, mid), None)
            for mid in sorted(self.target_assignment)
        ]
        records.append(ConsumerGroupRecord(ConsumerGroupTargetAssignmentMetadataKey(g), None))
        records.append(ConsumerGroupRecord(ConsumerGroupPartitionMetadataKey(g), None))
        records.append(ConsumerGroupRecord(ConsumerGroupMetadataKey(g), None))
        return records

    # ----------------------------------------------------------------- replay

    def replay(self, record: ConsumerGroupRecord) -> None:
        """Apply one record of this group (from a write or from loading the log)."""
        key, value = record.key, record.value
        if isinstance(key, ConsumerGroupMetadataKey):
            if isinstance(value, ConsumerGroupMetadataValue):
                self.group_epoch = value.epoch
                self.deleted = False
            else:
                self.deleted = True
        elif isinstance(key, ConsumerGroupPartitionMetadataKey):
            if isinstance(value, ConsumerGroupPartitionMetadataValue):
                self.subscription_metadata = {t.topic_name: t for t in value.topics}
            else:
                self.subscription_metadata = {}
        elif isinstance(key, ConsumerGroupTargetAssignmentMetadataKey):
            if isinstance(value, ConsumerGroupTargetAssignmentMetadataValue):
                self.assignment_epoch = value.assignment_epoch
            else:
                self.assignment_epoch = -1
        elif isinstance(key, ConsumerGroupTargetAssignmentMemberKey):
            if isinstance(value, ConsumerGroupTargetAssignmentMemberValue):
                self.target_assignment[key.member_id] = freeze(value.topic_partitions)
            else:
                self.target_assignment.pop(key.member_id, None)
        elif isinstance(key, ConsumerGroupMemberMetadataKey):
            if isinstance(value, ConsumerGroupMemberMetadataValue):
                old = self.members.get(key.member_id) or ConsumerGroupMember(key.member_id)
                self._update_member(
                    replace(
                        old,
                        instance_id=value.instance_id,
                        rack_id=value.rack_id,
                        client_id=value.client_id,
                        client_host=value.client_host,
                        subscribed_topic_names=tuple(sorted(set(value.subscribed_topic_names))),
                        subscribed_topic_regex=value.subscribed_topic_regex or None,
                        rebalance_timeout_ms=value.rebalance_timeout_ms,
                        server_assignor=value.server_assignor,
                    )
                )
            else:
                self._remove_member(key.member_id)
        elif isinstance(key, ConsumerGroupCurrentMemberAssignmentKey):
            if isinstance(value, ConsumerGroupCurrentMemberAssignmentValue):
                old = self.members.get(key.member_id) or ConsumerGroupMember(key.member_id)
                try:
                    state = MemberState(value.state)
                except ValueError:
                    state = MemberState.UNKNOWN
                self._update_member(
                    replace(
                        old,
                        member_epoch=value.member_epoch,
                        previous_member_epoch=value.previous_member_epoch,
                        state=state,
                        assigned_partitions=freeze(value.assigned_partitions),
                        partitions_pending_revocation=freeze(value.partitions_pending_revocation),
                    )
                )
            else:
                gone = self.members.get(key.member_id)
                if gone is not None:
                    self._update_member(
                        replace(
                            gone,
                            member_epoch=LEAVE_GROUP_MEMBER_EPOCH,
                            previous_member_epoch=LEAVE_GROUP_MEMBER_EPOCH,
                            assigned_partitions={},
                            partitions_pending_revocation={},
                        )
                    )

    def _update_member(self, new: ConsumerGroupMember) -> None:
        old = self.members.get(new.member_id)
        if old is not None:
            self._remove_partition_epochs(old)
        self.members[new.member_id] = new
        for partitions in (new.assigned_partitions, new.partitions_pending_revocation):
            for topic_id, parts in partitions.items():
                for p in parts:
                    if (topic_id, p) in self._partition_epochs:
                        raise RuntimeError(
                            f"group {self.group_id}: cannot set the epoch of {topic_id}-{p} to "
                            f"{new.member_epoch}: still owned at epoch "
                            f"{self._partition_epochs[(topic_id, p)]}"
                        )
                    self._partition_epochs[(topic_id, p)] = new.member_epoch
        if new.instance_id is not None:
            self.static_members[new.instance_id] = new.member_id

    def _remove_partition_epochs(self, member: ConsumerGroupMember) -> None:
        for partitions in (member.assigned_partitions, member.partitions_pending_revocation):
            for topic_id, parts in partitions.items():
                for p in parts:
                    self._partition_epochs.pop((topic_id, p), None)

    def _remove_member(self, member_id: str) -> None:
        old = self.members.pop(member_id, None)
        if old is None:
            return
        self._remove_partition_epochs(old)
        if old.instance_id is not None and self.static_members.get(old.instance_id) == member_id:
            del self.static_members[old.instance_id]
        self._session_deadlines.pop(member_id, None)
        self._rebalance_deadlines.pop(member_id, None)
