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
import itertools
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.csv_header import header_names, is_data_row
from market_history.schema import AGG_TRADES_SCHEMA, KLINES_SCHEMA, Kind, to_ms
from market_history.store import HistoryStore

_TIME_COLUMNS = ("open_time", "date", "timestamp", "time", "datetime")


# The names of Binance's header lines, for a file that starts without one (its older months)
# and meets one later (a newer month concatenated after it).
_KLINE_NAMES = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
_AGG_TRADE_NAMES = (
    "agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time",
    "is_buyer_maker",
)  # fmt: skip


def _open(path: str | os.PathLike[str]) -> io.TextIOWrapper:
    """UTF-8 that may start with a byte-order mark (a spreadsheet's "CSV UTF-8" export: its
    first name was read as "\ufeffopen_time")."""
    p = Path(path)
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _rows(path: str | os.PathLike[str]) -> Iterator[list[str]]:
    """The non-empty rows, their cells stripped."""
    with _open(path) as fh:
        for row in csv.reader(fh):
            if row:
                yield [c.strip() for c in row]


def _numbered_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[str]]]:
    """(the line a row ends on, its cells) of `_rows`: for error messages only (a line number
    kept for every row would cost on every row)."""
    with _open(path) as fh:
        reader = csv.reader(fh)
        for row in reader:
            if row:
                yield reader.line_num, [c.strip() for c in row]


def _is_header(row: list[str]) -> bool:
    return not is_data_row(row[0])


def _header(first: list[str], names: tuple[str, ...]) -> tuple[list[str], bool]:
    """(the header line's names whose repeats are dropped, whether `first` is that line): the
    file's own, or in a file without one the layout's `names` (Binance's, which its newer
    months have after its headerless older ones)."""
    if _is_header(first):
        return header_names(first), True
    return list(names), False


def _repeats(row: list[str], header: list[str]) -> bool:
    """Whether `row` is the header line again; a data row starts with a digit (a time, an id,
    an ISO date) and costs one test."""
    return not row[0][:1].isdigit() and header_names(row[: len(header)]) == header


def _body(path: str | os.PathLike[str], names: tuple[str, ...] = ()) -> list[list[str]]:
    """The data rows: without the header line, nor that line met again inside the file (two
    downloads concatenated with their headers, `cat a.csv b.csv`), nor, in a file without a
    header, the layout's own header `names`, as the backtester reads them (`backtest.data`);
    names compare as `core.csv_header` says (blanks, a byte-order mark, the case). ValueError
    in one line for a file without data rows."""
    rows = list(_rows(path))
    if not rows:
        raise ValueError(f"{path}: no rows (an empty file)")
    header, has_one = _header(rows[0], names)
    body = rows[1:] if has_one else rows
    if header:
        body = [r for r in body if not _repeats(r, header)]
    if not body:
        raise ValueError(f"{path}: no data rows (only a header line)")
    return body


def _line(path: str | os.PathLike[str], names: tuple[str, ...], index: int) -> int:
    """The line of `_body(path, names)[index]`: the file read again (the error path)."""
    rows = _numbered_rows(path)
    line, first = next(rows)
    header, has_one = _header(first, names)
    if not has_one:
        rows = itertools.chain([(line, first)], rows)
    lines = (n for n, r in rows if not (header and _repeats(r, header)))
    return next(itertools.islice(lines, index, None))


def _width(
    path: str | os.PathLike[str], names: tuple[str, ...], body: list[list[str]], need: int
) -> None:
    """ValueError naming the first row with fewer than `need` cells."""
    short = next((i for i, r in enumerate(body) if len(r) < need), None)
    if short is not None:
        whose = "its header" if not names else f"a Binance {_LAYOUTS[names]} row"
        raise ValueError(
            f"{path}: line {_line(path, names, short)} has {len(body[short])} columns, "
            f"fewer than the {need} of {whose}"
        )


def _column(
    path: str | os.PathLike[str],
    names: tuple[str, ...],
    body: list[list[str]],
    i: int,
    kind: str,
) -> pa.Array:
    """Column `i` of the rows: "int" (whole numbers; a time in s, ms, us or ns as ms for
    "time") or "number" (a finite decimal, kept as its text); ValueError naming the file, the
    line, the column and the cell that is none."""
    cells = [r[i] for r in body]
    try:
        if kind == "number":
            strings = pa.array(cells, pa.string())
            if not pc.all(pc.is_finite(pc.cast(strings, pa.float64()))).as_py():
                raise ValueError
            return strings
        values = [to_ms(int(c)) for c in cells] if kind == "time" else [int(c) for c in cells]
        return pa.array(values, pa.int64())
    except (ValueError, OverflowError, pa.ArrowInvalid):
        bad = next(k for k, c in enumerate(cells) if not _is_a(kind, c))
        said = "a number" if kind == "number" else "a whole number"
        if kind != "number" and _is_a("whole", cells[bad]):  # a whole number, but too large
            said = "a 64-bit whole number (out of range)"
        name = names[i] if names else _header(next(_rows(path)), names)[0][i]
        raise ValueError(
            f"{path}: line {_line(path, names, bad)}, column {name}: {cells[bad]!r} is not {said}"
        ) from None


_INT64 = range(-(2**63), 2**63)


