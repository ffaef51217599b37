"""How well class probabilities score on a block of labelled rows (log loss, accuracy, balanced
accuracy, ROC-AUC, calibration), and the naive baselines they are compared with."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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


def metrics(y: np.ndarray, p: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    """Every score of one predictor, its class probabilities `p` (one column per class): the
    predicted class, which accuracy and balanced accuracy count, is the most probable one, as
    the calibration (ECE) takes it, so no score describes another predictor than the rest."""
    from sklearn.metrics import accuracy_score, log_loss  # type: ignore[import-untyped]

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
    its UserWarnings when a block lacks a class the model predicts, or holds one class that the
    model predicts on every row: a test block of one class is expected in walk-forward folds,
    and the score is defined on it."""
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
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
) -> dict[str, np.ndarray]:
    """The class probabilities of the naive baselines on a test block, fitted on the training
    block, Laplace-smoothed; each predicts its most probable class (`metrics`):
    majority: the training rows' class frequencies, on every row (predicts the majority class);
    last_direction: the training rows' class frequencies after a bar of the same direction as
    the row's last bar (up, flat, down), i.e. what the last bar's direction alone tells.
    Its accuracy was once that of another predictor, the rule BUY after an up bar, SELL after a
    down one, beside the log loss of these frequencies: two baselines under one name."""
    freq = np.array([(y_tr == k).sum() + 1.0 for k in classes])
    freq /= freq.sum()
    p_major = np.tile(freq, (len(r_te), 1))
    d_tr, d_te = np.sign(r_tr), np.sign(r_te)
    p_dir = np.empty((len(r_te), len(classes)))
    for s in (-1.0, 0.0, 1.0):
        cond = np.array([((d_tr == s) & (y_tr == k)).sum() + 1.0 for k in classes])
        p_dir[d_te == s] = cond / cond.sum()
    return {"majority": p_major, "last_direction": p_dir}
