"""Past-tense domain events. Each carries two times: the exchange's and our receive time (ms).

Where the event is ours (e.g. OrderSubmitted, RiskDenied), both times come from our clock.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from core.account import Balance, Position, PositionAtRisk
from core.enums import NotSent, OrderIntent, OrderStatus, ReconcileCause, TradingState
from core.fast_init import fast_init
from core.orders import Fill, Order, OrderRequest


class GapCause(StrEnum):
    """Why aggregate trade ids went missing."""

    START = "start"  # on start, after the checkpointed id
    RECONNECT = "reconnect"  # after a dropped socket
    SEQUENCE = "sequence"  # a hole in the live sequence
    SILENCE = "silence"  # the trade stream died while the connection stayed up
    # An id absurdly far past the last one (more than the DataStream's `max_gap_trades`):
    # checked against REST, then either skipped to (confirmed) or discarded (bogus).
    JUMP = "jump"


class StreamState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SILENT = "silent"
    FAILED = "failed"  # a fatal error (IP ban, unknown symbol): no more data, act on it


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    event_time_ms: int
    recv_time_ms: int


# --- orders ------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(Event):
    """Journaled before the network call: the request may or may not reach the exchange.
    `intent`: why it was sent (journaled with it, for a restart)."""

    request: OrderRequest
    intent: OrderIntent = OrderIntent.ORDINARY


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(Event):
    symbol: str
    client_order_id: str
    order_id: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(Event):
    """The create request placed nothing. `not_sent`: why it never reached the exchange's
    book (refused before sending, or at the door); None when the exchange rejected it."""

    symbol: str
    client_order_id: str
    code: int  # Binance error code, e.g. -2019; 0 when rejected by us before sending (-1003
    # when not sent during an IP ban, `core.errors.IpBanned`)
    reason: str
    not_sent: NotSent | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPartiallyFilled(Event):
    fill: Fill
    cumulative_qty: Decimal
    avg_price: Decimal


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Event):
    fill: Fill
    cumulative_qty: Decimal
    avg_price: Decimal


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(Event):
    symbol: str
    client_order_id: str
    order_id: int | None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(Event):
    symbol: str
    client_order_id: str
    order_id: int | None
    reason: str  # e.g. IOC remainder, GTX would take, reduce-only knocked out


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAmended(Event):
    symbol: str
    client_order_id: str
    order_id: int
    price: Decimal
    quantity: Decimal


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusUnknown(Event):
    """The request's outcome is unknown (timeout, 5xx): reconcile before anything is resent."""

    symbol: str
    client_order_id: str
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReconciled(Event):
    """An order's status learnt from the exchange outside its own reports: by default
    (EXCHANGE) the true status of an order we were unsure about; TAKEN_OVER_FILLS, the end
    (FILLED) of an order taken over from an earlier journal that the fills booked under
    `outside:<its client id>` completed (no fill of it is in this event)."""

    symbol: str
    client_order_id: str
    status: OrderStatus
    cause: ReconcileCause = ReconcileCause.EXCHANGE


# --- risk ----------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskDenied(Event):
    request: OrderRequest
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelDenied(Event):
    """A strategy's cancel the RiskManager refused (the order is not open, or not the
    strategy's to cancel: a stop-loss / take-profit protecting the position)."""

    symbol: str
    client_order_id: str
    reason: str


# `DecisionMade.action` of a cancel: of one order (`cancel <its client order id>`), or of the
# symbol's open orders (all, or all but the position's stop-loss / take-profit: REDUCING's first)
CANCEL_ONE = "cancel "
CANCEL_ALL = "cancel all"
CANCEL_ALL_BUT_PROTECTION = "cancel all but the stop-loss / take-profit"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionMade(Event):
    """A strategy proposal, journaled before risk and execution act on it."""

    symbol: str
    strategy: str
    action: str  # e.g. "target 0.003", "buy 0.002 @ 61000.1", "hold"
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TradingStateChanged(Event):
    previous: TradingState
    current: TradingState
    reason: str


