"""Admin API handlers, registered by family.

- ``admin_topics``: CreateTopics (19), DeleteTopics (20), CreatePartitions (37)
- ``admin_configs``: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44)
- ``admin_cluster``: DescribeCluster (60), DescribeLogDirs (35)
- ``admin_records``: DeleteRecords (21), OffsetForLeaderEpoch (23)
- ``admin_replicas`` (cluster mode only): ElectLeaders (43), AlterPartitionReassignments (45),
  ListPartitionReassignments (46)
"""

from __future__ import annotations

from broker.handlers.admin_cluster import register as register_cluster
from broker.handlers.admin_configs import register as register_configs
from broker.handlers.admin_records import register as register_records
from broker.handlers.admin_replicas import register as register_replicas
from broker.handlers.admin_topics import register as register_topics
from broker.services import BrokerServices


def register(services: BrokerServices) -> None:
    register_topics(services)
    register_configs(services)
    register_cluster(services)
    register_records(services)
    register_replicas(services)
