"""Market data for a backtest: 1m klines or trades, read from a file into plain columns.

Accepted files (plain or gzipped CSV, or a `market_history` store Parquet file / folder / the
store's root):
- klines: a header with `open_time` (ms; `open_time` in s or us is normalized), `open, high,
  low, close, volume` (Binance's 12-column files, with or without a header, too);
- trades: Binance trades (`id, price, qty, ..., time, is_buyer_maker`) or aggTrades
  (`agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
  is_buyer_maker`), with or without a header.

A bookTicker file is not market data on its own: it is the recorded top of book of a trades
replay (`BacktestConfig.book_ticker`, read by `backtest.realism.load_book_ticker`); funding-rate
files likewise (`BacktestConfig.funding`).

Klines are put in time order, a bar repeated identically dropped (`bar_rows`: the rule of
every tool that reads klines, so two overlapping downloads concatenated into one file, in either
order, read as the bars they hold); a header line met again inside a file (downloads concatenated
with their headers) is skipped. Prices and quantities stay exact strings until the runner
turns them into ticks, steps and Decimals; times are int ms UTC. They are checked once here,
vectorized (numbers, prices > 0, low <= open, close <= high), so that the runner never meets a
cell it cannot convert. A bad file raises `DataError` with one sentence naming the file, the
line (the bar's time for Parquet) and the column.
"""

import csv
import gzip
import io
import itertools
import operator
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np

from core.csv_header import header_names, is_data_row

_KLINE_HEADER = ("open_time", "open", "high", "low", "close", "volume")
_PRICES = ("open", "high", "low", "close")
_READ_ERRORS = (OSError, UnicodeDecodeError, EOFError, csv.Error)
# UTF-8 that may start with a byte-order mark, as a spreadsheet's "CSV UTF-8" export does.
_ENCODING = "utf-8-sig"
_TIME_NAMES = ("open_time", "time", "timestamp", "transact_time")
_QUOTE_ASSETS = ("USDT", "USDC", "BUSD")


class DataError(ValueError):
    """The data file cannot be used (missing, empty, unknown layout, a bad row, no rows in
    range)."""


class RepeatedTime(ValueError):
    """Two bars of a kline file open at the same time and differ: neither can be told to be the
    market's."""

    def __init__(self, row: int, open_time: int) -> None:
        super().__init__(f"open time {open_time} repeats with another bar")
        self.row = row  # the later of the two in the file (0 = its first data row)


class _BadRow(Exception):
    """Data row `index` (0 = the first row after any header) cannot be used: `what`. Raised
    where the rows are columns; the caller knows the file and turns it into a line number."""

    def __init__(self, index: int, what: str) -> None:
        super().__init__(what)
        self.index = index
        self.what = what


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
_D = TypeVar("_D", Klines, Trades)


def to_ms(t: int) -> int:
    """Epoch seconds, ms or us -> ms (by magnitude, as market_history does)."""
    if t < 10**11:
        return t * 1000
    if t >= 10**14:
        return t // 1000
    return t


def symbol_in_name(path: str | Path) -> str | None:
    """The symbol a file is named for, None when its name names none (a plain CSV may hold
    anything). Binance's and the project's files start with it (`BTCUSDT-um-1m-...csv.gz`, as
    `python -m model.train` reads them); a market_history store keeps it in the folder above
    the kind (`<store>/BTCUSDT/klines-1m/2025-05-05.parquet`)."""
    p = Path(path)
    names = [p.name]
    folder = p if p.is_dir() else p.parent
    if folder.name.startswith(("klines-", "aggTrades")):
        names.append(folder.parent.name)
    for name in names:
        head = name.split("-")[0].upper()
        if head.isalnum() and head.endswith(_QUOTE_ASSETS) and len(head) > 4:
            return head
    return None


def check_symbol(path: str | Path, symbol: str) -> None:
    """DataError when `path` is named for another symbol than `symbol`: its prices would be
    traded under the wrong symbol's rules (tick, lot, leverage)."""
    named = symbol_in_name(path)
    if named is not None and named != symbol.upper():
        raise DataError(f"--data {Path(path).name} holds {named}, not --symbol {symbol}")


