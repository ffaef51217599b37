"""The runner over a price gap: a protective stop fires on the first trade of a gap and the
strategy re-enters in the same instant. The venue must hand the books the engine's events in
the engine's order (the stop's fill and its ACCOUNT_UPDATE before the re-entry's), else the
books adopt a stale position and a second order goes out toward the same target."""

from decimal import Decimal as D

from backtest.data import Klines, load_klines
from backtest.runner import BacktestConfig, run_backtest
from tests.backtest.test_reference_loop import KLINES


def gap_data() -> Klines:
    """The week's last 300 bars (BTC near 104,000, long), then its first 100 bars moved to
    follow them: the price gaps down about 9 % in one minute, through the stop."""
    week = load_klines(KLINES)
    span = week.open_time[-1] - week.open_time[0] + 60_000
    cols = ("open", "high", "low", "close", "volume")
    out = Klines(
        week.open_time[-300:] + [t + span for t in week.open_time[:100]],
        *[getattr(week, c)[-300:] + getattr(week, c)[:100] for c in cols],
    )
    return out


def test_a_stop_hit_by_a_gap_and_the_re_entry_are_booked_in_order():
    result = run_backtest(
        gap_data(), BacktestConfig(strategy_params={"order_notional_usdt": D(1000)})
    )
    fills = result.journal.fills
    stop_ids = {cid for cid, o in result.journal.orders.items() if o.type == "STOP_MARKET"}
    gap_ms = load_klines(KLINES).open_time[-1] + 60_000
    assert any(f.client_order_id in stop_ids and f.time_ms == gap_ms for f in fills)
    assert result.counters["book_differences"] == 0
    # Never more than the one position the strategy asks for (0.009-0.010 BTC at these prices).
    assert max(abs(f.position_after) for f in fills) <= D("0.010")


def test_a_run_pauses_the_garbage_collector_and_leaves_it_as_it_found_it():
    import gc

    from backtest import runner

    seen = []
    week = load_klines(KLINES)
    short = Klines(*(getattr(week, c)[:120] for c in week.__slots__))
    original = runner._finish

    def finish(*args):  # the last step of the bar loop: is the collector off there?
        seen.append(gc.isenabled())
        return original(*args)

    runner._finish = finish
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            run_backtest(short, BacktestConfig(strategy_params={"order_notional_usdt": D(1000)}))
            assert gc.isenabled() is enabled
    finally:
        runner._finish = original
        (gc.enable if was else gc.disable)()
    assert seen == [False, False]


def test_without_a_config_a_backtest_runs_under_the_daemons_default_limits():
    """`backtest_risk`: the daemon's `[risk]` defaults (README: "under the daemon's default
    limits"), but the order and position caps (3 x the notional: a reversal is one order of
    twice the position) and no kill-switch file. It once took RiskConfig's own defaults: no
    daily-loss limit in USDT and a circuit breaker at 5 errors against the daemon's 300 USDT
    and 10."""
    from dataclasses import replace
    from decimal import Decimal

    from backtest.runner import backtest_risk
    from runtime.settings import Settings, risk_config

    risk = backtest_risk(Decimal(1000))
    daemon = risk_config(Settings())
    assert risk == replace(
        daemon,
        kill_switch_file=None,
        max_order_notional_usdt=Decimal(3000),
        max_position_notional_usdt=Decimal(3000),
        max_total_notional_usdt=Decimal(3000),
    )
    assert (risk.max_daily_loss_usdt, risk.max_daily_loss_pct) == (Decimal(300), Decimal(5))
    assert (risk.max_drawdown_pct, risk.circuit_breaker_errors) == (Decimal(10), 10)
    assert daemon.kill_switch_file == "KILL"
    assert backtest_risk(Decimal(100)).max_order_notional_usdt == Decimal(500)  # the floor
