"""Typed order, algo and account reports: what the user-data stream says, without the JSON.

`core.events` (typed.core_events) tell a consumer what happened; a client that keeps its own
book of orders (the daemon's `gateway.order_tracker`) needs the full report the stream carries
instead: the order's status, cumulative quantity, expiry code, the algo order's lifecycle and
the order it placed. These records carry exactly the values a client reads back from the
engine's ORDER_TRADE_UPDATE / ALGO_UPDATE / ACCOUNT_UPDATE JSON (exchange_sim.server.
wire_format): prices with the instrument's wire decimals, quantities with its step's, money
rounded to 8 decimals, average and entry prices as `fmt.flex` prints them. So a client that
consumes them in process (backtest/venue.py) sees the same numbers as one parsing the wire,
without formatting or parsing anything on the hot path.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from core.enums import (
    AlgoStatus,
    ExecutionType,
    ExpiryReason,
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
)
from core.fast_init import fast_init
from core.instrument import Instrument
from exchange_sim.engine.book import SymbolBook
from exchange_sim.engine.events import AccountUpdate, AlgoUpdate, EngineEvent, OrderUpdate
from exchange_sim.engine.fmt import ZERO, flex, q8
from exchange_sim.engine.state import Algo, Order

_ZERO_TEXT = Decimal("0")  # the wire's "0" (no fill yet, no last fill)
_ZERO_Q8 = q8(ZERO)  # an order update's realized PnL without a fill (ZERO itself), rounded


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReport:
    """One ORDER_TRADE_UPDATE as typed values. Fill fields are set for TRADE / CALCULATED."""

    symbol: str
    client_order_id: str
    order_id: int
    side: Side
    type: OrderType  # current type (MARKET/LIMIT once a conditional triggered)
    orig_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal
    avg_price: Decimal
    stop_price: Decimal
    status: OrderStatus
    cum_qty: Decimal
    reduce_only: bool
    close_position: bool
    position_side: PositionSide
    event_time_ms: int
    execution: ExecutionType
    expiry_reason: ExpiryReason
    last_qty: Decimal
    last_price: Decimal
    trade_id: int
    commission: Decimal
    commission_asset: str  # "" when the report is not a fill
    realized_pnl: Decimal
    is_maker: bool


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgoReport:
    """One conditional (algo) order's state: an ALGO_UPDATE, or the answer to a cancel."""

    symbol: str
    client_algo_id: str
    algo_id: int
    side: Side
    order_type: OrderType
    quantity: Decimal  # 0 for closePosition until it triggers
    status: AlgoStatus
    trigger_price: Decimal
    price: Decimal  # 0 for the MARKET kinds
    reduce_only: bool
    close_position: bool
    position_side: PositionSide
    time_in_force: TimeInForce
    actual_order_id: int | None  # the order it placed, once TRIGGERED
    filled_qty: Decimal  # of that order (0 while TRIGGERING, as the stream)
    reason: str  # why it was rejected / expired, "" if not
    event_time_ms: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReport:
    symbol: str
    qty: Decimal  # signed, one-way mode
    entry_price: Decimal
    margin_type: MarginType
    leverage: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AccountReport:
    """ACCOUNT_UPDATE: the USDT wallet (8 decimals) and the positions that changed."""

    reason: str  # Binance `a.m`: ORDER, FUNDING_FEE, INSURANCE_CLEAR, ...
    wallet: Decimal
    balance_change: Decimal  # Binance `bc`: a FUNDING_FEE update's amount, else 0
    positions: tuple[PositionReport, ...]
    event_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherReport:
    """A stream event a trading client does not act on (TRADE_LITE, MARGIN_CALL,
    ACCOUNT_CONFIG_UPDATE): kept so a consumer sees as many deliveries as the stream has."""

    kind: str
    event_time_ms: int


Report = OrderReport | AlgoReport | AccountReport | OtherReport

_TIF = {t.value: t for t in TimeInForce}
_SIDE = {s.value: s for s in Side}
_TYPE = {t.value: t for t in OrderType}
_PSIDE = {p.value: p for p in PositionSide}


class _Grid:
    """The decimals one instrument's wire strings have (quantize exponents)."""

    __slots__ = ("price", "qty", "steps_exact")

    def __init__(self, inst: Instrument) -> None:
        self.price = Decimal(1).scaleb(-inst.wire_price_decimals)
        self.qty = Decimal(1).scaleb(-inst.qty_decimals)
        # A whole number of steps (step * n, as `from_steps` makes it) already has the wire's
        # quantity decimals when the step is written with exactly that many (0.001, not
        # 0.0010): quantizing it again would change nothing, so it is skipped.
        self.steps_exact = inst.lot.step_size.as_tuple().exponent == -inst.qty_decimals


# id(instrument) -> (the instrument, its grid). The entry holds the instrument itself and is
# used only for that very object: an id alone is reused by a new object once the old one is
# freed (another backtest's instrument of another symbol then got this one's decimals).
_GRIDS: dict[int, tuple[Instrument, _Grid]] = {}
_MAX_GRIDS = 256  # instruments are few; a process that builds many starts the cache again


# The instrument asked last and its grid: a run reports on one symbol, so its reports find
# the grid with an identity test instead of this lookup's three calls.
_LAST: list[Any] = [None, None]


def _grid(inst: Instrument) -> _Grid:
    entry = _GRIDS.get(id(inst))
    if entry is not None and entry[0] is inst:
        g = entry[1]
    else:
        if len(_GRIDS) >= _MAX_GRIDS:
            _GRIDS.clear()
        g = _Grid(inst)
        _GRIDS[id(inst)] = (inst, g)
    _LAST[0], _LAST[1] = inst, g
    return g


