"""A user-data socket hears the account's events from when it subscribed on, as on Binance
(events are pushed to the sockets open when they happen). An order that filled while no
socket listened, placed by a direct engine call (which leaves its events pending until the
next REST request drains them), is not delivered to a socket opened later, even on the same
listenKey (Binance answers POST listenKey with the active key). Before, that request sent them
to whichever socket was open by then, so a restarted client heard fills made while it was
down, which Binance never does (it must find them over REST: userTrades).
"""

import websockets

from exchange_sim.server import connected_client
from tests.exchange_sim.ws_helpers import events_until_quiet

SYMBOL = "BTCUSDT"


async def test_a_socket_does_not_hear_what_happened_before_it_opened(exchange_factory):
    ex = await exchange_factory()
    await ex.step(1000)
    account = str(ex.demo.account_id)  # the demo key's, which the client signs with
    async with connected_client(ex) as client:
        key = await client.futures_stream_get_listen_key()  # a first session's key
        # While no socket listens: a market order through the engine directly.
        before = ex.engine.new_order(
            account,
            {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.002",
             "newClientOrderId": "web_before"},
        )  # fmt: skip
        again = await client.futures_stream_get_listen_key()  # a restart: the same key
        assert again == key
        async with websockets.connect(f"{ex.ws_url}/private/ws?listenKey={key}") as user_ws:
            await client.futures_account_balance()  # a REST request: drains pending events
            after = await client.futures_create_order(
                symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.002",
                newClientOrderId="web_after",
            )  # fmt: skip
            events = await events_until_quiet(user_ws)
    orders = {e["o"]["c"] for e in events if e["e"] == "ORDER_TRADE_UPDATE"}
    assert orders == {"web_after"}  # the earlier order's events went to no socket
    assert before["clientOrderId"] == "web_before" and after["clientOrderId"] == "web_after"
    # The exchange has both: userTrades tells a restarted client what it missed.
    trades = ex.engine.user_trades(account, {"symbol": SYMBOL, "limit": "1000"})
    assert {t["orderId"] for t in trades} == {before["orderId"], after["orderId"]}
