"""Performance metrics of a backtest: pure functions of the equity curve and the fills.

Inputs are plain floats and ints (the curve is sampled once per bar; money is USDT as float:
a report, not a ledger). Conventions, each stated once here:

- returns are simple returns between consecutive equity samples (one per bar: 1m for the
  backtester's curves); a year is 365 days (crypto trades every day), and the number of samples
  per year is `YEAR_MS / median sampling step`: 525,600 for 1m samples, 8,760 for 1h, 365 for
  1d; the risk-free rate is 0 (funding is in the equity already);
- Sharpe = mean / sample std (ddof 1) * sqrt(samples per year);
  Sortino = mean / downside deviation * sqrt(samples per year), downside deviation =
  sqrt(mean(min(r, 0)^2)) over all samples (target 0; as quantstats and empyrical);
- the same two on daily returns (`sharpe_daily`, `sortino_daily`, x sqrt(365)): a day's return
  = its last equity sample / the previous day's last (the first day: the first sample) - 1,
  UTC days, a partial first or last day counting as a day, as resampling the curve to days
  ('1D', last) does; both None with fewer than 2 days. quantstats, empyrical and pyfolio are
  given daily returns as a rule: compare their Sharpe with `sharpe_daily`. The per-bar Sharpe
  differs from the daily one wherever returns are not independent from one bar to the next,
  and the Sortino in any case (the share of losing periods changes with their length);
- drawdown at a sample = 1 - equity / running peak; max drawdown duration = the longest time
  (ms) from a peak to the first sample back at or above it (or to the end if never);
- Calmar = annualized return (compounded over the calendar time of the curve) / max drawdown;
- a run spanning less than MIN_ANNUALIZED_SPAN_MS (1 day: its period, the first bar's open to
  the last bar's close, or the first trade to the last) has no annualized figures: its
  annualized return, Sharpe, Sortino and Calmar are None, `not_annualized_reason` says why. A
  yearly figure of minutes or hours is an extrapolation by a factor of thousands (-1 % in 5
  minutes "annualizes" to -100 %, with a Sharpe of -333; a Sharpe of 1-second samples is
  multiplied by 5,600);
  backtesting.py annualizes daily returns (none within one day) and freqtrade counts such a
  run as a day. At and above the span they are computed as above;
- a closed trade is a round trip of the position: it opens when a fill leaves flat (or flips)
  and ends at the fill that brings it back to flat or flips it; fills that add to it or
  reduce it part of the way belong to it. Its result (`trade_pnls`) = the realized PnL of its
  fills minus their commissions, the entry's fee included (as freqtrade, nautilus_trader and
  backtesting.py charge a trade both fees, and as analysis.pnl and the Monte Carlo bootstrap
  count it); a flipping fill's commission is split by quantity between the trade it ends and
  the one it opens (as nautilus_trader splits such a fill). A close at the entry price
  realizes 0 and is a trade that lost its fees; a trade still open at the end is not a closed
  trade. Win rate (share of results > 0), profit factor (gross wins / gross losses) and
  expectancy (mean result) are over these results. Without the position after each fill
  (`FillRow.ends_trade` None) each fill that reduces or flips (`closes`, else a non-zero
  realized_pnl) ends a trade and carries every commission since the previous one;
- monthly returns (UTC calendar months) = the month's last equity / the last equity before the
  month (the first sample for the first month) - 1; they compound to the total return;
- exposure = share of samples with a non-zero position; turnover = traded notional / starting
  equity; fees and funding are sums (funding signed: negative = paid).
A ratio whose denominator is 0 is reported as None (JSON null), never inf or NaN.
"""

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

YEAR_MS = 365 * 24 * 60 * 60 * 1000
DAY_MS = 24 * 60 * 60 * 1000
DAYS_PER_YEAR = 365
# The shortest period whose annualized figures are given (see the module docstring).
MIN_ANNUALIZED_SPAN_MS = DAY_MS
# The figures a shorter run has as None.
ANNUALIZED_METRICS = ("annualized_return", "sharpe", "sortino", "calmar")
# The drawdown of the equity after each closed trade only (the Monte Carlo bootstrap's, which
# resamples trades): never named `max_drawdown`, the per-bar one.
TRADE_CLOSE_DRAWDOWN = "max_drawdown_at_trade_closes"


@dataclass(frozen=True, slots=True)
class FillRow:
    """One fill as the metrics need it (the trades.csv columns used)."""

    time_ms: int
    price: float
    qty: float
    commission: float
    realized_pnl: float
    closes: bool | None = None  # reduces or flips the position; None: realized_pnl != 0
    # Whether it ended a round trip (flat after, or flipped), and the share of its quantity
    # that closed (1 for a reduce, |position before| / qty for a flip, 0 for an entry);
    # None: the position is unknown, each closing fill ends a trade (`closes`).
    ends_trade: bool | None = None
    closing_share: float = 1.0

    @property
    def is_close(self) -> bool:
        if self.ends_trade is not None:
            return self.closing_share > 0
        return self.realized_pnl != 0 if self.closes is None else self.closes


