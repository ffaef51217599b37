"""Offline training: walk-forward evaluation, then a final fit saved as a plain-JSON model.

    python -m model.train --data PATH --symbol BTCUSDT --interval 1m \
        --start 2025-05-04 --end 2025-06-24 --out models/

The data is a kline CSV (optionally gzipped) with open_time (ms), open, high, low, close,
volume, and optionally taker_buy_volume and count/trade_count (flow features). Rows are
features at bar t's close (model.features) and labels from model.labeling; a row whose feature
window (WARMUP_BARS) or forward-label horizon spans a gap in the data is left out (counted in
the report; peak/trough labels have no fixed horizon, so only their features are checked).
Evaluation is walk-forward: the labelled rows are cut into `folds + 1` consecutive blocks; fold
k trains on everything before block k minus a purge gap (default: the label horizon, so no
training label looks into the test block) and tests on block k; peak/trough labels, which
have no fixed horizon, are recomputed per fold from the closes before its test block, and a
row whose swing is confirmed only later is left out of that fold's training.

The metrics are nested: each fold's C is chosen on its own training rows only, by the mean log
loss of `inner_folds` walk-forward folds cut from them the same way (same purge, same
relabelling), and the fold is then fitted at that C and scored on its test block; choosing C on
the very folds being reported would flatter them (as scikit-learn's `cross_val_score` of a
`GridSearchCV` avoids). Out-of-sample log loss, accuracy, balanced accuracy, ROC-AUC
(one-vs-rest, macro) and calibration (expected calibration error, Brier score), pooled over the
folds, are reported next to two naive baselines: the majority class of the training fold, and
the last bar's direction. The final model's C is the best mean log loss over the (outer) folds
(GridSearchCV's refit: a choice, not a score) and the model is fitted on all labelled rows and
saved with its metadata. Outer and inner fits run in parallel with joblib. With a single C
there is nothing to choose and no inner fold. Bad inputs exit with status 2 and one line on
stderr.
"""

# Ctrl+C's handler goes in before the imports: numpy, about 0.1 s
from __future__ import annotations

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests and model.review import this module), and only where Ctrl+C
# would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import hashlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from core.clock import parse_utc_ms
from model import features, labeling
from model.inputs import (
    BINANCE_KLINE_COLUMNS,
    cell_problem,
    open_time_ms,
    to_float_columns,
    write_problem,
)
from runtime.flags import (
    SecretSafeParser,
    StoreOnce,
    error_line,
    interrupted_line,
    nonempty_path,
)

if TYPE_CHECKING:
    import pandas as pd

imports_done()  # `main` takes Ctrl+C from here

PROG = "python -m model.train"  # its error lines start `model.train: error: `
INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


class InputError(Exception):
    """A bad command-line input or data file: reported in one line, exit status 2."""


class _Parser(SecretSafeParser):
    def fail(self, message: str) -> NoReturn:
        raise InputError(message)


def _interval_text(ms: int) -> str:
    """A bar spacing as --interval names it (`1m`, not `60000 ms`), else in seconds."""
    names = {v: k for k, v in INTERVAL_MS.items()}
    return names.get(ms, f"{ms / 1000:g} s")


def _parse_time(text: str) -> int:
    """Epoch ms, or a UTC date / ISO datetime -> epoch ms."""
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise InputError(str(e)) from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def load_bars(
    path: Path, *, symbol: str, interval: str, start_ms: int | None, end_ms: int | None
) -> pd.DataFrame:
    """The kline window [start, end) as a DataFrame; InputError on anything unusable."""
    import pandas as pd

    if path.is_dir():
        path = store_folder(path, symbol=symbol, interval=interval)
    elif not path.is_file():
        raise InputError(f"--data {path}: no such file")
    from backtest.data import symbol_in_name  # the backtester's rule, the same message

    named = symbol_in_name(path)
    if named is not None and named != symbol.upper():
        raise InputError(f"--data {path.name} holds {named}, not --symbol {symbol}")
    if path.is_dir() or path.suffix == ".parquet":
        df = _read_parquet(path)
    else:
        try:
            headerless = _headerless_binance(path)
            df = pd.read_csv(path, header=None if headerless else "infer",
                             names=BINANCE_KLINE_COLUMNS if headerless else None)  # fmt: skip
        except Exception as e:  # pandas raises many types for a bad file
            raise InputError(
                f"--data {path}: cannot read as CSV ({type(e).__name__}: {e})"
            ) from None
    df = df.rename(columns={"count": "trade_count"})
    need = ["open_time", *features.BAR_COLUMNS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"--data {path}: missing column(s) {', '.join(missing)}")
    _check_cells(df, ("open_time",), path)  # the window compares it
    df = to_float_columns(df, ("open_time",))
    df["open_time"] = open_time_ms(df["open_time"].to_numpy())
    if start_ms is not None:
        df = df[df["open_time"] >= start_ms]
    if end_ms is not None:
        df = df[df["open_time"] < end_ms]
    if len(df) == 0:
        raise InputError(f"--data {path}: no bars in the requested window")
    # The window's cells only, before reset_index, so a bad one is named by its file row.
    values = (*features.BAR_COLUMNS, *(c for c in features.FLOW_COLUMNS if c in df.columns))
    _check_cells(df, values, path)
    df = to_float_columns(df, values).reset_index(drop=True)
    ot = df["open_time"].to_numpy()
    if np.any(np.diff(ot) <= 0):
        raise InputError(f"--data {path}: open_time is not strictly increasing")
    step = INTERVAL_MS[interval]
    if len(ot) > 1 and int(np.median(np.diff(ot))) != step:
        found = int(np.median(np.diff(ot)))
        raise InputError(
            f"--data {path}: bars are {_interval_text(found)} apart, not --interval {interval}"
        )
    px = df[list(features.BAR_COLUMNS)].to_numpy(dtype=float)
    if not np.isfinite(px).all() or (df[["open", "high", "low", "close"]] <= 0).any().any():
        raise InputError(f"--data {path}: non-finite or non-positive prices in the window")
    return df


