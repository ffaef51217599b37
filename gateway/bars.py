"""Time bars (1s, 1m, any whole multiple of a second) built from aggregate trades.

The bars equal Binance's klines for the same trades: open/high/low/close, base volume, quote
volume (sum of price x qty), taker-buy base and quote volume (trades whose buyer was NOT the
maker), and trade count (sum of `last_trade_id - first_trade_id + 1`). Like Binance, a bucket
with no trade still gets a bar: open = high = low = close = the previous close, zero volume.
Open time is the bucket start (ms UTC), close time = open + interval - 1 ms.

Two forms with one meaning: `BarBuilder` (streaming, Decimal, for live use) and
`bars_from_trades` (vectorized over a DataFrame of trades, exact integer arithmetic, for
history). Tests check they agree with each other and with real klines.
"""

from decimal import Decimal

import numpy as np
import pandas as pd

from core.intervals import interval_ms
from core.market import Bar, Trade

_ZERO = Decimal(0)

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
    """Streaming bars for one symbol; feed trades in aggregate-id order."""

    __slots__ = ("_bar", "_last_close", "_last_open", "interval", "step_ms", "symbol")

    def __init__(self, symbol: str, interval: str) -> None:
        self.symbol = symbol
        self.interval = interval
        self.step_ms = interval_ms(interval)
        self._bar: list | None = None  # [open_ms, o, h, l, c, v, qv, tbv, tbqv, n]
        self._last_open: int | None = None  # open time of the last closed bar
        self._last_close: Decimal = _ZERO

    def add(self, trade: Trade) -> list[Bar]:
        """Add one trade; returns the bars it closed (empty buckets included), oldest first."""
        start = trade.trade_time_ms - trade.trade_time_ms % self.step_ms
        bar = self._bar
        price, qty = trade.price, trade.qty
        quote = price * qty
        count = trade.last_trade_id - trade.first_trade_id + 1
        if bar is not None and bar[0] == start:
            if price > bar[2]:
                bar[2] = price
            elif price < bar[3]:
                bar[3] = price
            bar[4] = price
            bar[5] += qty
            bar[6] += quote
            if not trade.buyer_is_maker:
                bar[7] += qty
                bar[8] += quote
            bar[9] += count
            return []
        last = bar[0] if bar is not None else self._last_open
        if last is not None and start < last:
            raise ValueError(
                f"trade {trade.agg_id} at {trade.trade_time_ms} is older than bar {last}"
            )
        closed = self.close_until(start)
        taker = not trade.buyer_is_maker
        self._bar = [
            start,
            price,
            price,
            price,
            price,
            qty,
            quote,
            qty if taker else _ZERO,
            quote if taker else _ZERO,
            count,
        ]
        return closed

    def current(self) -> Bar | None:
        """The open bar so far (closed=False), or None before the first trade."""
        return None if self._bar is None else self._to_bar(self._bar, closed=False)

    def close_until(self, now_ms: int) -> list[Bar]:
        """Close every bar that ends at or before `now_ms` (time passing with no trade)."""
        step = self.step_ms
        out: list[Bar] = []
        bar = self._bar
        if bar is not None:
            if bar[0] + step > now_ms:
                return out
            out.append(self._to_bar(bar, closed=True))
            self._last_close = bar[4]
            self._last_open = bar[0]
            self._bar = None
        if self._last_open is None:
            return out
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
        return out

    def _to_bar(self, b: list, *, closed: bool) -> Bar:
        return Bar(
            self.symbol,
            self.interval,
            b[0],
            b[0] + self.step_ms - 1,
            b[1],
            b[2],
            b[3],
            b[4],
            b[5],
            b[6],
            b[7],
            b[8],
            b[9],
            closed,
        )


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
