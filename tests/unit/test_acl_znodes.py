"""ACL znodes byte for byte as Kafka 3.9.1's AclAuthorizer wrote them (the capture in
tests/unit/zk_fixtures/kafka_3_9_1_capture.json), and the standalone document's ACLs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cluster.acls import (
    AccessControlEntry,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from cluster.metadata import BrokerRegistration
from cluster.standalone import StandaloneMetadataStore
from cluster.zk import acl_znodes
from cluster.zk.errors import ZnodeDecodeError

CAPTURE = Path(__file__).parent / "zk_fixtures" / "kafka_3_9_1_capture.json"


def captured(path: str) -> bytes:
    doc: dict[str, Any] = json.loads(CAPTURE.read_text())
    for z in doc["znodes"]:
        if z["path"] == path:
            return str(z["data"]).encode()
    raise KeyError(path)


ALICE_READ = AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW)
ALICE_ALL = AccessControlEntry("User:alice", "*", AclOperation.ALL, AclPermissionType.ALLOW)
ORDERS = ResourcePattern(ResourceType.TOPIC, "orders", PatternType.LITERAL)
APP = ResourcePattern(ResourceType.GROUP, "app-", PatternType.PREFIXED)


def test_resource_znodes_are_kafkas() -> None:
    assert acl_znodes.resource_path(ORDERS) == "/kafka-acl/Topic/orders"
    assert acl_znodes.resource_path(APP) == "/kafka-acl-extended/prefixed/Group/app-"
    assert acl_znodes.encode_acls([ALICE_READ]) == captured("/kafka-acl/Topic/orders")
    assert acl_znodes.encode_acls([ALICE_ALL]) == captured(
        "/kafka-acl-extended/prefixed/Group/app-"
    )
    assert acl_znodes.decode_acls(captured("/kafka-acl/Topic/orders"), "x") == {ALICE_READ}


def test_change_notifications_are_kafkas() -> None:
    literal = captured("/kafka-acl-changes/acl_changes_0000000000")
    extended = captured("/kafka-acl-extended-changes/acl_changes_0000000000")
    assert acl_znodes.encode_change(ORDERS) == literal
    assert acl_znodes.encode_change(APP) == extended
    assert acl_znodes.decode_change(PatternType.LITERAL, literal) == ORDERS
    assert acl_znodes.decode_change(PatternType.PREFIXED, extended) == APP
    assert acl_znodes.change_prefix(PatternType.LITERAL) == "/kafka-acl-changes/acl_changes_"
    assert (
        acl_znodes.change_prefix(PatternType.PREFIXED)
        == "/kafka-acl-extended-changes/acl_changes_"
    )


def test_startup_paths_are_kafkas() -> None:
    paths = acl_znodes.acl_paths()
    for kind in ("Cluster", "DelegationToken", "Group", "Topic", "TransactionalId", "User"):
        assert f"/kafka-acl/{kind}" in paths
        assert f"/kafka-acl-extended/prefixed/{kind}" in paths
    assert "/kafka-acl-changes" in paths and "/kafka-acl-extended-changes" in paths


@pytest.mark.parametrize(
    "data",
    [
        b'{"version":2,"acls":[]}',
        b'{"version":1,"acls":[{"principal":"alice","permissionType":"Allow","host":"*",'
        b'"operation":"Read"}]}',
        b'{"version":1,"acls":[{"principal":"User:a","permissionType":"Maybe","host":"*",'
        b'"operation":"Read"}]}',
        b'{"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","host":"*",'
        b'"operation":"Dance"}]}',
        b'{"version":1,"acls":{}}',
        b"not json",
    ],
)
def test_unreadable_acl_znodes_are_refused(data: bytes) -> None:
    with pytest.raises(ZnodeDecodeError):
        acl_znodes.decode_acls(data, "test")


def test_kafka_operation_and_permission_names_in_either_case() -> None:
    data = (
        b'{"version":1,"acls":[{"principal":"User:a","permissionType":"DENY","host":"h",'
        b'"operation":"CLUSTER_ACTION"},{"principal":"User:a","permissionType":"Allow",'
        b'"host":"h","operation":"IdempotentWrite"}]}'
    )
    assert acl_znodes.decode_acls(data, "x") == {
        AccessControlEntry("User:a", "h", AclOperation.CLUSTER_ACTION, AclPermissionType.DENY),
        AccessControlEntry("User:a", "h", AclOperation.IDEMPOTENT_WRITE, AclPermissionType.ALLOW),
    }


def test_standalone_document_keeps_acls_across_restarts(tmp_path: Path) -> None:
    reg = BrokerRegistration(0, ())
    store = StandaloneMetadataStore(tmp_path, reg)
    store.load()
    asyncio.run(store.set_acls(ORDERS, frozenset({ALICE_READ})))
    asyncio.run(store.set_acls(APP, frozenset({ALICE_ALL})))
    asyncio.run(store.set_acls(APP, frozenset()))
    again = StandaloneMetadataStore(tmp_path, reg)
    again.load()
    assert again.acls() == {ORDERS: frozenset({ALICE_READ})}
