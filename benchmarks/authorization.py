"""Cost of ACL checks and quotas on the request path, measured in process.

1. ``AclAuthorizer.authorize`` with many ACLs: a decision computed (cache cleared) and one
   answered from the decision cache.
2. Produce requests (one topic, one partition, one 1 KiB record, acks=1) dispatched to an
   in-process standalone broker: without an authorizer, with the ACL authorizer (the
   producer allowed by an ACL), with a producer_byte_rate quota that never throttles, and
   with a request_percentage quota (every handler step timed).

    python benchmarks/authorization.py [--requests N] [--rounds K]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.admin.wire import build_request, encode_request
from broker.config.broker_config import load_config
from broker.network.context import ConnectionInfo
from broker.network.dispatch import RequestDispatcher
from broker.security.authorizer import AclAuthorizer
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from cluster.acl_store import AclSnapshot, Entries, StandaloneAclStore
from cluster.acls import (
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from protocol.records import NewRecord, encode_batch

ALICE = ConnectionInfo("bench", "127.0.0.1", 1, "PLAINTEXT", principal="User:alice")


class Document:
    def __init__(self) -> None:
        self.data: AclSnapshot = {}

    def acls(self) -> AclSnapshot:
        return self.data

    async def set_acls(self, pattern: ResourcePattern, entries: Entries) -> None:
        self.data[pattern] = entries


async def bench_decisions(n_literal: int, n_prefixed: int, rounds: int) -> None:
    doc = Document()
    for i in range(n_literal):
        doc.data[ResourcePattern(ResourceType.TOPIC, f"topic-{i}", PatternType.LITERAL)] = (
            frozenset({AccessControlEntry(f"User:u{i % 50}", "*", AclOperation.READ,
                                          AclPermissionType.ALLOW)})
        )
    for i in range(n_prefixed):
        doc.data[ResourcePattern(ResourceType.TOPIC, f"team{i}-", PatternType.PREFIXED)] = (
            frozenset({AccessControlEntry("User:alice", "*", AclOperation.WRITE,
                                          AclPermissionType.ALLOW)})
        )
    authz = AclAuthorizer(StandaloneAclStore(doc))
    await authz.start()
    name = f"team{n_prefixed // 2}-orders"
    start = time.perf_counter()
    for _ in range(rounds):
        authz._decisions.clear()
        authz.authorize("User:alice", "127.0.0.1", AclOperation.WRITE, ResourceType.TOPIC, name)
    computed = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(rounds):
        authz.authorize("User:alice", "127.0.0.1", AclOperation.WRITE, ResourceType.TOPIC, name)
    cached = (time.perf_counter() - start) / rounds
    print(f"authorize ({n_literal} literal + {n_prefixed} prefixed ACLs): "
          f"computed {computed * 1e6:.2f} us, cached {cached * 1e6:.2f} us")  # fmt: skip


async def produce_setup(
    tmp: str, extra: list[str], setup: str
) -> tuple[KafkaBroker, RequestDispatcher, bytes]:
    config = load_config(None, ["listeners=PLAINTEXT://127.0.0.1:0", f"log.dirs={tmp}", *extra])
    broker = KafkaBroker(config)
    await broker.start()
    services = broker.services
    assert services is not None
    await services.topic_manager.create(TopicSpec("bench", 1, 1))
    if setup == "acl":
        assert services.auth.authorizer is not None
        binding = AclBinding(
            ResourcePattern(ResourceType.TOPIC, "bench", PatternType.LITERAL),
            AccessControlEntry("User:alice", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
        )
        await services.auth.authorizer.create_acls([binding])
    elif setup:
        await services.metadata.set_user_configs("alice", {setup: "1e12"})  # type: ignore[attr-defined]
    dispatcher = RequestDispatcher(services.registry)
    dispatcher.quotas = services.quotas
    batch = encode_batch([NewRecord(key=None, value=b"x" * 1024)])
    body = {"acks": 1, "timeout": 1000, "topic_data": [
        {"name": "bench", "partition_data": [{"index": 0, "records": batch}]}]}
    frame = encode_request(0, 9, 1, "bench", build_request(0, 9, body))[4:]
    for _ in range(200):
        await dispatcher.dispatch(frame, ALICE)
    return broker, dispatcher, frame


async def main(requests: int, rounds: int) -> None:
    await bench_decisions(10_000, 1_000, 20_000)
    acl = ["authorizer.class.name=kafka.security.authorizer.AclAuthorizer"]
    cases = {
        "without authorizer or quotas": ([], ""),
        "with the ACL authorizer (allowed by an ACL)": (acl, "acl"),
        "with a producer_byte_rate quota": ([], "producer_byte_rate"),
        "with a request_percentage quota": ([], "request_percentage"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            label: await produce_setup(f"{tmp}/{n}", extra, setup)
            for n, (label, (extra, setup)) in enumerate(cases.items())
        }
        # Interleaved rounds, medians: the machine is shared and noisy.
        times: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(rounds):
            for label, (_broker, dispatcher, frame) in setups.items():
                start = time.perf_counter()
                for _ in range(requests):
                    await dispatcher.dispatch(frame, ALICE)
                times[label].append((time.perf_counter() - start) / requests)
        for broker, _d, _f in setups.values():
            await broker.shutdown()
    base = statistics.median(times["without authorizer or quotas"])
    for label, values in times.items():
        per = statistics.median(values)
        change = 100 * (per - base) / base
        print(f"produce {label:<44} {per * 1e6:7.1f} us/request ({change:+.1f}%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000, help="per case and round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
