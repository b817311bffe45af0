"""A small synchronous Kafka protocol client for the admin commands.

Standard protocol only, so it talks to Josef and to Apache Kafka alike. Each connection
starts with ApiVersions; every request then goes at the highest version both this
client (``CLIENT_VERSIONS``) and that broker support. ``AdminClient`` bootstraps from
``host:port`` addresses, reads Metadata and routes requests: ListOffsets, Produce and
Fetch to partition leaders, group APIs to the group coordinator found with
FindCoordinator, topic administration to the controller. Retriable errors
(NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, LEADER_NOT_AVAILABLE, ...) are retried
with a short backoff until a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from kio.schema.errors import ErrorCode

from broker.admin.client_config import ClientSecurity
from broker.admin.errors import NONE
from broker.admin.errors import RETRIABLE as RETRIABLE
from broker.admin.errors import AdminError as AdminError
from broker.admin.errors import KafkaResponseError as KafkaResponseError
from broker.admin.errors import UnsupportedApi as UnsupportedApi
from broker.admin.errors import check as check
from broker.admin.errors import error_description as error_description
from broker.admin.errors import error_name as error_name
from broker.admin.sasl_client import SaslClientError
from broker.admin.wire import (
    Plain,
    build_request,
    decode_api_versions_v0,
    decode_response,
    encode_request,
    to_plain,
)
from protocol.api_registry import api_name
from protocol.errors import ProtocolViolation

T = TypeVar("T")
_RECV_CHUNK: Final = 1 << 20

PRODUCE: Final = 0
FETCH: Final = 1
LIST_OFFSETS: Final = 2
METADATA: Final = 3
OFFSET_COMMIT: Final = 8
OFFSET_FETCH: Final = 9
FIND_COORDINATOR: Final = 10
DESCRIBE_GROUPS: Final = 15
LIST_GROUPS: Final = 16
SASL_HANDSHAKE: Final = 17
API_VERSIONS: Final = 18
CREATE_TOPICS: Final = 19
DELETE_TOPICS: Final = 20
DESCRIBE_CONFIGS: Final = 32
ALTER_CONFIGS: Final = 33
CREATE_PARTITIONS: Final = 37
DELETE_GROUPS: Final = 42
ELECT_LEADERS: Final = 43
INCREMENTAL_ALTER_CONFIGS: Final = 44
ALTER_PARTITION_REASSIGNMENTS: Final = 45
LIST_PARTITION_REASSIGNMENTS: Final = 46
CONSUMER_GROUP_DESCRIBE: Final = 69
SASL_AUTHENTICATE: Final = 36
DESCRIBE_LOG_DIRS: Final = 35
DELETE_RECORDS: Final = 21
DESCRIBE_CLUSTER: Final = 60

# API key -> (lowest, highest) version this client can build and read.
CLIENT_VERSIONS: Final[Mapping[int, tuple[int, int]]] = {
    PRODUCE: (3, 11),
    FETCH: (4, 12),  # v13+ name topics by id only
    LIST_OFFSETS: (1, 9),
    METADATA: (1, 12),
    OFFSET_COMMIT: (2, 8),
    OFFSET_FETCH: (1, 8),
    FIND_COORDINATOR: (0, 4),
    DESCRIBE_GROUPS: (0, 5),
    LIST_GROUPS: (0, 5),
    API_VERSIONS: (0, 3),
    SASL_HANDSHAKE: (1, 1),
    SASL_AUTHENTICATE: (0, 2),
    DESCRIBE_LOG_DIRS: (1, 4),
    DELETE_RECORDS: (0, 2),
    DESCRIBE_CLUSTER: (0, 1),
    11: (1, 7),  # JoinGroup (josef consume --group)
    12: (1, 4),  # Heartbeat
    13: (1, 4),  # LeaveGroup
    14: (1, 5),  # SyncGroup
    CREATE_TOPICS: (2, 7),
    DELETE_TOPICS: (1, 6),
    DESCRIBE_CONFIGS: (1, 4),
    ALTER_CONFIGS: (0, 2),
    CREATE_PARTITIONS: (0, 3),
    DELETE_GROUPS: (0, 2),
    ELECT_LEADERS: (0, 2),
    INCREMENTAL_ALTER_CONFIGS: (0, 1),
    ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    LIST_PARTITION_REASSIGNMENTS: (0, 0),
    CONSUMER_GROUP_DESCRIBE: (0, 0),
    29: (1, 3),  # DescribeAcls
    30: (1, 3),  # CreateAcls
    31: (1, 3),  # DeleteAcls
    48: (0, 1),  # DescribeClientQuotas
    49: (0, 1),  # AlterClientQuotas
    27: (1, 1),  # WriteTxnMarkers (josef transactions abort)
    61: (0, 0),  # DescribeProducers
    65: (0, 0),  # DescribeTransactions
    66: (0, 1),  # ListTransactions
}

UNSUPPORTED_VERSION: Final = 35

COORDINATOR_ERRORS: Final = frozenset(
    {ErrorCode.not_coordinator.value, ErrorCode.coordinator_not_available.value}
)

DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_RETRY_S: Final = 20.0
CLIENT_ID: Final = "josef-admin"
LATEST_TIMESTAMP: Final = -1
EARLIEST_TIMESTAMP: Final = -2


def negotiate(
    api_key: int, broker: tuple[int, int] | None, client: Mapping[int, tuple[int, int]]
) -> int:
    """The highest version in both ranges; raises UnsupportedApi when they do not overlap."""
    mine = client.get(api_key)
    if mine is None:
        raise UnsupportedApi(f"this client does not implement {api_name(api_key)}")
    if broker is None:
        raise UnsupportedApi(f"the broker does not support {api_name(api_key)}")
    low = max(mine[0], broker[0])
    high = min(mine[1], broker[1])
    if low > high:
        raise UnsupportedApi(
            f"no common version of {api_name(api_key)}: client {mine[0]}-{mine[1]}, "
            f"broker {broker[0]}-{broker[1]}"
        )
    return high


def parse_address(address: str, default_port: int = 9092) -> tuple[str, int]:
    address = address.strip()
    if address.startswith("["):  # [ipv6]:port
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    if not port.isdigit():
        raise ValueError(f"bad port in {address!r}")
    return host or "127.0.0.1", int(port)


# --------------------------------------------------------------------------- connection


Body = Mapping[str, Any] | Callable[[int], Mapping[str, Any]]


class BrokerConnection:
    """One blocking TCP connection to one broker, versions negotiated on connect."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        client_id: str = CLIENT_ID,
        client_versions: Mapping[int, tuple[int, int]] = CLIENT_VERSIONS,
        security: ClientSecurity | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.client_id = client_id
        self.client_versions = client_versions
        self.security = security or ClientSecurity()
        self._correlation = 0
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise AdminError(f"cannot connect to {host}:{port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.broker_versions: dict[int, tuple[int, int]] = {}
        try:
            if self.security.uses_tls:
                self._sock = self._wrap_tls(sock)
            self._negotiate()
            if self.security.uses_sasl:
                self._authenticate()
        except BaseException:
            self.close()
            raise

    def _wrap_tls(self, sock: socket.socket) -> socket.socket:
        context = self.security.ssl_context
        assert context is not None
        try:
            return context.wrap_socket(
                sock, server_hostname=self.host if context.check_hostname else None
            )
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise AdminError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from exc

    def _authenticate(self) -> None:
        """SaslHandshake v1 then SaslAuthenticate rounds until the mechanism is done."""
        mechanism = self.security.sasl()
        _v, plain = self.request(SASL_HANDSHAKE, {"mechanism": mechanism.mechanism})
        if plain["error_code"] != NONE:
            offered = ", ".join(plain.get("mechanisms") or ())
            raise KafkaResponseError(
                plain["error_code"],
                f"{mechanism.mechanism} is not enabled on {self.address} (offered: {offered})",
                "SaslHandshake",
            )
        message: bytes | None = mechanism.first()
        try:
            while message is not None:
                _v, plain = self.request(SASL_AUTHENTICATE, {"auth_bytes": message})
                check(plain["error_code"], plain.get("error_message"), "SaslAuthenticate")
                message = mechanism.respond(plain.get("auth_bytes") or b"")
        except SaslClientError as exc:
            raise AdminError(f"SASL {mechanism.mechanism} with {self.address}: {exc}") from None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- raw frames

    def _next_correlation(self) -> int:
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        return self._correlation

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise AdminError(f"sending to {self.address} failed: {exc}") from exc

    def _recv_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            try:
                # bounded reads: a hostile size costs memory only as bytes arrive
                chunk = self._sock.recv(min(n - len(chunks), _RECV_CHUNK))
            except TimeoutError as exc:
                raise AdminError(
                    f"no response from {self.address} within {self.timeout:g}s"
                ) from exc
            except OSError as exc:
                raise AdminError(f"reading from {self.address} failed: {exc}") from exc
            if not chunk:
                raise AdminError(f"{self.address} closed the connection")
            chunks += chunk
        return bytes(chunks)

    def _recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._recv_exact(4))
        if size < 4:
            raise AdminError(f"bad response size {size} from {self.address}")
        return self._recv_exact(size)

    # ---- versions

    def _negotiate(self) -> None:
        version = self.client_versions.get(API_VERSIONS, (0, 0))[1]
        while True:
            corr = self._next_correlation()
            body = build_request(
                API_VERSIONS,
                version,
                {"client_software_name": "josef-admin", "client_software_version": "1"},
            )
            self._send(encode_request(API_VERSIONS, version, corr, self.client_id, body))
            frame = self._recv_frame()
            if len(frame) < 6:
                raise AdminError(f"ApiVersions response of {len(frame)} bytes from {self.address}")
            # A broker that does not support our version answers v0 with its range.
            (got_corr, code) = struct.unpack_from(">ih", frame, 0)
            if got_corr != corr:
                raise AdminError(f"correlation id mismatch from {self.address}")
            try:
                if code == UNSUPPORTED_VERSION or version == 0:
                    _c, code, ranges = decode_api_versions_v0(frame)
                elif version > 0:
                    _corr, response = decode_response(API_VERSIONS, version, frame)
            except ProtocolViolation as exc:
                raise AdminError(f"cannot decode ApiVersions from {self.address}: {exc}") from None
            if code == UNSUPPORTED_VERSION:
                theirs = dict((k, (lo, hi)) for k, lo, hi in ranges).get(API_VERSIONS)
                fallback = 0 if theirs is None else min(theirs[1], version - 1)
                if fallback >= version or fallback < 0:
                    raise KafkaResponseError(code, context="ApiVersions")
                version = fallback
                continue
            if version > 0:
                plain = to_plain(response)
                check(plain["error_code"], context="ApiVersions")
                ranges = [
                    (k["api_key"], k["min_version"], k["max_version"]) for k in plain["api_keys"]
                ]
            else:
                check(code, context="ApiVersions")
            self.broker_versions = {k: (lo, hi) for k, lo, hi in ranges}
            return

    def supports(self, api_key: int) -> bool:
        try:
            self.version(api_key)
        except UnsupportedApi:
            return False
        return True

    def version(self, api_key: int) -> int:
        return negotiate(api_key, self.broker_versions.get(api_key), self.client_versions)

    # ---- requests

    def request(self, api_key: int, body: Body, version: int | None = None) -> tuple[int, Plain]:
        """Send one request at the negotiated (or the given) version; returns
        (version, response as plain dicts)."""
        if version is None:
            version = self.version(api_key)
        data = body(version) if callable(body) else body
        entity = build_request(api_key, version, data)
        corr = self._next_correlation()
        self._send(encode_request(api_key, version, corr, self.client_id, entity))
        if api_key == PRODUCE and data.get("acks") == 0:
            return version, {}
        frame = self._recv_frame()
        try:
            got_corr, response = decode_response(api_key, version, frame)
        except Exception as exc:
            raise AdminError(
                f"cannot decode {api_name(api_key)} v{version} response from "
                f"{self.address}: {exc!r}"
            ) from exc
        if got_corr != corr:
            raise AdminError(f"correlation id mismatch from {self.address}")
        return version, to_plain(response)


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True, slots=True)
class Node:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline: tuple[int, ...]
    error_code: int


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    topic_id: uuid.UUID | None
    internal: bool
    error_code: int
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    cluster_id: str | None
    controller_id: int
    brokers: dict[int, Node]
    topics: dict[str, TopicInfo]


