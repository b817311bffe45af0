"""The web console of a real broker process, read over HTTP and compared with what the
Admin API (confluent-kafka, librdkafka) says: cluster and broker configs, topics and
partitions with offsets, records written by confluent-kafka and kafka-python read back
exactly (text, JSON, hex, by timestamp), a consumer group's lag; and the actions: create,
delete with confirmation, alter config, reset offsets of an empty group (refused for an
active one), the CSRF and same-origin checks, and the 403 for destructive actions on a
listener that is not loopback-only."""

from __future__ import annotations

import html as htmllib
import json
import re
import time
import urllib.parse
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import (
    Record,
    commit_offsets_confluent,
    create_topic,
    produce,
    unique_topic,
    watermarks,
)
from helpers.console_pages import csrf, definitions, error, get, post, table

pytestmark = pytest.mark.usefixtures("_josef_only")
GUARD_S = 30.0  # a guard against a hung client, not a measurement


@pytest.fixture
def _josef_only() -> None:
    require_josef("Josef's web console")


@pytest.fixture(scope="module")
def console_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[BrokerProcess, None, None]:
    b = BrokerProcess(
        tmp_path_factory.mktemp("console"),
        {"group.initial.rebalance.delay.ms": "0", "josef.max.partitions": "1000"},
        name="console",
    )
    try:
        b.start()
        yield b
    except BaseException:
        print(b.log_tail(80))
        raise
    finally:
        b.close()


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def _describe_topic_configs(bootstrap: str, topic: str) -> dict[str, str | None]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    res = ConfigResource(ResourceType.TOPIC, topic)
    admin = _admin(bootstrap)  # kept alive until the future resolves
    entries = admin.describe_configs([res])[res].result(timeout=GUARD_S)
    return {name: e.value for name, e in entries.items()}


def _committed(
    bootstrap: str, group: str, tps: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(t, p) for t, p in tps], timeout=GUARD_S)
        return {(x.topic, x.partition): x.offset for x in got}
    finally:
        c.close()


def _topic_exists(bootstrap: str, topic: str) -> bool:
    md = _admin(bootstrap).list_topics(timeout=GUARD_S)
    return topic in md.topics


# --------------------------------------------------------------------------- read-only


def test_cluster_page_matches_metadata_and_broker_configs(console_broker: BrokerProcess) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    md = _admin(console_broker.bootstrap).list_topics(timeout=GUARD_S)
    page = get(console_broker.http_url, "/")
    assert page.status == 200
    facts = definitions(page.body)
    assert facts["Cluster id"] == md.cluster_id
    assert facts["Controller"] == str(md.controller_id)
    rows = table(page.body, "brokers")
    assert [(int(r[0]), r[1]) for r in rows] == [
        (b.id, f"{b.host}:{b.port}") for b in sorted(md.brokers.values(), key=lambda b: b.id)
    ]
    assert rows[0][3] == "Kafka 3.9"  # Josef advertises Kafka 3.9's Fetch v17
    res = ConfigResource(ResourceType.BROKER, "0")
    admin = _admin(console_broker.bootstrap)  # kept alive until the future resolves
    entries = admin.describe_configs([res])[res].result(GUARD_S)
    shown = {r[0]: r[1] for r in table(page.body, "broker-configs")}
    for name in ("num.partitions", "log.retention.hours", "message.max.bytes", "broker.id"):
        assert shown[name] == entries[name].value, name


