"""`allOrders` and `allAlgoOrders` read a time window of at most 7 days, as `userTrades` does
(reference 6.3, 6.4: "time window <= 7 days (default last 7 days)"; -4165 "Maximum time
interval is 7 days", error table 3): python-binance `AsyncClient` against a stepped
`LocalExchange` whose clock jumps 8 days between two orders (and two algo orders).

Before, both endpoints read any span: a query from the account's start listed everything, and
a client that paged Binance's history that way passed here and failed live.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from exchange_sim.server import LocalExchange

SYMBOL = "BTCUSDT"
DAY_MS = 24 * 3_600_000
WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class TwoWeeks:
    client: Any
    orders: list[dict]  # the order placed first, then the one 8 days later
    algos: list[dict]  # the same for algo orders


async def _place(client: Any, n: int) -> tuple[dict, dict]:
    placed = await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.002", newClientOrderId=f"m-{n}"
    )
    order = await client.futures_get_order(symbol=SYMBOL, orderId=placed["orderId"])
    algo = await client.futures_create_algo_order(
        symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity="0.002",
        triggerPrice="10000.0", clientAlgoId=f"sl-{n}",
    )  # fmt: skip
    return order, algo


@pytest.fixture
async def two_weeks(local_exchange: LocalExchange, binance_client: Any) -> AsyncIterator[TwoWeeks]:
    await local_exchange.step(1000)
    first, first_algo = await _place(binance_client, 0)
    assert local_exchange.clock.sim is not None
    local_exchange.clock.sim.advance_ms(8 * DAY_MS)  # the clock alone: the book stays
    second, second_algo = await _place(binance_client, 1)
    yield TwoWeeks(binance_client, [first, second], [first_algo, second_algo])


def _ids(rows: list[dict], key: str) -> list[int]:
    return [r[key] for r in rows]


async def test_all_orders_refuses_a_window_over_7_days(two_weeks: TwoWeeks) -> None:
    client, start = two_weeks.client, two_weeks.orders[0]["time"]
    with pytest.raises(BinanceAPIException) as info:
        await client.futures_get_all_orders(
            symbol=SYMBOL, startTime=start, endTime=start + WEEK_MS + 1
        )
    assert (info.value.code, info.value.message) == (-4165, "Maximum time interval is 7 days")
    week = await client.futures_get_all_orders(
        symbol=SYMBOL, startTime=start, endTime=start + WEEK_MS
    )
    assert _ids(week, "orderId") == [two_weeks.orders[0]["orderId"]]


async def test_all_orders_reads_the_last_7_days_or_the_7_from_a_start(two_weeks: TwoWeeks) -> None:
    client, (first, second) = two_weeks.client, two_weeks.orders

    recent = await client.futures_get_all_orders(symbol=SYMBOL)
    from_first = await client.futures_get_all_orders(symbol=SYMBOL, startTime=first["time"])
    by_id = await client.futures_get_all_orders(symbol=SYMBOL, orderId=first["orderId"])

    assert _ids(recent, "orderId") == [second["orderId"]]
    assert _ids(from_first, "orderId") == [first["orderId"]]
    assert _ids(by_id, "orderId") == [first["orderId"], second["orderId"]]


async def test_all_algo_orders_refuses_a_window_over_7_days(two_weeks: TwoWeeks) -> None:
    client, start = two_weeks.client, two_weeks.algos[0]["createTime"]
    with pytest.raises(BinanceAPIException) as info:
        await client.futures_get_all_algo_orders(
            symbol=SYMBOL, startTime=start, endTime=start + WEEK_MS + 1
        )
    assert (info.value.code, info.value.message) == (-4165, "Maximum time interval is 7 days")


async def test_all_algo_orders_reads_the_last_7_days_or_from_an_id(two_weeks: TwoWeeks) -> None:
    client, (first, second) = two_weeks.client, two_weeks.algos

    recent = await client.futures_get_all_algo_orders(symbol=SYMBOL)
    from_first = await client.futures_get_all_algo_orders(
        symbol=SYMBOL, startTime=first["createTime"]
    )
    by_id = await client.futures_get_all_algo_orders(symbol=SYMBOL, algoId=first["algoId"], limit=1)

    assert _ids(recent, "algoId") == [second["algoId"]]
    assert _ids(from_first, "algoId") == [first["algoId"]]
    assert _ids(by_id, "algoId") == [first["algoId"]]  # `limit` rows from the id on
