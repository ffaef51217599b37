"""The metric functions on curves small enough to check by hand."""

import itertools
import json
import math

import pytest

from backtest import metrics as m

DAY = 86_400_000


def test_returns_drawdown_and_its_duration():
    equity = [100.0, 110.0, 99.0, 121.0, 110.0]
    times = [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY]
    assert m.returns(equity) == pytest.approx([0.1, -0.1, 121 / 99 - 1, -1 / 11])
    assert m.drawdowns(equity) == pytest.approx([0, 0, 0.1, 0, 1 / 11])
    assert m.max_drawdown(equity) == pytest.approx(0.1)  # 110 -> 99
    assert m.max_drawdown_duration_ms(equity, times) == 2 * DAY  # 110 at day 1, back on day 3
    assert m.total_return(equity) == pytest.approx(0.1)
    assert m.periods_per_year(times) == 365
    assert m.annualized_return(equity, times) == pytest.approx(1.1 ** (365 / 4) - 1)


def test_annualized_return_of_a_short_steep_run_is_none_not_an_overflow():
    # 80 -> 170 USDT in 400 minutes: (170/80) ** (525,600/400) is about 10**430, past any float.
    minute = 60_000
    assert m.annualized_return([80.0, 170.0], [0, 400 * minute]) is None
    # Doubling every day for a year is 2**365 ~ 7.5e109: large but still a number.
    assert m.annualized_return([1.0, 2.0], [0, DAY]) == pytest.approx(2.0**365 - 1)


def test_sharpe_and_sortino_by_hand():
    r = [0.01, -0.02, 0.03]
    mean = 0.02 / 3
    sd = math.sqrt(((0.01 - mean) ** 2 + (-0.02 - mean) ** 2 + (0.03 - mean) ** 2) / 2)
    assert m.sharpe(r, 365) == pytest.approx(mean / sd * math.sqrt(365))
    assert m.sortino(r, 365) == pytest.approx(mean / math.sqrt(0.0004 / 3) * math.sqrt(365))
    assert m.sharpe([0.01, 0.01], 365) is None  # no variance: no ratio
    assert m.sortino([0.01], 365) is None  # no downside


def test_trade_statistics():
    fills = [
        m.FillRow(1, 100.0, 1.0, 0.1, 0.0),  # opens: not a closed trade
        m.FillRow(2, 110.0, 1.0, 0.1, 10.0),  # 10 - 0.1 - 0.1 (its entry's fee) = +9.8
        m.FillRow(3, 100.0, 2.0, 0.2, -5.0),  # -5.2
    ]
    results = m.closed_trade_results(fills)
    assert results == pytest.approx([9.8, -5.2])
    assert m.win_rate(results) == 0.5
    assert m.profit_factor(results) == pytest.approx(9.8 / 5.2)
    assert m.expectancy(results) == pytest.approx(2.3)
    assert m.turnover(fills, 1000.0) == pytest.approx(0.41)  # (100 + 110 + 200) / 1000
    assert m.exposure([0.0, 1.0, -1.0, 0.0]) == 0.5
    assert m.profit_factor([1.0]) is None and m.win_rate([]) is None


def test_a_trade_opened_from_flat_is_charged_its_entry_fee():
    """Long 1 at 1,000 (taker fee 0.5), closed at 1,000.6 (rp 0.6, fee 0.5003): the trade
    lost 0.6 - 0.5 - 0.5003 = -0.4003, as freqtrade and backtesting.py count it and as
    analysis.pnl's histogram shows it. Charged the closing fee alone it was a +0.0997 win."""
    fills = [
        m.FillRow(1, 1000.0, 1.0, 0.5, 0.0, m.closes_position(True, 1, 1)),
        m.FillRow(2, 1000.6, 1.0, 0.5003, 0.6, m.closes_position(False, 1, 0)),
    ]

    summary = m.summarize(
        times_ms=[0, 1], equity=[1000.0, 999.5997], positions=[0.0, 0.0], fills=fills
    )

    assert summary.closed_trades == 1
    assert summary.win_rate == 0.0
    assert summary.expectancy == pytest.approx(-0.4003)
    assert summary.expectancy * summary.closed_trades == pytest.approx(999.5997 - 1000.0)


