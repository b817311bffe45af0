"""The same znode facts encoded by Josef (cluster.zk) and by Apache Kafka 3.9's ZkData.

Each case is (name, kind, facts). :func:`ours` encodes the facts with Josef's codecs;
:func:`decoded_facts` turns Josef's decoding of some bytes back into facts. The oracle
(``tests/unit/zk_fixtures/oracle``) does both with Kafka's own code; its answers are stored
in ``tests/unit/zk_fixtures/kafka_oracle.json``.
"""

from __future__ import annotations

from typing import Any

from cluster.metadata import BrokerEndpoint
from cluster.zk.config_znodes import ConfigChangeNotification, ConfigEntity, LogDirEventNotification
from cluster.zk.topic_znodes import (
    LeaderIsrAndControllerEpoch,
    LeaderRecoveryState,
    ReplicaAssignment,
    TopicAssignment,
    decode_partition_list,
    decode_reassign_partitions,
    encode_partition_list,
    encode_reassign_partitions,
)
from cluster.zk.znodes import (
    BrokerInfo,
    ControllerRegistration,
    FeatureZNode,
    FeatureZNodeStatus,
    ProducerIdsBlock,
    SupportedVersionRange,
    decode_cluster_id,
    decode_controller_epoch,
    encode_cluster_id,
    encode_controller_epoch,
)
from storage.log import uuid_from_kafka, uuid_to_kafka

Facts = dict[str, Any]

TIMESTAMP = 1795794943816

CASES: list[tuple[str, str, Facts]] = [
    ("broker_two_listeners_rack", "broker", {
        "id": 1, "version": 5, "jmx_port": -1, "rack": "rack-a", "features": {},
        "endpoints": [["PLAINTEXT", "PLAINTEXT", "127.0.0.1", 19091],
                      ["INTERNAL", "PLAINTEXT", "127.0.0.1", 19191]]}),
    ("broker_sasl_only_no_rack", "broker", {
        "id": 9, "version": 5, "jmx_port": 19999, "rack": None, "features": {},
        "endpoints": [["SASL_PLAINTEXT", "SASL_PLAINTEXT", "localhost", 19199]]}),
    ("broker_ssl_first_then_plaintext_ipv6", "broker", {
        "id": 1001, "version": 5, "jmx_port": -1, "rack": "eu-west-1c",
        "features": {"metadata.version": [1, 21], "kraft.version": [0, 1],
                     "group.version": [0, 1], "transaction.version": [0, 2],
                     "eligible.leader.replicas.version": [0, 1]},
        "endpoints": [["EXTERNAL", "SSL", "broker.example.com", 9093],
                      ["REPLICATION", "PLAINTEXT", "::1", 9092],
                      ["CLIENT", "PLAINTEXT", "10.0.0.7", 9094]]}),
    ("broker_v4", "broker", {
        "id": 3, "version": 4, "jmx_port": 9999, "rack": None, "features": {},
        "endpoints": [["PLAINTEXT", "PLAINTEXT", "h3", 9092]]}),
    ("controller", "controller", {"broker_id": 1001, "timestamp": TIMESTAMP, "kraft_epoch": -1}),
    ("controller_epoch", "controller_epoch", {"epoch": 17}),
    ("cluster_id", "cluster_id", {"id": "G8E8MSlwRRaG-QedUxtDzg"}),
    ("feature_empty", "feature", {"version": 2, "status": 1, "features": {}}),
    ("feature_finalized", "feature", {"version": 2, "status": 1, "features": {"group.version": 1}}),
    ("producer_id_block_first", "producer_id_block", {"broker": 1001, "start": 0, "size": 1000}),
    ("producer_id_block_later", "producer_id_block", {"broker": 1, "start": 41000, "size": 1000}),
    ("topic_plain", "topic", {
        "topic": "orders", "topic_id": "uTsGNSceRdyktqXv58XMOg",
        "partitions": {"0": [[1001, 2], [], []], "1": [[1, 1001], [], []], "2": [[2, 1], [], []]}}),
    ("topic_reassigning_many_partitions", "topic", {
        "topic": "big", "topic_id": "HXna7fHSSQWmvhUjw9Xtqw",
        "partitions": {str(p): [[1, 2, 3], [], []] for p in range(12)}
        | {"5": [[4, 2, 1], [4], [1]], "11": [[5, 6, 2, 3], [5, 6], [2, 3]]}}),
    ("topic_100_partitions", "topic", {
        "topic": "wide", "topic_id": "S8iPzePoQTWONca6QrhIIw",
        "partitions": {str(p): [[p % 3 + 1, (p + 1) % 3 + 1], [], []] for p in range(100)}
        | {"42": [[4, 1, 2], [4], [2]], "77": [[5, 1], [5], []]}}),
    ("topic_without_id", "topic", {
        "topic": "legacy", "topic_id": None, "partitions": {"0": [[0], [], []]}}),
    ("partition_state", "partition_state", {
        "leader": 1001, "leader_epoch": 2, "isr": [1001, 2], "controller_epoch": 2,
        "recovery": 0}),
    ("partition_state_recovering", "partition_state", {
        "leader": 3, "leader_epoch": 9, "isr": [3], "controller_epoch": 4, "recovery": 1}),
    ("partition_state_no_leader", "partition_state", {
        "leader": -1, "leader_epoch": 5, "isr": [1], "controller_epoch": 2, "recovery": 0}),
    ("config_topic", "config_entity", {
        "config": {"cleanup.policy": "compact", "min.insync.replicas": "2",
                   "retention.ms": "86400000"}}),
    ("config_many_keys", "config_entity", {
        "config": {"retention.ms": "3600000", "segment.bytes": "1048576",
                   "cleanup.policy": "compact,delete", "min.insync.replicas": "2",
                   "max.message.bytes": "2000000", "compression.type": "zstd",
                   "leader.replication.throttled.replicas": "0:1001,0:2",
                   "follower.replication.throttled.replicas": "0:1",
                   "message.timestamp.type": "LogAppendTime",
                   "unclean.leader.election.enable": "false"}}),
    ("config_resized_table", "config_entity", {
        "config": {f"k{i}.{'x' * (i % 5)}": str(i) for i in range(40)}
        | {"a": "1", "b": "2", "q": "3", "cleanup.policy": "delete"}}),
    ("config_empty", "config_entity", {"config": {}}),
    ("config_unicode", "config_entity", {"config": {"message.format.note": "grüße \"q\""}}),
    ("config_change_topic", "config_change", {"entity_path": "topics/orders"}),
    ("config_change_nested_quota", "config_change", {"entity_path": "users/alice/clients/c1"}),
    ("isr_change", "isr_change", {"partitions": [["orders", 0], ["orders", 3]]}),
    ("preferred_election", "preferred", {"partitions": [["big", 0]]}),
    ("log_dir_event", "log_dir_event", {"broker": 1}),
    ("reassign_legacy", "reassign", {"partitions": [["big", 0, [1001, 2]]]}),
]


