"""Parameter combinations Binance refuses, over the wire: python-binance `AsyncClient` against a
running stepped `LocalExchange`.

The local exchange stands in for Binance in every daemon test; where it accepted what Binance
refuses, a daemon could pass its tests and fail live. Each case here is a rule of the protocol
reference (`binance-usdm-futures-api.md` 6.2.1: `reduceOnly` "not with closePosition",
`timeInForce` only where the type takes one, `price` only for LIMIT / STOP / TAKE_PROFIT; 3.2:
-1106 "Parameter '%s' sent when not required.") with the wording Binance answers in public
reports (the parameter name 'reduceonly' in lower case). Each refusal is checked to leave
nothing behind (no order, no algo order, no position), and the same order without the
offending parameter to be accepted, so the refusal is the parameter's doing.
"""

from decimal import Decimal
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from exchange_sim.server import LocalExchange

SYMBOL = "BTCUSDT"


def _not_required(name: str) -> tuple[int, str]:
    return -1106, f"Parameter '{name}' sent when not required."


async def _refusal(call: Any, **params: str) -> tuple[int, str]:
    with pytest.raises(BinanceAPIException) as e:
        await call(symbol=SYMBOL, **params)
    assert e.value.status_code == 400
    return e.value.code, e.value.message


async def _nothing_left(client: Any) -> None:
    assert await client.futures_get_all_orders(symbol=SYMBOL) == []
    assert await client.futures_get_open_algo_orders(symbol=SYMBOL) == []
    positions = await client.futures_position_information(symbol=SYMBOL)
    assert all(Decimal(p["positionAmt"]) == 0 for p in positions)


MARKET_BUY = {"side": "BUY", "type": "MARKET", "quantity": "0.010"}


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"timeInForce": "GTC"}, "timeInForce"),
        ({"timeInForce": "IOC"}, "timeInForce"),
        ({"price": "90000.0"}, "price"),
        ({"timeInForce": "GTC", "price": "90000.0"}, "timeInForce"),  # timeInForce named first
    ],
)
async def test_market_order_with_time_in_force_or_price_is_refused_1106(
    local_exchange: LocalExchange, binance_client: Any, extra: dict[str, str], name: str
) -> None:
    await local_exchange.step(1000)

    answer = await _refusal(binance_client.futures_create_order, **MARKET_BUY, **extra)

    assert answer == _not_required(name)
    await _nothing_left(binance_client)


