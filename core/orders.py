"""Order commands, order state, fills, and the order lifecycle as an explicit transition table.

Quantities are in contracts (base asset for USD-M), prices in the quote asset (USDT), Decimal.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.enums import (
    TERMINAL_STATUSES,
    ForcedClose,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from core.fast_init import fast_init

S = OrderStatus

# Every legal status change. Self-loops are legal where the exchange reports a second event in
# the same status (another partial fill, an amendment of a NEW order, a repeated UNKNOWN).
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_SUBMIT: frozenset(
        {
            S.NEW,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCELED,
            S.REJECTED,
            S.EXPIRED,
            S.EXPIRED_IN_MATCH,
            S.UNKNOWN,
        }
    ),
    S.UNKNOWN: frozenset(
        {
            S.UNKNOWN,
            S.NEW,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCELED,
            S.REJECTED,
            S.EXPIRED,
            S.EXPIRED_IN_MATCH,
        }
    ),
    S.NEW: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.EXPIRED_IN_MATCH, S.UNKNOWN}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.EXPIRED_IN_MATCH, S.UNKNOWN}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.EXPIRED_IN_MATCH: frozenset(),
}


class IllegalTransition(ValueError):
    """An order was asked to move to a status its current status cannot reach."""

    def __init__(self, client_order_id: str, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"order {client_order_id}: illegal transition {current} -> {target}")
        self.client_order_id = client_order_id
        self.current = current
        self.target = target


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in ORDER_TRANSITIONS[current]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRequest:
    """What a strategy asks for, before risk checks and before it reaches the venue."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None  # None only with close_position
    client_order_id: str
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    working_type: WorkingType = WorkingType.CONTRACT_PRICE

    @property
    def is_protective(self) -> bool:
        """A closing stop / take-profit (see `Order.is_protective`)."""
        return self.type in PROTECTIVE_TYPES and (self.close_position or self.reduce_only)


# Exchange-side closing stops / take-profits: what protects a position.
PROTECTIVE_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """The daemon's view of one order. Immutable: `transition` returns the next version.

    `intent`: why the daemon sent it (`OrderSubmitted.intent`, journaled as `orders.intent`):
    the one record of it, read by the RiskManager's budget of `max_open_orders`; ORDINARY for
    an order learned of from the exchange (adopted, or the exchange's own)."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    time_in_force: TimeInForce | None
    status: OrderStatus
    created_ms: int
    updated_ms: int
    order_id: int | None = None  # the exchange's id, once known
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    stop_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    intent: OrderIntent = OrderIntent.ORDINARY

    if TYPE_CHECKING:  # made by fast_init

        def __replace__(self, **changes: Any) -> "Order": ...

    @classmethod
    def from_request(
        cls, request: OrderRequest, now_ms: int, intent: OrderIntent = OrderIntent.ORDINARY
    ) -> "Order":
        return cls(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            quantity=request.quantity if request.quantity is not None else Decimal(0),
            price=request.price,
            time_in_force=request.time_in_force,
            status=OrderStatus.PENDING_SUBMIT,
            created_ms=now_ms,
            updated_ms=now_ms,
            stop_price=request.stop_price,
            reduce_only=request.reduce_only,
            close_position=request.close_position,
            position_side=request.position_side,
            intent=intent,
        )

    @property
    def remaining_qty(self) -> Decimal:
        return self.quantity - self.filled_qty

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES  # the status's own property: one call more

    @property
    def is_protective(self) -> bool:
        """An exchange-side closing stop / take-profit: it protects a position (kept on the
        exchange when the daemon stops with a position open)."""
        return self.type in PROTECTIVE_TYPES and (self.close_position or self.reduce_only)

    def transition(
        self,
        status: OrderStatus,
        *,
        ts_ms: int,
        order_id: int | None = None,
        filled_qty: Decimal | None = None,
        avg_price: Decimal | None = None,
    ) -> "Order":
        """Return this order in `status`; raise IllegalTransition if the table forbids it."""
        # `__replace__` directly, not through fast_init.replace: an order makes about 4
        # transitions in the tracker and the books.
        if not can_transition(self.status, status):
            raise IllegalTransition(self.client_order_id, self.status, status)
        if filled_qty is not None and filled_qty < self.filled_qty:
            raise ValueError(
                f"order {self.client_order_id}: filled quantity cannot shrink "
                f"({self.filled_qty} -> {filled_qty})"
            )
        return self.__replace__(
            status=status,
            updated_ms=ts_ms,
            order_id=self.order_id if order_id is None else order_id,
            filled_qty=self.filled_qty if filled_qty is None else filled_qty,
            avg_price=self.avg_price if avg_price is None else avg_price,
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution of one of our orders, as the exchange reported it."""

    symbol: str
    order_id: int
    client_order_id: str
    trade_id: int
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal  # positive = charged
    commission_asset: str
    realized_pnl: Decimal  # Binance `rp`: PnL of the reduced part, before fees
    is_maker: bool
    trade_time_ms: int
    recv_time_ms: int
    position_side: PositionSide = PositionSide.BOTH

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderProposal:
    """What a strategy proposes: no client id yet, not yet checked by the RiskManager.

    `quantity` is in contracts; None with `close_position`. The ExecManager turns an approved
    proposal into an `OrderRequest` with a deterministic client order id.
    """

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    reason: str = ""


