"""API handlers, grouped by family; ``register_all`` fills the route table."""

from __future__ import annotations

from broker.handlers import (
    acls,
    admin,
    api_versions,
    client_quotas,
    fetch,
    group,
    init_producer_id,
    inter_broker,
    list_offsets,
    metadata,
    produce,
    sasl,
    transactions,
)
from broker.services import BrokerServices

_MODULES = (
    api_versions,
    metadata,
    produce,
    fetch,
    list_offsets,
    init_producer_id,
    group,
    transactions,
    admin,
    inter_broker,
    sasl,
    acls,
    client_quotas,
)


def register_all(services: BrokerServices) -> None:
    for module in _MODULES:
        module.register(services)
