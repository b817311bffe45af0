"""The KIP-848 consumer protocol inside the group coordinator.

:class:`ConsumerProtocol` connects :class:`~broker.group.consumer_group.ConsumerGroup`
(pure state) to :class:`~broker.group.coordinator.GroupMetadataManager` (partitions, the
``__consumer_offsets`` writer, timers):

- it registers the replay of the ConsumerGroup* records (key versions 3-8) with the
  coordinator, so written and loaded records go through the same code;
- :meth:`ConsumerProtocol.heartbeat` routes a ConsumerGroupHeartbeat to its group,
  writes the records the group returns and answers only after they are appended;
- a keyed timer per group fences members whose session or rebalance timeout passed.

A group id belongs to one protocol. A heartbeat for a classic group's id gets
GROUP_ID_NOT_FOUND, unless the classic group is empty: then, as Kafka does, a joining
member deletes it (a group tombstone) and the id becomes a consumer group.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.group.assignors import ASSIGNORS
from broker.group.consumer_group import ConsumerGroup
from broker.group.consumer_group_records import (
    KEY_VERSIONS,
    ConsumerGroupMetadataKey,
    ConsumerGroupRecord,
    RecordDecodeError,
    decode_record,
)
from broker.group.consumer_member import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroupConfig,
    GroupError,
    HeartbeatRequest,
    HeartbeatResponse,
    TopicInfo,
    validate_heartbeat,
)
from broker.group.records import OtherKey

if TYPE_CHECKING:
    from broker.group.group_metadata_manager import GroupMetadataManager

log = logging.getLogger(__name__)

_TIMER_PREFIX = "consumer-group-timeouts:"


class MetadataTopics:
    """The cluster's topics as a consumer group sees them (internal topics left out)."""

    def __init__(self, metadata: Any) -> None:
        self.metadata = metadata  # cluster.metadata.MetadataStore

    def topic(self, name: str) -> TopicInfo | None:
        t = self.metadata.topic(name)
        if t is None or t.is_internal:
            return None
        return TopicInfo(t.topic_id, t.name, len(t.partitions))

    def topic_names(self) -> Iterable[str]:
        return [name for name, t in self.metadata.topics().items() if not t.is_internal]

    def name_of(self, topic_id: Any) -> str | None:
        t = self.metadata.topic_by_id(topic_id)
        return None if t is None else str(t.name)


def assignor_names(configured: Iterable[str]) -> tuple[str, ...]:
    """group.consumer.assignors: short names, or Kafka's class names (UniformAssignor)."""
    names: list[str] = []
    for entry in configured:
        name = entry.strip().rsplit(".", 1)[-1]
        name = name.removesuffix("Assignor").lower() if name.endswith("Assignor") else name
        if name in ASSIGNORS and name not in names:
            names.append(name)
        elif name:
            log.warning("group.consumer.assignors: unknown assignor %r ignored", entry)
    return tuple(names)


def config_from(broker_config: Any) -> ConsumerGroupConfig:
    assignors = assignor_names(getattr(broker_config, "group_consumer_assignors", ()) or ())
    return ConsumerGroupConfig(
        session_timeout_ms=int(broker_config.group_consumer_session_timeout_ms),
        heartbeat_interval_ms=int(broker_config.group_consumer_heartbeat_interval_ms),
        max_size=int(broker_config.group_consumer_max_size),
        assignors=assignors or ConsumerGroupConfig().assignors,
    )


