"""Readers for the bundled market-data files (see exchange_sim/data/PROVENANCE.md for formats).

Each reader parses one file into a columnar tape of integer ticks/steps (exact; a value off the
symbol's tick/step grid raises ValueError) and never touches the network or `/work/shared`.
Files may be gzipped (`.gz`) or plain.
"""

import csv
import gzip
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO

import numpy as np

from exchange_sim.replay.grid import WireGrid
from exchange_sim.replay.tapes import (
    BookTickerTape,
    DepthSnapshot,
    DepthUpdate,
    FundingRates,
    KlineBars,
    MarkPriceTape,
    TradeTape,
    trade_type_code,
)

MINUTE_MS = 60_000
_I64 = np.int64


def open_text(path: Path | str) -> IO[str]:
    """Open a text file, transparently gunzipping `.gz`."""
    p = Path(path)
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8")
    return open(p, encoding="utf-8")


def _read_csv(path: Path | str) -> tuple[list[str], list[list[str]]]:
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if r]
    return header, rows


def _col(rows: list[list[str]], i: int) -> list[str]:
    return [r[i] for r in rows]


def _ints(values: list[str]) -> np.ndarray:
    return np.array([int(v) if v else 0 for v in values], dtype=_I64)


def _bools(values: list[str]) -> np.ndarray:
    return np.array([v.strip().lower() == "true" for v in values], dtype=bool)


# --- trades -----------------------------------------------------------------------------------


def load_trades_csv(path: Path | str, grid: WireGrid) -> TradeTape:
    """`id,price,qty,time,event_time,is_buyer_maker,type,recv_time_ns` -> TradeTape."""
    header, rows = _read_csv(path)
    ix = {name: i for i, name in enumerate(header)}
    n = len(rows)
    return TradeTape(
        symbol=grid.symbol,
        trade_id=_ints(_col(rows, ix["id"])),
        price=grid.parse_prices(_col(rows, ix["price"])),
        qty=grid.parse_qtys(_col(rows, ix["qty"])),
        time=_ints(_col(rows, ix["time"])),
        event_time=_ints(_col(rows, ix["event_time"])),
        buyer_maker=_bools(_col(rows, ix["is_buyer_maker"])),
        trade_type=np.array(
            [trade_type_code(v) for v in _col(rows, ix["type"])], dtype=np.int8
        ).reshape(n),
        recv_time_ns=_ints(_col(rows, ix["recv_time_ns"]))
        if "recv_time_ns" in ix
        else np.zeros(n, dtype=_I64),
    )


def load_book_ticker_csv(path: Path | str, grid: WireGrid) -> BookTickerTape:
    """`update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,
    event_time[,recv_time_ns]` -> BookTickerTape."""
    header, rows = _read_csv(path)
    ix = {name: i for i, name in enumerate(header)}
    n = len(rows)
    return BookTickerTape(
        symbol=grid.symbol,
        update_id=_ints(_col(rows, ix["update_id"])),
        bid_price=grid.parse_prices(_col(rows, ix["best_bid_price"])),
        bid_qty=grid.parse_qtys(_col(rows, ix["best_bid_qty"])),
        ask_price=grid.parse_prices(_col(rows, ix["best_ask_price"])),
        ask_qty=grid.parse_qtys(_col(rows, ix["best_ask_qty"])),
        transaction_time=_ints(_col(rows, ix["transaction_time"])),
        event_time=_ints(_col(rows, ix["event_time"])),
        recv_time_ns=_ints(_col(rows, ix["recv_time_ns"]))
        if "recv_time_ns" in ix
        else np.zeros(n, dtype=_I64),
    )


# --- klines and funding -------------------------------------------------------------------------