def close_position_conflict(proposal: OrderProposal, order: Order) -> bool:
    """True if Binance refuses `proposal` while `order` is open: one open closePosition stop
    or take-profit per symbol and direction (-4130, "An open stop or take profit order with
    GTE and closePosition in the direction is existing"). Cancel `order` first."""
    return (
        proposal.close_position
        and order.close_position
        and not order.is_terminal
        and order.symbol == proposal.symbol
        and order.side is proposal.side
    )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TargetPosition:
    """A strategy's wish for its signed position in one symbol (contracts; 0 = flat).

    `price` is the limit price to work toward the target (None = at the market).
    """

    symbol: str
    qty: Decimal
    price: Decimal | None = None
    reason: str = ""


# Client order id prefixes of the orders the exchange places on our account itself (reference
# 10.3): the liquidation engine, auto-deleveraging, a delisting settlement. nautilus_trader
# also meets `delivery_autoclose-` (a delivery contract closed at expiry): a settlement too.
EXCHANGE_ORDER_PREFIXES: tuple[tuple[str, ForcedClose], ...] = (
    ("autoclose-", ForcedClose.LIQUIDATION),
    ("adl_autoclose", ForcedClose.ADL),
    ("settlement_autoclose-", ForcedClose.SETTLEMENT),
    ("delivery_autoclose-", ForcedClose.SETTLEMENT),
)
_EXCHANGE_PREFIXES = tuple(prefix for prefix, _ in EXCHANGE_ORDER_PREFIXES)


def forced_close(client_order_id: str) -> ForcedClose | None:
    """The kind of the exchange's own order this client id names (a liquidation, an
    auto-deleveraging, a settlement), or None for any other order (ours, or one placed by
    hand). Its fills change our position and wallet like any fill, though nobody sent it."""
    if not client_order_id.startswith(_EXCHANGE_PREFIXES):
        return None
    for prefix, kind in EXCHANGE_ORDER_PREFIXES:
        if client_order_id.startswith(prefix):
            return kind
    return None  # pragma: no cover - the startswith above matched one of them


# A fill of an order nobody here sent (placed by hand, by another program, by this daemon under
# an earlier journal), reported by the user stream while the daemon runs or found by a
# reconciliation (the start-up's: made while the daemon was down), is booked under "outside:"
# + that order's client id: the books, the journal and the ExecManager know such a fill as one
# to book, like a liquidation's, without an order of theirs (`gateway.venue_sync`).
OUTSIDE_PREFIX = "outside:"


def outside_client_id(client_order_id: str) -> str:
    """The client id an outside order's fills are booked under."""
    return OUTSIDE_PREFIX + client_order_id


def outside_order(client_order_id: str) -> bool:
    """Whether this client id is an outside order's as booked (`outside_client_id`)."""
    return client_order_id.startswith(OUTSIDE_PREFIX)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelProposal:
    """A strategy's wish to cancel one of its open orders, named by our client order id (as
    `StrategyView.open_orders` lists it). Checked by the RiskManager like any proposal (a
    `CancelDenied` with the reason when refused), journaled, then sent as the venue's cancel;
    the order's end comes back as an `OrderCanceled` (or its fill, when that came first)."""

    symbol: str
    client_order_id: str
    reason: str = ""


# Binance: clientOrderId / newClientOrderId must match ^[.A-Z:/a-z0-9_-]{1,36}$.
CLIENT_ORDER_ID_MAX_LEN = 36
# A journal's tag: base-36 digits (lower case, so no venue or tool that folds case can merge two
# tags); 6 of them tell 2,176,782,336 journals apart.
CLIENT_ID_TAG_LEN = 6
CLIENT_ID_TAG_CHOICES = 36**CLIENT_ID_TAG_LEN
_TAG_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def client_id_tag(number: int) -> str:
    """The journal tag of `number` (0 <= number < CLIENT_ID_TAG_CHOICES): its
    CLIENT_ID_TAG_LEN base-36 digits. The journal draws the number once, when it is created,
    so that two journals on one account never issue the same client order id."""
    if not 0 <= number < CLIENT_ID_TAG_CHOICES:
        raise ValueError(f"client id tag number out of range: {number}")
    digits = []
    for _ in range(CLIENT_ID_TAG_LEN):
        number, digit = divmod(number, 36)
        digits.append(_TAG_DIGITS[digit])
    return "".join(reversed(digits))


