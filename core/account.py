"""Account state snapshots: positions and balances (USDT-margined, Decimal)."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from core.enums import MarginType, PositionSide
from core.fast_init import fast_init
from core.orders import Order


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A position in one symbol. `qty` is signed: positive long, negative short (one-way mode)."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    position_side: PositionSide = PositionSide.BOTH
    leverage: int = 1
    margin_type: MarginType = MarginType.CROSSED
    update_time_ms: int = 0

    @property
    def is_flat(self) -> bool:
        return self.qty == 0

    def unrealized_pnl(self, mark_price: Decimal) -> Decimal:
        """USDT PnL if closed at `mark_price`, before fees."""
        return self.qty * (mark_price - self.entry_price)

    def notional(self, mark_price: Decimal) -> Decimal:
        return abs(self.qty) * mark_price


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """One margin asset's balance. `wallet_balance` excludes unrealized PnL, as on Binance."""

    asset: str
    wallet_balance: Decimal
    available_balance: Decimal
    cross_wallet_balance: Decimal | None = None
    update_time_ms: int = 0
    # ACCOUNT_UPDATE `bc`: the change this update made besides realized PnL and commission
    # (a FUNDING_FEE update's funding amount, signed), USDT; None where none is reported (REST).
    balance_change: Decimal | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionAtRisk:
    """One position of a MARGIN_CALL (reference 10.6): USDT amounts, `qty` signed contracts."""

    symbol: str
    position_side: PositionSide
    qty: Decimal
    margin_type: MarginType
    mark_price: Decimal
    unrealized_pnl: Decimal
    maintenance_margin: Decimal  # what the position needs before it is liquidated
    isolated_wallet: Decimal = Decimal(0)


class AccountView(Protocol):
    """Read-only view of the books that the RiskManager and strategies may consult.

    Implemented by the BookKeeper; amounts in USDT, quantities in contracts, Decimal.
    """

    def position(self, symbol: str) -> Position: ...
    def mark_price(self, symbol: str) -> Decimal | None: ...
    def equity(self) -> Decimal: ...
    def available_balance(self) -> Decimal: ...
    def open_order_count(self, symbol: str | None = None) -> int: ...


class StrategyView(AccountView, Protocol):
    """What a strategy's callbacks get: the account read-only, and the strategy's own open
    orders. `open_order_count` counts every open order of ours, the stop-loss and take-profit
    included (`risk.max_open_orders` leaves those and the daemon's other risk-reducing orders
    out); `open_orders` lists only the strategy's."""

    def open_orders(self, symbol: str | None = None) -> tuple[Order, ...]:
        """The strategy's orders that are or may be live (NEW, PARTIALLY_FILLED, and
        PENDING_SUBMIT / UNKNOWN while the exchange's answer is awaited), oldest first, as
        frozen `Order` records (client_order_id, side, type, price, quantity, filled_qty,
        status, ...): neither the RiskManager's exchange-side stop-loss / take-profit nor the
        orders that flatten the account while REDUCING. Of `symbol`, or of every symbol."""
        ...
