"""A byte-rate throttler for the cleaner's I/O (Kafka's Throttler).

``maybe_throttle(n)`` records ``n`` bytes; when the rate over the current
check window exceeds ``bytes_per_second`` it sleeps just long enough to get
back to it. The sleep waits on an Event so shutdown/abort can cut it short.
Thread-safe (the pool's threads share one throttler, as in Kafka).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttler:
    def __init__(
        self,
        bytes_per_second: float,
        *,
        check_interval_s: float = 0.3,
        monotonic: Callable[[], float] = time.monotonic,
        wake: threading.Event | None = None,
    ) -> None:
        self.rate = bytes_per_second
        self.check_interval_s = check_interval_s
        self._monotonic = monotonic
        self._wake = wake or threading.Event()
        self._lock = threading.Lock()
        self._period_start = monotonic()
        self._observed = 0.0
        self.throttled_s = 0.0

    def update_rate(self, bytes_per_second: float, wake: threading.Event | None = None) -> None:
        """A new rate from now on (Kafka's updateDesiredRatePerSec); ``wake`` replaces the
        event that cuts a sleep short."""
        with self._lock:
            self.rate = bytes_per_second
            self._period_start = self._monotonic()
            self._observed = 0.0
            if wake is not None:
                self._wake = wake

    @property
    def enabled(self) -> bool:
        return 0 < self.rate < float("inf") and self.rate < 1.7e308

    def maybe_throttle(self, n: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._observed += n
            now = self._monotonic()
            elapsed = now - self._period_start
            # Check every interval, and also as soon as a burst exceeds an interval's
            # worth of bytes: a pass shorter than the interval must be throttled too.
            if (
                elapsed < self.check_interval_s
                and self._observed < self.rate * self.check_interval_s
            ):
                return
            elapsed = max(elapsed, 1e-6)
            rate = self._observed / elapsed
            sleep_s = 0.0
            if rate > self.rate:
                sleep_s = self._observed / self.rate - elapsed
            self._period_start = now + max(sleep_s, 0.0)
            self._observed = 0.0
        if sleep_s > 0:
            self.throttled_s += sleep_s
            self._wake.wait(sleep_s)
