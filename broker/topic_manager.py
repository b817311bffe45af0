"""Topic administration shared by CreateTopics, Metadata auto-creation, DeleteTopics..."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.partition_limits import (
    DEFAULT_MAX_PARTITIONS,
    PartitionLimits,
    RequestPartitionCap,
)
from broker.replica.replica_manager import ReplicaManager
from cluster.assignment import (
    AdminOperationError,
    BrokerMetadata,
    RackAwareMode,
    assign_replicas_to_brokers,
    broker_metadatas,
    check_manual_assignment,
    new_partitions_assignment,
)
from cluster.metadata import MetadataStore, TopicMetadata
from protocol.errors import KafkaError
from storage.log_config import LogConfig

log = logging.getLogger(__name__)

MAX_TOPIC_NAME_LENGTH = 249
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def topic_name_error(name: str) -> str | None:
    """Kafka's Topic.validate: None if legal, else the reason."""
    if not name:
        return "topic name is empty"
    if name in (".", ".."):
        return f"topic name cannot be '{name}'"
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"topic name is longer than {MAX_TOPIC_NAME_LENGTH} characters"
    if not _LEGAL.match(name):
        return (
            f"topic name '{name}' is illegal, it contains a character other than "
            "ASCII alphanumerics, '.', '_' and '-'"
        )
    return None


@contextlib.contextmanager
def _metadata_write(what: str) -> Iterator[None]:
    """The metadata could not be written (e.g. the standalone document on a full disk)."""
    try:
        yield
    except OSError as exc:
        log.error("%s failed: cannot write the cluster metadata: %s", what, exc)
        raise KafkaError(
            f"{what} failed: cannot write the cluster metadata: {exc}",
            ErrorCode.kafka_storage_error,
        ) from exc


def _collision_key(name: str) -> str:
    return name.replace(".", "_")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    num_partitions: int  # -1 = broker default
    replication_factor: int  # -1 = broker default
    assignment: dict[int, list[int]] | None = None
    configs: Mapping[str, str | None] | None = None


