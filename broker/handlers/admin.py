"""Admin API handlers, registered by family.

- ``admin_topics``: CreateTopics (19), DeleteTopics (20), CreatePartitions (37)
- ``admin_configs``: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44)
- ``admin_cluster``: DescribeCluster (60), DescribeLogDirs (35)
- ``admin_records``: DeleteRecords (21), OffsetForLeaderEpoch (23)
"""

from __future__ import annotations

from broker.handlers import admin_cluster, admin_configs, admin_records, admin_topics
from broker.services import BrokerServices

_MODULES = (admin_topics, admin_configs, admin_cluster, admin_records)


def register(services: BrokerServices) -> None:
    for module in _MODULES:
        module.register(services)
