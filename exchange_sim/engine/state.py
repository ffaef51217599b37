"""Mutable engine state: orders, conditional (algo) orders, positions, accounts, per-symbol books.

Resting orders live in integer ticks (price) and steps (quantity) so matching is exact and cheap;
money (balances, PnL, fees) is Decimal. Only the engine mutates these objects.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from core.enums import AlgoStatus, ExpiryReason, OrderStatus
from core.orders import IllegalTransition, can_transition
from exchange_sim.engine.fmt import ZERO, q8

NEG = -(1 << 62)  # "no resting bid / no trigger below": below any tick
POS = 1 << 62  # "no resting ask / no trigger above"

OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


def _slot_copier(cls: type) -> Callable[[Any], Any]:
    """A function returning a shallow copy of a `cls` (every slot set), one straight-line
    assignment per slot: snapshots are taken for every report, and a getattr/setattr loop
    over ~40 names cost several times more."""
    lines = [f"    copy.{name} = obj.{name}" for name in getattr(cls, "__slots__")]  # noqa: B009
    source = "def copy_slots(obj):\n    copy = new(cls)\n" + "\n".join(lines) + "\n    return copy"
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    exec(source, namespace)  # the source is built from the class's own slot names
    return namespace["copy_slots"]  # type: ignore[no-any-return]


class Order:
    """One order in the matching engine (LIMIT/MARKET, a legacy conditional, or a liquidation)."""

    __slots__ = (
        "account",
        "activate_price",
        "algo",
        "callback_rate",
        "client_id",
        "close_position",
        "cum_quote",
        "er",
        "filled_steps",
        "gtd",
        "is_buy",
        "order_id",
        "orig_type",
        "position_side",
        "price",
        "price_protect",
        "price_ticks",
        "qty_steps",
        "reduce_only",
        "side",
        "status",
        "stop_price",
        "stp",
        "symbol",
        "tif",
        "time",
        "type",
        "update_time",
        "working_type",
    )

    def __init__(
        self,
        *,
        account: "Account",
        symbol: str,
        order_id: int,
        client_id: str,
        side: str,
        type: str,
        tif: str,
        price: Decimal,
        price_ticks: int,
        qty_steps: int,
        reduce_only: bool,
        now_ms: int,
        stp: str,
        orig_type: str | None = None,
        stop_price: Decimal = ZERO,
        working_type: str = "CONTRACT_PRICE",
        price_protect: bool = False,
        close_position: bool = False,
        gtd: int = 0,
    ) -> None:
        self.account = account
        self.symbol = symbol
        self.order_id = order_id
        self.client_id = client_id
        self.side = side
        self.is_buy = side == "BUY"
        self.type = type
        self.orig_type = orig_type or type
        self.tif = tif
        self.price = price
        self.price_ticks = price_ticks
        self.qty_steps = qty_steps
        self.filled_steps = 0
        self.cum_quote = ZERO
        self.reduce_only = reduce_only
        self.close_position = close_position
        self.position_side = "BOTH"
        self.stop_price = stop_price
        self.working_type = working_type
        self.price_protect = price_protect
        self.stp = stp
        self.gtd = gtd
        self.status = OrderStatus.NEW
        self.er = ExpiryReason.NONE
        self.time = now_ms
        self.update_time = now_ms
        self.algo: Algo | None = None
        self.activate_price: Decimal | None = None  # TRAILING_STOP_MARKET only
        self.callback_rate: Decimal | None = None  # percent, TRAILING_STOP_MARKET only

    @property
    def remaining_steps(self) -> int:
        return self.qty_steps - self.filled_steps

    def move_to(self, status: OrderStatus, er: ExpiryReason = ExpiryReason.NONE) -> None:
        """Change status through core's order transition table (IllegalTransition if barred)."""
        if not can_transition(self.status, status):
            raise IllegalTransition(self.client_id, self.status, status)
        self.status = status
        self.er = er

    def snapshot(self) -> "Order":
        """A shallow copy: the order as it is now (an acknowledgement before any fill)."""
        return _copy_order(self)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def sign(self) -> int:
        return 1 if self.is_buy else -1


