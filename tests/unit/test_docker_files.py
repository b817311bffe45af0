"""docker/: the compose file resolves and gets right what breaks most Kafka compose files;
the Dockerfile follows the image rules (pinned base, non-root, health check, signals).

The compose checks run ``docker-compose config`` and skip only when that binary is absent
(.ci/run installs Debian's docker-compose, so they run in CI). Every broker's environment
goes through ``josef start``'s own path: broker.config.env_config, then the real config loader
with the image's server.properties.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers.docker_files import (
    DOCKER_DIR,
    REPO_ROOT,
    SERVER_PROPERTIES,
    compose_config,
    docker_compose_binary,
    dockerfile_instructions,
    duration_s,
    healthcheck_command,
    in_build_context,
    published_ports,
    volume_mounts,
)

from broker.config.broker_config import BrokerConfig, Listener, load_config, parse_properties
from broker.config.env_config import env_overrides, override_args

# --- the compose file ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    binary = docker_compose_binary()
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    return compose_config(binary)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def zookeepers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in services(compose).items()
        if str(s.get("image", "")).startswith("zookeeper:")
    }


def brokers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in services(compose).items()
        if s.get("build", {}).get("dockerfile") == "docker/Dockerfile"
    }


def broker_config(service: dict[str, Any]) -> BrokerConfig:
    """What ``josef start --config /etc/josef/server.properties --override-from-env`` loads."""
    env = {k: str(v) for k, v in service.get("environment", {}).items()}
    return load_config(SERVER_PROPERTIES, override_args(env_overrides(env)))


def listener(listeners: tuple[Listener, ...], name: str) -> Listener:
    (found,) = [lsn for lsn in listeners if lsn.name == name]
    return found


def test_compose_resolves_to_three_zookeepers_and_three_brokers(compose: dict[str, Any]) -> None:
    assert sorted(zookeepers(compose)) == ["zoo1", "zoo2", "zoo3"]
    assert sorted(brokers(compose)) == ["broker1", "broker2", "broker3"]
    for service in brokers(compose).values():
        assert Path(service["build"]["context"]).resolve() == REPO_ROOT


def test_zookeeper_ensemble(compose: dict[str, Any]) -> None:
    zks = zookeepers(compose)
    ids = {}
    for name, service in zks.items():
        assert service["image"] == "zookeeper:3.8"
        env = service["environment"]
        ids[name] = int(env["ZOO_MY_ID"])
        whitelist = {w.strip() for w in env["ZOO_4LW_COMMANDS_WHITELIST"].split(",")}
        assert {"srvr", "ruok"} <= whitelist
        servers = dict(item.split("=", 1) for item in env["ZOO_SERVERS"].split())
        # server.N=host:peer:election;client, one per node, N its ZOO_MY_ID
        expected = {f"server.{int(s['environment']['ZOO_MY_ID'])}": n for n, s in zks.items()}
        assert {k: v.split(":")[0] for k, v in servers.items()} == expected
        assert all(v.endswith(";2181") for v in servers.values())
    assert sorted(ids.values()) == [1, 2, 3]


def test_zookeeper_health_checks_use_ruok_and_srvr(compose: dict[str, Any]) -> None:
    for service in zookeepers(compose).values():
        test = " ".join(service["healthcheck"]["test"])
        assert "ruok" in test and "imok" in test
        assert "srvr" in test and "Mode: " in test  # serving in a quorum, not merely running


def test_brokers_load_through_the_real_config_loader(compose: dict[str, Any]) -> None:
    for name, service in brokers(compose).items():
        config = broker_config(service)
        assert config.unknown == {}, f"{name} sets keys Josef does not know: {config.unknown}"
        assert not config.standalone
        assert config.log_dirs == (Path("/var/lib/josef/data"),)


def test_broker_ids_are_unique(compose: dict[str, Any]) -> None:
    ids = [broker_config(s).broker_id for s in brokers(compose).values()]
    assert sorted(ids) == [1, 2, 3]


def test_advertised_listeners_are_reachable(compose: dict[str, Any]) -> None:
    """INTERNAL by service name on the listener's port; EXTERNAL as localhost on the port
    published for it, which forwards to the EXTERNAL listener's container port."""
    names = set(services(compose))
    for name, service in brokers(compose).items():
        config = broker_config(service)
        assert config.listener_security_protocol_map == {
            "INTERNAL": "PLAINTEXT",
            "EXTERNAL": "PLAINTEXT",
        }
        assert {lsn.name for lsn in config.advertised_listeners} == {"INTERNAL", "EXTERNAL"}
        assert all(lsn.all_interfaces for lsn in config.listeners)

        internal = listener(config.advertised_listeners, "INTERNAL")
        assert internal.host == name and internal.host in names
        assert internal.port == listener(config.listeners, "INTERNAL").port

        external = listener(config.advertised_listeners, "EXTERNAL")
        assert external.host == "localhost"
        published = dict(published_ports(service))
        assert external.port in published, f"{name}: {external} is not a published port"
        assert published[external.port] == listener(config.listeners, "EXTERNAL").port

        assert config.inter_broker_listener_name == "INTERNAL"


