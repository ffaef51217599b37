"""Long runs of the synthesized continuation: the kline week loops without accumulating drift.

Issue 8 item 8: each loop used to be shifted to start at the last price, so the bundled week's
+10 % (BTCUSDT) repeated every loop and a long run trended forever. `KlineLoop` now plays the
week forward, then mirrored, then forward again, each pass opening at the previous close.
"""

from itertools import pairwise

import numpy as np
import pytest

from exchange_sim.replay.catalog import bundled
from exchange_sim.replay.events import AggTradeEvent
from exchange_sim.replay.timeline import MINUTE_MS, KlineLoop, MarketReplay

DAY = 1440  # minutes
WEEK = 7 * DAY
HOUR_MS = 60 * MINUTE_MS


@pytest.fixture(scope="module")
def week():
    return bundled("klines-week")


def _concat(parts):
    return {
        col: np.concatenate([getattr(p, col) for p in parts])
        for col in ("open_time", "open", "high", "low", "close", "volume")
    }


def _largest_real_1m_move(bars) -> int:
    """Largest |close - previous close| of the real week, in ticks."""
    return int(np.abs(np.diff(bars.close)).max())


def test_the_pass_after_the_week_is_the_week_mirrored_at_the_last_close(week) -> None:
    bars = week.klines["BTCUSDT"]
    loop = KlineLoop.anchored(bars, first_bar=0, price=None)

    forward = _concat(loop.take(0, WEEK))
    mirrored = _concat(loop.take(WEEK * MINUTE_MS, WEEK))

    total = int(bars.close[-1]) + int(bars.open[0])
    assert np.array_equal(forward["close"], bars.close)
    assert np.array_equal(mirrored["open"], total - bars.open)
    assert np.array_equal(mirrored["high"], total - bars.low)
    assert np.array_equal(mirrored["low"], total - bars.high)
    assert np.array_equal(mirrored["close"], total - bars.close)
    assert np.array_equal(mirrored["volume"], bars.volume)
    assert mirrored["open"][0] == forward["close"][-1]  # the seam: no jump at all


def test_a_forward_and_a_mirrored_pass_end_at_the_price_they_started_from(week) -> None:
    bars = week.klines["BTCUSDT"]
    loop = KlineLoop.anchored(bars, first_bar=0, price=700_000)  # 70,000.0 USDT

    loop.take(0, 2 * WEEK)

    assert loop.last_price == 700_000


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_sixty_days_stay_inside_the_weeks_own_range_and_every_seam_is_continuous(
    week, symbol
) -> None:
    bars = week.klines[symbol]
    loop = KlineLoop.anchored(bars, first_bar=DAY, price=None)  # as klines-week starts

    run = _concat(loop.take(bars.open_time[DAY], 60 * DAY))

    start = int(bars.open[DAY])
    real_low, real_high = int(bars.low.min()), int(bars.high.max())
    mirror_total = int(bars.close[-1]) + int(bars.open[0])
    band_low = min(real_low, mirror_total - real_high)
    band_high = max(real_high, mirror_total - real_low)
    assert band_low <= run["low"].min() and run["high"].max() <= band_high
    assert np.all(np.diff(run["open_time"]) == MINUTE_MS)
    # between bars: never a larger gap than the real week has between its own bars
    real_gap = int(np.abs(bars.open[1:] - bars.close[:-1]).max())
    assert np.abs(run["open"][1:] - run["close"][:-1]).max() <= real_gap
    # the end of the 60 days is no further from the start than the week's own excursion
    assert abs(int(run["close"][-1]) - start) <= band_high - band_low


def test_every_24_hours_of_sixty_btcusdt_days_stay_within_15_percent_of_their_start(week) -> None:
    bars = week.klines["BTCUSDT"]
    loop = KlineLoop.anchored(bars, first_bar=DAY, price=None)

    run = _concat(loop.take(bars.open_time[DAY], 60 * DAY))

    for day_start in range(0, 60 * DAY, DAY // 4):  # every 6 hours, a 24-hour window
        window = slice(day_start, day_start + DAY)
        ref = int(run["open"][day_start])
        assert run["high"][window].max() <= ref * 1.15
        assert run["low"][window].min() >= ref * 0.85


def _trades(events, symbol):
    return [e for e in events if isinstance(e, AggTradeEvent) and e.symbol == symbol]


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_a_24_hour_replay_across_the_week_seam_stays_in_band_without_a_jump(week, symbol) -> None:
    bars = week.klines[symbol]
    grid = week.grids[symbol]
    seam_ms = int(bars.open_time[-1]) + MINUTE_MS
    replay = MarketReplay(week, symbols=(symbol,), start_ms=seam_ms - 12 * HOUR_MS)

    trades = _trades(replay.events_until(seam_ms + 12 * HOUR_MS - 1), symbol)

    ticks = np.array([grid.ticks_of(t.price) for t in trades])
    start = ticks[0]
    assert ticks.max() <= start * 1.15 and ticks.min() >= start * 0.85
    jumps = np.abs(np.diff(ticks))
    seam = next(i for i, t in enumerate(trades) if t.trade_time_ms >= seam_ms)
    assert jumps[seam - 1] <= _largest_real_1m_move(bars)
    assert jumps.max() <= int((bars.high - bars.low).max())  # no move beyond a real bar's range
    assert all(b.agg_id == a.agg_id + 1 for a, b in pairwise(trades))


def test_the_trades_after_the_seam_trace_the_mirrored_real_bars(week) -> None:
    bars = week.klines["BTCUSDT"]
    grid = week.grids["BTCUSDT"]
    seam_ms = int(bars.open_time[-1]) + MINUTE_MS
    replay = MarketReplay(week, symbols=("BTCUSDT",), start_ms=seam_ms - 10 * MINUTE_MS)

    events = replay.events_until(seam_ms + 30 * MINUTE_MS - 1)

    after = [t for t in _trades(events, "BTCUSDT") if t.trade_time_ms >= seam_ms]
    prices = np.array([grid.ticks_of(t.price) for t in after])
    times = np.array([t.trade_time_ms for t in after])
    total = int(bars.close[-1]) + int(bars.open[0])
    for i in range(30):
        t0 = seam_ms + i * MINUTE_MS
        minute = prices[(times >= t0) & (times < t0 + MINUTE_MS)]
        assert minute[0] == total - bars.open[i]
        assert minute.max() == total - bars.low[i]
        assert minute.min() == total - bars.high[i]
        assert minute[-1] == total - bars.close[i]


@pytest.mark.slow
def test_sixteen_replayed_days_of_the_default_data_set_stay_within_15_percent(week) -> None:
    bars = week.klines["BTCUSDT"]
    grid = week.grids["BTCUSDT"]
    replay = MarketReplay(week, symbols=("BTCUSDT",))  # starts after the day of history
    lo = hi = start = int(bars.open[DAY])

    for day in range(16):  # crosses the week seam twice (forward -> mirrored -> forward)
        events = replay.events_until(replay.start_ms + (day + 1) * DAY * MINUTE_MS - 1)
        ticks = [grid.ticks_of(t.price) for t in _trades(events, "BTCUSDT")]
        lo, hi = min(lo, *ticks), max(hi, *ticks)

    assert hi <= start * 1.15 and lo >= start * 0.85