class Algo:
    """A conditional order waiting for its trigger (Algo Order API, post 2025-12-09).

    `legacy_order` is set when the conditional came through POST /fapi/v1/order with the legacy
    switch on: triggering then converts that same order instead of creating a new one.
    Trailing stops track the best price since activation in `extreme`.
    """

    __slots__ = (
        "account",
        "activate_price",
        "activated",
        "actual_order",
        "algo_id",
        "callback_rate",
        "client_id",
        "close_position",
        "create_time",
        "extreme",
        "gtd",
        "is_buy",
        "legacy_order",
        "order_type",
        "price",
        "price_protect",
        "qty_steps",
        "reduce_only",
        "reject_reason",
        "side",
        "status",
        "stp",
        "symbol",
        "tick",
        "tif",
        "trigger_price",
        "trigger_ticks",
        "trigger_time",
        "update_time",
        "working_type",
    )

    # Set from the constructor's keywords.
    account: "Account"
    algo_id: int
    client_id: str
    order_type: str
    symbol: str
    side: str
    tif: str
    qty_steps: int
    price: Decimal
    trigger_price: Decimal
    trigger_ticks: int
    working_type: str
    price_protect: bool
    reduce_only: bool
    close_position: bool
    stp: str
    create_time: int
    update_time: int
    gtd: int
    tick: Decimal
    status: AlgoStatus

    def __init__(
        self,
        *,
        account: "Account",
        algo_id: int,
        client_id: str,
        order_type: str,
        symbol: str,
        side: str,
        tif: str,
        qty_steps: int,
        price: Decimal,
        trigger_price: Decimal,
        trigger_ticks: int,
        working_type: str,
        price_protect: bool,
        reduce_only: bool,
        close_position: bool,
        stp: str,
        create_time: int,
        update_time: int,
        gtd: int,
        tick: Decimal,
    ) -> None:
        # Each field by name (a `setattr` loop over keywords was ~20 calls per algo order).
        self.account = account
        self.algo_id = algo_id
        self.client_id = client_id
        self.order_type = order_type
        self.symbol = symbol
        self.side = side
        self.tif = tif
        self.qty_steps = qty_steps
        self.price = price
        self.trigger_price = trigger_price
        self.trigger_ticks = trigger_ticks
        self.working_type = working_type
        self.price_protect = price_protect
        self.reduce_only = reduce_only
        self.close_position = close_position
        self.stp = stp
        self.create_time = create_time
        self.update_time = update_time
        self.gtd = gtd
        self.tick = tick
        self.actual_order: Order | None = None
        self.legacy_order: Order | None = None
        self.trigger_time = 0
        self.reject_reason = ""
        self.status = AlgoStatus.NEW
        self.activate_price: Decimal | None = None
        self.callback_rate: Decimal | None = None
        self.activated = False
        self.extreme: Decimal | None = None
        self.is_buy = side == "BUY"

    def move_to(self, status: AlgoStatus) -> None:
        """Change status through core's algo lifecycle (AlgoStatus.can_become)."""
        if not self.status.can_become(status):
            raise ValueError(f"algo {self.algo_id}: illegal transition {self.status} -> {status}")
        self.status = status

    def snapshot(self) -> "Algo":
        """A copy as it is now, with a copy of the order it placed (if any)."""
        copy = _copy_algo(self)
        if self.actual_order is not None:
            copy.actual_order = _copy_order(self.actual_order)
        return copy

    @property
    def is_trailing(self) -> bool:
        return self.order_type == "TRAILING_STOP_MARKET"

    @property
    def triggers_on_rise(self) -> bool:
        """STOP BUY and TAKE_PROFIT SELL fire when the price rises to the trigger."""
        is_stop = self.order_type in ("STOP", "STOP_MARKET")
        return is_stop == self.is_buy

    def observe(self, price: Decimal) -> bool:
        """Feed the working price (last or mark); True when the order triggers now.

        Trailing (section 6.2.1): a SELL activates at price >= activatePrice, then fires at
        price <= highest * (1 - callbackRate/100); a BUY mirrors it with the lowest price.
        """
        if not self.is_trailing:
            if self.triggers_on_rise:
                return price >= self.trigger_price
            return price <= self.trigger_price
        if not self.activated:
            assert self.activate_price is not None
            reached = price <= self.activate_price if self.is_buy else price >= self.activate_price
            if not reached:
                return False
            self.activated = True
            self.extreme = price
        assert self.extreme is not None and self.callback_rate is not None
        rate = self.callback_rate / 100
        if self.is_buy:
            self.extreme = min(self.extreme, price)
            return price >= self.extreme * (1 + rate)
        self.extreme = max(self.extreme, price)
        return price <= self.extreme * (1 - rate)

    def thresholds(self) -> tuple[int, int]:
        """(lo, hi) in ticks: a last price p needs `observe` only when p < lo or p > hi."""
        if not self.is_trailing:
            if self.triggers_on_rise:
                return NEG, self.trigger_ticks - 1
            return self.trigger_ticks + 1, POS
        tick = self.tick
        if not self.activated:
            assert self.activate_price is not None
            if self.is_buy:
                return _floor_ticks(self.activate_price, tick) + 1, POS
            return NEG, _ceil_ticks(self.activate_price, tick) - 1
        assert self.extreme is not None and self.callback_rate is not None
        rate = self.callback_rate / 100
        if self.is_buy:
            fire = _ceil_ticks(self.extreme * (1 + rate), tick)
            return _ceil_ticks(self.extreme, tick), fire - 1
        fire = _floor_ticks(self.extreme * (1 - rate), tick)
        return fire + 1, _floor_ticks(self.extreme, tick)