def test_published_ports_are_distinct(compose: dict[str, Any]) -> None:
    ports = [p for s in services(compose).values() for p, _target in published_ports(s)]
    assert len(ports) == len(set(ports))
    external = sorted(
        listener(broker_config(s).advertised_listeners, "EXTERNAL").port
        for s in brokers(compose).values()
    )
    assert external == [9092, 9093, 9094]


def test_zookeeper_connect_names_the_ensemble_with_a_chroot(compose: dict[str, Any]) -> None:
    zks = zookeepers(compose)
    for service in brokers(compose).values():
        connect = broker_config(service).zookeeper_connect
        assert connect is not None
        hosts, slash, chroot = connect.partition("/")
        assert slash and "/" + chroot == "/josef"
        assert sorted(hosts.split(",")) == sorted(f"{name}:2181" for name in zks)


def test_replication_settings(compose: dict[str, Any]) -> None:
    count = len(brokers(compose))
    for service in brokers(compose).values():
        config = broker_config(service)
        assert config.default_replication_factor == 3 == count
        assert config.offsets_topic_replication_factor == 3
        assert config.transaction_state_log_replication_factor == 3
        assert config.min_insync_replicas == 2  # one broker may be down for acks=all
        assert config.controlled_shutdown_enable


def test_brokers_wait_for_healthy_zookeepers(compose: dict[str, Any]) -> None:
    zks = zookeepers(compose)
    for service in brokers(compose).values():
        depends = service["depends_on"]
        assert set(depends) == set(zks)
        assert all(d["condition"] == "service_healthy" for d in depends.values())
    assert all("healthcheck" in s for s in zks.values())


def test_broker_health_check_probes_the_internal_listener(compose: dict[str, Any]) -> None:
    for service in brokers(compose).values():
        test = service["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "broker.healthcheck"]
        port = listener(broker_config(service).listeners, "INTERNAL").port
        assert test[test.index("--bootstrap-server") + 1] == f"127.0.0.1:{port}"


def test_brokers_stop_gracefully_and_restart(compose: dict[str, Any]) -> None:
    for service in brokers(compose).values():
        # SIGTERM is the controlled shutdown; Docker's default 10 s would SIGKILL it
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM"
        assert duration_s(service["stop_grace_period"]) >= 60
        assert service.get("init") is True
        assert service["restart"] in ("always", "unless-stopped", "on-failure")


def test_data_lives_on_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    sources = []
    for name, service in services(compose).items():
        mounts = volume_mounts(service)
        targets = {target for _kind, _source, target in mounts}
        if name in zookeepers(compose):
            assert {"/data", "/datalog"} <= targets
        else:
            assert {str(d) for d in broker_config(service).log_dirs} <= targets
        for kind, source, _target in mounts:
            assert kind == "volume" and source in declared, f"{name}: {source} is not named"
            sources.append(source)
    assert len(sources) == len(set(sources)), "two services share a volume"


# --- the Dockerfile -------------------------------------------------------------------------


INSTRUCTIONS = dockerfile_instructions()


def instructions(keyword: str) -> list[str]:
    return [i.args for i in INSTRUCTIONS if i.keyword == keyword]


def image_properties() -> dict[str, str]:
    return parse_properties(SERVER_PROPERTIES.read_text())


def test_base_images_are_pinned_python_slim() -> None:
    args = dict(a.split("=", 1) for a in instructions("ARG") if "=" in a)
    stages: set[str] = set()
    for text in instructions("FROM"):
        image, _, alias = text.partition(" AS ")
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        if image not in stages:
            assert image == "python:3.11-slim-bookworm"
        if alias:
            stages.add(alias.strip())
    for text in [*instructions("FROM"), *instructions("ARG")]:
        assert ":latest" not in text


def test_runs_as_a_numeric_non_root_user() -> None:
    user = instructions("USER")[-1]
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user} is not numeric (Kubernetes runAsNonRoot needs a number)"
    assert int(match.group(1)) != 0
    assert match.group(2) in (None, "0")  # group 0 owns the data directory


