"""The web console of one broker of a three-broker ZooKeeper cluster sees the whole cluster:
every broker, partitions led by the others (offsets and sizes from their leaders), and
groups coordinated by other brokers, as the Admin API (confluent-kafka) reports them."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.broker_process import require_josef
from helpers.clients import (
    Record,
    commit_offsets_confluent,
    produce,
    unique_topic,
    wait_for_topic,
    watermarks,
)
from helpers.cluster_fixtures import ClusterFactory
from helpers.console_pages import definitions, get, table

pytestmark = pytest.mark.usefixtures("_josef_only")
GUARD_S = 30.0  # a guard against a hung client, not a measurement


@pytest.fixture
def _josef_only() -> None:
    require_josef("Josef's web console in a cluster")


def test_console_of_one_broker_shows_the_whole_cluster(josef_cluster: ClusterFactory) -> None:
    from confluent_kafka.admin import NewTopic

    cluster = josef_cluster(3)
    bootstrap = cluster.bootstrap
    admin: Any = cluster.admin()
    topic = unique_topic("console-cluster")
    futures = admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=2)])
    futures[topic].result(timeout=GUARD_S)
    wait_for_topic(bootstrap, topic, 6, timeout=GUARD_S)
    for p in range(6):
        produce("confluent", bootstrap, topic, [Record(None, b"v")] * (p + 1), partition=p)
    groups = [f"console-cluster-g{i}-{topic}" for i in range(6)]
    for i, group in enumerate(groups):
        commit_offsets_confluent(bootstrap, group, {(topic, i): 1})

    console = cluster[1]
    md = admin.list_topics(timeout=GUARD_S)
    page = get(console.http_url, "/")
    assert page.status == 200
    assert definitions(page.body)["Controller"] == str(md.controller_id)
    assert sorted(int(r[0]) for r in table(page.body, "brokers")) == [1, 2, 3]

    page = get(console.http_url, f"/topics/{topic}")
    assert page.status == 200
    rows = table(page.body, "partitions")
    leaders = set()
    for r in rows:
        p = md.topics[topic].partitions[int(r[0])]
        leaders.add(p.leader)
        _low, high = watermarks(bootstrap, topic, p.id)
        assert r[1:4] == [str(p.leader), ",".join(map(str, p.replicas)),
                          ",".join(map(str, p.isrs))]
        assert int(r[5]) == high == p.id + 1
        assert r[6].endswith(" B") and r[6] != "0 B", r  # DescribeLogDirs of its leader
    assert leaders == {1, 2, 3}  # six partitions spread over the three brokers

    coordinators = {}
    for group in groups:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=GUARD_S)
        coordinators[group] = desc.coordinator.id
    listing = {r[0]: r for r in table(get(console.http_url, "/groups").body, "groups")}
    for i, group in enumerate(groups):
        assert listing[group][1] == "Empty"
        assert listing[group][5] == str(coordinators[group])
        assert listing[group][6] == str(i)  # log end i+1, committed 1
