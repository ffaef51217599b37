"""A parameter an endpoint does not read is -1104, as on Binance (reference 1.2, error table 3):
python-binance `AsyncClient` against a running stepped `LocalExchange`.

Before, the local exchange ignored it: a client that misspelled a name (`fromid`, `stopprice`)
or sent one an endpoint does not take got an answer as if it had not sent it, and a daemon test
passed while the daemon would have failed on Binance.
"""

from collections.abc import Callable
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

SYMBOL = "BTCUSDT"
BOGUS = {"bogus": "1"}
MARKET_BUY = {
    "symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.002",
    "newClientOrderId": "x-1",
}  # fmt: skip
STOP = {
    "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET", "quantity": "0.002",
    "triggerPrice": "50000.0", "clientAlgoId": "sl-1",
}  # fmt: skip

# Each endpoint the daemon calls (gateway/, trading_engine/daemon.py) with the parameters it
# sends there, and one more the endpoint does not read.
DAEMON_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("GET order", lambda c: c.futures_get_order(symbol=SYMBOL, orderId=1, **BOGUS)),
    ("DELETE order", lambda c: c.futures_cancel_order(symbol=SYMBOL, orderId=1, **BOGUS)),
    ("GET openOrders", lambda c: c.futures_get_open_orders(symbol=SYMBOL, **BOGUS)),
    ("DELETE allOpenOrders", lambda c: c.futures_cancel_all_open_orders(symbol=SYMBOL, **BOGUS)),
    (
        "POST countdownCancelAll",
        lambda c: c.futures_countdown_cancel_all(symbol=SYMBOL, countdownTime=0, **BOGUS),
    ),
    ("GET algoOrder", lambda c: c.futures_get_algo_order(algoId=1, **BOGUS)),
    ("DELETE algoOrder", lambda c: c.futures_cancel_algo_order(algoId=1, **BOGUS)),
    (
        "DELETE algoOpenOrders",
        lambda c: c.futures_cancel_all_algo_open_orders(symbol=SYMBOL, **BOGUS),
    ),
    ("GET openAlgoOrders", lambda c: c.futures_get_open_algo_orders(symbol=SYMBOL, **BOGUS)),
    ("GET userTrades", lambda c: c.futures_account_trades(symbol=SYMBOL, fromId=1, **BOGUS)),
    ("GET v2/account", lambda c: c.futures_account(**BOGUS)),
    ("GET accountConfig", lambda c: c.futures_account_config(**BOGUS)),
    ("GET positionRisk", lambda c: c.futures_position_information(symbol=SYMBOL, **BOGUS)),
    ("GET positionSide/dual", lambda c: c.futures_get_position_mode(**BOGUS)),
    ("POST leverage", lambda c: c.futures_change_leverage(symbol=SYMBOL, leverage=5, **BOGUS)),
    ("GET income", lambda c: c.futures_income_history(incomeType="FUNDING_FEE", **BOGUS)),
    ("GET fundingRate", lambda c: c.futures_funding_rate(symbol=SYMBOL, **BOGUS)),
    ("GET klines", lambda c: c.futures_klines(symbol=SYMBOL, interval="1m", **BOGUS)),
    ("GET aggTrades", lambda c: c.futures_aggregate_trades(symbol=SYMBOL, **BOGUS)),
    ("POST order", lambda c: c.futures_create_order(**MARKET_BUY, **BOGUS)),
    ("POST algoOrder", lambda c: c.futures_create_algo_order(**STOP, **BOGUS)),
]


@pytest.mark.parametrize(("endpoint", "call"), DAEMON_CALLS, ids=[e for e, _ in DAEMON_CALLS])
async def test_an_unknown_parameter_is_refused_with_1104(
    binance_client: Any, endpoint: str, call: Callable[[Any], Any]
) -> None:
    with pytest.raises(BinanceAPIException) as info:
        await call(binance_client)
    assert info.value.code == -1104, endpoint


async def test_the_1104_message_counts_what_was_read_and_what_was_sent(binance_client) -> None:
    # symbol, fromid (misspelled), recvWindow, timestamp, signature: five sent, four read
    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_account_trades(symbol=SYMBOL, fromid=1)
    assert info.value.message == (
        "Not all sent parameters were read; read '4' parameter(s) but was sent '5'."
    )


async def test_the_algo_endpoint_refuses_the_order_endpoints_names(binance_client) -> None:
    """`stopPrice` is `triggerPrice` there and `activationPrice` is `activatePrice`
    (reference 6.3): sent by their /order names, they were ignored."""
    with pytest.raises(BinanceAPIException) as info:
        await binance_client.futures_create_algo_order(**STOP, stopPrice="50000.0")
    assert info.value.code == -1104


async def test_the_parameters_an_endpoint_reads_are_answered(binance_client) -> None:
    trades = await binance_client.futures_account_trades(symbol=SYMBOL, fromId=1, limit=5)
    klines = await binance_client.futures_klines(
        symbol=SYMBOL, interval="1m", startTime=0, endTime=10**13, limit=5
    )
    assert trades == [] and len(klines) <= 5
