"""The books' closing summary (`BookSummary`): what they hold at the end and what happened since
they began, and the lines the daemon prints of it. Money in USDT, quantities in contracts."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from core.account import Position
from core.enums import TEXT, OrderStatus

SHOWN_PLACES = Decimal("0.00000001")  # balances as Binance shows them

# Binance's EXPIRED is the exchange's own end of an order, not a cancel of ours (reference 6.2.4,
# 6.3): the closePosition stop-loss / take-profit of a position that closed (the flatten's fill:
# Binance ends it then, before the daemon would cancel it), a market or IOC order's unfilled
# rest, a reduce-only order left with nothing to reduce. "expired 1" alone read as a fault.
_EXPIRED = TEXT[OrderStatus.EXPIRED]
_REJECTED = TEXT[OrderStatus.REJECTED]
_EXPIRED_BY = (
    "; expired: ended by the exchange (a stop-loss / take-profit whose position closed, or an "
    "order's unfilled rest), not cancelled by the daemon"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookSummary:
    """The closing summary: what the books hold now and what happened since they began."""

    orders_submitted: int
    orders_by_status: Mapping[str, int]  # terminal statuses
    # this run's orders that never reached the exchange, by why (`NotSent`): also among
    # orders_by_status' REJECTED, which counts the whole journal and keeps its meaning
    orders_not_sent: Mapping[str, int]
    open_orders: int
    fills: int
    maker_fills: int
    volume: Decimal  # traded notional, USDT
    fees: Mapping[str, Decimal]  # commission per asset
    realized_pnl: Decimal
    funding: Decimal
    transfers: Decimal
    adjustments: Decimal  # corrections adopted from the exchange
    wallet: Decimal
    unrealized_pnl: Decimal
    equity: Decimal
    peak_equity: Decimal  # highest equity net of transfers (equity - transfers), USDT
    max_drawdown: Decimal  # largest fall of equity net of transfers from its peak, USDT
    positions: tuple[Position, ...]  # non-flat
    differences: int
    rejected_events: int
    # each position's average entry said to its instrument's tick (an average of fills printed
    # with all its 28 digits); a symbol not in it is shown as a balance is (8 decimals)
    entries_shown: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable lines for the daemon's closing summary."""
        statuses = ", ".join(
            f"{k.lower()} {v}{_not_sent_note(self.orders_not_sent) if k == _REJECTED else ''}"
            for k, v in sorted(self.orders_by_status.items())
        )
        expired = _EXPIRED_BY if self.orders_by_status.get(_EXPIRED) else ""
        # with its unit when none was paid too ("fees: 0" beside "volume 0 USDT" looked cut)
        fees = ", ".join(f"{v:f} {k}" for k, v in sorted(self.fees.items())) or "0 USDT"
        shown = self.entries_shown
        positions = (
            ", ".join(
                f"{p.symbol} {p.qty:f} @ {shown.get(p.symbol) or _shown(p.entry_price)}"
                for p in self.positions
            )
            or "flat"
        )
        return [
            f"orders: {self.orders_submitted} submitted ({statuses or 'none finished'}), "
            f"{self.open_orders} open{expired}",
            f"fills: {self.fills} ({self.maker_fills} maker), volume {self.volume:f} USDT",
            f"fees: {fees}",
            f"realized PnL: {self.realized_pnl:f} USDT, funding: {self.funding:f} USDT",
            f"wallet: {_shown(self.wallet)} USDT, unrealized: {_shown(self.unrealized_pnl)} USDT, "
            f"equity: {_shown(self.equity)} USDT",
            f"transfers: {_shown(self.transfers)} USDT, peak equity net of transfers: "
            f"{_shown(self.peak_equity)} USDT, max drawdown: {_shown(self.max_drawdown)} USDT",
            f"final position: {positions}",
            f"differences with the exchange: {self.differences}, "
            f"rejected events: {self.rejected_events}",
        ]


def _not_sent_note(not_sent: Mapping[str, int]) -> str:
    """` (2 not sent this run, ...)` after the rejected count: rejections the exchange never
    saw (refused before sending, or at the door) read as its own rejections. "" without any."""
    if not not_sent:
        return ""
    kinds = ", ".join(f"{k.lower().replace('_', ' ')} {v}" for k, v in sorted(not_sent.items()))
    return (
        f" ({sum(not_sent.values())} not sent this run, refused before reaching the exchange: "
        f"{kinds})"
    )


def _shown(amount: Decimal) -> str:
    """An amount as Binance shows balances (8 decimals, rounded half-even); for display only:
    unrealized PnL and equity carry the average entry's extra digits exactly."""
    return f"{amount.quantize(SHOWN_PLACES, rounding=ROUND_HALF_EVEN):f}"
