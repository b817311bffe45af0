"""The coordinator runtime shared by the group and transaction coordinators.

A Kafka coordinator keeps its state in a compacted internal topic
(``__consumer_offsets``, ``__transaction_state``) and serves the keys that hash to the
partitions this broker leads. The runtime does the part that does not depend on what the
state is: it follows leadership of the topic's partitions (load on becoming leader,
unload on losing it), replays a partition's records into the state machine in chunks
read off the event loop, appends new records as the partition's leader and waits until
they are durable and replicated (``acks=all``, as Kafka's coordinators write), and
creates the topic on first need.

The state machine (:class:`CoordinatorShard`) changes only when a record is replayed, so
loading after a restart or failover runs the same code as a live write.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import Protocol

from kio.schema.errors import ErrorCode

from broker.replica.partition import Partition
from broker.replica.replica_manager import ProduceResult, ReplicaManager
from broker.topic_manager import TopicManager, TopicSpec
from protocol.errors import KafkaError
from protocol.record_batch import iter_headers
from protocol.records import CONTROL_COMMIT, NewRecord, encode_batch, iter_records
from storage.clock import Clock

log = logging.getLogger(__name__)

# (key bytes, value bytes or None for a tombstone)
RecordPair = tuple[bytes, bytes | None]


class PartitionStatus(enum.Enum):
    LOADING = "loading"
    LOADED = "loaded"


_APPEND_ERRORS = {
    ErrorCode.unknown_topic_or_partition: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas_after_append: ErrorCode.coordinator_not_available,
    ErrorCode.request_timed_out: ErrorCode.coordinator_not_available,
    ErrorCode.not_leader_or_follower: ErrorCode.not_coordinator,
    ErrorCode.kafka_storage_error: ErrorCode.not_coordinator,
}


def coordinator_error(exc: KafkaError) -> ErrorCode:
    """Kafka's mapping of an append failure to the error a coordinator's client understands."""
    return _APPEND_ERRORS.get(exc.error_code, ErrorCode.unknown_server_error)


class CoordinatorShard(Protocol):
    """The state machine of a coordinator: fed only by replayed records."""

    def replay(self, key: bytes, value: bytes | None, live: bool) -> None:
        """Apply one record (``live``: just written by this broker, not loaded)."""
        ...

    def replay_transactional(self, producer_id: int, key: bytes, value: bytes | None) -> None:
        """A record of a transaction still open (written by TxnOffsetCommit)."""
        ...

    def replay_marker(self, producer_id: int, commit: bool, index: int) -> None:
        """A transaction marker of ``producer_id`` in partition ``index``."""
        ...

    def on_loaded(self, index: int) -> None:
        """Every record of partition ``index`` has been replayed."""
        ...

    def on_unloaded(self, index: int) -> None:
        """Leadership of partition ``index`` moved away: drop its state."""
        ...


class CoordinatorRuntime:
    """Loads, writes and unloads the partitions of one internal topic led by this broker."""

    def __init__(
        self,
        topic: str,
        shard: CoordinatorShard,
        replica_manager: ReplicaManager,
        topic_manager: TopicManager,
        clock: Clock,
        *,
        num_partitions: int,
        load_buffer_size: int,
        write_timeout_ms: int,
        topic_spec: Callable[[int], TopicSpec | None],
    ) -> None:
        self.topic = topic
        self.shard = shard
        self.replica_manager = replica_manager
        self.topic_manager = topic_manager
        self.clock = clock
        self.num_partitions = num_partitions
        self.load_buffer_size = max(1024, load_buffer_size)
        self.write_timeout_ms = write_timeout_ms
        #: The topic's spec for a number of live brokers (None: cannot be created yet).
        self.topic_spec = topic_spec
        self.partitions: dict[int, PartitionStatus] = {}
        self.active = True
        self._loads: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[ErrorCode]] = set()
        self._topic_lock = asyncio.Lock()
        self._started = False

    # -- leadership --------------------------------------------------------------------

    def start(self) -> None:
        """Follow leadership changes; load the partitions this broker already leads."""
        topic = self.topic_manager.metadata.topic(self.topic)
        if topic is not None:
            self.num_partitions = len(topic.partitions)
        if not self._started:
            self._started = True
            self.replica_manager.add_role_listener(self.on_role_change)
        self._load_led_partitions()

    def _load_led_partitions(self) -> None:
        for (name, index), partition in list(self.replica_manager.partitions.items()):
            if name == self.topic and partition.is_leader and index not in self.partitions:
                self.on_become_leader(index)

    def on_role_change(self, partition: Partition, is_leader: bool) -> None:
        if partition.topic != self.topic or not self.active:
            return
        if is_leader:
            topic = self.topic_manager.metadata.topic(self.topic)
            if topic is not None:
                self.num_partitions = len(topic.partitions)
            # A new leader epoch re-reads the log: it may hold records this broker
            # replicated as a follower since it last loaded.
            self.on_resign(partition.partition)
            self.on_become_leader(partition.partition)
        else:
            self.on_resign(partition.partition)

    def on_become_leader(self, index: int) -> None:
        self.partitions[index] = PartitionStatus.LOADING
        task = asyncio.get_running_loop().create_task(
            self._load(index), name=f"load-{self.topic}-{index}"
        )
        self._loads[index] = task

    def on_resign(self, index: int) -> None:
        """Unload a partition whose leadership moved away."""
        was = self.partitions.pop(index, None)
        task = self._loads.pop(index, None)
        if task is not None:
            task.cancel()
        if was is not None:
            self.shard.on_unloaded(index)

    def status(self, index: int) -> PartitionStatus | None:
        return self.partitions.get(index)

    async def wait_loaded(self) -> None:
        for task in list(self._loads.values()):
            await task

    async def ensure_topic(self) -> bool:
        """Create the internal topic on first need; True when it exists."""
        if self.topic_manager.metadata.topic(self.topic) is not None:
            if not self.partitions:
                self._load_led_partitions()
            return True
        async with self._topic_lock:
            if self.topic_manager.metadata.topic(self.topic) is None:
                brokers = len(self.topic_manager.live_broker_ids())
                if brokers == 0:
                    return False
                spec = self.topic_spec(brokers)
                if spec is None:
                    return False
                try:
                    await self.topic_manager.create(spec, is_internal=True)
                except KafkaError as exc:
                    if exc.error_code != ErrorCode.topic_already_exists:
                        log.warning("cannot create %s: %s", self.topic, exc)
                        return False
            topic = self.topic_manager.metadata.topic(self.topic)
            if topic is not None:
                self.num_partitions = len(topic.partitions)
            self._load_led_partitions()
        return True

    async def _load(self, index: int) -> None:
        partition = self.replica_manager.get_partition(self.topic, index)
        if partition is None or not partition.is_leader:
            self.partitions.pop(index, None)
            self._loads.pop(index, None)
            return
        plog = partition.log
        offset = plog.log_start_offset
        end = plog.log_end_offset
        started = self.clock.monotonic()
        count = 0
        while offset < end:
            data = await asyncio.to_thread(plog.read, offset, self.load_buffer_size, end, True)
            if not data.records:
                break
            events, next_offset = await asyncio.to_thread(_decode_chunk, data.records)
            if next_offset <= offset:
                break
            shard = self.shard
            for key, value, producer_id, control in events:
                if control is not None:
                    shard.replay_marker(producer_id, control, index)
                elif producer_id >= 0:
                    shard.replay_transactional(producer_id, key, value)
                else:
                    shard.replay(key, value, False)
            count += len(events)
            offset = next_offset
            await asyncio.sleep(0)
        self.shard.on_loaded(index)
        self.partitions[index] = PartitionStatus.LOADED
        self._loads.pop(index, None)
        if count:
            log.info(
                "loaded %d record(s) of %s-%d in %.3f s",
                count,
                self.topic,
                index,
                self.clock.monotonic() - started,
            )

    # -- writes ------------------------------------------------------------------------

    def append(
        self,
        index: int,
        records: list[RecordPair],
        *,
        producer_id: int = -1,
        producer_epoch: int = -1,
    ) -> int:
        """Append records as the partition's leader and replay them; returns the offset the
        high watermark must reach for them to be committed. Raises KafkaError.

        With a ``producer_id`` the batch is transactional (TxnOffsetCommit): its records
        stay pending in the shard until a marker of that producer ends the transaction.
        """
        now = self.clock.milliseconds()
        new = [NewRecord(k, v, timestamp=now) for k, v in records]
        if producer_id >= 0:
            batch = encode_batch(
                new,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                base_sequence=0,
                is_transactional=True,
            )
        else:
            batch = encode_batch(new)
        _first, last = self.replica_manager.append_internal(self.topic, index, batch)
        for key, value in records:
            if producer_id >= 0:
                self.shard.replay_transactional(producer_id, key, value)
            else:
                self.shard.replay(key, value, True)
        return last + 1

    async def commit(self, index: int, required_offset: int) -> ErrorCode:
        """Make appended records durable (flush policy) and replicated (acks=all)."""
        rm = self.replica_manager
        pending = rm.take_flush_requests()
        if pending:
            await rm.flush_partitions(pending)
        partition = rm.get_partition(self.topic, index)
        if partition is None:
            return ErrorCode.not_coordinator
        result = ProduceResult(ErrorCode.none, partition=partition, required_offset=required_offset)
        await rm.wait_for_replication([result], self.write_timeout_ms)
        if result.error != ErrorCode.none:
            return coordinator_error(KafkaError("", result.error))
        return ErrorCode.none

    async def write(self, index: int, records: list[RecordPair]) -> ErrorCode:
        """append + commit; the coordinator error to answer (NONE on success)."""
        if not records:
            return ErrorCode.none
        try:
            required = self.append(index, records)
        except KafkaError as exc:
            log.warning("append to %s-%d failed: %s", self.topic, index, exc)
            return coordinator_error(exc)
        return await self.commit(index, required)

    def write_in_background(self, index: int, records: list[RecordPair]) -> None:
        """From timer callbacks: append now, commit on a task."""
        if not records:
            return
        try:
            required = self.append(index, records)
        except KafkaError as exc:
            log.warning("append to %s-%d failed: %s", self.topic, index, exc)
            return
        task = asyncio.get_running_loop().create_task(self.commit(index, required))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for background commits and flush what the flush policy asks for."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        rm = self.replica_manager
        pending = rm.take_flush_requests()
        if pending:
            await rm.flush_partitions(pending)

    # -- shutdown ----------------------------------------------------------------------

    def shutdown(self) -> None:
        self.active = False
        for task in self._loads.values():
            task.cancel()
        self._loads.clear()


#: (key, value, producer id of a transactional batch or -1, marker: commit? or None)
ReplayEvent = tuple[bytes, bytes | None, int, bool | None]


def _decode_chunk(buf: bytes) -> tuple[list[ReplayEvent], int]:
    """Records and transaction markers of the complete batches in ``buf``, and the next
    offset."""
    events: list[ReplayEvent] = []
    next_offset = -1
    for _, header in iter_headers(buf):
        next_offset = max(next_offset, header.next_offset)
    for header, record in iter_records(buf):
        if header.is_control:
            key = record.key
            if key is not None and len(key) >= 4:
                commit = int.from_bytes(key[2:4], "big", signed=True) == CONTROL_COMMIT
                events.append((b"", None, header.producer_id, commit))
            continue
        if record.key is None:
            continue
        pid = header.producer_id if header.is_transactional else -1
        events.append((record.key, record.value, pid, None))
    return events, next_offset
