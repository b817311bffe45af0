"""The controller's nouns: partitions, replicas, assignments and leadership (Kafka's names).

* :class:`TopicPartition` and :class:`PartitionAndReplica` - keys of the controller's maps.
* :class:`ReplicaAssignment` - a partition's replicas, with the replicas a reassignment is
  adding and removing (KIP-455: RS = ORS + TRS, AR = TRS - ORS, RR = ORS - TRS).
* :class:`LeaderAndIsr` - leader, leader epoch, ISR, leader recovery state and partition epoch
  (in ZooKeeper mode the partition epoch is the version of the partition's state znode).
* :class:`LeaderIsrAndControllerEpoch` - a :class:`LeaderAndIsr` and the epoch of the
  controller that wrote it, i.e. the content of ``/brokers/topics/<t>/partitions/<p>/state``.

Everything here is immutable and pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

NO_LEADER = -1  # Kafka's LeaderAndIsr.NO_LEADER
NO_EPOCH = -1  # Kafka's LeaderAndIsr.NO_EPOCH
LEADER_DURING_DELETE = -2  # leader sent in UpdateMetadata for a topic being deleted
EPOCH_DURING_DELETE = -2  # leader epoch sent in StopReplica for a topic being deleted
INITIAL_LEADER_EPOCH = 0
INITIAL_PARTITION_EPOCH = 0

# KIP-704 leader recovery states (the ``leader_recovery_state`` of LeaderAndIsr/AlterPartition).
RECOVERED = 0
RECOVERING = 1


class TopicPartition(NamedTuple):
    """A partition of a topic; equal to the plain ``(topic, partition)`` tuple."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


class PartitionAndReplica(NamedTuple):
    """One replica of a partition: the partition and the broker that hosts the replica."""

    topic_partition: TopicPartition
    replica: int

    @property
    def topic(self) -> str:
        return self.topic_partition.topic

    @property
    def partition(self) -> int:
        return self.topic_partition.partition

    def __str__(self) -> str:
        return f"[Topic={self.topic},Partition={self.partition},Replica={self.replica}]"


def _without(values: Sequence[int], removed: Iterable[int]) -> tuple[int, ...]:
    gone = set(removed)
    return tuple(v for v in values if v not in gone)


def _distinct(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True, slots=True)
class ReplicaAssignment:
    """The replicas assigned to a partition (Kafka's controller ``ReplicaAssignment``).

    ``replicas`` is the full replica set RS. While a reassignment is in flight it holds the
    target replicas TRS first (in their requested order) followed by the original replicas
    being removed; ``adding_replicas`` is AR and ``removing_replicas`` is RR.
    """

    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()

    @classmethod
    def of(cls, replicas: Iterable[int]) -> ReplicaAssignment:
        return cls(tuple(replicas))

    @property
    def origin_replicas(self) -> tuple[int, ...]:
        """ORS: the replicas before the reassignment began (RS - AR)."""
        return _without(self.replicas, self.adding_replicas)

    @property
    def target_replicas(self) -> tuple[int, ...]:
        """TRS: the replicas once the reassignment completes (RS - RR)."""
        return _without(self.replicas, self.removing_replicas)

    @property
    def is_being_reassigned(self) -> bool:
        return bool(self.adding_replicas or self.removing_replicas)

    def reassign_to(self, target: Sequence[int]) -> ReplicaAssignment:
        """The assignment while moving from the original replicas to ``target``:
        RS = distinct(TRS + ORS), AR = RS - ORS, RR = RS - TRS."""
        origin = self.origin_replicas
        full = _distinct((*target, *origin))
        return ReplicaAssignment(full, _without(full, origin), _without(full, target))

    def remove_replica(self, replica: int) -> ReplicaAssignment:
        return ReplicaAssignment(
            _without(self.replicas, (replica,)),
            _without(self.adding_replicas, (replica,)),
            _without(self.removing_replicas, (replica,)),
        )

    def with_replica(self, replica: int) -> ReplicaAssignment:
        return replace(self, replicas=(*self.replicas, replica))

    def __str__(self) -> str:
        return (
            f"ReplicaAssignment(replicas={','.join(map(str, self.replicas))}, "
            f"addingReplicas={','.join(map(str, self.adding_replicas))}, "
            f"removingReplicas={','.join(map(str, self.removing_replicas))})"
        )


