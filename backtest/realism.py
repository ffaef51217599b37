"""Fill-realism knobs of a backtest: latency models, recorded funding rates, leverage brackets and
the recorded top of book with an impact model beyond it.

Each knob is a plain value in `BacktestConfig` (so it lands in summary.json's settings) and is
turned into an object here:

- Latency (`LatencyModel`, ms): `"20"` fixed, `"lognormal:median=20,sigma=0.5"` (median ms and
  the sigma of the log), `"empirical:12,15,20,48"` (drawn uniformly from the listed ms). Draws
  come from `random.Random` seeded with the run's seed and the stream's name, so a given seed
  gives the same draws, and order-entry draws do not move when acknowledgement draws are added.
- Funding (`FundingRates`): a recorded funding-rate history (freqtrade's `time,funding_rate`,
  Binance's `fundingTime,fundingRate[,markPrice]` or data.binance.vision's
  `calc_time,funding_interval_hours,last_funding_rate`). Each recorded time is put on the
  minute (the files carry +1 ms jitter); the engine settles at multiples of the recorded
  interval with `position * mark * rate` (longs pay a positive rate), the mark being the one in
  force just before the settlement (the last bar close, or the last trade's second).
- Brackets: a GET /fapi/v1/leverageBracket answer (JSON) for the symbol; without one the
  engine's `DEFAULT_BRACKETS` (the protocol reference's BTCUSDT tiers 1-5).
- Book (`BookFeed`): recorded bookTicker quotes. A taker takes the recorded best level with its
  quantity; what is left fills one impact step beyond it: `impact_bps` of the touch price (at
  least one tick) away, unlimited. Depth snapshots (../shared/data/market/depth) are not used:
  a snapshot every few minutes between bookTicker updates would be stale the moment it is read.
"""

import bisect
import csv
import gzip
import io
import itertools
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange_sim.engine.config import Bracket

MINUTE_MS = 60_000
_ZERO = Decimal(0)
_UNLIMITED = Decimal(1_000_000)  # contracts: the impact level never runs dry
_BUNDLED_FUNDING = Path(__file__).resolve().parents[1] / "exchange_sim" / "data" / "funding"


class RealismError(ValueError):
    """A realism knob cannot be used (bad spec, unreadable file); one sentence."""


# --- latency ----------------------------------------------------------------------------------


class LatencyKind(StrEnum):
    FIXED = "fixed"
    LOGNORMAL = "lognormal"
    EMPIRICAL = "empirical"


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyModel:
    """A latency in ms: fixed, lognormal (median, sigma of the log) or drawn from samples."""

    kind: LatencyKind = LatencyKind.FIXED
    ms: int = 0
    median: float = 0.0
    sigma: float = 0.0
    samples: tuple[int, ...] = ()

    @property
    def is_zero(self) -> bool:
        return self.kind is LatencyKind.FIXED and self.ms == 0

    def spec(self) -> str:
        """The text `parse_latency` reads back into this model."""
        if self.kind is LatencyKind.FIXED:
            return str(self.ms)
        if self.kind is LatencyKind.LOGNORMAL:
            return f"lognormal:median={self.median:g},sigma={self.sigma:g}"
        return "empirical:" + ",".join(str(s) for s in self.samples)

    def sampler(self, rng: random.Random) -> Callable[[], int]:
        """A function returning the next draw, in whole ms (>= 0)."""
        if self.kind is LatencyKind.FIXED:
            ms = self.ms
            return lambda: ms
        if self.kind is LatencyKind.LOGNORMAL:
            mu, sigma = math.log(self.median), self.sigma
            return lambda: int(math.exp(rng.normalvariate(mu, sigma)) + 0.5)
        samples = self.samples
        return lambda: samples[rng.randrange(len(samples))]


