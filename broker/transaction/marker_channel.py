"""WriteTxnMarkers to other brokers (Kafka's TransactionMarkerChannelManager, cluster mode).

One pipelined :class:`~cluster.broker_client.BrokerClient` per partition leader, on the
inter-broker listener; a failed send raises and the marker writer retries it.
"""

from __future__ import annotations

from collections.abc import Callable

from kio.schema.errors import ErrorCode

from cluster.broker_client import BrokerClient, BrokerClients
from protocol.builders import make, request_class

WRITE_TXN_MARKERS = 27
VERSION = 1

TopicPartition = tuple[str, int]


class TxnMarkerChannelManager:
    """Sends transaction markers to the leaders of partitions this broker does not lead."""

    def __init__(
        self,
        broker_id: int,
        endpoint_of: Callable[[int], tuple[str, int] | None],
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self.broker_id = broker_id
        self.endpoint_of = endpoint_of
        self.timeout_s = timeout_s
        self._clients = BrokerClients(
            endpoint_of, f"broker-{broker_id}-txn-marker-sender", timeout_s
        )

    def _client(self, broker_id: int) -> BrokerClient | None:
        return self._clients.get(broker_id)

    async def send(
        self,
        leader: int,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        partitions: list[TopicPartition],
    ) -> dict[TopicPartition, ErrorCode]:
        client = self._client(leader)
        if client is None:
            return dict.fromkeys(partitions, ErrorCode.broker_not_available)
        by_topic: dict[str, list[int]] = {}
        for topic, index in partitions:
            by_topic.setdefault(topic, []).append(index)
        topic_cls = request_class(WRITE_TXN_MARKERS, VERSION, "WritableTxnMarkerTopic")
        marker_cls = request_class(WRITE_TXN_MARKERS, VERSION, "WritableTxnMarker")
        request = make(
            request_class(WRITE_TXN_MARKERS, VERSION),
            markers=(
                make(
                    marker_cls,
                    producer_id=producer_id,
                    producer_epoch=producer_epoch,
                    transaction_result=commit,
                    topics=tuple(
                        make(topic_cls, name=t, partition_indexes=tuple(ps))
                        for t, ps in by_topic.items()
                    ),
                    coordinator_epoch=coordinator_epoch,
                ),
            ),
        )
        response = await client.send(request)
        errors: dict[TopicPartition, ErrorCode] = {}
        for result in response.markers:
            for topic in result.topics:
                for p in topic.partitions:
                    errors[(topic.name, int(p.partition_index))] = p.error_code
        return errors

    async def close(self) -> None:
        await self._clients.close()
