"""The broker-wide request byte budget and per-connection admission (issue 12 §4)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from broker.config.broker_config import ConfigError, load_config
from broker.network.request_budget import FrameAdmission, RequestBudget
from protocol.framing import FrameDecoder

MB = 1 << 20


class Conn:
    """A connection's decoder and admission, fed like ``KafkaConnection.data_received``."""

    def __init__(self, budget: RequestBudget, timeout_s: float = 0.0) -> None:
        self.decoder = FrameDecoder(200 * MB)
        self.resumed = 0
        self.timed_out = asyncio.Event()
        self.admission = FrameAdmission(
            budget,
            self.decoder,
            receive_timeout_s=timeout_s,
            resume=self._resume,
            on_timeout=lambda size, got: self.timed_out.set(),
        )
        self.frames: list[bytes] = []

    def _resume(self) -> None:
        self.resumed += 1

    def feed(self, data: bytes) -> bool:
        frames = self.decoder.feed(data)
        self.frames.extend(frames)
        return self.admission.after_feed(frames)

    def handle_all(self) -> None:
        for f in self.frames:
            self.admission.handled(len(f))
        self.frames.clear()


def header(size: int) -> bytes:
    return struct.pack(">i", size)


async def test_whole_frames_are_charged_until_handled() -> None:
    budget = RequestBudget(10 * MB)
    c = Conn(budget)
    assert c.feed(header(100) + bytes(100) + header(50) + bytes(50))
    assert budget.used == 150
    c.handle_all()
    assert budget.used == 0


async def test_large_frames_wait_in_order_and_resume() -> None:
    budget = RequestBudget(10 * MB)
    a, b, c = Conn(budget), Conn(budget), Conn(budget)
    assert a.feed(header(6 * MB) + bytes(1000))  # admitted: reserves the whole frame
    assert budget.used == 6 * MB
    assert not b.feed(header(6 * MB) + bytes(1000))  # does not fit: pause reading
    assert b.admission.waiting and budget.used == 6 * MB + 1004
    assert not c.feed(header(3 * MB) + bytes(10))  # fits, but never passes a waiting large one
    a.feed(bytes(6 * MB - 1000))
    assert len(a.frames) == 1 and budget.used == 6 * MB + 1004 + 14
    a.handle_all()  # 6 MB back: b (first in line) and then c (6 + 3 MB fit) are admitted
    assert b.resumed == 1 and not b.admission.waiting
    assert c.resumed == 1 and not c.admission.waiting
    assert budget.used == 9 * MB
    b.feed(bytes(6 * MB - 1000))
    c.feed(bytes(3 * MB - 10))
    b.handle_all()
    c.handle_all()
    assert budget.used == 0


async def test_small_frames_use_the_overdraft() -> None:
    budget = RequestBudget(8 * MB)
    big = Conn(budget)
    assert big.feed(header(8 * MB) + bytes(10))
    assert not Conn(budget).feed(header(2 * MB) + bytes(10))
    small = Conn(budget)
    half = MB // 2
    for _ in range(3):  # an overdraft of 2 MB: frames of 512 KiB arriving in pieces
        assert small.feed(header(half) + bytes(10))
        small.feed(bytes(half - 10))
    assert not small.feed(header(half) + bytes(10))  # 14 bytes of the waiting one are used
    assert budget.used <= 10 * MB


async def test_close_returns_everything() -> None:
    budget = RequestBudget(4 * MB)
    a, b = Conn(budget), Conn(budget)
    assert a.feed(header(3 * MB) + bytes(5))
    assert not b.feed(header(3 * MB) + bytes(5))
    a.admission.close()
    assert b.resumed == 1
    b.admission.close()
    assert budget.used == 0 and budget.waiting == 0


async def test_unbounded_budget_never_pauses() -> None:
    budget = RequestBudget(-1)
    conns = [Conn(budget) for _ in range(5)]
    for c in conns:
        assert c.feed(header(100 * MB) + bytes(10))
    assert budget.used == 500 * MB


async def test_stalled_frame_misses_its_deadline() -> None:
    budget = RequestBudget(10 * MB)
    c = Conn(budget, timeout_s=0.05)
    c.feed(header(MB) + bytes(100))
    await asyncio.wait_for(c.timed_out.wait(), 10)
    done = Conn(budget, timeout_s=0.05)
    done.feed(header(10) + bytes(10))  # complete: no deadline
    fragment = Conn(budget, timeout_s=0.05)
    fragment.feed(b"\x00\x00")  # not even a size prefix: still a deadline
    await asyncio.wait_for(fragment.timed_out.wait(), 10)
    assert not done.timed_out.is_set()


def test_queued_bytes_must_hold_the_largest_request() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["queued.max.request.bytes=1000", "socket.request.max.bytes=2000"])
    assert "socket.request.max.bytes" in str(info.value)
    assert load_config(None, ["queued.max.request.bytes=-1"]).queued_max_request_bytes == -1
    assert load_config(None, []).queued_max_request_bytes == 256 * MB


async def test_whole_frames_that_overdraw_pause_reading() -> None:
    budget = RequestBudget(4 * MB)  # overdraft 1 MB: 5 MB in all
    c = Conn(budget)
    small = header(512 * 1024) + bytes(512 * 1024)
    for _ in range(12):  # whole 512 KiB frames, each in one read: all in memory already
        assert c.feed(small) or budget.overdrawn
    assert budget.overdrawn and c.admission.waiting  # this connection stops reading
    c.handle_all()
    assert c.resumed == 1 and not c.admission.waiting and budget.used == 0
