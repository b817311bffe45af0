"""Topic administration shared by CreateTopics, Metadata auto-creation, DeleteTopics..."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.open_files import exhausted_message, is_exhausted
from broker.partition_limits import (
    DEFAULT_MAX_PARTITIONS,
    PartitionLimits,
    RequestPartitionCap,
)
from broker.replica.replica_manager import ReplicaManager
from cluster.metadata import MetadataStore, PartitionState, TopicMetadata
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


def creation_error(topic: str, exc: Exception) -> KafkaError:
    """The error a rolled-back creation answers: Kafka's code, or KAFKA_STORAGE_ERROR for an
    I/O failure (as Kafka's LogManager.getOrCreateLog), with how to fix a descriptor shortage."""
    if isinstance(exc, KafkaError):
        return exc
    if is_exhausted(exc):
        reason = exhausted_message(f"creating the logs of topic {topic}")
        log.error("creation of topic %s rolled back: %s", topic, reason)
        return KafkaError(reason, ErrorCode.kafka_storage_error)
    if isinstance(exc, OSError):
        log.error("creation of topic %s rolled back: %s", topic, exc)
        return KafkaError(
            f"cannot create the logs of {topic}: {exc}", ErrorCode.kafka_storage_error
        )
    log.exception("creation of topic %s rolled back", topic)
    return KafkaError(f"cannot create {topic}: {exc!r}", ErrorCode.unknown_server_error)


@contextlib.contextmanager
def _metadata_write(what: str) -> Iterator[None]:
    """The standalone metadata document could not be written (e.g. a full disk)."""
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
    ) -> None:
        self.metadata = metadata
        self.replica_manager = replica_manager
        self.default_num_partitions = default_num_partitions
        self.default_replication_factor = default_replication_factor
        self.delete_topic_enable = delete_topic_enable
        self.limits = limits or PartitionLimits(
            DEFAULT_MAX_PARTITIONS, lambda: len(replica_manager.partitions)
        )

    def live_broker_ids(self) -> list[int]:
        return sorted(b.broker_id for b in self.metadata.brokers())

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
            if sorted(assignment) != list(range(len(assignment))):
                raise KafkaError(
                    "Partitions should be a consecutive 0-based integer sequence",
                    ErrorCode.invalid_replica_assignment,
                )
            for p, replicas in assignment.items():
                if not replicas or len(set(replicas)) != len(replicas):
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
        if rf > len(brokers):
            raise KafkaError(
                f"Replication factor: {rf} larger than available brokers: {len(brokers)}.",
                ErrorCode.invalid_replication_factor,
            )
        self.limits.check_count(partitions)
        if cap is not None:
            cap.take(1, partitions)
        assignment = self.assign_replicas(partitions, rf, brokers, start_partition=0)
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
        """josef.max.partitions and descriptor headroom for the replicas hosted here."""
        me = self.replica_manager.broker_id
        local = sum(1 for replicas in assignment.values() if me in replicas)
        try:
            self.limits.check_new_local(local)
        except KafkaError:
            if cap is not None:
                cap.give_back(topics, len(assignment))
            raise

    @staticmethod
    def assign_replicas(
        partitions: int, rf: int, brokers: list[int], start_partition: int
    ) -> dict[int, list[int]]:
        """Round-robin leaders, followers shifted, as Kafka's rack-unaware assignment."""
        n = len(brokers)
        out: dict[int, list[int]] = {}
        for i in range(partitions):
            p = start_partition + i
            first = p % n
            shift = 1 + (p // n) % max(1, n - 1) if n > 1 else 0
            replicas = [brokers[first]]
            for j in range(rf - 1):
                replicas.append(brokers[(first + shift + j) % n])
            out[p] = replicas
        return out

    async def create(
        self, spec: TopicSpec, is_internal: bool = False, cap: RequestPartitionCap | None = None
    ) -> TopicMetadata:
        assignment, configs = self.validate(spec, cap)
        with _metadata_write(f"creating topic {spec.name}"):
            topic = await self.metadata.create_topic(spec.name, assignment, configs, is_internal)
        try:
            self.replica_manager.ensure_topic(topic)
        except Exception as exc:
            # All partitions usable or none left behind: undo the local logs and the topic.
            self.replica_manager.remove_topic(topic.name)
            with contextlib.suppress(KafkaError), _metadata_write(f"removing {topic.name}"):
                await self.metadata.delete_topic(topic.name)
            raise creation_error(topic.name, exc) from exc
        log.info(
            "created topic %s with %d partition(s), replicas %s, configs %s",
            topic.name,
            len(assignment),
            assignment,
            configs,
        )
        return topic

    async def delete(self, name: str) -> None:
        if not self.delete_topic_enable:
            raise KafkaError("Topic deletion is disabled.", ErrorCode.topic_deletion_disabled)
        topic = self.metadata.topic(name)
        if topic is None:
            raise KafkaError(f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition)
        with _metadata_write(f"deleting topic {name}"):
            await self.metadata.delete_topic(name)
        self.replica_manager.remove_topic(name)
        log.info("deleted topic %s", name)

    async def add_partitions(
        self,
        name: str,
        total: int,
        assignment: list[list[int]] | None,
        validate_only: bool,
        cap: RequestPartitionCap | None = None,
    ) -> None:
        topic = self.metadata.topic(name)
        if topic is None:
            raise KafkaError(f"Topic '{name}' does not exist", ErrorCode.unknown_topic_or_partition)
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
        brokers = self.live_broker_ids()
        rf = len(next(iter(topic.partitions.values())).replicas)
        if assignment is not None:
            if len(assignment) != total - current:
                raise KafkaError(
                    f"Increasing the number of partitions by {total - current} but "
                    f"{len(assignment)} assignments provided.",
                    ErrorCode.invalid_replica_assignment,
                )
            new = {current + i: list(r) for i, r in enumerate(assignment)}
            for replicas in new.values():
                if any(r not in brokers for r in replicas) or len(set(replicas)) != len(replicas):
                    raise KafkaError(
                        f"Invalid replica assignment {replicas}",
                        ErrorCode.invalid_replica_assignment,
                    )
            self._reserve(cap, 0, new)
        else:
            self.limits.check_count(total - current)
            if cap is not None:
                cap.take(0, total - current)
            new = self.assign_replicas(total - current, rf, brokers, start_partition=current)
            self._check_local(cap, 0, new)
        if validate_only:
            return
        # Local replicas first, then the metadata: a failure leaves the topic as it was.
        states = {p: PartitionState(list(r), leader=r[0], isr=list(r)) for p, r in new.items()}
        prospective = dataclasses.replace(topic, partitions={**topic.partitions, **states})
        try:
            self.replica_manager.ensure_topic(prospective)
            with _metadata_write(f"adding partitions to {name}"):
                await self.metadata.add_partitions(name, new)
        except Exception as exc:
            self.replica_manager.remove_partitions(name, new)
            raise creation_error(name, exc) from exc
        refreshed = self.metadata.topic(name)
        assert refreshed is not None
        self.replica_manager.ensure_topic(refreshed)

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
        refreshed = self.metadata.topic(name)
        assert refreshed is not None
        self.replica_manager.update_topic_config(refreshed)
