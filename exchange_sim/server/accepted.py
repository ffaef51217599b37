"""The parameters each REST endpoint reads, and -1104 for a request that sends any other.

Binance answers a parameter it does not read with -1104 "Not all sent parameters were read;
read '%s' parameter(s) but was sent '%s'." (reference 1.2 and 3). The local exchange used to
ignore such a parameter, so a client that misspelled one (`fromid`, `stopprice`) or sent one
where another name is read (`stopPrice` or `activationPrice` on the algo endpoint, which reads
`triggerPrice` and `activatePrice`) got answers in tests as if it had not sent it. Every
endpoint now has its table: the names are the reference's (sections 5 to 7), nothing more.

How Binance counts is UNSURE (the reference says "generally rejects"): here every sent name
counts, `timestamp`, `recvWindow` and `signature` included, and those three are read on every
endpoint (public endpoints ignore them in practice, reference 1.2).
"""

from collections.abc import Mapping

from exchange_sim.errors import BinanceError

AUTH = frozenset({"timestamp", "recvWindow", "signature"})


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


NONE = frozenset[str]()
SYMBOL = _names("symbol")
ONE_ORDER = _names("symbol orderId origClientOrderId")  # 6.4, 6.5
ONE_ALGO = _names("algoId clientAlgoId")  # 6.3
_ORDER_COMMON = _names(
    "symbol side positionSide type timeInForce quantity reduceOnly price closePosition "
    "workingType priceProtect newOrderRespType priceMatch selfTradePreventionMode goodTillDate "
    "callbackRate"
)
NEW_ORDER = _ORDER_COMMON | _names("newClientOrderId stopPrice activationPrice")  # 6.2.1
NEW_ALGO = _ORDER_COMMON | _names("algoType clientAlgoId triggerPrice activatePrice")  # 6.3
MODIFY = ONE_ORDER | _names("side quantity price priceMatch")  # 6.6
ALL_ORDERS = _names("symbol orderId startTime endTime limit")  # 6.4
# 6.3. Binance's own page also lists `page`, which the local exchange does not implement: refused
# (-1104) rather than read and ignored, which would answer the same page for every `page`.
ALL_ALGOS = _names("symbol algoId startTime endTime limit")
USER_TRADES = _names("symbol orderId startTime endTime fromId limit")  # 6.9
INCOME = _names("symbol incomeType startTime endTime page limit")  # 7.8
AGG_TRADES = _names("symbol fromId startTime endTime limit")  # 5.5
KLINES = _names("symbol interval startTime endTime limit")  # 5.6
FUNDING_RATE = _names("symbol startTime endTime limit")  # 5.7
DEPTH = _names("symbol limit")  # 5.3
LISTEN_KEY = _names("listenKey")  # 7.9: clients send it on keepalive and close

# Engine endpoints by the engine method that answers them (`endpoints.ENGINE_ROUTES`).
ENGINE: Mapping[str, frozenset[str]] = {
    "new_order": NEW_ORDER,
    "test_order": NEW_ORDER,
    "modify_order": MODIFY,
    "query_order": ONE_ORDER,
    "cancel_order": ONE_ORDER,
    "open_order": ONE_ORDER,
    "batch_orders": _names("batchOrders"),
    "cancel_batch_orders": _names("symbol orderIdList origClientOrderIdList"),
    "open_orders": SYMBOL,
    "all_orders": ALL_ORDERS,
    "cancel_all_open_orders": SYMBOL,
    "countdown_cancel_all": _names("symbol countdownTime"),
    "new_algo_order": NEW_ALGO,
    "query_algo_order": ONE_ALGO,
    "cancel_algo_order": ONE_ALGO,
    "cancel_all_algo_orders": SYMBOL,
    "open_algo_orders": _names("algoType symbol algoId"),
    "all_algo_orders": ALL_ALGOS,
    "user_trades": USER_TRADES,
    "account": NONE,
    "balance": NONE,
    "position_risk": SYMBOL,
    "change_leverage": _names("symbol leverage"),
    "change_margin_type": _names("symbol marginType"),
    "set_position_mode": _names("dualSidePosition"),
    "get_position_mode": NONE,
    "symbol_config": SYMBOL,
    "account_config": NONE,
    "income": INCOME,
    "commission_rate": SYMBOL,
    "leverage_bracket": SYMBOL,
}


def check_all_read(accepted: frozenset[str], params: Mapping[str, str]) -> None:
    """-1104 when `params` holds a name the endpoint does not read (see the module docstring)."""
    sent = len(params)
    read = sum(1 for name in params if name in accepted or name in AUTH)
    if read < sent:
        raise BinanceError(
            -1104,
            f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.",
        )
