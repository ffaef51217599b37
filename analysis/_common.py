"""Shared plumbing of the analysis commands: one-line input errors (exit 2), reading a kline
file into a DataFrame, and a matplotlib figure saved with the Agg backend."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from core.clock import parse_utc_ms
from model.inputs import (
    BINANCE_KLINE_COLUMNS,
    EMPTY_FILE,
    HEADER_ONLY,
    bars_in_time_order,
    cell_problem,
    data_span,
    headerless_width,
    open_time_ms,
    to_float_columns,
    without_repeated_headers,
)
from runtime.flags import SecretSafeParser, error_line

if TYPE_CHECKING:
    import pandas as pd


class InputError(Exception):
    """A bad command-line input or file: one line on stderr, exit status 2."""


class Parser(SecretSafeParser):
    def fail(self, message: str) -> NoReturn:
        raise InputError(message)


def run(prog: str, body: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """`body(argv)`, with an InputError printed as one line (`analysis.pnl: error: ...`, as the
    other tools' `error_line`) and turned into exit status 2."""
    try:
        return body(argv)
    except InputError as e:
        print(error_line(prog, " ".join(str(e).split())), file=sys.stderr)
        return 2


def parse_time(text: str | None) -> int | None:
    """Epoch ms, or a UTC date / ISO datetime -> epoch ms."""
    if text is None:
        return None
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise InputError(str(e)) from None


def read_csv(path: Path, what: str, names: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    if path.is_dir():  # a history store's root, say: it exists, 'no such file' was untrue
        raise InputError(f"{what} {path}: is a directory, not a CSV file")
    if not path.is_file():
        raise InputError(f"{what} {path}: no such file")
    try:
        return pd.read_csv(path) if names is None else pd.read_csv(path, header=None, names=names)
    except pd.errors.EmptyDataError:  # said "No columns to parse from file"
        raise InputError(f"{what} {path}: {EMPTY_FILE}") from None
    except Exception as e:  # pandas raises many types for a bad file
        raise InputError(f"{what} {path}: cannot read as CSV ({type(e).__name__}: {e})") from None


def numeric_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """InputError naming the column and file row of the first cell that is not a finite
    number: pandas would otherwise fail later with a traceback that names neither."""
    problem = cell_problem(df, columns)
    if problem is not None:
        raise InputError(f"{what}: {problem}")


def need_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}")


def load_klines(
    path: Path,
    start: str | None = None,
    end: str | None = None,
    extra: tuple[str, ...] = (),
    warm_bars: int = 0,
) -> pd.DataFrame:
    """A kline CSV(.gz) with open_time (ms), open, high, low, close, volume; rows in
    [start, end), time-ordered, finite positive prices; the `extra` columns present (the flow
    columns a command uses) numeric too. With `warm_bars`, up to that many rows before
    `start` come first (those the file has): an indicator computed from the window alone is
    missing for its first period."""
    # No header: Binance's kline files (12 columns) or plain OHLCV (their first six), as the
    # backtester and training read them.
    width = headerless_width(path) if path.is_file() else 0
    df = read_csv(path, "--data", names=list(BINANCE_KLINE_COLUMNS[:width]) if width else None)
    df = without_repeated_headers(df).rename(columns={"count": "trade_count"})
    if not len(df):  # said "no bars in the requested window" when no window was asked for
        raise InputError(f"--data {path}: {HEADER_ONLY}")
    need_columns(df, ("open_time", "open", "high", "low", "close", "volume"), f"--data {path}")
    numeric_columns(df, ("open_time",), f"--data {path}")  # the window compares it
    df = to_float_columns(df, ("open_time",))
    df["open_time"] = open_time_ms(df["open_time"].to_numpy(dtype="int64"))
    values: tuple[str, ...] = ("open", "high", "low", "close", "volume")
    values += tuple(c for c in extra if c in df.columns)
    df, problem = bars_in_time_order(df, values)  # before the window: --start's warm bars
    if problem is not None:
        raise InputError(f"--data {path}: {problem}")
    start_ms, end_ms = parse_time(start), parse_time(end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError(f"--end must be after --start (got --start {start} --end {end})")
    whole = df["open_time"]
    if end_ms is not None:
        df = df[df["open_time"] < end_ms]
    if start_ms is not None:
        df = _from_start(df, start_ms, warm_bars)
    if not len(df) or (start_ms is not None and not (df["open_time"] >= start_ms).any()):
        raise InputError(f"--data {path}: no bars in the requested window{data_span(whole)}")
    # Checked in the window only (before reset_index, so a bad cell is named by its file row).
    numeric_columns(df, values, f"--data {path}")
    df = to_float_columns(df, values).reset_index(drop=True)
    px = df[["open", "high", "low", "close"]].to_numpy(dtype=float)
    if (px <= 0).any():
        raise InputError(f"--data {path}: non-positive prices")
    return df


def _from_start(df: pd.DataFrame, start_ms: int, warm_bars: int) -> pd.DataFrame:
    """The rows from `start_ms` on, after the `warm_bars` rows of the file just before the
    first of them."""
    inside = (df["open_time"] >= start_ms).to_numpy(copy=True)
    if inside.any() and warm_bars > 0:
        first = int(inside.argmax())
        inside[max(0, first - warm_bars) : first] = True
    return df[inside]


# One bar alone says nothing of its length: taken as 1m, the bars the backtester replays.
DEFAULT_INTERVAL_MS = 60_000


def bar_interval_ms(open_time: Any) -> int:
    """The bars' interval in ms: the smallest step between consecutive open times (a hole in
    the data makes a longer step, never a shorter one); DEFAULT_INTERVAL_MS for a single bar."""
    import numpy as np

    t = np.asarray(open_time, dtype="int64")
    return int(np.diff(t).min()) if len(t) > 1 else DEFAULT_INTERVAL_MS


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, out: Path) -> Path:
    """The figure as the PNG `out` (its folder made); InputError when it cannot be written (a
    name too long, a full disk): said in one line, where it was a traceback."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    except OSError as e:
        raise InputError(f"--out {out}: cannot write it ({e.strerror or e})") from None
    finally:
        pyplot().close(fig)
    return out


def check_out(out: Path) -> Path:
    """--out: a .png name in a folder that exists or can be made (its nearest existing
    ancestor a writable directory), checked before the work, as the backtester's --out."""
    if out.suffix.lower() != ".png":
        raise InputError(f"--out {out}: expected a .png file name")
    try:
        if out.is_dir():
            raise InputError(f"--out {out} is a directory: expected a .png file name")
        folder = next(p for p in out.parents if p.exists())  # "/" or "." at the latest
    except OSError as e:
        raise InputError(f"--out {out}: cannot write it ({e.strerror or e})") from None
    if not folder.is_dir():
        raise InputError(f"--out {out}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {folder} is not writable")
    return out


def times(ms: Any) -> Any:
    """Epoch ms -> numpy datetime64 for the x axis."""
    import numpy as np

    return np.asarray(ms, dtype="int64").astype("datetime64[ms]")