_copy_order = _slot_copier(Order)
_copy_algo = _slot_copier(Algo)


def _floor_ticks(price: Decimal, tick: Decimal) -> int:
    return int((price / tick).to_integral_value(rounding=ROUND_FLOOR))


def _ceil_ticks(price: Decimal, tick: Decimal) -> int:
    return int((price / tick).to_integral_value(rounding=ROUND_CEILING))


@dataclass(slots=True)
class Position:
    """One-way (BOTH) position: signed amount in contracts, average entry price in USDT."""

    symbol: str
    amt: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO  # accumulated pre-fee realized PnL (`cr` of ACCOUNT_UPDATE)
    update_time: int = 0

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Book a fill; return its realized PnL (8 decimals) on the reduced part."""
        old = self.amt
        new = old + signed_qty
        realized = ZERO
        if old == 0 or (old > 0) == (signed_qty > 0):
            self.entry = (abs(old) * self.entry + abs(signed_qty) * price) / abs(new)
        else:
            closed = min(abs(signed_qty), abs(old))
            realized = q8(closed * (price - self.entry) * (1 if old > 0 else -1))
            if new == 0:
                self.entry = ZERO
            elif (new > 0) != (old > 0):
                self.entry = price
        self.amt = new
        self.realized += realized
        return realized


@dataclass(slots=True)
class UserTrade:
    symbol: str
    trade_id: int
    order_id: int
    side: str
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    maker: bool
    time: int


@dataclass(slots=True)
class Income:
    symbol: str
    income_type: str
    income: Decimal
    time: int
    tran_id: int
    trade_id: str = ""
    info: str = ""


@dataclass(slots=True)
class Account:
    account_id: str
    wallet: Decimal
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)  # symbol -> CROSSED/ISOLATED
    positions: dict[str, Position] = field(default_factory=dict)
    open_orders: dict[str, dict[int, Order]] = field(default_factory=dict)
    open_algos: dict[int, Algo] = field(default_factory=dict)
    algos: dict[int, Algo] = field(default_factory=dict)
    # The algo orders kept (see `algos`) by clientAlgoId, oldest first: a lookup by client id
    # takes the latest without scanning every algo order kept.
    algos_by_client: dict[str, list[Algo]] = field(default_factory=dict)
    client_orders: dict[tuple[str, str], Order] = field(default_factory=dict)
    # Every order kept of each symbol, by orderId, which is also creation-time order: allOrders
    # bisects it on the id and the time instead of scanning the symbol's orders of all accounts.
    order_history: dict[str, list[Order]] = field(default_factory=dict)
    # By trade id, which is also time order (per symbol), and by time: bisected the same way.
    trades: dict[str, list[UserTrade]] = field(default_factory=dict)
    incomes: list[Income] = field(default_factory=list)
    dual_side: bool = False
    margin_called: bool = False  # a MARGIN_CALL was sent and the ratio has not recovered
    update_time: int = 0

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def open_in(self, symbol: str) -> dict[int, Order]:
        orders = self.open_orders.get(symbol)
        if orders is None:
            orders = self.open_orders[symbol] = {}
        return orders
