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
  least one tick) away, unlimited. Where the depth is known, from a raw websocket capture
  (`<recv ts> <json>` lines: a REST depth snapshot, then `depthUpdate` diffs, as in
  exchange_sim/data/raw_ws), the taker walks the recorded levels instead (the best
  `DEPTH_LEVELS` per side, the bookTicker touch merged on top when it is newer), and the impact
  level sits one step beyond the last of them. The standalone depth files of
  ../shared/data/market/depth (one snapshot a day, Tardis top-5/25 snapshots of another year)
  match no trade capture, so they are not used.
"""

import bisect
import csv
import gzip
import io
import itertools
import json
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from core.csv_header import header_names, is_data_row
from core.market import BookTicker as CoreBookTicker
from exchange_sim.engine.config import Bracket, FillMode

MINUTE_MS = 60_000
_ZERO = Decimal(0)
_UNLIMITED = Decimal(1_000_000)  # contracts: the impact level never runs dry
DEPTH_LEVELS = 20  # recorded levels per side handed to the engine
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


def draws(spec: str) -> bool:
    """Whether a latency setting (`--latency`, `--ack-latency`; "" is --latency-ms's fixed
    one) draws at random, i.e. whether the run's seed changes it."""
    return bool(spec) and parse_latency(spec).kind is not LatencyKind.FIXED


# A day. A longer latency means no order of the run is ever handled, and a far longer one (or
# a lognormal draw of a huge sigma) overflows the simulated clock's int64 ms.
MAX_LATENCY_MS = 86_400_000
MAX_LOGNORMAL_SIGMA = 3.0  # the p99 draw is already ~1,000 x the median


def parse_latency(spec: str | int) -> LatencyModel:
    """`20`, `"20"`, `"lognormal:median=20,sigma=0.5"` or `"empirical:12,15,20"` (ms)."""
    text = str(spec).strip().lower()
    try:
        if ":" not in text:
            ms = int(text)
            if not 0 <= ms <= MAX_LATENCY_MS:
                raise RealismError(f"latency must be 0 to {MAX_LATENCY_MS} ms (a day), not {ms}")
            return LatencyModel(ms=ms)
        kind, _, rest = text.partition(":")
        if kind == LatencyKind.LOGNORMAL:
            params = dict(kv.split("=", 1) for kv in rest.split(","))
            median, sigma = float(params["median"]), float(params["sigma"])
            if not (0 < median <= MAX_LATENCY_MS and 0 <= sigma <= MAX_LOGNORMAL_SIGMA):
                raise RealismError(
                    f"lognormal latency needs 0 < median <= {MAX_LATENCY_MS} ms and "
                    f"0 <= sigma <= {MAX_LOGNORMAL_SIGMA:g}: {spec}"
                )
            return LatencyModel(kind=LatencyKind.LOGNORMAL, median=median, sigma=sigma)
        if kind == LatencyKind.EMPIRICAL:
            samples = tuple(int(x) for x in rest.split(",") if x.strip())
            if not samples or min(samples) < 0 or max(samples) > MAX_LATENCY_MS:
                raise RealismError(
                    f"empirical latency needs ms values from 0 to {MAX_LATENCY_MS}: {spec}"
                )
            return LatencyModel(kind=LatencyKind.EMPIRICAL, samples=samples)
    except (ValueError, KeyError) as e:
        if isinstance(e, RealismError):
            raise
        raise RealismError(f"bad latency {spec!r}: {_LATENCY_FORMS}") from None
    raise RealismError(f"bad latency {spec!r}: {_LATENCY_FORMS}")


_LATENCY_FORMS = (
    "expected whole milliseconds (20), lognormal:median=MS,sigma=S or empirical:MS,MS,..."
)


def rng_for(seed: int, stream: str) -> random.Random:
    """The generator of one random stream of a run (str seeds are hashed with SHA-512, so the
    draws are the same in every process and Python version 3.2+)."""
    return random.Random(f"{seed}:{stream}")


# --- resting limit orders ---------------------------------------------------------------------


