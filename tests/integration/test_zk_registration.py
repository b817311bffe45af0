"""Kafka's ZooKeeper steps (cluster.zk.registration) against a real ensemble."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from helpers.zookeeper import ZooKeeperEnsemble, expire_session

from cluster.metadata import BrokerEndpoint
from cluster.zk import errors, paths
from cluster.zk.client import ZkClient
from cluster.zk.ops import SetDataOp
from cluster.zk.registration import (
    BrokerIdAlreadyRegisteredError,
    BrokerRegistrar,
    ControllerMovedError,
    allocate_producer_id_block,
    create_top_level_paths,
    fenced_multi,
    generate_broker_id,
    get_or_create_cluster_id,
    new_cluster_id,
    read_controller_epoch,
    register_controller_and_increment_epoch,
)
from cluster.zk.znodes import BrokerInfo, ProducerIdsBlock, decode_controller_epoch

WAIT_S = 30.0

ClientFactory = Callable[[], ZkClient]


@pytest.fixture
async def clients(zk_connect: str) -> AsyncIterator[ClientFactory]:
    made: list[ZkClient] = []

    def make() -> ZkClient:
        client = ZkClient(zk_connect, session_timeout_ms=6000)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


async def started(factory: ClientFactory) -> ZkClient:
    client = factory()
    await client.start()
    return client


def broker_info(broker_id: int, port: int = 9092) -> BrokerInfo:
    return BrokerInfo(
        broker_id,
        (
            BrokerEndpoint("PLAINTEXT", "PLAINTEXT", "127.0.0.1", port),
            BrokerEndpoint("INTERNAL", "PLAINTEXT", "127.0.0.1", port + 100),
        ),
        rack="rack-a",
    )


async def test_top_level_paths_are_kafkas_with_null_data(clients: ClientFactory) -> None:
    zk = await started(clients)
    await create_top_level_paths(zk)
    await create_top_level_paths(zk)  # idempotent
    for path in paths.PERSISTENT_PATHS:
        data, stat = await zk.get(path)
        assert data is None and stat.version == 0, path


async def test_cluster_id_race_between_brokers_has_one_winner(clients: ClientFactory) -> None:
    brokers = [await started(clients) for _ in range(5)]
    proposals = [new_cluster_id() for _ in brokers]
    assert all(len(p) == 22 and not p.startswith("-") for p in proposals)
    ids = await asyncio.gather(
        *(
            get_or_create_cluster_id(zk, propose=lambda p=p: p)  # type: ignore[misc]
            for zk, p in zip(brokers, proposals, strict=True)
        )
    )
    assert len(set(ids)) == 1 and ids[0] in proposals
    await brokers[0].sync()
    data, stat = await brokers[0].get(paths.CLUSTER_ID)
    assert data == b'{"version":"1","id":"%s"}' % ids[0].encode() and stat.version == 0
    # Later brokers read it, whatever they would propose.
    assert await get_or_create_cluster_id(brokers[1], propose=lambda: "other") == ids[0]


async def test_generated_broker_ids_follow_seqid_versions(clients: ClientFactory) -> None:
    zk = await started(clients)
    others = [await started(clients) for _ in range(3)]
    assert await generate_broker_id(zk, reserved_broker_max_id=1000) == 1001
    concurrent = await asyncio.gather(*(generate_broker_id(c, 1000) for c in others * 3))
    assert sorted(concurrent) == list(range(1002, 1011))
    data, stat = await zk.get(paths.BROKER_SEQUENCE_ID)
    assert data == b"" and stat.version == 10


async def test_broker_registration_is_kafkas_ephemeral_znode(clients: ClientFactory) -> None:
    zk = await started(clients)
    registrar = BrokerRegistrar(zk, broker_info(1))
    epoch = await registrar.register()
    data, stat = await zk.get(paths.broker(1))
    assert stat.czxid == epoch and stat.ephemeral_owner == zk.session_id
    assert stat.version == 1  # create + set in one multi, as Kafka does
    assert BrokerInfo.decode(1, data).endpoints == broker_info(1).endpoints
    # Registering again on the same session keeps the znode (a retried create).
    assert await registrar.register() == epoch


async def test_a_second_broker_with_the_same_id_is_refused(clients: ClientFactory) -> None:
    first = await started(clients)
    await BrokerRegistrar(first, broker_info(7)).register()
    second = await started(clients)
    with pytest.raises(BrokerIdAlreadyRegisteredError) as info:
        await BrokerRegistrar(second, broker_info(7, port=9093)).register()
    assert "broker id 7 already registered" in str(info.value)
    assert isinstance(info.value, errors.NodeExistsError)
    # The first broker's registration is untouched.
    data, stat = await second.get(paths.broker(7))
    assert stat.ephemeral_owner == first.session_id
    assert BrokerInfo.decode(7, data).endpoints[0].port == 9092
    # Once the first broker's session ends, the id is free.
    await first.close()
    assert await BrokerRegistrar(second, broker_info(7, port=9093)).register() > 0


async def test_registration_left_by_our_expired_session_is_recreated(
    clients: ClientFactory,
) -> None:
    # ZOOKEEPER-2985: after an expiry the old ephemeral can still be there; Kafka deletes it
    # when it was created by the session this broker registered with.
    zk = await started(clients)
    registrar = BrokerRegistrar(zk, broker_info(3))
    await registrar.register()
    stale_session = zk.session_id
    other = await started(clients)
    registrar._registered_session = other.session_id  # pretend "other" was our old session
    await other.delete(paths.broker(3))
    await other.create(paths.broker(3), b"{}", ephemeral=True)  # a stale copy owned by it
    epoch = await registrar.register()
    _, stat = await zk.get(paths.broker(3))
    assert stat.ephemeral_owner == zk.session_id == stale_session and stat.czxid == epoch


async def test_broker_re_registers_after_session_expiry(
    clients: ClientFactory, zk_ensemble: ZooKeeperEnsemble
) -> None:
    zk = await started(clients)
    registrar = BrokerRegistrar(zk, broker_info(2))
    first_epoch = await registrar.register()
    epochs: asyncio.Queue[int] = asyncio.Queue()
    registrar.keep_registered(epochs.put_nowait)
    watcher = await started(clients)
    old_session = zk.session_id
    assert old_session is not None and zk.session_password is not None
    await asyncio.to_thread(
        expire_session, zk_ensemble.connect_string(), old_session, zk.session_password
    )
    new_epoch = await asyncio.wait_for(epochs.get(), WAIT_S)
    assert new_epoch > first_epoch and registrar.broker_epoch == new_epoch
    await watcher.sync()
    data, stat = await watcher.get(paths.broker(2))
    assert stat.ephemeral_owner == zk.session_id != old_session
    assert stat.czxid == new_epoch
    assert BrokerInfo.decode(2, data).rack == "rack-a"
    registrar.close()


async def test_producer_id_blocks_never_overlap_under_concurrency(
    clients: ClientFactory,
) -> None:
    brokers = [await started(clients) for _ in range(4)]
    await create_top_level_paths(brokers[0])  # Kafka pre-creates the znode with null data

    async def allocate_many(index: int) -> list[ProducerIdsBlock]:
        return [await allocate_producer_id_block(brokers[index], index) for _ in range(10)]

    results = await asyncio.gather(*(allocate_many(i) for i in range(len(brokers))))
    blocks = sorted((b for per in results for b in per), key=lambda b: b.first_producer_id)
    assert len(blocks) == 40
    assert [b.first_producer_id for b in blocks] == [1000 * i for i in range(40)]
    assert all(b.size == 1000 for b in blocks)
    assert {b.assigned_broker_id for b in results[2]} == {2}
    await brokers[0].sync()
    data, stat = await brokers[0].get(paths.LATEST_PRODUCER_ID_BLOCK)
    assert ProducerIdsBlock.decode(data) == blocks[-1]
    assert stat.version == 40


async def test_producer_id_block_without_the_znode(clients: ClientFactory) -> None:
    zk = await started(clients)
    assert await allocate_producer_id_block(zk, 5) == ProducerIdsBlock(5, 0, 1000)
    assert await allocate_producer_id_block(zk, 6) == ProducerIdsBlock(6, 1000, 1000)


async def test_controller_election_and_epoch_fencing(clients: ClientFactory) -> None:
    a, b = await started(clients), await started(clients)
    results = await asyncio.gather(
        register_controller_and_increment_epoch(a, 1),
        register_controller_and_increment_epoch(b, 2),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and winners[0] == (1, 1)
    assert [type(r) for r in results if isinstance(r, BaseException)] == [ControllerMovedError]
    winner, loser = (a, b) if not isinstance(results[0], BaseException) else (b, a)
    _, epoch_version = winners[0]
    await a.sync()
    assert decode_controller_epoch((await a.get(paths.CONTROLLER_EPOCH))[0]) == 1

    await a.create("/brokers/topics/t/partitions/0/state", b"{}", makepath=True)
    state = "/brokers/topics/t/partitions/0/state"
    await fenced_multi(winner, epoch_version, [SetDataOp(state, b"v1", 0)])
    # The controller dies; the other broker takes over and bumps the epoch.
    await winner.close()
    assert await register_controller_and_increment_epoch(loser, 99) == (2, 2)
    # A zombie write from the old controller (same epoch version) is fenced.
    zombie = await started(clients)
    with pytest.raises(ControllerMovedError):
        await fenced_multi(zombie, epoch_version, [SetDataOp(state, b"stale", 1)])
    assert (await loser.get(state))[0] == b"v1"
    # The new controller's write goes through; an op failing reports its own index.
    await fenced_multi(loser, 2, [SetDataOp(state, b"v2", 1)])
    with pytest.raises(errors.TransactionFailedError) as info:
        await fenced_multi(loser, 2, [SetDataOp(state, b"v3", 2), SetDataOp(state, b"v4", 0)])
    assert info.value.index == 1 and isinstance(info.value.cause, errors.BadVersionError)
    assert await read_controller_epoch(loser) == (2, 2)
