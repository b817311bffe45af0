"""Client quotas with real clients over SASL (each user its own principal).

A producer limited to 1 MB/s (producer_byte_rate=1048576, set with `josef quotas alter`)
is measured at no more than 1.2 MB/s once its quota window is full, with throttle times
reported to the client (librdkafka's throttle callback, kafka-python's throttle metrics);
a user without a quota producing at the same time is never throttled. Kafka lets a fresh
quota sensor take ``quota x (quota.window.num - 1)`` windows' worth at once, so the rate
is measured after that allowance: the default variant shortens the window count
(quota.window.num=3) to stay quick, the soak variant keeps Kafka's 11 and measures 20 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.clients import unique_topic
from helpers.josef_cli import josef

USERS = {"quser": "q-secret", "free": "f-secret", "kp": "kp-secret", "reader": "r-secret",
         "busy": "b-secret"}  # fmt: skip
MB = 1024 * 1024
VALUE = b"x" * 10_000


class QuotaBroker:
    def __init__(self, proc: BrokerProcess, sasl_port: int) -> None:
        self.proc = proc
        self.admin = proc.bootstrap
        self.sasl = f"127.0.0.1:{sasl_port}"

    def josef(self, *args: str) -> str:
        result = josef(self.admin, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def conf(self, user: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.sasl,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": user,
            "sasl.password": USERS[user],
        }


def start_broker(workdir: Any, window_num: int) -> QuotaBroker:
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    users = " ".join(f'user_{u}="{p}"' for u, p in USERS.items())
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
        "quota.window.num": str(window_num),
        "quota.window.size.seconds": "1",
        "group.initial.rebalance.delay.ms": "0",
    }  # fmt: skip
    proc = BrokerProcess(workdir, overrides, port=port, name="quotas")
    proc.start()
    return QuotaBroker(proc, sasl_port)


@pytest.fixture(scope="module")
def quota_broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[QuotaBroker, None, None]:
    require_josef("client quotas")
    broker = start_broker(tmp_path_factory.mktemp("quota-broker"), window_num=3)
    try:
        yield broker
    finally:
        broker.proc.close()


@dataclass
class ProduceRun:
    """Acknowledged bytes over time, and the throttle times the client was told."""

    acked: list[tuple[float, int]] = field(default_factory=list)
    throttles: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def bytes_between(self, start: float, end: float) -> int:
        return sum(n for t, n in self.acked if start <= t < end)


def produce_for(
    broker: QuotaBroker, user: str, topic: str, seconds: float, run: ProduceRun
) -> None:
    """Produce 10 kB records as fast as the client is let, for ``seconds``."""

    def on_throttle(event: Any) -> None:
        run.throttles.append(int(event.throttle_time * 1000))

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            run.errors.append(str(err))
        else:
            run.acked.append((time.monotonic(), len(msg.value())))

    p = Producer({**broker.conf(user), "acks": "1", "linger.ms": 5, "batch.size": 64 * 1024,
                  "queue.buffering.max.kbytes": 2048, "throttle_cb": on_throttle})  # fmt: skip
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            p.produce(topic, VALUE, on_delivery=on_delivery)
        except BufferError:
            p.poll(0.05)
        p.poll(0)
    p.flush(30)


def create_topic(broker: QuotaBroker, topic: str) -> None:
    broker.josef("topics", "create", topic, "--partitions", "1")


def measure_quota(broker: QuotaBroker, warmup: float, measure: float) -> tuple[float, ProduceRun,
                                                                                 ProduceRun]:
    limited_topic, free_topic = unique_topic("quota-limited"), unique_topic("quota-free")
    for t in (limited_topic, free_topic):
        create_topic(broker, t)
    limited, free = ProduceRun(), ProduceRun()
    start = time.monotonic()
    threads = [
        threading.Thread(target=produce_for, args=(broker, "quser", limited_topic,
                                                   warmup + measure, limited)),
        threading.Thread(target=produce_for, args=(broker, "free", free_topic, warmup + measure,
                                                   free)),
    ]  # fmt: skip
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=warmup + measure + 60)
    assert not limited.errors and not free.errors, (limited.errors[:3], free.errors[:3])
    rate = limited.bytes_between(start + warmup, start + warmup + measure) / measure
    return rate, limited, free


def test_quota_admin_with_josef_quotas(quota_broker: QuotaBroker) -> None:
    quota_broker.josef("quotas", "alter", "--user", "alice", "--add-config",
                       "producer_byte_rate=2048,request_percentage=50")  # fmt: skip
    quota_broker.josef("quotas", "alter", "--entity-type", "users", "--entity-name", "alice",
                       "--entity-type", "clients", "--entity-default",
                       "--add-config", "consumer_byte_rate=4096")  # fmt: skip
    quota_broker.josef("quotas", "alter", "--client-defaults", "--add-config",
                       "consumer_byte_rate=8192")  # fmt: skip
    out = quota_broker.josef("quotas", "describe")
    assert "Quota configs for user-principal 'alice' are producer_byte_rate=2048.0, " \
           "request_percentage=50.0" in out  # fmt: skip
    assert "Quota configs for user-principal 'alice', the default client-id are " \
           "consumer_byte_rate=4096.0" in out  # fmt: skip
    assert "Quota configs for the default client-id are consumer_byte_rate=8192.0" in out
    only = quota_broker.josef("quotas", "describe", "--user", "alice")
    assert only.strip().splitlines() == [
        "Quota configs for user-principal 'alice' are producer_byte_rate=2048.0, "
        "request_percentage=50.0"
    ]
    quota_broker.josef("quotas", "alter", "--user", "alice", "--delete-config",
                       "producer_byte_rate,request_percentage")  # fmt: skip
    quota_broker.josef("quotas", "alter", "--user", "alice", "--client-defaults",
                       "--delete-config", "consumer_byte_rate")  # fmt: skip
    quota_broker.josef("quotas", "alter", "--client-defaults", "--delete-config",
                       "consumer_byte_rate")  # fmt: skip
    assert quota_broker.josef("quotas", "describe").strip() == ""
    bad = josef(quota_broker.admin, "quotas", "alter", "--user", "alice", "--add-config",
                "producer_byte_rate=1.5")  # fmt: skip
    assert bad.returncode == 1 and "INVALID_REQUEST" in bad.stderr


def test_producer_limited_to_1_mb_per_second(quota_broker: QuotaBroker) -> None:
    quota_broker.josef("quotas", "alter", "--user", "quser", "--add-config",
                       f"producer_byte_rate={MB}")  # fmt: skip
    try:
        # quota.window.num=3: up to 2 MB may go at once; measure the steady state after it.
        rate, limited, free = measure_quota(quota_broker, warmup=4.0, measure=8.0)
    finally:
        quota_broker.josef("quotas", "alter", "--user", "quser", "--delete-config",
                           "producer_byte_rate")  # fmt: skip
    free_rate = free.bytes_between(0, float("inf")) / 12.0
    print(f"limited producer: {rate / MB:.3f} MB/s over 8 s; unlimited: {free_rate / MB:.1f} MB/s")
    assert rate <= 1.2 * MB, f"limited producer ran at {rate / MB:.2f} MB/s"
    assert limited.throttles and max(limited.throttles) > 0
    assert not free.throttles, "a user without a quota was throttled"
    assert sum(n for _, n in free.acked) > sum(n for _, n in limited.acked)


@pytest.mark.soak
def test_producer_limited_to_1_mb_per_second_over_20_s(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require_josef("client quotas")
    broker = start_broker(tmp_path_factory.mktemp("quota-soak"), window_num=11)
    try:
        broker.josef("quotas", "alter", "--user", "quser", "--add-config",
                     f"producer_byte_rate={MB}")  # fmt: skip
        # Kafka's defaults: 11 one-second samples, so a 10 MB allowance first.
        rate, limited, free = measure_quota(broker, warmup=12.0, measure=20.0)
    finally:
        broker.proc.close()
    print(f"limited producer: {rate / MB:.3f} MB/s over 20 s, "
          f"{len(limited.throttles)} throttle callbacks (max {max(limited.throttles)} ms)")
    assert rate <= 1.2 * MB, f"limited producer ran at {rate / MB:.2f} MB/s"
    assert limited.throttles and not free.throttles


@pytest.mark.parametrize("entity", ["user", "client-id"])
def test_kafka_python_sees_produce_throttling(quota_broker: QuotaBroker, entity: str) -> None:
    from kafka import KafkaProducer

    topic = unique_topic("quota-kp")
    create_topic(quota_broker, topic)
    client_id = unique_topic("slow-app")
    target = ("--user", "kp") if entity == "user" else ("--client", client_id)
    quota_broker.josef("quotas", "alter", *target, "--add-config", "producer_byte_rate=102400")
    p = KafkaProducer(bootstrap_servers=quota_broker.sasl, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="PLAIN", sasl_plain_username="kp", client_id=client_id,
                      sasl_plain_password=USERS["kp"], acks=1, linger_ms=5)  # fmt: skip
    try:
        futures = [p.send(topic, VALUE) for _ in range(60)]  # 600 kB > 2 windows' worth
        p.flush(timeout=60)
        offsets = [f.get(timeout=60).offset for f in futures]
        throttle_max = max(
            value
            for group in p.metrics().values()
            for name, value in group.items()
            if name == "throttle-time-max"
        )
    finally:
        p.close(timeout=10)
        quota_broker.josef("quotas", "alter", *target, "--delete-config", "producer_byte_rate")
    assert offsets == list(range(60))
    assert throttle_max > 0


def test_fetch_and_request_quotas_throttle_consumers(quota_broker: QuotaBroker) -> None:
    topic = unique_topic("quota-fetch")
    create_topic(quota_broker, topic)
    run = ProduceRun()
    produce_for(quota_broker, "free", topic, 1.0, run)
    produced = len(run.acked)
    assert produced > 30
    quota_broker.josef("quotas", "alter", "--user", "reader", "--add-config",
                       "consumer_byte_rate=65536")  # fmt: skip
    quota_broker.josef("quotas", "alter", "--user", "busy", "--add-config",
                       "request_percentage=0.01")  # fmt: skip
    for user in ("reader", "busy"):
        throttles: list[int] = []
        c = Consumer({**quota_broker.conf(user), "group.id": unique_topic("g"),
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "throttle_cb": lambda e, t=throttles: t.append(e.throttle_time)})  # fmt: skip
        got = 0
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 60
            while got < 30 and time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is not None and msg.error() is None:
                    got += 1
        finally:
            c.close()
        assert got >= 30, f"{user} read {got} records"
        assert throttles and max(throttles) > 0, f"{user} was never throttled"
