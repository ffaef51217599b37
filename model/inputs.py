"""Checks of command-line inputs shared by the model and analysis commands, each returning a
problem as one line of text (or None) so every command can word and exit on it its own way.

- `bar_problem`: the first bar that is no bar (a negative volume, a high below its low), as the
  backtester refuses it;
- `cell_problem`: the first cell of a CSV column that is not a finite number, named by column
  and row, so a bad value in a 100,000-row file can be found without a traceback;
- `write_problem` (from `core.atomic_file`): whether a file can be written under a directory
  that may not exist yet, checked before minutes of work rather than at the save;
- `BINANCE_KLINE_COLUMNS`: the names of data.binance.vision's 12 kline columns, for files
  without a header line (`headerless_width`: 12 numbers a line, or plain OHLCV's 6);
  `open_time_ms`: their open times in s, ms, us or ns as ms;
- `bars_in_time_order`: the bars sorted by open time, a bar repeated identically dropped, as
  the backtester reads a file made of overlapping downloads (`backtest.data.bar_rows`);
- `without_repeated_headers`: a file's header line met again inside it (downloads concatenated
  with their headers) dropped, as the backtester skips it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.atomic_file import write_problem
from core.csv_header import header_names

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BINANCE_KLINE_COLUMNS",
    "EMPTY_FILE",
    "HEADER_ONLY",
    "bar_problem",
    "bars_in_time_order",
    "cell_problem",
    "data_span",
    "headerless_width",
    "open_time_ms",
    "symbol_of",
    "to_float_columns",
    "without_repeated_headers",
    "write_problem",
]

# data.binance.vision's 12-column klines layout (older files have no header line).
BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


def _where(label: object) -> str:
    import numpy as np

    # pandas numbers the data rows from 0 and the header is line 1 of the file.
    if isinstance(label, int | np.integer):
        return f"row {label + 1} (line {label + 2})"
    return f"row {label}"


def cell_problem(df: pd.DataFrame, columns: Iterable[str]) -> str | None:
    """'column close is not numeric at row 3 (line 4): 'abc'' for the first cell of `columns`
    that is not a finite number (text, empty, inf), or None. `df` must keep the index
    `pandas.read_csv` gave it (row positions in the file), so filter it before
    `reset_index`."""
    import numpy as np
    import pandas as pd

    for c in columns:
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        bad = ~np.isfinite(num.to_numpy(dtype=float))
        if not bad.any():
            continue
        label = df.index[int(np.argmax(bad))]
        value = raw.loc[label]
        if not pd.isna(num.loc[label]):
            return f"column {c} is not finite at {_where(label)}: {value}"
        if pd.isna(value) or (isinstance(value, str) and not value.strip()):
            return f"column {c} is empty at {_where(label)}"
        return f"column {c} is not numeric at {_where(label)}: {value!r}"
    return None


def symbol_of(text: str) -> str | None:
    """--symbol as fetch_historical.py takes it and names the store's folder ("BTC/USDT",
    "btcusdt" -> "BTCUSDT"), or None when it is no symbol. "BTC/USDT" was taken as typed: a
    store was searched under BTC/USDT/ ('no USDT/klines-1m'), and a model recorded a symbol no
    daemon or backtester trades."""
    from market_history.schema import normalize_symbol

    try:
        return normalize_symbol(text)
    except ValueError:
        return None


def bar_problem(df: pd.DataFrame) -> str | None:
    """'column high is below low at row 3 (line 4): 94611.0 < 94621.0' for the first bar that
    is not one (a negative volume or taker buy volume, a high below the low, open or close, a
    low above the open or close), or None: the backtester refuses such a file
    (`backtest.data.check_klines`), so it must not train a model either. `df` holds numbers
    (after `to_float_columns`) and keeps `pandas.read_csv`'s index, as for `cell_problem`."""
    import numpy as np

    # (column, the other column or None for 0, "below" / "above" / "negative")
    checks: list[tuple[str, str | None, str]] = [
        (c, None, "negative") for c in ("volume", "taker_buy_volume") if c in df.columns
    ]
    checks += [("high", c, "below") for c in ("low", "open", "close")]
    checks += [("low", c, "above") for c in ("open", "close")]
    found: tuple[int, str] | None = None
    for column, other, how in checks:
        a = df[column].to_numpy(dtype=float)
        b = np.zeros(len(a)) if other is None else df[other].to_numpy(dtype=float)
        mask = a > b if how == "above" else a < b
        if not mask.any() or (found is not None and int(np.argmax(mask)) >= found[0]):
            continue
        i = int(np.argmax(mask))
        where = _where(df.index[i])
        if other is None:
            text = f"column {column} is negative at {where}: {float(a[i])!r}"
        else:
            sign = "<" if how == "below" else ">"
            text = (
                f"column {column} is {how} {other} at {where}: {float(a[i])!r} {sign} "
                f"{float(b[i])!r}"
            )
        found = (i, text)
    return None if found is None else found[1]


