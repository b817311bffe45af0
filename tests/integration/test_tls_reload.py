"""Key store reload at run time (Kafka's dynamic SSL reconfiguration) with real clients.

A broker serves an SSL listener from a PEM key store file. confluent-kafka's AdminClient
changes ``listener.name.ssl.ssl.keystore.location`` with IncrementalAlterConfigs; new TLS
connections then get the new certificate (its serial, read from a fresh handshake), while a
kafka-python producer connected before the reload keeps working on its connection. Stores
that change the DN or drop a SAN are refused with Kafka's message; the same location with
the file rewritten reloads it; a restarted broker serves the dynamic key store.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin import ResourceType as CResourceType
from cryptography import x509
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.certs import SERVER_SANS, Pki, issue_server_store, make_pki, served_serial
from helpers.clients import (
    Record,
    assert_roundtrip,
    consume_confluent,
    consume_kafka_python,
    produce_confluent,
    unique_topic,
)
from kafka import KafkaProducer

KEY = "listener.name.ssl.ssl.keystore.location"


class ReloadBroker:
    def __init__(self, proc: BrokerProcess, ssl_port: int, pki: Pki, stores: Path) -> None:
        self.proc = proc
        self.ssl_port = ssl_port
        self.ssl = f"127.0.0.1:{ssl_port}"
        self.pki = pki
        self.stores = stores
        self.sans: list[x509.GeneralName] = list(SERVER_SANS)  # of the served certificate

    def issue(self, name: str) -> tuple[Path, int]:
        """A new key store compatible with the served one: (path, serial)."""
        path = self.stores / name
        return path, issue_server_store(self.pki, path, sans=self.sans)

    def serial(self) -> int:
        return served_serial("127.0.0.1", self.ssl_port, self.pki.ca)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Generator[ReloadBroker, None, None]:
    require_josef("dynamic key store reload")
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    stores = tmp_path_factory.mktemp("stores")
    first = stores / "first.pem"
    shutil.copy(pki.server_pem_store, first)
    port, ssl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}"
    overrides = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(first),
    }
    proc = BrokerProcess(tmp_path_factory.mktemp("reload-broker"), overrides, port=port)
    try:
        proc.start()
        yield ReloadBroker(proc, ssl_port, pki, stores)
    finally:
        proc.close()


def alter(bootstrap: str, key: str, value: str, **more: str) -> None:
    """IncrementalAlterConfigs SET of broker 0's ``key`` (and ``more``, with ``_`` for
    ``.`` in their names); raises KafkaException."""
    configs = {key: value, **{k.replace("_", "."): v for k, v in more.items()}}
    resource = ConfigResource(
        CResourceType.BROKER,
        "0",
        incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in configs.items()
        ],
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def alter_error(bootstrap: str, key: str, value: str, **more: str) -> tuple[str, str]:
    with pytest.raises(KafkaException) as info:
        alter(bootstrap, key, value, **more)
    error = info.value.args[0]
    return error.name(), error.str()


def confluent_tls(pki: Pki) -> dict[str, Any]:
    return {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca)}


def roundtrip_confluent(broker: ReloadBroker, tag: str) -> None:
    topic = unique_topic(f"reload-{tag}")
    sent = [Record(key=b"k%d" % i, value=f"{tag}-{i}".encode()) for i in range(10)]
    cfg = confluent_tls(broker.pki)
    assert produce_confluent(broker.ssl, topic, sent, **cfg) == list(range(10))
    assert_roundtrip(sent, consume_confluent(broker.ssl, topic, 0, 0, 10, **cfg))


def test_key_store_reload_serves_new_connections_and_keeps_old_ones(
    broker: ReloadBroker,
) -> None:
    pki = broker.pki
    first_serial = broker.serial()
    roundtrip_confluent(broker, "before")
    topic = unique_topic("reload-kept")
    # A producer connected before the reload, over TLS.
    producer = KafkaProducer(
        bootstrap_servers=broker.ssl, security_protocol="SSL", ssl_cafile=str(pki.ca),
        acks="all", linger_ms=0,
    )  # fmt: skip
    try:
        assert producer.send(topic, b"before", partition=0).get(timeout=30).offset == 0

        second, second_serial = broker.issue("second.pem")
        alter(broker.proc.bootstrap, KEY, str(second))
        assert broker.serial() == second_serial != first_serial
        roundtrip_confluent(broker, "after")
        # The connection made before the reload goes on with the old certificate.
        assert producer.send(topic, b"after", partition=0).get(timeout=30).offset == 1
    finally:
        producer.close()
    got = consume_kafka_python(
        broker.ssl, topic, 0, 0, 2, security_protocol="SSL", ssl_cafile=str(pki.ca)
    )
    assert [c.value for c in got] == [b"before", b"after"]
    assert "TLS key store reloaded" in broker.proc.log_text()


def test_distinguished_name_and_san_changes_are_refused(broker: ReloadBroker) -> None:
    pki = broker.pki
    before = broker.serial()
    other_dn = broker.stores / "other-dn.pem"
    issue_server_store(pki, other_dn, common_name="elsewhere")
    name, message = alter_error(broker.proc.bootstrap, KEY, str(other_dn))
    assert name == "INVALID_REQUEST"
    assert message.startswith(
        "Invalid value org.apache.kafka.common.config.ConfigException: Validation of dynamic "
        "config update of SSLFactory failed: org.apache.kafka.common.config.ConfigException: "
        "Keystore DistinguishedName does not match:  existing={alias=kafka, DN=CN=localhost}, "
        "new={alias=kafka, DN=CN=elsewhere}"
    ), message
    fewer_sans = broker.stores / "fewer-sans.pem"
    issue_server_store(pki, fewer_sans, sans=[x509.DNSName("localhost")])
    name, message = alter_error(broker.proc.bootstrap, KEY, str(fewer_sans))
    assert name == "INVALID_REQUEST"
    assert (
        "Keystore SubjectAltNames do not match:  existing={alias=kafka, SAN=[[2, localhost]"
        ", [7, 127.0.0.1]]}, new={alias=kafka, SAN=[[2, localhost]]}" in message
    )
    # More SANs than before are fine.
    assert broker.serial() == before
    broker.sans.append(x509.DNSName("broker.example"))
    more, more_serial = broker.issue("more-sans.pem")
    alter(broker.proc.bootstrap, KEY, str(more))
    assert broker.serial() == more_serial
    # A file that is not a key store.
    junk = broker.stores / "junk.pem"
    junk.write_text("not a key store")
    name, message = alter_error(broker.proc.bootstrap, KEY, str(junk))
    assert name == "INVALID_REQUEST" and "ssl.keystore.location" in message
    assert broker.serial() == more_serial


def test_same_location_reloads_a_rewritten_file(broker: ReloadBroker) -> None:
    in_place, first = broker.issue("in-place.pem")
    alter(broker.proc.bootstrap, KEY, str(in_place))
    assert broker.serial() == first
    _, rewritten = broker.issue("in-place.pem")
    alter(broker.proc.bootstrap, KEY, str(in_place))
    assert broker.serial() == rewritten != first
    roundtrip_confluent(broker, "rewritten")


def test_password_keys_need_a_password_encoder(broker: ReloadBroker) -> None:
    # An inline PEM key store is valid, but its key and chain are passwords: Kafka stores
    # those only encrypted with password.encoder.secret, and refuses them without it.
    store, _serial = broker.issue("inline.pem")
    pem = store.read_text()
    name, message = alter_error(
        broker.proc.bootstrap,
        KEY,
        "",
        listener_name_ssl_ssl_keystore_certificate_chain=pem,
        listener_name_ssl_ssl_keystore_key=pem,
    )
    assert (name, message) == (
        "INVALID_CONFIG",
        "Invalid config value for resource ConfigResource(type=BROKER, name='0'): "
        "Password encoder secret not configured",
    )
    name, message = alter_error(
        broker.proc.bootstrap, "listener.name.plaintext.ssl.keystore.location", "/x.pem"
    )
    assert name == "INVALID_REQUEST" and "PLAINTEXT, without TLS" in message


def test_dynamic_key_store_survives_a_restart(broker: ReloadBroker) -> None:
    restarted, serial = broker.issue("restart.pem")
    # Kafka reads only lowercase listener prefixes: another spelling is refused, not ignored.
    name, message = alter_error(
        broker.proc.bootstrap, "listener.name.SSL.ssl.keystore.location", str(restarted)
    )
    assert name == "INVALID_REQUEST" and "listener.name.ssl." in message
    alter(broker.proc.bootstrap, KEY, str(restarted))
    assert broker.serial() == serial
    broker.proc.restart()
    assert broker.serial() == serial
    roundtrip_confluent(broker, "restarted")