def parse_fill_mode(text: str) -> FillMode:
    """`through` or `touch` (see `FillMode`); RealismError for anything else."""
    try:
        return FillMode(str(text).strip().lower())
    except ValueError:
        raise RealismError(f"fill mode must be through or touch, not {text!r}") from None


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
    """Read a funding-rate history CSV (plain or gzipped; see the module doc for layouts), or
    a raw websocket capture (`.jsonl[.gz]`): there each settlement's rate is the last
    `markPriceUpdate` rate `r` announced for it (`T`) before it."""
    p = Path(path)
    if not p.is_file():
        raise RealismError(f"funding file not found: {p}")
    if ".jsonl" in p.name:
        return _raw_funding(p)
    rows = _csv_rows(p)
    if not rows:
        raise RealismError(f"no rows in {p} (an empty file)")
    header = [] if is_data_row(rows[0][0]) else header_names(rows[0])
    if not header:
        t_col, r_col, names = 0, 1, ["time", "funding_rate"]
    else:
        t_col = next((header.index(c) for c in _TIME_COLS if c in header), -1)
        r_col = next((header.index(c) for c in _RATE_COLS if c in header), -1)
        if t_col < 0 or r_col < 0:
            raise RealismError(f"{p}: no time / funding rate columns in {','.join(rows[0])}")
        names = header

    def parse(body: list[list[str]]) -> dict[int, Decimal]:
        by_time: dict[int, Decimal] = {}
        for r in body:
            t = _ms(int(r[t_col]))
            rate = Decimal(r[r_col])
            if not rate.is_finite():
                raise ValueError
            by_time[(t + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS] = rate
        return by_time

    def locate(i: int, r: list[str]) -> None:
        _cell(p, i, r, t_col, names, int, "a time in ms")
        _cell(p, i, r, r_col, names, Decimal, "a number")

    by_time = _parsed(rows, header, parse, locate, names)
    if not by_time:
        raise RealismError(f"no data rows in {p} (only a header line)")
    times = tuple(sorted(by_time))
    diffs = [b - a for a, b in itertools.pairwise(times)]
    interval = 0
    for d in diffs:
        interval = math.gcd(interval, d)
    if interval < MINUTE_MS:  # one row, or irregular times: Binance's 8 h default
        interval = 8 * 60 * MINUTE_MS
    return FundingRates(times, tuple(by_time[t] for t in times), interval, str(p))


def _raw_funding(p: Path) -> FundingRates:
    from exchange_sim.replay.loaders import iter_raw_ws

    stream = p.name.split("-")[0].lower() + "@markprice"
    by_time: dict[int, Decimal] = {}
    try:
        for _, msg in iter_raw_ws(p):
            if msg.get("stream", "").lower().startswith(stream):
                d = msg["data"]
                by_time[int(d["T"])] = Decimal(d["r"])  # later announcements win
    except (OSError, ValueError, KeyError, InvalidOperation) as e:
        raise RealismError(f"cannot read funding from {p}: {e}") from None
    if not by_time:
        raise RealismError(f"no markPriceUpdate in {p}")
    times = tuple(sorted(by_time))
    return FundingRates(times, tuple(by_time[t] for t in times), 8 * 60 * MINUTE_MS, str(p))


def bundled_funding(symbol: str, start_ms: int, end_ms: int) -> Path | None:
    """The bundled funding file of `symbol` (exchange_sim/data/funding) whose recorded times
    overlap [start_ms, end_ms); None if there is none. Settlements outside its span get rate 0."""
    for p in sorted(_BUNDLED_FUNDING.glob(f"{symbol}-um-*funding_rate*.csv*")):
        f = load_funding(p)
        if f.times[0] < end_ms and f.times[-1] >= start_ms:
            return p
    return None


@dataclass(frozen=True, slots=True)
class UnrecordedFunding:
    """The settlements of a run outside the span its funding file records: each settles at
    rate 0, so the run's funding leaves them out (a file that ends before the data, as the
    bundled ones do for a later month, would otherwise go unnoticed)."""

    settlements: int  # the run's settlement instants, on the file's interval grid
    unrecorded: int  # of them, before the file's first rate or after its last
    recorded_from_ms: int
    recorded_to_ms: int


def unrecorded_funding(
    funding: FundingRates, start_ms: int, end_ms: int
) -> UnrecordedFunding | None:
    """The settlements in [start_ms, end_ms) (ms) that `funding` does not record, None when
    it covers them all. Only those outside its span count: inside it, a missing time may be no
    settlement at all (an interval that changed)."""
    step = funding.interval_ms
    grid = range(-(-start_ms // step) * step, end_ms, step)
    first, last = funding.times[0], funding.times[-1]
    outside = sum(1 for t in grid if t < first or t > last)
    if not outside:
        return None
    return UnrecordedFunding(len(grid), outside, first, last)


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
    depth: "DepthTape | None" = None  # the recorded depth of the same session, if any
    source: str = field(default="", compare=False)  # the CSV file read, for its error lines

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True, slots=True)
class DepthTape:
    """A recorded order book: a REST depth snapshot and the `depthUpdate` diffs that follow it
    (in update-id order, those already in the snapshot dropped). Sizes are absolute; 0 removes
    a level. Prices and sizes stay the recorded strings (Binance's canonical text, so a price
    string is a level's key). `gaps` counts diffs whose `pu` did not chain to the previous `u`
    (applied anyway)."""

    snapshot_ms: int
    bids: list[list[str]]
    asks: list[list[str]]
    update_ms: list[int]  # transaction time of each diff
    updates: list[tuple[list[list[str]], list[list[str]]]]  # (bids, asks) per diff
    gaps: int


def load_depth(paths: Sequence[str | Path], symbol: str) -> DepthTape:
    """The depth of `symbol` in raw websocket captures (consecutive files of one session)."""
    from exchange_sim.replay.loaders import iter_raw_ws

    stream = symbol.lower() + "@depth"
    snapshot: dict[str, Any] | None = None
    diffs: list[dict[str, Any]] = []
    try:
        for path in paths:
            for _, msg in iter_raw_ws(path):
                if "stream" not in msg:
                    if snapshot is None and "lastUpdateId" in msg:
                        snapshot = msg
                elif msg["stream"].startswith(stream):
                    diffs.append(msg["data"])
    except (OSError, ValueError, KeyError) as e:
        raise RealismError(f"cannot read depth from {', '.join(map(str, paths))}: {e}") from None
    if snapshot is None:
        raise RealismError(f"no depth snapshot in {', '.join(map(str, paths))}")
    last = int(snapshot["lastUpdateId"])
    diffs = [d for d in diffs if int(d["u"]) >= last]  # older ones are in the snapshot
    gaps, prev = 0, None
    if diffs and not int(diffs[0]["U"]) <= last <= int(diffs[0]["u"]):
        gaps += 1
    for d in diffs:
        if prev is not None and int(d["pu"]) != prev:
            gaps += 1
        prev = int(d["u"])

    return DepthTape(
        snapshot_ms=int(snapshot["T"]),
        bids=snapshot["bids"],
        asks=snapshot["asks"],
        update_ms=[int(d["T"]) for d in diffs],
        updates=[(d["b"], d["a"]) for d in diffs],
        gaps=gaps,
    )


def load_book_ticker(
    spec: str | Path,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    symbol: str | None = None,
) -> BookTicker:
    """`BacktestConfig.book_ticker`: comma-separated files of one session: a bookTicker CSV
    and/or raw websocket captures (`.jsonl[.gz]`: their depth, and their bookTicker messages
    when no CSV is given). `symbol` defaults to the first file name's prefix
    (`BTCUSDT-um-...`)."""
    paths = [Path(x.strip()) for x in str(spec).split(",") if x.strip()]
    if symbol is None:
        symbol = paths[0].name.split("-")[0].upper() if paths else ""
    for p in paths:  # Binance names its files <SYMBOL>-um-...: another symbol's quotes
        named = p.name.split("-")[0]  # would fail much later, on a price off the tick grid
        if "-" in p.name and named.isalnum() and named.isupper() and named != symbol:
            raise RealismError(f"{p.name} holds {named} quotes, not {symbol}'s")
    raw = [p for p in paths if ".jsonl" in p.name]
    csvs = [p for p in paths if p not in raw]
    for p in raw:
        if not p.is_file():
            raise RealismError(f"capture not found: {p}")
    if len(csvs) > 1:
        raise RealismError(f"one bookTicker CSV at most, not {len(csvs)}")
    if csvs:
        quotes = _load_book_ticker_csv(csvs[0], start_ms=start_ms, end_ms=end_ms)
    elif raw:
        quotes = _raw_book_ticker(raw, symbol, start_ms, end_ms)
    else:
        raise RealismError("no book file given")
    if not raw:
        return quotes
    return BookTicker(
        quotes.time,
        quotes.bid,
        quotes.bid_qty,
        quotes.ask,
        quotes.ask_qty,
        load_depth(raw, symbol),
        quotes.source,
    )


def _raw_book_ticker(
    paths: list[Path], symbol: str, start_ms: int | None, end_ms: int | None
) -> BookTicker:
    from exchange_sim.replay.loaders import iter_raw_ws

    stream = symbol.lower() + "@bookticker"
    rows = []
    for path in paths:
        for _, msg in iter_raw_ws(path):
            if msg.get("stream", "").lower() == stream:
                d = msg["data"]
                t = int(d["T"])
                if (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms):
                    rows.append((t, d["b"], d["B"], d["a"], d["A"]))
    if not rows:
        raise RealismError(f"no bookTicker messages in {', '.join(map(str, paths))}")
    rows.sort(key=lambda r: r[0])
    times, b, bq, a, aq = (list(c) for c in zip(*rows, strict=True))
    return BookTicker(times, b, bq, a, aq)


def _load_book_ticker_csv(
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
        raise RealismError(f"no rows in {p} (an empty file)")
    cols = [1, 2, 3, 4, 5]
    names = list(_BOOK_TICKER_NAMES)
    h = [] if is_data_row(rows[0][0]) else header_names(rows[0])
    if h:
        quotes = ("best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty")
        t = next((h.index(c) for c in ("transaction_time", "event_time") if c in h), -1)
        if t < 0 or not all(n in h for n in quotes):
            raise RealismError(f"{p}: not a bookTicker file ({','.join(rows[0])})")
        cols = [h.index(n) for n in quotes] + [t]
        names = h
    b, bq, a, aq, t = cols

    def parse(body: list[list[str]]) -> list[tuple[int, list[str]]]:
        return sorted(((_ms(int(r[t])), r) for r in body), key=lambda x: x[0])

    def locate(i: int, r: list[str]) -> None:
        _cell(p, i, r, t, names, int, "a time in ms")

    keyed = _parsed(rows, h, parse, locate, names)
    if not keyed:
        raise RealismError(f"no data rows in {p} (only a header line)")
    keyed = [
        x
        for x in keyed
        if (start_ms is None or x[0] >= start_ms) and (end_ms is None or x[0] < end_ms)
    ]
    if not keyed:
        raise RealismError(f"no bookTicker rows in {p} within the requested time range")
    # Prices and sizes stay text, checked where the replay turns a quote into numbers
    # (`_bad_quote`): checked here, every cell would cost the load about 5 %.
    return BookTicker(
        [x[0] for x in keyed],
        [x[1][b] for x in keyed],
        [x[1][bq] for x in keyed],
        [x[1][a] for x in keyed],
        [x[1][aq] for x in keyed],
        source=str(p),
    )


_QUOTE_COLUMNS = ("best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty")


def _bad_quote(q: BookTicker, j: int) -> RealismError:
    """The error for recorded quote `j`, a cell of which is no number: its file, line, column
    and value (a CSV's; a capture's quote by its time)."""
    columns = zip(_QUOTE_COLUMNS, (q.bid, q.bid_qty, q.ask, q.ask_qty), strict=True)
    name, value = next((n, c[j]) for n, c in columns if not _is_number(c[j]))
    if not q.source:
        return RealismError(
            f"the bookTicker quote at {q.time[j]} ms: {name} {value!r} is not a number"
        )
    p = Path(q.source)
    rows = _csv_rows(p)
    h = [] if is_data_row(rows[0][0]) else header_names(rows[0])
    col = h.index(name) if h else _BOOK_TICKER_NAMES.index(name)
    t = next((h.index(c) for c in ("transaction_time", "event_time") if c in h), 5)
    same = [i for i, r in enumerate(rows) if len(r) > max(col, t) and r[col] == value]
    i = next((i for i in same if _ms(int(rows[i][t])) == q.time[j]), same[0] if same else 0)
    return RealismError(f"{p}: line {_line(p, i)}, column {name}: {value!r} is not a number")


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _quote_numbers(q: BookTicker, j: int) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Recorded quote `j`'s bid, bid size, ask and ask size as numbers; `_bad_quote`'s error
    when a cell is no finite number: 'abc', or 'NaN' and 'Infinity', which Decimal reads (a NaN
    bid stopped the run with 'cannot convert NaN to integer', no file or line named)."""
    try:
        bid, bid_qty = Decimal(q.bid[j]), Decimal(q.bid_qty[j])
        ask, ask_qty = Decimal(q.ask[j]), Decimal(q.ask_qty[j])
    except InvalidOperation:
        raise _bad_quote(q, j) from None
    if not (bid.is_finite() and bid_qty.is_finite() and ask.is_finite() and ask_qty.is_finite()):
        raise _bad_quote(q, j)
    return bid, bid_qty, ask, ask_qty


class BookFeed:
    """Hands the engine the recorded book in force at a time.

    Top of book only (bookTicker): a two-level book per side: the recorded best (price,
    quantity), then an unlimited level one impact step beyond (`impact_bps` of the best price,
    rounded away from it, at least one tick). With depth: the best `DEPTH_LEVELS` recorded
    levels per side and the unlimited level one impact step beyond the last of them; the
    latest bookTicker quote, when newer than the depth, is merged on top by the engine.

    `feed_until(t)` brings the book to its state at `t` and tells the engine only when it
    changed (the quotes and diffs before `t` changed nothing anyone traded against), so what
    our taker orders took from a level stays taken until the next recorded update."""

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "_depth",
        "_depth_ms",
        "_engine",
        "_i",
        "_impact",
        "_j",
        "_n",
        "_quote_ms",
        "_quotes",
        "_symbol",
        "_tick",
        "applied",
        "stats",
    )

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
        self._quote_ms: int | None = None  # time of the last quote applied
        self._depth = quotes.depth
        self._j = -1  # next depth diff to apply; -1: the snapshot is not in force yet
        self._depth_ms: int | None = None
        # Per side: sort key (-price for bids, price for asks) -> (price text, size text), and
        # the keys in ascending order (best first).
        self._bids: dict[float, tuple[str, str]] = {}
        self._asks: dict[float, tuple[str, str]] = {}
        self._bid_keys: list[float] = []
        self._ask_keys: list[float] = []
        self.applied = 0  # books handed to the engine
        self.stats: Any = None  # the venue's VenueStats (book_updates, depth_gaps), once attached

    def attach(self, stats: Any) -> None:
        """Count into the venue's VenueStats (book_updates, depth_gaps)."""
        self.stats = stats
        if self._depth is not None:
            stats.depth_gaps = self._depth.gaps

    @property
    def next_ms(self) -> int | None:
        """Time of the next recorded change (ms), None at the end."""
        t = self._quotes.time[self._i] if self._i < self._n else None
        d = self._depth
        if d is not None:
            nd = (
                d.snapshot_ms
                if self._j < 0
                else (d.update_ms[self._j] if self._j < len(d.updates) else None)
            )
            if nd is not None and (t is None or nd < t):
                return nd
        return t

    @property
    def quote_index(self) -> int:
        """Index of the last recorded quote in force (applied), -1 before the first."""
        return self._i - 1

    def book_ticker(self, j: int, recv_ms: int) -> CoreBookTicker:
        """Recorded quote `j` as the `core.market.BookTicker` the daemon's stream gives its
        ExecManager (update id: the quote's index; the file keeps no other)."""
        q = self._quotes
        t = q.time[j]
        return CoreBookTicker(self._symbol, j, *_quote_numbers(q, j), t, t, recv_ms)

    def feed_until(self, t_ms: int) -> None:
        depth_changed = self._depth is not None and self._advance_depth(t_ms)
        q = self._quotes
        quote_changed = self._i < self._n and q.time[self._i] <= t_ms
        if quote_changed:
            self._i = bisect.bisect_right(q.time, t_ms, self._i)
            self._quote_ms = q.time[self._i - 1]
        if not (depth_changed or quote_changed):
            return
        self.applied += 1
        if self.stats is not None:
            self.stats.book_updates += 1
        j = self._i - 1
        if self._depth_ms is None:  # top of book only
            bids, asks = book_levels(*_quote_numbers(q, j), self._tick, self._impact)
            self._engine.on_depth(self._symbol, bids, asks, q.time[j])
            return
        if depth_changed:
            self._engine.on_depth(self._symbol, *self._depth_levels(), self._depth_ms)
        if self._quote_ms is not None and self._quote_ms >= self._depth_ms:
            self._engine.on_book_ticker(self._symbol, *_quote_numbers(q, j), self._quote_ms)

    def _advance_depth(self, t_ms: int) -> bool:
        d = self._depth
        assert d is not None
        changed = False
        if self._j < 0:
            if d.snapshot_ms > t_ms:
                return False
            self._bids = {-float(p): (p, q) for p, q in d.bids if float(q) > 0}
            self._asks = {float(p): (p, q) for p, q in d.asks if float(q) > 0}
            self._bid_keys, self._ask_keys = sorted(self._bids), sorted(self._asks)
            self._j, self._depth_ms, changed = 0, d.snapshot_ms, True
        times, updates = d.update_ms, d.updates
        while self._j < len(updates) and times[self._j] <= t_ms:
            bids, asks = updates[self._j]
            for sign, book, keys, levels in (
                (-1.0, self._bids, self._bid_keys, bids),
                (1.0, self._asks, self._ask_keys, asks),
            ):
                for p, qty in levels:
                    k = sign * float(p)
                    if float(qty) > 0:
                        if k not in book:
                            bisect.insort(keys, k)
                        book[k] = (p, qty)
                    elif book.pop(k, None) is not None:
                        del keys[bisect.bisect_left(keys, k)]
            self._depth_ms = times[self._j]
            self._j += 1
            changed = True
        return changed

    def _depth_levels(
        self,
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [
            (Decimal(p), Decimal(q))
            for p, q in map(self._bids.__getitem__, self._bid_keys[:DEPTH_LEVELS])
        ]
        asks = [
            (Decimal(p), Decimal(q))
            for p, q in map(self._asks.__getitem__, self._ask_keys[:DEPTH_LEVELS])
        ]
        if bids:
            worst = bids[-1][0]
            price = worst - impact_offset(worst, self._impact, self._tick)
            if price > 0:
                bids.append((price, _UNLIMITED))
        if asks:
            worst = asks[-1][0]
            asks.append((worst + impact_offset(worst, self._impact, self._tick), _UNLIMITED))
        return bids, asks


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


_BOOK_TICKER_NAMES = (
    "update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty",
    "transaction_time", "event_time",
)  # fmt: skip


def _csv_rows(p: Path) -> list[list[str]]:
    """The non-empty rows, cells stripped; UTF-8 that may start with a byte-order mark (a
    spreadsheet's "CSV UTF-8" export)."""
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    try:
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            return [[c.strip() for c in r] for r in csv.reader(fh) if r]
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as e:
        raise RealismError(f"cannot read {p}: {e}") from None


def _data_rows(rows: list[list[str]], header: list[str], layout: Sequence[str]) -> list[list[str]]:
    """The data rows: after the `header` line (none: []), without a header line met again
    (files concatenated with their headers), names compared as `core.csv_header` says, as the
    kline loader skips it: the first line's names, or in a file without a header, the names
    of the columns as they are read (`layout`: Binance's header after its headerless older
    files). A header of another layout is not skipped: its rows would be read in the wrong
    columns, so it is refused as the bad row it is there. A data row starts with a digit (a
    time, an id): one test."""
    names = list(header or layout)
    width = len(names)
    return [
        r for r in (itertools.islice(rows, 1, None) if header else rows)
        if r[0][:1].isdigit() or header_names(r[:width]) != names
    ]  # fmt: skip


def _numbered(
    rows: list[list[str]], header: list[str], layout: Sequence[str]
) -> Iterator[tuple[int, list[str]]]:
    """(index in `rows`, row) of `_data_rows`: the error path, which names a row's line."""
    body = {id(r) for r in _data_rows(rows, header, layout)}
    return ((i, r) for i, r in enumerate(rows) if id(r) in body)


_T = TypeVar("_T")


def _parsed(
    rows: list[list[str]],
    header: list[str],
    parse: Callable[[list[list[str]]], _T],
    locate: Callable[[int, list[str]], None],
    layout: Sequence[str],
) -> _T:
    """`parse` of the data rows (`layout`: the column names of a file without a header). The
    rows after the header are parsed as they are; only when that fails are the header's
    repeats left out (`_data_rows`) and the rows parsed again, so a file without one costs
    nothing more; when that fails too, `locate` is called on each data row (its index in
    `rows`, for the line) to raise the error naming the cell."""
    try:
        return parse(rows[1:] if header else rows)
    except (IndexError, ValueError, InvalidOperation):
        pass
    try:
        return parse(_data_rows(rows, header, layout))
    except (IndexError, ValueError, InvalidOperation):
        for i, r in _numbered(rows, header, layout):
            locate(i, r)
        raise


def _cell(
    p: Path,
    i: int,
    row: list[str],
    col: int,
    names: Sequence[str],
    convert: Callable[[str], _T],
    what: str,
) -> _T:
    """`convert(row[col])`; RealismError naming the file, the line, the column and the value
    when it is not `what` (or the row is too short)."""
    try:
        value = convert(row[col])
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError
        return value
    except IndexError:
        raise RealismError(f"{p}: line {_line(p, i)} has too few columns") from None
    except (ValueError, InvalidOperation):
        name = names[col] if col < len(names) else f"#{col + 1}"
        raise RealismError(
            f"{p}: line {_line(p, i)}, column {name}: {row[col]!r} is not {what}"
        ) from None


def _line(p: Path, index: int) -> int:
    """The line of non-empty row `index` of `_csv_rows(p)`: the file read again (the error
    path only; keeping every row's line would cost on every row)."""
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        numbered = (reader.line_num for r in reader if r)
        return next(itertools.islice(numbered, index, None), 0)


# --- command line -----------------------------------------------------------------------------


def add_cli_flags(parser: Any) -> None:
    """The realism flags of backtest_trading_strategy.py (an argparse parser)."""
    g = parser.add_argument_group("fill realism (backtest/realism.py)")
    g.add_argument(
        "--latency",
        default="",
        metavar="SPEC",
        help="order-entry latency, ms: MS, lognormal:median=MS,sigma=S or empirical:MS,MS,... "
        "(instead of --latency-ms, not beside it; default: --latency-ms)",
    )
    g.add_argument(
        "--ack-latency",
        default="0",
        metavar="SPEC",
        help="latency of the engine's events reaching the daemon, ms, same forms as --latency "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--funding",
        default="none",
        metavar="PATH|auto|none",
        help="recorded funding rates (CSV); auto = the bundled file of the symbol if it "
        "overlaps the data (settlements outside it pay 0); none = no funding (default: "
        "%(default)s)",
    )
    g.add_argument(
        "--book-ticker",
        default="",
        metavar="PATH[,PATH..]",
        help="the recorded book of a trades replay: a bookTicker CSV and/or raw websocket "
        "captures (.jsonl.gz, for their depth); takers walk it, the rest --slippage-bps (at "
        "least a tick) beyond its last level (default: none)",
    )
    g.add_argument(
        "--fill-mode",
        default="through",
        metavar="through|touch",
        help="a resting limit order fills on a recorded trade strictly beyond its price "
        "(through, the default) or at it (touch, as freqtrade and nautilus_trader fill)",
    )
    g.add_argument(
        "--leverage",
        type=int,
        default=None,
        help="leverage, 1 to 125 (default: --config's risk.leverage, else 3)",
    )
    g.add_argument(
        "--brackets",
        default="",
        metavar="PATH",
        help="a saved GET /fapi/v1/leverageBracket answer: the maintenance margin tiers the "
        "engine liquidates at (default: the engine's BTCUSDT-like tiers)",
    )


def cli_config(args: Any) -> dict[str, Any]:
    """BacktestConfig keywords from the parsed flags; RealismError for a bad one. (The seed of
    the draws is the CLI's --seed.)"""
    if args.latency:
        parse_latency(args.latency)
    parse_latency(args.ack_latency)
    parse_fill_mode(args.fill_mode)
    if args.leverage is not None and not 1 <= args.leverage <= 125:
        raise RealismError(f"--leverage must be 1..125, not {args.leverage}")
    return {
        "entry_latency": args.latency,
        "ack_latency": args.ack_latency,
        "funding": args.funding,
        "book_ticker": args.book_ticker,
        "fill_mode": args.fill_mode.strip().lower(),
        "leverage": args.leverage,
        "brackets": args.brackets,
    }