def load_klines_csv(path: Path | str, grid: WireGrid, interval_ms: int = MINUTE_MS) -> KlineBars:
    """OHLCV klines: the 6-column `open_time,open,high,low,close,volume` layout or Binance's
    12-column archive layout (with or without a header row)."""
    with open_text(path) as fh:
        rows = [r for r in csv.reader(fh) if r]
    if rows and not rows[0][0].strip().lstrip("-").isdigit():
        rows = rows[1:]  # header
    n = len(rows)
    full = n > 0 and len(rows[0]) >= 11
    minus = np.full(n, -1, dtype=_I64)
    return KlineBars(
        symbol=grid.symbol,
        interval_ms=interval_ms,
        open_time=_ints(_col(rows, 0)),
        open=grid.parse_prices(_col(rows, 1)),
        high=grid.parse_prices(_col(rows, 2)),
        low=grid.parse_prices(_col(rows, 3)),
        close=grid.parse_prices(_col(rows, 4)),
        volume=grid.parse_qtys(_col(rows, 5)),
        quote_volume=np.array([grid.parse_quote(v) for v in _col(rows, 7)], dtype=_I64)
        if full
        else minus,
        trade_count=_ints(_col(rows, 8)) if full else minus.copy(),
        taker_buy_volume=grid.parse_qtys(_col(rows, 9)) if full else minus.copy(),
        taker_buy_quote_volume=np.array([grid.parse_quote(v) for v in _col(rows, 10)], dtype=_I64)
        if full
        else minus.copy(),
    )