EMPTY_ASSIGNMENT = ReplicaAssignment(())


@dataclass(frozen=True, slots=True)
class LeaderAndIsr:
    """A partition's leadership (Kafka's ``LeaderAndIsr``).

    The ``new_*`` constructors give the next state the controller writes: every change of
    leader or ISR made by the controller bumps ``leader_epoch``; ``partition_epoch`` is the
    znode version the next compare-and-set expects (ZooKeeper bumps it on the write).
    """

    leader: int
    leader_epoch: int = INITIAL_LEADER_EPOCH
    isr: tuple[int, ...] = ()
    leader_recovery_state: int = RECOVERED
    partition_epoch: int = INITIAL_PARTITION_EPOCH

    @classmethod
    def initial(cls, leader: int, isr: Iterable[int]) -> LeaderAndIsr:
        return cls(leader, INITIAL_LEADER_EPOCH, tuple(isr))

    @property
    def leader_opt(self) -> int | None:
        return None if self.leader == NO_LEADER else self.leader

    def with_partition_epoch(self, partition_epoch: int) -> LeaderAndIsr:
        return replace(self, partition_epoch=partition_epoch)

    def new_leader(self, leader: int) -> LeaderAndIsr:
        return replace(self, leader=leader, leader_epoch=self.leader_epoch + 1)

    def new_leader_and_isr(self, leader: int, isr: Iterable[int]) -> LeaderAndIsr:
        return replace(self, leader=leader, leader_epoch=self.leader_epoch + 1, isr=tuple(isr))

    def new_recovering_leader_and_isr(self, leader: int, isr: Iterable[int]) -> LeaderAndIsr:
        """After an unclean election (KIP-704): the new leader recovers before others join."""
        return replace(
            self,
            leader=leader,
            leader_epoch=self.leader_epoch + 1,
            isr=tuple(isr),
            leader_recovery_state=RECOVERING,
        )

    def new_epoch(self) -> LeaderAndIsr:
        """Same leader and ISR, next leader epoch (tells replicas about a new assignment)."""
        return replace(self, leader_epoch=self.leader_epoch + 1)

    def equals_allow_stale_partition_epoch(self, other: LeaderAndIsr) -> bool:
        """Equal apart from a partition epoch at most ``other``'s (AlterPartition idempotence)."""
        return (
            self.leader == other.leader
            and self.leader_epoch == other.leader_epoch
            and self.isr == other.isr
            and self.leader_recovery_state == other.leader_recovery_state
            and self.partition_epoch <= other.partition_epoch
        )

    def __str__(self) -> str:
        return (
            f"LeaderAndIsr(leader={self.leader}, leaderEpoch={self.leader_epoch}, "
            f"isr={list(self.isr)}, leaderRecoveryState={self.leader_recovery_state}, "
            f"partitionEpoch={self.partition_epoch})"
        )


class LeaderIsrAndControllerEpoch(NamedTuple):
    """A partition's leadership and the controller epoch that wrote it."""

    leader_and_isr: LeaderAndIsr
    controller_epoch: int

    def __str__(self) -> str:
        lai = self.leader_and_isr
        return (
            f"(Leader:{lai.leader},ISR:{','.join(map(str, lai.isr))},"
            f"LeaderRecoveryState:{lai.leader_recovery_state},LeaderEpoch:{lai.leader_epoch},"
            f"ZkVersion:{lai.partition_epoch},ControllerEpoch:{self.controller_epoch})"
        )