def _headerless_binance(path: Path) -> bool:
    """The first line is 12 numbers: a Binance klines file without a header row."""
    import gzip

    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt") as fh:  # type: ignore[operator]
            cells = fh.readline().strip().split(",")
        [float(c) for c in cells]
    except (OSError, UnicodeDecodeError, EOFError, ValueError):
        return False
    return len(cells) == len(BINANCE_KLINE_COLUMNS)


def store_folder(path: Path, *, symbol: str, interval: str) -> Path:
    """The folder of day files to read for `--data DIR`: DIR itself when it holds Parquet
    files (`<store>/BTCUSDT/klines-1m`, as the backtester reads it), or the symbol's klines
    of `interval` when DIR is a history store's root (`fetch_historical.py --out DIR`)."""
    if any(path.glob("*.parquet")):
        return path
    sub = path / symbol.upper() / f"klines-{interval}"
    if any(sub.glob("*.parquet")):
        return sub
    raise InputError(
        f"--data {path}: no .parquet files in it, nor in {sub} (a history store's klines)"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    """A market_history store's kline day file, or a folder of them, as a DataFrame sorted by
    open time. The store keeps prices as decimal strings (converted by the caller's checks)
    and nulls where a source had no taker volume or trade count (plain OHLCV imports): such a
    flow column is left out, so the flow features are off rather than a cell error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    try:
        table = pa.concat_tables(
            [pq.read_table(f).replace_schema_metadata(None) for f in files],
            promote_options="default",
        )
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"--data {path}: cannot read as Parquet ({e})") from None
    df = table.to_pandas()
    if "open_time" in df.columns:
        df = df.sort_values("open_time", kind="stable").reset_index(drop=True)
    partial = [c for c in features.FLOW_COLUMNS if c in df.columns and df[c].isna().any()]
    if partial:
        df = df.drop(columns=list(features.FLOW_COLUMNS), errors="ignore")
    return df


def _check_cells(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    problem = cell_problem(df, columns)
    if problem is not None:
        raise InputError(f"--data {path}: {problem}")


def data_hash(df: pd.DataFrame, flow: bool) -> str:
    cols = ["open_time", *features.BAR_COLUMNS] + (list(features.FLOW_COLUMNS) if flow else [])
    h = hashlib.sha256()
    for c in cols:
        h.update(c.encode())
        h.update(np.ascontiguousarray(df[c].to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


# --- metrics ---------------------------------------------------------------------------------


def _ece(y: np.ndarray, p: np.ndarray, classes: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-class probability (10 equal-width bins)."""
    conf = p.max(axis=1)
    hit = classes[p.argmax(axis=1)] == y
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(err)


def metrics(
    y: np.ndarray, p: np.ndarray, classes: np.ndarray, pred: np.ndarray | None = None
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, log_loss  # type: ignore[import-untyped]

    if pred is None:
        pred = classes[p.argmax(axis=1)]
    onehot = (y[:, None] == classes[None, :]).astype(float)
    return {
        "n": len(y),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1.0), labels=classes)),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "roc_auc_ovr": _auc(y, p, classes),
        "ece": _ece(y, p, classes),
        "brier": float(((p - onehot) ** 2).sum(axis=1).mean()),
    }


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's balanced accuracy (mean recall over the classes present in `y`) without
    its UserWarning when a block lacks a class the model predicts: a test block of one class
    is expected in walk-forward folds, and the score is defined on it."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return float(balanced_accuracy_score(y, pred))


