"""Pure feature functions over bars, in two forms proven equal on real data (to 1e-9).

* `compute_features(df)`: the vectorized batch form (numpy/pandas/scipy, imported lazily) for
  training and backtests: one row per bar, NaN until `WARMUP_BARS` bars have been seen.
* `FeatureState.update(...)`: the incremental form for live trading: O(1) amortised work per
  bar in plain Python floats; this module imports no numpy at import time, so the daemon does
  not pay for it.

Every feature is dimensionless (a log return, a ratio to price, a fraction), so one absolute
tolerance fits all of them. Row t uses bars 0..t only: appending a bar never changes an
earlier row (tested). Flow features (taker buy/sell imbalance, trade-count intensity) need the
kline's taker volume and trade count; with `flow=False` they are 0 and `flow_known` is 0, so a
model trained on OHLCV-only data sees the same zeros live even when the stream has the fields.

The feature definitions are pinned by `feature_code_hash()` (a hash of this file's tokens,
comments and layout excluded), which every saved model carries: a model is refused when the
code that computes its inputs has changed.
"""

from __future__ import annotations

import hashlib
import io
import math
import tokenize
from collections import deque
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

RET_HORIZONS = (1, 5, 15, 60)
RV_WINDOW = 30
SMA_WINDOWS = (20, 60)
EMA_PERIOD = 20
RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD, BB_WIDTH = 20, 2.0
ATR_PERIOD = 14
VWAP_WINDOW = 60
RANGE_WINDOW = 20
TAKER_WINDOW = 20
COUNT_WINDOW = 60

FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_{h}" for h in RET_HORIZONS),
    f"rv_{RV_WINDOW}",
    *(f"sma_dist_{w}" for w in SMA_WINDOWS),
    f"ema_dist_{EMA_PERIOD}",
    f"rsi_{RSI_PERIOD}",
    f"macd_{MACD_FAST}_{MACD_SLOW}",
    f"macd_signal_{MACD_SIGNAL}",
    f"bb_pctb_{BB_PERIOD}",
    f"atr_{ATR_PERIOD}",
    f"vwap_dist_{VWAP_WINDOW}",
    f"range_pos_{RANGE_WINDOW}",
    f"taker_imbalance_{TAKER_WINDOW}",
    f"trade_intensity_{COUNT_WINDOW}",
    "flow_known",
)

# The incremental form shares windows: SMA(20) is the Bollinger mean, SMA(60) the VWAP window.
assert SMA_WINDOWS == (BB_PERIOD, VWAP_WINDOW)

# Bars needed before the first complete row: the longest lookback (ret_60 needs 61 closes).
WARMUP_BARS = max(
    max(RET_HORIZONS) + 1,
    RV_WINDOW + 1,
    max(SMA_WINDOWS),
    MACD_SLOW + MACD_SIGNAL - 1,
    RSI_PERIOD + 1,
    ATR_PERIOD + 1,
    VWAP_WINDOW,
    RANGE_WINDOW,
    COUNT_WINDOW,
)

# A Bollinger band narrower than this fraction of price is a flat window: %b = 0.5. Real
# non-flat windows are orders of magnitude wider (one tick), float noise far narrower.
_FLAT_SD = 1e-9

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
FLOW_COLUMNS = ("taker_buy_volume", "trade_count")


@cache
def feature_code_hash() -> str:
    """sha256 over this module's tokens (comments and whitespace excluded): the identity of the
    feature definitions that a saved model is bound to."""
    src = Path(__file__).read_text(encoding="utf-8")
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    toks = tokenize.generate_tokens(io.StringIO(src).readline)
    text = "\x1f".join(t.string for t in toks if t.type not in skip)
    return hashlib.sha256(text.encode()).hexdigest()


# --- batch form ------------------------------------------------------------------------------


