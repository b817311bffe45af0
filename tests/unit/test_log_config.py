"""Topic-level LogConfig: the config table, overrides and DescribeConfigs entries."""

from __future__ import annotations

import dataclasses

import pytest

from protocol.errors import ErrorCode
from storage.log_config import (
    LONG_MAX,
    TOPIC_CONFIG_DEFS,
    TOPIC_CONFIGS,
    ConfigSource,
    ConfigType,
    InvalidConfigError,
    LogConfig,
    describe,
    render_markdown_table,
    validate_topic_overrides,
)

KAFKA_TOPIC_CONFIGS = {
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "local.retention.bytes",
    "local.retention.ms",
    "message.format.version",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
}


def test_table_covers_every_field_and_kafka_topic_config() -> None:
    assert {d.name for d in TOPIC_CONFIG_DEFS} == KAFKA_TOPIC_CONFIGS
    assert {d.attr for d in TOPIC_CONFIG_DEFS} == {f.name for f in dataclasses.fields(LogConfig)}


def test_table_defaults_match_logconfig_defaults() -> None:
    strings = LogConfig().as_strings()
    for d in TOPIC_CONFIG_DEFS:
        assert strings[d.name] == d.default_str, d.name
        d.validate(d.default)


def test_kafka_topic_defaults() -> None:
    c = LogConfig()
    assert c.retention_ms == 604_800_000 and c.segment_ms == 604_800_000
    assert c.segment_bytes == 1_073_741_824 and c.retention_bytes == -1
    assert c.max_message_bytes == 1_048_588
    assert c.flush_messages == LONG_MAX and c.flush_ms == LONG_MAX
    assert c.min_cleanable_dirty_ratio == 0.5 and c.delete_retention_ms == 86_400_000
    assert c.delete and not c.compact and not c.log_append_time


