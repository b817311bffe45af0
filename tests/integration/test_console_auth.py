"""The web console as the authenticated HTTP user, against a real broker process.

One broker with a PLAINTEXT and a SASL_PLAINTEXT listener, the ACL authorizer on and
``super.users=User:admin`` (a PLAIN user of the listener's JAAS config), HTTP Basic
authentication on an HTTP listener bound to 0.0.0.0. alice (SCRAM-SHA-256, created with
confluent-kafka's AdminClient) may do anything on topics prefixed ``a-``; bob (SCRAM-SHA-512,
created with kafka-python's KafkaAdminClient) on topics prefixed ``b-``, and may only
describe those prefixed ``a-shared-``. The console's pages
and actions show what each user's ACLs allow, not what User:ANONYMOUS may see.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from cryptography import x509
from helpers.broker_process import BrokerProcess, free_port, require_josef
from helpers.certs import issue_server_store, make_pki
from helpers.clients import unique_topic
from helpers.console_pages import Reply, csrf, error, request, table

TIMEOUT = 30.0  # a guard against a hung call, not a measurement
PASSWORDS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}


class AuthConsole:
    def __init__(self, proc: BrokerProcess, sasl_port: int) -> None:
        self.proc = proc
        self.sasl = f"127.0.0.1:{sasl_port}"
        #: librdkafka's security settings of the SASL listener.
        self.tls: dict[str, str] = {"security.protocol": "SASL_PLAINTEXT"}

    def admin_conf(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.sasl,
            "sasl.mechanism": "PLAIN",
            "sasl.username": "admin",
            "sasl.password": PASSWORDS["admin"],
            **self.tls,
        }

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_conf())

    def create_topics(self, *names: str) -> None:
        admin = self.admin()  # must outlive its futures
        for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
            future.result(TIMEOUT)

    def topics(self) -> set[str]:
        return set(self.admin().list_topics(timeout=TIMEOUT).topics)

    def get(self, path: str, user: str, password: str | None = None) -> Reply:
        return request(self.proc.http_url, path, headers=auth(user, password))

    def post(self, path: str, form: dict[str, str], user: str) -> Reply:
        return request(self.proc.http_url, path, method="POST", form=form, headers=auth(user))


def auth(user: str, password: str | None = None) -> dict[str, str]:
    secret = PASSWORDS[user] if password is None else password
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def create_scram_users(console: AuthConsole) -> None:
    # alice with confluent-kafka (SCRAM-SHA-256) ...
    admin = console.admin()
    upsert = UserScramCredentialUpsertion(
        "alice",
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
        PASSWORDS["alice"].encode(),
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=TIMEOUT)
    # ... bob with kafka-python (SCRAM-SHA-512)
    from kafka.admin import KafkaAdminClient
    from kafka.admin import ScramMechanism as KpScram
    from kafka.admin import UserScramCredentialUpsertion as KpUpsertion

    kp = KafkaAdminClient(
        bootstrap_servers=console.sasl,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="admin",
        sasl_plain_password=PASSWORDS["admin"],
    )
    try:
        errors = kp.alter_user_scram_credentials(
            [KpUpsertion("bob", KpScram.SCRAM_SHA_512, PASSWORDS["bob"], 8192)]
        )
        assert all(e is None for e in dict(errors).values()), errors
    finally:
        kp.close()


def grant_acls(console: AuthConsole) -> None:
    admin = console.admin()
    bindings = [
        AclBinding(ResourceType.TOPIC, "a-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "b-", ResourcePatternType.PREFIXED, "User:bob", "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "a-shared-", ResourcePatternType.PREFIXED, "User:bob",
                   "*", AclOperation.DESCRIBE, AclPermissionType.ALLOW),
    ]  # fmt: skip
    for future in admin.create_acls(bindings).values():
        future.result(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Generator[AuthConsole, None, None]:
    require_josef("Josef's web console")
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    proc = BrokerProcess(
        tmp_path_factory.mktemp("console-auth"),
        {
            "listeners": listeners,
            "advertised.listeners": listeners,
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required user_admin="{PASSWORDS["admin"]}";',
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:admin",
            "josef.http.authentication": "basic",
        },
        port=port,
        name="console-auth",
    )
    # every interface: destructive actions are allowed only because users authenticate
    proc.overrides["josef.http.listeners"] = f"http://0.0.0.0:{proc.http_port}"
    try:
        proc.start()
        handle = AuthConsole(proc, sasl_port)
        create_scram_users(handle)
        grant_acls(handle)
        yield handle
    finally:
        proc.close()


def topic_names(page: str) -> set[str]:
    return {row[0].removesuffix(" (internal)") for row in table(page, "topics")}


def test_startup_log_names_the_console_identity(console: AuthConsole) -> None:
    assert "the web console signs in as each HTTP user" in console.proc.log_text()


def test_each_user_sees_the_topics_their_acls_allow(console: AuthConsole) -> None:
    mine, other = unique_topic("a-alice"), unique_topic("b-other")
    console.create_topics(mine, other)
    alice = console.get("/topics", "alice")
    assert alice.status == 200, alice.body[:2000]
    seen = topic_names(alice.body)
    assert mine in seen and other not in seen
    assert all(t.startswith("a-") for t in seen), seen
    bob = topic_names(console.get("/topics", "bob").body)
    assert other in bob and mine not in bob
    admin = topic_names(console.get("/topics", "admin").body)
    assert {mine, other} <= admin
    # a topic alice may not describe is unknown to her, as Kafka's Metadata says
    page = console.get(f"/topics/{other}", "alice")
    assert page.status != 200
    found = error(page.body)
    assert found is not None and found[0] in ("TOPIC_AUTHORIZATION_FAILED",
                                              "UNKNOWN_TOPIC_OR_PARTITION"), found


def test_cluster_and_group_pages_as_a_user(console: AuthConsole) -> None:
    # alice may not describe the cluster's configs: brokers shown, configs replaced by the error
    page = console.get("/", "alice")
    assert page.status == 200, page.body[:2000]
    assert [row[0] for row in table(page.body, "brokers")] == ["0"]
    found = error(page.body)
    assert found is not None and found[0] == "CLUSTER_AUTHORIZATION_FAILED", found
    admin = console.get("/", "admin")
    assert admin.status == 200 and error(admin.body) is None
    assert table(admin.body, "broker-configs")
    assert console.get("/groups", "alice").status == 200


def test_wrong_password_is_401(console: AuthConsole) -> None:
    assert console.get("/topics", "alice", "bob-secret").status == 401
    assert console.get("/topics", "bob", "wrong").status == 401
    assert console.get("/topics", "alice").status == 200


def test_user_with_the_acl_deletes_a_topic(console: AuthConsole) -> None:
    topic = unique_topic("a-delete")
    console.create_topics(topic)
    token = csrf(console.get(f"/topics/{topic}", "alice").body)
    confirm = console.post(f"/topics/{topic}/delete", {"csrf": token}, "alice")
    assert confirm.status == 200 and 'id="confirm"' in confirm.body, confirm.body[:2000]
    done = console.post(f"/topics/{topic}/delete", {"csrf": token, "confirm": "yes"}, "alice")
    assert done.status == 303, done.body[:2000]
    assert topic not in console.topics()  # really gone, as the Admin API says


def test_delete_without_the_acl_shows_topic_authorization_failed(console: AuthConsole) -> None:
    topic = unique_topic("a-kept")
    console.create_topics(topic)
    assert console.get(f"/topics/{topic}", "bob").status != 200  # not even described
    token = csrf(console.get("/topics/new", "bob").body)
    reply = console.post(f"/topics/{topic}/delete", {"csrf": token, "confirm": "yes"}, "bob")
    assert reply.status == 400
    found = error(reply.body)
    assert found is not None and found[0] == "TOPIC_AUTHORIZATION_FAILED", reply.body[:2000]
    assert "Traceback" not in reply.body
    assert topic in console.topics()


def test_describe_without_describe_configs(console: AuthConsole) -> None:
    topic = unique_topic("a-shared")
    console.create_topics(topic)
    page = console.get(f"/topics/{topic}", "bob")
    assert page.status == 200, page.body[:2000]
    assert [row[0] for row in table(page.body, "partitions")] == ["0"]
    found = error(page.body)  # where the configs would be
    assert found is not None and found[0] == "TOPIC_AUTHORIZATION_FAILED", found
    reply = console.post(
        f"/topics/{topic}/delete", {"csrf": csrf(page.body), "confirm": "yes"}, "bob"
    )
    found = error(reply.body)
    assert found is not None and found[0] == "TOPIC_AUTHORIZATION_FAILED", reply.body[:2000]
    assert topic in console.topics()
    admin = console.get(f"/topics/{topic}", "admin")
    assert admin.status == 200 and error(admin.body) is None
    assert table(admin.body, "topic-configs")


def test_form_tokens_are_bound_to_the_user(console: AuthConsole) -> None:
    topic = unique_topic("a-token")
    console.create_topics(topic)
    bobs = csrf(console.get("/topics/new", "bob").body)
    reply = console.post(f"/topics/{topic}/delete", {"csrf": bobs, "confirm": "yes"}, "alice")
    assert reply.status == 403
    assert topic in console.topics()


@pytest.fixture(scope="module")
def ssl_console(tmp_path_factory: pytest.TempPathFactory) -> Generator[AuthConsole, None, None]:
    """PLAINTEXT and SASL_SSL only: the console signs in over TLS, trusting the listener's
    own certificate (CA-signed, for another host name than the loopback address it connects
    to; no trust store) without a host name check."""
    require_josef("Josef's web console")
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    store = pki.directory / "kafka-example.pem"
    name = "kafka.example.com"
    issue_server_store(pki, store, common_name=name, sans=[x509.DNSName(name)])
    port, sasl_port = free_port(), free_port()
    listeners = f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port}"
    proc = BrokerProcess(
        tmp_path_factory.mktemp("console-auth-ssl"),
        {
            "listeners": listeners,
            "advertised.listeners": listeners,
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required user_admin="{PASSWORDS["admin"]}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(store),
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:admin",
            "josef.http.authentication": "basic",
        },
        port=port,
        name="console-auth-ssl",
    )
    try:
        proc.start()
        handle = AuthConsole(proc, sasl_port)
        handle.tls = {
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(pki.ca),
            "ssl.endpoint.identification.algorithm": "none",
        }
        admin = handle.admin()
        upsert = UserScramCredentialUpsertion(
            "alice",
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
            PASSWORDS["alice"].encode(),
        )
        for future in admin.alter_user_scram_credentials([upsert]).values():
            future.result(timeout=TIMEOUT)
        binding = AclBinding(ResourceType.TOPIC, "a-", ResourcePatternType.PREFIXED,
                             "User:alice", "*", AclOperation.ALL, AclPermissionType.ALLOW)
        for future in admin.create_acls([binding]).values():
            future.result(timeout=TIMEOUT)
        yield handle
    finally:
        proc.close()


def test_console_over_sasl_ssl_as_the_user(ssl_console: AuthConsole) -> None:
    assert "SASL_SSL" in ssl_console.proc.log_text()
    mine, other = unique_topic("a-tls"), unique_topic("b-tls")
    ssl_console.create_topics(mine, other)
    page = ssl_console.get("/topics", "alice")
    assert page.status == 200, page.body[:2000]
    seen = topic_names(page.body)
    assert mine in seen and other not in seen
    assert {mine, other} <= topic_names(ssl_console.get("/topics", "admin").body)
    token = csrf(ssl_console.get(f"/topics/{mine}", "alice").body)
    done = ssl_console.post(f"/topics/{mine}/delete", {"csrf": token, "confirm": "yes"}, "alice")
    assert done.status == 303, done.body[:2000]
    assert mine not in ssl_console.topics()


def test_alter_config_follows_the_users_acls(console: AuthConsole) -> None:
    topic = unique_topic("a-config")
    console.create_topics(topic)
    token = csrf(console.get(f"/topics/{topic}", "alice").body)
    form = {"csrf": token, "key": "retention.ms", "value": "3600000", "confirm": "yes"}
    assert console.post(f"/topics/{topic}/config", form, "alice").status == 303
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = console.admin()  # must outlive its futures
    configs = admin.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["retention.ms"].value == "3600000"
    bobs = csrf(console.get("/topics/new", "bob").body)
    form = {"csrf": bobs, "key": "retention.ms", "value": "1000", "confirm": "yes"}
    reply = console.post(f"/topics/{topic}/config", form, "bob")
    found = error(reply.body)
    assert found is not None and found[0] == "TOPIC_AUTHORIZATION_FAILED", reply.body[:2000]
    configs = admin.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["retention.ms"].value == "3600000"
