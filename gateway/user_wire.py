"""Binance USD-M user-data wire formats -> typed records (the parsing boundary of the executor).

User-stream events (ORDER_TRADE_UPDATE, ALGO_UPDATE, ACCOUNT_UPDATE, ACCOUNT_CONFIG_UPDATE,
listenKeyExpired) and REST rows (order objects, algo order objects, userTrades, positionRisk,
account, income) become frozen records here. They still describe *one exchange message*; the
order tracker (`gateway.order_tracker`) turns them into `core.events` for the orders we track.
The core `Order` an order report describes is made here too, once per row type (`order_of`,
`waiting_algo_order_of`), for the reconciliation's snapshot, the adoption of an order left by
an earlier journal, and the tracking of the exchange's own orders.

Prices, quantities and money arrive as JSON strings and become `Decimal` exactly; ids and times
are JSON integers (ms UTC). Missing optional keys and extra keys are tolerated, as Binance adds
fields over time; a missing required key or a value of the wrong type raises `MalformedMessage`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from core.account import Balance, Position, PositionAtRisk
from core.enums import (
    ExecutionType,
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
)
from core.fast_init import fast_init
from core.orders import Fill, Order
from gateway.wire import MalformedMessage

__all__ = [
    "AccountConfigUpdate",
    "AccountSnapshot",
    "AccountUpdate",
    "AlgoStatus",
    "AlgoUpdate",
    "FundingIncome",
    "IgnoredEvent",
    "ListenKeyExpired",
    "MalformedMessage",
    "MarginCall",
    "OrderUpdate",
    "UserEvent",
    "UserTrade",
    "decode_user_frame",
    "order_of",
    "parse_account",
    "parse_account_update",
    "parse_algo_update",
    "parse_funding_income",
    "parse_margin_call",
    "parse_order_update",
    "parse_position_risk",
    "parse_rest_algo_order",
    "parse_rest_order",
    "parse_user_event",
    "parse_user_trade",
    "waiting_algo_order_of",
]

_ZERO = Decimal(0)
E = TypeVar("E", bound=StrEnum)


class AlgoStatus(StrEnum):
    """`algoStatus` / ALGO_UPDATE `X` of a conditional (algo) order."""

    NEW = "NEW"  # armed, waiting for its trigger
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"  # a normal order (its own orderId) now works in the matching engine
    FINISHED = "FINISHED"  # that order is terminal
    REJECTED = "REJECTED"  # refused at trigger time (margin, reduce-only)
    EXPIRED = "EXPIRED"  # system-cancelled (e.g. closePosition with nothing to close)


# --- records --------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """One report of a normal order's state: an ORDER_TRADE_UPDATE or a REST order object.

    `execution` is the stream's `x` (None for REST rows). Fill fields (`last_qty`,
    `last_price`, `trade_id`, ...) are meaningful only when `fill` is not None.
    """

    symbol: str
    client_order_id: str
    order_id: int
    side: Side
    type: OrderType  # current type (MARKET/LIMIT after a conditional order triggered)
    orig_type: OrderType
    time_in_force: TimeInForce | None
    quantity: Decimal
    price: Decimal
    avg_price: Decimal
    stop_price: Decimal
    status: OrderStatus
    cum_qty: Decimal  # cumulative filled quantity after this event
    reduce_only: bool
    close_position: bool
    position_side: PositionSide
    event_time_ms: int  # `E` / `updateTime`
    recv_time_ms: int
    execution: ExecutionType | None = None
    expiry_reason: str = "0"  # `er`
    last_qty: Decimal = _ZERO
    last_price: Decimal = _ZERO
    trade_id: int = 0
    trade_time_ms: int = 0
    commission: Decimal = _ZERO
    commission_asset: str = ""
    realized_pnl: Decimal = _ZERO
    is_maker: bool = False

    @property
    def fill(self) -> Fill | None:
        """The execution this event reports (TRADE or CALCULATED with a quantity), else None."""
        if (
            self.execution not in (ExecutionType.TRADE, ExecutionType.CALCULATED)
            or self.last_qty <= 0
            or self.trade_id == 0
        ):
            return None
        return Fill(
            symbol=self.symbol,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            trade_id=self.trade_id,
            side=self.side,
            price=self.last_price,
            qty=self.last_qty,
            commission=self.commission,
            commission_asset=self.commission_asset,
            realized_pnl=self.realized_pnl,
            is_maker=self.is_maker,
            trade_time_ms=self.trade_time_ms,
            recv_time_ms=self.recv_time_ms,
            position_side=self.position_side,
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoUpdate:
    """One report of a conditional (algo) order: an ALGO_UPDATE or a REST algo order object."""

    symbol: str
    client_algo_id: str
    algo_id: int
    side: Side
    order_type: OrderType
    quantity: Decimal
    status: AlgoStatus
    trigger_price: Decimal
    price: Decimal
    reduce_only: bool
    close_position: bool
    position_side: PositionSide
    time_in_force: TimeInForce | None
    actual_order_id: int | None  # the matching-engine order once TRIGGERED
    filled_qty: Decimal  # `aq` of that order (0 when not reported)
    reason: str  # `rm`: why it was rejected/expired ("" if none)
    event_time_ms: int
    recv_time_ms: int


def order_of(u: OrderUpdate) -> Order:
    """The order a report describes (an ORDER_TRADE_UPDATE's or a REST order row), as it
    stands in it: its type as placed (`ot`/`origType`: a triggered STOP_MARKET stays one), its
    status, fills and exchange id as reported; no price or stop price when Binance says "0".
    Made and last updated at the report's time (the row does not say when it was placed)."""
    return Order(
        client_order_id=u.client_order_id,
        symbol=u.symbol,
        side=u.side,
        type=u.orig_type,
        quantity=u.quantity,
        price=u.price or None,
        time_in_force=u.time_in_force,
        status=u.status,
        created_ms=u.event_time_ms,
        updated_ms=u.event_time_ms,
        order_id=u.order_id,
        filled_qty=u.cum_qty,
        avg_price=u.avg_price,
        stop_price=u.stop_price or None,
        reduce_only=u.reduce_only,
        close_position=u.close_position,
        position_side=u.position_side,
    )


def waiting_algo_order_of(a: AlgoUpdate) -> Order:
    """The order an open algo order (ALGO_UPDATE or REST row, status NEW: not triggered yet)
    describes: status NEW, `order_id` its algoId, the trigger price as stop price (as sent),
    no limit price when Binance says "0". Made and last updated at the report's time."""
    return Order(
        client_order_id=a.client_algo_id,
        symbol=a.symbol,
        side=a.side,
        type=a.order_type,
        quantity=a.quantity,
        price=a.price or None,
        time_in_force=a.time_in_force,
        status=OrderStatus.NEW,
        created_ms=a.event_time_ms,
        updated_ms=a.event_time_ms,
        order_id=a.algo_id,
        stop_price=a.trigger_price,
        reduce_only=a.reduce_only,
        close_position=a.close_position,
        position_side=a.position_side,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUpdate:
    """ACCOUNT_UPDATE: balances and the positions that changed, with Binance's reason `a.m`.

    Binance sends no available balance here: `Balance.available_balance` is set to the cross
    wallet balance (`cw`) and must not be used for margin decisions (the REST snapshot has it).
    """

    reason: str
    balances: tuple[Balance, ...]
    positions: tuple[Position, ...]
    event_time_ms: int
    transaction_time_ms: int
    recv_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfigUpdate:
    """ACCOUNT_CONFIG_UPDATE with `ac`: the leverage of one symbol changed."""

    symbol: str | None
    leverage: int | None
    event_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginCall:
    """MARGIN_CALL: the account's margin is nearly used up; the positions at risk."""

    cross_wallet_balance: Decimal | None  # `cw`: sent only when cross positions are at risk
    positions: tuple[PositionAtRisk, ...]
    event_time_ms: int
    recv_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyExpired:
    listen_key: str | None
    event_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoredEvent:
    """A well-formed event the executor does not act on (TRADE_LITE, GRID_UPDATE, ...)."""

    event_type: str
    event_time_ms: int


UserEvent = (
    OrderUpdate
    | AlgoUpdate
    | AccountUpdate
    | AccountConfigUpdate
    | MarginCall
    | ListenKeyExpired
    | IgnoredEvent
)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserTrade:
    """One `GET /fapi/v1/userTrades` row: a fill of one of the account's orders."""

    symbol: str
    trade_id: int
    order_id: int
    side: Side
    position_side: PositionSide
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time_ms: int
    recv_time_ms: int

    def to_fill(self, client_order_id: str) -> Fill:
        return Fill(
            symbol=self.symbol,
            order_id=self.order_id,
            client_order_id=client_order_id,
            trade_id=self.trade_id,
            side=self.side,
            price=self.price,
            qty=self.qty,
            commission=self.commission,
            commission_asset=self.commission_asset,
            realized_pnl=self.realized_pnl,
            is_maker=self.is_maker,
            trade_time_ms=self.time_ms,
            recv_time_ms=self.recv_time_ms,
            position_side=self.position_side,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """`GET /fapi/v2/account`: balances per asset and leverage / margin type per symbol."""

    balances: tuple[Balance, ...]
    leverage: Mapping[str, int]
    margin_type: Mapping[str, MarginType]


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingIncome:
    """One FUNDING_FEE row of `GET /fapi/v1/income` (amount signed: negative = we paid)."""

    symbol: str
    amount: Decimal
    asset: str
    time_ms: int
    tran_id: int


# --- field helpers ----------------------------------------------------------------------------


def _dec(value: Any, name: str) -> Decimal:
    if type(value) is not str:
        raise MalformedMessage(f"{name}: expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise MalformedMessage(f"{name}: not a decimal: {value!r}") from None
    if not result.is_finite():
        raise MalformedMessage(f"{name}: not a finite decimal: {value!r}")
    return result


def _opt_dec(value: Any, name: str) -> Decimal:
    """A decimal string that Binance sometimes sends as null or "" (stop price, activation)."""
    if value is None or value == "":
        return _ZERO
    return _dec(value, name)


# ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses or reads.
_INT_TEXT = re.compile(r"-?[0-9]+")
_ID_TEXT = re.compile(r"[0-9]+")


def _int(value: Any, name: str) -> int:
    """A JSON integer; a string of digits is accepted too (some captures quote ids/times)."""
    if type(value) is int:
        return value
    if type(value) is str and _INT_TEXT.fullmatch(value):
        return int(value)
    raise MalformedMessage(f"{name}: expected an integer, got {value!r}")


def _bool(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise MalformedMessage(f"{name}: expected a boolean, got {value!r}")
    return value


def _str(value: Any, name: str) -> str:
    if type(value) is not str or not value:
        raise MalformedMessage(f"{name}: expected a non-empty string, got {value!r}")
    return value


def _enum(cls: type[E], value: Any, name: str) -> E:
    if type(value) is not str:
        raise MalformedMessage(f"{name}: expected a string, got {value!r}")
    try:
        return cls(value)
    except ValueError:
        raise MalformedMessage(f"{name}: unknown value {value!r}") from None


# Order statuses only the exchange's own orders take (older Binance documentation, nautilus_trader;
# the reference's list in 6.2.4 lacks them): NEW_INSURANCE, a liquidation order filled by the
# insurance fund; NEW_ADL, an auto-deleveraging (a counterparty's liquidation closes ours). An
# order in them is working or done as its quantities say.
_FORCED_STATUSES = frozenset({"NEW_INSURANCE", "NEW_ADL"})


def _status(value: Any, quantity: Decimal, cum_qty: Decimal, name: str) -> OrderStatus:
    """`X` / `status`; NEW_INSURANCE and NEW_ADL become the status the quantities make."""
    if type(value) is str and value in _FORCED_STATUSES:
        if cum_qty <= 0:
            return OrderStatus.NEW
        return OrderStatus.FILLED if cum_qty >= quantity else OrderStatus.PARTIALLY_FILLED
    return _enum(OrderStatus, value, name)


def _tif(value: Any, name: str) -> TimeInForce | None:
    if value is None or value == "":
        return None
    if type(value) is str and value not in TimeInForce.__members__:
        return None  # e.g. RPI or a value newer than this code: not one we place
    return _enum(TimeInForce, value, name)


def _margin_type(value: Any) -> MarginType:
    if type(value) is not str:
        raise MalformedMessage(f"margin type: expected a string, got {value!r}")
    lowered = value.lower()
    if lowered in ("cross", "crossed"):
        return MarginType.CROSSED
    if lowered == "isolated":
        return MarginType.ISOLATED
    raise MalformedMessage(f"margin type: unknown value {value!r}")


def _obj(value: Any, name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise MalformedMessage(f"{name}: expected an object, got {type(value).__name__}")
    return value


def _actual_order_id(value: Any) -> int | None:
    """`ai` / `actualOrderId`: "" before the trigger, then the order id as a string."""
    if value is None or value == "" or value == 0:
        return None
    if type(value) is int:
        return value
    if type(value) is str and _ID_TEXT.fullmatch(value):
        return int(value)
    raise MalformedMessage(f"actual order id: not an id: {value!r}")


# --- frames -----------------------------------------------------------------------------------


def decode_user_frame(raw: str | bytes) -> dict[str, Any]:
    """JSON text of a user-stream frame -> the event object (a combined-stream envelope
    `{"stream", "data"}` is unwrapped). MalformedMessage if it is not a JSON object."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if type(obj) is dict and "data" in obj and "stream" in obj and "e" not in obj:
        obj = obj["data"]
    if type(obj) is not dict:
        raise MalformedMessage(f"user-stream frame is not an object: {str(obj)[:80]}")
    return obj


_IGNORED = frozenset(
    {
        "TRADE_LITE",
        "STRATEGY_UPDATE",
        "GRID_UPDATE",
        "CONDITIONAL_ORDER_TRIGGER_REJECT",
    }
)


def parse_user_event(
    data: Mapping[str, Any], recv_time_ms: int, leverage: Mapping[str, int] | None = None
) -> UserEvent:
    """One decoded user-stream event -> its record; MalformedMessage for an unusable one.

    `leverage` (by symbol) fills `Position.leverage` of ACCOUNT_UPDATE positions."""
    kind = data.get("e")
    if kind == "ORDER_TRADE_UPDATE":
        return parse_order_update(data, recv_time_ms)
    if kind == "ALGO_UPDATE":
        return parse_algo_update(data, recv_time_ms)
    if kind == "ACCOUNT_UPDATE":
        return parse_account_update(data, recv_time_ms, leverage)
    if kind == "MARGIN_CALL":
        return parse_margin_call(data, recv_time_ms)
    if kind == "listenKeyExpired":
        key = data.get("listenKey")
        return ListenKeyExpired(
            listen_key=key if type(key) is str else None,
            event_time_ms=_int(data.get("E"), "E"),
        )
    if kind == "ACCOUNT_CONFIG_UPDATE":
        ac = data.get("ac")
        symbol: str | None = None
        new_leverage: int | None = None
        if ac is not None:
            ac = _obj(ac, "ac")
            symbol = _str(ac.get("s"), "ac.s")
            new_leverage = _int(ac.get("l"), "ac.l")
        return AccountConfigUpdate(
            symbol=symbol, leverage=new_leverage, event_time_ms=_int(data.get("E"), "E")
        )
    if type(kind) is str and kind in _IGNORED:
        return IgnoredEvent(event_type=kind, event_time_ms=_int(data.get("E"), "E"))
    raise MalformedMessage(f"unknown user event type {kind!r}")


# --- orders -----------------------------------------------------------------------------------


def parse_order_update(data: Mapping[str, Any], recv_time_ms: int) -> OrderUpdate:
    """ORDER_TRADE_UPDATE -> OrderUpdate (section 10.3 of the protocol reference)."""
    try:
        o = _obj(data["o"], "o")
        order_type = _enum(OrderType, o["o"], "o.o")
        commission = o.get("n")
        asset = o.get("N")
        quantity = _dec(o["q"], "o.q")
        cum_qty = _dec(o["z"], "o.z")
        return OrderUpdate(
            symbol=_str(o["s"], "o.s"),
            client_order_id=_str(o["c"], "o.c"),
            order_id=_int(o["i"], "o.i"),
            side=_enum(Side, o["S"], "o.S"),
            type=order_type,
            orig_type=_enum(OrderType, o.get("ot", o["o"]), "o.ot"),
            time_in_force=_tif(o.get("f"), "o.f"),
            quantity=quantity,
            price=_dec(o["p"], "o.p"),
            avg_price=_opt_dec(o.get("ap"), "o.ap"),
            stop_price=_opt_dec(o.get("sp"), "o.sp"),
            status=_status(o["X"], quantity, cum_qty, "o.X"),
            cum_qty=cum_qty,
            reduce_only=_bool(o.get("R", False), "o.R"),
            close_position=_bool(o.get("cp", False), "o.cp"),
            position_side=_enum(PositionSide, o.get("ps", "BOTH"), "o.ps"),
            event_time_ms=_int(data["E"], "E"),
            recv_time_ms=recv_time_ms,
            execution=_enum(ExecutionType, o["x"], "o.x"),
            expiry_reason=str(o.get("er", "0")),
            last_qty=_dec(o["l"], "o.l"),
            last_price=_dec(o["L"], "o.L"),
            trade_id=_int(o.get("t", 0), "o.t"),
            trade_time_ms=_int(o.get("T", data["E"]), "o.T"),
            commission=_opt_dec(commission, "o.n"),
            commission_asset=asset if type(asset) is str else "",
            realized_pnl=_opt_dec(o.get("rp"), "o.rp"),
            is_maker=_bool(o.get("m", False), "o.m"),
        )
    except KeyError as exc:
        raise MalformedMessage(f"ORDER_TRADE_UPDATE without field {exc}") from None


def parse_rest_order(row: Mapping[str, Any], recv_time_ms: int) -> OrderUpdate:
    """An order object of POST/GET/DELETE /fapi/v1/order or openOrders -> OrderUpdate."""
    row = _obj(row, "order object")
    try:
        order_type = _enum(OrderType, row["type"], "type")
        quantity = _dec(row["origQty"], "origQty")
        cum_qty = _dec(row["executedQty"], "executedQty")
        return OrderUpdate(
            symbol=_str(row["symbol"], "symbol"),
            client_order_id=_str(row["clientOrderId"], "clientOrderId"),
            order_id=_int(row["orderId"], "orderId"),
            side=_enum(Side, row["side"], "side"),
            type=order_type,
            orig_type=_enum(OrderType, row.get("origType", row["type"]), "origType"),
            time_in_force=_tif(row.get("timeInForce"), "timeInForce"),
            quantity=quantity,
            price=_opt_dec(row.get("price"), "price"),
            avg_price=_opt_dec(row.get("avgPrice"), "avgPrice"),
            stop_price=_opt_dec(row.get("stopPrice"), "stopPrice"),
            status=_status(row["status"], quantity, cum_qty, "status"),
            cum_qty=cum_qty,
            reduce_only=_bool(row.get("reduceOnly", False), "reduceOnly"),
            close_position=_bool(row.get("closePosition", False), "closePosition"),
            position_side=_enum(PositionSide, row.get("positionSide", "BOTH"), "positionSide"),
            event_time_ms=_int(row.get("updateTime", row.get("time", 0)), "updateTime"),
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"order object without field {exc}") from None


def parse_algo_update(data: Mapping[str, Any], recv_time_ms: int) -> AlgoUpdate:
    """ALGO_UPDATE -> AlgoUpdate (section 10.7)."""
    try:
        o = _obj(data["o"], "o")
        reason = o.get("rm")
        return AlgoUpdate(
            symbol=_str(o["s"], "o.s"),
            client_algo_id=_str(o["caid"], "o.caid"),
            algo_id=_int(o["aid"], "o.aid"),
            side=_enum(Side, o["S"], "o.S"),
            order_type=_enum(OrderType, o["o"], "o.o"),
            quantity=_opt_dec(o.get("q"), "o.q"),
            status=_enum(AlgoStatus, o["X"], "o.X"),
            trigger_price=_opt_dec(o.get("tp"), "o.tp"),
            price=_opt_dec(o.get("p"), "o.p"),
            reduce_only=_bool(o.get("R", False), "o.R"),
            close_position=_bool(o.get("cp", False), "o.cp"),
            position_side=_enum(PositionSide, o.get("ps", "BOTH"), "o.ps"),
            time_in_force=_tif(o.get("f"), "o.f"),
            actual_order_id=_actual_order_id(o.get("ai")),
            filled_qty=_opt_dec(o.get("aq"), "o.aq"),
            reason=reason if type(reason) is str else "",
            event_time_ms=_int(data["E"], "E"),
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"ALGO_UPDATE without field {exc}") from None


def parse_rest_algo_order(row: Mapping[str, Any], recv_time_ms: int) -> AlgoUpdate:
    """An algo order object of POST/GET /fapi/v1/algoOrder or openAlgoOrders -> AlgoUpdate."""
    row = _obj(row, "algo order object")
    try:
        return AlgoUpdate(
            symbol=_str(row["symbol"], "symbol"),
            client_algo_id=_str(row["clientAlgoId"], "clientAlgoId"),
            algo_id=_int(row["algoId"], "algoId"),
            side=_enum(Side, row["side"], "side"),
            order_type=_enum(OrderType, row["orderType"], "orderType"),
            quantity=_opt_dec(row.get("quantity"), "quantity"),
            status=_enum(AlgoStatus, row["algoStatus"], "algoStatus"),
            trigger_price=_opt_dec(row.get("triggerPrice"), "triggerPrice"),
            price=_opt_dec(row.get("price"), "price"),
            reduce_only=_bool(row.get("reduceOnly", False), "reduceOnly"),
            close_position=_bool(row.get("closePosition", False), "closePosition"),
            position_side=_enum(PositionSide, row.get("positionSide", "BOTH"), "positionSide"),
            time_in_force=_tif(row.get("timeInForce"), "timeInForce"),
            actual_order_id=_actual_order_id(row.get("actualOrderId")),
            filled_qty=_ZERO,
            reason="",
            event_time_ms=_int(row.get("updateTime", row.get("createTime", 0)), "updateTime"),
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"algo order object without field {exc}") from None


# --- account ----------------------------------------------------------------------------------


def parse_account_update(
    data: Mapping[str, Any],
    recv_time_ms: int,
    leverage: Mapping[str, int] | None = None,
) -> AccountUpdate:
    """ACCOUNT_UPDATE -> AccountUpdate. ACCOUNT_UPDATE carries no leverage: `leverage` (by
    symbol, from the last REST snapshot) fills `Position.leverage` (default 1)."""
    try:
        a = _obj(data["a"], "a")
        tx_time = _int(data.get("T", data["E"]), "T")
        balances = tuple(
            Balance(
                asset=_str(b["a"], "B.a"),
                wallet_balance=_dec(b["wb"], "B.wb"),
                available_balance=_dec(b["cw"], "B.cw"),
                cross_wallet_balance=_dec(b["cw"], "B.cw"),
                update_time_ms=tx_time,
                balance_change=None if b.get("bc") is None else _dec(b["bc"], "B.bc"),
            )
            for b in (_obj(x, "B[]") for x in a.get("B") or ())
        )
        levers = leverage or {}
        positions = tuple(
            Position(
                symbol=_str(p["s"], "P.s"),
                qty=_dec(p["pa"], "P.pa"),
                entry_price=_dec(p["ep"], "P.ep"),
                position_side=_enum(PositionSide, p.get("ps", "BOTH"), "P.ps"),
                leverage=levers.get(p["s"], 1),
                margin_type=_margin_type(p.get("mt", "cross")),
                update_time_ms=tx_time,
            )
            for p in (_obj(x, "P[]") for x in a.get("P") or ())
        )
        return AccountUpdate(
            reason=_str(a["m"], "a.m"),
            balances=balances,
            positions=positions,
            event_time_ms=_int(data["E"], "E"),
            transaction_time_ms=tx_time,
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"ACCOUNT_UPDATE without field {exc}") from None
    except TypeError as exc:  # B or P not a list
        raise MalformedMessage(f"ACCOUNT_UPDATE with a malformed list: {exc}") from None


def parse_margin_call(data: Mapping[str, Any], recv_time_ms: int) -> MarginCall:
    """MARGIN_CALL -> MarginCall (section 10.6; `mt` is upper-case here, CROSSED/ISOLATED)."""
    try:
        cw = data.get("cw")
        positions = tuple(
            PositionAtRisk(
                symbol=_str(p["s"], "p.s"),
                position_side=_enum(PositionSide, p.get("ps", "BOTH"), "p.ps"),
                qty=_dec(p["pa"], "p.pa"),
                margin_type=_margin_type(p.get("mt", "CROSSED")),
                mark_price=_dec(p["mp"], "p.mp"),
                unrealized_pnl=_dec(p["up"], "p.up"),
                maintenance_margin=_dec(p["mm"], "p.mm"),
                isolated_wallet=_opt_dec(p.get("iw"), "p.iw"),
            )
            for p in (_obj(x, "p[]") for x in data.get("p") or ())
        )
        return MarginCall(
            cross_wallet_balance=None if cw is None else _dec(cw, "cw"),
            positions=positions,
            event_time_ms=_int(data["E"], "E"),
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"MARGIN_CALL without field {exc}") from None
    except TypeError as exc:  # p not a list
        raise MalformedMessage(f"MARGIN_CALL with a malformed list: {exc}") from None


def parse_user_trade(row: Mapping[str, Any], recv_time_ms: int) -> UserTrade:
    """One `GET /fapi/v1/userTrades` row -> UserTrade."""
    row = _obj(row, "userTrades row")
    try:
        return UserTrade(
            symbol=_str(row["symbol"], "symbol"),
            trade_id=_int(row["id"], "id"),
            order_id=_int(row["orderId"], "orderId"),
            side=_enum(Side, row["side"], "side"),
            position_side=_enum(PositionSide, row.get("positionSide", "BOTH"), "positionSide"),
            price=_dec(row["price"], "price"),
            qty=_dec(row["qty"], "qty"),
            realized_pnl=_dec(row["realizedPnl"], "realizedPnl"),
            commission=_dec(row["commission"], "commission"),
            commission_asset=_str(row["commissionAsset"], "commissionAsset"),
            is_maker=_bool(row["maker"], "maker"),
            time_ms=_int(row["time"], "time"),
            recv_time_ms=recv_time_ms,
        )
    except KeyError as exc:
        raise MalformedMessage(f"userTrades row without field {exc}") from None


def parse_position_risk(
    row: Mapping[str, Any], leverage: Mapping[str, int] | None = None
) -> Position:
    """One `GET /fapi/v2|v3/positionRisk` row -> Position. v3 has no leverage or margin type:
    `leverage` (from the account snapshot) fills it; the margin type comes from `marginType`
    (v2) or `isolatedWallet`/`isolatedMargin` (v3: non-zero means isolated)."""
    row = _obj(row, "positionRisk row")
    try:
        symbol = _str(row["symbol"], "symbol")
        if "marginType" in row:
            margin = _margin_type(row["marginType"])
        else:
            isolated = _opt_dec(row.get("isolatedMargin"), "isolatedMargin") != 0
            margin = MarginType.ISOLATED if isolated else MarginType.CROSSED
        lev = row.get("leverage")
        lev_value = _int(lev, "leverage") if lev is not None else (leverage or {}).get(symbol, 1)
        return Position(
            symbol=symbol,
            qty=_dec(row["positionAmt"], "positionAmt"),
            entry_price=_dec(row["entryPrice"], "entryPrice"),
            position_side=_enum(PositionSide, row.get("positionSide", "BOTH"), "positionSide"),
            leverage=lev_value,
            margin_type=margin,
            update_time_ms=_int(row.get("updateTime", 0), "updateTime"),
        )
    except KeyError as exc:
        raise MalformedMessage(f"positionRisk row without field {exc}") from None


def parse_account(body: Mapping[str, Any]) -> AccountSnapshot:
    """`GET /fapi/v2/account` -> balances (with the real available balance) and, per symbol,
    leverage and margin type (v2 `positions[]`; v3 rows without `leverage` are skipped)."""
    body = _obj(body, "account answer")
    try:
        balances = tuple(
            Balance(
                asset=_str(b["asset"], "asset"),
                wallet_balance=_dec(b["walletBalance"], "walletBalance"),
                available_balance=_dec(b["availableBalance"], "availableBalance"),
                cross_wallet_balance=_opt_dec(b.get("crossWalletBalance"), "crossWalletBalance"),
                update_time_ms=_int(b.get("updateTime", 0), "updateTime"),
            )
            for b in (_obj(x, "assets[]") for x in body["assets"])
        )
        leverage: dict[str, int] = {}
        margin: dict[str, MarginType] = {}
        for p in (_obj(x, "positions[]") for x in body.get("positions") or ()):
            symbol = _str(p["symbol"], "positions.symbol")
            lev = p.get("leverage")
            if lev is not None:
                leverage[symbol] = _int(lev, "positions.leverage")
            iso = p.get("isolated")
            if iso is not None:
                margin[symbol] = (
                    MarginType.ISOLATED if _bool(iso, "isolated") else MarginType.CROSSED
                )
        return AccountSnapshot(balances=balances, leverage=leverage, margin_type=margin)
    except KeyError as exc:
        raise MalformedMessage(f"account without field {exc}") from None
    except TypeError as exc:
        raise MalformedMessage(f"account with a malformed list: {exc}") from None


def parse_funding_income(row: Mapping[str, Any]) -> FundingIncome:
    """One `GET /fapi/v1/income` row of type FUNDING_FEE -> FundingIncome."""
    row = _obj(row, "income row")
    try:
        if row["incomeType"] != "FUNDING_FEE":
            raise MalformedMessage(f"not a FUNDING_FEE income row: {row['incomeType']!r}")
        return FundingIncome(
            symbol=_str(row["symbol"], "symbol"),
            amount=_dec(row["income"], "income"),
            asset=_str(row["asset"], "asset"),
            time_ms=_int(row["time"], "time"),
            tran_id=_int(row["tranId"], "tranId"),
        )
    except KeyError as exc:
        raise MalformedMessage(f"income row without field {exc}") from None
