"""API handlers, grouped by family; ``register_all`` fills the route table."""

from __future__ import annotations

import importlib

from broker.handlers import api_versions, fetch, init_producer_id, list_offsets, metadata, produce
from broker.services import BrokerServices

_MODULES = (api_versions, metadata, produce, fetch, list_offsets, init_producer_id)


def register_all(services: BrokerServices) -> None:
    for module in _MODULES:
        module.register(services)
    if services.group_coordinator is not None:
        from broker.handlers import group

        group.register(services)
    try:
        admin = importlib.import_module("broker.handlers.admin")
    except ModuleNotFoundError:
        return
    admin.register(services)
