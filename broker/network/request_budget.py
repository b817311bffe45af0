"""Bytes of requests being received and queued: a broker-wide budget (Kafka's memory pool).

Kafka bounds the memory of requests in flight with ``queued.max.request.bytes``:
when a request's size prefix has been read, a buffer of that size comes from a
shared pool; when the pool is empty the network threads stop reading from
sockets ("muted" channels) until requests are processed and their memory
returns. Kafka's default is -1 (no bound); Josef's is 256 MiB.

Josef does not allocate a frame's buffer up front (it grows as bytes arrive),
but it accounts the same way: a frame is *admitted* when its size prefix
arrives if the budget has room for the whole frame; until it has, the
connection's reading is paused (``transport.pause_reading()``: the bytes stay
in the kernel, nothing is allocated) and it waits in a FIFO queue. Bytes are
returned when the request has been handled (or the connection closes).

Two refinements keep one client from starving the others:

* Frames of at most ``SMALL_FRAME_BYTES`` (what clients send by default:
  ``max.request.size`` / ``message.max.bytes`` are 1 MB) may also use an
  overdraft of a quarter of the budget, so ordinary requests keep flowing
  while large stalled frames hold the budget.
* A frame that has started arriving must finish within
  ``josef.request.receive.timeout.ms`` (counted from its admission); a
  connection that stalls mid-frame is closed and its bytes returned.

Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from protocol.framing import FrameDecoder

log = logging.getLogger(__name__)

#: Frames up to this size may use the overdraft (clients' default request limit is 1 MB).
SMALL_FRAME_BYTES = 1 << 20
DEFAULT_QUEUED_MAX_REQUEST_BYTES = 256 * 1024 * 1024
DEFAULT_RECEIVE_TIMEOUT_MS = 30_000


class RequestBudget:
    """The broker-wide count of request bytes being received, queued or handled."""

    def __init__(self, max_bytes: int, small_frame_bytes: int = SMALL_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes  # <= 0: no bound (Kafka's -1)
        self.small_frame_bytes = small_frame_bytes
        self.overdraft = max(max_bytes, 0) // 4
        self.used = 0
        self.peak = 0
        self._waiters: deque[FrameAdmission] = deque()

    @property
    def bounded(self) -> bool:
        return self.max_bytes > 0

    @property
    def overdrawn(self) -> bool:
        """More is held than even small frames may use: nobody reads until some returns."""
        return self.bounded and self.used > self.max_bytes + self.overdraft

    def try_admit(self, size: int, *, waited: bool = False) -> bool:
        """Reserve ``size`` bytes for a frame about to be read; False if it must wait.

        Large frames are admitted in arrival order (a new one never passes a waiting one);
        small ones may pass waiting large ones."""
        if self.bounded:
            small = size <= self.small_frame_bytes
            limit = self.max_bytes + (self.overdraft if small else 0)
            if self.used + size > limit:
                return False
            if not small and not waited and any(not w.small for w in self._waiters):
                return False
        self.charge(size)
        return True

    def charge(self, size: int) -> None:
        """Account bytes that are already in memory (no choice to wait)."""
        self.used += size
        if self.used > self.peak:
            self.peak = self.used

    def release(self, size: int) -> None:
        if size <= 0:
            return
        self.used -= size
        self._wake()

    def wait(self, admission: FrameAdmission) -> None:
        self._waiters.append(admission)

    def cancel(self, admission: FrameAdmission) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(admission)

    def _wake(self) -> None:
        large_blocked = False
        for waiter in list(self._waiters):
            if not waiter.small and large_blocked:
                continue  # a large frame never passes an earlier large one
            if waiter.retry():
                self._waiters.remove(waiter)
            elif not waiter.small:
                large_blocked = True

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class FrameAdmission:
    """One connection's share of the budget and its receive deadline.

    The connection calls :meth:`after_feed` after each ``FrameDecoder.feed``
    (pausing its reading when that returns False), :meth:`handled` after
    answering each request and :meth:`close` when it goes away. ``resume`` is
    called when a waiting frame has been admitted; ``on_timeout`` when a frame
    misses its deadline.
    """

    __slots__ = (
        "_admitted",
        "_blocked",
        "_budget",
        "_closed",
        "_deadline",
        "_decoder",
        "_loop",
        "_loose",
        "_on_timeout",
        "_queued",
        "_resume",
        "_timeout_s",
        "_waiting_for",
    )

    def __init__(
        self,
        budget: RequestBudget,
        decoder: FrameDecoder,
        *,
        receive_timeout_s: float,
        resume: Callable[[], None],
        on_timeout: Callable[[int, int], None],
    ) -> None:
        self._budget = budget
        self._decoder = decoder
        self._timeout_s = receive_timeout_s
        self._resume = resume
        self._on_timeout = on_timeout
        self._loop = asyncio.get_running_loop()
        self._queued = 0  # bytes of complete frames not yet handled
        self._admitted = 0  # size of the incomplete frame admitted (0: none)
        self._loose = 0  # bytes of an incomplete frame not (yet) admitted
        self._waiting_for = 0  # size the waiting frame needs (0: not waiting)
        self._blocked = False  # paused because whole frames overdrew the budget
        self._deadline: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def held(self) -> int:
        return self._queued + self._admitted + self._loose

    @property
    def waiting(self) -> bool:
        return self._waiting_for > 0 or self._blocked

    @property
    def small(self) -> bool:
        """The waiting frame may use the overdraft."""
        return self._waiting_for <= self._budget.small_frame_bytes

    def after_feed(self, frames: list[bytes]) -> bool:
        """Account what the decoder just produced; False if reading must pause."""
        budget = self._budget
        for frame in frames:
            size = len(frame)
            if self._admitted:
                # The admitted frame completed: its reservation now covers the queued frame.
                budget.release(self._admitted - size)  # 0 unless accounting drifted
                self._admitted = 0
                self._cancel_deadline()
            else:
                budget.charge(size)  # arrived whole (or while not admitted): in memory now
            self._queued += size
        if frames and self._loose:
            budget.release(self._loose)
            self._loose = 0
        if not self._account_partial():
            return False
        if budget.overdrawn and not self._blocked:
            # Whole frames arrive without asking (they are in memory already); once they
            # overdraw the budget this connection reads no more until bytes come back.
            self._blocked = True
            budget.wait(self)
            return False
        return True

    def _account_partial(self) -> bool:
        decoder = self._decoder
        buffered = decoder.buffered
        if buffered == 0:
            self._cancel_deadline()
            return True
        if self._admitted:
            return True  # the same admitted frame is still arriving
        pending = decoder.pending_size
        if pending is None:
            # Fewer than 4 bytes of the next frame: negligible, but it must not stall forever.
            self._set_loose(buffered)
            self._start_deadline()
            return True
        return self._admit(pending, buffered)

    def _admit(self, size: int, buffered: int, *, waited: bool = False) -> bool:
        if self._budget.try_admit(size, waited=waited):
            self._set_loose(0)
            self._admitted = size
            self._waiting_for = 0
            self._start_deadline()
            return True
        self._set_loose(buffered)  # already in memory while it waits
        if not self._waiting_for:
            self._waiting_for = size
            self._cancel_deadline()  # we stopped reading; the client is not the slow one
            self._budget.wait(self)
        return False

    def retry(self) -> bool:
        """From the budget: admit the waiting frame if it fits now (and resume reading)."""
        if self._closed:
            return True
        if self._waiting_for:
            if not self._admit(self._waiting_for, self._loose, waited=True):
                return False
        elif self._blocked:
            if self._budget.overdrawn:
                return False
            self._blocked = False
        else:
            return True
        self._resume()
        return True

    def handled(self, size: int) -> None:
        """A queued request was answered: its bytes go back to the budget."""
        if self._closed:
            return
        self._queued -= size
        self._budget.release(size)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_deadline()
        if self._waiting_for or self._blocked:
            self._budget.cancel(self)
            self._waiting_for = 0
            self._blocked = False
        held = self.held
        self._queued = self._admitted = self._loose = 0
        self._budget.release(held)

    # -- helpers -------------------------------------------------------------------------

    def _set_loose(self, n: int) -> None:
        if n > self._loose:
            self._budget.charge(n - self._loose)
        elif n < self._loose:
            self._budget.release(self._loose - n)
        self._loose = n

    def _start_deadline(self) -> None:
        if self._deadline is None and self._timeout_s > 0:
            self._deadline = self._loop.call_later(self._timeout_s, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._closed or self._decoder.buffered == 0:
            return
        self._on_timeout(self._decoder.pending_size or 0, self._decoder.buffered)
