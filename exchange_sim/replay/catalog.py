"""Named data sets of the bundled data, and data sets from a user directory (`--data PATH`).

A data directory is laid out like `exchange_sim/data/`:

    instruments.json                               (optional; the bundled one otherwise)
    trades/<SYM>-um-trades-*.csv.gz                recorded @trade stream
    bookticker/<SYM>-um-bookTicker-*.csv.gz        recorded @bookTicker stream
    raw_ws/<SYM>-um-ws-raw*.jsonl.gz               raw captures: depth snapshot + depthUpdate,
                                                   and markPrice/trade/bookTicker if present
    klines/<SYM>-um-1m-*.csv.gz                    1m klines (6- or 12-column)
    funding/<SYM>-um-8h-funding_rate-*.csv.gz      realised funding rates (+ *-8h-mark-*)

Bundled named data sets:

* `btcusdt-2024-08-08` (default): BTCUSDT + ETHUSDT, 2024-08-08 23:54:16 .. 24:00 recorded
  trades and bookTicker, BTCUSDT depth (snapshot + diffs); mark price derived; then continued
  from the synthesized one-week 1m klines (see `timeline`).
* `btcusdt-2023-04-04`: BTCUSDT 23:58:20 .. 23:59:59 from one raw capture with everything
  recorded (trades, bookTicker, depth, markPrice@1s); then continued from synthesized klines.
* `klines-week`: BTCUSDT + ETHUSDT 2025-05-05 .. 2025-05-11, synthesized trades from real 1m
  klines with the first day served as kline history; recorded funding rates; loops.
"""

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from exchange_sim.replay import loaders
from exchange_sim.replay.grid import DATA_DIR, INSTRUMENTS_FILE, WireGrid, load_grids
from exchange_sim.replay.tapes import (
    BookTickerTape,
    DepthSnapshot,
    DepthUpdate,
    FundingRates,
    KlineBars,
    MarkPriceTape,
    TradeTape,
)

DEFAULT_DATASET = "btcusdt-2024-08-08"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """Which files (relative to `root`) make up a data set, per symbol."""

    name: str
    root: Path
    symbols: tuple[str, ...]
    trades: dict[str, str] = field(default_factory=dict)
    book_ticker: dict[str, str] = field(default_factory=dict)
    raw_ws: dict[str, tuple[str, ...]] = field(default_factory=dict)
    klines: dict[str, str] = field(default_factory=dict)
    funding: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    kline_history_minutes: int = 0  # klines-only sets: leading minutes served as history
    description: str = ""


@dataclass
class Dataset:
    """The loaded columns of a data set (data time), ready for `MarketReplay`."""

    spec: DatasetSpec
    grids: dict[str, WireGrid]
    trades: dict[str, TradeTape] = field(default_factory=dict)
    book_ticker: dict[str, BookTickerTape] = field(default_factory=dict)
    snapshots: dict[str, DepthSnapshot] = field(default_factory=dict)
    depth_updates: dict[str, list[DepthUpdate]] = field(default_factory=dict)
    marks: dict[str, MarkPriceTape] = field(default_factory=dict)
    klines: dict[str, KlineBars] = field(default_factory=dict)
    funding: dict[str, FundingRates] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.spec.symbols

    @property
    def recorded(self) -> bool:
        """True when the data set has recorded trades (not only klines)."""
        return bool(self.trades)


_FUNDING = {
    "BTCUSDT": (
        "funding/BTCUSDT-um-8h-funding_rate-2025-03-06_2025-06-03.csv.gz",
        "funding/BTCUSDT-um-8h-mark-2025-03-06_2025-06-03.csv.gz",
    ),
    "ETHUSDT": (
        "funding/ETHUSDT-um-8h-funding_rate-2025-03-06_2025-06-15.csv.gz",
        "funding/ETHUSDT-um-8h-mark-2025-03-06_2025-06-15.csv.gz",
    ),
}
_KLINES = {
    "BTCUSDT": "klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz",
    "ETHUSDT": "klines/ETHUSDT-um-1m-2025-05-05_2025-05-11.csv.gz",
}

BUNDLED: dict[str, DatasetSpec] = {
    "btcusdt-2024-08-08": DatasetSpec(
        name="btcusdt-2024-08-08",
        root=DATA_DIR,
        symbols=("BTCUSDT", "ETHUSDT"),
        trades={
            "BTCUSDT": "trades/BTCUSDT-um-trades-2024-08-08T2354_2400.csv.gz",
            "ETHUSDT": "trades/ETHUSDT-um-trades-2024-08-08T2354_2400.csv.gz",
        },
        book_ticker={
            "BTCUSDT": "bookticker/BTCUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz",
            "ETHUSDT": "bookticker/ETHUSDT-um-bookTicker-2024-08-08T2354_2400.csv.gz",
        },
        raw_ws={"BTCUSDT": ("raw_ws/BTCUSDT-um-ws-raw-depth-2024-08-08T2354_2400.jsonl.gz",)},
        klines=dict(_KLINES),
        funding=dict(_FUNDING),
        description="USD-M BTCUSDT+ETHUSDT recorded 2024-08-08 23:54-24:00, then synthesized",
    ),
    "btcusdt-2023-04-04": DatasetSpec(
        name="btcusdt-2023-04-04",
        root=DATA_DIR,
        symbols=("BTCUSDT",),
        raw_ws={"BTCUSDT": ("raw_ws/BTCUSDT-um-ws-raw-2023-04-04T2358_2359.jsonl.gz",)},
        klines={"BTCUSDT": _KLINES["BTCUSDT"]},
        funding={"BTCUSDT": _FUNDING["BTCUSDT"]},
        description="USD-M BTCUSDT recorded 2023-04-04 23:58:20-23:59:59 incl. markPrice@1s",
    ),
    "klines-week": DatasetSpec(
        name="klines-week",
        root=DATA_DIR,
        symbols=("BTCUSDT", "ETHUSDT"),
        klines=dict(_KLINES),
        funding=dict(_FUNDING),
        kline_history_minutes=1440,
        description="USD-M BTCUSDT+ETHUSDT 1m klines 2025-05-05..11, synthesized trades",
    ),
}


