"""The ExecManager's configuration (`ExecConfig`, `BarSource`), what it counts (`ExecCounters`)
and the status it reports for the heartbeat (`ExecStatus`): plain data, no behaviour, so the
daemon, the backtest and the parts read them without the manager."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from core.enums import TradingState
from core.intervals import interval_ms


class BarSource(StrEnum):
    """Where the strategy's closed bars come from: the stream's closed klines (the exchange's
    own numbers, re-checked over REST after a gap), or bars built from trades with
    `gateway.bars.BarBuilder` (replays of trades only, or intervals the stream does not
    subscribe to, e.g. 1s)."""

    KLINES = "klines"  # the DataStream's closed kline Bars (live default)
    TRADES = "trades"  # built here from the trade stream (replays of trades, 1s bars)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    """Knobs of the ExecManager; times in ms, `equity_change_pct` in percent."""

    symbols: tuple[str, ...] = ()  # () = every instrument handed to the ExecManager
    bar_interval: str = "1m"
    bar_source: BarSource = BarSource.KLINES
    stale_order_ms: int = 30_000  # cancel a resting order of ours older than this
    equity_check_ms: int = 1_000  # RiskManager.on_equity at least this often
    equity_change_pct: Decimal = Decimal("0.1")  # ... and at once on a move this large
    protect_positions: bool = True  # exchange-side stop-loss / take-profit after fills
    # After its stop-loss / take-profit closed a position, that side is not entered again
    # until the strategy's target turns flat or to the other side (risk.reentry_hold).
    reentry_hold: bool = True
    flatten_retry_ms: int = 2_000  # REDUCING: re-send cancel-all / flatten this often
    # A close the exchange refused (a flatten, a stop's or a crossed level's market close, a
    # guard stop) is tried again after flatten_retry_ms, then twice as long each time up to
    # this (`protection._CloseRetry`), while the position stays the same; a new position goes
    # at once.
    close_retry_max_ms: int = 60_000
    pending_recheck_ms: int = 1_000  # a stale order still unanswered is looked at again then
    # A strategy callback taking longer holds the one event loop (market data, the user
    # stream, protection): counted, shown in the status and warned about, never acted on.
    # No HALT: the exchange-side stops protect the position whatever the loop does, a halt
    # (flatten) on a slow machine would turn a latency problem into realized losses and an
    # operator's reset, and a decision on real time would make backtests unrepeatable.
    max_strategy_call_ms: Decimal = Decimal(100)  # Decimal: the session header is journaled

    def __post_init__(self) -> None:
        interval_ms(self.bar_interval)  # raises on an unknown interval
        budget = self.max_strategy_call_ms
        if not isinstance(budget, Decimal) or not budget > 0:
            raise ValueError(
                f"ExecConfig.max_strategy_call_ms must be a Decimal > 0, not {budget!r}"
            )
        for name in (
            "stale_order_ms",
            "equity_check_ms",
            "flatten_retry_ms",
            "pending_recheck_ms",
            "close_retry_max_ms",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"ExecConfig.{name} must be > 0 ms, not {getattr(self, name)}")
        pct = self.equity_change_pct
        if not isinstance(pct, Decimal) or pct <= 0:
            raise ValueError(f"ExecConfig.equity_change_pct must be a Decimal > 0, not {pct!r}")


@dataclass(slots=True)
class ExecCounters:
    """What went through the ExecManager since it started (for the heartbeat and tests)."""

    items: int = 0
    trades: int = 0
    bars: int = 0
    ignored_items: int = 0  # market data for a symbol not traded, open or duplicate bars
    decisions: int = 0  # DecisionMade journaled (strategy and own)
    proposals: int = 0  # proposals returned by the strategy
    untraded_proposals: int = 0  # of them, for a symbol not traded (ignored)
    submitted: int = 0  # orders handed to the venue
    denied: int = 0  # RiskDenied journaled
    # the same target (or cancel) denied again for the same reason: not journaled
    denied_repeats: int = 0
    cancels: int = 0  # cancel requests sent (single orders)
    strategy_cancels: int = 0  # of them, the strategy's own (CancelProposal approved)
    cancels_denied: int = 0  # CancelDenied journaled
    stale_cancels: int = 0
    cancel_alls: int = 0
    protective_submitted: int = 0
    flatten_orders: int = 0
    events: int = 0  # venue events journaled and applied
    fills: int = 0
    duplicate_fills: int = 0  # fill events already booked (reconciliation replays)
    rejected_orders: int = 0  # OrderRejected from the venue
    unknown_outcomes: int = 0  # OrderStatusUnknown
    forced_fills: int = 0  # fills of the exchange's own orders: liquidation, ADL, settlement
    margin_calls: int = 0  # MarginCalled: the exchange's warning that liquidation is near
    # protective orders still open FIRED_ANSWER_WAIT_MS after the price crossed them
    overdue_fires: int = 0
    # closes the exchange refused (a flatten, a stop's market close, a guard stop): each
    # tried again on a backoff (`ExecConfig.close_retry_max_ms`), not at every retry or price
    refused_closes: int = 0
    ignored_events: int = 0  # not our symbol / not our order: logged, changed nothing
    bad_events: int = 0  # journaled, but the books refused them with an error: logged
    state_changes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecStatus:
    """A snapshot for the heartbeat line; money in USDT, quantities in contracts."""

    time_ms: int
    trading_state: TradingState
    state_reason: str
    equity: Decimal
    wallet: Decimal
    realized_pnl: Decimal  # since the books began, before fees (Binance `rp` summed)
    realized_pnl_today: Decimal  # wallet change since 00:00 UTC: rp - fees + funding
    unrealized_pnl: Decimal
    positions: Mapping[str, Decimal]  # symbol -> signed contracts, non-flat only
    open_orders: int
    counters: ExecCounters = field(default_factory=ExecCounters)
    last_margin_call_ms: int | None = None  # exchange time of the latest MARGIN_CALL
    # Strategy calls over ExecConfig.max_strategy_call_ms (real time: kept out of the
    # counters, which a backtest reports as its results) and the slowest of them, ms.
    slow_strategy_calls: int = 0
    slowest_strategy_call_ms: float = 0.0
    # Orders whose state at the exchange is not known yet: sent and unanswered (PENDING_SUBMIT,
    # UNKNOWN) or with a cancel on its way. 0 once every fault has played out.
    orders_in_doubt: int = 0
    # The order path run with no effect, to keep it warm (`trading_engine.order_rehearsal`)
    order_rehearsals: int = 0
