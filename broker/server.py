"""The broker process: assembles the components, runs listeners and background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from broker.cluster_node import ClusterNode, ClusterStartupError
from broker.config.broker_config import BrokerConfig
from broker.config.dynamic_broker_config import DynamicBrokerConfig
from broker.dynamic_reconfiguration import cleaner_config, install_reconfigurables
from broker.group.coordinator import GroupCoordinator
from broker.handlers import register_all
from broker.http.console import Console
from broker.http.console import install as install_console
from broker.http.console.endpoints import console_identity
from broker.http.security import BasicAuthenticator, build_http_ssl_context
from broker.http.server import HttpListener, metrics_registry
from broker.metrics.collector import BrokerCollector, BrokerView
from broker.metrics.consumer_lag import ConsumerLagCollector
from broker.metrics.remote_offsets import RemoteHighWatermarks
from broker.metrics.stats import EventLoopLag, UncountedTopicStats
from broker.network.dispatch import RequestDispatcher
from broker.network.listener import Listener
from broker.network.request_budget import RequestBudget
from broker.open_files import (
    HOW_TO_RAISE,
    exhausted_message,
    is_exhausted,
    raise_open_file_limit,
)
from broker.partition_limits import (
    FD_RESERVE,
    PartitionLimits,
    open_file_count,
    open_file_limit,
)
from broker.producer_ids import ProducerIdManager
from broker.quota.entities import EntityConfigSource
from broker.quota.manager import QuotaManagers, QuotaSettings
from broker.replica.local_leadership import LocalLeadership
from broker.replica.replica_manager import ReplicaManager
from broker.replica.replication_quota import FollowerSide
from broker.security.auth_helper import RequestAuthorizer
from broker.security.authorizer import AclAuthorizer, parse_super_users
from broker.security.channel import build_listener_security_async
from broker.security.credentials import ScramCredentialStore
from broker.security.tls_reload import ListenerTlsReloader
from broker.services import BrokerServices
from broker.topic_manager import INTERNAL_TOPICS, TopicManager
from broker.transaction.coordinator import TransactionCoordinator
from broker.transaction.marker_channel import TxnMarkerChannelManager
from broker.transaction.markers import TxnMarkerWriter
from broker.transaction.verification import TxnPartitionVerifier
from cluster.acl_store import AclStore, StandaloneAclStore
from cluster.broker_client import BrokerClients
from cluster.metadata import BrokerEndpoint, BrokerRegistration, MetadataStore
from cluster.standalone import StandaloneMetadataStore
from cluster.zk_acl_store import ZkAclStore
from protocol.errors import KafkaError
from storage.clock import Clock, SystemClock
from storage.log import parse_partition_dir_name
from storage.log_dir_failure import LogDirFailureChannel
from storage.log_manager import LogManager

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_S = 10.0
ALL_DIRS_FAILED_GRACE_S = 1.0


class KafkaBroker:
    """One Josef broker: listeners, replica manager, metadata and background jobs."""

    def __init__(self, config: BrokerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.broker_id = config.broker_id if config.broker_id >= 0 else 0
        self.listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._flush_schedule = asyncio.Event()
        self.services: BrokerServices | None = None
        self._marker_channel: TxnMarkerChannelManager | None = None
        self.cluster: ClusterNode | None = None
        self.endpoints: tuple[BrokerEndpoint, ...] = ()
        self.request_budget = RequestBudget(config.queued_max_request_bytes)
        #: Process exit status: 1 when every log dir failed (Kafka halts with 1 then).
        self.exit_code = 0
        self.log_dir_failures = LogDirFailureChannel()
        self.loop_lag = EventLoopLag()
        self.http: HttpListener | None = None
        self.metrics_view: BrokerView | None = None
        self._remote_hws: RemoteHighWatermarks | None = None
        #: Logs loaded and (cluster) registered: what /v1/ready reports.
        self.ready = False

    # -- start ---------------------------------------------------------------
    async def start(self) -> None:
        config = self.config
        log_dirs = [p.resolve() for p in config.log_dirs]
        for d in log_dirs:
            d.mkdir(parents=True, exist_ok=True)

        # Listeners bind first so port 0 resolves before we advertise endpoints.
        from broker.network.dispatch import Registry

        registry = Registry()
        dispatcher = RequestDispatcher(registry, metrics_enabled=config.josef_metrics_enabled)
        self.request_budget = RequestBudget(config.queued_max_request_bytes)
        scram_credentials = ScramCredentialStore()
        security = await build_listener_security_async(config, scram_credentials)
        for lst in config.listeners:
            listener = Listener(
                lst.name,
                lst.security_protocol,
                lst.host,
                lst.port,
                dispatcher,
                config.socket_request_max_bytes,
                config.connections_max_idle_ms,
                backlog=config.socket_listen_backlog_size,
                send_buffer_bytes=config.socket_send_buffer_bytes,
                receive_buffer_bytes=config.socket_receive_buffer_bytes,
                security=security[lst.name],
                request_budget=self.request_budget,
                receive_timeout_ms=config.josef_request_receive_timeout_ms,
            )
            self.listeners.append(listener)
        bound = {}
        for listener in self.listeners:
            await listener.start_server_only()
            bound[listener.name] = listener.port
        # Health answers while the logs load; readiness waits for the end of start().
        await self._start_http(dispatcher, scram_credentials)
        endpoints = []
        for adv in config.advertised_listeners:
            host = adv.host or socket.getfqdn()
            port = adv.port or bound.get(adv.name, adv.port)
            endpoints.append(BrokerEndpoint(adv.name, adv.security_protocol, host, port))
        self.endpoints = tuple(endpoints)

        cluster: ClusterNode | None = None
        metadata: MetadataStore
        entity_configs: EntityConfigSource
        acl_store: AclStore
        if config.standalone:
            registration = BrokerRegistration(self.broker_id, self.endpoints, config.broker_rack)
            standalone = StandaloneMetadataStore(
                log_dirs[0], registration, config.josef_cluster_id
            )
            await asyncio.to_thread(standalone.load)
            metadata = entity_configs = standalone
            config_source = _topic_configs(metadata)
            acl_store = StandaloneAclStore(standalone)
        else:
            cluster = ClusterNode(config, self.clock, INTERNAL_TOPICS)
            self.cluster = cluster
            zk_store = await cluster.connect(log_dirs)
            self.broker_id = cluster.broker_id
            # Logs on disk are opened with their topics' configs, as Kafka reads them.
            await zk_store.prepare_topics(sorted(_topics_on_disk(log_dirs)))
            metadata = entity_configs = zk_store
            # Configs from /config/topics, before the controller's metadata names the topic.
            config_source = zk_store.topic_configs
            acl_store = ZkAclStore(cluster.zk)
        # Dynamic broker configs (KIP-226) apply before any component is built, as in Kafka.
        dynamic = DynamicBrokerConfig(config, self.broker_id, metadata)
        static_config, config = config, dynamic.load()
        # Key stores set dynamically (listener.name.<l>.ssl.keystore.*) replace the static ones.
        tls_reloader = ListenerTlsReloader(security)
        await asyncio.to_thread(tls_reloader.start, static_config, config)
        if cluster is not None:
            cluster.config = config
        defaults = config.log_config_defaults()
        scram_credentials.attach(metadata)
        auth = await _start_authorizer(config, acl_store)
        quotas = QuotaManagers(
            entity_configs,
            QuotaSettings(config.quota_window_num, config.quota_window_size_seconds),
            self.clock,
        )
        metadata.subscribe(quotas.on_metadata_event)
        dispatcher.quotas = quotas
        loop = asyncio.get_running_loop()

        def on_failure(log_dir: Path, reason: str) -> None:  # any thread
            loop.call_soon_threadsafe(self._on_log_dir_failure, log_dir, reason)

        self.log_dir_failures.add_listener(on_failure)
        log_manager = LogManager(
            log_dirs,
            defaults,
            self.clock,
            recovery_threads=config.num_recovery_threads_per_data_dir,
            producer_id_expiration_ms=config.producer_id_expiration_ms,
            failure_channel=self.log_dir_failures,
        )
        replica_manager = ReplicaManager(
            self.broker_id,
            log_manager,
            self.clock,
            defaults,
            topic_configs=config_source,
            replica_lag_time_max_ms=config.replica_lag_time_max_ms,
        )
        if not config.josef_metrics_enabled:
            replica_manager.topic_stats = UncountedTopicStats()
        if cluster is not None:
            cluster.build_replication(
                replica_manager,
                FollowerSide(replica_manager.follower_throttle, replica_manager.follower_throttled),
            )
            replica_manager.isr_updater = cluster.alter_partition
            replica_manager.replica_eligible = cluster.is_broker_alive
            replica_manager.follower_fetching = cluster.fetchers
        topic_configs = {
            name: replica_manager.log_config_for(name) for name in _topics_on_disk(log_dirs)
        }
        await asyncio.to_thread(
            functools.partial(
                log_manager.load,
                topic_configs,
                broker_id=self.broker_id,
                cluster_id=metadata.cluster_id,
            )
        )
        metadata.subscribe(replica_manager.on_metadata_event)
        if cluster is None:
            LocalLeadership(metadata, replica_manager).start()
        _warn_if_few_descriptors_left(len(replica_manager.partitions))
        # Compaction runs in its own threads (log.cleaner.threads), never on this loop.
        log_manager.start_cleaner(cleaner_config(config))
        topic_manager = TopicManager(
            metadata,
            replica_manager,
            config.num_partitions,
            config.default_replication_factor,
            config.delete_topic_enable,
            PartitionLimits(config.josef_max_partitions, lambda: len(replica_manager.partitions)),
            standalone=cluster is None,
        )
        services = BrokerServices(
            broker_id=self.broker_id,
            config=config,
            clock=self.clock,
            metadata=metadata,
            log_manager=log_manager,
            replica_manager=replica_manager,
            topic_manager=topic_manager,
            producer_ids=ProducerIdManager(metadata),
            auto_create_topics=config.auto_create_topics_enable,
            registry=registry,
            cluster=cluster,
            scram_credentials=scram_credentials,
            auth=auth,
            quotas=quotas,
            dynamic_config=dynamic,
        )
        services.group_coordinator = GroupCoordinator(
            config, self.clock, replica_manager, topic_manager
        )
        markers = TxnMarkerWriter(
            replica_manager, self.clock, group_coordinator=services.group_coordinator
        )
        markers.leader_of = _leader_of(metadata)
        if cluster is not None:
            self._marker_channel = TxnMarkerChannelManager(self.broker_id, cluster.endpoint_of)
            markers.remote = self._marker_channel.send
        services.transaction_coordinator = TransactionCoordinator(
            config, self.clock, replica_manager, topic_manager, services.producer_ids, markers
        )
        services.txn_verifier = TxnPartitionVerifier(
            self.broker_id,
            services.transaction_coordinator,
            metadata,
            cluster.endpoint_of if cluster is not None else None,
        )
        register_all(services)
        self.services = services
        if self.metrics_view is not None and self.http is not None:
            self.metrics_view.services = services
            lag = ConsumerLagCollector(services, self.metrics_view)
            if cluster is not None:
                # Lag of committed partitions led elsewhere: their leaders' high watermarks.
                clients = BrokerClients(
                    cluster.endpoint_of, f"broker-{self.broker_id}-consumer-lag", 5.0
                )
                lag.remote = self._remote_hws = RemoteHighWatermarks(
                    self.broker_id, metadata, clients, lag.wanted, committed=lag.committed
                )
                self.http.before_scrape.append(self._remote_hws.refresh)
            self.http.registry.register(lag)
        install_reconfigurables(dynamic, services, cluster, self._flush_schedule.set)
        # Every change: a listener prefix may be written in any case (the reloader rebuilds a
        # context only when a listener's TLS settings or store files changed).
        dynamic.add_reconfigurable(
            "listener TLS", (), tls_reloader.reconfigure, tls_reloader.validate
        )
        dynamic.add_file_reloader(tls_reloader.reload_files)
        metadata.subscribe(dynamic.on_metadata_event)
        await services.group_coordinator.startup()
        await services.transaction_coordinator.startup()
        for listener in self.listeners:
            await listener.start_serving()
        if cluster is not None:
            # Registered only once serving: the controller talks to us right away.
            epoch = await cluster.register(self.endpoints)
            log.info("broker %d joined cluster %s (broker epoch %d)", self.broker_id,
                     metadata.cluster_id, epoch)
        self._schedule(
            "offsets-retention",
            config.offsets_retention_check_interval_ms,
            services.group_coordinator.cleanup_expired_offsets,
        )
        self._schedule(
            "transaction-abort",
            config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            services.transaction_coordinator.abort_timed_out_transactions,
        )
        self._schedule(
            "transactional-id-expiration",
            config.transaction_remove_expired_transaction_cleanup_interval_ms,
            services.transaction_coordinator.remove_expired_transactional_ids,
        )
        self._schedule("log-retention", config.log_retention_check_interval_ms, self._retention)
        # Kafka flushes on time only from the scheduler; run it at least as often as
        # log.flush.interval.ms so that key works on its own (and follow it when it changes
        # at run time).
        self._schedule("log-flusher", self._flush_interval_ms, self._flush, self._flush_schedule)
        self._schedule(
            "recovery-point-checkpoint",
            config.log_flush_offset_checkpoint_interval_ms,
            self._checkpoint,
        )
        self._schedule(
            "log-start-offset-checkpoint",
            config.log_flush_start_offset_checkpoint_interval_ms,
            self._checkpoint_start_offsets,
        )
        self._schedule(
            "highwatermark-checkpoint",
            config.replica_high_watermark_checkpoint_interval_ms,
            self._checkpoint_high_watermarks,
        )
        self._schedule("delete-logs", 1000, self._delete_pending)
        self._schedule(
            "isr-expiration", max(1, config.replica_lag_time_max_ms // 2), self._isr_expiration
        )
        self.ready = True
        log.info(
            "Josef broker %d started (cluster id %s), %d partition(s) in %s",
            self.broker_id,
            metadata.cluster_id,
            len(replica_manager.partitions),
            ", ".join(str(d) for d in log_dirs),
        )

    async def _start_http(
        self, dispatcher: RequestDispatcher, scram_credentials: ScramCredentialStore
    ) -> None:
        """The HTTP listener (josef.http.listeners) and the event-loop lag probe."""
        self.loop_lag.start()
        endpoints = self.config.http_listeners
        if not endpoints:
            return
        ssl_context = await asyncio.to_thread(build_http_ssl_context, self.config)
        authenticator = None
        if self.config.josef_http_authentication == "basic":
            authenticator = BasicAuthenticator(
                scram_credentials,
                self._plain_users,
                self.config.connection_failed_authentication_delay_ms / 1000.0,
            )
        view = BrokerView(
            broker_id=self.broker_id,
            max_partition_labels=self.config.josef_metrics_max_partition_labels,
            request_metrics=dispatcher.metrics,
            loop_lag=self.loop_lag,
            connection_counts=lambda: {lst.name: len(lst.connections) for lst in self.listeners},
            connection_totals=lambda: {
                lst.name: (lst.connections_created, lst.connections_closed)
                for lst in self.listeners
            },
        )
        self.metrics_view = view
        registry = metrics_registry([BrokerCollector(view)])
        identity = await asyncio.to_thread(
            console_identity, self.config, self.listeners, authenticator is not None
        )
        if authenticator is not None and not identity.per_user:
            log.warning(
                "josef.http.authentication=basic, but no SASL listener offers PLAIN or SCRAM "
                "to the web console: %s", identity.describe()
            )
        else:
            log.info("%s", identity.describe())
        # destructive console actions: loopback-only listeners, or users who authenticated
        console = Console(
            identity.plaintext, endpoints, auth_enabled=authenticator is not None,
            identity=identity,
        )
        self.http = HttpListener(
            endpoints,
            registry,
            self.not_ready_reason,
            self.failed_reason,
            routes=[lambda app: install_console(app, console)],
            ssl_context=ssl_context,
            authenticator=authenticator,
        )
        await self.http.start()

    def _plain_users(self) -> dict[str, str]:
        """PLAIN users of every SASL listener's JAAS config (HTTP Basic authentication)."""
        users: dict[str, str] = {}
        for listener in self.listeners:
            sasl = listener.security.sasl if listener.security is not None else None
            if sasl is not None and "PLAIN" in sasl.mechanisms:
                users.update(sasl.plain_users)
        return users

    def not_ready_reason(self) -> str | None:
        """Why /v1/ready answers 503, or None when the broker is ready."""
        if self._stopping.is_set():
            return "shutting down"
        if not self.ready:
            return "starting: loading logs" if self.services is None else "starting"
        failed = self.failed_reason()
        if failed is not None:
            return failed
        cluster = self.cluster
        if cluster is not None and not cluster.zk.connected:
            return "not connected to ZooKeeper"
        return None

    def failed_reason(self) -> str | None:
        """Why /v1/health answers 503 (every log dir failed), or None."""
        services = self.services
        if services is not None and not services.log_manager.live_log_dirs:
            return "all log dirs have failed"
        return None

    def _on_log_dir_failure(self, log_dir: Path, reason: str) -> None:
        """On the loop, after the LogManager closed the dir's logs (storage.log_dir_failure)."""
        services = self.services
        if services is not None:
            offline = services.replica_manager.handle_log_dir_failure(log_dir)
            log.warning(
                "stopped serving %d partition(s) in failed log dir %s (%s); a restart "
                "recovers them once the disk is usable again",
                len(offline),
                log_dir,
                reason,
            )
            # Cluster mode: tell the controller here (Kafka's /log_dir_event_notification
            # znode), so that it moves leadership of ``offline`` to other replicas.
        live = services.log_manager.live_log_dirs if services is not None else None
        if live is not None and not live and not self._stopping.is_set():
            log.error(
                "shutting down broker %d because all log dirs in %s have failed",
                self.broker_id,
                ", ".join(str(d) for d in self.config.log_dirs),
            )
            self.exit_code = 1
            # A moment for the answers already sent (KAFKA_STORAGE_ERROR) to be read before
            # the connections close: kafka-python 3.0 drops a response that arrives in the
            # same read as the end of the stream.
            asyncio.get_running_loop().call_later(ALL_DIRS_FAILED_GRACE_S, self.request_stop)

    def _schedule(
        self,
        name: str,
        interval_ms: int | Callable[[], int],
        job: Callable[[], Awaitable[None]],
        changed: asyncio.Event | None = None,
    ) -> None:
        """Run ``job`` every ``interval_ms`` (never when <= 0 or "forever"). A callable
        interval is read again whenever ``changed`` is set (a dynamic broker config)."""
        interval = interval_ms if callable(interval_ms) else (lambda: interval_ms)
        if changed is None and not 0 < interval() < 2**62:
            return

        async def runner() -> None:
            while True:
                every = interval()
                wait = every / 1000.0 if 0 < every < 2**62 else None
                if changed is None:
                    assert wait is not None
                    await asyncio.sleep(wait)
                else:
                    changed.clear()
                    try:
                        await asyncio.wait_for(changed.wait(), wait)
                        continue  # a new interval: start again from now
                    except TimeoutError:
                        pass
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background job %s failed", name)

        self._tasks.append(asyncio.get_running_loop().create_task(runner(), name=name))

    def _flush_interval_ms(self) -> int:
        config = self.services.config if self.services is not None else self.config
        return int(min(config.log_flush_scheduler_interval_ms, config.log_flush_interval_ms))

    async def _retention(self) -> None:
        assert self.services is not None
        lm = self.services.log_manager
        await asyncio.to_thread(lm.cleanup_logs, self.clock.milliseconds())

    async def _flush(self) -> None:
        assert self.services is not None
        await asyncio.to_thread(self.services.log_manager.flush_dirty_logs)

    async def _checkpoint(self) -> None:
        assert self.services is not None
        await asyncio.to_thread(self.services.log_manager.checkpoint_recovery_points)

    async def _checkpoint_start_offsets(self) -> None:
        assert self.services is not None
        await asyncio.to_thread(self.services.log_manager.checkpoint_log_start_offsets)

    async def _checkpoint_high_watermarks(self) -> None:
        assert self.services is not None
        await asyncio.to_thread(self.services.log_manager.checkpoint_high_watermarks)

    async def _isr_expiration(self) -> None:
        assert self.services is not None
        self.services.replica_manager.maybe_shrink_isrs()

    async def _delete_pending(self) -> None:
        assert self.services is not None
        await asyncio.to_thread(self.services.log_manager.delete_pending_dirs)

    # -- stop ----------------------------------------------------------------
    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def shutdown(self) -> None:
        log.info("shutting down broker %d", self.broker_id)
        self._stopping.set()  # /v1/ready answers 503 from now on
        cluster = self.cluster
        if cluster is not None and self.services is not None:
            # Move leadership away while still serving, so clients just follow it.
            await cluster.controlled_shutdown()
        for listener in self.listeners:
            listener.stop_accepting()
        if self.services is not None:
            self.services.replica_manager.shutdown_partitions()
            if self.services.group_coordinator is not None:
                self.services.group_coordinator.shutdown()
            if self.services.transaction_coordinator is not None:
                self.services.transaction_coordinator.shutdown()
        if self._marker_channel is not None:
            await self._marker_channel.close()
        if self.services is not None and self.services.txn_verifier is not None:
            await self.services.txn_verifier.close()
        if self._remote_hws is not None:
            await self._remote_hws.close()
        await asyncio.gather(*(lst.drain(SHUTDOWN_DRAIN_S) for lst in self.listeners))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.services is not None and self.services.auth.authorizer is not None:
            await self.services.auth.authorizer.close()  # its watches, before ZooKeeper goes
        if cluster is not None:
            await cluster.shutdown_replication()
            # Leave the cluster before the slow local part (flushing every log): a
            # controller resigning only after it would leave the cluster without one,
            # and this broker registered but silent, for seconds (ISR changes and
            # high watermarks waiting on it). It leads nothing any more.
            await cluster.close()
        if self.services is not None:
            await asyncio.to_thread(self.services.log_manager.shutdown)
            await self.services.metadata.close()
        offline = self.log_dir_failures.offline_dirs()
        if offline:
            log.warning(
                "broker %d shut down; offline log dir(s) %s get recovered at the next start",
                self.broker_id,
                ", ".join(str(d) for d in offline),
            )
        else:
            log.info("broker %d shut down cleanly", self.broker_id)
        if self.http is not None:
            await self.http.stop()
        await self.loop_lag.stop()


