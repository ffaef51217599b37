"""A close the exchange refuses is tried again on a backoff, not at every retry or price, on the
in-process matching engine (`engine_rig.py`), requests counted.

The strategy buys 0.100 BTCUSDT at the market (60000.1, the recorded ask) with a 2 % stop-loss
(58800.1). As that fill comes back, the exchange's price falls to 58000.0 and its recorded book
thins out to a bid of 40000.0: the stop is refused as already triggered (-2021), and every
SELL at the market is refused (-4131: 40000.0 is below the MARKET bound, 58000.0 x (1 - 0.30) =
40600.0). The refused close is tried again 2 s after the refusal, then 4, 8, 16, 32 s after the
previous one (`ExecConfig.flatten_retry_ms` doubling up to `close_retry_max_ms`, 60 s): at
0.1 s, 2.1, 6.1, 14.1, 30.1, 62.1, then every 60 s. Before, in ACTIVE the close the plan sent for
the crossed level was never tried again (the position sat unguarded), and in REDUCING the
flatten went every 2 s for as long as the book stayed thin.
"""

import logging
from decimal import Decimal as D

from core.enums import OrderType, Side, TradingState
from core.events import DecisionMade, OrderFilled
from core.orders import OrderProposal
from tests.trading_engine.engine_rig import SYMBOL, T0, EngineRig

SELL_CLOSE = (Side.SELL, OrderType.MARKET, D("0.100"), True, False)


def thin_book_after_entry() -> EngineRig:
    """The rig holding the long 0.100 from 60000.1 on an exchange at 58000.0 with a bid of
    40000.0: the stop refused (-2021), its market close refused (-4131), both at T0 + 100."""
    rig = EngineRig(stop_loss_pct=D(2))
    listener = rig.venue.listener
    fell: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, OrderFilled) and event.fill.side is Side.BUY and not fell:
            fell.append(rig.clock.now_ms())
            t = fell[0]
            rig.touch("40000.0", "58000.1")
            rig.engine.on_mark_price(SYMBOL, D("58000.0"), D("58000.0"), D(0), t + 3_600_000, t)
            rig.engine.on_trade(SYMBOL, D("58000.0"), D("0.5"), False, t)
        listener(event)  # type: ignore[misc]

    rig.venue.listener = on_event
    rig.touch("59999.9", "60000.1")
    rig.tick("60000.0")
    # An order, not a target: the re-entry hold after the close's fill is not this test's
    # subject (`test_a_crossed_levels_close_that_fills_holds_the_side_it_closed`).
    rig.say(OrderProposal(symbol=SYMBOL, side=Side.BUY, type=OrderType.MARKET, quantity=D("0.1")))
    assert rig.sent() == [
        (Side.BUY, OrderType.MARKET, D("0.100"), False, False),
        (Side.SELL, OrderType.STOP_MARKET, None, True, True),
        SELL_CLOSE,
    ]
    assert rig.rejections() == [-2021, -4131]
    assert rig.book.position(SYMBOL).qty == rig.engine_position() == D("0.100")
    return rig


def close_times(rig: EngineRig) -> list[int]:
    """When (ms after T0) each close / flatten at the market was decided (a crossed level's
    close is the bare order: "SELL 0.100 MARKET")."""
    return [
        e.event_time_ms - T0
        for e in rig.journal.events
        if isinstance(e, DecisionMade)
        and (e.action.startswith(("close SELL", "flatten SELL")) or e.action == "SELL 0.100 MARKET")
    ]


def test_a_refused_past_stop_close_is_retried_on_a_backoff_and_closes_once_the_book_heals(caplog):
    rig = thin_book_after_entry()

    with caplog.at_level(logging.INFO, logger="trading_engine.exec_manager"):
        for n in range(2, 651):  # a trade at 58000.0 every 100 ms, up to T0 + 65 s
            if n == 400:  # at 40 s the book is whole again (the next retry is at 62.1 s)
                rig.touch("57999.9", "58000.1")
            rig.tick("58000.0")

    # 650 prices, 6 closes: the -2021's at once, then at 2.1 s, 6.1, 14.1, 30.1 (all -4131),
    # and the one at 62.1 s, on the whole book, filled.
    assert close_times(rig) == [100, 2_100, 6_100, 14_100, 30_100, 62_100]
    assert rig.rejections() == [-2021] + [-4131] * 5
    assert rig.sent()[3:] == [SELL_CLOSE] * 5  # no stop again: the plan saw the level crossed
    assert rig.book.position(SYMBOL).qty == rig.engine_position() == 0
    assert rig.book.wallet() == rig.engine_wallet()
    assert rig.em.counters.refused_closes == 5  # the closes (the stop's -2021 is no close)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    [once] = [m for m in warned if "refused the market close" in m]
    assert "tried again in 2 s" in once  # the stop's -2021 and its close: one round
    assert "no stop-loss on the exchange" in once
    assert rig.em.trading_state is TradingState.ACTIVE


def test_a_refused_flatten_while_reducing_is_retried_on_a_backoff_capped_at_60_s(caplog):
    rig = thin_book_after_entry()
    rig.em.kill("operator")  # a new state: the flatten goes at once (T0 + 100), refused

    with caplog.at_level(logging.INFO, logger="trading_engine.exec_manager"):
        for s in range(1, 201):  # the daemon's one-second timer, no market data, 200 s
            rig.clock.set_ms(T0 + 100 + s * 1_000)
            rig.em.on_timer()
            rig.venue.pump()

    # 8 flattens in 200 s (101 before: one every 2 s): at 0.1 s, then 2, 4, 8, 16, 32, 60, 60
    # s after the last refusal (the timer's retry tick, every 2 s, is when they go).
    flattens = [t for t in close_times(rig) if t >= 100][1:]  # the ACTIVE close at 0.1 s aside
    assert flattens == [100, 2_100, 6_100, 14_100, 30_100, 62_100, 122_100, 182_100]
    assert rig.rejections() == [-2021] + [-4131] * 9
    assert rig.em.trading_state is TradingState.REDUCING
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warned if "refused the flatten" in m]) == 1
    assert len([r for r in caplog.records if "refused again" in r.getMessage()]) == 7

    rig.touch("57999.9", "58000.1")  # the book heals: the next retry (242.1 s) flattens
    for s in range(201, 243):
        rig.clock.set_ms(T0 + 100 + s * 1_000)
        rig.em.on_timer()
        rig.venue.pump()
    assert close_times(rig)[-1] == 242_100
    assert rig.book.position(SYMBOL).qty == rig.engine_position() == 0
    assert rig.em.trading_state is TradingState.HALTED
