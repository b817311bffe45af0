"""Record the request frames real clients send, as seeds for the frame fuzzer.

    PYTHONPATH=. python tests/helpers/record_client_frames.py tests/fixtures/client_frames.txt

Starts a Josef broker that advertises a recording proxy in front of it, runs kafka-python,
confluent-kafka (librdkafka), aiokafka and kcat through the proxy (produce, consume,
consumer groups with commits, an idempotent producer, admin calls), and writes the first frame of
every (client, API key, version), up to 4 KiB each, as ``<client> <api key> <version> <hex>``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.broker_process import BrokerProcess, free_port
from helpers.clients import Record, consume, create_topic, produce, unique_topic

MAX_FRAME = 4096


class RecordingProxy:
    """Forwards loopback connections to the broker and keeps the client's request frames."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.label = "?"
        self.frames: dict[tuple[str, int, int], bytes] = {}
        self._upstream = upstream
        self._server = socket.create_server(("127.0.0.1", port))
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            broker = socket.create_connection(self._upstream)
            label = self.label
            threading.Thread(target=self._pipe, args=(client, broker, label), daemon=True).start()
            threading.Thread(target=self._pipe, args=(broker, client, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, label: str | None) -> None:
        buf = b""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                if label is None:
                    continue
                buf += data
                while len(buf) >= 4:
                    (size,) = struct.unpack_from(">i", buf)
                    if len(buf) < 4 + size:
                        break
                    self._keep(label, buf[4 : 4 + size])
                    buf = buf[4 + size :]
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _keep(self, label: str, frame: bytes) -> None:
        if len(frame) < 4 or len(frame) > MAX_FRAME:
            return
        api_key, version = struct.unpack_from(">hh", frame)
        with self._lock:
            self.frames.setdefault((label, api_key, version), frame)

    def close(self) -> None:
        self._server.close()


@contextlib.contextmanager
def recording_broker(workdir: Path) -> Iterator[tuple[BrokerProcess, RecordingProxy, str]]:
    proxy_port = free_port()
    broker = BrokerProcess(
        workdir,
        {
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.num.partitions": "2",
        },
    )
    broker.start()
    proxy = RecordingProxy(proxy_port, (broker.host, broker.port))
    try:
        yield broker, proxy, f"127.0.0.1:{proxy_port}"
    finally:
        proxy.close()
        broker.stop()


def attempt(call: Callable[[], object]) -> None:
    """Admin calls record their request whether or not the broker serves them."""
    try:
        call()
    except Exception as exc:
        print(f"  ({exc!r})")


def kafka_python_workload(bootstrap: str, proxy: RecordingProxy) -> None:
    from kafka import KafkaConsumer
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    topic = unique_topic("kp")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    produce("kafka-python", bootstrap, topic, [Record(b"k", b"v" * 20)] * 3)
    consume("kafka-python", bootstrap, topic, 0, 0, 3)
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id="kp-group", auto_offset_reset="earliest"
    )
    deadline = time.monotonic() + 20
    got = 0
    while got < 3 and time.monotonic() < deadline:
        got += sum(len(v) for v in consumer.poll(500).values())
    consumer.commit()
    consumer.close()
    for call in (
        admin.list_groups,
        lambda: admin.describe_groups(["kp-group"]),
        lambda: admin.list_group_offsets("kp-group"),
        lambda: admin.describe_topics([topic]),
        admin.describe_cluster,
        lambda: admin.delete_topics([topic]),
    ):
        attempt(call)
    admin.close()


def confluent_workload(bootstrap: str, proxy: RecordingProxy) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, ConfigResource

    topic = unique_topic("ck")
    create_topic(bootstrap, topic, 2)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.describe_configs([ConfigResource("topic", topic)])[ConfigResource("topic", topic)].result(
        10
    )
    produce("confluent", bootstrap, topic, [Record(b"k", b"v" * 20)] * 3)
    consume("confluent", bootstrap, topic, 0, 0, 3)
    for protocol in ("classic", "consumer"):
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"ck-{protocol}",
                "group.protocol": protocol,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        got = 0
        while got < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got += 1
                consumer.commit(msg, asynchronous=False)
        consumer.close()
    idempotent = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    idempotent.produce(topic, b"idempotent", partition=1)
    idempotent.flush(20)
    admin.list_consumer_groups().result()
    admin.delete_topics([topic])[topic].result(10)


def confluent_topic(proxy: RecordingProxy, bootstrap: str, prefix: str) -> str:
    """A topic created with confluent-kafka's AdminClient, recorded under its own name."""
    label, proxy.label = proxy.label, "confluent"
    topic = unique_topic(prefix)
    create_topic(bootstrap, topic)
    proxy.label = label
    return topic


def aiokafka_workload(bootstrap: str, proxy: RecordingProxy) -> None:
    topic = confluent_topic(proxy, bootstrap, "aio")
    produce("aiokafka", bootstrap, topic, [Record(b"k", b"v" * 20)] * 3)
    consume("aiokafka", bootstrap, topic, 0, 0, 3)


def kcat_workload(bootstrap: str, proxy: RecordingProxy) -> None:
    topic = confluent_topic(proxy, bootstrap, "kcat")
    produce("kcat", bootstrap, topic, [Record(b"k", b"v" * 20)] * 3)
    consume("kcat", bootstrap, topic, 0, 0, 3)


WORKLOADS: dict[str, Callable[[str, RecordingProxy], None]] = {
    "kafka-python": kafka_python_workload,
    "confluent": confluent_workload,
    "aiokafka": aiokafka_workload,
    "kcat": kcat_workload,
}


def main() -> None:
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp, recording_broker(Path(tmp)) as (broker, proxy, boot):
        for label, workload in WORKLOADS.items():
            proxy.label = label
            try:
                workload(boot, proxy)
            except Exception:
                print(broker.log_tail(80))
                raise
            time.sleep(1)  # let background heartbeats and closes through
        frames = dict(proxy.frames)
    lines = [
        "# Request frames recorded from real clients by tests/helpers/record_client_frames.py",
        "# <client> <api key> <version> <frame without its size prefix, hex>",
    ]
    for (label, api_key, version), frame in sorted(frames.items()):
        lines.append(f"{label} {api_key} {version} {frame.hex()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(frames)} frames written to {out}")


if __name__ == "__main__":
    main()