def store_folder(path: Path, *, symbol: str, interval: str = "1m") -> Path:
    """The folder of day files to read for `--data DIR`: DIR itself when it holds Parquet
    files (`<store>/BTCUSDT/klines-1m`), or the symbol's klines of `interval` when DIR is a
    history store's root (`fetch_historical.py --out DIR`); DataError naming what the store
    holds when it has not those."""
    if any(path.glob("*.parquet")):
        return path
    sub = path / symbol.upper() / f"klines-{interval}"
    if any(sub.glob("*.parquet")):
        return sub
    held = sorted(f"{d.parent.name}/{d.name}" for d in path.glob("*/*") if any(d.glob("*.parquet")))
    if held:
        raise DataError(
            f"--data {path}: this history store has no {sub.parent.name}/{sub.name} "
            f"(it holds {', '.join(held)})"
        )
    csvs = sorted(f.name for f in path.iterdir() if f.name.endswith((".csv", ".csv.gz")))
    if csvs:  # a folder of downloads: which one is meant is the user's to say
        ours = [n for n in csvs if symbol_in_name(n) in (None, symbol.upper())]
        example = next((n for n in ours if f"-{interval}-" in n), ours[0] if ours else None)
        hint = f", e.g. --data {path / example}" if example else f" (none is named for {symbol})"
        raise DataError(
            f"--data {path}: a folder of {len(csvs)} CSV file(s), not a history store: "
            f"--data takes one of them{hint}"
        )
    raise DataError(
        f"--data {path}: no .parquet files in it, nor in {sub} (a history store's klines)"
    )


