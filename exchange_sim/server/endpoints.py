"""The REST endpoint table: paths, security types, request weights (reference 1.3 and 4.3).

Market-data endpoints are answered from what the server has published (`MarketState`) and the
replay's stores; account and order endpoints are delegated to the matching engine with the
merged parameters; listenKey endpoints are handled here.
"""

from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from exchange_sim.errors import BinanceError

from . import accepted
from .auth import Credentials, Security
from .listenkeys import ListenKeys
from .market_state import MarketState
from .params import limit_param, opt_int, require, strict_int, symbol_param
from .rest import Endpoint, Handler, Weight
from .streams import KLINE_INTERVALS

DEPTH_LIMITS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}

Params = Mapping[str, str]


class MarketBackend(Protocol):
    """What the market-data endpoints need from the running exchange."""

    market: MarketState
    listen_keys: ListenKeys

    def now_ms(self) -> int: ...
    def exchange_info(self) -> dict: ...
    def agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None,
        start_time: int | None,
        end_time: int | None,
        limit: int,
    ) -> list[dict]: ...
    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[list]: ...
    def funding_history(
        self, symbol: str | None, start: int | None, end: int | None, limit: int
    ) -> list[dict]: ...
    def on_listen_key_closed(self, key: str) -> None: ...
    def ticker_24hr(self, symbol: str) -> dict: ...


def _depth_weight(params: Params) -> int:
    limit = strict_int(params.get("limit", "500"))
    return DEPTH_LIMITS.get(limit, 20) if limit is not None else 20


def _klines_weight(params: Params) -> int:
    """Weight by `limit`; a malformed limit (rejected later with -1100) weighs as the default."""
    limit = strict_int(params.get("limit", "500"))
    if limit is None:
        limit = 500
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


def _with_symbol(with_symbol: int, without: int) -> Callable[[Params], int]:
    return lambda params: with_symbol if params.get("symbol") else without


