"""Group metadata manager: groups and committed offsets, persisted in ``__consumer_offsets``.

Kafka's GroupMetadataManager. Handler → records → replay: an operation validates its
request against the in-memory state, builds the ``__consumer_offsets`` records it implies,
appends them to the group's partition through the coordinator runtime
(:meth:`GroupMetadataManager.write`), and only then replays them into memory (offsets,
deletions) and answers. Loading a partition after a start (or, in a cluster, after
becoming its leader) replays the same records through the same
:meth:`GroupMetadataManager.replay`, in chunks read off the event loop by
:class:`broker.coordinator.runtime.CoordinatorRuntime`.

Classic membership (JoinGroup/SyncGroup/...) lives in :mod:`broker.group.classic_protocol`
and KIP-848 membership in :mod:`broker.group.consumer_protocol`; both are wired on top of
this class by :class:`broker.group.coordinator.GroupCoordinator`;
as in Kafka, its transient state changes in memory and the group's metadata record is
written when it matters for recovery (after the leader's SyncGroup, when a rebalance ends
with no members, when a static member is replaced).

A group lives in partition ``abs(javaHash(group_id)) % offsets.topic.num.partitions``.
Requests for a group whose partition this broker does not lead get NOT_COORDINATOR;
while the partition loads, COORDINATOR_LOAD_IN_PROGRESS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.runtime import (
    CoordinatorRuntime,
    PartitionStatus,
    RecordPair,
    coordinator_error,
)
from broker.group.base import Group
from broker.group.classic_group import ClassicGroup, GroupState
from broker.group.consumer_group import ConsumerGroup
from broker.group.records import (
    GroupMetadataKey,
    OffsetCommitKey,
    OffsetCommitValue,
    OtherKey,
    RecordFormatError,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    encode_group_metadata_key,
    encode_group_metadata_value,
    encode_offset_commit_key,
    encode_offset_commit_value,
)
from broker.group.timer import LoopTimer, Timer
from broker.replica.replica_manager import ReplicaManager
from broker.topic_manager import TopicManager, TopicSpec
from protocol.errors import KafkaError
from protocol.records import NewRecord, encode_batch
from storage.clock import Clock

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"

PendingOffsets = dict[tuple[str, int], "OffsetAndMetadata"]
OtherRecordHandler = Callable[[OtherKey, bytes | None, bool], None]


def java_string_hash(s: str) -> int:
    """Java's String.hashCode over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode()) % numPartitions`` (abs(MIN_VALUE) = 0)."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


class GroupCoordinatorStats:
    """Kafka's group-coordinator-metrics counts: offsets committed (plain and transactional),
    expired and deleted by OffsetDelete, classic rebalances completed and consumer group
    (KIP-848) rebalances, i.e. group epochs bumped by a member's heartbeat."""

    __slots__ = (
        "completed_rebalances",
        "consumer_group_rebalances",
        "offset_commits",
        "offset_deletions",
        "offset_expirations",
    )

    def __init__(self) -> None:
        self.offset_commits = 0
        self.offset_expirations = 0
        self.offset_deletions = 0
        self.completed_rebalances = 0
        self.consumer_group_rebalances = 0


@dataclass(slots=True)
class OffsetAndMetadata:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = -1


