"""Where consumers should fetch from (KIP-392, Kafka's ``replica.selector.class``).

A leader configured with Kafka's ``RackAwareReplicaSelector`` tells a consumer that gave its
``client.rack`` (Fetch v11+ ``rack_id``) to read from a replica in the same rack: it answers
that partition with no records and ``preferred_read_replica`` set, and the consumer fetches
from that follower (which serves consumers up to its high watermark). A replica qualifies
when its broker is alive, it is in the ISR and it has everything below the high watermark;
among several, the one with the largest log end offset wins, as in Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping

from broker.replica.partition import Partition

RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
LEADER = "org.apache.kafka.common.replica.LeaderSelector"
NO_PREFERENCE = -1


def preferred_read_replica(
    selector: str | None,
    partition: Partition,
    client_rack: str,
    racks: Mapping[int, str | None],
) -> int:
    """The replica a consumer in ``client_rack`` should fetch from, or -1 for the leader.

    ``racks`` maps each live broker to its ``broker.rack``.
    """
    if selector != RACK_AWARE or not client_rack or not partition.is_leader:
        return NO_PREFERENCE
    if racks.get(partition.broker_id) == client_rack:
        return NO_PREFERENCE  # the leader is already in the client's rack
    hw = partition.high_watermark
    best: tuple[int, int] | None = None  # (log end offset, broker id)
    for broker_id, replica in partition.remote_replicas.items():
        if broker_id not in racks or racks[broker_id] != client_rack:
            continue
        if broker_id not in partition.isr or replica.log_end_offset < hw:
            continue
        candidate = (replica.log_end_offset, broker_id)
        if best is None or candidate > best:
            best = candidate
    return NO_PREFERENCE if best is None else best[1]
