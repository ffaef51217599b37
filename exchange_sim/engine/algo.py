"""Conditional orders: the Algo Order API (post 2025-12-09) and the legacy trigger path.

An armed conditional sits in its symbol's trigger list (CONTRACT_PRICE: checked on each
recorded trade through the hot-path thresholds; MARK_PRICE: on each mark price update). On
trigger: ALGO_UPDATE TRIGGERING -> TRIGGERED (a MARKET or LIMIT order is placed, with its own
ORDER_TRADE_UPDATEs) -> FINISHED when that order is terminal. There is no margin check before
the trigger (as Binance); at trigger a failed reduce-only or margin check gives REJECTED, and a
closePosition order with nothing to close EXPIRED.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exchange_sim.engine import wire
from exchange_sim.engine.orders import NewOrder, OrderEndpoints
from exchange_sim.engine.params import Params
from exchange_sim.engine.state import CANCELED, Account, Algo, Order
from exchange_sim.errors import BinanceError

_MARKET_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
_CANCEL_ALL_OK = {"code": 200, "msg": "The operation of cancel all open order is done."}


class AlgoOrders(OrderEndpoints):
    """POST/DELETE/GET /fapi/v1/algoOrder, openAlgoOrders, allAlgoOrders, algoOpenOrders."""

    def _make_algo(self, acct: Account, req: NewOrder, qty_steps: int) -> Algo:
        inst = req.s.inst
        now = self._clock.now_ms()
        algo_id = self._next_algo_id
        self._next_algo_id += 1
        trigger = req.stop_price or Decimal(0)
        a = Algo(
            account=acct,
            algo_id=algo_id,
            client_id=req.client_id,
            order_type=req.type.value,
            symbol=inst.symbol,
            side=req.side.value,
            tif=req.tif.value,
            qty_steps=qty_steps,
            price=req.price or Decimal(0),
            trigger_price=trigger,
            trigger_ticks=inst.to_ticks(trigger),
            working_type=req.working_type.value,
            price_protect=req.price_protect,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            stp=req.stp,
            create_time=now,
            update_time=now,
            gtd=req.gtd,
            tick=inst.tick_size,
        )
        if req.type.value == "TRAILING_STOP_MARKET":
            a.callback_rate = req.callback_rate
            a.activate_price = req.activate_price
            if a.activate_price is None:  # activate at the latest price (checked to be known)
                s = req.s
                ref = s.mark if a.working_type == "MARK_PRICE" else self._last_price(s)
                a.activate_price = ref
        return a

    def _arm(self, a: Algo) -> None:
        s = self._syms[a.symbol]
        if a.legacy_order is None:  # a legacy conditional is listed as an order instead
            a.account.open_algos[a.algo_id] = a
            a.account.algos[a.algo_id] = a
            self._algos[a.algo_id] = a
        if a.working_type == "MARK_PRICE":
            s.triggers_mark.append(a)
        else:
            s.triggers_contract.append(a)
            s.refresh(self._touch)

    def _algo_event(self, a: Algo) -> None:
        a.update_time = self._clock.now_ms()
        self._emit(a.account, wire.algo_update(a, self._syms[a.symbol].inst, now_ms=a.update_time))

    def _fire(self, a: Algo) -> None:
        """The trigger condition holds: place the real order (or convert the legacy one)."""
        s = self._syms[a.symbol]
        inst = s.inst
        if a.price_protect and s.mark is not None and s.last_ticks is not None:
            gap = abs(s.mark - inst.from_ticks(s.last_ticks)) / s.mark
            if gap > inst.trigger_protect:
                return  # priceProtect: wait while mark and last disagree too much
        self._drop_trigger(a)
        now = self._clock.now_ms()
        a.trigger_time = now
        acct = a.account
        if a.legacy_order is not None:
            self._fire_legacy(a, a.legacy_order)
            return
        a.status = "TRIGGERING"
        self._algo_event(a)
        pos = acct.positions.get(a.symbol)
        amt = pos.amt if pos else Decimal(0)
        closes = amt != 0 and (amt > 0) != a.is_buy
        if a.close_position:
            if not closes:
                a.status = "EXPIRED"
                a.reject_reason = "No position to close."
                self._algo_event(a)
                return
            a.qty_steps = int(abs(amt) / inst.lot.step_size)
        if a.reduce_only and not closes:
            a.status = "REJECTED"
            a.reject_reason = "Reduce Only reject"
            self._algo_event(a)
            return
        is_market = a.order_type in _MARKET_TYPES
        qty = inst.from_steps(a.qty_steps)
        if not a.reduce_only:
            est = a.price if not is_market else self._ref_price(s)
            try:
                if est:
                    self._check_margin(acct, s, a.is_buy, qty, est, immediate=is_market)
            except BinanceError as e:
                a.status = "REJECTED"
                a.reject_reason = e.msg
                self._algo_event(a)
                return
        o = Order(
            account=acct,
            symbol=a.symbol,
            order_id=self._new_order_id(s),
            client_id=a.client_id,
            side=a.side,
            type="MARKET" if is_market else "LIMIT",
            orig_type=a.order_type,
            tif="GTC" if is_market else a.tif,
            price=Decimal(0) if is_market else a.price,
            price_ticks=0 if is_market else inst.to_ticks(a.price),
            qty_steps=a.qty_steps,
            reduce_only=a.reduce_only,
            now_ms=now,
            stp=a.stp,
            stop_price=a.trigger_price,
            working_type=a.working_type,
            price_protect=a.price_protect,
            close_position=a.close_position,
        )
        o.algo = a
        o.activate_price = a.activate_price if a.is_trailing else None
        o.callback_rate = a.callback_rate
        a.actual_order = o
        a.status = "TRIGGERED"
        self._algo_event(a)
        self._register(o)
        self._otu(o, "NEW")
        self._execute(o, s, self._market_cap(s, o.is_buy) if is_market else None)

    def _fire_legacy(self, a: Algo, o: Order) -> None:
        """Legacy conditional: the same orderId becomes MARKET/LIMIT (`ot` keeps the type)."""
        s = self._syms[o.symbol]
        if a.close_position:
            steps = self._closable_steps(o)
            if steps == 0:
                self._finish(o, "EXPIRED")
                return
            o.qty_steps = steps
        is_market = o.type in _MARKET_TYPES
        o.type = "MARKET" if is_market else "LIMIT"
        o.update_time = self._clock.now_ms()
        o.algo = None
        self._otu(o, "NEW")
        self._execute(o, s, self._market_cap(s, o.is_buy) if is_market else None)

    # --- endpoints ------------------------------------------------------------------------

    def new_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/algoOrder (algoType=CONDITIONAL; triggerPrice, clientAlgoId)."""
        acct = self._account(account_id)
        p = Params(params)
        algo_type = p.req("algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceError(-1130, "Data sent for parameter 'algoType' is not valid.")
        req = self._parse_new(acct, p, algo=True)
        if len(acct.open_algos) >= self._cfg.max_algo_orders:
            raise BinanceError(-4045, "Reach max stop order limit.")
        self._check_trigger(req)
        inst = req.s.inst
        steps = inst.to_steps(req.quantity) if req.quantity is not None else 0
        a = self._make_algo(acct, req, steps)
        self._arm(a)
        self._algo_event(a)
        return wire.algo_json(a, inst)

    def _find_algo(self, acct: Account, p: Params) -> Algo | None:
        algo_id = p.int("algoId")
        client_id = p.opt("clientAlgoId")
        if algo_id is None and client_id is None:
            raise BinanceError(
                -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!"
            )
        if algo_id is not None:
            a = acct.algos.get(algo_id)
        else:
            matches = [a for a in acct.algos.values() if a.client_id == client_id]
            a = matches[-1] if matches else None
        return a

    def cancel_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOrder: -2011 unless the algo order still waits for its trigger."""
        acct = self._account(account_id)
        a = self._find_algo(acct, Params(params))
        if a is None or a.status != "NEW":
            raise BinanceError(-2011, "Unknown order sent.")
        self._cancel_algo(a)
        return {"algoId": a.algo_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def _cancel_algo(self, a: Algo) -> None:
        self._drop_trigger(a)
        a.status = CANCELED
        self._algo_event(a)

    def query_algo_order(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/algoOrder."""
        acct = self._account(account_id)
        a = self._find_algo(acct, Params(params))
        if a is None:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.algo_json(a, self._syms[a.symbol].inst, query=True)

    def open_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/openAlgoOrders (symbol, algoId optional)."""
        acct = self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.opt("symbol")).inst.symbol if p.has("symbol") else None
        algo_id = p.int("algoId")
        out = []
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if (symbol is None or a.symbol == symbol) and (algo_id is None or a.algo_id == algo_id):
                out.append(wire.algo_json(a, self._syms[a.symbol].inst, query=True))
        return out

    def all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/allAlgoOrders: symbol, algoId (>=), startTime, endTime, limit (<=1000)."""
        acct = self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.req("symbol")).inst.symbol
        algo_id = p.int("algoId")
        start, end = p.int("startTime"), p.int("endTime")
        limit = p.limit(500, 1000)
        picked = [
            a
            for a in sorted(acct.algos.values(), key=lambda a: a.algo_id)
            if a.symbol == symbol
            and a.legacy_order is None
            and (algo_id is None or a.algo_id >= algo_id)
            and (start is None or a.create_time >= start)
            and (end is None or a.create_time <= end)
        ]
        picked = picked[:limit] if (algo_id is not None or start is not None) else picked[-limit:]
        return [wire.algo_json(a, self._syms[a.symbol].inst, query=True) for a in picked]

    def cancel_all_algo_orders(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /fapi/v1/algoOpenOrders."""
        acct = self._account(account_id)
        symbol = self._sym(Params(params).req("symbol")).inst.symbol
        for a in sorted(acct.open_algos.values(), key=lambda a: a.algo_id):
            if a.symbol == symbol and a.legacy_order is None:
                self._cancel_algo(a)
        return dict(_CANCEL_ALL_OK)
