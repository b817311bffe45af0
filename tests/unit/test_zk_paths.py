"""Kafka's znode paths, entity-name sanitizing, zookeeper.connect parsing, JVM map orders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.zk import paths
from cluster.zk.connect import ConnectString
from cluster.zk.jvm_order import java_hashmap_order, java_string_hash, scala_mutable_hashmap_order


def test_paths_are_kafkas() -> None:
    assert paths.broker(1001) == "/brokers/ids/1001"
    assert paths.topic("orders") == "/brokers/topics/orders"
    assert paths.partition_state("orders", 3) == "/brokers/topics/orders/partitions/3/state"
    assert paths.topic_config("orders") == "/config/topics/orders"
    assert paths.broker_config(2) == "/config/brokers/2"
    assert paths.broker_config(None) == "/config/brokers/<default>"
    assert paths.config_entity("users", "alice/clients/c1") == "/config/users/alice/clients/c1"
    assert paths.config_change_sequence_prefix() == "/config/changes/config_change_"
    assert paths.delete_topic_marker("t") == "/admin/delete_topics/t"
    assert paths.isr_change_sequence_prefix() == "/isr_change_notification/isr_change_"
    assert paths.log_dir_event_sequence_prefix() == "/log_dir_event_notification/log_dir_event_"
    assert paths.sequence_number("/config/changes/config_change_0000000042", "config_change_") == (
        "0000000042"
    )
    with pytest.raises(ValueError):
        paths.sequence_number("/config/changes/other", "config_change_")
    # The persistent paths a Kafka 3.9.1 broker created at start-up (captured).
    assert set(paths.PERSISTENT_PATHS) == {
        "/consumers", "/brokers/ids", "/brokers/topics", "/config/changes",
        "/admin/delete_topics", "/brokers/seqid", "/isr_change_notification",
        "/latest_producer_id_block", "/log_dir_event_notification", "/config/topics",
        "/config/clients", "/config/users", "/config/brokers", "/config/ips",
    }


@pytest.mark.parametrize(
    "name, sanitized",
    [
        ("alice", "alice"),
        ("User:CN=alice,O=example", "User%3ACN%3Dalice%2CO%3Dexample"),
        ("a b*c", "a%20b%2Ac"),
        ("x.y-z_~", "x.y-z_%7E"),
        ("grüße", "gr%C3%BC%C3%9Fe"),
    ],
)
def test_entity_names_are_sanitized_like_kafka(name: str, sanitized: str) -> None:
    # Java's URLEncoder with Kafka's * -> %2A and + -> %20.
    assert paths.sanitize_entity_name(name) == sanitized
    assert paths.desanitize_entity_name(sanitized) == name


@given(st.text(min_size=1, max_size=30))
def test_sanitize_round_trip_and_is_a_znode_name(name: str) -> None:
    sanitized = paths.sanitize_entity_name(name)
    # Like Kafka's, "." and ".." stay as they are (ZooKeeper refuses such names).
    assert "/" not in sanitized
    assert paths.desanitize_entity_name(sanitized) == name


@pytest.mark.parametrize(
    "text, hosts, chroot",
    [
        ("127.0.0.1:2181", (("127.0.0.1", 2181),), None),
        ("zk1,zk2:2182,zk3:2183/kafka", (("zk1", 2181), ("zk2", 2182), ("zk3", 2183)), "/kafka"),
        ("h:1/a/b", (("h", 1),), "/a/b"),
        ("h:1/", (("h", 1),), None),
        (" [::1]:2181 , [fe80::1] /josef", (("::1", 2181), ("fe80::1", 2181)), "/josef"),
    ],
)
def test_connect_string_parsing(
    text: str, hosts: tuple[tuple[str, int], ...], chroot: str | None
) -> None:
    parsed = ConnectString.parse(text)
    assert parsed.hosts == hosts and parsed.chroot == chroot
    assert ConnectString.parse(str(parsed)) == parsed
    assert parsed.without_chroot().chroot is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "names no host"),
        ("/kafka", "names no host"),
        ("h:0", "bad port"),
        ("h:99999", "bad port"),
        ("h:x", "bad port"),
        ("h:1/kafka/", "invalid chroot"),
        ("h:1/a//b", "invalid chroot"),
        ("h:1/a/../b", "invalid chroot"),
        ("[::1:2181", "unclosed"),
    ],
)
def test_connect_string_errors(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ConnectString.parse(text)


def test_java_string_hash() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("11") == 1568
    assert java_string_hash("polygenelubricants") == -2147483648  # Integer.MIN_VALUE
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00  # a surrogate pair


def test_jvm_map_orders() -> None:
    # Captured: with 12 partitions Kafka writes partition "11" first.
    assert scala_mutable_hashmap_order([str(p) for p in range(12)]) == (
        ["11"] + [str(p) for p in range(11)]
    )
    assert scala_mutable_hashmap_order(["0", "1", "2"]) == ["0", "1", "2"]
    assert java_hashmap_order(["metadata.version", "kraft.version"]) == [
        "kraft.version",
        "metadata.version",
    ]