def test_topic_pages_match_admin_api(console_broker: BrokerProcess) -> None:
    bootstrap = console_broker.bootstrap
    topic = unique_topic("console")
    create_topic(bootstrap, topic, partitions=3, config={"retention.ms": "123456789"})
    produce("confluent", bootstrap, topic, [Record(b"k", b"v%d" % i) for i in range(5)],
            partition=0)
    produce("kafka-python", bootstrap, topic, [Record(None, b"x" * 100) for _ in range(2)],
            partition=2)

    page = get(console_broker.http_url, "/topics")
    assert page.status == 200
    row = next(r for r in table(page.body, "topics") if r[0] == topic)
    assert row[1:4] == ["3", "1", "0"]
    assert row[4].endswith("B") and row[4] != "0 B"

    page = get(console_broker.http_url, f"/topics/{topic}")
    assert page.status == 200
    md = _admin(bootstrap).list_topics(topic=topic, timeout=GUARD_S).topics[topic]
    rows = table(page.body, "partitions")
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    for r in rows:
        p = md.partitions[int(r[0])]
        low, high = watermarks(bootstrap, topic, int(r[0]))
        assert r[1:6] == [
            str(p.leader), ",".join(map(str, p.replicas)), ",".join(map(str, p.isrs)),
            str(low), str(high),
        ]
    assert [r[5] for r in rows] == ["5", "0", "2"]
    configs = {r[0]: r[1] for r in table(page.body, "topic-configs")}
    described = _describe_topic_configs(bootstrap, topic)
    assert configs["retention.ms"] == described["retention.ms"] == "123456789"
    assert configs["cleanup.policy"] == described["cleanup.policy"]

    api = json.loads(get(console_broker.http_url, "/api/topics").body)
    entry = next(t for t in api if t["name"] == topic)
    assert entry["end_offsets"] == 7 and entry["partitions"] == 3


def test_messages_page_reads_records_exactly(console_broker: BrokerProcess) -> None:
    bootstrap = console_broker.bootstrap
    topic = unique_topic("console-msg")
    create_topic(bootstrap, topic, partitions=2)
    base = 1_700_000_000_000
    confluent_records = [
        Record(b"user-1", b'{"n":1,"tag":"<b>"}', (("h1", b"a"),), base),
        Record(None, "café".encode(), (), base + 1000),
        Record(b"\x00\xff", None, (("bin", b"\x01\x02"),), base + 2000),
    ]
    kafka_python_records = [
        Record(b"kp-%d" % i, b"value-%d" % i, (("i", str(i).encode()),), base + 10_000 * i)
        for i in range(4)
    ]
    produce("confluent", bootstrap, topic, confluent_records, partition=0)
    produce("kafka-python", bootstrap, topic, kafka_python_records, partition=1)

    page = get(console_broker.http_url, f"/topics/{topic}/messages?partition=0&offset=0&count=10")
    assert page.status == 200
    rows = table(page.body, "records")
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert [r[2] for r in rows] == ["user-1", "null", "\\x00\ufffd"]
    assert [r[3] for r in rows] == ['{"n":1,"tag":"<b>"}', "café", "null"]
    assert [r[4] for r in rows] == ["h1: a", "", "bin: \\x01\\x02"]
    assert rows[1][1] == "2023-11-14T22:13:21.000Z"
    assert '{"n":1,"tag":"<b>"}' not in page.body  # escaped in the HTML

    rows = table(get(console_broker.http_url,
                     f"/topics/{topic}/messages?partition=0&count=1&format=json").body, "records")
    assert len(rows) == 1
    assert json.loads(rows[0][3]) == {"n": 1, "tag": "<b>"} and "\n" in rows[0][3]
    rows = table(get(console_broker.http_url,
                     f"/topics/{topic}/messages?partition=0&offset=2&format=hex").body, "records")
    assert [r[2] for r in rows] == ["00 ff"] and rows[0][4] == "bin: 01 02"

    # by timestamp: the first record at or after it (ListOffsets by time)
    page = get(console_broker.http_url,
               f"/topics/{topic}/messages?partition=1&timestamp={base + 15_000}&count=2")
    rows = table(page.body, "records")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("2", "kp-2", "value-2"), ("3", "kp-3", "value-3"),
    ]
    page = get(console_broker.http_url,
               f"/topics/{topic}/messages?partition=1&timestamp=2023-11-14T22:13:30Z")
    assert [r[0] for r in table(page.body, "records")] == ["1", "2", "3"]
    # paging: the "next" link continues after the last record shown
    page = get(console_broker.http_url, f"/topics/{topic}/messages?partition=1&count=2")
    assert [r[0] for r in table(page.body, "records")] == ["0", "1"]
    match = re.search(r'<a href="([^"]+)" id="next">', page.body)
    assert match is not None
    page = get(console_broker.http_url, htmllib.unescape(match.group(1)))
    assert [r[0] for r in table(page.body, "records")] == ["2", "3"]
    assert 'id="next"' not in page.body  # the log end
    # a negative offset counts back from the log end
    page = get(console_broker.http_url, f"/topics/{topic}/messages?partition=1&offset=-1")
    assert [r[2] for r in table(page.body, "records")] == ["kp-3"]

    page = get(console_broker.http_url, f"/topics/{topic}/messages?partition=7")
    assert page.status == 400
    assert error(page.body) is not None and error(page.body)[0] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_hostile_names_and_payloads_are_escaped(console_broker: BrokerProcess) -> None:
    bootstrap, base = console_broker.bootstrap, console_broker.http_url
    topic = unique_topic("console-xss")
    create_topic(bootstrap, topic)
    evil = '<img src=x onerror="alert(1)">'
    produce("kafka-python", bootstrap, topic,
            [Record(evil.encode(), evil.encode(), ((evil, evil.encode()),))])
    page = get(base, f"/topics/{topic}/messages")
    assert evil not in page.body and "<img" not in page.body
    assert table(page.body, "records")[0][2:5] == [evil, evil, f"{evil}: {evil}"]

    group = 'g/<script>alert("g")</script>&x=1'
    commit_offsets_confluent(bootstrap, group, {(topic, 0): 1})
    listing = get(base, "/groups")
    assert "<script>alert" not in listing.body
    assert group in [r[0] for r in table(listing.body, "groups")]
    page = get(base, "/group?" + urllib.parse.urlencode({"id": group}))
    assert page.status == 200 and "<script>alert" not in page.body
    assert htmllib.unescape(re.search(r"<h1>(.*?)</h1>", page.body).group(1)) == (
        f"Consumer group {group}"
    )
    assert [r[:5] for r in table(page.body, "lag")] == [[topic, "0", "1", "1", "0"]]


