"""What each API checks, with Kafka's error codes: requests from User:alice (no ACLs unless
a test grants them) dispatched to an in-process broker running the ACL authorizer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from broker.admin.wire import build_request, decode_response, encode_request, to_plain
from broker.config.broker_config import load_config
from broker.network.context import ConnectionInfo
from broker.network.dispatch import RequestDispatcher
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from cluster.acls import (
    CLUSTER_NAME,
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)

ADMIN = ConnectionInfo("t-1", "127.0.0.1", 1, "PLAINTEXT", principal="User:admin")
TOPIC_AUTHZ, GROUP_AUTHZ, CLUSTER_AUTHZ, TXN_AUTHZ = 29, 30, 31, 53
SECURITY_DISABLED = 54
OPS = {op.name: 1 << int(op) for op in AclOperation}

Loop = tuple[KafkaBroker, asyncio.AbstractEventLoop]
_users = iter(range(1, 10_000))


def start(tmp: Any, *extra: str) -> Loop:
    loop = asyncio.new_event_loop()
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp / 'logs'}",
            "offsets.topic.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            *extra,
        ],
    )
    broker = KafkaBroker(config)
    loop.run_until_complete(broker.start())
    assert broker.services is not None
    for name in ("t", "u"):
        loop.run_until_complete(broker.services.topic_manager.create(TopicSpec(name, 1, 1)))
    # Let the group coordinator load __consumer_offsets first.
    for _ in range(200):
        fetched = call((broker, loop), ADMIN, 9, 8, {"groups": [{"group_id": "warm-up"}]})
        if fetched["groups"][0]["error_code"] == 0:
            break
        loop.run_until_complete(asyncio.sleep(0.05))
    return broker, loop


@pytest.fixture(scope="module")
def acl_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    broker, loop = start(
        tmp_path_factory.mktemp("acl-handlers"),
        "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
        "super.users=User:admin",
    )
    yield broker, loop
    loop.run_until_complete(broker.shutdown())
    loop.close()


@pytest.fixture
def user() -> ConnectionInfo:
    """A fresh principal with no ACLs."""
    n = next(_users)
    return ConnectionInfo(f"u-{n}", "127.0.0.1", 2, "PLAINTEXT", principal=f"User:u{n}")


def call(bl: Loop, conn: ConnectionInfo, api: int, version: int, body: dict[str, Any]) -> Any:
    broker, loop = bl
    assert broker.services is not None
    dispatcher = RequestDispatcher(broker.services.registry)
    frame = encode_request(api, version, 5, "test", build_request(api, version, body))
    out = loop.run_until_complete(asyncio.wait_for(dispatcher.dispatch(frame[4:], conn), 20))
    assert out is not None
    raw = out if isinstance(out, bytes) else b"".join(bytes(p) for p in out)
    _corr, response = decode_response(api, version, raw[4:])
    return to_plain(response)


def grant(
    bl: Loop,
    conn: ConnectionInfo,
    rtype: ResourceType,
    name: str,
    *ops: AclOperation,
    pattern: PatternType = PatternType.LITERAL,
) -> None:
    broker, loop = bl
    assert broker.services is not None and broker.services.auth.authorizer is not None
    bindings = [
        AclBinding(
            ResourcePattern(rtype, name, pattern),
            AccessControlEntry(conn.principal, "*", op, AclPermissionType.ALLOW),
        )
        for op in ops
    ]
    errors = loop.run_until_complete(broker.services.auth.authorizer.create_acls(bindings))
    assert errors == [None] * len(bindings)


def test_init_producer_id(acl_loop: Loop, user: ConnectionInfo) -> None:
    assert call(acl_loop, user, 22, 4, {})["error_code"] == CLUSTER_AUTHZ
    txn = call(acl_loop, user, 22, 4, {"transactional_id": "tx", "transaction_timeout_ms": 1000})
    assert txn["error_code"] == TXN_AUTHZ
    # WRITE on any topic (even a prefix) lets an idempotent producer in.
    grant(acl_loop, user, ResourceType.TOPIC, "some-", AclOperation.WRITE,
          pattern=PatternType.PREFIXED)  # fmt: skip
    ok = call(acl_loop, user, 22, 4, {})
    assert ok["error_code"] == 0 and ok["producer_id"] >= 0


def test_init_producer_id_with_idempotent_write(acl_loop: Loop, user: ConnectionInfo) -> None:
    grant(acl_loop, user, ResourceType.CLUSTER, CLUSTER_NAME, AclOperation.IDEMPOTENT_WRITE)
    assert call(acl_loop, user, 22, 4, {})["error_code"] == 0


def metadata(bl: Loop, conn: ConnectionInfo, topics: list[str] | None, **kw: Any) -> Any:
    body = {"topics": None if topics is None else [{"name": t} for t in topics], **kw}
    return call(bl, conn, 3, 12, body)


def test_metadata_filters_and_hides(acl_loop: Loop, user: ConnectionInfo) -> None:
    assert metadata(acl_loop, user, None)["topics"] == []
    grant(acl_loop, user, ResourceType.TOPIC, "t", AclOperation.READ)  # implies DESCRIBE
    assert [t["name"] for t in metadata(acl_loop, user, None)["topics"]] == ["t"]
    answer = metadata(acl_loop, user, ["u", "nope"], allow_auto_topic_creation=False)
    assert [(t["name"], t["error_code"], t["topic_id"]) for t in answer["topics"]] == [
        ("u", TOPIC_AUTHZ, None),  # the zero uuid, as the admin tools read it
        ("nope", TOPIC_AUTHZ, None),
    ]
    ops = metadata(acl_loop, user, ["t"], include_topic_authorized_operations=True)
    assert ops["topics"][0]["topic_authorized_operations"] == OPS["READ"] | OPS["DESCRIBE"]


def test_metadata_by_topic_id_without_describe(acl_loop: Loop, user: ConnectionInfo) -> None:
    broker, _ = acl_loop
    assert broker.services is not None
    meta = broker.services.metadata.topic("u")
    assert meta is not None
    answer = call(acl_loop, user, 3, 12, {"topics": [{"topic_id": meta.topic_id, "name": None}]})
    (t,) = answer["topics"]
    assert (t["name"], t["error_code"], t["topic_id"]) == (None, TOPIC_AUTHZ, meta.topic_id)


def test_auto_creation_needs_create(acl_loop: Loop, user: ConnectionInfo) -> None:
    name = f"auto-{user.principal[6:]}"
    grant(acl_loop, user, ResourceType.TOPIC, name, AclOperation.DESCRIBE)
    assert metadata(acl_loop, user, [name])["topics"][0]["error_code"] == TOPIC_AUTHZ
    grant(acl_loop, user, ResourceType.TOPIC, name, AclOperation.CREATE)
    assert metadata(acl_loop, user, [name])["topics"][0]["error_code"] == 5  # LEADER_NOT_AVAIL.


def test_produce_fetch_list_offsets(acl_loop: Loop, user: ConnectionInfo) -> None:
    produce = call(acl_loop, user, 0, 9, {"acks": 1, "timeout": 1000, "topic_data": [
        {"name": "t", "partition_data": [{"index": 0, "records": b""}]}]})  # fmt: skip
    assert produce["responses"][0]["partition_responses"][0]["error_code"] == TOPIC_AUTHZ
    fetch_body = {"max_wait": 0, "max_bytes": 1024, "topics": [
        {"topic": "t", "partitions": [{"partition": 0, "fetch_offset": 0,
                                       "partition_max_bytes": 1024}]}]}  # fmt: skip
    fetched = call(acl_loop, user, 1, 12, {"replica_id": -1, **fetch_body})
    assert fetched["responses"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    # A follower's fetch needs CLUSTER_ACTION.
    replica = call(acl_loop, user, 1, 12, {"replica_id": 7, **fetch_body})
    assert replica["responses"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    offsets = call(acl_loop, user, 2, 7, {"replica_id": -1, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "timestamp": -1}]}]})  # fmt: skip
    assert offsets["topics"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    epochs = call(acl_loop, user, 23, 4, {"replica_id": -1, "topics": [
        {"topic": "t", "partitions": [{"partition": 0, "leader_epoch": 0,
                                       "current_leader_epoch": -1}]}]})  # fmt: skip
    assert epochs["topics"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    grant(acl_loop, user, ResourceType.TOPIC, "t", AclOperation.READ)
    fetched = call(acl_loop, user, 1, 12, {"replica_id": -1, **fetch_body})
    assert fetched["responses"][0]["partitions"][0]["error_code"] == 0
    offsets = call(acl_loop, user, 2, 7, {"replica_id": -1, "topics": [
        {"name": "t", "partitions": [{"partition_index": 0, "timestamp": -1}]}]})  # fmt: skip
    assert offsets["topics"][0]["partitions"][0]["error_code"] == 0


def test_group_apis(acl_loop: Loop, user: ConnectionInfo) -> None:
    group = f"g-{user.principal[6:]}"
    found = call(acl_loop, user, 10, 4, {"key_type": 0, "coordinator_keys": [group]})
    assert found["coordinators"][0]["error_code"] == GROUP_AUTHZ
    txn = call(acl_loop, user, 10, 4, {"key_type": 1, "coordinator_keys": ["tx"]})
    assert txn["coordinators"][0]["error_code"] == TXN_AUTHZ
    join = call(acl_loop, user, 11, 5, {"group_id": group, "session_timeout": 10000,
                                       "rebalance_timeout": 10000, "member_id": "",
                                       "protocol_type": "consumer", "protocols": []})  # fmt: skip
    assert join["error_code"] == GROUP_AUTHZ
    commit_body = {"group_id": group, "generation_id_or_member_epoch": -1, "member_id": "",
                   "topics": [{"name": "t", "partitions": [
                       {"partition_index": 0, "committed_offset": 1}]}]}  # fmt: skip
    commit = call(acl_loop, user, 8, 8, commit_body)
    assert commit["topics"][0]["partitions"][0]["error_code"] == GROUP_AUTHZ
    described = call(acl_loop, user, 15, 5, {"groups": [group]})
    assert described["groups"][0]["error_code"] == GROUP_AUTHZ
    deleted = call(acl_loop, user, 42, 2, {"groups_names": [group]})
    assert deleted["results"][0]["error_code"] == GROUP_AUTHZ

    grant(acl_loop, user, ResourceType.GROUP, group, AclOperation.READ)
    commit = call(acl_loop, user, 8, 8, commit_body)
    assert commit["topics"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    grant(acl_loop, user, ResourceType.TOPIC, "t", AclOperation.READ)
    assert call(acl_loop, user, 8, 8, commit_body)["topics"][0]["partitions"][0][
        "error_code"] == 0  # fmt: skip
    fetched = call(acl_loop, user, 9, 8, {"groups": [{"group_id": group, "topics": [
        {"name": "t", "partition_indexes": [0]}, {"name": "u", "partition_indexes": [0]}]}]})
    parts = {(t["name"], p["partition_index"]): (p["error_code"], p["committed_offset"])
             for t in fetched["groups"][0]["topics"] for p in t["partitions"]}  # fmt: skip
    assert parts == {("t", 0): (0, 1), ("u", 0): (TOPIC_AUTHZ, -1)}
    everything = call(acl_loop, user, 9, 8, {"groups": [{"group_id": group, "topics": None}]})
    assert [t["name"] for t in everything["groups"][0]["topics"]] == ["t"]
    described = call(acl_loop, user, 15, 5, {"groups": [group],
                                             "include_authorized_operations": True})  # fmt: skip
    assert described["groups"][0]["error_code"] == 0
    assert described["groups"][0]["authorized_operations"] == OPS["READ"] | OPS["DESCRIBE"]
    listed = call(acl_loop, user, 16, 4, {})
    assert [g["group_id"] for g in listed["groups"]] == [group]
    assert call(acl_loop, user, 42, 2, {"groups_names": [group]})["results"][0][
        "error_code"] == GROUP_AUTHZ  # DELETE not granted  # fmt: skip


def test_topic_admin(acl_loop: Loop, user: ConnectionInfo) -> None:
    name = f"new-{user.principal[6:]}"
    body = {"topics": [{"name": name, "num_partitions": 1, "replication_factor": 1,
                        "assignments": [], "configs": []}], "timeout": 1000}  # fmt: skip
    created = call(acl_loop, user, 19, 7, body)["topics"][0]
    assert (created["error_code"], created["error_message"]) == (
        TOPIC_AUTHZ, "Authorization failed.")  # fmt: skip
    grant(acl_loop, user, ResourceType.TOPIC, name, AclOperation.CREATE)
    created = call(acl_loop, user, 19, 7, body)["topics"][0]
    # Created, but without DESCRIBE_CONFIGS its configs are withheld.
    assert created["error_code"] == 0 and created["topic_config_error_code"] == TOPIC_AUTHZ
    assert created["configs"] == [] and created["num_partitions"] == -1

    broker, _ = acl_loop
    assert broker.services is not None
    meta = broker.services.metadata.topic("u")
    assert meta is not None
    by_id = call(acl_loop, user, 20, 6, {"topics": [{"name": None, "topic_id": meta.topic_id}],
                                         "timeout": 1000})  # fmt: skip
    assert [(r["name"], r["error_code"]) for r in by_id["responses"]] == [(None, TOPIC_AUTHZ)]
    by_name = call(acl_loop, user, 20, 6, {"topics": [{"name": "u"}], "timeout": 1000})
    assert by_name["responses"][0]["error_code"] == TOPIC_AUTHZ
    parts = call(acl_loop, user, 37, 3, {"topics": [{"name": "u", "count": 3}],
                                         "timeout": 1000, "validate_only": True})  # fmt: skip
    assert parts["results"][0]["error_code"] == TOPIC_AUTHZ
    records = call(acl_loop, user, 21, 2, {"topics": [{"name": "u", "partitions": [
        {"partition_index": 0, "offset": 0}]}], "timeout": 1000})  # fmt: skip
    assert records["topics"][0]["partitions"][0]["error_code"] == TOPIC_AUTHZ
    assert broker.services.metadata.topic("u") is not None


def test_configs_and_cluster_apis(acl_loop: Loop, user: ConnectionInfo) -> None:
    described = call(acl_loop, user, 32, 4, {"resources": [
        {"resource_type": 2, "resource_name": "t", "configuration_keys": None},
        {"resource_type": 4, "resource_name": "0", "configuration_keys": None}]})  # fmt: skip
    assert [r["error_code"] for r in described["results"]] == [TOPIC_AUTHZ, CLUSTER_AUTHZ]
    altered = call(acl_loop, user, 44, 1, {"resources": [
        {"resource_type": 2, "resource_name": "t", "configs": [
            {"name": "retention.ms", "config_operation": 0, "value": "1000"}]}]})  # fmt: skip
    assert altered["responses"][0]["error_code"] == TOPIC_AUTHZ
    grant(acl_loop, user, ResourceType.TOPIC, "t", AclOperation.ALTER_CONFIGS)
    described = call(acl_loop, user, 32, 4, {"resources": [
        {"resource_type": 2, "resource_name": "t", "configuration_keys": None}]})  # fmt: skip
    assert described["results"][0]["error_code"] == 0  # DESCRIBE_CONFIGS implied
    assert call(acl_loop, user, 35, 4, {"topics": None})["error_code"] == CLUSTER_AUTHZ
    cluster = call(acl_loop, user, 60, 1, {"include_cluster_authorized_operations": True})
    assert cluster["cluster_authorized_operations"] == 0
    admin = call(acl_loop, ADMIN, 60, 1, {"include_cluster_authorized_operations": True})
    assert admin["cluster_authorized_operations"] == sum(
        OPS[o] for o in ("CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
                         "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"))  # fmt: skip
    quotas = call(acl_loop, user, 48, 1, {"components": [], "strict": False})
    assert quotas["error_code"] == CLUSTER_AUTHZ and quotas["entries"] is None
    alter = call(acl_loop, user, 49, 1, {"entries": [{"entity": [
        {"entity_type": "user", "entity_name": "x"}], "ops": [
        {"key": "producer_byte_rate", "value": 1.0, "remove": False}]}]})  # fmt: skip
    assert alter["entries"][0]["error_code"] == CLUSTER_AUTHZ
    scram = call(acl_loop, user, 50, 0, {"users": None})
    assert scram["error_code"] == CLUSTER_AUTHZ
    acls = call(acl_loop, user, 29, 3, {"resource_type_filter": 1, "pattern_type_filter": 1,
                                        "operation": 1, "permission_type": 1})  # fmt: skip
    assert acls["error_code"] == CLUSTER_AUTHZ


def test_without_an_authorizer(tmp_path_factory: pytest.TempPathFactory) -> None:
    bl = start(tmp_path_factory.mktemp("no-authorizer"))
    broker, loop = bl
    try:
        anyone = ConnectionInfo("x", "127.0.0.1", 3, "PLAINTEXT")
        acls = call(bl, anyone, 29, 3, {"resource_type_filter": 1, "pattern_type_filter": 1,
                                        "operation": 1, "permission_type": 1})  # fmt: skip
        assert acls["error_code"] == SECURITY_DISABLED
        creation = {"resource_type": 2, "resource_name": "t", "resource_pattern_type": 3,
                    "principal": "User:a", "host": "*", "operation": 3, "permission_type": 3}
        created = call(bl, anyone, 30, 3, {"creations": [creation]})
        assert created["results"][0]["error_code"] == SECURITY_DISABLED
        # Everything is allowed, and authorized operations list what the type supports.
        md = metadata(bl, anyone, ["t"], include_topic_authorized_operations=True)
        assert md["topics"][0]["topic_authorized_operations"] == sum(
            OPS[o] for o in ("READ", "WRITE", "CREATE", "DESCRIBE", "DELETE", "ALTER",
                             "DESCRIBE_CONFIGS", "ALTER_CONFIGS"))  # fmt: skip
        assert call(bl, anyone, 22, 4, {})["error_code"] == 0
    finally:
        loop.run_until_complete(broker.shutdown())
        loop.close()
