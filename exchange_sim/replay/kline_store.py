"""Klines the local exchange serves: 1m history plus 1m bars built live from published trades.

All times are exchange time (ms). The store keeps one contiguous run of 1m bars per symbol
(every minute present; a minute without trades is a zero-volume bar at the previous close, as
Binance serves them) and aggregates them on the fly into the longer intervals of section 5.6.
Prices are integer ticks and quantities integer steps of the symbol's WireGrid, so every
aggregate is exact. Queries use numpy searchsorted on the open-time column.

Memory is bounded: each symbol keeps the last `retention_minutes` 1m bars (default 30 days,
43,200 rows of 96 bytes, about 4 MiB), dropped a whole UTC day at a time so every served
interval's buckets stay complete; older klines are no longer served (a request for them gets
the oldest retained ones, as Binance answers a startTime before a symbol's listing). At
`--speed max` the replay covers about half a day a second, so without the bound the table grew
by about 40 MiB in ten minutes.
"""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from core.intervals import interval_ms
from core.market import Bar
from exchange_sim.errors import BinanceError
from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.tapes import KlineBars

MINUTE_MS = 60_000
DAY_MS = 86_400_000
DEFAULT_RETENTION_MINUTES = 30 * 1440
# Intervals this store aggregates from its 1m rows (3d, 1w and 1M are not served).
SERVED_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
INTERVAL_MS: dict[str, int] = {i: interval_ms(i) for i in SERVED_INTERVALS}
DEFAULT_LIMIT = 500
MAX_LIMIT = 1500

# column order of the 1m store
_OT, _O, _H, _L, _C, _V, _Q, _N, _TBV, _TBQ, _F, _LID = range(12)
_NCOLS = 12
_NO_ID = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class KlineRow:
    """One kline as served: wire strings for decimals, ints for times/ids/counts."""

    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    trade_count: int
    taker_buy_volume: str
    taker_buy_quote_volume: str
    first_trade_id: int  # -1 when unknown (history) or no trades
    last_trade_id: int
    closed: bool

    def to_bar(self) -> Bar:
        """The core domain Bar (Decimals) of this kline."""
        return Bar(
            symbol=self.symbol,
            interval=self.interval,
            open_time_ms=self.open_time,
            close_time_ms=self.close_time,
            open=Decimal(self.open),
            high=Decimal(self.high),
            low=Decimal(self.low),
            close=Decimal(self.close),
            volume=Decimal(self.volume),
            quote_volume=Decimal(self.quote_volume),
            taker_buy_volume=Decimal(self.taker_buy_volume),
            taker_buy_quote_volume=Decimal(self.taker_buy_quote_volume),
            trade_count=self.trade_count,
            closed=self.closed,
        )


