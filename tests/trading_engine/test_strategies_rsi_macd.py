"""RsiMacd and its O(1) indicators: hand-computed RSI / MACD values and decisions, the TA-Lib
results on the bundled real klines, warm-up, sizing and registration."""

import gzip
import json
import math
from decimal import Decimal as D
from fractions import Fraction as F
from pathlib import Path

import pytest

from core.orders import TargetPosition
from runtime.settings import load_settings
from tests.trading_engine.support import INSTRUMENTS, MINUTE, T0, make_bar
from trading_engine.indicators import Macd, Rsi
from trading_engine.main_trading_strategy import STRATEGIES, TradingStrategy, make_strategy
from trading_engine.strategies.rsi_macd import RsiMacd, decide, fixed_point

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "exchange_sim/data/klines/BTCUSDT-um-1m-2025-05-05_2025-05-11.csv.gz"
CLOSES = ("10", "11", "12", "11", "13", "12")


def bars(*closes: str, start: int = T0):
    return [make_bar(c, open_ms=start + i * MINUTE) for i, c in enumerate(closes)]


def small() -> RsiMacd:
    """RSI(3), MACD(2, 3, 2), 100 USDT, no instrument (8-decimal sizing)."""
    return RsiMacd(rsi_period=3, macd_fast=2, macd_slow=3, macd_signal=2, order_notional_usdt=100)


# --- indicators, by hand -----------------------------------------------------------------------


def test_rsi_matches_wilders_smoothing_worked_by_hand():
    # Changes +1 +1 -1 +2 -1. Seed (3 changes): gain 2/3, loss 1/3 -> 66.67.
    # +2: gain (2/3*2 + 2)/3 = 10/9, loss (1/3*2)/3 = 2/9        -> 100 * 10/12 = 83.33
    # -1: gain (10/9*2)/3 = 20/27, loss (2/9*2 + 1)/3 = 13/27    -> 100 * 20/33 = 60.61
    rsi = Rsi(3)
    got = [rsi.update(float(c)) for c in CLOSES]
    want = [None, None, None, F(200, 3), F(250, 3), F(2000, 33)]
    assert got[:3] == want[:3]
    for g, w in zip(got[3:], want[3:], strict=True):
        assert g == pytest.approx(float(w), abs=1e-12)


def test_rsi_of_a_window_without_changes_is_50_and_of_only_gains_100():
    flat, up = Rsi(2), Rsi(2)
    for c in (5.0, 5.0, 5.0):
        flat.update(c)
    for c in (5.0, 6.0, 7.0):
        up.update(c)
    assert flat.value == 50.0 and up.value == 100.0


def test_macd_line_signal_and_histogram_worked_by_hand():
    # fast EMA(2) alpha 2/3, slow EMA(3) alpha 1/2, signal EMA(2) alpha 2/3, TA-Lib seeding:
    # close 12 (3rd): fast = mean(11, 12) = 11.5, slow = mean(10, 11, 12) = 11, line 1/2
    # close 11: fast 67/6, slow 11, line 1/6; signal = mean(1/2, 1/6) = 1/3, hist -1/6
    # close 13: fast 223/18, slow 12, line 7/18; signal 1/3 + 2/3 (7/18 - 1/3) = 10/27,
    #           hist 7/18 - 10/27 = 1/54
    # close 12: fast 655/54, slow 12, line 7/54; signal 10/27 + 2/3 (7/54 - 10/27) = 17/81,
    #           hist 7/54 - 17/81 = -13/162
    macd = Macd(2, 3, 2)
    lines, signals, hists = [], [], []
    for c in CLOSES:
        macd.update(float(c))
        lines.append(macd.line)
        signals.append(macd.signal_line)
        hists.append(macd.histogram)
    want_line = [None, None, F(1, 2), F(1, 6), F(7, 18), F(7, 54)]
    want_signal = [None, None, None, F(1, 3), F(10, 27), F(17, 81)]
    want_hist = [None, None, None, F(-1, 6), F(1, 54), F(-13, 162)]
    for got, want in ((lines, want_line), (signals, want_signal), (hists, want_hist)):
        for g, w in zip(got, want, strict=True):
            if w is None:
                assert g is None
            else:
                assert g == pytest.approx(float(w), abs=1e-12)


