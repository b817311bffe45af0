"""Replica assignment: which brokers hold the replicas of new partitions.

Kafka's ``AdminUtils.assignReplicasToBrokers``, as pure functions. Its three goals: spread
replicas evenly over the brokers; spread the followers of the partitions a broker leads
over the other brokers; and, when every broker has a ``broker.rack``, put the replicas of a
partition on distinct racks where possible.

* Rack-unaware: the first replica (the preferred leader) of partition ``p`` is broker
  ``(p + start) % n`` of the id-sorted list, so leaders are balanced within one; the others
  follow at an increasing shift that grows by one each time the partitions wrap around the
  broker list. ``start`` and the initial shift are random unless fixed.
* Rack-aware: the same round robin over a rack-alternated broker list (one broker from each
  rack in turn, racks and brokers in sorted order); a follower is skipped while its rack or
  its broker already holds a replica and another rack or broker does not.

CreateTopics, auto-creation and the internal topics assign over the live brokers (with
their racks, rack-aware as soon as any broker has one); CreatePartitions assigns over the
registered brokers, continuing from the first broker whose id is at least partition 0's
leader, as Kafka's ``AdminZkClient`` does.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.errors import ErrorCode, KafkaError

Assignment = dict[int, list[int]]


@dataclass(frozen=True, slots=True)
class BrokerMetadata:
    """A broker as assignment sees it (Kafka's ``org.apache.kafka.admin.BrokerMetadata``)."""

    broker_id: int
    rack: str | None = None


class RackAwareMode(enum.Enum):
    """Kafka's ``RackAwareMode``: how broker racks are used by an assignment."""

    #: Racks ignored.
    DISABLED = "disabled"
    #: Racks used only if every broker has one.
    SAFE = "safe"
    #: Racks used; refused if only some brokers have one.
    ENFORCED = "enforced"


class AdminOperationError(KafkaError):
    """Kafka's ``AdminOperationException``: not a client error, answered as
    UNKNOWN_SERVER_ERROR (with this message) as a Kafka broker answers it."""

    error_code = ErrorCode.unknown_server_error


def broker_metadatas(
    brokers: Iterable[BrokerMetadata], mode: RackAwareMode = RackAwareMode.ENFORCED
) -> list[BrokerMetadata]:
    """Kafka's ``AdminZkClient.getBrokerMetadatas``: the brokers sorted by id, with or
    without racks as ``mode`` says."""
    listed = list(brokers)
    with_rack = [b for b in listed if b.rack is not None]
    if mode is RackAwareMode.ENFORCED and with_rack and len(with_rack) < len(listed):
        raise AdminOperationError(
            "Not all brokers have rack information. Add --disable-rack-aware in command line"
            " to make replica assignment without rack information."
        )
    if mode is RackAwareMode.DISABLED or (
        mode is RackAwareMode.SAFE and len(with_rack) < len(listed)
    ):
        listed = [BrokerMetadata(b.broker_id) for b in listed]
    return sorted(listed, key=lambda b: b.broker_id)


def assign_replicas_to_brokers(
    brokers: Sequence[BrokerMetadata],
    num_partitions: int,
    replication_factor: int,
    fixed_start_index: int = -1,
    start_partition_id: int = -1,
    rng: random.Random | None = None,
) -> Assignment:
    """Kafka's ``assignReplicasToBrokers``: partition id -> replicas, the preferred leader
    first. Brokers keep the order given (callers sort them by id); ``fixed_start_index`` -1
    picks the start and the first shift at random (``rng``); partition ids start at
    ``max(0, start_partition_id)``."""
    if num_partitions <= 0:
        raise KafkaError(
            "Number of partitions must be larger than 0.", ErrorCode.invalid_partitions
        )
    if replication_factor <= 0:
        raise KafkaError(
            "Replication factor must be larger than 0.", ErrorCode.invalid_replication_factor
        )
    if replication_factor > len(brokers):
        raise KafkaError(
            f"Replication factor: {replication_factor} larger than available brokers: "
            f"{len(brokers)}.",
            ErrorCode.invalid_replication_factor,
        )
    rng = rng or random.Random()
    if all(b.rack is None for b in brokers):
        return _assign_rack_unaware(
            num_partitions,
            replication_factor,
            [b.broker_id for b in brokers],
            fixed_start_index,
            start_partition_id,
            rng,
        )
    return _assign_rack_aware(
        num_partitions, replication_factor, brokers, fixed_start_index, start_partition_id, rng
    )


def replica_index(first_replica_index: int, second_replica_shift: int, index: int, n: int) -> int:
    """Kafka's ``replicaIndex``: the position of follower ``index`` (never the first one)."""
    shift = 1 + (second_replica_shift + index) % (n - 1)
    return (first_replica_index + shift) % n


def _start(fixed_start_index: int, n: int, rng: random.Random) -> tuple[int, int]:
    if fixed_start_index >= 0:
        return fixed_start_index, fixed_start_index
    # Kafka draws the start index first, then the shift.
    start = rng.randrange(n)
    return start, rng.randrange(n)


def _assign_rack_unaware(
    num_partitions: int,
    replication_factor: int,
    broker_list: list[int],
    fixed_start_index: int,
    start_partition_id: int,
    rng: random.Random,
) -> Assignment:
    n = len(broker_list)
    start_index, next_replica_shift = _start(fixed_start_index, n, rng)
    out: Assignment = {}
    partition = max(0, start_partition_id)
    for _ in range(num_partitions):
        if partition > 0 and partition % n == 0:
            next_replica_shift += 1
        first = (partition + start_index) % n
        replicas = [broker_list[first]]
        for j in range(replication_factor - 1):
            replicas.append(broker_list[replica_index(first, next_replica_shift, j, n)])
        out[partition] = replicas
        partition += 1
    return out


def _assign_rack_aware(
    num_partitions: int,
    replication_factor: int,
    brokers: Sequence[BrokerMetadata],
    fixed_start_index: int,
    start_partition_id: int,
    rng: random.Random,
) -> Assignment:
    rack_of: dict[int, str] = {}
    for b in brokers:
        if b.rack is None:
            raise AdminOperationError(
                "Not all brokers have rack information for replica rack aware assignment."
            )
        rack_of[b.broker_id] = b.rack
    num_racks = len(set(rack_of.values()))
    arranged = rack_alternated_broker_list(rack_of)
    n = len(arranged)
    start_index, next_replica_shift = _start(fixed_start_index, n, rng)
    out: Assignment = {}
    partition = max(0, start_partition_id)
    for _ in range(num_partitions):
        if partition > 0 and partition % n == 0:
            next_replica_shift += 1
        first = (partition + start_index) % n
        leader = arranged[first]
        replicas = [leader]
        racks_with_replicas = {rack_of[leader]}
        brokers_with_replicas = {leader}
        k = 0
        for _j in range(replication_factor - 1):
            while True:
                broker = arranged[replica_index(first, next_replica_shift * num_racks, k, n)]
                rack = rack_of[broker]
                k += 1
                # Skip a broker whose rack already has a replica while some rack has none,
                # or that already has one while some broker has none.
                if (rack not in racks_with_replicas or len(racks_with_replicas) == num_racks) and (
                    broker not in brokers_with_replicas or len(brokers_with_replicas) == n
                ):
                    replicas.append(broker)
                    racks_with_replicas.add(rack)
                    brokers_with_replicas.add(broker)
                    break
        out[partition] = replicas
        partition += 1
    return out


def rack_alternated_broker_list(rack_of: Mapping[int, str]) -> list[int]:
    """Kafka's ``getRackAlternatedBrokerList``: racks in sorted order, taking the next
    broker (lowest id first) of each in turn: rack1 0,1,2 / rack2 3,4,5 -> 0,3,1,4,2,5."""
    by_rack: dict[str, list[int]] = {}
    for broker, rack in rack_of.items():
        by_rack.setdefault(rack, []).append(broker)
    queues = [sorted(by_rack[rack]) for rack in sorted(by_rack)]
    out: list[int] = []
    depth = 0
    while len(out) < len(rack_of):
        for queue in queues:
            if depth < len(queue):
                out.append(queue[depth])
        depth += 1
    return out


def new_partitions_assignment(
    brokers: Sequence[BrokerMetadata],
    partition0_replicas: Sequence[int],
    existing_partitions: int,
    partitions_to_add: int,
    rng: random.Random | None = None,
) -> Assignment:
    """Kafka's ``createNewPartitionsAssignment`` without a manual assignment: the replication
    factor of partition 0, starting at the first broker whose id is at least partition 0's
    first replica, partition ids after the existing ones."""
    leader = partition0_replicas[0]
    start_index = next((i for i, b in enumerate(brokers) if b.broker_id >= leader), 0)
    return assign_replicas_to_brokers(
        brokers,
        partitions_to_add,
        len(partition0_replicas),
        fixed_start_index=start_index,
        start_partition_id=existing_partitions,
        rng=rng,
    )


def check_manual_assignment(
    assignment: Mapping[int, Sequence[int]], expected_rf: int, available: Collection[int]
) -> None:
    """Kafka's ``validateReplicaAssignment`` for CreatePartitions' explicit assignments."""
    for partition, replicas in sorted(assignment.items()):
        if not replicas:
            raise KafkaError(
                f"Cannot have replication factor of 0 for partition id {partition}.",
                ErrorCode.invalid_replica_assignment,
            )
        if len(set(replicas)) != len(replicas):
            raise KafkaError(
                "Duplicate brokers not allowed in replica assignment: "
                f"{', '.join(map(str, replicas))} for partition id {partition}.",
                ErrorCode.invalid_replica_assignment,
            )
        if not set(replicas) <= set(available):
            raise KafkaError(
                f"Some brokers specified for partition id {partition} are not available. "
                f"Specified brokers: {', '.join(map(str, replicas))}, available brokers: "
                f"{', '.join(map(str, sorted(available)))}.",
                ErrorCode.broker_not_available,
            )
    bad = sorted((p, len(r)) for p, r in assignment.items() if len(r) != expected_rf)
    if bad:
        raise KafkaError(
            "Inconsistent replication factor between partitions, partition 0 has "
            f"{expected_rf} while partitions [{', '.join(str(p) for p, _ in bad)}] have "
            f"replication factors [{', '.join(str(n) for _, n in bad)}], respectively.",
            ErrorCode.invalid_replica_assignment,
        )
