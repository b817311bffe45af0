"""The hand-written Fetch response encoder matches kio's encoding byte for byte."""

from __future__ import annotations

import datetime
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from protocol.builders import ResponseBuilder
from protocol.codec import encode_response
from protocol.fetch_response import PartitionResponse, TopicResponse, encode_fetch_response

partitions = st.builds(
    PartitionResponse,
    partition_index=st.integers(0, 1000),
    error_code=st.sampled_from([0, 1, 3, 74, 100]),
    high_watermark=st.integers(-1, 2**40),
    last_stable_offset=st.integers(-1, 2**40),
    log_start_offset=st.integers(-1, 2**40),
    aborted_transactions=st.none()
    | st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)), max_size=3),
    records=st.none() | st.binary(max_size=300),
    preferred_read_replica=st.just(-1),
)
topics = st.lists(
    st.builds(
        TopicResponse,
        topic=st.text(alphabet="abc.-_", min_size=1, max_size=20),
        topic_id=st.uuids(),
        partitions=st.lists(partitions, max_size=4),
    ),
    max_size=3,
)


def kio_encoding(version: int, corr: int, ts: list[TopicResponse], session_id: int) -> bytes:
    rb = ResponseBuilder(1, version)
    response = rb(
        None,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=session_id,
        responses=tuple(
            rb(
                "FetchableTopicResponse",
                topic=t.topic,
                topic_id=t.topic_id,
                partitions=tuple(
                    rb(
                        "PartitionData",
                        partition_index=p.partition_index,
                        error_code=ErrorCode(p.error_code),
                        high_watermark=p.high_watermark,
                        last_stable_offset=p.last_stable_offset,
                        log_start_offset=p.log_start_offset,
                        aborted_transactions=None
                        if p.aborted_transactions is None
                        else tuple(
                            rb("AbortedTransaction", producer_id=a, first_offset=b)
                            for a, b in p.aborted_transactions
                        ),
                        preferred_read_replica=p.preferred_read_replica,
                        records=p.records,
                    )
                    for p in t.partitions
                ),
            )
            for t in ts
        ),
    )
    return encode_response(1, version, corr, response)


@settings(max_examples=60)
@given(st.integers(4, 17), st.integers(0, 2**31 - 1), topics, st.integers(0, 2**31 - 1))
def test_matches_kio(version: int, corr: int, ts: list[TopicResponse], session_id: int) -> None:
    ours = b"".join(encode_fetch_response(version, corr, ts, session_id=session_id))
    assert ours == kio_encoding(version, corr, ts, session_id)


def test_records_are_not_copied() -> None:
    records = memoryview(b"x" * 1000)
    parts = encode_fetch_response(
        12,
        7,
        [TopicResponse("t", uuid.uuid4(), [PartitionResponse(0, 0, 5, 5, 0, None, records)])],
    )
    assert any(p is records for p in parts)
