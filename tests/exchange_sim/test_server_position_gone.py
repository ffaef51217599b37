"""Conditional orders of a position that is gone, over the wire: python-binance `AsyncClient`
(REST) and the `websockets` library (user stream) against a running stepped `LocalExchange`.

Reference 6.3: algoStatus EXPIRED is "system-cancelled, e.g. GTE_GTC order whose position was
closed" (a closePosition stop or take-profit); 10.8: a liquidation expires the open orders.
Before, the local exchange left them armed, so a daemon's stop of a liquidated (or closed)
position looked alive in every test and could close the next position it opened.

The liquidation is driven by real recorded prices, as in `test_server_money.py`: on
`klines-week` BTCUSDT falls about 0.5 % in the first two hours of 2025-05-06, enough to
liquidate a 125x long.
"""

from decimal import Decimal
from typing import Any

import pytest
import websockets

from exchange_sim.engine import EngineConfig
from exchange_sim.server import LocalExchange, connected_client
from tests.exchange_sim.ws_helpers import events_until_quiet

SYMBOL = "BTCUSDT"
STEP_MS = 10 * 60_000
MAX_STEPS = 18  # 3 h of replay: the dip liquidates the long in ~1 h 45


def d(value: Any) -> Decimal:
    return Decimal(str(value))


def _algo_updates(events: list[dict]) -> list[tuple[int, str]]:
    return [(e["o"]["aid"], e["o"]["X"]) for e in events if e["e"] == "ALGO_UPDATE"]


async def _open_long(client: Any, qty: str) -> Decimal:
    """MARKET BUY `qty`; returns the entry price."""
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)
    [position] = await client.futures_position_information(symbol=SYMBOL)
    return d(position["entryPrice"])


async def test_market_close_expires_the_close_position_stop_and_keeps_the_reduce_only_take(
    local_exchange: LocalExchange, binance_client: Any
) -> None:
    ex, client = local_exchange, binance_client
    await ex.step(1000)
    entry = await _open_long(client, "0.010")
    stop = await client.futures_create_algo_order(
        symbol=SYMBOL,
        side="SELL",
        type="STOP_MARKET",
        triggerPrice=str(entry - 1000),
        closePosition="true",
    )
    take = await client.futures_create_algo_order(
        symbol=SYMBOL,
        side="SELL",
        type="TAKE_PROFIT_MARKET",
        triggerPrice=str(entry + 1000),
        quantity="0.010",
        reduceOnly="true",
    )
    key = await client.futures_stream_get_listen_key()
    async with websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws:
        await client.futures_create_order(
            symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.010"
        )
        events = await events_until_quiet(user_ws)

    assert _algo_updates(events) == [(stop["algoId"], "EXPIRED")]
    queried = await client.futures_get_algo_order(algoId=stop["algoId"])
    assert queried["algoStatus"] == "EXPIRED"
    listed = await client.futures_get_open_algo_orders(symbol=SYMBOL)
    assert [(a["algoId"], a["algoStatus"]) for a in listed] == [(take["algoId"], "NEW")]


@pytest.fixture
async def liquidated(exchange_factory) -> dict[str, Any]:
    """A 0.100 BTC long at 125x on 80 USDT with a closePosition stop below its liquidation
    price, a reduce-only take-profit above and a BUY stop that would open a position, stepped
    on real prices until the long is liquidated."""
    config = EngineConfig(fixed_funding_rate=Decimal(0))  # no funding moving the wallet
    ex: LocalExchange = await exchange_factory(
        data="klines-week", balance=Decimal(80), engine_config=config
    )
    await ex.step(60_000)
    async with connected_client(ex) as client:
        await client.futures_change_leverage(symbol=SYMBOL, leverage=125)
        entry = await _open_long(client, "0.100")
        placed = {
            "stop": await client.futures_create_algo_order(
                symbol=SYMBOL,
                side="SELL",
                type="STOP_MARKET",
                triggerPrice=str((entry * Decimal("0.9")).quantize(Decimal("0.1"))),
                closePosition="true",
            ),
            "take": await client.futures_create_algo_order(
                symbol=SYMBOL,
                side="SELL",
                type="TAKE_PROFIT_MARKET",
                triggerPrice=str((entry * Decimal("1.1")).quantize(Decimal("0.1"))),
                quantity="0.100",
                reduceOnly="true",
            ),
            "entry": await client.futures_create_algo_order(
                symbol=SYMBOL,
                side="BUY",
                type="STOP_MARKET",
                triggerPrice=str((entry * Decimal("1.1")).quantize(Decimal("0.1"))),
                quantity="0.001",
            ),
        }
        key = await client.futures_stream_get_listen_key()
        async with websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws:
            for _ in range(MAX_STEPS):
                await ex.step(STEP_MS)
                await client.futures_stream_keepalive(listenKey=key)
                positions = await client.futures_position_information(symbol=SYMBOL)
                if all(d(p["positionAmt"]) == 0 for p in positions):
                    break
            events = await events_until_quiet(user_ws)
        assert not [p for p in positions if d(p["positionAmt"]) != 0], "precondition: liquidated"
        return {
            "placed": placed,
            "events": events,
            "open_algos": await client.futures_get_open_algo_orders(symbol=SYMBOL),
            "stop_now": await client.futures_get_algo_order(algoId=placed["stop"]["algoId"]),
            "take_now": await client.futures_get_algo_order(algoId=placed["take"]["algoId"]),
        }


async def test_liquidation_expires_the_close_position_and_reduce_only_conditionals(
    liquidated: dict[str, Any],
) -> None:
    placed = liquidated["placed"]

    updates = _algo_updates(liquidated["events"])

    assert updates == [
        (placed["stop"]["algoId"], "EXPIRED"),
        (placed["take"]["algoId"], "EXPIRED"),
    ]
    assert liquidated["stop_now"]["algoStatus"] == "EXPIRED"
    assert liquidated["take_now"]["algoStatus"] == "EXPIRED"
    # A conditional that opens a position is not the liquidated position's: it stays armed.
    assert [(a["algoId"], a["algoStatus"]) for a in liquidated["open_algos"]] == [
        (placed["entry"]["algoId"], "NEW")
    ]


async def test_liquidation_expires_them_before_the_autoclose_order(
    liquidated: dict[str, Any],
) -> None:
    events = liquidated["events"]

    kinds = [
        "ALGO_UPDATE" if e["e"] == "ALGO_UPDATE" else e["o"]["c"].split("-")[0]
        for e in events
        if e["e"] in ("ALGO_UPDATE", "ORDER_TRADE_UPDATE")
    ]

    assert kinds == ["ALGO_UPDATE", "ALGO_UPDATE", "autoclose", "autoclose"]
