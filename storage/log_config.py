"""Topic-level log configuration with Kafka's names and defaults (LogConfig).

Each field is one topic config (``retention.ms`` ...). Broker-level keys
(``log.retention.ms`` ...) supply the defaults; per-topic overrides win.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Effective configuration of one partition log."""

    cleanup_policy: str = "delete"  # cleanup.policy
    retention_ms: int = 604_800_000  # retention.ms (-1 = unlimited)
    retention_bytes: int = -1  # retention.bytes
    segment_bytes: int = 1_073_741_824  # segment.bytes
    segment_ms: int = 604_800_000  # segment.ms
    segment_index_bytes: int = 10_485_760  # segment.index.bytes
    segment_jitter_ms: int = 0  # segment.jitter.ms
    index_interval_bytes: int = 4096  # index.interval.bytes
    max_message_bytes: int = 1_048_588  # max.message.bytes
    message_timestamp_type: str = "CreateTime"  # message.timestamp.type
    flush_messages: int = 9_223_372_036_854_775_807  # flush.messages
    flush_ms: int = 9_223_372_036_854_775_807  # flush.ms
    min_insync_replicas: int = 1  # min.insync.replicas
    file_delete_delay_ms: int = 60_000  # file.delete.delay.ms
    delete_retention_ms: int = 86_400_000  # delete.retention.ms
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = 9_223_372_036_854_775_807  # max.compaction.lag.ms
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    compression_type: str = "producer"  # compression.type
    unclean_leader_election_enable: bool = False  # unclean.leader.election.enable
    preallocate: bool = False  # preallocate
    message_timestamp_before_max_ms: int = 9_223_372_036_854_775_807
    message_timestamp_after_max_ms: int = 9_223_372_036_854_775_807

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy.split(",")

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    def with_changes(self, **changes: Any) -> LogConfig:
        return replace(self, **changes)
