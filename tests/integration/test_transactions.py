"""Transactions end to end: a real broker process, confluent-kafka (librdkafka) and
kafka-python transactional producers, read_committed and read_uncommitted consumers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import unique_topic
from helpers.josef_cli import josef, ok

BrokerFactory = Callable[..., BrokerProcess]

# Small internal topics keep the broker's start and the first FindCoordinator quick.
TXN_OVERRIDES = {
    "transaction.state.log.num.partitions": "4",
    "offsets.topic.num.partitions": "4",
    "group.initial.rebalance.delay.ms": "0",
}


@pytest.fixture
def txn_broker(broker_factory: BrokerFactory) -> BrokerProcess:
    require_josef("Josef's transaction coordinator")
    return broker_factory(TXN_OVERRIDES)


def create_topic(b: BrokerProcess, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(15)


def txn_producer(b: BrokerProcess, tid: str, **extra: Any) -> Producer:
    return Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid, **extra})


def read_all(
    b: BrokerProcess, topic: str, isolation: str, partition: int = 0
) -> list[tuple[int, bytes]]:
    """Every record the application sees, until the end of the partition."""
    c = Consumer(
        {
            "bootstrap.servers": b.bootstrap,
            "group.id": f"reader-{isolation}-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    break
                raise KafkaException(m.error())
            value = m.value()
            assert value is not None
            out.append((m.offset(), value))
        return out
    finally:
        c.close()


def end_offsets(b: BrokerProcess, topic: str, isolation: str) -> int:
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "wm", "isolation.level": isolation})
    try:
        _low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        c.close()


def test_commit_and_abort_confluent(txn_broker: BrokerProcess) -> None:
    b = txn_broker
    topic = unique_topic("txn")
    create_topic(b, topic)
    p = txn_producer(b, "tx-commit-abort")
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, f"c{i}".encode())
    p.commit_transaction(30)  # offsets 0-4, COMMIT marker at 5
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, f"a{i}".encode())
    p.flush(30)  # really written before the abort (offsets 6-8), ABORT marker at 9
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(2):
        p.produce(topic, f"d{i}".encode())
    p.commit_transaction(30)  # 10-11, COMMIT marker at 12

    committed = read_all(b, topic, "read_committed")
    assert committed == [
        (0, b"c0"),
        (1, b"c1"),
        (2, b"c2"),
        (3, b"c3"),
        (4, b"c4"),
        (10, b"d0"),
        (11, b"d1"),
    ]
    uncommitted = read_all(b, topic, "read_uncommitted")
    assert uncommitted == [*committed[:5], (6, b"a0"), (7, b"a1"), (8, b"a2"), *committed[5:]]
    # Markers take offsets: the log ends after the last COMMIT marker, and with nothing
    # open the last stable offset equals the high watermark.
    assert end_offsets(b, topic, "read_committed") == 13
    assert end_offsets(b, topic, "read_uncommitted") == 13


def test_open_transaction_holds_the_last_stable_offset(txn_broker: BrokerProcess) -> None:
    b = txn_broker
    topic = unique_topic("lso")
    create_topic(b, topic)
    plain = Producer({"bootstrap.servers": b.bootstrap})
    plain.produce(topic, b"before")
    plain.flush(30)
    p = txn_producer(b, "tx-lso")
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"open")
    p.flush(30)
    assert end_offsets(b, topic, "read_uncommitted") == 2
    assert end_offsets(b, topic, "read_committed") == 1  # LSO: the open transaction
    assert read_all(b, topic, "read_committed") == [(0, b"before")]
    p.commit_transaction(30)
    assert end_offsets(b, topic, "read_committed") == 3
    assert read_all(b, topic, "read_committed") == [(0, b"before"), (1, b"open")]


def test_second_producer_fences_the_first(txn_broker: BrokerProcess) -> None:
    b = txn_broker
    topic = unique_topic("fence")
    create_topic(b, topic)
    first = txn_producer(b, "tx-fence")
    first.init_transactions(30)
    first.begin_transaction()
    first.produce(topic, b"zombie")
    first.flush(30)
    second = txn_producer(b, "tx-fence")
    # The second init aborts the first one's open transaction (epoch bump).
    second.init_transactions(60)
    second.begin_transaction()
    second.produce(topic, b"winner")
    second.commit_transaction(30)
    with pytest.raises(KafkaException) as info:
        first.produce(topic, b"late")
        first.commit_transaction(30)
    err = info.value.args[0]
    assert err.fatal(), err
    assert err.code() == -144 or err.name() in ("PRODUCER_FENCED", "_FENCED"), err
    assert [v for _, v in read_all(b, topic, "read_committed")] == [b"winner"]
    assert [v for _, v in read_all(b, topic, "read_uncommitted")] == [b"zombie", b"winner"]


def test_send_offsets_to_transaction(txn_broker: BrokerProcess) -> None:
    """Consume-transform-produce: the group's offsets advance only when the transaction
    that carries them commits."""
    b = txn_broker
    source, sink = unique_topic("src"), unique_topic("sink")
    create_topic(b, source)
    create_topic(b, sink)
    plain = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(6):
        plain.produce(source, f"in{i}".encode())
    plain.flush(30)
    group = "ctp-group"
    consumer = Consumer(
        {
            "bootstrap.servers": b.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([source])
    inputs = []
    deadline = time.monotonic() + 60
    while len(inputs) < 6 and time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is not None and not m.error():
            inputs.append(m)
    assert len(inputs) == 6
    p = txn_producer(b, "tx-ctp")
    p.init_transactions(30)

    from broker.admin.client import BrokerConnection

    host, port = b.bootstrap.split(":")
    conn = BrokerConnection(host, int(port))
    committed_before = -1

    def offset_fetch(require_stable: bool) -> tuple[int, int]:
        _v, resp = conn.request(
            9,
            {"group_id": group, "topics": [{"name": source, "partition_indexes": [0]}],
             "require_stable": require_stable},
            7,
        )  # fmt: skip
        part = resp["topics"][0]["partitions"][0]
        return int(part["error_code"]), int(part["committed_offset"])

    def process(batch: list[Any], commit: bool) -> None:
        p.begin_transaction()
        for m in batch:
            p.produce(sink, m.value().upper())
        p.flush(30)
        offsets = [TopicPartition(source, 0, batch[-1].offset() + 1)]
        p.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        # KIP-447: while the transaction is open its offsets are pending; a stable fetch
        # is refused, a plain one still sees the previous commit.
        assert offset_fetch(require_stable=True) == (88, -1)  # UNSTABLE_OFFSET_COMMIT
        assert offset_fetch(require_stable=False) == (0, committed_before)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    def committed() -> int:
        tp = consumer.committed([TopicPartition(source, 0)], timeout=30)[0]
        return int(tp.offset)

    process(inputs[:3], commit=True)
    assert committed() == 3
    committed_before = 3
    process(inputs[3:], commit=False)
    assert committed() == 3  # aborted: the offsets of the second transaction are gone
    process(inputs[3:], commit=True)
    assert committed() == 6
    assert offset_fetch(require_stable=True) == (0, 6)
    consumer.close()
    conn.close()
    assert [v for _, v in read_all(b, sink, "read_committed")] == [
        b"IN0",
        b"IN1",
        b"IN2",
        b"IN3",
        b"IN4",
        b"IN5",
    ]


def test_kafka_python_transactions(txn_broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition

    b = txn_broker
    topic = unique_topic("kp")
    create_topic(b, topic)
    p = KafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="tx-kafka-python")
    p.init_transactions()
    p.begin_transaction()
    p.send(topic, b"k-commit-1")
    p.send(topic, b"k-commit-2")
    p.commit_transaction()
    p.begin_transaction()
    p.send(topic, b"k-abort")
    p.flush()
    p.abort_transaction()
    p.close()

    def consume(isolation: str) -> list[tuple[int, bytes]]:
        c = KafkaConsumer(
            bootstrap_servers=b.bootstrap,
            isolation_level=isolation,
            enable_auto_commit=False,
            consumer_timeout_ms=3000,
        )
        c.assign([KTopicPartition(topic, 0)])
        c.seek(KTopicPartition(topic, 0), 0)
        out = [(m.offset, m.value) for m in c]
        c.close()
        return out

    assert consume("read_committed") == [(0, b"k-commit-1"), (1, b"k-commit-2")]
    assert consume("read_uncommitted") == [(0, b"k-commit-1"), (1, b"k-commit-2"), (3, b"k-abort")]
    # librdkafka sees the same.
    assert [v for _, v in read_all(b, topic, "read_committed")] == [b"k-commit-1", b"k-commit-2"]


def test_restart_aborts_an_open_transaction_after_its_timeout(
    broker_factory: BrokerFactory,
) -> None:
    """A transaction left open across a broker kill -9 is reloaded from
    __transaction_state and aborted by the coordinator once transaction.timeout.ms passes;
    the last stable offset moves past it."""
    require_josef("Josef's transaction coordinator")
    b = broker_factory(
        {**TXN_OVERRIDES, "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}
    )
    topic = unique_topic("restart")
    create_topic(b, topic)
    p = txn_producer(b, "tx-restart", **{"transaction.timeout.ms": 4000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"committed")
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(topic, b"left-open")
    p.flush(30)
    b.kill()
    b.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and end_offsets(b, topic, "read_committed") < 4:
        time.sleep(0.5)
    # 0 committed, 1 COMMIT, 2 left-open, 3 ABORT written by the coordinator.
    assert end_offsets(b, topic, "read_committed") == 4
    assert read_all(b, topic, "read_committed") == [(0, b"committed")]
    assert read_all(b, topic, "read_uncommitted") == [(0, b"committed"), (2, b"left-open")]
    # A new producer with the same id gets a fresh epoch and works.
    p2 = txn_producer(b, "tx-restart")
    p2.init_transactions(30)
    p2.begin_transaction()
    p2.produce(topic, b"after")
    p2.commit_transaction(30)
    assert [v for _, v in read_all(b, topic, "read_committed")] == [b"committed", b"after"]


KAFKA_LIBS = Path(os.environ.get("KAFKA_LIBS", "/work/cache/kafka-3.9.1/libs"))
JVM_FLAGS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true", "-Dlog4j.configuration=file:/dev/null")  # fmt: skip


def kafka_transactions_sh(b: BrokerProcess, *args: str) -> list[list[str]]:
    """Kafka 3.9.1's kafka-transactions.sh (TransactionsCommand): its table, split."""
    done = subprocess.run(
        ["java", *JVM_FLAGS, "-cp", f"{KAFKA_LIBS}/*",
         "org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", b.bootstrap, *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return [[c.strip() for c in line.split("\t")[:-1]] for line in done.stdout.splitlines()]


def test_kafka_transactions_sh_lists_describes_and_aborts(txn_broker: BrokerProcess) -> None:
    """kafka-transactions.sh list / describe / describe-producers / abort (the way an
    operator ends a hanging transaction: an ABORT marker written with WriteTxnMarkers)."""
    if not (KAFKA_LIBS / "kafka-tools-3.9.1.jar").exists() or shutil.which("java") is None:
        pytest.skip(f"needs Java and Apache Kafka 3.9.1's jars in {KAFKA_LIBS}")
    b = txn_broker
    topic = unique_topic("hang")
    create_topic(b, topic)
    p = txn_producer(b, "tx-hanging")
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"stuck")
    p.flush(30)
    listed = kafka_transactions_sh(b, "list")
    assert listed[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    row = next(r for r in listed[1:] if r[0] == "tx-hanging")
    assert row[1] == "0" and row[3] == "Ongoing"
    producer_id = row[2]
    described = kafka_transactions_sh(b, "describe", "--transactional-id", "tx-hanging")
    info = dict(zip(described[0], described[1], strict=True))
    assert info["ProducerId"] == producer_id and info["ProducerEpoch"] == "0"
    assert info["TransactionState"] == "Ongoing" and info["TopicPartitions"] == f"{topic}-0"
    producers = kafka_transactions_sh(b, "describe-producers", "--topic", topic, "--partition", "0")
    prod = dict(zip(producers[0], producers[1], strict=True))
    assert prod["ProducerId"] == producer_id
    assert prod["CurrentTransactionStartOffset"] == "0"
    assert end_offsets(b, topic, "read_committed") == 0
    kafka_transactions_sh(b, "abort", "--topic", topic, "--partition", "0", "--start-offset", "0")
    assert end_offsets(b, topic, "read_committed") == 2  # the data and the ABORT marker
    assert read_all(b, topic, "read_committed") == []
    producers = kafka_transactions_sh(b, "describe-producers", "--topic", topic, "--partition", "0")
    assert dict(zip(producers[0], producers[1], strict=True))["CurrentTransactionStartOffset"] == (
        "None"
    )


def test_aiokafka_transactions(txn_broker: BrokerProcess) -> None:
    """aiokafka (v0 of every transaction API) commits and aborts; librdkafka reads."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    b = txn_broker
    topic = unique_topic("aio")
    create_topic(b, topic)

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=b.bootstrap, transactional_id="tx-aiokafka")
        await p.start()
        try:
            async with p.transaction():
                await p.send_and_wait(topic, b"aio-commit")
            with pytest.raises(RuntimeError):
                async with p.transaction():
                    await p.send_and_wait(topic, b"aio-abort")
                    raise RuntimeError("roll back")
            async with p.transaction():
                await p.send_and_wait(topic, b"aio-commit-2")
        finally:
            await p.stop()

    asyncio.run(run())
    assert read_all(b, topic, "read_committed") == [(0, b"aio-commit"), (4, b"aio-commit-2")]
    assert [v for _, v in read_all(b, topic, "read_uncommitted")] == [
        b"aio-commit",
        b"aio-abort",
        b"aio-commit-2",
    ]


def _cli_rows(text: str) -> list[dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    return [dict(zip(header, re.split(r"\s{2,}", ln.strip()), strict=True)) for ln in lines[1:]]


def test_josef_transactions_cli(txn_broker: BrokerProcess) -> None:
    """``josef transactions list|describe|describe-producers|abort`` on a hanging
    transaction, as an operator would end it."""
    b = txn_broker
    topic = unique_topic("cli")
    create_topic(b, topic)
    p = txn_producer(b, "tx-cli")
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"stuck")
    p.flush(30)
    listed = _cli_rows(ok(josef(b.bootstrap, "transactions", "list")))
    row = next(r for r in listed if r["TransactionalId"] == "tx-cli")
    assert row["TransactionState"] == "Ongoing" and row["Coordinator"] == "0"
    assert _cli_rows(ok(josef(b.bootstrap, "transactions", "list", "--state", "Empty"))) == []
    described = _cli_rows(
        ok(josef(b.bootstrap, "transactions", "describe", "--transactional-id", "tx-cli"))
    )[0]
    assert described["ProducerId"] == row["ProducerId"]
    assert described["TopicPartitions"] == f"{topic}-0"
    producers = _cli_rows(
        ok(josef(b.bootstrap, "transactions", "describe-producers", "--topic", topic,
                 "--partition", "0"))
    )  # fmt: skip
    assert producers[0]["CurrentTransactionStartOffset"] == "0"
    missing = josef(b.bootstrap, "transactions", "abort", "--topic", topic, "--partition", "0",
                    "--start-offset", "7")  # fmt: skip
    assert missing.returncode == 2 and "no open transaction starts at offset 7" in missing.stderr
    out = ok(josef(b.bootstrap, "transactions", "abort", "--topic", topic, "--partition", "0",
                   "--start-offset", "0"))  # fmt: skip
    assert f"Aborted the transaction of producer {row['ProducerId']}" in out
    assert end_offsets(b, topic, "read_committed") == 2
    assert read_all(b, topic, "read_committed") == []


def test_write_to_a_partition_not_in_the_transaction_is_refused(txn_broker: BrokerProcess) -> None:
    """KIP-890 verification (transaction.partition.verification.enable, on by default): the
    first transactional write to a partition the producer did not add gets INVALID_TXN_STATE
    and opens nothing; once added (AddPartitionsToTxn) the same write is accepted."""
    from broker.admin.client import CLIENT_VERSIONS, BrokerConnection
    from protocol.records import NewRecord, encode_batch

    b = txn_broker
    topic = unique_topic("verify")
    create_topic(b, topic, partitions=2)
    host, port = b.bootstrap.split(":")
    versions = {**CLIENT_VERSIONS, 10: (1, 1), 22: (3, 3), 24: (3, 3), 26: (1, 1)}
    conn = BrokerConnection(host, int(port), client_versions=versions)
    try:
        tid = "tx-raw"
        deadline = time.monotonic() + 30
        while True:
            _v, found = conn.request(10, {"key": tid, "key_type": 1})
            if found["error_code"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found["error_code"] == 0
        _v, init = conn.request(
            22, {"transactional_id": tid, "transaction_timeout": 60_000, "producer_id": -1,
                 "producer_epoch": -1},
        )  # fmt: skip
        assert init["error_code"] == 0
        pid, epoch = init["producer_id"], init["producer_epoch"]

        def produce(partition: int, seq: int) -> int:
            batch = encode_batch(
                [NewRecord(None, b"v")],
                producer_id=pid,
                producer_epoch=epoch,
                base_sequence=seq,
                is_transactional=True,
            )
            _v, resp = conn.request(
                0,
                {"transactional_id": tid, "acks": -1, "timeout": 30_000, "topic_data": [
                    {"name": topic, "partition_data": [{"index": partition, "records": batch}]}
                ]},
            )  # fmt: skip
            return int(resp["responses"][0]["partition_responses"][0]["error_code"])

        def add(partition: int) -> int:
            _v, resp = conn.request(
                24, {"v3_and_below_transactional_id": tid, "v3_and_below_producer_id": pid,
                     "v3_and_below_producer_epoch": epoch, "v3_and_below_topics": [
                         {"name": topic, "partitions": [partition]}]},
            )  # fmt: skip
            return int(resp["results_by_topic_v3_and_below"][0]["results_by_partition"][0][
                "partition_error_code"])  # fmt: skip

        assert produce(0, 0) == 48  # INVALID_TXN_STATE: nothing added yet
        assert add(0) == 0
        assert produce(0, 0) == 0
        assert produce(1, 0) == 48  # partition 1 is still not in the transaction
        assert end_offsets(b, topic, "read_uncommitted") == 1
        _v, end = conn.request(
            26, {"transactional_id": tid, "producer_id": pid, "producer_epoch": epoch,
                 "committed": True}
        )  # fmt: skip
        assert end["error_code"] == 0
        assert read_all(b, topic, "read_committed") == [(0, b"v")]
        # Turned off at run time (a dynamic broker config, as in Kafka), the same stray
        # write is accepted: it opens a transaction in partition 1 that nobody will end.
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

        resource = ConfigResource(
            "BROKER",
            "0",
            incremental_configs=[
                ConfigEntry(
                    "transaction.partition.verification.enable",
                    "false",
                    incremental_operation=AlterConfigOpType.SET,
                )
            ],
        )
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.incremental_alter_configs([resource]).values():
            f.result(30)
        _v, found = conn.request(10, {"key": tid, "key_type": 1})
        assert add(0) == 0  # a new transaction
        assert produce(1, 1) == 0
    finally:
        conn.close()
    assert read_all(b, topic, "read_uncommitted", partition=1) == [(0, b"v")]
    assert read_all(b, topic, "read_committed", partition=1) == []


def test_compaction_keeps_exactly_the_committed_data(broker_factory: BrokerFactory) -> None:
    """A compacted topic with committed and aborted transactions: after cleaning, the
    aborted records are gone from the log (read_uncommitted no longer sees them), the
    latest committed value of each key stays, and offsets still only grow."""
    require_josef("Josef's log cleaner")
    b = broker_factory(
        {
            **TXN_OVERRIDES,
            "log.cleaner.backoff.ms": "200",
            "log.cleaner.threads": "1",
            "log.retention.check.interval.ms": "500",
            "log.segment.delete.delay.ms": "0",
        }
    )
    topic = unique_topic("cmp-txn")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    config = {"cleanup.policy": "compact", "segment.bytes": "2048",
              "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "100"}  # fmt: skip
    for f in admin.create_topics([NewTopic(topic, 1, 1, config=config)]).values():
        f.result(15)
    p = txn_producer(b, "tx-compact")
    p.init_transactions(30)
    pad = b"-" + b"p" * 200
    expected: dict[bytes, bytes] = {}
    for round_ in range(6):
        p.begin_transaction()
        for k in range(4):
            key = b"k%d" % k
            value = b"commit-%d-%d" % (round_, k) + pad
            p.produce(topic, value, key=key)
            expected[key] = value
        p.commit_transaction(30)
        p.begin_transaction()
        for k in range(2, 6):
            p.produce(topic, b"ABORTED-%d-%d" % (round_, k) + pad, key=b"k%d" % k)
        p.flush(30)
        p.abort_transaction(30)
    # Non-transactional records roll the segments past the transactions.
    plain = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    for _ in range(20):
        plain.produce(topic, b"filler" + pad, key=b"filler")
        plain.flush(30)
    expected[b"filler"] = b"filler" + pad

    def cleaned() -> bool:
        """Cleaned past the last ABORT marker (6 rounds of 10 offsets: it is at 59)."""
        path = b.data_dir / "cleaner-offset-checkpoint"
        if not path.exists():
            return False
        return any(
            line.split()[0] == topic and int(line.split()[2]) > 60
            for line in path.read_text().splitlines()[2:]
            if len(line.split()) == 3
        )

    deadline = time.monotonic() + 60
    while not cleaned():
        assert time.monotonic() < deadline, "the cleaner did not clean the topic"
        time.sleep(0.3)
    for isolation in ("read_uncommitted", "read_committed"):
        records = read_all_keyed(b, topic, isolation)
        offsets = [o for o, _, _ in records]
        assert offsets == sorted(offsets)
        assert not [v for _, _, v in records if v.startswith(b"ABORTED")], isolation
        latest = {k: v for _, k, v in records}
        assert latest == expected, isolation
        assert len(records) < 6 * 4 + 20  # duplicates are gone


def read_all_keyed(
    b: BrokerProcess, topic: str, isolation: str
) -> list[tuple[int, bytes, bytes]]:
    c = Consumer(
        {
            "bootstrap.servers": b.bootstrap,
            "group.id": f"keyed-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out: list[tuple[int, bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:
                    break
                raise KafkaException(m.error())
            out.append((m.offset(), m.key() or b"", m.value() or b""))
        return out
    finally:
        c.close()


CTP_APP = """
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, source, sink, hang = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "hang"
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ctp-app",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "isolation.level": "read_committed", "session.timeout.ms": 6000})
consumer.subscribe([source])
deadline = time.monotonic() + 120  # the killed member leaves the group by session timeout
pending = []
while not consumer.assignment() and time.monotonic() < deadline:
    m = consumer.poll(0.5)
    if m is not None and not m.error():
        pending.append(m)  # the assignment came with a record: keep it
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "ctp-app"})
producer.init_transactions(60)
done = 0
idle_since = time.monotonic()
while time.monotonic() - idle_since < 8:
    batch = pending + [m for m in consumer.consume(5 - len(pending), 1.0) if not m.error()]
    pending = []
    if not batch:
        continue
    idle_since = time.monotonic()
    producer.begin_transaction()
    for m in batch:
        producer.produce(sink, m.value().upper())
    producer.flush(30)
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, batch[-1].offset() + 1)],
        consumer.consumer_group_metadata(), 30)
    done += 1
    if hang and done == 2:
        print("MID", flush=True)
        time.sleep(600)
    producer.commit_transaction(30)
