"""The standalone metadata document keeps OffsetCommit v0 offsets (Kafka's /consumers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cluster.metadata import BrokerRegistration
from cluster.standalone import StandaloneMetadataStore


def test_v0_offsets_survive_a_restart(tmp_path: Path) -> None:
    reg = BrokerRegistration(0, ())
    store = StandaloneMetadataStore(tmp_path, reg)
    store.load()
    assert asyncio.run(store.consumer_offset("g", "t", 0)) is None
    asyncio.run(store.set_consumer_offset("g", "t", 0, 11))
    asyncio.run(store.set_consumer_offset("g", "t", 0, 12))
    asyncio.run(store.set_consumer_offset("g", "t/x", 3, 5))
    again = StandaloneMetadataStore(tmp_path, reg)
    again.load()
    assert asyncio.run(again.consumer_offset("g", "t", 0)) == 12
    assert asyncio.run(again.consumer_offset("g", "t/x", 3)) == 5
    assert asyncio.run(again.consumer_offset("h", "t", 0)) is None
