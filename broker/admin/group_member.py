"""A blocking member of a classic consumer group, for ``josef consume --group``.

It plays the consumer side of Kafka's classic group protocol against the coordinator:
JoinGroup (with the MEMBER_ID_REQUIRED retry), SyncGroup (as leader it assigns with the
``range`` assignor, as Kafka's RangeAssignor does), Heartbeat between fetches,
OffsetCommit with its generation and member id, LeaveGroup on exit. A heartbeat or commit
answered REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID makes the caller
rejoin. Single-threaded: the caller must call :meth:`poll_heartbeat` at least every
heartbeat interval (its fetches wait at most that long).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from kio.schema.errors import ErrorCode

from broker.admin.client import (
    OFFSET_COMMIT,
    AdminClient,
    KafkaResponseError,
    TopicPartition,
    check,
)
from broker.admin.consumer_protocol import (
    Assignment,
    ConsumerProtocolError,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)

JOIN_GROUP: Final = 11
HEARTBEAT: Final = 12
LEAVE_GROUP: Final = 13
SYNC_GROUP: Final = 14
ASSIGNOR: Final = "range"
REJOIN_ERRORS: Final = frozenset(
    {
        ErrorCode.rebalance_in_progress.value,
        ErrorCode.illegal_generation.value,
        ErrorCode.unknown_member_id.value,
        ErrorCode.fenced_instance_id.value,
    }
)


class RebalanceNeeded(Exception):
    """The coordinator started a new generation: rejoin before committing again."""


def range_assign(
    members: Mapping[str, Iterable[str]], partitions: Mapping[str, int]
) -> dict[str, dict[str, list[int]]]:
    """Kafka's RangeAssignor: per topic, its partitions in order split into contiguous
    ranges over the subscribed members sorted by member id; the first members get one
    more when the division leaves a remainder."""
    out: dict[str, dict[str, list[int]]] = {m: {} for m in members}
    for topic in sorted({t for ts in members.values() for t in ts}):
        count = partitions.get(topic, 0)
        subscribed = sorted(m for m, ts in members.items() if topic in ts)
        if not subscribed or count <= 0:
            continue
        per, extra = divmod(count, len(subscribed))
        start = 0
        for i, member in enumerate(subscribed):
            n = per + (1 if i < extra else 0)
            if n:
                out[member][topic] = list(range(start, start + n))
            start += n
    return out


class GroupMember:
    """One member of ``group`` subscribed to ``topics`` (the classic protocol)."""

    def __init__(
        self,
        client: AdminClient,
        group: str,
        topics: list[str],
        *,
        session_timeout_ms: int = 10_000,
        rebalance_timeout_ms: int = 60_000,
        heartbeat_interval_ms: int = 3_000,
    ) -> None:
        self.client = client
        self.group = group
        self.topics = sorted(topics)
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.heartbeat_interval_s = heartbeat_interval_ms / 1000
        self.member_id = ""
        self.generation = -1
        self.assignment: list[TopicPartition] = []
        self._next_heartbeat = 0.0

    # ---- requests to the coordinator

    def _request(self, api_key: int, body: dict[str, Any]) -> dict[str, Any]:
        _v, plain = self.client.coordinator(self.group).request(api_key, body)
        return plain

    def join(self) -> list[TopicPartition]:
        """Join (or rejoin) the group; returns this member's partitions."""
        self.client.retrying(f"join group {self.group}", self._join_once)
        self._next_heartbeat = time.monotonic() + self.heartbeat_interval_s
        return self.assignment

    def _join_once(self) -> None:
        while not self._join_and_sync():
            pass

    def _join_and_sync(self) -> bool:
        """One JoinGroup + SyncGroup; False when a new rebalance began meanwhile."""
        metadata = encode_subscription(Subscription(topics=self.topics))
        while True:
            plain = self._request(
                JOIN_GROUP,
                {
                    "group_id": self.group,
                    "session_timeout": self.session_timeout_ms,
                    "rebalance_timeout": self.rebalance_timeout_ms,
                    "member_id": self.member_id,
                    "group_instance_id": None,
                    "protocol_type": "consumer",
                    "protocols": [{"name": ASSIGNOR, "metadata": metadata}],
                },
            )
            code = plain["error_code"]
            if code == ErrorCode.member_id_required.value:
                self.member_id = plain["member_id"]
                continue
            if code == ErrorCode.unknown_member_id.value:
                self.member_id = ""
                continue
            if code == ErrorCode.rebalance_in_progress.value:
                continue
            check(code, None, f"JoinGroup {self.group}")
            break
        self.member_id = plain["member_id"]
        self.generation = plain["generation_id"]
        assignments: list[dict[str, Any]] = []
        if plain["leader"] == self.member_id:
            assignments = self._assign(plain["members"])
        sync = self._request(
            SYNC_GROUP,
            {
                "group_id": self.group,
                "generation_id": self.generation,
                "member_id": self.member_id,
                "group_instance_id": None,
                "protocol_type": "consumer",
                "protocol_name": ASSIGNOR,
                "assignments": assignments,
            },
        )
        if sync["error_code"] == ErrorCode.rebalance_in_progress.value:
            return False
        check(sync["error_code"], None, f"SyncGroup {self.group}")
        try:
            assignment = decode_assignment(sync["assignment"] or b"")
        except ConsumerProtocolError as exc:
            raise KafkaResponseError(
                ErrorCode.inconsistent_group_protocol.value, str(exc), "SyncGroup"
            ) from None
        self.assignment = assignment.topic_partitions()
        return True

    def _assign(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        subscriptions: dict[str, list[str]] = {}
        for m in members:
            try:
                subscriptions[m["member_id"]] = decode_subscription(m["metadata"]).topics
            except ConsumerProtocolError:
                subscriptions[m["member_id"]] = []
        wanted = sorted({t for ts in subscriptions.values() for t in ts})
        cluster = self.client.metadata(wanted)
        counts = {t: len(info.partitions) for t, info in cluster.topics.items()}
        plan = range_assign(subscriptions, counts)
        return [
            {"member_id": m, "assignment": encode_assignment(Assignment(parts))}
            for m, parts in sorted(plan.items())
        ]

    def poll_heartbeat(self) -> None:
        """Heartbeat when due; raises RebalanceNeeded when the group moved on."""
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        plain = self._request(
            HEARTBEAT,
            {
                "group_id": self.group,
                "generation_id": self.generation,
                "member_id": self.member_id,
                "group_instance_id": None,
            },
        )
        self._next_heartbeat = now + self.heartbeat_interval_s
        code = plain["error_code"]
        if code in REJOIN_ERRORS:
            raise RebalanceNeeded(KafkaResponseError(code).name)
        check(code, None, f"Heartbeat {self.group}")

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit positions as this generation's member; RebalanceNeeded if it is stale."""
        if not offsets:
            return
        topics: dict[str, list[dict[str, Any]]] = {}
        for (topic, part), off in sorted(offsets.items()):
            topics.setdefault(topic, []).append(
                {
                    "partition_index": part,
                    "committed_offset": off,
                    "committed_leader_epoch": -1,
                    "committed_metadata": "",
                }
            )
        conn = self.client.coordinator(self.group)
        _v, plain = conn.request(
            OFFSET_COMMIT,
            {
                "group_id": self.group,
                "generation_id_or_member_epoch": self.generation,
                "member_id": self.member_id,
                "group_instance_id": None,
                "retention_time_ms": -1,
                "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
            },
        )
        for t in plain["topics"]:
            for p in t["partitions"]:
                if p["error_code"] in REJOIN_ERRORS:
                    raise RebalanceNeeded(KafkaResponseError(p["error_code"]).name)
                check(p["error_code"], None, f"OffsetCommit {self.group} {t['name']}")

    def leave(self) -> None:
        if not self.member_id:
            return
        plain = self._request(
            LEAVE_GROUP,
            {
                "group_id": self.group,
                "member_id": self.member_id,
                "members": [
                    {"member_id": self.member_id, "group_instance_id": None, "reason": None}
                ],
            },
        )
        if plain["error_code"] not in (0, ErrorCode.unknown_member_id.value):
            check(plain["error_code"], None, f"LeaveGroup {self.group}")
        self.member_id = ""
