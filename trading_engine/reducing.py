"""Reducing: the portfolio states REDUCING and HALTED, that is flatten, then verify flat.

On REDUCING (drawdown, daily loss, trades per day, circuit breaker, kill switch, a stream that
FAILED, a liquidation) every symbol gets a cancel-all that keeps the position's stop-loss /
take-profit (`Venue.cancel_all(keep_protection=True)`: entries, working target orders, the
strategy's own and whatever the exchange holds that the books do not know are cancelled), every
position a reduce-only MARKET order, both re-sent every `flatten_retry_ms` while needed (a
flatten not while a closing market order is unanswered: after a restart it may be the last
session's, in doubt and being resolved; a refused one on a backoff from `flatten_retry_ms`
doubling up to `close_retry_max_ms`, `protection._CloseRetry`). The stop-loss stays on the
exchange until the position is flat: a flatten refused, or in doubt (a timeout), or the daemon
killed meanwhile, leaves the position guarded; a position without one (a stop being replaced
when the state changed, one found while HALTED) gets a closePosition stop (retried with the
flatten: `Protection.guard`). Both close only (closePosition / reduce-only), so a stop that
fires during the flatten cannot flip the position: whichever comes second finds less or nothing
to close. A position that appears in between (an order filling before its cancel) is flattened
as soon as it is seen, once. A symbol flat with no order of its own left working then has its
protective orders cancelled (a cancel-all, re-sent every `flatten_retry_ms` while the books
still hold one: the venue verifies with the exchange, so one the exchange had already expired
or cancelled ends in the books too, and a reconciliation removes what it no longer lists); once
the books say flat with no order open the RiskManager confirms -> HALTED. HALTED promises flat:
a position the books learn of while HALTED (a fill that came after the halt, or one a
reconciliation found that they had missed) moves the state back to REDUCING, which flattens it
(and then halts again).

The change of state itself is the ExecManager's (`ExecManager._state_changed`, which calls
`enter` on REDUCING); what is sent goes out through its own journal-first calls
(`trading_engine.exec_desk.Desk`, its cancel-all), and the guard stops and refused closes are
the protection's (`trading_engine.protection`).
"""

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from core.enums import OrderIntent, OrderType, TradingState
from core.events import TradingStateChanged
from core.instrument import Instrument
from core.orders import ClientOrderIds, OrderRequest
from trading_engine.exec_desk import (
    EXEC_STRATEGY,
    UNANSWERED,
    Books,
    Counters,
    Desk,
    Risk,
    Settings,
    closing_side,
)
from trading_engine.protection import Protection

REDUCING = TradingState.REDUCING
FLATTEN = OrderIntent.FLATTEN  # REDUCING's closes, told from the rest by the books' order


class CancelAll(Protocol):
    """`ExecManager._cancel_all`: every open order of a symbol (with `keep_protection` all but
    its stop-loss / take-profit), the decision journaled first."""

    def __call__(
        self, symbol: str, now: int, reason: str, *, keep_protection: bool = False
    ) -> None: ...


