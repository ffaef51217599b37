"""Our own soft limit on orders per minute holds back what adds risk, never what takes it
away: after a burst of entries has filled the window, the flatten of REDUCING, the position's
stop-loss and the reduce-only close toward a strategy's target go out at once (the exchange's
own rate limits stay with the REST layer's governor), while the strategy's next entry, and a
reduce-only order the strategy sends itself, wait for the window. Against the in-process
matching engine; BTCUSDT at a flat 60000.0."""

from decimal import Decimal as D

from core.enums import OrderType, Side, TimeInForce, TradingState
from core.events import RiskDenied
from core.orders import OrderProposal
from exchange_sim.replay.grid import load_instruments
from tests.trading_engine.test_exec_manager_lot_limits import SYMBOL, Rig

BTC = {SYMBOL: load_instruments()[SYMBOL]}  # market lot up to 1000: one order each


def _market(side: Side, qty: str, *, reduce_only: bool = False) -> OrderProposal:
    return OrderProposal(
        symbol=SYMBOL, side=side, type=OrderType.MARKET, quantity=D(qty), reduce_only=reduce_only
    )


def _denials(rig: Rig) -> list[tuple[Side, bool, str]]:
    return [
        (e.request.side, e.request.reduce_only, e.reason)
        for e in rig.journal.events
        if isinstance(e, RiskDenied)
    ]


def test_after_a_burst_of_entries_the_kill_switch_flattens_at_once():
    """Three entries fill a window of 3 orders a minute; before, the flatten was denied
    ("max orders per minute: 3 sent in the last 60 s (max 3)") and sent again every 2 s
    until the window rolled, up to a minute later."""
    rig = Rig(max_orders_per_minute=3)  # maxQty 0.050: the long 0.125 takes 3 orders to close
    rig.tick()
    rig.buy_in_three()
    sent = len(rig.sent())

    rig.em.kill("operator")
    rig.tick()  # 100 ms later

    assert len(rig.sent()) == sent + 3 and _denials(rig) == []
    assert rig.engine_position() == D(0)
    assert rig.em.trading_state is TradingState.HALTED


def test_after_a_burst_protection_and_a_targets_close_go_out_but_entries_wait():
    rig = Rig(BTC, max_orders_per_minute=2, stop_loss_pct=D(2))
    rig.tick()
    rig.strategy.on_bar_says.append([_market(Side.BUY, "0.010"), _market(Side.BUY, "0.010")])
    rig.bar()
    rig.tick()  # both filled: long 0.020, the window full (2 of 2)
    stops = rig.engine.open_algo_orders("a", {"symbol": SYMBOL})

    rig.strategy.on_bar_says.append([_market(Side.BUY, "0.010")])  # one more entry
    rig.bar()
    rig.strategy.on_bar_says.append([_market(Side.SELL, "0.010", reduce_only=True)])
    rig.bar()  # the strategy's own reduce-only order: its loop could repeat it at will
    position_before_target = rig.engine_position()
    rig.target("0")  # the ExecManager's reduce-only close: takes risk away
    rig.tick()

    # The stop-loss of the long (2 % below 60000.0) went out with the window full.
    assert [(a["orderType"], a["closePosition"], D(a["triggerPrice"])) for a in stops] == [
        ("STOP_MARKET", True, D("58800.0"))
    ]
    rate = "max orders per minute: 2 sent in the last 60 s (max 2)"  # the stop is not counted
    assert _denials(rig) == [(Side.BUY, False, rate), (Side.SELL, True, rate)]
    assert position_before_target == D("0.020")
    assert rig.engine_position() == rig.book.position(SYMBOL).qty == D(0)


def test_a_positions_stop_loss_and_four_take_profits_leave_room_for_entries():
    """maxQty 0.050: a long 0.200 has 4 take-profits of 0.050 beside its stop-loss, 5 open
    orders, and the cap is 5. They used to fill it: no entry could be placed ("max open
    orders: 5 open on BTCUSDT (max 5)"). They are not the entries' budget; entries are."""
    rig = Rig(max_open_orders=5, stop_loss_pct=D(2), take_profit_pct=D(4))
    rig.tick()
    rig.target("0.200")
    for _ in range(5):
        rig.tick()
    protection = rig.engine.open_algo_orders("a", {"symbol": SYMBOL})
    assert sorted((a["orderType"], a["quantity"]) for a in protection) == [
        ("STOP_MARKET", "0.000"),
        *[("TAKE_PROFIT_MARKET", "0.050")] * 4,
    ]

    bids = [
        OrderProposal(
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=D("0.001"),
            price=D(59_000 - n),
            time_in_force=TimeInForce.GTC,
        )
        for n in range(6)
    ]
    rig.strategy.on_bar_says.append(bids)
    rig.bar()

    assert len(rig.engine.open_orders("a", {"symbol": SYMBOL})) == 5  # 5 of the 6 bids
    assert [d.reason for d in rig.journal.events if isinstance(d, RiskDenied)] == [
        "max open orders: 5 open on BTCUSDT (max 5)"
    ]
