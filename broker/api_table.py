"""Render the supported-API table (README) from the live route table."""

from __future__ import annotations

from typing import Any

from broker.handlers import register_all
from broker.network.dispatch import Registry
from protocol.api_registry import api_name


class _Unwired:
    """Stands in for BrokerServices at registration time: handlers only close over it."""

    def __init__(self, cluster: bool) -> None:
        self.registry = Registry()
        # Cluster-mode handlers register only when the broker has a cluster membership.
        self.cluster = object() if cluster else None

    def __getattr__(self, name: str) -> Any:
        return None


def supported_apis(cluster: bool = False) -> list[tuple[int, str, int, int]]:
    """(key, name, min, max) of every API a standalone (or cluster-mode) broker serves."""
    services = _Unwired(cluster)
    register_all(services)  # type: ignore[arg-type]
    return [(r.api_key, r.name, r.min_version, r.max_version) for r in services.registry.routes()]


_KIP_896 = (
    "removed in Kafka 4.0 (KIP-896) and used by none of the clients Josef is tested with; "
    "kio has no schema for it and Josef has not written one yet"
)

#: Where Josef's ApiVersions (cluster mode) differs from Apache Kafka 3.9.1's in ZooKeeper
#: mode (recorded in tests/fixtures/kafka_3_9_1_wire.json), and why. A parity test keeps
#: this table exact.
KAFKA_3_9_DIFFERENCES: dict[int, str] = {
    0: "v0-2 carry message format v0/v1 (magic 0/1), which Josef neither stores nor "
    "converts (it keeps RecordBatch v2 only); removed in Kafka 4.0 (KIP-896)",
    1: "v0-3 would need down-conversion of stored batches to message format v0/v1; "
    "removed in Kafka 4.0 (KIP-896)",
    2: "v0 (old-style offset lists): " + _KIP_896,
    4: "inter-broker, cluster mode: Josef's brokers speak the versions of "
    "inter.broker.protocol.version 3.9 only",
    5: "inter-broker, cluster mode: as LeaderAndIsr",
    6: "inter-broker, cluster mode: as LeaderAndIsr",
    7: "inter-broker, cluster mode: as LeaderAndIsr",
    27: "v0 is not served (kio has no schema for it); brokers of Kafka 2.8 and later send v1",
    34: "moving replicas between log directories is not implemented",
    38: "delegation tokens are not supported",
    39: "delegation tokens are not supported",
    40: "delegation tokens are not supported",
    41: "delegation tokens are not supported",
    56: "inter-broker, cluster mode: v0-1 (topic names) are not used by Josef's brokers",
    57: "feature flags (KIP-584) are not implemented: Josef finalizes no features",
    58: "request forwarding (KIP-590) is KRaft/migration machinery; Josef's brokers "
    "handle admin requests themselves or send them to the controller",
    67: "Josef allocates producer id blocks in ZooKeeper (/latest_producer_id_block) as "
    "Kafka does without a KRaft controller",
    68: "Josef also serves v1 (Kafka 4.0), the only version librdkafka's KIP-848 consumer sends",
}


def render_differences(kafka: dict[int, tuple[int, int]]) -> str:
    """Markdown rows: API, Kafka 3.9.1's range, Josef's (cluster mode), why."""
    ours = {key: (lo, hi) for key, _, lo, hi in supported_apis(cluster=True)}
    lines = ["| API | key | Kafka 3.9.1 | Josef | why |", "| --- | --- | --- | --- | --- |"]
    for key, reason in sorted(KAFKA_3_9_DIFFERENCES.items()):
        k, j = kafka.get(key), ours.get(key)
        lines.append(
            f"| {api_name(key)} | {key} | {'-'.join(map(str, k)) if k else 'none'} | "
            f"{'-'.join(map(str, j)) if j else 'none'} | {reason} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    lines = ["| API | key | versions |", "| --- | --- | --- |"]
    for key, name, lo, hi in supported_apis():
        lines.append(f"| {name} | {key} | {lo}-{hi} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
