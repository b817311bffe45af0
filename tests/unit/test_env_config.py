"""KAFKA_* / JOSEF_* environment variables → broker configuration keys (env_config)."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import cli
from broker.config.broker_config import BROKER_CONFIGS, BrokerConfig, ConfigError
from broker.config.env_config import (
    PROCESS_VARIABLES,
    EnvOverride,
    env_overrides,
    key_for_variable,
    override_args,
    variable_for_key,
)


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("KAFKA_BROKER_ID", "broker.id"),
        ("KAFKA_ZOOKEEPER_CONNECT", "zookeeper.connect"),
        ("KAFKA_ADVERTISED_LISTENERS", "advertised.listeners"),
        ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "listener.security.protocol.map"),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "offsets.topic.replication.factor"),
        ("KAFKA_LOG_RETENTION_MS", "log.retention.ms"),
        ("JOSEF_CLUSTER_ID", "josef.cluster.id"),
        ("JOSEF_HTTP_LISTENERS", "josef.http.listeners"),
        # apache/kafka's rule: __ is a literal '_', ___ is a '-'
        (
            "KAFKA_LISTENER_NAME_CLIENT__SECURE_SSL_KEYSTORE_LOCATION",
            "listener.name.client_secure.ssl.keystore.location",
        ),
        (
            "KAFKA_LISTENER_NAME_MY___LISTENER_SSL_CLIENT_AUTH",
            "listener.name.my-listener.ssl.client.auth",
        ),
    ],
)
def test_variable_maps_to_key(variable: str, key: str) -> None:
    assert key_for_variable(variable) == key


@pytest.mark.parametrize(
    "variable",
    [
        "PATH",
        "HOME",
        "KAFKA",
        "JOSEFINE_X",
        "kafka_broker_id",
        *sorted(PROCESS_VARIABLES),
        # Kubernetes service links of a Service named kafka or josef
        "KAFKA_PORT",
        "KAFKA_SERVICE_HOST",
        "KAFKA_SERVICE_PORT",
        "KAFKA_SERVICE_PORT_PLAINTEXT",
        "KAFKA_PORT_9092_TCP",
        "KAFKA_PORT_9092_TCP_ADDR",
        "KAFKA_PORT_9092_TCP_PORT",
        "KAFKA_PORT_9092_TCP_PROTO",
        "JOSEF_SERVICE_HOST",
        "JOSEF_PORT_9092_TCP",
    ],
)
def test_variable_is_not_configuration(variable: str) -> None:
    assert key_for_variable(variable) is None
    assert env_overrides({variable: "x"}) == []


@pytest.mark.parametrize(
    ("variable", "reason"),
    [
        ("KAFKA_broker_id", "upper-case"),
        ("KAFKA_BROKER-ID", "upper-case"),
        ("KAFKA_", "upper-case"),
        ("JOSEF_", "upper-case"),
        ("KAFKA_LOG____DIRS", "4 underscores in a row"),
        ("KAFKA_JOSEF_CLUSTER_ID", "set josef.cluster.id with JOSEF_CLUSTER_ID"),
    ],
)
def test_malformed_variable_is_refused(variable: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        env_overrides({variable: "1"})
    assert info.value.key == variable
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("KAFKA_NO_SUCH_SETTING", "no.such.setting"),
        ("KAFKA_BROKER__ID", "broker_id"),
        ("JOSEF_NO_SUCH_SETTING", "josef.no.such.setting"),
        ("JOSEF_TEST_BROKER", "josef.test.broker"),
    ],
)
def test_variable_for_an_unknown_key_is_refused(variable: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        env_overrides({"KAFKA_BROKER_ID": "1", variable: "1"})
    assert str(info.value) == f"{variable}: maps to {key}, which is not a broker configuration key"


def test_listener_name_prefixed_keys_are_accepted() -> None:
    env = {"KAFKA_LISTENER_NAME_INTERNAL_SSL_KEYSTORE_LOCATION": "/etc/ks.jks"}
    assert env_overrides(env) == [
        EnvOverride(
            "KAFKA_LISTENER_NAME_INTERNAL_SSL_KEYSTORE_LOCATION",
            "listener.name.internal.ssl.keystore.location",
            "/etc/ks.jks",
        )
    ]


def test_values_pass_verbatim_sorted_by_variable() -> None:
    env = {
        "PATH": "/usr/bin",
        "KAFKA_ZOOKEEPER_CONNECT": "zoo1:2181,zoo2:2181/josef",
        "KAFKA_BROKER_ID": "3",
        "JOSEF_CLUSTER_ID": "AAAAAAAAAAAAAAAAAAAAAQ",
        "KAFKA_SSL_KEY_PASSWORD": " a=b c ",
        "KAFKA_ADVERTISED_LISTENERS": "",
    }
    got = env_overrides(env)
    assert [o.variable for o in got] == sorted(o.variable for o in got)
    assert override_args(got) == [
        "josef.cluster.id=AAAAAAAAAAAAAAAAAAAAAQ",
        "advertised.listeners=",
        "broker.id=3",
        "ssl.key.password= a=b c ",
        "zookeeper.connect=zoo1:2181,zoo2:2181/josef",
    ]


@pytest.mark.parametrize("key", sorted(BROKER_CONFIGS))
def test_every_broker_key_has_a_variable(key: str) -> None:
    variable = variable_for_key(key)
    assert variable.startswith("JOSEF_" if key.startswith("josef.") else "KAFKA_")
    assert key_for_variable(variable) == key


_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


@given(
    st.lists(_SEGMENT, min_size=1, max_size=5),
    st.lists(st.sampled_from(".-_"), min_size=4, max_size=4),
)
def test_spelling_round_trips(segments: list[str], separators: list[str]) -> None:
    key = segments[0]
    for sep, seg in zip(separators, segments[1:], strict=False):
        key += sep + seg
    assert key_for_variable(variable_for_key(key)) == key


# --- josef start: file < environment < --override --------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BrokerConfig]]:
    """Replace the broker with a stub that records the configuration ``josef start`` built."""
    seen: list[BrokerConfig] = []
    server: Any = importlib.import_module("broker.server")

    def run_broker(config: BrokerConfig) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(server, "run_broker", run_broker)
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "JOSEF_")):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield seen
    root.handlers[:] = handlers  # josef start configures logging with basicConfig(force=True)
    root.setLevel(level)


def test_start_precedence_file_env_override(
    started: list[BrokerConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    props = tmp_path / "server.properties"
    props.write_text("broker.id=1\nnum.partitions=1\nlog.retention.hours=1\n")
    monkeypatch.setenv("KAFKA_BROKER_ID", "2")
    monkeypatch.setenv("KAFKA_NUM_PARTITIONS", "2")
    argv = ["start", "--config", str(props), "--override-from-env", "--override", "broker.id=3"]
    assert cli.main(argv) == 0
    (config,) = started
    assert config.broker_id == 3  # --override beats the environment
    assert config.num_partitions == 2  # the environment beats the file
    assert config.log_retention_ms == 3_600_000  # the file beats the defaults


def test_start_ignores_the_environment_without_the_flag(
    started: list[BrokerConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BROKER_ID", "2")
    monkeypatch.setenv("KAFKA_NO_SUCH_SETTING", "1")
    assert cli.main(["start"]) == 0
    assert started[0].broker_id == 0


def test_start_refuses_an_unknown_variable(
    started: list[BrokerConfig],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_NO_SUCH_SETTING", "1")
    assert cli.main(["start", "--override-from-env"]) == 2
    assert started == []
    assert capsys.readouterr().err == (
        "josef: invalid configuration: KAFKA_NO_SUCH_SETTING: maps to no.such.setting,"
        " which is not a broker configuration key\n"
    )


def test_start_reports_an_invalid_value_by_key(
    started: list[BrokerConfig],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_NUM_PARTITIONS", "many")
    assert cli.main(["start", "--override-from-env"]) == 2
    assert started == []
    err = capsys.readouterr().err.splitlines()
    assert "num.partitions (KAFKA_NUM_PARTITIONS)" in err[0]  # the INFO line names the variable
    assert err[-1] == (
        "josef: invalid configuration: num.partitions: expected an integer (int), got 'many'"
    )