class ConsumerProtocol:
    """KIP-848 groups of one coordinator."""

    def __init__(self, coordinator: GroupMetadataManager) -> None:
        self.coordinator = coordinator
        self.config = config_from(coordinator.config)
        self.topics = MetadataTopics(coordinator.topic_manager.metadata)
        # Groups created by a heartbeat whose first records are being written.
        self._creating: dict[str, ConsumerGroup] = {}
        for version in KEY_VERSIONS:
            coordinator.other_record_handlers[version] = self._replay

    # ----------------------------------------------------------------- replay

    def _replay(self, key: OtherKey, value: bytes | None, live: bool) -> None:
        try:
            # OtherKey.data is the key after its int16 version.
            record = decode_record(struct.pack(">h", key.version) + key.data, value)
        except RecordDecodeError as exc:
            log.warning("skipping undecodable consumer-group record: %s", exc)
            return
        group = self._group_for_replay(record)
        if group is None:
            return
        group.replay(record)
        if group.deleted:
            if self.coordinator.groups.get(group.group_id) is group:
                del self.coordinator.groups[group.group_id]
            self.coordinator.timer.cancel(_TIMER_PREFIX + group.group_id)
        elif not live:
            # After a load every member gets a fresh session timeout (Kafka's onLoaded).
            self._schedule(group)

    def _group_for_replay(self, record: ConsumerGroupRecord) -> ConsumerGroup | None:
        groups = self.coordinator.groups
        group_id = record.group_id
        existing = groups.get(group_id)
        if isinstance(existing, ConsumerGroup):
            return existing
        if existing is not None and not existing.is_empty():
            log.warning(
                "ignoring a consumer-group record of %s: it is a non-empty %s group",
                group_id,
                existing.group_type,
            )
            return None
        if record.value is None:
            return None  # a tombstone for a group we do not have
        group = self._creating.pop(group_id, None) or ConsumerGroup(group_id, self.config)
        groups[group_id] = group
        return group

    # ----------------------------------------------------------------- heartbeat

    async def heartbeat(self, request: HeartbeatRequest) -> HeartbeatResponse:
        coordinator = self.coordinator
        try:
            validate_heartbeat(request, self.config)
        except GroupError as exc:
            return HeartbeatResponse.error(exc)
        error = await coordinator.check_group(request.group_id)
        if error != ErrorCode.none:
            return HeartbeatResponse(error_code=error)

        group_id = request.group_id
        prefix: list[tuple[bytes, bytes | None]] = []
        existing = coordinator.groups.get(group_id)
        if isinstance(existing, ConsumerGroup):
            group = existing
        elif existing is None or (
            request.member_epoch == 0 and existing.is_empty() and existing.group_type == "classic"
        ):
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                return HeartbeatResponse(
                    error_code=ErrorCode.group_id_not_found,
                    error_message=f"Group {group_id} not found.",
                )
            if request.member_epoch != 0:
                # Kafka answers a heartbeat of a member of a group that no longer exists
                # (deleted, or expired) with UNKNOWN_MEMBER_ID so that the member rejoins;
                # librdkafka treats GROUP_ID_NOT_FOUND as fatal.
                return HeartbeatResponse(
                    error_code=ErrorCode.unknown_member_id,
                    error_message=f"Consumer group {group_id} not found.",
                )
            if existing is not None:
                # An empty classic group gives its id up to the consumer protocol.
                prefix.append(coordinator.group_tombstone(group_id))
            group = ConsumerGroup(group_id, self.config)
        else:
            return HeartbeatResponse(
                error_code=ErrorCode.group_id_not_found,
                error_message=f"Group {group_id} is not a consumer group.",
            )

        now = coordinator.clock.milliseconds()
        records, response = group.heartbeat(request, now, self.topics)
        if records:
            if coordinator.groups.get(group_id) is not group:
                self._creating[group_id] = group
            try:
                error = await coordinator.write(group_id, prefix + [r.encode() for r in records])
            finally:
                self._creating.pop(group_id, None)
            if error != ErrorCode.none:
                return HeartbeatResponse(error_code=error)
            if _bumps_group_epoch(request, records):
                coordinator.stats.consumer_group_rebalances += 1
        if coordinator.groups.get(group_id) is group:
            self._schedule(group)
        return response

    # ----------------------------------------------------------------- timeouts

    def _schedule(self, group: ConsumerGroup) -> None:
        key = _TIMER_PREFIX + group.group_id
        if not group.members:
            self.coordinator.timer.cancel(key)
            return
        now = self.coordinator.clock.milliseconds()
        group.start_session_timers(now)
        deadline = group.next_deadline()
        delay = 0 if deadline is None else max(0, deadline - now)
        group_id = group.group_id
        self.coordinator.timer.schedule(key, delay, lambda: self._expire(group_id))

    def _expire(self, group_id: str) -> None:
        group = self.coordinator.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return
        if self.coordinator.check_group_id(group_id) != ErrorCode.none:
            return
        records = group.expire(self.coordinator.clock.milliseconds(), self.topics)
        if records:
            log.info(
                "group %s: fencing member(s) whose session or rebalance timeout expired",
                group_id,
            )
            self.coordinator.write_in_background(group_id, [r.encode() for r in records])
        self._schedule(group)

    def unload(self, group: ConsumerGroup) -> None:
        self.coordinator.timer.cancel(_TIMER_PREFIX + group.group_id)


def _bumps_group_epoch(request: HeartbeatRequest, records: list[ConsumerGroupRecord]) -> bool:
    """A joining or updating member's heartbeat that wrote a new group epoch: what Kafka
    counts as a consumer group rebalance (a member leaving or fenced bumps the epoch too,
    but Kafka does not count it)."""
    if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
        return False
    return any(
        isinstance(r.key, ConsumerGroupMetadataKey) and r.value is not None for r in records
    )
