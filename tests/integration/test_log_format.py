"""``josef.log.format=json`` and ``josef.log.levels`` on a real broker: every line it writes
is a JSON object, lines logged while handling a request carry its ids, per-logger levels
take effect, and invalid values stop ``josef start`` with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.broker_process import BrokerProcess, require_josef
from helpers.clients import Record, consume, produce, unique_topic
from helpers.josef_cli import REPO
from kafka.admin import KafkaAdminClient, NewTopic

HARNESS_PREFIX = "===== "  # lines the test harness itself writes into the log file


def _json_lines(b: BrokerProcess) -> list[dict[str, Any]]:
    docs = []
    for line in b.log_text().splitlines():
        if not line.strip() or line.startswith(HARNESS_PREFIX):
            continue
        try:
            docs.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return docs


def test_json_log_lines_with_request_ids_and_levels(tmp_path: Path) -> None:
    require_josef("josef.log.* settings")
    b = BrokerProcess(
        tmp_path / "b",
        {
            "josef.log.format": "json",
            "josef.log.levels": "broker.replica=WARN,broker.topic_manager=DEBUG",
        },
        name="jsonlog",
    )
    try:
        b.start()
        topic = unique_topic("jsonlog")
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, client_id="log-test-admin")
        try:
            admin.create_topics([NewTopic(topic, 2, 1)])
        finally:
            admin.close()
        auto = unique_topic("jsonlog-auto")  # created by librdkafka's Metadata request
        sent = [Record(value=f"v{i}".encode()) for i in range(5)]
        produce("confluent", b.bootstrap, auto, sent, partition=0)
        assert [r.value for r in consume("kafka-python", b.bootstrap, auto, 0, 0, 5)] == [
            r.value for r in sent
        ]
        b.stop()
    finally:
        b.close()
    docs = _json_lines(b)
    assert docs, "the broker wrote no log lines"
    for d in docs:
        assert {"time", "level", "logger", "message"} <= set(d), d
        assert d["time"].endswith("+00:00") and "T" in d["time"]
    loggers = {d["logger"] for d in docs}
    # broker.replica=WARN silenced replica_manager's INFO lines ("leader at epoch ...")
    assert not any(d["logger"].startswith("broker.replica") and d["level"] == "INFO" for d in docs)
    assert "broker.server" in loggers  # the root level (INFO) still applies elsewhere
    created = [d for d in docs if d["logger"] == "broker.topic_manager" and topic in d["message"]]
    assert created, "no topic_manager line about the created topic"
    (line,) = [d for d in created if "created topic" in d["message"]]
    assert line["api"] == "CreateTopics" and line["client_id"] == "log-test-admin"
    conn, _, corr = line["request_id"].rpartition("/")
    assert conn == line["connection_id"] and corr.isdigit()
    auto_lines = [d for d in docs if d["logger"] == "broker.topic_manager" and auto in d["message"]]
    assert any(d.get("api") == "Metadata" for d in auto_lines), auto_lines
    # lines outside requests carry no request fields
    started = next(d for d in docs if d["logger"] == "broker.server" and "started" in d["message"])
    assert "request_id" not in started


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("josef.log.format", "xml", "must be one of: text, json"),
        ("josef.log.levels", "broker.network=LOUD", "LOUD is not a level"),
        ("josef.log.levels", "broker.network", "is not logger=LEVEL"),
    ],
)
def test_invalid_log_settings_refused_at_startup(
    tmp_path: Path, key: str, value: str, reason: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "broker", "start", "--override", f"log.dirs={tmp_path}",
         "--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", f"{key}={value}"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"josef: invalid configuration: {key}: ")
    assert reason in proc.stderr
