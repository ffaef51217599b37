"""REST order endpoints: new/test/batch orders, query, cancel, modify, cancel-all, countdown.

Validation follows the suggested order of section 6.2.1: mandatory params (-1102) -> enums ->
client order id (-1100/-4015/-4116) -> mode checks -> filters via Instrument.check_order ->
MARKET price bound (-4131) -> trigger (-2021) -> reduce-only (-2022) -> margin (-2019) ->
TIF outcome (-5021/-5022).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.enums import OrderType, Side, TimeInForce, WorkingType
from exchange_sim.engine import wire
from exchange_sim.engine.market import MarketData
from exchange_sim.engine.params import Params, mandatory
from exchange_sim.engine.state import CANCELED, EXPIRED, Account, Order, SymbolState
from exchange_sim.errors import BinanceError

CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_STP_MODES = frozenset({"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})
_RESP_TYPES = ("ACK", "RESULT")
_MIN_GTD_AHEAD_MS = 600_000
_MAX_GTD_MS = 253402300799000


@dataclass(slots=True)
class NewOrder:
    """A validated order request (before the margin and TIF-outcome checks)."""

    s: SymbolState
    side: Side
    type: OrderType
    tif: TimeInForce
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    client_id: str
    resp_type: str
    working_type: WorkingType
    price_protect: bool
    stp: str
    gtd: int
    activate_price: Decimal | None = None  # TRAILING_STOP_MARKET (None = latest price)
    callback_rate: Decimal | None = None  # TRAILING_STOP_MARKET, percent


def check_client_id(value: str, name: str) -> None:
    if len(value) > 36:
        raise BinanceError(-4015, "Client order id length should not be more than 36 chars")
    if not CLIENT_ID.match(value):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )


class OrderEndpoints(MarketData):
    """POST/GET/DELETE/PUT /fapi/v1/order and friends (`_make_algo`/`_arm` from AlgoOrders)."""

    # --- helpers ------------------------------------------------------------------------

    def _generate_client_id(self) -> str:
        """22 alphanumeric chars, as Binance generates; deterministic (no randomness)."""
        self._client_id_seq += 1
        n = self._client_id_seq * 2654435761 + 0x5DEECE66D
        chars = []
        for _ in range(22):
            n, r = divmod(n * 6364136223846793005 + 1442695040888963407, 62)
            chars.append(_ID_ALPHABET[r])
            n %= 1 << 64
        return "".join(chars)

    def _open_count(self, acct: Account, symbol: str) -> int:
        algos = sum(1 for a in acct.open_algos.values() if a.symbol == symbol)
        return len(acct.open_orders.get(symbol, {})) + algos

    def _find_order(self, acct: Account, p: Params, s: SymbolState) -> Order | None:
        order_id = p.int("orderId")
        client_id = p.opt("origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
            )
        symbol = s.inst.symbol
        if order_id is not None:
            o = self._orders[symbol].get(order_id)
        else:
            o = acct.client_orders.get((symbol, client_id or ""))
        if o is None or o.account is not acct:
            return None
        return o

    # --- validation -----------------------------------------------------------------------

    def _parse_new(self, acct: Account, p: Params, *, algo: bool) -> NewOrder:
        s = self._sym(p.req("symbol"))
        inst = s.inst
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
            client_id = self._generate_client_id()
        else:
            check_client_id(client_id, id_name)
            if algo:
                clash = any(a.client_id == client_id for a in acct.open_algos.values())
            else:
                clash = any(
                    o.client_id == client_id for o in acct.open_orders.get(inst.symbol, {}).values()
                )
            if clash:
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
            if p.has("reduceOnly") and not reduce_only:
                raise BinanceError(
                    -4138, "Reduce only must be true with closePosition equals true."
                )
        gtd = 0
        if tif is TimeInForce.GTD:
            gtd_value = p.int("goodTillDate", required=True) or 0
            gtd = gtd_value // 1000 * 1000  # second precision, ms ignored
            if gtd <= self._clock.now_ms() + _MIN_GTD_AHEAD_MS or gtd >= _MAX_GTD_MS:
                raise BinanceError(
                    -5040,
                    "goodTillDate timestamp must be greater than current time plus 600 seconds "
                    "and smaller than 253402300799000",
                )
        # Filters: the one implementation in core.instrument.
        violation = inst.check_order(
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price if order_type is not OrderType.MARKET else None,
            stop_price=stop_price,
            reduce_only=reduce_only,
            close_position=close_position,
            mark_price=self._ref_price(s),
            open_orders=self._open_count(acct, inst.symbol),
        )
        if violation is not None:
            raise BinanceError(violation.code, violation.msg)
        return NewOrder(
            s=s,
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

    def _check_trigger(self, req: NewOrder) -> None:
        """-2021 when the stop/take-profit condition already holds at placement."""
        s = req.s
        ref = s.mark if req.working_type is WorkingType.MARK_PRICE else self._last_price(s)
        if req.type is OrderType.TRAILING_STOP_MARKET:
            self._check_activation(req, ref)
            return
        if ref is None or req.stop_price is None:
            return
        is_stop = req.type in (OrderType.STOP, OrderType.STOP_MARKET)
        rises = is_stop == (req.side is Side.BUY)
        if (rises and ref >= req.stop_price) or (not rises and ref <= req.stop_price):
            raise BinanceError(-2021, "Order would immediately trigger.")

    def _check_activation(self, req: NewOrder, ref: Decimal | None) -> None:
        """Trailing stop: BUY needs activatePrice < latest, SELL > latest (-2021); without one,
        the order activates at the latest price, which must then be known (-1102)."""
        if req.activate_price is None:
            if ref is None:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'activatePrice' was not sent, was empty/null, "
                    "or malformed.",
                )
            return
        if req.s.inst.check_price(req.activate_price, "activatePrice") is not None:
            raise BinanceError(-4135, "Invalid activation price.")
        if ref is None:
            return
        if (req.side is Side.BUY and req.activate_price >= ref) or (
            req.side is Side.SELL and req.activate_price <= ref
        ):
            raise BinanceError(-2021, "Order would immediately trigger.")

    def _check_reduce_only(self, acct: Account, req: NewOrder) -> None:
        pos = acct.positions.get(req.s.inst.symbol)
        amt = pos.amt if pos else Decimal(0)
        if amt == 0 or (amt > 0) == (req.side is Side.BUY):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")

    def _estimate_price(self, req: NewOrder) -> Decimal | None:
        s = req.s
        if req.price is not None:
            return req.price
        best = self._best_opposite(s, req.side is Side.BUY)
        if best is not None:
            return s.inst.from_ticks(best)
        return self._ref_price(s)

    def _check_reduce_only_or_margin(self, acct: Account, req: NewOrder) -> None:
        if req.reduce_only:
            self._check_reduce_only(acct, req)
            return
        est = self._estimate_price(req)
        if est is not None and req.quantity is not None:
            self._check_margin(
                acct,
                req.s,
                req.side is Side.BUY,
                req.quantity,
                est,
                immediate=req.type is OrderType.MARKET,
            )

    def _checks_before_matching(self, acct: Account, req: NewOrder) -> int | None:
        """-4131, -2022, -2019, -5021, -5022 for a LIMIT/MARKET order; returns the MARKET cap."""
        s = req.s
        inst = s.inst
        is_buy = req.side is Side.BUY
        cap = None
        if req.type is OrderType.MARKET:
            cap = self._market_cap(s, is_buy)
            best = self._best_opposite(s, is_buy)
            if cap is not None and best is not None and (best > cap if is_buy else best < cap):
                raise BinanceError(
                    -4131,
                    "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
                )
        self._check_reduce_only_or_margin(acct, req)
        if req.type is OrderType.LIMIT and req.price is not None:
            limit = inst.to_ticks(req.price)
            if req.tif is TimeInForce.FOK:
                steps = inst.to_steps(req.quantity or Decimal(0))
                if self._fillable_steps(s, is_buy, limit) < steps:
                    raise BinanceError(
                        -5021,
                        "Due to the order could not be filled immediately, the FOK order has "
                        "been rejected. The order will not be recorded in the order history",
                    )
            if req.tif is TimeInForce.GTX:
                best = self._best_opposite(s, is_buy)
                if best is not None and (best <= limit if is_buy else best >= limit):
                    raise BinanceError(
                        -5022,
                        "Due to the order could not be executed as maker, the Post Only order "
                        "will be rejected. The order will not be recorded in the order history",
                    )
        return cap

    # --- placement ------------------------------------------------------------------------

    def _make_order(self, acct: Account, req: NewOrder, qty_steps: int) -> Order:
        s = req.s
        inst = s.inst
        price = req.price if req.price is not None else Decimal(0)
        o = Order(
            account=acct,
            symbol=inst.symbol,
            order_id=self._new_order_id(s),
            client_id=req.client_id,
            side=req.side.value,
            type=req.type.value,
            tif=req.tif.value,
            price=price,
            price_ticks=inst.to_ticks(price) if req.price is not None else 0,
            qty_steps=qty_steps,
            reduce_only=req.reduce_only,
            now_ms=self._clock.now_ms(),
            stp=req.stp,
            stop_price=req.stop_price or Decimal(0),
            working_type=req.working_type.value,
            price_protect=req.price_protect,
            close_position=req.close_position,
            gtd=req.gtd,
        )
        o.activate_price = req.activate_price
        o.callback_rate = req.callback_rate
        return o

    def _execute(self, o: Order, s: SymbolState, cap: int | None) -> None:
        """Match a just-accepted LIMIT/MARKET order against the recorded book, then rest/expire."""
        if o.type == "MARKET":
            self._take(o, s, cap)
            if o.is_open:
                self._finish(o, EXPIRED, "9")
            return
        crosses = self._best_opposite(s, o.is_buy)
        if crosses is not None and (
            crosses <= o.price_ticks if o.is_buy else crosses >= o.price_ticks
        ):
            self._take(o, s, o.price_ticks)
        if not o.is_open:
            return
        if o.tif in ("IOC", "FOK"):
            self._finish(o, EXPIRED, "2")
        elif o.reduce_only and self._closable_steps(o) == 0:
            self._finish(o, EXPIRED, "4")
        else:
            self._rest(o, s)
            if o.gtd:
                self._add_timer(o.gtd, "gtd", o)

    def _place(self, acct: Account, req: NewOrder) -> dict[str, Any]:
        s = req.s
        inst = s.inst
        if req.type.is_conditional:
            return self._place_legacy_conditional(acct, req)
        cap = self._checks_before_matching(acct, req)
        o = self._make_order(acct, req, inst.to_steps(req.quantity or Decimal(0)))
        self._register(o)
        self._otu(o, "NEW")
        ack = wire.order_json(o, inst)
        self._execute(o, s, cap)
        return ack if req.resp_type == "ACK" else wire.order_json(o, inst)

    def _place_legacy_conditional(self, acct: Account, req: NewOrder) -> dict[str, Any]:
        """Pre-2025-12-09 behaviour: the conditional rests as an order (same orderId on trigger)."""
        self._check_trigger(req)
        inst = req.s.inst
        steps = inst.to_steps(req.quantity) if req.quantity is not None else 0
        o = self._make_order(acct, req, steps)
        self._register(o)
        trigger = self._make_algo(acct, req, steps)
        trigger.legacy_order = o
        o.activate_price = trigger.activate_price
        o.algo = trigger
        self._arm(trigger)
        self._otu(o, "NEW")
        return wire.order_json(o, inst)

    # --- endpoints ---------------------------------------------------------------------------

    def new_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/order."""
        acct = self._account(account_id)
        req = self._parse_new(acct, Params(params), algo=False)
        return self._place(acct, req)

    def test_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/order/test: full validation up to the margin check; returns {}."""
        acct = self._account(account_id)
        req = self._parse_new(acct, Params(params), algo=False)
        if req.type.is_conditional:
            self._check_trigger(req)
        else:
            self._check_reduce_only_or_margin(acct, req)
        return {}

    def batch_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """POST /fapi/v1/batchOrders: up to 5 orders, one result (order or error) per element."""
        acct = self._account(account_id)
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
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        o = self._find_order(acct, p, s)
        if o is None:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order_json(o, s.inst, query=True)

    def open_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/openOrder: -2013 unless the order is still open."""
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        o = self._find_order(acct, p, s)
        if o is None or not o.is_open:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order_json(o, s.inst, query=True)

    def open_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/openOrders (symbol optional)."""
        acct = self._account(account_id)
        p = Params(params)
        symbols = [self._sym(p.opt("symbol")).inst.symbol] if p.has("symbol") else list(self._syms)
        out = []
        for symbol in symbols:
            inst = self._syms[symbol].inst
            for o in sorted(acct.open_orders.get(symbol, {}).values(), key=lambda o: o.order_id):
                out.append(wire.order_json(o, inst, query=True))
        return out

    def all_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/allOrders: orderId (>=), startTime/endTime (ms), limit (500, max 1000)."""
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        order_id = p.int("orderId")
        start, end = p.int("startTime"), p.int("endTime")
        limit = p.limit(500, 1000)
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        mine = [o for o in self._orders[s.inst.symbol].values() if o.account is acct]
        if order_id is not None:
            mine = [o for o in mine if o.order_id >= order_id]
        if start is not None:
            mine = [o for o in mine if o.time >= start]
        if end is not None:
            mine = [o for o in mine if o.time <= end]
        mine.sort(key=lambda o: o.order_id)
        picked = mine[:limit] if (order_id is not None or start is not None) else mine[-limit:]
        return [wire.order_json(o, s.inst, query=True) for o in picked]

    def cancel_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/order: -2011 unless the order is open."""
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        o = self._find_order(acct, p, s)
        if o is None or not o.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        self._finish(o, CANCELED)
        return wire.order_json(o, s.inst)

    def cancel_batch_orders(
        self, account_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """DELETE /fapi/v1/batchOrders: orderIdList or origClientOrderIdList (max 10)."""
        self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.req("symbol")).inst.symbol
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
        """DELETE /fapi/v1/allOpenOrders (normal orders only; algo orders have their own)."""
        acct = self._account(account_id)
        symbol = self._sym(Params(params).req("symbol")).inst.symbol
        for o in sorted(acct.open_orders.get(symbol, {}).values(), key=lambda o: o.order_id):
            self._finish(o, CANCELED)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def countdown_cancel_all(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/countdownCancelAll: cancel the symbol's open orders after countdownTime
        ms unless called again; 0 stops the timer. Fires from on_* calls and on_time()."""
        acct = self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.req("symbol")).inst.symbol
        countdown = p.int("countdownTime", required=True) or 0
        if countdown < 0:
            raise BinanceError(-1130, "Data sent for parameter 'countdownTime' is not valid.")
        key = (acct.account_id, symbol)
        if countdown == 0:
            self._countdowns.pop(key, None)
        else:
            due = self._clock.now_ms() + countdown
            self._countdowns[key] = due
            self._add_timer(due, "countdown", key)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def modify_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """PUT /fapi/v1/order: new price/quantity of an open LIMIT order (loses priority)."""
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        inst = s.inst
        side = p.enum("side", Side, -1117, "Invalid side.")
        quantity = p.decimal("quantity", required=True)
        price = p.decimal("price", required=True)
        o = self._find_order(acct, p, s)
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
            mark_price=self._ref_price(s),
        )
        if violation is not None:
            raise BinanceError(violation.code, violation.msg)
        assert quantity is not None and price is not None
        new_steps = inst.to_steps(quantity)
        new_ticks = inst.to_ticks(price)
        if new_steps == o.qty_steps and new_ticks == o.price_ticks:
            raise BinanceError(-5027, "No need to modify the order.")
        best = self._best_opposite(s, o.is_buy)
        crosses = best is not None and (best <= new_ticks if o.is_buy else best >= new_ticks)
        if new_steps <= o.filled_steps or (o.tif == "GTX" and crosses):
            self._finish(o, CANCELED)
            return wire.order_json(o, inst)
        self._unrest(o, s)
        o.qty_steps = new_steps
        o.price = inst.from_ticks(new_ticks)
        o.price_ticks = new_ticks
        o.update_time = self._clock.now_ms()
        self._otu(o, "AMENDMENT")
        if crosses:
            self._take(o, s, new_ticks)
        if o.is_open:
            self._rest(o, s)
        return wire.order_json(o, inst)


def _as_param(value: Any) -> str:
    """batchOrders elements may hold JSON numbers/bools; REST params are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
