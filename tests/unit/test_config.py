"""Broker configuration: properties format, precedence, validation, describe, CLI."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import cli
from broker.config.broker_config import (
    BROKER_CONFIG_DEFS,
    BROKER_CONFIGS,
    BrokerConfig,
    ConfigError,
    Listener,
    describe_broker,
    describe_topic,
    generate_cluster_id,
    is_valid_cluster_id,
    load_config,
    parse_properties,
    render_config_table,
)
from storage.log_config import (
    LONG_MAX,
    TOPIC_CONFIG_DEFS,
    ConfigSource,
    ConfigType,
    LogConfig,
)

JOSEF = Path(sys.executable).with_name("josef")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- Java properties format ------------------------------------------------------------


def test_properties_separators_and_whitespace() -> None:
    text = "a=1\nb:2\nc 3\n  d  =  4  \ne\t:\t5\nf\n g = =x\n"
    assert parse_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "4  ",
        "e": "5",
        "f": "",
        "g": "=x",
    }


def test_properties_comments_and_blank_lines() -> None:
    text = "# comment\n! also a comment\n\n   # indented comment\nkey=value # not a comment\n"
    assert parse_properties(text) == {"key": "value # not a comment"}


def test_properties_line_continuation() -> None:
    text = "listeners=PLAINTEXT://:9092,\\\n           SSL://:9093\nnext=1\n"
    assert parse_properties(text) == {"listeners": "PLAINTEXT://:9092,SSL://:9093", "next": "1"}


def test_properties_even_backslashes_do_not_continue() -> None:
    text = "a=x\\\\\nb=y\n"
    assert parse_properties(text) == {"a": "x\\", "b": "y"}


def test_properties_comment_line_does_not_continue() -> None:
    assert parse_properties("# ends in backslash \\\nkey=v\n") == {"key": "v"}


def test_properties_continuation_at_end_of_file() -> None:
    assert parse_properties("a=1\\") == {"a": "1"}


def test_properties_escapes() -> None:
    text = "a=tab\\there\nb=\\u00e9t\\u00E9\nc\\=d=e\nf\\ g=h\\:i\nj=\\q\nk=\\ud83d\\ude00\n"
    assert parse_properties(text) == {
        "a": "tab\there",
        "b": "été",
        "c=d": "e",
        "f g": "h:i",
        "j": "q",
        "k": "😀",
    }


def test_properties_crlf_and_cr_line_endings() -> None:
    assert parse_properties("a=1\r\nb=2\rc=3") == {"a": "1", "b": "2", "c": "3"}


def test_properties_later_key_wins() -> None:
    assert parse_properties("a=1\na=2\n") == {"a": "2"}


def test_properties_malformed_unicode_escape_raises() -> None:
    with pytest.raises(ConfigError) as info:
        parse_properties("ok=1\nbad=\\u12G4\n", "server.properties")
    assert info.value.key == "server.properties"
    assert "line 2" in str(info.value)
    assert "\n" not in str(info.value)


# --- defaults ----------------------------------------------------------------------------


def test_kafka_defaults() -> None:
    c = BrokerConfig.default()
    assert c.broker_id == 0 and c.node_id == 0
    assert c.standalone
    assert c.listeners == (Listener("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 9092),)
    assert c.advertised_listeners == c.listeners
    assert c.log_dirs == (Path("./josef-data"),)
    assert c.num_partitions == 1
    assert c.default_replication_factor == 1
    assert c.auto_create_topics_enable is True
    assert c.message_max_bytes == 1_048_588
    assert c.socket_request_max_bytes == 104_857_600
    assert c.socket_send_buffer_bytes == 102_400
    assert c.socket_receive_buffer_bytes == 102_400
    assert c.connections_max_idle_ms == 600_000
    assert c.log_segment_bytes == 1_073_741_824
    assert c.log_roll_ms == 168 * 3_600_000
    assert c.log_roll_jitter_ms == 0
    assert c.log_retention_ms == 168 * 3_600_000
    assert c.log_retention_bytes == -1
    assert c.log_retention_check_interval_ms == 300_000
    assert c.log_flush_interval_messages == LONG_MAX
    assert c.log_flush_interval_ms == LONG_MAX
    assert c.log_flush_offset_checkpoint_interval_ms == 60_000
    assert c.log_flush_start_offset_checkpoint_interval_ms == 60_000
    assert c.log_index_interval_bytes == 4096
    assert c.log_index_size_max_bytes == 10_485_760
    assert c.log_message_timestamp_type == "CreateTime"
    assert c.log_cleanup_policy == ("delete",)
    assert c.log_cleaner_enable is True
    assert c.log_segment_delete_delay_ms == 60_000
    assert c.delete_topic_enable is True
    assert c.compression_type == "producer"
    assert c.min_insync_replicas == 1
    assert c.unclean_leader_election_enable is False
    assert c.offsets_topic_num_partitions == 50
    assert c.offsets_topic_replication_factor == 3
    assert c.offsets_retention_minutes == 10_080
    assert c.group_initial_rebalance_delay_ms == 3000
    assert c.group_min_session_timeout_ms == 6000
    assert c.group_max_session_timeout_ms == 1_800_000
    assert c.queued_max_requests == 500
    assert c.num_recovery_threads_per_data_dir == 1
    assert c.producer_id_expiration_ms == 86_400_000
    assert c.transactional_id_expiration_ms == 604_800_000
    assert c.transaction_max_timeout_ms == 900_000
    assert c.zookeeper_connect is None
    assert c.zookeeper_session_timeout_ms == 18_000
    assert c.zookeeper_connection_timeout_ms == 18_000
    assert c.josef_http_listeners == "http://127.0.0.1:9644"
    assert [str(e) for e in c.http_listeners] == ["http://127.0.0.1:9644"]
    assert c.josef_metrics_max_partition_labels == 1000
    assert c.inter_broker_listener_name == "PLAINTEXT"


def test_every_def_has_a_typed_attribute_and_back() -> None:
    attrs = {f.name for f in dataclasses.fields(BrokerConfig)}
    meta = {"values", "originals", "unknown"}
    assert {d.attr for d in BROKER_CONFIG_DEFS} == attrs - meta
    assert len(BROKER_CONFIGS) == len(BROKER_CONFIG_DEFS)


def test_defaults_satisfy_their_validators() -> None:
    for d in BROKER_CONFIG_DEFS:
        d.validate(d.default)
        if d.default is not None:
            text = d.format(d.default)
            assert text is not None
            assert d.parse(text) == d.default, d.name


# --- precedence ----------------------------------------------------------------------------


def test_retention_ms_beats_minutes_beats_hours() -> None:
    both = {"log.retention.hours": "2", "log.retention.minutes": "3"}
    assert BrokerConfig.from_properties({"log.retention.hours": "2"}).log_retention_ms == 7_200_000
    assert BrokerConfig.from_properties(both).log_retention_ms == 180_000
    assert BrokerConfig.from_properties({**both, "log.retention.ms": "42"}).log_retention_ms == 42


def test_negative_retention_means_unlimited() -> None:
    assert BrokerConfig.from_properties({"log.retention.hours": "-1"}).log_retention_ms == -1
    assert BrokerConfig.from_properties({"log.retention.minutes": "-5"}).log_retention_ms == -1
    assert BrokerConfig.from_properties({"log.retention.ms": "-7"}).log_retention_ms == -1


def test_roll_and_jitter_ms_beat_hours() -> None:
    c = BrokerConfig.from_properties({"log.roll.hours": "1", "log.roll.jitter.hours": "2"})
    assert (c.log_roll_ms, c.log_roll_jitter_ms) == (3_600_000, 7_200_000)
    c = c.with_overrides({"log.roll.ms": "10", "log.roll.jitter.ms": "5"})
    assert (c.log_roll_ms, c.log_roll_jitter_ms) == (10, 5)


def test_flush_interval_falls_back_to_scheduler_interval() -> None:
    c = BrokerConfig.from_properties({"log.flush.scheduler.interval.ms": "2000"})
    assert c.log_flush_interval_ms == 2000
    c = c.with_overrides({"log.flush.interval.ms": "500"})
    assert c.log_flush_interval_ms == 500


def test_zookeeper_connection_timeout_falls_back_to_session_timeout() -> None:
    c = BrokerConfig.from_properties({"zookeeper.session.timeout.ms": "9000"})
    assert c.zookeeper_connection_timeout_ms == 9000
    c = c.with_overrides({"zookeeper.connection.timeout.ms": "100"})
    assert c.zookeeper_connection_timeout_ms == 100


def test_log_dirs_beat_log_dir() -> None:
    assert BrokerConfig.from_properties({"log.dir": "/a"}).log_dirs == (Path("/a"),)
    c = BrokerConfig.from_properties({"log.dir": "/a", "log.dirs": "/b, /c"})
    assert c.log_dirs == (Path("/b"), Path("/c"))


def test_overrides_beat_the_file(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=3\nlog.dirs=/data\ndelete.topic.enable=false\n")
    c = load_config(path, ["num.partitions=7", "auto.create.topics.enable = false"])
    assert c.num_partitions == 7
    assert c.log_dirs == (Path("/data"),)
    assert c.delete_topic_enable is False
    assert c.auto_create_topics_enable is False
    assert c.originals["num.partitions"] == "7"


def test_override_value_may_contain_equals() -> None:
    c = load_config(None, ["super.users=User:CN=admin,O=x"])
    assert c.super_users == "User:CN=admin,O=x"


# --- broker id ---------------------------------------------------------------------------------


def test_node_id_is_an_alias_of_broker_id() -> None:
    assert BrokerConfig.from_properties({"node.id": "4"}).broker_id == 4
    assert BrokerConfig.from_properties({"broker.id": "4", "node.id": "4"}).node_id == 4
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties({"broker.id": "4", "node.id": "5"})
    assert info.value.key == "node.id"


def test_standalone_refuses_generated_broker_id() -> None:
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties({"broker.id": "-1"})
    assert info.value.key == "broker.id"


def test_cluster_mode_allows_generated_broker_id_and_checks_reserved_range() -> None:
    zk = {"zookeeper.connect": "127.0.0.1:2181/josef"}
    c = BrokerConfig.from_properties(zk)
    assert c.broker_id == -1 and not c.standalone
    assert BrokerConfig.from_properties({**zk, "broker.id": "1000"}).broker_id == 1000
    with pytest.raises(ConfigError, match=r"reserved\.broker\.max\.id"):
        BrokerConfig.from_properties({**zk, "broker.id": "1001"})
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties({**zk, "broker.id.generation.enable": "false"})
    assert info.value.key == "broker.id"


def test_blank_zookeeper_connect_is_standalone() -> None:
    assert BrokerConfig.from_properties({"zookeeper.connect": "  "}).standalone


# --- listeners ------------------------------------------------------------------------------------


def test_listeners_parse_hosts_ports_and_protocols() -> None:
    c = BrokerConfig.from_properties(
        {
            "listeners": "PLAINTEXT://:9092, secure://0.0.0.0:9093,V6://[::1]:0",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL,V6:SSL",
            "advertised.listeners": "PLAINTEXT://broker1:9092,SECURE://broker1:19093",
        }
    )
    assert c.listeners == (
        Listener("PLAINTEXT", "PLAINTEXT", "", 9092),
        Listener("SECURE", "SASL_SSL", "0.0.0.0", 9093),
        Listener("V6", "SSL", "::1", 0),
    )
    assert c.listeners[0].all_interfaces and c.listeners[1].all_interfaces
    assert str(c.listeners[2]) == "V6://[::1]:0"
    assert c.advertised_listeners == (
        Listener("PLAINTEXT", "PLAINTEXT", "broker1", 9092),
        Listener("SECURE", "SASL_SSL", "broker1", 19093),
    )
    assert c.advertised_listener("secure") == Listener("SECURE", "SASL_SSL", "broker1", 19093)
    assert c.listener_security_protocol_map["V6"] == "SSL"


@pytest.mark.parametrize(
    ("props_", "key"),
    [
        ({"listeners": "PLAINTEXT:/localhost:9092"}, "listeners"),
        ({"listeners": "PLAINTEXT://localhost:99999"}, "listeners"),
        ({"listeners": "INTERNAL://localhost:9092"}, "listeners"),
        ({"listeners": "PLAINTEXT://a:9092,PLAINTEXT://b:9093"}, "listeners"),
        ({"listeners": "PLAINTEXT://:9092,SSL://:9092"}, "listeners"),
        ({"listeners": ""}, "listeners"),
        ({"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners"),
        ({"advertised.listeners": "SSL://host:9093"}, "advertised.listeners"),
        ({"listener.security.protocol.map": "PLAINTEXT:TLS"}, "listener.security.protocol.map"),
        ({"listener.security.protocol.map": "PLAINTEXT"}, "listener.security.protocol.map"),
    ],
)
def test_bad_listeners(props_: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties(props_)
    assert info.value.key == key


def test_inter_broker_listener() -> None:
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties(
            {"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "SSL"}
        )
    assert info.value.key == "inter.broker.listener.name"
    with pytest.raises(ConfigError):
        BrokerConfig.from_properties(
            {"zookeeper.connect": "zk:2181", "inter.broker.listener.name": "INTERNAL"}
        )
    c = BrokerConfig.from_properties({"inter.broker.listener.name": "plaintext"})
    assert c.inter_broker_listener_name == "PLAINTEXT"


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("log.segment.bytes", "abc", "integer"),
        ("log.segment.bytes", "13", "at least 14"),
        ("log.segment.bytes", "3000000000", "out of range"),
        ("num.partitions", "0", "at least 1"),
        ("num.partitions", "1_000", "integer"),
        ("auto.create.topics.enable", "yes", "true or false"),
        ("log.message.timestamp.type", "createtime", "one of"),
        ("log.cleanup.policy", "delete,forever", "one of"),
        ("compression.type", "brotli", "one of"),
        ("log.cleaner.min.cleanable.ratio", "1.5", "no more than 1"),
        ("log.cleaner.min.cleanable.ratio", "half", "double"),
        ("offsets.topic.replication.factor", "40000", "short"),
        ("josef.http.listeners", "http://127.0.0.1:70000", "65535"),
        ("josef.http.listeners", "https://127.0.0.1:9644", "needs a key store"),
        ("josef.http.listeners", "ftp://127.0.0.1:9644", "http://host:port"),
        ("josef.http.listeners", "127.0.0.1:9644", "http://host:port"),
        ("josef.metrics.max.partition.labels", "-1", "at least 0"),
        ("log.flush.interval.messages", "0", "at least 1"),
        ("ssl.client.auth", "maybe", "one of"),
        ("josef.cluster.id", "not-an-id", "16-byte"),
        ("log.cleaner.dedupe.buffer.size", "1000", "1 MiB"),
        ("log.dirs", " , ", "directory"),
    ],
)
def test_invalid_values_name_the_key(key: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        BrokerConfig.from_properties({key: value})
    assert info.value.key == key
    message = str(info.value)
    assert message.startswith(f"{key}: ")
    assert fragment in message
    assert "\n" not in message


def test_values_are_trimmed_and_booleans_case_insensitive() -> None:
    c = BrokerConfig.from_properties(
        {
            "num.partitions": " 12 ",
            "delete.topic.enable": " FALSE",
            "log.cleanup.policy": "compact, delete",
        }
    )
    assert c.num_partitions == 12
    assert c.delete_topic_enable is False
    assert c.log_cleanup_policy == ("compact", "delete")


def test_config_error_str_is_one_line() -> None:
    assert str(ConfigError("a.b", "first\nsecond")) == "a.b: first second"


def test_unparsable_override_raises() -> None:
    with pytest.raises(ConfigError):
        load_config(None, ["no-equals-sign"])
    with pytest.raises(ConfigError):
        load_config(None, ["=value"])


def test_missing_or_unreadable_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.properties", [])
    assert info.value.key == str(tmp_path / "missing.properties")
    bad = tmp_path / "latin1.properties"
    bad.write_bytes(b"a=\xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(bad, [])
    with pytest.raises(ConfigError):
        load_config(tmp_path, [])


# --- unknown keys -------------------------------------------------------------------------------


def test_unknown_keys_are_kept_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="broker.config.broker_config")
    key = "josef.test.unknown.key.once"
    first = load_config(None, [f"{key}=1"])
    second = load_config(None, [f"{key}=2", "listener.name.plaintext.plain.sasl.jaas.config=x"])
    assert first.unknown == {key: "1"}
    assert second.unknown[key] == "2"
    warnings = [r.getMessage() for r in caplog.records if r.name == "broker.config.broker_config"]
    assert warnings == [f"unknown configuration key {key} ignored"]


# --- derived views -------------------------------------------------------------------------------


def test_log_config_defaults_follow_broker_synonyms() -> None:
    c = BrokerConfig.from_properties(
        {
            "log.retention.minutes": "10",
            "log.retention.bytes": "1000",
            "log.segment.bytes": "2048",
            "log.roll.ms": "99",
            "log.roll.jitter.hours": "1",
            "log.index.size.max.bytes": "4096",
            "log.index.interval.bytes": "100",
            "message.max.bytes": "5000",
            "log.message.timestamp.type": "LogAppendTime",
            "log.flush.interval.messages": "10",
            "log.flush.scheduler.interval.ms": "3000",
            "min.insync.replicas": "2",
            "log.segment.delete.delay.ms": "1",
            "log.cleaner.delete.retention.ms": "2",
            "log.cleaner.min.compaction.lag.ms": "3",
            "log.cleaner.max.compaction.lag.ms": "4",
            "log.cleaner.min.cleanable.ratio": "0.25",
            "compression.type": "zstd",
            "unclean.leader.election.enable": "true",
            "log.preallocate": "true",
            "log.cleanup.policy": "compact,delete",
            "log.message.timestamp.after.max.ms": "3600000",
            "log.message.downconversion.enable": "false",
        }
    )
    assert c.log_config_defaults() == LogConfig(
        cleanup_policy="compact,delete",
        retention_ms=600_000,
        retention_bytes=1000,
        segment_bytes=2048,
        segment_ms=99,
        segment_index_bytes=4096,
        segment_jitter_ms=3_600_000,
        index_interval_bytes=100,
        max_message_bytes=5000,
        message_timestamp_type="LogAppendTime",
        flush_messages=10,
        flush_ms=3000,
        min_insync_replicas=2,
        file_delete_delay_ms=1,
        delete_retention_ms=2,
        min_compaction_lag_ms=3,
        max_compaction_lag_ms=4,
        min_cleanable_dirty_ratio=0.25,
        compression_type="zstd",
        unclean_leader_election_enable=True,
        preallocate=True,
        message_timestamp_after_max_ms=3_600_000,
        message_downconversion_enable=False,
    )


def test_default_log_config_matches_logconfig_defaults() -> None:
    assert BrokerConfig.default().log_config_defaults() == LogConfig()


def test_topic_synonyms_exist_in_the_broker_table() -> None:
    throttles = {"leader.replication.throttled.replicas", "follower.replication.throttled.replicas"}
    for d in TOPIC_CONFIG_DEFS:
        if d.name in throttles:
            continue
        for syn in d.synonyms:
            assert syn.name in BROKER_CONFIGS, (d.name, syn.name)


def test_describe_broker_sources_synonyms_and_secrets() -> None:
    c = BrokerConfig.from_properties(
        {"log.retention.minutes": "10", "num.partitions": "3", "ssl.key.password": "hunter2"}
    )
    entries = {e.name: e for e in describe_broker(c)}
    assert set(entries) == set(BROKER_CONFIGS)
    num = entries["num.partitions"]
    assert (num.value, num.source, num.config_type) == (
        "3",
        ConfigSource.STATIC_BROKER_CONFIG,
        ConfigType.INT,
    )
    assert [(s.name, s.value, s.source) for s in num.synonyms] == [
        ("num.partitions", "3", ConfigSource.STATIC_BROKER_CONFIG),
        ("num.partitions", "1", ConfigSource.DEFAULT_CONFIG),
    ]
    # Kafka 3.9 (ConfigHelper.configSynonyms) lists synonyms from the key's own first entry:
    # log.retention.ms is set nowhere, so none (tests/fixtures/kafka_3_9_1_wire.json).
    retention = entries["log.retention.ms"]
    assert retention.value is None and retention.source is ConfigSource.DEFAULT_CONFIG
    assert retention.synonyms == ()
    minutes = entries["log.retention.minutes"]
    assert [(s.name, s.value, s.source) for s in minutes.synonyms] == [
        ("log.retention.minutes", "10", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    secret = entries["ssl.key.password"]
    assert secret.is_sensitive and secret.value is None
    assert all(s.value is None for s in secret.synonyms)
    assert secret.config_type is ConfigType.PASSWORD
    assert entries["broker.id"].value == "0"
    assert all(e.read_only for e in entries.values())
    assert entries["log.cleanup.policy"].config_type is ConfigType.LIST
    only = describe_broker(c, ["num.partitions", "no.such.key"])
    assert [e.name for e in only] == ["num.partitions"]


def test_describe_topic_uses_broker_values() -> None:
    c = BrokerConfig.from_properties({"log.retention.hours": "1"})
    entries = {e.name: e for e in describe_topic(c, {"segment.bytes": "1000"})}
    # As Kafka 3.9: synonyms start at log.retention.ms, which is unset, so there are none
    # and the source is DEFAULT_CONFIG although log.retention.hours gives the value.
    retention = entries["retention.ms"]
    assert retention.value == "3600000"
    assert retention.source is ConfigSource.DEFAULT_CONFIG
    assert retention.synonyms == ()
    segment = entries["segment.bytes"]
    assert segment.value == "1000" and segment.source is ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert entries["cleanup.policy"].source is ConfigSource.DEFAULT_CONFIG


def test_render_config_table_lists_every_key() -> None:
    table = render_config_table()
    for d in BROKER_CONFIG_DEFS:
        assert f"| `{d.name}` |" in table
    assert "| `log.segment.bytes` | int | `1073741824` | [14,...] |" in table


def test_cluster_ids() -> None:
    ids = {generate_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for text in ids:
        assert len(text) == 22 and is_valid_cluster_id(text) and not text.startswith("-")
    assert BrokerConfig.from_properties({"josef.cluster.id": next(iter(ids))}).josef_cluster_id


# --- CLI --------------------------------------------------------------------------------------


def run_josef(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JOSEF), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_invalid_override_exits_2_with_one_line() -> None:
    result = run_josef("start", "--override", "log.segment.bytes=abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("josef: invalid configuration: log.segment.bytes: ")


def test_cli_missing_config_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.properties"
    result = run_josef("start", "--config", str(missing))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"josef: invalid configuration: {missing}: ")
    assert "No such file" in lines[0]


def test_cli_unparsable_config_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.properties"
    path.write_text("broker.id=0\nkey=\\uZZZZ\n")
    result = run_josef("start", "-c", str(path), "-o", "num.partitions=2")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"josef: invalid configuration: {path}: line 2")


@pytest.mark.usefixtures("restore_root_logging")
def test_cli_version_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("josef ")
    assert cli.main([]) == 2


@pytest.mark.usefixtures("restore_root_logging")
def test_cli_start_passes_config_to_run_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    seen: list[BrokerConfig] = []

    def run_broker(config: BrokerConfig) -> int:
        seen.append(config)
        return 7

    fake = types.ModuleType("broker.server")
    fake.run_broker = run_broker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "broker.server", fake)
    monkeypatch.setenv("JOSEF_LOG_LEVEL", "debug")
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=3\n")
    code = cli.main(["start", "--config", str(path), "-o", "num.partitions=4", "log.dirs=/x"])
    assert code == 7
    assert seen[0].num_partitions == 4 and seen[0].log_dirs == (Path("/x"),)
    assert logging.getLogger().level == logging.DEBUG


@pytest.mark.usefixtures("restore_root_logging")
def test_cli_invalid_config_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["start", "-o", "num.partitions=zero"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("josef: invalid configuration: num.partitions: ")


def test_deprecated_timestamp_difference_is_accepted_and_in_effect() -> None:
    """log.message.timestamp.difference.max.ms (deprecated in Kafka 3.6) still bounds
    CreateTime timestamps while before/after.max.ms are unset, as in Kafka 3.9."""
    from broker.config.support import check_supported

    c = BrokerConfig.from_properties({"log.message.timestamp.difference.max.ms": "60000"})
    check_supported(c)
    defaults = c.log_config_defaults()
    assert (defaults.timestamp_before_max_ms, defaults.timestamp_after_max_ms) == (60000, 60000)
    c = BrokerConfig.from_properties(
        {
            "log.message.timestamp.difference.max.ms": "60000",
            "log.message.timestamp.before.max.ms": "1000",
        }
    )
    defaults = c.log_config_defaults()
    assert (defaults.timestamp_before_max_ms, defaults.timestamp_after_max_ms) == (1000, 60000)
