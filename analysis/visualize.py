"""Price with indicators and buy/sell signals, as a PNG.

    python -m analysis.visualize --data klines.csv.gz [--start 2025-05-09 --end 2025-05-10] \\
        [--sma 20,60] [--ema 20] [--bollinger 20 --bb-width 2] \\
        [--trades out/trades.csv | --signals signals.csv] --out price.png

Indicators on the closes: SMA and EMA from `trading_engine.indicators` (the streaming ones the
strategies use; the EMA is seeded with the SMA of its first `period` closes, as TA-Lib), and
Bollinger bands = SMA(period) +- width x the population standard deviation of the same closes
(as `model.features`' %b). Markers: the fills of a backtest's trades.csv (BUY ^ green,
SELL v red, at the fill price and time) or the bars where a signals file's signal changes (to 1:
buy, to -1: sell, to 0 from a position: exit x). Bad input exits 2 with one line.

With --start, up to 1500 bars of the file before it (as the backtester's --start warms its
strategy; more for a longer period) warm the indicators, which are then drawn from the window's
first bar; only the window is drawn.

Times on the x axis: a close, and every indicator of it, is plotted at the bar's close time
(open_time + the bar interval, the smallest step between the file's bars), when it is known
and a strategy acts on it. A signals file's signal is taken at its bar's close too: with an
`open_time` column it is plotted at open_time + the interval; a `time_ms` column is the time it
was taken (plotted as it is). A fill is plotted at its own time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from analysis._common import (
    InputError,
    Parser,
    bar_interval_ms,
    check_out,
    load_klines,
    need_columns,
    numeric_columns,
    parse_time,
    pyplot,
    read_csv,
    run,
    save,
    times,
)
from model.inputs import to_float_columns
from runtime.flags import StoreOnce, exit_status, nonempty_path

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROG = "python -m analysis.visualize"


@dataclass(slots=True)
class Chart:
    """The series behind the plot (NaN where an indicator is not ready yet)."""

    times_ms: np.ndarray  # each bar's close time (open_time + interval_ms): when its close is
    close: np.ndarray
    interval_ms: int
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    buys: tuple[np.ndarray, np.ndarray] | None = None  # (times_ms, prices)
    sells: tuple[np.ndarray, np.ndarray] | None = None
    exits: tuple[np.ndarray, np.ndarray] | None = None


def sma(close: np.ndarray, period: int) -> np.ndarray:
    import numpy as np

    from trading_engine.indicators import Sma

    ind = Sma(period)
    return np.array([np.nan if (v := ind.update(float(c))) is None else v for c in close])


def ema(close: np.ndarray, period: int) -> np.ndarray:
    import numpy as np

    from trading_engine.indicators import Ema

    ind = Ema(period)
    return np.array([np.nan if (v := ind.update(float(c))) is None else v for c in close])


def bollinger(close: np.ndarray, period: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper): SMA -+ width x population std of the last `period` closes."""
    import numpy as np

    mid = sma(close, period)
    sd = np.full(len(close), np.nan)
    if len(close) >= period:
        win = np.lib.stride_tricks.sliding_window_view(close, period)
        sd[period - 1 :] = win.std(axis=1)
    return mid - width * sd, mid + width * sd


def _periods(text: str | None, flag: str) -> list[int]:
    if not text:
        return []
    try:
        out = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected periods like 20,60") from None
    if any(p < 1 for p in out):
        raise InputError(f"{flag} {text!r}: periods must be >= 1")
    return out


def build(
    bars: pd.DataFrame,
    *,
    sma_periods: list[int],
    ema_periods: list[int],
    bb_period: int | None,
    bb_width: float = 2.0,
    warm_bars: int = 0,
) -> Chart:
    """The chart of `bars` after their first `warm_bars`, which only warm the indicators (the
    bars before --start: an SMA 60 drawn from the window alone began an hour late)."""
    close = bars["close"].to_numpy(dtype=float)
    open_time = bars["open_time"].to_numpy(dtype="int64")
    interval = bar_interval_ms(open_time)
    lines: dict[str, np.ndarray] = {}
    for p in sma_periods:
        lines[f"SMA {p}"] = sma(close, p)
    for p in ema_periods:
        lines[f"EMA {p}"] = ema(close, p)
    if bb_period:
        lines[f"BB {bb_period} lower"], lines[f"BB {bb_period} upper"] = bollinger(
            close, bb_period, bb_width
        )
    drawn = slice(warm_bars, None)
    return Chart(
        times_ms=open_time[drawn] + interval,
        close=close[drawn],
        interval_ms=interval,
        lines={name: y[drawn] for name, y in lines.items()},
    )