def _parse_metadata(plain: Plain) -> ClusterInfo:
    brokers = {
        b["node_id"]: Node(b["node_id"], b["host"], b["port"], b.get("rack"))
        for b in plain["brokers"]
    }
    topics: dict[str, TopicInfo] = {}
    for t in plain["topics"]:
        name = t.get("name")
        if name is None:
            continue
        tid = t.get("topic_id")
        parts = {
            p["partition_index"]: PartitionInfo(
                p["partition_index"],
                p["leader_id"],
                p.get("leader_epoch", -1),
                tuple(p.get("replica_nodes", ())),
                tuple(p.get("isr_nodes", ())),
                tuple(p.get("offline_replicas", ())),
                p["error_code"],
            )
            for p in t["partitions"]
        }
        topics[name] = TopicInfo(
            name,
            tid if isinstance(tid, uuid.UUID) and tid.int else None,
            bool(t.get("is_internal", False)),
            t["error_code"],
            parts,
        )
    return ClusterInfo(plain.get("cluster_id"), plain.get("controller_id", -1), brokers, topics)


TopicPartition = tuple[str, int]


# --------------------------------------------------------------------------- admin client


class AdminClient:
    """Routes requests to the right broker of a cluster, reached from bootstrap addresses."""

    def __init__(
        self,
        bootstrap: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry_timeout: float = DEFAULT_RETRY_S,
        client_id: str = CLIENT_ID,
        client_versions: Mapping[int, tuple[int, int]] = CLIENT_VERSIONS,
        security: ClientSecurity | None = None,
    ) -> None:
        if isinstance(bootstrap, str):
            bootstrap = [a for a in bootstrap.split(",") if a.strip()]
        self.bootstrap = [parse_address(a) for a in bootstrap]
        if not self.bootstrap:
            raise ValueError("no bootstrap server")
        self.timeout = timeout
        self.retry_timeout = retry_timeout
        self.client_id = client_id
        self.client_versions = client_versions
        self.security = security
        self._bootstrap_conn: BrokerConnection | None = None
        self._nodes: dict[int, BrokerConnection] = {}
        self._cluster: ClusterInfo | None = None
        self._coordinators: dict[str, int] = {}

    # ---- connections

    def close(self) -> None:
        for conn in self._nodes.values():
            conn.close()
        self._nodes.clear()
        if self._bootstrap_conn is not None:
            self._bootstrap_conn.close()
            self._bootstrap_conn = None

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self, host: str, port: int) -> BrokerConnection:
        return BrokerConnection(
            host,
            port,
            timeout=self.timeout,
            client_id=self.client_id,
            client_versions=self.client_versions,
            security=self.security,
        )

    def any_broker(self) -> BrokerConnection:
        """A connection to a bootstrap broker (the first that answers)."""
        if self._bootstrap_conn is not None:
            return self._bootstrap_conn
        if self._nodes:
            return next(iter(self._nodes.values()))
        errors: list[str] = []
        for host, port in self.bootstrap:
            try:
                self._bootstrap_conn = self._connect(host, port)
                return self._bootstrap_conn
            except AdminError as exc:
                errors.append(str(exc))
        raise AdminError("; ".join(errors))

    def node(self, node_id: int) -> BrokerConnection:
        conn = self._nodes.get(node_id)
        if conn is not None:
            return conn
        cluster = self.cluster()
        info = cluster.brokers.get(node_id)
        if info is None:
            cluster = self.cluster(refresh=True)
            info = cluster.brokers.get(node_id)
        if info is None:
            raise AdminError(f"broker {node_id} is not in the cluster metadata")
        boot = self._bootstrap_conn
        if boot is not None and (boot.host, boot.port) == (info.host, info.port):
            conn = boot
            self._bootstrap_conn = None
        else:
            conn = self._connect(info.host, info.port)
        self._nodes[node_id] = conn
        return conn

    def _drop_node(self, node_id: int) -> None:
        conn = self._nodes.pop(node_id, None)
        if conn is not None:
            conn.close()

    def version(self, api_key: int) -> int:
        return self.any_broker().version(api_key)

    def supports(self, api_key: int) -> bool:
        return self.any_broker().supports(api_key)

    # ---- retries

    def retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it does not raise a retriable error, or the deadline."""
        deadline = time.monotonic() + self.retry_timeout
        backoff = 0.05
        while True:
            try:
                return attempt()
            except KafkaResponseError as exc:
                if not exc.retriable or time.monotonic() + backoff > deadline:
                    raise
                if exc.code in COORDINATOR_ERRORS:
                    self._coordinators.clear()
                else:
                    self._cluster = None
            except _Reconnect:
                if time.monotonic() + backoff > deadline:
                    raise AdminError(f"{what}: gave up after {self.retry_timeout:g}s") from None
                self._cluster = None
            time.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    # ---- metadata

    def metadata(
        self, topics: Sequence[str] | None = None, *, allow_auto_create: bool = False
    ) -> ClusterInfo:
        """Metadata for ``topics`` (None: all topics)."""

        def body(version: int) -> Mapping[str, Any]:
            return {
                "topics": None
                if topics is None
                else [{"name": t, "topic_id": None} for t in topics],
                "allow_auto_topic_creation": allow_auto_create,
            }

        _v, plain = self.any_broker().request(METADATA, body)
        info = _parse_metadata(plain)
        if topics is None:
            self._cluster = info
        return info

    def cluster(self, refresh: bool = False) -> ClusterInfo:
        if self._cluster is None or refresh:
            self._cluster = self.metadata(None)
        return self._cluster

    def controller(self) -> BrokerConnection:
        cluster = self.cluster()
        if cluster.controller_id >= 0 and cluster.controller_id in cluster.brokers:
            return self.node(cluster.controller_id)
        return self.any_broker()

    def topic(self, name: str) -> TopicInfo:
        """A topic's metadata; retries while its partitions have no leader yet."""

        def attempt() -> TopicInfo:
            info = self.metadata([name]).topics.get(name)
            if info is None:
                raise KafkaResponseError(ErrorCode.unknown_topic_or_partition.value)
            check(info.error_code, context=f"topic {name}")
            for p in info.partitions.values():
                if p.leader < 0 or p.error_code == ErrorCode.leader_not_available.value:
                    raise KafkaResponseError(
                        ErrorCode.leader_not_available.value, context=f"{name}-{p.partition}"
                    )
            return info

        return self.retrying(f"metadata for {name}", attempt)

    def leader(self, topic: str, partition: int) -> int:
        info = self.topic(topic)
        p = info.partitions.get(partition)
        if p is None:
            raise KafkaResponseError(
                ErrorCode.unknown_topic_or_partition.value,
                f"topic {topic} has no partition {partition}",
            )
        return p.leader

    # ---- coordinators

    def find_coordinator(self, group: str, key_type: int = 0) -> int:
        cached = self._coordinators.get(group)
        if cached is not None:
            return cached
        conn = self.any_broker()
        version = conn.version(FIND_COORDINATOR)
        if version >= 4:
            _v, plain = conn.request(
                FIND_COORDINATOR,
                {"key_type": key_type, "coordinator_keys": [group]},
                version,
            )
            entry = plain["coordinators"][0]
            check(entry["error_code"], entry.get("error_message"), f"FindCoordinator {group}")
            node_id = entry["node_id"]
        else:
            _v, plain = conn.request(
                FIND_COORDINATOR, {"key": group, "key_type": key_type}, version
            )
            check(plain["error_code"], plain.get("error_message"), f"FindCoordinator {group}")
            node_id = plain["node_id"]
        self._coordinators[group] = node_id
        return int(node_id)

    def coordinator(self, group: str) -> BrokerConnection:
        return self.node(self.find_coordinator(group))

    def group_request(
        self,
        group: str,
        api_key: int,
        body: Body,
        errors: Callable[[Plain], Iterable[tuple[int, str | None]]],
    ) -> Plain:
        """Send a group API request to the group's coordinator; retries while
        ``errors(response)`` yields a retriable code, raises on any other error."""

        def attempt() -> Plain:
            node_id = self.find_coordinator(group)
            try:
                _v, plain = self.node(node_id).request(api_key, body)
            except AdminError as exc:
                if isinstance(exc, KafkaResponseError | UnsupportedApi):
                    raise
                self._drop_node(node_id)
                self._coordinators.pop(group, None)
                raise _Reconnect(str(exc)) from exc
            for code, message in errors(plain):
                check(code, message, f"{api_name(api_key)} {group}")
            return plain

        return self.retrying(f"{api_name(api_key)} {group}", attempt)

    # ---- offsets

    def list_offsets(
        self, requests: Mapping[TopicPartition, int], *, isolation_level: int = 0
    ) -> dict[TopicPartition, tuple[int, int]]:
        """{(topic, partition): timestamp} -> {(topic, partition): (offset, timestamp)}.

        Timestamp -1 asks for the log end offset, -2 for the log start offset. A partition
        without a record at or after the timestamp answers offset -1.
        """
        result: dict[TopicPartition, tuple[int, int]] = {}
        pending = dict(requests)

        def attempt() -> dict[TopicPartition, tuple[int, int]]:
            by_leader: dict[int, dict[TopicPartition, int]] = {}
            for tp, ts in pending.items():
                by_leader.setdefault(self.leader(*tp), {})[tp] = ts
            retry: KafkaResponseError | None = None
            for leader, tps in by_leader.items():
                topics: dict[str, list[dict[str, Any]]] = {}
                for (topic, part), ts in sorted(tps.items()):
                    topics.setdefault(topic, []).append(
                        {"partition_index": part, "timestamp": ts, "current_leader_epoch": -1}
                    )
                body = {
                    "replica_id": -1,
                    "isolation_level": isolation_level,
                    "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                }
                try:
                    version, plain = self.node(leader).request(LIST_OFFSETS, body)
                except AdminError as exc:
                    if isinstance(exc, KafkaResponseError | UnsupportedApi):
                        raise
                    self._drop_node(leader)
                    raise _Reconnect(str(exc)) from exc
                for t in plain["topics"]:
                    for p in t["partitions"]:
                        tp = (t["name"], p["partition_index"])
                        code = p["error_code"]
                        if code != NONE:
                            err = KafkaResponseError(code, context=f"ListOffsets {tp[0]}-{tp[1]}")
                            if not err.retriable:
                                raise err
                            retry = err
                            continue
                        if version == 0:  # pragma: no cover - client minimum is v1
                            continue
                        result[tp] = (p["offset"], p.get("timestamp", -1))
                        pending.pop(tp, None)
            if retry is not None:
                raise retry
            missing = [tp for tp in pending if tp not in result]
            if missing:
                raise AdminError(f"ListOffsets: no answer for {missing}")
            return result

        if not pending:
            return result
        return self.retrying("ListOffsets", attempt)

    def offsets_latest(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {
            tp: off
            for tp, (off, _ts) in self.list_offsets(dict.fromkeys(tps, LATEST_TIMESTAMP)).items()
        }

    def offsets_earliest(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {
            tp: off
            for tp, (off, _ts) in self.list_offsets(dict.fromkeys(tps, EARLIEST_TIMESTAMP)).items()
        }


class _Reconnect(AdminError):
    """A connection broke; drop it, refresh metadata and try again."""
