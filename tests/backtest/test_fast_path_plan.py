"""SmaCrossover.series_plan (the fast path's whole-series lookup) answers exactly what
bars_without_decision answers, bar after bar of a real series, and steps aside (None) when the
strategy's state is not the series' own."""

from decimal import Decimal as D

import numpy as np
import pytest

from backtest.data import load_klines
from core.market import Bar
from tests.backtest.test_reference_loop import KLINES
from trading_engine.strategies import sma_crossover
from trading_engine.strategies.sma_crossover import SmaCrossover

SYMBOL = "BTCUSDT"


def _bar(t: int, close: D) -> Bar:
    return Bar(SYMBOL, "1m", t, t + 59_999, close, close, close, close, D(1), close, D(0),
               D(0), 0, True)  # fmt: skip


def series() -> tuple[list[D], np.ndarray, np.ndarray]:
    """1,500 real closes, then a flat stretch (equal averages: the regime holds), a bar
    repeated (not newer than the one before), and 300 more real closes."""
    week = load_klines(KLINES)
    closes = [D(c) for c in week.close[:1500]]
    times = list(week.open_time[:1500])
    closes += [closes[-1]] * 80
    times += [times[-1] + 60_000 * (j + 1) for j in range(80)]
    closes.append(closes[-1])
    times.append(times[-1])  # the repeat
    closes += [D(c) for c in week.close[1500:1800]]
    times += [times[-1] + 60_000 * (j + 1) for j in range(300)]
    units = np.array([int(c.scaleb(8)) for c in closes], dtype=np.int64)
    return closes, units, np.array(times, dtype=np.int64)


@pytest.mark.parametrize("chunk", [1 << 16, 7])  # one vectorized step, and many
def test_series_plan_answers_as_bars_without_decision(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sma_crossover, "_PLAN_CHUNK", chunk)
    closes, units, times = series()
    n = len(closes)
    for fast, slow in [(10, 50), (1, 2), (3, 7)]:
        s = SmaCrossover(fast=fast, slow=slow)
        plan = s.series_plan(SYMBOL, times, units)
        assert plan is not None
        answered = flips = 0
        for i in range(n):
            for stop in (min(n, i + 1), min(n, i + 37), n):
                got = plan(i, stop)
                want = s.bars_without_decision(SYMBOL, times[i:stop], units[i:stop])
                if got is not None:
                    assert got == want, (fast, slow, i, stop)
                    answered += 1
            before = s.regime(SYMBOL)
            s.on_bar(_bar(int(times[i]), closes[i]), None)  # type: ignore[arg-type]
            flips += s.regime(SYMBOL) != before
        # Unanswered only while warming up and at the repeated bar.
        assert answered >= 3 * (n - slow - 2), (fast, slow, answered)
        assert flips > 20


def test_series_plan_steps_aside_when_the_state_is_not_the_series() -> None:
    closes, units, times = series()
    s = SmaCrossover()
    plan = s.series_plan(SYMBOL, times, units)
    assert plan is not None
    for i in range(60):
        s.on_bar(_bar(int(times[i]), closes[i]), None)  # type: ignore[arg-type]
    assert plan(60, 100) is not None
    assert plan(61, 100) is None  # bar 60 not taken: the window is not the series' at 61
    other = SmaCrossover()
    for i in range(60):  # the same times, other closes
        other.on_bar(_bar(int(times[i]), closes[i] + 1), None)  # type: ignore[arg-type]
    assert other.series_plan(SYMBOL, times, units)(60, 100) is None  # type: ignore[misc]
