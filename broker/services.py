"""The broker's components, handed to API handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.config.dynamic_broker_config import DynamicBrokerConfig
from broker.network.dispatch import Registry
from broker.producer_ids import ProducerIdManager
from broker.replica.replica_manager import ReplicaManager
from broker.security.auth_helper import RequestAuthorizer
from broker.security.credentials import ScramCredentialStore
from broker.topic_manager import TopicManager
from cluster.metadata import BrokerRegistration, MetadataStore
from storage.clock import Clock
from storage.log_manager import LogManager


@dataclass(slots=True)
class BrokerServices:
    """Everything a request handler may use; one instance per broker process."""

    broker_id: int
    config: Any  # broker.config.BrokerConfig
    clock: Clock
    metadata: MetadataStore
    log_manager: LogManager
    replica_manager: ReplicaManager
    topic_manager: TopicManager
    producer_ids: ProducerIdManager
    auto_create_topics: bool
    registry: Registry = field(default_factory=Registry)
    group_coordinator: Any = None  # broker.group.coordinator.GroupCoordinator
    #: broker.transaction.coordinator.TransactionCoordinator
    transaction_coordinator: Any = None
    #: broker.transaction.verification.TxnPartitionVerifier (KIP-890), used while
    #: transaction.partition.verification.enable is true.
    txn_verifier: Any = None
    #: Cluster membership (broker.cluster_node.ClusterNode); None on a standalone broker.
    cluster: Any = None
    # SCRAM credentials (DescribeUserScramCredentials / AlterUserScramCredentials, SASL).
    scram_credentials: ScramCredentialStore = field(default_factory=ScramCredentialStore)
    #: Authorization checks (everything allowed unless authorizer.class.name is set).
    auth: RequestAuthorizer = field(default_factory=RequestAuthorizer)
    #: Client quotas (broker.quota.manager.QuotaManagers); None in tests without them.
    quotas: Any = None
    #: Dynamic broker configs (KIP-226); ``config`` follows its current configuration.
    dynamic_config: DynamicBrokerConfig | None = None

    @property
    def dynamic(self) -> DynamicBrokerConfig:
        """The dynamic broker configs (a broker built without them has only static ones)."""
        if self.dynamic_config is None:
            self.dynamic_config = DynamicBrokerConfig(self.config, self.broker_id)
        return self.dynamic_config

    def registration(self, broker_id: int) -> BrokerRegistration | None:
        for b in self.metadata.brokers():
            if b.broker_id == broker_id:
                return b
        return None