def parse_latency(spec: str | int) -> LatencyModel:
    """`20`, `"20"`, `"lognormal:median=20,sigma=0.5"` or `"empirical:12,15,20"` (ms)."""
    text = str(spec).strip().lower()
    try:
        if ":" not in text:
            ms = int(text)
            if ms < 0:
                raise RealismError(f"latency must be >= 0 ms, not {ms}")
            return LatencyModel(ms=ms)
        kind, _, rest = text.partition(":")
        if kind == LatencyKind.LOGNORMAL:
            params = dict(kv.split("=", 1) for kv in rest.split(","))
            median, sigma = float(params["median"]), float(params["sigma"])
            if not (median > 0 and sigma >= 0 and math.isfinite(median * sigma)):
                raise RealismError(f"lognormal latency needs median > 0 and sigma >= 0: {spec}")
            return LatencyModel(kind=LatencyKind.LOGNORMAL, median=median, sigma=sigma)
        if kind == LatencyKind.EMPIRICAL:
            samples = tuple(int(x) for x in rest.split(",") if x.strip())
            if not samples or min(samples) < 0:
                raise RealismError(f"empirical latency needs ms values >= 0: {spec}")
            return LatencyModel(kind=LatencyKind.EMPIRICAL, samples=samples)
    except (ValueError, KeyError) as e:
        if isinstance(e, RealismError):
            raise
        raise RealismError(f"bad latency {spec!r}: {e}") from None
    raise RealismError(
        f"bad latency {spec!r}: use MS, lognormal:median=MS,sigma=S or empirical:MS,MS,..."
    )


def rng_for(seed: int, stream: str) -> random.Random:
    """The generator of one random stream of a run (str seeds are hashed with SHA-512, so the
    draws are the same in every process and Python version 3.2+)."""
    return random.Random(f"{seed}:{stream}")


# --- funding ----------------------------------------------------------------------------------

_TIME_COLS = ("time", "fundingtime", "funding_time", "calc_time", "timestamp", "date")
_RATE_COLS = ("funding_rate", "fundingrate", "last_funding_rate", "rate")


