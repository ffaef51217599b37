"""The daily-loss limit's day start and the fills of the day before learnt today
(`RiskView.carried_in`, the equity they moved, USDT): they are the day before's, whether the
day started at 00:00, at an operator reset or at a restart.

Limit: 50 USDT a day. Equity in USDT, net of transfers; the books' carried figure is set by
hand (`FakeBooks.carried`).
"""

from decimal import Decimal as D

from core.enums import TradingState
from risk_manager import LimitCounts
from tests.risk_manager.helpers import NEXT_MIDNIGHT_MS

Z = D(0)


def test_a_loss_of_the_day_before_learnt_after_midnight_moves_the_days_start(
    make_risk, clock, books
):
    risk = make_risk(max_daily_loss_usdt=D(50))
    clock.set_ms(NEXT_MIDNIGHT_MS - 500)
    risk.on_equity(D(10000), Z)  # the day's last equity
    clock.set_ms(NEXT_MIDNIGHT_MS + 300)
    books.carried = D(-120)  # a fill of 23:59:59.900 booked now

    assert risk.on_equity(D(9880), Z) is None  # 120 lost yesterday
    assert risk.on_equity(D(9831), Z) is None  # 49 today
    assert risk.on_equity(D(9830), Z) is not None  # 50 today
    assert risk.state is TradingState.REDUCING


def test_after_an_operator_reset_the_day_before_learnt_earlier_is_not_taken_off_again(
    make_risk, clock, books
):
    """The reset re-arms from the equity then, which holds the -120 already: without that
    remembered the next 120 of losses would go unseen."""
    risk = make_risk(max_daily_loss_usdt=D(50), max_drawdown_pct=D(50))
    clock.set_ms(NEXT_MIDNIGHT_MS - 500)
    risk.on_equity(D(10000), Z)
    clock.set_ms(NEXT_MIDNIGHT_MS + 300)
    books.carried = D(-120)
    risk.on_equity(D(9880), Z)
    risk.on_equity(D(9800), Z)  # 80 lost today: REDUCING
    risk.reset("looked at it")

    assert risk.on_equity(D(9751), Z) is None  # 49 since the reset
    assert risk.on_equity(D(9750), Z) is not None  # 50


def test_a_restart_whose_day_start_was_journaled_today_holds_what_was_carried_by_then(
    make_risk, clock, books
):
    risk = make_risk(max_daily_loss_usdt=D(50))
    clock.set_ms(NEXT_MIDNIGHT_MS + 60_000)
    books.carried = D(-120)
    risk.restore_limits(
        LimitCounts(
            at_ms=NEXT_MIDNIGHT_MS + 60_000,
            peak_equity=None,
            trades_today=0,
            equity=D(9880),
            day_start_equity=D(9880),  # the first snapshot of the day, after the late fill
            carried_base=D(-120),
        )
    )

    assert risk.on_equity(D(9831), Z) is None
    assert risk.on_equity(D(9830), Z) is not None


def test_a_trade_that_starts_the_next_day_early_does_not_take_this_days_carried_figure_twice(
    make_risk, clock, books
):
    """Today began with yesterday's late fill learnt (+116.94: its gain, in the day's start).
    At 23:59:59.999 of our clock a trade ends at 00:00:00.002 of the exchange's, which starts
    the next day (`record_trade`) from the equity now, which holds that gain: the figure the
    books carry is of our clock's day, this one's, not of the day the limits count."""
    day = NEXT_MIDNIGHT_MS // 86_400_000
    books.carried_in = lambda now_ms: D("116.94") if now_ms // 86_400_000 == day else Z
    risk = make_risk(max_daily_loss_usdt=D(50))
    clock.set_ms(NEXT_MIDNIGHT_MS - 500)
    risk.on_equity(D(9997), Z)
    clock.set_ms(NEXT_MIDNIGHT_MS + 1_000)
    assert risk.on_equity(D("10113.94"), Z) is None
    clock.set_ms(NEXT_MIDNIGHT_MS + 86_400_000 - 1)

    risk.record_trade(NEXT_MIDNIGHT_MS + 86_400_000 + 2)

    assert risk.on_equity(D("10113.94"), Z) is None  # tripped: "lost 116.94 USDT today"
    assert risk.state is TradingState.ACTIVE
