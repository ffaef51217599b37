"""The one source of time for the core: a live wall clock and a manually advanced simulated one.

All times are integer milliseconds since the Unix epoch (UTC), as on Binance.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in ms since the epoch."""
        ...


_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def steady_ns() -> int:
    """A count of ns that no setting of the wall clock moves and that goes on while the
    machine sleeps: CLOCK_BOOTTIME on Linux (CLOCK_MONOTONIC stops during a suspend), else
    the monotonic clock (which on macOS does count a sleep)."""
    return time.clock_gettime_ns(_STEADY)


class LiveClock:
    """Our estimate of the exchange's clock: a steady count since this clock was made,
    started at the machine's wall clock then, plus `offset_ms` (what the exchange's /time
    said its clock is ahead of that; the REST connection measures it again every 5 minutes).

    Not the wall clock itself: NTP stepping it by minutes (a VPS whose clock drifted, a
    resumed VM) would move the time of every deadline, stale-order cancel, day boundary and
    order-outcome wait with it until the next measurement. A step of the wall clock leaves
    this one where it was; the count goes on through a suspended process or a sleeping
    machine, as the exchange's clock does. `wall_ns` / `steady` are injectable for tests."""

    __slots__ = ("_local_ns", "_steady", "_wall_ns", "offset_ms")

    def __init__(
        self,
        offset_ms: int = 0,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        steady: Callable[[], int] = steady_ns,
    ) -> None:
        self._wall_ns = wall_ns
        self._steady = steady
        self._local_ns = wall_ns() - steady()  # the wall clock now, on the steady count
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return (self._steady() + self._local_ns) // 1_000_000 + self.offset_ms

    def local_ms(self) -> int:
        """This machine's time as the clock keeps it (before the offset): what an offset to
        the exchange's clock is measured against."""
        return (self._steady() + self._local_ns) // 1_000_000

    def wall_ms(self) -> int:
        """The machine's wall clock as it is now (NTP steps included): what python-binance
        signs with, `time.time()` plus its own offset."""
        return self._wall_ns() // 1_000_000


def offset_of(clock: Clock) -> int:
    """`clock`'s offset to this machine's time (ms): a LiveClock's, which each measurement of
    the exchange's clock may move; 0 for a clock without one (a SimClock)."""
    return clock.offset_ms if isinstance(clock, LiveClock) else 0


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

    def catch_up(self, now_ms: int) -> None:
        """Move to `now_ms` if it is later; an earlier time leaves the clock as it is (one call
        where reading the clock, then setting it, were two: at each price of a backtest bar)."""
        if now_ms > self._now_ms:
            self._now_ms = int(now_ms)

    def advance_ms(self, delta_ms: int) -> int:
        if delta_ms < 0:
            raise ValueError(f"SimClock cannot advance by a negative delta ({delta_ms} ms)")
        self._now_ms += int(delta_ms)
        return self._now_ms


# Epoch ms below this (1973-03-03) are no market data's: such a number is epoch seconds given
# by mistake (seconds of 1973..5138 all fall below it), refused rather than read as 1970.
SECONDS_LOOK_BELOW_MS = 10**11


# Epoch ms from this (2286-11-20) on are no market data's either: a compact date-time
# (20250506000000) or epoch microseconds (Binance's spot files since 2025) given by mistake.
MS_LOOK_FROM = 10**13
_YEAR_10000_MS = 253_402_300_800_000  # datetime's limit


def _compact_date(text: str) -> str | None:
    """`20250506` as the date it looks like, `2025-05-06`, else None: eight digits that are a
    real date of a year from 1970 on (as epoch ms or seconds they are 1970)."""
    if len(text) != 8:
        return None
    try:
        day = datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return None
    return f"{day:%Y-%m-%d}" if day.year >= 1970 else None


def _far_future_hint(text: str, ms: int) -> str:
    """What a number of epoch ms from MS_LOOK_FROM on was meant to be: a compact date-time
    (`20250506000000`), else epoch microseconds (or nanoseconds) of a year market data has."""
    if len(text) == 14:
        try:
            when = datetime.strptime(text, "%Y%m%d%H%M%S")
        except ValueError:
            pass
        else:
            if when.year >= 1970:
                return (
                    f"as a date-time it is {when:%Y-%m-%dT%H:%M:%S}: give {when:%Y-%m-%dT%H:%M:%S}"
                )
    for unit, per_ms in (("microseconds", 1_000), ("nanoseconds", 1_000_000)):
        if SECONDS_LOOK_BELOW_MS <= ms // per_ms < MS_LOOK_FROM:
            when = datetime.fromtimestamp(ms // per_ms / 1000, UTC)
            return f"as {unit} it is {when:%Y-%m-%d %H:%M:%S} UTC: give {ms // per_ms}"
    return "give epoch ms or an ISO date"


def parse_utc_ms(text: str) -> int:
    """Epoch ms, or a UTC date / ISO date-time (a naive one is UTC) -> epoch ms; the command
    lines' `--start`/`--end`. ValueError with a message meant for the user."""
    if text.isdigit():
        ms = int(text)
        if (day := _compact_date(text)) is not None:  # not ms * 1000: that is 1970 too
            raise ValueError(
                f"bad time {text!r}: epoch milliseconds are expected, and as ms this is "
                f"1970-01-01; as a date it is {day}: give {day}"
            )
        if 0 < ms < SECONDS_LOOK_BELOW_MS:
            as_seconds = datetime.fromtimestamp(ms, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise ValueError(
                f"bad time {text!r}: epoch milliseconds are expected, and as ms this is "
                f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d}; as seconds it is "
                f"{as_seconds}: give {ms * 1000} or an ISO date"
            )
        if ms >= MS_LOOK_FROM:
            year = f"in {_utc_year(ms)}" if ms < _YEAR_10000_MS else "beyond the year 9999"
            raise ValueError(
                f"bad time {text!r}: epoch milliseconds are expected, and as ms this is {year}; "
                + _far_future_hint(text, ms)
            )
        return ms
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {text!r}: use epoch ms or an ISO date (UTC)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _utc_year(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, UTC).year