def load(
    path: str | Path,
    *,
    symbol: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> MarketData:
    """Read `path` and keep rows with time in [start_ms, end_ms); DataError when none is left.
    With `symbol`, a folder may be a history store's root (`store_folder`: its 1m klines)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file not found: {p}")
    if symbol is not None and p.is_dir():
        p = store_folder(p, symbol=symbol)
    data = _load_csv(p) if _is_csv(p) else _load_parquet(p)
    if not len(data):  # a CSV of a header line alone, a store's files without rows
        raise DataError(f"no data rows in {p}{' (only a header line)' if _is_csv(p) else ''}")
    kept = clip(data, start_ms, end_ms)
    if not len(kept):
        times = data.open_time if isinstance(data, Klines) else data.time
        raise DataError(
            f"no rows in {p} within the requested time range (the data runs from "
            f"{_utc(times[0])} to {_utc(times[-1])} UTC)"
        )
    return kept


def _is_csv(p: Path) -> bool:
    return not (p.is_dir() or p.suffix == ".parquet")


def kline_gaps(k: Klines) -> list[tuple[int, int]]:
    """(open time of the first missing bar in ms, bars missing) for each hole in 1m klines: the
    replay takes the bars on either side of a hole as consecutive."""
    t = np.asarray(k.open_time, dtype=np.int64)
    steps = np.diff(t)
    return [
        (int(t[i]) + MINUTE_MS, int(steps[i]) // MINUTE_MS - 1)
        for i in np.flatnonzero(steps > MINUTE_MS)
    ]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def load_klines(
    path: str | Path, *, start_ms: int | None = None, end_ms: int | None = None
) -> Klines:
    """As `load`, for a file that must hold klines."""
    data = load(path, start_ms=start_ms, end_ms=end_ms)
    if not isinstance(data, Klines):
        raise DataError(f"{path} holds trades, not klines")
    return data


def _rows(p: Path) -> Generator[list[str]]:
    """The non-empty rows as read; cells are stripped later, per kept column (`_stripped`)."""
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding=_ENCODING, newline="") as fh:
            yield from filter(None, csv.reader(fh))
    except _READ_ERRORS as e:
        raise DataError(f"cannot read {p}: {e}") from None


def _numbered_rows(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row ends, cells) of each non-empty row: for error messages (the
    loader does not keep line numbers, which would cost on every row)."""
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding=_ENCODING, newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if row:
                    yield reader.line_num, row
    except _READ_ERRORS as e:
        raise DataError(f"cannot read {p}: {e}") from None


Headers = frozenset[tuple[str, ...]]  # header rows met again inside a file, as read


def _numbered_data(p: Path, skip: int, repeated: Headers) -> Iterator[tuple[int, list[str]]]:
    """`_numbered_rows` of the data rows: after `skip` header rows, without `repeated`."""
    rows = itertools.islice(_numbered_rows(p), skip, None)
    return (r for r in rows if tuple(r[1]) not in repeated) if repeated else rows


def _data_row(p: Path, index: int, skip: int, repeated: Headers) -> tuple[int, list[str]]:
    """(line number, cells) of data row `index`. Error path only: the file is read again
    rather than every row's line kept."""
    return next(itertools.islice(_numbered_data(p, skip, repeated), index, None), (0, []))


def _short_row(p: Path, width: int, skip: int, repeated: Headers) -> int:
    """The index of the first data row with fewer than `width` cells (error path only)."""
    rows = _numbered_data(p, skip, repeated)
    return next((i for i, (_, row) in enumerate(rows) if len(row) < width), 0)


def _header_again(
    p: Path, row: list[str], header: list[str] | None, layout: tuple[DataKind, list[int]]
) -> bool:
    """Whether a row the loader refused is a header line again (two downloads concatenated,
    `cat a.csv b.csv`): the file's first header, or in a file without one, a header naming the
    columns where they are read (Binance's own, of its newer files, after its headerless
    older ones). Names compare as `core.csv_header.header_names` (blanks, a second file's
    byte-order mark and the case are no difference)."""
    if not row or is_data_row(row[0]):
        return False
    cells = header_names(row)
    if header is not None:  # the first row's names
        return cells == header
    try:
        return _layout(p, cells, cells) == layout
    except DataError:
        return False


def _load_csv(p: Path) -> MarketData:
    """The file's columns; a header line met again in it (`_header_again`) is skipped, found
    only when a row is refused, so a file without one is read at no cost."""
    rows = _rows(p)
    first = next(rows, None)
    rows.close()
    if first is None:
        raise DataError(f"no rows in {p} (an empty file)")
    width = len(first)
    first = [c.strip() for c in first]
    header = None if is_data_row(first[0]) else header_names(first)
    skip = 0 if header is None else 1
    kind, cols = _layout(p, first, header)
    repeated: Headers = frozenset()
    while True:
        try:
            return _read_csv(p, kind, cols, skip, width, repeated)
        except _BadRow as e:
            line, row = _data_row(p, e.index, skip, repeated)
            again = _header_again(p, row, header, (kind, cols))
            if not again or tuple(row) in repeated:  # skipped already: no second pass
                raise DataError(f"{p}: line {line}, {e.what}") from None
            repeated |= {tuple(row)}
        except IndexError:
            short = _short_row(p, _width(header, first), skip, repeated)
            line = _data_row(p, short, skip, repeated)[0]
            raise DataError(f"{p}: line {line} has too few columns") from None


def _read_csv(
    p: Path, kind: DataKind, cols: list[int], skip: int, width: int, repeated: Headers
) -> MarketData:
    """The data rows' `cols` as klines or trades, without the `repeated` header rows."""
    columns = _plain_columns(p, cols, skip, width, repeated)
    if columns is None:
        rows: Iterator[list[str]] = itertools.islice(_rows(p), skip, None)
        if repeated:
            rows = (r for r in rows if tuple(r) not in repeated)
        columns = _columns_of(rows, cols)
    return _klines(columns) if kind is DataKind.KLINES else _trades(columns)


def _unknown_header(header: list[str]) -> str:
    """Why a header is neither klines nor trades, on one short line: what a klines file lacks
    (a JSON capture's first line, say, is no header at all: shown cut, not whole)."""
    shown = ",".join(header)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    missing = ",".join(c for c in _KLINE_HEADER if c not in header)
    return (
        f"unknown columns {shown!r}: klines need a header {','.join(_KLINE_HEADER)} "
        f"(missing {missing}), trades one with time,price,qty,is_buyer_maker"
    )


def _layout(p: Path, first: list[str], header: list[str] | None) -> tuple[DataKind, list[int]]:
    """What the file holds and the columns to read: (time, open, high, low, close, volume) or
    (time, price, qty, is_buyer_maker); by the header's names, else by Binance's widths."""
    if header is not None:
        if all(c in header for c in _KLINE_HEADER):
            return DataKind.KLINES, [header.index(c) for c in _KLINE_HEADER]
        if "price" in header and "is_buyer_maker" in header:
            t = next((header.index(c) for c in _TIME_NAMES if c in header), None)
            q = next((header.index(c) for c in ("qty", "quantity") if c in header), None)
            if t is not None and q is not None:
                cols = [t, header.index("price"), q, header.index("is_buyer_maker")]
                if "type" in header:  # MARKET, or INSURANCE_FUND / ADL: not book trades
                    cols.append(header.index("type"))
                return DataKind.TRADES, cols
        if "best_bid_price" in header:
            raise DataError(
                f"{p} is a bookTicker file: give it as the book (--book-ticker) of a trades "
                "file of the same session"
            )
        raise DataError(f"{p}: {_unknown_header(header)}")
    if len(first) >= 11:
        return DataKind.KLINES, [0, 1, 2, 3, 4, 5]
    if len(first) in (7, 8) and first[6].lower() in ("true", "false"):
        return DataKind.TRADES, [5, 1, 2, 6]  # aggTrades
    if len(first) == 6 and first[5].lower() in ("true", "false"):
        return DataKind.TRADES, [4, 1, 2, 5]  # trades
    if len(first) == 6:  # plain OHLCV: Binance's first six kline columns, as the others read it
        return DataKind.KLINES, [0, 1, 2, 3, 4, 5]
    raise DataError(f"{p}: unknown layout of {len(first)} columns without a header")


_BLOCK_CHARS = 1 << 22
MINUTE_MS = 60_000
_COMMAS = operator.methodcaller("count", ",")
# Quoted cells, bare CRs and blanks to strip: the csv module and `_stripped` handle those.
_NOT_PLAIN = ('"', "\r", " ", "\t")


def _plain_columns(
    p: Path, cols: list[int], skip: int, width: int, repeated: Headers = frozenset()
) -> list[list[str]] | None:
    """The cells of `cols` of a plain file (no quotes, bare CR or blank; every row `width` cells),
    split in C a block at a time: the csv module's rows cost about as much again as the
    checks; the `repeated` header lines left out. None for any other file (the csv module
    reads it; it reads a plain file alike)."""
    out: list[list[str]] = [[] for _ in cols]
    again = {",".join(row) for row in repeated}
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding=_ENCODING, newline="") as fh:
            for block in _blocks(fh):
                text = block.replace("\r\n", "\n") if "\r" in block else block
                if any(c in text for c in _NOT_PLAIN):
                    return None
                lines = list(filter(None, text.split("\n")))
                if skip:
                    lines, skip = lines[skip:], 0
                if again and any(h in text for h in again):
                    lines = [line for line in lines if line not in again]
                if not lines:
                    continue
                if set(map(_COMMAS, lines)) != {width - 1}:
                    return None
                cells = ",".join(lines).split(",")
                for column, c in zip(out, cols, strict=True):
                    column.extend(cells[c::width])
    except _READ_ERRORS as e:
        raise DataError(f"cannot read {p}: {e}") from None
    return out