class Reducer:
    """REDUCING's cancels, flattens and unguarding, and HALTED's check that it is flat; see the
    module docstring."""

    def __init__(
        self,
        *,
        book: Books,
        risk: Risk,
        instruments: Mapping[str, Instrument],
        ids: ClientOrderIds,
        config: Settings,
        counters: Counters,
        desk: Desk,
        cancel_all: CancelAll,
        state_changed: Callable[[TradingStateChanged, int], None],
        protection: Protection,
    ) -> None:
        """`state_changed`: the ExecManager's, for the change the RiskManager answers a flat
        book (HALTED) or a position found while HALTED (REDUCING) with."""
        self._book = book
        self._risk = risk
        self._instruments = instruments
        self._ids = ids
        self.config = config
        self.counters = counters
        self._desk = desk
        self._decide = desk.decide
        self._submit = desk.submit
        self._cancel_all = cancel_all
        self._state_changed = state_changed
        self._protection = protection
        self._flattened_qty: dict[str, Decimal] = {}  # symbol -> the position it was sent for
        # REDUCING: symbols flat and settled whose protective orders' cancel-all went out (the
        # first at once, later ones at the retries)
        self._unguarding: set[str] = set()
        self._next_reduce_ms = 0
        self._reduce_entering = False  # REDUCING entered while reconciling: its cancel-alls

    def enter(self, now: int) -> None:
        """The state just became REDUCING: its first flatten and cancel-alls go at once."""
        self._flattened_qty.clear()
        self._next_reduce_ms = 0
        self.progress(now, entering=True)

    def after_reconciling(self, now: int) -> None:
        """A start-up reconciliation is over, in REDUCING: go on, with the cancel-alls of a
        REDUCING entered meanwhile."""
        entering, self._reduce_entering = self._reduce_entering, False
        self.progress(now, entering=entering)

    def progress(self, now: int, *, entering: bool = False) -> None:
        """REDUCING: cancel what works, flatten, then the protection, and once flat with no
        order left let the RiskManager halt.

        On entering, every symbol gets a cancel-all that keeps the stop-loss / take-profit (the
        exchange may hold orders the books do not know); afterwards that cancel-all and the
        flatten are re-sent every `flatten_retry_ms` while the books still show such orders or
        a position, and a position that appears in between (an order filling before its
        cancel) is flattened when it is seen. A symbol's protective orders go once it is flat
        and settled (`_reduce_symbol`)."""
        if self._desk.reconciling():
            self._reduce_entering |= entering  # done when the reconciliation is over
            return
        book = self._book
        why = f"trading {REDUCING}: {self._risk.reason}"
        if entering:
            self._unguarding.clear()
            for symbol in self.config.symbols:
                self._cancel_all(symbol, now, why, keep_protection=True)
        if self._is_flat() and not book.orders:
            changed = self._risk.confirm_flat()
            if changed is not None:
                self._flattened_qty.clear()
                self._unguarding.clear()
                self._state_changed(changed, now)
            return
        due = now >= self._next_reduce_ms
        if due:
            self._next_reduce_ms = now + self.config.flatten_retry_ms
        for symbol in self.config.symbols:
            self._reduce_symbol(symbol, now, why, due=due, entering=entering)

    def _reduce_symbol(self, symbol: str, now: int, why: str, *, due: bool, entering: bool) -> None:
        """One symbol's step of REDUCING. `due`: the retry time has come (re-send the cancel-all
        of what still works and the flatten; place a stop-loss where the position has none);
        between retries only a position not flattened yet is flattened.

        Its stop-loss / take-profit stay while the position is open, or an order of its own
        (an entry whose cancel is on its way, a flatten, one unanswered) still works: such an
        order could yet open or move a position. Once flat and settled they are cancelled, at
        once the first time, then again at each retry while the books still hold one."""
        orders = self._book.orders
        working = flattening = guarded = False
        for o in orders.values():
            if o.symbol != symbol:
                continue
            if o.is_protective:
                guarded = True
            elif o.intent is FLATTEN:  # the last session's too: not cancelled as working
                flattening = True
            else:
                working = True
        if working and due and not entering:
            self._cancel_all(symbol, now, why, keep_protection=True)
        if self._book.position(symbol).is_flat:
            self._flattened_qty.pop(symbol, None)
            settled = guarded and not working and not flattening
            if settled and (due or symbol not in self._unguarding):
                self._unguarding.add(symbol)
                self._cancel_all(
                    symbol, now, f"{why}; {symbol} is flat: its stop-loss / take-profit go"
                )
            return
        self._unguarding.discard(symbol)
        # After a refusal the flatten and the guard go when its backoff is over, not at the
        # next retry tick (`protection._CloseRetry`); a new position is flattened at once
        # meanwhile.
        refused = symbol in self._protection.close_retry
        if (refused and not self._protection.close_due(symbol, now)) or not (due or refused):
            self._flatten_new(symbol, now)
            return
        self.flatten(symbol, now)
        self._protection.guard(symbol, now)

    def reduce_if_open(self, now: int) -> None:
        """HALTED with a position in the books (a late fill, or one a reconciliation found):
        back to REDUCING, which flattens it (`RiskManager.reduce_again`). Judged once a
        start-up reconciliation is over, on the whole picture; not after stop_trading."""
        if self._desk.reconciling() or self._desk.stopped():
            return
        book = self._book
        found = [(s, q) for s in self.config.symbols if (q := book.position(s).qty) != 0]
        if not found:
            return
        said = ", ".join(f"{s} position {q:f}" for s, q in found)
        changed = self._risk.reduce_again(f"{said} found")
        if changed is not None:
            self._state_changed(changed, now)

    def _is_flat(self) -> bool:
        book = self._book
        return all(book.position(s).is_flat for s in self.config.symbols)

    def _flatten_new(self, symbol: str, now: int) -> None:
        """Between the retries, a position not flattened yet (one that appeared, a working
        order filling before its cancel) is flattened when it is seen; the one a flatten was
        sent for (refused, or its remainder expired) waits for the retry."""
        qty = self._book.position(symbol).qty
        if qty == 0:
            self._flattened_qty.pop(symbol, None)
        elif qty != self._flattened_qty.get(symbol):
            self.flatten(symbol, now)

    def flatten(self, symbol: str, now: int) -> None:
        """Close `symbol`'s position with reduce-only market orders: one, or as many as
        MARKET_LOT_SIZE's maxQty asks for, all sent at once (`Instrument.split_qty`)."""
        qty = self._book.position(symbol).qty
        if qty == 0:
            return
        side = closing_side(qty)
        for o in self._book.orders.values():
            if o.symbol == symbol and o.intent is FLATTEN:
                return  # the last flatten is still working
            if (
                o.symbol == symbol
                and o.side is side
                and o.reduce_only
                and o.type is OrderType.MARKET
                and o.status in UNANSWERED
            ):
                # A closing market order whose outcome is not known yet: the flatten of the
                # session a kill -9 ended, restored from the journal and being resolved (it may
                # have filled). A second one waits for that answer.
                return
        parts = self._instruments[symbol].split_qty(abs(qty), OrderType.MARKET)
        reason = f"trading {REDUCING}: {self._risk.reason}"
        self._flattened_qty[symbol] = qty  # sent or denied: at once only once (`_flatten_new`)
        for n, part in enumerate(parts, 1):
            request = OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.MARKET,
                quantity=part,
                client_order_id=self._ids.next(),
                reduce_only=True,
            )
            action = f"flatten {side} {part} MARKET reduce-only"
            if len(parts) > 1:  # maxQty
                action += f" ({n} of {len(parts)} orders for {abs(qty)})"
            self._decide(symbol, EXEC_STRATEGY, action, reason, now)
            if self._submit(request, now, risk_reducing=True, intent=FLATTEN):
                self.counters.flatten_orders += 1
