"""REST account endpoints: account, balance, positionRisk (v2/v3), leverage, margin type,
position mode, brackets, commission, symbol/account config, user trades, income.

Money is reported with 8 decimals; prices/quantities with the instrument's tick/step decimals.
"""

import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exchange_sim.engine import wire
from exchange_sim.engine.algo import AlgoOrders
from exchange_sim.engine.fmt import ZERO, f8, flex
from exchange_sim.engine.margin import (
    bracket_for,
    liquidation_price,
    maintenance_margin,
    max_leverage,
    max_notional,
)
from exchange_sim.engine.params import Params
from exchange_sim.engine.state import Account, SymbolState
from exchange_sim.errors import BinanceError

_SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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


class AccountEndpoints(AlgoOrders):
    # --- derived numbers -----------------------------------------------------------------

    def _view(self, acct: Account, symbol: str) -> _PositionView:
        s = self._syms[symbol]
        pos = acct.positions.get(symbol)
        v = _PositionView()
        v.amt = pos.amt if pos else ZERO
        v.entry = pos.entry if pos else ZERO
        v.mark = self._ref_price(s) or v.entry
        v.notional = v.amt * v.mark
        v.upnl = v.amt * (v.mark - v.entry) if v.amt else ZERO
        v.im = abs(v.notional) / self._leverage(acct, symbol)
        v.oo_im = self._open_order_im(acct, symbol) if acct.open_orders.get(symbol) else ZERO
        v.mm = maintenance_margin(s.brackets, abs(v.notional))
        v.bid, v.ask = self._notionals(acct, symbol)
        v.liq = self._liquidation_price(acct, s, v) if v.amt else ZERO
        return v

    def _liquidation_price(self, acct: Account, s: SymbolState, v: _PositionView) -> Decimal:
        other_mm = other_upnl = ZERO
        for symbol, pos in acct.positions.items():
            if symbol == s.inst.symbol or pos.amt == 0:
                continue
            o = self._syms[symbol]
            mark = self._ref_price(o) or pos.entry
            other_mm += maintenance_margin(o.brackets, abs(pos.amt) * mark)
            other_upnl += pos.amt * (mark - pos.entry)
        b = bracket_for(s.brackets, abs(v.notional))
        return liquidation_price(
            wallet=acct.wallet,
            other_mm=other_mm,
            other_upnl=other_upnl,
            amt=v.amt,
            entry=v.entry,
            mmr=b.maint_margin_ratio,
            cum=b.cum,
        )

    def _active_symbols(self, acct: Account) -> list[str]:
        return [
            symbol
            for symbol in self._syms
            if (acct.positions.get(symbol) and acct.positions[symbol].amt)
            or acct.open_orders.get(symbol)
        ]

    # --- account / balance / positions -----------------------------------------------------

    def account(
        self, account_id: str, params: Mapping[str, str], version: int = 2
    ) -> dict[str, Any]:
        """GET /fapi/v2/account (version=2) or /fapi/v3/account (version=3)."""
        acct = self._account(account_id)
        t = self._totals(acct)
        initial = t.position_im + t.open_order_im
        available = max(ZERO, t.available)
        withdraw = max(ZERO, min(acct.wallet, available))
        totals = {
            "totalInitialMargin": f8(initial),
            "totalMaintMargin": f8(t.maint),
            "totalWalletBalance": f8(acct.wallet),
            "totalUnrealizedProfit": f8(t.upnl),
            "totalMarginBalance": f8(t.margin_balance),
            "totalPositionInitialMargin": f8(t.position_im),
            "totalOpenOrderInitialMargin": f8(t.open_order_im),
            "totalCrossWalletBalance": f8(acct.wallet),
            "totalCrossUnPnl": f8(t.upnl),
            "availableBalance": f8(available),
            "maxWithdrawAmount": f8(withdraw),
        }
        asset: dict[str, Any] = {
            "asset": "USDT",
            "walletBalance": f8(acct.wallet),
            "unrealizedProfit": f8(t.upnl),
            "marginBalance": f8(t.margin_balance),
            "maintMargin": f8(t.maint),
            "initialMargin": f8(initial),
            "positionInitialMargin": f8(t.position_im),
            "openOrderInitialMargin": f8(t.open_order_im),
            "crossWalletBalance": f8(acct.wallet),
            "crossUnPnl": f8(t.upnl),
            "availableBalance": f8(available),
            "maxWithdrawAmount": f8(withdraw),
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
        symbols = list(self._syms) if version == 2 else self._active_symbols(acct)
        body["positions"] = [self._account_position(acct, sym, version) for sym in symbols]
        return body

    def _account_position(self, acct: Account, symbol: str, version: int) -> dict[str, Any]:
        s = self._syms[symbol]
        inst = s.inst
        v = self._view(acct, symbol)
        pos = acct.positions.get(symbol)
        update = pos.update_time if pos else 0
        if version == 3:
            return {
                "symbol": symbol,
                "positionSide": "BOTH",
                "positionAmt": inst.format_qty(v.amt),
                "unrealizedProfit": f8(v.upnl),
                "isolatedMargin": "0",
                "notional": f8(v.notional),
                "isolatedWallet": "0",
                "initialMargin": f8(v.im + v.oo_im),
                "maintMargin": f8(v.mm),
                "updateTime": update,
            }
        lev = self._leverage(acct, symbol)
        return {
            "symbol": symbol,
            "initialMargin": f8(v.im + v.oo_im),
            "maintMargin": f8(v.mm),
            "unrealizedProfit": f8(v.upnl),
            "positionInitialMargin": f8(v.im),
            "openOrderInitialMargin": f8(v.oo_im),
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
        acct = self._account(account_id)
        t = self._totals(acct)
        available = max(ZERO, t.available)
        return [
            {
                "accountAlias": _alias(acct.account_id),
                "asset": "USDT",
                "balance": f8(acct.wallet),
                "crossWalletBalance": f8(acct.wallet),
                "crossUnPnl": f8(t.upnl),
                "availableBalance": f8(available),
                "maxWithdrawAmount": f8(max(ZERO, min(acct.wallet, available))),
                "marginAvailable": True,
                "updateTime": acct.update_time,
            }
        ]

    def position_risk(
        self, account_id: str, params: Mapping[str, str], version: int = 3
    ) -> list[dict[str, Any]]:
        """GET /fapi/v2/positionRisk (every symbol) or /fapi/v3/positionRisk (active only)."""
        acct = self._account(account_id)
        p = Params(params)
        symbols = [self._sym(p.opt("symbol")).inst.symbol] if p.has("symbol") else list(self._syms)
        if version == 3:
            active = set(self._active_symbols(acct))
            symbols = [sym for sym in symbols if sym in active]
        return [self._position_risk_row(acct, sym, version) for sym in symbols]

    def _position_risk_row(self, acct: Account, symbol: str, version: int) -> dict[str, Any]:
        s = self._syms[symbol]
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
            "unRealizedProfit": f8(v.upnl),
            "liquidationPrice": f8(v.liq) if v.liq else "0",
            "isolatedMargin": "0",
            "notional": f8(v.notional),
        }
        if version == 3:
            row.update(
                {
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": f8(v.im + v.oo_im),
                    "maintMargin": f8(v.mm),
                    "positionInitialMargin": f8(v.im),
                    "openOrderInitialMargin": f8(v.oo_im),
                    "adl": 0 if not v.amt else 1,
                    "bidNotional": wire.plain(v.bid),
                    "askNotional": wire.plain(v.ask),
                }
            )
        else:
            lev = self._leverage(acct, symbol)
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
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        symbol = s.inst.symbol
        raw = p.req("leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= max_leverage(s.brackets):
            raise BinanceError(-4028, f"Leverage {raw} is not valid")
        lev = int(raw)
        cap = max_notional(s.brackets, lev)
        pos = acct.positions.get(symbol)
        if pos and pos.amt:
            notional = abs(pos.amt) * (self._ref_price(s) or pos.entry)
            if notional > cap:
                raise BinanceError(
                    -2027, "Exceeded the maximum allowable position at current leverage."
                )
        acct.leverage[symbol] = lev
        now = self._clock.now_ms()
        self._emit(
            acct,
            {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now, "ac": {"s": symbol, "l": lev}},
        )
        return {"leverage": lev, "maxNotionalValue": _int_str(cap), "symbol": symbol}

    def change_margin_type(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/marginType. The flag is stored and reported; margin math stays cross."""
        acct = self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.req("symbol")).inst.symbol
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
        return {"dualSidePosition": self._account(account_id).dual_side}

    def set_position_mode(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /fapi/v1/positionSide/dual. Hedge Mode is not simulated: enabling it is rejected
        with -1020 after the documented -4059/-4067/-4068 checks."""
        acct = self._account(account_id)
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
        self._account(account_id)
        symbol = self._sym(Params(params).req("symbol")).inst.symbol
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
        self._account(account_id)
        p = Params(params)
        if p.has("symbol"):
            s = self._sym(p.opt("symbol"))
            return _brackets_json(s)
        return [_brackets_json(s) for s in self._syms.values()]

    def symbol_config(self, account_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/symbolConfig."""
        acct = self._account(account_id)
        p = Params(params)
        symbols = [self._sym(p.opt("symbol")).inst.symbol] if p.has("symbol") else list(self._syms)
        out = []
        for symbol in symbols:
            lev = self._leverage(acct, symbol)
            out.append(
                {
                    "symbol": symbol,
                    "marginType": acct.margin_type.get(symbol, "CROSSED"),
                    "isAutoAddMargin": False,
                    "leverage": lev,
                    "maxNotionalValue": _int_str(max_notional(self._syms[symbol].brackets, lev)),
                }
            )
        return out

    def account_config(self, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /fapi/v1/accountConfig."""
        acct = self._account(account_id)
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
        acct = self._account(account_id)
        p = Params(params)
        s = self._sym(p.req("symbol"))
        inst = s.inst
        order_id, from_id = p.int("orderId"), p.int("fromId")
        start, end = p.int("startTime"), p.int("endTime")
        limit = p.limit(500, 1000)
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        start, end = _window(start, end, self._clock.now_ms(), from_id is not None)
        trades = [
            t
            for t in acct.trades.get(inst.symbol, [])
            if (order_id is None or t.order_id == order_id)
            and (from_id is None or t.trade_id >= from_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
        ]
        picked = trades[:limit] if (from_id is not None or p.has("startTime")) else trades[-limit:]
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
        acct = self._account(account_id)
        p = Params(params)
        symbol = self._sym(p.opt("symbol")).inst.symbol if p.has("symbol") else None
        income_type = p.opt("incomeType")
        start, end = p.int("startTime"), p.int("endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        if start is None and end is None:
            start = self._clock.now_ms() - _SEVEN_DAYS_MS
        limit = p.limit(100, 1000)
        page = p.int("page") or 1
        rows = [
            i
            for i in acct.incomes
            if (symbol is None or i.symbol == symbol)
            and (income_type is None or i.income_type == income_type)
            and (start is None or i.time >= start)
            and (end is None or i.time <= end)
        ]
        rows = rows[(page - 1) * limit : page * limit]
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


def _window(
    start: int | None, end: int | None, now: int, by_id: bool
) -> tuple[int | None, int | None]:
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


def _brackets_json(s: SymbolState) -> dict[str, Any]:
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
