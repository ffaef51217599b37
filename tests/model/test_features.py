"""Features: the incremental form equals the batch form on real data, no look-ahead, values
checked against TA-Lib (when installed) and by hand, and the live path imports no numpy."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from model.features import (
    FEATURE_NAMES,
    WARMUP_BARS,
    FeatureState,
    compute_features,
    feature_code_hash,
)
from tests.model.support import ROOT, near, week

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def incremental(df: pd.DataFrame, *, flow: bool) -> np.ndarray:
    st = FeatureState(flow=flow)
    rows = []
    tb = df["taker_buy_volume"].tolist() if flow else [0.0] * len(df)
    cnt = df["trade_count"].tolist() if flow else [0] * len(df)
    for h, lo, c, v, b, n in zip(
        df["high"].tolist(),
        df["low"].tolist(),
        df["close"].tolist(),
        df["volume"].tolist(),
        tb,
        cnt,
        strict=True,
    ):
        row = st.update(h, lo, c, v, b, n)
        rows.append([math.nan] * len(FEATURE_NAMES) if row is None else row)
    return np.array(rows)


def test_incremental_equals_batch_on_the_real_btc_week():
    df = week()
    batch = compute_features(df).to_numpy()
    inc = incremental(df, flow=False)
    assert len(df) == 10080
    np.testing.assert_array_equal(np.isnan(batch), np.isnan(inc))
    assert np.isnan(batch[: WARMUP_BARS - 1]).all() and not np.isnan(batch[WARMUP_BARS - 1 :]).any()
    np.testing.assert_allclose(inc, batch, rtol=0, atol=1e-9)


def test_incremental_equals_batch_with_taker_volume_and_trade_counts():
    df = near()
    batch = compute_features(df).to_numpy()
    inc = incremental(df, flow=True)
    np.testing.assert_allclose(inc, batch, rtol=0, atol=1e-9)
    assert (batch[WARMUP_BARS:, COL["flow_known"]] == 1.0).all()
    assert np.abs(batch[WARMUP_BARS:, COL["taker_imbalance_20"]]).max() > 0.01


def test_appending_bars_never_changes_earlier_rows():
    df = week().iloc[:3000]
    full = compute_features(df).to_numpy()
    for k in (WARMUP_BARS - 1, WARMUP_BARS, 100, 1234, 2999):
        prefix = compute_features(df.iloc[:k]).to_numpy()
        np.testing.assert_array_equal(prefix, full[:k])


def test_without_flow_columns_flow_features_are_zero_with_the_flag_off():
    feats = compute_features(week().iloc[:200])
    tail = feats.iloc[WARMUP_BARS:]
    assert (tail[["taker_imbalance_20", "trade_intensity_60", "flow_known"]] == 0.0).all().all()


def test_flow_features_by_hand():
    # 60 bars, volume 10 of which 7 bought by takers: imbalance 2*0.7-1 = 0.4 over 20 bars;
    # trade counts 100 except the last bar 160: mean over 60 = (59*100+160)/60 = 101,
    # intensity 160/101 - 1.
    n = 61
    df = pd.DataFrame(
        {
            "open": 100.0,
            "high": 101.0,
            "low": 99.0,
            "close": np.linspace(100, 106, n),
            "volume": 10.0,
            "taker_buy_volume": 7.0,
            "trade_count": [100] * (n - 1) + [160],
        },
        index=range(n),
    )
    last = compute_features(df).iloc[-1]
    assert last["taker_imbalance_20"] == pytest.approx(0.4, abs=1e-12)
    assert last["trade_intensity_60"] == pytest.approx(160 / ((59 * 100 + 160) / 60) - 1, abs=1e-12)
    assert last["flow_known"] == 1.0


def test_price_features_by_hand():
    # Closes 1..61 rising by 1, high = close + 1, low = close - 1, volume 1.
    n = 61
    c = np.arange(1.0, n + 1)
    df = pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0})
    last = compute_features(df).iloc[-1]
    assert last["ret_1"] == pytest.approx(math.log(61 / 60), abs=1e-15)
    assert last["ret_60"] == pytest.approx(math.log(61 / 1), abs=1e-15)
    assert last["sma_dist_20"] == pytest.approx(61 / 51.5 - 1, abs=1e-15)  # mean of 42..61
    assert last["rsi_14"] == 1.0  # no down move at all
    # Range of the last 20 bars: low 42-1 = 41, high 61+1 = 62 -> (61-41)/(62-41).
    assert last["range_pos_20"] == pytest.approx(20 / 21, abs=1e-15)
    # True range = 2 (high-low) every bar -> ATR 2, over close 61.
    assert last["atr_14"] == pytest.approx(2 / 61, abs=1e-15)
    # VWAP over 60 bars of typical price = close (volume 1): mean of 2..61 = 31.5.
    assert last["vwap_dist_60"] == pytest.approx(61 / 31.5 - 1, abs=1e-15)
    # Bollinger: population sd of 20 consecutive integers = sqrt((20^2-1)/12).
    sd = math.sqrt((20**2 - 1) / 12)
    assert last["bb_pctb_20"] == pytest.approx((61 - (51.5 - 2 * sd)) / (4 * sd), abs=1e-12)


def test_a_flat_window_gives_neutral_bands_and_range():
    df = pd.DataFrame(
        {"open": 5.0, "high": 5.0, "low": 5.0, "close": 5.0, "volume": 0.0}, index=range(80)
    )
    last = compute_features(df).iloc[-1]
    inc = incremental(df, flow=False)[-1]
    assert last["bb_pctb_20"] == 0.5 and last["range_pos_20"] == 0.5 and last["rsi_14"] == 0.5
    assert last["vwap_dist_60"] == 0.0
    np.testing.assert_array_equal(inc, last.to_numpy())


@pytest.fixture(scope="module")
def talib():
    """TA-Lib is a test-only dependency (`pip install ta-lib`): skipped when not installed."""
    return pytest.importorskip("talib")


@pytest.fixture(scope="module")
def week_features():
    df = week()
    return df, compute_features(df)


TALIB_BURN_IN = 500  # TA-Lib seeds MACD's fast EMA later than ours; the difference decays by then


def same_after_burn_in(ours, theirs, rtol=1e-9):
    a, b = np.asarray(ours)[TALIB_BURN_IN:], np.asarray(theirs)[TALIB_BURN_IN:]
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


def test_sma_ema_rsi_atr_match_talib_on_the_real_week(talib, week_features):
    df, f = week_features
    c = df["close"].to_numpy(dtype=float)
    h, lo = df["high"].to_numpy(dtype=float), df["low"].to_numpy(dtype=float)
    same_after_burn_in(c / (1 + f["sma_dist_20"]), talib.SMA(c, 20))
    same_after_burn_in(c / (1 + f["sma_dist_60"]), talib.SMA(c, 60))
    same_after_burn_in(c / (1 + f["ema_dist_20"]), talib.EMA(c, 20))
    same_after_burn_in(100 * f["rsi_14"], talib.RSI(c, 14))
    same_after_burn_in(f["atr_14"] * c, talib.ATR(h, lo, c, 14))


def test_macd_and_bollinger_match_talib_on_the_real_week(talib, week_features):
    df, f = week_features
    c = df["close"].to_numpy(dtype=float)
    macd, signal, _ = talib.MACD(c, 12, 26, 9)
    # MACD crosses zero (a relative tolerance means nothing there): compare in USDT.
    np.testing.assert_allclose(
        (f["macd_12_26"] * c)[TALIB_BURN_IN:], macd[TALIB_BURN_IN:], atol=1e-9
    )
    np.testing.assert_allclose(
        (f["macd_signal_9"] * c)[TALIB_BURN_IN:], signal[TALIB_BURN_IN:], atol=1e-9
    )
    up, _, low = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    np.testing.assert_allclose(
        f["bb_pctb_20"][TALIB_BURN_IN:], ((c - low) / (up - low))[TALIB_BURN_IN:], atol=1e-9
    )


def test_feature_code_hash_is_a_stable_sha256():
    assert len(feature_code_hash()) == 64
    assert feature_code_hash() == feature_code_hash()


def test_the_live_path_imports_neither_numpy_nor_scikit_learn():
    code = (
        "import sys\n"
        "import trading_engine.strategies.logistic_regression, model.features, model.live\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pandas', 'sklearn', 'scipy', 'joblib'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
