"""The training rows: features at each bar's close and their labels, and which rows span a gap
in the data."""

from __future__ import annotations

from typing import Any

import numpy as np

from model import features, labeling


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
