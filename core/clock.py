"""The one source of time for the core: a live wall clock and a manually advanced simulated one.

All times are integer milliseconds since the Unix epoch (UTC), as on Binance.
"""

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in ms since the epoch."""
        ...


class LiveClock:
    """Wall-clock time, optionally shifted by an offset learned from the exchange's /time."""

    __slots__ = ("offset_ms",)

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms


class SimClock:
    """A clock that only moves when told to: backtests, the replaying exchange, tests."""

    __slots__ = ("_now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = int(start_ms)

    def now_ms(self) -> int:
        return self._now_ms

    def set_ms(self, now_ms: int) -> None:
        """Jump to `now_ms`; time never goes backwards."""
        if now_ms < self._now_ms:
            raise ValueError(f"SimClock cannot go back from {self._now_ms} to {now_ms}")
        self._now_ms = int(now_ms)

    def advance_ms(self, delta_ms: int) -> int:
        if delta_ms < 0:
            raise ValueError(f"SimClock cannot advance by a negative delta ({delta_ms} ms)")
        self._now_ms += int(delta_ms)
        return self._now_ms


# Epoch ms below this (1973-03-03) are no market data's: such a number is epoch seconds given
# by mistake (seconds of 1973..5138 all fall below it), refused rather than read as 1970.
SECONDS_LOOK_BELOW_MS = 10**11


def parse_utc_ms(text: str) -> int:
    """Epoch ms, or a UTC date / ISO date-time (a naive one is UTC) -> epoch ms; the command
    lines' `--start`/`--end`. ValueError with a message meant for the user."""
    if text.isdigit():
        ms = int(text)
        if 0 < ms < SECONDS_LOOK_BELOW_MS:
            as_seconds = datetime.fromtimestamp(ms, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise ValueError(
                f"bad time {text!r}: epoch milliseconds are expected, and as ms this is "
                f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d}; as seconds it is "
                f"{as_seconds}: give {ms * 1000} or an ISO date"
            )
        return ms
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {text!r}: use epoch ms or an ISO date (UTC)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