def _bundled_closes(n: int) -> list[float]:
    with gzip.open(KLINES, "rt") as fh:
        header = fh.readline().strip().split(",")
        i = header.index("close")
        return [float(next(fh).split(",")[i]) for _ in range(n)]


def test_rsi_and_macd_equal_ta_lib_on_real_btcusdt_klines():
    talib = pytest.importorskip("talib")
    import numpy as np

    closes = _bundled_closes(2000)
    x = np.array(closes)
    want_rsi = talib.RSI(x, 14)
    want_line, want_signal, want_hist = talib.MACD(x, 12, 26, 9)
    rsi, macd = Rsi(14), Macd(12, 26, 9)
    for i, c in enumerate(closes):
        r = rsi.update(c)
        macd.update(c)
        if math.isnan(want_rsi[i]):
            assert r is None
        else:
            assert r == pytest.approx(want_rsi[i], abs=1e-9)
        if math.isnan(want_hist[i]):
            assert macd.histogram is None
        else:
            assert macd.line == pytest.approx(want_line[i], abs=1e-8)
            assert macd.signal_line == pytest.approx(want_signal[i], abs=1e-8)
            assert macd.histogram == pytest.approx(want_hist[i], abs=1e-8)


def test_indicator_periods_are_checked():
    with pytest.raises(ValueError):
        Rsi(0)
    with pytest.raises(ValueError):
        Macd(26, 12, 9)


# --- decisions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hist", "rsi", "previous", "want"),
    [
        (0.5, 55.0, 0, 1),  # momentum up, not overbought: long
        (0.5, 70.0, 1, 0),  # momentum up but overbought: stand aside
        (-0.5, 45.0, 0, -1),  # momentum down, not oversold: short
        (-0.5, 30.0, -1, 0),  # momentum down but oversold: stand aside
        (0.0, 50.0, -1, -1),  # no momentum: keep the side
    ],
)
def test_decide(hist, rsi, previous, want):
    assert decide(hist, rsi, previous, oversold=30.0, overbought=70.0) == want


def test_targets_follow_the_hand_computed_indicators():
    # From the worked values above (RSI(3), MACD(2, 3, 2), 100 USDT):
    # bar 3 (close 11): hist -1/6 < 0, RSI 66.67 > 30           -> short 100/11 = 9.09090909
    # bar 4 (close 13): hist 1/54 > 0 but RSI 83.33 >= 70        -> flat
    # bar 5 (close 12): hist -13/162 < 0, RSI 60.61 > 30         -> short 100/12 = 8.33333333
    s = small()
    assert s.warmup_bars == 4
    said = [s.on_bar(b, None) for b in bars(*CLOSES)]
    assert said[:3] == [(), (), ()]
    got = [p[0].qty for p in said[3:]]
    assert got == [D("-9.09090909"), D(0), D("-8.33333333")]
    assert all(isinstance(p[0], TargetPosition) for p in said[3:])
    assert "rsi3=60.61" in said[5][0].reason and ": short" in said[5][0].reason
    # 1/54 = 0.0185185..., -13/162 = -0.0802469...: four significant digits, no exponent
    assert said[4][0].reason == "rsi3=83.33 macd_hist=0.01852: flat"
    assert said[5][0].reason == "rsi3=60.61 macd_hist=-0.08025: short"


@pytest.mark.parametrize(
    ("x", "shown"),
    [
        (-9.18512e-05, "-0.00009185"),  # an orders.csv reason read macd_hist=-9.18512e-05
        (12.34567, "12.35"),
        (12345.6, "12346"),
        (0.0, "0"),
    ],
)
def test_a_histogram_is_said_without_exponent(x, shown):
    assert fixed_point(x) == shown