def _is_tag(text: str) -> bool:
    return 0 < len(text) <= 8 and text.isascii() and all(c in _TAG_DIGITS for c in text)


class ClientOrderIds:
    """Deterministic client order ids `<prefix>-<tag>-<seq>`: `tag` is the journal's (fixed
    when it was created), `seq` continues from the journal. A journal begun before tags
    existed has none and keeps `<prefix>-<seq>`.

    Within one journal the same intent always keeps the id it was journaled with, so an order
    whose outcome is unknown is found by querying that id and never sent twice. Across
    journals the tag keeps the ids apart: a fresh journal on an account that still holds (or
    recently held) orders of an earlier one neither collides with them (-4116) nor mistakes
    one of them for its own when it queries an id.

    Lengths: the prefix is at most 20 characters and the tag 6, so `<prefix>-<tag>-` takes at
    most 28 of Binance's 36 and the sequence has 8 digits left (99,999,999 orders).
    """

    __slots__ = ("_max_seq", "_next", "prefix", "stem", "tag")

    def __init__(self, prefix: str, next_seq: int = 1, *, tag: str = "") -> None:
        # ASCII only: Binance's client ids are ^[\.A-Z\:/a-z0-9_-]{1,36}$ (reference 6.2.1,
        # -1100 otherwise), while str.isalnum() also takes "é", "ß" or "٣".
        if not (0 < len(prefix) <= 20 and prefix.isascii()) or not all(
            c.isalnum() or c in "_." for c in prefix
        ):
            raise ValueError(f"client order id prefix: 1-20 of [A-Za-z0-9_.], not {prefix!r}")
        if forced_close(f"{prefix}-1") is not None:
            raise ValueError(
                f"client order id prefix {prefix!r}: its ids would read as the exchange's own "
                "liquidation / deleveraging / settlement orders"
            )
        if tag and not _is_tag(tag):
            raise ValueError(f"client order id tag: 1-8 of [a-z0-9], not {tag!r}")
        self.prefix = prefix
        self.tag = tag
        self.stem = self.stem_of(prefix, tag)
        self._next = next_seq
        self._max_seq = 10 ** (CLIENT_ORDER_ID_MAX_LEN - len(self.stem) - 1) - 1

    @staticmethod
    def stem_of(prefix: str, tag: str) -> str:
        """What a journal's ids are `<stem>-<seq>` of: `<prefix>-<tag>`, or the prefix alone
        for a journal without a tag."""
        return f"{prefix}-{tag}" if tag else prefix

    @property
    def next_seq(self) -> int:
        return self._next

    def next(self, *, take: bool = True) -> str:
        """The next id, taken; `take=False`: the same id, not taken (the order path's
        rehearsal, `trading_engine.order_effects`, runs this code with no effect)."""
        seq = self._next
        if seq > self._max_seq:  # past Binance's 36 characters: -1100 on every order
            raise ValueError(f"client order ids of {self.stem!r} exhausted at {seq}")
        if take:
            self._next = seq + 1
        return f"{self.stem}-{seq}"

    @staticmethod
    def seq_of(client_order_id: str, stem: str) -> int | None:
        """The sequence number of an id `<stem>-<n>` (see `stem`), or None for any other id."""
        head, _, tail = client_order_id.rpartition("-")
        if head != stem or not tail.isdigit():
            return None
        return int(tail)

    @staticmethod
    def issued_by(client_order_id: str, prefix: str) -> bool:
        """Whether the id is one a daemon with `prefix` issues, in any journal: `<prefix>-<n>`
        (a journal without a tag) or `<prefix>-<tag>-<n>`. The prefix holds no "-", so the
        split is unambiguous."""
        head, _, tail = client_order_id.rpartition("-")
        if not (tail.isdigit() and tail.isascii()):
            return False
        if head == prefix:
            return True
        owner, _, tag = head.rpartition("-")
        return owner == prefix and _is_tag(tag)


def placed_outside(client_order_id: str, prefix: str) -> bool:
    """Whether an order nobody here tracks was placed outside the daemon (by hand, another
    program): not the exchange's own (`forced_close`), and not an id a daemon with `prefix`
    issues (an untracked one of those is ours: forgotten, or an earlier journal's). Without a
    prefix no id is ours. Its fills are booked as `outside_client_id`; its other reports are
    counted apart from those of untracked ids of ours, which point at something wrong."""
    if forced_close(client_order_id) is not None:
        return False
    return not (prefix and ClientOrderIds.issued_by(client_order_id, prefix))
