"""The reasons journaled for the stop-loss and take-profit the ExecManager places and cancels,
as orders.csv and the journal show them (`why_sent`, `why_cancelled`): "protect BTCUSDT -0.010
@ 94513.30" read as a command, "protect BTCUSDT 0.000 @ 0" did not say the position had
closed, and an average entry of several fills was said to 28 digits."""

from dataclasses import replace
from decimal import Decimal as D

from core.events import DecisionMade
from tests.trading_engine.support import Rig, make_rig
from tests.trading_engine.test_exec_manager import go_long, target


def _long_with_its_orders() -> Rig:
    """Long 0.010 from 60000, its stop-loss (58800.0) and take-profit (62400.0) accepted."""
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(4))
    go_long(rig, "0.010", "60000")
    for request in rig.venue.submitted[-2:]:
        rig.venue.accept(request.client_order_id)
    return rig


def _cancels(rig: Rig) -> list[tuple[str, str]]:
    return [
        (d.action, d.reason) for d in rig.journaled(DecisionMade) if d.action.startswith("cancel ")
    ]


def test_a_flip_cancels_the_old_orders_saying_the_position_they_were_replaced_for() -> None:
    rig = _long_with_its_orders()

    rig.say(target("-0.010"))
    flip = rig.last_cid()
    rig.venue.accept(flip)
    rig.venue.fill(flip, "60100")

    said = "replaced: the position is now BTCUSDT -0.010 @ 60100.0"
    assert _cancels(rig) == [("cancel te-2", said), ("cancel te-3", said)]


def test_the_take_profit_left_by_a_closed_position_is_cancelled_saying_so() -> None:
    rig = _long_with_its_orders()

    rig.say(target("0"))
    close = rig.last_cid()
    rig.venue.accept(close)
    rig.venue.fill(close, "60100")

    said = "the BTCUSDT position is closed"
    assert _cancels(rig) == [("cancel te-2", said), ("cancel te-3", said)]


def test_the_stop_for_an_entry_of_three_fills_says_it_to_the_tick() -> None:
    """One order filled in three parts, at 60000, 60000.1 and 60000.1: the entry averages
    60000.0666..., said "60000.1" (the stop itself, 58800.1, is 2 % under the whole of it). A
    stop for the first part goes out meanwhile; the full plan replaces it."""
    rig = make_rig(stop_loss_pct=D(2), take_profit_pct=D(4))
    rig.say(target("0.030"))
    entry = rig.last_cid()
    rig.venue.accept(entry)
    rig.venue.fill(entry, "60000", "0.010")
    meanwhile = rig.last_cid()
    rig.venue.accept(meanwhile)
    for price in ("60000.1", "60000.1"):
        rig.venue.fill(entry, price, "0.010")
    rig.venue.confirm_cancel(meanwhile)  # the new stop on its side goes out after it (-4130)

    assert [(d.action, d.reason) for d in rig.journaled(DecisionMade)[1:]] == [
        (
            "SELL close-position STOP_MARKET stop 58800.0",
            "stop-loss 2% from entry 60000.0 (meanwhile: an order of BTCUSDT is in flight)",
        ),
        ("cancel te-2", "replaced: the position is now BTCUSDT 0.030 @ 60000.1"),
        ("SELL close-position STOP_MARKET stop 58800.1", "stop-loss 2% from entry 60000.1"),
        ("SELL 0.030 TAKE_PROFIT_MARKET stop 62400.0", "take-profit 4% from entry 60000.1"),
    ]


def test_a_take_profit_the_settings_no_longer_want_is_cancelled_saying_so() -> None:
    """A restart with take_profit_pct 0 finds the earlier take-profit on the exchange: it goes,
    and its why_cancelled names the setting ("replaced: the position is now ..." named a
    position that had not changed). The stop-loss, still wanted at the same level, stays."""
    rig = _long_with_its_orders()
    rig.risk.config = replace(rig.risk.config, take_profit_pct=D(0))

    rig.em._protection.dirty.add("BTCUSDT")
    rig.em._protection.settle(rig.clock.now_ms())

    assert _cancels(rig) == [("cancel te-3", "no take-profit wanted: risk.take_profit_pct is 0")]