def test_overrides_apply_on_top_of_defaults() -> None:
    defaults = LogConfig(retention_ms=1000)
    c = LogConfig.from_topic_overrides(
        defaults,
        {
            "cleanup.policy": "compact, delete",
            "segment.bytes": " 2048 ",
            "min.cleanable.dirty.ratio": "0.1",
            "preallocate": "TRUE",
            "message.timestamp.type": "LogAppendTime",
            "leader.replication.throttled.replicas": "0:1,1:2",
        },
    )
    assert c.cleanup_policy == "compact,delete" and c.compact and c.delete
    assert c.segment_bytes == 2048
    assert c.min_cleanable_dirty_ratio == 0.1
    assert c.preallocate is True
    assert c.log_append_time
    assert c.retention_ms == 1000
    assert c.leader_replication_throttled_replicas == "0:1,1:2"
    assert LogConfig.from_topic_overrides(defaults, {}) is defaults
    assert c.get("segment.bytes") == 2048


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retention.ms", "forever"),
        ("retention.ms", "-2"),
        ("segment.bytes", "13"),
        ("segment.bytes", "4294967296"),
        ("segment.ms", "0"),
        ("segment.index.bytes", "3"),
        ("cleanup.policy", "compact,forever"),
        ("compression.type", "brotli"),
        ("message.timestamp.type", "Now"),
        ("min.cleanable.dirty.ratio", "2"),
        ("min.insync.replicas", "0"),
        ("preallocate", "1"),
        ("max.compaction.lag.ms", "0"),
        ("flush.messages", "0"),
        ("leader.replication.throttled.replicas", "0-1"),
        ("no.such.config", "1"),
        ("log.retention.ms", "1"),
    ],
)
def test_bad_override_raises_invalid_config(key: str, value: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_topic_overrides(LogConfig(), {key: value})
    assert info.value.key == key
    assert info.value.error_code is ErrorCode.invalid_config
    if key in ("no.such.config", "log.retention.ms"):  # not topic configs: Kafka's words
        assert str(info.value) == f"Unknown topic config name: {key}"
    else:
        assert str(info.value).startswith(f"{key}: ")


def test_min_compaction_lag_may_not_exceed_max() -> None:
    with pytest.raises(InvalidConfigError) as info:
        validate_topic_overrides({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
    assert info.value.key == "min.compaction.lag.ms"


def test_throttled_replicas_wildcard() -> None:
    c = LogConfig.from_topic_overrides(
        LogConfig(), {"follower.replication.throttled.replicas": "*"}
    )
    assert c.follower_replication_throttled_replicas == "*"


def test_describe_sources() -> None:
    defaults = LogConfig(retention_ms=3_600_000, segment_bytes=4096)
    broker_values = {"log.retention.hours": "1", "log.segment.bytes": "4096"}
    broker_defaults = {"log.retention.hours": "168", "log.segment.bytes": "1073741824"}
    entries = {
        e.name: e
        for e in describe(
            defaults,
            {"segment.bytes": "8192", "cleanup.policy": "compact"},
            broker_values,
            broker_defaults=broker_defaults,
        )
    }
    assert set(entries) == KAFKA_TOPIC_CONFIGS

    segment = entries["segment.bytes"]
    assert (segment.value, segment.source) == ("8192", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert [(s.name, s.value, s.source) for s in segment.synonyms] == [
        ("segment.bytes", "8192", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.segment.bytes", "4096", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG),
    ]
    assert segment.config_type is ConfigType.INT

    # Kafka 3.9 lists synonyms from the first entry of the topic config's own broker key
    # (log.retention.ms), set nowhere here: none, and DEFAULT_CONFIG as the source, even
    # though log.retention.hours decides the value.
    retention = entries["retention.ms"]
    assert (retention.value, retention.source) == ("3600000", ConfigSource.DEFAULT_CONFIG)
    assert retention.synonyms == ()
    assert retention.config_type is ConfigType.LONG

    ratio = entries["min.cleanable.dirty.ratio"]
    assert (ratio.value, ratio.source) == ("0.5", ConfigSource.DEFAULT_CONFIG)
    assert ratio.synonyms == ()
    assert ratio.config_type is ConfigType.DOUBLE

    assert entries["cleanup.policy"].config_type is ConfigType.LIST
    assert entries["preallocate"].value == "false"
    assert entries["preallocate"].config_type is ConfigType.BOOLEAN
    assert entries["compression.type"].config_type is ConfigType.STRING
    for entry in entries.values():
        assert entry.read_only is False and entry.is_sensitive is False
        assert entry.documentation


def test_describe_filters_names() -> None:
    entries = describe(LogConfig(), {}, {}, names=["retention.ms", "unknown"])
    assert [e.name for e in entries] == ["retention.ms"]
    assert entries[0].source is ConfigSource.DEFAULT_CONFIG
    assert entries[0].value == "604800000"


def test_config_source_and_type_numbering() -> None:
    assert [int(s) for s in ConfigSource] == [0, 1, 2, 3, 4, 5, 6]
    assert int(ConfigSource.DYNAMIC_TOPIC_CONFIG) == 1
    assert int(ConfigSource.STATIC_BROKER_CONFIG) == 4
    assert int(ConfigSource.DEFAULT_CONFIG) == 5
    names = ["BOOLEAN", "STRING", "INT", "SHORT", "LONG", "DOUBLE", "LIST", "CLASS", "PASSWORD"]
    assert [ConfigType[name].value for name in names] == list(range(1, 10))


def test_markdown_table() -> None:
    table = render_markdown_table(TOPIC_CONFIG_DEFS)
    assert "| `retention.ms` | long | `604800000` | [-1,...] |" in table
    assert "| `min.cleanable.dirty.ratio` | double | `0.5` | [0,...,1] |" in table
    assert table.count("\n") == len(TOPIC_CONFIGS) + 2


# --- Kafka 3.9's remaining topic keys ------------------------------------------------------


def test_tiered_storage_is_refused_with_kafkas_message() -> None:
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_topic_overrides(LogConfig(), {"remote.storage.enable": "true"})
    assert info.value.key == "remote.storage.enable"
    assert info.value.reason == (
        "Tiered Storage functionality is disabled in the broker. Topic cannot be configured "
        "with remote log storage."
    )
    for key in ("remote.log.copy.disable", "remote.log.delete.on.disable"):
        with pytest.raises(InvalidConfigError) as info:
            LogConfig.from_topic_overrides(LogConfig(), {key: "true"})
        assert "under Zookeeper's mode" in info.value.reason
    # off, and local retention (tiered storage only) are accepted, as by Kafka
    config = LogConfig.from_topic_overrides(
        LogConfig(),
        {
            "remote.storage.enable": "false",
            "remote.log.copy.disable": "false",
            "local.retention.ms": "1000",
            "local.retention.bytes": "-1",
        },
    )
    assert (config.local_retention_ms, config.local_retention_bytes) == (1000, -1)
    with pytest.raises(InvalidConfigError):
        LogConfig.from_topic_overrides(LogConfig(), {"local.retention.ms": "-3"})


@pytest.mark.parametrize("version", ["0.10.0", "0.11.0-IV2", "2.8", "3.0-IV1", "3.9", "1.1-IV0"])
def test_message_format_version_is_accepted(version: str) -> None:
    config = LogConfig.from_topic_overrides(LogConfig(), {"message.format.version": version})
    assert config.message_format_version == version


@pytest.mark.parametrize("version", ["4.0", "x", "3.9.1", "0.7"])
def test_message_format_version_must_be_a_kafka_version(version: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        LogConfig.from_topic_overrides(LogConfig(), {"message.format.version": version})
    assert info.value.reason == f"Version `{version}` is not a valid version"


def test_compression_level_ranges() -> None:
    ok = {
        "compression.gzip.level": "1",
        "compression.lz4.level": "17",
        "compression.zstd.level": "-5",
    }
    config = LogConfig.from_topic_overrides(LogConfig(), ok)
    assert (
        config.compression_gzip_level,
        config.compression_lz4_level,
        config.compression_zstd_level,
    ) == (1, 17, -5)
    assert LogConfig.from_topic_overrides(LogConfig(), {"compression.gzip.level": "-1"})
    for key, bad in (
        ("compression.gzip.level", "0"),
        ("compression.gzip.level", "10"),
        ("compression.lz4.level", "0"),
        ("compression.zstd.level", "23"),
    ):
        with pytest.raises(InvalidConfigError):
            LogConfig.from_topic_overrides(LogConfig(), {key: bad})
