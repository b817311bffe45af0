"""The broker settings the controller reads (Kafka's keys, Kafka 3.9's defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

UNCLEAN_LEADER_ELECTION_ENABLE = "unclean.leader.election.enable"


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Controller settings; each field is the Kafka broker key with dots as underscores."""

    controlled_shutdown_enable: bool = True
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval_seconds: int = 300
    leader_imbalance_per_broker_percentage: int = 10
    unclean_leader_election_enable: bool = False  # the broker default; topics may override
    controller_socket_timeout_ms: int = 30_000
    delete_topic_enable: bool = True
    default_replication_factor: int = 1
    min_insync_replicas: int = 1
    inter_broker_listener_name: str = "PLAINTEXT"
    # KIP-704 (IBP >= 3.2): an unclean election marks the partition RECOVERING. The leader
    # treats it as recovered on becoming leader and its next AlterPartition says RECOVERED.
    leader_recovery_supported: bool = True
    # Kafka's RequestSendThread waits 100 ms between attempts to reach a broker.
    controller_request_retry_backoff_ms: int = 100
    # Delay before the first automatic preferred-leader check after failover (Kafka: 5 s).
    initial_leader_rebalance_delay_ms: int = 5_000

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> ControllerConfig:
        """Build from broker properties (``key=value`` strings, Kafka's names)."""
        defaults = cls()

        def flag(key: str, default: bool) -> bool:
            value = props.get(key)
            return default if value is None else value.strip().lower() == "true"

        def number(key: str, default: int) -> int:
            value = props.get(key)
            return default if value is None else int(value.strip())

        return cls(
            controlled_shutdown_enable=flag(
                "controlled.shutdown.enable", defaults.controlled_shutdown_enable
            ),
            auto_leader_rebalance_enable=flag(
                "auto.leader.rebalance.enable", defaults.auto_leader_rebalance_enable
            ),
            leader_imbalance_check_interval_seconds=number(
                "leader.imbalance.check.interval.seconds",
                defaults.leader_imbalance_check_interval_seconds,
            ),
            leader_imbalance_per_broker_percentage=number(
                "leader.imbalance.per.broker.percentage",
                defaults.leader_imbalance_per_broker_percentage,
            ),
            unclean_leader_election_enable=flag(
                UNCLEAN_LEADER_ELECTION_ENABLE, defaults.unclean_leader_election_enable
            ),
            controller_socket_timeout_ms=number(
                "controller.socket.timeout.ms", defaults.controller_socket_timeout_ms
            ),
            delete_topic_enable=flag("delete.topic.enable", defaults.delete_topic_enable),
            default_replication_factor=number(
                "default.replication.factor", defaults.default_replication_factor
            ),
            min_insync_replicas=number("min.insync.replicas", defaults.min_insync_replicas),
            inter_broker_listener_name=props.get(
                "inter.broker.listener.name", defaults.inter_broker_listener_name
            ).upper(),
        )


def unclean_election_enabled(config: ControllerConfig, topic_config: Mapping[str, str]) -> bool:
    """A topic's ``unclean.leader.election.enable``, falling back to the broker default."""
    value = topic_config.get(UNCLEAN_LEADER_ELECTION_ENABLE)
    if value is None:
        return config.unclean_leader_election_enable
    return value.strip().lower() == "true"