def market_endpoints(b: MarketBackend) -> list[Endpoint]:
    """NONE-security endpoints and listenKey."""
    symbols = b.market.symbols

    def ping(params: Params, creds: Credentials | None) -> dict:
        return {}

    def server_time(params: Params, creds: Credentials | None) -> dict:
        return {"serverTime": b.now_ms()}

    def exchange_info(params: Params, creds: Credentials | None) -> dict:
        return b.exchange_info()

    def depth(params: Params, creds: Credentials | None) -> dict:
        symbol = symbol_param(params, symbols)
        limit = opt_int(params, "limit", 500)
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-4021, "Invalid depth limit.")
        return b.market.depth(symbol, limit, b.now_ms())

    def agg_trades(params: Params, creds: Credentials | None) -> list:
        symbol = symbol_param(params, symbols)
        return b.agg_trades(
            symbol,
            from_id=opt_int(params, "fromId"),
            start_time=opt_int(params, "startTime"),
            end_time=opt_int(params, "endTime"),
            limit=limit_param(params, 500, 1000),
        )

    def klines(params: Params, creds: Credentials | None) -> list:
        symbol = symbol_param(params, symbols)
        interval = require(params, "interval")
        if interval not in KLINE_INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        start, end = opt_int(params, "startTime"), opt_int(params, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        return b.klines(symbol, interval, start, end, limit_param(params, 500, 1500))

    def premium_index(params: Params, creds: Credentials | None) -> Any:
        symbol = symbol_param(params, symbols, required=False)
        if symbol is not None:
            return b.market.premium_index(symbol, b.now_ms())
        return [b.market.premium_index(s, b.now_ms()) for s in symbols]

    def funding_rate(params: Params, creds: Credentials | None) -> list:
        symbol = symbol_param(params, symbols, required=False)
        return b.funding_history(
            symbol,
            opt_int(params, "startTime"),
            opt_int(params, "endTime"),
            limit_param(params, 100, 1000),
        )

    def book_ticker(params: Params, creds: Credentials | None) -> Any:
        symbol = symbol_param(params, symbols, required=False)
        if symbol is not None:
            return b.market.book_ticker(symbol)
        return [b.market.book_ticker(s) for s in symbols]

    def ticker_price(params: Params, creds: Credentials | None) -> Any:
        symbol = symbol_param(params, symbols, required=False)
        if symbol is not None:
            return b.market.ticker_price(symbol)
        return [b.market.ticker_price(s) for s in symbols]

    def ticker_24hr(params: Params, creds: Credentials | None) -> Any:
        symbol = symbol_param(params, symbols, required=False)
        if symbol is not None:
            return b.ticker_24hr(symbol)
        return [b.ticker_24hr(s) for s in symbols]

    def listen_key_new(params: Params, creds: Credentials | None) -> dict:
        assert creds is not None
        return {"listenKey": b.listen_keys.create(creds.account_id, b.now_ms())}

    def listen_key_keepalive(params: Params, creds: Credentials | None) -> dict:
        assert creds is not None
        key = b.listen_keys.keepalive(creds.account_id, params.get("listenKey"), b.now_ms())
        return {"listenKey": key}

    def listen_key_close(params: Params, creds: Credentials | None) -> dict:
        assert creds is not None
        key = b.listen_keys.close(creds.account_id)
        if key is not None:
            b.on_listen_key_closed(key)
        return {}

    def get(path: str, weight: Weight, handler: Handler, names: frozenset[str]) -> Endpoint:
        return Endpoint("GET", path, Security.NONE, weight, handler, accepted=names)

    stream, a = Security.USER_STREAM, accepted
    return [
        get("/api/v3/ping", 1, ping, a.NONE),
        get("/api/v3/time", 1, server_time, a.NONE),
        get("/fapi/v1/ping", 1, ping, a.NONE),
        get("/fapi/v1/time", 1, server_time, a.NONE),
        get("/fapi/v1/exchangeInfo", 1, exchange_info, a.NONE),
        get("/fapi/v1/depth", _depth_weight, depth, a.DEPTH),
        get("/fapi/v1/aggTrades", 20, agg_trades, a.AGG_TRADES),
        get("/fapi/v1/klines", _klines_weight, klines, a.KLINES),
        get("/fapi/v1/premiumIndex", _with_symbol(1, 10), premium_index, a.SYMBOL),
        get("/fapi/v1/fundingRate", 1, funding_rate, a.FUNDING_RATE),
        get("/fapi/v1/ticker/bookTicker", _with_symbol(2, 5), book_ticker, a.SYMBOL),
        get("/fapi/v1/ticker/price", _with_symbol(1, 2), ticker_price, a.SYMBOL),
        get("/fapi/v2/ticker/price", _with_symbol(1, 2), ticker_price, a.SYMBOL),
        get("/fapi/v1/ticker/24hr", _with_symbol(1, 40), ticker_24hr, a.SYMBOL),
        Endpoint("POST", "/fapi/v1/listenKey", stream, 1, listen_key_new),
        Endpoint("PUT", "/fapi/v1/listenKey", stream, 1, listen_key_keepalive, None, a.LISTEN_KEY),
        Endpoint("DELETE", "/fapi/v1/listenKey", stream, 1, listen_key_close, None, a.LISTEN_KEY),
    ]


TRADE, USER_DATA = Security.TRADE, Security.USER_DATA

# (method, path, security, weight, engine method, extra kwargs, order counts)
ENGINE_ROUTES: tuple[tuple[str, str, Security, Any, str, dict, tuple[int, int] | None], ...] = (
    ("POST", "/fapi/v1/order", TRADE, 0, "new_order", {}, (1, 1)),
    ("PUT", "/fapi/v1/order", TRADE, 0, "modify_order", {}, (1, 1)),
    ("GET", "/fapi/v1/order", USER_DATA, 1, "query_order", {}, None),
    ("DELETE", "/fapi/v1/order", TRADE, 1, "cancel_order", {}, None),
    ("POST", "/fapi/v1/order/test", TRADE, 1, "test_order", {}, None),
    ("POST", "/fapi/v1/batchOrders", TRADE, 5, "batch_orders", {}, (5, 1)),
    ("DELETE", "/fapi/v1/batchOrders", TRADE, 1, "cancel_batch_orders", {}, None),
    ("GET", "/fapi/v1/openOrder", USER_DATA, 1, "open_order", {}, None),
    ("GET", "/fapi/v1/openOrders", USER_DATA, _with_symbol(1, 40), "open_orders", {}, None),
    ("GET", "/fapi/v1/allOrders", USER_DATA, 5, "all_orders", {}, None),
    ("DELETE", "/fapi/v1/allOpenOrders", TRADE, 1, "cancel_all_open_orders", {}, None),
    ("POST", "/fapi/v1/countdownCancelAll", TRADE, 10, "countdown_cancel_all", {}, None),
    ("POST", "/fapi/v1/algoOrder", TRADE, 0, "new_algo_order", {}, (1, 1)),
    ("GET", "/fapi/v1/algoOrder", USER_DATA, 1, "query_algo_order", {}, None),
    ("DELETE", "/fapi/v1/algoOrder", TRADE, 1, "cancel_algo_order", {}, None),
    ("DELETE", "/fapi/v1/algoOpenOrders", TRADE, 1, "cancel_all_algo_orders", {}, None),
    (
        "GET",
        "/fapi/v1/openAlgoOrders",
        USER_DATA,
        _with_symbol(1, 40),
        "open_algo_orders",
        {},
        None,
    ),
    ("GET", "/fapi/v1/allAlgoOrders", USER_DATA, 5, "all_algo_orders", {}, None),
    ("GET", "/fapi/v1/userTrades", USER_DATA, 5, "user_trades", {}, None),
    ("GET", "/fapi/v2/account", USER_DATA, 5, "account", {"version": 2}, None),
    ("GET", "/fapi/v3/account", USER_DATA, 5, "account", {"version": 3}, None),
    ("GET", "/fapi/v2/balance", USER_DATA, 5, "balance", {"version": 2}, None),
    ("GET", "/fapi/v3/balance", USER_DATA, 5, "balance", {"version": 3}, None),
    ("GET", "/fapi/v2/positionRisk", USER_DATA, 5, "position_risk", {"version": 2}, None),
    ("GET", "/fapi/v3/positionRisk", USER_DATA, 5, "position_risk", {"version": 3}, None),
    ("POST", "/fapi/v1/leverage", TRADE, 1, "change_leverage", {}, None),
    ("POST", "/fapi/v1/marginType", TRADE, 1, "change_margin_type", {}, None),
    ("POST", "/fapi/v1/positionSide/dual", TRADE, 1, "set_position_mode", {}, None),
    ("GET", "/fapi/v1/positionSide/dual", USER_DATA, 30, "get_position_mode", {}, None),
    ("GET", "/fapi/v1/symbolConfig", USER_DATA, 5, "symbol_config", {}, None),
    ("GET", "/fapi/v1/accountConfig", USER_DATA, 5, "account_config", {}, None),
    ("GET", "/fapi/v1/income", USER_DATA, 30, "income", {}, None),
    ("GET", "/fapi/v1/commissionRate", USER_DATA, 20, "commission_rate", {}, None),
    ("GET", "/fapi/v1/leverageBracket", USER_DATA, 1, "leverage_bracket", {}, None),
)

_AUTH_PARAMS = ("timestamp", "recvWindow", "signature")


def engine_endpoints(call: Callable[[str, Hashable, Params, dict], Any]) -> list[Endpoint]:
    """Endpoints answered by the engine: `call(method_name, account_id, params, kwargs)`.

    The engine gets the decoded parameters without timestamp/recvWindow/signature.
    """
    out = []
    for method, path, security, weight, name, kwargs, orders in ENGINE_ROUTES:

        def handler(
            params: Params, creds: Credentials | None, _name: str = name, _kw: dict = kwargs
        ) -> Any:
            assert creds is not None
            clean = {k: v for k, v in params.items() if k not in _AUTH_PARAMS}
            return call(_name, creds.account_id, clean, _kw)

        out.append(Endpoint(method, path, security, weight, handler, orders, accepted.ENGINE[name]))
    return out