def add_trades(chart: Chart, trades: pd.DataFrame, what: str) -> int:
    """The fills inside the bars' span as buy and sell markers; returns how many fills the
    file has in all."""
    need_columns(trades, ("time_ms", "side", "price"), what)
    numeric_columns(trades, ("time_ms", "price"), what)
    trades = to_float_columns(trades, ("time_ms", "price"))
    # The bars' span: the first one's open to the last one's close.
    t0, t1 = chart.times_ms[0] - chart.interval_ms, chart.times_ms[-1]
    tr = trades[(trades["time_ms"] >= t0) & (trades["time_ms"] < t1)]
    side = tr["side"].astype(str).str.upper()
    for name, mask in (("buys", side == "BUY"), ("sells", side == "SELL")):
        sel = tr[mask]
        pts = (sel["time_ms"].to_numpy(dtype="int64"), sel["price"].to_numpy(dtype=float))
        setattr(chart, name, pts)
    return len(trades)


def add_signals(chart: Chart, signals: pd.DataFrame, what: str) -> None:
    import numpy as np

    tcol = "time_ms" if "time_ms" in signals.columns else "open_time"
    need_columns(signals, (tcol, "close", "signal"), what)
    numeric_columns(signals, (tcol, "close", "signal"), what)
    signals = to_float_columns(signals, (tcol, "close", "signal"))
    s = signals.sort_values(tcol, kind="stable")
    sig = s["signal"].to_numpy(dtype=float)
    prev = np.concatenate([[0.0], sig[:-1]])
    t, px = s[tcol].to_numpy(dtype="int64"), s["close"].to_numpy(dtype=float)
    if tcol == "open_time":  # taken at the bar's close
        t = t + chart.interval_ms
    # Changes over the whole file (the window's first one is against the signal before it),
    # shown inside the bars' span only, after the first one's open (a signal at that time is
    # the bar before's close): with --start/--end, the file's others stretched the time axis
    # over days around the hours of bars drawn.
    inside = (t > chart.times_ms[0] - chart.interval_ms) & (t <= chart.times_ms[-1])
    changed = (sig != prev) & inside
    chart.buys = (t[changed & (sig > 0)], px[changed & (sig > 0)])
    chart.sells = (t[changed & (sig < 0)], px[changed & (sig < 0)])
    chart.exits = (t[changed & (sig == 0)], px[changed & (sig == 0)])


# A marker further than this (a fraction) outside the drawn closes' range is of other bars: a
# trades or signals file of another symbol (BTC fills on ETH bars) drew the price as a flat
# line under markers at the top of the chart. A fill lies within its bar's low and high.
FAR_FROM_BARS = 0.1


def far_markers(chart: Chart) -> tuple[float, float] | None:
    """(lowest, highest) marker price when a marker lies over FAR_FROM_BARS outside the range
    of the drawn closes, else None."""
    import numpy as np

    drawn = [pts[1] for pts in (chart.buys, chart.sells, chart.exits) if pts is not None]
    prices = np.concatenate(drawn) if drawn else np.empty(0)
    if not len(prices):
        return None
    lo, hi = float(np.nanmin(chart.close)), float(np.nanmax(chart.close))
    if prices.min() >= lo * (1 - FAR_FROM_BARS) and prices.max() <= hi * (1 + FAR_FROM_BARS):
        return None
    return float(prices.min()), float(prices.max())


# About a day of 1m bars: beyond it, in a 12-inch chart, the indicator lines lie on the price
# line and on each other (`_main` says so, and how to pick a window).
READABLE_BARS = 1500


def marker_size(markers: int) -> float:
    """The signals' marker area (points^2): 36 up to 40 markers, then smaller so that the
    price under a week of crossings still shows (291 markers of 36 covered it), 8 at least."""
    return max(8.0, min(36.0, 1440.0 / max(markers, 1)))


def plot(chart: Chart, out: Path, title: str = "") -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 6))
    x = times(chart.times_ms)
    ax.plot(x, chart.close, lw=0.8, color="black", label="close")
    bands = [k for k in chart.lines if k.startswith("BB ")]
    for name, y in chart.lines.items():
        if name not in bands:
            ax.plot(x, y, lw=0.9, label=name)
    if len(bands) == 2:
        lo, hi = chart.lines[bands[0]], chart.lines[bands[1]]
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.12, label=bands[0][:-6] + " band")
    kinds = (
        (chart.buys, "^", "tab:green", "buy"),
        (chart.sells, "v", "tab:red", "sell"),
        (chart.exits, "x", "tab:gray", "exit"),
    )
    size = marker_size(sum(len(pts[0]) for pts, *_ in kinds if pts is not None))
    for pts, marker, color, label in kinds:
        if pts is not None and len(pts[0]):
            ax.scatter(
                times(pts[0]), pts[1], marker=marker, color=color, s=size, label=label, zorder=3
            )
    ax.set_ylabel("price")
    ax.set_xlabel("time (UTC)")  # the bars' close times, as the backtest's plots say it
    ax.set_title(title or "price, indicators and signals")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return save(fig, out)