class GroupMetadataManager:
    """Groups and offsets of the ``__consumer_offsets`` partitions this broker leads."""

    def __init__(
        self,
        config: Any,
        clock: Clock,
        replica_manager: ReplicaManager,
        topic_manager: TopicManager,
        timer: Timer | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.replica_manager = replica_manager
        self.topic_manager = topic_manager
        self.timer: Timer = timer or LoopTimer()
        self.groups: dict[str, Group] = {}
        self.offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        self.other_record_handlers: dict[int, OtherRecordHandler] = {}
        #: TxnOffsetCommit offsets waiting for their transaction's marker:
        #: producer id → group → partition → offset (Kafka's pendingTransactionalOffsetCommits).
        self.pending_txn_offsets: dict[int, dict[str, PendingOffsets]] = {}
        #: Counted when the records are appended and committed (never on replay).
        self.stats = GroupCoordinatorStats()
        self.runtime = CoordinatorRuntime(
            OFFSETS_TOPIC,
            self,
            replica_manager,
            topic_manager,
            clock,
            num_partitions=int(config.offsets_topic_num_partitions),
            load_buffer_size=int(config.offsets_load_buffer_size),
            write_timeout_ms=int(config.offsets_commit_timeout_ms),
            topic_spec=self._offsets_topic_spec,
        )
        self._warned_rf = False

    # -- partitions ----------------------------------------------------------
    @property
    def num_partitions(self) -> int:
        return self.runtime.num_partitions

    @property
    def partitions(self) -> dict[int, PartitionStatus]:
        return self.runtime.partitions

    @property
    def active(self) -> bool:
        return self.runtime.active

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.runtime.num_partitions)

    async def startup(self) -> None:
        """Load every ``__consumer_offsets`` partition this broker leads (in the background)
        and follow leadership changes from now on."""
        self.runtime.start()

    async def wait_loaded(self) -> None:
        await self.runtime.wait_loaded()

    async def ensure_topic(self) -> bool:
        """Create ``__consumer_offsets`` on first need; True when it exists."""
        return await self.runtime.ensure_topic()

    def _offsets_topic_spec(self, live_brokers: int) -> TopicSpec | None:
        wanted = int(self.config.offsets_topic_replication_factor)
        if getattr(self.config, "standalone", True):
            rf = 1  # one broker: the only replication factor there can be
        elif live_brokers < wanted:
            if not self._warned_rf:
                self._warned_rf = True
                log.warning(
                    "cannot create %s yet: %d broker(s) alive, fewer than its replication "
                    "factor %d (offsets.topic.replication.factor); consumer groups get "
                    "COORDINATOR_NOT_AVAILABLE until enough brokers have started",
                    OFFSETS_TOPIC,
                    live_brokers,
                    wanted,
                )
            return None
        else:
            rf = wanted
        return TopicSpec(
            OFFSETS_TOPIC,
            self.runtime.num_partitions,
            rf,
            configs={
                "cleanup.policy": "compact",
                "compression.type": "producer",
                "segment.bytes": str(self.config.offsets_topic_segment_bytes),
            },
        )

    # -- shard callbacks (CoordinatorRuntime) ----------------------------------
    def on_loaded(self, index: int) -> None:
        for group_id, group in self.groups.items():
            if self.partition_for(group_id) == index:
                self.group_loaded(group)

    def on_unloaded(self, index: int) -> None:
        for group_id in [g for g in self.groups if self.partition_for(g) == index]:
            group = self.groups.pop(group_id)
            self.group_unloaded(group)
            self.offsets.pop(group_id, None)
        for pid, by_group in list(self.pending_txn_offsets.items()):
            for group_id in [g for g in by_group if self.partition_for(g) == index]:
                del by_group[group_id]
            if not by_group:
                del self.pending_txn_offsets[pid]

    def group_loaded(self, group: Group) -> None:
        """A group's records are all replayed (the classic protocol arms its timers)."""

    def group_unloaded(self, group: Group) -> None:
        """A group leaves memory (the classic protocol answers its parked requests)."""

    def check_group_id(self, group_id: str) -> ErrorCode:
        """NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS / NONE for this group id."""
        if not self.active:
            return ErrorCode.not_coordinator
        status = self.partitions.get(self.partition_for(group_id))
        if status is None:
            return ErrorCode.not_coordinator
        if status is PartitionStatus.LOADING:
            return ErrorCode.coordinator_load_in_progress
        return ErrorCode.none

    async def check_group(self, group_id: str) -> ErrorCode:
        """As check_group_id, creating the internal topic first if it does not exist."""
        if not self.partitions and self.active:
            await self.ensure_topic()
        return self.check_group_id(group_id)

    # -- writing -------------------------------------------------------------
    def append(self, group_id: str, records: list[RecordPair]) -> int:
        """Append records to the group's partition and replay them; raises KafkaError.
        Returns the offset the high watermark must reach for them to be committed."""
        if not records:
            return -1
        return self.runtime.append(self.partition_for(group_id), records)

    async def commit(self, group_id: str, required_offset: int) -> ErrorCode:
        """Wait until appended records are durable and replicated (acks=all)."""
        if required_offset < 0:
            return ErrorCode.none
        return await self.runtime.commit(self.partition_for(group_id), required_offset)

    async def write(self, group_id: str, records: list[RecordPair]) -> ErrorCode:
        """append + commit; returns the coordinator error to answer (NONE on success)."""
        return await self.runtime.write(self.partition_for(group_id), records)

    def write_in_background(self, group_id: str, records: list[RecordPair]) -> None:
        """From timer callbacks: append now, commit on a task."""
        self.runtime.write_in_background(self.partition_for(group_id), records)

    async def flush(self) -> None:
        """Wait until every write made so far is committed."""
        await self.runtime.flush()

    # -- replay --------------------------------------------------------------
    def replay(self, key_bytes: bytes, value: bytes | None, live: bool) -> None:
        try:
            key = decode_key(key_bytes)
            if isinstance(key, OffsetCommitKey):
                self._replay_offset(key, value)
            elif isinstance(key, GroupMetadataKey):
                self._replay_group(key, value, live)
            else:
                handler = self.other_record_handlers.get(key.version)
                if handler is not None:
                    handler(key, value, live)
        except RecordFormatError as exc:
            log.warning("skipping undecodable %s record: %s", OFFSETS_TOPIC, exc)

    def replay_transactional(self, producer_id: int, key_bytes: bytes, value: bytes | None) -> None:
        """An offset written by TxnOffsetCommit: pending until the transaction's marker."""
        try:
            key = decode_key(key_bytes)
            if not isinstance(key, OffsetCommitKey) or value is None:
                return
            v = decode_offset_commit_value(value)
        except RecordFormatError as exc:
            log.warning("skipping undecodable %s record: %s", OFFSETS_TOPIC, exc)
            return
        by_group = self.pending_txn_offsets.setdefault(producer_id, {})
        by_group.setdefault(key.group, {})[(key.topic, key.partition)] = OffsetAndMetadata(
            v.offset, v.leader_epoch, v.metadata, v.commit_timestamp, v.expire_timestamp
        )

    def replay_marker(self, producer_id: int, commit: bool, index: int) -> None:
        self.complete_txn(producer_id, commit, index)

    def complete_txn(self, producer_id: int, commit: bool, index: int) -> None:
        """A marker of ``producer_id`` in partition ``index``: its pending offsets there
        become committed offsets (COMMIT) or are dropped (ABORT)."""
        by_group = self.pending_txn_offsets.get(producer_id)
        if not by_group:
            return
        for group_id in [g for g in by_group if self.partition_for(g) == index]:
            offsets = by_group.pop(group_id)
            if not commit:
                continue
            if group_id not in self.groups:
                self.groups[group_id] = ClassicGroup(group_id, self.clock.milliseconds())
            committed = self.offsets.setdefault(group_id, {})
            for tp, om in offsets.items():
                committed[tp] = om
        if not by_group:
            del self.pending_txn_offsets[producer_id]

    def has_pending_txn_offset(self, group_id: str, tp: tuple[str, int]) -> bool:
        """OffsetFetch require_stable: an open transaction holds an offset of ``tp``."""
        return any(tp in g.get(group_id, ()) for g in self.pending_txn_offsets.values())

    async def commit_txn_offsets(
        self,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        member_id: str,
        instance_id: str | None,
        generation_id: int,
        offsets: list[tuple[str, int, int, int, str | None]],
    ) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
        """TxnOffsetCommit: offsets written to ``__consumer_offsets`` in a transactional
        batch of the producer; they count only once a COMMIT marker follows."""
        if not group_id:
            return ErrorCode.invalid_group_id, {}
        error = await self.check_group(group_id)
        if error != ErrorCode.none:
            return error, {}
        group = self.groups.get(group_id)
        if group is None:
            group = self.get_or_create_simple_group(group_id)
        if generation_id >= 0 or member_id or instance_id is not None:
            # v3+ (KIP-447) names the member: fenced as a group member's commit would be.
            error = group.validate_offset_commit(member_id, instance_id, generation_id)
            if error == ErrorCode.rebalance_in_progress:
                error = ErrorCode.none
            if error != ErrorCode.none:
                return error, {}
        results, records = self._offset_commit_records(group_id, offsets, -1)
        if records:
            index = self.partition_for(group_id)
            try:
                required = self.runtime.append(
                    index, records, producer_id=producer_id, producer_epoch=producer_epoch
                )
            except KafkaError as exc:
                error = coordinator_error(exc)
                if exc.error_code in (
                    ErrorCode.invalid_producer_epoch,
                    ErrorCode.producer_fenced,
                ):
                    error = ErrorCode.producer_fenced
            else:
                error = await self.runtime.commit(index, required)
            if error != ErrorCode.none:
                for tp, e in results.items():
                    if e == ErrorCode.none:
                        results[tp] = error
            else:
                self.stats.offset_commits += len(records)
        return ErrorCode.none, results

    def _replay_offset(self, key: OffsetCommitKey, value: bytes | None) -> None:
        tp = (key.topic, key.partition)
        if value is None:
            offsets = self.offsets.get(key.group)
            if offsets is not None:
                offsets.pop(tp, None)
                if not offsets:
                    del self.offsets[key.group]
            return
        v = decode_offset_commit_value(value)
        if key.group not in self.groups:
            # Offsets without group metadata: a simple consumer's (or an admin's) group.
            self.groups[key.group] = ClassicGroup(key.group, self.clock.milliseconds())
        self.offsets.setdefault(key.group, {})[tp] = OffsetAndMetadata(
            v.offset, v.leader_epoch, v.metadata, v.commit_timestamp, v.expire_timestamp
        )

    def _replay_group(self, key: GroupMetadataKey, value: bytes | None, live: bool) -> None:
        if value is None:
            group = self.groups.pop(key.group, None)
            if group is not None:
                self.group_unloaded(group)
            if isinstance(group, ClassicGroup) and not group.is_in(GroupState.DEAD):
                group.transition_to(GroupState.DEAD, self.clock.milliseconds())
            return
        if live:
            return  # classic membership already reflects it (Kafka: replayRecords=false)
        group_value = decode_group_metadata_value(value)
        self.groups[key.group] = ClassicGroup.from_record(
            key.group, group_value, self.clock.milliseconds()
        )

    # -- offsets -------------------------------------------------------------
    @staticmethod
    def offset_record(
        group_id: str, topic: str, partition: int, value: OffsetAndMetadata | None
    ) -> RecordPair:
        key = encode_offset_commit_key(OffsetCommitKey(group_id, topic, partition))
        if value is None:
            return key, None
        return key, encode_offset_commit_value(
            OffsetCommitValue(
                value.offset,
                value.leader_epoch,
                value.metadata,
                value.commit_timestamp,
                value.expire_timestamp,
            ),
            version=1 if value.expire_timestamp >= 0 else 3,
        )

    @staticmethod
    def group_tombstone(group_id: str) -> RecordPair:
        return encode_group_metadata_key(GroupMetadataKey(group_id)), None

    @staticmethod
    def group_record(group: ClassicGroup, assignments: dict[str, bytes] | None) -> RecordPair:
        return (
            encode_group_metadata_key(GroupMetadataKey(group.group_id)),
            encode_group_metadata_value(group.to_record(assignments)),
        )

    def committed(self, group_id: str) -> dict[tuple[str, int], OffsetAndMetadata]:
        return self.offsets.get(group_id, {})

    def get_or_create_simple_group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id, self.clock.milliseconds())
        return group

    def deletion_records(self, group_id: str) -> list[RecordPair]:
        records = [self.offset_record(group_id, t, p, None) for (t, p) in self.committed(group_id)]
        # A KIP-848 group writes its own tombstones (ConsumerGroup* records).
        own = getattr(self.groups.get(group_id), "deletion_records", None)
        if own is not None:
            records.extend(own())
        records.append(self.group_tombstone(group_id))
        return records

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        instance_id: str | None,
        generation_id: int,
        offsets: list[tuple[str, int, int, int, str | None]],
        expire_timestamp: int = -1,
    ) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
        """OffsetCommit: (group error, per-partition errors); acknowledged after the append.

        ``offsets`` holds (topic, partition, offset, leader epoch, metadata).
        """
        if not group_id:
            return ErrorCode.invalid_group_id, {}
        error = await self.check_group(group_id)
        if error != ErrorCode.none:
            return error, {}
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0 or member_id:
                return ErrorCode.illegal_generation, {}
            group = self.get_or_create_simple_group(group_id)
        error = group.validate_offset_commit(member_id, instance_id, generation_id)
        if error != ErrorCode.none:
            return error, {}
        results, records = self._offset_commit_records(group_id, offsets, expire_timestamp)
        if records:
            if self._commit_too_large(records):
                # Kafka's storeOffsets: a commit whose records exceed max.message.bytes
                # (RECORD_TOO_LARGE) is refused as a whole with INVALID_COMMIT_OFFSET_SIZE,
                # so one request cannot write unbounded state.
                error = ErrorCode.invalid_commit_offset_size
            else:
                error = await self.write(group_id, records)
            if error != ErrorCode.none:
                for tp, e in results.items():
                    if e == ErrorCode.none:
                        results[tp] = error
            else:
                self.stats.offset_commits += len(records)
        return ErrorCode.none, results

    def _offset_commit_records(
        self,
        group_id: str,
        offsets: list[tuple[str, int, int, int, str | None]],
        expire_timestamp: int,
    ) -> tuple[dict[tuple[str, int], ErrorCode], list[RecordPair]]:
        """Per-partition validation shared by OffsetCommit and TxnOffsetCommit: the errors
        of refused partitions and the ``__consumer_offsets`` records of the accepted ones."""
        now = self.clock.milliseconds()
        max_metadata = int(self.config.offset_metadata_max_bytes)
        metadata_store = self.topic_manager.metadata
        results: dict[tuple[str, int], ErrorCode] = {}
        records: list[RecordPair] = []
        for topic, partition, offset, epoch, metadata in offsets:
            tp = (topic, partition)
            topic_md = metadata_store.topic(topic)
            if topic_md is None or partition not in topic_md.partitions:
                results[tp] = ErrorCode.unknown_topic_or_partition
            elif metadata is not None and len(metadata.encode()) > max_metadata:
                results[tp] = ErrorCode.offset_metadata_too_large
            else:
                results[tp] = ErrorCode.none
                value = OffsetAndMetadata(offset, epoch, metadata or "", now, expire_timestamp)
                records.append(self.offset_record(group_id, topic, partition, value))
        return results, records

    def _commit_too_large(self, records: list[RecordPair]) -> bool:
        limit = int(getattr(self.config, "message_max_bytes", 1_048_588))
        # An upper bound first (batch header + per-record framing); encode only near it.
        bound = 61 + sum(len(k) + len(v or b"") + 24 for k, v in records)
        if bound <= limit:
            return False
        return len(encode_batch([NewRecord(k, v) for k, v in records])) > limit

    async def fetch_offsets(
        self,
        group_id: str,
        partitions: list[tuple[str, int]] | None,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> tuple[ErrorCode, dict[tuple[str, int], OffsetAndMetadata | None]]:
        """OffsetFetch: committed offsets (None = none committed); all when partitions is None."""
        error = await self.check_group(group_id)
        if error != ErrorCode.none:
            return error, {}
        group = self.groups.get(group_id)
        if group is not None:
            error = group.validate_offset_fetch(member_id, member_epoch)
            if error != ErrorCode.none:
                return error, {}
        committed = self.committed(group_id)
        if partitions is None:
            return ErrorCode.none, dict(sorted(committed.items()))
        return ErrorCode.none, {tp: committed.get(tp) for tp in partitions}

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
        """OffsetDelete: tombstones for partitions of topics the group does not subscribe to."""
        if not group_id:
            return ErrorCode.invalid_group_id, {}
        error = await self.check_group(group_id)
        if error != ErrorCode.none:
            return error, {}
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.group_id_not_found, {}
        error = group.validate_offset_delete()
        if error != ErrorCode.none:
            return error, {}
        results: dict[tuple[str, int], ErrorCode] = {}
        records: list[RecordPair] = []
        committed = self.committed(group_id)
        for tp in partitions:
            if group.is_subscribed_to(tp[0]):
                results[tp] = ErrorCode.group_subscribed_to_topic
                continue
            results[tp] = ErrorCode.none
            if tp in committed:
                records.append(self.offset_record(group_id, tp[0], tp[1], None))
        if records:
            error = await self.write(group_id, records)
            if error != ErrorCode.none:
                return error, {}
            self.stats.offset_deletions += len(records)
        return ErrorCode.none, results

    async def delete_groups(self, group_ids: Iterable[str]) -> dict[str, ErrorCode]:
        results: dict[str, ErrorCode] = {}
        for group_id in group_ids:
            if not group_id:
                results[group_id] = ErrorCode.invalid_group_id
                continue
            error = await self.check_group(group_id)
            if error != ErrorCode.none:
                results[group_id] = error
                continue
            group = self.groups.get(group_id)
            if group is None:
                results[group_id] = ErrorCode.group_id_not_found
                continue
            error = group.validate_delete()
            if error == ErrorCode.none:
                error = await self.write(group_id, self.deletion_records(group_id))
            results[group_id] = error
        return results

    async def cleanup_expired_offsets(self) -> int:
        """offsets.retention.minutes: expire offsets (Kafka's OffsetExpirationCondition).

        An Empty classic group's offsets expire ``retention`` after the group became
        Empty (or after the commit, whichever is later); a Stable consumer-protocol group
        loses offsets of topics nobody subscribes to ``retention`` after their commit.
        An Empty group left without offsets is deleted (group tombstone).
        """
        now = self.clock.milliseconds()
        retention = int(self.config.offsets_retention_minutes) * 60_000
        removed = 0
        for group_id in list(self.groups):
            if self.check_group_id(group_id) != ErrorCode.none:
                continue
            group = self.groups.get(group_id)
            offsets = self.committed(group_id)
            records: list[RecordPair] = []
            expired: list[tuple[str, int]] = []
            if isinstance(group, ClassicGroup):
                if group.is_in(GroupState.EMPTY):
                    base_state = group.current_state_timestamp
                    for tp, om in offsets.items():
                        base = max(base_state, om.commit_timestamp)
                        if om.expire_timestamp >= 0:
                            if now >= om.expire_timestamp:
                                expired.append(tp)
                        elif now - base >= retention:
                            expired.append(tp)
                elif group.is_in(GroupState.STABLE):
                    subscribed = group.subscribed_topics()
                    if subscribed is not None:
                        for tp, om in offsets.items():
                            if tp[0] not in subscribed and now - om.commit_timestamp >= retention:
                                expired.append(tp)
                group_empty = group.is_in(GroupState.EMPTY) and not group.pending_members
            elif isinstance(group, ConsumerGroup):
                # Kafka's ConsumerGroup condition: offsets of topics no member subscribes
                # to expire ``retention`` after their commit.
                for tp, om in offsets.items():
                    if not group.is_subscribed_to(tp[0]) and now - om.commit_timestamp >= retention:
                        expired.append(tp)
                group_empty = group.is_empty()
            else:
                continue
            for tp in expired:
                records.append(self.offset_record(group_id, tp[0], tp[1], None))
            if group_empty and len(expired) == len(offsets):
                if isinstance(group, ConsumerGroup):
                    records.extend(group.deletion_records())
                records.append(self.group_tombstone(group_id))
            if records and await self.write(group_id, records) == ErrorCode.none:
                removed += len(expired)
                self.stats.offset_expirations += len(expired)
        if removed:
            log.info("removed %d expired offset(s)", removed)
        return removed

    # -- shutdown ------------------------------------------------------------
    def shutdown(self) -> None:
        """Answer parked JoinGroup/SyncGroup calls with NOT_COORDINATOR and stop timers."""
        self.runtime.shutdown()
        for group in self.groups.values():
            self.group_unloaded(group)
        self.timer.cancel_all()
