"""Bounds on how many partitions a request may create and a broker may host.

Every check here runs before any per-partition state is built (no replica
assignment, no metadata, no log), so a request asking for millions of
partitions costs a few comparisons and gets Kafka's error code back.

* Per request: Kafka's KRaft controller refuses a user operation that would
  write more than 10,000 metadata records (``QuorumController.MAX_RECORDS_PER_USER_OP``,
  one record per new topic and one per new partition) with POLICY_VIOLATION
  "Unable to perform excessively large batch operation."; Josef counts the
  same way across one CreateTopics, CreatePartitions or auto-creating
  Metadata request.
* Per broker: ``josef.max.partitions`` (Josef's key; Kafka has none, KIP-578
  proposed one and was not adopted) bounds the partition replicas a broker
  hosts. A creation that would exceed it is refused with POLICY_VIOLATION. In a
  cluster the broker that receives the request checks every broker's count from
  the metadata (assuming the same limit everywhere: each broker reads its own key).
* Open files: each hosted partition keeps descriptors open (see
  ``storage.log_segment``); a creation that would not leave headroom under the
  process's RLIMIT_NOFILE is refused with POLICY_VIOLATION instead of failing
  half-way with EMFILE.
* Memory maps: an active segment maps its two indexes; a creation that could
  take the process past ``vm.max_map_count`` is refused the same way (Kafka's
  operations guide asks to raise that sysctl for many partitions too).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable

from kio.schema.errors import ErrorCode

from protocol.errors import KafkaError

#: Kafka's QuorumController.MAX_RECORDS_PER_USER_OP (records per user operation).
MAX_RECORDS_PER_REQUEST = 10_000
DEFAULT_MAX_PARTITIONS = 100_000

#: Descriptors a hosted partition keeps open: its active segment's ``.log`` file (indexes are
#: mapped without a descriptor, ``.txnindex`` is opened per write). Every further segment
#: of a partition holds one more, as in Kafka.
FDS_PER_PARTITION = 1
#: Descriptors kept free for connections, checkpoints, snapshots and segment rolls.
FD_RESERVE = 256
#: Memory maps an active partition may hold (offset and time index of its active segment).
MAPS_PER_PARTITION = 2
#: Maps kept free for the interpreter, libraries, thread stacks and older segments.
MAP_RESERVE = 1024

HostedCount = Callable[[], int]
OpenFiles = Callable[[], int]
Counter = Callable[[], int]


def open_file_count() -> int:
    """Descriptors this process has open now (Linux /proc; 0 where unavailable)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def max_map_count() -> int:
    """The kernel's ``vm.max_map_count`` (a very large number where unknown)."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 1 << 62


def open_file_limit() -> int:
    """The soft RLIMIT_NOFILE (a very large number when unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 62


class RequestPartitionCap:
    """Counts the metadata records (topics + partitions) one request creates."""

    __slots__ = ("limit", "refused", "used")

    def __init__(self, limit: int = MAX_RECORDS_PER_REQUEST) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0  # topics refused so far (callers log the first only)

    def take(self, topics: int, partitions: int) -> None:
        """Reserve room for ``topics`` new topics with ``partitions`` partitions, or raise
        POLICY_VIOLATION (nothing reserved)."""
        wanted = topics + partitions
        if partitions < 0 or self.used + wanted > self.limit:
            raise KafkaError(
                f"Unable to perform excessively large batch operation: {partitions} new "
                f"partition(s) would take this request past {self.limit} new topics and "
                "partitions.",
                ErrorCode.policy_violation,
            )
        self.used += wanted

    def give_back(self, topics: int, partitions: int) -> None:
        """Return a reservation whose creation failed for another reason."""
        self.used = max(0, self.used - topics - partitions)


class PartitionLimits:
    """Per-broker partition limit and descriptor headroom, checked before creating."""

    def __init__(
        self,
        max_partitions: int,
        hosted: HostedCount,
        *,
        open_files: OpenFiles = open_file_count,
        file_limit: Counter = open_file_limit,
        fds_per_partition: int = FDS_PER_PARTITION,
        fd_reserve: int = FD_RESERVE,
        map_limit: Counter = max_map_count,
    ) -> None:
        self.max_partitions = max_partitions
        self._hosted = hosted
        self._open_files = open_files
        self._file_limit = file_limit
        self.fds_per_partition = fds_per_partition
        self.fd_reserve = fd_reserve
        self._map_limit = map_limit

    def check_count(self, partitions: int) -> None:
        """Cheap bound on a requested count before any assignment is computed."""
        if partitions > self.max_partitions:
            raise KafkaError(
                f"{partitions} partitions exceed josef.max.partitions={self.max_partitions} "
                "(partitions one broker may host).",
                ErrorCode.policy_violation,
            )

    def check_brokers(self, hosted: dict[int, int], new: dict[int, int]) -> None:
        """Raise POLICY_VIOLATION if a broker would host more than josef.max.partitions
        replicas (``hosted``: replicas per broker now, ``new``: replicas added)."""
        for broker, added in sorted(new.items()):
            now = hosted.get(broker, 0)
            if added > 0 and now + added > self.max_partitions:
                raise KafkaError(
                    f"Broker {broker} hosts {now} partition(s); {added} more would exceed "
                    f"josef.max.partitions={self.max_partitions}.",
                    ErrorCode.policy_violation,
                )

    def check_new_local(self, new_local: int) -> None:
        """Raise POLICY_VIOLATION unless this broker can host ``new_local`` more replicas."""
        if new_local <= 0:
            return
        hosted = self._hosted()
        if hosted + new_local > self.max_partitions:
            raise KafkaError(
                f"This broker hosts {hosted} partition(s); {new_local} more would exceed "
                f"josef.max.partitions={self.max_partitions}.",
                ErrorCode.policy_violation,
            )
        limit = self._file_limit()
        open_now = self._open_files()
        needed = new_local * self.fds_per_partition
        if open_now + needed + self.fd_reserve > limit:
            raise KafkaError(
                f"Creating {new_local} partition(s) needs about {needed} more open files; "
                f"this broker has {open_now} open of its limit of {limit} and keeps "
                f"{self.fd_reserve} free. Raise the open-file limit (ulimit -n, systemd "
                "LimitNOFILE) and restart the broker.",
                ErrorCode.policy_violation,
            )
        # Every hosted partition (not only the new ones) may map its indexes.
        map_limit = self._map_limit()
        maps_needed = (hosted + new_local) * MAPS_PER_PARTITION + MAP_RESERVE
        if maps_needed > map_limit:
            raise KafkaError(
                f"{hosted + new_local} partition(s) may need {maps_needed} memory maps, more "
                f"than vm.max_map_count={map_limit}. Raise it (sysctl -w "
                "vm.max_map_count=...) to host more partitions.",
                ErrorCode.policy_violation,
            )
