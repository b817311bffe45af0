"""What a running broker does when a dynamic broker config changes (Kafka's
BrokerReconfigurables, KIP-226).

* log defaults (Kafka's DynamicLogConfig): every log of a topic gets the new broker-level
  defaults under its own overrides, so a topic without an override follows
  ``log.retention.ms``, ``message.max.bytes``, ``compression.type``,
  ``min.insync.replicas``... at once; in a cluster the controller takes the new
  ``unclean.leader.election.enable`` (turned on: it elects leaders where only that was
  missing) and ``min.insync.replicas``;
* the log cleaner (LogCleaner): new throttle, threads replaced (``log.cleaner.threads``
  between half and double the current number);
* thread pools (DynamicThreadPool): ``num.replica.fetchers`` moves partitions between
  fetchers, ``num.recovery.threads.per.data.dir`` sizes the next recovery or shutdown;
  ``num.io.threads``, ``num.network.threads`` and ``background.threads`` are validated as
  Kafka does and have no effect (one event loop, worker threads on demand);
* ``producer.id.expiration.ms`` (DynamicProducerStateManagerConfig) for every log;
* the log flusher's schedule (``log.flush.interval.ms``);
* the replication throttles (``leader/follower.replication.throttled.rate``, KIP-73), which
  exist only as dynamic configs (a value in the static file has no effect, as in Kafka).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.config.broker_config import BrokerConfig
from broker.config.dynamic_broker_config import DynamicBrokerConfig
from broker.config.dynamic_keys import (
    CLEANER_CONFIGS,
    THREAD_POOL_CONFIGS,
    cleaner_threads_error,
    thread_pool_error,
)
from broker.replica.replication_quota import FOLLOWER_RATE, LEADER_RATE, rate_of
from storage.cleaner.log_cleaner import CleanerConfig
from storage.log_config import TOPIC_CONFIG_DEFS

if TYPE_CHECKING:
    import asyncio

    from broker.cluster_node import ClusterNode
    from broker.services import BrokerServices

# Every broker key behind a topic config's default (synonyms included: deleting a dynamic
# log.retention.ms brings a static log.retention.hours back).
LOG_DEFAULT_KEYS = frozenset(s.name for d in TOPIC_CONFIG_DEFS for s in d.synonyms)
FLUSH_KEYS = frozenset({"log.flush.interval.ms", "log.flush.scheduler.interval.ms"})


def cleaner_config(config: BrokerConfig) -> CleanerConfig:
    """The log cleaner's settings from the broker configuration."""
    return CleanerConfig(
        enable=config.log_cleaner_enable,
        threads=config.log_cleaner_threads,
        io_max_bytes_per_second=config.log_cleaner_io_max_bytes_per_second,
        dedupe_buffer_size=config.log_cleaner_dedupe_buffer_size,
        io_buffer_load_factor=config.log_cleaner_io_buffer_load_factor,
        backoff_ms=config.log_cleaner_backoff_ms,
    )


def install_reconfigurables(
    dynamic: DynamicBrokerConfig,
    services: BrokerServices,
    cluster: ClusterNode | None,
    flush_schedule_changed: Callable[[], None],
) -> None:
    """Register the components of a started broker with ``dynamic`` (see module doc)."""
    import asyncio

    replica_manager = services.replica_manager
    log_manager = services.log_manager

    def follow(old: BrokerConfig, new: BrokerConfig) -> None:
        services.config = new

    def log_defaults(old: BrokerConfig, new: BrokerConfig) -> None:
        replica_manager.reconfigure_default_log_config(new.log_config_defaults())
        if cluster is not None:
            cluster.reconfigure(old, new)

    def validate_cleaner(old: BrokerConfig, new: BrokerConfig) -> str | None:
        return cleaner_threads_error(new.log_cleaner_threads, old.log_cleaner_threads)

    def cleaner(old: BrokerConfig, new: BrokerConfig) -> asyncio.Future[None] | None:
        log_cleaner = log_manager.cleaner
        if log_cleaner is None:
            return None
        return asyncio.ensure_future(
            asyncio.to_thread(log_cleaner.reconfigure, cleaner_config(new))
        )

    def validate_threads(old: BrokerConfig, new: BrokerConfig) -> str | None:
        for key in THREAD_POOL_CONFIGS:
            attr = key.replace(".", "_")
            error = thread_pool_error(key, getattr(new, attr), getattr(old, attr))
            if error is not None:
                return error
        return None

    def threads(old: BrokerConfig, new: BrokerConfig) -> None:
        log_manager.recovery_threads = max(1, new.num_recovery_threads_per_data_dir)
        if cluster is not None:
            cluster.reconfigure(old, new)

    def producer_state(old: BrokerConfig, new: BrokerConfig) -> None:
        log_manager.set_producer_id_expiration_ms(new.producer_id_expiration_ms)

    def flush(old: BrokerConfig, new: BrokerConfig) -> None:
        flush_schedule_changed()

    def throttles(old: BrokerConfig | None = None, new: BrokerConfig | None = None) -> None:
        layers = {**dynamic.default_layer, **dynamic.broker_layer}
        replica_manager.leader_throttle.set_rate(rate_of(layers, LEADER_RATE))
        replica_manager.follower_throttle.set_rate(rate_of(layers, FOLLOWER_RATE))

    throttles()  # the rates stored before this start
    dynamic.add_reconfigurable("broker config", (), follow)  # every change
    dynamic.add_reconfigurable("log defaults", LOG_DEFAULT_KEYS, log_defaults)
    dynamic.add_reconfigurable("log cleaner", CLEANER_CONFIGS, cleaner, validate_cleaner)
    dynamic.add_reconfigurable("thread pools", THREAD_POOL_CONFIGS, threads, validate_threads)
    dynamic.add_reconfigurable("producer state", {"producer.id.expiration.ms"}, producer_state)
    dynamic.add_reconfigurable("log flusher", FLUSH_KEYS, flush)
    dynamic.add_reconfigurable("replication throttles", {LEADER_RATE, FOLLOWER_RATE}, throttles)
