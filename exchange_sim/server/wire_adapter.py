"""`WireAdapter`: the Binance REST surface of the matching engine (Mapping[str, str] in, JSON out).

Each operation takes the decoded request parameters (strings, without timestamp/recvWindow/
signature), validates them in Binance's order, calls the engine's typed operations and formats
the answer as Binance does, or raises exchange_sim.errors.BinanceError(code, msg, http_status).

Validation follows the suggested order of section 6.2.1: mandatory params (-1102) -> enums ->
client order id (-1100/-4015/-4116) -> mode checks -> filters via Instrument.check_order ->
MARKET price bound (-4131) -> trigger (-2021) -> reduce-only (-2022) -> margin (-2019) ->
TIF outcome (-5021/-5022). Money is reported with 8 decimals; prices and quantities with the
instrument's tick and step decimals.
"""

import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from itertools import islice
from operator import attrgetter
from typing import Any, TypeVar

from core.enums import AlgoStatus, OrderType, Side, TimeInForce, WorkingType
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.engine import Engine, check_client_id
from exchange_sim.engine.fmt import ZERO, f8, flex, t8
from exchange_sim.engine.margin import (
    maintenance_margin,
    max_leverage,
    max_notional,
)
from exchange_sim.engine.request import NewOrder
from exchange_sim.engine.state import Account, Algo, Order
from exchange_sim.errors import BinanceError
from exchange_sim.server import wire_format as wire
from exchange_sim.server.engine_params import Params, mandatory

T = TypeVar("T")
_STP_MODES = frozenset({"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})
_RESP_TYPES = ("ACK", "RESULT")
_MIN_GTD_AHEAD_MS = 600_000
_MAX_GTD_MS = 253402300799000
_SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT})  # take `price`
# Types whose trigger is `stopPrice` (`triggerPrice` on the algo endpoint).
_STOP_PRICED = frozenset(
    {OrderType.STOP, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET}
)


class PriceMatch(StrEnum):
    """`priceMatch` values (reference 6.1): the exchange picks the price of the order."""

    NONE = "NONE"
    OPPONENT = "OPPONENT"
    OPPONENT_5 = "OPPONENT_5"
    OPPONENT_10 = "OPPONENT_10"
    OPPONENT_20 = "OPPONENT_20"
    QUEUE = "QUEUE"
    QUEUE_5 = "QUEUE_5"
    QUEUE_10 = "QUEUE_10"
    QUEUE_20 = "QUEUE_20"


_PRICE_MATCHES = frozenset(m.value for m in PriceMatch)  # `str in StrEnum` raises on 3.11


_CANCEL_ALL_OK = {"code": 200, "msg": "The operation of cancel all open order is done."}


class _PositionView:
    """Derived numbers of one symbol's position at the current mark (USDT)."""

    __slots__ = (
        "amt",
        "ask",
        "bid",
        "entry",
        "im",
        "liq",
        "mark",
        "mm",
        "notional",
        "oo_im",
        "upnl",
    )

    amt: Decimal
    ask: Decimal
    bid: Decimal
    entry: Decimal
    im: Decimal
    liq: Decimal
    mark: Decimal
    mm: Decimal
    notional: Decimal
    oo_im: Decimal
    upnl: Decimal


