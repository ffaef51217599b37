"""A symbol the journal traded and `symbols` no longer names: what the start says of it
(`check_untraded_symbols`; the refusal of one still held is run end to end in
tests/daemon/test_daemon_restart.py)."""

import asyncio
from decimal import Decimal
from typing import Any

from core.enums import OrderStatus, OrderType, Side
from core.orders import Order
from trading_engine.account_checks import check_untraded_symbols


class Exchange:
    """The REST connection's `call`: ETHUSDT flat and without open orders."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, /, **params: Any) -> Any:
        self.calls.append((method, params))
        if method == "futures_position_information":
            row = {"symbol": "ETHUSDT", "positionAmt": "0", "entryPrice": "0", "leverage": "3",
                   "marginType": "cross", "positionSide": "BOTH"}  # fmt: skip
            return [row]
        return []


def _stop(cid: str, order_type: OrderType, symbol: str = "ETHUSDT") -> Order:
    return Order(
        client_order_id=cid,
        symbol=symbol,
        side=Side.SELL,
        type=order_type,
        quantity=Decimal("0.110"),
        price=None,
        time_in_force=None,
        status=OrderStatus.NEW,
        created_ms=1,
        updated_ms=1,
    )


def test_a_removed_symbols_orders_that_ended_while_no_daemon_ran_are_warned_of():
    """ETHUSDT removed after its stop-loss filled while the daemon was down: the start went
    on in silence, the fill never booked and its loss taken as money moved out."""
    journal_open = [
        _stop("bfd-64", OrderType.STOP_MARKET),
        _stop("bfd-65", OrderType.TAKE_PROFIT_MARKET),
        _stop("bfd-66", OrderType.STOP_MARKET, symbol="BTCUSDT"),  # traded: the venue's
    ]

    warnings = asyncio.run(check_untraded_symbols(Exchange(), {"ETHUSDT"}, journal_open))  # type: ignore[arg-type]

    assert warnings == [
        "ETHUSDT is no longer in symbols, and its order(s) bfd-64 (SELL STOP_MARKET), bfd-65 "
        "(SELL TAKE_PROFIT_MARKET), open when a daemon last traded it, are no longer open on "
        "the exchange: if one filled (a stop-loss while the daemon was down), that fill is not "
        "booked and the wallet's change is taken as money moved in or out; add ETHUSDT back to "
        "symbols for one start to book how they ended"
    ]


def test_a_removed_symbol_flat_with_nothing_open_in_the_journal_goes_on_quietly():
    exchange = Exchange()

    warnings = asyncio.run(check_untraded_symbols(exchange, {"ETHUSDT"}, []))  # type: ignore[arg-type]

    assert warnings == []
    assert [method for method, _ in exchange.calls] == [
        "futures_position_information",
        "futures_get_open_orders",
        "futures_get_open_algo_orders",
    ]