def to_float_columns(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`df` with `columns` as numbers (after `cell_problem` found none bad): a column that held
    text elsewhere in the file is still of object dtype in the rows kept."""
    import pandas as pd

    df = df.copy()
    for c in columns:
        df[c] = pd.to_numeric(df[c])
    return df


def open_time_ms(t: Any) -> Any:
    """Epoch open times in s, ms, us or ns (an array) as int64 ms, element by element, as the
    backtester and the history store read them (`market_history.schema.to_ms`): Binance's spot
    files moved to microseconds."""
    import numpy as np

    t = np.asarray(t, dtype=np.int64)
    return np.where(
        t >= 10**17,
        t // 1_000_000,
        np.where(t >= 10**14, t // 1_000, np.where(t < 10**11, t * 1_000, t)),
    )


def bars_in_time_order(df: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, str | None]:
    """(`df`'s rows in time order, a bar that repeats an earlier one in open time and in each of
    `columns` present dropped, problem), by the backtester's rule (`backtest.data.bar_rows`),
    so a file it replays trains and plots too; the problem names a repeated open time holding
    another bar, by its file row. `df` is as `pandas.read_csv` gave it (its index the file's
    rows, kept: a later check still names a cell by its row), its open_time in ms."""
    from backtest.data import RepeatedTime, bar_rows

    values = [df[c].to_numpy() for c in columns if c in df.columns]
    try:
        rows = bar_rows(df["open_time"].to_numpy(), values)
    except RepeatedTime as e:
        return df, f"{e} at {_where(df.index[e.row])}"
    return (df if rows is None else df.iloc[rows]), None


# What an empty file and a file of a header line alone are, as the backtester says them.
EMPTY_FILE = "no rows (an empty file)"
HEADER_ONLY = "no data rows (only a header line)"


def without_repeated_headers(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with its columns named as the backtester reads a header (`core.csv_header`: a
    header written `open_time, open, high` or `Open_Time,Open,High` was 'missing column(s)
    open, high, ...'), and without the rows that repeat its header line (two downloads
    concatenated with their headers, `cat a.csv b.csv`), compared alike, as the backtester
    skips them (`backtest.data`): such a file was refused ("column open_time is not numeric
    at row 5001 (line 5002): 'open_time'"). The index (the file's rows) is kept, so a later
    check names a cell by its line. A first column read as numbers has none: one test."""
    import numpy as np
    import pandas as pd

    names = header_names(df.columns)
    if names != list(df.columns):
        df = df.set_axis(names, axis=1)
    if not len(df) or pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        return df
    first = df.iloc[:, 0].astype(str).str.strip().str.lstrip("\ufeff").str.lower()
    rows = np.flatnonzero(first.to_numpy() == names[0])
    header = [i for i in rows.tolist() if header_names(df.iloc[i]) == names]  # a few rows
    return df.drop(index=df.index[header]) if header else df


def utc_minute(ms: int) -> str:
    """Epoch ms as `2025-05-05 12:34` (UTC), as the tools name a bar's time."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def data_span(open_time: pd.Series) -> str:
    """` (the data runs from A to B UTC)`, its first and last bars' open times, as the
    backtester says it: a window that misses the file is told where the file is."""
    if not len(open_time):
        return ""
    first, last = utc_minute(int(open_time.min())), utc_minute(int(open_time.max()))
    return f" (the data runs from {first} to {last} UTC)"


def headerless_width(path: Path) -> int:
    """The number of columns when the first line is 12 numbers (a Binance klines file without
    a header row) or 6 (plain OHLCV without one: Binance's first six columns, as the
    backtester reads it); 0 when it is a header or anything else: training and the analysis
    commands name the columns `BINANCE_KLINE_COLUMNS[:width]`. A byte-order mark before it (a
    spreadsheet's "CSV UTF-8") is none of its cells: the first bar was taken for a header
    ("missing column(s) open_time, ...")."""
    import gzip

    try:
        opened = gzip.open if path.suffix == ".gz" else open
        with opened(path, "rt", encoding="utf-8-sig") as fh:  # type: ignore[operator]
            cells = fh.readline().strip().split(",")
        [float(c) for c in cells]
    except (OSError, UnicodeDecodeError, EOFError, ValueError):
        return 0
    return len(cells) if len(cells) in (6, len(BINANCE_KLINE_COLUMNS)) else 0
