"""What the ExecManager and its parts (`trading_engine.protection`, `trading_engine.reducing`)
need from their collaborators (`Books`, `Risk`), and what a part acts through: the ExecManager's own
journal-first calls, handed over as callables (`Desk`), with the names they share.

A part never holds the manager: it decides, sends and cancels through these few calls, so the
journal comes first and the books learn of each order exactly as of the manager's own."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from core.account import AccountView, Position
from core.enums import ForcedClose, OrderIntent, OrderStatus, Side, TradingState
from core.events import CancelDenied, Event, RiskDenied, TradingStateChanged
from core.market import BookTicker, MarkPrice, Trade
from core.orders import CancelProposal, Order, OrderProposal, OrderRequest, TargetPosition

EXEC_STRATEGY = "exec_manager"  # `DecisionMade.strategy` of the ExecManager's own decisions
# Orders whose outcome the exchange has not told yet: sent and unanswered, or in doubt.
UNANSWERED = frozenset({OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN})


class Books(AccountView, Protocol):
    """The BookKeeper as the ExecManager uses it (`book_keeper.BookKeeper` implements it)."""

    @property
    def orders(self) -> Mapping[str, Order]:
        """Orders that are or may be live (NEW, PARTIALLY_FILLED, PENDING_SUBMIT, UNKNOWN)."""
        ...

    def mark(self, item: Trade | MarkPrice | BookTicker) -> None: ...
    def last_price(self, symbol: str) -> Decimal | None: ...
    def position_prices(self, symbol: str) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """(position qty, mark price, last price) of `symbol` in one call."""
        ...

    def apply(self, event: Event) -> object: ...
    def wallet(self, asset: str | None = None) -> Decimal: ...
    def unrealized_pnl(self) -> Decimal: ...

    realized_pnl: Decimal  # since the books began, USDT
    transfers: Decimal  # USDT moved in (+) and out (-) since the books began

    def pnl_today(self, now_ms: int) -> Decimal:
        """Wallet change since 00:00 UTC without transfers (rp - fees + funding), USDT."""
        ...


class ProtectionLimits(Protocol):
    """The limits' protective levels (`risk_manager.RiskConfig` has them); 0 = none placed."""

    @property
    def stop_loss_pct(self) -> Decimal: ...
    @property
    def take_profit_pct(self) -> Decimal: ...


class Risk(Protocol):
    """The RiskManager as the ExecManager uses it (`risk_manager.RiskManager` implements it)."""

    @property
    def config(self) -> ProtectionLimits: ...
    @property
    def state(self) -> TradingState: ...
    @property
    def reason(self) -> str: ...
    @property
    def max_order_notional_usdt(self) -> Decimal: ...
    @property
    def peak_equity(self) -> Decimal | None:
        """The drawdown limit's peak: the highest equity net of transfers it was fed."""
        ...

    @property
    def kill_check_due_ms(self) -> int:
        """When `check_kill_switch_file` will next look (clock ms): not called before."""
        ...

    def check(
        self,
        request: OrderRequest,
        *,
        gap_open: bool,
        clock_offset_ms: int,
        risk_reducing: bool = False,
        data_lag_ms: int = 0,
        now_ms: int | None = None,
    ) -> OrderRequest | RiskDenied: ...
    def rehearse(
        self,
        request: OrderRequest,
        *,
        gap_open: bool,
        clock_offset_ms: int,
        data_lag_ms: int = 0,
        now_ms: int,
    ) -> bool:
        """`check`'s checks without any effect (`trading_engine.order_rehearsal`)."""
        ...

    def check_cancel(
        self, proposal: CancelProposal, order: Order | None
    ) -> CancelDenied | None: ...
    def on_equity(self, equity: Decimal, realized_today: Decimal) -> TradingStateChanged | None: ...
    def record_trade(self, ended_ms: int) -> TradingStateChanged | None: ...
    def kill(self, reason: str) -> TradingStateChanged | None: ...
    def record_stream_failure(self, stream: str, detail: str) -> TradingStateChanged | None: ...
    def check_kill_switch_file(self, now_ms: int | None = None) -> TradingStateChanged | None: ...
    def record_error(self, kind: str) -> TradingStateChanged | None: ...
    def record_unknown(self, client_order_id: str = "") -> TradingStateChanged | None: ...
    def record_forced_close(self, kind: ForcedClose, detail: str) -> TradingStateChanged | None: ...
    def confirm_flat(self) -> TradingStateChanged | None: ...
    def reduce_again(self, found: str) -> TradingStateChanged | None: ...
    def reset(self, operator_reason: str) -> TradingStateChanged: ...
    def protective_orders(
        self, position: Position, entry_price: Decimal | None, existing: list[Order]
    ) -> tuple[list[OrderProposal], list[str]]: ...


class Settings(Protocol):
    """What the parts read of `ExecConfig` (times in ms): one declaration for both, as they are
    handed the same config."""

    @property
    def symbols(self) -> tuple[str, ...]: ...
    @property
    def protect_positions(self) -> bool: ...
    @property
    def flatten_retry_ms(self) -> int: ...
    @property
    def close_retry_max_ms(self) -> int: ...


class Counters(Protocol):
    """The `ExecCounters` the parts count in (the same object for both)."""

    protective_submitted: int
    refused_closes: int
    flatten_orders: int


class Submit(Protocol):
    """`ExecManager._submit`: risk check, journal, books, venue; True when the order went."""

    def __call__(
        self,
        request: OrderRequest,
        now: int,
        *,
        repeat_key: tuple[object, ...] | None = None,
        risk_reducing: bool = False,
        intent: OrderIntent | None = None,
        at_stop: bool = False,
    ) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Desk:
    """The ExecManager's calls a part needs to act, bound to it; times in clock ms."""

    # (symbol, strategy, action, reason, now): journal a decision with what it leads to
    decide: Callable[[str, str, str, str, int], None]
    submit: Submit
    cancel: Callable[[Order, int, str], None]  # (order, now, reason): decision, then venue
    cancelling: Callable[[str, int], bool]  # (client order id, now): a cancel on its way
    request: Callable[[OrderProposal], OrderRequest]  # a proposal as a request, a new id
    stopped: Callable[[], bool]  # after `stop_trading`: nothing is sent (but `at_stop`)
    reconciling: Callable[[], bool]  # a start-up reconciliation: nothing is sent yet


def closing_side(qty: Decimal | int) -> Side:
    """The side of the orders that close a position of `qty` contracts (signed, not 0; or
    its sign alone, +1 / -1)."""
    return Side.SELL if qty > 0 else Side.BUY


def proposal_action(p: OrderProposal) -> str:
    """`DecisionMade.action` of an order proposal, e.g. "SELL close-position STOP_MARKET"."""
    qty = "close-position" if p.close_position else str(p.quantity)
    at = f" @ {p.price}" if p.price is not None else ""
    stop = f" stop {p.stop_price}" if p.stop_price is not None else ""
    return f"{p.side} {qty} {p.type}{at}{stop}"


def target_action(target: TargetPosition) -> str:
    """`DecisionMade.action` of a target, e.g. "target 0.010 (limit 60000)"."""
    price = "market" if target.price is None else f"limit {target.price}"
    return f"target {target.qty} ({price})"
