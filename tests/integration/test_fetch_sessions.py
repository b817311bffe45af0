"""Fetch: incremental sessions (KIP-227), the delayed-fetch purgatory, idle connections."""

from __future__ import annotations

import datetime
import struct
import threading
from collections.abc import Callable
from typing import Any

from helpers.broker_process import BrokerProcess
from helpers.clients import Record, create_topic, produce, unique_topic
from helpers.raw import RawConn, recv_exact
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from protocol.builders import make, request_class
from protocol.codec import encode_entity, response_schema
from protocol.records import iter_records

VERSION = 12


def fetch_request(
    topics: dict[str, dict[int, int]],
    *,
    session_id: int = 0,
    epoch: int = -1,
    forgotten: dict[str, list[int]] | None = None,
    max_wait_ms: int = 0,
    min_bytes: int = 0,
) -> Any:
    cls = request_class(1, VERSION)
    return make(
        cls,
        max_wait=datetime.timedelta(milliseconds=max_wait_ms),
        min_bytes=min_bytes,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=session_id,
        session_epoch=epoch,
        topics=tuple(
            make(
                request_class(1, VERSION, "FetchTopic"),
                topic=name,
                partitions=tuple(
                    make(
                        request_class(1, VERSION, "FetchPartition"),
                        partition=p,
                        fetch_offset=o,
                        partition_max_bytes=1 << 20,
                    )
                    for p, o in parts.items()
                ),
            )
            for name, parts in topics.items()
        ),
        forgotten_topics_data=tuple(
            make(request_class(1, VERSION, "ForgottenTopic"), topic=t, partitions=tuple(ps))
            for t, ps in (forgotten or {}).items()
        ),
        rack_id="",
    )


def send_fetch(conn: RawConn, request: Any) -> Any:
    corr = conn.next_correlation_id()
    client = b"sessions"
    header = struct.pack(">hhih", 1, VERSION, corr, len(client)) + client + b"\x00"
    payload = header + encode_entity(request)
    conn.send(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", recv_exact(conn.sock, 4))[0]
    data = recv_exact(conn.sock, size)
    assert struct.unpack_from(">i", data)[0] == corr
    response, _ = entity_reader(response_schema(1, VERSION))(data, 5)
    return response


def partitions_of(response: Any) -> dict[tuple[str, int], Any]:
    return {(t.topic, p.partition_index): p for t in response.responses for p in t.partitions}


def values(partition: Any) -> list[bytes | None]:
    return [r.value for _, r in iter_records(partition.records or b"")]


def test_incremental_fetch_session(shared: BrokerProcess) -> None:
    a, b = unique_topic("sess-a"), unique_topic("sess-b")
    create_topic(shared.bootstrap, a, partitions=2)
    create_topic(shared.bootstrap, b, partitions=1)
    produce("confluent", shared.bootstrap, a, [Record(None, b"a0")], partition=0)
    with RawConn(shared.host, shared.port) as conn:
        full = send_fetch(conn, fetch_request({a: {0: 0, 1: 0}, b: {0: 0}}, epoch=0))
        assert full.error_code == ErrorCode.none and full.session_id != 0
        session = full.session_id
        got = partitions_of(full)
        assert set(got) == {(a, 0), (a, 1), (b, 0)}
        assert values(got[(a, 0)]) == [b"a0"] and got[(a, 0)].high_watermark == 1
        # Incremental, nothing changed: no partitions in the response.
        inc = send_fetch(conn, fetch_request({a: {0: 1}}, session_id=session, epoch=1))
        assert inc.error_code == ErrorCode.none and inc.session_id == session
        assert partitions_of(inc) == {}
        # New data on a partition the request does not mention: it comes back alone.
        produce("kafka-python", shared.bootstrap, b, [Record(None, b"b0")], partition=0)
        inc = send_fetch(conn, fetch_request({}, session_id=session, epoch=2))
        got = partitions_of(inc)
        assert set(got) == {(b, 0)} and values(got[(b, 0)]) == [b"b0"]
        # Forget b-0; advance it anyway: it is no longer in the session.
        inc = send_fetch(
            conn,
            fetch_request({}, session_id=session, epoch=3, forgotten={b: [0]}),
        )
        produce("confluent", shared.bootstrap, b, [Record(None, b"b1")], partition=0)
        produce("confluent", shared.bootstrap, a, [Record(None, b"a1-0")], partition=1)
        inc = send_fetch(conn, fetch_request({}, session_id=session, epoch=4))
        got = partitions_of(inc)
        assert set(got) == {(a, 1)} and values(got[(a, 1)]) == [b"a1-0"]
        # Wrong epoch and unknown session ids are refused with Kafka's errors.
        bad = send_fetch(conn, fetch_request({}, session_id=session, epoch=9))
        assert bad.error_code == ErrorCode.invalid_fetch_session_epoch
        unknown = send_fetch(conn, fetch_request({}, session_id=session + 1, epoch=1))
        assert unknown.error_code == ErrorCode.fetch_session_id_not_found
        # Closing the session (epoch -1) answers sessionless.
        closed = send_fetch(conn, fetch_request({a: {0: 0}}, session_id=session, epoch=-1))
        assert closed.session_id == 0 and set(partitions_of(closed)) == {(a, 0)}
        gone = send_fetch(conn, fetch_request({}, session_id=session, epoch=5))
        assert gone.error_code == ErrorCode.fetch_session_id_not_found


def test_fetch_waits_for_data_in_purgatory(shared: BrokerProcess) -> None:
    topic = unique_topic("purgatory")
    create_topic(shared.bootstrap, topic)
    timer = threading.Timer(
        0.5,
        lambda: produce("confluent", shared.bootstrap, topic, [Record(b"k", b"late")]),
    )
    with RawConn(shared.host, shared.port, timeout=60) as conn:
        timer.start()
        try:
            # Sent before the record exists; it must be parked, then answered with it.
            response = send_fetch(
                conn, fetch_request({topic: {0: 0}}, max_wait_ms=30_000, min_bytes=1)
            )
        finally:
            timer.join()
    got = partitions_of(response)[(topic, 0)]
    assert got.error_code == ErrorCode.none and values(got) == [b"late"]


def test_idle_connections_are_closed(broker_factory: Callable[..., BrokerProcess]) -> None:
    b = broker_factory({"connections.max.idle.ms": "300"})
    with RawConn(b.host, b.port) as idle:
        closed, _ = idle.wait_closed(timeout=10)
        assert closed
    # A connection that keeps talking stays open: each parked fetch is activity.
    with RawConn(b.host, b.port) as busy:
        for _ in range(5):
            response = send_fetch(busy, fetch_request({}, max_wait_ms=200))
            assert response.error_code == ErrorCode.none
    assert "closing idle connection" in b.log_text()
