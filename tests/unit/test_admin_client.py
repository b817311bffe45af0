"""The admin client's pieces without a broker: consumer protocol codec (cross-checked with
kafka-python's), request building, version negotiation against fake brokers, murmur2,
argument parsing and table output."""

from __future__ import annotations

import datetime
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka.protocol.consumer.metadata import (  # type: ignore[import-untyped]
    ConsumerProtocolAssignment as KPAssignment,
)
from kafka.protocol.consumer.metadata import (
    ConsumerProtocolSubscription as KPSubscription,
)
from kio.schema.errors import ErrorCode

from broker.admin.client import (
    API_VERSIONS,
    CLIENT_VERSIONS,
    METADATA,
    BrokerConnection,
    KafkaResponseError,
    UnsupportedApi,
    error_description,
    error_name,
    negotiate,
    parse_address,
)
from broker.admin.common import UsageError, connect
from broker.admin.console import murmur2, partition_for_key
from broker.admin.consumer_protocol import (
    Assignment,
    ConsumerProtocolError,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from broker.admin.groups import parse_datetime, parse_duration
from broker.admin.output import format_table, kafka_uuid
from broker.admin.wire import build_request, encode_request, to_plain
from broker.cli import build_parser, main
from protocol.builders import make, response_class
from protocol.codec import decode_request, encode_response, request_is_flexible
from protocol.headers import read_request_header

# --------------------------------------------------------------------------- consumer protocol


def _i16(v: int) -> bytes:
    return struct.pack(">h", v)


def _i32(v: int) -> bytes:
    return struct.pack(">i", v)


def _str(s: str) -> bytes:
    return _i16(len(s)) + s.encode()


def test_decode_assignment_by_hand() -> None:
    data = (
        _i16(0)
        + _i32(2)
        + _str("orders")
        + _i32(2)
        + _i32(0)
        + _i32(3)
        + _str("audit")
        + _i32(1)
        + _i32(7)
        + _i32(3)
        + b"xyz"
    )
    a = decode_assignment(data)
    assert a.version == 0
    assert a.partitions == {"orders": [0, 3], "audit": [7]}
    assert a.user_data == b"xyz"
    assert a.topic_partitions() == [("audit", 7), ("orders", 0), ("orders", 3)]


def test_decode_assignment_null_user_data_and_empty() -> None:
    data = _i16(1) + _i32(1) + _str("t") + _i32(1) + _i32(0) + _i32(-1)
    a = decode_assignment(data)
    assert a.partitions == {"t": [0]} and a.user_data is None and a.version == 1
    assert decode_assignment(b"") == Assignment()
    # No user data field at all (some clients stop after the partitions).
    assert decode_assignment(_i16(0) + _i32(0)).partitions == {}


def test_decode_assignment_later_version_with_trailing_fields() -> None:
    data = encode_assignment(Assignment({"t": [1, 2]}, b"u", version=3)) + b"\x00\x01future"
    a = decode_assignment(data)
    assert a.partitions == {"t": [1, 2]} and a.user_data == b"u" and a.version == 3


@pytest.mark.parametrize(
    "data",
    [
        _i16(0) + _i32(1) + _str("t"),  # partitions array missing
        _i16(0) + _i32(1) + _i16(10) + b"abc",  # topic name truncated
        _i16(0) + _i32(1) + _str("t") + _i32(5) + _i32(0),  # fewer partitions than said
        b"\x00",
        _i16(-1),
    ],
)
def test_decode_assignment_rejects_garbage(data: bytes) -> None:
    with pytest.raises(ConsumerProtocolError):
        decode_assignment(data)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_assignment_matches_kafka_python(version: int) -> None:
    ours = Assignment({"a": [0, 1], "b": [5]}, b"ud", version=version)
    theirs = KPAssignment(
        assigned_partitions=[
            KPAssignment.TopicPartition(topic="a", partitions=[0, 1]),
            KPAssignment.TopicPartition(topic="b", partitions=[5]),
        ],
        user_data=b"ud",
        version=version,
    )
    assert encode_assignment(ours) == theirs.encode()
    decoded = KPAssignment.decode(encode_assignment(ours))
    assert sorted((tp.topic, tp.partition) for tp in decoded.partitions()) == [
        ("a", 0),
        ("a", 1),
        ("b", 5),
    ]
    assert decode_assignment(theirs.encode()) == ours


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_subscription_round_trip_and_kafka_python(version: int) -> None:
    sub = Subscription(
        ["a", "b"],
        b"meta",
        {"a": [0]} if version >= 1 else {},
        7 if version >= 2 else -1,
        "rack1" if version >= 3 else None,
        version,
    )
    data = encode_subscription(sub)
    assert decode_subscription(data) == sub
    theirs = KPSubscription.decode(data)
    assert list(theirs.topics) == ["a", "b"]
    assert theirs.user_data == b"meta"
    if version >= 2:
        assert theirs.generation_id == 7
    if version >= 3:
        assert theirs.rack_id == "rack1"


# --------------------------------------------------------------------------- negotiation


def test_negotiate_picks_highest_common_version() -> None:
    client = {3: (1, 12), 9: (2, 8)}
    assert negotiate(3, (0, 13), client) == 12
    assert negotiate(3, (0, 5), client) == 5
    assert negotiate(9, (8, 10), client) == 8
    with pytest.raises(UnsupportedApi, match="no common version"):
        negotiate(9, (9, 10), client)
    with pytest.raises(UnsupportedApi, match="does not support"):
        negotiate(3, None, client)
    with pytest.raises(UnsupportedApi, match="does not implement"):
        negotiate(60, (0, 1), client)


def test_client_version_table_is_buildable() -> None:
    """Every version in the client's table has a kio schema and builds from an empty dict."""
    for api_key, (low, high) in CLIENT_VERSIONS.items():
        for version in range(low, high + 1):
            entity = build_request(api_key, version, {})
            encode_request(api_key, version, 1, "t", entity)


class FakeBroker:
    """A one-connection fake broker: answers ApiVersions from ``ranges`` (UNSUPPORTED_VERSION
    above ``max_api_versions``) and Metadata with an empty cluster; records what it got."""

    def __init__(self, ranges: dict[int, tuple[int, int]], max_api_versions: int) -> None:
        self.ranges = ranges
        self.max_api_versions = max_api_versions
        self.requests: list[tuple[int, int]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError
            buf += chunk
        return buf

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            try:
                while True:
                    (size,) = struct.unpack(">i", self._recv(conn, 4))
                    frame = self._recv(conn, size)
                    api_key, version = struct.unpack_from(">hh", frame)
                    self.requests.append((api_key, version))
                    header, pos = read_request_header(frame, request_is_flexible(api_key, version))
                    decode_request(api_key, version, frame, pos)
                    conn.sendall(self._answer(api_key, version, header.correlation_id))
            except (ConnectionError, OSError):
                return

    def _answer(self, api_key: int, version: int, corr: int) -> bytes:
        if api_key == API_VERSIONS:
            keys = [
                make(response_class(18, 0, "ApiVersion"), api_key=k, min_version=lo, max_version=hi)
                for k, (lo, hi) in sorted(self.ranges.items())
            ]
            if version > self.max_api_versions:
                body = make(
                    response_class(18, 0),
                    error_code=ErrorCode.unsupported_version,
                    api_keys=tuple(keys),
                )
                return encode_response(18, 0, corr, body)
            rb = response_class(18, version)
            keys = [
                make(
                    response_class(18, version, "ApiVersion"),
                    api_key=k,
                    min_version=lo,
                    max_version=hi,
                )
                for k, (lo, hi) in sorted(self.ranges.items())
            ]
            body = make(
                rb,
                error_code=ErrorCode.none,
                api_keys=tuple(keys),
                throttle_time=datetime.timedelta(0),
            )
            return encode_response(18, version, corr, body)
        assert api_key == METADATA
        body = make(
            response_class(3, version),
            throttle_time=datetime.timedelta(0),
            brokers=(),
            cluster_id="fake",
            controller_id=-1,
            topics=(),
        )
        return encode_response(3, version, corr, body)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake_broker() -> Iterator[Callable[..., FakeBroker]]:
    made: list[FakeBroker] = []

    def make_fake(ranges: dict[int, tuple[int, int]], max_api_versions: int = 4) -> FakeBroker:
        fb = FakeBroker(ranges, max_api_versions)
        made.append(fb)
        return fb

    yield make_fake
    for fb in made:
        fb.close()


def test_connection_negotiates_per_api(fake_broker: Callable[..., FakeBroker]) -> None:
    fb = fake_broker({18: (0, 4), 3: (0, 7)})
    with BrokerConnection("127.0.0.1", fb.port, timeout=5) as conn:
        assert conn.broker_versions == {18: (0, 4), 3: (0, 7)}
        assert conn.version(METADATA) == 7
        version, plain = conn.request(METADATA, {"topics": None})
        assert version == 7 and plain["cluster_id"] == "fake"
        assert not conn.supports(0)
    assert fb.requests == [(18, 3), (3, 7)]


def test_connection_falls_back_on_unsupported_api_versions(
    fake_broker: Callable[..., FakeBroker],
) -> None:
    """A broker that does not know ApiVersions v3 answers v0 with UNSUPPORTED_VERSION and its
    range; the client asks again at the highest version that broker supports."""
    fb = fake_broker({18: (0, 2), 3: (0, 12)}, max_api_versions=2)
    with BrokerConnection("127.0.0.1", fb.port, timeout=5) as conn:
        assert conn.broker_versions[3] == (0, 12)
        assert conn.version(METADATA) == CLIENT_VERSIONS[METADATA][1]
    assert fb.requests == [(18, 3), (18, 2)]


def test_connection_below_client_minimum(fake_broker: Callable[..., FakeBroker]) -> None:
    fb = fake_broker({18: (0, 3), 3: (0, 0)})
    with BrokerConnection("127.0.0.1", fb.port, timeout=5) as conn, pytest.raises(UnsupportedApi):
        conn.version(METADATA)


# --------------------------------------------------------------------------- wire


def test_build_request_fills_and_drops_fields() -> None:
    data = {"topics": [{"name": "t", "topic_id": None}], "allow_auto_topic_creation": False}
    v1 = build_request(METADATA, 1, data)
    assert [t.name for t in v1.topics] == ["t"]
    v12 = build_request(METADATA, 12, data)
    assert v12.include_topic_authorized_operations is False
    assert v12.allow_auto_topic_creation is False
    frame = encode_request(METADATA, 12, 9, "me", v12)
    header, pos = read_request_header(frame[4:], True)
    assert (header.api_key, header.api_version, header.correlation_id) == (3, 12, 9)
    assert header.client_id == "me"
    assert decode_request(3, 12, frame[4:], pos) == v12
    # timedelta fields take milliseconds
    ct = build_request(19, 7, {"topics": [], "timeout": 1500})
    assert ct.timeout == datetime.timedelta(milliseconds=1500)
    assert to_plain(ct)["timeout"] == 1500


def test_error_names_and_messages() -> None:
    assert error_name(3) == "UNKNOWN_TOPIC_OR_PARTITION"
    assert "does not host" in error_description(3)
    assert error_name(12345) == "UNKNOWN_ERROR_CODE_12345"
    err = KafkaResponseError(16, context="x")
    assert err.retriable and str(err).startswith("x: NOT_COORDINATOR")
    assert not KafkaResponseError(36).retriable


def test_parse_address() -> None:
    assert parse_address("h:1") == ("h", 1)
    assert parse_address("h") == ("h", 9092)
    assert parse_address("[::1]:9093") == ("::1", 9093)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("key", "expected"),
    [  # Kafka's UtilsTest.testMurmur2
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_partition_for_key_in_range() -> None:
    assert all(0 <= partition_for_key(bytes([i]), 7) < 7 for i in range(256))


def test_durations_and_datetimes() -> None:
    assert parse_duration("PT1H30M") == datetime.timedelta(hours=1, minutes=30)
    assert parse_duration("P1DT2S") == datetime.timedelta(days=1, seconds=2)
    assert parse_duration("-PT5M") == -datetime.timedelta(minutes=5)
    for bad in ("P", "1H", "PT", "PTXM"):
        with pytest.raises(UsageError):
            parse_duration(bad)
    assert parse_datetime("1970-01-01T00:00:01Z") == 1000
    assert parse_datetime("2024-01-31T12:00:00.500+01:00") == 1706698800500
    with pytest.raises(UsageError):
        parse_datetime("yesterday")


def test_format_table_and_uuid() -> None:
    text = format_table(("A", "LONGER"), [(1, None), ("xyz", "v")])
    assert text.splitlines() == ["A    LONGER", "1    -", "xyz  v"]
    import uuid

    assert kafka_uuid(uuid.UUID(int=0)) == "AAAAAAAAAAAAAAAAAAAAAA"
    assert len(kafka_uuid(uuid.uuid4())) == 22


# --------------------------------------------------------------------------- CLI parsing


def test_cli_has_admin_commands_and_start() -> None:
    parser = build_parser()
    args = parser.parse_args(["start", "-o", "a=b"])
    assert args.overrides == ["a=b"]
    args = parser.parse_args(
        ["groups", "reset-offsets", "g", "--topic", "t:0,1", "--to-offset", "5", "--execute"]
    )
    assert args.to_offset == 5 and args.topic == ["t:0,1"] and args.execute
    args = parser.parse_args(["topics", "list"])
    # the default is applied after --command-config is read (its bootstrap.servers comes first)
    assert args.bootstrap_server is None and args.output == "text"
    with connect(args) as client:
        assert client.bootstrap == [("127.0.0.1", 9092)]


@pytest.mark.parametrize(
    "argv",
    [
        ["groups", "reset-offsets", "g", "--topic", "t"],  # no scenario
        ["groups", "reset-offsets", "g", "--to-earliest", "--to-latest", "--topic", "t"],
        ["topics"],
        ["topics", "create"],
        ["groups", "describe", "g", "--members", "--state"],
        ["cluster"],
        ["records"],
        ["logdirs"],
        ["consume", "t", "--value-format", "xml"],
        ["topics", "list", "--output", "yaml"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_cli_semantic_usage_errors_exit_2(capsys: Any) -> None:
    # No broker is contacted before the options are found inconsistent.
    argv = ["--bootstrap-server", "127.0.0.1:1"]
    assert main(["groups", "describe", *argv]) == 2
    assert main(["configs", "describe", *argv]) == 2
    assert main(["groups", "reset-offsets", "g", "--to-earliest", *argv]) == 2
    assert (
        main(["groups", "reset-offsets", "g", "--to-datetime", "nope", "--all-topics", *argv]) == 2
    )
    assert "josef:" in capsys.readouterr().err


def test_cli_unreachable_broker_exits_1(capsys: Any) -> None:
    assert main(["topics", "list", "--bootstrap-server", "127.0.0.1:1", "--timeout", "2"]) == 1
    assert "cannot connect" in capsys.readouterr().err
