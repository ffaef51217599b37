"""Rolling indicators: hand-computed values, exact integer sums, no float drift over time."""

import math
import random

import pytest

from trading_engine.indicators import Ema, Sma


def test_sma_is_none_until_the_window_is_full_then_the_mean_of_the_last_period_values():
    sma = Sma(3)
    assert [sma.update(x) for x in (1, 2, 3, 4, 5)] == [None, None, 2.0, 3.0, 4.0]
    assert sma.ready and len(sma) == 3 and sma.sum == 12


def test_sma_of_integers_keeps_an_exact_integer_sum():
    sma = Sma(4)
    for x in range(1, 1_001):
        sma.update(6_000_010_000_000 + x)  # prices in 1e-8 units: far beyond float's 2**53
    assert sma.sum == 4 * 6_000_010_000_000 + 997 + 998 + 999 + 1000
    assert type(sma.sum) is int


def test_sma_of_floats_does_not_drift_over_a_long_run():
    rng = random.Random(7)
    sma = Sma(50)
    values = [rng.uniform(50_000, 70_000) + rng.random() * 1e-3 for _ in range(200_003)]
    for x in values:
        sma.update(x)
    exact = math.fsum(values[-50:]) / 50
    assert sma.value == pytest.approx(exact, rel=1e-15, abs=0)


def test_ema_is_seeded_with_the_sma_then_moves_by_alpha():
    ema = Ema(3)  # alpha = 2 / 4 = 0.5
    assert [ema.update(x) for x in (1, 2, 3, 4, 5, 1)] == [None, None, 2.0, 3.0, 4.0, 2.5]


@pytest.mark.parametrize("cls", [Sma, Ema])
def test_a_period_below_one_is_refused(cls):
    with pytest.raises(ValueError, match="period"):
        cls(0)
