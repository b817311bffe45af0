"""josef.cluster.id seeds a new standalone data directory's cluster id."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka.admin import AdminClient
from helpers.broker_process import BrokerProcess
from kafka import KafkaAdminClient  # type: ignore[import-untyped]

CLUSTER_ID = "JosefTestCluster00001A"


def test_configured_cluster_id(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory({"josef.cluster.id": CLUSTER_ID})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    assert admin.describe_cluster().result(timeout=15).cluster_id == CLUSTER_ID
    kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        assert kadmin.describe_cluster()["cluster_id"] == CLUSTER_ID
    finally:
        kadmin.close()
    assert f"cluster.id={CLUSTER_ID}" in (b.data_dir / "meta.properties").read_text()
