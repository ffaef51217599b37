"""One IP, one ban: the daemon's market-data client (`MarketDataRest`) and its order connection
(`RestConnection`) share the rate governor's ban, on the local exchange on 127.0.0.1."""

import pytest

from core.errors import IpBanned
from exchange_sim.server import LocalExchange
from gateway.market_rest import MarketDataRest
from rest_connect import RestConnection


async def place(conn: RestConnection, client_id: str) -> None:
    await conn.call("futures_create_order", mutating=True, weight=0, orders=1,
                    symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                    quantity="0.010", price="50000", newClientOrderId=client_id)  # fmt: skip


async def test_a_ban_the_orders_met_keeps_market_data_waiting_without_a_request(
    exchange: LocalExchange, connect
) -> None:
    conn = await connect(exchange, time_samples=1)
    exchange.faults.rest_ban(seconds=0.5)
    with pytest.raises(IpBanned):
        await place(conn, "shared-1")

    async with MarketDataRest(exchange.rest_url, clock=conn.clock, ban=conn.governor) as market:
        server_ms = await market.server_time_ms()

    assert server_ms > 0
    assert exchange.faults.rest_ban_hits == 1  # the order's 418 only
    assert market.stats.requests == 1  # sent after the ban's end


async def test_a_ban_market_data_met_stops_the_order_connection_too(
    exchange: LocalExchange, connect
) -> None:
    conn = await connect(exchange, time_samples=1)
    exchange.faults.rest_ban(seconds=0.5)
    market = MarketDataRest(exchange.rest_url, clock=conn.clock, max_attempts=1, ban=conn.governor)
    async with market:
        with pytest.raises(IpBanned):
            await market.server_time_ms()

    with pytest.raises(IpBanned, match="bans this IP until"):
        await place(conn, "shared-2")

    assert exchange.faults.rest_ban_hits == 1  # the market-data 418 only