def test_a_close_at_the_entry_price_is_a_closed_trade_that_lost_its_fees():
    """Long 1 at 100 (fee 0.05), closed at 100: rp 0, fee 0.05 -> the trade -0.1 with its
    opening fee. Then long 1 at 100 (fee 0.05), closed at 110: rp 10, fee 0.055 -> the trade
    10 - 0.105 = 9.895. Two trades, one won."""
    fills = [
        m.FillRow(1, 100.0, 1.0, 0.05, 0.0, m.closes_position(True, 1, 1)),
        m.FillRow(2, 100.0, 1.0, 0.05, 0.0, m.closes_position(False, 1, 0)),
        m.FillRow(3, 100.0, 1.0, 0.05, 0.0, m.closes_position(True, 1, 1)),
        m.FillRow(4, 110.0, 1.0, 0.055, 10.0, m.closes_position(False, 1, 0)),
    ]

    results = m.closed_trade_results(fills)

    assert results == pytest.approx([-0.1, 9.895])
    assert m.trade_pnls(fills) == pytest.approx([-0.1, 9.895])
    assert m.win_rate(results) == 0.5
    summary = m.summarize(
        times_ms=[0, 1], equity=[1000.0, 1009.795], positions=[0.0, 0.0], fills=fills
    )
    assert summary.closed_trades == 2


def test_closes_position_is_a_fill_against_the_position_it_met():
    assert m.closes_position(True, 1, 0)  # BUY 1 closed a short of 1
    assert m.closes_position(False, 2, -1)  # SELL 2 flipped a long of 1
    assert not m.closes_position(True, 1, 1)  # BUY 1 opened from flat
    assert not m.closes_position(False, 1, -2)  # SELL 1 added to a short of 1


def test_summary_has_no_inf_or_nan_on_a_flat_curve():
    s = m.summarize(times_ms=[0, 60_000], equity=[100.0, 100.0], positions=[0.0, 0.0], fills=[])
    assert s.total_return == 0 and s.sharpe is None and s.calmar is None and s.fills == 0


def test_fees_without_fills_are_the_float_zero_as_with_fills():
    # summary.json said "fees": 0 (an int) for a run without fills, 12.5 (a float) otherwise.
    s = m.summarize(times_ms=[0, 60_000], equity=[100.0, 100.0], positions=[0.0, 0.0], fills=[])
    assert type(s.fees) is float and s.fees == 0.0
    assert json.dumps({"fees": s.fees}) == '{"fees": 0.0}'


def _reference_curve_metrics(equity, times):
    """The metrics above as plain Python loops, one sample at a time (the definitions)."""
    rets = [b / a - 1.0 for a, b in itertools.pairwise(equity) if a != 0]
    out, peak = [], -math.inf
    for e in equity:
        peak = max(peak, e)
        out.append(1.0 - e / peak if peak > 0 else 0.0)
    longest, peak, peak_t, under = 0, -math.inf, times[0], False
    for e, t in zip(equity, times, strict=True):
        if e >= peak:
            if under:
                longest, under = max(longest, t - peak_t), False
            peak, peak_t = e, t
        else:
            under = True
            longest = max(longest, t - peak_t)
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return rets, out, longest, steps


def test_vectorized_curve_metrics_equal_the_sample_by_sample_definitions_exactly():
    import random
    from array import array
    from statistics import median

    rng = random.Random(7)
    for trial in range(200):
        n = rng.randint(1, 60)
        level = rng.choice([0.0, -5.0, 100.0, 1e6])
        equity = [level + rng.choice([0.0, rng.uniform(-50, 50)]) for _ in range(n)]
        if trial % 3 == 0:
            equity = array("d", equity)
        times = [i * 60_000 + rng.choice([0, 0, -90_000]) for i in range(n)]
        rets, dd, longest, steps = _reference_curve_metrics(list(equity), times)
        assert m.returns(equity) == rets
        assert m.drawdowns(equity) == dd
        assert m.max_drawdown_duration_ms(equity, times) == longest
        assert m.periods_per_year(times) == (m.YEAR_MS / median(steps) if steps else None)
        assert m.exposure(equity) == sum(1 for e in equity if e != 0) / n


def test_sharpe_sortino_and_max_drawdown_equal_their_generator_definitions_exactly():
    import random

    rng = random.Random(11)
    for _ in range(100):
        rets = [rng.choice([0.0, -0.0, rng.gauss(0, 0.01), rng.gauss(0, 1e-9)]) for _ in range(40)]
        mean = sum(rets) / len(rets)
        var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
        want = None if var <= 0 else mean / math.sqrt(var) * math.sqrt(365)
        assert m.sharpe(rets, 365) == want
        down = math.sqrt(sum(min(r, 0.0) ** 2 for r in rets) / len(rets))
        assert m.sortino(rets, 365) == (None if down <= 0 else mean / down * math.sqrt(365))
        equity = [100.0 + 50 * r for r in rets]
        assert m.max_drawdown(equity) == max(m.drawdowns(equity))
    assert m.max_drawdown([]) == 0.0