print("DONE", flush=True)
"""


def test_consume_transform_produce_survives_kill_9_of_the_app(
    txn_broker: BrokerProcess, tmp_path: Path
) -> None:
    """The application dies (kill -9) with a transaction open (output written, offsets
    sent); its restart fences the old incarnation, whose transaction is aborted, and
    continues from the committed offsets: every input is in the output exactly once."""
    import sys

    b = txn_broker
    source, sink = unique_topic("ctp-in"), unique_topic("ctp-out")
    create_topic(b, source)
    create_topic(b, sink)
    plain = Producer({"bootstrap.servers": b.bootstrap})
    values = [b"in-%02d" % i for i in range(30)]
    for v in values:
        plain.produce(source, v)
    plain.flush(30)
    app = tmp_path / "ctp_app.py"
    app.write_text(CTP_APP)
    first = subprocess.Popen(
        [sys.executable, str(app), b.bootstrap, source, sink, "hang"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "MID"
    finally:
        first.kill()
        first.wait(30)
    # The zombie's second transaction (5 records) is written but not committed.
    assert len(read_all(b, sink, "read_uncommitted")) == 10
    assert len(read_all(b, sink, "read_committed")) == 5
    second = subprocess.run(
        [sys.executable, str(app), b.bootstrap, source, sink, "run"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert second.stdout.strip().endswith("DONE"), second.stdout + second.stderr
    committed = [v for _, v in read_all(b, sink, "read_committed")]
    assert committed == [v.upper() for v in values]
    assert len(read_all(b, sink, "read_uncommitted")) == 35  # the aborted 5 stay in the log