def closes_position(buy: bool, qty: Any, position_after: Any) -> bool:
    """Whether a fill of `qty` contracts (BUY or not) that left `position_after` (signed)
    reduced or flipped the position it met: that position was on the other side."""
    before = position_after - qty if buy else position_after + qty
    return bool(before != 0 and (before > 0) != buy)


def trade_role(buy: bool, qty: Any, position_after: Any) -> tuple[bool, float]:
    """(whether the fill ended a round trip, the share of its `qty` that closed), for a fill
    of `qty` contracts (BUY or not) that left `position_after` (signed; Decimal keeps the
    flat test exact). An entry or an addition closes nothing; a partial reduce closes all of
    its quantity but leaves the trade open; a flip closes |position before| of it."""
    before = position_after - qty if buy else position_after + qty
    if before == 0 or (before > 0) == buy:
        return False, 0.0
    if qty <= abs(before):
        return position_after == 0, 1.0
    return True, float(abs(before) / qty)


def returns(equity: Sequence[float]) -> list[float]:
    return _returns(equity).tolist()  # type: ignore[no-any-return]


def _returns(equity: Sequence[float]) -> Any:
    """`returns` as a float64 array (a curve of 500,000 samples: 4 MB, not a list of 16 MB).
    numpy's elementwise IEEE arithmetic: the same floats as b / a - 1.0 one by one."""
    e = _floats(equity)
    a, b = e[:-1], e[1:]
    keep = a != 0
    out = b[keep]
    out /= a[keep]
    out -= 1.0
    return out


def _floats(values: Sequence[float]) -> Any:
    return np.asarray(values, dtype=np.float64)


_CHUNK = 1 << 16


def _sum(values: Sequence[float]) -> float:
    """sum(values) of Python floats, left to right, as `sum` of the list gives (whatever the
    Python version's float summation): a numpy array is handed to `sum` as Python floats a
    chunk at a time (its elements as numpy scalars would take `sum`'s generic path)."""
    return sum(_py_floats(values))


def _py_floats(values: Sequence[float]) -> Iterable[float]:
    """`values` as Python floats, in order; an array converted a chunk at a time, so that no
    list of every value is made."""
    if not isinstance(values, np.ndarray):
        return values
    chunks = (values[i : i + _CHUNK].tolist() for i in range(0, len(values), _CHUNK))
    return itertools.chain.from_iterable(chunks)


def total_return(equity: Sequence[float]) -> float:
    return equity[-1] / equity[0] - 1.0 if equity and equity[0] else 0.0


def periods_per_year(times_ms: Sequence[int]) -> float | None:
    steps = np.diff(np.asarray(times_ms, dtype=np.int64))
    steps = steps[steps > 0]
    return YEAR_MS / _median_int(steps) if len(steps) else None


def _median_int(values: Any) -> int | float:
    """statistics.median of a non-empty int64 array, as of the list of its Python ints (the
    middle int, or the mean of the two middle ones as int / 2), without the list."""
    n = len(values)
    i = n // 2
    if n % 2:
        return int(np.partition(values, i)[i])
    part = np.partition(values, (i - 1, i))
    return (int(part[i - 1]) + int(part[i])) / 2


_MAX_EXP = 690.0  # e**690 ~ 1e299, below float's 1.8e308


def annualized_return(equity: Sequence[float], times_ms: Sequence[int]) -> float | None:
    if len(equity) < 2 or times_ms[-1] <= times_ms[0] or equity[0] <= 0:
        return None
    growth = equity[-1] / equity[0]
    if growth <= 0:
        return -1.0
    exponent = math.log(growth) * YEAR_MS / (times_ms[-1] - times_ms[0])
    if exponent > _MAX_EXP:
        return None  # a short, steep run: a yearly figure past 1e300 % says nothing (and overflows)
    return math.expm1(exponent)


def span_text(ms: int) -> str:
    """A run's span in its largest whole unit: `42 s`, `5 min`, `6.5 h`."""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        return f"{seconds / 60:.4g} min"
    return f"{seconds / 3600:.4g} h"


def not_annualized_reason(span_ms: int) -> str | None:
    """Why a run of `span_ms` has no annualized figures, None when it has them."""
    if span_ms >= MIN_ANNUALIZED_SPAN_MS:
        return None
    return (
        f"the run spans {span_text(span_ms)}, under the 1 day below which a yearly figure is an "
        "extrapolation that says nothing"
    )


