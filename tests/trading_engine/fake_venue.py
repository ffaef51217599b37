"""An in-memory venue for ExecManager tests: it records every call and answers only when the
test tells it to (or, with `fill_market_at`, fills MARKET orders from inside `submit`, as a
synchronous in-process venue would). It does not import `trading_engine`.

Fills carry Binance's numbers: `rp` by the one-way position arithmetic (rounded half-up to 8
decimals), commission = notional x 0.05 % taker / 0.02 % maker in USDT.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import count

from core.account import Position
from core.clock import Clock
from core.enums import Side
from core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderStatusUnknown,
    VenueSnapshot,
)
from core.journal import MemoryJournal
from core.orders import Fill, OrderRequest

_E8 = Decimal("0.00000001")
TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal("0.0002")


@dataclass
class _Pos:
    qty: Decimal = Decimal(0)
    entry: Decimal = Decimal(0)


@dataclass
class FakeVenue:
    clock: Clock
    journal: MemoryJournal | None = None  # to see what was journaled when submit was called
    fill_market_at: Decimal | None = None
    listener: Callable[[Event], None] | None = None
    submitted: list[OrderRequest] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)
    cancel_alls: list[str] = field(default_factory=list)  # symbols: every order
    # symbols: every order but the position's stop-loss / take-profit (REDUCING's)
    cancel_alls_keeping_protection: list[str] = field(default_factory=list)
    reconciles_asked: list[str] = field(default_factory=list)  # reasons given to reconcile_soon
    journal_at_submit: list[list[Event]] = field(default_factory=list)
    requests: dict[str, OrderRequest] = field(default_factory=dict)
    filled: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, _Pos] = field(default_factory=dict)
    _order_ids: "count[int]" = field(default_factory=lambda: count(700_000))
    _trade_ids: "count[int]" = field(default_factory=lambda: count(900_000))
    _exchange_ids: dict[str, int] = field(default_factory=dict)

    # --- core.venue.Venue ---------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> None:
        if self.journal is not None:
            self.journal_at_submit.append(list(self.journal.events))
        self.submitted.append(request)
        self.requests[request.client_order_id] = request
        if self.fill_market_at is not None and request.type == "MARKET":
            self.accept(request.client_order_id)
            self.fill(request.client_order_id, self.fill_market_at)

    def cancel(self, symbol: str, client_order_id: str) -> None:
        self.cancels.append((symbol, client_order_id))

    def cancel_all(self, symbol: str, *, keep_protection: bool = False) -> None:
        if keep_protection:
            self.cancel_alls_keeping_protection.append(symbol)
        else:
            self.cancel_alls.append(symbol)

    def reconcile_soon(self, reason: str, job: str = "reconcile-soon") -> None:
        self.reconciles_asked.append(reason)

    # --- answers the test gives -----------------------------------------------------------------

    def emit(self, event: Event) -> None:
        assert self.listener is not None, "connect the venue to a listener first"
        self.listener(event)

    def _times(self) -> dict[str, int]:
        now = self.clock.now_ms()
        return {"event_time_ms": now, "recv_time_ms": now}

    def order_id(self, cid: str) -> int:
        if cid not in self._exchange_ids:
            self._exchange_ids[cid] = next(self._order_ids)
        return self._exchange_ids[cid]

    def accept(self, cid: str) -> None:
        r = self.requests[cid]
        self.emit(
            OrderAccepted(
                symbol=r.symbol, client_order_id=cid, order_id=self.order_id(cid), **self._times()
            )
        )

    def fill(
        self, cid: str, price: Decimal | str, qty: Decimal | str | None = None, *, maker=False
    ) -> Fill:
        """Fill `qty` (default: the rest) of order `cid` at `price`; emits the fill event. A
        closePosition stop has no quantity of its own: `qty` is the position it closes."""
        r = self.requests[cid]
        price = Decimal(price)
        done = self.filled.get(cid, Decimal(0))
        assert r.quantity is not None or qty is not None
        whole = r.quantity if r.quantity is not None else done + Decimal(qty)  # type: ignore[arg-type]
        qty = whole - done if qty is None else Decimal(qty)
        cumulative = done + qty
        self.filled[cid] = cumulative
        rate = MAKER_FEE if maker else TAKER_FEE
        fill = Fill(
            symbol=r.symbol,
            order_id=self.order_id(cid),
            client_order_id=cid,
            trade_id=next(self._trade_ids),
            side=r.side,
            price=price,
            qty=qty,
            commission=(price * qty * rate).quantize(_E8, rounding=ROUND_HALF_UP),
            commission_asset="USDT",
            realized_pnl=self._book_position(r.symbol, r.side, qty, price),
            is_maker=maker,
            trade_time_ms=self.clock.now_ms(),
            recv_time_ms=self.clock.now_ms(),
        )
        kind = OrderFilled if cumulative == whole else OrderPartiallyFilled
        self.emit(kind(fill=fill, cumulative_qty=cumulative, avg_price=price, **self._times()))
        return fill

    def confirm_cancel(self, cid: str) -> None:
        r = self.requests[cid]
        self.emit(
            OrderCanceled(
                symbol=r.symbol, client_order_id=cid, order_id=self.order_id(cid), **self._times()
            )
        )

    def expire(self, cid: str, reason: str = "") -> None:
        """The exchange ended order `cid` by itself (EXPIRED: e.g. its own cancel-all, or a
        reduce-only order with nothing left to reduce)."""
        r = self.requests[cid]
        self.emit(
            OrderExpired(
                symbol=r.symbol,
                client_order_id=cid,
                order_id=self.order_id(cid),
                reason=reason,
                **self._times(),
            )
        )

    def reconciled(self, *positions: Position, reason: str = "periodic") -> None:
        """A reconciliation read now: `positions` (of the symbols it covers), no balance and no
        open order."""
        self.emit(
            VenueSnapshot(
                balances=(),
                positions=positions,
                open_orders=(),
                reason=reason,
                symbols=tuple(p.symbol for p in positions),
                **self._times(),
            )
        )

    def reject(self, cid: str, code: int = -2019, reason: str = "Margin is insufficient.") -> None:
        r = self.requests[cid]
        self.emit(
            OrderRejected(
                symbol=r.symbol, client_order_id=cid, code=code, reason=reason, **self._times()
            )
        )

    def unknown(self, cid: str) -> None:
        r = self.requests[cid]
        self.emit(
            OrderStatusUnknown(
                symbol=r.symbol, client_order_id=cid, reason="timeout", **self._times()
            )
        )

    def _book_position(self, symbol: str, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Binance one-way arithmetic: the realized PnL (`rp`) of this fill."""
        p = self.positions.setdefault(symbol, _Pos())
        signed = qty if side is Side.BUY else -qty
        old, new = p.qty, p.qty + signed
        rp = Decimal(0)
        if old == 0 or (old > 0) == (signed > 0):
            p.entry = (abs(old) * p.entry + abs(signed) * price) / abs(new)
        else:
            closed = min(abs(signed), abs(old))
            rp = (closed * (price - p.entry) * (1 if old > 0 else -1)).quantize(
                _E8, rounding=ROUND_HALF_UP
            )
            if new == 0:
                p.entry = Decimal(0)
            elif (new > 0) != (old > 0):
                p.entry = price
        p.qty = new
        return rp