def _blocks(fh: io.TextIOWrapper) -> Iterator[str]:
    """The text in blocks of whole lines (a line longer than a block is in one block)."""
    rest = ""
    while block := fh.read(_BLOCK_CHARS):
        block = rest + block
        cut = block.rfind("\n") + 1
        rest = block[cut:]
        if cut:
            yield block[:cut]
    if rest:
        yield rest


def _width(header: list[str] | None, first: list[str]) -> int:
    """The cells a data row needs: the header's, or as many as the first row's (for a file
    without a header, the columns read are among the first row's)."""
    return len(header if header is not None else first)


def _columns_of(rows: Iterator[list[str]], cols: list[int]) -> list[list[str]]:
    """The cells of `cols` as columns; IndexError on a row too short. Picked and transposed
    in C (itemgetter, zip)."""
    table = list(map(operator.itemgetter(*cols), rows))
    if not table:
        return [[] for _ in cols]
    return [list(col) for col in zip(*table, strict=True)]


def _stripped(col: list[str]) -> list[str]:
    """`col` with each cell stripped of blanks, when any has some (checked on the joined
    text, which costs far less than stripping every cell)."""
    joined = "".join(col)
    if " " in joined or "\t" in joined:
        return [c.strip() for c in col]
    return col


def _klines(columns: list[list[str]]) -> Klines:
    t, o, h, lo, c, v = map(_stripped, columns)
    o, h, lo, c = _shared_strings((o, h, lo, c))
    out = Klines(_times(t, "open_time"), o, h, lo, c, v)
    check_klines(out)
    times = np.asarray(out.open_time, dtype=np.int64)
    out, rows = _in_time_order(out, times)
    if rows is not None:
        times = times[rows]
    try:
        _check_one_minute(times)
    except _BadRow as e:  # named by its row in the file, not in time order
        raise _BadRow(e.index if rows is None else int(rows[e.index]), e.what) from None
    return out