# --- annualization, daily ratios, round trips ---------------------------------------------------

HOUR = 3_600_000
MINUTE = 60_000


@pytest.mark.parametrize(
    ("step_ms", "per_year"),
    [(MINUTE, 525_600), (HOUR, 8_760), (DAY, 365)],
    ids=["1m", "1h", "1d"],
)
def test_the_annualization_factor_is_samples_per_365_day_year(step_ms, per_year):
    """1m bars: 365 x 1,440 = 525,600 a year; 1h: 365 x 24 = 8,760; 1d: 365 (crypto trades
    every day: not 252). A hole in the data (one step of 3) leaves the median step alone."""
    times = [0, step_ms, 2 * step_ms, 5 * step_ms, 6 * step_ms]
    assert m.periods_per_year(times) == per_year
    r = [0.001, -0.002, 0.003, 0.0]
    mean = 0.002 / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    assert m.sharpe(r, m.periods_per_year(times)) == pytest.approx(mean / sd * math.sqrt(per_year))


def test_daily_returns_take_each_utc_days_last_sample():
    """Minute samples from 22:00 on day 0 to day 2: day 0 ends at 102 (from the first sample,
    100), day 1 at 96.9 (its 12:00 sample of 110 is not a day end), day 2 at 101.745."""
    t0 = DAY - 2 * HOUR  # 22:00 UTC on day 0: a partial first day
    times = [t0, t0 + MINUTE, DAY - MINUTE, DAY, DAY + 12 * HOUR, 2 * DAY - 1, 2 * DAY + HOUR]
    equity = [100.0, 101.0, 102.0, 100.0, 110.0, 96.9, 101.745]

    got = m.daily_returns(times, equity)

    assert got == pytest.approx([0.02, 96.9 / 102 - 1, 101.745 / 96.9 - 1])
    assert got[1] == pytest.approx(-0.05) and got[2] == pytest.approx(0.05)


def test_daily_sharpe_and_sortino_by_hand():
    """Day ends 110, 99, 108.9 from 100: returns +10 %, -10 %, +10 %. Mean 1/30; sample std
    sqrt(((1/15)^2 * 2 + (2/15)^2) / 2) = sqrt(6/225 / 2) = sqrt(3)/15; downside deviation
    sqrt(0.01 / 3). Annualized with sqrt(365), not with the minute samples' sqrt(525,600)."""
    times = [0, DAY - 1, DAY + 5 * MINUTE, 2 * DAY - 1, 3 * DAY - 1]
    equity = [100.0, 110.0, 104.0, 99.0, 108.9]

    s = m.summarize(times_ms=times, equity=equity, positions=[0.0] * 5, fills=[])

    assert s.sharpe_daily == pytest.approx((1 / 30) / (math.sqrt(3) / 15) * math.sqrt(365))
    assert s.sortino_daily == pytest.approx((1 / 30) / math.sqrt(0.01 / 3) * math.sqrt(365))
    # The per-sample Sharpe of the same curve is another number (its own returns and factor).
    assert s.sharpe != pytest.approx(s.sharpe_daily)


def test_a_run_inside_one_day_has_no_daily_ratio():
    s = m.summarize(
        times_ms=[0, MINUTE, 2 * MINUTE], equity=[100.0, 101.0, 99.0], positions=[0.0] * 3, fills=[]
    )
    assert s.sharpe_daily is None and s.sortino_daily is None  # one daily return: no std


def test_a_run_shorter_than_a_day_has_no_annualized_figures_and_says_why():
    # Five minutes that lost 1 %: its annualized return read -100 % (-1 % compounded 105,120
    # times), its Sharpe -333 (the per-minute one times sqrt(525,600)), its Calmar -67.
    times = [i * MINUTE for i in range(6)]
    equity = [100.0, 100.5, 99.8, 99.5, 99.2, 99.0]

    s = m.summarize(times_ms=times, equity=equity, positions=[0.0] * 6, fills=[])

    assert (s.annualized_return, s.sharpe, s.sortino, s.calmar) == (None, None, None, None)
    assert s.not_annualized_reason == (
        "the run spans 5 min, under the 1 day below which a yearly figure is an extrapolation "
        "that says nothing"
    )
    assert s.total_return == pytest.approx(-0.01) and s.max_drawdown > 0  # not annualized: kept