def _auc(y: np.ndarray, p: np.ndarray, classes: np.ndarray) -> float | None:
    """One-vs-rest macro ROC-AUC, or None when undefined: a class absent from the block has no
    AUC (scikit-learn raises, or warns and returns NaN, which JSON cannot hold)."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning  # type: ignore[import-untyped]
    from sklearn.metrics import roc_auc_score

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            auc = float(roc_auc_score(y, p, multi_class="ovr", labels=classes))
    except ValueError:
        return None
    return auc if math.isfinite(auc) else None


BASELINES = ("majority", "last_direction")


def baseline_predictions(
    y_tr: np.ndarray, r_tr: np.ndarray, r_te: np.ndarray, classes: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(probabilities, predicted class) of the naive baselines on a test block, fitted on the
    training block: majority class (training class frequencies as probabilities) and last
    direction (BUY after an up bar, SELL after a down bar, HOLD after a flat one; probabilities
    = the training frequencies of each class after that direction). Laplace-smoothed."""
    freq = np.array([(y_tr == k).sum() + 1.0 for k in classes])
    freq /= freq.sum()
    p_major = np.tile(freq, (len(r_te), 1))
    pred_major = np.full(len(r_te), classes[int(freq.argmax())])
    d_tr, d_te = np.sign(r_tr), np.sign(r_te)
    p_dir = np.empty((len(r_te), len(classes)))
    for s in (-1.0, 0.0, 1.0):
        cond = np.array([((d_tr == s) & (y_tr == k)).sum() + 1.0 for k in classes])
        p_dir[d_te == s] = cond / cond.sum()
    pred_dir = np.where(d_te > 0, labeling.BUY, np.where(d_te < 0, labeling.SELL, labeling.HOLD))
    return {"majority": (p_major, pred_major), "last_direction": (p_dir, pred_dir)}


def walk_forward_splits(n: int, *, folds: int, purge: int) -> list[tuple[int, int, int]]:
    """(train_end, test_start, test_end) row positions: train = [0, train_end)."""
    edges = np.linspace(0, n, folds + 2).astype(int)
    out = []
    for k in range(1, folds + 1):
        test_start, test_end = int(edges[k]), int(edges[k + 1])
        train_end = test_start - purge
        if train_end > 0 and test_end > test_start:
            out.append((train_end, test_start, test_end))
    return out


CLASS_NAMES = {labeling.SELL: "SELL", labeling.HOLD: "HOLD", labeling.BUY: "BUY"}


FoldTrain = tuple[np.ndarray, np.ndarray]  # (training row positions, their labels)


def fold_training_rows(
    y: np.ndarray,
    splits: list[tuple[int, int, int]],
    *,
    label: str,
    close: np.ndarray,
    bars: np.ndarray,
    min_swing: float,
) -> list[FoldTrain]:
    """Each fold's training rows and labels, using no price of its test block or later.
    Forward labels look `horizon` bars ahead, which the purge keeps before the test block, so
    the rows are [0, train_end) as labelled. A peak/trough label has no fixed horizon (a swing
    is confirmed whenever price moves far enough), so each fold's labels are recomputed from
    the closes before its test block's first bar (`bars` maps rows to bars): a row whose swing
    is confirmed only later is left out of that fold's training."""
    out = []
    for train_end, test_start, _ in splits:
        idx = np.arange(train_end)
        if label == "peak_trough":
            seen = labeling.peak_trough_labels(close[: bars[test_start]], min_swing=min_swing)
            honest = seen[bars[:train_end]]
            idx = idx[~np.isnan(honest)]
            out.append((idx, honest[idx].astype(int)))
        else:
            out.append((idx, y[:train_end]))
    return out


def check_inner_folds(inner: list[list[InnerFold]], n_inner: int) -> None:
    """InputError when a fold's training rows leave no inner fold to choose its C on (too few
    rows for `n_inner` folds and the purge, or a single class in each): said before any fit."""
    for k, these in enumerate(inner, 1):
        if not these:
            raise InputError(
                f"walk-forward fold {k} of {len(inner)}: its training rows leave no inner fold "
                f"(of {n_inner}) to choose C on; use a longer window, fewer --folds or "
                "--inner-folds, a smaller --purge, or a single --c"
            )