def _kafka_python_group(bootstrap: str, topic: str, group: str, n: int) -> Any:
    """A kafka-python consumer in ``group`` that read and committed ``n`` records; still a
    member when returned (the caller closes it)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="console-kp",
    )
    got = 0
    deadline = time.monotonic() + GUARD_S
    while got < n and time.monotonic() < deadline:
        for recs in consumer.poll(timeout_ms=500, max_records=n - got).values():
            got += len(recs)
    assert got == n, f"kafka-python read {got} of {n}"
    consumer.commit()
    return consumer


def test_group_pages_show_lag_like_the_admin_api(console_broker: BrokerProcess) -> None:
    bootstrap = console_broker.bootstrap
    topic = unique_topic("console-lag")
    create_topic(bootstrap, topic, partitions=2)
    produce("confluent", bootstrap, topic, [Record(None, b"a")] * 6, partition=0)
    produce("kafka-python", bootstrap, topic, [Record(None, b"b")] * 4, partition=1)

    empty_group = f"console-empty-{topic}"
    commit_offsets_confluent(bootstrap, empty_group, {(topic, 0): 2, (topic, 1): 1})
    page = get(console_broker.http_url, f"/group?id={empty_group}")
    assert page.status == 200
    facts = definitions(page.body)
    assert facts["State"] == "Empty" and facts["Total lag"] == "7"
    rows = table(page.body, "lag")
    committed = _committed(bootstrap, empty_group, [(topic, 0), (topic, 1)])
    for r in rows:
        tp = (r[0], int(r[1]))
        _low, high = watermarks(bootstrap, topic, tp[1])
        assert (int(r[2]), int(r[3]), int(r[4])) == (committed[tp], high, high - committed[tp])
    assert [r[:5] for r in rows] == [[topic, "0", "2", "6", "4"], [topic, "1", "1", "4", "3"]]

    active_group = f"console-active-{topic}"
    consumer = _kafka_python_group(bootstrap, topic, active_group, 10)
    try:
        page = get(console_broker.http_url, f"/group?id={active_group}")
        facts = definitions(page.body)
        assert facts["State"] == "Stable" and facts["Members"] == "1" and facts["Total lag"] == "0"
        members = table(page.body, "members")
        assert members[0][2] == "console-kp"
        assert sorted(members[0][4].split(", ")) == [f"{topic}-0", f"{topic}-1"]
        assert [r[:5] for r in table(page.body, "lag")] == [
            [topic, "0", "6", "6", "0"], [topic, "1", "4", "4", "0"],
        ]
        groups = {r[0]: r for r in table(get(console_broker.http_url, "/groups").body, "groups")}
        assert groups[active_group][1] == "Stable" and groups[active_group][4] == "1"
        assert groups[empty_group][1] == "Empty" and groups[empty_group][6] == "7"
        api = json.loads(get(console_broker.http_url, f"/api/group?id={empty_group}").body)
        assert api["total_lag"] == 7 and api["partitions"][0]["lag"] == 4

        # resetting an active group's offsets is refused, as Kafka's tool refuses it
        token = csrf(page.body)
        reply = post(console_broker.http_url, "/group/reset",
                     {"csrf": token, "id": active_group, "scenario": "earliest", "confirm": "yes"})
        assert reply.status == 409
        assert error(reply.body) == (
            "NON_EMPTY_GROUP",
            f"Assignments can only be reset if the group '{active_group}' is inactive, "
            "but the current state is Stable.",
        )
    finally:
        consumer.close()


# --------------------------------------------------------------------------- actions


def test_create_and_delete_topic_with_confirmation(console_broker: BrokerProcess) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("console-new")
    page = get(base, "/topics/new")
    assert page.status == 200
    token = csrf(page.body)
    form = {"csrf": token, "name": topic, "partitions": "4", "replication_factor": "1",
            "configs": "cleanup.policy=compact\nretention.ms=86400000"}

    assert post(base, "/topics", {**form, "csrf": "0" * 64}).status == 403
    reply = post(base, "/topics", form, headers={"Origin": "http://evil.example"})
    assert reply.status == 403 and not _topic_exists(bootstrap, topic)

    reply = post(base, "/topics", form)
    assert reply.status == 303 and reply.headers["location"] == f"/topics/{topic}"
    md = _admin(bootstrap).list_topics(topic=topic, timeout=GUARD_S).topics[topic]
    assert len(md.partitions) == 4
    described = _describe_topic_configs(bootstrap, topic)
    assert described["cleanup.policy"] == "compact" and described["retention.ms"] == "86400000"

    reply = post(base, "/topics", form)
    assert reply.status == 400 and error(reply.body) == (
        "TOPIC_ALREADY_EXISTS", f"create topic {topic}: Topic '{topic}' already exists."
    )
    reply = post(base, "/topics", {**form, "name": unique_topic("rf"), "replication_factor": "3"})
    assert reply.status == 400 and error(reply.body)[0] == "INVALID_REPLICATION_FACTOR"
    reply = post(base, "/topics", {**form, "name": unique_topic("big"), "partitions": "2000"})
    assert reply.status == 400 and error(reply.body)[0] == "POLICY_VIOLATION"
    assert error(reply.body)[1]  # Kafka's message, shown as is
    bad = post(base, "/topics", {**form, "name": unique_topic("bad"), "configs": "retention.ms=x"})
    assert bad.status == 400 and error(bad.body) is not None
    assert error(bad.body)[0] == "INVALID_CONFIG"
    assert "Traceback" not in bad.body

    reply = post(base, f"/topics/{topic}/delete", {"csrf": token})
    assert reply.status == 200 and "cannot be undone" in reply.body
    assert 'name="confirm" value="yes"' in reply.body
    assert _topic_exists(bootstrap, topic)
    reply = post(base, f"/topics/{topic}/delete", {"csrf": token, "confirm": "yes"})
    assert reply.status == 303 and reply.headers["location"].startswith("/topics?notice=")
    deadline = time.monotonic() + GUARD_S
    while _topic_exists(bootstrap, topic) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _topic_exists(bootstrap, topic)
    reply = post(base, f"/topics/{topic}/delete", {"csrf": token, "confirm": "yes"})
    assert reply.status == 400 and error(reply.body)[0] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_alter_topic_config_with_confirmation(console_broker: BrokerProcess) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("console-cfg")
    create_topic(bootstrap, topic)
    token = csrf(get(base, f"/topics/{topic}").body)
    form = {"csrf": token, "key": "retention.ms", "value": "3600000"}
    reply = post(base, f"/topics/{topic}/config", form)
    assert reply.status == 200 and "Set retention.ms=3600000" in reply.body
    assert _describe_topic_configs(bootstrap, topic)["retention.ms"] == "604800000"
    reply = post(base, f"/topics/{topic}/config", {**form, "confirm": "yes"})
    assert reply.status == 303
    assert _describe_topic_configs(bootstrap, topic)["retention.ms"] == "3600000"
    shown = {r[0]: r for r in table(get(base, f"/topics/{topic}").body, "topic-configs")}
    assert shown["retention.ms"][1:3] == ["3600000", "DYNAMIC_TOPIC_CONFIG"]

    reply = post(base, f"/topics/{topic}/config",
                 {"csrf": token, "key": "retention.ms", "remove": "1", "confirm": "yes"})
    assert reply.status == 303
    assert _describe_topic_configs(bootstrap, topic)["retention.ms"] == "604800000"
    reply = post(base, f"/topics/{topic}/config",
                 {"csrf": token, "key": "no.such.config", "value": "1", "confirm": "yes"})
    assert reply.status == 400 and error(reply.body)[0] == "INVALID_CONFIG"


def test_reset_offsets_of_an_empty_group(console_broker: BrokerProcess) -> None:
    base, bootstrap = console_broker.http_url, console_broker.bootstrap
    topic = unique_topic("console-reset")
    create_topic(bootstrap, topic, partitions=2)
    ts = 1_700_000_000_000
    produce("confluent", bootstrap, topic,
            [Record(None, b"r", (), ts + 1000 * i) for i in range(5)], partition=0)
    produce("kafka-python", bootstrap, topic,
            [Record(None, b"s", (), ts + 1000 * i) for i in range(3)], partition=1)
    group = f"console-g-{topic}"
    tps = [(topic, 0), (topic, 1)]
    commit_offsets_confluent(bootstrap, group, {(topic, 0): 1, (topic, 1): 1})
    token = csrf(get(base, f"/group?id={group}").body)

    form = {"csrf": token, "id": group, "topic": topic, "scenario": "latest"}
    reply = post(base, "/group/reset", form)
    assert reply.status == 200
    assert table(reply.body, "reset-plan") == [[topic, "0", "5"], [topic, "1", "3"]]
    assert _committed(bootstrap, group, tps) == {(topic, 0): 1, (topic, 1): 1}  # plan only
    reply = post(base, "/group/reset", {**form, "confirm": "yes"})
    assert reply.status == 200
    assert _committed(bootstrap, group, tps) == {(topic, 0): 5, (topic, 1): 3}

    reply = post(base, "/group/reset",
                 {**form, "scenario": "offset", "value": "2", "confirm": "yes"})
    assert table(reply.body, "reset-plan") == [[topic, "0", "2"], [topic, "1", "2"]]
    assert _committed(bootstrap, group, tps) == {(topic, 0): 2, (topic, 1): 2}

    reply = post(base, "/group/reset", {**form, "scenario": "timestamp",
                                        "value": "2023-11-14T22:13:22Z", "confirm": "yes"})
    assert _committed(bootstrap, group, tps) == {(topic, 0): 2, (topic, 1): 2}
    reply = post(base, "/group/reset", {**form, "topic": "", "scenario": "earliest",
                                        "confirm": "yes"})
    assert _committed(bootstrap, group, tps) == {(topic, 0): 0, (topic, 1): 0}
    lag = table(get(base, f"/group?id={group}").body, "lag")
    assert [r[:5] for r in lag] == [[topic, "0", "0", "5", "5"], [topic, "1", "0", "3", "3"]]


def test_destructive_actions_refused_on_a_wildcard_listener(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "wild", name="wild")
    broker.overrides["josef.http.listeners"] = f"http://0.0.0.0:{broker.http_port}"
    try:
        broker.start()
        topic = unique_topic("console-wild")
        create_topic(broker.bootstrap, topic)
        page = get(broker.http_url, f"/topics/{topic}")
        assert page.status == 200
        token = csrf(page.body)
        for path, form in (
            (f"/topics/{topic}/delete", {"confirm": "yes"}),
            (f"/topics/{topic}/config", {"key": "retention.ms", "value": "1", "confirm": "yes"}),
            ("/group/reset", {"id": "g", "scenario": "earliest", "confirm": "yes"}),
        ):
            reply = post(broker.http_url, path, {"csrf": token, **form})
            assert reply.status == 403, path
            name, message = error(reply.body) or ("", "")
            assert name == "FORBIDDEN" and "not loopback-only" in message
        assert _topic_exists(broker.bootstrap, topic)
        # creating is not destructive
        new = unique_topic("console-wild-new")
        reply = post(broker.http_url, "/topics", {"csrf": token, "name": new, "partitions": "1"})
        assert reply.status == 303 and _topic_exists(broker.bootstrap, new)
    finally:
        broker.close()
