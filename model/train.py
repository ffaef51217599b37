"""Offline training: walk-forward evaluation, then a final fit saved as a plain-JSON model.

    python -m model.train --data PATH --symbol BTCUSDT --interval 1m \
        --start 2025-05-04 --end 2025-06-24 --out models/

The data is a kline CSV (optionally gzipped) with open_time (ms), open, high, low, close,
volume, and optionally taker_buy_volume and count/trade_count (flow features). Rows are
features at bar t's close (model.features) and labels from model.labeling; a row whose feature
window (WARMUP_BARS) or forward-label horizon spans a gap in the data is left out (counted in
the report; peak/trough labels have no fixed horizon, so only their features are checked).
Evaluation is walk-forward: the labelled rows are cut into `folds + 1` consecutive blocks; fold
k trains on everything before block k minus a purge gap and tests on block k (no embargo: no
fold trains on rows after its test block). With forward labels the purge is at least the label
horizon (the default; a shorter one is refused), so no training label looks into the test
block; peak/trough labels, which have no fixed horizon, are recomputed per fold from the closes
before its test block, a row whose swing is confirmed only later left out of that fold's
training, so they need no purge (default 0). The model file records the settings its labels
used (a forward label's horizon and threshold, a peak/trough label's smallest swing), and a
setting of the other kind of label is refused rather than ignored.

The metrics are nested: each fold's C is chosen on its own training rows only, by the mean log
loss of `inner_folds` walk-forward folds cut from them the same way (same purge, same
relabelling), and the fold is then fitted at that C and scored on its test block; choosing C on
the very folds being reported would flatter them (as scikit-learn's `cross_val_score` of a
`GridSearchCV` avoids). Out-of-sample log loss, accuracy, balanced accuracy and calibration
(expected calibration error, Brier score), pooled over the folds' rows, and ROC-AUC
(one-vs-rest, macro), the mean of the folds' (it ranks rows, and each fold's scores are of a
fit of their own), are reported next to two naive baselines: the majority class of the
training fold, and the last bar's direction. The final model's C is the best mean log loss
over the (outer) folds (GridSearchCV's refit: a choice, not a score) and the model is fitted on
all labelled rows and saved with its metadata. Outer and inner fits run in parallel with
joblib. With a single C there is nothing to choose and no inner fold. Bad inputs exit with
status 2 and one line on stderr.

Here: the configuration, `train` and the command. The data it reads is `model.train_data`'s,
the rows `model.dataset`'s, the folds and their fits `model.walk_forward`'s (scored by
`model.scores`, run by `model.parallel`), the holdout backtest `model.holdout`'s.
"""

# Ctrl+C's handler goes in before the imports: numpy, about 0.1 s
from __future__ import annotations

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests and model.review import this module), and only where Ctrl+C
# would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from core.clock import parse_utc_ms
from core.wording import counted
from model import features, labeling
from model.dataset import build_dataset, straddles_gap
from model.holdout import (
    check_backtest_out,
    check_backtest_symbol,
    holdout_backtest,
    print_holdout,
)
from model.input_error import InputError
from model.inputs import symbol_of, write_problem
from model.parallel import check_scheduler, parallel_map
from model.registry import registry_around
from model.scores import BASELINES
from model.train_data import INTERVAL_MS, data_hash, data_hash_of, load_bars, utc_iso
from model.walk_forward import (
    CLASS_NAMES,
    check_fold_classes,
    check_inner_folds,
    choose_c,
    fit_task,
    fold_training_rows,
    inner_folds,
    pooled_metrics,
    walk_forward_splits,
)
from runtime.flags import (
    SecretSafeParser,
    StoreOnce,
    error_line,
    exit_status,
    interrupted_line,
    nonempty_path,
)

if TYPE_CHECKING:
    import pandas as pd

imports_done()  # `main` takes Ctrl+C from here

PROG = "python -m model.train"  # its error lines start `model.train: error: `


class _Parser(SecretSafeParser):
    def fail(self, message: str) -> NoReturn:
        raise InputError(message)


def _parse_time(text: str) -> int:
    """Epoch ms, or a UTC date / ISO datetime -> epoch ms."""
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise InputError(str(e)) from None