class _MinuteBars:
    """Int64 table of contiguous 1m bars of one symbol, the last `max_rows` (and up to one day
    more before the oldest whole day is dropped)."""

    def __init__(self, max_rows: int, capacity: int = 4096) -> None:
        self.max_rows = max_rows
        self.data = np.zeros((min(capacity, max_rows + 1440), _NCOLS), dtype=np.int64)
        self.n = 0

    def _grow(self, need: int) -> None:
        if need > len(self.data):
            size = max(need, min(2 * len(self.data), self.max_rows + 1440))
            new = np.zeros((size, _NCOLS), dtype=np.int64)
            new[: self.n] = self.data[: self.n]
            self.data = new

    def append_rows(self, rows: np.ndarray) -> None:
        if self.n + len(rows) > self.max_rows + 1440:
            self._drop_old_days(int(rows[-1, _OT]))
        self._grow(self.n + len(rows))
        self.data[self.n : self.n + len(rows)] = rows
        self.n += len(rows)

    def _drop_old_days(self, newest_open: int) -> None:
        """Drop the rows before the first UTC midnight that keeps at most `max_rows` rows once
        the bar opening at `newest_open` is in."""
        cutoff = newest_open - (self.max_rows - 1) * MINUTE_MS
        cutoff = -(-cutoff // DAY_MS) * DAY_MS
        k = int(np.searchsorted(self.data[: self.n, _OT], cutoff, side="left"))
        if k:
            self.data[: self.n - k] = self.data[k : self.n]
            self.n -= k

    @property
    def open_times(self) -> np.ndarray:
        return self.data[: self.n, _OT]

    def last_open(self) -> int | None:
        return int(self.data[self.n - 1, _OT]) if self.n else None

    def fill_empty_until(self, open_time: int) -> None:
        """Append zero-volume bars at the last close for every minute up to `open_time`."""
        last = self.last_open()
        if last is None or open_time <= last:
            return
        k = (open_time - last) // MINUTE_MS
        close = self.data[self.n - 1, _C]
        rows = np.zeros((k, _NCOLS), dtype=np.int64)
        rows[:, _OT] = last + MINUTE_MS * np.arange(1, k + 1, dtype=np.int64)
        rows[:, _O : _C + 1] = close
        rows[:, _F] = -1
        rows[:, _LID] = -1
        self.append_rows(rows)


class KlineStore:
    """1m history + live bars per symbol, served as klines of any supported interval."""

    def __init__(
        self, grids: dict[str, WireGrid], *, retention_minutes: int = DEFAULT_RETENTION_MINUTES
    ) -> None:
        if retention_minutes < 1440:
            raise ValueError("retention_minutes must be at least one day (1440)")
        self._grids = grids
        self.retention_minutes = retention_minutes
        self._bars = {s: _MinuteBars(retention_minutes) for s in grids}

    # --- writing ------------------------------------------------------------------------------

    def load_history(self, bars: KlineBars) -> None:
        """Prepend-free bulk load of detailed 1m bars (exchange time, contiguous minutes).

        Bars must carry quote volume, trade count and taker-buy columns (see
        `exchange_sim.replay.synth.with_details` for 6-column OHLCV sources) and must start at
        or after the store's last bar.
        """
        if bars.interval_ms != MINUTE_MS:
            raise ValueError("history must be 1m bars")
        if len(bars) == 0:
            return
        if not bars.has_details:
            raise ValueError(f"{bars.symbol}: history bars lack quote/count/taker columns")
        if np.any(np.diff(bars.open_time) != MINUTE_MS) or bars.open_time[0] % MINUTE_MS:
            raise ValueError(f"{bars.symbol}: history bars must be contiguous whole minutes")
        store = self._bars[bars.symbol]
        last = store.last_open()
        if last is not None and bars.open_time[0] <= last:
            raise ValueError(f"{bars.symbol}: history overlaps bars already in the store")
        store.fill_empty_until(int(bars.open_time[0]) - MINUTE_MS)
        rows = np.empty((len(bars), _NCOLS), dtype=np.int64)
        rows[:, _OT] = bars.open_time
        rows[:, _O] = bars.open
        rows[:, _H] = bars.high
        rows[:, _L] = bars.low
        rows[:, _C] = bars.close
        rows[:, _V] = bars.volume
        rows[:, _Q] = bars.quote_volume
        rows[:, _N] = bars.trade_count
        rows[:, _TBV] = bars.taker_buy_volume
        rows[:, _TBQ] = bars.taker_buy_quote_volume
        rows[:, _F] = -1
        rows[:, _LID] = -1
        store.append_rows(rows)

    def add_trade(
        self,
        symbol: str,
        *,
        time_ms: int,
        price_ticks: int,
        qty_steps: int,
        buyer_is_maker: bool,
        first_trade_id: int,
        last_trade_id: int,
    ) -> None:
        """Fold one published aggregate trade (exchange time) into its 1m bar.

        Trades must arrive in time order; one older than the current bar raises ValueError.
        Reads create the still-empty minutes up to their `now_ms`, so read with the time of the
        last published trade (not a clock that runs ahead of the publishing).
        """
        store = self._bars[symbol]
        grid = self._grids[symbol]
        open_time = time_ms - time_ms % MINUTE_MS
        last = store.last_open()
        if last is not None and open_time < last:
            raise ValueError(f"{symbol}: trade at {time_ms} is older than the current kline")
        count = last_trade_id - first_trade_id + 1
        quote = grid.quote_units(price_ticks, qty_steps)
        buy = not buyer_is_maker
        if last is None or open_time > last:
            store.fill_empty_until(open_time - MINUTE_MS)
            row = np.array(
                [
                    open_time,
                    price_ticks,
                    price_ticks,
                    price_ticks,
                    price_ticks,
                    qty_steps,
                    quote,
                    count,
                    qty_steps if buy else 0,
                    quote if buy else 0,
                    first_trade_id,
                    last_trade_id,
                ],
                dtype=np.int64,
            )
            store.append_rows(row[None, :])
            return
        r = store.data[store.n - 1]
        if r[_V] == 0 and r[_N] == 0:  # an empty filler bar: the first trade sets the open
            r[_O] = r[_H] = r[_L] = price_ticks
            r[_F] = first_trade_id
        r[_H] = max(r[_H], price_ticks)
        r[_L] = min(r[_L], price_ticks)
        r[_C] = price_ticks
        r[_V] += qty_steps
        r[_Q] += quote
        r[_N] += count
        if buy:
            r[_TBV] += qty_steps
            r[_TBQ] += quote
        if r[_F] < 0:
            r[_F] = first_trade_id
        r[_LID] = last_trade_id

    # --- reading ------------------------------------------------------------------------------

    def last_open(self, symbol: str) -> int | None:
        """Open time of the newest 1m bar of `symbol` (None: none yet); a trade before it is
        refused by `add_trade`."""
        return self._bars[symbol].last_open()

    def klines(
        self,
        symbol: str,
        interval: str,
        *,
        now_ms: int,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> list[KlineRow]:
        """`GET /fapi/v1/klines` semantics (section 5.6), never returning klines after `now_ms`.

        Raises BinanceError -1121 (unknown symbol), -1120 (bad interval), -1130 (bad limit).
        """
        if symbol not in self._bars:
            raise BinanceError(-1121, "Invalid symbol.")
        if interval not in INTERVAL_MS:
            raise BinanceError(-1120, "Invalid interval.")
        if limit is None:
            limit = DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        store = self._bars[symbol]
        if store.n == 0:
            return []
        store.fill_empty_until(now_ms - now_ms % MINUTE_MS)
        iv = INTERVAL_MS[interval]
        first_open = int(store.data[0, _OT])
        first_bucket = first_open - first_open % iv
        now_bucket = now_ms - now_ms % iv
        if start_time is not None:
            lo = max(first_bucket, -(-start_time // iv) * iv)
            hi = now_bucket if end_time is None else min(now_bucket, end_time - end_time % iv)
            hi = min(hi, lo + (limit - 1) * iv)
        else:
            hi = now_bucket if end_time is None else min(now_bucket, end_time - end_time % iv)
            lo = max(first_bucket, hi - (limit - 1) * iv)
        if hi < lo:
            return []
        return self._aggregate(symbol, interval, lo, hi, now_ms)

    def kline(self, symbol: str, interval: str, open_time: int, *, now_ms: int) -> KlineRow | None:
        """The kline of `interval` opening at `open_time` (for stream updates); None if unknown."""
        rows = self._aggregate(symbol, interval, open_time, open_time, now_ms)
        return rows[0] if rows else None

    def current(self, symbol: str, interval: str, *, now_ms: int) -> KlineRow | None:
        """The still-open kline containing `now_ms` (what `<symbol>@kline_<i>` pushes)."""
        iv = INTERVAL_MS[interval]
        store = self._bars[symbol]
        if store.n == 0:
            return None
        store.fill_empty_until(now_ms - now_ms % MINUTE_MS)
        return self.kline(symbol, interval, now_ms - now_ms % iv, now_ms=now_ms)

    def _aggregate(
        self, symbol: str, interval: str, lo_bucket: int, hi_bucket: int, now_ms: int
    ) -> list[KlineRow]:
        iv = INTERVAL_MS[interval]
        store = self._bars[symbol]
        ot = store.open_times
        a = int(np.searchsorted(ot, lo_bucket, side="left"))
        b = int(np.searchsorted(ot, hi_bucket + iv, side="left"))
        if b <= a:
            return []
        d = store.data[a:b]
        buckets = d[:, _OT] - d[:, _OT] % iv
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], len(d)] - 1
        high = np.maximum.reduceat(d[:, _H], starts)
        low = np.minimum.reduceat(d[:, _L], starts)
        sums = np.add.reduceat(d[:, [_V, _Q, _N, _TBV, _TBQ]], starts, axis=0)
        # trade ids grow with time: first = min over traded minutes, last = max (-1 = none)
        f_ids = np.where(d[:, _F] >= 0, d[:, _F], _NO_ID)
        first_ids = np.minimum.reduceat(f_ids, starts)
        first_ids[first_ids == _NO_ID] = -1
        last_ids = np.maximum.reduceat(d[:, _LID], starts)
        grid = self._grids[symbol]
        p, q, quote = grid.price_str, grid.qty_str, grid.quote_str
        cols = zip(
            buckets[starts].tolist(),
            d[starts, _O].tolist(),
            high.tolist(),
            low.tolist(),
            d[ends, _C].tolist(),
            sums.tolist(),
            first_ids.tolist(),
            last_ids.tolist(),
            strict=True,
        )
        out: list[KlineRow] = []
        for open_time, o, h, lo, c, (v, qv, n, tbv, tbq), f, last in cols:
            close_time = open_time + iv - 1
            out.append(
                KlineRow(
                    symbol=symbol,
                    interval=interval,
                    open_time=open_time,
                    close_time=close_time,
                    open=p(o),
                    high=p(h),
                    low=p(lo),
                    close=p(c),
                    volume=q(v),
                    quote_volume=quote(qv),
                    trade_count=n,
                    taker_buy_volume=q(tbv),
                    taker_buy_quote_volume=quote(tbq),
                    first_trade_id=f,
                    last_trade_id=last,
                    closed=close_time < now_ms,
                )
            )
        return out


def kline_message(row: KlineRow, *, event_time_ms: int) -> dict:
    """`<symbol>@kline_<interval>` payload; `k.x` is the row's closed flag."""
    return {
        "e": "kline",
        "E": event_time_ms,
        "s": row.symbol,
        "k": {
            "t": row.open_time,
            "T": row.close_time,
            "s": row.symbol,
            "i": row.interval,
            "f": row.first_trade_id,
            "L": row.last_trade_id,
            "o": row.open,
            "c": row.close,
            "h": row.high,
            "l": row.low,
            "v": row.volume,
            "n": row.trade_count,
            "x": row.closed,
            "q": row.quote_volume,
            "V": row.taker_buy_volume,
            "Q": row.taker_buy_quote_volume,
            "B": "0",
        },
    }


def kline_rest_row(row: KlineRow) -> list:
    """One 12-item element of `GET /fapi/v1/klines`."""
    return [
        row.open_time,
        row.open,
        row.high,
        row.low,
        row.close,
        row.volume,
        row.close_time,
        row.quote_volume,
        row.trade_count,
        row.taker_buy_volume,
        row.taker_buy_quote_volume,
        "0",
    ]