def check_fold_classes(folds: list[FoldTrain]) -> None:
    """InputError when a fold's training rows hold a single class (or none): nothing to fit
    (scikit-learn raises), said before any fit rather than as a traceback from a worker."""
    for k, (idx, y_train) in enumerate(folds, 1):
        present = np.unique(y_train)
        if len(present) < 2:
            what = (
                f"its {len(idx)} training rows are all {CLASS_NAMES[int(present[0])]}"
                if len(present)
                else "no training row has a label yet (no swing confirmed before its test block)"
            )
            raise InputError(
                f"walk-forward fold {k} of {len(folds)}: {what}; lower --threshold / "
                "--min-swing, use fewer --folds or a longer window"
            )


def _run_fold(
    x: np.ndarray,
    y: np.ndarray,
    r1: np.ndarray,
    split: tuple[int, int, int],
    fold: FoldTrain,
    c: float,
    flow: bool,
    cw: str | None,
) -> dict[str, Any]:
    train_end, a, b = split
    idx, y_train = fold
    classes = np.array(labeling.CLASSES)
    p = _fit_predict(x[idx], y_train, x[a:b], c=c, flow=flow, cw=cw)
    return {
        "C": c,
        "train": [0, train_end],
        "train_rows": len(idx),
        "test": [a, b],
        "model": metrics(y[a:b], p, classes),
        "baselines": {
            name: metrics(y[a:b], p_b, classes, pred_b)
            for name, (p_b, pred_b) in baseline_predictions(
                y_train, r1[idx], r1[a:b], classes
            ).items()
        },
        "proba": p,
    }


def _fit_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    c: float,
    flow: bool,
    cw: str | None,
) -> np.ndarray:
    """Probabilities on `x_test` of a model fitted on the training rows, one column per class
    of labeling.CLASSES, even one missing from the training rows (probability 0)."""
    from model.logreg_model import LogRegModel

    classes = list(labeling.CLASSES)
    model = LogRegModel(c=c, class_weight=cw, flow=flow).fit(x_train, y_train)
    p_fit = model.predict_proba(x_test)
    p = np.zeros((len(x_test), len(classes)))
    for j, k in enumerate(model.classes):
        p[:, classes.index(k)] = p_fit[:, j]
    return p


InnerFold = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # train rows, y, test rows, y


def inner_folds(
    outer: list[FoldTrain],
    *,
    inner: int,
    purge: int,
    label: str,
    close: np.ndarray,
    bars: np.ndarray,
    min_swing: float,
) -> list[list[InnerFold]]:
    """Per outer fold, the walk-forward folds cut from its training rows alone to choose its C:
    (training rows, their labels, test rows, their labels), rows numbered as the outer ones.
    The outer fold's labels are the test labels (they use no price of its test block); the
    training labels use no price of the inner test block (`fold_training_rows`). An inner fold
    whose training rows hold a single class is left out (nothing to fit)."""
    out = []
    for idx, y_outer in outer:
        splits = walk_forward_splits(len(idx), folds=inner, purge=purge)
        trains = fold_training_rows(
            y_outer, splits, label=label, close=close, bars=bars[idx], min_swing=min_swing
        )
        out.append(
            [
                (idx[pos], y_pos, idx[a:b], y_outer[a:b])
                for (_, a, b), (pos, y_pos) in zip(splits, trains, strict=True)
                if len(np.unique(y_pos)) > 1
            ]
        )
    return out


def _inner_log_loss(
    x: np.ndarray,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    test_rows: np.ndarray,
    y_test: np.ndarray,
    c: float,
    flow: bool,
    cw: str | None,
) -> float:
    from sklearn.metrics import log_loss

    p = _fit_predict(x[train_rows], y_train, x[test_rows], c=c, flow=flow, cw=cw)
    return float(log_loss(y_test, np.clip(p, 1e-15, 1.0), labels=np.array(labeling.CLASSES)))


def _fit_task(x: np.ndarray, y: np.ndarray, r1: np.ndarray, kind: str, *task: Any) -> Any:
    """One fit of the walk-forward: an outer fold at a C (its metrics), or an inner fold at a
    C (its test log loss); one function, so both kinds share one pool of workers."""
    if kind == "outer":
        return _run_fold(x, y, r1, *task)
    return _inner_log_loss(x, *task)


def choose_c(grid: list[float], losses: dict[tuple[int, float], list[float]], k: int) -> float:
    """Outer fold k's C: the lowest mean inner log loss (the first of the grid on a tie)."""
    return min(grid, key=lambda c: float(np.mean(losses[(k, c)])))


