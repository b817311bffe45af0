"""Fuzzing the request path: any frame is answered, or closes its connection cleanly.

Every advertised (API, version) gets a default request (built by the admin tools' request
builder) whose body bytes are then mutated. Dispatch against a real in-process broker may
return a response or raise ProtocolViolation / CloseConnection (the connection is closed,
as Kafka does); any other exception would be a broker bug that drops the connection with
a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.admin.wire import build_request, encode_request
from broker.config.broker_config import load_config
from broker.network.context import ConnectionInfo
from broker.network.dispatch import CloseConnection, RequestDispatcher
from broker.server import KafkaBroker
from broker.topic_manager import TopicSpec
from protocol.errors import ProtocolViolation

CONNECTION = ConnectionInfo("fuzz-1", "127.0.0.1", 1, "PLAINTEXT")


@pytest.fixture(scope="module")
def broker_loop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KafkaBroker, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    tmp = tmp_path_factory.mktemp("fuzz")
    config = load_config(
        None,
        [
            "listeners=PLAINTEXT://127.0.0.1:0",
            f"log.dirs={tmp / 'logs'}",
            "offsets.topic.num.partitions=2",
            "group.initial.rebalance.delay.ms=0",
        ],
    )
    broker = KafkaBroker(config)
    loop.run_until_complete(broker.start())
    assert broker.services is not None
    loop.run_until_complete(broker.services.topic_manager.create(TopicSpec("fuzz", 2, 1)))
    yield broker, loop
    loop.run_until_complete(broker.shutdown())
    loop.close()


def routes() -> list[tuple[int, int]]:
    from broker.api_table import supported_apis

    return [(k, v) for k, _, lo, hi in supported_apis() for v in range(lo, hi + 1)]


ROUTES = routes()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(ROUTES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(-3, 3),
)
def test_mutated_requests_never_crash_a_handler(
    broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop],
    route: tuple[int, int],
    flips: list[tuple[int, int]],
    cut: int,
) -> None:
    broker, loop = broker_loop
    assert broker.services is not None
    api_key, version = route
    frame = bytearray(
        encode_request(api_key, version, 7, "fuzz", build_request(api_key, version, {}))[4:]
    )
    header_len = 8
    for pos, value in flips:
        if len(frame) > header_len:
            frame[header_len + pos % (len(frame) - header_len)] = value
    if cut < 0:
        del frame[cut:]
    elif cut > 0:
        frame += bytes(cut)
    dispatcher = RequestDispatcher(broker.services.registry)

    async def run() -> None:
        try:
            await asyncio.wait_for(dispatcher.dispatch(bytes(frame), CONNECTION), 2)
        except (ProtocolViolation, CloseConnection):
            pass
        except TimeoutError:
            # Only a Fetch may legitimately wait (a mutated max_wait can be long).
            assert api_key == 1

    loop.run_until_complete(run())


def test_null_for_a_non_nullable_array_is_refused(
    broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop],
) -> None:
    """Fetch v7 with topics sent as a null array: Kafka refuses the request."""
    broker, loop = broker_loop
    assert broker.services is not None
    frame = encode_request(1, 7, 3, "fuzz", build_request(1, 7, {}))[4:]
    # the body ends with topics (int32 count 0) and forgotten topics (int32 count 0)
    assert frame.endswith(b"\x00" * 8)
    nulled = frame[:-8] + b"\xff\xff\xff\xff" + frame[-4:]
    dispatcher = RequestDispatcher(broker.services.registry)
    with pytest.raises(ProtocolViolation, match="non-nullable field topics"):
        loop.run_until_complete(dispatcher.dispatch(nulled, CONNECTION))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=64))
def test_random_frames(
    broker_loop: tuple[KafkaBroker, asyncio.AbstractEventLoop], frame: bytes
) -> None:
    broker, loop = broker_loop
    assert broker.services is not None
    dispatcher = RequestDispatcher(broker.services.registry)

    async def run() -> None:
        with contextlib.suppress(ProtocolViolation, CloseConnection):
            await asyncio.wait_for(dispatcher.dispatch(frame, CONNECTION), 10)

    loop.run_until_complete(run())