def _is_a(kind: str, cell: str) -> bool:
    """Whether `cell` is of `kind` (`_column`'s kinds, or "whole": any whole number, however
    large); the error path only."""
    try:
        if kind == "number":  # as the column is read: float() takes '1_000', pyarrow not
            return math.isfinite(pa.scalar(cell).cast(pa.float64()).as_py())
        value = int(cell)
        if kind == "time":
            value = to_ms(value)
    except (ValueError, OverflowError, pa.ArrowInvalid):
        return False
    return kind == "whole" or value in _INT64


_LAYOUTS = {_KLINE_NAMES: "klines", _AGG_TRADE_NAMES: "aggTrades"}


def read_binance_klines_csv(path: str | os.PathLike[str]) -> pa.Table:
    names = _KLINE_NAMES
    body = _body(path, names)
    _width(path, names, body, 11)

    def column(i: int, kind: str) -> pa.Array:
        return _column(path, names, body, i, kind)

    return pa.table(
        {
            "open_time": column(0, "time"),
            "open": column(1, "number"),
            "high": column(2, "number"),
            "low": column(3, "number"),
            "close": column(4, "number"),
            "volume": column(5, "number"),
            "close_time": column(6, "time"),
            "quote_volume": column(7, "number"),
            "trade_count": column(8, "int"),
            "taker_buy_volume": column(9, "number"),
            "taker_buy_quote_volume": column(10, "number"),
        },
        schema=KLINES_SCHEMA,
    )


def read_binance_agg_trades_csv(path: str | os.PathLike[str]) -> pa.Table:
    names = _AGG_TRADE_NAMES
    body = _body(path, names)
    _width(path, names, body, 7)

    def column(i: int, kind: str) -> pa.Array:
        return _column(path, names, body, i, kind)

    return pa.table(
        {
            "agg_id": column(0, "int"),
            "price": column(1, "number"),
            "qty": column(2, "number"),
            "first_trade_id": column(3, "int"),
            "last_trade_id": column(4, "int"),
            "trade_time": column(5, "time"),
            "buyer_is_maker": pa.array([r[6].lower() == "true" for r in body], pa.bool_()),
        },
        schema=AGG_TRADES_SCHEMA,
    )


def _time_ms(path: str | os.PathLike[str], body: list[list[str]], i: int, name: str) -> list[int]:
    values = [r[i] for r in body]
    if all(v.lstrip("-").isdigit() for v in values):
        return [to_ms(int(v)) for v in values]
    try:
        stamps = pd.to_datetime(pd.Series(values), utc=True)
    except (ValueError, OverflowError):
        raise _bad_time(path, values, name) from None
    return [int(ts.value // 1_000_000) for ts in stamps]


def _bad_time(path: str | os.PathLike[str], values: list[str], name: str) -> ValueError:
    """The error naming the first cell of `values` that is no time, or, each being one alone,
    the first written otherwise than the first cell (pandas reads the column in the first
    one's format, and refuses the column for one cell of another: an epoch time among
    date-times, `2025-05-04T15:34:00Z` after `2025-05-04 15:33:00`). The error path only."""

    def kind(v: str) -> str | None:
        return "epoch" if v.lstrip("-").isdigit() else "date-time" if _iso(v) else None

    bad = next((k for k, v in enumerate(values) if kind(v) is None), None)
    if bad is not None:
        return ValueError(
            f"{path}: line {_line(path, (), bad)}, column {name}: {values[bad]!r} is not a time "
            "(epoch s, ms or us, or an ISO date-time)"
        )
    with warnings.catch_warnings():  # "Could not infer format": the first is an epoch time
        warnings.simplefilter("ignore", UserWarning)
        fits = pd.to_datetime(pd.Series(values), utc=True, errors="coerce").notna().to_numpy()
    first = kind(values[0])
    bad = next((k for k in range(1, len(values)) if kind(values[k]) != first or not fits[k]), 0)
    return ValueError(
        f"{path}: line {_line(path, (), bad)}, column {name}: {values[bad]!r} is written "
        f"otherwise than line {_line(path, (), 0)}'s {values[0]!r} (one time format per column)"
    )


def _iso(text: str) -> bool:
    try:
        pd.Timestamp(text)
    except (ValueError, OverflowError):
        return False
    return True


def read_ohlcv_csv(path: str | os.PathLike[str], interval: str) -> pa.Table:
    kind = Kind.klines(interval)
    step = kind.step_ms
    first = next(_rows(path), None)
    if first is None:
        raise ValueError(f"{path}: no rows (an empty file)")
    if not _is_header(first):
        raise ValueError(f"{path}: a plain OHLCV CSV needs a header row")
    header = header_names(first)
    time_col = next((c for c in _TIME_COLUMNS if c in header), None)
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in header]
    if time_col is None or missing:
        raise ValueError(f"{path}: need a time column and open/high/low/close/volume")
    ix = {name: header.index(name) for name in header}
    body = _body(path)
    _width(path, (), body, len(header))
    opens = _time_ms(path, body, ix[time_col], time_col)
    for k, t in enumerate(opens):
        if kind.floor(t) != t:
            raise ValueError(
                f"{path}: line {_line(path, (), k)}: open time {t} is not on the {interval} grid"
            )

    def column(name: str) -> pa.Array:
        return _column(path, (), body, ix[name], "number")

    nulls = pa.nulls(len(body), pa.string())
    return pa.table(
        {
            "open_time": pa.array(opens, pa.int64()),
            "open": column("open"),
            "high": column("high"),
            "low": column("low"),
            "close": column("close"),
            "volume": column("volume"),
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
