"""LogisticRegressionStrategy: registered, warms up with what the features need, computes
live exactly what the batch features and the model give offline, turns probabilities into
Buy / Sell / Hold and long / short / flat targets, and prices them at or inside the spread."""

from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pytest

from core.orders import TargetPosition
from model import features
from model.labeling import forward_return_labels
from model.live import LinearModel
from model.logreg_model import LogRegModel
from tests.model.support import bars_of, near, week
from trading_engine.main_trading_strategy import TradingStrategy, make_strategy
from trading_engine.strategies.logistic_regression import (
    EMA_SETTLE_BARS,
    LogisticRegressionStrategy,
)

RET_1 = features.FEATURE_NAMES.index("ret_1")


def momentum_model(*, flow: bool = False) -> LinearModel:
    """Hand-made: logit(BUY) = 1000 * ret_1, logit(SELL) = -1000 * ret_1, logit(HOLD) = 0."""
    n = len(features.FEATURE_NAMES)
    buy = tuple(1000.0 if i == RET_1 else 0.0 for i in range(n))
    sell = tuple(-w for w in buy)
    return LinearModel(
        classes=(-1, 0, 1),
        feature_names=features.FEATURE_NAMES,
        coef=(sell, (0.0,) * n, buy),
        intercept=(0.0, 0.0, 0.0),
        flow=flow,
    )


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    df = week()
    x = features.compute_features(df).to_numpy()
    y = forward_return_labels(df["close"].to_numpy(), horizon=15, threshold=0.001)
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    model = LogRegModel().fit(x[ok][:5000], y[ok][:5000].astype(int))
    model.metadata = {"symbol": "BTCUSDT", "interval": "1m"}
    return model.save(tmp_path_factory.mktemp("model") / "m.json")


def test_registered_as_logistic_regression_with_the_features_warm_up(saved_model):
    s = make_strategy("logistic_regression", model_path=str(saved_model), entry_probability="0.6")
    assert isinstance(s, LogisticRegressionStrategy) and isinstance(s, TradingStrategy)
    assert s.name == "logistic_regression"
    assert features.WARMUP_BARS == 61
    # The features' own warm-up, plus enough bars for the EMAs to forget their seed.
    assert s.warmup_bars == features.WARMUP_BARS + EMA_SETTLE_BARS == 301


def test_live_features_and_probabilities_equal_the_offline_batch(saved_model):
    df = week().iloc[:1500]
    strategy = LogisticRegressionStrategy(model_path=saved_model)
    strategy.warm(bars_of(df.iloc[:100]))
    live_rows, live_p = [], []
    for bar in bars_of(df.iloc[100:]):
        strategy.on_bar(bar, None)
        live_rows.append(strategy.last_features("BTCUSDT"))
        live_p.append(strategy.last_probabilities("BTCUSDT"))
    batch = features.compute_features(df).to_numpy()[100:]
    np.testing.assert_allclose(np.array(live_rows), batch, rtol=0, atol=1e-9)
    offline = LogRegModel.load(saved_model).predict_proba(batch)
    np.testing.assert_allclose(np.array(live_p), offline, rtol=0, atol=1e-12)


def test_flow_model_reads_taker_volume_and_trade_counts_from_the_bars():
    df = near()
    strategy = LogisticRegressionStrategy(model=momentum_model(flow=True))
    for bar in bars_of(df, symbol="NEARUSDT"):
        strategy.on_bar(bar, None)
    batch = features.compute_features(df, flow=True).to_numpy()[-1]
    np.testing.assert_allclose(strategy.last_features("NEARUSDT"), batch, rtol=0, atol=1e-9)


def test_targets_follow_the_probabilities():
    # A momentum model on a hand-made series: after an up bar P(BUY) is high -> long
    # 100 USDT / close; after a down bar short; after a flat bar all logits 0 -> 1/3 each,
    # below entry_probability 0.5 -> HOLD, and with hold_bars=0 a HOLD is flat at once.
    bars = bars_of(week().iloc[: features.WARMUP_BARS])
    strategy = LogisticRegressionStrategy(
        model=momentum_model(), entry_probability=0.5, hold_bars=0
    )
    strategy.warm(bars[:-1])
    last = bars[-1]
    step = 60_000

    def bar(close: str, k: int):  # k = 1: the bar after the warm-up's (`last` itself)
        return replace(
            last,
            open_time_ms=last.open_time_ms + (k - 1) * step,
            close=D(close),
            high=D(close),
            low=D(close),
        )

    up = strategy.on_bar(bar("100000", 1), None)  # +~4% from ~96k: strongly up
    assert up == (TargetPosition(symbol="BTCUSDT", qty=D("0.001"), reason=up[0].reason),)
    down = strategy.on_bar(bar("99000", 2), None)
    assert down[0].qty == D("-0.00101010")
    flat = strategy.on_bar(bar("99000", 3), None)
    assert flat[0].qty == D(0) and "flat" in flat[0].reason
    assert strategy.on_bar(bar("99000", 3), None) == ()  # the same bar twice counts once


def test_on_start_takes_the_side_the_warm_up_ended_on():
    bars = bars_of(week().iloc[: features.WARMUP_BARS])
    strategy = LogisticRegressionStrategy(model=momentum_model())
    assert strategy.on_start("BTCUSDT", None) == ()  # nothing seen yet
    strategy.warm(bars[:-1])
    assert strategy.on_start("BTCUSDT", None) == ()  # still warming up
    strategy.warm([replace(bars[-1], close=D("200000"), high=D("200000"))])
    (target,) = strategy.on_start("BTCUSDT", None)
    assert target.qty == D("0.0005") and "long" in target.reason


