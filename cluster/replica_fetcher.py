"""Replica fetchers: followers copy their leaders' logs (Kafka's ReplicaFetcherManager).

Each follower partition is assigned to one fetcher per (leader broker, fetcher index)
(``num.replica.fetchers``). A fetcher is one asyncio task that sends Fetch requests with
this broker's replica id and epoch to the leader's inter-broker endpoint, appends the
batches byte for byte (offsets, epochs and CRCs unchanged, so replicas hold identical
segments) and follows the leader's high watermark and log start offset.

Divergence is resolved in band (KIP-320 / KIP-595): every fetch carries the epoch of the
follower's last appended batch; a leader whose log does not contain that epoch up to the
fetch offset answers with a diverging epoch, and the follower truncates to the end of the
last epoch both logs share before fetching again. An out-of-range fetch offset is
resolved against the leader's log start and end offsets (Kafka's handleOutOfRangeError).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from protocol.codec import request_schema

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
FETCH_VERSION = 16
LIST_OFFSETS_VERSION = 7
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2


class FollowerReplica(Protocol):
    """What a fetcher needs of a local follower partition (broker.replica.Partition)."""

    topic: str
    partition: int
    topic_id: uuid.UUID
    leader_id: int
    leader_epoch: int

    @property
    def is_leader(self) -> bool: ...

    @property
    def log_end_offset(self) -> int: ...

    @property
    def log_start_offset(self) -> int: ...

    @property
    def high_watermark(self) -> int: ...

    def latest_epoch(self) -> int: ...

    def follower_end_offset_for_epoch(self, epoch: int) -> tuple[int, int]: ...

    def append_records_to_follower(
        self, batches: bytes, leader_high_watermark: int, leader_log_start_offset: int
    ) -> Any: ...


class FollowerLogs(Protocol):
    """Blocking log changes a fetcher asks the replica manager for (run off the loop)."""

    async def truncate_follower(self, replica: FollowerReplica, offset: int) -> None: ...

    async def reset_follower(self, replica: FollowerReplica, start_offset: int) -> None: ...

    async def after_follower_append(self, replica: FollowerReplica, info: Any) -> None: ...


class BrokerConnection(Protocol):
    """A connection to one broker (cluster.broker_client.BrokerClient)."""

    async def send(self, request: Any, *, timeout: float | None = None) -> Any: ...

    async def close(self) -> None: ...


class FollowerThrottle(Protocol):
    """The follower side of the replication throttle (KIP-73)."""

    def exceeded(self) -> bool: ...

    def record(self, size: int) -> None: ...

    def throttled(self, topic: str, partition: int) -> bool: ...


Endpoint = tuple[str, int]
EndpointLookup = Callable[[int], Endpoint | None]
ConnectionFactory = Callable[[str, int], BrokerConnection]


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    """The replica.fetch.* keys (Kafka's names and defaults)."""

    broker_id: int
    num_fetchers: int = 1
    fetch_max_bytes: int = 1_048_576  # replica.fetch.max.bytes (per partition)
    fetch_response_max_bytes: int = 10_485_760  # replica.fetch.response.max.bytes
    fetch_min_bytes: int = 1  # replica.fetch.min.bytes
    fetch_wait_max_ms: int = 500  # replica.fetch.wait.max.ms
    fetch_backoff_ms: int = 1_000  # replica.fetch.backoff.ms
    socket_timeout_ms: int = 30_000  # replica.socket.timeout.ms


@dataclass(slots=True)
class _FetchState:
    replica: FollowerReplica
    leader_epoch: int
    delayed_until: float = 0.0
    #: The last response left it at the leader's high watermark (Kafka: lag 0); a
    #: replica caught up is never throttled.
    caught_up: bool = False


class ReplicaFetcher:
    """Fetches every partition this broker follows from one leader broker."""

    def __init__(
        self,
        name: str,
        leader_id: int,
        config: FetcherConfig,
        logs: FollowerLogs,
        endpoint_of: EndpointLookup,
        connect: ConnectionFactory,
        broker_epoch: Callable[[], int],
        throttle: FollowerThrottle | None = None,
    ) -> None:
        self.name = name
        self.throttle = throttle
        self.leader_id = leader_id
        self.config = config
        self.logs = logs
        self.endpoint_of = endpoint_of
        self.connect = connect
        self.broker_epoch = broker_epoch
        self.partitions: dict[TopicPartition, _FetchState] = {}
        self._client: BrokerConnection | None = None
        self._endpoint: Endpoint | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy: set[TopicPartition] = set()

    # -- membership --------------------------------------------------------------------

    def add(self, replica: FollowerReplica) -> None:
        key = (replica.topic, replica.partition)
        self.partitions[key] = _FetchState(replica, replica.leader_epoch)
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def remove(self, key: TopicPartition) -> bool:
        return self.partitions.pop(key, None) is not None

    @property
    def idle(self) -> bool:
        return not self.partitions

    async def shutdown(self) -> None:
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("%s failed", self.name)
        await self._close_client()

    async def _close_client(self) -> None:
        client = self._client
        self._client = None
        self._endpoint = None
        if client is not None:
            try:
                await client.close()
            except Exception:
                log.debug("%s: closing the connection failed", self.name, exc_info=True)

    def _client_for_leader(self) -> BrokerConnection | None:
        endpoint = self.endpoint_of(self.leader_id)
        if endpoint is None:
            return None
        if self._client is None or endpoint != self._endpoint:
            if self._client is not None:
                asyncio.get_running_loop().create_task(self._close_client())
            self._client = self.connect(*endpoint)
            self._endpoint = endpoint
        return self._client

    # -- the fetch loop ----------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.config.fetch_backoff_ms / 1000.0
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            ready = {
                k: s
                for k, s in self.partitions.items()
                if s.delayed_until <= now and k not in self._busy
            }
            if not ready:
                self._wakeup.clear()
                wait = min(
                    (s.delayed_until - now for s in self.partitions.values()), default=None
                )
                try:
                    if wait is None or wait <= 0:
                        await self._wakeup.wait()
                    else:
                        await asyncio.wait_for(self._wakeup.wait(), wait)
                except TimeoutError:
                    pass
                continue
            client = self._client_for_leader()
            if client is None:
                self._delay(ready, backoff)
                continue
            ready = self._unthrottled(ready)
            if not ready:
                continue
            request = self._build_request(ready)
            try:
                response = await client.send(
                    request,
                    timeout=(self.config.socket_timeout_ms + self.config.fetch_wait_max_ms)
                    / 1000.0,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("%s: fetch from broker %d failed: %s", self.name, self.leader_id, exc)
                self._delay(ready, backoff)
                continue
            if response.error_code != ErrorCode.none:
                log.info("%s: fetch error %s", self.name, ErrorCode(response.error_code).name)
                self._delay(ready, backoff)
                continue
            await self._process_response(ready, response)

    def _unthrottled(
        self, ready: dict[TopicPartition, _FetchState]
    ) -> dict[TopicPartition, _FetchState]:
        """Leave out, for one fetch round, the throttled partitions not caught up while the
        follower's replication rate is above its bound (Kafka's shouldFollowerThrottle)."""
        throttle = self.throttle
        if throttle is None or not throttle.exceeded():
            return ready
        held = {
            k: s for k, s in ready.items() if not s.caught_up and throttle.throttled(*k)
        }
        if not held:
            return ready
        self._delay(held, self.config.fetch_wait_max_ms / 1000.0)
        return {k: s for k, s in ready.items() if k not in held}

    def _delay(self, states: dict[TopicPartition, _FetchState], seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        for state in states.values():
            state.delayed_until = until

    def _build_request(self, ready: dict[TopicPartition, _FetchState]) -> Any:
        schema = request_schema(1, FETCH_VERSION)
        module = __import__(schema.__module__, fromlist=["FetchTopic", "FetchPartition"])
        by_topic: dict[uuid.UUID, list[Any]] = {}
        for state in ready.values():
            r = state.replica
            by_topic.setdefault(r.topic_id, []).append(
                module.FetchPartition(
                    partition=r.partition,
                    current_leader_epoch=state.leader_epoch,
                    fetch_offset=r.log_end_offset,
                    last_fetched_epoch=r.latest_epoch(),
                    log_start_offset=r.log_start_offset,
                    partition_max_bytes=self.config.fetch_max_bytes,
                )
            )
        return schema(
            replica_state=module.ReplicaState(
                replica_id=self.config.broker_id, replica_epoch=self.broker_epoch()
            ),
            max_wait=_ms(self.config.fetch_wait_max_ms),
            min_bytes=self.config.fetch_min_bytes,
            max_bytes=self.config.fetch_response_max_bytes,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=tuple(
                module.FetchTopic(topic_id=tid, partitions=tuple(parts))
                for tid, parts in by_topic.items()
            ),
            forgotten_topics_data=(),
            rack_id="",
        )

    async def _process_response(
        self, ready: dict[TopicPartition, _FetchState], response: Any
    ) -> None:
        by_id = {s.replica.topic_id: s.replica.topic for s in ready.values()}
        backoff = self.config.fetch_backoff_ms / 1000.0
        throttle = self.throttle
        throttled_bytes = 0
        for topic in response.responses:
            name = by_id.get(topic.topic_id)
            if name is None:
                continue
            for p in topic.partitions:
                key = (name, int(p.partition_index))
                state = self.partitions.get(key)
                if state is None or state is not ready.get(key):
                    continue  # removed or re-added while the fetch was in flight
                error = ErrorCode(p.error_code)
                if throttle is not None and p.records and throttle.throttled(*key):
                    throttled_bytes += len(p.records)
                try:
                    await self._process_partition(state, p, error)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: processing %s-%d failed", self.name, *key)
                    self._delay({key: state}, backoff)
        if throttled_bytes:
            assert throttle is not None
            throttle.record(throttled_bytes)

    async def _process_partition(self, state: _FetchState, p: Any, error: ErrorCode) -> None:
        replica = state.replica
        key = (replica.topic, replica.partition)
        backoff = self.config.fetch_backoff_ms / 1000.0
        if error == ErrorCode.none:
            diverging = p.diverging_epoch
            # Kafka reads an epoch < 0 as "no divergence" (FetchResponse.divergingEpoch).
            if diverging is not None and int(diverging.epoch) >= 0:
                await self._truncate_on_divergence(
                    state, int(diverging.epoch), int(diverging.end_offset)
                )
                return
            records = p.records or b""
            if records:
                info = replica.append_records_to_follower(
                    bytes(records), int(p.high_watermark), int(p.log_start_offset)
                )
                await self.logs.after_follower_append(replica, info)
            else:
                replica.append_records_to_follower(
                    b"", int(p.high_watermark), int(p.log_start_offset)
                )
            state.caught_up = replica.log_end_offset >= int(p.high_watermark)
            return
        if error == ErrorCode.offset_out_of_range:
            await self._handle_out_of_range(state)
            return
        if error == ErrorCode.fenced_leader_epoch:
            # Our epoch is older than the leader's: the controller's next LeaderAndIsr
            # re-adds the partition at the new epoch (Kafka's onPartitionFenced).
            log.info(
                "%s: %s-%d fenced at leader epoch %d; waiting for the controller",
                self.name,
                *key,
                state.leader_epoch,
            )
            self.remove(key)
            return
        # NOT_LEADER_OR_FOLLOWER / UNKNOWN_LEADER_EPOCH: the leader has not yet processed
        # the LeaderAndIsr that makes it leader at our epoch; retry after the backoff.
        if error not in (ErrorCode.not_leader_or_follower, ErrorCode.unknown_leader_epoch,
                         ErrorCode.unknown_topic_or_partition, ErrorCode.unknown_topic_id,
                         ErrorCode.kafka_storage_error):
            log.warning("%s: %s-%d fetch error %s", self.name, *key, error.name)
        self._delay({key: state}, backoff)

    async def _truncate_on_divergence(
        self, state: _FetchState, leader_epoch: int, leader_end_offset: int
    ) -> None:
        """Kafka's getOffsetTruncationState for a diverging epoch in a fetch response."""
        replica = state.replica
        key = (replica.topic, replica.partition)
        self._busy.add(key)
        try:
            leo = replica.log_end_offset
            if leader_epoch < 0:
                target = min(leader_end_offset, leo)
            else:
                follower_epoch, follower_end = replica.follower_end_offset_for_epoch(
                    leader_epoch
                )
                if follower_epoch < 0:
                    target = min(leader_end_offset, leo)
                elif follower_epoch != leader_epoch:
                    # We lack the leader's epoch: go back to the end of our largest earlier
                    # epoch and let the next fetch compare again.
                    target = min(follower_end, leo)
                else:
                    target = min(follower_end, leader_end_offset, leo)
            target = max(target, 0)
            log.info(
                "%s: truncating %s-%d from %d to %d (leader epoch %d ends at %d)",
                self.name,
                *key,
                leo,
                target,
                leader_epoch,
                leader_end_offset,
            )
            await self.logs.truncate_follower(replica, target)
        finally:
            self._busy.discard(key)
            self._wakeup.set()

    async def _handle_out_of_range(self, state: _FetchState) -> None:
        """Kafka's handleOutOfRangeError: the leader's end or start offset decides."""
        replica = state.replica
        key = (replica.topic, replica.partition)
        client = self._client_for_leader()
        if client is None:
            self._delay({key: state}, self.config.fetch_backoff_ms / 1000.0)
            return
        self._busy.add(key)
        try:
            leader_end = await self._leader_offset(client, state, LATEST_TIMESTAMP)
            leo = replica.log_end_offset
            if leader_end is not None and leader_end < leo:
                # Only after an unclean election: our extra records were never committed.
                log.warning(
                    "%s: %s-%d log end %d is past the leader's %d; truncating",
                    self.name,
                    *key,
                    leo,
                    leader_end,
                )
                await self.logs.truncate_follower(replica, leader_end)
                return
            leader_start = await self._leader_offset(client, state, EARLIEST_TIMESTAMP)
            if leader_start is not None and leader_start > leo:
                log.info(
                    "%s: %s-%d behind the leader's log start %d; starting over there",
                    self.name,
                    *key,
                    leader_start,
                )
                await self.logs.reset_follower(replica, leader_start)
                return
            self._delay({key: state}, self.config.fetch_backoff_ms / 1000.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s: offset lookup for %s-%d failed: %s", self.name, *key, exc)
            self._delay({key: state}, self.config.fetch_backoff_ms / 1000.0)
        finally:
            self._busy.discard(key)
            self._wakeup.set()

    async def _leader_offset(
        self, client: BrokerConnection, state: _FetchState, timestamp: int
    ) -> int | None:
        schema = request_schema(2, LIST_OFFSETS_VERSION)
        module = __import__(
            schema.__module__, fromlist=["ListOffsetsTopic", "ListOffsetsPartition"]
        )
        r = state.replica
        request = schema(
            replica_id=self.config.broker_id,
            isolation_level=0,
            topics=(
                module.ListOffsetsTopic(
                    name=r.topic,
                    partitions=(
                        module.ListOffsetsPartition(
                            partition_index=r.partition,
                            current_leader_epoch=state.leader_epoch,
                            timestamp=timestamp,
                        ),
                    ),
                ),
            ),
        )
        response = await client.send(request, timeout=self.config.socket_timeout_ms / 1000.0)
        for t in response.topics:
            for p in t.partitions:
                if ErrorCode(p.error_code) == ErrorCode.none:
                    return int(p.offset)
        return None


class ReplicaFetcherManager:
    """Assigns follower partitions to fetchers by leader (``num.replica.fetchers`` each)."""

    def __init__(
        self,
        config: FetcherConfig,
        logs: FollowerLogs,
        endpoint_of: EndpointLookup,
        connect: ConnectionFactory,
        broker_epoch: Callable[[], int],
        throttle: FollowerThrottle | None = None,
    ) -> None:
        self.config = config
        self.throttle = throttle
        self.logs = logs
        self.endpoint_of = endpoint_of
        self.connect = connect
        self.broker_epoch = broker_epoch
        self.fetchers: dict[tuple[int, int], ReplicaFetcher] = {}
        self._where: dict[TopicPartition, tuple[int, int]] = {}

    def _fetcher_id(self, replica: FollowerReplica) -> int:
        # Kafka: Utils.abs(31 * topic.hashCode + partition) % numFetchers; any stable
        # spread will do here.
        n = max(1, self.config.num_fetchers)
        return (hash(replica.topic) * 31 + replica.partition) % n

    def add_partitions(self, partitions: list[Any]) -> None:
        for replica in partitions:
            key = (replica.topic, replica.partition)
            self._remove(key)
            fid = (replica.leader_id, self._fetcher_id(replica))
            fetcher = self.fetchers.get(fid)
            if fetcher is None:
                fetcher = ReplicaFetcher(
                    f"ReplicaFetcher-{fid[1]}-leader-{fid[0]}",
                    fid[0],
                    self.config,
                    self.logs,
                    self.endpoint_of,
                    self.connect,
                    self.broker_epoch,
                    self.throttle,
                )
                self.fetchers[fid] = fetcher
            fetcher.add(replica)
            self._where[key] = fid

    def remove_partitions(self, keys: Iterable[TopicPartition]) -> None:
        for key in keys:
            self._remove(key)
        self._shutdown_idle()

    def _remove(self, key: TopicPartition) -> None:
        fid = self._where.pop(key, None)
        if fid is not None:
            fetcher = self.fetchers.get(fid)
            if fetcher is not None:
                fetcher.remove(key)

    def _shutdown_idle(self) -> None:
        for fid in [f for f, fetcher in self.fetchers.items() if fetcher.idle]:
            fetcher = self.fetchers.pop(fid)
            asyncio.get_running_loop().create_task(fetcher.shutdown())

    def fetching(self, key: TopicPartition) -> bool:
        return key in self._where

    def resize(self, num_fetchers: int) -> None:
        """``num.replica.fetchers`` changed at run time (Kafka's resizeFetcherThreadPool):
        every followed partition moves to the fetcher its new id names; fetchers left idle
        stop. Each partition fetches on from its log end offset."""
        if num_fetchers == self.config.num_fetchers:
            return
        replicas = [s.replica for f in self.fetchers.values() for s in f.partitions.values()]
        self.config = dataclasses.replace(self.config, num_fetchers=num_fetchers)
        self.remove_partitions([(r.topic, r.partition) for r in replicas])
        self.add_partitions(replicas)
        log.info(
            "replica fetchers resized to %d per source broker (%d fetcher(s) running)",
            num_fetchers,
            len(self.fetchers),
        )

    async def shutdown(self) -> None:
        fetchers = list(self.fetchers.values())
        self.fetchers.clear()
        self._where.clear()
        await asyncio.gather(*(f.shutdown() for f in fetchers), return_exceptions=True)


def _ms(value: int) -> Any:
    import datetime

    return datetime.timedelta(milliseconds=value)
