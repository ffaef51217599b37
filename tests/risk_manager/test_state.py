"""Trading state: portfolio limits, kill switch, circuit breaker, HALTED, operator reset, the
daemon's automatic resume at a start.

ACTIVE -> REDUCING on a breach, REDUCING -> HALTED once flat, HALTED/REDUCING -> ACTIVE by an
operator; everything else is refused. Times are exchange ms on a SimClock starting at
2024-08-08T12:00:00Z; equity in USDT.
"""

from decimal import Decimal as D

import pytest

from core.enums import ForcedClose, Side, TradingState
from core.events import AUTOMATIC_RESET, RiskDenied, TradingStateChanged
from core.orders import OrderRequest
from risk_manager import IllegalStateTransition, LimitCounts
from risk_manager.risk_manager import STATE_TRANSITIONS
from tests.risk_manager.helpers import NEXT_MIDNIGHT_MS, NOON_MS, limit, market

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
OK = {"gap_open": False, "clock_offset_ms": 0}
Z = D(0)


def moved(event, previous: TradingState, current: TradingState) -> str:
    assert isinstance(event, TradingStateChanged), f"expected a state change, got {event}"
    assert (event.previous, event.current) == (previous, current)
    return event.reason


# --- portfolio limits ---------------------------------------------------------------------------