def _broker(f: Facts) -> BrokerInfo:
    return BrokerInfo(
        broker_id=f["id"],
        endpoints=tuple(BrokerEndpoint(*e) for e in f["endpoints"]),
        rack=f["rack"],
        jmx_port=f["jmx_port"],
        timestamp_ms=TIMESTAMP,
        features={n: SupportedVersionRange(*r) for n, r in f["features"].items()},
        version=f["version"],
    )


def _topic(f: Facts) -> TopicAssignment:
    return TopicAssignment(
        f["topic"],
        uuid_from_kafka(f["topic_id"]) if f["topic_id"] else None,
        {int(p): ReplicaAssignment(tuple(a[0]), tuple(a[1]), tuple(a[2]))
         for p, a in f["partitions"].items()},
    )


def _state(f: Facts) -> LeaderIsrAndControllerEpoch:
    return LeaderIsrAndControllerEpoch(
        f["leader"], f["leader_epoch"], tuple(f["isr"]), f["controller_epoch"],
        LeaderRecoveryState(f["recovery"]),
    )


def ours(kind: str, f: Facts) -> bytes | None:
    """Josef's encoding of the facts."""
    if kind == "broker":
        return _broker(f).encode()
    if kind == "controller":
        return ControllerRegistration(f["broker_id"], f["timestamp"], f["kraft_epoch"]).encode()
    if kind == "controller_epoch":
        return encode_controller_epoch(f["epoch"])
    if kind == "cluster_id":
        return encode_cluster_id(f["id"])
    if kind == "feature":
        return FeatureZNode(FeatureZNodeStatus(f["status"]), f["features"], f["version"]).encode()
    if kind == "producer_id_block":
        return ProducerIdsBlock(f["broker"], f["start"], f["size"]).encode()
    if kind == "topic":
        return _topic(f).encode()
    if kind == "partition_state":
        return _state(f).encode()
    if kind == "config_entity":
        return ConfigEntity(f["config"]).encode()
    if kind == "config_change":
        return ConfigChangeNotification(f["entity_path"]).encode()
    if kind in ("isr_change", "preferred"):
        return encode_partition_list([(t, p) for t, p in f["partitions"]])
    if kind == "log_dir_event":
        return LogDirEventNotification(f["broker"]).encode()
    if kind == "reassign":
        return encode_reassign_partitions({(t, p): r for t, p, r in f["partitions"]})
    raise ValueError(kind)