def _shared_strings(columns: tuple[list[str], ...]) -> list[list[str]]:
    """The columns with every equal text one string object: a bar's open is mostly the close
    before it, and its high or low one of them; of real 1m BTCUSDT months' price cells about
    a third are distinct, and each cell kept as its own string costs ~56 bytes (~25 MB for
    the 160,000 bars of three months)."""
    seen: dict[str, str] = {}
    return [list(map(seen.setdefault, col, col)) for col in columns]


def _trades(columns: list[list[str]]) -> Trades:
    t, p, q, m = map(_stripped, columns[:4])
    out = Trades(_times(t, "time"), p, q, [x.lower() == "true" for x in m])
    check_trades(out)
    _check_sorted(out.time)
    if len(columns) > 4:
        out = _book_trades(out, _stripped(columns[4]))
    return out


def _book_trades(t: Trades, types: list[str]) -> Trades:
    """Only the order book's trades (type MARKET): an insurance-fund or ADL print is no trade
    anyone could have matched (it can sit percents away from the book: a stop it crossed
    would fill there), and Binance leaves it out of aggTrades and klines too."""
    keep = [i for i, kind in enumerate(types) if kind.upper() in ("MARKET", "")]
    if len(keep) == len(types):
        return t
    return Trades(
        [t.time[i] for i in keep],
        [t.price[i] for i in keep],
        [t.qty[i] for i in keep],
        [t.buyer_is_maker[i] for i in keep],
    )


def _check_one_minute(times: np.ndarray) -> None:
    """_BadRow unless the bars (their open times, ascending) are 1m bars (the closest two a
    minute apart): the backtester replays each bar as one minute, so a 5m or 1h file would be
    traded as if each bar closed a minute after it opened."""
    steps = np.diff(times)
    moving = steps[steps > 0]
    if not len(moving) or moving.min() == MINUTE_MS:
        return
    closest = int(moving.min())
    i = int(np.argmax(steps == closest)) + 1
    raise _BadRow(
        i,
        f"not 1m bars: this bar opens {closest / MINUTE_MS:g} min after the one before, and no "
        "two bars are closer (the backtester replays 1m klines)",
    )