def test_without_shorts_a_down_move_targets_flat():
    s = RsiMacd(
        rsi_period=3,
        macd_fast=2,
        macd_slow=3,
        macd_signal=2,
        order_notional_usdt=100,
        allow_short=False,
    )
    said = [s.on_bar(b, None) for b in bars(*CLOSES)]
    assert [p[0].qty for p in said[3:]] == [D(0), D(0), D(0)]


def test_the_size_is_floored_to_the_instruments_step_and_held_while_the_side_holds():
    # overbought 95 so a steady climb stays long. Histogram / RSI(3) per bar from bar 3:
    # +1.67 / 80.0 long, -0.37 / 61.5 short, +1.70 / 83.9 long, +0.57 / 86.8 long.
    closes = ("60000", "60010", "60000", "60030", "60020", "60060", "60070")

    def run(**kw):
        s = RsiMacd(rsi_period=3, macd_fast=2, macd_slow=3, macd_signal=2, overbought=95, **kw)
        return [p[0].qty for p in (s.on_bar(b, None) for b in bars(*closes)) if p]

    # 1000 USDT on the 0.001 step: 1000/60030 = 0.01665.. -> 0.016, and so on.
    stepped = run(order_notional_usdt=1000, instruments={"BTCUSDT": INSTRUMENTS["BTCUSDT"]})
    assert stepped == [D("0.016"), D("-0.016"), D("0.016"), D("0.016")]
    # Without an instrument (1e-8): the last bar keeps the size set at 60060, not 100/60070.
    exact = run(order_notional_usdt=100)
    assert exact[2] == exact[3] == D("0.00166500")


def test_warm_up_then_on_start_targets_the_warmed_side_and_a_repeated_bar_counts_once():
    s = small()
    history = bars(*CLOSES)
    s.warm(history)
    start = s.on_start("BTCUSDT", None)
    assert start[0].qty == D("-8.33333333")
    # The live stream repeats the last warm-up bar: ignored (no second update).
    assert s.on_bar(history[-1], None) == ()
    assert s.on_start("ETHUSDT", None) == ()


def test_an_unclosed_bar_is_ignored():
    s = small()
    for b in bars(*CLOSES[:-1]):
        s.on_bar(b, None)
    open_bar = make_bar("12", open_ms=T0 + 5 * MINUTE, closed=False)
    assert s.on_bar(open_bar, None) == ()


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="oversold"):
        RsiMacd(oversold=70, overbought=30)
    with pytest.raises(ValueError, match="order_notional_usdt"):
        RsiMacd(order_notional_usdt=0)


# --- registration ----------------------------------------------------------------------------


def test_registered_under_its_name_and_chosen_by_the_config(tmp_path):
    assert "rsi_macd" in STRATEGIES
    s = make_strategy("rsi_macd", order_notional_usdt="50")
    assert isinstance(s, RsiMacd) and isinstance(s, TradingStrategy)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[strategy]\nname = "rsi_macd"\nrsi_period = 10\n')
    settings = load_settings(config_path=cfg, env_file=None)
    assert settings.strategy.name == "rsi_macd" and settings.strategy.rsi_period == 10


def test_the_backtester_runs_it_with_strategy_rsi_macd_and_its_notional(tmp_path):
    import backtest_trading_strategy as cli

    # Six hours of the bundled week: 1000 USDT positions trade (100 USDT would floor to 0 BTC).
    code = cli.main(
        [
            "--data", str(KLINES), "--strategy", "rsi_macd", "--notional", "1000",
            "--start", "2025-05-10T00:00", "--end", "2025-05-10T06:00",
            "--no-progress", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counters"]["fills"] > 0 and summary["counters"]["denied"] == 0
    # The first entry is 1000 USDT floored to the 0.001 step: within one step of 1000 USDT.
    first = (tmp_path / "trades.csv").read_text().splitlines()[1].split(",")
    price, qty = D(first[5]), D(first[6])
    assert 1000 - price * D("0.001") < price * qty <= 1000
