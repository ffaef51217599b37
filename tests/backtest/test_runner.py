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
