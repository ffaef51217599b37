"""Market data for a backtest: 1m klines or trades, read from a file into plain columns.

Accepted files (plain or gzipped CSV, or a `market_history` store Parquet file / folder):
- klines: a header with `open_time` (ms; `open_time` in s or us is normalized), `open, high,
  low, close, volume` (Binance's 12-column files, with or without a header, too);
- trades: Binance trades (`id, price, qty, ..., time, is_buyer_maker`) or aggTrades
  (`agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
  is_buyer_maker`), with or without a header.

A bookTicker file is not market data on its own: it is the recorded top of book of a trades
replay (`BacktestConfig.book_ticker`, read by `backtest.realism.load_book_ticker`); funding-rate
files likewise (`BacktestConfig.funding`).

Prices and quantities stay exact strings until the runner turns them into ticks, steps and
Decimals; times are int ms UTC. A bad file raises `DataError` with one sentence.
"""

import csv
import gzip
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

_KLINE_HEADER = ("open_time", "open", "high", "low", "close", "volume")
_TIME_NAMES = ("open_time", "time", "timestamp", "transact_time")


class DataError(ValueError):
    """The data file cannot be used (missing, empty, unknown layout, no rows in range)."""


class DataKind(StrEnum):
    KLINES = "klines"
    TRADES = "trades"


@dataclass(frozen=True, slots=True)
class Klines:
    """1m bars as columns, ascending by open time (prices as the file's text)."""

    open_time: list[int]
    open: list[str]
    high: list[str]
    low: list[str]
    close: list[str]
    volume: list[str]

    def __len__(self) -> int:
        return len(self.open_time)


@dataclass(frozen=True, slots=True)
class Trades:
    """Public trades as columns, in time order."""

    time: list[int]
    price: list[str]
    qty: list[str]
    buyer_is_maker: list[bool]

    def __len__(self) -> int:
        return len(self.time)


MarketData = Klines | Trades


def to_ms(t: int) -> int:
    """Epoch seconds, ms or us -> ms (by magnitude, as market_history does)."""
    if t < 10**11:
        return t * 1000
    if t >= 10**14:
        return t // 1000
    return t