def decoded_facts(kind: str, f: Facts, data: bytes | None) -> Facts:
    """Josef's decoding of ``data`` as facts (the shape the oracle prints for Kafka's)."""
    if kind == "broker":
        b = BrokerInfo.decode(f["id"], data)
        return {
            "id": b.broker_id,
            "endpoints": [[e.listener, e.security_protocol, e.host or None, e.port]
                          for e in b.endpoints],
            "rack": b.rack, "jmx_port": b.jmx_port, "version": b.version,
            "features": {n: [r.min_version, r.max_version] for n, r in b.features.items()},
        }
    if kind == "controller":
        c = ControllerRegistration.decode(data)
        return {"broker_id": c.broker_id, "kraft_epoch": c.kraft_controller_epoch}
    if kind == "controller_epoch":
        return {"epoch": decode_controller_epoch(data)}
    if kind == "cluster_id":
        return {"id": decode_cluster_id(data)}
    if kind == "feature":
        fz = FeatureZNode.decode(data)
        return {"status": int(fz.status), "version": fz.version, "features": dict(fz.features)}
    if kind == "producer_id_block":
        b = ProducerIdsBlock.decode(data)
        return {"broker": b.assigned_broker_id, "start": b.first_producer_id, "size": b.size}
    if kind == "topic":
        t = TopicAssignment.decode(f["topic"], data)
        return {
            "topic": t.topic,
            "topic_id": uuid_to_kafka(t.topic_id) if t.topic_id else None,
            "partitions": {str(p): [list(a.replicas), list(a.adding_replicas),
                                    list(a.removing_replicas)]
                           for p, a in sorted(t.partitions.items())},
        }
    if kind == "partition_state":
        s = LeaderIsrAndControllerEpoch.decode(data)
        return {"leader": s.leader, "leader_epoch": s.leader_epoch, "isr": list(s.isr),
                "controller_epoch": s.controller_epoch, "recovery": int(s.leader_recovery_state)}
    if kind == "config_entity":
        return {"config": dict(sorted(ConfigEntity.decode(data).config.items()))}
    if kind == "config_change":
        return {"entity_path": ConfigChangeNotification.decode(data).entity_path, "version": 2}
    if kind in ("isr_change", "preferred"):
        return {"partitions": sorted([t, p] for t, p in decode_partition_list(data, kind))}
    if kind == "log_dir_event":
        return {"broker": LogDirEventNotification.decode(data).broker_id}
    if kind == "reassign":
        return {"partitions": sorted([t, p, r] for (t, p), r in
                                     decode_reassign_partitions(data).items())}
    raise ValueError(kind)


def canonical_facts(kind: str, f: Facts) -> Facts:
    """The facts as a decoder reports them (sorted where Kafka decodes into a set or map)."""
    out = dict(f)
    if kind == "broker":
        out["endpoints"] = [[e[0], e[1], e[2] or None, e[3]] for e in f["endpoints"]]
    elif kind == "controller":
        out.pop("timestamp")
    elif kind == "config_entity":
        out["config"] = dict(sorted(f["config"].items()))
    elif kind == "config_change":
        out["version"] = 2
    elif kind in ("isr_change", "preferred", "reassign"):
        out["partitions"] = sorted(f["partitions"])
    elif kind == "topic":
        out["partitions"] = {str(p): f["partitions"][str(p)]
                             for p in sorted(int(k) for k in f["partitions"])}
    return out
