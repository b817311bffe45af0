"""The controller's requests on the wire: requests captured from a Kafka 3.9.1 controller,
rebuilt from their facts by cluster.controller.wire, are the same entities (so the same
bytes); the captured broker answers decode to the per-partition errors the controller acts on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cluster.controller.model import TopicPartition
from cluster.controller.requests import (
    LeaderAndIsrPartitionState,
    LeaderAndIsrRequestData,
    LiveBroker,
    LiveLeader,
    StopReplicaPartitionState,
    StopReplicaRequestData,
    UpdateMetadataPartitionState,
    UpdateMetadataRequestData,
)
from cluster.controller.wire import from_kio_response, to_kio
from cluster.metadata import BrokerEndpoint
from protocol.codec import decode_request, decode_response, encode_entity, request_is_flexible
from protocol.errors import ErrorCode
from protocol.headers import peek_api, read_request_header

WIRE = Path(__file__).resolve().parent / "fixtures" / "kafka391_wire"
PROTOCOLS = {0: "PLAINTEXT", 1: "SSL", 2: "SASL_PLAINTEXT", 3: "SASL_SSL"}


def captured_request(name: str) -> Any:
    frame = bytes.fromhex((WIRE / f"{name}-request.hex").read_text())
    api_key, version, _ = peek_api(frame)
    _header, pos = read_request_header(frame, request_is_flexible(api_key, version))
    return decode_request(api_key, version, frame, pos)


def captured_response(name: str, api_key: int, version: int) -> Any:
    frame = bytes.fromhex((WIRE / f"{name}-response.hex").read_text())
    return decode_response(api_key, version, frame)[1]


def facts_of_leader_and_isr(kafka: Any) -> LeaderAndIsrRequestData:
    return LeaderAndIsrRequestData(
        controller_id=kafka.controller_id,
        controller_epoch=kafka.controller_epoch,
        broker_epoch=kafka.broker_epoch,
        partition_states=tuple(
            LeaderAndIsrPartitionState(
                t.topic_name,
                p.partition_index,
                p.controller_epoch,
                p.leader,
                p.leader_epoch,
                tuple(p.isr),
                p.partition_epoch,
                tuple(p.replicas),
                tuple(p.adding_replicas),
                tuple(p.removing_replicas),
                p.is_new,
                p.leader_recovery_state,
            )
            for t in kafka.topic_states
            for p in t.partition_states
        ),
        topic_ids={t.topic_name: t.topic_id for t in kafka.topic_states},
        live_leaders=tuple(
            LiveLeader(x.broker_id, x.host_name, x.port) for x in kafka.live_leaders
        ),
    )


def test_leader_and_isr_matches_kafka() -> None:
    kafka = captured_request("leader_and_isr-v7-create")
    ours = to_kio(facts_of_leader_and_isr(kafka))
    assert ours == kafka
    assert encode_entity(ours) == encode_entity(kafka)


def test_update_metadata_matches_kafka() -> None:
    kafka = captured_request("update_metadata-v8")
    facts = UpdateMetadataRequestData(
        controller_id=kafka.controller_id,
        controller_epoch=kafka.controller_epoch,
        broker_epoch=kafka.broker_epoch,
        partition_states=tuple(
            UpdateMetadataPartitionState(
                t.topic_name,
                p.partition_index,
                p.controller_epoch,
                p.leader,
                p.leader_epoch,
                tuple(p.isr),
                p.zk_version,
                tuple(p.replicas),
                tuple(p.offline_replicas),
            )
            for t in kafka.topic_states
            for p in t.partition_states
        ),
        live_brokers=tuple(
            LiveBroker(
                b.id,
                tuple(
                    BrokerEndpoint(e.listener, PROTOCOLS[e.security_protocol], e.host, e.port)
                    for e in b.endpoints
                ),
                b.rack,
            )
            for b in kafka.live_brokers
        ),
        topic_ids={t.topic_name: t.topic_id for t in kafka.topic_states},
    )
    assert to_kio(facts) == kafka
    assert encode_entity(to_kio(facts)) == encode_entity(kafka)


@pytest.mark.parametrize("name", ["stop_replica-v4-stop", "stop_replica-v4-delete"])
def test_stop_replica_matches_kafka(name: str) -> None:
    kafka = captured_request(name)
    facts = StopReplicaRequestData(
        controller_id=kafka.controller_id,
        controller_epoch=kafka.controller_epoch,
        broker_epoch=kafka.broker_epoch,
        partition_states=tuple(
            StopReplicaPartitionState(
                t.topic_name, p.partition_index, p.leader_epoch, p.delete_partition
            )
            for t in kafka.topic_states
            for p in t.partition_states
        ),
    )
    assert to_kio(facts) == kafka


def test_responses_map_back_to_partitions() -> None:
    request = facts_of_leader_and_isr(captured_request("leader_and_isr-v7-create"))
    answer = from_kio_response(request, captured_response("leader_and_isr-v7-create", 4, 7))
    assert answer.error_code == ErrorCode.none
    assert set(answer.partition_errors) == {
        TopicPartition(s.topic_name, s.partition_index) for s in request.partition_states
    }
    assert set(answer.partition_errors.values()) == {ErrorCode.none}
    stop_kafka = captured_request("stop_replica-v4-delete")
    stop = StopReplicaRequestData(0, 0, 0, ())
    stop_answer = from_kio_response(stop, captured_response("stop_replica-v4-delete", 5, 4))
    assert set(stop_answer.partition_errors) == {
        TopicPartition(t.topic_name, p.partition_index)
        for t in stop_kafka.topic_states
        for p in t.partition_states
    }