def test_drawdown_reaching_the_limit_moves_to_reducing(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.on_equity(D(10000), Z)
    risk.on_equity(D(10500), Z)
    # (10500 - 9450) / 10500 = 10 %
    assert moved(risk.on_equity(D(9450), Z), ACTIVE, REDUCING) == (
        "max drawdown: equity 9450.00 USDT is 10.00% below the peak 10500.00 USDT (max 10%)"
    )


def test_drawdown_just_under_the_limit_keeps_trading(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.on_equity(D(10500), Z)
    assert risk.on_equity(D(9451), Z) is None and risk.state is ACTIVE


def test_drawdown_is_measured_from_the_peak_not_the_start(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.on_equity(D(10000), Z)
    risk.on_equity(D(12000), Z)
    # 10700 is above the start but (12000 - 10700) / 12000 = 10.83 % below the peak
    assert risk.on_equity(D(10700), Z) is not None


def test_daily_loss_in_usdt_reaching_the_limit_moves_to_reducing(make_risk):
    risk = make_risk(max_daily_loss_usdt=D(300))
    risk.on_equity(D(10000), Z)
    assert risk.on_equity(D(9701), Z) is None
    assert moved(risk.on_equity(D(9700), Z), ACTIVE, REDUCING) == (
        "max daily loss: lost 300.00 USDT today (max 300 USDT)"
    )


def test_daily_loss_in_percent_of_the_day_start_equity(make_risk):
    risk = make_risk(max_daily_loss_pct=D(3))
    risk.on_equity(D(10000), Z)
    assert moved(risk.on_equity(D(9700), Z), ACTIVE, REDUCING) == (
        "max daily loss: lost 300.00 USDT today, 3.00% of the day's starting equity "
        "10000.00 USDT (max 3%)"
    )


def test_limit_reached_says_what_on_equity_would_trip_and_records_nothing(make_risk):
    risk = make_risk(max_daily_loss_usdt=D(300), max_drawdown_pct=D(10))
    risk.on_equity(D(10000), Z)
    risk.on_equity(D(10500), Z)  # the peak; the day started at 10,000
    assert risk.limit_reached(D(9701), Z) is None
    # Lost 300 since the day's start: the reason on_equity gives, word for word.
    assert risk.limit_reached(D(9700), Z) == "max daily loss: lost 300.00 USDT today (max 300 USDT)"
    # Realized -300 today with open profit hiding it: (b) of on_equity's docstring.
    assert risk.limit_reached(D(10100), D(-300)) == (
        "max daily loss: lost 300.00 USDT today (max 300 USDT)"
    )
    # An equity above the peak is the peak of that answer only, not recorded: had 11,000
    # been recorded, 9,800 would be 10.9 % below it, a drawdown.
    assert risk.limit_reached(D(11000), Z) is None
    assert (risk.peak_equity, risk.day_start_equity, risk.state) == (D(10500), D(10000), ACTIVE)
    assert risk.limit_reached(D(9800), Z) is None
    # It agrees with on_equity, which then trips.
    assert moved(risk.on_equity(D(9700), Z), ACTIVE, REDUCING).startswith("max daily loss")
    assert risk.limit_reached(D(9000), Z) is None  # not ACTIVE: nothing more to trip


def test_limit_reached_before_any_equity_takes_its_equity_as_start_and_peak(make_risk):
    risk = make_risk(max_daily_loss_usdt=D(300), max_drawdown_pct=D(10))
    assert risk.limit_reached(D(10000), Z) is None
    assert risk.limit_reached(D(10000), D(-300)) is not None  # the realized loss alone
    assert (risk.peak_equity, risk.day_start_equity) == (None, None)


def test_realized_loss_counts_even_when_open_profit_hides_it(make_risk):
    # equity is up 100, but 300 USDT were realized as a loss today
    risk = make_risk(max_daily_loss_usdt=D(300))
    risk.on_equity(D(10000), Z)
    assert moved(risk.on_equity(D(10100), D(-300)), ACTIVE, REDUCING) == (
        "max daily loss: lost 300.00 USDT today (max 300 USDT)"
    )


def test_daily_loss_restarts_at_the_utc_day_boundary(make_risk, clock):
    risk = make_risk(max_daily_loss_usdt=D(300))
    risk.on_equity(D(10000), Z)
    risk.on_equity(D(9800), D(-200))  # 200 lost today
    clock.set_ms(NEXT_MIDNIGHT_MS)
    risk.on_equity(D(9750), D(-50))  # new day: counted from 9800, the last equity of yesterday
    # 250 lost since 9800: under 300, although 450 were lost since yesterday noon
    assert risk.on_equity(D(9550), D(-250)) is None
    assert risk.day_start_equity == D(9800) and risk.state is ACTIVE


def test_the_last_millisecond_of_the_day_still_counts_for_that_day(make_risk, clock):
    risk = make_risk(max_daily_loss_usdt=D(300))
    risk.on_equity(D(10000), Z)
    clock.set_ms(NEXT_MIDNIGHT_MS - 1)
    assert risk.on_equity(D(9700), Z) is not None


def test_max_trades_per_day_reached_moves_to_reducing(make_risk):
    risk = make_risk(max_trades_per_day=3)
    assert risk.record_trade(NOON_MS) is None
    assert risk.record_trade(NOON_MS) is None
    assert moved(risk.record_trade(NOON_MS), ACTIVE, REDUCING) == (
        "max trades per day: 3 trades today (max 3)"
    )


def test_trades_restored_one_under_the_max_pass_an_equity_update_and_at_it_trip_it(make_risk):
    """An equity update checks the day's trades as a counted trade does: 2 of 3 restored
    leave trading ACTIVE; 3 of 3 move it to REDUCING with the same reason."""
    under = make_risk(max_trades_per_day=3)
    under.restore_limits(LimitCounts(at_ms=NOON_MS, peak_equity=None, trades_today=2, equity=None))
    at = make_risk(max_trades_per_day=3)
    at.restore_limits(LimitCounts(at_ms=NOON_MS, peak_equity=None, trades_today=3, equity=None))

    assert under.on_equity(D(10000), Z) is None
    assert moved(at.on_equity(D(10000), Z), ACTIVE, REDUCING) == (
        "max trades per day: 3 trades today (max 3)"
    )


def test_trade_count_restarts_at_the_utc_day_boundary(make_risk, clock):
    risk = make_risk(max_trades_per_day=3)
    risk.record_trade(NOON_MS)
    risk.record_trade(NOON_MS)
    clock.set_ms(NEXT_MIDNIGHT_MS)
    assert risk.record_trade(NEXT_MIDNIGHT_MS) is None
    assert risk.record_trade(NEXT_MIDNIGHT_MS) is None
    assert risk.trades_today == 2


def test_a_trade_that_ended_before_midnight_learnt_after_it_is_not_todays(make_risk, clock):
    """Counted on the UTC day of the exchange's time of the order's end, as a restart counts
    the journal's orders: filled at 23:59:50 while the daemon was down, learnt of at
    00:00:10, it was yesterday's trade."""
    risk = make_risk(max_trades_per_day=1)
    clock.set_ms(NEXT_MIDNIGHT_MS + 10_000)

    assert risk.record_trade(NEXT_MIDNIGHT_MS - 10_000) is None

    assert (risk.trades_today, risk.state) == (0, ACTIVE)


def test_a_trade_the_exchange_made_after_midnight_before_our_clock_got_there_is_kept(
    make_risk, clock
):
    """The exchange's clock a few ms ahead of ours at midnight: its trade of the new day
    starts that day at once, and our clock's next reading, still of the day before, does not
    start it again (the trade would be lost while a restart counts it)."""
    risk = make_risk(max_trades_per_day=3)
    risk.record_trade(NOON_MS)
    risk.record_trade(NOON_MS)
    clock.set_ms(NEXT_MIDNIGHT_MS - 5)

    assert risk.record_trade(NEXT_MIDNIGHT_MS + 5) is None
    assert risk.trades_today == 1
    assert risk.on_equity(D(10000), Z) is None  # our clock still at 23:59:59.995
    clock.set_ms(NEXT_MIDNIGHT_MS + 10)
    assert risk.on_equity(D(10000), Z) is None

    assert risk.trades_today == 1


def test_breach_while_already_reducing_gives_no_second_event(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.kill("test")
    risk.on_equity(D(10000), Z)
    assert risk.on_equity(D(5000), Z) is None
    assert risk.reason == "kill switch: test"


# --- what passes in each state -------------------------------------------------------------------


def test_reducing_denies_entries_naming_state_and_breach(risk):
    risk.kill("test")
    result = risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)
    assert isinstance(result, RiskDenied)
    assert (
        result.reason == "trading state REDUCING (kill switch: test): only reduce-only orders pass"
    )


def test_reducing_lets_a_reduce_only_flatten_through(risk, books):
    books.set_position("BTCUSDT", "0.010", "60000")
    risk.kill("test")
    result = risk.check(market(Side.SELL, "0.010", reduce_only=True), **OK)
    assert isinstance(result, OrderRequest)


def test_halted_denies_even_reduce_only_orders(risk, books):
    risk.kill("test")
    risk.confirm_flat()
    books.set_position("BTCUSDT", "0.010", "60000")
    result = risk.check(market(Side.SELL, "0.010", reduce_only=True), **OK)
    assert isinstance(result, RiskDenied)
    assert result.reason == (
        "trading state HALTED (kill switch: test): no orders until an operator reset"
    )


# --- REDUCING -> HALTED ---------------------------------------------------------------------------


def test_confirm_flat_waits_while_a_position_is_open(risk, books):
    books.set_position("ETHUSDT", "-0.100", "4000")
    risk.kill("test")
    assert risk.confirm_flat() is None and risk.state is REDUCING


def test_confirm_flat_waits_while_an_order_is_open(risk, books):
    books.open_orders["BTCUSDT"] = 1
    risk.kill("test")
    assert risk.confirm_flat() is None and risk.state is REDUCING


def test_confirm_flat_halts_once_flat_with_no_orders(risk):
    risk.kill("test")
    assert moved(risk.confirm_flat(), REDUCING, HALTED) == (
        "flat and no open orders; halted after: kill switch: test"
    )


@pytest.mark.parametrize("get_there", [lambda r: None, lambda r: (r.kill("x"), r.confirm_flat())])
def test_confirm_flat_outside_reducing_is_refused(risk, get_there):
    get_there(risk)
    with pytest.raises(IllegalStateTransition, match="only REDUCING can halt"):
        risk.confirm_flat()


def test_transition_table_never_halts_without_reducing_first():
    assert HALTED not in STATE_TRANSITIONS[ACTIVE]
    # out of HALTED: an operator's reset, or a position found (flattened again)
    assert STATE_TRANSITIONS[HALTED] == frozenset({ACTIVE, REDUCING})


def test_a_position_found_while_halted_goes_back_to_reducing_naming_it(risk):
    risk.kill("test")
    risk.confirm_flat()
    changed = risk.reduce_again("BTCUSDT position 0.050 found")
    assert moved(changed, HALTED, REDUCING) == (
        "BTCUSDT position 0.050 found while HALTED (kill switch: test)"
    )


@pytest.mark.parametrize("get_there", [lambda r: None, lambda r: r.kill("x")])
def test_a_position_found_outside_halted_changes_no_state(risk, get_there):
    get_there(risk)
    state = risk.state
    assert risk.reduce_again("BTCUSDT position 0.050 found") is None
    assert risk.state is state


# --- operator reset ------------------------------------------------------------------------------


def test_reset_while_active_is_refused(risk):
    with pytest.raises(IllegalStateTransition, match="already ACTIVE"):
        risk.reset("nothing to reset")


def test_reset_from_halted_returns_to_active(risk):
    risk.kill("test")
    risk.confirm_flat()
    assert moved(risk.reset("checked the books"), HALTED, ACTIVE) == (
        "operator reset: checked the books"
    )
    assert risk.reason == ""


def test_reset_from_reducing_abandons_the_flatten(risk):
    risk.kill("test")
    assert moved(risk.reset("false alarm"), REDUCING, ACTIVE) == "operator reset: false alarm"


def test_reset_rearms_the_drawdown_from_the_current_equity(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.on_equity(D(10500), Z)
    risk.on_equity(D(9450), Z)
    risk.confirm_flat()
    risk.reset("accepted the loss")
    assert risk.peak_equity == D(9450)
    assert risk.on_equity(D(9450), Z) is None and risk.state is ACTIVE


def test_reset_rearms_the_realized_daily_loss(make_risk):
    risk = make_risk(max_daily_loss_usdt=D(300))
    risk.on_equity(D(10000), D(-300))
    risk.reset("accepted the loss")
    # 299 more realized since the reset: under the limit
    assert risk.on_equity(D(10000), D(-599)) is None
    assert risk.on_equity(D(10000), D(-600)) is not None


def test_restored_state_denies_with_its_journaled_reason(risk):
    risk.restore_state(HALTED, "max drawdown: journaled")
    result = risk.check(limit(Side.BUY, "0.010", "60000.0"), **OK)
    assert isinstance(result, RiskDenied) and "HALTED (max drawdown: journaled)" in result.reason


def test_restored_limits_keep_the_peak_and_the_days_trades_across_a_restart(make_risk):
    """A restart does not grant a fresh drawdown allowance or trade count: the journal's
    peak (10500) and today's 2 filled orders carry over."""
    risk = make_risk(max_drawdown_pct=D(10), max_trades_per_day=3)
    risk.restore_limits(
        LimitCounts(at_ms=NOON_MS, peak_equity=D(10500), trades_today=2, equity=D(9500))
    )
    assert (risk.peak_equity, risk.trades_today) == (D(10500), 2)
    # (10500 - 9450) / 10500 = 10 %: the restored peak counts
    assert "below the peak 10500.00" in moved(risk.on_equity(D(9450), Z), ACTIVE, REDUCING)

    other = make_risk(max_trades_per_day=3)
    other.restore_limits(LimitCounts(at_ms=NOON_MS, peak_equity=None, trades_today=2, equity=None))
    assert moved(other.record_trade(NOON_MS), ACTIVE, REDUCING) == (
        "max trades per day: 3 trades today (max 3)"
    )


def test_a_reset_after_a_restart_rearms_from_the_restored_equity(make_risk):
    risk = make_risk(max_drawdown_pct=D(10))
    risk.restore_limits(
        LimitCounts(at_ms=NOON_MS, peak_equity=D(10500), trades_today=0, equity=D(9000))
    )
    risk.restore_state(HALTED, "max drawdown: journaled")
    risk.reset("accepted the loss")
    assert risk.peak_equity == D(9000)
    assert risk.on_equity(D(9000), Z) is None and risk.state is ACTIVE


# --- the daemon's automatic resume at a start -----------------------------------------------

AUTO = f"{AUTOMATIC_RESET}: the user stream's failure is cleared"
KEY_REFUSED = "HTTP 401 -2015 Invalid API-key, IP, or permissions for action."


def _halted_by_the_user_stream(risk) -> None:
    assert moved(risk.record_stream_failure("user", KEY_REFUSED), ACTIVE, REDUCING) == (
        f"user stream failed: {KEY_REFUSED}"
    )
    assert moved(risk.confirm_flat(), REDUCING, HALTED)


def test_an_automatic_resume_counts_the_days_loss_from_before_the_halt(make_risk):
    """100 USDT a day. 80 lost (10000 -> 9920) before the user stream failed for good
    (REDUCING, flat, HALTED); the next start lifts the halt by itself. It only lifts it: the
    day has 20 USDT left, not a fresh 100. 9901 (99 lost today) trades on, 9900 (80 + 20 =
    100) reaches the limit."""
    risk = make_risk(max_daily_loss_usdt=D(100))
    assert risk.on_equity(D(10000), Z) is None
    assert risk.on_equity(D(9920), Z) is None
    _halted_by_the_user_stream(risk)

    assert moved(risk.reset(AUTO), HALTED, ACTIVE) == AUTO  # journaled as it is

    assert risk.day_start_equity == D(10000)
    assert risk.on_equity(D(9901), Z) is None and risk.state is ACTIVE
    assert moved(risk.on_equity(D(9900), Z), ACTIVE, REDUCING) == (
        "max daily loss: lost 100.00 USDT today (max 100 USDT)"
    )


def test_an_automatic_resume_counts_the_days_realized_loss_from_before_the_halt(make_risk):
    """The realized side of the daily loss (the one a restart restores from the journal):
    -80 USDT realized before the halt, -20 more after the resume trips at -100 realized in
    all (the equity back at 10000: a deposit-free recovery does not hide the realized loss)."""
    risk = make_risk(max_daily_loss_usdt=D(100))
    assert risk.on_equity(D(10000), D(-80)) is None
    _halted_by_the_user_stream(risk)
    risk.reset(AUTO)

    assert risk.on_equity(D(10000), D(-99)) is None
    assert moved(risk.on_equity(D(10000), D(-100)), ACTIVE, REDUCING) == (
        "max daily loss: lost 100.00 USDT today (max 100 USDT)"
    )


def test_an_operator_reset_at_the_same_point_grants_the_day_a_fresh_allowance(make_risk):
    """`--reset-halt` is unchanged: the same day re-armed from 9920 / -80 realized."""
    risk = make_risk(max_daily_loss_usdt=D(100))
    risk.on_equity(D(10000), D(-80))
    risk.on_equity(D(9920), D(-80))
    _halted_by_the_user_stream(risk)

    assert moved(risk.reset("--reset-halt"), HALTED, ACTIVE) == "operator reset: --reset-halt"

    assert risk.day_start_equity == D(9920)
    assert risk.on_equity(D(9900), D(-100)) is None  # 20 since the reset
    assert moved(risk.on_equity(D(9820), D(-180)), ACTIVE, REDUCING) == (
        "max daily loss: lost 100.00 USDT today (max 100 USDT)"
    )


def test_an_automatic_resume_keeps_the_peak_and_the_days_trades(make_risk):
    """The drawdown peak a restart restored (10500) and today's 2 trades stay: 10 % below
    10500 is 9450, reached after the resume; a third trade reaches max 3."""
    risk = make_risk(max_drawdown_pct=D(10), max_trades_per_day=3)
    risk.restore_limits(
        LimitCounts(at_ms=NOON_MS, peak_equity=D(10500), trades_today=2, equity=D(9500))
    )
    risk.restore_state(HALTED, f"user stream failed: {KEY_REFUSED}")

    risk.reset(AUTO)

    assert (risk.peak_equity, risk.trades_today, risk.day_start_equity) == (D(10500), 2, None)
    assert risk.on_equity(D(9451), Z) is None
    assert "below the peak 10500.00" in moved(risk.on_equity(D(9450), Z), ACTIVE, REDUCING)
    other = make_risk(max_trades_per_day=3)
    other.restore_limits(LimitCounts(at_ms=NOON_MS, peak_equity=None, trades_today=2, equity=None))
    other.restore_state(HALTED, f"user stream failed: {KEY_REFUSED}")
    other.reset(AUTO)
    assert moved(other.record_trade(NOON_MS), ACTIVE, REDUCING) == (
        "max trades per day: 3 trades today (max 3)"
    )


def test_an_automatic_resume_is_refused_while_the_kill_switch_file_exists(make_risk, tmp_path):
    kill = tmp_path / "KILL"
    risk = make_risk(kill_switch_file=str(kill))
    risk.restore_state(HALTED, f"user stream failed: {KEY_REFUSED}")
    kill.touch()
    with pytest.raises(IllegalStateTransition, match="remove the kill-switch file"):
        risk.reset(AUTO)


# --- the exchange closing a position itself -------------------------------------------------


@pytest.mark.parametrize("kind", list(ForcedClose))
def test_a_liquidation_adl_or_settlement_moves_to_reducing_naming_it(risk, clock, kind):
    event = risk.record_forced_close(kind, "BTCUSDT SELL 0.100 @ 55000.0")

    assert moved(event, ACTIVE, REDUCING) == f"{kind.value}: BTCUSDT SELL 0.100 @ 55000.0"
    assert event.event_time_ms == clock.now_ms()


def test_a_second_forced_close_while_reducing_changes_nothing(risk):
    risk.record_forced_close(ForcedClose.ADL, "first")

    assert risk.record_forced_close(ForcedClose.LIQUIDATION, "second") is None
    assert risk.reason == "auto-deleverage: first"


def test_after_a_liquidation_only_an_operator_reset_lets_entries_through_again(risk, books):
    risk.record_forced_close(ForcedClose.LIQUIDATION, "BTCUSDT SELL 0.100 @ 55000.0")
    risk.confirm_flat()  # nothing open: HALTED

    denied = risk.check(limit(Side.BUY, "0.001", "60000"), **OK)
    risk.reset("looked at it")
    approved = risk.check(limit(Side.BUY, "0.001", "60000"), **OK)

    assert isinstance(denied, RiskDenied)
    assert denied.reason == (
        "trading state HALTED (liquidation: BTCUSDT SELL 0.100 @ 55000.0): no orders until "
        "an operator reset"
    )
    assert isinstance(approved, OrderRequest)


# --- kill switch ----------------------------------------------------------------------------------


def test_kill_moves_to_reducing_at_once(risk, clock):
    event = risk.kill("SIGUSR1")
    assert moved(event, ACTIVE, REDUCING) == "kill switch: SIGUSR1"
    assert event.event_time_ms == clock.now_ms() and risk.state is REDUCING


def test_kill_while_reducing_changes_nothing(risk):
    risk.kill("first")
    assert risk.kill("second") is None and risk.reason == "kill switch: first"


def test_kill_switch_file_trips_when_it_appears(make_risk, clock, tmp_path):
    path = tmp_path / "KILL"
    risk = make_risk(kill_switch_file=str(path))
    assert risk.check_kill_switch_file() is None
    path.touch()
    clock.advance_ms(1000)
    assert moved(risk.check_kill_switch_file(), ACTIVE, REDUCING) == (
        f"kill switch: file {path} exists"
    )


def test_kill_switch_file_is_looked_at_most_once_per_second(make_risk, clock, tmp_path):
    path = tmp_path / "KILL"
    risk = make_risk(kill_switch_file=str(path))
    risk.check_kill_switch_file()
    path.touch()
    clock.advance_ms(999)
    assert risk.check_kill_switch_file() is None
    clock.advance_ms(1)
    assert risk.check_kill_switch_file() is not None


def test_no_kill_switch_file_configured_never_trips(risk):
    assert risk.check_kill_switch_file() is None


def test_the_next_kill_switch_look_is_due_a_second_after_the_last_or_never_without_a_file(
    make_risk, clock, tmp_path
):
    """What the ExecManager reads to skip the call on the items in between."""
    with_file = make_risk(kill_switch_file=str(tmp_path / "KILL"))
    with_file.check_kill_switch_file(clock.now_ms())

    assert with_file.kill_check_due_ms == clock.now_ms() + 1000
    assert make_risk(kill_switch_file=None).kill_check_due_ms > 10**18


def test_reset_is_refused_while_the_kill_switch_file_exists(make_risk, tmp_path):
    path = tmp_path / "KILL"
    path.touch()
    risk = make_risk(kill_switch_file=str(path))
    risk.check_kill_switch_file()
    with pytest.raises(IllegalStateTransition, match="remove the kill-switch file"):
        risk.reset("too early")


# --- circuit breaker ------------------------------------------------------------------------------


def test_circuit_breaker_trips_on_the_nth_error_in_the_window(make_risk, clock):
    risk = make_risk(circuit_breaker_errors=3, circuit_breaker_window_ms=10_000)
    assert risk.record_error("timeout") is None
    clock.advance_ms(4000)
    assert risk.record_error("rejected -2019") is None
    clock.advance_ms(4000)
    assert moved(risk.record_error("timeout"), ACTIVE, REDUCING) == (
        "circuit breaker: 3 errors or unknown orders within 10000 ms (last: timeout)"
    )


def test_unknown_orders_count_toward_the_circuit_breaker(make_risk):
    risk = make_risk(circuit_breaker_errors=3, circuit_breaker_window_ms=10_000)
    risk.record_error("timeout")
    risk.record_unknown("bot-7")
    assert moved(risk.record_unknown("bot-8"), ACTIVE, REDUCING) == (
        "circuit breaker: 3 errors or unknown orders within 10000 ms (last: order bot-8 outcome "
        "unknown)"
    )


def test_errors_older_than_the_window_do_not_count(make_risk, clock):
    risk = make_risk(circuit_breaker_errors=3, circuit_breaker_window_ms=10_000)
    risk.record_error("timeout")
    risk.record_error("timeout")
    clock.advance_ms(10_000)
    assert risk.record_error("timeout") is None and risk.state is ACTIVE


def test_circuit_breaker_off_never_trips(risk):
    for _ in range(100):
        assert risk.record_error("timeout") is None
