"""Consumer lag in a three-broker cluster (real ZooKeeper): a group's coordinator reports lag
= leader's high watermark - committed offset for every partition its groups committed,
including partitions led by the other brokers (asked with ListOffsets before a scrape),
with offsets committed by confluent-kafka and kafka-python consumers."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    Record,
    commit_offsets_confluent,
    consume_and_commit_kafka_python,
    create_topic,
    produce,
    unique_topic,
)
from helpers.josef_cluster import wait_until
from prometheus_client.parser import text_string_to_metric_families

GUARD_S = 30.0  # a guard against a hung client, not a measurement
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(broker: BrokerProcess) -> Samples:
    with urllib.request.urlopen(broker.http_url + "/metrics", timeout=GUARD_S) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lags(samples: Samples, group: str, topic: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for (name, labels), v in samples.items():
        d = dict(labels)
        if name == "kafka_consumergroup_lag" and (d["consumergroup"], d["topic"]) == (group, topic):
            out[int(d["partition"])] = v
    return out


def coordinator_of(cluster: Any, group: str) -> BrokerProcess:
    """The broker whose /metrics reports ``group`` (only its coordinator does)."""

    def find() -> BrokerProcess | None:
        for b in cluster:
            key = ("kafka_consumergroup_members", (("consumergroup", group),))
            if key in scrape(b):
                return b  # type: ignore[no-any-return]
        return None

    return wait_until(f"the coordinator of {group} reports it", find, GUARD_S)


def _records(n: int) -> list[Record]:
    return [Record(key=None, value=f"v{i}".encode()) for i in range(n)]


def test_coordinator_reports_lag_of_partitions_led_elsewhere(josef_cluster: Any) -> None:
    require_josef("Josef's HTTP listener")
    cluster = josef_cluster(size=3)
    topic = unique_topic("lag")
    # One partition per broker, no followers: a coordinator hosts exactly one of them.
    cluster.create_topic(topic, assignment=[[1], [2], [3]])
    sizes = {0: 30, 1: 20, 2: 10}
    for p, n in sizes.items():
        client = "confluent" if p % 2 == 0 else "kafka-python"
        assert produce(client, cluster.bootstrap, topic, _records(n), partition=p) == list(range(n))

    commit_offsets_confluent(
        cluster.bootstrap, "lagging", {(topic, 0): 5, (topic, 1): 20, (topic, 2): 3}
    )
    consume_and_commit_kafka_python(cluster.bootstrap, topic, "caught-up", sum(sizes.values()))

    lagging = coordinator_of(cluster, "lagging")
    s = scrape(lagging)
    assert lags(s, "lagging", topic) == {0: 25, 1: 0, 2: 7}
    assert (
        s[("kafka_consumergroup_lag_sum", (("consumergroup", "lagging"), ("topic", topic)))] == 32
    )
    current = "kafka_consumergroup_current_offset"
    for p, offset in {0: 5, 1: 20, 2: 3}.items():
        labels = (("consumergroup", "lagging"), ("partition", str(p)), ("topic", topic))
        assert s[(current, labels)] == offset
    hosted = {p for p in sizes if lagging.broker_id == p + 1}
    assert len(hosted) == 1  # the other two came from their leaders

    caught_up = coordinator_of(cluster, "caught-up")
    assert lags(scrape(caught_up), "caught-up", topic) == {0: 0, 1: 0, 2: 0}

    # More records on a partition led by another broker: the next scrapes see them.
    remote = next(p for p in sizes if p not in hosted)
    produce("confluent", cluster.bootstrap, topic, _records(4), partition=remote)
    expected = {0: 25, 1: 0, 2: 7}
    expected[remote] += 4
    wait_until(
        "the coordinator's lag includes the new records",
        lambda: lags(scrape(lagging), "lagging", topic) == expected or None,
        GUARD_S,
    )
    # caught_up's coordinator may have asked its leaders less than a second ago (answers
    # are kept that long): its next round sees the new records.
    wait_until(
        "the other coordinator's lag includes the new records",
        lambda: lags(scrape(caught_up), "caught-up", topic)[remote] == 4 or None,
        GUARD_S,
    )


def test_standalone_lag_unchanged(broker: BrokerProcess) -> None:
    """No cluster: no leaders to ask; lag comes from the broker's own partitions."""
    require_josef("Josef's HTTP listener")
    topic = unique_topic("solo")
    create_topic(broker.bootstrap, topic)
    produce("confluent", broker.bootstrap, topic, _records(9))
    commit_offsets_confluent(broker.bootstrap, "solo", {(topic, 0): 4})
    assert lags(scrape(broker), "solo", topic) == {0: 5}


