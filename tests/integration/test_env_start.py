"""``josef start --override-from-env``, as the container image runs it: a real broker
configured only through KAFKA_* / JOSEF_* variables and the image's server.properties.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from helpers.broker_process import REPO_ROOT, BrokerProcess, require_josef
from helpers.clients import Record, consume, produce, unique_topic
from helpers.docker_files import SERVER_PROPERTIES
from kafka import KafkaAdminClient  # type: ignore[import-untyped]

CLUSTER_ID = "JosefDockerEnvCluster0"


class EnvBrokerProcess(BrokerProcess):
    """A broker whose settings come from environment variables instead of --override."""

    def __init__(self, workdir: Path, args: list[str]) -> None:
        super().__init__(workdir, name="env-broker")
        self.args = args

    def command(self) -> list[str]:
        return [sys.executable, "-m", "broker", "start", *self.args]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No KAFKA_* / JOSEF_* variable of the test run leaks into the broker's environment."""
    require_josef("configures the broker through environment variables")
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "JOSEF_")):
            monkeypatch.delenv(name)
    return monkeypatch


def start_env_broker(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, env: dict[str, str], args: list[str]
) -> EnvBrokerProcess:
    b = EnvBrokerProcess(workdir, args)
    for name, value in {
        "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{b.port}",
        "KAFKA_LOG_DIRS": str(b.data_dir),
        **env,
    }.items():
        monkeypatch.setenv(name, value)  # BrokerProcess.start passes os.environ on
    return b


def test_broker_configured_from_the_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BROKER_ID": "7",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_LOG_RETENTION_HOURS": "5",
        "JOSEF_CLUSTER_ID": CLUSTER_ID,
        "JOSEF_LOG_LEVEL": "DEBUG",  # the log level, not a key: must not be refused
        "KAFKA_HEAP_OPTS": "-Xmx1G",  # a Kafka image's JVM setting: skipped
    }
    args = ["--config", str(SERVER_PROPERTIES), "--override-from-env"]
    b = start_env_broker(clean_env, tmp_path / "b", env, args)
    try:
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        metadata = admin.list_topics(timeout=15)
        assert metadata.cluster_id == CLUSTER_ID
        assert sorted(metadata.brokers) == [7]
        kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        try:
            cluster = kadmin.describe_cluster()
            assert cluster["cluster_id"] == CLUSTER_ID
            assert [n["broker_id"] for n in cluster["brokers"]] == [7]
            assert cluster["controller_id"] == 7
        finally:
            kadmin.close()
        resource = ConfigResource(ConfigResource.Type.BROKER, "7")
        configs = admin.describe_configs([resource])[resource].result(timeout=15)
        assert configs["log.retention.hours"].value == "5"
        assert configs["num.partitions"].value == "3"

        # num.partitions=3 from KAFKA_NUM_PARTITIONS: an auto-created topic gets 3 partitions
        topic = unique_topic("env")
        records = [Record(key=b"k", value=b"from-env")]
        assert produce("kafka-python", b.bootstrap, topic, records, partition=2) == [0]
        assert len(admin.list_topics(topic, timeout=15).topics[topic].partitions) == 3
        got = consume("kcat", b.bootstrap, topic, 2, 0, 1)
        assert [(c.key, c.value) for c in got] == [(b"k", b"from-env")]

        meta = (b.data_dir / "meta.properties").read_text()
        assert "broker.id=7" in meta and f"cluster.id={CLUSTER_ID}" in meta
        log = b.log_text()
        assert "broker.id (KAFKA_BROKER_ID)" in log and "-Xmx1G" not in log
    finally:
        b.close()


def test_override_beats_environment_beats_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    props = tmp_path / "server.properties"
    props.write_text("broker.id=1\nnum.partitions=1\nlog.retention.hours=11\n")
    env = {"KAFKA_BROKER_ID": "2", "KAFKA_NUM_PARTITIONS": "2"}
    args = ["--config", str(props), "--override-from-env", "--override", "broker.id=3"]
    b = start_env_broker(clean_env, tmp_path / "b", env, args)
    try:
        b.start()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        assert sorted(admin.list_topics(timeout=15).brokers) == [3]
        resource = ConfigResource(ConfigResource.Type.BROKER, "3")
        configs = admin.describe_configs([resource])[resource].result(timeout=15)
        assert configs["num.partitions"].value == "2"
        assert configs["log.retention.hours"].value == "11"
    finally:
        b.close()


def run_start(env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "JOSEF_"))}
    full_env.update(env, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "broker", "start", *args],
        cwd=str(REPO_ROOT),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unknown_variable_stops_the_broker_with_status_2(tmp_path: Path) -> None:
    require_josef()
    env = {"KAFKA_LOG_DIRS": str(tmp_path / "data"), "KAFKA_MIN_INSYNC_REPLICA": "2"}
    result = run_start(env, ["--override-from-env"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "josef: invalid configuration: KAFKA_MIN_INSYNC_REPLICA: maps to min.insync.replica,"
        " which is not a broker configuration key"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was written
