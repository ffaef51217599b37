"""Noticing that the daemon did not run for a while, at the first thing it does afterwards.

A process stopped with SIGSTOP (or by a VM's live migration) and a machine that slept come
back to a world that moved on: the exchange's dead-man switch cancelled the working orders, a
stop-loss may have filled, and the sockets hold what the exchange sent meanwhile, which the
daemon reads in one burst as if it were live. A task looking at the clock every second would
see the jump, but only once the event loop gets to it: the burst of buffered market data and
user-stream events is handled first (tens of milliseconds, enough for a decision on the old
books). So every market item and venue event `tick()`s the watch before it is handed on, and a
timer task ticks it every `PAUSE_POLL_S` while nothing else arrives: a tick that comes
`notice_ms` or more after the previous one means nothing ran in between. A tick is given the
time its caller read for the item or event (the one the ExecManager then uses): the watch
costs no clock read of its own on the tick path.

Times are ms of the injected clock (the daemon's `LiveClock`, which follows a monotonic count
that includes a machine's sleep, so a step of the wall clock is no pause). That clock is our
estimate of the exchange's: it moves with `offset_ms` when the REST connection measures the
exchange's clock again, so the watch is given it (`offset`) and measures silences without the
offset: a resync that moved the estimate by 6 s is no pause of 6 s.
"""

from collections.abc import Callable
from typing import Protocol

PAUSE_POLL_S = 1.0  # the daemon's timer task ticks this often (s)
PAUSE_NOTICE_MS = 5_000  # no tick for this long (ms): the daemon did not run


class OffsetClock(Protocol):
    """A clock that is an offset estimate of another's (`core.clock.LiveClock`)."""

    offset_ms: int


class PauseWatch:
    """Calls `on_pause(idle_ms)` at the first tick after `notice_ms` or more without one."""

    __slots__ = ("_last_ms", "_now_ms", "_offset", "_on_pause", "notice_ms", "pauses")

    def __init__(
        self,
        now_ms: Callable[[], int],
        on_pause: Callable[[int], None],
        notice_ms: int = PAUSE_NOTICE_MS,
        offset: OffsetClock | None = None,
    ) -> None:
        self._now_ms = now_ms
        # `now_ms`'s clock when it is an offset estimate: its offset_ms is taken off every
        # reading, so a new measurement of the offset moves no silence (one attribute read)
        self._offset = offset
        self._on_pause = on_pause
        self.notice_ms = notice_ms
        self._last_ms: int | None = None  # None: not armed (starting: nothing to miss yet)
        self.pauses = 0

    def arm(self) -> None:
        """Start watching (once the daemon runs: a slow start-up is no pause)."""
        offset = self._offset
        self._last_ms = self._now_ms() - (0 if offset is None else offset.offset_ms)

    def tick(self, now: int) -> None:
        """The daemon is running now (`now`: the clock read for what it is about to handle);
        after a silence of `notice_ms` or more, say so first."""
        last = self._last_ms
        if last is None:
            return
        offset = self._offset
        if offset is not None:
            now -= offset.offset_ms
        self._last_ms = now
        idle = now - last
        if idle >= self.notice_ms:
            self.pauses += 1
            self._on_pause(idle)