def sharpe(rets: Sequence[float], per_year: float | None) -> float | None:
    if len(rets) < 2 or per_year is None:
        return None
    mean = _sum(rets) / len(rets)
    var = _sum_of_squares(_floats(rets) - mean) / (len(rets) - 1)
    return None if var <= 0 else mean / math.sqrt(var) * math.sqrt(per_year)


def daily_returns(times_ms: Sequence[int], equity: Sequence[float]) -> list[float]:
    """Per UTC day holding a sample: its last equity / the previous day's last (the first
    day: the first sample) - 1; a day whose base is 0 is left out."""
    return _daily_returns(times_ms, equity).tolist()  # type: ignore[no-any-return]


def _daily_returns(times_ms: Sequence[int], equity: Sequence[float]) -> Any:
    e = _floats(equity)
    t = np.asarray(times_ms, dtype=np.int64)
    if len(e) != len(t):
        raise ValueError("equity and times differ in length")
    if len(e) < 2:
        return np.empty(0)
    day = t // DAY_MS
    ends = np.append(np.flatnonzero(np.diff(day)), len(e) - 1)  # each day's last sample
    close = e[ends]
    base = np.concatenate(([e[0]], close[:-1]))
    keep = base != 0
    out = close[keep]
    out /= base[keep]
    out -= 1.0
    return out


def sortino(rets: Sequence[float], per_year: float | None) -> float | None:
    if not len(rets) or per_year is None:
        return None
    mean = _sum(rets) / len(rets)
    down = math.sqrt(_sum_of_squares(np.minimum(_floats(rets), 0.0)) / len(rets))
    return None if down <= 0 else mean / down * math.sqrt(per_year)


def _sum_of_squares(values: Any) -> float:
    """sum(v ** 2 for v in values) with Python's float power and left-to-right sum (numpy's
    square and pairwise sum could differ in the last bit), without a generator expression and
    without a list of every value."""
    return sum(map(pow, _py_floats(values), itertools.repeat(2.0)))


def drawdowns(equity: Sequence[float]) -> list[float]:
    """1 - equity / running peak, per sample (0 at a new peak, and while the peak is <= 0)."""
    return _drawdowns(equity).tolist()  # type: ignore[no-any-return]


def _drawdowns(equity: Sequence[float]) -> Any:
    e = _floats(equity)
    peak = np.maximum.accumulate(e) if len(e) else e
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1.0 - e / peak, 0.0)


def max_drawdown(equity: Sequence[float]) -> float:
    return float(np.max(_drawdowns(equity))) if len(equity) else 0.0


def max_drawdown_duration_ms(equity: Sequence[float], times_ms: Sequence[int]) -> int:
    """The longest time from a peak (a sample at or above every one before) to the first
    sample back at or above it, or to the last sample while still under."""
    e = _floats(equity)
    t = np.asarray(times_ms, dtype=np.int64)
    if len(e) != len(t):
        raise ValueError("equity and times differ in length")
    if len(e) < 2:
        return 0
    before = np.maximum.accumulate(e)[:-1]  # the peak before each later sample
    peak = np.concatenate(([True], e[1:] >= before))
    del before
    last_peak = np.arange(len(e))
    last_peak[~peak] = 0
    np.maximum.accumulate(last_peak, out=last_peak)
    # Each sample under its peak, and each recovery, measures the time since that peak.
    since = t[last_peak[:-1]]
    del last_peak
    np.subtract(t[1:], since, out=since)
    counts = ~(peak[1:] & peak[:-1])
    return max(0, int(since[counts].max())) if counts.any() else 0


def calmar(ann_return: float | None, max_dd: float) -> float | None:
    return None if ann_return is None or max_dd <= 0 else ann_return / max_dd


def closed_trade_results(fills: Sequence[FillRow]) -> list[float]:
    """The closed trades' results for win rate, profit factor and expectancy: `trade_pnls`
    (each round trip charged its entry's fee and its exit's)."""
    return trade_pnls(fills)


def trade_pnls(fills: Sequence[FillRow]) -> list[float]:
    """Per closed round trip: its fills' realized PnL net of their fees (a flip's fee split
    by quantity); see the module docstring, also for fills without their position."""
    return [result for _, result in trade_ends(fills)]


def trade_ends(fills: Sequence[FillRow]) -> list[tuple[int, float]]:
    """(index of the fill that ended it, result) per closed round trip, as `trade_pnls`."""
    out = []
    fees = pnl = 0.0
    for i, f in enumerate(fills):
        if f.ends_trade is None:  # the position is unknown: each closing fill is a trade
            fees += f.commission
            if f.is_close:
                out.append((i, f.realized_pnl - fees))
                fees = 0.0
        elif f.ends_trade:
            closing_fee = f.commission * f.closing_share
            out.append((i, pnl + f.realized_pnl - fees - closing_fee))
            fees, pnl = f.commission - closing_fee, 0.0
        else:
            fees += f.commission
            pnl += f.realized_pnl
    return out


