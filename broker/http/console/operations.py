"""What the web console changes in the cluster, as the ``josef`` CLI does it.

CreateTopics and DeleteTopics to the controller, IncrementalAlterConfigs for a topic, and
a consumer group's offset reset (OffsetCommit with generation -1, only while the group is
inactive) planned by the CLI's ``plan_reset``. Blocking: run in a worker thread.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final

from broker.admin.client import (
    CREATE_TOPICS,
    DELETE_TOPICS,
    INCREMENTAL_ALTER_CONFIGS,
    AdminClient,
    TopicPartition,
    check,
)
from broker.admin.groups import (
    INACTIVE_STATES,
    commit_offsets,
    committed_offsets,
    describe_group,
    plan_reset,
)
from broker.admin.topics import ADMIN_TIMEOUT_MS, OP_DELETE, OP_SET, RESOURCE_TOPIC
from broker.http.console.app import ConsoleError

RESET_SCENARIOS: Final = ("earliest", "latest", "offset", "timestamp")


def create_topic(
    client: AdminClient,
    name: str,
    partitions: int | None,
    replication_factor: int | None,
    configs: Sequence[tuple[str, str]],
) -> None:
    _v, plain = client.controller().request(
        CREATE_TOPICS,
        {
            "topics": [
                {
                    "name": name,
                    "num_partitions": -1 if partitions is None else partitions,
                    "replication_factor": -1 if replication_factor is None else replication_factor,
                    "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in configs],
                }
            ],
            "timeout": ADMIN_TIMEOUT_MS,
            "validate_only": False,
        },
    )
    result = plain["topics"][0]
    check(result["error_code"], result.get("error_message"), f"create topic {name}")


def delete_topic(client: AdminClient, name: str) -> None:
    def body(version: int) -> dict[str, Any]:
        if version >= 6:
            return {"topics": [{"name": name, "topic_id": None}], "timeout": ADMIN_TIMEOUT_MS}
        return {"topic_names": [name], "timeout": ADMIN_TIMEOUT_MS}

    _v, plain = client.controller().request(DELETE_TOPICS, body)
    for r in plain["responses"]:
        check(r["error_code"], r.get("error_message"), f"delete topic {name}")


def alter_topic_config(client: AdminClient, topic: str, key: str, value: str | None) -> None:
    """Set ``key`` to ``value`` on the topic, or remove the override when value is None."""
    op = {
        "name": key,
        "config_operation": OP_DELETE if value is None else OP_SET,
        "value": value,
    }
    _v, plain = client.controller().request(
        INCREMENTAL_ALTER_CONFIGS,
        {
            "resources": [
                {"resource_type": RESOURCE_TOPIC, "resource_name": topic, "configs": [op]}
            ],
            "validate_only": False,
        },
    )
    result = plain["responses"][0]
    check(result["error_code"], result.get("error_message"), f"alter config of {topic}")


def plan_group_reset(
    client: AdminClient,
    group: str,
    topic: str | None,
    scenario: str,
    value: str | None,
) -> dict[TopicPartition, int]:
    """The new offset of each partition (all of ``topic``'s, or every committed one)."""
    desc = describe_group(client, group)
    if desc.state not in INACTIVE_STATES:
        # Kafka's tool refuses too; NON_EMPTY_GROUP is Kafka's name for the condition.
        raise ConsoleError(
            "NON_EMPTY_GROUP",
            f"Assignments can only be reset if the group '{group}' is inactive, "
            f"but the current state is {desc.state}.",
            409,
        )
    committed = committed_offsets(client, group)
    partitions = client.topic(topic).partitions if topic else {}
    tps = sorted((topic, p) for p in partitions) if topic else sorted(committed)
    if not tps:
        return {}
    args = argparse.Namespace(
        to_earliest=scenario == "earliest",
        to_latest=scenario == "latest",
        to_offset=int(value or "0") if scenario == "offset" else None,
        to_current=False,
        shift_by=None,
        to_datetime=value if scenario == "timestamp" else None,
        by_duration=None,
    )
    return plan_reset(client, args, tps, committed)


def reset_group(
    client: AdminClient, group: str, topic: str | None, scenario: str, value: str | None
) -> dict[TopicPartition, int]:
    plan = plan_group_reset(client, group, topic, scenario, value)
    if plan:
        commit_offsets(client, group, plan)
    return plan