class WireAdapter:
    """Binance USD-M REST operations over one `Engine`: `(account_id, params) -> JSON`."""

    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._ledger = engine.ledger
        self._books = engine.books
        self._cfg = engine.config

    def drain_user_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The engine's pending events as (account_id, user-data-stream JSON), in order."""
        books = self._books
        fee = self._cfg.taker_fee
        return [(ev.account_id, wire.user_event(ev, books, fee)) for ev in self._e.events.drain()]

    # --- requests ----------------------------------------------------------------------------

    def _named_symbol(self, p: Params) -> str | None:
        """The optional `symbol` parameter as the exchange lists it, None when the request
        names none; -1121 for a symbol it does not list."""
        return self._e.book(p.opt("symbol")).inst.symbol if p.has("symbol") else None

    def _named_symbols(self, p: Params) -> list[str]:
        """The symbol the request names, else every listed one: the endpoints whose optional
        `symbol` means "all" when absent."""
        symbol = self._named_symbol(p)
        return list(self._books) if symbol is None else [symbol]

    def _find_order(self, acct: Account, p: Params, b: SymbolBook) -> Order | None:
        order_id = p.int("orderId")
        client_id = p.opt("origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
            )
        return self._e.find_order(acct, b.inst.symbol, order_id, client_id)

    def _parse_new(self, acct: Account, p: Params, *, algo: bool) -> NewOrder:
        b = self._e.book(p.req("symbol"))
        inst = b.inst
        p.req("side")
        p.req("type")
        side = p.enum("side", Side, -1117, "Invalid side.")
        order_type = p.enum("type", OrderType, -1116, "Invalid orderType.")
        if order_type is OrderType.LIQUIDATION:
            raise BinanceError(-1116, "Invalid orderType.")
        if algo and not order_type.is_conditional:
            raise BinanceError(-1116, "Invalid orderType.")
        if not algo and order_type.is_conditional and not self._cfg.legacy_conditional_orders:
            raise BinanceError(
                -4120,
                "Order type not supported for this endpoint. "
                "Please use the Algo Order API endpoints instead.",
            )
        # Before the mandatory parameters: with priceMatch, `price` is not mandatory.
        refuse_price_match(p, order_type)
        close_position = p.bool("closePosition")
        stop_name = "triggerPrice" if algo else "stopPrice"
        # Mandatory parameters by type (section 6.2.1).
        if order_type is OrderType.LIMIT:
            p.req("timeInForce")
        if order_type in (OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT):
            if not close_position:
                p.req("quantity")
            p.req("price")
        if order_type is OrderType.MARKET:
            p.req("quantity")
        trailing = order_type is OrderType.TRAILING_STOP_MARKET
        if trailing:
            p.req("callbackRate")
            p.req("quantity")
        elif order_type.is_conditional:
            p.req(stop_name)
            if order_type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET) and not (
                close_position
            ):
                p.req("quantity")
        quantity = p.decimal("quantity")
        price = p.decimal("price")
        stop_price = None if trailing else p.decimal(stop_name)
        activate_price = callback_rate = None
        if trailing:
            activate_price = p.decimal("activatePrice" if algo else "activationPrice")
            callback_rate = p.decimal("callbackRate")
            top = Decimal(10) if algo else Decimal(5)  # algo docs vs legacy order docs
            if callback_rate is None or not Decimal("0.1") <= callback_rate <= top:
                raise BinanceError(-1130, "Data sent for parameter 'callbackRate' is not valid.")
        tif = p.enum("timeInForce", TimeInForce, -1115, "Invalid timeInForce.", TimeInForce.GTC)
        if order_type is OrderType.MARKET:
            tif = TimeInForce.GTC
        resp_type = p.opt("newOrderRespType") or "ACK"
        if resp_type not in _RESP_TYPES:
            raise BinanceError(-1136, "Invalid newOrderRespType.")
        working_type = p.enum(
            "workingType", WorkingType, -4031, "Invalid workingType.", WorkingType.CONTRACT_PRICE
        )
        position_side = p.opt("positionSide") or "BOTH"
        if position_side not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(-4060, "Invalid position side.")
        stp = p.opt("selfTradePreventionMode") or self._cfg.stp_mode
        if stp not in _STP_MODES:
            raise BinanceError(
                -1130, "Data sent for parameter 'selfTradePreventionMode' is not valid."
            )
        price_protect = p.bool("priceProtect")
        # Client order id.
        id_name = "clientAlgoId" if algo else "newClientOrderId"
        client_id = p.opt(id_name)
        if client_id is None:
            client_id = self._e.generate_client_id()
        else:
            check_client_id(client_id, id_name)
            if self._e.client_id_taken(acct, inst.symbol, client_id, algo=algo):
                raise BinanceError(-4116, "ClientOrderId is duplicated.")
        # Mode checks.
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        reduce_only = p.bool("reduceOnly")
        if close_position:
            if order_type not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
                raise BinanceError(-1106, "Parameter 'closePosition' sent when not required.")
            if p.has("quantity"):
                raise BinanceError(-4137, "Quantity must be zero with closePosition equals true.")
        refuse_unrequired(p, order_type, close_position)
        refuse_ignored(p, order_type, tif, algo=algo)
        gtd = 0
        if tif is TimeInForce.GTD:
            gtd_value = p.int("goodTillDate", required=True) or 0
            gtd = gtd_value // 1000 * 1000  # second precision, ms ignored
            if gtd <= self._e.now_ms() + _MIN_GTD_AHEAD_MS or gtd >= _MAX_GTD_MS:
                raise BinanceError(
                    -5040,
                    "goodTillDate timestamp must be greater than current time plus 600 seconds "
                    "and smaller than 253402300799000",
                )
        # Filters: the one implementation in core.instrument.
        self._e.check_filters(
            acct,
            b,
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price if order_type is not OrderType.MARKET else None,
            stop_price=stop_price,
            reduce_only=reduce_only,
            close_position=close_position,
        )
        return NewOrder(
            s=b,
            side=side,
            type=order_type,
            tif=tif,
            quantity=quantity,
            price=price if order_type is not OrderType.MARKET else None,
            stop_price=stop_price,
            reduce_only=reduce_only or close_position,
            close_position=close_position,
            client_id=client_id,
            resp_type=resp_type,
            working_type=working_type,
            price_protect=price_protect,
            stp=stp,
            gtd=gtd,
            activate_price=activate_price,
            callback_rate=callback_rate,
        )

    def _place(self, acct: Account, req: NewOrder) -> dict[str, Any]:
        ack, o = self._e.place(acct, req)
        inst = req.s.inst
        if req.type.is_conditional or req.resp_type == "ACK":
            return wire.order_json(ack, inst)
        return wire.order_json(o, inst)

    # --- order endpoints ---------------------------------------------------------------------

    def new_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/order."""
        acct = self._ledger.account(account_id)
        req = self._parse_new(acct, Params(params), algo=False)
        return self._place(acct, req)

    def test_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/order/test: full validation up to the margin check; returns {}."""
        acct = self._ledger.account(account_id)
        req = self._parse_new(acct, Params(params), algo=False)
        if req.type.is_conditional:
            self._e.check_trigger(req)
        else:
            self._e.check_reduce_only_or_margin(acct, req)
        return {}

    def batch_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """POST /fapi/v1/batchOrders: up to 5 orders, one result (order or error) per element."""
        acct = self._ledger.account(account_id)
        items = Params(params).json_list("batchOrders")
        if not items or len(items) > 5:
            raise BinanceError(-4082, "Invalid number of batch place orders.")
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise mandatory("batchOrders")
                fields = {str(k): _as_param(v) for k, v in item.items()}
                req = self._parse_new(acct, Params(fields), algo=False)
                results.append(self._place(acct, req))
            except BinanceError as e:
                results.append(e.to_json())
        return results

    def query_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/order."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        b = self._e.book(p.req("symbol"))
        o = self._find_order(acct, p, b)
        if o is None:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order_json(o, b.inst, query=True)

    def open_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/openOrder: -2013 unless the order is still open."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        b = self._e.book(p.req("symbol"))
        o = self._find_order(acct, p, b)
        if o is None or not o.is_open:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order_json(o, b.inst, query=True)

    def open_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/openOrders (symbol optional)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbols = self._named_symbols(p)
        out = []
        for symbol in symbols:
            inst = self._books[symbol].inst
            for o in sorted(acct.open_orders.get(symbol, {}).values(), key=lambda o: o.order_id):
                out.append(wire.order_json(o, inst, query=True))
        return out

    def all_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/allOrders: orderId (>=), startTime/endTime (ms; a window of at most 7
        days, -4165 beyond; neither: the last 7 days; reference 6.4 "time window <= 7 days
        (default last 7 days)", as userTrades), limit (500, max 1000)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        b = self._e.book(p.req("symbol"))
        order_id = p.int("orderId")
        limit = p.limit(500, 1000)
        start, end = _window(
            p.int("startTime"), p.int("endTime"), self._e.now_ms(), order_id is not None
        )
        mine = acct.order_history.get(b.inst.symbol, [])
        lo, hi = _span(mine, _ORDER_ID, order_id, start, end)
        picked = _page(mine, lo, hi, limit, order_id is not None or p.has("startTime"))
        return [wire.order_json(o, b.inst, query=True) for o in picked]

    def cancel_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/order: -2011 unless the order is open."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        b = self._e.book(p.req("symbol"))
        o = self._find_order(acct, p, b)
        if o is None or not o.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        self._e.cancel(o)
        return wire.order_json(o, b.inst)

    def cancel_batch_orders(
        self, account_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """DELETE /fapi/v1/batchOrders: orderIdList or origClientOrderIdList (max 10)."""
        self._ledger.account(account_id)
        p = Params(params)
        symbol = self._e.book(p.req("symbol")).inst.symbol
        if p.has("orderIdList"):
            keys = [("orderId", str(v)) for v in p.json_list("orderIdList")]
        elif p.has("origClientOrderIdList"):
            keys = [("origClientOrderId", str(v)) for v in p.json_list("origClientOrderIdList")]
        else:
            raise BinanceError(
                -1102,
                "Param 'orderIdList' or 'origClientOrderIdList' must be sent, "
                "but both were empty/null!",
            )
        if len(keys) > 10:
            raise BinanceError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
        results: list[dict[str, Any]] = []
        for name, value in keys:
            try:
                results.append(self.cancel_order(account_id, {"symbol": symbol, name: value}))
            except BinanceError as e:
                results.append(e.to_json())
        return results

    def cancel_all_open_orders(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/allOpenOrders (normal orders only, algo orders have their own; with
        `EngineConfig.cancel_all_takes_algos` the algo orders too: Binance's is UNSURE)."""
        acct = self._ledger.account(account_id)
        symbol = self._e.book(Params(params).req("symbol")).inst.symbol
        self._e.cancel_all(acct, symbol)
        if self._cfg.cancel_all_takes_algos:
            self._e.cancel_all_algos(acct, symbol)
        return dict(_CANCEL_ALL_OK)

    def countdown_cancel_all(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/countdownCancelAll: cancel the symbol's open orders after countdownTime
        ms unless called again; 0 stops the timer. Fires from on_* calls and on_time()."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbol = self._e.book(p.req("symbol")).inst.symbol
        countdown = p.int("countdownTime", required=True) or 0
        if countdown < 0:
            raise BinanceError(-1130, "Data sent for parameter 'countdownTime' is not valid.")
        self._e.countdown(acct, symbol, countdown)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def modify_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """PUT /fapi/v1/order: new price/quantity of an open LIMIT order (loses priority)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        b = self._e.book(p.req("symbol"))
        inst = b.inst
        side = p.enum("side", Side, -1117, "Invalid side.")
        refuse_price_match(p, OrderType.LIMIT)  # only LIMIT orders are modified
        quantity = p.decimal("quantity", required=True)
        price = p.decimal("price", required=True)
        o = self._find_order(acct, p, b)
        if o is None or not o.is_open:
            raise BinanceError(-2013, "Order does not exist.")
        if o.type != "LIMIT":
            raise BinanceError(-4000, "Invalid order status.")
        if side.value != o.side:
            raise BinanceError(-1130, "Data sent for parameter 'side' is not valid.")
        violation = inst.check_order(
            side=side,
            order_type=OrderType.LIMIT,
            quantity=quantity,
            price=price,
            reduce_only=o.reduce_only,
            mark_price=b.ref_price(),
        )
        if violation is not None:
            raise BinanceError(violation.code, violation.msg)
        assert quantity is not None and price is not None
        new_steps = inst.to_steps(quantity)
        new_ticks = inst.to_ticks(price)
        if new_steps == o.qty_steps and new_ticks == o.price_ticks:
            raise BinanceError(-5027, "No need to modify the order.")
        self._e.amend(o, new_steps, new_ticks)
        return wire.order_json(o, inst)

    # --- algo (conditional) order endpoints ------------------------------------------------

    def new_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/algoOrder (algoType=CONDITIONAL; triggerPrice, clientAlgoId)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        algo_type = p.req("algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceError(-1130, "Data sent for parameter 'algoType' is not valid.")
        req = self._parse_new(acct, p, algo=True)
        a = self._e.new_algo(acct, req)
        return wire.algo_json(a, req.s.inst)

    def _find_algo(self, acct: Account, p: Params) -> Algo | None:
        return self._e.find_algo(acct, p.int("algoId"), p.opt("clientAlgoId"))

    def cancel_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOrder: -2011 unless the algo order still waits for its trigger."""
        acct = self._ledger.account(account_id)
        a = self._find_algo(acct, Params(params))
        if a is None or a.status is not AlgoStatus.NEW:
            raise BinanceError(-2011, "Unknown order sent.")
        self._e.cancel_algo(a)
        return {"algoId": a.algo_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def query_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/algoOrder."""
        acct = self._ledger.account(account_id)
        a = self._find_algo(acct, Params(params))
        if a is None:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.algo_json(a, self._books[a.symbol].inst, query=True)

    def open_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/openAlgoOrders (symbol, algoId optional)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbol = self._named_symbol(p)
        algo_id = p.int("algoId")
        out = []
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if (symbol is None or a.symbol == symbol) and (algo_id is None or a.algo_id == algo_id):
                out.append(wire.algo_json(a, self._books[a.symbol].inst, query=True))
        return out

    def all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/allAlgoOrders: symbol, algoId (>=), startTime/endTime (a window of at
        most 7 days, reference 6.3, -4165 beyond; neither: the last 7 days, as allOrders),
        limit (<=1000)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbol = self._e.book(p.req("symbol")).inst.symbol
        algo_id = p.int("algoId")
        limit = p.limit(500, 1000)
        start, end = _window(
            p.int("startTime"), p.int("endTime"), self._e.now_ms(), algo_id is not None
        )
        picked = [
            a
            for a in sorted(acct.algos.values(), key=lambda a: a.algo_id)
            if a.symbol == symbol
            and a.legacy_order is None
            and (algo_id is None or a.algo_id >= algo_id)
            and (start is None or a.create_time >= start)
            and (end is None or a.create_time <= end)
        ]
        from_front = algo_id is not None or p.has("startTime")
        picked = picked[:limit] if from_front else picked[-limit:]
        return [wire.algo_json(a, self._books[a.symbol].inst, query=True) for a in picked]

    def cancel_all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOpenOrders."""
        acct = self._ledger.account(account_id)
        symbol = self._e.book(Params(params).req("symbol")).inst.symbol
        self._e.cancel_all_algos(acct, symbol)
        return dict(_CANCEL_ALL_OK)

    def _view(self, acct: Account, symbol: str) -> _PositionView:
        s = self._books[symbol]
        pos = acct.positions.get(symbol)
        v = _PositionView()
        v.amt = pos.amt if pos else ZERO
        v.entry = pos.entry if pos else ZERO
        v.mark = s.ref_price() or v.entry
        v.notional = v.amt * v.mark
        v.upnl = v.amt * (v.mark - v.entry) if v.amt else ZERO
        v.im = abs(v.notional) / self._ledger.leverage(acct, symbol)
        v.oo_im = self._ledger.open_order_im(acct, symbol) if acct.open_orders.get(symbol) else ZERO
        v.mm = maintenance_margin(s.brackets, abs(v.notional))
        v.bid, v.ask = self._ledger.notionals(acct, symbol)
        v.liq = self._ledger.liquidation_price(acct, symbol)
        return v

    def _active_symbols(self, acct: Account) -> list[str]:
        return [
            symbol
            for symbol in self._books
            if (acct.positions.get(symbol) and acct.positions[symbol].amt)
            or acct.open_orders.get(symbol)
        ]

    # --- account / balance / positions -----------------------------------------------------

    def account(
        self, account_id: str, params: Mapping[str, str], version: int = 2
    ) -> dict[str, Any]:
        """GET /fapi/v2/account (version=2) or /fapi/v3/account (version=3)."""
        acct = self._ledger.account(account_id)
        t = self._ledger.totals(acct)
        initial = t.position_im + t.open_order_im
        available = max(ZERO, t.available)
        withdraw = max(ZERO, min(acct.wallet, available))
        totals = {
            "totalInitialMargin": t8(initial),
            "totalMaintMargin": t8(t.maint),
            "totalWalletBalance": f8(acct.wallet),
            "totalUnrealizedProfit": t8(t.upnl),
            "totalMarginBalance": t8(t.margin_balance),
            "totalPositionInitialMargin": t8(t.position_im),
            "totalOpenOrderInitialMargin": t8(t.open_order_im),
            "totalCrossWalletBalance": f8(acct.wallet),
            "totalCrossUnPnl": t8(t.upnl),
            "availableBalance": t8(available),
            "maxWithdrawAmount": t8(withdraw),
        }
        asset: dict[str, Any] = {
            "asset": "USDT",
            "walletBalance": f8(acct.wallet),
            "unrealizedProfit": t8(t.upnl),
            "marginBalance": t8(t.margin_balance),
            "maintMargin": t8(t.maint),
            "initialMargin": t8(initial),
            "positionInitialMargin": t8(t.position_im),
            "openOrderInitialMargin": t8(t.open_order_im),
            "crossWalletBalance": f8(acct.wallet),
            "crossUnPnl": t8(t.upnl),
            "availableBalance": t8(available),
            "maxWithdrawAmount": t8(withdraw),
        }
        if version == 2:
            asset["marginAvailable"] = True
        asset["updateTime"] = acct.update_time
        body: dict[str, Any] = {}
        if version == 2:
            body.update(
                {
                    "feeTier": 0,
                    "canTrade": True,
                    "canDeposit": True,
                    "canWithdraw": True,
                    "updateTime": 0,
                    "multiAssetsMargin": False,
                    "tradeGroupId": -1,
                }
            )
        body.update(totals)
        body["assets"] = [asset]
        symbols = list(self._books) if version == 2 else self._active_symbols(acct)
        body["positions"] = [self._account_position(acct, sym, version) for sym in symbols]
        return body

    def _account_position(self, acct: Account, symbol: str, version: int) -> dict[str, Any]:
        s = self._books[symbol]
        inst = s.inst
        v = self._view(acct, symbol)
        pos = acct.positions.get(symbol)
        update = pos.update_time if pos else 0
        if version == 3:
            return {
                "symbol": symbol,
                "positionSide": "BOTH",
                "positionAmt": inst.format_qty(v.amt),
                "unrealizedProfit": t8(v.upnl),
                "isolatedMargin": "0",
                "notional": t8(v.notional),
                "isolatedWallet": "0",
                "initialMargin": t8(v.im + v.oo_im),
                "maintMargin": t8(v.mm),
                "updateTime": update,
            }
        lev = self._ledger.leverage(acct, symbol)
        return {
            "symbol": symbol,
            "initialMargin": t8(v.im + v.oo_im),
            "maintMargin": t8(v.mm),
            "unrealizedProfit": t8(v.upnl),
            "positionInitialMargin": t8(v.im),
            "openOrderInitialMargin": t8(v.oo_im),
            "leverage": str(lev),
            "isolated": acct.margin_type.get(symbol, "CROSSED") == "ISOLATED",
            "entryPrice": flex(v.entry, inst.price_decimals),
            "maxNotional": _int_str(max_notional(s.brackets, lev)),
            "bidNotional": wire.plain(v.bid),
            "askNotional": wire.plain(v.ask),
            "positionSide": "BOTH",
            "positionAmt": inst.format_qty(v.amt),
            "updateTime": update,
        }

    def balance(
        self, account_id: str, params: Mapping[str, str], version: int = 3
    ) -> list[dict[str, Any]]:
        """GET /fapi/v2/balance or /fapi/v3/balance (same shape)."""
        acct = self._ledger.account(account_id)
        t = self._ledger.totals(acct)
        available = max(ZERO, t.available)
        return [
            {
                "accountAlias": _alias(acct.account_id),
                "asset": "USDT",
                "balance": f8(acct.wallet),
                "crossWalletBalance": f8(acct.wallet),
                "crossUnPnl": t8(t.upnl),
                "availableBalance": t8(available),
                "maxWithdrawAmount": t8(max(ZERO, min(acct.wallet, available))),
                "marginAvailable": True,
                "updateTime": acct.update_time,
            }
        ]

    def position_risk(
        self, account_id: str, params: Mapping[str, str], version: int = 3
    ) -> list[dict[str, Any]]:
        """GET /fapi/v2/positionRisk (every symbol) or /fapi/v3/positionRisk (active only)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbols = self._named_symbols(p)
        if version == 3:
            active = set(self._active_symbols(acct))
            symbols = [sym for sym in symbols if sym in active]
        return [self._position_risk_row(acct, sym, version) for sym in symbols]

    def _position_risk_row(self, acct: Account, symbol: str, version: int) -> dict[str, Any]:
        s = self._books[symbol]
        inst = s.inst
        v = self._view(acct, symbol)
        pos = acct.positions.get(symbol)
        update = pos.update_time if pos else 0
        bep = wire.break_even(pos, self._cfg.taker_fee) if pos else ZERO
        row: dict[str, Any] = {
            "symbol": symbol,
            "positionSide": "BOTH",
            "positionAmt": inst.format_qty(v.amt),
            "entryPrice": flex(v.entry, inst.price_decimals),
            "breakEvenPrice": flex(bep, inst.price_decimals),
            "markPrice": f8(v.mark),
            "unRealizedProfit": t8(v.upnl),
            "liquidationPrice": t8(v.liq) if v.liq else "0",
            "isolatedMargin": "0",
            "notional": t8(v.notional),
        }
        if version == 3:
            row.update(
                {
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": t8(v.im + v.oo_im),
                    "maintMargin": t8(v.mm),
                    "positionInitialMargin": t8(v.im),
                    "openOrderInitialMargin": t8(v.oo_im),
                    "adl": 0 if not v.amt else 1,
                    "bidNotional": wire.plain(v.bid),
                    "askNotional": wire.plain(v.ask),
                }
            )
        else:
            lev = self._ledger.leverage(acct, symbol)
            mtype = acct.margin_type.get(symbol, "CROSSED")
            row.update(
                {
                    "isolatedWallet": "0",
                    "leverage": str(lev),
                    "maxNotionalValue": _int_str(max_notional(s.brackets, lev)),
                    "marginType": "isolated" if mtype == "ISOLATED" else "cross",
                    "isAutoAddMargin": "false",
                }
            )
        row["updateTime"] = update
        return row

    # --- configuration ---------------------------------------------------------------------

    def change_leverage(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/leverage: emits ACCOUNT_CONFIG_UPDATE `ac`."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        s = self._e.book(p.req("symbol"))
        symbol = s.inst.symbol
        raw = p.req("leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= max_leverage(s.brackets):
            raise BinanceError(-4028, f"Leverage {raw} is not valid")
        lev = int(raw)
        cap = max_notional(s.brackets, lev)
        pos = acct.positions.get(symbol)
        if pos and pos.amt:
            notional = abs(pos.amt) * (s.ref_price() or pos.entry)
            if notional > cap:
                raise BinanceError(
                    -2027, "Exceeded the maximum allowable position at current leverage."
                )
        acct.leverage[symbol] = lev
        self._e.events.config_update(acct, symbol, lev)
        return {"leverage": lev, "maxNotionalValue": _int_str(cap), "symbol": symbol}

    def change_margin_type(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/marginType. The flag is stored and reported; margin math stays cross."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbol = self._e.book(p.req("symbol")).inst.symbol
        wanted = p.req("marginType").upper()
        if wanted == "CROSS":
            wanted = "CROSSED"
        if wanted not in ("CROSSED", "ISOLATED"):
            raise BinanceError(-1130, "Data sent for parameter 'marginType' is not valid.")
        if acct.margin_type.get(symbol, "CROSSED") == wanted:
            raise BinanceError(-4046, "No need to change margin type.")
        if acct.open_orders.get(symbol):
            raise BinanceError(-4047, "Margin type cannot be changed if there exists open orders.")
        pos = acct.positions.get(symbol)
        if pos and pos.amt:
            raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
        acct.margin_type[symbol] = wanted
        return {"code": 200, "msg": "success"}

    def get_position_mode(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/positionSide/dual."""
        return {"dualSidePosition": self._ledger.account(account_id).dual_side}

    def set_position_mode(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/positionSide/dual. Hedge Mode is not simulated: enabling it is rejected
        with -1020 after the documented -4059/-4067/-4068 checks."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        p.req("dualSidePosition")
        wanted = p.bool("dualSidePosition")
        if wanted == acct.dual_side:
            raise BinanceError(-4059, "No need to change position side.")
        if any(acct.open_orders.values()):
            raise BinanceError(
                -4067, "Position side cannot be changed if there exists open orders."
            )
        if any(pos.amt for pos in acct.positions.values()):
            raise BinanceError(-4068, "Position side cannot be changed if there exists position.")
        if wanted:
            raise BinanceError(
                -1020, "Hedge Mode is not supported by this exchange simulator (One-way only)."
            )
        acct.dual_side = wanted
        return {"code": 200, "msg": "success"}

    def commission_rate(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/commissionRate."""
        self._ledger.account(account_id)
        symbol = self._e.book(Params(params).req("symbol")).inst.symbol
        return {
            "symbol": symbol,
            "makerCommissionRate": wire.plain(self._cfg.maker_fee),
            "takerCommissionRate": wire.plain(self._cfg.taker_fee),
        }

    def leverage_bracket(
        self, account_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """GET /fapi/v1/leverageBracket: a list, or one object when `symbol` is given (as
        documented). Numbers are JSON numbers here, not strings."""
        self._ledger.account(account_id)
        p = Params(params)
        if p.has("symbol"):
            s = self._e.book(p.opt("symbol"))
            return _brackets_json(s)
        return [_brackets_json(s) for s in self._books.values()]

    def symbol_config(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/symbolConfig."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbols = self._named_symbols(p)
        out = []
        for symbol in symbols:
            lev = self._ledger.leverage(acct, symbol)
            out.append(
                {
                    "symbol": symbol,
                    "marginType": acct.margin_type.get(symbol, "CROSSED"),
                    "isAutoAddMargin": False,
                    "leverage": lev,
                    "maxNotionalValue": _int_str(max_notional(self._books[symbol].brackets, lev)),
                }
            )
        return out

    def account_config(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/accountConfig."""
        acct = self._ledger.account(account_id)
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "dualSidePosition": acct.dual_side,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    # --- history ---------------------------------------------------------------------------

    def user_trades(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/userTrades: orderId, fromId (not with times), startTime/endTime (<= 7
        days apart; neither = last 7 days), limit (500, max 1000)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        s = self._e.book(p.req("symbol"))
        inst = s.inst
        order_id, from_id = p.int("orderId"), p.int("fromId")
        start, end = p.int("startTime"), p.int("endTime")
        limit = p.limit(500, 1000)
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        start, end = _window(start, end, self._e.now_ms(), from_id is not None)
        trades = acct.trades.get(inst.symbol, [])
        lo, hi = _span(trades, _TRADE_ID, from_id, start, end)
        from_front = from_id is not None or p.has("startTime")
        if order_id is None:
            picked = _page(trades, lo, hi, limit, from_front)
        else:
            of_order = (trades[i] for i in range(lo, hi) if trades[i].order_id == order_id)
            picked = list(islice(of_order, limit)) if from_front else list(of_order)[-limit:]
        quote_decimals = inst.wire_price_decimals + inst.qty_decimals
        return [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "side": t.side,
                "price": inst.format_wire_price(t.price),
                "qty": inst.format_qty(t.qty),
                "realizedPnl": f8(t.realized_pnl) if t.realized_pnl else "0",
                "marginAsset": "USDT",
                "quoteQty": f"{t.price * t.qty:.{quote_decimals}f}",
                "commission": f8(t.commission),
                "commissionAsset": "USDT",
                "time": t.time,
                "positionSide": "BOTH",
                "buyer": t.side == "BUY",
                "maker": t.maker,
            }
            for t in picked
        ]

    def income(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/income: symbol, incomeType, startTime/endTime (neither = last 7 days),
        page, limit (100, max 1000)."""
        acct = self._ledger.account(account_id)
        p = Params(params)
        symbol = self._named_symbol(p)
        income_type = p.opt("incomeType")
        start, end = p.int("startTime"), p.int("endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        if start is None and end is None:
            start = self._e.now_ms() - _SEVEN_DAYS_MS
        limit = p.limit(100, 1000)
        page = p.int("page") or 1
        incomes = acct.incomes
        lo, hi = _span(incomes, None, None, start, end)
        matching = (
            i
            for i in (incomes[k] for k in range(lo, hi))  # islice would walk from 0 to lo
            if (symbol is None or i.symbol == symbol)
            and (income_type is None or i.income_type == income_type)
        )
        rows = list(islice(matching, (page - 1) * limit, page * limit))
        return [
            {
                "symbol": i.symbol,
                "incomeType": i.income_type,
                "income": f8(i.income),
                "asset": "USDT",
                "info": i.info or i.income_type,
                "time": i.time,
                "tranId": i.tran_id,
                "tradeId": i.trade_id,
            }
            for i in rows
        ]


_ORDER_ID = attrgetter("order_id")
_TRADE_ID = attrgetter("trade_id")
_TIME = attrgetter("time")


def _span(
    rows: Sequence[Any],
    id_of: Callable[[Any], int] | None,
    first_id: int | None,
    start: int | None,
    end: int | None,
) -> tuple[int, int]:
    """[lo, hi) of `rows` with id >= first_id and start <= time <= end (ms), by bisection:
    the rows are in id order, which is also time order (orders, fills, incomes are appended
    as the exchange clock moves forward), so the matches are one slice and a query costs the
    log of the history, not its length."""
    lo, hi = 0, len(rows)
    if first_id is not None and id_of is not None:
        lo = bisect_left(rows, first_id, key=id_of)
    if start is not None:
        lo = max(lo, bisect_left(rows, start, key=_TIME))
    if end is not None:
        hi = bisect_right(rows, end, key=_TIME)
    return lo, max(lo, hi)


def _page(rows: Sequence[T], lo: int, hi: int, limit: int, from_front: bool) -> list[T]:
    """The first `limit` rows of [lo, hi) when the query gave a start (id or time), else the
    last `limit` (the newest), as Binance pages allOrders and userTrades."""
    if from_front:
        return list(rows[lo : min(hi, lo + limit)])
    return list(rows[max(lo, hi - limit) : hi])


def refuse_unrequired(p: Params, order_type: OrderType, close_position: bool) -> None:
    """-1106 for a parameter Binance refuses with this order instead of ignoring it (reference
    6.2.1, 3.2), so a client that sends one fails here as it would live: `reduceOnly` with
    closePosition=true (whatever its value: "cannot be sent with closePosition"), `timeInForce`
    on a MARKET order, `price` on a type without a limit price (MARKET, *_MARKET).

    The names are as Binance prints them in the observed answers: 'reduceonly' in lower case,
    the others as sent; `timeInForce` is named before `price` when a MARKET order has both."""
    if close_position and p.has("reduceOnly"):
        raise _not_required("reduceonly")
    if order_type is OrderType.MARKET and p.has("timeInForce"):
        raise _not_required("timeInForce")
    if order_type not in _PRICED and p.has("price"):
        raise _not_required("price")


def refuse_ignored(p: Params, order_type: OrderType, tif: TimeInForce, *, algo: bool) -> None:
    """-1106 for a parameter this order type does not use: `stopPrice` (`triggerPrice` on the
    algo endpoint) on LIMIT, MARKET or TRAILING_STOP_MARKET, `activationPrice`
    (`activatePrice`) or `callbackRate` on any type but TRAILING_STOP_MARKET, `goodTillDate`
    without timeInForce=GTD. The reference does not say whether Binance ignores these or
    refuses them; the local exchange refuses them, so that a strategy relying on one (a LIMIT
    "with a stop", an expiry on a GTC order) fails loudly here instead of trading differently
    from what it meant, on the local exchange and perhaps on Binance."""
    stop_name = "triggerPrice" if algo else "stopPrice"
    if order_type not in _STOP_PRICED and p.has(stop_name):
        raise _not_required(stop_name)
    if order_type is not OrderType.TRAILING_STOP_MARKET:
        for name in ("activatePrice" if algo else "activationPrice", "callbackRate"):
            if p.has(name):
                raise _not_required(name)
    if tif is not TimeInForce.GTD and p.has("goodTillDate"):
        raise _not_required("goodTillDate")


def refuse_price_match(p: Params, order_type: OrderType) -> None:
    """`priceMatch` (the exchange picks the price) is not implemented by the local exchange:
    an unknown value is -5037 and a type Binance does not match (anything but LIMIT, STOP,
    TAKE_PROFIT) -5038 as on Binance (reference 3, 6.2.1); any value but NONE on a type Binance
    matches is -5037 with a message saying the local exchange does not support it, rather than
    an order resting at a price the client never chose (the parameter used to be dropped)."""
    value = p.opt("priceMatch")
    if value is None or value == PriceMatch.NONE:
        return
    if value not in _PRICE_MATCHES:
        raise BinanceError(-5037, "Invalid price match.")
    if order_type not in _PRICED:
        raise BinanceError(
            -5038, "Price match only supports order type: LIMIT, STOP AND TAKE_PROFIT"
        )
    raise BinanceError(
        -5037, f"priceMatch {value} is not supported by the local exchange; send a price."
    )


def _not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def _window(
    start: int | None, end: int | None, now: int, by_id: bool
) -> tuple[int | None, int | None]:
    """The time span (ms, inclusive) a history query reads (userTrades, allOrders,
    allAlgoOrders): a window of at most 7 days (reference 6.3, 6.4, 6.9; -4165 "Maximum time
    interval is 7 days" beyond, error table 3); one end given, the 7 days from or up to it;
    neither, the last 7 days, unless the query starts from an id (`by_id`: fromId, orderId,
    algoId), which reads on whatever the time."""
    if start is not None and end is not None:
        if start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        if end - start > _SEVEN_DAYS_MS:
            raise BinanceError(-4165, "Maximum time interval is 7 days")
    if by_id:
        return start, end
    if start is None and end is None:
        return now - _SEVEN_DAYS_MS, None
    if start is None and end is not None:
        return end - _SEVEN_DAYS_MS, end
    if start is not None and end is None:
        return start, start + _SEVEN_DAYS_MS
    return start, end


def _int_str(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else wire.plain(value)


def _alias(account_id: str) -> str:
    n = zlib.crc32(account_id.encode())
    chars = []
    for _ in range(4):
        n, r = divmod(n, len(_ALPHABET))
        chars.append(_ALPHABET[r])
    return "".join(chars)


def _brackets_json(s: SymbolBook) -> dict[str, Any]:
    return {
        "symbol": s.inst.symbol,
        "brackets": [
            {
                "bracket": b.bracket,
                "initialLeverage": b.initial_leverage,
                "notionalCap": int(b.notional_cap),
                "notionalFloor": int(b.notional_floor),
                "maintMarginRatio": float(b.maint_margin_ratio),
                "cum": float(b.cum),
            }
            for b in s.brackets
        ],
    }


def _as_param(value: Any) -> str:
    """batchOrders elements may hold JSON numbers/bools; REST params are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
