"""The daemon's market-data sink: what every item from the DataStream goes through before the
ExecManager (`Daemon._guarded` builds it; `bench/bench_tick_to_order.py` feeds its tape through
the same one).

The clock is read once per item, and that time goes to the pause watch's tick (after a pause
the trading knows it first), the stream lag of a trade (our clock minus the exchange's trade
time, ms) and the item's handler (`on_item(item, now_ms)`: the ExecManager's time for it);
the market-data links' state is noted before the item is handed on. A bug on one item is
logged and counted, never kills the feed; a journal failure goes to its own handler (the
daemon stops trading).
"""

import logging
from collections.abc import Callable

from book_keeper.journal_errors import JournalError
from core.clock import Clock
from core.events import StreamStateChanged
from core.market import Trade
from trading_engine.main_trading_strategy import StrategyError

log = logging.getLogger("daemon")  # its lines are the daemon's


class ItemSink:
    """`sink(item)`: one market-data item through the daemon (see the module docstring)."""

    __slots__ = (
        "_now_ms",
        "_on_item",
        "_on_journal_error",
        "_on_stream_state",
        "_rehearse",
        "_rehearse_due_ms",
        "_rehearse_every",
        "_rehearse_every_ms",
        "_rehearse_left",
        "_tick",
        "item_errors",
        "stream_lag_ms",
    )

    def __init__(
        self,
        on_item: Callable[[object, int], None],
        *,
        clock: Clock,
        tick: Callable[[int], None],
        on_stream_state: Callable[[StreamStateChanged], None],
        on_journal_error: Callable[[JournalError], None],
        rehearse: Callable[[object, int], None] | None = None,
        rehearse_every: int = 0,
        rehearse_every_ms: int = 0,
    ) -> None:
        """`rehearse(item, now_ms)`: the ExecManager's `rehearse_order` (keeps the order path
        warm), called after an item once `rehearse_every` items came since the last call, or
        sooner when `rehearse_every_ms` of the clock passed (0: by the count alone; a quiet
        market sends few items); never when `rehearse_every` is 0."""
        if rehearse_every < 0 or rehearse_every_ms < 0:
            raise ValueError(
                f"rehearse_every: an item count >= 0 (not {rehearse_every}), "
                f"rehearse_every_ms: milliseconds >= 0 (not {rehearse_every_ms})"
            )
        self._now_ms = clock.now_ms
        self._on_item = on_item
        self._tick = tick
        self._on_stream_state = on_stream_state
        self._on_journal_error = on_journal_error
        self.item_errors = 0
        self.stream_lag_ms: int | None = None  # of the last trade
        self._rehearse = rehearse
        self._rehearse_every = rehearse_every if rehearse is not None else 0
        self._rehearse_left = self._rehearse_every  # items until the next rehearsal
        # the clock's time it is due at the latest (compared, not subtracted: no int made)
        self._rehearse_every_ms = rehearse_every_ms or 2**62
        self._rehearse_due_ms = 0

    def __call__(self, item: object) -> None:
        now = self._now_ms()
        self._tick(now)  # before the item: after a pause, the trading knows it first
        if item.__class__ is Trade:
            self.stream_lag_ms = now - item.event_time_ms  # type: ignore[attr-defined]
        elif item.__class__ is StreamStateChanged:
            self._on_stream_state(item)  # type: ignore[arg-type]
        try:
            self._on_item(item, now)
        except JournalError as exc:
            self._on_journal_error(exc)
        except Exception as error:
            self.item_errors += 1
            if self.item_errors <= 20 or self.item_errors % 1000 == 0:
                what: object = error  # a StrategyError says which callback, item and cause
                if not isinstance(error, StrategyError):
                    what = f"error on {type(item).__name__}"
                log.exception("%s (#%d)", what, self.item_errors)
        if self._rehearse_every:
            left = self._rehearse_left - 1  # a small int: no allocation per item
            if left and now < self._rehearse_due_ms:
                self._rehearse_left = left
            else:
                self._rehearse_left = self._rehearse_every
                self._rehearse_due_ms = now + self._rehearse_every_ms
                self._rehearse(item, now)  # type: ignore[misc]  # set with _rehearse_every
