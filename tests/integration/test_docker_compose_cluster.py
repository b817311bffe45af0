"""docker/docker-compose.yml's broker configuration, run as processes on loopback.

No Docker engine runs here, so the compose file's three brokers are started the way the
image starts them (``josef start --config docker/server.properties --override-from-env``)
with the compose file's environment, only host names and ports mapped to loopback and the
ZooKeeper connect string pointed at the test's ensemble. Clients use the EXTERNAL listener;
replication and controller requests must go over INTERNAL (inter.broker.listener.name).
The walkthrough of the README section "Run a cluster with docker compose" follows: an
auto-created topic gets replication factor 3, records are produced with acks=all, a broker
is killed, and everything is read back.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from confluent_kafka import Producer
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.docker_files import COMPOSE_FILE, SERVER_PROPERTIES
from helpers.josef_cluster import JosefCluster, wait_until
from kafka import KafkaConsumer


class ComposeBroker(BrokerProcess):
    """One compose service as a process: the image's command and the service's environment."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "broker",
            "start",
            "--config",
            str(SERVER_PROPERTIES),
            "--override-from-env",
        ]


def compose_brokers() -> dict[str, dict[str, str]]:
    doc: Any = yaml.safe_load(COMPOSE_FILE.read_text())
    return {
        name: {k: str(v) for k, v in svc["environment"].items()}
        for name, svc in doc["services"].items()
        if name.startswith("broker")
    }


def read_all(bootstrap: str, count: int = 100) -> list[bytes]:
    kc = KafkaConsumer(
        "walkthrough",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30000,
    )
    got: list[bytes] = []
    for m in kc:
        got.append(m.value)
        if len(got) == count:
            break
    kc.close()
    return got


def test_compose_cluster_on_loopback(tmp_path: Path, zk_connect: str) -> None:
    require_josef("runs the compose file's Josef configuration")
    brokers: dict[int, ComposeBroker] = {}
    cluster = JosefCluster(tmp_path, zk_connect, size=0)
    try:
        for name, env in sorted(compose_brokers().items()):
            broker_id = int(env["KAFKA_BROKER_ID"])
            b = ComposeBroker(tmp_path / name, name=name, broker_id=broker_id)
            internal = free_port()
            assert env["KAFKA_ZOOKEEPER_CONNECT"].endswith("/josef")
            env = {
                **env,
                "KAFKA_ZOOKEEPER_CONNECT": zk_connect,
                "KAFKA_LISTENERS": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{b.port}",
                "KAFKA_ADVERTISED_LISTENERS": (
                    f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{b.port}"
                ),
                "KAFKA_LOG_DIRS": str(b.data_dir),
                # Test speed only: the last broker of a `down` cannot hand its partitions
                # to anyone and retries controlled shutdown (Kafka's default: 3 x 5 s).
                "KAFKA_CONTROLLED_SHUTDOWN_RETRY_BACKOFF_MS": "500",
            }
            b.extra_env = env
            brokers[broker_id] = b
            cluster.brokers[broker_id] = b
        for b in brokers.values():
            b.launch()
        for b in brokers.values():
            b.wait_ready()
        cluster.wait_registered({1, 2, 3})
        cluster.wait_controller()
        cluster.wait_metadata_brokers({1, 2, 3})
        # Registrations carry both listeners, as the compose file advertises them.
        reg = cluster.zk_json("/brokers/ids/1")
        assert [e.split(":")[0] for e in reg["endpoints"]] == ["INTERNAL", "EXTERNAL"]
        # Auto-created with the compose file's default.replication.factor=3.
        p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
        failed: list[str] = []
        for i in range(100):
            p.produce("walkthrough", value=b"w-%d" % i,
                      on_delivery=lambda e, _m: failed.append(str(e)) if e else None)
            p.poll(0)
        assert p.flush(60) == 0 and not failed, failed
        assignment = cluster.zk_json("/brokers/topics/walkthrough")
        assert sorted(assignment["partitions"]["0"]) == [1, 2, 3]
        leader = cluster.wait_leaders("walkthrough", 1)[0]
        cluster.wait_isr("walkthrough", 0, {1, 2, 3})
        brokers[leader].kill()  # `docker compose kill brokerN`
        wait_until("a new leader", lambda: cluster.wait_leaders("walkthrough", 1)[0] != leader)
        assert read_all(cluster.bootstrap) == [b"w-%d" % i for i in range(100)]
        # `down` then `up`: the same data directories keep the cluster id and the records.
        cluster_id = cluster.zk_json("/cluster/id")["id"]
        running = [b for b in brokers.values() if b.running]
        for b in running:  # `docker compose down` stops every container at once
            assert b.proc is not None
            b.proc.send_signal(signal.SIGTERM)
        for b in running:
            assert b.stop() == 0
        for b in brokers.values():
            b.launch()
        for b in brokers.values():
            b.wait_ready()
        assert f"cluster.id={cluster_id}" in (brokers[1].data_dir / "meta.properties").read_text()
        cluster.wait_leaders("walkthrough", 1)
        assert read_all(cluster.bootstrap) == [b"w-%d" % i for i in range(100)]
    finally:
        for b in brokers.values():
            b.close()
