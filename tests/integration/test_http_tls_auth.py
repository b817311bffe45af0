"""TLS and Basic authentication of the HTTP listener of a real broker process: an https://
endpoint with a test CA's certificate from josef.http.ssl.*, probes open, /metrics behind
the broker's own users (SCRAM users created with confluent-kafka's and kafka-python's
AdminClient, a PLAIN user of a listener's JAAS config), and an https endpoint without a key
store refused at startup."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Generator
from pathlib import Path

import pytest
from helpers.broker_process import REPO_ROOT, BrokerProcess, free_port, require_josef
from helpers.certs import STORE_PASSWORD, Pki, make_pki

GUARD_S = 30.0  # a guard against a hung request, not a measurement
PLAIN_USERS = {"alice": "alice-secret"}


class HttpsBroker:
    def __init__(self, proc: BrokerProcess, pki: Pki) -> None:
        self.proc = proc
        self.pki = pki
        self.url = f"https://127.0.0.1:{proc.http_port}"
        self.client_tls = ssl.create_default_context(cafile=str(pki.ca))


@pytest.fixture(scope="module")
def https_broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[HttpsBroker, None, None]:
    require_josef("Josef's HTTP listener")
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    entries = " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items())
    proc = BrokerProcess(
        tmp_path_factory.mktemp("https-broker"),
        {
            "listeners": listeners,
            "advertised.listeners": listeners,
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
            f"required {entries};",
            "josef.http.authentication": "basic",
            "josef.http.ssl.keystore.type": "PKCS12",
            "josef.http.ssl.keystore.location": str(pki.server_p12),
            "josef.http.ssl.keystore.password": STORE_PASSWORD,
        },
        port=port,
        name="https",
    )
    proc.overrides["josef.http.listeners"] = f"https://127.0.0.1:{proc.http_port}"
    try:
        proc.start()
        yield HttpsBroker(proc, pki)
    finally:
        proc.close()


def get(
    broker: HttpsBroker, path: str, user: str | None = None, password: str = ""
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(broker.url + path)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=GUARD_S, context=broker.client_tls) as r:
            return int(r.status), dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers), exc.read().decode()


def upsert_scram_confluent(bootstrap: str, user: str, password: str) -> None:
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=GUARD_S)


def alter_scram_kafka_python(bootstrap: str, user: str, password: str | None) -> None:
    """SCRAM-SHA-512 upsert (or delete with ``password=None``) with kafka-python."""
    from kafka.admin import (
        KafkaAdminClient,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        alteration = (
            UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
            if password is None
            else UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password, 8192)
        )
        errors = admin.alter_user_scram_credentials([alteration])
        assert all(e is None for e in dict(errors).values()), errors
    finally:
        admin.close()


def test_probes_stay_open_over_https(https_broker: HttpsBroker) -> None:
    assert get(https_broker, "/v1/health")[::2] == (200, '{"status": "ok"}')
    assert get(https_broker, "/v1/ready")[::2] == (200, '{"status": "ready"}')


def test_metrics_need_credentials(https_broker: HttpsBroker) -> None:
    status, headers, _ = get(https_broker, "/metrics")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="josef", charset="UTF-8"'
    assert get(https_broker, "/metrics", "alice", "wrong")[0] == 401
    assert get(https_broker, "/metrics", "mallory", "alice-secret")[0] == 401
    status, _, body = get(https_broker, "/metrics", "alice", "alice-secret")
    assert status == 200
    assert "kafka_server_replicamanager_partitioncount" in body


def test_scram_users_from_both_admin_clients(https_broker: HttpsBroker) -> None:
    bootstrap = https_broker.proc.bootstrap
    assert get(https_broker, "/metrics", "sam", "sam-secret")[0] == 401
    upsert_scram_confluent(bootstrap, "sam", "sam-secret")
    alter_scram_kafka_python(bootstrap, "sue", "sue-secret")
    assert get(https_broker, "/metrics", "sam", "sam-secret")[0] == 200
    assert get(https_broker, "/metrics", "sam", "sam-secret")[0] == 200  # remembered
    assert get(https_broker, "/metrics", "sam", "sue-secret")[0] == 401
    assert get(https_broker, "/metrics", "sue", "sue-secret")[0] == 200
    assert get(https_broker, "/metrics", "sue", "")[0] == 401
    alter_scram_kafka_python(bootstrap, "sue", None)  # deleted: no longer accepted
    assert get(https_broker, "/metrics", "sue", "sue-secret")[0] == 401


def test_plain_http_is_not_served_on_the_https_port(https_broker: HttpsBroker) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(
            f"http://127.0.0.1:{https_broker.proc.http_port}/v1/health", timeout=GUARD_S
        ).read()


def test_https_without_a_key_store_exits_2(tmp_path: Path) -> None:
    require_josef("Josef's HTTP listener")
    cmd = [sys.executable, "-m", "broker", "start",
           "--override", f"log.dirs={tmp_path}/data",
           "--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}",
           "--override", f"josef.http.listeners=https://127.0.0.1:{free_port()}"]  # fmt: skip
    result = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith("josef: invalid configuration: josef.http.listeners: https://")
    assert "needs a key store" in line and "josef.http.ssl.keystore.location" in line
