"""Topic-level log configuration with Kafka's names and defaults (LogConfig).

Each field of :class:`LogConfig` is one topic config (``retention.ms`` ...).
Broker-level keys (``log.retention.ms`` ...) supply the defaults; per-topic
overrides win. :data:`TOPIC_CONFIG_DEFS` is the one table of topic configs:
type, validator, broker synonyms and documentation. The generic pieces of a
config table (:class:`ConfigDef`, validators, :class:`ConfigEntry` for
DescribeConfigs) live here too, so that ``broker.config.broker_config`` builds the broker
table from the same parts.

Invariant: every field of ``LogConfig`` has exactly one def whose name is the
field name with ``_`` replaced by ``.``, and vice versa.
"""

from __future__ import annotations

import decimal
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from protocol.errors import ErrorCode, KafkaError

LONG_MAX = 9_223_372_036_854_775_807
LONG_MIN = -9_223_372_036_854_775_808
INT_MAX = 2_147_483_647
INT_MIN = -2_147_483_648
SHORT_MAX = 32_767
SHORT_MIN = -32_768

ConfigValue = int | float | str | bool | tuple[str, ...] | None


class ConfigType(enum.IntEnum):
    """DescribeConfigs v3+ ``config_type``."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(enum.IntEnum):
    """DescribeConfigs v1+ ``config_source``."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6


class Importance(enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class InvalidConfigError(KafkaError):
    """A bad topic config name or value; answered with INVALID_CONFIG."""

    error_code = ErrorCode.invalid_config

    def __init__(self, key: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"{key}: {reason}")
        self.key = key
        self.reason = reason


# --- validators ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """Numeric bounds, inclusive; ``None`` means unbounded."""

    min: float | None = None
    max: float | None = None

    def check(self, value: ConfigValue) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        if self.min is not None and value < self.min:
            raise ValueError(f"value {_fmt_num(value)} must be at least {_fmt_num(self.min)}")
        if self.max is not None and value > self.max:
            raise ValueError(f"value {_fmt_num(value)} must be no more than {_fmt_num(self.max)}")

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"[{_fmt_num(self.min)},...,{_fmt_num(self.max)}]"
        if self.min is not None:
            return f"[{_fmt_num(self.min)},...]"
        if self.max is not None:
            return f"[...,{_fmt_num(self.max)}]"
        return ""


@dataclass(frozen=True, slots=True)
class OneOf:
    """A string (or every element of a list) must be one of ``values``."""

    values: tuple[str, ...]
    case_sensitive: bool = True

    def check(self, value: ConfigValue) -> None:
        items: Iterable[Any] = value if isinstance(value, tuple) else (value,)
        allowed = self.values if self.case_sensitive else tuple(v.upper() for v in self.values)
        for item in items:
            if item is None:
                continue
            probe = item if self.case_sensitive else str(item).upper()
            if probe not in allowed:
                raise ValueError(f"{item!r} must be one of: {', '.join(self.values)}")

    def describe(self) -> str:
        return "[" + ", ".join(self.values) + "]"


_THROTTLED_ENTRY = re.compile(r"^\d+:\d+$")


@dataclass(frozen=True, slots=True)
class ThrottledReplicas:
    """``*`` or a list of ``partition:broker`` pairs."""

    def check(self, value: ConfigValue) -> None:
        items = value if isinstance(value, tuple) else ()
        if items == ("*",):
            return
        for item in items:
            if not _THROTTLED_ENTRY.match(item):
                raise ValueError(f"{item!r} is not '*' or a list of [partitionId]:[brokerId] pairs")

    def describe(self) -> str:
        return "[partitionId]:[brokerId],[partitionId]:[brokerId],..."


@dataclass(frozen=True, slots=True)
class RangeOr:
    """Numeric bounds, or one extra value (gzip's -1: the codec's default level)."""

    min: int
    max: int
    extra: int

    def check(self, value: ConfigValue) -> None:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value != self.extra
            and not self.min <= value <= self.max
        ):
            raise ValueError(
                f"value {value} must be between {self.min} and {self.max} or {self.extra}"
            )

    def describe(self) -> str:
        return f"[{self.min},...,{self.max}] or {self.extra}"


