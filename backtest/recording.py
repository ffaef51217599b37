"""What a backtest keeps of the events its pipeline journals: the orders (one row each, its
latest status), the fills (with the position after each, in contracts) and the count of events
by kind, in memory for the reports; `TeeJournal` also hands every event to the daemon's SQLite
journal."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backtest import metrics
from book_keeper.order_reasons import OrderReasons
from core.enums import TEXT, Side
from core.events import (
    BalanceChanged,
    DecisionMade,
    Event,
    FundingPaid,
    MarginCalled,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderReconciled,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    TradingStateChanged,
    VenueSnapshot,
)

_ZERO = Decimal(0)
# An order's row in one of these statuses is closed: no cancel-all reaches it any more.
_ENDED = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


@dataclass(slots=True)
class OrderRow:
    client_order_id: str
    symbol: str
    side: str
    type: str
    quantity: str
    price: str
    stop_price: str
    reduce_only: bool
    close_position: bool
    submitted_ms: int
    order_id: int | None = None
    status: str = "PENDING_SUBMIT"
    filled_qty: Decimal = _ZERO
    updated_ms: int = 0
    reason: str = ""


@dataclass(slots=True)
class FillRecord:
    time_ms: int
    client_order_id: str
    order_id: int
    trade_id: int
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    is_maker: bool
    position_after: Decimal

    def metric_row(self) -> metrics.FillRow:
        """This fill as the metrics read it (floats; its part in the round trips, found
        from the exact position)."""
        buy = self.side == "BUY"
        ends, share = metrics.trade_role(buy, self.qty, self.position_after)
        return metrics.FillRow(
            self.time_ms,
            float(self.price),
            float(self.qty),
            float(self.commission),
            float(self.realized_pnl),
            metrics.closes_position(buy, self.qty, self.position_after),
            ends_trade=ends,
            closing_share=share,
        )


class TeeJournal:
    """Every event to the reports' journal and to the daemon's SQLite journal (the same file
    a live session writes, for `sqlite3` queries and `export_csv`)."""

    def __init__(self, recording: "RecordingJournal", sqlite: Any) -> None:
        self._recording = recording
        self._sqlite = sqlite

    def record(self, event: Event) -> None:
        self._sqlite.record(event)
        self._recording.record(event)


# Events that name no order (no `client_order_id`): they stamp no order's row.
_ORDERLESS = frozenset(
    {
        DecisionMade,
        BalanceChanged,
        PositionChanged,
        FundingPaid,
        MarginCalled,
        RiskDenied,
        TradingStateChanged,
        VenueSnapshot,
    }
)


class RecordingJournal:
    """The `core.journal.Journal` of a backtest: keeps what the reports need (orders, fills,
    counts by kind) instead of every event, so memory stays flat over long runs."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderRow] = {}
        self.fills: list[FillRecord] = []
        self.counts: dict[str, int] = {}
        self._positions: dict[str, Decimal] = {}
        self.reasons = OrderReasons()  # why each order was sent / cancelled (orders.csv)
        # When and why the RiskManager stopped (or resumed) trading: summary.json, the charts.
        self.state_changes: list[TradingStateChanged] = []
        # The run's first denial, whose reason the command prints: one event, not every
        # reason (those hold prices and amounts: as many as the denials).
        self.first_denial: RiskDenied | None = None

    def record(self, event: Event) -> None:
        cls = type(event)
        kind = cls.__name__
        counts = self.counts
        try:
            counts[kind] += 1
        except KeyError:  # the first of its kind
            counts[kind] = 1
        if cls is OrderSubmitted:
            self._submitted(event)  # type: ignore[arg-type]
        elif cls is OrderFilled or cls is OrderPartiallyFilled:
            self._filled(event)  # type: ignore[arg-type]
        elif cls is DecisionMade:
            self.reasons.decision(event)  # type: ignore[arg-type]
        elif cls not in _ORDERLESS:  # an order's event: the common case, tested first
            row = self.orders.get(getattr(event, "client_order_id", ""))
            if row is not None:
                self._update(row, event)
                if row.status in _ENDED:
                    self.reasons.ended(row.client_order_id)
        elif cls is TradingStateChanged:
            self.state_changes.append(event)  # type: ignore[arg-type]
        elif cls is RiskDenied and self.first_denial is None:
            self.first_denial = event  # type: ignore[assignment]

    def _submitted(self, event: OrderSubmitted) -> None:
        r = event.request
        self.reasons.submitted(r.client_order_id, r.symbol, protective=r.is_protective)
        self.orders[r.client_order_id] = OrderRow(
            client_order_id=r.client_order_id,
            symbol=r.symbol,
            side=TEXT[r.side],
            type=TEXT[r.type],
            quantity="" if r.quantity is None else f"{r.quantity:f}",
            price="" if r.price is None else f"{r.price:f}",
            stop_price="" if r.stop_price is None else f"{r.stop_price:f}",
            reduce_only=r.reduce_only,
            close_position=r.close_position,
            submitted_ms=event.event_time_ms,
            updated_ms=event.event_time_ms,
        )

    def _filled(self, event: OrderPartiallyFilled | OrderFilled) -> None:
        f = event.fill
        pos = self._positions.get(f.symbol, _ZERO)
        pos += f.qty if f.side is Side.BUY else -f.qty
        self._positions[f.symbol] = pos
        self.fills.append(
            FillRecord(
                f.trade_time_ms,
                f.client_order_id,
                f.order_id,
                f.trade_id,
                TEXT[f.side],
                f.price,
                f.qty,
                f.commission,
                f.commission_asset,
                f.realized_pnl,
                f.is_maker,
                pos,
            )
        )
        row = self.orders.get(f.client_order_id)
        if row is not None:
            row.filled_qty = event.cumulative_qty
            if type(event) is OrderFilled:
                row.status = "FILLED"
                self.reasons.ended(f.client_order_id)
            else:
                row.status = "PARTIALLY_FILLED"
            row.order_id = f.order_id
            row.updated_ms = event.event_time_ms

    @staticmethod
    def _update(row: OrderRow, event: Event) -> None:
        """Any later event of the order stamps its row; these also change its status."""
        row.updated_ms = event.event_time_ms
        if isinstance(event, OrderAccepted):
            row.order_id = event.order_id
            if row.status == "PENDING_SUBMIT":
                row.status = "NEW"
        elif isinstance(event, OrderCanceled):
            row.status = "CANCELED"
        elif isinstance(event, OrderExpired):
            row.status, row.reason = "EXPIRED", event.reason
        elif isinstance(event, OrderRejected):
            row.status, row.reason = "REJECTED", f"{event.code} {event.reason}".strip()
        elif isinstance(event, OrderReconciled):
            row.status = TEXT[event.status]
