"""Topic and partition znodes: assignment, partition state and the /admin requests.

* ``/brokers/topics/<t>`` - :class:`TopicAssignment` (v3: topic id, adding/removing replicas).
* ``/brokers/topics/<t>/partitions/<p>/state`` - :class:`LeaderIsrAndControllerEpoch`.
* ``/admin/delete_topics/<t>`` - a marker with null data (:data:`DELETE_TOPIC_MARKER_DATA`).
* ``/admin/reassign_partitions`` and ``/admin/preferred_replica_election`` - the legacy
  (pre-KIP-455) requests that Kafka 3.9's controller still acts on and then deletes.
* ``/isr_change_notification/isr_change_<seq>`` - ISR changes from brokers on IBP < 2.7
  (Kafka 3.9 sends AlterPartition instead and never writes these).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from cluster.zk.jvm_order import scala_mutable_hashmap_order
from cluster.zk.znode_json import JsonObject, dumps, parse_object
from storage.log import uuid_from_kafka, uuid_to_kafka

TOPIC_ASSIGNMENT_VERSION = 3
PARTITION_STATE_VERSION = 1
NO_LEADER = -1  # Kafka's LeaderAndIsr.NoLeader
DELETE_TOPIC_MARKER_DATA: bytes | None = None  # Kafka creates the marker with null data


# -- /brokers/topics/<topic> -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplicaAssignment:
    """One partition's replicas. During a reassignment ``replicas`` is the union of the
    target and the replicas being removed (Kafka's RS = TRS + RRS)."""

    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()

    @property
    def target_replicas(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r not in self.removing_replicas)

    @property
    def is_being_reassigned(self) -> bool:
        return bool(self.adding_replicas or self.removing_replicas)


def decode_topic_id(text: str, js: JsonObject) -> uuid.UUID:
    """Kafka's ``Uuid.fromString``: 22 characters of URL-safe base64 without padding."""
    try:
        if len(text) != 22:
            raise ValueError
        return uuid_from_kafka(text)
    except ValueError:
        raise js.error(f"topic_id {text!r} is not a Kafka Uuid") from None


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    """``/brokers/topics/<topic>`` (Kafka's ``TopicIdReplicaAssignment``)."""

    topic: str
    topic_id: uuid.UUID | None
    partitions: Mapping[int, ReplicaAssignment] = field(default_factory=dict)

    @classmethod
    def of(
        cls, topic: str, topic_id: uuid.UUID | None, assignment: Mapping[int, Iterable[int]]
    ) -> TopicAssignment:
        """A plain assignment (no reassignment in flight)."""
        return cls(topic, topic_id, {p: ReplicaAssignment(tuple(r)) for p, r in assignment.items()})

    def replicas(self) -> dict[int, list[int]]:
        return {p: list(a.replicas) for p, a in self.partitions.items()}

    def encode(self) -> bytes:
        """Version 3 JSON; adding/removing list only partitions being reassigned. Partition
        keys come in the order of Kafka's Scala hash map, so the bytes match Kafka's."""
        by_key = {str(p): a for p, a in sorted(self.partitions.items())}

        def mapping(
            pick: Callable[[ReplicaAssignment], tuple[int, ...]], only_non_empty: bool = True
        ) -> dict[str, list[int]]:
            keys = [k for k, a in by_key.items() if pick(a) or not only_non_empty]
            return {k: list(pick(by_key[k])) for k in scala_mutable_hashmap_order(keys)}

        out: dict[str, object] = {"partitions": mapping(lambda a: a.replicas, False)}
        if self.topic_id is not None:
            out["topic_id"] = uuid_to_kafka(self.topic_id)
        out["adding_replicas"] = mapping(lambda a: a.adding_replicas)
        out["removing_replicas"] = mapping(lambda a: a.removing_replicas)
        out["version"] = TOPIC_ASSIGNMENT_VERSION
        return dumps(out)

    @classmethod
    def decode(cls, topic: str, data: bytes | None) -> TopicAssignment:
        """Any version (1-3): a missing topic id or adding/removing map means none."""
        js = parse_object(data, f"topic assignment /brokers/topics/{topic}")
        topic_id_text = js.opt_str("topic_id")
        topic_id = decode_topic_id(topic_id_text, js) if topic_id_text is not None else None
        adding = js.obj("adding_replicas", default={})
        removing = js.obj("removing_replicas", default={})
        partitions: dict[int, ReplicaAssignment] = {}
        for key, replicas in js.obj("partitions", default={}).items():
            partition = _partition_key(key, js)
            partitions[partition] = ReplicaAssignment(
                tuple(js.as_int_list(replicas, f"partition {key} replicas")),
                tuple(adding.int_list(key, default=[])),
                tuple(removing.int_list(key, default=[])),
            )
        return cls(topic, topic_id, partitions)


def _partition_key(key: str, js: JsonObject) -> int:
    if not key.isdigit():
        raise js.error(f"partition key {key!r} is not a partition number")
    return int(key)


# -- /brokers/topics/<topic>/partitions/<p>/state ------------------------------------------
class LeaderRecoveryState(IntEnum):
    """KIP-704: RECOVERING after an unclean election until the leader has recovered."""

    RECOVERED = 0
    RECOVERING = 1


@dataclass(frozen=True, slots=True)
class LeaderIsrAndControllerEpoch:
    """A partition's leadership (Kafka's ``LeaderIsrAndControllerEpoch``). The znode's
    ZooKeeper version is the partition epoch and the compare-and-set token: it lives in the
    stat, not in the JSON."""

    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int
    leader_recovery_state: LeaderRecoveryState = LeaderRecoveryState.RECOVERED

    def encode(self) -> bytes:
        """Kafka's key order; ``leader_recovery_state`` only when not RECOVERED."""
        if self.leader_recovery_state is not LeaderRecoveryState.RECOVERED:
            return dumps(
                {
                    "controller_epoch": self.controller_epoch,
                    "leader": self.leader,
                    "version": PARTITION_STATE_VERSION,
                    "leader_recovery_state": int(self.leader_recovery_state),
                    "leader_epoch": self.leader_epoch,
                    "isr": list(self.isr),
                }
            )
        return dumps(
            {
                "controller_epoch": self.controller_epoch,
                "leader": self.leader,
                "version": PARTITION_STATE_VERSION,
                "leader_epoch": self.leader_epoch,
                "isr": list(self.isr),
            }
        )

    @classmethod
    def decode(
        cls, data: bytes | None, what: str = "partition state"
    ) -> LeaderIsrAndControllerEpoch:
        js = parse_object(data, what)
        recovery = js.req_int("leader_recovery_state", default=0)
        try:
            state = LeaderRecoveryState(recovery)
        except ValueError:
            raise js.error(f"unknown leader_recovery_state {recovery}") from None
        return cls(
            leader=js.req_int("leader"),
            leader_epoch=js.req_int("leader_epoch"),
            isr=tuple(js.int_list("isr")),
            controller_epoch=js.req_int("controller_epoch"),
            leader_recovery_state=state,
        )


# -- /admin/reassign_partitions (legacy) -------------------------------------------------------
TopicPartition = tuple[str, int]


def encode_reassign_partitions(reassignment: Mapping[TopicPartition, Iterable[int]]) -> bytes:
    """``{"version":1,"partitions":[{"topic":t,"partition":p,"replicas":[...]}, ...]}``."""
    return dumps(
        {
            "version": 1,
            "partitions": [
                {"topic": t, "partition": p, "replicas": list(r)}
                for (t, p), r in reassignment.items()
            ],
        }
    )


def decode_reassign_partitions(data: bytes | None) -> dict[TopicPartition, list[int]]:
    js = parse_object(data, "reassignment /admin/reassign_partitions")
    out: dict[TopicPartition, list[int]] = {}
    for i, entry in enumerate(js.array("partitions")):
        e = js.sub(entry, f"partitions[{i}]")
        out[(e.req_str("topic"), e.req_int("partition"))] = e.int_list("replicas")
    return out


# -- /admin/preferred_replica_election (legacy) and /isr_change_notification -----------------
def encode_partition_list(partitions: Iterable[TopicPartition], version: int = 1) -> bytes:
    """``{"version":1,"partitions":[{"topic":t,"partition":p}, ...]}``: the JSON of both
    ``/admin/preferred_replica_election`` and an ``isr_change_<seq>`` notification."""
    return dumps(
        {
            "version": version,
            "partitions": [{"topic": t, "partition": p} for t, p in partitions],
        }
    )


def decode_partition_list(data: bytes | None, what: str) -> list[TopicPartition]:
    js = parse_object(data, what)
    out: list[TopicPartition] = []
    for i, entry in enumerate(js.array("partitions")):
        e = js.sub(entry, f"partitions[{i}]")
        out.append((e.req_str("topic"), e.req_int("partition")))
    return out