def _ema_batch(x: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """EMA seeded with the plain mean of the first `period` valid values (TA-Lib convention);
    `x` may start with NaNs (e.g. MACD before the slow EMA exists)."""
    import numpy as np
    from scipy.signal import lfilter  # type: ignore[import-untyped]

    out = np.full(len(x), np.nan)
    valid = ~np.isnan(x)
    if not valid.any():
        return out
    s = int(np.argmax(valid))
    k = s + period - 1
    if k >= len(x):
        return out
    seed = math.fsum(x[s : k + 1].tolist()) / period
    out[k] = seed
    if k + 1 < len(x):
        out[k + 1 :] = lfilter(
            [alpha], [1.0, -(1.0 - alpha)], x[k + 1 :], zi=[(1.0 - alpha) * seed]
        )[0]
    return out


def compute_features(df: pd.DataFrame, *, flow: bool | None = None) -> pd.DataFrame:
    """Feature rows for consecutive bars (columns open, high, low, close, volume, and for flow
    features taker_buy_volume, trade_count). `flow=None`: on when both flow columns exist.
    Rows before `WARMUP_BARS` bars are NaN; the index is `df`'s."""
    import numpy as np
    import pandas as pd

    missing = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {', '.join(missing)}")
    has_flow = all(c in df.columns for c in FLOW_COLUMNS)
    if flow is None:
        flow = has_flow
    elif flow and not has_flow:
        raise ValueError(f"flow features need columns {', '.join(FLOW_COLUMNS)}")

    c = df["close"].to_numpy(dtype=float)
    h = df["high"].to_numpy(dtype=float)
    lo = df["low"].to_numpy(dtype=float)
    v = df["volume"].to_numpy(dtype=float)
    n = len(c)
    cs = pd.Series(c)
    out: dict[str, np.ndarray] = {}

    logc = np.log(c)
    for hz in RET_HORIZONS:
        r = np.full(n, np.nan)
        r[hz:] = logc[hz:] - logc[:-hz]
        out[f"ret_{hz}"] = r
    r1 = out["ret_1"]
    out[f"rv_{RV_WINDOW}"] = np.sqrt(pd.Series(r1 * r1).rolling(RV_WINDOW).mean().to_numpy())
    for w in SMA_WINDOWS:
        out[f"sma_dist_{w}"] = c / cs.rolling(w).mean().to_numpy() - 1.0
    out[f"ema_dist_{EMA_PERIOD}"] = c / _ema_batch(c, EMA_PERIOD, 2.0 / (EMA_PERIOD + 1)) - 1.0

    d = np.full(n, np.nan)
    d[1:] = c[1:] - c[:-1]
    gain = np.where(np.isnan(d), np.nan, np.maximum(d, 0.0))
    loss = np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0))
    ag = _ema_batch(gain, RSI_PERIOD, 1.0 / RSI_PERIOD)
    al = _ema_batch(loss, RSI_PERIOD, 1.0 / RSI_PERIOD)
    tot = ag + al
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"rsi_{RSI_PERIOD}"] = np.where(tot > 0, ag / tot, np.where(np.isnan(tot), np.nan, 0.5))

    macd = _ema_batch(c, MACD_FAST, 2.0 / (MACD_FAST + 1)) - _ema_batch(
        c, MACD_SLOW, 2.0 / (MACD_SLOW + 1)
    )
    signal = _ema_batch(macd, MACD_SIGNAL, 2.0 / (MACD_SIGNAL + 1))
    out[f"macd_{MACD_FAST}_{MACD_SLOW}"] = macd / c
    out[f"macd_signal_{MACD_SIGNAL}"] = signal / c

    # Two passes per window on prices minus the window's last close (an exact subtraction):
    # a band a few ticks wide at BTC prices keeps its digits (running sums lose ~1e-6 of it).
    gap = np.full(n, np.nan)  # close minus the window mean
    sd = np.full(n, np.nan)
    if n >= BB_PERIOD:
        win = np.lib.stride_tricks.sliding_window_view(c, BB_PERIOD)
        dev = win - win[:, -1:]
        dm = dev.mean(axis=1)
        gap[BB_PERIOD - 1 :] = -dm
        sd[BB_PERIOD - 1 :] = np.sqrt(((dev - dm[:, None]) ** 2).mean(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        pctb = 0.5 + gap / (2.0 * BB_WIDTH * sd)
    out[f"bb_pctb_{BB_PERIOD}"] = np.where(sd <= _FLAT_SD * c, 0.5, pctb)
    out[f"bb_pctb_{BB_PERIOD}"][np.isnan(gap)] = np.nan

    tr = np.full(n, np.nan)
    pc = c[:-1]
    tr[1:] = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - pc), np.abs(lo[1:] - pc)))
    out[f"atr_{ATR_PERIOD}"] = _ema_batch(tr, ATR_PERIOD, 1.0 / ATR_PERIOD) / c

    tp = (h + lo + c) / 3.0
    sv = pd.Series(v).rolling(VWAP_WINDOW).sum().to_numpy()
    spv = pd.Series(tp * v).rolling(VWAP_WINDOW).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        vd = np.where(sv > 0, c / (spv / sv) - 1.0, 0.0)
    vd[np.isnan(sv)] = np.nan
    out[f"vwap_dist_{VWAP_WINDOW}"] = vd

    hi = pd.Series(h).rolling(RANGE_WINDOW).max().to_numpy()
    lw = pd.Series(lo).rolling(RANGE_WINDOW).min().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rp = np.where(hi > lw, (c - lw) / (hi - lw), 0.5)
    rp[np.isnan(hi)] = np.nan
    out[f"range_pos_{RANGE_WINDOW}"] = rp

    if flow:
        tb = df["taker_buy_volume"].to_numpy(dtype=float)
        cnt = df["trade_count"].to_numpy(dtype=float)
        st = pd.Series(v).rolling(TAKER_WINDOW).sum().to_numpy()
        sb = pd.Series(tb).rolling(TAKER_WINDOW).sum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            imb = np.where(st > 0, 2.0 * sb / st - 1.0, 0.0)
        imb[np.isnan(st)] = np.nan
        mc = pd.Series(cnt).rolling(COUNT_WINDOW).mean().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            ti = np.where(mc > 0, cnt / mc - 1.0, 0.0)
        ti[np.isnan(mc)] = np.nan
        out[f"taker_imbalance_{TAKER_WINDOW}"] = imb
        out[f"trade_intensity_{COUNT_WINDOW}"] = ti
        out["flow_known"] = np.ones(n)
    else:
        out[f"taker_imbalance_{TAKER_WINDOW}"] = np.zeros(n)
        out[f"trade_intensity_{COUNT_WINDOW}"] = np.zeros(n)
        out["flow_known"] = np.zeros(n)

    frame = pd.DataFrame({name: out[name] for name in FEATURE_NAMES}, index=df.index)
    # A row is complete or absent: no partially warmed row reaches a model.
    frame.iloc[: WARMUP_BARS - 1] = np.nan
    return frame