# The reason (its beginning) of the daemon's own return to ACTIVE at a start
# (`RiskManager.reset`): a halt whose cause the start cleared (the user stream's failure) is
# lifted, and no limit is re-armed: nobody looked at the account, and the cause was no limit.
AUTOMATIC_RESET = "automatic reset at start"


def rearms_limits(event: Event) -> bool:
    """`event` is an operator's reset (`--reset-halt`): a return to ACTIVE from which the
    portfolio limits count again (the drawdown peak, the day's loss base, its trades), as a
    restart counts them from the journal. The daemon's automatic resume at a start
    (AUTOMATIC_RESET) is not one: the limits count on through it."""
    return (
        isinstance(event, TradingStateChanged)
        and event.current is TradingState.ACTIVE
        and not event.reason.startswith(AUTOMATIC_RESET)
    )


# --- account -------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionChanged(Event):
    position: Position
    reason: str  # Binance ACCOUNT_UPDATE `m`: ORDER, FUNDING_FEE, ...


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceChanged(Event):
    balance: Balance
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MarginCalled(Event):
    """The exchange warned that the account's margin is nearly used up (MARGIN_CALL): the
    positions at risk, with the maintenance margin each needs. Informational (reference 10.6):
    liquidation may already be under way."""

    cross_wallet_balance: Decimal | None  # USDT; None when only isolated positions are at risk
    positions: tuple[PositionAtRisk, ...]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueSnapshot(Event):
    """What the venue says we have, read over REST (start, after a reconnect, periodically).

    The BookKeeper and the order tracker compare it with what they believe and log each
    difference; `open_orders` holds normal and algo (protective) orders alike.
    """

    balances: tuple[Balance, ...]
    positions: tuple[Position, ...]
    open_orders: tuple[Order, ...]
    reason: str  # "start", "reconnect", "periodic", ...
    symbols: tuple[str, ...] = field(default=())  # symbols the snapshot covers
    # Client ids of `open_orders` the venue took over as ours since the last snapshot: placed
    # by this daemon under an earlier journal (its client id prefix). The journal records
    # them as our orders, so their later events are of a known order.
    adopted: tuple[str, ...] = field(default=())
    # (symbol, trade id): the highest exchange trade id of each symbol its userTrades reads
    # reached, but below a fill they read that no event booked and its account and position
    # reads did not both hold (`gateway.venue_sync.seen_bound`). Every fill up to it, of any
    # order, is in the books (booked, or in the position and wallet this snapshot adopts): a
    # restart books a fill made
    # while the daemon was down by its id against these, not by a time on our estimate of
    # the exchange's clock. Empty in a journal from before the field.
    trade_ids: tuple[tuple[str, int], ...] = field(default=())
    # Our clock (that of the events' receive times, ms) when the pass's reads of fills began:
    # an account update received before it was sent after its fills were made, so they are
    # in those reads (each emitted before this snapshot, or left to that update). None: a
    # snapshot not made by such a pass, or journaled before the field.
    fills_read_recv_ms: int | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPaid(Event):
    symbol: str
    amount: Decimal  # signed USDT: negative = paid by us
    rate: Decimal


# --- market-data integrity -------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GapDetected(Event):
    """Aggregate trade ids `first_missing_id..last_missing_id` (inclusive) were not received."""

    symbol: str
    first_missing_id: int
    last_missing_id: int
    cause: GapCause

    @property
    def size(self) -> int:
        return self.last_missing_id - self.first_missing_id + 1


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GapHealed(Event):
    symbol: str
    first_missing_id: int
    last_missing_id: int
    backfilled: int  # trades fetched over REST
    duration_ms: int
    # Ids of the range that will never be delivered: a confirmed JUMP, ids REST says do not
    # exist, or a backfill that ran out of time. 0 = every missing trade was delivered (or,
    # for a JUMP, the far id was not confirmed and nothing was missing after all).
    skipped: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStateChanged(Event):
    """A market or user stream connected, dropped or was declared silent."""

    stream: str
    state: StreamState
    detail: str = ""