def _warn_if_few_descriptors_left(partitions: int) -> None:
    used, limit = open_file_count(), open_file_limit()
    if used + FD_RESERVE > limit:
        log.warning(
            "%d of %d descriptors in use after loading %d partition(s): new partitions will "
            "be refused and clients may fail to connect; %s",
            used,
            limit,
            partitions,
            HOW_TO_RAISE,
        )


async def _start_authorizer(config: BrokerConfig, store: AclStore) -> RequestAuthorizer:
    """The ACL authorizer named by authorizer.class.name (none when it is empty)."""
    if not (config.authorizer_class_name or "").strip():
        return RequestAuthorizer()
    authorizer = AclAuthorizer(
        store,
        parse_super_users(config.super_users),
        config.allow_everyone_if_no_acl_found,
    )
    await authorizer.start()
    return RequestAuthorizer(authorizer)


def _topics_on_disk(log_dirs: list[Path]) -> set[str]:
    names: set[str] = set()
    for d in log_dirs:
        if not d.exists():
            continue
        for child in d.iterdir():
            parsed = parse_partition_dir_name(child.name) if child.is_dir() else None
            if parsed is not None:
                names.add(parsed[0])
    return names


def _leader_of(metadata: MetadataStore) -> Callable[[str, int], int | None]:
    """Leader of a partition per the metadata (-1 while none; None once deleted)."""

    def leader(topic: str, index: int) -> int | None:
        md = metadata.topic(topic)
        if md is None:
            return None
        state = md.partitions.get(index)
        return None if state is None else state.leader

    return leader


def _topic_configs(metadata: MetadataStore) -> Callable[[str], dict[str, str] | None]:
    def configs(name: str) -> dict[str, str] | None:
        topic = metadata.topic(name)
        return topic.configs if topic is not None else None

    return configs


async def _main(config: BrokerConfig) -> int:
    broker = KafkaBroker(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, broker.request_stop)
    try:
        await broker.start()
    except Exception as exc:
        if is_exhausted(exc):
            # One line, no traceback: the operator's fix is the limit, not the code.
            log.error("broker failed to start: %s", exhausted_message("while loading the logs"))
        elif isinstance(exc, (ClusterStartupError, KafkaError)):
            log.error("broker failed to start: %s", exc)
        else:
            log.exception("broker failed to start")
        await broker.shutdown()
        return 1
    await broker.wait_stopped()
    await broker.shutdown()
    return broker.exit_code


def run_broker(config: BrokerConfig) -> int:
    """Run a broker until SIGTERM/SIGINT; returns the process exit status."""
    raise_open_file_limit()
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_main(config))
