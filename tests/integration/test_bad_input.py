"""Malformed and hostile input on raw sockets: the bad connection may close, the broker never.

After each case a second client on a fresh connection still produces and consumes.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct

import pytest
from helpers.broker_process import BrokerProcess, api_versions_v0
from helpers.clients import Record, assert_roundtrip, consume, produce, unique_topic
from helpers.hostile_frames import framed, hostile_frames
from helpers.raw import (
    INVALID_TOPIC_EXCEPTION,
    UNSUPPORTED_VERSION,
    RawConn,
    api_versions,
    array,
    create_topics_body,
    i16,
    i32,
    metadata_v1_body,
    metadata_v4_body,
    parse_api_versions_v0,
    parse_create_topics,
    parse_metadata_topics,
    pick_version,
    request_frame,
    string,
)

INVALID_NAMES = ["", ".", "..", "a" * 250, "bad/name", "bad name", "bad!", "tab\tname", "ünï"]


def assert_healthy(b: BrokerProcess) -> None:
    assert b.running, f"broker process exited\n{b.log_tail()}"
    assert api_versions_v0(b.host, b.port) == 0
    topic = unique_topic("healthy")
    recs = [Record(b"k", b"still alive"), Record(None, b"second")]
    produce("confluent", b.bootstrap, topic, recs, timeout=20)
    assert_roundtrip(recs, consume("kafka-python", b.bootstrap, topic, 0, 0, 2, timeout=20))


def test_random_bytes(broker: BrokerProcess) -> None:
    rng = random.Random(1234)
    for i in range(20):
        blob = rng.randbytes(rng.randint(1, 4096))
        if i % 2:
            # a plausible frame length in front of random content
            blob = struct.pack(">i", len(blob)) + blob
        with RawConn(broker.host, broker.port) as c:
            with contextlib.suppress(OSError):
                c.send(blob)
            c.wait_closed(0.5)
    assert_healthy(broker)


def test_random_frame_after_valid_request(broker: BrokerProcess) -> None:
    """A valid request is answered; random garbage afterwards closes that connection."""
    with RawConn(broker.host, broker.port) as c:
        r = c.request(18, 0, b"")
        assert r.i16() == 0
        junk = os.urandom(64)
        c.send(i32(len(junk) + 8) + i16(0x7ABC) + i16(0) + i32(99) + junk)
        closed, _ = c.wait_closed(5)
        assert closed, "connection stayed open after a frame with an unknown api key"
    assert_healthy(broker)


@pytest.mark.parametrize("size", [200 * 1024 * 1024, 0x7FFFFFFF, -1, -0x80000000])
def test_oversized_or_negative_frame_length(broker: BrokerProcess, size: int) -> None:
    """A length above socket.request.max.bytes (100 MiB) or below 0 closes the connection."""
    with RawConn(broker.host, broker.port) as c:
        c.send(struct.pack(">i", size) + b"\x00\x12\x00\x00\x00\x00\x00\x01")
        closed, data = c.wait_closed(5)
        assert closed, f"connection not closed after frame length {size}"
        assert data == b""
    assert_healthy(broker)


def test_zero_length_frame(broker: BrokerProcess) -> None:
    with RawConn(broker.host, broker.port) as c:
        c.send(i32(0))
        closed, data = c.wait_closed(5)
        assert closed and data == b""
    assert_healthy(broker)


@pytest.mark.parametrize("cut", [2, 4, 7, 30])
def test_truncated_frame_then_close(broker: BrokerProcess, cut: int) -> None:
    frame = request_frame(3, 1, 7, metadata_v1_body(["some-topic"]))
    with RawConn(broker.host, broker.port) as c:
        c.send(frame[:cut])
    # and a frame that promises more than it sends, with the write side shut
    with RawConn(broker.host, broker.port) as c:
        c.send(i32(1000) + frame[4:])
        c.sock.shutdown(socket.SHUT_WR)
        closed, data = c.wait_closed(5)
        assert closed and data == b""
    assert_healthy(broker)


@pytest.mark.parametrize("api_key", [9999, 0x7FFF, -1, 200])
def test_unknown_api_key_closes_connection(broker: BrokerProcess, api_key: int) -> None:
    """Kafka cannot parse the header of an unknown API and closes the connection."""
    with RawConn(broker.host, broker.port) as c:
        c.send_request(api_key, 0, b"\x00" * 16)
        closed, data = c.wait_closed(5)
        assert closed, "connection still open after an unknown api key"
        assert data == b"", f"unexpected answer to api key {api_key}: {data[:64]!r}"
    assert_healthy(broker)


@pytest.mark.parametrize("version", [5, 100, 0x7FFF])
def test_api_versions_unsupported_version(broker: BrokerProcess, version: int) -> None:
    """UNSUPPORTED_VERSION in a v0-format body with the ApiVersions range, header v0."""
    with RawConn(broker.host, broker.port) as c:
        # a newer client sends header v2 and a flexible body, which must not be parsed
        body = b"\x06hello\x041.0\x00"
        corr = c.send_request(18, version, body, flexible_header=True)
        r = c.recv_response(corr)
        err, ranges = parse_api_versions_v0(r)
        assert err == UNSUPPORTED_VERSION
        assert 18 in ranges, f"ApiVersions range missing: {ranges}"
        lo, hi = ranges[18]
        assert lo == 0 and 3 <= hi < version, (lo, hi)
        # the connection stays usable: a supported version now works
        r = c.request(18, 0, b"")
        err, ranges = parse_api_versions_v0(r)
        assert err == 0 and 0 in ranges and 1 in ranges and 3 in ranges
    assert_healthy(broker)


@pytest.mark.parametrize("version", [99, 0x7FFF, -1])
def test_produce_unsupported_version_closes_connection(broker: BrokerProcess, version: int) -> None:
    """Kafka fails to parse a Produce request of an unknown version and closes the connection."""
    with RawConn(broker.host, broker.port) as c:
        c.send_request(0, version, i16(-1) + i16(1) + i32(1000) + array([]))
        closed, data = c.wait_closed(5)
        assert closed, "connection still open after Produce with an unsupported version"
        assert data == b"", f"unexpected answer: {data[:64]!r}"
    assert_healthy(broker)


def test_malformed_body_closes_connection(broker: BrokerProcess) -> None:
    """A Metadata request whose array count runs past the frame closes the connection."""
    with RawConn(broker.host, broker.port) as c:
        c.send_request(3, 1, i32(1_000_000_000) + string("x"))
        closed, data = c.wait_closed(5)
        assert closed and data == b""
    with RawConn(broker.host, broker.port) as c:
        c.send_request(3, 1, i32(1) + i16(5000) + b"abc")  # string longer than the frame
        closed, data = c.wait_closed(5)
        assert closed and data == b""
    assert_healthy(broker)


def test_metadata_invalid_topic_names(broker: BrokerProcess) -> None:
    """Invalid names in Metadata answer INVALID_TOPIC_EXCEPTION per topic (auto-create or not)."""
    names = [n for n in INVALID_NAMES if n]  # an empty name is tested via CreateTopics
    ranges = api_versions(broker.host, broker.port)
    v = pick_version(ranges, 3, 1, 4)
    if v >= 4:
        cases = [(v, metadata_v4_body(names, True)), (v, metadata_v4_body(names, False))]
        all_topics = metadata_v4_body(None, False)
    else:
        cases = [(v, metadata_v1_body(names))]
        all_topics = metadata_v1_body(None)
    with RawConn(broker.host, broker.port) as c:
        for version, body in cases:
            errors = parse_metadata_topics(c.request(3, version, body), version)
            assert errors == dict.fromkeys(names, INVALID_TOPIC_EXCEPTION), (version, errors)
        # nothing was created
        listed = parse_metadata_topics(c.request(3, v, all_topics), v)
        assert not set(names) & set(listed)
    assert_healthy(broker)


def test_create_topics_invalid_names(broker: BrokerProcess) -> None:
    v = pick_version(api_versions(broker.host, broker.port), 19, 0, 4)
    with RawConn(broker.host, broker.port) as c:
        body = create_topics_body(v, [(n, 1, 1) for n in INVALID_NAMES])
        errors = parse_create_topics(c.request(19, v, body), v)
        assert errors == dict.fromkeys(INVALID_NAMES, INVALID_TOPIC_EXCEPTION)
    assert_healthy(broker)


def test_pipelined_requests_answered_in_order(broker: BrokerProcess) -> None:
    """50 requests in one write: 50 responses, in order, on the same connection."""
    with RawConn(broker.host, broker.port) as c:
        frames = b""
        corrs = []
        for i in range(50):
            corr = c.next_correlation_id()
            corrs.append(corr)
            if i % 2:
                frames += request_frame(18, 0, corr, b"")
            else:
                frames += request_frame(3, 1, corr, metadata_v1_body([]))
        c.send(frames)
        for corr in corrs:
            c.recv_response(corr)
    assert_healthy(broker)


def test_many_connections_opened_and_dropped(broker: BrokerProcess) -> None:
    socks = [socket.create_connection((broker.host, broker.port), timeout=5) for _ in range(200)]
    for s in socks[::2]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        s.close()
    for s in socks[1::2]:
        s.close()
    assert_healthy(broker)


def test_hostile_collection_lengths_close_only_that_connection(broker: BrokerProcess) -> None:
    """Counts and lengths no frame could hold (issue 12: these aborted the broker in kio's
    native decoder): each closes its own connection with one warning line and no traceback;
    a bystander connection opened before keeps working, and so do new clients."""
    frames = hostile_frames(first_correlation_id=9001)
    with RawConn(broker.host, broker.port) as bystander:
        assert parse_api_versions_v0(bystander.request(18, 0, b""))[0] == 0
        for name, frame in frames.items():
            with RawConn(broker.host, broker.port) as c:
                c.send(framed(frame))
                closed, data = c.wait_closed(5)
                assert closed, f"connection still open after {name}"
                assert data == b"", f"unexpected answer to {name}: {data[:64]!r}"
            assert broker.running, f"broker died on {name}\n{broker.log_tail()}"
            assert parse_api_versions_v0(bystander.request(18, 0, b""))[0] == 0
    assert_healthy(broker)
    log = broker.log_text()
    for i, name in enumerate(frames):
        lines = [ln for ln in log.splitlines() if f"(correlation id {9001 + i})" in ln]
        assert len(lines) == 1, f"{name}: expected one log line, got {lines}"
        assert " WARNING " in lines[0] and "closing connection" in lines[0], lines[0]
    assert "Traceback" not in log