# --- incremental form ------------------------------------------------------------------------


class _RollingSum:
    """Sum of the last `n` values; re-summed exactly (fsum) every `n` pushes so rounding error
    cannot accumulate over a long session (amortised O(1))."""

    __slots__ = ("n", "since", "total", "window")

    def __init__(self, n: int) -> None:
        self.n = n
        self.window: deque[float] = deque(maxlen=n)
        self.total = 0.0
        self.since = 0

    def push(self, x: float) -> None:
        w = self.window
        if len(w) == self.n:
            self.total += x - w[0]
        else:
            self.total += x
        w.append(x)
        self.since += 1
        if self.since >= self.n:
            self.total = math.fsum(w)
            self.since = 0

    @property
    def full(self) -> bool:
        return len(self.window) == self.n


class _RollingSum3:
    """Three rolling sums over one `n`-bar window (close, volume, typical price x volume):
    one deque and one refresh for the three, which share VWAP_WINDOW = max(SMA_WINDOWS)."""

    __slots__ = ("a", "b", "c", "n", "since", "window")

    def __init__(self, n: int) -> None:
        self.n = n
        self.window: deque[tuple[float, float, float]] = deque(maxlen=n)
        self.a = self.b = self.c = 0.0
        self.since = 0

    def push(self, x: float, y: float, z: float) -> None:
        w = self.window
        if len(w) == self.n:
            x0, y0, z0 = w[0]
            self.a += x - x0
            self.b += y - y0
            self.c += z - z0
        else:
            self.a += x
            self.b += y
            self.c += z
        w.append((x, y, z))
        self.since += 1
        if self.since >= self.n:
            self.a = math.fsum(t[0] for t in w)
            self.b = math.fsum(t[1] for t in w)
            self.c = math.fsum(t[2] for t in w)
            self.since = 0


