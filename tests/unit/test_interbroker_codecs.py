"""Codecs of the ZooKeeper-mode inter-broker APIs kio lacks (protocol/schema): LeaderAndIsr,
StopReplica, UpdateMetadata, ControlledShutdown, AlterPartition v0-v1.

* golden bytes written by Kafka 3.9.1's own serializer (tests/tools/KafkaGolden.java) for
  every version Kafka 3.9 defines: our encoding must equal them and our decoding of them
  must give the entity Kafka's JSON describes;
* frames captured between the brokers of a real Kafka 3.9.1 cluster (tests/tools/
  kafka_wire_log.py) decode and re-encode to the same bytes;
* hypothesis round trips over every schema;
* the codec's routing: schemas, header versions and names by API key.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from helpers.kafka_json import from_kafka_json
from helpers.kio_strategies import entities
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from protocol.api_registry import ApiRegistry, api_name
from protocol.codec import (
    decode_entity,
    decode_request,
    decode_response,
    encode_entity,
    encode_request,
    encode_response,
    request_header_version,
    request_is_flexible,
    request_schema,
    response_header_is_flexible,
    response_schema,
)
from protocol.errors import ProtocolViolation
from protocol.headers import peek_api, read_request_header, read_response_header

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = json.loads((FIXTURES / "interbroker_golden.json").read_text())
WIRE = FIXTURES / "kafka391_wire"

# API key -> (name, versions Kafka 3.9 defines)
KAFKA_39 = {
    4: ("LeaderAndIsr", range(8)),
    5: ("StopReplica", range(5)),
    6: ("UpdateMetadata", range(9)),
    7: ("ControlledShutdown", range(4)),
    56: ("AlterPartition", range(4)),
}
FLEXIBLE_FROM = {4: 4, 5: 2, 6: 6, 7: 3, 56: 0}
ALL_SCHEMAS = [
    (key, version, kind)
    for key, (_name, versions) in KAFKA_39.items()
    for version in versions
    for kind in ("request", "response")
]


def _schema(api_key: int, version: int, kind: str) -> type[Any]:
    return (request_schema if kind == "request" else response_schema)(api_key, version)


def _row_id(row: dict[str, Any]) -> str:
    name = KAFKA_39[row["apiKey"]][0]
    return f"{name}-v{row['version']}-{row['kind']}-{row['sample']}"


@pytest.mark.parametrize("row", GOLDEN, ids=_row_id)
def test_golden_bytes_from_kafka(row: dict[str, Any]) -> None:
    schema = _schema(row["apiKey"], row["version"], row["kind"])
    assert row["kafkaClass"] == schema.__name__ + "Data"
    expected = from_kafka_json(schema, row["json"])
    kafka_bytes = bytes.fromhex(row["hex"])
    assert encode_entity(expected) == kafka_bytes
    assert decode_entity(schema, kafka_bytes, 0) == expected


def test_golden_fixture_covers_every_version_kafka_39_defines() -> None:
    covered = {(r["apiKey"], r["version"], r["kind"]) for r in GOLDEN}
    assert covered == set(ALL_SCHEMAS)
    # the "full" samples exercise the one tagged field (UpdateMetadata v8 Type)
    full = next(
        r
        for r in GOLDEN
        if (r["apiKey"], r["version"], r["kind"], r["sample"]) == (6, 8, "request", "full")
    )
    assert full["json"]["type"] != 0 and full["hex"].endswith("01000180")


@pytest.mark.parametrize(
    ("api_key", "version", "kind"),
    ALL_SCHEMAS,
    ids=[f"{KAFKA_39[k][0]}-v{v}-{kind}" for k, v, kind in ALL_SCHEMAS],
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip(api_key: int, version: int, kind: str, data: st.DataObject) -> None:
    schema = _schema(api_key, version, kind)
    entity = data.draw(entities(schema))
    encoded = encode_entity(entity)
    assert decode_entity(schema, encoded, 0) == entity


def _wire(name: str) -> bytes:
    return bytes.fromhex((WIRE / f"{name}.hex").read_text())


def _request_from_wire(name: str) -> tuple[Any, int]:
    frame = _wire(f"{name}-request")
    api_key, version, _corr = peek_api(frame)
    header, pos = read_request_header(frame, request_is_flexible(api_key, version))
    request = decode_request(api_key, version, frame, pos)
    assert encode_entity(request) == frame[pos:]
    return request, header.correlation_id


def _response_from_wire(name: str, api_key: int, version: int, correlation_id: int) -> Any:
    frame = _wire(f"{name}-response")
    corr, response = decode_response(api_key, version, frame)
    assert corr == correlation_id
    _corr, pos = read_response_header(frame, response_header_is_flexible(api_key, version))
    assert encode_entity(response) == frame[pos:]
    return response


def test_kafka_cluster_leader_and_isr_v7() -> None:
    request, corr = _request_from_wire("leader_and_isr-v7-create")
    assert type(request).__name__ == "LeaderAndIsrRequest" and request.__version__ == 7
    (topic,) = request.topic_states
    assert topic.topic_name == "t5" and topic.topic_id is not None
    assert all(p.is_new and p.leader_epoch == 0 for p in topic.partition_states)
    assert {leader.port for leader in request.live_leaders} <= {49091, 49092, 49093}
    response = _response_from_wire("leader_and_isr-v7-create", 4, 7, corr)
    assert response.error_code == ErrorCode.none
    assert response.topics[0].topic_id == topic.topic_id


@pytest.mark.parametrize("name", ["stop_replica-v4-stop", "stop_replica-v4-delete"])
def test_kafka_cluster_stop_replica_v4(name: str) -> None:
    request, corr = _request_from_wire(name)
    states = request.topic_states[0].partition_states
    # topic deletion: a stop, then a delete, both with Kafka's EpochDuringDelete (-2)
    assert {p.leader_epoch for p in states} == {-2}
    assert {p.delete_partition for p in states} == {name.endswith("delete")}
    response = _response_from_wire(name, 5, 4, corr)
    assert {p.error_code for p in response.partition_errors} == {ErrorCode.none}


def test_kafka_cluster_update_metadata_v8() -> None:
    request, corr = _request_from_wire("update_metadata-v8")
    assert request.type_ == 0 and not request.is_k_raft_controller
    assert {b.endpoints[0].listener for b in request.live_brokers} == {"PLAINTEXT"}
    assert request.topic_states[0].partition_states
    assert _response_from_wire("update_metadata-v8", 6, 8, corr).error_code == ErrorCode.none


def test_kafka_cluster_controlled_shutdown_v3() -> None:
    request, corr = _request_from_wire("controlled_shutdown-v3")
    assert request.broker_id == 2 and request.broker_epoch > 0
    response = _response_from_wire("controlled_shutdown-v3", 7, 3, corr)
    assert response.error_code == ErrorCode.none and response.remaining_partitions == ()


def test_kafka_cluster_alter_partition_v3_uses_kios_schema() -> None:
    request, corr = _request_from_wire("alter_partition-v3")
    assert type(request).__module__.startswith("kio.")
    assert request.topics[0].partitions[0].new_isr_with_epochs
    _response_from_wire("alter_partition-v3", 56, 3, corr)


def test_kafka_cluster_follower_fetch_v17() -> None:
    request, _corr = _request_from_wire("fetch-v17-follower")
    assert request.replica_state.replica_id == 3 and request.replica_state.replica_epoch > 0


def test_codec_routes_the_new_api_keys() -> None:
    for api_key, (name, versions) in KAFKA_39.items():
        assert api_name(api_key) == name
        for version in versions:
            flexible = version >= FLEXIBLE_FROM[api_key]
            assert request_is_flexible(api_key, version) is flexible
            assert response_header_is_flexible(api_key, version) is flexible
            assert request_header_version(api_key, version) == (
                0 if (api_key, version) == (7, 0) else 2 if flexible else 1
            )
    assert request_schema(4, 7).__module__ == "protocol.schema.leader_and_isr.v7.request"
    assert request_schema(56, 1).__module__ == "protocol.schema.alter_partition.v1.request"
    assert request_schema(56, 3).__module__.startswith("kio.schema.alter_partition")
    registry: ApiRegistry[str] = ApiRegistry()
    registry.register(4, 0, 7, "leader_and_isr")
    registry.register(7, 0, 3, "controlled_shutdown")
    route = registry.get(4)
    assert route is not None and route.name == "LeaderAndIsr"


def test_controlled_shutdown_v0_has_header_v0() -> None:
    request = request_schema(7, 0)(broker_id=3)
    frame = encode_request(11, "ignored", request)
    assert frame[4:] == struct.pack(">hhii", 7, 0, 11, 3)  # no client id
    header, pos = read_request_header(frame[4:], flexible=False)
    assert (header.correlation_id, header.client_id, pos) == (11, None, 8)
    assert decode_request(7, 0, frame[4:], pos) == request
    # v1 carries a client id
    frame = encode_request(12, "b1", request_schema(7, 1)(broker_id=3))
    header, pos = read_request_header(frame[4:], flexible=False)
    assert header.client_id == "b1" and decode_request(7, 1, frame[4:], pos).broker_id == 3


def test_request_and_response_frames_round_trip() -> None:
    schema = request_schema(4, 7)
    module = __import__(schema.__module__, fromlist=["_"])
    state = module.LeaderAndIsrPartitionState(
        partition_index=0,
        controller_epoch=1,
        leader=1,
        leader_epoch=4,
        isr=(1, 2),
        partition_epoch=7,
        replicas=(1, 2, 3),
    )
    request = schema(
        controller_id=1,
        controller_epoch=1,
        broker_epoch=99,
        type_=0,
        topic_states=(
            module.LeaderAndIsrTopicState(topic_name="t", topic_id=None, partition_states=(state,)),
        ),
        live_leaders=(module.LeaderAndIsrLiveLeader(broker_id=1, host_name="h", port=9092),),
    )
    frame = encode_request(5, "controller-1", request)[4:]
    header, pos = read_request_header(frame, flexible=True)
    assert (header.api_key, header.api_version, header.client_id) == (4, 7, "controller-1")
    assert decode_request(4, 7, frame, pos) == request
    response = response_schema(4, 7)(error_code=ErrorCode.stale_controller_epoch, topics=())
    encoded = encode_response(4, 7, 5, response)[4:]
    assert decode_response(4, 7, encoded) == (5, response)


def test_malformed_response_is_a_protocol_violation() -> None:
    response = response_schema(7, 3)(error_code=ErrorCode.none, remaining_partitions=())
    encoded = encode_response(7, 3, 1, response)[4:]
    with pytest.raises(ProtocolViolation):
        decode_response(7, 3, encoded[:-2])
    with pytest.raises(ProtocolViolation):
        decode_response(7, 3, b"\x00\x00")
    # a remaining_partitions count far beyond the frame
    with pytest.raises(ProtocolViolation):
        decode_response(7, 3, struct.pack(">ih", 1, 0) + b"\x00" + b"\xff\xff\xff\xff\x07")


def test_hostile_array_count_in_a_response_does_not_kill_the_process() -> None:
    """kio sizes arrays from the wire count (Vec::with_capacity) and aborts the process on
    2^32-2 elements; the frame guard in decode_entity refuses the count first."""
    import subprocess
    import sys

    code = (
        "import struct\n"
        "from protocol.codec import decode_response\n"
        "from protocol.errors import ProtocolViolation\n"
        "frame = struct.pack('>ih', 1, 0) + b'\\x00' + b'\\xff\\xff\\xff\\xff\\x0f'\n"
        "try:\n"
        "    decode_response(7, 3, frame)\n"
        "except ProtocolViolation:\n"
        "    print('refused')\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr[-500:]


async def test_dispatcher_routes_kafkas_frames_to_registered_handlers() -> None:
    from broker.network.context import ConnectionInfo, RequestContext
    from broker.network.dispatch import RequestDispatcher

    seen: list[tuple[int, int, str | None, Any]] = []

    async def handler(ctx: RequestContext, request: Any) -> Any:
        seen.append((ctx.header.api_key, ctx.api_version, ctx.header.client_id, request))
        key, version = ctx.header.api_key, ctx.api_version
        if key == 4:
            return response_schema(key, version)(error_code=ErrorCode.none, topics=())
        if key == 5:
            return response_schema(key, version)(error_code=ErrorCode.none, partition_errors=())
        if key == 6:
            return response_schema(key, version)(error_code=ErrorCode.none)
        return response_schema(key, version)(error_code=ErrorCode.none, remaining_partitions=())

    registry: ApiRegistry[Any] = ApiRegistry()
    for api_key, (_name, versions) in KAFKA_39.items():
        if api_key != 56:
            registry.register(api_key, versions[0], versions[-1], handler)
    dispatcher = RequestDispatcher(registry)
    connection = ConnectionInfo("c1", "127.0.0.1", 1, "PLAINTEXT")
    names = {4: "leader_and_isr-v7-create", 5: "stop_replica-v4-delete", 6: "update_metadata-v8"}
    names[7] = "controlled_shutdown-v3"
    for api_key, name in names.items():
        frame = _wire(f"{name}-request")
        out = await dispatcher.dispatch(frame, connection)
        assert isinstance(out, bytes)
        _api, version, corr = peek_api(frame)
        assert decode_response(api_key, version, out[4:])[0] == corr
        assert seen[-1][0] == api_key and seen[-1][3] == _request_from_wire(name)[0]
    assert {client_id for *_x, client_id, _r in seen} == {"1", "2"}  # controller 1, broker 2
    # ControlledShutdown v0 (request header v0, no client id) goes through the same path
    frame = encode_request(9, None, request_schema(7, 0)(broker_id=5))[4:]
    out = await dispatcher.dispatch(frame, connection)
    assert isinstance(out, bytes) and decode_response(7, 0, out[4:])[0] == 9
    assert seen[-1][1:] == (0, None, request_schema(7, 0)(broker_id=5))
