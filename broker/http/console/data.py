"""What the web console reads from the cluster, as a Kafka client of it.

Blocking functions over the admin client (``broker.admin.client.AdminClient``, the one the
``josef`` CLI uses): Metadata, DescribeConfigs, DescribeLogDirs, ListOffsets, Fetch,
ListGroups, DescribeGroups and OffsetFetch. The console runs them in a worker thread
(``asyncio.to_thread``), so the broker's event loop never waits on them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from broker.admin.client import (
    CLIENT_VERSIONS,
    EARLIEST_TIMESTAMP,
    FETCH,
    LATEST_TIMESTAMP,
    LIST_OFFSETS,
    PRODUCE,
    AdminClient,
    AdminError,
    ClusterInfo,
    KafkaResponseError,
    Node,
    PartitionInfo,
    TopicPartition,
)
from broker.admin.client_config import ClientSecurity
from broker.admin.console import fetch_records
from broker.admin.groups import (
    GroupDescription,
    Member,
    committed_offsets,
    describe_group,
    describe_offsets,
    list_groups,
)
from broker.admin.topics import RESOURCE_BROKER, RESOURCE_TOPIC, describe_configs

DESCRIBE_LOG_DIRS: Final = 35
CONSOLE_VERSIONS: Final = {**CLIENT_VERSIONS, DESCRIBE_LOG_DIRS: (1, 4)}
CLIENT_TIMEOUT_S: Final = 10.0
RETRY_TIMEOUT_S: Final = 5.0
MAX_RECORDS: Final = 500
TOPIC_AUTHORIZATION_FAILED: Final = 29
CLUSTER_AUTHORIZATION_FAILED: Final = 31
FETCH_ROUNDS: Final = 20


def open_client(bootstrap: str, security: ClientSecurity | None = None) -> AdminClient:
    return AdminClient(
        bootstrap,
        timeout=CLIENT_TIMEOUT_S,
        retry_timeout=RETRY_TIMEOUT_S,
        client_id="josef-console",
        client_versions=CONSOLE_VERSIONS,
        security=security,
    )


# --------------------------------------------------------------------------- offsets


def offsets(
    client: AdminClient, cluster: ClusterInfo, tps: Iterable[TopicPartition], timestamp: int
) -> dict[TopicPartition, int]:
    """ListOffsets for many partitions: one request per leader of ``cluster`` (the admin
    client's ``list_offsets`` looks each leader up with its own Metadata request). A
    partition that fails here is retried through ``list_offsets``; one that is not in
    ``cluster`` or has no leader is left out."""
    by_leader: dict[int, list[TopicPartition]] = {}
    for t, p in tps:
        info = cluster.topics.get(t)
        part = info.partitions.get(p) if info is not None else None
        if part is not None and part.leader >= 0:
            by_leader.setdefault(part.leader, []).append((t, p))
    result: dict[TopicPartition, int] = {}
    retry: list[TopicPartition] = []
    for leader, leader_tps in by_leader.items():
        topics: dict[str, list[dict[str, Any]]] = {}
        for t, p in leader_tps:
            topics.setdefault(t, []).append(
                {"partition_index": p, "timestamp": timestamp, "current_leader_epoch": -1}
            )
        body = {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
        }
        try:
            _v, plain = client.node(leader).request(LIST_OFFSETS, body)
        except AdminError:
            retry.extend(leader_tps)
            continue
        for t in plain["topics"]:
            for p in t["partitions"]:
                tp = (t["name"], p["partition_index"])
                if p["error_code"] == 0:
                    result[tp] = int(p["offset"])
                else:
                    retry.append(tp)
    if retry:
        found = client.list_offsets(dict.fromkeys(retry, timestamp))
        result.update({tp: off for tp, (off, _ts) in found.items()})
    return result


# --------------------------------------------------------------------------- cluster


@dataclass(frozen=True, slots=True)
class BrokerRow:
    node: Node
    protocol: str  # what its ApiVersions say about its Kafka version


@dataclass(frozen=True, slots=True)
class ClusterView:
    cluster_id: str | None
    controller_id: int
    brokers: tuple[BrokerRow, ...]
    config_broker: int | None
    configs: tuple[dict[str, Any], ...]
    #: (error name, message) when the user may not describe the cluster's configs.
    configs_error: tuple[str, str] | None = None


def protocol_level(versions: Mapping[int, tuple[int, int]]) -> str:
    """The Kafka release whose APIs a broker advertises (as kafka-python infers it)."""
    fetch = versions.get(FETCH, (0, -1))[1]
    produce = versions.get(PRODUCE, (0, -1))[1]
    if fetch >= 17:
        return "Kafka 3.9"
    if produce >= 11:
        return "Kafka 3.8"
    if fetch >= 16:
        return "Kafka 3.7"
    return f"Fetch v{fetch}" if fetch >= 0 else "unknown"


def cluster_view(client: AdminClient, broker_id: int | None) -> ClusterView:
    cluster = client.cluster(refresh=True)
    rows = []
    for node_id in sorted(cluster.brokers):
        try:
            level = protocol_level(client.node(node_id).broker_versions)
        except Exception as exc:  # an unreachable broker is shown, not fatal
            level = f"unreachable: {exc}"
        rows.append(BrokerRow(cluster.brokers[node_id], level))
    if broker_id is None and cluster.brokers:
        broker_id = min(cluster.brokers)
    configs: list[dict[str, Any]] = []
    configs_error = None
    if broker_id is not None:
        try:
            configs = describe_configs(client, RESOURCE_BROKER, str(broker_id))
        except KafkaResponseError as exc:
            if exc.code != CLUSTER_AUTHORIZATION_FAILED:
                raise
            configs_error = (exc.name, exc.message)  # no DescribeConfigs on the cluster
    return ClusterView(
        cluster.cluster_id,
        cluster.controller_id,
        tuple(rows),
        broker_id,
        tuple(sorted(configs, key=lambda c: str(c["name"]))),
        configs_error,
    )


# --------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    internal: bool
    partitions: int
    replication_factor: int
    under_replicated: int
    size: int
    end_offsets: int  # sum of the log end offsets (throughput samples)


def _under_replicated(p: PartitionInfo) -> bool:
    return len(p.isr) < len(p.replicas)


def log_dir_sizes(client: AdminClient) -> dict[TopicPartition, dict[int, int]]:
    """{(topic, partition): {broker: bytes}} from DescribeLogDirs on every broker."""
    sizes: dict[TopicPartition, dict[int, int]] = {}
    for node_id in sorted(client.cluster().brokers):
        try:
            conn = client.node(node_id)
            if not conn.supports(DESCRIBE_LOG_DIRS):
                continue
            _v, plain = conn.request(DESCRIBE_LOG_DIRS, {"topics": None})
        except Exception:  # a broker that does not answer contributes no sizes
            continue
        for result in plain.get("results", ()):
            if result.get("error_code", 0) != 0:
                continue
            for t in result["topics"]:
                for p in t["partitions"]:
                    if p.get("is_future_key"):
                        continue
                    per = sizes.setdefault((t["name"], p["partition_index"]), {})
                    per[node_id] = per.get(node_id, 0) + int(p["partition_size"])
    return sizes


def partition_size(sizes: Mapping[int, int] | None, leader: int) -> int:
    if not sizes:
        return -1
    return sizes.get(leader, max(sizes.values()))


def topic_rows(client: AdminClient) -> list[TopicRow]:
    cluster = client.cluster(refresh=True)
    sizes = log_dir_sizes(client)
    tps = [
        (t.name, p)
        for t in cluster.topics.values()
        for p, info in t.partitions.items()
        if info.leader >= 0
    ]
    try:
        ends = offsets(client, cluster, tps, LATEST_TIMESTAMP)
    except KafkaResponseError:
        ends = {}
    rows = []
    for name in sorted(cluster.topics):
        t = cluster.topics[name]
        parts = t.partitions.values()
        rows.append(
            TopicRow(
                name,
                t.internal,
                len(t.partitions),
                max((len(p.replicas) for p in parts), default=0),
                sum(1 for p in parts if _under_replicated(p)),
                sum(max(partition_size(sizes.get((name, p.partition)), p.leader), 0)
                    for p in parts),
                sum(ends.get((name, p.partition), 0) for p in parts),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class PartitionRow:
    info: PartitionInfo
    start_offset: int
    end_offset: int
    size: int


@dataclass(frozen=True, slots=True)
class TopicView:
    name: str
    topic_id: str
    internal: bool
    partitions: tuple[PartitionRow, ...]
    configs: tuple[dict[str, Any], ...]
    #: (error name, message) when the user may describe the topic but not its configs.
    configs_error: tuple[str, str] | None = None


def topic_view(client: AdminClient, topic: str) -> TopicView:
    info = client.topic(topic)
    cluster = client.cluster(refresh=True)
    tps = [(topic, p) for p in sorted(info.partitions)]
    starts = offsets(client, cluster, tps, EARLIEST_TIMESTAMP)
    ends = offsets(client, cluster, tps, LATEST_TIMESTAMP)
    sizes = log_dir_sizes(client)
    rows = tuple(
        PartitionRow(
            info.partitions[p],
            starts.get((topic, p), -1),
            ends.get((topic, p), -1),
            partition_size(sizes.get((topic, p)), info.partitions[p].leader),
        )
        for _t, p in tps
    )
    configs_error = None
    try:
        configs = describe_configs(client, RESOURCE_TOPIC, topic)
    except KafkaResponseError as exc:
        if exc.code != TOPIC_AUTHORIZATION_FAILED:
            raise
        configs, configs_error = [], (exc.name, exc.message)  # Describe without DescribeConfigs
    return TopicView(
        topic,
        str(info.topic_id) if info.topic_id else "",
        info.internal,
        rows,
        tuple(sorted(configs, key=lambda c: str(c["name"]))),
        configs_error,
    )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RecordsView:
    partition: int
    start_offset: int  # where reading began (-1: no record at or after the timestamp)
    log_start: int
    log_end: int
    records: tuple[Any, ...]  # protocol.records.Record


def read_records(
    client: AdminClient,
    topic: str,
    partition: int,
    *,
    offset: int | None,
    timestamp: int | None,
    count: int,
) -> RecordsView:
    """Up to ``count`` records of one partition from ``offset`` (default: the log start),
    or from the first record at or after ``timestamp`` (ListOffsets by time)."""
    count = max(1, min(count, MAX_RECORDS))
    info = client.topic(topic)
    if partition not in info.partitions:
        raise KafkaResponseError(3, f"topic {topic} has no partition {partition}")
    tp = (topic, partition)
    log_start = client.offsets_earliest([tp])[tp]
    log_end = client.offsets_latest([tp])[tp]
    if timestamp is not None:
        start = client.list_offsets({tp: timestamp})[tp][0]
    elif offset is not None:
        start = offset if offset >= 0 else max(log_start, log_end + offset)
    else:
        start = log_start
    records: list[Any] = []
    if start < 0:
        return RecordsView(partition, -1, log_start, log_end, ())
    args = argparse.Namespace(
        max_partition_bytes=1024 * 1024,
        max_wait_ms=100,
        isolation_level="read_uncommitted",
        from_beginning=True,
    )
    positions = {tp: max(start, log_start)}
    for _round in range(FETCH_ROUNDS):
        if positions[tp] >= log_end or len(records) >= count:
            break
        fetched = fetch_records(client, client.leader(*tp), [tp], positions, args)
        for _tp, got, next_offset in fetched:
            positions[tp] = next_offset
            records.extend(record for _ts_type, record in got[: count - len(records)])
    return RecordsView(partition, start, log_start, log_end, tuple(records))


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class LagRow:
    topic: str
    partition: int
    committed: int | None
    log_end: int | None
    lag: int | None
    member: Member | None


@dataclass(frozen=True, slots=True)
class GroupView:
    description: GroupDescription
    offsets: tuple[LagRow, ...] = field(default_factory=tuple)

    @property
    def total_lag(self) -> int:
        return sum(r.lag or 0 for r in self.offsets)


def group_rows(client: AdminClient) -> list[tuple[GroupDescription, int]]:
    """Every group of the cluster with its description and total lag (one ListOffsets
    round for the log end offsets of all groups' partitions)."""
    found = []
    for gid, _state, _ptype in list_groups(client):
        found.append((describe_group(client, gid), committed_offsets(client, gid)))
    ends = offsets(
        client,
        client.cluster(refresh=True),
        {tp for _d, committed in found for tp in committed},
        LATEST_TIMESTAMP,
    )
    return [
        (desc, sum(max(ends[tp] - off, 0) for tp, off in committed.items() if tp in ends))
        for desc, committed in found
    ]


def group_view(client: AdminClient, group: str) -> GroupView:
    desc = describe_group(client, group)
    rows = tuple(LagRow(*row) for row in describe_offsets(client, desc))
    return GroupView(desc, rows)