def test_without_shorts_a_sell_signal_is_flat():
    bars = bars_of(week().iloc[: features.WARMUP_BARS])
    strategy = LogisticRegressionStrategy(model=momentum_model(), allow_short=False)
    strategy.warm(bars[:-1])
    down = replace(bars[-1], close=D("90000"), low=D("90000"))
    assert strategy.on_bar(down, None)[0].qty == D(0)


def test_bad_parameters_are_refused(saved_model):
    with pytest.raises(ValueError, match="exactly one of"):
        LogisticRegressionStrategy()
    with pytest.raises(ValueError, match="entry_probability"):
        LogisticRegressionStrategy(model_path=saved_model, entry_probability=1.5)
    with pytest.raises(ValueError, match="order_notional_usdt"):
        LogisticRegressionStrategy(model_path=saved_model, order_notional_usdt=0)


def test_a_model_file_without_a_sell_class_is_refused_naming_it_and_the_remedy(tmp_path):
    # A HOLD/BUY model (trained before model.train refused a window without a SELL label):
    # 'model classes (0, 1) lack BUY (1) or SELL (-1)', no file named, no way out said.
    df = week()
    x = features.compute_features(df).to_numpy()
    y = forward_return_labels(df["close"].to_numpy(), horizon=15, threshold=0.001)
    ok = ~np.isnan(x).any(axis=1) & (y >= 0)
    model = LogRegModel().fit(x[ok][:2000], y[ok][:2000].astype(int))
    model.metadata = {"symbol": "BTCUSDT", "interval": "1m"}
    path = model.save(tmp_path / "m.json")
    with pytest.raises(ValueError) as e:
        LogisticRegressionStrategy(model_path=path)
    assert str(e.value) == (
        f"model file {path}: classes (0, 1) lack BUY (1) or SELL (-1): it could never signal "
        "that side; retrain it on a window where the price moves both ways (python -m "
        "model.train)"
    )


def test_no_signal_while_the_feature_window_spans_a_missing_bar():
    # A bar the daemon never got (a kline missed across a reconnect, or closed between the
    # REST warm-up and the stream's start) left the live features silently mixing prices from
    # both sides of the hole: ret_60, the SMAs, the Bollinger band... Training leaves exactly
    # those rows out (their 61-bar window spans a gap), so the model never learned them: the
    # strategy gives no signal there (HOLD) and trades again once the window is whole.
    from model.dataset import straddles_gap

    n = len(features.FEATURE_NAMES)
    always_buy = LinearModel(
        classes=(-1, 0, 1),
        feature_names=features.FEATURE_NAMES,
        coef=((0.0,) * n,) * 3,
        intercept=(-5.0, 0.0, 5.0),
    )
    bars = bars_of(week().iloc[:700])
    missing = bars[500]
    delivered = bars[:500] + bars[501:]
    strategy = LogisticRegressionStrategy(model=always_buy, hold_bars=0)
    strategy.warm(delivered[:400])

    signals = {}
    for bar in delivered[400:]:
        (target,) = strategy.on_bar(bar, None)
        signals[bar.open_time_ms] = "HOLD" if "HOLD: flat" in target.reason else "BUY"

    hour = 60 * 60_000
    expected_hold = {t for t in signals if missing.open_time_ms < t <= missing.open_time_ms + hour}
    assert len(expected_hold) == 60
    assert {t for t, s in signals.items() if s == "HOLD"} == expected_hold
    # The rows training leaves out of the same bars: the same ones.
    ot = np.array([b.open_time_ms for b in delivered])
    left_out = straddles_gap(ot, 60_000, back=features.WARMUP_BARS - 1, ahead=0)
    assert set(ot[left_out]) == expected_hold


def test_shipped_model_live_equals_batch_from_cold_start_across_a_hole_and_a_replay():
    # Train/serve parity of every feature and of the shipped model's probabilities on real
    # bars, through the strategy as the daemon runs it: from its very first bar (warm-up: no
    # row before the 61st bar, then the batch's first complete row), across a missing bar (a
    # kline lost in a reconnect: both forms take the bars on either side as consecutive) and
    # a stretch of bars delivered twice (a reconnect's replay: taken once).
    from model.registry import promoted
    from tests.model.support import ROOT

    shipped = promoted(ROOT / "models/btcusdt-1m")
    assert shipped is not None
    df = week().iloc[:1500].drop(index=700).reset_index(drop=True)  # bar 700 never arrives
    bars = bars_of(df)
    delivered = bars[:900] + bars[880:]  # 20 bars again after a reconnect
    strategy = LogisticRegressionStrategy(model_path=shipped)

    live_rows, live_p = {}, {}
    for bar in delivered:
        before = strategy.last_features("BTCUSDT")
        proposals = strategy.on_bar(bar, None)
        row = strategy.last_features("BTCUSDT")
        if bar.open_time_ms in live_rows:  # a repeat: no decision, the state untouched
            assert proposals == () and row is before
            continue
        live_rows[bar.open_time_ms] = [np.nan] * len(features.FEATURE_NAMES) if row is None else row
        live_p[bar.open_time_ms] = strategy.last_probabilities("BTCUSDT")

    batch = features.compute_features(df).to_numpy()
    live = np.array([live_rows[t] for t in df["open_time"]])
    np.testing.assert_array_equal(np.isnan(live), np.isnan(batch))
    first = features.WARMUP_BARS - 1
    assert np.isnan(batch[:first]).all() and not np.isnan(batch[first:]).any()
    np.testing.assert_allclose(live[first:], batch[first:], rtol=0, atol=1e-9)
    # The probabilities: numpy's softmax of the batch rows against the strategy's pure Python.
    offline = LogRegModel.load(shipped).predict_proba(batch[first:])
    online = np.array([live_p[t] for t in df["open_time"][first:]])
    np.testing.assert_allclose(online, offline, rtol=0, atol=1e-12)
