"""The backtest report: extra plots (monthly returns, Monte Carlo fan chart, sweep heatmap) and
one self-contained HTML page (`report.html`).

The page is built by a pure function (`render_html`) from summary.json's dictionary and the
PNGs' bytes: images are embedded as base64 data URIs and the style is inline, so the file
opens anywhere with no network and no other file. The plot functions need matplotlib and
return None without it.
"""

import base64
import html
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from backtest import metrics
from core.wording import counted

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Settings that are assumptions about the market rather than the strategy: shown on their own.
REALISM_WORDS = (
    "fee",
    "latency",
    "slippage",
    "funding",
    "liquidation",
    "leverage",
    "brackets",
    "book_ticker",
    "fill_mode",
    "seed",
    "fast_path",
)
PERCENT_METRICS = frozenset(
    {
        "total_return",
        "buy_and_hold_return",
        "annualized_return",
        "max_drawdown",
        "win_rate",
        "exposure",
    }
)
METRIC_ORDER = (
    "start_ms",
    "end_ms",
    "samples",
    "starting_equity",
    "final_equity",
    "total_return",
    "buy_and_hold_return",  # the market's move over the run, beside the strategy's
    "annualized_return",
    "sharpe",
    "sortino",
    "sharpe_daily",
    "sortino_daily",
    "calmar",
    "not_annualized_reason",  # why the four above are n/a: a run under a day
    "max_drawdown",
    "max_drawdown_duration_ms",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "turnover",
    "fees",
    "funding",
    "fills",
    "closed_trades",
)

# --- plots ----------------------------------------------------------------------------------


