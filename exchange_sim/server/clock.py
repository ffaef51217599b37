"""The exchange's one clock (reference section 12, "One clock").

Live modes (real time, N x, max): exchange time is the wall clock. Stepped mode: a `SimClock`
moved only by the test (`LocalExchange.step`). Either way the clock-skew fault is added on top,
so `/time`, event times, `updateTime` and the recvWindow check all see the same skewed time.
`base_now_ms()` is the time without the skew (what a perfectly synced client would have).
"""

import time

from core.clock import SimClock

from .faults import Faults


class ExchangeClock:
    """Wall clock or stepped SimClock, plus an injectable skew (ms)."""

    def __init__(self, faults: Faults, *, stepped: bool, start_ms: int | None = None) -> None:
        self.faults = faults
        self.stepped = stepped
        self.sim = SimClock(start_ms if start_ms is not None else _wall_ms()) if stepped else None

    def base_now_ms(self) -> int:
        return self.sim.now_ms() if self.sim is not None else _wall_ms()

    def now_ms(self) -> int:
        return self.base_now_ms() + self.faults.clock_skew_ms


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