def lag_seconds(samples: Samples, group: str, topic: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for (name, labels), v in samples.items():
        d = dict(labels)
        if name == "kafka_consumergroup_group_lag_seconds" and (d["group"], d["topic"]) == (
            group,
            topic,
        ):
            out[int(d["partition"])] = v
    return out


def test_lag_seconds_of_partitions_led_elsewhere(josef_cluster: Any) -> None:
    """now - CreateTime of the first uncommitted record, on the coordinator, for its own
    partition and the two led by the other brokers (their batch headers fetched)."""
    require_josef("Josef's HTTP listener")
    cluster = josef_cluster(size=3)
    topic = unique_topic("lagsec")
    cluster.create_topic(topic, assignment=[[1], [2], [3]])
    now_ms = int(time.time() * 1000)
    # Per partition: an old batch, then (a separate produce call, so a new batch) records
    # stamped ``uncommitted_ts`` from the committed offset on.
    committed = {0: 6, 1: 4, 2: 3}
    uncommitted_ts = {0: now_ms - 3_600_000, 1: now_ms - 1_800_000, 2: now_ms - 600_000}
    for p, n in committed.items():
        client = "confluent" if p != 1 else "kafka-python"
        old = [Record(value=b"old", timestamp=now_ms - 7_200_000 + i) for i in range(n)]
        new = [Record(value=b"new", timestamp=uncommitted_ts[p] + i) for i in range(5)]
        assert produce(client, cluster.bootstrap, topic, old, partition=p) == list(range(n))
        assert produce(client, cluster.bootstrap, topic, new, partition=p) == list(
            range(n, n + 5)
        )
    commit_offsets_confluent(
        cluster.bootstrap, "slow", {(topic, p): o for p, o in committed.items()}
    )
    consume_and_commit_kafka_python(cluster.bootstrap, topic, "done", sum(committed.values()) + 15)

    coordinator = coordinator_of(cluster, "slow")
    hosted = [p for p in committed if coordinator.broker_id == p + 1]
    assert len(hosted) == 1  # two of the three come from their leaders

    def scrape_timed() -> tuple[float, Samples, float] | None:
        """(clock before, samples, clock after) once every partition has lag seconds."""
        before = time.time()
        samples = scrape(coordinator)
        after = time.time()
        return (before, samples, after) if len(lag_seconds(samples, "slow", topic)) == 3 else None

    before, samples, after = wait_until("lag seconds of every partition", scrape_timed, GUARD_S)
    seconds = lag_seconds(samples, "slow", topic)
    for p, ts in uncommitted_ts.items():
        # The broker reads its clock between our two readings; 1 s for ms rounding.
        low, high = before - ts / 1000.0 - 1.0, after - ts / 1000.0 + 1.0
        assert low <= seconds[p] <= high, (p, seconds[p], low, high)
    assert lags(samples, "slow", topic) == {0: 5, 1: 5, 2: 5}

    done = coordinator_of(cluster, "done")

    def all_partitions() -> dict[int, float] | None:
        got = lag_seconds(scrape(done), "done", topic)
        return got if len(got) == 3 else None

    caught_up = wait_until("lag seconds of the caught-up group", all_partitions, GUARD_S)
    assert caught_up == {0: 0.0, 1: 0.0, 2: 0.0}

    # Records below a remote partition's log start deleted past the committed offset: as
    # locally, lag seconds count from the leader's first remaining batch (produced by
    # kafka-python with its own CreateTime).
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    remote = next(p for p in committed if p not in hosted)
    newest_ts = now_ms - 120_000
    newest = [Record(value=b"newest", timestamp=newest_ts + i) for i in range(2)]
    first = committed[remote] + 5
    assert produce("kafka-python", cluster.bootstrap, topic, newest, partition=remote) == [
        first,
        first + 1,
    ]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    deleted = admin.delete_records([TopicPartition(topic, remote, first)], request_timeout=20)
    assert next(iter(deleted.values())).result(timeout=GUARD_S).low_watermark == first

    def newest_batch_counted() -> tuple[float, Samples, float] | None:
        before = time.time()
        samples = scrape(coordinator)
        after = time.time()
        got = lag_seconds(samples, "slow", topic).get(remote)
        # Before the coordinator learns the new log start it reports the older batch.
        return (before, samples, after) if got is not None and got < 400 else None

    before, samples, after = wait_until("lag seconds from the log start", newest_batch_counted,
                                        GUARD_S)  # fmt: skip
    seconds = lag_seconds(samples, "slow", topic)[remote]
    assert before - newest_ts / 1000.0 - 1.0 <= seconds <= after - newest_ts / 1000.0 + 1.0
    assert lags(samples, "slow", topic)[remote] == 7  # high watermark - committed offset
