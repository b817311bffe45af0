"""Cluster-level znodes: broker registration, controller, cluster id, features, producer ids.

Each class holds the facts one znode carries and encodes/decodes the JSON exactly as Kafka 3.9
does (key order included, so ``zkCli.sh get`` shows what it shows for Kafka); see FORMATS.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from cluster.metadata import BrokerEndpoint, BrokerRegistration
from cluster.zk.errors import ZnodeDecodeError
from cluster.zk.jvm_order import java_hashmap_order
from cluster.zk.znode_json import JsonObject, dumps, parse_object

BROKER_INFO_VERSION = 5  # Kafka writes v5 from IBP 2.7 on
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# Kafka's listener regex: NAME://host:port, host maybe empty or an [IPv6] literal.
_ENDPOINT = re.compile(r"^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$")


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- /brokers/ids/<id> ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SupportedVersionRange:
    """A feature's version range a broker supports (``{"min_version":1,"max_version":3}``)."""

    min_version: int
    max_version: int


def endpoint_connection_string(endpoint: BrokerEndpoint) -> str:
    """Kafka's ``EndPoint.connectionString``: ``NAME://host:port``, IPv6 in brackets, an
    unset host as ``NAME://:port``."""
    host = endpoint.host
    if not host:
        hostport = f":{endpoint.port}"
    elif ":" in host:
        hostport = f"[{host}]:{endpoint.port}"
    else:
        hostport = f"{host}:{endpoint.port}"
    return f"{endpoint.listener}://{hostport}"


def parse_endpoint(text: str, protocol_map: Mapping[str, str]) -> BrokerEndpoint:
    """Parse ``NAME://host:port`` with the listener → security protocol map; ValueError if
    the string or its listener is unknown."""
    m = _ENDPOINT.match(text.strip())
    if m is None:
        raise ValueError(f"unable to parse endpoint {text!r}")
    listener = m.group(1).upper()  # Kafka normalises listener names to upper case
    if listener not in protocol_map:
        raise ValueError(f"no security protocol for listener {listener!r} in {text!r}")
    return BrokerEndpoint(listener, protocol_map[listener], m.group(2), int(m.group(3)))


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """A live broker's registration in ``/brokers/ids/<id>`` (ephemeral; its czxid is the
    broker epoch). Kafka's ``BrokerInfo``/``BrokerIdZNode``."""

    broker_id: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None = None
    jmx_port: int = -1
    timestamp_ms: int | None = None  # None: now, when encoding
    features: Mapping[str, SupportedVersionRange] = field(default_factory=dict)
    version: int = BROKER_INFO_VERSION

    def encode(self) -> bytes:
        """JSON v5 (or v4/v2 when ``version`` says so), as Kafka writes it. ``host``/``port``
        are those of the first endpoint whose security protocol is PLAINTEXT, else null/-1
        (kept for clients older than 0.9)."""
        plaintext = next((e for e in self.endpoints if e.security_protocol == "PLAINTEXT"), None)
        host = (plaintext.host or None) if plaintext is not None else None
        port = plaintext.port if plaintext is not None else -1
        out: dict[str, object] = {}
        if self.version >= 5:
            # A Java HashMap in Kafka: its iteration order, each range min then max.
            out["features"] = {
                name: {
                    "min_version": self.features[name].min_version,
                    "max_version": self.features[name].max_version,
                }
                for name in java_hashmap_order(self.features)
            }
        if self.version >= 4:
            out["listener_security_protocol_map"] = {
                e.listener: e.security_protocol for e in self.endpoints
            }
        out["endpoints"] = [endpoint_connection_string(e) for e in self.endpoints]
        if self.rack is not None and self.version >= 3:
            out["rack"] = self.rack
        out["jmx_port"] = self.jmx_port
        out["port"] = port
        out["host"] = host
        out["version"] = self.version
        timestamp = self.timestamp_ms if self.timestamp_ms is not None else _now_ms()
        out["timestamp"] = str(timestamp)
        return dumps(out)

    @classmethod
    def decode(cls, broker_id: int, data: bytes | None) -> BrokerInfo:
        what = f"broker registration /brokers/ids/{broker_id}"
        js = parse_object(data, what)
        version = js.req_int("version")
        jmx_port = js.req_int("jmx_port")
        if version < 1:
            raise js.error(f"unsupported version {version}")
        try:
            endpoints = _decode_endpoints(js, version)
        except ValueError as exc:
            raise js.error(str(exc)) from None
        rack = js.opt_str("rack")
        features: dict[str, SupportedVersionRange] = {}
        if js.value.get("features") is not None:
            for name, ranges in js.obj("features").items():
                r = js.sub(ranges, f"feature {name!r}")
                features[name] = SupportedVersionRange(
                    r.req_int("min_version"), r.req_int("max_version")
                )
        timestamp = _optional_timestamp(js)
        return cls(broker_id, endpoints, rack, jmx_port, timestamp, features, version)

    def to_registration(self) -> BrokerRegistration:
        return BrokerRegistration(self.broker_id, self.endpoints, self.rack)


def _decode_endpoints(js: JsonObject, version: int) -> tuple[BrokerEndpoint, ...]:
    if version == 1:
        host = js.req_str("host")
        return (BrokerEndpoint("PLAINTEXT", "PLAINTEXT", host, js.req_int("port")),)
    if js.value.get("listener_security_protocol_map") is None:
        protocol_map = {p: p for p in SECURITY_PROTOCOLS}
    else:
        protocol_map = {}
        for listener, protocol in js.obj("listener_security_protocol_map").items():
            if not isinstance(protocol, str) or protocol.upper() not in SECURITY_PROTOCOLS:
                raise ValueError(f"unknown security protocol {protocol!r} for {listener!r}")
            protocol_map[listener.upper()] = protocol.upper()
    raw = js.array("endpoints")
    if not all(isinstance(e, str) for e in raw):
        raise ValueError(f"endpoints must be strings, got {raw!r}")
    return tuple(parse_endpoint(e, protocol_map) for e in raw)


