"""The strategy's closed bars as they reach the ExecManager: from the stream's closed klines
(`BarSource.KLINES`) or built here from trades (`BarSource.TRADES`, `gateway.bars.BarBuilder`),
each passed on once: a closed bar of the traded interval and symbol, newer than every bar
already passed on (the warm-up's history included)."""

from collections.abc import Sequence
from typing import Protocol

from core.market import Bar, Trade
from gateway.bars import BarBuilder


class _Counters(Protocol):
    bars: int
    ignored_items: int


class BarIntake:
    """The last bar passed on per symbol, and the bar builders of the trades mode."""

    def __init__(
        self, *, symbols: Sequence[str], interval: str, from_trades: bool, counters: _Counters
    ) -> None:
        self._symbols = frozenset(symbols)
        self._interval = interval
        self._counters = counters
        self.builders = {s: BarBuilder(s, interval) for s in symbols} if from_trades else {}
        self.last_open: dict[str, int] = dict.fromkeys(symbols, -1)  # open time ms

    def warmed(self, closed: Sequence[Bar]) -> None:
        """The warm-up's closed bars of ours went to the strategy: live bars with an open time
        at or before the last of their symbol are not passed again."""
        last = self.last_open
        for b in closed:
            if b.open_time_ms > last[b.symbol]:
                last[b.symbol] = b.open_time_ms

    def fresh(self, bar: Bar) -> bool:
        """A closed bar of our interval and symbol, newer than every bar already passed on."""
        symbol = bar.symbol
        if (
            not bar.closed
            or symbol not in self._symbols
            or bar.interval != self._interval
            or bar.open_time_ms <= self.last_open[symbol]
        ):
            return False
        self.last_open[symbol] = bar.open_time_ms
        self._counters.bars += 1
        return True

    def close_bars(self, trade: Trade) -> tuple[Bar, ...]:
        """The bars `trade` closes (trades mode), before it: it belongs to the next one."""
        try:
            return self.builders[trade.symbol].add(trade)
        except ValueError:  # a trade older than the bar being built: out of order, skip it
            self._counters.ignored_items += 1
            return ()
