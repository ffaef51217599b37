"""Closed bars from the trade stream, for runs that do not use the stream's klines.

Where bars come from (`ExecConfig.bar_source`):
- `klines` (default, live): the DataStream already delivers Binance's own kline bars; the
  ExecManager passes each *closed* bar of the configured interval to the strategy once. They
  are the exchange's numbers, and the DataStream re-checks them over REST after a gap.
- `trades`: bars built here from aggregate trades, for a backtest or replay that feeds trades
  only, or an interval the stream does not subscribe to (e.g. 1s).

This is the streaming half of `gateway.bars.BarBuilder` with the same meaning (a test checks
the two agree bar for bar on real trades), kept separate because `gateway.bars` imports pandas
and numpy for its vectorized half, which the daemon's tick path and memory budget must not
pay for. A trade that closes no bar returns the shared empty tuple (no allocation).
"""

from decimal import Decimal

from core.intervals import interval_ms
from core.market import Bar, Trade

_ZERO = Decimal(0)
NO_BARS: tuple[Bar, ...] = ()


class StreamingBarBuilder:
    """Time bars of one symbol and interval from trades fed in aggregate-id order.

    Like Binance, a bucket without trades still gets a bar at the previous close with zero
    volume; open time is the bucket start, close time = open + interval - 1 ms.
    """

    __slots__ = (
        "_close",
        "_count",
        "_high",
        "_last_close",
        "_last_open",
        "_low",
        "_open",
        "_open_ms",
        "_qv",
        "_tbq",
        "_tbv",
        "_vol",
        "interval",
        "step_ms",
        "symbol",
    )

    def __init__(self, symbol: str, interval: str) -> None:
        self.symbol = symbol
        self.interval = interval
        self.step_ms = interval_ms(interval)
        self._open_ms = -1  # open time of the bar being built; -1 = none
        self._last_open = -1  # open time of the last closed bar; -1 = none yet
        self._last_close = _ZERO
        self._open = self._high = self._low = self._close = _ZERO
        self._vol = self._qv = self._tbv = self._tbq = _ZERO
        self._count = 0

    @property
    def next_close_ms(self) -> int:
        """First ms at which the open bar (if any) is complete; -1 when no bar is open."""
        return -1 if self._open_ms < 0 else self._open_ms + self.step_ms

    def add(self, trade: Trade) -> tuple[Bar, ...]:
        """Add one trade; return the bars it closed (empty buckets included), oldest first."""
        t = trade.trade_time_ms
        start = t - t % self.step_ms
        price, qty = trade.price, trade.qty
        quote = price * qty
        if start == self._open_ms:
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
            self._vol += qty
            self._qv += quote
            if not trade.buyer_is_maker:
                self._tbv += qty
                self._tbq += quote
            self._count += trade.last_trade_id - trade.first_trade_id + 1
            return NO_BARS
        last = self._open_ms if self._open_ms >= 0 else self._last_open
        if start < last:
            raise ValueError(f"trade {trade.agg_id} at {t} is older than bar {last}")
        closed = self.close_until(start)
        self._open_ms = start
        self._open = self._high = self._low = self._close = price
        self._vol = qty
        self._qv = quote
        taker_buy = not trade.buyer_is_maker
        self._tbv = qty if taker_buy else _ZERO
        self._tbq = quote if taker_buy else _ZERO
        self._count = trade.last_trade_id - trade.first_trade_id + 1
        return closed

    def close_until(self, now_ms: int) -> tuple[Bar, ...]:
        """Close every bar that ends at or before `now_ms` (time passing without trades)."""
        step = self.step_ms
        open_ms = self._open_ms
        if open_ms >= 0 and open_ms + step > now_ms:
            return NO_BARS
        if open_ms < 0 and (self._last_open < 0 or self._last_open + 2 * step > now_ms):
            return NO_BARS
        out: list[Bar] = []
        if open_ms >= 0:
            out.append(
                Bar(
                    self.symbol,
                    self.interval,
                    open_ms,
                    open_ms + step - 1,
                    self._open,
                    self._high,
                    self._low,
                    self._close,
                    self._vol,
                    self._qv,
                    self._tbv,
                    self._tbq,
                    self._count,
                    True,
                )
            )
            self._last_close = self._close
            self._last_open = open_ms
            self._open_ms = -1
        price = self._last_close
        t = self._last_open + step
        while t + step <= now_ms:
            out.append(
                Bar(
                    self.symbol,
                    self.interval,
                    t,
                    t + step - 1,
                    price,
                    price,
                    price,
                    price,
                    _ZERO,
                    _ZERO,
                    _ZERO,
                    _ZERO,
                    0,
                    True,
                )
            )
            self._last_open = t
            t += step
        return tuple(out)
