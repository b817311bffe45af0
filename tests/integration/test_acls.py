"""ACL authorization with real clients over SASL (principals User:alice, User:bob, ...).

One broker runs the ACL authorizer with two listeners: PLAINTEXT for administration
(User:ANONYMOUS is a super user there, as an operator's separate admin or inter-broker
listener would be) and SASL_PLAINTEXT with PLAIN users for the clients. Each test works on
its own topics and groups; users without ACLs get Kafka's exact error codes, and the same
calls work once `josef acls add` (or the Admin API's create_acls) grants them.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.clients import KCAT, unique_topic
from helpers.josef_cli import josef

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret",
         "admin": "admin-secret"}  # fmt: skip
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
TIMEOUT = 20.0


class AclBroker:
    def __init__(self, proc: BrokerProcess, sasl_port: int) -> None:
        self.proc = proc
        self.admin_bootstrap = proc.bootstrap  # PLAINTEXT, User:ANONYMOUS (super user)
        self.sasl = f"127.0.0.1:{sasl_port}"

    def josef(self, *args: str) -> str:
        result = josef(self.admin_bootstrap, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def admin(self, user: str | None = None) -> AdminClient:
        conf = {"bootstrap.servers": self.admin_bootstrap} if user is None else self.conf(user)
        return AdminClient(conf)

    def conf(self, user: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.sasl,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": user,
            "sasl.password": USERS[user],
        }

    def kafka_python(self, user: str) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.sasl,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user,
            "sasl_plain_password": USERS[user],
        }

    def create_topic(self, name: str, partitions: int = 1) -> None:
        admin = self.admin()  # must outlive its futures
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def jaas(users: dict[str, str]) -> str:
    entries = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return f"org.apache.kafka.common.security.plain.PlainLoginModule required {entries};"


def acl_broker_overrides(sasl_port: int, port: int) -> dict[str, str]:
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    return {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(USERS),
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:ANONYMOUS;User:admin",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.num.partitions": "2",
    }


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[AclBroker, None, None]:
    require_josef("the ACL authorizer")
    port, sasl_port = free_port(), free_port()
    proc = BrokerProcess(
        tmp_path_factory.mktemp("acl-broker"), acl_broker_overrides(sasl_port, port), port=port,
        name="acls",
    )  # fmt: skip
    try:
        proc.start()
        yield AclBroker(proc, sasl_port)
    finally:
        proc.close()


# --------------------------------------------------------------------------- client probes


def confluent_produce(broker: AclBroker, user: str, topic: str, **extra: Any) -> int:
    """Produce one record; the error code it got (0 for success)."""
    errors: list[KafkaError | None] = []
    p = Producer({**broker.conf(user), "message.timeout.ms": 8000, "retries": 0, **extra})
    p.produce(topic, b"v", key=b"k", on_delivery=lambda err, _msg: errors.append(err))
    p.flush(TIMEOUT)
    assert len(errors) == 1
    err = errors[0]
    return 0 if err is None else int(err.code())


def confluent_consume(broker: AclBroker, user: str, topic: str, group: str) -> int | bytes:
    """Read the first record through a group (subscribe); the value, or the error code of the
    first error event."""
    c = Consumer({**broker.conf(user), "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})  # fmt: skip
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                return int(err.code())
            value = msg.value()
            assert value is not None
            return bytes(value)
        raise AssertionError(f"nothing consumed from {topic} within {TIMEOUT}s")
    finally:
        c.close()


def kcat_consume(broker: AclBroker, user: str, topic: str) -> tuple[int, str]:
    """kcat (librdkafka) reading partition 0 without a group: (exit status, output)."""
    auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={USERS[user]}"]  # fmt: skip
    done = subprocess.run(
        [KCAT, "-b", broker.sasl, "-t", topic, "-p", "0", "-C", "-o", "beginning", "-c", "1",
         "-e", "-f", "%s\n", *auth],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def confluent_create(broker: AclBroker, user: str, topic: str) -> int:
    admin = broker.admin(user)  # must outlive its futures
    future = admin.create_topics([NewTopic(topic, 1, 1)])[topic]
    try:
        future.result(TIMEOUT)
        return 0
    except KafkaException as exc:
        return int(exc.args[0].code())


def kp_error(fn: Callable[[], Any]) -> int:
    """kafka-python: 0 if ``fn`` succeeds, else the Kafka error code it raised."""
    try:
        fn()
        return 0
    except Exception as exc:
        errno = getattr(exc, "errno", None)
        if errno is None and exc.__cause__ is not None:
            errno = getattr(exc.__cause__, "errno", None)
        if errno is None:
            raise
        return int(errno)


def kp_produce(broker: AclBroker, user: str, topic: str, idempotent: bool = False) -> int:
    from kafka import KafkaProducer

    def go() -> None:
        p = KafkaProducer(**broker.kafka_python(user), enable_idempotence=idempotent,
                          max_block_ms=8000, request_timeout_ms=8000,
                          retries=2 if idempotent else 0)  # fmt: skip
        try:
            p.send(topic, b"v", key=b"k").get(timeout=TIMEOUT)
        finally:
            p.close(timeout=5)

    return kp_error(go)


def aio_produce(broker: AclBroker, user: str, topic: str) -> int:
    """aiokafka: 0 if one record is acknowledged, else the Kafka error code raised."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=broker.sasl, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username=user,
                             sasl_plain_password=USERS[user], request_timeout_ms=8000)  # fmt: skip
        await p.start()
        try:
            await asyncio.wait_for(p.send_and_wait(topic, b"v", key=b"k"), TIMEOUT)
        finally:
            await p.stop()

    return kp_error(lambda: asyncio.run(go()))