# The bars before --start that warm the indicators, at most: the backtester's warm-up for its
# --start (backtest.runner.WARM_HISTORY_BARS), so the lines are those its strategies saw.
WARM_BARS = 1500


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _warm_bars(periods: list[int]) -> int:
    """Enough bars for every SMA and band to be ready at --start (a longer one than
    WARM_BARS too); the EMAs, seeded once, converge over them."""
    return max([WARM_BARS, *(p - 1 for p in periods)])


# The Bollinger bands' half-width in population standard deviations, unless --bb-width.
BB_WIDTH = 2.0


def parser() -> Parser:
    """The command line (`--help`)."""
    ap = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", action=StoreOnce, required=True, type=nonempty_path, help="kline CSV(.gz)"
    )
    ap.add_argument("--start", help="epoch ms or UTC date, inclusive")
    ap.add_argument("--end", help="epoch ms or UTC date, exclusive")
    ap.add_argument(
        "--sma",
        default="20,60",
        help="SMA periods, comma-separated, '' for none (default: %(default)s)",
    )
    ap.add_argument(
        "--ema",
        default="20",
        help="EMA periods, comma-separated, '' for none (default: %(default)s)",
    )
    ap.add_argument(
        "--bollinger",
        type=int,
        default=20,
        help="Bollinger period, 0 for none (default: %(default)s)",
    )
    ap.add_argument(
        "--bb-width", type=float, help=f"Bollinger width in std devs (default: {BB_WIDTH:g})"
    )
    marks = ap.add_mutually_exclusive_group()
    marks.add_argument(
        "--trades", type=nonempty_path, help="a backtest's trades.csv (fills as markers)"
    )
    marks.add_argument(
        "--signals", type=nonempty_path, help="CSV with time_ms|open_time, close, signal"
    )
    ap.add_argument("--out", required=True, type=nonempty_path, help="PNG file")
    return ap


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    out = check_out(args.out)
    if args.bb_width is not None and not args.bollinger:  # it widened no band, unsaid
        raise InputError("--bb-width is for --bollinger N (N > 0): no band is drawn")
    args.bb_width = BB_WIDTH if args.bb_width is None else args.bb_width
    if args.bollinger < 0 or not args.bb_width > 0:
        raise InputError("--bollinger must be >= 0 and --bb-width > 0")
    sma_periods, ema_periods = _periods(args.sma, "--sma"), _periods(args.ema, "--ema")
    bb_period = args.bollinger or None
    warm = _warm_bars([*sma_periods, *ema_periods, bb_period or 0])
    bars = load_klines(args.data, args.start, args.end, warm_bars=warm)
    start_ms = parse_time(args.start)
    chart = build(
        bars,
        sma_periods=sma_periods,
        ema_periods=ema_periods,
        bb_period=bb_period,
        bb_width=args.bb_width,
        warm_bars=0 if start_ms is None else int((bars["open_time"] < start_ms).sum()),
    )
    fills = 0
    if args.trades is not None:
        fills = add_trades(chart, read_csv(args.trades, "--trades"), f"--trades {args.trades}")
    if args.signals is not None:
        add_signals(chart, read_csv(args.signals, "--signals"), f"--signals {args.signals}")
    if (far := far_markers(chart)) is not None:
        flag, path = (
            ("--trades", args.trades) if args.trades is not None else ("--signals", args.signals)
        )
        raise InputError(
            f"{flag} {path}: prices {far[0]:,.2f} .. {far[1]:,.2f}, far from the closes "
            f"{min(chart.close):,.2f} .. {max(chart.close):,.2f} of --data {args.data}: "
            "another symbol's?"
        )
    plot(chart, out, title=f"{args.data.name}: {len(chart.close)} bars")
    n_buy = 0 if chart.buys is None else len(chart.buys[0])
    n_sell = 0 if chart.sells is None else len(chart.sells[0])
    print(f"{len(chart.close)} bars, {', '.join(chart.lines) or 'no indicators'}, "
          f"{n_buy} buys, {n_sell} sells -> {out}")  # fmt: skip
    if fills and not n_buy + n_sell:
        span = f"{_utc(chart.times_ms[0] - chart.interval_ms)} .. {_utc(chart.times_ms[-1])}"
        print(f"  (none of the {fills} fills of --trades {args.trades} is within the bars "
              f"drawn, {span} UTC)")  # fmt: skip
    if len(chart.close) > READABLE_BARS and chart.lines:
        print(f"  ({len(chart.close)} bars in one chart: the indicator lines lie on the price; "
              "--start and --end draw a window in which they can be told apart)")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
