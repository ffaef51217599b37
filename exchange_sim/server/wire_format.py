"""Binance wire shapes (JSON-ready dicts) of orders, algo orders and user-data-stream events.

The engine's objects and event records in, Binance JSON out: the only place that knows it.

Key sets and value types follow the real captures in tests/fixtures/binance_api: ints/bools as
JSON numbers/booleans, every decimal as a fixed-point string.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.enums import AlgoStatus
from core.instrument import Instrument
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.events import (
    AccountUpdate,
    AlgoUpdate,
    EngineEvent,
    MarginCall,
    OrderUpdate,
    TradeLite,
)
from exchange_sim.engine.fmt import ZERO, f8, flex, plain, q8, t8
from exchange_sim.engine.state import Algo, Order, Position


def avg_price(o: Order, inst: Instrument) -> str:
    if o.filled_steps == 0:
        return inst.format_wire_price(ZERO)
    return flex(o.cum_quote / inst.from_steps(o.filled_steps), inst.price_decimals)


def cum_quote(o: Order, inst: Instrument) -> str:
    return f"{o.cum_quote:.{inst.wire_price_decimals + inst.qty_decimals}f}"


def order_json(o: Order, inst: Instrument, *, query: bool = False) -> dict[str, Any]:
    """Order object of POST/DELETE (with cumQty) or of GET queries (with time, no cumQty)."""
    executed = inst.format_qty(inst.from_steps(o.filled_steps))
    body: dict[str, Any] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status.value,
        "clientOrderId": o.client_id,
        "price": inst.format_wire_price(o.price),
        "avgPrice": avg_price(o, inst),
        "origQty": inst.format_qty(inst.from_steps(o.qty_steps)),
        "executedQty": executed,
    }
    if not query:
        body["cumQty"] = executed
    body.update(
        {
            "cumQuote": cum_quote(o, inst),
            "timeInForce": o.tif,
            "type": o.type,
            "reduceOnly": o.reduce_only,
            "closePosition": o.close_position,
            "side": o.side,
            "positionSide": o.position_side,
            "stopPrice": inst.format_wire_price(o.stop_price),
            "workingType": o.working_type,
            "priceProtect": o.price_protect,
            "origType": o.orig_type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": o.stp,
            "goodTillDate": o.gtd,
        }
    )
    if o.orig_type == "TRAILING_STOP_MARKET":
        body["activatePrice"] = inst.format_wire_price(o.activate_price or ZERO)
        body["priceRate"] = plain(o.callback_rate or ZERO)
    if query:
        body["time"] = o.time
    body["updateTime"] = o.update_time
    return body


def order_trade_update(
    o: Order,
    inst: Instrument,
    *,
    now_ms: int,
    x: str,
    bid_notional: Decimal,
    ask_notional: Decimal,
    last_steps: int = 0,
    last_price: Decimal = ZERO,
    commission: Decimal | None = None,
    trade_id: int = 0,
    maker: bool = False,
    realized: Decimal = ZERO,
) -> dict[str, Any]:
    """ORDER_TRADE_UPDATE (section 10.3). `n`/`N` only on fills, as Binance."""
    body: dict[str, Any] = {
        "s": o.symbol,
        "c": o.client_id,
        "S": o.side,
        "o": o.type,
        "f": o.tif,
        "q": inst.format_qty(inst.from_steps(o.qty_steps)),
        "p": inst.format_wire_price(o.price),
        "ap": avg_price(o, inst) if o.filled_steps else "0",
        "sp": inst.format_wire_price(o.stop_price),
        "x": x,
        "X": o.status.value,
        "i": o.order_id,
        "l": inst.format_qty(inst.from_steps(last_steps)) if last_steps else "0",
        "z": inst.format_qty(inst.from_steps(o.filled_steps)),
        "L": inst.format_wire_price(last_price) if last_steps else "0",
    }
    if commission is not None:
        body["N"] = inst.margin_asset
        body["n"] = f8(commission)
    body.update(
        {
            "T": now_ms,
            "t": trade_id,
            "b": plain(bid_notional),
            "a": plain(ask_notional),
            "m": maker,
            "R": o.reduce_only,
            "wt": o.working_type,
            "ot": o.orig_type,
            "ps": o.position_side,
            "cp": o.close_position,
            "AP": inst.format_wire_price(o.activate_price) if o.activate_price else "0",
            "cr": plain(o.callback_rate) if o.callback_rate else "0",
            "pP": o.price_protect,
            "si": 0,
            "ss": 0,
            "rp": f8(realized),
            "V": o.stp,
            "pm": "NONE",
            "gtd": o.gtd,
            "er": o.er.value,
        }
    )
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": now_ms, "o": body}


def trade_lite(
    o: Order,
    inst: Instrument,
    *,
    now_ms: int,
    steps: int,
    price: Decimal,
    trade_id: int,
    maker: bool,
) -> dict[str, Any]:
    return {
        "e": "TRADE_LITE",
        "E": now_ms,
        "T": now_ms,
        "s": o.symbol,
        "q": inst.format_qty(inst.from_steps(o.qty_steps)),
        "p": inst.format_wire_price(o.price),
        "m": maker,
        "c": o.client_id,
        "S": o.side,
        "L": inst.format_wire_price(price),
        "l": inst.format_qty(inst.from_steps(steps)),
        "t": trade_id,
        "i": o.order_id,
    }


def position_entry(
    pos: Position, inst: Instrument, *, mark: Decimal | None, taker_fee: Decimal, margin_type: str
) -> dict[str, Any]:
    """One `a.P[]` element of ACCOUNT_UPDATE."""
    upnl = pos.amt * (mark - pos.entry) if (mark is not None and pos.amt) else ZERO
    return {
        "s": pos.symbol,
        "pa": inst.format_qty(pos.amt),
        "ep": flex(pos.entry, inst.price_decimals),
        "bep": flex(break_even(pos, taker_fee), inst.price_decimals),
        "cr": plain(q8(pos.realized)),
        "up": t8(upnl),
        "mt": "isolated" if margin_type == "ISOLATED" else "cross",
        "iw": "0",
        "ps": "BOTH",
    }


def break_even(pos: Position, taker_fee: Decimal) -> Decimal:
    """Entry moved by the taker fee of closing: entry*(1+fee) long, entry*(1-fee) short.

    Matches the real captures (67445.9 -> 67479.62295 at 0.05 %).
    """
    if pos.amt == 0:
        return ZERO
    return pos.entry * (1 + taker_fee) if pos.amt > 0 else pos.entry * (1 - taker_fee)


def _bc(balance_change: Decimal) -> str:
    """`bc` as Binance prints it: "0" for a pure trading update, else 8 decimals."""
    return f8(balance_change) if balance_change else "0"


def account_update(
    *,
    now_ms: int,
    reason: str,
    asset: str,
    wallet: Decimal,
    positions: list[dict[str, Any]],
    balance_change: Decimal = ZERO,
) -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {
            "m": reason,
            "B": [{"a": asset, "wb": f8(wallet), "cw": f8(wallet), "bc": _bc(balance_change)}],
            "P": positions,
        },
    }


def _algo_price(value: Decimal, inst: Instrument) -> str:
    return inst.format_wire_price(value) if value else "0"


def algo_json(a: Algo, inst: Instrument, *, query: bool = False) -> dict[str, Any]:
    """Algo order object (section 6.3); queries add actualOrderId & co."""
    body: dict[str, Any] = {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_id,
        "algoType": "CONDITIONAL",
        "orderType": a.order_type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": "BOTH",
        "timeInForce": a.tif,
        "quantity": inst.format_qty(inst.from_steps(a.qty_steps)),
        "algoStatus": a.status.value,
        "triggerPrice": inst.format_wire_price(a.trigger_price),
        "price": inst.format_wire_price(a.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": a.stp,
        "workingType": a.working_type,
        "priceMatch": "NONE",
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "activatePrice": inst.format_wire_price(a.activate_price) if a.activate_price else "",
        "callbackRate": plain(a.callback_rate) if a.callback_rate else "",
        "createTime": a.create_time,
        "updateTime": a.update_time,
        "triggerTime": a.trigger_time,
        "goodTillDate": a.gtd,
    }
    if query:
        actual = a.actual_order
        body.update(
            {
                "actualOrderId": str(actual.order_id) if actual else "",
                "actualPrice": avg_price(actual, inst) if actual else "0",
                "tpTriggerPrice": "0",
                "tpPrice": "0",
                "slTriggerPrice": "0",
                "slPrice": "0",
                "tpOrderType": "",
            }
        )
    return body


def algo_update(a: Algo, inst: Instrument, *, now_ms: int) -> dict[str, Any]:
    """ALGO_UPDATE (section 10.7); TRIGGERING carries no fill fields, as in the real capture."""
    actual = a.actual_order
    body: dict[str, Any] = {
        "caid": a.client_id,
        "aid": a.algo_id,
        "at": "CONDITIONAL",
        "o": a.order_type,
        "s": a.symbol,
        "S": a.side,
        "ps": "BOTH",
        "f": a.tif,
        "q": inst.format_qty(inst.from_steps(a.qty_steps)),
        "X": a.status.value,
        "ai": str(actual.order_id) if actual else "",
    }
    if a.status is not AlgoStatus.TRIGGERING:
        filled = actual.filled_steps if actual else 0
        body["ap"] = avg_price(actual, inst) if (actual and filled) else "0"
        body["aq"] = inst.format_qty(inst.from_steps(filled)) if filled else "0"
        body["act"] = actual.type if actual else "0"
    body.update(
        {
            "tp": inst.format_wire_price(a.trigger_price),
            "p": _algo_price(a.price, inst),
            "V": a.stp,
            "wt": a.working_type,
            "pm": "NONE",
            "cp": a.close_position,
            "pP": a.price_protect,
            "R": a.reduce_only,
            "tt": a.trigger_time,
            "gtd": a.gtd,
        }
    )
    if a.reject_reason:
        body["rm"] = a.reject_reason
    return {"e": "ALGO_UPDATE", "T": now_ms, "E": now_ms, "o": body}


def margin_call(ev: MarginCall, books: Mapping[str, SymbolBook]) -> dict[str, Any]:
    """MARGIN_CALL (section 10.6)."""
    positions = [
        {
            "s": r.symbol,
            "ps": "BOTH",
            "pa": books[r.symbol].inst.format_qty(r.amt),
            "mt": r.margin_type,
            "iw": "0",
            "mp": f8(r.mark),
            "up": t8(r.upnl),
            "mm": t8(r.maint),
        }
        for r in ev.rows
    ]
    return {"e": "MARGIN_CALL", "E": ev.time_ms, "cw": f8(ev.wallet), "p": positions}


def user_event(
    ev: EngineEvent, books: Mapping[str, SymbolBook], taker_fee: Decimal
) -> dict[str, Any]:
    """One engine event record as the Binance user-data-stream JSON it stands for."""
    if isinstance(ev, OrderUpdate):
        o = ev.order
        return order_trade_update(
            o,
            books[o.symbol].inst,
            now_ms=ev.time_ms,
            x=ev.x.value,
            bid_notional=ev.bid_notional,
            ask_notional=ev.ask_notional,
            last_steps=ev.last_steps,
            last_price=ev.last_price,
            commission=ev.commission,
            trade_id=ev.trade_id,
            maker=ev.maker,
            realized=ev.realized,
        )
    if isinstance(ev, AccountUpdate):
        entries = [
            position_entry(
                st.position,
                books[st.position.symbol].inst,
                mark=st.mark,
                taker_fee=taker_fee,
                margin_type=st.margin_type,
            )
            for st in ev.positions
        ]
        return account_update(
            now_ms=ev.time_ms,
            reason=ev.reason,
            asset="USDT",
            wallet=ev.wallet,
            positions=entries,
            balance_change=ev.funding_amount,  # FUNDING_FEE: the amount, as Binance's `bc`
        )
    if isinstance(ev, AlgoUpdate):
        return algo_update(ev.algo, books[ev.algo.symbol].inst, now_ms=ev.time_ms)
    if isinstance(ev, TradeLite):
        o = ev.order
        return trade_lite(
            o,
            books[o.symbol].inst,
            now_ms=ev.time_ms,
            steps=ev.steps,
            price=ev.price,
            trade_id=ev.trade_id,
            maker=ev.maker,
        )
    if isinstance(ev, MarginCall):
        return margin_call(ev, books)
    now = ev.time_ms
    return {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "E": now,
        "T": now,
        "ac": {"s": ev.symbol, "l": ev.leverage},
    }