def test_data_directory_is_a_volume_writable_by_group_0() -> None:
    data_dir = image_properties()["log.dirs"]
    volumes = [v for text in instructions("VOLUME") for v in re.findall(r'"([^"]+)"', text)]
    assert data_dir in volumes
    run = " ".join(instructions("RUN"))
    assert f"mkdir -p {data_dir}" in run
    assert re.search(r"chown -R \d+:0 /var/lib/josef", run)
    assert "chmod -R g=u /var/lib/josef" in run


def test_exposes_the_default_listener() -> None:
    port = listener_port(image_properties()["listeners"])
    assert str(port) in " ".join(instructions("EXPOSE")).split()


def listener_port(listeners: str) -> int:
    return int(listeners.split(",")[0].rsplit(":", 1)[1])


def test_health_check_speaks_api_versions_to_the_default_listener() -> None:
    argv = healthcheck_command(INSTRUCTIONS)
    assert argv[:3] == ["python", "-m", "broker.healthcheck"]
    port = listener_port(image_properties()["listeners"])
    assert argv[argv.index("--bootstrap-server") + 1] == f"127.0.0.1:{port}"
    options = instructions("HEALTHCHECK")[-1]
    assert "--interval=" in options and "--timeout=" in options
    assert "--start-period=" in options


def test_broker_is_pid_1_and_stops_on_sigterm() -> None:
    assert instructions("STOPSIGNAL") == ["SIGTERM"]
    entrypoint = [i for i in INSTRUCTIONS if i.keyword == "ENTRYPOINT"][-1].exec_form()
    command = [i for i in INSTRUCTIONS if i.keyword == "CMD"][-1].exec_form()
    # exec form: no /bin/sh -c in between to swallow the signal
    assert entrypoint == ["josef"]
    assert command is not None and command[0] == "start"
    assert "--override-from-env" in command
    config_path = command[command.index("--config") + 1]
    assert f"COPY docker/server.properties {config_path}" in [
        f"COPY {a}" for a in instructions("COPY")
    ]


def test_dependencies_install_from_wheels_only() -> None:
    installs = [r for r in instructions("RUN") if "pip install" in r]
    assert installs and all("--only-binary=:all:" in r for r in installs)
    assert not any(r.startswith(("apt-get", "apk")) or "gcc" in r for r in instructions("RUN"))
    assert not any(re.match(r"https?://", a) for a in instructions("ADD"))


def test_build_context_holds_what_the_build_copies() -> None:
    sources = []
    for text in instructions("COPY"):
        if text.startswith("--from="):
            continue
        *srcs, _dest = text.split()
        sources += srcs
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert set(packages) <= set(sources), "a package the wheel includes is not copied"
    assert project["project"]["readme"] in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert in_build_context(source), f"{source} is excluded by .dockerignore"
    for package in packages:
        assert in_build_context(f"{package}/__init__.py")
        assert not in_build_context(f"{package}/__pycache__/__init__.cpython-311.pyc")


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/conftest.py",
        "josef-data/meta.properties",
        "benchmarks/compare.py",
        "docker/Dockerfile",
    ],
)
def test_build_context_leaves_out_the_rest(path: str) -> None:
    assert not in_build_context(path)


def test_docker_readme_documents_the_environment_rule() -> None:
    text = (DOCKER_DIR / "README.md").read_text()
    for needle in ("KAFKA_BROKER_ID", "JOSEF_CLUSTER_ID", "__", "___", "--override-from-env"):
        assert needle in text


def test_health_checks_ask_ready_on_the_http_listener(compose: dict[str, Any]) -> None:
    """The image and every compose broker probe /v1/ready where josef.http.listeners serves
    it (all interfaces of the container, so the port mappings reach /metrics too)."""
    (endpoint,) = load_config(SERVER_PROPERTIES).http_listeners
    assert endpoint.host == ""
    url = f"http://127.0.0.1:{endpoint.port}/v1/ready"
    argv = healthcheck_command(INSTRUCTIONS)
    assert argv[argv.index("--ready-url") + 1] == url
    assert str(endpoint.port) in " ".join(instructions("EXPOSE")).split()
    for service in brokers(compose).values():
        (served,) = broker_config(service).http_listeners
        assert served == endpoint
        test = service["healthcheck"]["test"]
        assert test[test.index("--ready-url") + 1] == url
        targets = [
            int(p["target"]) if isinstance(p, dict) else int(str(p).rsplit(":", 1)[-1])
            for p in service["ports"]
        ]
        assert endpoint.port in targets