# a white box under a heatmap cell's label, readable on any of its colours
_LABEL_BOX = {"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0}


def _pyplot() -> Any:
    try:
        import matplotlib  # type: ignore[import-not-found]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found]
    except ImportError:
        return None
    return plt


def _dates(ms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Epoch ms -> datetime64 for a date axis (matplotlib reads them as UTC)."""
    return np.asarray(ms, dtype="int64").astype("datetime64[ms]")


def _date_axis(ax: Any) -> None:
    """UTC dates and times on the x axis, as concise as the span allows."""
    import matplotlib.dates as mdates  # type: ignore[import-not-found]

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _percent_formatter() -> Any:
    """Tick labels in percent for an axis of fractions (0.05 -> 5%)."""
    from matplotlib.ticker import PercentFormatter  # type: ignore[import-not-found]

    return PercentFormatter(xmax=1.0)


def _plain_y(ax: Any) -> None:
    """The y values as they are (10000.6), not matplotlib's offset (0.6 and a `+1e4` in the
    corner) that a curve moving by cents around 10,000 USDT got."""
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


# The trading state's colour where the charts mark its changes (`mark_state_changes`).
STATE_COLOURS = {"ACTIVE": "tab:green", "REDUCING": "tab:orange", "HALTED": "tab:red"}


def mark_state_changes(ax: Any, changes: Sequence[tuple[int, str]], *, label: bool) -> None:
    """A dashed line where the RiskManager changed the trading state ((time_ms, new state),
    as `summary.json`'s `trading_state.changes`): the curve goes flat after a halt, and the
    chart says why rather than leave it to be guessed."""
    for time_ms, state in changes:
        ax.axvline(
            _dates([time_ms])[0],
            ls="--",
            lw=1.0,
            color=STATE_COLOURS.get(state, "black"),
            label=f"trading {state}" if label else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Benchmark:
    """A second line on the equity chart: the starting capital held in the symbol, marked
    to its price (`label` says so on the chart)."""

    times_ms: Sequence[int]
    equity: Sequence[float]
    label: str


def plot_equity(
    times_ms: Sequence[int],
    equity: Sequence[float],
    path: Path,
    title: str = "",
    state_changes: Sequence[tuple[int, str]] = (),
    benchmark: Benchmark | None = None,
) -> Path | None:
    """Equity (top) and drawdown (bottom) over UTC time; the drawdown in percent, as
    `summary.json` and the console give it (a bare fraction such as -0.030 reads as 0.03 %).
    `title` above them (the run: `equity_title`); the trading state's changes marked; the
    buy-and-hold `benchmark` beside the equity, to see whether the strategy beat holding."""
    plt = _pyplot()
    if plt is None:
        return None
    x = _dates(times_ms)
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    if title:
        ax1.set_title(title, fontsize=10)
    ax1.plot(x, list(equity), lw=0.8, label="strategy equity" if benchmark else None)
    if benchmark is not None:
        ax1.plot(
            _dates(benchmark.times_ms),
            list(benchmark.equity),
            lw=0.8,
            color="tab:gray",
            label=benchmark.label,
        )
    ax1.set_ylabel("equity USDT")
    _plain_y(ax1)
    ax1.grid(alpha=0.3)
    ax2.fill_between(x, [-d for d in metrics.drawdowns(equity)], 0.0, color="tab:red", alpha=0.5)
    if state_changes:
        mark_state_changes(ax1, state_changes, label=True)
        mark_state_changes(ax2, state_changes, label=False)
    if state_changes or benchmark is not None:
        ax1.legend(loc="best", fontsize=8)
    ax2.set_ylabel("drawdown")
    ax2.yaxis.set_major_formatter(_percent_formatter())
    ax2.grid(alpha=0.3)
    _date_axis(ax2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def equity_title(symbol: str, strategy: str, total_return: float, max_drawdown: float) -> str:
    """The equity chart's title: what ran and its two figures, as the console line says them
    (`return -2.8337%, max drawdown 2.9174%`), so the PNG alone says what it shows."""
    return f"{symbol} {strategy}: return {total_return:.4%}, max drawdown {max_drawdown:.4%}"


STOP_TYPES = frozenset({"STOP_MARKET", "STOP", "TAKE_PROFIT_MARKET", "TAKE_PROFIT"})


def fill_kinds(fills: Iterable[Any], order_types: Mapping[str, str]) -> dict[str, list[Any]]:
    """Fills as long or short entries (the position grows, or reverses: a crossover flips long
    to short in one order; the side is the position's after the fill), exits (it shrinks, to
    flat at most) and stops (a stop or take-profit order filled), for the price chart's
    markers."""
    kinds: dict[str, list[Any]] = {
        "long entries": [],
        "short entries": [],
        "exits": [],
        "stops": [],
    }
    for f in fills:
        signed = f.qty if str(f.side) == "BUY" else -f.qty
        before = f.position_after - signed
        if order_types.get(f.client_order_id, "") in STOP_TYPES:
            kinds["stops"].append(f)
        elif abs(f.position_after) > abs(before) or f.position_after * before < 0:
            kinds["long entries" if f.position_after > 0 else "short entries"].append(f)
        else:
            kinds["exits"].append(f)
    return kinds


def plot_price(
    price_times_ms: Sequence[int],
    prices: Sequence[float],
    fills: Iterable[Any],
    order_types: Mapping[str, str],
    path: Path,
    state_changes: Sequence[tuple[int, str]] = (),
) -> Path | None:
    """The traded price over UTC time with the entries, exits and stops marked, and where
    the trading state changed (after a halt the strategy's signals are not traded)."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(_dates(price_times_ms), list(prices), lw=0.5, color="black", label="price")
    style = {
        "long entries": ("^", "tab:green"),
        "short entries": ("v", "tab:red"),
        "exits": ("o", "tab:blue"),
        "stops": ("x", "black"),
    }
    for kind, fs in fill_kinds(fills, order_types).items():
        marker, color = style[kind]
        ax.scatter(
            _dates([f.time_ms for f in fs]),
            [float(f.price) for f in fs],
            marker=marker,
            color=color,
            s=16,
            zorder=3,
            label=f"{kind} ({len(fs)})",
        )
    mark_state_changes(ax, state_changes, label=True)
    ax.set_ylabel("price USDT")
    _plain_y(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    _date_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def monthly_table(
    monthly: Sequence[tuple[int, int, float]],
) -> tuple[list[str], list[str], np.ndarray]:
    """Row labels, column labels and the matrix of monthly returns (NaN: no sample that month)
    for the months from the run's first to its last: a run of up to 12 months is one row, a
    column per month it covers ("May 2025"), not a year of empty cells around one; a longer
    run is a year (row) x month (column) grid whose cells before its start and after its end
    are NaN."""
    if not monthly:
        return [], [], np.full((0, 0), np.nan)
    (y0, m0, _), (y1, m1, _) = monthly[0], monthly[-1]
    first, span = y0 * 12 + m0 - 1, (y1 - y0) * 12 + m1 - m0 + 1
    if span <= 12:
        row = np.full((1, span), np.nan)
        for y, m, r in monthly:
            row[0, y * 12 + m - 1 - first] = r
        cols = [f"{MONTHS[(first + i) % 12]} {(first + i) // 12}" for i in range(span)]
        return [""], cols, row
    years = list(range(y0, y1 + 1))
    table = np.full((len(years), 12), np.nan)
    for y, m, r in monthly:
        table[y - y0, m - 1] = r
    return [str(y) for y in years], list(MONTHS), table


def plot_monthly_returns(
    times_ms: Sequence[int], equity: Sequence[float], path: Path
) -> Path | None:
    """The run's monthly returns as an annotated heatmap (`monthly_table`'s layout), titled
    with the run's first and last day: those months hold only part of the run."""
    plt = _pyplot()
    if plt is None or not equity:
        return None
    rows, cols, table = monthly_table(metrics.monthly_returns(times_ms, equity))
    # ~0.9 inch a cell fits "+12.34%" and "May 2025"; one month still gets a figure to read.
    width = min(10.0, max(3.5, 1.2 + 0.9 * len(cols)))
    fig, ax = plt.subplots(figsize=(width, 1.4 + 0.5 * len(rows)))
    finite = table[np.isfinite(table)]
    lim = float(np.max(np.abs(finite))) if finite.size else 0.0
    lim = lim or 0.01
    ax.imshow(table, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    if rows == [""]:
        ax.tick_params(axis="y", left=False)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(table[i, j]):
                # on a box: black on the deep red or green of a large month is unreadable
                ax.text(
                    j,
                    i,
                    f"{table[i, j]:+.2%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    bbox=_LABEL_BOX,
                )
    day = "%Y-%m-%d"
    first = datetime.fromtimestamp(times_ms[0] / 1000, tz=UTC).strftime(day)
    last = datetime.fromtimestamp(times_ms[-1] / 1000, tz=UTC).strftime(day)
    ax.set_title(f"monthly returns (UTC), {first} .. {last}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


NO_TRADES_TO_RESAMPLE = "no closed trade: nothing to resample"


def halt_note(limit: float | None, halted: int, paths: int) -> str:
    """What the bootstrap assumed of the run's risk limits (`robustness.halt_at_drawdown`),
    one sentence for the fan chart, report.html and the console. A daily loss limit needs
    days, which a sequence of trades resampled out of order does not have."""
    if not limit:
        return "no drawdown halt (risk max_drawdown_pct 0); daily loss limits not modelled"
    return (
        f"a path halts at {limit:.2%} drawdown (risk max_drawdown_pct), at trade closes: "
        f"{halted} of {paths} did; daily loss limits not modelled"
    )


def plot_fan_chart(mc: Any, path: Path) -> Path | None:
    """Monte Carlo bands: the randomized runs' equity over time (left) and the bootstrap's
    equity over the trade sequence (right); 5-95 and 25-75 percentile bands and the median."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    curves = np.asarray([r.curve for r in mc.runs], dtype=float)
    days = (np.asarray(mc.grid_ms, dtype=float) - mc.grid_ms[0]) / 86_400_000
    _fan(a1, days, curves)
    a1.set_title(f"{counted(len(mc.runs), 'run')}, random latency and slippage")
    a1.set_xlabel("days")
    a1.set_ylabel("equity USDT")
    if len(mc.trade_pnls):
        _fan(a2, np.arange(mc.paths.shape[1]), mc.paths)
        a2.set_title(
            f"bootstrap of {counted(len(mc.trade_pnls), 'trade')} (equity at trade closes)\n"
            + textwrap.fill(mc.halt_note(), 72),
            fontsize=9,
        )
        a2.set_xlabel("trade")
    else:  # one point per path: the bands would draw nothing, an empty panel
        a2.text(0.5, 0.5, NO_TRADES_TO_RESAMPLE, ha="center", va="center")
        a2.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fan(ax: Any, x: np.ndarray, paths: np.ndarray) -> None:
    p5, p25, p50, p75, p95 = np.percentile(paths, [5, 25, 50, 75, 95], axis=0)
    ax.fill_between(x, p5, p95, alpha=0.2, color="tab:blue", label="5-95 %")
    ax.fill_between(x, p25, p75, alpha=0.4, color="tab:blue", label="25-75 %")
    ax.plot(x, p50, color="tab:blue", lw=1, label="median")
    ax.legend(loc="best", fontsize=8)  # not over the median: upper left hid a falling start


def metric_text(metric: str, value: float, places: int = 4) -> str:
    """A sweep metric's value as the report gives it: a fraction metric (total_return,
    max_drawdown, win_rate, ...) in percent, a return with its sign; any other to 4
    significant digits. A heatmap of total_return read -0.0153 where every other figure of
    the run is a percentage."""
    if not math.isfinite(value):
        return "n/a"
    if metric in PERCENT_METRICS:
        return f"{value:+.{places}%}" if "return" in metric else f"{value:.{places}%}"
    return f"{value:.4g}"


def plot_sweep_heatmap(table: Any, metric: str, title: str, path: Path) -> Path | None:
    """A 2-D grid's `metric` as an annotated heatmap (`robustness.heatmap_table`'s output)."""
    plt = _pyplot()
    if plt is None or table is None:
        return None
    ky, kx, ys, xs, m = table
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(xs), 1.2 + 0.6 * len(ys)))
    ax.imshow(m, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    for i in range(len(ys)):
        for j in range(len(xs)):
            text = metric_text(metric, float(m[i, j]), places=2)
            ax.text(j, i, text, ha="center", va="center", fontsize=8, bbox=_LABEL_BOX)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- HTML -----------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border:1px solid #ddd;
text-align:left;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
img{max-width:100%;display:block;margin:.5em 0}.muted{color:#777}
"""


def fmt_value(key: str, value: Any) -> str:
    """A metric or setting as text: percentages, durations, dates, 4 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool | str):
        return html.escape(str(value)) if value != "" else "-"
    if key.endswith("duration_ms") and isinstance(value, int | float):
        return _duration(float(value))
    if key in ("start_ms", "end_ms") or key.endswith(("_start_ms", "_end_ms")):
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if key in PERCENT_METRICS or key.endswith(
            ("total_return", "max_drawdown", "buy_and_hold_return")
        ):
            return f"{value:+.3%}" if "return" in key else f"{value:.3%}"
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _duration(ms: float) -> str:
    days, rest = divmod(ms / 1000, 86_400)
    hours, rest = divmod(rest, 3600)
    return f"{int(days)} d {int(hours)} h {int(rest // 60)} min"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _kv_table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _grid_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def realism_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that model the market (fees, latency, slippage, funding, ...)."""
    flat = _flatten(settings)
    return {k: v for k, v in flat.items() if any(w in k for w in REALISM_WORDS)}


def _image(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(title)
    return f'<h3>{alt}</h3><img alt="{alt}" src="data:image/png;base64,{data}">'


# (section, its label, its metrics): the bootstrap's drawdown is at trade closes only.
_BAND_SOURCES = (
    ("randomized", "random latency/slippage", ("total_return", "max_drawdown")),
    ("bootstrap", "bootstrap", ("total_return", metrics.TRADE_CLOSE_DRAWDOWN)),
)


def _bands_rows(section: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, label, names in _BAND_SOURCES:
        part = section.get(name) or {}
        for metric in names:
            b = part.get(metric)
            if b:
                shown = "max_drawdown" if metric.startswith("max_drawdown") else metric
                cells = [fmt_value(shown, b[f"p{p}"]) for p in section["percentiles"]]
                rows.append([label, metric, *cells])
    return rows


def _monte_carlo_html(mc: Mapping[str, Any]) -> str:
    lat, slip = mc.get("latency_ms_range", ["", ""]), mc.get("slippage_bps_range", ["", ""])
    latency = f"latency {lat[0]}-{lat[1]} ms" if lat else "latency"
    if mc.get("entry_latency"):
        latency += (
            f" drawn from {html.escape(mc['entry_latency'])} (each run its own seed)"
            if lat
            else f" from {html.escape(mc['entry_latency'])}: no order, nothing drawn"
        )
    boot = mc.get("bootstrap", {})
    intro = (
        f"<p>{counted(mc['runs'], 'run')}, seed {mc['seed']}: {latency}, slippage "
        f"{html.escape(str(slip[0]))}-{html.escape(str(slip[1]))} bps; bootstrap of "
        f"{counted(boot.get('trades', 0), 'trade')}.</p>"
    )
    base = boot.get(f"base_{metrics.TRADE_CLOSE_DRAWDOWN}")
    if base is not None:
        intro += (
            "<p class=muted>The bootstrap resamples closed trades: its equity is known only "
            "after each trade, so its drawdown is measured at trade closes "
            "(max_drawdown_at_trade_closes), without what a trade lost while open; the "
            f"base run's on that footing: {fmt_value('max_drawdown', base)} (its max_drawdown, "
            "bar by bar, is deeper). The random runs' max_drawdown is bar by bar.</p>"
        )
    if boot.get("trades"):
        note = halt_note(boot.get("halt_at_drawdown"), boot.get("halted_paths", 0), boot["paths"])
        intro += f"<p class=muted>Bootstrap: {html.escape(note)}.</p>"
    header = ["source", "metric", *(f"p{p}" for p in mc["percentiles"])]
    return intro + _grid_table(header, _bands_rows(mc))


def _settings_text(settings: Mapping[str, Any]) -> str:
    """A grid point as `fast=10, slow=50` (the best one read `{'fast': 10}`, a Python dict)."""
    return html.escape(", ".join(f"{k}={v}" for k, v in settings.items()))


def _sweep_html(sweep: Mapping[str, Any]) -> str:
    metric = sweep["metric"]
    parts = [
        f"<p>{counted(sweep['points'], 'grid point')} from {html.escape(sweep.get('file', ''))}, "
        f"{counted(sweep['runs'], 'run')}; best by {html.escape(metric)}.</p>"
    ]
    if sweep.get("skipped"):
        parts.append(f"<p class=muted>{counted(len(sweep['skipped']), 'grid point')} skipped.</p>")
    wf = sweep.get("walk_forward")
    if wf:
        header = ["window", "train", "test", "settings", f"in-sample {metric}"]
        header += [f"out-of-sample {metric}", "out-of-sample return", "buy and hold"]
        rows = [
            [
                str(w["window"]),
                fmt_value("train_start_ms", w["train_start_ms"])
                + " - "
                + fmt_value("train_end_ms", w["train_end_ms"]),
                fmt_value("test_start_ms", w["test_start_ms"])
                + " - "
                + fmt_value("test_end_ms", w["test_end_ms"]),
                _settings_text(w["settings"]),
                fmt_value(metric, w[f"train_{metric}"]),
                fmt_value(metric, w[f"test_{metric}"]),
                fmt_value("total_return", w["test_total_return"]),
                # the market's move over the same test window (`None` in a summary.json of
                # before 2026-12-04)
                fmt_value("buy_and_hold_return", w.get("test_buy_and_hold_return")),
            ]
            for w in wf["windows"]
        ]
        parts.append(_grid_table(header, rows))
        oos = fmt_value("total_return", wf.get("out_of_sample_total_return"))
        parts.append(f"<p>Out-of-sample return, windows compounded: {oos}</p>")
    elif sweep.get("best"):
        best = sweep["best"]
        parts.append(
            _kv_table(
                [
                    ("best settings", _settings_text(best["settings"])),
                    *((k, fmt_value(k, v)) for k, v in best.items() if k != "settings"),
                ]
            )
        )
    return "".join(parts)


def exact_utc(ms: int) -> str:
    """An event's time to the millisecond, `2025-05-28 03:24:59.999 UTC`: a state changes at
    a bar's close (its open + 59.999 s), which in minutes read as the bar's open, 03:24."""
    when = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{when:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d} UTC"


def _trading_state_html(summary: Mapping[str, Any]) -> list[str]:
    """A run the RiskManager halted says so above its metrics (they stop moving there)."""
    state = summary.get("trading_state") or {}
    if state.get("at_end", "ACTIVE") == "ACTIVE":
        return []
    denied = summary.get("counters", {}).get("denied", 0)
    since = ""
    if changes := state.get("changes"):
        since = f" since {exact_utc(changes[-1]['time_ms'])}"
    text = (
        f"Trading {state['at_end']} at the end{since}: {state.get('reason', '')}; {denied} denied."
    )
    return [f"<p><strong>{html.escape(text)}</strong></p>"]


def _gaps_html(summary: Mapping[str, Any]) -> list[str]:
    """Holes in the replayed 1m bars (summary.json `data_gaps`), above the metrics."""
    gaps = summary.get("data_gaps")
    if not gaps:
        return []
    longest = gaps["longest"]
    text = (
        f"The data has {counted(gaps['gaps'], 'gap')} in its 1m bars, "
        f"{counted(gaps['missing_bars'], 'bar')} missing"
        f" (the longest {longest['bars']} from {fmt_value('start_ms', longest['from_ms'])}),"
        " replayed as if the bars on either side were consecutive."
    )
    return [f"<p><strong>{html.escape(text)}</strong></p>"]


def funding_unrecorded_text(section: Mapping[str, Any]) -> str:
    """summary.json's `funding_unrecorded` as a sentence (console and report.html)."""
    recorded = (
        f"{fmt_value('start_ms', section['recorded_from_ms'])} to "
        f"{fmt_value('end_ms', section['recorded_to_ms'])}"
    )
    one = section["unrecorded"] == 1
    return (
        f"{section['file']} records rates from {recorded}; {section['unrecorded']} of the "
        f"run's {counted(section['settlements'], 'settlement')} "
        f"{'falls' if one else 'fall'} outside it and {'was' if one else 'were'} settled at rate 0"
    )


def _funding_html(summary: Mapping[str, Any]) -> list[str]:
    """Settlements the funding file does not record (summary.json `funding_unrecorded`)."""
    section = summary.get("funding_unrecorded")
    if not section:
        return []
    text = f"Funding: {funding_unrecorded_text(section)}."
    return [f"<p><strong>{html.escape(text)}</strong></p>"]


def _ledger_html(summary: Mapping[str, Any]) -> list[str]:
    """The books' exact money at the end (summary.json `ledger`), as written there."""
    ledger = summary.get("ledger")
    if not ledger:
        return []
    rows = ((k, html.escape(str(v))) for k, v in ledger.items())
    return ["<h2>Ledger (exact, USDT)</h2>", _kv_table(rows)]


def render_html(summary: Mapping[str, Any], images: Sequence[tuple[str, bytes]]) -> str:
    """The whole report page from summary.json's dictionary and (title, PNG bytes) pairs."""
    settings = summary.get("settings", {})
    m = summary.get("metrics", {})
    data = summary.get("data", {})
    title = f"Backtest {settings.get('strategy', '')} {settings.get('symbol', '')}".strip()
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(str(data.get('rows', '')))} {html.escape(str(data.get('kind', '')))}"
        f" from {fmt_value('start_ms', m.get('start_ms'))}"
        f" to {fmt_value('end_ms', m.get('end_ms'))}</p>",
        *_trading_state_html(summary),
        *_gaps_html(summary),
        *_funding_html(summary),
        "<h2>Summary</h2>",
        _kv_table(
            (k, fmt_value(k, m[k]))
            for k in (*METRIC_ORDER, *sorted(set(m) - set(METRIC_ORDER)))
            if k in m
        ),
        *_ledger_html(summary),
        "<h2>Realism</h2>",
        _kv_table((k, fmt_value(k, v)) for k, v in realism_settings(settings).items()),
        "<h2>Settings</h2>",
        _kv_table((k, fmt_value(k, v)) for k, v in _flatten(settings).items()),
    ]
    if summary.get("model"):  # the model file traded and its hash (summary.json `model`)
        parts += [
            "<h2>Model</h2>",
            _kv_table((k, html.escape(str(v))) for k, v in summary["model"].items()),
        ]
    if summary.get("monte_carlo"):
        parts += ["<h2>Monte Carlo</h2>", _monte_carlo_html(summary["monte_carlo"])]
    if summary.get("sweep"):
        parts += ["<h2>Parameter sweep</h2>", _sweep_html(summary["sweep"])]
    if images:
        parts.append("<h2>Plots</h2>")
        parts += [_image(t, png) for t, png in images]
    if summary.get("counters"):
        parts += [
            "<h2>Counters</h2>",
            _kv_table((k, fmt_value(k, v)) for k, v in summary["counters"].items()),
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(summary: Mapping[str, Any], pngs: Sequence[Path], path: Path) -> Path:
    """report.html with the PNGs that exist, in the order given."""
    images = [(p.stem.replace("_", " "), p.read_bytes()) for p in pngs if p.exists()]
    path.write_text(render_html(summary, images), encoding="utf-8")
    return path
