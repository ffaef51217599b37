"""Time bars (1s, 1m, any whole multiple of a second) built from aggregate trades.

The bars equal Binance's klines for the same trades: open/high/low/close, base volume, quote
volume (sum of price x qty), taker-buy base and quote volume (trades whose buyer was NOT the
maker), and trade count (sum of `last_trade_id - first_trade_id + 1`). Like Binance, a bucket
with no trade still gets a bar: open = high = low = close = the previous close, zero volume.
Open time is the bucket start (ms UTC), close time = open + interval - 1 ms.

Two forms with one meaning: `BarBuilder` (streaming, Decimal, for live use: the ExecManager
builds bars with it when `execution.bar_source = "trades"`) and `bars_from_trades` (vectorized
over a DataFrame of trades, exact integer arithmetic, for history). Tests check they agree with
each other and with real klines. numpy and pandas are imported only by the vectorized
functions, so the daemon's tick path does not pay for them; a trade that closes no bar returns
the shared empty tuple `NO_BARS` (no allocation).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from core.intervals import interval_ms
from core.market import Bar, Trade

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_ZERO = Decimal(0)
NO_BARS: tuple[Bar, ...] = ()

BAR_COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trade_count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
]


class BarBuilder:
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

    def current(self) -> Bar | None:
        """The open bar so far (closed=False), or None when no bar is open."""
        if self._open_ms < 0:
            return None
        return self._bar(closed=False)

    def _bar(self, *, closed: bool) -> Bar:
        """The bar being built (one is open), as its trades so far make it: the open form
        `current` shows and the closed one `close_until` hands out are the same bar."""
        open_ms = self._open_ms
        return Bar(
            self.symbol,
            self.interval,
            open_ms,
            open_ms + self.step_ms - 1,
            self._open,
            self._high,
            self._low,
            self._close,
            self._vol,
            self._qv,
            self._tbv,
            self._tbq,
            self._count,
            closed,
        )

    def restore(
        self,
        *,
        open_ms: int,
        ohlc: tuple[Decimal, Decimal, Decimal, Decimal],
        volumes: tuple[Decimal, Decimal, Decimal, Decimal],
        count: int,
        last_open_ms: int,
        last_close: Decimal,
    ) -> None:
        """Set the state `add` would have left after the trades of the bar opened at
        `open_ms` so far: its open/high/low/close, (volume, quote volume, taker-buy volume,
        taker-buy quote volume) and trade count, and the last closed bar's open time and
        close. For a backtest that takes many quiet trades at once (backtest/fast_path.py)."""
        self._open_ms = open_ms
        self._open, self._high, self._low, self._close = ohlc
        self._vol, self._qv, self._tbv, self._tbq = volumes
        self._count = count
        self._last_open = last_open_ms
        self._last_close = last_close

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
            out.append(self._bar(closed=True))
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


# --- vectorized ---------------------------------------------------------------------------------


def _scaled(values: pd.Series) -> tuple[np.ndarray, int]:
    """Decimal strings -> (int64 array, decimals) exactly: "61590.30" -> (6159030, 2)."""
    text = values.astype(str)
    parts = text.str.partition(".")
    frac = parts[2].str.rstrip("0")
    decimals = int(frac.str.len().max() or 0)
    whole = parts[0].astype("int64").to_numpy()
    if decimals == 0:
        return whole, 0
    frac_int = frac.str.ljust(decimals, "0").astype("int64").to_numpy()
    return whole * 10**decimals + frac_int, decimals


def bars_from_trades(trades: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Vectorized bars from a trades frame, exactly (integer arithmetic, Decimal results).

    `trades` columns: `price`, `qty` (decimal strings), `first_trade_id`, `last_trade_id`,
    `trade_time` (ms), `buyer_is_maker` (bool), in aggregate-id order. Returns one row per
    bucket from the first to the last trade's bucket, columns `BAR_COLUMNS` with Decimal
    values for prices and volumes (open_time/close_time/trade_count are int64).
    """
    import numpy as np
    import pandas as pd

    if trades.empty:
        return pd.DataFrame(columns=BAR_COLUMNS)
    step = interval_ms(interval)
    price, pdp = _scaled(trades["price"])
    qty, qdp = _scaled(trades["qty"])
    times = trades["trade_time"].to_numpy(dtype="int64")
    bucket = times - times % step
    taker = ~trades["buyer_is_maker"].to_numpy(dtype=bool)
    quote = price.astype(object) * qty.astype(object)  # Python ints: no overflow
    frame = pd.DataFrame(
        {
            "bucket": bucket,
            "price": price,
            "qty": qty,
            "quote": quote,
            "tb_qty": np.where(taker, qty, 0),
            "tb_quote": np.where(taker, quote, 0).astype(object),
            "count": (
                trades["last_trade_id"].to_numpy(dtype="int64")
                - trades["first_trade_id"].to_numpy(dtype="int64")
                + 1
            ),
        }
    )
    g = frame.groupby("bucket", sort=True)
    agg = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["qty"].sum(),
            "quote": g["quote"].sum(),
            "tb_qty": g["tb_qty"].sum(),
            "tb_quote": g["tb_quote"].sum(),
            "count": g["count"].sum(),
        }
    )
    full = np.arange(agg.index[0], agg.index[-1] + step, step, dtype="int64")
    agg = agg.reindex(full)
    empty = agg["count"].isna()
    close = agg["close"].ffill()
    for col in ("open", "high", "low", "close"):
        agg[col] = agg[col].where(~empty, close)
    for col in ("volume", "quote", "tb_qty", "tb_quote", "count"):
        agg[col] = agg[col].where(~empty, 0)

    def dec(col: str, decimals: int) -> list[Decimal]:
        return [Decimal(int(v)).scaleb(-decimals) for v in agg[col]]

    out = pd.DataFrame(
        {
            "open_time": full,
            "open": dec("open", pdp),
            "high": dec("high", pdp),
            "low": dec("low", pdp),
            "close": dec("close", pdp),
            "volume": dec("volume", qdp),
            "close_time": full + step - 1,
            "quote_volume": dec("quote", pdp + qdp),
            "trade_count": agg["count"].astype("int64").to_numpy(),
            "taker_buy_volume": dec("tb_qty", qdp),
            "taker_buy_quote_volume": dec("tb_quote", pdp + qdp),
        }
    )
    return out


def frame_to_bars(frame: pd.DataFrame, symbol: str, interval: str) -> list[Bar]:
    """Rows of a `bars_from_trades` frame as closed `Bar`s."""
    return [
        Bar(
            symbol,
            interval,
            int(r.open_time),
            int(r.close_time),
            r.open,
            r.high,
            r.low,
            r.close,
            r.volume,
            r.quote_volume,
            r.taker_buy_volume,
            r.taker_buy_quote_volume,
            int(r.trade_count),
            True,
        )
        for r in frame.itertuples(index=False)
    ]


def trades_frame(trades: list[Trade]) -> pd.DataFrame:
    """Domain trades -> the column layout `bars_from_trades` reads."""
    import pandas as pd

    return pd.DataFrame(
        {
            "price": [str(t.price) for t in trades],
            "qty": [str(t.qty) for t in trades],
            "first_trade_id": [t.first_trade_id for t in trades],
            "last_trade_id": [t.last_trade_id for t in trades],
            "trade_time": [t.trade_time_ms for t in trades],
            "buyer_is_maker": [t.buyer_is_maker for t in trades],
        }
    )