def _fmt(m: dict[str, Any]) -> str:
    auc = "  n/a " if m["roc_auc_ovr"] is None else f"{m['roc_auc_ovr']:.4f}"
    return (
        f"logloss {m['log_loss']:.4f}  acc {m['accuracy']:.4f}  bal_acc "
        f"{m['balanced_accuracy']:.4f}  auc {auc}  ece {m['ece']:.4f}  brier {m['brier']:.4f}"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Labels, walk-forward scheme, C grid and how to run the fits."""

    label: str = "forward"  # forward | peak_trough
    horizon: int = 15  # bars ahead (forward labels)
    threshold: float = 0.001  # log return for BUY/SELL
    min_swing: float = 0.005  # peak_trough labels
    folds: int = 5
    purge: int | None = None  # rows between train and test; None: what the labels need
    grid: tuple[float, ...] = (0.1, 1.0)
    inner_folds: int = 3  # folds of each fold's training rows that choose its C
    class_weight: str | None = "balanced"
    flow: str = "auto"  # auto | on | off
    jobs: int = 2
    dask_scheduler: str | None = None
    progress: bool = False

    def purge_rows(self) -> int:
        """The purge: as given, else what the labels need. A forward label looks `horizon` bars
        ahead, so that many rows; a peak/trough label is recomputed per fold from the prices
        before its test block (`fold_training_rows`), so none looks into it: 0."""
        if self.purge is not None:
            return self.purge
        return self.horizon if self.label == "forward" else 0

    def label_metadata(self) -> dict[str, Any]:
        """The settings the labels used, as recorded in the model file: a forward label's
        horizon and threshold, a peak/trough label's smallest swing; not the other kind's
        (a peak/trough model said `horizon: 15`, which its labels never used)."""
        if self.label == "forward":
            return {"kind": "forward", "horizon": self.horizon, "threshold": self.threshold}
        return {"kind": self.label, "min_swing": self.min_swing}

    def check(self) -> None:
        # `not x >= 0` rather than `x < 0`: NaN fails every comparison, and passed the latter.
        for flag, value in (
            ("--horizon", self.horizon),
            ("--folds", self.folds),
            ("--inner-folds", self.inner_folds),
            ("--jobs", self.jobs),
        ):
            if value < 1:  # the one flag named, not four of which one was wrong
                raise InputError(f"{flag} {value}: expected >= 1")
        if not (self.threshold >= 0 and math.isfinite(self.threshold)):
            raise InputError(f"--threshold {self.threshold}: expected a finite number >= 0")
        if not (self.min_swing > 0 and math.isfinite(self.min_swing)):
            raise InputError(f"--min-swing {self.min_swing}: expected a finite number > 0")
        if not self.grid or any(not (c > 0 and math.isfinite(c)) for c in self.grid):
            grid = ",".join(f"{c:g}" for c in self.grid)
            raise InputError(f"--c {grid}: expected finite numbers > 0")
        if self.purge is not None and self.purge < 0:
            raise InputError(f"--purge {self.purge}: expected >= 0")
        if self.label == "forward" and self.purge is not None and self.purge < self.horizon:
            # A training row's label is the return `horizon` bars ahead: with fewer rows
            # purged, the last ones' labels are returns inside the test block (leakage that
            # flatters every out-of-sample score).
            raise InputError(
                f"--purge {self.purge}: shorter than the label horizon (--horizon "
                f"{self.horizon}), so the labels of the training rows before each test block "
                f"would look into it; give --purge >= {self.horizon}, or leave it out (the "
                "horizon)"
            )


DEFAULTS = TrainConfig()
# The label settings each kind of label uses (the others it ignores).
_USES = {"forward": ("--horizon", "--threshold"), "peak_trough": ("--min-swing",)}


@dataclass(slots=True)
class TrainResult:
    model: Any  # LogRegModel, fitted on every labelled row, metadata filled in
    pooled: dict[str, Any]  # out-of-sample metrics (nested: see module doc): model, baselines
    mean_log_loss: dict[float, float]  # over the outer folds: chooses the final model's C
    best_c: float
    c_by_fold: list[float]  # each fold's C, chosen on its own training rows
    inner_folds: int  # 0: a single C, nothing chosen
    inner_used: list[int]  # per fold, its inner folds that chose C (fewer: short or 1 class)
    folds: int
    folds_asked: int  # --folds: more than `folds` when the first blocks have no row to train on
    purge: int
    counts: dict[str, int]
    bars: int
    rows: int
    gaps: int
    gap_rows: int  # labelled rows left out: their features or label span a gap
    flow: bool
    seconds: dict[str, float]


def train(
    df: pd.DataFrame,
    config: TrainConfig,
    *,
    symbol: str,
    interval: str,
    data_name: str,
) -> TrainResult:
    """Walk-forward evaluation of the C grid, then the final fit at the best C."""
    config.check()
    t0 = time.perf_counter()
    has_flow = all(c in df.columns for c in features.FLOW_COLUMNS)
    if config.flow == "on" and not has_flow:
        raise InputError(f"--flow on: --data lacks {', '.join(features.FLOW_COLUMNS)}")
    flow = has_flow if config.flow == "auto" else config.flow == "on"
    purge = config.purge_rows()
    x, y, r1, rows = build_dataset(
        df,
        flow=flow,
        label=config.label,
        horizon=config.horizon,
        threshold=config.threshold,
        min_swing=config.min_swing,
    )
    ot = df["open_time"].to_numpy()
    step = INTERVAL_MS[interval]
    ahead = config.horizon if config.label == "forward" else 0
    keep = ~straddles_gap(ot, step, back=features.WARMUP_BARS - 1, ahead=ahead)[rows]
    gap_rows = int((~keep).sum())
    x, y, r1 = x[keep], y[keep], r1[keep]
    min_rows = 50 * (config.folds + 1)
    if len(y) < min_rows:
        raise InputError(
            f"only {len(y)} labelled rows in the window; need >= {min_rows} (50 per walk-forward "
            f"block, --folds {config.folds} + 1): {_unlabelled(df, config, gap_rows)}"
        )
    check_signal_classes(y, config)
    splits = walk_forward_splits(len(y), folds=config.folds, purge=purge)
    if not splits:
        raise InputError("no walk-forward fold fits in the window (fewer folds or smaller purge)")
    folds = fold_training_rows(
        y,
        splits,
        label=config.label,
        close=df["close"].to_numpy(dtype=float),
        bars=rows[keep],
        min_swing=config.min_swing,
    )
    check_fold_classes(folds)
    gaps = int((np.diff(ot) != step).sum())
    t_feat = time.perf_counter() - t0

    grid = list(config.grid)
    cw = config.class_weight
    tasks: list[tuple[Any, ...]] = [
        ("outer", s, f, c, flow, cw) for c in grid for s, f in zip(splits, folds, strict=True)
    ]
    n_outer = len(tasks)
    inner_keys: list[tuple[int, float]] = []  # (outer fold, C) of each inner task
    n_inner = config.inner_folds if len(grid) > 1 else 0
    inner_used: list[int] = []  # per outer fold: its inner folds that chose C
    if n_inner:
        inner = inner_folds(
            folds,
            inner=n_inner,
            purge=purge,
            label=config.label,
            close=df["close"].to_numpy(dtype=float),
            bars=rows[keep],
            min_swing=config.min_swing,
        )
        check_inner_folds(inner, n_inner)
        inner_used = [len(these) for these in inner]
        for k, these in enumerate(inner):
            for fold in these:
                for c in grid:
                    tasks.append(("inner", *fold, c, flow, cw))
                    inner_keys.append((k, c))
    results = parallel_map(
        fit_task,
        (x, y, r1),
        tasks,
        jobs=config.jobs,
        dask_scheduler=config.dask_scheduler,
        progress=config.progress,
        desc="walk-forward fits",
    )
    outer_results = results[:n_outer]
    by_c = {c: [r for r in outer_results if r["C"] == c] for c in grid}
    mean_ll = {c: float(np.mean([r["model"]["log_loss"] for r in rs])) for c, rs in by_c.items()}
    best_c = min(grid, key=lambda c: mean_ll[c])  # the final model's C
    losses: dict[tuple[int, float], list[float]] = {}
    for key, loss in zip(inner_keys, results[n_outer:], strict=True):
        losses.setdefault(key, []).append(loss)
    c_by_fold = [choose_c(grid, losses, k) if n_inner else grid[0] for k in range(len(splits))]
    nested = [by_c[c][k] for k, c in enumerate(c_by_fold)]
    pooled = pooled_metrics(nested, y, r1, folds)
    t_cv = time.perf_counter() - t0 - t_feat

    from model.logreg_model import LogRegModel

    model = LogRegModel(c=best_c, class_weight=cw, flow=flow).fit(x, y)
    counts = {str(k): int((y == k).sum()) for k in labeling.CLASSES}
    model.metadata = {
        "symbol": symbol,
        "interval": interval,
        "training_window": {
            "start": utc_iso(int(ot[0])),
            "end_exclusive": utc_iso(int(ot[-1]) + INTERVAL_MS[interval]),
            "bars": len(df),
            "labelled_rows": len(y),
            "gaps": gaps,
            "rows_dropped_at_gaps": gap_rows,
        },
        "data": {
            "file": data_name,
            "sha256": data_hash(df, flow),
            # Beside "file" it read as the file's sha256, which it is not (sha256sum differs):
            # the same bars from a CSV or a history store give the same hash.
            "sha256_of": data_hash_of(flow),
        },
        "label": {**config.label_metadata(), "class_counts": counts},
        "validation": {
            # With a single C nothing is chosen: it said "nested" all the same.
            "scheme": "walk-forward, expanding window; each fold's C chosen on inner "
            "walk-forward folds of its own training rows (nested)"
            if n_inner
            else "walk-forward, expanding window; a single C, nothing chosen",
            "folds": len(splits),
            "purge_bars": purge,
            "C_grid": grid,
            "inner_folds": n_inner,
            "inner_folds_used": inner_used,
            "C_by_fold": c_by_fold,
            # Over the outer folds: what chose the final model's C (not an unbiased score).
            "mean_log_loss_by_C": {str(c): v for c, v in mean_ll.items()},
            "best_C": best_c,
        },
        "metrics": {
            "out_of_sample": pooled,
            "folds": [{k: v for k, v in r.items() if k != "proba"} for r in nested],
        },
        # No wall-clock time here: the same data and settings give the same bytes (and so the
        # same registry version); the registry's meta.json records when a version was added.
    }
    t_all = time.perf_counter() - t0
    return TrainResult(
        model=model,
        pooled=pooled,
        mean_log_loss=mean_ll,
        best_c=best_c,
        c_by_fold=c_by_fold,
        inner_folds=n_inner,
        inner_used=inner_used,
        folds=len(splits),
        folds_asked=config.folds,
        purge=purge,
        counts=counts,
        bars=len(df),
        rows=len(y),
        gaps=gaps,
        gap_rows=gap_rows,
        flow=flow,
        seconds={"features": t_feat, "walk_forward": t_cv, "total": t_all},
    )


def _unlabelled(df: pd.DataFrame, config: TrainConfig, gap_rows: int) -> str:
    """Where a window's bars went that made no training row: the features' warm-up, the bars
    without a label (a --horizon as long as the window, a --min-swing given in percent) and
    those spanning a gap, so a user sees which setting or window to change."""
    n = len(df)
    close = df["close"].to_numpy(dtype=float)
    parts = [f"the first {min(n, features.WARMUP_BARS - 1)} warm the features up"]
    if config.label == "forward":
        parts.append(
            f"the last {min(n, config.horizon)} have no {config.horizon}-bar forward return "
            "(--horizon)"
        )
    else:
        unlabelled = int(
            np.isnan(labeling.peak_trough_labels(close, min_swing=config.min_swing)).sum()
        )
        parts.append(
            f"{unlabelled} have no label: no swing of --min-swing {config.min_swing:g} (a "
            f"fraction: {config.min_swing * 100:g} %) confirmed after them"
        )
    if gap_rows:
        parts.append(f"{gap_rows} span a gap in the data")
    return f"of its {counted(n, 'bar')}, {', '.join(parts[:-1])} and {parts[-1]}"


def check_signal_classes(y: np.ndarray, config: TrainConfig) -> None:
    """InputError when no labelled row is a BUY, or none a SELL (prices that only rose, or a
    --threshold given in percent): the model could never signal that side, and the strategy
    refuses it (the daemon, the backtester, model.review), so it is said before any fit
    rather than after minutes of training."""
    absent = [k for k in (labeling.SELL, labeling.BUY) if not (y == k).any()]
    if not absent:
        return
    names = " and ".join(CLASS_NAMES[k] for k in absent)
    counts = "/".join(str(int((y == k).sum())) for k in labeling.CLASSES)
    knob = (
        f"a lower --threshold (a log return: 0.001 = ~0.1 %; now {config.threshold:g})"
        if config.label == "forward"
        else f"a lower --min-swing (a fraction: 0.005 = 0.5 %; now {config.min_swing:g})"
    )
    raise InputError(
        f"no {names} label among the {len(y)} labelled rows (SELL/HOLD/BUY = {counts}): the "
        f"model could never signal it and the strategy refuses such a model; use {knob}, or "
        "a window where the price moves both ways"
    )


def default_model_name(symbol: str, interval: str, df: pd.DataFrame) -> str:
    ot = df["open_time"].to_numpy()
    end_tag = utc_iso(int(ot[-1]) + INTERVAL_MS[interval])[:10]
    return f"{symbol}-{interval}-logreg-{utc_iso(int(ot[0]))[:10]}_{end_tag}.json"


def _inner_text(res: TrainResult) -> str:
    """'3 inner folds', or '19, 20, 20, 20, 20 of 20 inner folds' when a fold had fewer (an inner
    fold too early to keep the purge, or of one class, is left out): the count said is true."""
    n = res.inner_folds
    if all(u == n for u in res.inner_used):
        return f"{n} inner folds"
    return f"{', '.join(str(u) for u in res.inner_used)} of {n} inner folds"


def label_text(label: dict[str, Any]) -> str:
    """What the labels were, from the model's recorded label settings."""
    if label["kind"] == "forward":
        t = label["threshold"]
        return (
            f"forward, the log return {label['horizon']} bars ahead beyond +-{t:g} (~{t * 100:g} %)"
        )
    m = label["min_swing"]
    return f"{label['kind']}, turning points of swings >= {m:g} ({m * 100:g} %)"


def print_report(res: TrainResult, symbol: str, interval: str, grid: tuple[float, ...]) -> None:
    c = res.counts
    tw = res.model.metadata["training_window"]  # which bars: --start/--end, or the whole file
    print(
        f"{symbol} {interval}: {res.bars} bars {tw['start']} .. {tw['end_exclusive']} "
        f"(exclusive), {res.rows} labelled rows, "
        f"{counted(res.gaps, 'gap')} ({counted(res.gap_rows, 'row')} across "
        f"{'it' if res.gaps == 1 else 'them'} left out), "
        f"classes SELL/HOLD/BUY = {c['-1']}/{c['0']}/{c['1']}, flow={res.flow}"
    )
    print(f"labels: {label_text(res.model.metadata['label'])}")
    if len(grid) > 1:
        print(f"the final model's C={res.best_c:g}, by mean fold log loss:")
        for cv in grid:
            print(f"  C={cv:g}: mean fold log loss {res.mean_log_loss[cv]:.4f}")
        chosen = ", ".join(f"{c:g}" for c in res.c_by_fold)
        how = f"C per fold from {_inner_text(res)} of its training rows: {chosen}"
    else:
        how = f"C={res.best_c:g}"
    folds = counted(res.folds, "fold")
    if res.folds < res.folds_asked:  # it said "4 folds" to a --folds 5, and not why
        left = res.folds_asked - res.folds
        blocks = "test block leaves" if left == 1 else f"{left} test blocks leave"
        folds = (
            f"{res.folds} of --folds {res.folds_asked}: the first {blocks} no training row "
            "before the purge"
        )
    print(f"out-of-sample ({folds}, purge {counted(res.purge, 'row')}, {how}):")
    for name in ("model", *BASELINES):
        print(f"  {name:15s} {_fmt(res.pooled[name])}")
    print("  (pooled over the folds' rows; auc: the mean of the folds')")
    # What each baseline is: under one name its scores once described two predictors.
    print(
        "  (baselines fitted on each fold's training rows, each predicting its most probable "
        "class: majority = their class frequencies; last_direction = their class frequencies "
        "after a bar of the same direction as the row's last bar)"
    )


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except InputError as e:
        print(error_line(PROG, str(e)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl+C: the model is saved last (a holdout's removed)
        print(interrupted_line(PROG, "no model was saved"), file=sys.stderr)
        return 130


def add_train_arguments(ap: argparse._ActionsContainer) -> None:
    """The label / validation / parallelism flags (shared with `model.review`)."""
    ap.add_argument(
        "--label",
        choices=("forward", "peak_trough"),
        default="forward",
        help="what is learnt: forward = BUY/SELL/HOLD by the log return --horizon bars ahead; "
        "peak_trough = the turning points of swings of at least --min-swing (default: "
        "%(default)s)",
    )
    # No argparse defaults for the label settings (TrainConfig's apply): one given for the
    # other kind of label is refused (`train_config`), which a default would hide.
    ap.add_argument(
        "--horizon",
        type=int,
        help=f"forward labels: bars ahead, >= 1 (default: {DEFAULTS.horizon})",
    )
    ap.add_argument(
        "--threshold",
        type=float,
        help="forward labels: BUY above this log return, SELL below minus it, else HOLD "
        f"(0.001 = ~0.1 %%; default: {DEFAULTS.threshold:g})",
    )
    ap.add_argument(
        "--min-swing",
        type=float,
        help="peak_trough labels: the smallest swing, a fraction of the price (0.005 = 0.5 %%; "
        f"default: {DEFAULTS.min_swing:g})",
    )
    ap.add_argument(
        "--folds",
        type=int,
        default=5,
        help="walk-forward folds: time-ordered test blocks scored out of sample (default: "
        "%(default)s)",
    )
    ap.add_argument(
        "--purge",
        type=int,
        help="labelled rows left out between train and test: with forward labels at least "
        "--horizon (default: the horizon; peak_trough labels, relabelled per fold from the "
        "prices before its test block, need none: 0); rows, so across a data gap it spans "
        "more time than as many bars",
    )
    ap.add_argument(
        "--c",
        default="0.1,1.0",
        help="comma-separated grid of C, the inverse L2 regularization strength of the "
        "logistic regression (smaller: simpler model; default: %(default)s)",
    )
    ap.add_argument(
        "--inner-folds",
        type=int,
        help="walk-forward folds of each fold's training rows that choose its C among --c's "
        "values (nested: the reported metrics never score the folds that chose C; default: "
        f"{DEFAULTS.inner_folds}; with a single --c nothing is chosen)",
    )
    ap.add_argument(
        "--class-weight",
        choices=("balanced", "none"),
        default="balanced",
        help="balanced = each class (SELL, HOLD, BUY) weighs as much in the fit whatever its "
        "count; none = every row alike (default: %(default)s)",
    )
    ap.add_argument(
        "--flow",
        choices=("auto", "on", "off"),
        default="auto",
        help="the taker-flow features (taker buy volume, trade count): auto = when --data has "
        "those columns; on = required; off = never (default: %(default)s)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="parallel fold fits, joblib processes (default: %(default)s)",
    )
    ap.add_argument(
        "--dask-scheduler", metavar="ADDRESS", help="run the fold fits on this Dask cluster"
    )
    ap.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on when stderr is a terminal)",
    )


def for_backtest(config: TrainConfig) -> TrainConfig:
    """The config of a model about to be backtested: the backtester replays klines without
    taker volume or trade counts (the flow features would be zeros there), so flow is off."""
    if config.flow == "on":
        raise InputError("--flow on: the backtest replays klines without taker volume; use off")
    return replace(config, flow="off")


def train_config(args: argparse.Namespace) -> TrainConfig:
    try:
        grid = tuple(float(s) for s in args.c.split(","))
    except ValueError:
        raise InputError(f"--c {args.c!r}: expected numbers like 0.1,1.0") from None
    given = {
        "--horizon": args.horizon,
        "--threshold": args.threshold,
        "--min-swing": args.min_swing,
    }
    other = [flag for flag, v in given.items() if v is not None and flag not in _USES[args.label]]
    if other:
        flags = " and ".join(other)
        uses = " and ".join(_USES[args.label])
        raise InputError(
            f"{flags} {'sets' if len(other) == 1 else 'set'} "
            f"{'peak_trough' if args.label == 'forward' else 'forward'} labels, and "
            f"--label {args.label} {'would ignore it' if len(other) == 1 else 'would ignore them'}"
            f" (its labels use {uses})"
        )
    if args.inner_folds is not None and len(grid) == 1:
        raise InputError(
            f"--inner-folds chooses each fold's C among --c's values, and with the single --c "
            f"{grid[0]:g} nothing is chosen: it would be ignored (give --c a list, e.g. 0.1,1.0)"
        )
    config = TrainConfig(
        label=args.label,
        horizon=DEFAULTS.horizon if args.horizon is None else args.horizon,
        threshold=DEFAULTS.threshold if args.threshold is None else args.threshold,
        min_swing=DEFAULTS.min_swing if args.min_swing is None else args.min_swing,
        folds=args.folds,
        purge=args.purge,
        grid=grid,
        inner_folds=DEFAULTS.inner_folds if args.inner_folds is None else args.inner_folds,
        class_weight=None if args.class_weight == "none" else "balanced",
        flow=args.flow,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        progress=sys.stderr.isatty() if args.progress is None else args.progress,
    )
    config.check()
    if config.dask_scheduler is not None:
        check_scheduler(config.dask_scheduler)
    return config


def check_out(out: Path) -> None:
    """InputError when nothing can be written at `out` (a directory, or a .json file in one):
    checked before the training run, which takes minutes, rather than at the save. A file
    other than a .json one, and a name with another file suffix (`x.txt`, `m.JSON`) that is
    no directory yet, are refused too: the latter would be made a directory, the model saved
    inside it."""
    if out.suffix == ".json" and out.is_dir():
        raise InputError(f"--out {out}: is a directory, not a .json file")
    if out.suffix != ".json" and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, not a .json file nor a directory")
    if out.suffix not in ("", ".json") and not out.is_dir() and _file_suffix(out.suffix):
        raise InputError(
            f"--out {out}: expected a .json file or a directory, and a {out.suffix} name would "
            "be made a directory"
        )
    where = out.parent if out.suffix == ".json" else out
    if (reg := registry_around(where)) is not None:
        raise InputError(
            f"--out {out}: inside the model registry {reg}, whose versions are never edited "
            "and which reads no other file; save the model elsewhere and add it with python "
            f"-m model.review --registry {reg} --candidate FILE"
        )
    problem = write_problem(where)
    if problem is not None:
        raise InputError(f"--out {out}: {problem}")


def _file_suffix(suffix: str) -> bool:
    """Whether a name's suffix reads as a file type (`.txt`, `.JSON`), not a version or a date
    in a folder's name (`models/run.2`, `models/2025.06`)."""
    return any(c.isalpha() for c in suffix)


def _save(model: Any, out: Path) -> None:
    # A disk that fills up (or a directory removed) during the run: one line, not a traceback.
    try:
        model.save(out)
    except OSError as e:
        raise InputError(f"--out {out}: cannot save the model ({e.strerror or e})") from None
    except ValueError as e:  # a NaN or inf in it (JSON cannot hold one): a bug, said in a line
        raise InputError(f"--out {out}: cannot save the model ({e})") from None


def build_parser() -> argparse.ArgumentParser:
    """`python -m model.train`'s flags."""
    ap = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data",
        action=StoreOnce,
        required=True,
        type=nonempty_path,
        help="kline CSV(.gz), or history store Parquet: a day file, a folder of them, or the "
        "store's root (fetch_historical.py --out)",
    )
    ap.add_argument(
        "--symbol",
        required=True,
        help="the symbol the bars are of, e.g. BTCUSDT (btcusdt, BTC/USDT too; recorded)",
    )
    ap.add_argument(
        "--interval",
        required=True,
        choices=list(INTERVAL_MS),  # time order
        help="the bars' interval (recorded: the daemon and the backtester refuse the model on "
        "other bars)",
    )
    ap.add_argument("--start", help="epoch ms or UTC date/datetime, inclusive (default: first bar)")
    ap.add_argument(
        "--end", help="epoch ms or UTC date/datetime, exclusive (default: after last bar)"
    )
    ap.add_argument(
        "--out",
        required=True,
        type=nonempty_path,
        help="where the model is saved: a .json file, or a directory to write "
        "<SYMBOL>-<interval>-logreg-<first day>_<end day>.json into",
    )
    ap.add_argument(
        "--holdout-days",
        type=float,
        help="train on all but the last N days, then backtest the model on them (1m only; "
        "default: train on every bar, no backtest)",
    )
    ap.add_argument(
        "--backtest-out",
        type=nonempty_path,
        help="write the holdout backtest's files here (default: none written)",
    )
    ap.add_argument(
        "--notional",
        help="holdout backtest position size, USDT (default: 1000)",
    )
    add_train_arguments(ap)
    return ap


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)

    symbol = symbol_of(args.symbol)
    if symbol is None:
        raise InputError(f"--symbol {args.symbol!r}: expected a symbol such as BTCUSDT")
    config = train_config(args)
    if args.holdout_days is not None:
        config = for_backtest(config)
    start_ms = _parse_time(args.start) if args.start else None
    end_ms = _parse_time(args.end) if args.end else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError("--end must be after --start")

    holdout = args.holdout_days  # echoed .15g: 9 as typed, not 9.0; 1.25 stays 1.25
    if holdout is not None:
        if args.interval != "1m":
            raise InputError("--holdout-days: the backtester replays 1m bars; use --interval 1m")
        if not (holdout > 0 and np.isfinite(holdout)):
            raise InputError(f"--holdout-days {holdout:.15g}: expected > 0")
        check_backtest_symbol(symbol)
    elif args.backtest_out is not None:
        raise InputError("--backtest-out needs --holdout-days")
    given_notional = args.notional is not None
    if not given_notional:
        args.notional = "1000"
    try:
        notional = Decimal(args.notional)
    except InvalidOperation:
        notional = Decimal(-1)
    if not notional.is_finite() or notional <= 0:
        raise InputError(f"--notional {args.notional!r}: expected a number > 0")
    if given_notional and holdout is None:  # it went unused without a word
        raise InputError("--notional needs --holdout-days (it sizes the holdout backtest)")

    check_out(args.out)
    if args.backtest_out is not None and (problem := write_problem(args.backtest_out)):
        raise InputError(f"--backtest-out {args.backtest_out}: {problem}")
    if args.backtest_out is not None:
        check_backtest_out(args.backtest_out)

    t0 = time.perf_counter()
    df = load_bars(
        args.data, symbol=symbol, interval=args.interval, start_ms=start_ms, end_ms=end_ms
    )
    hold: tuple[int, int] | None = None
    if holdout is not None:
        step = INTERVAL_MS[args.interval]
        data_end = int(df["open_time"].iloc[-1]) + step
        hold = (data_end - int(holdout * 86_400_000), data_end)
        df = df[df["open_time"] < hold[0]].reset_index(drop=True)
        if len(df) == 0:
            raise InputError(f"--holdout-days {holdout:.15g}: no bars left to train on")
    t_load = time.perf_counter() - t0
    res = train(df, config, symbol=symbol, interval=args.interval, data_name=args.data.name)
    out = args.out
    if out.suffix != ".json":
        out = out / default_model_name(symbol, args.interval, df)
    _save(res.model, out)
    t_train = time.perf_counter() - t0
    # The training's report before the holdout backtest, which may take longer than the
    # training did: printed after it, the command sat silent (with --no-progress) or showed
    # unexplained bars, and only then said what the training had found.
    print_report(res, symbol, args.interval, config.grid)
    report = None
    if hold is not None:
        days = f"{holdout:.15g} day{'' if holdout == 1 else 's'}"
        print(f"holdout backtest of the last {days}: the model, then SMA 10/50 ...")
        sys.stdout.flush()
        try:
            report = holdout_backtest(
                args.data, symbol, out, hold, notional=notional, out_dir=args.backtest_out,
                progress=config.progress,
            )  # fmt: skip
        except (InputError, KeyboardInterrupt):
            out.unlink(missing_ok=True)  # no model file whose holdout backtest failed
            raise
        res.model.metadata["holdout_backtest"] = report
        _save(res.model, out)

    sec = res.seconds
    t_all = time.perf_counter() - t0
    holdout_s = "" if hold is None else f", holdout backtest {t_all - t_train:.1f}s"
    # Said last: a failed or interrupted holdout backtest removes the file.
    print(
        f"saved {out}  (load {t_load:.1f}s, features {sec['features']:.1f}s, "
        f"walk-forward {sec['walk_forward']:.1f}s{holdout_s}, total {t_all:.1f}s)"
    )
    if report is not None:
        print_holdout(report)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
