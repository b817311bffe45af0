"""Consumer-group API families; ``register`` wires them all to the group coordinator."""

from __future__ import annotations

from broker.handlers import (
    consumer_group_describe,
    consumer_group_heartbeat,
    group_admin,
    group_classic,
    group_coordinator,
    group_offsets,
)
from broker.services import BrokerServices


def register(services: BrokerServices) -> None:
    for module in (
        group_coordinator,
        group_classic,
        group_offsets,
        group_admin,
        consumer_group_heartbeat,
        consumer_group_describe,
    ):
        module.register(services)