def load(path: str | Path, *, start_ms: int | None = None, end_ms: int | None = None) -> MarketData:
    """Read `path` and keep rows with time in [start_ms, end_ms); DataError when none is left."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file not found: {p}")
    data = _load_parquet(p) if p.is_dir() or p.suffix == ".parquet" else _load_csv(p)
    data = clip(data, start_ms, end_ms)
    if not len(data):
        raise DataError(f"no rows in {p} within the requested time range")
    return data


def load_klines(
    path: str | Path, *, start_ms: int | None = None, end_ms: int | None = None
) -> Klines:
    """As `load`, for a file that must hold klines."""
    data = load(path, start_ms=start_ms, end_ms=end_ms)
    if not isinstance(data, Klines):
        raise DataError(f"{path} holds trades, not klines")
    return data


def _rows(p: Path) -> Iterator[list[str]]:
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                if row:
                    yield [c.strip() for c in row]
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"cannot read {p}: {e}") from None


def _load_csv(p: Path) -> MarketData:
    rows = _rows(p)
    first = next(rows, None)
    if first is None:
        raise DataError(f"no rows in {p}")
    header = [c.lower() for c in first] if not first[0].lstrip("-").isdigit() else None
    try:
        if header is not None:
            if all(c in header for c in _KLINE_HEADER):
                return _klines(rows, [header.index(c) for c in _KLINE_HEADER])
            if "price" in header and "is_buyer_maker" in header:
                t = next((header.index(c) for c in _TIME_NAMES if c in header), None)
                q = next((header.index(c) for c in ("qty", "quantity") if c in header), None)
                if t is not None and q is not None:
                    cols = [t, header.index("price"), q, header.index("is_buyer_maker")]
                    return _trades(rows, cols)
            if "best_bid_price" in header:
                raise DataError(
                    f"{p} is a bookTicker file: give it as the book (--book-ticker) of a trades "
                    "file of the same session"
                )
            raise DataError(f"{p}: unknown columns {','.join(first)}")
        # No header: Binance's files by their width.
        rows = _chain(first, rows)
        if len(first) >= 11:
            return _klines(rows, [0, 1, 2, 3, 4, 5])
        if len(first) in (7, 8) and first[6].lower() in ("true", "false"):
            return _trades(rows, [5, 1, 2, 6])  # aggTrades
        if len(first) == 6 and first[5].lower() in ("true", "false"):
            return _trades(rows, [4, 1, 2, 5])  # trades
        raise DataError(f"{p}: unknown layout of {len(first)} columns without a header")
    except (IndexError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{p}: bad row ({e})") from None


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _klines(rows: Iterator[list[str]], cols: list[int]) -> Klines:
    t, o, h, lo, c, v = cols
    out = Klines([], [], [], [], [], [])
    for r in rows:
        out.open_time.append(to_ms(int(r[t])))
        out.open.append(r[o])
        out.high.append(r[h])
        out.low.append(r[lo])
        out.close.append(r[c])
        out.volume.append(r[v])
    _check_sorted(out.open_time)
    return out


def _trades(rows: Iterator[list[str]], cols: list[int]) -> Trades:
    t, p, q, m = cols
    out = Trades([], [], [], [])
    for r in rows:
        out.time.append(to_ms(int(r[t])))
        out.price.append(r[p])
        out.qty.append(r[q])
        out.buyer_is_maker.append(r[m].lower() == "true")
    _check_sorted(out.time)
    return out


def _check_sorted(times: list[int]) -> None:
    if any(b < a for a, b in itertools.pairwise(times)):
        raise DataError("rows are not in time order")


def _load_parquet(p: Path) -> MarketData:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    if not files:
        raise DataError(f"no .parquet files in {p}")
    try:
        table = pa.concat_tables([pq.read_table(f) for f in files])
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError(f"cannot read {p}: {e}") from None
    names = set(table.column_names)
    if set(_KLINE_HEADER) <= names:
        table = table.sort_by("open_time")
        col = {c: table[c].to_pylist() for c in _KLINE_HEADER}
        return Klines(
            [to_ms(int(x)) for x in col["open_time"]],
            *[[str(x) for x in col[c]] for c in _KLINE_HEADER[1:]],
        )
    if {"price", "is_buyer_maker"} <= names:
        tcol = next((c for c in _TIME_NAMES if c in names), None)
        qcol = next((c for c in ("qty", "quantity") if c in names), None)
        if tcol is not None and qcol is not None:
            table = table.sort_by(tcol)
            return Trades(
                [to_ms(int(x)) for x in table[tcol].to_pylist()],
                [str(x) for x in table["price"].to_pylist()],
                [str(x) for x in table[qcol].to_pylist()],
                [bool(x) for x in table["is_buyer_maker"].to_pylist()],
            )
    raise DataError(f"{p}: unknown columns {','.join(table.column_names)}")


def clip(data: MarketData, start_ms: int | None, end_ms: int | None) -> MarketData:
    """The rows with time in [start_ms, end_ms) (None: unbounded), every column cut alike."""
    if start_ms is None and end_ms is None:
        return data
    times = data.open_time if isinstance(data, Klines) else data.time
    lo = 0 if start_ms is None else _bisect(times, start_ms)
    hi = len(times) if end_ms is None else _bisect(times, end_ms)
    if isinstance(data, Klines):
        return Klines(*(col[lo:hi] for col in _columns(data)))  # type: ignore[arg-type]
    return Trades(*(col[lo:hi] for col in _columns(data)))  # type: ignore[arg-type]


def _columns(data: MarketData) -> list[list]:  # type: ignore[type-arg]
    return [getattr(data, f) for f in data.__slots__]  # type: ignore[union-attr]


def _bisect(times: list[int], t: int) -> int:
    import bisect

    return bisect.bisect_left(times, t)
