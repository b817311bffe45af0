"""ClusterNode: this broker's membership of a ZooKeeper-coordinated cluster.

The ZooKeeper part of Kafka's KafkaServer: connect to the ensemble (``zookeeper.connect``,
chroot created if missing), read or create the cluster id, settle the broker id
(configured, kept in meta.properties, or generated through ``/brokers/seqid``), register
``/brokers/ids/<id>`` (its czxid is the broker epoch) and keep it registered across
session expiry, run this broker's controller candidate, and give the replica manager its
cluster-side collaborators: the replica fetchers and the AlterPartition channel to the
controller. On shutdown it asks the controller to move leadership away first (controlled
shutdown) so clients see no errors during a rolling restart.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kio.schema.errors import ErrorCode

from broker.config.broker_config import BrokerConfig
from cluster.alter_partition_manager import AlterPartitionManager
from cluster.broker_client import BrokerClient
from cluster.controller.api import KafkaController
from cluster.controller.config import UNCLEAN_LEADER_ELECTION_ENABLE, ControllerConfig
from cluster.controller.wire import broker_channel_factory
from cluster.metadata import (
    BrokerEndpoint,
    BrokerRegistration,
    MetadataEvent,
    TopicConfigChanged,
)
from cluster.metadata_cache import PartitionUpdate
from cluster.replica_fetcher import (
    FetcherConfig,
    FollowerLogs,
    FollowerThrottle,
    ReplicaFetcherManager,
)
from cluster.zk import paths
from cluster.zk.client import SessionEvent, SessionState, ZkClient
from cluster.zk.errors import ConnectTimeoutError, ZooKeeperError
from cluster.zk.registration import (
    BrokerRegistrar,
    create_top_level_paths,
    generate_broker_id,
    get_or_create_cluster_id,
)
from cluster.zk.znodes import BrokerInfo
from cluster.zk_metadata_store import ZooKeeperMetadataStore
from protocol.codec import request_schema
from storage.clock import Clock
from storage.log_manager import read_properties

log = logging.getLogger(__name__)

META_PROPERTIES = "meta.properties"


class ClusterStartupError(Exception):
    """The broker cannot join the cluster (ZooKeeper unreachable, conflicting ids...)."""


class ClusterNode:
    """The broker's ZooKeeper session, registration, controller and replication channels."""

    def __init__(self, config: BrokerConfig, clock: Clock, internal_topics: frozenset[str]):
        assert config.zookeeper_connect is not None
        self.config = config
        self.clock = clock
        self.internal_topics = internal_topics
        self.zk = ZkClient(
            config.zookeeper_connect,
            session_timeout_ms=config.zookeeper_session_timeout_ms,
            connection_timeout_ms=config.zookeeper_connection_timeout_ms,
        )
        self.broker_id = config.broker_id
        self.cluster_id = ""
        self.store: ZooKeeperMetadataStore | None = None
        self.registrar: BrokerRegistrar | None = None
        self._broker_epoch = -1
        self.fetchers: ReplicaFetcherManager | None = None
        self.alter_partition: AlterPartitionManager | None = None
        self._controller: KafkaController | None = None
        self._controller_client: BrokerClient | None = None
        self._controller_client_id = -1
        self._session_listener: Any = None
        self._suspended = False

    # -- joining ---------------------------------------------------------------------

    async def connect(self, log_dirs: list[Path]) -> ZooKeeperMetadataStore:
        """Connect to ZooKeeper, settle cluster and broker ids; returns the metadata store."""
        try:
            await self.zk.start()
        except (ConnectTimeoutError, TimeoutError) as exc:
            raise ClusterStartupError(
                f"cannot reach ZooKeeper at {self.config.zookeeper_connect} within "
                f"zookeeper.connection.timeout.ms={self.config.zookeeper_connection_timeout_ms}"
                f" ({exc})"
            ) from exc
        except ZooKeeperError as exc:
            raise ClusterStartupError(
                f"cannot connect to ZooKeeper at {self.config.zookeeper_connect}: {exc}"
            ) from exc
        await create_top_level_paths(self.zk)
        self.cluster_id = await get_or_create_cluster_id(self.zk)
        self._check_meta_properties(log_dirs)
        if self.broker_id < 0:
            stored = self._stored_broker_id(log_dirs)
            if stored is not None:
                self.broker_id = stored
            else:
                self.broker_id = await generate_broker_id(
                    self.zk, self.config.reserved_broker_max_id
                )
                log.info("generated broker id %d", self.broker_id)
        self.store = ZooKeeperMetadataStore(
            self.zk, self.broker_id, self.cluster_id, self.internal_topics
        )
        await self.store.start()
        self._session_listener = self.zk.add_session_listener(self._on_session)
        return self.store

    def _check_meta_properties(self, log_dirs: list[Path]) -> None:
        for d in log_dirs:
            path = d / META_PROPERTIES
            if not path.exists():
                continue
            props = read_properties(path)
            found = props.get("cluster.id")
            if found is not None and found != self.cluster_id:
                raise ClusterStartupError(
                    f"the cluster id {self.cluster_id} in ZooKeeper "
                    f"({self.config.zookeeper_connect}) does not match the cluster id {found} "
                    f"in {path}: this data directory belongs to another cluster"
                )
            stored = props.get("broker.id")
            if stored is not None and self.broker_id >= 0 and stored != str(self.broker_id):
                raise ClusterStartupError(
                    f"broker.id={self.broker_id} does not match broker.id={stored} in {path}: "
                    "this data directory belongs to another broker"
                )

    @staticmethod
    def _stored_broker_id(log_dirs: list[Path]) -> int | None:
        for d in log_dirs:
            path = d / META_PROPERTIES
            if path.exists():
                value = read_properties(path).get("broker.id")
                if value is not None and value.strip().lstrip("-").isdigit():
                    return int(value)
        return None

    def build_replication(
        self, follower_logs: FollowerLogs, throttle: FollowerThrottle | None = None
    ) -> None:
        """The fetchers and the ISR channel the replica manager needs (before roles arrive)."""
        c = self.config
        self.fetchers = ReplicaFetcherManager(
            FetcherConfig(
                broker_id=self.broker_id,
                num_fetchers=c.num_replica_fetchers,
                fetch_max_bytes=c.replica_fetch_max_bytes,
                fetch_response_max_bytes=c.replica_fetch_response_max_bytes,
                fetch_min_bytes=c.replica_fetch_min_bytes,
                fetch_wait_max_ms=c.replica_fetch_wait_max_ms,
                fetch_backoff_ms=c.replica_fetch_backoff_ms,
                socket_timeout_ms=c.replica_socket_timeout_ms,
            ),
            follower_logs,
            self.endpoint_of,
            lambda host, port: BrokerClient(
                host, port, client_id=f"broker-{self.broker_id}-fetcher-0"
            ),
            lambda: self._broker_epoch,
            throttle,
        )
        self.alter_partition = AlterPartitionManager(
            self.broker_id,
            lambda: self._broker_epoch,
            self.controller_client,
            timeout_s=c.controller_socket_timeout_ms / 1000.0,
        )

    async def register(self, endpoints: tuple[BrokerEndpoint, ...]) -> int:
        """Register ``/brokers/ids/<id>``; start this broker's controller candidate."""
        info = BrokerInfo(self.broker_id, endpoints, self.config.broker_rack)
        self.registrar = BrokerRegistrar(self.zk, info)
        try:
            self._broker_epoch = await self.registrar.register()
        except ZooKeeperError as exc:
            raise ClusterStartupError(str(exc)) from exc
        self.registrar.keep_registered(self._on_reregistered)
        self._controller = KafkaController(
            self.broker_id,
            self.zk,
            self._controller_config(),
            broker_channel_factory(self.broker_id, self.config.inter_broker_listener_name),
            self.clock,
        )
        await self._controller.startup()
        assert self.store is not None
        self.store.subscribe(self._on_metadata_event)
        return self._broker_epoch

    def _on_metadata_event(self, event: MetadataEvent) -> None:
        # Kafka's TopicConfigHandler: once a topic allows unclean elections, the controller
        # elects leaders for its leaderless partitions at once.
        if not isinstance(event, TopicConfigChanged) or self._controller is None:
            return
        value = event.topic.configs.get(UNCLEAN_LEADER_ELECTION_ENABLE, "")
        if value.strip().lower() == "true":
            self._controller.enable_topic_unclean_leader_election(event.topic.name)

    def _controller_config(self) -> ControllerConfig:
        c = self.config
        return ControllerConfig(
            controlled_shutdown_enable=c.controlled_shutdown_enable,
            auto_leader_rebalance_enable=c.auto_leader_rebalance_enable,
            leader_imbalance_check_interval_seconds=c.leader_imbalance_check_interval_seconds,
            leader_imbalance_per_broker_percentage=c.leader_imbalance_per_broker_percentage,
            unclean_leader_election_enable=c.unclean_leader_election_enable,
            controller_socket_timeout_ms=c.controller_socket_timeout_ms,
            delete_topic_enable=c.delete_topic_enable,
            default_replication_factor=c.default_replication_factor,
            min_insync_replicas=c.min_insync_replicas,
            inter_broker_listener_name=c.inter_broker_listener_name,
        )

    def reconfigure(self, old: BrokerConfig, new: BrokerConfig) -> None:
        """Dynamic broker configs changed (KIP-226): the controller candidate takes the new
        defaults (unclean.leader.election.enable, min.insync.replicas; turning unclean
        election on elects leaders where only that was missing, as Kafka's
        DynamicLogConfig does) and the fetchers the new num.replica.fetchers."""
        self.config = new
        controller = self._controller
        if controller is not None:
            controller.reconfigure(self._controller_config())
            if new.unclean_leader_election_enable and not old.unclean_leader_election_enable:
                controller.enable_default_unclean_leader_election()
        if self.fetchers is not None:
            self.fetchers.resize(new.num_replica_fetchers)

    def _on_reregistered(self, epoch: int) -> None:
        log.info("broker %d re-registered with broker epoch %d", self.broker_id, epoch)
        self._broker_epoch = epoch

    def _on_session(self, event: SessionEvent) -> None:
        if event.state is SessionState.CONNECTED:
            if self._suspended:
                log.info("ZooKeeper connection restored")
            self._suspended = False
        elif event.state in (SessionState.SUSPENDED, SessionState.EXPIRED):
            if not self._suspended:
                log.warning("ZooKeeper connection %s", event.state.name.lower())
            self._suspended = True

    # -- what handlers and the replica side use --------------------------------------

    @property
    def broker_epoch(self) -> int:
        return self._broker_epoch

    @property
    def controller(self) -> KafkaController | None:
        return self._controller

    def check_controller(self, controller_id: int, controller_epoch: int) -> ErrorCode:
        assert self.store is not None
        if controller_epoch < self.store.cache.controller_epoch:
            log.info(
                "request from controller %d at stale epoch %d (current %d)",
                controller_id,
                controller_epoch,
                self.store.cache.controller_epoch,
            )
            return ErrorCode.stale_controller_epoch
        return ErrorCode.none

    async def prepare_topics(self, names: list[str]) -> None:
        assert self.store is not None
        await self.store.prepare_topics(names)

    def apply_update_metadata(
        self,
        controller_id: int,
        controller_epoch: int,
        brokers: list[BrokerRegistration],
        partitions: list[PartitionUpdate],
    ) -> None:
        assert self.store is not None
        self.store.cache.update(controller_id, controller_epoch, brokers, partitions)

    def is_broker_alive(self, broker_id: int) -> bool:
        """Alive as the controller last told us (UpdateMetadata): Kafka's ZK-mode test of
        whether a follower may join an ISR or hold back a high watermark."""
        assert self.store is not None
        return broker_id in self.store.cache.brokers

    def endpoint_of(self, broker_id: int) -> tuple[str, int] | None:
        """Host and port of a broker's inter-broker listener."""
        assert self.store is not None
        reg = self.store.cache.brokers.get(broker_id) or self.store.registered_brokers().get(
            broker_id
        )
        if reg is None:
            return None
        name = self.config.inter_broker_listener_name
        endpoint = next((e for e in reg.endpoints if e.listener == name), None)
        return None if endpoint is None else (endpoint.host, endpoint.port)

    def controller_client(self) -> BrokerClient | None:
        """A connection to the active controller (None while none is known)."""
        assert self.store is not None
        controller_id = self.store.cache.controller_id
        if controller_id < 0 and self._controller is not None:
            controller_id = self._controller.active_controller_id
        if controller_id < 0:
            return None
        endpoint = self.endpoint_of(controller_id)
        if endpoint is None:
            return None
        client = self._controller_client
        if client is None or self._controller_client_id != controller_id or (
            (client.host, client.port) != endpoint
        ):
            if client is not None:
                asyncio.get_running_loop().create_task(client.close())
            client = BrokerClient(
                endpoint[0],
                endpoint[1],
                client_id=f"broker-{self.broker_id}-to-controller",
                request_timeout=self.config.controller_socket_timeout_ms / 1000.0,
            )
            self._controller_client = client
            self._controller_client_id = controller_id
        return client

    # -- leaving ---------------------------------------------------------------------

    async def controlled_shutdown(self) -> bool:
        """Ask the controller to move leadership off this broker (Kafka's controlled
        shutdown, controlled.shutdown.max.retries attempts); True when it succeeded."""
        c = self.config
        if not c.controlled_shutdown_enable or self._broker_epoch < 0:
            return False
        if not self.zk.connected:
            # The controller could not record any leadership move without ZooKeeper, and
            # our session (hence our registration) is in doubt: shut down at once.
            log.warning("controlled shutdown skipped: not connected to ZooKeeper")
            return False
        schema = request_schema(7, 3)
        for attempt in range(1, c.controlled_shutdown_max_retries + 1):
            client = self.controller_client()
            if client is None:
                log.info("controlled shutdown: no controller known (attempt %d)", attempt)
            else:
                try:
                    response = await client.send(
                        schema(broker_id=self.broker_id, broker_epoch=self._broker_epoch),
                        timeout=c.controller_socket_timeout_ms / 1000.0,
                    )
                    error = ErrorCode(response.error_code)
                    remaining = [(p.topic_name, p.partition_index) for p in
                                 response.remaining_partitions]
                    if error == ErrorCode.none and not remaining:
                        log.info("controlled shutdown succeeded")
                        return True
                    log.info(
                        "controlled shutdown attempt %d: %s, %d partition(s) still led here",
                        attempt,
                        error.name,
                        len(remaining),
                    )
                except Exception as exc:
                    log.info("controlled shutdown attempt %d failed: %s", attempt, exc)
            await asyncio.sleep(c.controlled_shutdown_retry_backoff_ms / 1000.0)
        log.warning("controlled shutdown did not complete; shutting down anyway")
        return False

    async def shutdown_replication(self) -> None:
        if self.fetchers is not None:
            await self.fetchers.shutdown()
        if self.alter_partition is not None:
            await self.alter_partition.shutdown()

    async def close(self) -> None:
        """Resign as controller, deregister (close the session), release connections."""
        # Bounded: with ZooKeeper gone the controller's resignation cannot complete.
        bound = self.config.zookeeper_session_timeout_ms / 1000.0
        if self._controller is not None:
            try:
                await asyncio.wait_for(self._controller.shutdown(), bound)
            except TimeoutError:
                log.warning("controller did not resign within %.0f s; leaving anyway", bound)
            except Exception:
                log.exception("controller shutdown failed")
        if self.registrar is not None:
            self.registrar.close()
        if self.store is not None:
            await self.store.close()
        if self._controller_client is not None:
            await self._controller_client.close()
        if self._session_listener is not None:
            self._session_listener()
        try:
            await asyncio.wait_for(self.zk.close(), bound)
        except TimeoutError:
            log.warning("closing the ZooKeeper session took longer than %.0f s", bound)
        log.info("left the cluster (ZooKeeper session closed, %s released)",
                 paths.broker(self.broker_id))
