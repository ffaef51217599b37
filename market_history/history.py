"""`get_price_history`: klines for a time range from the store, fetching only what is missing.

The returned DataFrame has a UTC `DatetimeIndex` of bar open times and float columns for
analysis (open, high, low, close, volume, quote_volume, taker_buy_volume,
taker_buy_quote_volume, trade_count); `exact=True` keeps Decimal values instead. What the
exchange does not have (outages) or does not have yet is listed in `frame.attrs["missing"]`
as half-open ms ranges of open times — never filled in.
"""

from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

import pandas as pd

from gateway.market_rest import MarketDataRest
from market_history.download import download_klines, kline_gaps
from market_history.schema import KLINE_DECIMALS, Kind
from market_history.store import HistoryStore, merge_ranges

TimeLike: TypeAlias = int | str | datetime | pd.Timestamp


def utc_timestamp(value: str | datetime | pd.Timestamp) -> pd.Timestamp:
    """`value` as a UTC Timestamp; strings and naive datetimes are read as UTC, and so are
    "now" and "today" (pandas alone reads those two in the machine's local time). NaT for
    "" and "NaT"; ValueError for what is not a date."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word in ("now", "today"):
        ts = pd.Timestamp.now(tz="UTC")
        return ts.floor("D") if word == "today" else ts
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return ts
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_epoch_ms(value: TimeLike) -> int:
    """ms since the epoch; strings and naive datetimes are read as UTC (see `utc_timestamp`)."""
    if isinstance(value, int):
        return value
    ts = utc_timestamp(value)
    if pd.isna(ts):
        raise ValueError(f"not a date: {value!r}")
    return int(ts.value // 1_000_000)


async def get_price_history(
    symbol: str,
    start: TimeLike,
    end: TimeLike,
    interval: str = "1m",
    *,
    store: HistoryStore,
    rest: MarketDataRest | None,
    exact: bool = False,
) -> pd.DataFrame:
    """Bars with open time in [start, end); `rest=None` reads the store only (offline)."""
    kind = Kind.klines(interval)
    start_ms = to_epoch_ms(start)
    end_ms = to_epoch_ms(end)
    if end_ms <= start_ms:
        raise ValueError(f"end {end!r} is not after start {start!r}")
    start_ms = kind.floor(start_ms)
    end_ms = kind.ceil(end_ms)
    if rest is not None and store.missing(symbol, kind, start_ms, end_ms):
        await download_klines(rest, store, symbol, interval, start_ms, end_ms)
    table = store.read(symbol, kind, start_ms, end_ms)
    uncovered = store.missing(symbol, kind, start_ms, end_ms)
    holes = kline_gaps(store, symbol, kind, start_ms, end_ms)
    frame = table.to_pandas()
    for col in KLINE_DECIMALS:
        if exact:
            frame[col] = [None if v is None else Decimal(v) for v in frame[col]]
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame.index = pd.DatetimeIndex(
        pd.to_datetime(frame.pop("open_time"), unit="ms", utc=True), name="open_time"
    )
    frame.attrs["missing"] = merge_ranges(holes + uncovered)
    frame.attrs["symbol"] = symbol
    frame.attrs["interval"] = interval
    return frame


__all__ = ["get_price_history", "to_epoch_ms", "utc_timestamp"]