def load_funding_csv(
    path: Path | str, symbol: str, mark_path: Path | str | None = None
) -> FundingRates:
    """`time,funding_rate` (freqtrade floats, e.g. 6.818e-05) -> exact Decimal rates.

    `mark_path` (optional `time,open,high,low,close` 8h mark klines): the mark price at each
    settlement is taken as the open of the mark bar starting at that funding time.
    """
    _, rows = _read_csv(path)
    times = _ints(_col(rows, 0))
    rates = tuple(Decimal(v).quantize(Decimal("0.00000001")) for v in _col(rows, 1))
    marks: list[Decimal | None] = [None] * len(rows)
    if mark_path is not None:
        _, mrows = _read_csv(mark_path)
        # funding times carry a few ms of jitter (…001); match on the 8h boundary.
        by_slot = {int(r[0]) // MINUTE_MS: Decimal(r[1]) for r in mrows}
        marks = [by_slot.get(int(t) // MINUTE_MS) for t in times]
    return FundingRates(symbol=symbol, funding_time=times, rate=rates, mark_price=tuple(marks))


# --- raw websocket captures --------------------------------------------------------------------


@dataclass
class RawCapture:
    """Everything of one symbol in a raw websocket capture (`<local_ts> <json>` lines)."""

    symbol: str
    trades: TradeTape
    book_ticker: BookTickerTape
    snapshots: list[DepthSnapshot] = field(default_factory=list)
    depth_updates: list[DepthUpdate] = field(default_factory=list)
    mark_prices: MarkPriceTape | None = None


def _recv_ns(stamp: str) -> int:
    """Local receive stamp -> ns: the 2023-04 captures are in us, the 2024 ones in ns."""
    value = int(stamp)
    return value if value > 10**17 else value * 1000


def iter_raw_ws(path: Path | str) -> Iterator[tuple[int, dict]]:
    """(recv_time_ns, message) per line; a REST depth snapshot has no "stream" key."""
    with open_text(path) as fh:
        for line in fh:
            stamp, _, body = line.partition(" ")
            if body.strip():
                yield _recv_ns(stamp), json.loads(body)


def _levels(raw: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((p, q) for p, q in raw)


def load_raw_ws(
    paths: list[Path | str] | Path | str, grids: Mapping[str, WireGrid], symbol: str
) -> RawCapture:
    """Parse one symbol's messages from one capture (or consecutive capture files).

    Depth levels are kept as the recorded wire strings (pairs of str) to pass through as is.
    """
    if not isinstance(paths, list):
        paths = [paths]
    grid = grids[symbol]
    lower = symbol.lower()
    trades: list[tuple] = []
    books: list[tuple] = []
    marks: list[tuple] = []
    snapshots: list[DepthSnapshot] = []
    depth: list[DepthUpdate] = []
    for path in paths:
        for recv, msg in iter_raw_ws(path):
            stream = msg.get("stream")
            if stream is None:
                if "lastUpdateId" in msg:
                    snapshots.append(
                        DepthSnapshot(
                            symbol=symbol,
                            last_update_id=int(msg["lastUpdateId"]),
                            event_time=int(msg["E"]),
                            transaction_time=int(msg["T"]),
                            bids=_levels(msg["bids"]),
                            asks=_levels(msg["asks"]),
                            recv_time_ns=recv,
                        )
                    )
                continue
            if not stream.startswith(lower + "@"):
                continue
            d = msg["data"]
            kind = d.get("e")
            if kind == "trade":
                trades.append(
                    (d["t"], d["p"], d["q"], d["T"], d["E"], d["m"], d.get("X", ""), recv)
                )
            elif kind == "bookTicker":
                books.append((d["u"], d["b"], d["B"], d["a"], d["A"], d["T"], d["E"], recv))
            elif kind == "depthUpdate":
                depth.append(
                    DepthUpdate(
                        symbol=symbol,
                        event_time=int(d["E"]),
                        transaction_time=int(d["T"]),
                        first_update_id=int(d["U"]),
                        final_update_id=int(d["u"]),
                        prev_final_update_id=int(d["pu"]),
                        bids=_levels(d["b"]),
                        asks=_levels(d["a"]),
                        recv_time_ns=recv,
                    )
                )
            elif kind == "markPriceUpdate":
                marks.append((d["E"], d["p"], d["i"], d["P"], d["r"], d["T"], recv))
    return RawCapture(
        symbol=symbol,
        trades=_trade_tape(symbol, grid, trades),
        book_ticker=_book_tape(symbol, grid, books),
        snapshots=snapshots,
        depth_updates=depth,
        mark_prices=_mark_tape(symbol, marks) if marks else None,
    )


def _trade_tape(symbol: str, grid: WireGrid, rows: list[tuple]) -> TradeTape:
    return TradeTape(
        symbol=symbol,
        trade_id=np.array([r[0] for r in rows], dtype=_I64),
        price=grid.parse_prices(r[1] for r in rows),
        qty=grid.parse_qtys(r[2] for r in rows),
        time=np.array([r[3] for r in rows], dtype=_I64),
        event_time=np.array([r[4] for r in rows], dtype=_I64),
        buyer_maker=np.array([bool(r[5]) for r in rows], dtype=bool),
        trade_type=np.array([trade_type_code(r[6]) for r in rows], dtype=np.int8),
        recv_time_ns=np.array([r[7] for r in rows], dtype=_I64),
    )


def _book_tape(symbol: str, grid: WireGrid, rows: list[tuple]) -> BookTickerTape:
    return BookTickerTape(
        symbol=symbol,
        update_id=np.array([r[0] for r in rows], dtype=_I64),
        bid_price=grid.parse_prices(r[1] for r in rows),
        bid_qty=grid.parse_qtys(r[2] for r in rows),
        ask_price=grid.parse_prices(r[3] for r in rows),
        ask_qty=grid.parse_qtys(r[4] for r in rows),
        transaction_time=np.array([r[5] for r in rows], dtype=_I64),
        event_time=np.array([r[6] for r in rows], dtype=_I64),
        recv_time_ns=np.array([r[7] for r in rows], dtype=_I64),
    )


def _mark_tape(symbol: str, rows: list[tuple]) -> MarkPriceTape:
    return MarkPriceTape(
        symbol=symbol,
        event_time=np.array([r[0] for r in rows], dtype=_I64),
        mark_price=tuple(Decimal(r[1]) for r in rows),
        index_price=tuple(Decimal(r[2]) for r in rows),
        settle_price=tuple(Decimal(r[3]) for r in rows),
        funding_rate=tuple(Decimal(r[4]) for r in rows),
        next_funding_time=np.array([r[5] for r in rows], dtype=_I64),
        recv_time_ns=np.array([r[6] for r in rows], dtype=_I64),
    )