class _RollingMoments:
    """Mean and population variance of the last `n` values, kept as a sliding Welford update
    on values minus an anchor that is itself one of the values (the subtraction of two nearby
    floats is exact), so a band of a few ticks at BTC prices keeps its digits. Re-anchored
    and recomputed by two passes every `n` pushes (amortised O(1))."""

    __slots__ = ("anchor", "m2", "mu", "n", "since", "window")

    def __init__(self, n: int) -> None:
        self.n = n
        self.window: deque[float] = deque(maxlen=n)
        self.anchor = 0.0
        self.mu = 0.0  # mean of (value - anchor)
        self.m2 = 0.0
        self.since = 0

    def push(self, x: float) -> None:
        w = self.window
        if not w:
            self.anchor = x
        y = x - self.anchor
        if len(w) == self.n:
            y0 = w[0] - self.anchor
            mu0 = self.mu
            self.mu = mu = mu0 + (y - y0) / self.n
            self.m2 += (y - y0) * (y - mu + y0 - mu0)
        else:
            delta = y - self.mu
            self.mu += delta / (len(w) + 1)
            self.m2 += delta * (y - self.mu)
        w.append(x)
        self.since += 1
        if self.since >= self.n:
            self.anchor = x
            ys = [v - x for v in w]
            self.mu = mu = math.fsum(ys) / len(ys)
            self.m2 = math.fsum((v - mu) * (v - mu) for v in ys)
            self.since = 0

    def offset(self, x: float) -> float:
        """x minus the window mean, without rounding the mean at price magnitude first."""
        return (x - self.anchor) - self.mu

    def var(self) -> float:
        return max(self.m2 / len(self.window), 0.0)


class _Ema:
    """EMA with weight `alpha`, seeded with the mean of the first `period` values."""

    __slots__ = ("alpha", "period", "seed", "value")

    def __init__(self, period: int, alpha: float) -> None:
        self.period = period
        self.alpha = alpha
        self.value: float | None = None
        self.seed: list[float] = []

    def update(self, x: float) -> float | None:
        if self.value is not None:
            # Same operation order as the batch filter: alpha*x + (1-alpha)*y.
            self.value = self.alpha * x + (1.0 - self.alpha) * self.value
            return self.value
        self.seed.append(x)
        if len(self.seed) == self.period:
            self.value = math.fsum(self.seed) / self.period
            self.seed = []
        return self.value


class _RollingExtreme:
    """Rolling max (sign=+1) or min (sign=-1) of the last `n` values: a monotonic deque."""

    __slots__ = ("i", "n", "q", "sign")

    def __init__(self, n: int, sign: int) -> None:
        self.n = n
        self.sign = sign
        self.q: deque[tuple[int, float]] = deque()
        self.i = 0

    def push(self, x: float) -> float:
        q, s = self.q, self.sign
        while q and s * q[-1][1] <= s * x:
            q.pop()
        q.append((self.i, x))
        if q[0][0] <= self.i - self.n:
            q.popleft()
        self.i += 1
        return q[0][1]