def _pooled(
    results: list[dict[str, Any]], y: np.ndarray, r1: np.ndarray, folds: list[FoldTrain]
) -> dict[str, Any]:
    classes = np.array(labeling.CLASSES)
    ys = np.concatenate([y[r["test"][0] : r["test"][1]] for r in results])
    ps = np.concatenate([r["proba"] for r in results])
    out = {"model": metrics(ys, ps, classes)}
    # Baselines pooled the same way (each fold's baselines fitted on its own training block).
    parts = [
        baseline_predictions(y_train, r1[idx], r1[slice(*r["test"])], classes)
        for r, (idx, y_train) in zip(results, folds, strict=True)
    ]
    for name in BASELINES:
        p_all = np.concatenate([part[name][0] for part in parts])
        pred_all = np.concatenate([part[name][1] for part in parts])
        out[name] = metrics(ys, p_all, classes, pred_all)
    return out


def build_dataset(
    df: Any, *, flow: bool, label: str, horizon: int, threshold: float, min_swing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, ret_1, positions) over rows with complete features and a label."""
    feats = features.compute_features(df, flow=flow)
    close = df["close"].to_numpy(dtype=float)
    if label == "forward":
        y = labeling.forward_return_labels(close, horizon=horizon, threshold=threshold)
    else:
        y = labeling.peak_trough_labels(close, min_swing=min_swing)
    x = feats.to_numpy()
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    pos = np.flatnonzero(ok)
    return x[ok], y[ok].astype(int), x[ok, features.FEATURE_NAMES.index("ret_1")], pos


def straddles_gap(open_time: np.ndarray, step_ms: int, *, back: int, ahead: int) -> np.ndarray:
    """Per bar t, True when a bar is missing between bar t - back and bar t + ahead: its
    feature window (`back` bars before it) or its label's horizon (`ahead` bars after it) spans
    a gap in the data, so its row mixes prices from both sides of the hole."""
    n = len(open_time)
    hole = np.diff(open_time) != step_ms  # hole[j]: bars j and j + 1 are not consecutive
    before = np.concatenate([[0], np.cumsum(hole)])  # before[k]: holes among hole[:k]
    t = np.arange(n)
    lo = np.clip(t - back, 0, max(n - 1, 0))
    hi = np.clip(t + ahead, 0, max(n - 1, 0))
    return np.asarray(before[hi] - before[lo] > 0)


def _fmt(m: dict[str, Any]) -> str:
    auc = "  n/a " if m["roc_auc_ovr"] is None else f"{m['roc_auc_ovr']:.4f}"
    return (
        f"logloss {m['log_loss']:.4f}  acc {m['accuracy']:.4f}  bal_acc "
        f"{m['balanced_accuracy']:.4f}  auc {auc}  ece {m['ece']:.4f}  brier {m['brier']:.4f}"
    )


# --- parallel map: joblib processes, or a Dask cluster ---------------------------------------


def parallel_map(
    fn: Callable[..., Any],
    shared: tuple[Any, ...],
    tasks: list[tuple[Any, ...]],
    *,
    jobs: int = 1,
    dask_scheduler: str | None = None,
    progress: bool = False,
    desc: str = "",
) -> list[Any]:
    """[fn(*shared, *task) for task in tasks], in task order, computed by `jobs` joblib
    workers, or on the Dask cluster at `dask_scheduler` (the `shared` arrays are scattered to
    the workers once); a tqdm bar on stderr counts finished tasks when `progress`. The order
    of results never depends on which worker finished first, so parallel equals sequential."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    with tqdm(total=len(tasks), desc=desc, disable=not progress, unit="fit", leave=False) as bar:
        if dask_scheduler is not None:
            return _dask_map(fn, shared, tasks, dask_scheduler, bar)
        from joblib import Parallel, delayed  # type: ignore[import-untyped]

        n = max(1, min(jobs, len(tasks)))
        out = []
        gen = Parallel(n_jobs=n, return_as="generator")(delayed(fn)(*shared, *t) for t in tasks)
        for r in gen:
            out.append(r)
            bar.update(1)
        return out


