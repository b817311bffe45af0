"""A windowed rate with an upper bound: Kafka's Rate over a WindowedSum with a Quota.

``quota.window.num`` samples of ``quota.window.size.seconds`` each (plus one overlapping
slot) hold the recorded amounts. The rate is their sum over the window they span, which
counts as at least ``samples - 1`` full windows: a fresh sensor therefore allows a burst
of about ``bound * (samples - 1) * window`` before it throttles, exactly as Kafka does.
When a record pushes the rate above the bound the throttle time is Kafka's
``QuotaUtils.throttleTime``: ``(rate - bound) / bound * window``, the pause after which the
rate is back at the bound if nothing else is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Sample:
    start_ms: int
    last_event_ms: int
    value: float = 0.0
    events: int = 0

    def reset(self, now_ms: int) -> None:
        self.start_ms = now_ms
        self.last_event_ms = now_ms
        self.value = 0.0
        self.events = 0


class QuotaRate:
    """One quota sensor (per quota type and user/client-id tags). Not thread-safe; used
    on the event loop only."""

    __slots__ = ("_current", "_samples", "bound", "num_samples", "window_ms")

    def __init__(self, bound: float, num_samples: int, window_ms: int) -> None:
        self.bound = bound
        self.num_samples = num_samples
        self.window_ms = window_ms
        self._samples: list[_Sample] = []
        self._current = 0

    def _current_sample(self, now_ms: int) -> _Sample:
        if not self._samples:
            self._samples.append(_Sample(now_ms, now_ms))
        return self._samples[self._current]

    def _advance(self, now_ms: int) -> _Sample:
        slots = self.num_samples + 1  # one extra for the sample overlapping the window start
        self._current = (self._current + 1) % slots
        if self._current >= len(self._samples):
            sample = _Sample(now_ms, now_ms)
            self._samples.append(sample)
            return sample
        sample = self._samples[self._current]
        sample.reset(now_ms)
        return sample

    def _purge(self, now_ms: int) -> None:
        expire = self.num_samples * self.window_ms
        for s in self._samples:
            if now_ms - s.last_event_ms >= expire:
                s.reset(now_ms)

    def window_size_ms(self, now_ms: int) -> int:
        self._purge(now_ms)
        if not self._samples:
            self._samples.append(_Sample(now_ms, now_ms))
        oldest = min(s.start_ms for s in self._samples)
        elapsed = now_ms - oldest
        full = elapsed // self.window_ms
        minimum = self.num_samples - 1
        if full < minimum:
            elapsed += (minimum - full) * self.window_ms
        return max(elapsed, 1)

    def rate(self, now_ms: int) -> float:
        """Per second."""
        window = self.window_size_ms(now_ms)
        return sum(s.value for s in self._samples) / (window / 1000.0)

    def record(self, value: float, now_ms: int) -> None:
        sample = self._current_sample(now_ms)
        if now_ms - sample.start_ms >= self.window_ms:
            sample = self._advance(now_ms)
        sample.value += value
        sample.events += 1
        sample.last_event_ms = now_ms

    def record_and_throttle_ms(self, value: float, now_ms: int) -> int:
        """Record ``value``; the throttle time (ms) if the rate is now above the bound."""
        self.record(value, now_ms)
        return self.throttle_ms(now_ms)

    def throttle_ms(self, now_ms: int) -> int:
        window = self.window_size_ms(now_ms)
        observed = sum(s.value for s in self._samples) / (window / 1000.0)
        if observed <= self.bound:
            return 0
        if self.bound <= 0:
            return window
        return round((observed - self.bound) / self.bound * window)
