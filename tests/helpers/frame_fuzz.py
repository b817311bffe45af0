"""Raw-frame mutation fuzzer of the request decode path; meant to run in a child process.

A native abort (kio allocating from a hostile count) kills the process that decodes, so the
tests run this script with ``subprocess`` and assert on its exit status: a clean run prints
one JSON line of counts and exits 0; an unexpected exception exits 1 with the frame in hex on
stderr; an abort shows as a negative exit status (-6 for SIGABRT).

Seeds are valid request frames for every API version the broker routes, inter-broker APIs
included (sample entities written with kio's writers, plus the admin tools' default
requests) and frames recorded from real clients (``--fixtures``). Each fuzzed frame applies
one to three mutations aimed at what breaks decoders: length and count fields (varints up to
0xff..0x0f, int32 0x7fffffff and -2, int16 lengths), truncations, byte flips, inserted and
deleted runs, splices of two seeds and version swaps. Every frame goes through
``RequestDispatcher.dispatch`` (header, frame guard, kio decode) with a handler that checks
no non-nullable field came out null.

usage: frame_fuzz.py --frames N [--seed S] [--fixtures FILE] [--memory-limit-mb M]
       frame_fuzz.py --frame HEX [--frame HEX ...]   (decode these frames, print each outcome)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random
import resource
import struct
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.admin.wire import build_request, encode_request
from broker.api_table import supported_apis
from broker.handlers import inter_broker as ib
from broker.network.context import ConnectionInfo, RequestContext
from broker.network.dispatch import CloseConnection, Registry, RequestDispatcher
from helpers.sample_requests import sample_request
from protocol.errors import ProtocolViolation

CONNECTION = ConnectionInfo("fuzz-1", "127.0.0.1", 1, "PLAINTEXT")
HEADER = 8  # api key, version, correlation id: left alone except by version swaps

# Values that break decoders when written over a length or count.
VARINTS = [
    b"\xff\xff\xff\xff\x0f",  # 2^32 - 1
    b"\xff\xff\xff\xff\x7f",  # 2^35 - 1
    b"\xfe\xff\xff\xff\x0f",
    b"\x80\x80\x80\x80\x80",  # never terminates within 5 bytes
    b"\xff\xff\xff\x7f",
    b"\xff\xff\x03",
    b"\x80\x01",
    b"\x00",
]
INT32S = [0x7FFFFFFF, -2, -1, -0x80000000, 0x10000000, 0xFFFF, 1_000_000]
INT16S = [0x7FFF, -2, -1, -0x8000, 0x100]


async def _noop(ctx: RequestContext, request: Any) -> None:
    assert_schema_nulls(request)
    return None


def assert_schema_nulls(entity: Any) -> None:
    """Handlers rely on the schema: no field that may not be null is None after decoding."""
    hints = _hints(type(entity))
    for f in dataclasses.fields(entity):
        value = getattr(entity, f.name)
        if value is None:
            assert type(None) in typing.get_args(hints[f.name]), (
                f"{type(entity).__name__}.{f.name} is None"
            )
        elif isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item):
                    assert_schema_nulls(item)
        elif dataclasses.is_dataclass(value):
            assert_schema_nulls(value)


@functools.cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def routes() -> list[tuple[int, int, int]]:
    """(API key, lowest, highest version): the client-facing table and the inter-broker
    (ZooKeeper-mode controller) APIs a cluster member serves."""
    out = [(api_key, low, high) for api_key, _name, low, high in supported_apis()]
    served = {api_key for api_key, _, _ in out}
    for api_key, (low, high) in (
        (ib.LEADER_AND_ISR, ib.LEADER_AND_ISR_VERSIONS),
        (ib.STOP_REPLICA, ib.STOP_REPLICA_VERSIONS),
        (ib.UPDATE_METADATA, ib.UPDATE_METADATA_VERSIONS),
        (ib.CONTROLLED_SHUTDOWN, ib.CONTROLLED_SHUTDOWN_VERSIONS),
        (ib.ALTER_PARTITION, ib.ALTER_PARTITION_VERSIONS),
    ):
        if api_key not in served:
            out.append((api_key, low, high))
    return out


def dispatcher() -> tuple[RequestDispatcher, dict[int, list[int]]]:
    registry = Registry()
    versions: dict[int, list[int]] = {}
    for api_key, low, high in routes():
        registry.register(api_key, low, high, _noop)
        versions[api_key] = list(range(low, high + 1))
    return RequestDispatcher(registry), versions


def seeds(versions: dict[int, list[int]], rng: random.Random, fixtures: Path | None) -> list[bytes]:
    out: list[bytes] = []
    for api_key, vs in versions.items():
        for version in vs:
            out.append(
                encode_request(api_key, version, 7, "fuzz", build_request(api_key, version, {}))[4:]
            )
            for _ in range(2):
                out.append(
                    encode_request(
                        api_key, version, 7, "fuzz", sample_request(api_key, version, rng)
                    )[4:]
                )
    if fixtures is not None:
        out.extend(load_fixtures(fixtures))
    return out


def load_fixtures(path: Path) -> list[bytes]:
    """Frames recorded from real clients: ``<client> <api key> <version> <hex>`` per line."""
    frames = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            frames.append(bytes.fromhex(line.split()[-1]))
    return frames


def _pos(frame: bytearray, rng: random.Random) -> int:
    """A body position, half the time one holding a small value (likely a length or count)."""
    n = len(frame)
    if n <= HEADER:
        return n
    if rng.random() < 0.5:
        for _ in range(8):
            p = rng.randrange(HEADER, n)
            if frame[p] < 0x40:
                return p
    return rng.randrange(HEADER, n)


def m_varint(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = _pos(frame, rng)
    v = rng.choice(VARINTS)
    width = 1 if rng.random() < 0.7 else len(v)  # replace a 1-byte length, or overwrite
    frame[p : p + width] = v


def m_int32(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = max(_pos(frame, rng) - 3, HEADER)  # big-endian: the small byte is the last one
    frame[p : p + 4] = struct.pack(">i", rng.choice(INT32S))


def m_int16(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = max(_pos(frame, rng) - 1, HEADER)
    frame[p : p + 2] = struct.pack(">h", rng.choice(INT16S))


def m_truncate(frame: bytearray, rng: random.Random, other: bytes) -> None:
    del frame[rng.randrange(0, len(frame) + 1) :]


def m_flip(frame: bytearray, rng: random.Random, other: bytes) -> None:
    for _ in range(rng.randint(1, 4)):
        if len(frame) > HEADER:
            frame[rng.randrange(HEADER, len(frame))] = rng.randrange(256)


def m_insert(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = _pos(frame, rng)
    frame[p:p] = rng.randbytes(rng.randint(1, 8))


def m_delete(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = _pos(frame, rng)
    del frame[p : p + rng.randint(1, 8)]


def m_splice(frame: bytearray, rng: random.Random, other: bytes) -> None:
    p = _pos(frame, rng)
    q = rng.randrange(min(HEADER, len(other)), len(other) + 1)
    frame[p:] = other[q:]


def m_version(frame: bytearray, rng: random.Random, other: bytes) -> None:
    if len(frame) >= 4:
        frame[2:4] = struct.pack(">h", rng.choice([0, 1, 3, 4, 7, 9, 11, 12, 16, 17, 0x7FFF]))


def m_append(frame: bytearray, rng: random.Random, other: bytes) -> None:
    frame += rng.randbytes(rng.randint(1, 16))


Mutation = Callable[[bytearray, random.Random, bytes], None]
MUTATIONS: list[tuple[Mutation, int]] = [
    (m_varint, 6),
    (m_int32, 5),
    (m_int16, 3),
    (m_truncate, 2),
    (m_flip, 4),
    (m_insert, 1),
    (m_delete, 1),
    (m_splice, 2),
    (m_version, 1),
    (m_append, 1),
]


def decode(disp: RequestDispatcher, data: bytes) -> str:
    """``"decoded"`` or ``"refused"`` (the connection would be closed); anything else raises."""
    coro = disp.dispatch(data, CONNECTION)
    try:
        coro.send(None)
    except StopIteration:
        return "decoded"
    except (ProtocolViolation, CloseConnection):
        return "refused"
    except Exception as exc:
        print(f"unexpected {exc!r} decoding frame {data.hex()}", file=sys.stderr)
        raise
    coro.close()  # pragma: no cover - the handler never suspends
    raise RuntimeError("handler suspended")


def run_frames(frames: list[bytes]) -> dict[str, Any]:
    """Decode the given frames (crafted ones): the outcome of each, in order."""
    disp, _versions = dispatcher()
    return {"outcomes": [decode(disp, f) for f in frames]}


def run(frames: int, seed: int, fixtures: Path | None) -> dict[str, Any]:
    rng = random.Random(seed)
    disp, versions = dispatcher()
    pool = seeds(versions, rng, fixtures)
    funcs = [m for m, _ in MUTATIONS]
    weights = [w for _, w in MUTATIONS]
    decoded = refused = 0
    start = time.perf_counter()
    for _ in range(frames):
        frame = bytearray(rng.choice(pool))
        for mutate in rng.choices(funcs, weights, k=rng.randint(1, 3)):
            mutate(frame, rng, rng.choice(pool))
        if decode(disp, bytes(frame)) == "decoded":
            decoded += 1
        else:
            refused += 1
    seconds = time.perf_counter() - start
    return {
        "frames": frames,
        "decoded": decoded,
        "refused": refused,
        "seeds": len(pool),
        "seconds": round(seconds, 3),
        "frames_per_s": round(frames / seconds) if seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=0, help="how many mutated frames")
    parser.add_argument("--frame", action="append", default=[], help="a frame to decode, hex")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fixtures", type=Path)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    args = parser.parse_args()
    if args.memory_limit_mb:
        # A decoder that sizes a buffer from a hostile count fails here on any machine,
        # not only where the request exceeds physical memory.
        limit = args.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if args.frame:
        result = run_frames([bytes.fromhex(h) for h in args.frame])
    else:
        result = run(args.frames, args.seed, args.fixtures)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
