"""The correlation heatmap of the model's features and forward returns over a kline file.

    python -m analysis.correlation --data klines.csv.gz [--start --end] [--horizons 1,15] \\
        [--method pearson|spearman] [--flow auto|on|off] --out corr.png

Rows are bars with every feature defined (`model.features.compute_features`, the batch form
the model trains on) and every forward return known: fwd_h = log(close[t+h] / close[t]), the
return the features at bar t's close would have to predict. The matrix covers features and
forward returns together, constant columns left out (the flow features of a file without
taker volume); the command prints each horizon's features ranked by |correlation|. Bad input
exits 2 with one line.

Missing bars are not invented: bar t+h is h bars after bar t only when its open time is
h intervals later (the interval: the smallest step between the file's bars). A row whose
forward return would span a hole in the data (a return over more time than its horizon), or
whose feature window (`WARMUP_BARS` bars) spans one (features mixing both sides of it, rows
model.train leaves out too), is dropped; the command says how many.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analysis._common import (
    InputError,
    Parser,
    bar_interval_ms,
    check_out,
    load_klines,
    pyplot,
    run,
    save,
)
from runtime.flags import StoreOnce, exit_status, nonempty_path

if TYPE_CHECKING:
    import pandas as pd

PROG = "python -m analysis.correlation"
METHODS = ("pearson", "spearman")


@dataclass(frozen=True, slots=True)
class GapRows:
    """Rows left out at holes in the data (each counted once, the horizon first)."""

    holes: int  # steps between consecutive bars longer than the interval
    horizon: int  # rows whose forward return spans a hole
    window: int  # further rows whose feature window spans one


def table(bars: pd.DataFrame, horizons: list[int], *, flow: bool) -> tuple[pd.DataFrame, GapRows]:
    """Features and forward log returns, one row per bar where all are defined over
    consecutive bars (module docstring), and the rows left out at holes in the data."""
    import numpy as np

    from model import features

    feats = features.compute_features(bars, flow=flow)
    logc = np.log(bars["close"].to_numpy(dtype=float))
    open_time = bars["open_time"].to_numpy(dtype="int64")
    step = bar_interval_ms(open_time)
    n = len(logc)
    across_hole = np.zeros(n, dtype=bool)  # the row's forward return spans a hole
    for h in horizons:
        fwd = np.full(n, np.nan)
        fwd[:-h] = logc[h:] - logc[:-h]
        spans = np.zeros(n, dtype=bool)
        spans[:-h] = open_time[h:] - open_time[:-h] != h * step
        across_hole |= spans
        feats[f"fwd_{h}"] = fwd
    holes_before = np.concatenate([[0], np.cumsum(np.diff(open_time) != step)])
    back = np.maximum(np.arange(n) - (features.WARMUP_BARS - 1), 0)
    window_spans = holes_before - holes_before[back] > 0
    defined = feats.notna().all(axis=1).to_numpy()
    gap_rows = GapRows(
        holes=int(holes_before[-1]) if n else 0,
        horizon=int((defined & across_hole).sum()),
        window=int((defined & ~across_hole & window_spans).sum()),
    )
    tab = feats[defined & ~across_hole & ~window_spans].reset_index(drop=True)
    # A constant column (the flow features without flow data) has no correlation to show.
    tab = tab.drop(columns=[c for c in tab.columns if len(tab) and tab[c].nunique() <= 1])
    return tab, gap_rows


def correlation(tab: pd.DataFrame, method: str) -> pd.DataFrame:
    if method not in METHODS:
        raise InputError(f"--method {method!r}: expected pearson or spearman")
    return tab.corr(method=method)  # type: ignore[arg-type]


def plot(corr: pd.DataFrame, out: Path, title: str = "") -> Path:
    plt = pyplot()
    n = len(corr)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * n + 3), max(6.0, 0.5 * n + 2)))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(n), labels=list(corr.columns), rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels=list(corr.index), fontsize=8)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                v = float(corr.iat[i, j])
                color = "white" if abs(v) > 0.6 else "black"
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or "feature / forward-return correlation")
    fig.tight_layout()
    return save(fig, out)


def parser() -> Parser:
    """The command line (`--help`)."""
    ap = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", action=StoreOnce, required=True, type=nonempty_path, help="kline CSV(.gz)"
    )
    ap.add_argument("--start", help="epoch ms or UTC date, inclusive")
    ap.add_argument("--end", help="epoch ms or UTC date, exclusive")
    ap.add_argument(
        "--horizons",
        default="1,15",
        help="forward-return horizons in bars, comma-separated (default: %(default)s)",
    )
    ap.add_argument(
        "--method",
        default="pearson",
        choices=METHODS,
        help="pearson (linear) or spearman (rank) correlation (default: %(default)s)",
    )
    ap.add_argument(
        "--flow",
        default="auto",
        choices=("auto", "on", "off"),
        help="the taker-flow features (taker_buy_volume, trade_count): on, off, or auto: when "
        "--data has those columns (default: %(default)s)",
    )
    ap.add_argument("--out", required=True, type=nonempty_path, help="PNG file")
    return ap


def _main(argv: list[str] | None) -> int:
    from model import features

    args = parser().parse_args(argv)
    out = check_out(args.out)
    try:
        horizons = [int(s) for s in args.horizons.split(",")]
    except ValueError:
        raise InputError(f"--horizons {args.horizons!r}: expected bars like 1,15") from None
    if not horizons or any(h < 1 for h in horizons):
        raise InputError("--horizons must be >= 1")
    used = () if args.flow == "off" else features.FLOW_COLUMNS
    bars = load_klines(args.data, args.start, args.end, extra=used)
    has_flow = all(c in bars.columns for c in features.FLOW_COLUMNS)
    if args.flow == "on" and not has_flow:
        raise InputError(f"--flow on: --data lacks {', '.join(features.FLOW_COLUMNS)}")
    flow = has_flow if args.flow == "auto" else args.flow == "on"
    tab, gaps = table(bars, horizons, flow=flow)
    if gaps.holes:
        print(
            f"data: {gaps.holes} hole(s) between the bars: {gaps.horizon} row(s) left out whose "
            f"forward return spans one, {gaps.window} whose {features.WARMUP_BARS}-bar feature "
            "window does"
        )
    if len(tab) < 3:
        need = features.WARMUP_BARS + max(horizons) + 3
        raise InputError(
            f"--data {args.data}: too few bars for the features (need > {need} consecutive)"
        )
    corr = correlation(tab, args.method)
    plot(corr, out, title=f"{args.method} correlation, {args.data.name}, {len(tab)} rows")
    for h in horizons:
        col = corr[f"fwd_{h}"].drop([f"fwd_{k}" for k in horizons])
        top = col.reindex(col.abs().sort_values(ascending=False).index)[:5]
        print(f"fwd_{h}: " + ", ".join(f"{k} {v:+.3f}" for k, v in top.items()))
    print(f"{len(tab)} rows x {len(corr)} columns -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
