"""``--output json`` of the admin commands, parsed and compared with what confluent-kafka's
(librdkafka) and kafka-python's AdminClients report about the same broker."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ConfigSource,
    ResourcePatternType,
    ResourceType,
)
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import Record, create_topic, produce, unique_topic, wait_for_topic
from helpers.josef_cli import josef, ok
from kafka import KafkaAdminClient, KafkaConsumer


def consume_commit(bootstrap: str, group: str, topic: str, n: int) -> None:
    """kafka-python: join ``group``, read ``n`` records, commit them, leave."""
    c = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        got = 0
        for _ in c:
            got += 1
            if got == n:
                break
        assert got == n, f"kafka-python consumed {got} of {n}"
        c.commit()
    finally:
        c.close()


def jcli(b: BrokerProcess, *args: str) -> Any:
    return json.loads(ok(josef(b.bootstrap, *args, "--output", "json")))


def _admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap})


def test_topics_json_matches_confluent_and_kafka_python(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("json")
    created = jcli(b, "topics", "create", topic, "--partitions", "3", "--config",
                   "retention.ms=123456")  # fmt: skip
    assert created["created"] is True and created["partitions"] == 3
    wait_for_topic(b.bootstrap, topic, 3)
    admin = _admin(b)
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=15)
    (mine,) = jcli(b, "topics", "describe", topic)
    assert mine["name"] == topic and mine["internal"] is False
    assert mine["topic_id"] == str(desc.topic_id).replace("+", "-").replace("/", "_")
    assert mine["configs"] == {"retention.ms": "123456"}
    theirs = {
        p.id: (p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr])
        for p in desc.partitions
    }
    assert {p["partition"]: (p["leader"], p["replicas"], p["isr"]) for p in mine["partitions"]} == (
        theirs
    )
    listed = jcli(b, "topics", "list")
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        assert {t["name"] for t in listed} == set(kp.list_topics())
    finally:
        kp.close()

    altered = jcli(b, "topics", "alter", topic, "--partitions", "5")
    assert altered == {"name": topic, "partition_count": 5}
    wait_for_topic(b.bootstrap, topic, 5)

    # configs describe: the non-default ones, as librdkafka sees them
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([res])[res].result(timeout=15)
    configs = jcli(b, "configs", "describe", "--topic", topic)
    assert {c["name"]: c["value"] for c in configs} == {"retention.ms": "123456"}
    assert configs[0]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert ConfigSource(entries["retention.ms"].source).name == "DYNAMIC_TOPIC_CONFIG"
    every = {c["name"]: c for c in jcli(b, "configs", "describe", "--topic", topic, "--all")}
    assert set(every) == set(entries)
    assert all(
        every[k]["value"] == entries[k].value for k in entries if not entries[k].is_sensitive
    )
    assert jcli(b, "configs", "alter", "--topic", topic, "--set", "retention.ms=1000")["set"] == {
        "retention.ms": "1000"
    }

    # the partition filters: a healthy single-broker topic has none under-replicated
    assert jcli(b, "topics", "describe", topic, "--under-replicated-partitions") == []
    assert jcli(b, "topics", "describe", topic, "--unavailable-partitions") == []
    at_min = jcli(b, "topics", "describe", topic, "--at-min-isr-partitions")
    assert sorted(p["partition"] for p in at_min) == [0, 1, 2, 3, 4]  # ISR 1 = min.insync 1

    deleted = jcli(b, "topics", "delete", topic)
    assert deleted == {"deleted": [topic], "errors": []}


def test_groups_json_matches_confluent(shared: BrokerProcess) -> None:
    b = shared
    topic = unique_topic("jgroups")
    create_topic(b.bootstrap, topic, partitions=2)
    for p in (0, 1):
        produce("confluent", b.bootstrap, topic, [Record(value=b"x")] * 4, partition=p)
    group = f"g-{topic}"
    consume_commit(b.bootstrap, group, topic, 8)

    admin = _admin(b)
    listed = {g["group_id"]: g for g in jcli(b, "groups", "list")}
    theirs = admin.list_consumer_groups().result(timeout=15)
    assert group in listed and group in {g.group_id for g in theirs.valid}
    desc = admin.describe_consumer_groups([group])[group].result(timeout=15)
    (mine,) = jcli(b, "groups", "describe", group)
    assert mine["group_id"] == group
    assert mine["state"] == "Empty" == desc.state.name.capitalize()
    assert mine["coordinator"]["id"] == desc.coordinator.id
    assert mine["members"] == []
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    offsets = committed[group].result(timeout=15).topic_partitions
    assert {(o["topic"], o["partition"]): o["current_offset"] for o in mine["offsets"]} == {
        (tp.topic, tp.partition): tp.offset for tp in offsets
    }
    assert all(o["lag"] == 0 and o["log_end_offset"] == 4 for o in mine["offsets"])

    plan = jcli(b, "groups", "reset-offsets", group, "--topic", topic, "--to-earliest",
                "--execute")  # fmt: skip
    assert sorted((r["partition"], r["new_offset"]) for r in plan) == [(0, 0), (1, 0)]
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    assert {tp.offset for tp in offsets[group].result(timeout=15).topic_partitions} == {0}

    assert jcli(b, "groups", "delete", group) == {"deleted": [group], "errors": []}
    assert group not in {g["group_id"] for g in jcli(b, "groups", "list")}


def test_acls_and_quotas_json_match_confluent(broker_factory: Any) -> None:
    require_josef("the ACL authorizer")
    b = broker_factory(
        {
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:ANONYMOUS",
        }
    )
    topic = unique_topic("jacl")
    principal = f"User:{topic}"
    added = jcli(b, "acls", "add", "--allow-principal", principal, "--operation", "Read",
                 "--topic", topic)  # fmt: skip
    assert added["created"] == [
        {
            "resource_type": "TOPIC",
            "resource_name": topic,
            "pattern_type": "LITERAL",
            "principal": principal,
            "host": "*",
            "operation": "READ",
            "permission_type": "ALLOW",
        }
    ]
    admin = _admin(b)
    flt = AclBindingFilter(
        ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip
    theirs: list[AclBinding] = admin.describe_acls(flt).result(timeout=15)
    mine = jcli(b, "acls", "list", "--topic", topic)
    assert [(a["principal"], a["host"], a["operation"], a["permission_type"]) for a in mine] == [
        (t.principal, t.host, t.operation.name, t.permission_type.name) for t in theirs
    ]
    removed = jcli(b, "acls", "remove", "--allow-principal", principal, "--operation", "Read",
                   "--topic", topic)  # fmt: skip
    assert removed["removed"] == added["created"]

    user = f"q-{topic}"
    altered = jcli(b, "quotas", "alter", "--user", user, "--add-config",
                   "producer_byte_rate=1024")  # fmt: skip
    assert altered == {"entity": {"user": user}, "set": {"producer_byte_rate": 1024.0},
                       "deleted": []}  # fmt: skip
    described = jcli(b, "quotas", "describe", "--user", user)
    assert described == [{"entity": {"user": user}, "values": {"producer_byte_rate": 1024.0}}]


def test_transactions_json_matches_kafka_python(shared: BrokerProcess) -> None:
    from confluent_kafka import Producer
    from kafka import TopicPartition

    b = shared
    topic = unique_topic("jtxn")
    create_topic(b.bootstrap, topic, partitions=1)
    tid = f"tx-{topic}"
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=0)
    p.flush(30)  # left open: a hanging transaction
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        theirs = {t.transactional_id: t for ts in kp.list_transactions().values() for t in ts}
        described = kp.describe_transactions([tid])[tid]
        producers = kp.describe_producers([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    finally:
        kp.close()
    listed = {t["TransactionalId"]: t for t in jcli(b, "transactions", "list")}
    assert listed[tid]["ProducerId"] == theirs[tid].producer_id
    assert listed[tid]["TransactionState"] == "Ongoing"
    assert str(theirs[tid].state).rsplit(".", 1)[-1].upper() == "ONGOING"
    (mine,) = jcli(b, "transactions", "describe", "--transactional-id", tid)
    assert mine["ProducerId"] == described.producer_id
    assert mine["ProducerEpoch"] == described.producer_epoch
    assert mine["TopicPartitions"] == f"{topic}-0"
    (prod,) = jcli(b, "transactions", "describe-producers", "--topic", topic, "--partition", "0")
    (their_prod,) = producers.active_producers
    assert prod["ProducerId"] == their_prod.producer_id
    assert prod["CurrentTransactionStartOffset"] == their_prod.current_transaction_start_offset == 0
    aborted = jcli(b, "transactions", "abort", "--topic", topic, "--partition", "0",
                   "--start-offset", "0")  # fmt: skip
    assert aborted["aborted"] is True and aborted["producer_id"] == described.producer_id