class FeatureState:
    """Incremental features for one symbol: `update` takes one closed bar and returns the row
    (in `FEATURE_NAMES` order) or None during warm-up. Plain floats only."""

    __slots__ = (
        "_atr",
        "_bb",
        "_count",
        "_ema",
        "_ema_fast",
        "_ema_slow",
        "_gain",
        "_hi",
        "_lo",
        "_logc",
        "_loss",
        "_n",
        "_prev_close",
        "_rv",
        "_signal",
        "_taker_b",
        "_taker_v",
        "_w60",
        "flow",
    )

    def __init__(self, *, flow: bool) -> None:
        self.flow = flow
        self._n = 0
        self._prev_close: float | None = None
        self._logc: deque[float] = deque(maxlen=max(RET_HORIZONS) + 1)
        self._rv = _RollingSum(RV_WINDOW)
        self._ema = _Ema(EMA_PERIOD, 2.0 / (EMA_PERIOD + 1))
        self._gain = _Ema(RSI_PERIOD, 1.0 / RSI_PERIOD)
        self._loss = _Ema(RSI_PERIOD, 1.0 / RSI_PERIOD)
        self._ema_fast = _Ema(MACD_FAST, 2.0 / (MACD_FAST + 1))
        self._ema_slow = _Ema(MACD_SLOW, 2.0 / (MACD_SLOW + 1))
        self._signal = _Ema(MACD_SIGNAL, 2.0 / (MACD_SIGNAL + 1))
        self._bb = _RollingMoments(BB_PERIOD)
        self._atr = _Ema(ATR_PERIOD, 1.0 / ATR_PERIOD)
        self._w60 = _RollingSum3(VWAP_WINDOW)
        self._hi = _RollingExtreme(RANGE_WINDOW, 1)
        self._lo = _RollingExtreme(RANGE_WINDOW, -1)
        self._taker_v = _RollingSum(TAKER_WINDOW)
        self._taker_b = _RollingSum(TAKER_WINDOW)
        self._count = _RollingSum(COUNT_WINDOW)

    @property
    def bars_seen(self) -> int:
        return self._n

    def update(
        self,
        high: float,
        low: float,
        close: float,
        volume: float,
        taker_buy_volume: float = 0.0,
        trade_count: float = 0.0,
    ) -> list[float] | None:
        """Take one closed bar (prices in quote units, volumes in base units)."""
        self._n += 1
        logc = self._logc
        lc = math.log(close)
        logc.append(lc)
        prev = self._prev_close
        self._prev_close = close

        r1 = lc - logc[-2] if prev is not None else None
        if r1 is not None:
            self._rv.push(r1 * r1)
        ema = self._ema.update(close)
        if prev is not None:
            d = close - prev
            ag = self._gain.update(d if d > 0.0 else 0.0)
            al = self._loss.update(-d if d < 0.0 else 0.0)
            tr = max(high - low, max(abs(high - prev), abs(low - prev)))
            atr = self._atr.update(tr)
        else:
            ag = al = atr = None
        fast = self._ema_fast.update(close)
        slow = self._ema_slow.update(close)
        signal = None
        macd = None
        if fast is not None and slow is not None:
            macd = fast - slow
            signal = self._signal.update(macd)
        self._bb.push(close)
        w60 = self._w60
        w60.push(close, volume, (high + low + close) / 3.0 * volume)
        hi = self._hi.push(high)
        lo = self._lo.push(low)
        if self.flow:
            self._taker_v.push(volume)
            self._taker_b.push(taker_buy_volume)
            self._count.push(trade_count)

        if self._n < WARMUP_BARS:
            return None
        assert ema is not None and ag is not None and al is not None and atr is not None
        assert macd is not None and signal is not None

        bb = self._bb
        dev = bb.offset(close)
        row = [lc - logc[-1 - hz] for hz in RET_HORIZONS]
        row.append(math.sqrt(self._rv.total / RV_WINDOW))
        row.append(dev / (close - dev))
        row.append(close / (w60.a / VWAP_WINDOW) - 1.0)
        row.append(close / ema - 1.0)
        tot = ag + al
        row.append(ag / tot if tot > 0.0 else 0.5)
        row.append(macd / close)
        row.append(signal / close)
        sd = math.sqrt(bb.var())
        if sd <= _FLAT_SD * close:
            row.append(0.5)
        else:
            row.append(0.5 + dev / (2.0 * BB_WIDTH * sd))
        row.append(atr / close)
        sv = w60.b
        row.append(close / (w60.c / sv) - 1.0 if sv > 0.0 else 0.0)
        row.append((close - lo) / (hi - lo) if hi > lo else 0.5)
        if self.flow:
            st = self._taker_v.total
            row.append(2.0 * self._taker_b.total / st - 1.0 if st > 0.0 else 0.0)
            mc = self._count.total / COUNT_WINDOW
            row.append(trade_count / mc - 1.0 if mc > 0.0 else 0.0)
            row.append(1.0)
        else:
            row.extend((0.0, 0.0, 0.0))
        return row
