"""History lookups over the wire, answered from the indexes: python-binance `AsyncClient`
against a running stepped `LocalExchange`.

Six MARKET orders a second apart (BUY, SELL, ...; each fills at the recorded book) and a
canceled LIMIT, then `allOrders` (orderId / startTime / endTime / limit: reference 6.4),
`userTrades` (orderId / fromId / startTime / limit: 6.9), `income` (incomeType / page: 7.8) and
`algoOrder` by a `clientAlgoId` used twice (the latest: 6.3). Every expected answer is built in
the test from what the exchange answered when the orders were placed (ids, times), never from
the exchange's own lookups.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from exchange_sim.server import LocalExchange, connected_client

SYMBOL = "BTCUSDT"


@dataclass(frozen=True, slots=True)
class History:
    client: Any
    orders: list[dict]  # as GET /fapi/v1/order answered right after each was placed
    fills: dict[int, list[dict]]  # orderId -> its fills, as userTrades?orderId= answered then


@pytest.fixture
async def history(exchange_factory) -> AsyncIterator[History]:
    ex: LocalExchange = await exchange_factory()
    await ex.step(1000)
    async with connected_client(ex) as client:
        orders: list[dict] = []
        fills: dict[int, list[dict]] = {}
        for n in range(6):
            placed = await client.futures_create_order(
                symbol=SYMBOL,
                side="BUY" if n % 2 == 0 else "SELL",
                type="MARKET",
                quantity="0.002",
                newClientOrderId=f"m-{n}",
            )
            oid = placed["orderId"]
            orders.append(await client.futures_get_order(symbol=SYMBOL, orderId=oid))
            fills[oid] = await client.futures_account_trades(symbol=SYMBOL, orderId=oid)
            if n == 2:
                resting = await client.futures_create_order(
                    symbol=SYMBOL,
                    side="BUY",
                    type="LIMIT",
                    timeInForce="GTC",
                    quantity="0.002",
                    price="50000.0",
                    newClientOrderId="l-2",
                )
                await client.futures_cancel_order(symbol=SYMBOL, orderId=resting["orderId"])
                orders.append(
                    await client.futures_get_order(symbol=SYMBOL, orderId=resting["orderId"])
                )
            await ex.step(1000)
        yield History(client=client, orders=orders, fills=fills)


def _ids(rows: list[dict], key: str = "orderId") -> list[int]:
    return [r[key] for r in rows]


async def test_all_orders_pages_by_id_and_time(history: History) -> None:
    client, orders = history.client, history.orders
    ids = _ids(orders)
    third, fifth = orders[2], orders[5]

    every = await client.futures_get_all_orders(symbol=SYMBOL)
    newest_two = await client.futures_get_all_orders(symbol=SYMBOL, limit=2)
    from_third = await client.futures_get_all_orders(symbol=SYMBOL, orderId=third["orderId"])
    from_third_2 = await client.futures_get_all_orders(
        symbol=SYMBOL, orderId=third["orderId"], limit=2
    )
    between = await client.futures_get_all_orders(
        symbol=SYMBOL, startTime=third["time"], endTime=fifth["time"]
    )

    assert ids == sorted(ids) and len(ids) == 7
    assert _ids(every) == ids
    assert _ids(newest_two) == ids[-2:]
    assert _ids(from_third) == ids[2:]
    assert _ids(from_third_2) == ids[2:4]
    # orders[3] is the canceled LIMIT, placed in the same second as orders[2]
    assert _ids(between) == [
        o["orderId"] for o in orders if third["time"] <= o["time"] <= fifth["time"]
    ]
    assert [o["status"] for o in every] == ["FILLED"] * 3 + ["CANCELED"] + ["FILLED"] * 3


async def test_user_trades_by_order_from_id_and_time(history: History) -> None:
    client, fills = history.client, history.fills
    in_order = [f for oid in sorted(fills) for f in fills[oid]]
    second_oid = sorted(fills)[1]
    start = fills[second_oid][0]

    every = await client.futures_account_trades(symbol=SYMBOL)
    of_second = await client.futures_account_trades(symbol=SYMBOL, orderId=second_oid)
    from_id = await client.futures_account_trades(symbol=SYMBOL, fromId=start["id"], limit=3)
    from_time = await client.futures_account_trades(symbol=SYMBOL, startTime=start["time"])
    newest = await client.futures_account_trades(symbol=SYMBOL, limit=2)

    assert _ids(every, "id") == _ids(in_order, "id")
    assert of_second == fills[second_oid]
    first_of_second = _ids(in_order, "id").index(start["id"])
    assert _ids(from_id, "id") == _ids(in_order, "id")[first_of_second : first_of_second + 3]
    assert _ids(from_time, "id") == [f["id"] for f in in_order if f["time"] >= start["time"]]
    assert _ids(newest, "id") == _ids(in_order, "id")[-2:]


async def test_income_by_type_and_page(history: History) -> None:
    client, fills = history.client, history.fills
    in_order = [f for oid in sorted(fills) for f in fills[oid]]

    commissions = await client.futures_income_history(symbol=SYMBOL, incomeType="COMMISSION")
    page_2 = await client.futures_income_history(
        symbol=SYMBOL, incomeType="COMMISSION", limit=2, page=2
    )

    # one COMMISSION income per fill, its tradeId the fill's id, its amount minus the fee
    assert [(i["tradeId"], i["income"]) for i in commissions] == [
        (str(f["id"]), f"-{f['commission']}") for f in in_order
    ]
    assert page_2 == commissions[2:4]


async def test_algo_order_by_a_client_id_used_twice_is_the_latest(history: History) -> None:
    client = history.client
    params = {"symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET", "quantity": "0.002"}
    first = await client.futures_create_algo_order(
        **params, triggerPrice="50000.0", clientAlgoId="sl-x"
    )
    await client.futures_cancel_algo_order(algoId=first["algoId"])
    second = await client.futures_create_algo_order(
        **params, triggerPrice="50100.0", clientAlgoId="sl-x"
    )

    found = await client.futures_get_algo_order(clientAlgoId="sl-x")
    by_id = await client.futures_get_algo_order(algoId=first["algoId"])

    assert (found["algoId"], found["algoStatus"], found["triggerPrice"]) == (
        second["algoId"],
        "NEW",
        "50100.00",
    )
    assert (by_id["algoStatus"], by_id["triggerPrice"]) == ("CANCELED", "50000.00")
