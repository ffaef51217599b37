"""Training labels. They look into the future by definition, so they live here and nothing
under `trading_engine/` may import this module (tests/model/test_labeling.py scans imports).

Classes are SELL = -1, HOLD = 0, BUY = +1; a bar without a label (the last `horizon` bars, or
bars before the first confirmed turning point) is NaN.
"""

from __future__ import annotations

import math

import numpy as np

SELL, HOLD, BUY = -1, 0, 1
CLASSES = (SELL, HOLD, BUY)


def forward_return_labels(close: np.ndarray, *, horizon: int, threshold: float) -> np.ndarray:
    """BUY when the log return from bar t's close to bar t+horizon's close is > `threshold`,
    SELL when < -`threshold`, else HOLD; NaN for the last `horizon` bars."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, not {horizon}")
    if not threshold >= 0.0:
        raise ValueError(f"threshold must be >= 0, not {threshold}")
    c = np.asarray(close, dtype=float)
    out = np.full(len(c), np.nan)
    if len(c) > horizon:
        fwd = np.log(c[horizon:]) - np.log(c[:-horizon])
        out[:-horizon] = np.where(fwd > threshold, BUY, np.where(fwd < -threshold, SELL, HOLD))
    return out


def peak_trough_labels(close: np.ndarray, *, min_swing: float) -> np.ndarray:
    """Turning points of a zigzag: a bar is a trough (BUY) or a peak (SELL) when price then
    moves at least `min_swing` (a fraction, e.g. 0.005) away from it before making a more
    extreme value; every other bar is HOLD. The last, unconfirmed swing is left unlabelled
    (NaN from the last confirmed turning point's successor onwards), so no label depends on
    data the series does not have."""
    if not min_swing > 0.0:
        raise ValueError(f"min_swing must be > 0, not {min_swing}")
    c = np.asarray(close, dtype=float)
    n = len(c)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    pivots: list[tuple[int, int]] = []  # (index, BUY for a trough / SELL for a peak)
    direction = 0  # +1 looking for a peak (rising), -1 looking for a trough, 0 unknown
    hi_i = lo_i = 0
    for i in range(1, n):
        x = c[i]
        if direction >= 0 and x > c[hi_i]:
            hi_i = i
        if direction <= 0 and x < c[lo_i]:
            lo_i = i
        if direction >= 0 and x <= c[hi_i] * (1.0 - min_swing) and (direction > 0 or hi_i > lo_i):
            pivots.append((hi_i, SELL))
            direction, lo_i = -1, i
        elif direction <= 0 and x >= c[lo_i] * (1.0 + min_swing):
            pivots.append((lo_i, BUY))
            direction, hi_i = 1, i
    if not pivots:
        return out
    last = pivots[-1][0]
    out[: last + 1] = HOLD
    for i, label in pivots:
        out[i] = label
    assert not math.isnan(out[last])
    return out