def monthly_returns(
    times_ms: Sequence[int], equity: Sequence[float]
) -> list[tuple[int, int, float]]:
    """(year, month, return) per UTC calendar month holding a sample, in time order."""
    out: list[tuple[int, int, float]] = []
    if not equity:
        return out
    before = equity[0]
    month: tuple[int, int] | None = None
    last = equity[0]
    for t, e in zip(times_ms, equity, strict=True):
        d = datetime.fromtimestamp(t / 1000, tz=UTC)
        ym = (d.year, d.month)
        if month is not None and ym != month:
            out.append((*month, last / before - 1.0 if before else 0.0))
            before = last
        month, last = ym, e
    assert month is not None
    out.append((*month, last / before - 1.0 if before else 0.0))
    return out


def win_rate(results: Sequence[float]) -> float | None:
    return sum(1 for r in results if r > 0) / len(results) if results else None


def profit_factor(results: Sequence[float]) -> float | None:
    wins = sum(r for r in results if r > 0)
    losses = -sum(r for r in results if r < 0)
    return None if losses <= 0 else wins / losses


def expectancy(results: Sequence[float]) -> float | None:
    return sum(results) / len(results) if results else None


def exposure(positions: Sequence[float]) -> float:
    n = len(positions)
    return int(np.count_nonzero(_floats(positions))) / n if n else 0.0


def turnover(fills: Sequence[FillRow], starting_equity: float) -> float | None:
    traded = sum(abs(f.price * f.qty) for f in fills)
    return None if starting_equity <= 0 else traded / starting_equity


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    start_ms: int  # the period replayed: its first bar's open time
    end_ms: int  # its end, exclusive: the last bar's close (open time + 1m), not its open
    samples: int
    starting_equity: float
    final_equity: float
    total_return: float
    annualized_return: float | None
    sharpe: float | None  # per sample (bar), annualized
    sortino: float | None
    sharpe_daily: float | None  # on UTC daily returns, x sqrt(365): comparable to quantstats
    sortino_daily: float | None
    calmar: float | None
    # Why annualized_return, sharpe, sortino and calmar are None for the whole run (a span
    # under MIN_ANNUALIZED_SPAN_MS), else None.
    not_annualized_reason: str | None
    max_drawdown: float
    max_drawdown_duration_ms: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    exposure: float
    turnover: float | None
    fees: float
    funding: float
    fills: int
    closed_trades: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    *,
    times_ms: Sequence[int],
    equity: Sequence[float],
    positions: Sequence[float],
    fills: Sequence[FillRow],
    funding: float = 0.0,
    period: tuple[int, int] | None = None,
) -> Summary:
    """Every metric of the module docstring from the curve and the fills. `period`: (start,
    exclusive end) of the data replayed, in ms; default: the first and last samples' times."""
    if not equity:
        raise ValueError("an empty equity curve has no metrics")
    start_ms, end_ms = (times_ms[0], times_ms[-1]) if period is None else period
    rets = _returns(equity)  # an array: the metrics below take it as the list `returns` gives
    days = _daily_returns(times_ms, equity)
    short = not_annualized_reason(end_ms - start_ms)
    per_year = None if short else periods_per_year(times_ms)
    ann = None if short else annualized_return(equity, times_ms)
    mdd = max_drawdown(equity)
    results = closed_trade_results(fills)
    return Summary(
        start_ms=start_ms,
        end_ms=end_ms,
        samples=len(equity),
        starting_equity=equity[0],
        final_equity=equity[-1],
        total_return=total_return(equity),
        annualized_return=ann,
        sharpe=sharpe(rets, per_year),
        sortino=sortino(rets, per_year),
        sharpe_daily=sharpe(days, DAYS_PER_YEAR),
        sortino_daily=sortino(days, DAYS_PER_YEAR) if len(days) > 1 else None,
        calmar=calmar(ann, mdd),
        not_annualized_reason=short,
        max_drawdown=mdd,
        max_drawdown_duration_ms=max_drawdown_duration_ms(equity, times_ms),
        win_rate=win_rate(results),
        profit_factor=profit_factor(results),
        expectancy=expectancy(results),
        exposure=exposure(positions),
        turnover=turnover(fills, equity[0]),
        fees=sum((f.commission for f in fills), 0.0),  # 0.0, not the int 0, without fills
        funding=funding,
        fills=len(fills),
        closed_trades=len(results),
    )