def kp_consume(broker: AclBroker, user: str, topic: str, group: str | None = None) -> int:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import TopicAuthorizationFailedError

    def go() -> None:
        c = KafkaConsumer(**broker.kafka_python(user), group_id=group,
                          auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
        try:
            if group is None:
                c.assign([TopicPartition(topic, 0)])
            else:
                c.subscribe([topic])
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                if any(c.poll(timeout_ms=500).values()):
                    return
                # An assigned topic the Metadata answer refused (TOPIC_AUTHORIZATION_FAILED)
                # is never fetched; kafka-python only records it.
                if topic in c._client.cluster.unauthorized_topics:
                    raise TopicAuthorizationFailedError(topic)
            raise AssertionError("kafka-python consumed nothing")
        finally:
            c.close()

    return kp_error(go)


def kp_create(broker: AclBroker, user: str, topic: str) -> int:
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KpNewTopic

    def go() -> None:
        admin = KafkaAdminClient(**broker.kafka_python(user))
        try:
            admin.create_topics([KpNewTopic(topic, 1, 1)])
        finally:
            admin.close()

    return kp_error(go)


# --------------------------------------------------------------------------- tests


def test_user_without_acls_is_denied_then_allowed_by_josef_acls_add(acl_broker: AclBroker) -> None:
    topic, group, new_topic = unique_topic("acl-a"), unique_topic("grp-a"), unique_topic("new-a")
    acl_broker.create_topic(topic)
    assert confluent_produce(acl_broker, "admin", topic) == 0  # super user via SASL

    # No ACLs: the exact error codes, from librdkafka and kafka-python alike.
    assert confluent_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED
    assert kp_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED
    assert aio_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED
    # (its InitProducerId gets CLUSTER_AUTHORIZATION_FAILED; the send reports the topic)
    assert kp_produce(acl_broker, "alice", topic, idempotent=True) in (
        TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
    )  # fmt: skip
    status, output = kcat_consume(acl_broker, "alice", topic)
    assert status != 0 and "Topic authorization failed" in output, output
    assert kp_consume(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED
    assert confluent_consume(acl_broker, "alice", topic, group) == GROUP_AUTHORIZATION_FAILED
    assert confluent_create(acl_broker, "alice", new_topic) == TOPIC_AUTHORIZATION_FAILED
    assert kp_create(acl_broker, "alice", new_topic) == TOPIC_AUTHORIZATION_FAILED
    # DESCRIBE only: the topic is visible, fetching it is not allowed.
    acl_broker.josef("acls", "add", "--allow-principal", "User:alice", "--operation", "Describe",
                     "--topic", topic)  # fmt: skip
    status, output = kcat_consume(acl_broker, "alice", topic)
    assert status != 0 and "Topic authorization failed" in output, output
    assert kp_consume(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED
    # Reading the topic alone does not let alice join a group.
    acl_broker.josef("acls", "add", "--allow-principal", "User:alice", "--operation", "Read",
                     "--topic", topic)  # fmt: skip
    assert confluent_consume(acl_broker, "alice", topic, group) == GROUP_AUTHORIZATION_FAILED
    assert kp_consume(acl_broker, "alice", topic, group) == GROUP_AUTHORIZATION_FAILED

    out = acl_broker.josef(
        "acls", "add", "--allow-principal", "User:alice", "--producer", "--consumer",
        "--idempotent", "--topic", topic, "--group", group,
    )  # fmt: skip
    assert "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC" in out
    acl_broker.josef("acls", "add", "--allow-principal", "User:alice", "--operation", "Create",
                     "--topic", new_topic)  # fmt: skip
    assert confluent_produce(acl_broker, "alice", topic) == 0
    assert aio_produce(acl_broker, "alice", topic) == 0
    assert kp_produce(acl_broker, "alice", topic, idempotent=True) == 0
    assert kcat_consume(acl_broker, "alice", topic) == (0, "v\n")
    assert confluent_consume(acl_broker, "alice", topic, group) == b"v"
    assert kp_consume(acl_broker, "alice", topic, group + "-kp") == GROUP_AUTHORIZATION_FAILED
    assert kp_consume(acl_broker, "alice", topic, group) == 0
    assert confluent_create(acl_broker, "alice", new_topic) == 0

    listed = acl_broker.josef("acls", "list", "--topic", topic)
    assert "(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)" in listed
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in listed
    removed = acl_broker.josef("acls", "remove", "--allow-principal", "User:alice",
                               "--operation", "Write", "--topic", topic)  # fmt: skip
    assert "operation=WRITE" in removed
    assert confluent_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED


def test_admin_api_create_and_delete_acls(acl_broker: AclBroker) -> None:
    topic = unique_topic("acl-b")
    acl_broker.create_topic(topic)
    assert confluent_produce(acl_broker, "bob", topic) == TOPIC_AUTHORIZATION_FAILED
    admin = acl_broker.admin()
    bindings = [
        AclBinding(
            ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*", op,
            AclPermissionType.ALLOW,
        )
        for op in (AclOperation.WRITE, AclOperation.READ)
    ]
    for future in admin.create_acls(bindings).values():
        assert future.result(TIMEOUT) is None
    assert confluent_produce(acl_broker, "bob", topic) == 0
    assert kp_consume(acl_broker, "bob", topic) == 0

    # kafka-python's admin client sees the same ACLs.
    from kafka.admin import ACLFilter, KafkaAdminClient, ResourcePatternFilter
    from kafka.admin import ACLOperation as KpOp
    from kafka.admin import ACLPermissionType as KpPerm
    from kafka.admin import ACLResourcePatternType as KpPattern
    from kafka.admin import ResourceType as KpResource

    kp = KafkaAdminClient(bootstrap_servers=acl_broker.admin_bootstrap)
    try:
        pattern = ResourcePatternFilter(KpResource.TOPIC, topic, KpPattern.ANY)
        acls, _error = kp.describe_acls(ACLFilter("User:bob", None, KpOp.ANY, KpPerm.ANY, pattern))
        assert {a.operation for a in acls} == {KpOp.WRITE, KpOp.READ}
    finally:
        kp.close()

    deleting = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.ANY, "User:bob",
                                None, AclOperation.WRITE, AclPermissionType.ANY)  # fmt: skip
    deleted = admin.delete_acls([deleting])[deleting].result(TIMEOUT)
    assert [(b.name, b.operation) for b in deleted] == [(topic, AclOperation.WRITE)]
    assert confluent_produce(acl_broker, "bob", topic) == TOPIC_AUTHORIZATION_FAILED
    assert kp_consume(acl_broker, "bob", topic) == 0


def test_prefixed_acls(acl_broker: AclBroker) -> None:
    prefix = unique_topic("team-")
    inside, outside = prefix + "orders", unique_topic("other")
    for t in (inside, outside):
        acl_broker.create_topic(t)
    acl_broker.josef("acls", "add", "--allow-principal", "User:carol", "--operation", "Write",
                     "--operation", "Create", "--topic", prefix,
                     "--resource-pattern-type", "prefixed")  # fmt: skip
    assert confluent_produce(acl_broker, "carol", inside) == 0
    assert kp_produce(acl_broker, "carol", inside) == 0
    assert confluent_produce(acl_broker, "carol", outside) == TOPIC_AUTHORIZATION_FAILED
    # CREATE on the prefix: new topics under it may be created, others not.
    assert confluent_create(acl_broker, "carol", prefix + "new") == 0
    assert confluent_create(acl_broker, "carol", unique_topic("elsewhere")) == (
        TOPIC_AUTHORIZATION_FAILED
    )
    listed = acl_broker.josef("acls", "list", "--topic", prefix, "--resource-pattern-type",
                              "prefixed")  # fmt: skip
    assert "patternType=PREFIXED" in listed and "User:carol" in listed


def test_deny_wins_over_allow(acl_broker: AclBroker) -> None:
    topic = unique_topic("acl-deny")
    acl_broker.create_topic(topic)
    acl_broker.josef("acls", "add", "--allow-principal", "User:*", "--operation", "Write",
                     "--topic", topic)  # fmt: skip
    acl_broker.josef("acls", "add", "--deny-principal", "User:bob", "--operation", "Write",
                     "--topic", topic)  # fmt: skip
    assert confluent_produce(acl_broker, "alice", topic) == 0
    assert confluent_produce(acl_broker, "bob", topic) == TOPIC_AUTHORIZATION_FAILED
    assert kp_produce(acl_broker, "bob", topic) == TOPIC_AUTHORIZATION_FAILED
    # Host matching: a DENY for another host does not apply.
    other = unique_topic("acl-host")
    acl_broker.create_topic(other)
    acl_broker.josef("acls", "add", "--allow-principal", "User:bob", "--operation", "Write",
                     "--topic", other)  # fmt: skip
    acl_broker.josef("acls", "add", "--deny-principal", "User:bob", "--deny-host", "10.9.9.9",
                     "--operation", "Write", "--topic", other)  # fmt: skip
    assert confluent_produce(acl_broker, "bob", other) == 0


def test_super_user_bypasses_acls(acl_broker: AclBroker) -> None:
    topic = unique_topic("acl-super")
    acl_broker.create_topic(topic)
    acl_broker.josef("acls", "add", "--deny-principal", "User:*", "--operation", "All",
                     "--topic", topic)  # fmt: skip
    assert confluent_produce(acl_broker, "admin", topic) == 0
    assert confluent_consume(acl_broker, "admin", topic, unique_topic("g")) == b"v"
    assert confluent_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED


def test_metadata_hides_topics_a_principal_cannot_describe(acl_broker: AclBroker) -> None:
    secret, visible = unique_topic("hidden"), unique_topic("shown")
    for t in (secret, visible):
        acl_broker.create_topic(t)
    acl_broker.josef("acls", "add", "--allow-principal", "User:carol", "--operation", "Describe",
                     "--topic", visible)  # fmt: skip
    md = acl_broker.admin("carol").list_topics(timeout=TIMEOUT)
    assert visible in md.topics and secret not in md.topics
    one = acl_broker.admin("carol").list_topics(secret, timeout=TIMEOUT).topics[secret]
    assert one.error is not None and one.error.code() == TOPIC_AUTHORIZATION_FAILED
    # A topic that does not exist looks the same as one that does.
    ghost = unique_topic("ghost")
    gone = acl_broker.admin("carol").list_topics(ghost, timeout=TIMEOUT).topics[ghost]
    assert gone.error is not None and gone.error.code() == TOPIC_AUTHORIZATION_FAILED


def test_authorized_operations_are_real_bit_sets(acl_broker: AclBroker) -> None:
    from confluent_kafka import TopicCollection

    topic = unique_topic("acl-ops")
    acl_broker.create_topic(topic)
    acl_broker.josef("acls", "add", "--allow-principal", "User:bob", "--operation", "Read",
                     "--operation", "AlterConfigs", "--topic", topic)  # fmt: skip
    acl_broker.josef("acls", "add", "--allow-principal", "User:bob", "--operation", "Describe",
                     "--cluster")  # fmt: skip
    admin = acl_broker.admin("bob")
    described = admin.describe_topics(
        TopicCollection([topic]), include_authorized_operations=True
    )[topic].result(TIMEOUT)
    assert set(described.authorized_operations) == {
        AclOperation.READ, AclOperation.DESCRIBE, AclOperation.ALTER_CONFIGS,
        AclOperation.DESCRIBE_CONFIGS,
    }  # fmt: skip
    cluster = admin.describe_cluster(include_authorized_operations=True).result(TIMEOUT)
    assert set(cluster.authorized_operations) == {AclOperation.DESCRIBE}
    super_admin = acl_broker.admin()
    full = super_admin.describe_cluster(include_authorized_operations=True).result(TIMEOUT)
    assert AclOperation.CLUSTER_ACTION in set(full.authorized_operations)


def test_acls_survive_a_restart(acl_broker: AclBroker) -> None:
    topic = unique_topic("acl-restart")
    acl_broker.create_topic(topic)
    acl_broker.josef("acls", "add", "--allow-principal", "User:bob", "--operation", "Write",
                     "--topic", topic)  # fmt: skip
    acl_broker.josef("acls", "add", "--allow-principal", "User:bob", "--operation", "Read",
                     "--topic", topic[:8], "--resource-pattern-type", "prefixed")  # fmt: skip
    before = acl_broker.josef("acls", "list")
    acl_broker.proc.restart()
    after = acl_broker.josef("acls", "list")
    assert after == before
    assert confluent_produce(acl_broker, "bob", topic) == 0
    assert kcat_consume(acl_broker, "bob", topic) == (0, "v\n")
    assert confluent_produce(acl_broker, "alice", topic) == TOPIC_AUTHORIZATION_FAILED


def test_acl_admin_needs_cluster_permissions(acl_broker: AclBroker) -> None:
    from kafka.admin import ACLFilter, KafkaAdminClient, ResourcePatternFilter
    from kafka.admin import ACLOperation as KpOp
    from kafka.admin import ACLPermissionType as KpPerm
    from kafka.admin import ACLResourcePatternType as KpPattern
    from kafka.admin import ResourceType as KpResource
    from kafka.errors import ClusterAuthorizationFailedError

    kp = KafkaAdminClient(**acl_broker.kafka_python("carol"))
    try:
        pattern = ResourcePatternFilter(KpResource.ANY, None, KpPattern.ANY)
        with pytest.raises(ClusterAuthorizationFailedError):
            kp.describe_acls(ACLFilter(None, None, KpOp.ANY, KpPerm.ANY, pattern))
    finally:
        kp.close()
    admin = acl_broker.admin("carol")
    b = AclBinding(ResourceType.TOPIC, "x", ResourcePatternType.LITERAL, "User:carol", "*",
                   AclOperation.ALL, AclPermissionType.ALLOW)  # fmt: skip
    with pytest.raises(KafkaException) as info:
        admin.create_acls([b])[b].result(TIMEOUT)
    assert info.value.args[0].code() == CLUSTER_AUTHORIZATION_FAILED


async def test_acl_apis_v0_use_literal_patterns(acl_broker: AclBroker) -> None:
    """DescribeAcls/CreateAcls/DeleteAcls v0 (no pattern type: literal names), as Kafka 3.9
    serves them; a prefixed ACL is invisible to a v0 filter."""
    from kio.static.primitive import i8

    from cluster.broker_client import BrokerClient
    from protocol.schema.create_acls.v0 import request as create_v0
    from protocol.schema.delete_acls.v0 import request as delete_v0
    from protocol.schema.describe_acls.v0 import request as describe_v0

    topic_type, read, allow, any_op, any_perm = 2, 3, 3, 1, 1
    name = unique_topic("aclv0")
    prefixed = AclBinding(
        ResourceType.TOPIC, name, ResourcePatternType.PREFIXED, "User:bob", "*",
        AclOperation.WRITE, AclPermissionType.ALLOW,
    )  # fmt: skip
    admin = acl_broker.admin()
    for future in admin.create_acls([prefixed]).values():
        future.result(timeout=TIMEOUT)
    host, port = acl_broker.admin_bootstrap.rsplit(":", 1)
    async with BrokerClient(host, int(port), client_id="acl-v0") as c:
        created = await c.send(
            create_v0.CreateAclsRequest(
                creations=(
                    create_v0.AclCreation(
                        resource_type=i8(topic_type), resource_name=name,
                        principal="User:alice", host="*",
                        operation=i8(read), permission_type=i8(allow),
                    ),
                )
            )
        )  # fmt: skip
        assert [int(r.error_code) for r in created.results] == [0]
        filt: dict[str, Any] = {
            "resource_type_filter": i8(topic_type),
            "resource_name_filter": name,
            "principal_filter": None,
            "host_filter": None,
            "operation": i8(any_op),
            "permission_type": i8(any_perm),
        }
        described = await c.send(describe_v0.DescribeAclsRequest(**filt))
        assert int(described.error_code) == 0
        assert [
            (r.resource_name, [(a.principal, int(a.operation)) for a in r.acls])
            for r in described.resources
        ] == [(name, [("User:alice", read)])]
        deleted = await c.send(
            delete_v0.DeleteAclsRequest(filters=(delete_v0.DeleteAclsFilter(**filt),))
        )
        [result] = deleted.filter_results
        assert [(m.resource_name, m.principal) for m in result.matching_acls] == [
            (name, "User:alice")
        ]
        again = await c.send(describe_v0.DescribeAclsRequest(**filt))
        assert again.resources == ()
