"""Importers for history files, normalized to the store's schema (symbols, ms UTC, exact strings).

Formats:
- Binance public data (data.binance.vision) klines: 12 columns `open_time, open, high, low,
  close, volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume,
  ignore`, with or without a header row; times in ms or (spot files since 2025) in us.
- Binance public data aggTrades: `agg_trade_id, price, quantity, first_trade_id,
  last_trade_id, transact_time, is_buyer_maker[, is_best_match]`, header optional.
- Plain OHLCV CSV: a header with a time column (`open_time`, `date`, `timestamp` or `time`;
  epoch s/ms/us or an ISO date-time, UTC) and `open, high, low, close, volume`. Trade count
  and taker volumes are unknown there and stored as null.
Decimal fields keep the file's text (`"61828.0"` stays `"61828.0"`); compare with Decimal.
"""

import csv
import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from market_history.schema import AGG_TRADES_SCHEMA, KLINES_SCHEMA, Kind, to_ms
from market_history.store import HistoryStore

_TIME_COLUMNS = ("open_time", "date", "timestamp", "time", "datetime")


def _rows(path: str | os.PathLike[str]) -> Iterator[list[str]]:
    p = Path(path)
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if row:
                yield [c.strip() for c in row]


def _is_header(row: list[str]) -> bool:
    return not row[0].lstrip("-").isdigit()


def _body(rows: list[list[str]]) -> list[list[str]]:
    """The data rows: without the header line, nor that line met again inside the file (two
    downloads concatenated with their headers, `cat a.csv b.csv`; a second file's byte-order
    mark no difference), as the backtester reads them (`backtest.data`)."""
    if not rows or not _is_header(rows[0]):
        return rows
    first, rest = rows[0][0].lstrip("\ufeff"), rows[0][1:]
    return [r for r in rows[1:] if not (r[0].lstrip("\ufeff") == first and r[1:] == rest)]


def read_binance_klines_csv(path: str | os.PathLike[str]) -> pa.Table:
    rows = _body(list(_rows(path)))
    for r in rows:
        if len(r) < 11:
            raise ValueError(f"{path}: not a 12-column klines row: {r}")
    return pa.table(
        {
            "open_time": pa.array([to_ms(int(r[0])) for r in rows], pa.int64()),
            "open": [r[1] for r in rows],
            "high": [r[2] for r in rows],
            "low": [r[3] for r in rows],
            "close": [r[4] for r in rows],
            "volume": [r[5] for r in rows],
            "close_time": pa.array([to_ms(int(r[6])) for r in rows], pa.int64()),
            "quote_volume": [r[7] for r in rows],
            "trade_count": pa.array([int(r[8]) for r in rows], pa.int64()),
            "taker_buy_volume": [r[9] for r in rows],
            "taker_buy_quote_volume": [r[10] for r in rows],
        },
        schema=KLINES_SCHEMA,
    )


def read_binance_agg_trades_csv(path: str | os.PathLike[str]) -> pa.Table:
    rows = _body(list(_rows(path)))
    for r in rows:
        if len(r) < 7:
            raise ValueError(f"{path}: not an aggTrades row: {r}")
    return pa.table(
        {
            "agg_id": pa.array([int(r[0]) for r in rows], pa.int64()),
            "price": [r[1] for r in rows],
            "qty": [r[2] for r in rows],
            "first_trade_id": pa.array([int(r[3]) for r in rows], pa.int64()),
            "last_trade_id": pa.array([int(r[4]) for r in rows], pa.int64()),
            "trade_time": pa.array([to_ms(int(r[5])) for r in rows], pa.int64()),
            "buyer_is_maker": pa.array([r[6].lower() == "true" for r in rows], pa.bool_()),
        },
        schema=AGG_TRADES_SCHEMA,
    )


def _time_ms(values: list[str]) -> list[int]:
    if all(v.lstrip("-").isdigit() for v in values):
        return [to_ms(int(v)) for v in values]
    stamps = pd.to_datetime(pd.Series(values), utc=True)
    return [int(ts.value // 1_000_000) for ts in stamps]


def read_ohlcv_csv(path: str | os.PathLike[str], interval: str) -> pa.Table:
    kind = Kind.klines(interval)
    step = kind.step_ms
    rows = list(_rows(path))
    if not rows or not _is_header(rows[0]):
        raise ValueError(f"{path}: a plain OHLCV CSV needs a header row")
    header = [h.lower() for h in rows[0]]
    time_col = next((c for c in _TIME_COLUMNS if c in header), None)
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in header]
    if time_col is None or missing:
        raise ValueError(f"{path}: need a time column and open/high/low/close/volume")
    ix = {name: header.index(name) for name in header}
    body = _body(rows)
    opens = _time_ms([r[ix[time_col]] for r in body])
    for t in opens:
        if kind.floor(t) != t:
            raise ValueError(f"{path}: open time {t} is not on the {interval} grid")
    nulls = pa.nulls(len(body), pa.string())
    return pa.table(
        {
            "open_time": pa.array(opens, pa.int64()),
            "open": [r[ix["open"]] for r in body],
            "high": [r[ix["high"]] for r in body],
            "low": [r[ix["low"]] for r in body],
            "close": [r[ix["close"]] for r in body],
            "volume": [r[ix["volume"]] for r in body],
            "close_time": pa.array([t + step - 1 for t in opens], pa.int64()),
            "quote_volume": nulls,
            "trade_count": pa.nulls(len(body), pa.int64()),
            "taker_buy_volume": nulls,
            "taker_buy_quote_volume": nulls,
        },
        schema=KLINES_SCHEMA,
    )


def import_file(
    store: HistoryStore,
    path: str | os.PathLike[str],
    *,
    symbol: str,
    kind: Kind,
    layout: str = "binance",
) -> int:
    """Import one file (`layout` "binance" or "ohlcv"); returns the number of new rows.

    The file's span (first to last row) is recorded as covered: a bar missing inside it is an
    outage of the source, reported by the store's readers rather than fetched again.
    """
    if kind.name == "aggTrades":
        if layout != "binance":
            raise ValueError("aggTrades can only be imported from the Binance layout")
        table = read_binance_agg_trades_csv(path)
        step = 1
    elif layout == "binance":
        table = read_binance_klines_csv(path)
        step = kind.step_ms
    elif layout == "ohlcv":
        table = read_ohlcv_csv(path, kind.interval or "")
        step = kind.step_ms
    else:
        raise ValueError(f"unknown layout {layout!r} (binance, ohlcv)")
    if table.num_rows == 0:
        return 0
    times = table[kind.time_column].to_pylist()
    return store.write(symbol, kind, table, covered=[(min(times), max(times) + step)])