def bar_rows(times: np.ndarray, columns: Sequence[Sequence[object]]) -> np.ndarray | None:
    """The rows of a kline file to read, in time order, each bar once: None when the open
    `times` already increase (one vectorized comparison: the common file costs no more), else
    the rows sorted by open time (stable) without those that repeat an earlier row in every
    one of `columns` (overlapping downloads concatenated into one file, in either order: the
    market's bar twice). RepeatedTime when an open time repeats with another bar: which of the
    two is the market's cannot be told. One rule for the backtester, model.train, model.review
    and the analysis commands, so a file one of them reads the others read alike."""
    if len(times) < 2 or bool(np.all(times[1:] > times[:-1])):
        return None
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    for i in same.tolist():  # the repeats only: a few, or an overlap's length
        later, earlier = int(order[i]), int(order[i - 1])
        if not all(_same_cell(col[later], col[earlier]) for col in columns):
            raise RepeatedTime(later, int(ordered[i]))
    return np.delete(order, same)


def _same_cell(a: object, b: object) -> bool:
    """Equal cells, an empty one (NaN, as pandas reads it) equal to another empty one."""
    return bool(a == b) or (a != a and b != b)  # NaN is not equal to itself


def _in_time_order(k: Klines, times: np.ndarray) -> tuple[Klines, np.ndarray | None]:
    """`k` in time order, each bar once (`bar_rows`), and the file rows it holds (None: all of
    them, in file order); _BadRow at a repeated open time holding another bar."""
    try:
        rows = bar_rows(times, (k.open, k.high, k.low, k.close, k.volume))
    except RepeatedTime as e:
        raise _BadRow(e.row, str(e)) from None
    if rows is None:
        return k, None
    keep = rows.tolist()
    return Klines(*([col[i] for i in keep] for col in _columns(k))), rows


def _times(col: list[str], name: str) -> list[int]:
    """Time cells -> ms (seconds and us normalized, as `to_ms`); _BadRow at a cell that is no
    whole number."""
    try:
        times = list(map(int, col))
    except ValueError:
        i = next(i for i, x in enumerate(col) if not _is_int(x))
        raise _BadRow(i, f"column {name}: {_shown(col[i])} is not a time in ms") from None
    if times and (min(times) < 10**11 or max(times) >= 10**14):
        times = [to_ms(x) for x in times]
    return times


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _shown(text: str) -> str:
    return "an empty cell" if text == "" else repr(text)


# A check: (row mask, message template, the columns whose cells at the row fill it). The first
# row any check marks is reported; at the same row, the check listed first.
_Check = tuple[np.ndarray, str, tuple[list[str], ...]]


def _numbers(columns: dict[str, list[str]]) -> tuple[dict[str, np.ndarray], _BadRow | None]:
    """Each column as float64, and the first cell float() refuses (None: none). With such a
    cell, every array stops at its row: the checks then see only the rows before it, and the
    refused cell is the one to report when they find nothing."""
    stop = min(len(c) for c in columns.values())
    arrays: dict[str, np.ndarray] = {}
    for name, col in columns.items():
        try:
            arrays[name] = np.fromiter(map(float, col), dtype=np.float64, count=len(col))
        except ValueError:
            stop = min(stop, next(i for i, x in enumerate(col) if not _is_float(x)))
    refused = None
    if any(stop < len(col) for col in columns.values()):
        name = next(n for n, col in columns.items() if not _is_float(col[stop]))
        refused = _BadRow(stop, f"column {name}: {_shown(columns[name][stop])} is not a number")
        arrays = {n: np.fromiter(map(float, col[:stop]), np.float64) for n, col in columns.items()}
    return arrays, refused


def _not_numbers(columns: dict[str, list[str]], arrays: dict[str, np.ndarray]) -> list[_Check]:
    """A check per column: the cell parsed, but to NaN or an infinity."""
    return [
        (~np.isfinite(arrays[n]), f"column {n}: {{!r}} is not a number", (c,))
        for n, c in columns.items()
    ]


def _first_bad(checks: list[_Check]) -> _BadRow | None:
    """The first row any check marks (at the same row, the check listed first)."""
    found: tuple[int, _Check] | None = None
    for check in checks:
        if check[0].any():
            i = int(check[0].argmax())
            if found is None or i < found[0]:
                found = (i, check)
    if found is None:
        return None
    i, (_, template, cols) = found
    return _BadRow(i, template.format(*(c[i] for c in cols)))


