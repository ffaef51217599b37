"""A strategy sees its own open orders in its view and cancels one with a CancelProposal:
journaled as a decision, checked by the RiskManager (in any trading state), then the venue's
cancel. The position's stop-loss is not the strategy's: neither listed nor cancelled.

Numbers by hand as in test_exec_manager: BTCUSDT marks at 60000; stop-loss 2 % below the
entry (58800.0); client ids te-1, te-2, ... in the order the ExecManager makes them.
"""

from collections.abc import Sequence
from decimal import Decimal as D

from core.enums import OrderStatus, OrderType, Side, TimeInForce, TradingState
from core.events import CancelDenied, DecisionMade
from core.market import Bar
from core.orders import CancelProposal, Order, OrderProposal, TargetPosition
from tests.trading_engine.support import ScriptedStrategy, make_rig
from trading_engine.exec_manager import ExecConfig
from trading_engine.main_trading_strategy import Proposals

SLOW_STALE = ExecConfig(symbols=("BTCUSDT",), stale_order_ms=3_600_000)


class Watching(ScriptedStrategy):
    """Scripted, and notes what its view lists at each bar."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[Sequence[Order]] = []

    def on_bar(self, bar: Bar, view) -> Proposals:  # type: ignore[no-untyped-def]
        self.listed.append(view.open_orders("BTCUSDT"))
        return super().on_bar(bar, view)


def bid(qty: str = "0.050", price: str = "59000") -> OrderProposal:
    return OrderProposal(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D(price),
        time_in_force=TimeInForce.GTC,
        reason="bid",
    )


def cancel(cid: str) -> CancelProposal:
    return CancelProposal(symbol="BTCUSDT", client_order_id=cid, reason="no longer wanted")


def resting_bid(rig) -> str:
    """A LIMIT BUY 0.050 @ 59000 of the strategy, accepted by the venue: its client id."""
    rig.say(bid())
    cid = rig.last_cid()
    rig.venue.accept(cid)
    return cid


def test_the_view_lists_the_strategys_open_order_with_its_fill_and_status():
    rig = make_rig(strategy=Watching(), config=SLOW_STALE)
    cid = resting_bid(rig)
    rig.venue.fill(cid, "59000", "0.020", maker=True)

    rig.next_bar()

    [order] = rig.strategy.listed[-1]
    assert (order.client_order_id, order.side, order.type, order.price) == (
        "te-1",
        Side.BUY,
        OrderType.LIMIT,
        D("59000"),
    )
    assert (order.quantity, order.filled_qty, order.status) == (
        D("0.050"),
        D("0.020"),
        OrderStatus.PARTIALLY_FILLED,
    )


def test_the_view_leaves_out_the_stop_loss_that_protects_the_position():
    rig = make_rig(strategy=Watching(), stop_loss_pct=D(2))
    rig.say(TargetPosition(symbol="BTCUSDT", qty=D("0.100")))
    rig.venue.accept("te-1")
    rig.venue.fill("te-1", "60000")
    stop = rig.venue.submitted[-1]
    rig.venue.accept(stop.client_order_id)

    rig.next_bar()

    assert stop.type is OrderType.STOP_MARKET and stop.client_order_id in rig.book.orders
    assert rig.strategy.listed[-1] == ()
    assert rig.book.open_order_count("BTCUSDT") == 1  # what the view's count still says


def test_a_cancel_is_journaled_as_the_strategys_decision_before_the_venue_hears_of_it():
    rig = make_rig(config=SLOW_STALE)
    cid = resting_bid(rig)
    journaled_at_cancel: list[list[str]] = []
    send = rig.venue.cancel

    def cancel_seen(symbol: str, client_order_id: str) -> None:
        journaled_at_cancel.append(rig.kinds())
        send(symbol, client_order_id)

    rig.em._real_fx.cancel = cancel_seen  # the venue's cancel, as the order path calls it

    rig.say(cancel(cid))

    assert rig.venue.cancels == [("BTCUSDT", "te-1")]
    decision = rig.journaled(DecisionMade)[-1]
    assert (decision.strategy, decision.action, decision.reason) == (
        "scripted",
        "cancel te-1",
        "no longer wanted",
    )
    assert journaled_at_cancel[0][-1] == "DecisionMade"
    assert rig.em.counters.strategy_cancels == 1


def test_a_cancelled_order_leaves_the_view_once_the_venue_confirms_it():
    rig = make_rig(strategy=Watching(), config=SLOW_STALE)
    cid = resting_bid(rig)
    rig.say(cancel(cid))

    rig.venue.confirm_cancel(cid)
    rig.next_bar()

    assert rig.strategy.listed[-2] != () and rig.strategy.listed[-1] == ()


def test_a_cancel_passes_while_halted():
    """A daemon restarted HALTED with an order of its strategy still open: cancelling it only
    takes exposure away, so it goes out (an entry would be denied)."""
    rig = make_rig(config=SLOW_STALE)
    cid = resting_bid(rig)
    rig.risk.restore_state(TradingState.HALTED, "max drawdown: test")

    rig.say(cancel(cid))

    assert rig.venue.cancels == [("BTCUSDT", cid)]
    assert rig.journaled(CancelDenied) == []


def test_cancelling_the_stop_loss_is_denied_with_the_reason_and_never_reaches_the_venue():
    rig = make_rig(stop_loss_pct=D(2))
    rig.say(TargetPosition(symbol="BTCUSDT", qty=D("0.100")))
    rig.venue.accept("te-1")
    rig.venue.fill("te-1", "60000")
    rig.venue.accept("te-2")  # the stop-loss at 58800.0

    rig.say(cancel("te-2"))

    assert rig.venue.cancels == []
    assert rig.kinds()[-2:] == ["DecisionMade", "CancelDenied"]
    assert rig.journaled(CancelDenied)[-1].reason == (
        "order te-2 is the position's exchange-side stop-loss: the risk manager places, moves "
        "and cancels it (risk.stop_loss_pct / take_profit_pct), not the strategy"
    )


def test_cancelling_an_order_that_is_not_open_every_bar_is_denied_and_journaled_once():
    rig = make_rig()

    rig.say(cancel("te-99"))
    rig.say(cancel("te-99"))

    [denied] = rig.journaled(CancelDenied)
    assert denied.reason == "no open order te-99: it ended already, or is not ours"
    assert len(rig.journaled(DecisionMade)) == 1
    assert rig.em.counters.denied_repeats == 1 and rig.em.counters.cancels_denied == 1


def test_a_cancel_already_on_its_way_is_neither_sent_nor_journaled_again():
    rig = make_rig(config=SLOW_STALE)
    cid = resting_bid(rig)
    rig.say(cancel(cid))
    journaled = len(rig.journal.events)

    rig.say(cancel(cid))

    assert rig.venue.cancels == [("BTCUSDT", cid)]
    assert len(rig.journal.events) == journaled