def _avg(o: Order, inst: Instrument) -> Decimal:
    return Decimal(flex(o.cum_quote / inst.from_steps(o.filled_steps), inst.price_decimals))


def order_report(ev: OrderUpdate, inst: Instrument) -> OrderReport:
    o = ev.order
    g = _LAST[1] if _LAST[0] is inst else _grid(inst)
    step = inst.lot.step_size
    fill = ev.last_steps != 0
    commission = ev.commission
    exact = g.steps_exact
    quantity = step * o.qty_steps
    cum_qty = step * o.filled_steps
    return OrderReport(
        symbol=o.symbol,
        client_order_id=o.client_id,
        order_id=o.order_id,
        side=_SIDE[o.side],
        type=_TYPE[o.type],
        orig_type=_TYPE[o.orig_type],
        time_in_force=_TIF[o.tif],
        quantity=quantity if exact else quantity.quantize(g.qty),
        price=o.price.quantize(g.price),
        avg_price=_avg(o, inst) if o.filled_steps else _ZERO_TEXT,
        stop_price=o.stop_price.quantize(g.price),
        status=o.status,
        cum_qty=cum_qty if exact else cum_qty.quantize(g.qty),
        reduce_only=o.reduce_only,
        close_position=o.close_position,
        position_side=_PSIDE[o.position_side],
        event_time_ms=ev.time_ms,
        execution=ev.x,
        expiry_reason=o.er,
        last_qty=(
            (step * ev.last_steps if exact else (step * ev.last_steps).quantize(g.qty))
            if fill
            else _ZERO_TEXT
        ),
        last_price=ev.last_price.quantize(g.price) if fill else _ZERO_TEXT,
        trade_id=ev.trade_id,
        commission=q8(commission) if commission is not None else ZERO,
        commission_asset=inst.margin_asset if commission is not None else "",
        realized_pnl=_ZERO_Q8 if ev.realized is ZERO else q8(ev.realized),
        is_maker=ev.maker,
    )


def algo_report(a: Algo, inst: Instrument, time_ms: int) -> AlgoReport:
    g = _LAST[1] if _LAST[0] is inst else _grid(inst)
    actual = a.actual_order
    filled = (
        actual.filled_steps if (actual is not None and a.status is not AlgoStatus.TRIGGERING) else 0
    )
    return AlgoReport(
        symbol=a.symbol,
        client_algo_id=a.client_id,
        algo_id=a.algo_id,
        side=_SIDE[a.side],
        order_type=_TYPE[a.order_type],
        quantity=(
            inst.from_steps(a.qty_steps)
            if g.steps_exact
            else inst.from_steps(a.qty_steps).quantize(g.qty)
        ),
        status=a.status,
        trigger_price=a.trigger_price.quantize(g.price),
        price=a.price.quantize(g.price) if a.price else _ZERO_TEXT,
        reduce_only=a.reduce_only,
        close_position=a.close_position,
        position_side=PositionSide.BOTH,
        time_in_force=_TIF[a.tif],
        actual_order_id=actual.order_id if actual is not None else None,
        filled_qty=(
            (inst.from_steps(filled) if g.steps_exact else inst.from_steps(filled).quantize(g.qty))
            if filled
            else _ZERO_TEXT
        ),
        reason=a.reject_reason or "",
        event_time_ms=time_ms,
    )


def account_report(ev: AccountUpdate, books: Mapping[str, SymbolBook]) -> AccountReport:
    positions = []
    for st in ev.positions:
        pos = st.position
        inst = books[pos.symbol].inst
        positions.append(
            PositionReport(
                symbol=pos.symbol,
                qty=pos.amt.quantize(_grid(inst).qty),
                entry_price=Decimal(flex(pos.entry, inst.price_decimals)),
                margin_type=(
                    MarginType.ISOLATED if st.margin_type == "ISOLATED" else MarginType.CROSSED
                ),
                leverage=st.leverage,
            )
        )
    return AccountReport(
        reason=ev.reason,
        wallet=q8(ev.wallet),
        balance_change=ev.funding_amount,
        positions=tuple(positions),
        event_time_ms=ev.time_ms,
    )


_OTHER_KINDS = {
    "TradeLite": "TRADE_LITE",
    "MarginCall": "MARGIN_CALL",
    "ConfigUpdate": "ACCOUNT_CONFIG_UPDATE",
}


def report(ev: EngineEvent, books: Mapping[str, SymbolBook]) -> Report:
    """The typed report of one engine event record."""
    kind = type(ev)  # the records are final classes: identity tests, not isinstance calls
    if kind is OrderUpdate:
        order = cast(OrderUpdate, ev)
        return order_report(order, books[order.order.symbol].inst)
    if kind is AccountUpdate:
        return account_report(cast(AccountUpdate, ev), books)
    if kind is AlgoUpdate:
        algo = cast(AlgoUpdate, ev).algo
        return algo_report(algo, books[algo.symbol].inst, ev.time_ms)
    return OtherReport(kind=_OTHER_KINDS[type(ev).__name__], event_time_ms=ev.time_ms)


__all__ = [
    "AccountReport",
    "AlgoReport",
    "OrderReport",
    "OtherReport",
    "PositionReport",
    "Report",
    "account_report",
    "algo_report",
    "order_report",
    "report",
]
