"""`RiskManager.check_cancel`: a strategy's cancel of its own open order passes in every
trading state; the position's protection, an order not open, and (while REDUCING) an order
closing the position are refused with the reason."""

from decimal import Decimal as D

import pytest

from core.enums import OrderStatus, OrderType, Side, TimeInForce, TradingState
from core.events import CancelDenied
from core.orders import CancelProposal, Order
from tests.risk_manager.helpers import NOON_MS


def order(
    cid: str = "bfd-7",
    *,
    type: OrderType = OrderType.LIMIT,
    side: Side = Side.BUY,
    reduce_only: bool = False,
    close_position: bool = False,
    status: OrderStatus = OrderStatus.NEW,
    symbol: str = "BTCUSDT",
) -> Order:
    return Order(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        type=type,
        quantity=D(0) if close_position else D("0.010"),
        price=D(59000) if type is OrderType.LIMIT else None,
        time_in_force=TimeInForce.GTC if type is OrderType.LIMIT else None,
        status=status,
        created_ms=NOON_MS,
        updated_ms=NOON_MS,
        stop_price=D(58800)
        if type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        else None,
        reduce_only=reduce_only,
        close_position=close_position,
    )


def cancel(cid: str = "bfd-7") -> CancelProposal:
    return CancelProposal(symbol="BTCUSDT", client_order_id=cid)


@pytest.mark.parametrize("state", list(TradingState))
def test_a_cancel_of_the_strategys_open_order_passes_in_every_state(risk, state):
    risk.restore_state(state, "" if state is TradingState.ACTIVE else "max drawdown: test")

    assert risk.check_cancel(cancel(), order()) is None


def test_a_cancel_counts_toward_no_order_limit(make_risk):
    risk = make_risk(max_orders_per_minute=1)

    for _ in range(3):
        assert risk.check_cancel(cancel(), order()) is None


def test_a_cancel_of_the_stop_loss_is_denied_naming_it(risk):
    stop = order(type=OrderType.STOP_MARKET, side=Side.SELL, close_position=True)

    denied = risk.check_cancel(cancel(), stop)

    assert isinstance(denied, CancelDenied)
    assert denied.reason == (
        "order bfd-7 is the position's exchange-side stop-loss: the risk manager places, moves "
        "and cancels it (risk.stop_loss_pct / take_profit_pct), not the strategy"
    )


def test_a_cancel_of_the_take_profit_is_denied_naming_it(risk):
    tp = order(type=OrderType.TAKE_PROFIT_MARKET, side=Side.SELL, reduce_only=True)

    denied = risk.check_cancel(cancel(), tp)

    assert isinstance(denied, CancelDenied) and "exchange-side take-profit" in denied.reason


def test_a_cancel_of_no_open_order_is_denied_stamped_with_the_clock(risk):
    denied = risk.check_cancel(cancel("bfd-99"), None)

    assert denied == CancelDenied(
        event_time_ms=NOON_MS,
        recv_time_ms=NOON_MS,
        symbol="BTCUSDT",
        client_order_id="bfd-99",
        reason="no open order bfd-99: it ended already, or is not ours",
    )


def test_a_cancel_naming_another_symbol_is_denied(risk):
    denied = risk.check_cancel(cancel(), order(symbol="ETHUSDT"))

    assert isinstance(denied, CancelDenied)
    assert denied.reason == "order bfd-7 is of ETHUSDT, not BTCUSDT"


def test_a_cancel_of_a_reduce_only_order_while_reducing_is_denied(risk):
    risk.restore_state(TradingState.REDUCING, "kill switch: test")

    denied = risk.check_cancel(cancel(), order(type=OrderType.MARKET, reduce_only=True))

    assert isinstance(denied, CancelDenied)
    assert denied.reason == (
        "order bfd-7 is reduce-only and trading is REDUCING (kill switch: test): it closes "
        "the position"
    )
