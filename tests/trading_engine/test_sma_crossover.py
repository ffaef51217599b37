"""SmaCrossover: regime targets against a hand-computed series, warm-up, sizing, registry."""

from decimal import Decimal as D

import numpy as np
import pytest

from core.orders import TargetPosition
from tests.trading_engine.support import INSTRUMENTS, MINUTE, T0, make_bar
from trading_engine.main_trading_strategy import TradingStrategy, make_strategy
from trading_engine.strategies.sma_crossover import SmaCrossover


def bars(*closes: str, start: int = T0):
    return [make_bar(c, open_ms=start + i * MINUTE) for i, c in enumerate(closes)]


def targets(strategy, series):
    """The target each bar produced (None when the strategy said nothing)."""
    out = []
    for b in series:
        said = strategy.on_bar(b, None)
        assert len(said) <= 1
        out.append(said[0].qty if said else None)
    return out


def test_regime_targets_match_the_hand_computed_averages():
    # fast = SMA(2), slow = SMA(3), 120 USDT per position, no instrument (8-decimal sizing):
    # bar 3: fast (11+12)/2 = 11.5 > slow (10+11+12)/3 = 11     -> long  120/12 = 10
    # bar 4: fast 11.5 > slow 11.33                             -> long, size kept (10)
    # bar 5: fast (11+10)/2 = 10.5 < slow 11                    -> short 120/10 = 12
    # bar 6: fast 9.5 < slow 10; bar 7: fast 9.5 < slow 9.67    -> short, size kept
    # bar 8: fast (10+12)/2 = 11 > slow (9+10+12)/3 = 10.33     -> long  120/12 = 10
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    got = targets(s, bars("10", "11", "12", "11", "10", "9", "10", "12"))
    assert got == [None, None, D(10), D(10), D(-12), D(-12), D(-12), D(10)]


def test_equal_averages_keep_the_previous_regime():
    # closes 10, 11, 12 -> long; then 10: fast (12+10)/2 = 11 == slow (11+12+10)/3 = 11.
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    assert targets(s, bars("10", "11", "12", "10")) == [None, None, D(10), D(10)]
    assert s.regime("BTCUSDT") == 1


def test_a_flat_market_has_no_regime_yet():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    assert targets(s, bars("10", "10", "10", "10")) == [None] * 4


def test_without_shorts_the_down_regime_targets_flat():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120", allow_short=False)
    # bar 3: fast 10.5 < slow 11 -> flat; bar 4: fast (10+15)/2 = 12.5 > slow 12 -> long 120/15
    assert targets(s, bars("12", "11", "10", "15")) == [None, None, D(0), D(8)]


def test_after_warm_up_the_first_live_bar_already_has_a_target():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    history = bars("10", "11", "12")
    assert s.warmup_bars == 3
    s.warm(history)
    said = s.on_bar(make_bar("13", open_ms=T0 + 3 * MINUTE), None)
    assert said == (
        TargetPosition(
            symbol="BTCUSDT", qty=D(10), reason="sma2=12.5 sma3=12: long"
        ),  # sized at the warm bar where the regime began (close 12)
    )


def test_a_bar_seen_twice_counts_once():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    history = bars("10", "11", "12")
    s.warm(history)
    assert s.on_bar(history[-1], None) == ()  # the stream repeats the last warm bar
    assert s.on_bar(make_bar("10", open_ms=T0 + 3 * MINUTE), None)[0].qty == D(10)  # still long


def test_open_bars_are_ignored():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    s.warm(bars("10", "11", "12"))
    assert s.on_bar(make_bar("5", open_ms=T0 + 3 * MINUTE, closed=False), None) == ()


def test_size_is_floored_to_the_instrument_step():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="100", instruments=INSTRUMENTS)
    assert targets(s, bars("59000", "59500", "60000")) == [None, None, D("0.001")]
    # 100 / 60000 = 0.001666.. -> 0.001 (a step is 0.001 BTC)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"fast": 5, "slow": 5}, "fast < slow"), ({"order_notional_usdt": 0}, "> 0")],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SmaCrossover(**kwargs)


def test_make_strategy_builds_the_registered_strategy():
    s = make_strategy("sma_crossover", fast=3, slow=7, order_notional_usdt=D(50))
    assert isinstance(s, SmaCrossover) and isinstance(s, TradingStrategy)
    assert (s.name, s.warmup_bars, s.order_notional_usdt) == ("sma_crossover", 7, D(50))


def test_make_strategy_names_the_known_strategies_for_an_unknown_one():
    with pytest.raises(
        ValueError,
        match="unknown strategy 'nope'; known: logistic_regression, rsi_macd, sma_crossover",
    ):
        make_strategy("nope")


def test_on_start_holds_the_regime_the_warm_up_ended_in():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    assert s.on_start("BTCUSDT", None) == ()  # nothing known yet
    s.warm(bars("10", "11", "12"))
    assert s.on_start("BTCUSDT", None) == (
        TargetPosition(symbol="BTCUSDT", qty=D(10), reason="sma2=11.5 sma3=11: long"),
    )


def test_last_proposals_repeat_what_on_bar_returned_for_the_last_bar():
    # The hand-computed series above: bar 4's windows fast (12+11)/2 = 11.5, slow
    # (11+12+11)/3 = 11.333..., long 10 kept; bar 5 turns short 120/10 = 12 with fast 10.5,
    # slow 11. Taken by on_bar, or by absorb_bars (closes in 1e-8 units), the same proposal.
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    series = bars("10", "11", "12", "11", "10")
    said = [s.on_bar(b, None) for b in series[:4]]
    assert (
        s.last_proposals("BTCUSDT")
        == said[-1]
        == (TargetPosition(symbol="BTCUSDT", qty=D(10), reason="sma2=11.5 sma3=11.333333: long"),)
    )
    assert (
        s.on_bar(series[4], None)
        == s.last_proposals("BTCUSDT")
        == (TargetPosition(symbol="BTCUSDT", qty=D(-12), reason="sma2=10.5 sma3=11: short"),)
    )
    absorbed = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    absorbed.on_bar(series[0], None)
    absorbed.on_bar(series[1], None)
    absorbed.on_bar(series[2], None)  # the regime (long 10) is set by on_bar
    times = np.array([series[3].open_time_ms], dtype=np.int64)
    units = np.array([11 * 10**8], dtype=np.int64)
    assert absorbed.bars_without_decision("BTCUSDT", times, units) == 1  # no flip at bar 4
    absorbed.absorb_bars("BTCUSDT", times, units)
    assert absorbed.last_proposals("BTCUSDT") == said[-1]


def test_last_proposals_say_nothing_while_warming_up():
    s = SmaCrossover(fast=2, slow=3, order_notional_usdt="120")
    assert s.last_proposals("BTCUSDT") == ()
    s.on_bar(bars("10", "11")[1], None)
    assert s.last_proposals("BTCUSDT") == ()
