"""Fuzzing DescribeAcls, CreateAcls and DeleteAcls (hypothesis) against an in-process broker
with the ACL authorizer: any codes and strings get an answer (never a crash), every ACL
answered as created is then described, and what DeleteAcls reports deleted is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.admin.wire import build_request, decode_response, encode_request, to_plain
from broker.config.broker_config import load_config
from broker.network.context import ConnectionInfo
from broker.network.dispatch import RequestDispatcher
from broker.server import KafkaBroker

# The broker's super user (super.users=User:ANONYMOUS) may administer ACLs.
ADMIN = ConnectionInfo("fuzz-1", "127.0.0.1", 1, "PLAINTEXT")
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
VERSIONS = st.integers(1, 3)
CODES = st.one_of(st.integers(0, 8), st.integers(-128, 127))
NAMES = st.one_of(
    st.sampled_from(["*", "orders", "ord", "app-", "kafka-cluster", ""]), st.text(max_size=12)
)
PRINCIPALS = st.one_of(st.sampled_from(["User:alice", "User:*", "User:bob", "alice", ""]),
                       st.text(max_size=12))  # fmt: skip
HOSTS = st.one_of(st.sampled_from(["*", "127.0.0.1"]), st.text(max_size=8))


@pytest.fixture(scope="module")
def broker_loop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KafkaBroker, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    tmp = tmp_path_factory.mktemp("aclfuzz")
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp / 'logs'}",
            "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
            "super.users=User:ANONYMOUS",
        ],
    )
    broker = KafkaBroker(config)
    loop.run_until_complete(broker.start())
    yield broker, loop
    loop.run_until_complete(broker.shutdown())
    loop.close()


def call(
    broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop],
    api_key: int,
    version: int,
    body: dict[str, Any],
) -> dict[str, Any]:
    broker, loop = broker_loop
    assert broker.services is not None
    dispatcher = RequestDispatcher(broker.services.registry)
    frame = encode_request(api_key, version, 11, "fuzz", build_request(api_key, version, body))
    out = loop.run_until_complete(asyncio.wait_for(dispatcher.dispatch(frame[4:], ADMIN), 10))
    assert isinstance(out, bytes)
    corr, response = decode_response(api_key, version, out[4:])
    assert corr == 11
    plain: dict[str, Any] = to_plain(response)
    return plain


def filter_body(rtype: int, name: str | None, ptype: int, principal: str | None,
                host: str | None, op: int, perm: int) -> dict[str, Any]:  # fmt: skip
    return {
        "resource_type_filter": rtype,
        "resource_name_filter": name,
        "pattern_type_filter": ptype,
        "principal_filter": principal,
        "host_filter": host,
        "operation": op,
        "permission_type": perm,
    }


ANY = filter_body(1, None, 1, None, None, 1, 1)


def described(broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop]) -> set[tuple[Any, ...]]:
    plain = call(broker_loop, DESCRIBE_ACLS, 3, ANY)
    assert plain["error_code"] == 0
    return {
        (r["resource_type"], r["resource_name"], r["pattern_type"], a["principal"], a["host"],
         a["operation"], a["permission_type"])
        for r in plain["resources"] for a in r["acls"]
    }  # fmt: skip


creation = st.one_of(
    st.tuples(CODES, NAMES, CODES, PRINCIPALS, HOSTS, CODES, CODES),
    # Mostly valid ones, so that creation and deletion are exercised too.
    st.tuples(
        st.sampled_from([2, 3, 5, 6]), NAMES, st.sampled_from([3, 4]),
        st.sampled_from(["User:alice", "User:*"]), HOSTS, st.integers(2, 14),
        st.sampled_from([2, 3]),
    ),
)  # fmt: skip
filters = st.tuples(
    CODES, st.one_of(st.none(), NAMES), CODES, st.one_of(st.none(), PRINCIPALS),
    st.one_of(st.none(), HOSTS), CODES, CODES,
)  # fmt: skip


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(VERSIONS, st.lists(creation, max_size=6), VERSIONS, filters)
def test_create_then_describe_then_delete(
    broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop],
    create_version: int,
    creations: list[tuple[Any, ...]],
    describe_version: int,
    describe_filter: tuple[Any, ...],
) -> None:
    body = {
        "creations": [
            {
                "resource_type": c[0],
                "resource_name": c[1],
                "resource_pattern_type": c[2],
                "principal": c[3],
                "host": c[4],
                "operation": c[5],
                "permission_type": c[6],
            }
            for c in creations
        ]
    }
    plain = call(broker_loop, CREATE_ACLS, create_version, body)
    results = plain["results"]
    assert len(results) == len(creations)
    now = described(broker_loop)
    for c, r in zip(creations, results, strict=True):
        if r["error_code"] == 0:
            assert c in now
        else:
            assert r["error_code"] == 42 and r["error_message"]

    # Any filter is answered; an invalid one with INVALID_REQUEST.
    got = call(broker_loop, DESCRIBE_ACLS, describe_version, filter_body(*describe_filter))
    assert got["error_code"] in (0, 42)

    body = {"filters": [filter_body(*describe_filter), ANY]}
    deleted = call(broker_loop, DELETE_ACLS, describe_version, body)
    assert len(deleted["filter_results"]) == 2
    assert deleted["filter_results"][1]["error_code"] == 0
    assert described(broker_loop) == set()
