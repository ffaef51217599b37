"""Walk-forward evaluation: the time-ordered folds (with the purge gap), each fold's training
rows and labels using no price of its test block, the inner folds that choose each fold's C,
the fits of one fold, and the out-of-sample metrics pooled over the folds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from model import labeling
from model.input_error import InputError
from model.scores import BASELINES, baseline_predictions, metrics


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
            name: metrics(y[a:b], p_b, classes)
            for name, p_b in baseline_predictions(y_train, r1[idx], r1[a:b], classes).items()
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
    from sklearn.metrics import log_loss  # type: ignore[import-untyped]

    p = _fit_predict(x[train_rows], y_train, x[test_rows], c=c, flow=flow, cw=cw)
    return float(log_loss(y_test, np.clip(p, 1e-15, 1.0), labels=np.array(labeling.CLASSES)))


def fit_task(x: np.ndarray, y: np.ndarray, r1: np.ndarray, kind: str, *task: Any) -> Any:
    """One fit of the walk-forward: an outer fold at a C (its metrics), or an inner fold at a
    C (its test log loss); one function, so both kinds share one pool of workers."""
    if kind == "outer":
        return _run_fold(x, y, r1, *task)
    return _inner_log_loss(x, *task)


def choose_c(grid: list[float], losses: dict[tuple[int, float], list[float]], k: int) -> float:
    """Outer fold k's C: the lowest mean inner log loss (the first of the grid on a tie)."""
    return min(grid, key=lambda c: float(np.mean(losses[(k, c)])))


def pooled_metrics(
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
        out[name] = metrics(ys, np.concatenate([part[name] for part in parts]), classes)
    # ROC-AUC, unlike the other scores, is the mean of the folds' (those that define it), not
    # the pooled rows': it ranks rows, and each fold's scores come from a fit of their own, on
    # a scale of their own; pooled, one fold's rows are ranked against another's (a majority
    # baseline, 0.5 in every fold, scored 0.42 over folds of other class frequencies).
    out["model"]["roc_auc_ovr"] = mean_defined(r["model"]["roc_auc_ovr"] for r in results)
    for name in BASELINES:
        out[name]["roc_auc_ovr"] = mean_defined(
            r["baselines"][name]["roc_auc_ovr"] for r in results
        )
    return out


def mean_defined(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are defined (not None), or None if none is."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
