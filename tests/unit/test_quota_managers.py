"""Client quotas: Kafka's windowed rate and throttle time, the entity precedence of
ClientQuotaManager, and DescribeClientQuotas / AlterClientQuotas semantics."""

from __future__ import annotations

import asyncio

import pytest

from broker.quota import admin
from broker.quota.entities import QuotaEntity, entity_from_path, quota_configs
from broker.quota.manager import ClientQuotaManager, QuotaManagers, QuotaSettings
from broker.quota.rate import QuotaRate
from storage.clock import ManualClock


def test_fresh_rate_counts_a_full_window_and_throttles_by_kafkas_formula() -> None:
    rate = QuotaRate(100.0, num_samples=11, window_ms=1000)
    # A fresh sensor spans at least samples - 1 windows: 500 B over 10 s is 50 B/s.
    assert rate.record_and_throttle_ms(500, 0) == 0
    assert rate.rate(0) == pytest.approx(50.0)
    # 1500 B in 10 s = 150 B/s: (150 - 100) / 100 * 10 s.
    assert rate.record_and_throttle_ms(1000, 0) == 5000
    # The window stays padded to 10 s until 10 full windows have passed (Kafka's Rate);
    # then it is the real span, until the sample expires after 11 windows.
    assert rate.rate(5000) == pytest.approx(150.0)
    assert rate.rate(10_500) == pytest.approx(1500 / 10.5)
    assert rate.rate(11_000) == 0.0


def test_rate_forgets_samples_older_than_the_window() -> None:
    rate = QuotaRate(100.0, num_samples=2, window_ms=1000)
    assert rate.record_and_throttle_ms(300, 0) > 0
    assert rate.rate(2500) == 0.0  # every sample expired (2 x 1 s)
    assert rate.record_and_throttle_ms(50, 2500) == 0


def test_steady_state_rate_converges_to_the_bound() -> None:
    # A producer sending as fast as throttling lets it: the long-run rate is the bound.
    rate = QuotaRate(1000.0, num_samples=11, window_ms=1000)
    now, sent = 0, 0
    while now < 60_000:
        sent += 100
        now += max(1, rate.record_and_throttle_ms(100, now))
    # The first window's burst allowance (bound x (samples - 1)) comes on top.
    assert sent / 60 <= 1000 * (1 + 10 / 60) * 1.02


def manager(quotas: dict[str, float]) -> ClientQuotaManager:
    m = ClientQuotaManager("producer_byte_rate", QuotaSettings(), ManualClock())
    m.update(quotas)
    return m


def test_entity_precedence_is_kafkas() -> None:
    order = [
        "users/alice/clients/app",
        "users/alice/clients/<default>",
        "users/alice",
        "users/<default>/clients/app",
        "users/<default>/clients/<default>",
        "users/<default>",
        "clients/app",
        "clients/<default>",
    ]
    for i, expected in enumerate(order):
        quotas = {path: float(j + 1) for j, path in enumerate(order) if j >= i}
        assert manager(quotas).quota("alice", "app") == float(i + 1), expected
    assert manager({}).quota("alice", "app") is None
    assert manager({"users/bob": 5.0}).quota("alice", "app") is None
    assert manager({"clients/other": 5.0}).quota("alice", "app") is None


def test_names_are_matched_sanitized() -> None:
    m = manager({"users/CN%3Dalice%2COU%3Dx": 7.0, "clients/my%20app": 3.0})
    assert m.quota("CN=alice,OU=x", "z") == 7.0
    assert m.quota("bob", "my app") == 3.0


def test_connections_sharing_an_entity_share_its_rate() -> None:
    clock = ManualClock()
    m = ClientQuotaManager("producer_byte_rate", QuotaSettings(11, 1), clock)
    m.update({"users/alice": 100.0})
    assert m.record("alice", "c1", 600) == 0
    # Another client id of the same user counts against the same rate.
    assert m.record("alice", "c2", 600) > 0
    assert m.record("bob", "c1", 10_000) == 0  # no quota for bob


def test_quota_changes_apply_to_existing_sensors() -> None:
    clock = ManualClock()
    m = ClientQuotaManager("producer_byte_rate", QuotaSettings(11, 1), clock)
    m.update({"users/alice": 100.0})
    assert m.record("alice", "c", 1500) > 0
    m.update({"users/alice": 1_000_000.0})
    assert m.record("alice", "c", 1) == 0
    m.update({})
    assert not m.enabled
    assert m.record("alice", "c", 10**9) == 0


def test_request_quota_throttle_is_capped_at_one_window() -> None:
    clock = ManualClock()

    class Source:
        def user_configs(self) -> dict[str, dict[str, str]]:
            return {"alice": {"request_percentage": "1", "SCRAM-SHA-256": "x"}}

        def entity_configs(self) -> dict[str, dict[str, str]]:
            return {}

        async def set_entity_configs(self, path: str, configs: dict[str, str]) -> None:
            raise AssertionError

    managers = QuotaManagers(Source(), QuotaSettings(11, 1), clock)
    assert managers.request.enabled and not managers.produce.enabled
    assert managers.request.record("alice", "c", 500.0) == 1000


