"""Every compression codec, produced by every client, consumed by another client."""

from __future__ import annotations

import pytest
from helpers.broker_process import BrokerProcess
from helpers.clients import (
    Record,
    assert_roundtrip,
    consume,
    create_topic,
    produce,
    require_client,
    unique_topic,
)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CONSUMER_FOR = {
    "kafka-python": "confluent",
    "aiokafka": "kcat",
    "confluent": "aiokafka",
    "kcat": "kafka-python",
}
CASES = [(p, codec) for p in CONSUMER_FOR for codec in CODECS]


def records(n: int) -> list[Record]:
    # Compressible values, a few distinct keys, some headers and a tombstone in the middle.
    recs = [
        Record(
            f"key-{i % 5}".encode(),
            (f"record {i} " + "lorem ipsum dolor sit amet " * (1 + i % 7)).encode(),
            (("n", str(i).encode()),) if i % 3 == 0 else (),
        )
        for i in range(n)
    ]
    recs[n // 2] = Record(b"key-x", None)
    return recs


@pytest.mark.parametrize(
    ("producer", "codec"), CASES, ids=[f"{p}-{c}->{CONSUMER_FOR[p]}" for p, c in CASES]
)
def test_codec_roundtrip(shared: BrokerProcess, producer: str, codec: str) -> None:
    consumer = CONSUMER_FOR[producer]
    require_client(producer)
    require_client(consumer)
    topic = unique_topic(f"codec-{codec}")
    create_topic(shared.bootstrap, topic)
    recs = records(300)
    if producer == "kcat":
        recs = recs[:60]  # kcat needs one invocation per distinct key/headers run
    offsets = produce(producer, shared.bootstrap, topic, recs, compression=codec)
    if producer != "kcat":
        assert offsets == list(range(len(recs)))
    got = consume(consumer, shared.bootstrap, topic, 0, 0, len(recs))
    assert_roundtrip(recs, got)


@pytest.mark.parametrize("codec", CODECS[1:])
def test_mixed_codecs_in_one_partition(shared: BrokerProcess, codec: str) -> None:
    """Batches with different codecs interleave in one log; a consumer reads across them."""
    topic = unique_topic(f"mix-{codec}")
    create_topic(shared.bootstrap, topic)
    a = [Record(b"a", b"plain " * 20) for _ in range(20)]
    b = [Record(b"b", b"packed " * 20) for _ in range(20)]
    c = [Record(b"c", b"plain again") for _ in range(5)]
    produce("confluent", shared.bootstrap, topic, a, compression="none")
    produce("kafka-python", shared.bootstrap, topic, b, compression=codec)
    produce("aiokafka", shared.bootstrap, topic, c, compression="none")
    got = consume("confluent", shared.bootstrap, topic, 0, 0, 45)
    assert_roundtrip(a + b + c, got)
    # and from the middle of the compressed batch
    got = consume("kafka-python", shared.bootstrap, topic, 0, 30, 15)
    assert_roundtrip((a + b + c)[30:], got, first_offset=30)