def _optional_timestamp(js: JsonObject) -> int | None:
    value = js.value.get("timestamp")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None  # Kafka never reads it back; do not fail on it


# -- /controller ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ControllerRegistration:
    """``/controller`` (ephemeral): which broker is the active controller."""

    broker_id: int
    timestamp_ms: int | None = None
    kraft_controller_epoch: int = -1  # only a KRaft migration sets it
    version: int = 2

    def encode(self) -> bytes:
        timestamp = self.timestamp_ms if self.timestamp_ms is not None else _now_ms()
        return dumps(
            {
                "version": self.version,
                "brokerid": self.broker_id,
                "timestamp": str(timestamp),
                "kraftControllerEpoch": self.kraft_controller_epoch,
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> ControllerRegistration:
        js = parse_object(data, "controller /controller")
        return cls(
            broker_id=js.req_int("brokerid"),
            timestamp_ms=_optional_timestamp(js),
            kraft_controller_epoch=js.req_int("kraftControllerEpoch", default=-1),
            version=js.req_int("version", default=1),
        )


# -- /controller_epoch ------------------------------------------------------------------------
# Kafka creates /controller_epoch with "0"; the first controller election makes it 1.
INITIAL_CONTROLLER_EPOCH = 0


def encode_controller_epoch(epoch: int) -> bytes:
    """``/controller_epoch`` holds the epoch as a bare decimal string (not JSON)."""
    return str(epoch).encode("ascii")


def decode_controller_epoch(data: bytes | None) -> int:
    try:
        if data is None:
            raise ValueError("null")
        return int(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ZnodeDecodeError(
            "controller epoch /controller_epoch", "not a decimal integer", data
        ) from None


# -- /cluster/id --------------------------------------------------------------------------------
def encode_cluster_id(cluster_id: str) -> bytes:
    """``{"version":"1","id":"<22-char base64 uuid>"}`` (the version is a string here)."""
    return dumps({"version": "1", "id": cluster_id})


def decode_cluster_id(data: bytes | None) -> str:
    return parse_object(data, "cluster id /cluster/id").req_str("id")


# -- /feature -----------------------------------------------------------------------------------
class FeatureZNodeStatus(IntEnum):
    DISABLED = 0
    ENABLED = 1


@dataclass(frozen=True, slots=True)
class FeatureZNode:
    """``/feature``: the cluster's finalized features (KIP-584). Kafka 3.9 in ZooKeeper mode
    writes ``{"features":{},"version":2,"status":1}``: enabled, nothing finalized."""

    status: FeatureZNodeStatus = FeatureZNodeStatus.ENABLED
    features: Mapping[str, int] = field(default_factory=dict)  # name -> max_version_level
    version: int = 2

    def encode(self) -> bytes:
        if self.version == 1:
            features = {
                n: {"max_version_level": v, "min_version_level": v}
                for n, v in self.features.items()
            }
        else:
            features = {n: {"max_version_level": v} for n, v in self.features.items()}
        return dumps({"features": features, "version": self.version, "status": int(self.status)})

    @classmethod
    def decode(cls, data: bytes | None) -> FeatureZNode:
        js = parse_object(data, "features /feature")
        version = js.req_int("version")
        if version not in (1, 2):
            raise js.error(f"unsupported version {version}")
        status_code = js.req_int("status")
        try:
            status = FeatureZNodeStatus(status_code)
        except ValueError:
            raise js.error(f"unknown status {status_code}") from None
        features: dict[str, int] = {}
        for name, levels in js.obj("features").items():
            lv = js.sub(levels, f"feature {name!r}")
            max_level = lv.req_int("max_version_level")
            if max_level < 1:
                raise js.error(f"feature {name!r}: max_version_level must be >= 1")
            features[name] = max_level
        return cls(status, features, version)


# -- /latest_producer_id_block ------------------------------------------------------------------
PRODUCER_ID_BLOCK_SIZE = 1000  # Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE


@dataclass(frozen=True, slots=True)
class ProducerIdsBlock:
    """The last block of producer ids handed out (``/latest_producer_id_block``): ids
    ``first_producer_id .. last_producer_id`` belong to ``assigned_broker_id``."""

    assigned_broker_id: int
    first_producer_id: int
    size: int = PRODUCER_ID_BLOCK_SIZE

    @property
    def last_producer_id(self) -> int:
        return self.first_producer_id + self.size - 1

    def next_block_first_id(self) -> int:
        return self.first_producer_id + self.size

    def encode(self) -> bytes:
        """Block bounds are strings in this JSON (longs, kept exact for JavaScript readers)."""
        return dumps(
            {
                "version": 1,
                "broker": self.assigned_broker_id,
                "block_start": str(self.first_producer_id),
                "block_end": str(self.last_producer_id),
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> ProducerIdsBlock:
        js = parse_object(data, "producer id block /latest_producer_id_block")
        broker = js.req_int("broker")
        start = js.int_or_str("block_start")
        end = js.int_or_str("block_end")
        if end < start:
            raise js.error(f"block_end {end} is before block_start {start}")
        return cls(broker, start, end - start + 1)