class FakeSource:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, str]] = {"alice": {"SCRAM-SHA-256": "cred"}}
        self.entities: dict[str, dict[str, str]] = {}

    def user_configs(self) -> dict[str, dict[str, str]]:
        return self.users

    def entity_configs(self) -> dict[str, dict[str, str]]:
        return self.entities

    async def set_entity_configs(self, path: str, configs: dict[str, str]) -> None:
        entity = entity_from_path(path)
        assert entity is not None
        if entity.has_user and not entity.has_client:
            name = "<default>" if entity.user is None else entity.user
            if configs:
                self.users[name] = dict(configs)
            else:
                self.users.pop(name, None)
        elif configs:
            self.entities[path] = dict(configs)
        else:
            self.entities.pop(path, None)


def alter(source: FakeSource, entries: list[tuple[str, str | None]], **ops: float | None) -> None:
    entity = admin.parse_entity(entries)
    asyncio.run(admin.alter(source, entity, [admin.QuotaOp(k, v) for k, v in ops.items()], False))


def test_alter_keeps_scram_credentials_and_stores_kafkas_values() -> None:
    src = FakeSource()
    alter(src, [("user", "alice")], producer_byte_rate=1048576.0, request_percentage=50.0)
    assert src.users["alice"] == {
        "SCRAM-SHA-256": "cred",
        "producer_byte_rate": "1048576",
        "request_percentage": "50.0",
    }
    alter(src, [("user", "alice"), ("client-id", "app")], consumer_byte_rate=2048.0)
    alter(src, [("client-id", None)], consumer_byte_rate=4096.0)
    alter(src, [("user", None)], producer_byte_rate=10.0)
    assert src.entities == {
        "users/alice/clients/app": {"consumer_byte_rate": "2048"},
        "clients/<default>": {"consumer_byte_rate": "4096"},
    }
    assert src.users["<default>"] == {"producer_byte_rate": "10"}
    alter(src, [("user", "alice")], producer_byte_rate=None, request_percentage=None)
    assert src.users["alice"] == {"SCRAM-SHA-256": "cred"}
    assert "users/alice" not in quota_configs(src)


@pytest.mark.parametrize(
    ("entries", "ops", "fragment"),
    [
        ([], {"producer_byte_rate": 1.0}, "empty client quota entity"),
        ([("user", "")], {"producer_byte_rate": 1.0}, "Empty user not supported"),
        ([("group", "g")], {"producer_byte_rate": 1.0}, "Unhandled client quota entity type"),
        ([("user", "a")], {"producer_byte_rate": 1.5}, "must be a LONG value"),
        ([("user", "a")], {"bogus": 1.0}, "Invalid configuration key bogus"),
        ([("user", "a")], {"controller_mutation_rate": 1.0}, "not supported"),
        ([("ip", "1.2.3.4")], {"connection_creation_rate": 1.0}, "not supported"),
        ([("ip", "1.2.3.4"), ("user", "a")], {"producer_byte_rate": 1.0}, "IP entity"),
    ],
)
def test_alter_validation(
    entries: list[tuple[str, str | None]], ops: dict[str, float], fragment: str
) -> None:
    with pytest.raises(admin.QuotaRequestError, match=fragment):
        alter(FakeSource(), entries, **ops)


def test_describe_filters_like_zk_admin_manager() -> None:
    src = FakeSource()
    alter(src, [("user", "alice")], producer_byte_rate=100.0)
    alter(src, [("user", "bob")], producer_byte_rate=200.0)
    alter(src, [("user", None)], producer_byte_rate=300.0)
    alter(src, [("user", "alice"), ("client-id", "app")], producer_byte_rate=400.0)
    alter(src, [("client-id", "app")], consumer_byte_rate=500.0)

    def describe(components: list[tuple[str, int, str | None]], strict: bool) -> list[str]:
        found = admin.describe(
            src, [admin.FilterComponent(t, m, n) for t, m, n in components], strict
        )
        return sorted(e.path for e, _ in found)

    everything = [
        "clients/app",
        "users/<default>",
        "users/alice",
        "users/alice/clients/app",
        "users/bob",
    ]
    assert describe([], False) == everything
    assert describe([], True) == []
    assert describe([("user", admin.MATCH_EXACT, "alice")], False) == [
        "users/alice",
        "users/alice/clients/app",
    ]
    assert describe([("user", admin.MATCH_EXACT, "alice")], True) == ["users/alice"]
    assert describe([("user", admin.MATCH_DEFAULT, None)], True) == ["users/<default>"]
    assert describe([("user", admin.MATCH_SPECIFIED, None)], True) == [
        "users/<default>",
        "users/alice",
        "users/bob",
    ]
    assert describe([("client-id", admin.MATCH_SPECIFIED, None)], False) == [
        "clients/app",
        "users/alice/clients/app",
    ]
    assert describe(
        [("user", admin.MATCH_EXACT, "alice"), ("client-id", admin.MATCH_EXACT, "app")], True
    ) == ["users/alice/clients/app"]
    found = admin.describe(src, [admin.FilterComponent("user", admin.MATCH_EXACT, "bob")], True)
    assert found == [(QuotaEntity(True, "bob", False, None), {"producer_byte_rate": 200.0})]
    for bad in (
        [("user", admin.MATCH_EXACT, "a"), ("user", admin.MATCH_EXACT, "b")],
        [("", admin.MATCH_SPECIFIED, None)],
        [("user", 7, None)],
        [("user", admin.MATCH_EXACT, None)],
    ):
        with pytest.raises(admin.QuotaRequestError):
            describe(bad, False)
    with pytest.raises(admin.QuotaRequestError) as info:
        describe([("custom", admin.MATCH_SPECIFIED, None)], False)
    assert info.value.error_code == admin.UNSUPPORTED_VERSION