def check_scheduler(address: str) -> None:
    """Fail at once, in one line, when nothing listens at a tcp scheduler address (the Dask
    client would retry for its whole connect timeout)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme != "tcp":
        return  # tls://, inproc://...: left to the client
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise InputError(f"--dask-scheduler {address!r}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=3.0).close()
    except OSError as e:
        raise InputError(f"--dask-scheduler {address}: cannot connect ({e})") from None


def _dask_map(
    fn: Callable[..., Any],
    shared: tuple[Any, ...],
    tasks: list[tuple[Any, ...]],
    address: str,
    bar: Any,
) -> list[Any]:
    from distributed import Client, as_completed  # type: ignore[import-untyped]

    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise InputError(f"--dask-scheduler {address}: cannot connect ({e})") from None
    with client:
        from backtest.robustness import dask_workers_problem

        if problem := dask_workers_problem(client, "model"):
            raise InputError(f"--dask-scheduler {address}: {problem}")
        remote = client.scatter(list(shared), broadcast=True)
        futures = [client.submit(fn, *remote, *t, pure=False) for t in tasks]
        for _ in as_completed(futures, loop=client.loop):
            bar.update(1)
        return list(client.gather(futures))


# --- training ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Labels, walk-forward scheme, C grid and how to run the fits."""

    label: str = "forward"  # forward | peak_trough
    horizon: int = 15  # bars ahead (forward labels)
    threshold: float = 0.001  # log return for BUY/SELL
    min_swing: float = 0.005  # peak_trough labels
    folds: int = 5
    purge: int | None = None  # bars between train and test; None: the horizon
    grid: tuple[float, ...] = (0.1, 1.0)
    inner_folds: int = 3  # folds of each fold's training rows that choose its C
    class_weight: str | None = "balanced"
    flow: str = "auto"  # auto | on | off
    jobs: int = 2
    dask_scheduler: str | None = None
    progress: bool = False

    def check(self) -> None:
        # `not x >= 0` rather than `x < 0`: NaN fails every comparison, and passed the latter.
        if self.horizon < 1 or self.folds < 1 or self.jobs < 1 or self.inner_folds < 1:
            raise InputError("--horizon, --folds, --inner-folds and --jobs must be >= 1")
        if not (self.threshold >= 0 and math.isfinite(self.threshold)):
            raise InputError(f"--threshold {self.threshold}: expected a finite number >= 0")
        if not (self.min_swing > 0 and math.isfinite(self.min_swing)):
            raise InputError(f"--min-swing {self.min_swing}: expected a finite number > 0")
        if not self.grid or any(not (c > 0 and math.isfinite(c)) for c in self.grid):
            grid = ",".join(f"{c:g}" for c in self.grid)
            raise InputError(f"--c {grid}: expected finite numbers > 0")
        if self.purge is not None and self.purge < 0:
            raise InputError("--purge must be >= 0")


