"""Request frames whose collection counts or lengths cannot fit in them (issue 12).

Before the frame guard, kio's native decoder sized a buffer from such a count and the
broker process died with SIGABRT ("memory allocation of 34359738352 bytes failed"). The
last frame is decodable but malformed (a null array the schema forbids): it reached a
handler and raised TypeError. A broker closes the connection on each.
Each frame is returned without its 4-byte size prefix; ``framed`` adds it.
"""

from __future__ import annotations

import struct

VARINT_2_32 = b"\xff\xff\xff\xff\x0f"  # compact count 2^32 - 1, i.e. 2^32 - 2 elements
VARINT_2_35 = b"\xff\xff\xff\xff\x7f"  # the largest 5-byte varint


def _header(api_key: int, version: int, corr: int, flexible: bool) -> bytes:
    head = struct.pack(">hhih", api_key, version, corr, 4) + b"fuzz"
    return head + b"\x00" if flexible else head


def hostile_frames(first_correlation_id: int = 7) -> dict[str, bytes]:
    """name -> frame; each uses its own correlation id, counting up from the given one."""
    bodies: list[tuple[str, int, int, bool, bytes]] = [
        # the frame from the issue: Metadata v12, topics compact count 2^32 - 2
        ("metadata v12 topics 2^32", 3, 12, True, VARINT_2_32),
        # the classic form: Metadata v1, topics int32 count 0x7fffffff
        ("metadata v1 topics int32 max", 3, 1, False, b"\x7f\xff\xff\xff"),
        # Produce v9: 1 topic "t" whose partition count is 2^35 - 2
        (
            "produce v9 partitions 2^35",
            0,
            9,
            True,
            b"\x00" + struct.pack(">hi", -1, 1000) + b"\x02\x02t" + VARINT_2_35,
        ),
        # Produce v7: 1 topic, 1 partition whose records claim 0x7ffffff0 bytes
        (
            "produce v7 records length",
            0,
            7,
            False,
            struct.pack(">hhi", -1, -1, 1000)
            + struct.pack(">ih", 1, 1)
            + b"t"
            + struct.pack(">iii", 1, 0, 0x7FFFFFF0),
        ),
        # Fetch v12: the fixed fields, then topics compact count 2^32 - 2
        ("fetch v12 topics 2^32", 1, 12, True, bytes(25) + VARINT_2_32),
        # OffsetFetch v8: groups compact count 2^32 - 2
        ("offset fetch v8 groups 2^32", 9, 8, True, VARINT_2_32),
        # JoinGroup v7: group "g", member "", no instance, "consumer", protocols 2^32 - 2
        (
            "join group v7 protocols 2^32",
            11,
            7,
            True,
            b"\x02g" + struct.pack(">ii", 3000, 60000) + b"\x01\x00\x09consumer" + VARINT_2_32,
        ),
        # CreateTopics v4: topics int32 count 0x7ffffffe
        ("create topics v4 topics int32", 19, 4, False, b"\x7f\xff\xff\xfe"),
        # ApiVersions v3: software name "a", version "b", tagged-field count 2^32 - 1
        ("api versions v3 tag count 2^32", 18, 3, True, b"\x02a\x02b" + VARINT_2_32),
        # OffsetFetch v8: group "g", topic "t" with partition_indexes null (issue 12 §6)
        (
            "offset fetch v8 null partitions",
            9,
            8,
            True,
            b"\x02" + b"\x02g" + b"\x02" + b"\x02t" + b"\x00\x00" + b"\x00" + b"\x00\x00",
        ),
    ]
    return {
        name: _header(api_key, version, first_correlation_id + i, flexible) + body
        for i, (name, api_key, version, flexible, body) in enumerate(bodies)
    }


def framed(frame: bytes) -> bytes:
    return struct.pack(">i", len(frame)) + frame
