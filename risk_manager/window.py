"""A sliding time window of recent events (orders sent, errors seen), O(1) amortised.

Memory is bounded by `capacity`: the callers never need to know more than "at least
`capacity` events in the window", so older surplus entries are dropped on append.
"""

from collections import deque


class SlidingWindow:
    """Event times (ms) within the last `window_ms`; an event exactly `window_ms` old is out."""

    __slots__ = ("_times", "window_ms")

    def __init__(self, *, window_ms: int, capacity: int) -> None:
        if window_ms < 1 or capacity < 1:
            raise ValueError(f"window_ms and capacity must be >= 1 ({window_ms}, {capacity})")
        self.window_ms = window_ms
        self._times: deque[int] = deque(maxlen=capacity)

    def count(self, now_ms: int) -> int:
        times = self._times
        horizon = now_ms - self.window_ms
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def add(self, now_ms: int) -> int:
        """Record an event at `now_ms`; return the count in the window including it."""
        self._times.append(now_ms)
        return self.count(now_ms)

    def record(self, now_ms: int) -> None:
        """Record an event at `now_ms`, after a `count(now_ms)` (which dropped what is out of
        the window): an approval counted once decided, without counting again."""
        self._times.append(now_ms)

    def clear(self) -> None:
        self._times.clear()