async def test_market_order_without_them_fills(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    await local_exchange.step(1000)

    order = await binance_client.futures_create_order(
        symbol=SYMBOL, newOrderRespType="RESULT", **MARKET_BUY
    )

    assert (order["status"], order["executedQty"], order["timeInForce"]) == (
        "FILLED",
        "0.010",
        "GTC",
    )


async def test_market_order_in_a_batch_with_time_in_force_is_refused_in_its_slot(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    await local_exchange.step(1000)
    plain = {"symbol": SYMBOL, **MARKET_BUY, "newClientOrderId": "plain-1"}
    with_tif = {**plain, "timeInForce": "GTC", "newClientOrderId": "with-tif-1"}

    answers = await binance_client.futures_place_batch_order(batchOrders=[with_tif, plain])

    code, msg = _not_required("timeInForce")
    assert answers[0] == {"code": code, "msg": msg}
    assert answers[1]["clientOrderId"] == "plain-1"
    orders = await binance_client.futures_get_all_orders(symbol=SYMBOL)
    assert [o["clientOrderId"] for o in orders] == ["plain-1"]


async def _long(ex: LocalExchange, client: Any) -> Decimal:
    """Open a 0.010 long; return the last price (the conditionals below trigger away from it)."""
    await ex.step(1000)
    await client.futures_create_order(symbol=SYMBOL, **MARKET_BUY)
    return Decimal((await client.futures_symbol_ticker(symbol=SYMBOL))["price"])


CLOSE_ALL_STOP = {"side": "SELL", "type": "STOP_MARKET", "closePosition": "true"}


@pytest.mark.parametrize("reduce_only", ["true", "false"])
async def test_close_position_stop_with_reduce_only_is_refused_1106(
    local_exchange: LocalExchange, binance_client: Any, reduce_only: str
) -> None:
    last = await _long(local_exchange, binance_client)

    answer = await _refusal(
        binance_client.futures_create_algo_order,
        **CLOSE_ALL_STOP,
        triggerPrice=str(last - 1000),
        reduceOnly=reduce_only,
    )

    assert answer == _not_required("reduceonly")
    assert await binance_client.futures_get_open_algo_orders(symbol=SYMBOL) == []


async def test_close_position_stop_without_reduce_only_is_armed(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    last = await _long(local_exchange, binance_client)

    algo = await binance_client.futures_create_algo_order(
        symbol=SYMBOL, **CLOSE_ALL_STOP, triggerPrice=str(last - 1000)
    )

    assert (algo["algoStatus"], algo["closePosition"]) == ("NEW", True)


@pytest.mark.parametrize("kind", ["STOP_MARKET", "TAKE_PROFIT_MARKET"])
async def test_market_conditional_with_a_price_is_refused_1106(
    local_exchange: LocalExchange, binance_client: Any, kind: str
) -> None:
    last = await _long(local_exchange, binance_client)
    trigger = last - 1000 if kind == "STOP_MARKET" else last + 1000

    answer = await _refusal(
        binance_client.futures_create_algo_order,
        side="SELL",
        type=kind,
        quantity="0.010",
        reduceOnly="true",
        triggerPrice=str(trigger),
        price=str(trigger),
    )

    assert answer == _not_required("price")
    assert await binance_client.futures_get_open_algo_orders(symbol=SYMBOL) == []


async def _limit_buy(ex: LocalExchange, client: Any) -> dict[str, str]:
    """A LIMIT GTC BUY 1000 below the last price: it rests (nothing fills)."""
    await ex.step(1000)
    last = Decimal((await client.futures_symbol_ticker(symbol=SYMBOL))["price"])
    return {
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": str(last - 1000),
    }


@pytest.mark.parametrize(
    ("kind", "extra", "name"),
    [
        ("LIMIT", {"stopPrice": "80000"}, "stopPrice"),
        ("MARKET", {"stopPrice": "80000"}, "stopPrice"),
        ("LIMIT", {"activationPrice": "80000"}, "activationPrice"),
        ("MARKET", {"callbackRate": "1"}, "callbackRate"),
        ("LIMIT", {"goodTillDate": "253402300798000"}, "goodTillDate"),
    ],
)
async def test_a_parameter_the_order_type_does_not_use_is_refused_1106(
    local_exchange: LocalExchange, binance_client: Any, kind: str, extra: dict[str, str], name: str
) -> None:
    """A LIMIT "with a stop" or a GTC order "with an expiry" used to trade as if the parameter
    had not been sent; now the client hears about it and nothing is placed."""
    order = await _limit_buy(local_exchange, binance_client)
    if kind == "MARKET":
        order = MARKET_BUY

    answer = await _refusal(binance_client.futures_create_order, **order, **extra)

    assert answer == _not_required(name)
    await _nothing_left(binance_client)


async def test_a_gtd_limit_with_its_good_till_date_rests(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    order = {**await _limit_buy(local_exchange, binance_client), "timeInForce": "GTD"}

    placed = await binance_client.futures_create_order(
        symbol=SYMBOL, goodTillDate="253402300798123", **order
    )

    assert (placed["status"], placed["goodTillDate"]) == ("NEW", 253402300798000)


@pytest.mark.parametrize(
    ("kind", "extra", "name"),
    [
        ("STOP_MARKET", {"callbackRate": "1"}, "callbackRate"),
        ("STOP_MARKET", {"activatePrice": "1"}, "activatePrice"),
        ("TRAILING_STOP_MARKET", {"callbackRate": "1", "triggerPrice": "1"}, "triggerPrice"),
    ],
)
async def test_an_algo_order_with_a_trigger_its_type_does_not_use_is_refused_1106(
    local_exchange: LocalExchange, binance_client: Any, kind: str, extra: dict[str, str], name: str
) -> None:
    last = await _long(local_exchange, binance_client)
    base = {"side": "SELL", "type": kind, "quantity": "0.010", "reduceOnly": "true"}
    if kind == "STOP_MARKET":
        base["triggerPrice"] = str(last - 1000)

    answer = await _refusal(binance_client.futures_create_algo_order, **base, **extra)

    assert answer == _not_required(name)
    assert await binance_client.futures_get_open_algo_orders(symbol=SYMBOL) == []


@pytest.mark.parametrize(
    ("kind", "match", "answer"),
    [
        ("LIMIT", "BEST", (-5037, "Invalid price match.")),
        (
            "MARKET",
            "OPPONENT",
            (-5038, "Price match only supports order type: LIMIT, STOP AND TAKE_PROFIT"),
        ),
        (
            "LIMIT",
            "QUEUE",
            (-5037, "priceMatch QUEUE is not supported by the local exchange; send a price."),
        ),
    ],
)
async def test_price_match_is_refused_not_dropped(
    local_exchange: LocalExchange,
    binance_client: Any,
    kind: str,
    match: str,
    answer: tuple[int, str],
) -> None:
    """A LIMIT with priceMatch and no price (as Binance takes it) used to be refused for the
    missing price, and one with a price rested at that price, the priceMatch dropped."""
    order = await _limit_buy(local_exchange, binance_client)
    del order["price"]
    if kind == "MARKET":
        order = MARKET_BUY

    refused = await _refusal(binance_client.futures_create_order, **order, priceMatch=match)

    assert refused == answer
    await _nothing_left(binance_client)


async def test_price_match_none_with_a_price_rests_at_that_price(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    order = await _limit_buy(local_exchange, binance_client)

    placed = await binance_client.futures_create_order(symbol=SYMBOL, priceMatch="NONE", **order)

    assert (placed["status"], Decimal(placed["price"])) == ("NEW", Decimal(order["price"]))


async def test_modify_with_price_match_is_refused_and_the_order_is_unchanged(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    order = await _limit_buy(local_exchange, binance_client)
    placed = await binance_client.futures_create_order(symbol=SYMBOL, **order)

    refused = await _refusal(
        binance_client.futures_modify_order,
        orderId=placed["orderId"],
        side="BUY",
        quantity="0.010",
        priceMatch="OPPONENT",
    )

    assert refused == (
        -5037,
        "priceMatch OPPONENT is not supported by the local exchange; send a price.",
    )
    still = await binance_client.futures_get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (still["status"], Decimal(still["price"])) == ("NEW", Decimal(order["price"]))