# Kafka's MetadataVersion names: 0.8.0 ... 3.9, optionally with -IV<n>.
_METADATA_VERSION = re.compile(r"^(0\.(8\.[0-2]|9\.0|10\.[0-2]|11\.0)|[1-3]\.[0-9])(-IV[0-9])?$")


@dataclass(frozen=True, slots=True)
class MetadataVersionString:
    """A Kafka release version (message.format.version, inter.broker.protocol.version)."""

    def check(self, value: ConfigValue) -> None:
        if isinstance(value, str) and not _METADATA_VERSION.match(value):
            raise ValueError(f"Version `{value}` is not a valid version")

    def describe(self) -> str:
        return "[0.8.0, ..., 3.9-IV0]"


Validator = Range | OneOf | ThrottledReplicas | RangeOr | MetadataVersionString


def _fmt_num(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return str(value)


# --- parsing and formatting ---------------------------------------------------

_INTEGER = re.compile(r"^[+-]?\d+$")
_BOUNDS = {
    ConfigType.SHORT: (SHORT_MIN, SHORT_MAX, "short"),
    ConfigType.INT: (INT_MIN, INT_MAX, "int"),
    ConfigType.LONG: (LONG_MIN, LONG_MAX, "long"),
}


def parse_value(config_type: ConfigType, raw: str) -> ConfigValue:
    """Parse ``raw`` as Kafka's ConfigDef would; raise ``ValueError(reason)``."""
    text = raw.strip()
    if config_type is ConfigType.BOOLEAN:
        lowered = text.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if config_type in _BOUNDS:
        low, high, label = _BOUNDS[config_type]
        if not _INTEGER.match(text):
            raise ValueError(f"expected an integer ({label}), got {raw!r}")
        number = int(text)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range for a {label}")
        return number
    if config_type is ConfigType.DOUBLE:
        if "_" in text:
            raise ValueError(f"expected a number (double), got {raw!r}")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number (double), got {raw!r}") from None
    if config_type is ConfigType.LIST:
        if not text:
            return ()
        return tuple(item.strip() for item in text.split(","))
    return text


def format_value(config_type: ConfigType, value: ConfigValue) -> str | None:
    """The string form of a value, as DescribeConfigs reports it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if config_type is ConfigType.DOUBLE and isinstance(value, int | float):
        return java_double(float(value))
    return str(value)


def java_double(value: float) -> str:
    """Java's Double.toString, which Kafka's DescribeConfigs uses: shortest digits,
    scientific (``1.7976931348623157E308``) outside [1e-3, 1e7)."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        return repr(value)
    d = decimal.Decimal(repr(value))
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{d.adjusted()}"


@dataclass(frozen=True, slots=True)
class Synonym:
    """A broker key that supplies a topic config's default (``factor`` converts units)."""

    name: str
    factor: int = 1


@dataclass(frozen=True, slots=True)
class ConfigDef:
    """One configuration key: type, default, validation and documentation.

    ``synonyms`` lists, in order of precedence, the keys that supply this
    config's value: for a topic config the broker keys behind its default,
    for a broker key the keys in its own chain (``log.retention.ms`` >
    ``log.retention.minutes`` > ``log.retention.hours``).
    """

    name: str
    type: ConfigType
    default: ConfigValue
    doc: str
    validator: Validator | None = None
    importance: Importance = Importance.MEDIUM
    synonyms: tuple[Synonym, ...] = ()

    @property
    def attr(self) -> str:
        """The Python attribute name: dots and dashes become underscores."""
        return self.name.replace(".", "_").replace("-", "_")

    @property
    def sensitive(self) -> bool:
        return self.type is ConfigType.PASSWORD

    def parse(self, raw: str) -> ConfigValue:
        """Parse and validate ``raw``; raise ``ValueError(reason)``."""
        value = parse_value(self.type, raw)
        self.validate(value)
        return value

    def validate(self, value: ConfigValue) -> None:
        if self.validator is not None and value is not None:
            self.validator.check(value)

    def format(self, value: ConfigValue) -> str | None:
        return format_value(self.type, value)

    @property
    def default_str(self) -> str | None:
        return self.format(self.default)

    @property
    def valid_values(self) -> str:
        return self.validator.describe() if self.validator is not None else ""


def render_markdown_table(defs: Iterable[ConfigDef]) -> str:
    """A Markdown table of ``defs`` for the README."""
    lines = [
        "| name | type | default | valid values | importance | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in defs:
        default = d.default_str
        doc = d.doc.replace("|", "\\|")
        shown = "null" if default is None else (f"`{default}`" if default else '""')
        lines.append(
            f"| `{d.name}` | {d.type.name.lower()} | {shown} | {d.valid_values} "
            f"| {d.importance.value} | {doc} |"
        )
    return "\n".join(lines) + "\n"


# --- DescribeConfigs entries --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One DescribeConfigs result entry (field names follow the schema)."""

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    is_sensitive: bool
    synonyms: tuple[ConfigSynonym, ...]
    config_type: ConfigType
    documentation: str | None


# --- LogConfig ----------------------------------------------------------------


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
    flush_messages: int = LONG_MAX  # flush.messages
    flush_ms: int = LONG_MAX  # flush.ms
    min_insync_replicas: int = 1  # min.insync.replicas
    file_delete_delay_ms: int = 60_000  # file.delete.delay.ms
    delete_retention_ms: int = 86_400_000  # delete.retention.ms
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = LONG_MAX  # max.compaction.lag.ms
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    compression_type: str = "producer"  # compression.type
    unclean_leader_election_enable: bool = False  # unclean.leader.election.enable
    preallocate: bool = False  # preallocate
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_after_max_ms: int = LONG_MAX
    message_timestamp_difference_max_ms: int = LONG_MAX  # deprecated in Kafka 3.6
    message_downconversion_enable: bool = True
    leader_replication_throttled_replicas: str = ""
    follower_replication_throttled_replicas: str = ""
    # Levels used where the broker recompresses (compression.type other than producer).
    compression_gzip_level: int = -1
    compression_lz4_level: int = 9
    compression_zstd_level: int = 3
    # Deprecated since Kafka 3.0: accepted and shown, without effect.
    message_format_version: str = "3.0-IV1"
    # Tiered storage (KIP-405): off in Josef, as in a Kafka broker without
    # remote.log.storage.system.enable; local.retention.* only act with it.
    local_retention_bytes: int = -2
    local_retention_ms: int = -2
    remote_storage_enable: bool = False
    remote_log_copy_disable: bool = False
    remote_log_delete_on_disable: bool = False

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy.split(",")

    @property
    def timestamp_before_max_ms(self) -> int:
        """message.timestamp.before.max.ms, or the deprecated difference.max.ms while the
        former is unset (Kafka 3.9's LogConfig keeps both during the transition)."""
        if self.message_timestamp_before_max_ms != LONG_MAX:
            return self.message_timestamp_before_max_ms
        return self.message_timestamp_difference_max_ms

    @property
    def timestamp_after_max_ms(self) -> int:
        """message.timestamp.after.max.ms, or the deprecated difference.max.ms."""
        if self.message_timestamp_after_max_ms != LONG_MAX:
            return self.message_timestamp_after_max_ms
        return self.message_timestamp_difference_max_ms

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"

    def with_changes(self, **changes: Any) -> LogConfig:
        return replace(self, **changes)

    @classmethod
    def from_topic_overrides(cls, defaults: LogConfig, overrides: Mapping[str, str]) -> LogConfig:
        """``defaults`` with the topic overrides applied.

        Raises :class:`InvalidConfigError` for an unknown topic config name or
        a value that does not parse or validate (Kafka answers INVALID_CONFIG).
        """
        changes: dict[str, Any] = {}
        for key, raw in overrides.items():
            definition = TOPIC_CONFIGS.get(key)
            if definition is None:
                raise InvalidConfigError(
                    key, "unknown topic config", f"Unknown topic config name: {key}"
                )
            try:
                value = definition.parse(raw)
            except ValueError as exc:
                raise InvalidConfigError(key, str(exc)) from None
            if value is None:
                raise InvalidConfigError(key, "a value is required")
            changes[definition.attr] = ",".join(value) if isinstance(value, tuple) else value
        result = replace(defaults, **changes) if changes else defaults
        _check_tiered_storage(result, overrides)
        if result.min_compaction_lag_ms > result.max_compaction_lag_ms:
            key = "min.compaction.lag.ms"
            if key not in overrides:
                key = "max.compaction.lag.ms"
            raise InvalidConfigError(
                key,
                f"min.compaction.lag.ms ({result.min_compaction_lag_ms}) must not be greater "
                f"than max.compaction.lag.ms ({result.max_compaction_lag_ms})",
            )
        return result

    def get(self, name: str) -> ConfigValue:
        """The value of topic config ``name`` (KeyError if unknown)."""
        return _as_config_value(getattr(self, TOPIC_CONFIGS[name].attr))

    def as_strings(self) -> dict[str, str | None]:
        """Every topic config as DescribeConfigs would show its value."""
        return {d.name: _field_value_str(d, self) for d in TOPIC_CONFIG_DEFS}


def _check_tiered_storage(config: LogConfig, overrides: Mapping[str, str]) -> None:
    """Kafka 3.9's checks in ZooKeeper mode, where remote.log.storage.system.enable is off
    (Josef has no tiered storage): no remote storage, and none of its KRaft-only switches."""
    if config.remote_log_delete_on_disable or config.remote_log_copy_disable:
        key = (
            "remote.log.delete.on.disable"
            if config.remote_log_delete_on_disable
            else "remote.log.copy.disable"
        )
        raise InvalidConfigError(
            key,
            "It is invalid to set `remote.log.delete.on.disable` or `remote.log.copy.disable` "
            "under Zookeeper's mode.",
        )
    if config.remote_storage_enable:
        raise InvalidConfigError(
            "remote.storage.enable",
            "Tiered Storage functionality is disabled in the broker. Topic cannot be "
            "configured with remote log storage.",
        )


def validate_topic_overrides(overrides: Mapping[str, str]) -> None:
    """Raise :class:`InvalidConfigError` if any override is unknown or invalid."""
    LogConfig.from_topic_overrides(LogConfig(), overrides)


# --- the topic config table ---------------------------------------------------

_T = ConfigType
_H, _M, _L = Importance.HIGH, Importance.MEDIUM, Importance.LOW
_COMPRESSION = OneOf(("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"))
_S = Synonym

# fmt: off
TOPIC_CONFIG_DEFS: tuple[ConfigDef, ...] = (
    ConfigDef(
        "cleanup.policy", _T.LIST, ("delete",),
        "Retention policy for old segments: delete, compact, or both.",
        OneOf(("compact", "delete")), _M, (_S("log.cleanup.policy"),),
    ),
    ConfigDef(
        "compression.gzip.level", _T.INT, -1,
        "gzip level of batches the broker recompresses (-1: the codec's default, 6).",
        RangeOr(1, 9, -1), _M, (_S("compression.gzip.level"),),
    ),
    ConfigDef(
        "compression.lz4.level", _T.INT, 9,
        "lz4 level of batches the broker recompresses.",
        Range(1, 17), _M, (_S("compression.lz4.level"),),
    ),
    ConfigDef(
        "compression.type", _T.STRING, "producer",
        "Final compression of the topic's batches; 'producer' keeps the producer's codec.",
        _COMPRESSION, _M, (_S("compression.type"),),
    ),
    ConfigDef(
        "compression.zstd.level", _T.INT, 3,
        "zstd level of batches the broker recompresses.",
        Range(-131072, 22), _M, (_S("compression.zstd.level"),),
    ),
    ConfigDef(
        "delete.retention.ms", _T.LONG, 86_400_000,
        "How long delete tombstones are kept on compacted topics.",
        Range(0), _M, (_S("log.cleaner.delete.retention.ms"),),
    ),
    ConfigDef(
        "file.delete.delay.ms", _T.LONG, 60_000,
        "Time to wait before deleting a file from the filesystem.",
        Range(0), _M, (_S("log.segment.delete.delay.ms"),),
    ),
    ConfigDef(
        "flush.messages", _T.LONG, LONG_MAX,
        "Force an fsync of the log after this many messages.",
        Range(1), _M, (_S("log.flush.interval.messages"),),
    ),
    ConfigDef(
        "flush.ms", _T.LONG, LONG_MAX,
        "Force an fsync of the log after this many milliseconds.",
        Range(0), _M,
        (_S("log.flush.interval.ms"), _S("log.flush.scheduler.interval.ms")),
    ),
    ConfigDef(
        "follower.replication.throttled.replicas", _T.LIST, (),
        "Replicas whose log replication is throttled on the follower side ('*' for all).",
        ThrottledReplicas(), _M, (_S("follower.replication.throttled.replicas"),),
    ),
    ConfigDef(
        "index.interval.bytes", _T.INT, 4096,
        "How often (in bytes) an entry is added to the offset index.",
        Range(0), _M, (_S("log.index.interval.bytes"),),
    ),
    ConfigDef(
        "leader.replication.throttled.replicas", _T.LIST, (),
        "Replicas whose log replication is throttled on the leader side ('*' for all).",
        ThrottledReplicas(), _M, (_S("leader.replication.throttled.replicas"),),
    ),
    ConfigDef(
        "local.retention.bytes", _T.LONG, -2,
        "Tiered storage only: bytes kept on local disk (-2: retention.bytes).",
        Range(-2), _M, (_S("log.local.retention.bytes"),),
    ),
    ConfigDef(
        "local.retention.ms", _T.LONG, -2,
        "Tiered storage only: time segments stay on local disk (-2: retention.ms).",
        Range(-2), _M, (_S("log.local.retention.ms"),),
    ),
    ConfigDef(
        "max.compaction.lag.ms", _T.LONG, LONG_MAX,
        "Maximum time a message stays ineligible for compaction.",
        Range(1), _M, (_S("log.cleaner.max.compaction.lag.ms"),),
    ),
    ConfigDef(
        "max.message.bytes", _T.INT, 1_048_588,
        "Largest record batch size allowed after compression.",
        Range(0), _M, (_S("message.max.bytes"),),
    ),
    ConfigDef(
        "message.downconversion.enable", _T.BOOLEAN, True,
        "Whether old-format consumers may receive down-converted messages.",
        None, _L, (_S("log.message.downconversion.enable"),),
    ),
    ConfigDef(
        "message.format.version", _T.STRING, "3.0-IV1",
        "Deprecated and without effect (since inter.broker.protocol.version 3.0 every "
        "batch is stored in message format v2).",
        MetadataVersionString(), _M, (_S("log.message.format.version"),),
    ),
    ConfigDef(
        "message.timestamp.after.max.ms", _T.LONG, LONG_MAX,
        "Allowed amount a message timestamp may be ahead of the broker's time.",
        Range(0), _M, (_S("log.message.timestamp.after.max.ms"),),
    ),
    ConfigDef(
        "message.timestamp.before.max.ms", _T.LONG, LONG_MAX,
        "Allowed amount a message timestamp may be behind the broker's time.",
        Range(0), _M, (_S("log.message.timestamp.before.max.ms"),),
    ),
    ConfigDef(
        "message.timestamp.difference.max.ms", _T.LONG, LONG_MAX,
        "Deprecated: maximum difference between a message timestamp and the broker's time.",
        Range(0), _M, (_S("log.message.timestamp.difference.max.ms"),),
    ),
    ConfigDef(
        "message.timestamp.type", _T.STRING, "CreateTime",
        "Whether message timestamps are the producer's (CreateTime) or the broker's.",
        OneOf(("CreateTime", "LogAppendTime")), _M, (_S("log.message.timestamp.type"),),
    ),
    ConfigDef(
        "min.cleanable.dirty.ratio", _T.DOUBLE, 0.5,
        "Dirty fraction of the log above which the cleaner compacts it.",
        Range(0, 1), _M, (_S("log.cleaner.min.cleanable.ratio"),),
    ),
    ConfigDef(
        "min.compaction.lag.ms", _T.LONG, 0,
        "Minimum time a message stays uncompacted in the log.",
        Range(0), _M, (_S("log.cleaner.min.compaction.lag.ms"),),
    ),
    ConfigDef(
        "min.insync.replicas", _T.INT, 1,
        "Minimum in-sync replicas that must acknowledge a write with acks=all.",
        Range(1), _M, (_S("min.insync.replicas"),),
    ),
    ConfigDef(
        "preallocate", _T.BOOLEAN, False,
        "Preallocate the file on disk when creating a new log segment.",
        None, _M, (_S("log.preallocate"),),
    ),
    ConfigDef(
        "remote.log.copy.disable", _T.BOOLEAN, False,
        "Tiered storage, KRaft mode only: stop copying segments to remote storage.",
        None, _M,
    ),
    ConfigDef(
        "remote.log.delete.on.disable", _T.BOOLEAN, False,
        "Tiered storage, KRaft mode only: delete remote data when it is disabled.",
        None, _M,
    ),
    ConfigDef(
        "remote.storage.enable", _T.BOOLEAN, False,
        "Tiered storage for this topic; refused, since the broker has none.",
        None, _M,
    ),
    ConfigDef(
        "retention.bytes", _T.LONG, -1,
        "Maximum size of a partition before old segments are discarded (-1 = unlimited).",
        None, _M, (_S("log.retention.bytes"),),
    ),
    ConfigDef(
        "retention.ms", _T.LONG, 604_800_000,
        "Maximum time a segment is kept before it is discarded (-1 = unlimited).",
        Range(-1), _M,
        (
            _S("log.retention.ms"),
            _S("log.retention.minutes", 60_000),
            _S("log.retention.hours", 3_600_000),
        ),
    ),
    ConfigDef(
        "segment.bytes", _T.INT, 1_073_741_824,
        "Segment file size of the log.",
        Range(14), _M, (_S("log.segment.bytes"),),
    ),
    ConfigDef(
        "segment.index.bytes", _T.INT, 10_485_760,
        "Size of the index that maps offsets to file positions.",
        Range(4), _M, (_S("log.index.size.max.bytes"),),
    ),
    ConfigDef(
        "segment.jitter.ms", _T.LONG, 0,
        "Maximum random jitter subtracted from segment.ms to avoid thundering rolls.",
        Range(0), _M,
        (_S("log.roll.jitter.ms"), _S("log.roll.jitter.hours", 3_600_000)),
    ),
    ConfigDef(
        "segment.ms", _T.LONG, 604_800_000,
        "Time after which a segment is rolled even if it is not full.",
        Range(1), _M, (_S("log.roll.ms"), _S("log.roll.hours", 3_600_000)),
    ),
    ConfigDef(
        "unclean.leader.election.enable", _T.BOOLEAN, False,
        "Whether out-of-sync replicas may be elected leader as a last resort.",
        None, _M, (_S("unclean.leader.election.enable"),),
    ),
)
# fmt: on

TOPIC_CONFIGS: dict[str, ConfigDef] = {d.name: d for d in TOPIC_CONFIG_DEFS}


def _field_value_str(definition: ConfigDef, config: LogConfig) -> str | None:
    return definition.format(_as_config_value(getattr(config, definition.attr)))


def _as_config_value(value: object) -> ConfigValue:
    if isinstance(value, bool | int | float | str | tuple) or value is None:
        return value
    return str(value)


def describe(
    defaults: LogConfig,
    overrides: Mapping[str, str],
    broker_config_values: Mapping[str, str],
    broker_defaults: Mapping[str, str | None] | None = None,
    names: Iterable[str] | None = None,
    *,
    dynamic_broker: Mapping[str, str] | None = None,
    dynamic_default: Mapping[str, str] | None = None,
) -> list[ConfigEntry]:
    """DescribeConfigs entries for a topic.

    ``defaults`` is the broker-derived LogConfig, ``overrides`` the topic's
    own configs (raw strings), ``broker_config_values`` the broker keys set
    statically in the server properties, ``dynamic_broker`` / ``dynamic_default``
    the dynamic broker configs of this broker and of the cluster (KIP-226),
    ``broker_defaults`` the broker keys' default values (for DEFAULT_CONFIG
    synonyms; omitted synonyms are left out). ``names`` limits the result to
    those configs (unknown ones are skipped, as Kafka does).

    Synonyms come in Kafka's order of precedence: the topic override, then per
    layer (dynamic broker, dynamic default, static, default) each broker synonym
    of the topic config (``log.retention.ms`` > ``minutes`` > ``hours``).
    """
    wanted = set(names) if names is not None else None
    layers: tuple[tuple[Mapping[str, str | None], ConfigSource], ...] = (
        (dynamic_broker or {}, ConfigSource.DYNAMIC_BROKER_CONFIG),
        (dynamic_default or {}, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        (broker_config_values, ConfigSource.STATIC_BROKER_CONFIG),
        (broker_defaults or {}, ConfigSource.DEFAULT_CONFIG),
    )
    entries: list[ConfigEntry] = []
    for d in TOPIC_CONFIG_DEFS:
        if wanted is not None and d.name not in wanted:
            continue
        synonyms: list[ConfigSynonym] = []
        if d.name in overrides:
            try:
                value = d.format(d.parse(overrides[d.name]))
            except ValueError:
                value = overrides[d.name]
            synonyms.append(ConfigSynonym(d.name, value, ConfigSource.DYNAMIC_TOPIC_CONFIG))
        chain = [syn.name for syn in d.synonyms]
        synonyms.extend(layered_synonyms(chain[0], chain, layers) if chain else ())
        if d.name in overrides:
            top_value, source = synonyms[0].value, ConfigSource.DYNAMIC_TOPIC_CONFIG
        else:
            top_value = _field_value_str(d, defaults)
            source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
        entries.append(
            ConfigEntry(
                name=d.name,
                value=top_value,
                source=source,
                read_only=False,
                is_sensitive=False,
                synonyms=tuple(synonyms),
                config_type=d.type,
                documentation=d.doc,
            )
        )
    return entries


def layered_synonyms(
    name: str,
    chain: list[str],
    layers: Iterable[tuple[Mapping[str, str | None], ConfigSource]],
    sensitive: bool = False,
) -> list[ConfigSynonym]:
    """Kafka's ConfigHelper.configSynonyms: every key of ``chain`` (the synonyms of
    ``name`` in order of precedence) set in a layer, layer by layer, from the first entry
    of ``name`` itself; nothing when ``name`` is set in no layer (as Kafka 3.9 answers for
    retention.ms while log.retention.ms is unset, even though log.retention.hours decides
    the value)."""
    found = [
        ConfigSynonym(key, None if sensitive else layer[key], source)
        for layer, source in layers
        for key in chain
        if layer.get(key) is not None
    ]
    for i, synonym in enumerate(found):
        if synonym.name == name:
            return found[i:]
    return []


def log_config_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(LogConfig))