def spec_from_directory(path: Path | str, symbols: tuple[str, ...] | None = None) -> DatasetSpec:
    """A data set of every matching file found in a directory laid out like the bundled one.

    The first file (sorted by name) of each kind and symbol is used; raw captures of a symbol
    are all used, in name order (consecutive capture files).
    """
    root = Path(path)
    if not root.is_dir():
        # A mistyped bundled name lands here too: say which names there are.
        raise FileNotFoundError(
            f"data directory {root} does not exist, nor is {str(path)!r} a bundled data set "
            f"({', '.join(sorted(BUNDLED))})"
        )

    def first(pattern: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for p in sorted(root.glob(pattern)):
            found.setdefault(p.name.split("-")[0], str(p.relative_to(root)))
        return found

    raw: dict[str, list[str]] = {}
    for p in sorted(root.glob("raw_ws/*-um-ws-raw*.jsonl*")):
        raw.setdefault(p.name.split("-")[0], []).append(str(p.relative_to(root)))
    rates = first("funding/*-um-8h-funding_rate-*.csv*")
    marks = first("funding/*-um-8h-mark-*.csv*")
    spec_parts: dict[str, dict[str, Any]] = {
        "trades": first("trades/*-um-trades-*.csv*"),
        "book_ticker": first("bookticker/*-um-bookTicker-*.csv*"),
        "raw_ws": {s: tuple(v) for s, v in raw.items()},
        "klines": first("klines/*-um-1m-*.csv*"),
        "funding": {s: (f, marks.get(s)) for s, f in rates.items()},
    }
    found = set().union(*(d.keys() for d in spec_parts.values()))
    chosen = tuple(sorted(found)) if symbols is None else tuple(symbols)
    if not chosen:
        raise FileNotFoundError(f"no market data files found under {root}")
    has_trades = any(s in spec_parts["trades"] or s in spec_parts["raw_ws"] for s in chosen)
    return DatasetSpec(
        name=f"dir:{root}",
        root=root,
        symbols=chosen,
        kline_history_minutes=0 if has_trades else 1440,
        description=f"user data directory {root}",
        **{k: {s: v for s, v in d.items() if s in chosen} for k, d in spec_parts.items()},
    )


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Read every file of a spec (instruments from `root/instruments.json` if present)."""
    inst = spec.root / "instruments.json"
    grids = load_grids(inst if inst.exists() else INSTRUMENTS_FILE)
    missing = [s for s in spec.symbols if s not in grids]
    if missing:
        raise ValueError(f"no instrument (exchangeInfo entry) for {missing}")
    ds = Dataset(spec=spec, grids=grids)
    root = spec.root
    for sym in spec.symbols:
        grid = grids[sym]
        if sym in spec.raw_ws:
            cap = loaders.load_raw_ws([root / p for p in spec.raw_ws[sym]], grids, sym)
            if len(cap.trades):
                ds.trades[sym] = cap.trades
            if len(cap.book_ticker):
                ds.book_ticker[sym] = cap.book_ticker
            if cap.snapshots:
                ds.snapshots[sym] = cap.snapshots[0]
                ds.depth_updates[sym] = cap.depth_updates
            if cap.mark_prices is not None:
                ds.marks[sym] = cap.mark_prices
        if sym in spec.trades:
            ds.trades[sym] = loaders.load_trades_csv(root / spec.trades[sym], grid)
        if sym in spec.book_ticker:
            ds.book_ticker[sym] = loaders.load_book_ticker_csv(root / spec.book_ticker[sym], grid)
        if sym in spec.klines:
            ds.klines[sym] = loaders.load_klines_csv(root / spec.klines[sym], grid)
        if sym in spec.funding:
            rates, marks = spec.funding[sym]
            ds.funding[sym] = loaders.load_funding_csv(
                root / rates, sym, root / marks if marks else None
            )
    if not ds.trades and not ds.klines:
        raise ValueError(f"data set {spec.name} has neither trades nor klines")
    return ds


@lru_cache(maxsize=4)
def bundled(name: str = DEFAULT_DATASET) -> Dataset:
    """A bundled data set by name (loaded once per process; treat it as read-only)."""
    try:
        spec = BUNDLED[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; bundled: {sorted(BUNDLED)}") from None
    return load_dataset(spec)


def resolve(name_or_path: str) -> Dataset:
    """A bundled name, or a directory path laid out like exchange_sim/data."""
    if name_or_path in BUNDLED:
        return bundled(name_or_path)
    return load_dataset(spec_from_directory(name_or_path))
