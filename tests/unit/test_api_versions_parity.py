"""Josef's ApiVersions next to Apache Kafka 3.9.1's (recorded in
tests/fixtures/kafka_3_9_1_wire.json by tests/tools/record_kafka_wire.py): every API and
version range matches, or differs for a reason written in KAFKA_3_9_DIFFERENCES (and so in
the README)."""

from __future__ import annotations

import json
from pathlib import Path

from broker.api_table import KAFKA_3_9_DIFFERENCES, supported_apis

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kafka_3_9_1_wire.json"


def _kafka() -> dict[int, tuple[int, int]]:
    recorded = json.loads(FIXTURE.read_text())["api_versions"]
    return {key: (lo, hi) for key, lo, hi in recorded}


def test_every_difference_from_kafka_3_9_is_explained() -> None:
    kafka = _kafka()
    ours = {key: (lo, hi) for key, _, lo, hi in supported_apis(cluster=True)}
    differing = {key for key in kafka.keys() | ours.keys() if kafka.get(key) != ours.get(key)}
    assert differing == set(KAFKA_3_9_DIFFERENCES)


def test_standalone_serves_the_cluster_set_less_cluster_apis() -> None:
    standalone = {key for key, _, _, _ in supported_apis()}
    cluster = {key for key, _, _, _ in supported_apis(cluster=True)}
    assert standalone <= cluster
    assert cluster - standalone == {4, 5, 6, 7, 43, 45, 46, 56}


def test_client_version_inference_sees_kafka_3_9() -> None:
    """kafka-python infers the broker version from the top versions (3.9 from Fetch v17)."""
    ours = {key: hi for key, _, _, hi in supported_apis()}
    kafka = _kafka()
    for key in (0, 1, 2, 3, 8, 9, 10, 11):
        assert ours[key] == kafka[key][1], key