@dataclass(frozen=True, slots=True)
class FundingRates:
    """Recorded funding rates: settlement time (ms, on the minute) -> rate (fraction)."""

    times: tuple[int, ...]  # ascending
    rates: tuple[Decimal, ...]
    interval_ms: int
    source: str

    def rate_at(self, funding_time_ms: int) -> Decimal:
        """The recorded rate of the settlement at `funding_time_ms`; 0 if none was recorded."""
        i = bisect.bisect_left(self.times, funding_time_ms)
        if i < len(self.times) and self.times[i] == funding_time_ms:
            return self.rates[i]
        return _ZERO

    def next_rate(self, now_ms: int) -> tuple[Decimal, int]:
        """(rate, time) of the next settlement after `now_ms` on the interval grid: what a mark
        price update at `now_ms` carries."""
        t = (now_ms // self.interval_ms + 1) * self.interval_ms
        return self.rate_at(t), t

    def times_between(self, start_ms: int, end_ms: int) -> list[int]:
        """Recorded settlement times in [start_ms, end_ms) with a non-zero rate, ascending: the
        instants a fast path must stop at while a position is open."""
        lo = bisect.bisect_left(self.times, start_ms)
        hi = bisect.bisect_left(self.times, end_ms)
        return [t for t, r in zip(self.times[lo:hi], self.rates[lo:hi], strict=True) if r]

    def times_array(self) -> Any:
        """Every recorded settlement time as a sorted numpy int64 array (ms)."""
        import numpy as np

        return np.asarray(self.times, dtype=np.int64)


def load_funding(path: str | Path) -> FundingRates:
    """Read a funding-rate history CSV (plain or gzipped; see the module doc for layouts)."""
    p = Path(path)
    if not p.is_file():
        raise RealismError(f"funding file not found: {p}")
    rows = _csv_rows(p)
    if not rows:
        raise RealismError(f"no rows in {p}")
    header = [c.lower() for c in rows[0]]
    if header[0].lstrip("-").isdigit():
        t_col, r_col, body = 0, 1, rows
    else:
        t_col = next((header.index(c) for c in _TIME_COLS if c in header), -1)
        r_col = next((header.index(c) for c in _RATE_COLS if c in header), -1)
        if t_col < 0 or r_col < 0:
            raise RealismError(f"{p}: no time / funding rate columns in {','.join(rows[0])}")
        body = rows[1:]
    by_time: dict[int, Decimal] = {}
    try:
        for r in body:
            t = _ms(int(r[t_col]))
            by_time[(t + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS] = Decimal(r[r_col])
    except (IndexError, ValueError, InvalidOperation) as e:
        raise RealismError(f"{p}: bad row ({e})") from None
    if not by_time:
        raise RealismError(f"no rows in {p}")
    times = tuple(sorted(by_time))
    diffs = [b - a for a, b in itertools.pairwise(times)]
    interval = 0
    for d in diffs:
        interval = math.gcd(interval, d)
    if interval < MINUTE_MS:  # one row, or irregular times: Binance's 8 h default
        interval = 8 * 60 * MINUTE_MS
    return FundingRates(times, tuple(by_time[t] for t in times), interval, str(p))


def bundled_funding(symbol: str, start_ms: int, end_ms: int) -> Path | None:
    """The bundled funding file of `symbol` (exchange_sim/data/funding) whose recorded times
    overlap [start_ms, end_ms); None if there is none. Settlements outside its span get rate 0."""
    for p in sorted(_BUNDLED_FUNDING.glob(f"{symbol}-um-*funding_rate*.csv*")):
        f = load_funding(p)
        if f.times[0] < end_ms and f.times[-1] >= start_ms:
            return p
    return None


# --- leverage brackets ------------------------------------------------------------------------


def load_brackets(path: str | Path, symbol: str) -> tuple[Bracket, ...]:
    """The symbol's tiers from a saved GET /fapi/v1/leverageBracket answer (a list of
    `{symbol, brackets}` or one such object)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise RealismError(f"cannot read brackets {p}: {e}") from None
    entries = doc if isinstance(doc, list) else [doc]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("symbol") == symbol:
            try:
                tiers = tuple(
                    Bracket(
                        int(b["bracket"]),
                        int(b["initialLeverage"]),
                        Decimal(str(b["notionalCap"])),
                        Decimal(str(b["notionalFloor"])),
                        Decimal(str(b["maintMarginRatio"])),
                        Decimal(str(b["cum"])),
                    )
                    for b in entry["brackets"]
                )
            except (KeyError, TypeError, ValueError, InvalidOperation) as e:
                raise RealismError(f"{p}: bad bracket ({e})") from None
            if not tiers:
                break
            return tuple(sorted(tiers, key=lambda b: b.notional_cap))
    raise RealismError(f"{p}: no brackets for {symbol}")


# --- recorded top of book ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Recorded best bid/ask updates as columns (prices and sizes as the file's text)."""

    time: list[int]  # transaction time, ms
    bid: list[str]
    bid_qty: list[str]
    ask: list[str]
    ask_qty: list[str]

    def __len__(self) -> int:
        return len(self.time)


def load_book_ticker(
    path: str | Path, *, start_ms: int | None = None, end_ms: int | None = None
) -> BookTicker:
    """A bookTicker CSV (data.binance.vision columns `update_id, best_bid_price, best_bid_qty,
    best_ask_price, best_ask_qty, transaction_time, event_time`, header optional), rows in
    [start_ms, end_ms), sorted by time (stable)."""
    p = Path(path)
    if not p.is_file():
        raise RealismError(f"bookTicker file not found: {p}")
    rows = _csv_rows(p)
    if not rows:
        raise RealismError(f"no rows in {p}")
    cols = [1, 2, 3, 4, 5]
    if not rows[0][0].isdigit():
        h = [c.lower() for c in rows[0]]
        names = ("best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty")
        t = next((h.index(c) for c in ("transaction_time", "event_time") if c in h), -1)
        if t < 0 or not all(n in h for n in names):
            raise RealismError(f"{p}: not a bookTicker file ({','.join(rows[0])})")
        cols = [h.index(n) for n in names] + [t]
        rows = rows[1:]
    b, bq, a, aq, t = cols
    try:
        keyed = sorted(((_ms(int(r[t])), r) for r in rows), key=lambda x: x[0])
    except (IndexError, ValueError) as e:
        raise RealismError(f"{p}: bad row ({e})") from None
    keyed = [
        x
        for x in keyed
        if (start_ms is None or x[0] >= start_ms) and (end_ms is None or x[0] < end_ms)
    ]
    if not keyed:
        raise RealismError(f"no bookTicker rows in {p} within the requested time range")
    return BookTicker(
        [x[0] for x in keyed],
        [x[1][b] for x in keyed],
        [x[1][bq] for x in keyed],
        [x[1][a] for x in keyed],
        [x[1][aq] for x in keyed],
    )


class BookFeed:
    """Hands the engine the recorded top of book in force at a time, as a two-level book per
    side: the recorded best (price, quantity), then an unlimited level one impact step beyond
    (`impact_bps` of the best price, rounded away from it, at least one tick).

    `feed_until(t)` applies only the last quote at or before `t` (the ones before it changed
    nothing anyone traded against); quotes are never applied twice, so what our taker orders
    took from a level stays taken until the next recorded update."""

    __slots__ = ("_engine", "_i", "_impact", "_n", "_quotes", "_symbol", "_tick", "applied")

    def __init__(
        self, engine: Any, symbol: str, quotes: BookTicker, tick: Decimal, impact_bps: Decimal
    ) -> None:
        self._engine = engine
        self._symbol = symbol
        self._quotes = quotes
        self._tick = tick
        self._impact = impact_bps
        self._i = 0  # next quote not yet applied
        self._n = len(quotes)
        self.applied = 0

    @property
    def next_ms(self) -> int | None:
        return self._quotes.time[self._i] if self._i < self._n else None

    def feed_until(self, t_ms: int) -> None:
        q = self._quotes
        if self._i >= self._n or q.time[self._i] > t_ms:
            return
        j = bisect.bisect_right(q.time, t_ms, self._i) - 1
        self._i = j + 1
        bid, ask = Decimal(q.bid[j]), Decimal(q.ask[j])
        bids, asks = book_levels(
            bid, Decimal(q.bid_qty[j]), ask, Decimal(q.ask_qty[j]), self._tick, self._impact
        )
        self._engine.on_depth(self._symbol, bids, asks, q.time[j])
        self.applied += 1


def impact_offset(price: Decimal, impact_bps: Decimal, tick: Decimal) -> Decimal:
    """`impact_bps` of `price`, rounded up to whole ticks, at least one tick (USDT)."""
    ticks = (price * impact_bps / Decimal(10_000) / tick).to_integral_value(rounding=ROUND_CEILING)
    return max(1, int(ticks)) * tick


def book_levels(
    bid: Decimal,
    bid_qty: Decimal,
    ask: Decimal,
    ask_qty: Decimal,
    tick: Decimal,
    impact_bps: Decimal,
) -> tuple[Sequence[tuple[Decimal, Decimal]], Sequence[tuple[Decimal, Decimal]]]:
    """(bids, asks) best first: the recorded touch, then the unlimited impact level."""
    bids = [(bid, bid_qty), (bid - impact_offset(bid, impact_bps, tick), _UNLIMITED)]
    asks = [(ask, ask_qty), (ask + impact_offset(ask, impact_bps, tick), _UNLIMITED)]
    return [lv for lv in bids if lv[0] > 0], asks


# --- helpers ----------------------------------------------------------------------------------


def _ms(t: int) -> int:
    if t < 10**11:
        return t * 1000
    if t >= 10**14:
        return t // 1000
    return t


def _csv_rows(p: Path) -> list[list[str]]:
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
            return [[c.strip() for c in r] for r in csv.reader(fh) if r]
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise RealismError(f"cannot read {p}: {e}") from None


# --- command line -----------------------------------------------------------------------------


def add_cli_flags(parser: Any) -> None:
    """The realism flags of backtest_trading_strategy.py (an argparse parser)."""
    g = parser.add_argument_group("fill realism (backtest/realism.py)")
    g.add_argument(
        "--latency",
        default="",
        metavar="SPEC",
        help="order-entry latency: MS, lognormal:median=MS,sigma=S or empirical:MS,MS,... "
        "(overrides --latency-ms)",
    )
    g.add_argument(
        "--ack-latency", default="0", metavar="SPEC", help="engine event -> daemon, same forms"
    )
    g.add_argument(
        "--funding",
        default="none",
        metavar="PATH|auto|none",
        help="recorded funding rates (CSV); auto = the bundled file of the symbol if it "
        "overlaps the data (settlements outside it pay 0)",
    )
    g.add_argument(
        "--book-ticker",
        default="",
        metavar="PATH",
        help="bookTicker CSV for trades data: takers take the recorded top of book, the rest "
        "--slippage-bps (at least a tick) beyond it",
    )
    g.add_argument("--leverage", type=int, default=None, help="leverage (default: risk config)")
    g.add_argument(
        "--brackets", default="", metavar="PATH", help="saved GET /fapi/v1/leverageBracket JSON"
    )


def cli_config(args: Any) -> dict[str, Any]:
    """BacktestConfig keywords from the parsed flags; RealismError for a bad one. (The seed of
    the draws is the CLI's --seed.)"""
    if args.latency:
        parse_latency(args.latency)
    parse_latency(args.ack_latency)
    if args.leverage is not None and not 1 <= args.leverage <= 125:
        raise RealismError(f"--leverage must be 1..125, not {args.leverage}")
    return {
        "entry_latency": args.latency,
        "ack_latency": args.ack_latency,
        "funding": args.funding,
        "book_ticker": args.book_ticker,
        "leverage": args.leverage,
        "brackets": args.brackets,
    }
