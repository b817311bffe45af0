"""Cost of the frame guard per request, next to kio's decode of the same body.

    python benchmarks/frame_guard.py [--repeat 7] [--number 20000]

Requests: ProduceRequest v9 (1 topic, 1 partition, 16 KiB of records, and 2 topics x 4
partitions), FetchRequest v11, v12 and v16 (1 topic, 1 partition, as librdkafka sends them),
Metadata v12 (3 topics). For each: the guard alone (``check_body``), kio's reader alone, and
``decode_request`` (guard + kio), best of ``--repeat`` runs, in microseconds of CPU time
(process time: the machines are shared, wall time is noisy).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kio.serial import entity_reader

from broker.admin.wire import build_request, encode_request
from protocol.codec import decode_request, request_is_flexible, request_schema
from protocol.frame_guard import check_body
from protocol.headers import read_request_header

RECORDS_16K = bytes(16 * 1024)
TOPIC_ID = uuid.UUID(int=0x1234)


def produce(version: int, topics: int, partitions: int) -> Any:
    return build_request(
        0,
        version,
        {
            "acks": -1,
            "timeout": datetime.timedelta(seconds=30),
            "topic_data": [
                {
                    "name": f"topic-{t}",
                    "partition_data": [
                        {"index": p, "records": RECORDS_16K} for p in range(partitions)
                    ],
                }
                for t in range(topics)
            ],
        },
    )


def fetch(version: int) -> Any:
    partition = {
        "partition": 0,
        "current_leader_epoch": 5,
        "fetch_offset": 123456,
        "log_start_offset": -1,
        "partition_max_bytes": 1048576,
    }
    return build_request(
        1,
        version,
        {
            "replica_id": -1,
            "max_wait": datetime.timedelta(milliseconds=500),
            "min_bytes": 1,
            "max_bytes": 52428800,
            "isolation_level": 1,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [{"topic": "orders", "topic_id": TOPIC_ID, "partitions": [partition]}],
            "forgotten_topics_data": [],
            "rack_id": "",
        },
    )


def metadata(version: int) -> Any:
    return build_request(3, version, {"topics": [{"name": n} for n in ("a", "orders", "payments")]})


CASES: list[tuple[str, int, int, Any]] = [
    ("Produce v9 1x1 16 KiB", 0, 9, produce(9, 1, 1)),
    ("Produce v9 2x4 16 KiB", 0, 9, produce(9, 2, 4)),
    ("Fetch v11 1x1", 1, 11, fetch(11)),
    ("Fetch v12 1x1", 1, 12, fetch(12)),
    ("Fetch v16 1x1", 1, 16, fetch(16)),
    ("Metadata v12 3 topics", 3, 12, metadata(12)),
]


def measure(api_key: int, version: int, body: Any, number: int, repeat: int) -> list[float]:
    """[bytes, guard µs, kio µs, decode_request µs] for one request."""
    frame = encode_request(api_key, version, 1, "bench", body)[4:]
    _header, offset = read_request_header(frame, request_is_flexible(api_key, version))
    schema = request_schema(api_key, version)
    reader = entity_reader(schema)
    assert check_body(schema, frame, offset)[0] == len(frame)

    def best(stmt: Any) -> float:
        runs = timeit.repeat(stmt, number=number, repeat=repeat, timer=time.process_time)
        return min(runs) / number * 1e6

    return [
        len(frame),
        best(lambda: check_body(schema, frame, offset)),
        best(lambda: reader(frame, offset)),
        best(lambda: decode_request(api_key, version, frame, offset)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    print(f"{'request':<24} {'bytes':>7} {'guard µs':>9} {'kio µs':>8} {'decode µs':>10}")
    for name, api_key, version, body in CASES:
        size, guard, kio, full = measure(api_key, version, body, args.number, args.repeat)
        print(f"{name:<24} {size:>7.0f} {guard:>9.2f} {kio:>8.2f} {full:>10.2f}")


if __name__ == "__main__":
    main()