@pytest.mark.parametrize(
    ("span_ms", "said"), [(42_000, "42 s"), (6 * 3_600_000, "6 h"), (DAY - MINUTE, "23.98 h")]
)
def test_the_reason_says_the_runs_span(span_ms, said):
    assert m.not_annualized_reason(span_ms).startswith(f"the run spans {said}, under the 1 day")


def test_a_run_of_a_day_has_its_annualized_figures():
    # A day of 1m bars (1,440 bars, the first open to the last close: exactly 1 day).
    times = [i * MINUTE for i in range(1440)]
    equity = [100.0 + (i % 7) - 0.001 * i for i in range(1440)]

    s = m.summarize(
        times_ms=times, equity=equity, positions=[0.0] * 1440, fills=[], period=(0, DAY)
    )

    rets = m.returns(equity)
    assert s.not_annualized_reason is None
    assert s.annualized_return == m.annualized_return(equity, times)
    assert s.sharpe == m.sharpe(rets, 525_600) and s.sortino == m.sortino(rets, 525_600)
    assert s.calmar == m.calmar(s.annualized_return, s.max_drawdown)


def row(t: int, side: str, qty: str, after: str, fee: float, rp: float) -> m.FillRow:
    """A fill as the runner makes it: its role in the round trips from the exact position."""
    from decimal import Decimal as D

    buy = side == "BUY"
    ends, share = m.trade_role(buy, D(qty), D(after))
    return m.FillRow(
        t,
        100.0,
        float(qty),
        fee,
        rp,
        m.closes_position(buy, D(qty), D(after)),
        ends_trade=ends,
        closing_share=share,
    )


def test_a_reversal_splits_its_fee_between_the_trade_it_ends_and_the_one_it_opens():
    """BUY 1 (fee 0.5), SELL 2 flipping to -1 (rp +10, fee 1.0: half closes the long, half
    opens the short), BUY 1 closing the short (rp +4, fee 0.5). Long: 10 - 0.5 - 0.5 = 9;
    short: 4 - 0.5 - 0.5 = 3. Charging the whole reversal fee to the long gave 8.5 and 3.5."""
    fills = [
        row(1, "BUY", "1", "1", 0.5, 0.0),
        row(2, "SELL", "2", "-1", 1.0, 10.0),
        row(3, "BUY", "1", "0", 0.5, 4.0),
    ]

    assert m.trade_pnls(fills) == pytest.approx([9.0, 3.0])
    assert sum(m.trade_pnls(fills)) == pytest.approx(14.0 - 2.0)  # realized - fees


def test_a_position_closed_in_several_fills_is_one_trade():
    """Long 0.03 in two entries, closed in three fills (a market order walking the book, a
    limit filled by three prints): one round trip, charged all five fees."""
    fills = [
        row(1, "BUY", "0.02", "0.02", 0.2, 0.0),
        row(2, "BUY", "0.01", "0.03", 0.1, 0.0),
        row(3, "SELL", "0.01", "0.02", 0.1, 3.0),
        row(4, "SELL", "0.015", "0.005", 0.15, -1.0),
        row(5, "SELL", "0.005", "0", 0.05, 0.5),
    ]

    results = m.closed_trade_results(fills)

    assert results == pytest.approx([3.0 - 1.0 + 0.5 - 0.6])
    summary = m.summarize(times_ms=[0, 1], equity=[1.0, 1.0], positions=[0.0, 0.0], fills=fills)
    assert summary.closed_trades == 1 and summary.win_rate == 1.0


def test_a_trade_still_open_at_the_end_is_not_a_closed_trade():
    """Long 2, half sold (rp +5): the trade goes on, so no closed trade yet."""
    fills = [row(1, "BUY", "2", "2", 1.0, 0.0), row(2, "SELL", "1", "1", 0.5, 5.0)]
    assert m.trade_pnls(fills) == []
    assert (
        m.summarize(
            times_ms=[0, 1], equity=[1.0, 1.0], positions=[0.0, 2.0], fills=fills
        ).closed_trades
        == 0
    )


def test_trade_role_by_hand():
    from decimal import Decimal as D

    assert m.trade_role(True, D("1"), D("1")) == (False, 0.0)  # opens from flat
    assert m.trade_role(True, D("1"), D("3")) == (False, 0.0)  # adds
    assert m.trade_role(False, D("1"), D("2")) == (False, 1.0)  # reduces part of the way
    assert m.trade_role(False, D("3"), D("0")) == (True, 1.0)  # closes
    assert m.trade_role(True, D("0.003"), D("0.002")) == (True, 1 / 3)  # flips a short of 0.001
