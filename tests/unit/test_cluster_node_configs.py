"""ClusterNode hands topic config changes to the controller as Kafka's TopicConfigHandler
does: a topic whose unclean.leader.election.enable became true gets leaders elected for its
leaderless partitions (the controller acts only while active)."""

from __future__ import annotations

import uuid

from broker.cluster_node import ClusterNode
from broker.config.broker_config import load_config
from cluster.metadata import TopicConfigChanged, TopicCreated, TopicMetadata
from storage.clock import ManualClock


class FakeController:
    def __init__(self) -> None:
        self.enabled: list[str] = []

    def enable_topic_unclean_leader_election(self, topic: str) -> None:
        self.enabled.append(topic)


def topic(configs: dict[str, str]) -> TopicMetadata:
    return TopicMetadata("t", uuid.uuid4(), {}, configs)


def test_unclean_leader_election_enable_reaches_the_controller() -> None:
    config = load_config(None, ["zookeeper.connect=127.0.0.1:1", "broker.id=1"])
    node = ClusterNode(config, ManualClock(), frozenset())
    fake = FakeController()
    node._controller = fake  # type: ignore[assignment]
    node._on_metadata_event(TopicConfigChanged(topic({"retention.ms": "5"})))
    node._on_metadata_event(TopicConfigChanged(topic({"unclean.leader.election.enable": "false"})))
    node._on_metadata_event(TopicCreated(topic({"unclean.leader.election.enable": "true"})))
    assert fake.enabled == []
    node._on_metadata_event(TopicConfigChanged(topic({"unclean.leader.election.enable": "true"})))
    assert fake.enabled == ["t"]
