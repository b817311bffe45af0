"""A logging TCP proxy for the Kafka protocol: records the API key and version of every
request that passes through it (and optionally the raw request frames).

Used to see which inter-broker request versions a real Kafka cluster sends. Run one proxy
per broker and advertise the proxy's port instead of the broker's own, e.g.:

    python tests/tools/kafka_wire_log.py --listen 49091 --target 39091 \
        --log /tmp/wire-1.log --dump-dir /tmp/wire-frames

Each log line: ``<peer> <api_key> <api_name> v<version> corr=<id> client=<client_id>``.
With --dump-dir every request frame is written as ``NNNNNN-<key>-v<version>.hex`` and its
response frame (matched by correlation id) as ``NNNNNN-<key>-v<version>-response.hex``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import struct
from pathlib import Path
from typing import TextIO

from protocol.api_registry import api_name

_counter = itertools.count()


def _describe(frame: bytes) -> tuple[int, int, int, str]:
    api_key, version, corr = struct.unpack_from(">hhi", frame, 0)
    client = "-"
    if len(frame) >= 10:
        (n,) = struct.unpack_from(">h", frame, 8)
        if 0 <= n <= len(frame) - 10:
            client = frame[10 : 10 + n].decode("utf-8", "replace")
    return api_key, version, corr, client


Pending = dict[int, str]  # correlation id -> dump file stem


async def _pump_requests(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    peer: str,
    log: TextIO,
    dump_dir: Path | None,
    pending: Pending,
) -> None:
    try:
        while True:
            head = await reader.readexactly(4)
            (size,) = struct.unpack(">i", head)
            body = await reader.readexactly(size)
            api_key, version, corr, client = _describe(body)
            name = api_name(api_key)
            log.write(f"{peer} {api_key} {name} v{version} corr={corr} client={client}\n")
            log.flush()
            if dump_dir is not None:
                stem = f"{next(_counter):06d}-{api_key}-v{version}"
                (dump_dir / f"{stem}.hex").write_text(body.hex())
                pending[corr] = stem
            writer.write(head + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _pump_responses(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    dump_dir: Path | None,
    pending: Pending,
) -> None:
    try:
        while True:
            head = await reader.readexactly(4)
            (size,) = struct.unpack(">i", head)
            body = await reader.readexactly(size)
            (corr,) = struct.unpack_from(">i", body, 0)
            stem = pending.pop(corr, None)
            if dump_dir is not None and stem is not None:
                (dump_dir / f"{stem}-response.hex").write_text(body.hex())
            writer.write(head + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--dump-dir", type=Path)
    args = parser.parse_args()
    if args.dump_dir is not None:
        args.dump_dir.mkdir(parents=True, exist_ok=True)
    log = args.log.open("a")

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*c_writer.get_extra_info("peername")[:2])
        try:
            s_reader, s_writer = await asyncio.open_connection(args.host, args.target)
        except OSError:
            c_writer.close()
            return
        pending: Pending = {}
        await asyncio.gather(
            _pump_requests(c_reader, s_writer, peer, log, args.dump_dir, pending),
            _pump_responses(s_reader, c_writer, args.dump_dir, pending),
        )

    server = await asyncio.start_server(handle, args.host, args.listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
