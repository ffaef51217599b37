"""String enums of the trading domain, spelled exactly as Binance USD-M Futures spells them."""

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign a fill of this side adds to a one-way position."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"
    LIQUIDATION = "LIQUIDATION"

    @property
    def is_conditional(self) -> bool:
        """Conditional types go through the Algo Order API since 2025-12-09."""
        return self in CONDITIONAL_TYPES

    @property
    def is_market_like(self) -> bool:
        """Types that fill at the market and use MARKET_LOT_SIZE."""
        return self in MARKET_LIKE_TYPES


# The sets behind the two properties, for the order path: a membership test there is one C
# call where the property is a Python-level call (~1.5-2 us with the caches cold).
CONDITIONAL_TYPES = frozenset(
    {
        OrderType.STOP,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    }
)
MARKET_LIKE_TYPES = frozenset(
    {
        OrderType.MARKET,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
        OrderType.LIQUIDATION,
    }
)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only
    GTD = "GTD"


class OrderStatus(StrEnum):
    # Our own states: before the exchange answered, and when we cannot know.
    PENDING_SUBMIT = "PENDING_SUBMIT"
    UNKNOWN = "UNKNOWN"
    # Binance states.
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Resting on the book (or possibly so, for UNKNOWN)."""
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
    }
)
TERMINAL_STATUSES = _TERMINAL  # for a membership test where the property is a call


class PositionSide(StrEnum):
    BOTH = "BOTH"  # one-way mode
    LONG = "LONG"
    SHORT = "SHORT"


class WorkingType(StrEnum):
    CONTRACT_PRICE = "CONTRACT_PRICE"
    MARK_PRICE = "MARK_PRICE"


class MarginType(StrEnum):
    CROSSED = "CROSSED"
    ISOLATED = "ISOLATED"


class ExecutionType(StrEnum):
    """`x` of ORDER_TRADE_UPDATE: what this event did to the order."""

    NEW = "NEW"
    CANCELED = "CANCELED"
    CALCULATED = "CALCULATED"
    EXPIRED = "EXPIRED"
    TRADE = "TRADE"
    AMENDMENT = "AMENDMENT"


class ForcedClose(StrEnum):
    """Why the exchange itself traded on our account: the kind of order it placed there
    (reference 10.3, recognised by the order's client id, see `core.orders.forced_close`)."""

    LIQUIDATION = "liquidation"  # `autoclose-`: the margin ran out (or the insurance fund took it)
    ADL = "auto-deleverage"  # `adl_autoclose`: closed against a bankrupt counterparty
    SETTLEMENT = "settlement"  # `settlement_autoclose-`: a delisting (or delivery) closed it


class ReconcileCause(StrEnum):
    """What made the venue emit `core.events.OrderReconciled`, journaled with it: the ExecManager
    and the start-up's log tell an order whose outcome was in doubt from one that nothing was
    in doubt about."""

    # The exchange told us the true status of an order we were unsure about (in flight at a
    # crash, a request that timed out: UNKNOWN), by a query, a report or a fill read.
    EXCHANGE = "EXCHANGE"
    # An order taken over from an earlier journal that fills booked under
    # `outside:<its client id>` (made while no daemon ran, or during the reads of the
    # reconciliation that took it over) completed: it is FILLED, its fills booked already.
    TAKEN_OVER_FILLS = "TAKEN_OVER_FILLS"


class NotSent(StrEnum):
    """Why an order the daemon meant to place never reached the exchange's book, journaled with
    its `core.events.OrderRejected`: refused before sending, or at the door, certain not to
    have executed. Not a rejection by the exchange (a business code such as -2019): the
    closing summary counts these apart."""

    STOPPING = "STOPPING"  # the venue stopping (or not started): only a stop-loss goes out
    LOCAL_CHECK = "LOCAL_CHECK"  # a symbol not traded, a price or size the filters refuse
    # no connection made, still rate limited after the waits (429), the clock off twice (-1021)
    NETWORK_OR_RATE_LIMIT = "NETWORK_OR_RATE_LIMIT"
    IP_BANNED = "IP_BANNED"  # an IP ban (418) not yet over: nothing is sent before its end
    ACCESS = "ACCESS"  # the key, its permissions or the URL refused (401, -2015, 404)


class OrderIntent(StrEnum):
    """Why the daemon sent an order, journaled with it (`orders.intent`) and kept on the books'
    order (`core.orders.Order.intent`), across a restart too: the RiskManager keeps every
    intent but ORDINARY out of the entries' budget of `risk.max_open_orders`; the ExecManager
    holds re-entry after the fill of an exit close (a stop's -2021 close, a crossed level's),
    as after the stop's own, and tells its flatten orders from the rest. A member added later
    reads back on any older journal: its rows hold only the older members (and ORDINARY where
    the column is missing)."""

    # a target's order that may add risk, a strategy proposal; every order of an older journal
    ORDINARY = "ORDINARY"
    REDUCING = "REDUCING"  # a risk-reducing order of the daemon's own (`RiskManager.check`)
    PAST_STOP_CLOSE = "PAST_STOP_CLOSE"  # the close at market of a stop refused with -2021
    # the close at market the protection plan sent for a stop-loss / take-profit level the
    # price had already crossed (`risk_manager.protection.already_crossed`)
    CROSSED_CLOSE = "CROSSED_CLOSE"
    # a flatten order of REDUCING (kill switch, limits, circuit breaker, liquidation): not
    # the strategy's to see, nor cancelled as a working order while it closes the position
    FLATTEN = "FLATTEN"


class TradingState(StrEnum):
    """Kill-switch state of the daemon: ACTIVE trades, REDUCING only closes, HALTED does nothing."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class AlgoStatus(StrEnum):
    """`algoStatus` / ALGO_UPDATE `X` of a conditional (algo) order."""

    NEW = "NEW"  # armed, waiting for its trigger
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"  # a normal order (its own orderId) now works in the matching engine
    FINISHED = "FINISHED"  # that order is terminal
    REJECTED = "REJECTED"  # refused at trigger time (margin, reduce-only)
    EXPIRED = "EXPIRED"  # system-cancelled (e.g. closePosition with nothing to close)

    def can_become(self, target: "AlgoStatus") -> bool:
        """The algo lifecycle: NEW -> TRIGGERING -> TRIGGERED -> FINISHED, or it ends earlier."""
        return target in _ALGO_NEXT[self]


_ALGO_NEXT: dict[AlgoStatus, frozenset[AlgoStatus]] = {
    AlgoStatus.NEW: frozenset({AlgoStatus.TRIGGERING, AlgoStatus.CANCELED, AlgoStatus.EXPIRED}),
    AlgoStatus.TRIGGERING: frozenset(
        {AlgoStatus.TRIGGERED, AlgoStatus.REJECTED, AlgoStatus.EXPIRED}
    ),
    AlgoStatus.TRIGGERED: frozenset({AlgoStatus.FINISHED}),
    AlgoStatus.FINISHED: frozenset(),
    AlgoStatus.CANCELED: frozenset(),
    AlgoStatus.REJECTED: frozenset(),
    AlgoStatus.EXPIRED: frozenset(),
}


class ExpiryReason(StrEnum):
    """`er` of ORDER_TRADE_UPDATE: why an order expired (section 10.3); "0" otherwise."""

    NONE = "0"
    SELF_TRADE_PREVENTION = "1"
    IOC_REMAINDER = "2"
    IOC_REMAINDER_AFTER_STP = "3"
    REDUCE_ONLY = "4"  # a reduce-only (or reversing) order that can no longer reduce
    LIQUIDATION = "5"  # the account is being liquidated
    GTE_UNSATISFIED = "6"
    SYMBOL_DELISTED = "7"
    STOP_TRIGGERED = "8"  # the initial order expired after the stop triggered
    MARKET_REMAINDER = "9"  # what a MARKET order could not fill


# Every member's plain text (its value), keyed by the member: a dict lookup where `.value` is
# two Python-level calls (enum's property descriptor), several per order in the engine and the
# books. The same text of different enums maps to itself, so one table serves them all.
TEXT: dict[str, str] = {
    m: m.value
    for e in (
        Side,
        OrderType,
        TimeInForce,
        OrderStatus,
        PositionSide,
        WorkingType,
        MarginType,
        ExecutionType,
        ForcedClose,
        OrderIntent,
        TradingState,
        AlgoStatus,
        ExpiryReason,
    )
    for m in e
}
