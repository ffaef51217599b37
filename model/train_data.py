"""The training data: a kline window read from CSV(.gz) or a history store's Parquet, checked
(columns, finite positive prices, bars the backtester takes, bar spacing = --interval), and its
hash; InputError in one line for anything unusable. Times in epoch ms."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model import features
from model.input_error import InputError
from model.inputs import (
    BINANCE_KLINE_COLUMNS,
    EMPTY_FILE,
    HEADER_ONLY,
    bar_problem,
    bars_in_time_order,
    cell_problem,
    data_span,
    headerless_width,
    open_time_ms,
    to_float_columns,
    utc_minute,
    without_repeated_headers,
)

if TYPE_CHECKING:
    import pandas as pd


INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


def interval_text(ms: int) -> str:
    """A bar spacing as --interval names it (`1m`, not `60000 ms`), else in seconds."""
    names = {v: k for k, v in INTERVAL_MS.items()}
    return names.get(ms, f"{ms / 1000:g} s")


def utc_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def load_bars(
    path: Path, *, symbol: str, interval: str, start_ms: int | None, end_ms: int | None
) -> pd.DataFrame:
    """The kline window [start, end) as a DataFrame; InputError on anything unusable."""
    import pandas as pd

    from backtest.data import DataError, store_folder, symbol_in_name  # the backtester's rules

    if path.is_dir():
        try:
            path = store_folder(path, symbol=symbol, interval=interval)
        except DataError as e:  # the same message
            raise InputError(str(e)) from None
    elif not path.is_file():
        raise InputError(f"--data {path}: no such file")

    named = symbol_in_name(path)
    if named is not None and named != symbol.upper():
        raise InputError(f"--data {path.name} holds {named}, not --symbol {symbol}")
    if path.is_dir() or path.suffix == ".parquet":
        df = _read_parquet(path)
    else:
        try:
            width = headerless_width(path)
            df = pd.read_csv(path, header=None if width else "infer",
                             names=BINANCE_KLINE_COLUMNS[:width] if width else None)  # fmt: skip
        except pd.errors.EmptyDataError:  # said "No columns to parse from file"
            raise InputError(f"--data {path}: {EMPTY_FILE}") from None
        except Exception as e:  # pandas raises many types for a bad file
            raise InputError(
                f"--data {path}: cannot read as CSV ({type(e).__name__}: {e})"
            ) from None
    df = without_repeated_headers(df).rename(columns={"count": "trade_count"})
    if not len(df):  # said "no bars in the requested window" when no window was asked for
        raise InputError(f"--data {path}: {HEADER_ONLY}")
    need = ["open_time", *features.BAR_COLUMNS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"--data {path}: missing column(s) {', '.join(missing)}")
    _check_cells(df, ("open_time",), path)  # the window compares it
    df = to_float_columns(df, ("open_time",))
    df["open_time"] = open_time_ms(df["open_time"].to_numpy())
    values = (*features.BAR_COLUMNS, *(c for c in features.FLOW_COLUMNS if c in df.columns))
    df, problem = bars_in_time_order(df, values)
    if problem is not None:
        raise InputError(f"--data {path}: {problem}")
    whole = df["open_time"]
    if start_ms is not None:
        df = df[df["open_time"] >= start_ms]
    if end_ms is not None:
        df = df[df["open_time"] < end_ms]
    if len(df) == 0:
        raise InputError(
            f"--data {path}: no bars in the requested window{_window(start_ms, end_ms)}"
            f"{data_span(whole)}"
        )
    # The window's cells only, before reset_index, so a bad one is named by its file row.
    _check_cells(df, values, path)
    df = to_float_columns(df, values)
    if (problem := bar_problem(df)) is not None:
        raise InputError(f"--data {path}: {problem}")
    df = df.reset_index(drop=True)
    ot = df["open_time"].to_numpy()
    step = INTERVAL_MS[interval]
    if len(ot) > 1 and int(np.median(np.diff(ot))) != step:
        found = int(np.median(np.diff(ot)))
        raise InputError(
            f"--data {path}: bars are {interval_text(found)} apart, not --interval {interval}"
        )
    px = df[list(features.BAR_COLUMNS)].to_numpy(dtype=float)
    if not np.isfinite(px).all() or (df[["open", "high", "low", "close"]] <= 0).any().any():
        raise InputError(f"--data {path}: non-finite or non-positive prices in the window")
    return df


def _window(start_ms: int | None, end_ms: int | None) -> str:
    """' 2025-04-05 00:00 .. 2025-05-05 00:00 UTC': the window asked for, which a caller
    may have derived (model.review's --train-days before its evaluation window)."""
    if start_ms is not None and end_ms is not None:
        return f" {utc_minute(start_ms)} .. {utc_minute(end_ms)} UTC"
    if start_ms is not None:
        return f" from {utc_minute(start_ms)} UTC"
    if end_ms is not None:
        return f" before {utc_minute(end_ms)} UTC"
    return ""


def _read_parquet(path: Path) -> pd.DataFrame:
    """A market_history store's kline day file, or a folder of them, as a DataFrame sorted by
    open time. The store keeps prices as decimal strings (converted by the caller's checks)
    and nulls where a source had no taker volume or trade count (plain OHLCV imports): such a
    flow column is left out, so the flow features are off rather than a cell error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    try:
        table = pa.concat_tables(
            [pq.read_table(f).replace_schema_metadata(None) for f in files],
            promote_options="default",
        )
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"--data {path}: cannot read as Parquet ({e})") from None
    df = table.to_pandas()
    if "open_time" in df.columns:
        df = df.sort_values("open_time", kind="stable").reset_index(drop=True)
    partial = [c for c in features.FLOW_COLUMNS if c in df.columns and df[c].isna().any()]
    if partial:
        df = df.drop(columns=list(features.FLOW_COLUMNS), errors="ignore")
    return df


def _check_cells(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    problem = cell_problem(df, columns)
    if problem is not None:
        raise InputError(f"--data {path}: {problem}")


def _hashed_columns(flow: bool) -> list[str]:
    return ["open_time", *features.BAR_COLUMNS] + (list(features.FLOW_COLUMNS) if flow else [])


def data_hash_of(flow: bool) -> str:
    """What `data_hash` hashes, in words, for the model file beside the hash."""
    cols = ",".join(_hashed_columns(flow))
    return (
        f"the training window's columns {cols} as float64 (model.train_data.data_hash), not "
        "the file's bytes"
    )


def data_hash(df: pd.DataFrame, flow: bool) -> str:
    """sha256 of the window's bars (each column's name, then its values as float64): equal for
    the same bars read from a CSV or a history store, whatever their text or file layout."""
    cols = _hashed_columns(flow)
    h = hashlib.sha256()
    for c in cols:
        h.update(c.encode())
        h.update(np.ascontiguousarray(df[c].to_numpy(dtype=float)).tobytes())
    return h.hexdigest()