@dataclass(slots=True)
class TrainResult:
    model: Any  # LogRegModel, fitted on every labelled row, metadata filled in
    pooled: dict[str, Any]  # out-of-sample metrics (nested: see module doc): model, baselines
    mean_log_loss: dict[float, float]  # over the outer folds: chooses the final model's C
    best_c: float
    c_by_fold: list[float]  # each fold's C, chosen on its own training rows
    inner_folds: int  # 0: a single C, nothing chosen
    folds: int
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
    purge = config.horizon if config.purge is None else config.purge
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
        raise InputError(f"only {len(y)} labelled rows in the window; need >= {min_rows}")
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
        for k, these in enumerate(inner):
            for fold in these:
                for c in grid:
                    tasks.append(("inner", *fold, c, flow, cw))
                    inner_keys.append((k, c))
    results = parallel_map(
        _fit_task,
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
    pooled = _pooled(nested, y, r1, folds)
    t_cv = time.perf_counter() - t0 - t_feat

    from model.logreg_model import LogRegModel

    model = LogRegModel(c=best_c, class_weight=cw, flow=flow).fit(x, y)
    counts = {str(k): int((y == k).sum()) for k in labeling.CLASSES}
    model.metadata = {
        "symbol": symbol,
        "interval": interval,
        "training_window": {
            "start": _iso(int(ot[0])),
            "end_exclusive": _iso(int(ot[-1]) + INTERVAL_MS[interval]),
            "bars": len(df),
            "labelled_rows": len(y),
            "gaps": gaps,
            "rows_dropped_at_gaps": gap_rows,
        },
        "data": {"file": data_name, "sha256": data_hash(df, flow)},
        "label": {
            "kind": config.label,
            "horizon": config.horizon,
            "threshold": config.threshold,
            "min_swing": config.min_swing,
            "class_counts": counts,
        },
        "validation": {
            "scheme": "walk-forward, expanding window; each fold's C chosen on inner "
            "walk-forward folds of its own training rows (nested)",
            "folds": len(splits),
            "purge_bars": purge,
            "C_grid": grid,
            "inner_folds": n_inner,
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
        folds=len(splits),
        purge=purge,
        counts=counts,
        bars=len(df),
        rows=len(y),
        gaps=gaps,
        gap_rows=gap_rows,
        flow=flow,
        seconds={"features": t_feat, "walk_forward": t_cv, "total": t_all},
    )


def default_model_name(symbol: str, interval: str, df: pd.DataFrame) -> str:
    ot = df["open_time"].to_numpy()
    end_tag = _iso(int(ot[-1]) + INTERVAL_MS[interval])[:10]
    return f"{symbol}-{interval}-logreg-{_iso(int(ot[0]))[:10]}_{end_tag}.json"


def print_report(res: TrainResult, symbol: str, interval: str, grid: tuple[float, ...]) -> None:
    c = res.counts
    print(
        f"{symbol} {interval}: {res.bars} bars, {res.rows} labelled rows, {res.gaps} gaps "
        f"({res.gap_rows} rows across them left out), "
        f"classes SELL/HOLD/BUY = {c['-1']}/{c['0']}/{c['1']}, flow={res.flow}"
    )
    if len(grid) > 1:
        print(f"the final model's C={res.best_c:g}, by mean fold log loss:")
        for cv in grid:
            print(f"  C={cv:g}: mean fold log loss {res.mean_log_loss[cv]:.4f}")
        chosen = ", ".join(f"{c:g}" for c in res.c_by_fold)
        how = f"C per fold from {res.inner_folds} inner folds of its training rows: {chosen}"
    else:
        how = f"C={res.best_c:g}"
    print(f"out-of-sample ({res.folds} folds, purge {res.purge} bars, {how}):")
    for name in ("model", *BASELINES):
        print(f"  {name:15s} {_fmt(res.pooled[name])}")


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
    ap.add_argument(
        "--horizon",
        type=int,
        default=15,
        help="forward labels: bars ahead, >= 1 (default: %(default)s)",
    )
    ap.add_argument(
        "--threshold",
        type=float,
        default=0.001,
        help="forward labels: BUY above this log return, SELL below minus it, else HOLD "
        "(0.001 = ~0.1 %%; default: %(default)s)",
    )
    ap.add_argument(
        "--min-swing",
        type=float,
        default=0.005,
        help="peak_trough labels: the smallest swing, a fraction of the price (0.005 = 0.5 %%; "
        "default: %(default)s)",
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
        help="labelled rows left out between train and test (default: the label horizon; "
        "rows, so across a data gap it spans more time than as many bars)",
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
        default=3,
        help="walk-forward folds of each fold's training rows that choose its C (nested: the "
        "reported metrics never score the folds that chose C; default: %(default)s)",
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
    config = TrainConfig(
        label=args.label,
        horizon=args.horizon,
        threshold=args.threshold,
        min_swing=args.min_swing,
        folds=args.folds,
        purge=args.purge,
        grid=grid,
        inner_folds=args.inner_folds,
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
    checked before the training run, which takes minutes, rather than at the save."""
    if out.suffix == ".json" and out.is_dir():
        raise InputError(f"--out {out}: is a directory, not a .json file")
    problem = write_problem(out.parent if out.suffix == ".json" else out)
    if problem is not None:
        raise InputError(f"--out {out}: {problem}")


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
        "--symbol", required=True, help="the symbol the bars are of, e.g. BTCUSDT (recorded)"
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
        default="1000",
        help="holdout backtest position size, USDT (default: %(default)s)",
    )
    add_train_arguments(ap)
    return ap


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)

    symbol = args.symbol.upper()
    config = train_config(args)
    if args.holdout_days is not None:
        config = for_backtest(config)
    start_ms = _parse_time(args.start) if args.start else None
    end_ms = _parse_time(args.end) if args.end else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError("--end must be after --start")

    holdout = args.holdout_days
    if holdout is not None:
        if args.interval != "1m":
            raise InputError("--holdout-days: the backtester replays 1m bars; use --interval 1m")
        if not (holdout > 0 and np.isfinite(holdout)):
            raise InputError(f"--holdout-days {holdout}: expected > 0")
        check_backtest_symbol(symbol)
    elif args.backtest_out is not None:
        raise InputError("--backtest-out needs --holdout-days")
    try:
        notional = Decimal(args.notional)
    except InvalidOperation:
        notional = Decimal(-1)
    if not notional.is_finite() or notional <= 0:
        raise InputError(f"--notional {args.notional!r}: expected a number > 0")

    check_out(args.out)
    if args.backtest_out is not None and (problem := write_problem(args.backtest_out)):
        raise InputError(f"--backtest-out {args.backtest_out}: {problem}")

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
            raise InputError(f"--holdout-days {holdout}: no bars left to train on")
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
        print(f"holdout backtest of the last {holdout:g} days: the model, then SMA 10/50 ...")
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


def check_backtest_symbol(symbol: str) -> None:
    """InputError when the backtester has no exchange rules (tick, lot) for `symbol`: said
    before the training, not by the holdout backtest after the model was saved."""
    from exchange_sim.replay.grid import load_instruments

    known = load_instruments()
    if symbol not in known:
        raise InputError(
            f"--holdout-days: the backtester has no exchange rules for {symbol} "
            f"(it knows {', '.join(sorted(known))})"
        )


# --- out-of-sample backtest on a holdout -------------------------------------------------------


def holdout_backtest(
    data: Path,
    symbol: str,
    model_path: Path,
    window: tuple[int, int],
    *,
    notional: Decimal,
    out_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Backtest the saved model on [start, end) through `backtest.runner.run_backtest` (fees
    on; the bars before `start` warm the strategy as the backtester's `--start` does, so the
    first decision falls on the first holdout bar, on the features a long history gives rather
    than on RSI/ATR/MACD averages still near their seeds), next to baselines on the same bars:
    SMA crossover 10/50 through the same backtester, buy and hold (long the same notional from
    the first to the last close, no fees, as a return on the same starting wallet) and flat."""
    from backtest.data import DataError, Klines, load
    from backtest.outputs import write_outputs
    from backtest.run_lines import named_run, quiet_run
    from backtest.runner import WARM_HISTORY_BARS, BacktestConfig, run_backtest

    start, end = window
    try:
        bars = load(data, start_ms=start - WARM_HISTORY_BARS * 60_000, end_ms=end)
    except DataError as e:
        raise InputError(f"holdout backtest: {e}") from None
    if not isinstance(bars, Klines):
        raise InputError(f"--data {data}: the holdout backtest needs klines")
    lr = BacktestConfig(
        symbol=symbol,
        strategy="logistic_regression",
        strategy_params={
            "model_path": str(model_path),
            "order_notional_usdt": notional,
            "bar_interval": "1m",
            "taker_flow": False,
        },
        progress=progress,
        trade_from_ms=start,
    )
    sma = BacktestConfig(
        symbol=symbol,
        strategy="sma_crossover",
        strategy_params={"fast": 10, "slow": 50, "order_notional_usdt": notional},
        progress=progress,
        trade_from_ms=start,
    )
    try:
        # The model's warnings name its run; the baseline's are not printed (its result is in
        # the table), as a Monte Carlo's runs beside the backtester's base run.
        with named_run("holdout backtest"):
            model_run = run_backtest(bars, lr)
        with named_run("holdout baseline sma 10/50"), quiet_run():
            sma_run = run_backtest(bars, sma)
    except ValueError as e:
        raise InputError(f"holdout backtest: {e}") from None
    if out_dir is not None:
        write_outputs(model_run, out_dir)
    first = next(i for i, t in enumerate(bars.open_time) if t >= start)
    hold_close = float(bars.close[-1]) / float(bars.close[first]) - 1.0
    return {
        "window": {"start": _iso(start), "end_exclusive": _iso(end)},
        "replay_from": _iso(bars.open_time[first - model_run.warm_bars]),
        "bars": len(bars) - first,
        "fees": {"maker": str(lr.maker_fee), "taker": str(lr.taker_fee)},
        "notional_usdt": str(notional),
        "balance_usdt": str(lr.starting_balance),
        "model": model_run.summary.to_dict(),
        "baselines": {
            "sma_crossover_10_50": sma_run.summary.to_dict(),
            # Long `notional` USDT for the whole window, as a return on the same wallet.
            "buy_and_hold_no_fees": {
                "total_return": hold_close * float(notional / lr.starting_balance),
                "price_return": hold_close,
            },
            "flat": {"total_return": 0.0},
        },
        "out_dir": None if out_dir is None else str(out_dir),
    }


def print_holdout(report: dict[str, Any]) -> None:
    w = report["window"]
    fees = report["fees"]
    print(
        f"holdout backtest, out of sample: {w['start']} .. {w['end_exclusive']} "
        f"({report['bars']} bars), fees {fees['maker']}/{fees['taker']} maker/taker, "
        f"{report['notional_usdt']} USDT positions on a {report['balance_usdt']} USDT wallet:"
    )
    rows = {"model": report["model"], **report["baselines"]}
    for name, m in rows.items():
        parts = [f"return {m['total_return']:+.4%}"]
        if "sharpe" in m:
            sharpe = "n/a" if m["sharpe"] is None else f"{m['sharpe']:+.2f}"
            parts += [
                f"sharpe {sharpe}",
                f"max dd {m['max_drawdown']:.4%}",
                f"fills {m['fills']}",
                f"fees {m['fees']:.2f} USDT",
            ]
        print(f"  {name:22s} " + "  ".join(parts))
    if report["out_dir"]:
        print(f"  backtest files: {report['out_dir']}")


if __name__ == "__main__":
    sys.exit(main())