class TopicManager:
    """Validates and applies topic changes through the metadata store and replica manager."""

    def __init__(
        self,
        metadata: MetadataStore,
        replica_manager: ReplicaManager,
        default_num_partitions: int,
        default_replication_factor: int,
        delete_topic_enable: bool,
        limits: PartitionLimits | None = None,
        *,
        standalone: bool = True,
    ) -> None:
        self.metadata = metadata
        self.replica_manager = replica_manager
        self.default_num_partitions = default_num_partitions
        self.default_replication_factor = default_replication_factor
        self.delete_topic_enable = delete_topic_enable
        self.limits = limits or PartitionLimits(
            DEFAULT_MAX_PARTITIONS, lambda: len(replica_manager.partitions)
        )
        # Standalone, the broker is its own controller: the metadata write creates the
        # local replicas before it returns, so a creation that failed can be undone.
        self.standalone = standalone

    def live_broker_ids(self) -> list[int]:
        return sorted(b.broker_id for b in self.metadata.brokers())

    def live_brokers(self) -> list[BrokerMetadata]:
        """The live brokers with their racks, sorted by id (what assignment spreads over)."""
        return sorted(
            (BrokerMetadata(b.broker_id, b.rack) for b in self.metadata.brokers()),
            key=lambda b: b.broker_id,
        )

    def validate(
        self, spec: TopicSpec, cap: RequestPartitionCap | None = None
    ) -> tuple[dict[int, list[int]], dict[str, str]]:
        """Raise KafkaError with Kafka's error code, or return (assignment, configs).

        Partition counts are bounded (``cap`` for the request, josef.max.partitions and
        open-file headroom for this broker) before the assignment is computed."""
        reason = topic_name_error(spec.name)
        if reason is not None:
            raise KafkaError(reason, ErrorCode.invalid_topic_exception)
        if self.metadata.topic(spec.name) is not None:
            raise KafkaError(f"Topic '{spec.name}' already exists.", ErrorCode.topic_already_exists)
        key = _collision_key(spec.name)
        for existing in self.metadata.topics():
            if _collision_key(existing) == key:
                raise KafkaError(
                    f"Topic '{spec.name}' collides with existing topic: {existing}",
                    ErrorCode.invalid_topic_exception,
                )
        configs = {k: v for k, v in (spec.configs or {}).items() if v is not None}
        try:
            LogConfig.from_topic_overrides(self.replica_manager.default_config, configs)
        except KafkaError as exc:
            raise KafkaError(str(exc), ErrorCode.invalid_config) from exc
        brokers = self.live_broker_ids()
        if spec.assignment:
            if spec.num_partitions != -1 or spec.replication_factor != -1:
                raise KafkaError(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. "
                    "Both cannot be used at the same time.",
                    ErrorCode.invalid_request,
                )
            assignment = {p: list(r) for p, r in spec.assignment.items()}
            # Kafka's AdminZkClient.validateTopicCreate, in its order.
            if len({len(r) for r in assignment.values()}) != 1:
                raise KafkaError(
                    "All partitions should have the same number of replicas",
                    ErrorCode.invalid_replica_assignment,
                )
            for replicas in assignment.values():
                if len(set(replicas)) != len(replicas):
                    raise KafkaError(
                        f"Duplicate replica assignment found: {assignment}",
                        ErrorCode.invalid_replica_assignment,
                    )
            if sorted(assignment) != list(range(len(assignment))):
                raise KafkaError(
                    "partitions should be a consecutive 0-based integer sequence",
                    ErrorCode.invalid_replica_assignment,
                )
            for p, replicas in sorted(assignment.items()):
                if not replicas:
                    raise KafkaError(
                        f"Invalid replica list for partition {p}: {replicas}",
                        ErrorCode.invalid_replica_assignment,
                    )
                unknown = [r for r in replicas if r not in brokers]
                if unknown:
                    raise KafkaError(
                        f"Unknown broker(s) {unknown} in replica assignment",
                        ErrorCode.invalid_replica_assignment,
                    )
            self._reserve(cap, 1, assignment)
            return assignment, configs
        partitions = (
            self.default_num_partitions if spec.num_partitions == -1 else spec.num_partitions
        )
        rf = (
            self.default_replication_factor
            if spec.replication_factor == -1
            else (spec.replication_factor)
        )
        if partitions <= 0:
            raise KafkaError(
                "Number of partitions must be larger than 0.", ErrorCode.invalid_partitions
            )
        if rf <= 0:
            raise KafkaError(
                "Replication factor must be larger than 0.", ErrorCode.invalid_replication_factor
            )
        # Bounded before any assignment is built (issue 12: absurd counts).
        self.limits.check_count(partitions)
        if cap is not None:
            cap.take(1, partitions)
        try:
            assignment = assign_replicas_to_brokers(self.live_brokers(), partitions, rf)
        except KafkaError:
            if cap is not None:
                cap.give_back(1, partitions)
            raise
        self._check_local(cap, 1, assignment)
        return assignment, configs

    def _reserve(
        self, cap: RequestPartitionCap | None, topics: int, assignment: dict[int, list[int]]
    ) -> None:
        self.limits.check_count(len(assignment))
        if cap is not None:
            cap.take(topics, len(assignment))
        self._check_local(cap, topics, assignment)

    def _check_local(
        self, cap: RequestPartitionCap | None, topics: int, assignment: dict[int, list[int]]
    ) -> None:
        """josef.max.partitions and descriptor headroom for the replicas hosted here; in a
        cluster also josef.max.partitions of every broker the assignment names."""
        me = self.replica_manager.broker_id
        local = sum(1 for replicas in assignment.values() if me in replicas)
        try:
            self.limits.check_new_local(local)
            if not self.standalone:
                self.limits.check_brokers(self._replicas_per_broker(), _count(assignment))
        except KafkaError:
            if cap is not None:
                cap.give_back(topics, len(assignment))
            raise

    def _replicas_per_broker(self) -> dict[int, int]:
        """Partition replicas each broker hosts, from the metadata (one pass: admin path)."""
        counts: dict[int, int] = {}
        for topic in self.metadata.topics().values():
            for state in topic.partitions.values():
                for broker in state.replicas:
                    counts[broker] = counts.get(broker, 0) + 1
        return counts

    async def create(
        self,
        spec: TopicSpec,
        is_internal: bool = False,
        wait_ms: int = 0,
        cap: RequestPartitionCap | None = None,
    ) -> TopicMetadata:
        """Create a topic; with ``wait_ms`` > 0 wait until every partition has a leader
        (in a cluster the controller elects them after the write), as Kafka's CreateTopics
        waits, answering REQUEST_TIMED_OUT if that takes longer."""
        assignment, configs = self.validate(spec, cap)
        with _metadata_write(f"creating topic {spec.name}"):
            topic = await self.metadata.create_topic(spec.name, assignment, configs, is_internal)
        if self.standalone:
            await self._undo_if_not_created(topic.name, assignment)
        if wait_ms > 0 and not await self.metadata.wait_for_topic(spec.name, wait_ms):
            raise KafkaError(
                f"topic {spec.name} was created but its partitions have no leader after "
                f"{wait_ms} ms",
                ErrorCode.request_timed_out,
            )
        log.info(
            "created topic %s with %d partition(s), replicas %s, configs %s",
            topic.name,
            len(assignment),
            assignment,
            configs,
        )
        return topic

    async def delete(self, name: str, wait_ms: int = 0) -> None:
        if not self.delete_topic_enable:
            raise KafkaError("Topic deletion is disabled.", ErrorCode.topic_deletion_disabled)
        topic = self.metadata.topic(name)
        if topic is None:
            raise KafkaError(f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition)
        with _metadata_write(f"deleting topic {name}"):
            await self.metadata.delete_topic(name)
        if wait_ms > 0 and not await self.metadata.wait_for_topic_deleted(name, wait_ms):
            raise KafkaError(
                f"topic {name} is marked for deletion but still exists after {wait_ms} ms",
                ErrorCode.request_timed_out,
            )
        log.info("deleted topic %s", name)

    async def _undo_if_not_created(self, name: str, assignment: dict[int, list[int]]) -> None:
        """All partitions usable or none left behind: if some local log could not be
        created (no descriptor left, a failed log dir), the topic is deleted again."""
        rm = self.replica_manager
        me = rm.broker_id
        missing = [
            p for p, r in assignment.items() if me in r and rm.get_partition(name, p) is None
        ]
        if not missing:
            return
        reason = rm.last_creation_error or "see the broker log"
        with contextlib.suppress(KafkaError), _metadata_write(f"removing {name}"):
            await self.metadata.delete_topic(name)
        log.error(
            "creation of topic %s rolled back: %d partition(s) could not be created: %s",
            name,
            len(missing),
            reason,
        )
        raise KafkaError(
            f"cannot create {len(missing)} partition(s) of {name}: {reason}",
            ErrorCode.kafka_storage_error,
        )

    async def add_partitions(
        self,
        name: str,
        total: int,
        assignment: list[list[int]] | None,
        validate_only: bool,
        wait_ms: int = 0,
        cap: RequestPartitionCap | None = None,
    ) -> None:
        """CreatePartitions, as Kafka's ZkAdminManager: new partitions follow partition 0's
        replication factor over the registered brokers; with ``wait_ms`` > 0 wait until
        they have leaders (REQUEST_TIMED_OUT otherwise)."""
        topic = self.metadata.topic(name)
        if topic is None:
            raise KafkaError(
                f"The topic '{name}' does not exist.", ErrorCode.unknown_topic_or_partition
            )
        if await self.metadata.reassigning_partitions(name):
            raise KafkaError(
                f"A partition reassignment is in progress for the topic '{name}'.",
                ErrorCode.reassignment_in_progress,
            )
        current = len(topic.partitions)
        if total < current:
            raise KafkaError(
                f"Topic currently has {current} partitions, which is higher than the requested "
                f"{total}.",
                ErrorCode.invalid_partitions,
            )
        if total == current:
            raise KafkaError(
                f"Topic already has {current} partitions.", ErrorCode.invalid_partitions
            )
        brokers = broker_metadatas(self.live_brokers(), RackAwareMode.ENFORCED)
        ids = {b.broker_id for b in brokers}
        partition0 = topic.partitions.get(0)
        if partition0 is None or not partition0.replicas:
            raise AdminOperationError(
                f"Unexpected existing replica assignment for topic '{name}', partition id 0 "
                "is missing."
            )
        if assignment is not None:
            unknown = sorted({r for replicas in assignment for r in replicas} - ids)
            if unknown:
                raise KafkaError(
                    "Unknown broker(s) in replica assignment: "
                    f"{', '.join(map(str, unknown))}.",
                    ErrorCode.invalid_replica_assignment,
                )
            if len(assignment) != total - current:
                raise KafkaError(
                    f"Increasing the number of partitions by {total - current} but "
                    f"{len(assignment)} assignments provided.",
                    ErrorCode.invalid_replica_assignment,
                )
            new = {current + i: list(r) for i, r in enumerate(assignment)}
            check_manual_assignment(new, len(partition0.replicas), ids)
            self._reserve(cap, 0, new)
        else:
            self.limits.check_count(total - current)
            if cap is not None:
                cap.take(0, total - current)
            new = new_partitions_assignment(brokers, partition0.replicas, current, total - current)
            self._check_local(cap, 0, new)
        if validate_only:
            return
        with _metadata_write(f"adding partitions to {name}"):
            await self.metadata.add_partitions(name, new)
        log.info("added partitions %s to topic %s", new, name)
        if self.standalone:
            rm = self.replica_manager
            missing = [p for p in new if rm.get_partition(name, p) is None]
            if missing:
                # The metadata store cannot take partitions back: they stay, offline here
                # until a restart creates their logs (as a Kafka broker's offline replicas).
                raise KafkaError(
                    f"cannot create {len(missing)} new partition(s) of {name}: "
                    f"{rm.last_creation_error or 'see the broker log'}",
                    ErrorCode.kafka_storage_error,
                )
        if wait_ms > 0 and not await self.metadata.wait_for_topic(name, wait_ms, total):
            raise KafkaError(
                f"partitions of {name} were created but have no leader after {wait_ms} ms",
                ErrorCode.request_timed_out,
            )

    async def set_configs(self, name: str, configs: dict[str, str], validate_only: bool) -> None:
        topic = self.metadata.topic(name)
        if topic is None:
            raise KafkaError(f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition)
        try:
            LogConfig.from_topic_overrides(self.replica_manager.default_config, configs)
        except KafkaError as exc:
            raise KafkaError(str(exc), ErrorCode.invalid_config) from exc
        if validate_only:
            return
        with _metadata_write(f"setting configs of {name}"):
            await self.metadata.set_topic_configs(name, configs)


def _count(assignment: dict[int, list[int]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for replicas in assignment.values():
        for broker in replicas:
            counts[broker] = counts.get(broker, 0) + 1
    return counts