def check_klines(k: Klines) -> None:
    """_BadRow at the first bar that is not one: a cell that is no finite number, a price
    <= 0, a volume < 0, high below low, open or close, low above open or close. Vectorized:
    one float parse per cell, the comparisons in numpy."""
    cols: dict[str, list[str]] = {n: getattr(k, n) for n in _KLINE_HEADER[1:]}
    a, refused = _numbers(cols)
    checks = _not_numbers(cols, a)
    checks += [(a[n] <= 0, f"column {n}: price {{}} is not > 0", (cols[n],)) for n in _PRICES]
    checks.append((a["volume"] < 0, "column volume: {} is negative", (k.volume,)))
    checks += [
        (a["high"] < a[n], f"column high: {{}} is below {n} {{}}", (k.high, cols[n]))
        for n in ("low", "open", "close")
    ]
    checks += [
        (a["low"] > a[n], f"column low: {{}} is above {n} {{}}", (k.low, cols[n]))
        for n in ("open", "close")
    ]
    if (bad := _first_bad(checks) or refused) is not None:
        raise bad


def check_trades(t: Trades) -> None:
    """_BadRow at the first trade whose price or quantity is no finite number > 0."""
    cols = {"price": t.price, "qty": t.qty}
    a, refused = _numbers(cols)
    checks = _not_numbers(cols, a)
    checks += [(a[n] <= 0, f"column {n}: {{}} is not > 0", (c,)) for n, c in cols.items()]
    if (bad := _first_bad(checks) or refused) is not None:
        raise bad


def _check_sorted(times: list[int]) -> None:
    """_BadRow at the first trade earlier than the one before: trades of one millisecond are
    several, so no time order can be made of them, nor a repeat told from a trade."""
    if sorted(times) != times:  # Timsort checks a sorted list in one pass, in C
        i = next(i for i in range(1, len(times)) if times[i] < times[i - 1])
        raise _BadRow(i, "rows are not in time order (this one is earlier than the one before)")


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
        klines = Klines(
            [to_ms(int(x)) for x in col["open_time"]],
            *[[str(x) for x in col[c]] for c in _KLINE_HEADER[1:]],
        )
        return _checked(p, klines, _checked_klines)
    # The history store names aggregate trades' columns buyer_is_maker and trade_time.
    maker = next((c for c in ("is_buyer_maker", "buyer_is_maker") if c in names), None)
    if "price" in names and maker is not None:
        tcol = next((c for c in (*_TIME_NAMES, "trade_time") if c in names), None)
        qcol = next((c for c in ("qty", "quantity") if c in names), None)
        if tcol is not None and qcol is not None:
            ties = [("agg_id", "ascending")] if "agg_id" in names else []
            table = table.sort_by([(tcol, "ascending"), *ties])
            trades = Trades(
                [to_ms(int(x)) for x in table[tcol].to_pylist()],
                [str(x) for x in table["price"].to_pylist()],
                [str(x) for x in table[qcol].to_pylist()],
                [bool(x) for x in table[maker].to_pylist()],
            )
            return _checked(p, trades, check_trades)
    raise DataError(f"{p}: {_unknown_header([c.lower() for c in table.column_names])}")


def _checked_klines(k: Klines) -> Klines:
    """`k` (sorted by open time) checked, each bar once (`_in_time_order`): two day files of
    a folder may hold the same bar."""
    check_klines(k)
    return _in_time_order(k, np.asarray(k.open_time, dtype=np.int64))[0]


def _checked(p: Path, data: _D, check: Callable[[_D], _D | None]) -> _D:
    """`data` read from Parquet, checked (as `check` returns it, when it returns it); a bad row
    is named by its time (the files of a folder are read together and sorted, so a row number
    would point nowhere)."""
    try:
        checked = check(data)
    except _BadRow as e:
        t = data.open_time[e.index] if isinstance(data, Klines) else data.time[e.index]
        raise DataError(f"{p}: the row at {_utc(t)} UTC ({t} ms), {e.what}") from None
    return data if checked is None else checked


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
