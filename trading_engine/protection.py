"""Protection: the exchange-side stop-loss and take-profit of the positions the daemon trades.

After a venue event, once the symbol's orders are settled, the ExecManager has the positions
that changed planned here (`settle`): their stop-loss and take-profit are placed / replaced /
cancelled (RiskManager.protective_orders; each placement journaled as OrderSubmitted, each
cancel as a DecisionMade). While an order of the symbol is unsettled, a position with no
stop-loss on its closing side gets the plan's closePosition stop meanwhile (`cover_meanwhile`).

A stop-loss / take-profit refused as already triggered (-2021) closes its position at once with
reduce-only market orders (`stop_past`); while REDUCING that close is the flatten. A close the
exchange refused for another reason (a flatten, a stop's or a crossed level's market close, a
guard stop) waits on a backoff for the position as it is (`close_refused`, `_CloseRetry`), and
the plan runs again at the first price after it (`replan_on_price`).

REDUCING: a position without a stop-loss (a stop being replaced when the state changed, one
found while HALTED) gets a closePosition stop, retried with the flatten (`guard`).

After `stop_trading` nothing is sent, but a position left open that a venue snapshot (the
stop's last reconciliation) shows without a stop-loss on its closing side gets the plan's
closePosition stop then (`guard_kept`): the exchange may have expired or cancelled the one it
had while the user stream was down.

The state here (`dirty`, `on_price`, `past_stop`, `close_retry`) is this module's; the
ExecManager holds the same `dirty` and `on_price` sets to read them on its hot path (one
attribute, no call); a change of trading state clears them here (`state_changed`). Orders go
out through the ExecManager's own journal-first calls (`trading_engine.exec_desk.Desk`).
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.account import Position
from core.backoff import Backoff
from core.enums import OrderIntent, OrderType, Side, TradingState
from core.events import OrderRejected
from core.instrument import Instrument
from core.orders import ClientOrderIds, Order, OrderProposal, OrderRequest, close_position_conflict
from trading_engine.exec_desk import (
    EXEC_STRATEGY,
    UNANSWERED,
    Books,
    Counters,
    Desk,
    Risk,
    Settings,
    closing_side,
    proposal_action,
)

# The ExecManager's logger: these lines were its own, and logging set-ups name it.
log = logging.getLogger("trading_engine.exec_manager")

ACTIVE = TradingState.ACTIVE
REDUCING = TradingState.REDUCING
HALTED = TradingState.HALTED
FLATTEN = OrderIntent.FLATTEN  # REDUCING's closes, told from the rest by the books' order

# Binance -2021 "Order would immediately trigger": a stop refused because its level is passed.
WOULD_TRIGGER_IMMEDIATELY = -2021

PROTECTION_NAMES = {
    OrderType.STOP_MARKET: "stop-loss",
    OrderType.TAKE_PROFIT_MARKET: "take-profit",
}


def _no_jitter() -> float:
    """The backoff's random draw for retries that need none (`_CloseRetry`)."""
    return 0.0


@dataclass(slots=True)
class _CloseRetry:
    """A symbol's closes the exchange refused, for one position: the next waits until `due_ms`.

    A refused flatten (the book too thin for a market order, -4131, for minutes) went again at
    every 2 s retry of REDUCING for as long as it lasted, 30 requests a minute; in ACTIVE a
    refused close was planned again at the next price and, refused once more, never again.
    Now the first retry comes `ExecConfig.flatten_retry_ms` after the refusal, each next one
    twice as late up to `close_retry_max_ms`, for ever while the position is open (no
    jitter: one daemon's own retries herd with nobody's), and another position (a fill, a new
    entry price, so a new stop level) is tried at once. -2021 starts none: it refuses no
    close, and the close it calls for goes at once (`Protection.stop_past`)."""

    position: tuple[Decimal, Decimal]  # (signed contracts, entry price) refused for
    backoff: Backoff
    due_ms: int
    said: bool = False  # its WARNING was logged (once per position)


class Protection:
    """Places, replaces and cancels the positions' stop-loss / take-profit and closes what a
    refused stop leaves open; see the module docstring."""

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
        flatten: Callable[[str, int], None],
    ) -> None:
        """`flatten`: REDUCING's close of a symbol's position (a stop refused as past, -2021,
        while REDUCING is closed by it)."""
        self._book = book
        self._risk = risk
        self._instruments = instruments
        self._ids = ids
        self.config = config
        self.counters = counters
        self._desk = desk
        self._decide = desk.decide
        self._submit = desk.submit
        self._cancel = desk.cancel
        self._cancelling = desk.cancelling
        self._request = desk.request
        self._flatten = flatten
        self.dirty: set[str] = set()  # symbols whose protection is to be planned again
        # Symbols whose stop was refused as already triggered (-2021): planned again on their
        # next price, not at once (the same price would give the same refusal, in a loop).
        self.on_price: set[str] = set()
        # symbol -> the position (signed contracts) whose stop-loss / take-profit the exchange
        # refused as already triggered (-2021): closed at the market, said once, and no stop
        # placed for it meanwhile while a closing market order of ours is on its way.
        self.past_stop: dict[str, Decimal] = {}
        # symbol -> its refused closes for the position as it is: when the next may go
        self.close_retry: dict[str, _CloseRetry] = {}

    def state_changed(self, current: TradingState) -> None:
        """The trading state became `current`: its first close is a new decision (no refusal's
        backoff); REDUCING plans no protection (`guard` places what it needs), and HALTED is
        flat, nothing left to protect. The flatten's fill marked its symbol, and the last event
        of REDUCING (the protection's own cancel) may be the last for a while: left set, it
        kept the backtest's fast path from finding a halted bar quiet."""
        self.close_retry.clear()
        if current is REDUCING or current is HALTED:
            self.dirty.clear()
        if current is HALTED:
            self.on_price.clear()

    def position_changed(self, symbol: str, flat: bool) -> None:
        """`symbol`'s position changed: its protection is planned again (`settle`)."""
        if flat:
            self.past_stop.pop(symbol, None)  # the next position's refusal is news
        if self.config.protect_positions:
            self.dirty.add(symbol)

    def settle(self, now: int) -> None:
        """After an event: fit the protective orders to the positions that changed (not after
        stop_trading: nothing would be sent, so nothing is planned or journaled)."""
        if self._desk.reconciling():
            return  # the symbols stay dirty: planned once the reconciliation is over
        if self._desk.stopped() or self._risk.state is not ACTIVE:
            self.dirty.clear()
            return
        for symbol in list(self.dirty):
            if self.protect(symbol, now):
                self.dirty.discard(symbol)

    def replan_on_price(self, item: object, now: int) -> None:
        """A price of a symbol whose stop was refused as already triggered, or whose close was
        refused: plan it again (after the refusal's backoff, `close_due`)."""
        symbol = getattr(item, "symbol", None)
        if symbol in self.on_price and self.close_due(symbol, now):
            self.on_price.discard(symbol)
            self.dirty.add(symbol)
            self.settle(now)

    def protect(self, symbol: str, now: int) -> bool:
        """Place / replace / cancel the symbol's stop-loss and take-profit. False while the
        symbol's orders are not settled (an entry unanswered, a market order or a cancel in
        flight), so that it is planned once for the position that results; meanwhile a
        position left without a stop-loss gets one (`cover_meanwhile`)."""
        book = self._book
        mine: list[Order] = []
        settled = True
        for o in book.orders.values():
            if o.symbol != symbol:
                continue
            if o.is_protective:
                if o.status in UNANSWERED or self._cancelling(o.client_order_id, now):
                    return False  # its outcome first (and -4130 while a cancel is on its way)
            elif (
                o.status in UNANSWERED
                or o.type is OrderType.MARKET
                or self._cancelling(o.client_order_id, now)
            ):
                settled = False
            mine.append(o)
        position = book.position(symbol)
        if not settled:
            self.cover_meanwhile(position, mine, now)
            return False
        proposals, cancel_ids = self._risk.protective_orders(position, None, mine)
        cancelled: list[Order] = []
        for cid in cancel_ids:
            order = book.orders.get(cid)
            if order is not None:
                self._cancel(order, now, self._why_cancelled(position, order))
                cancelled.append(order)
        if any(close_position_conflict(p, o) for p in proposals for o in cancelled):
            # Binance refuses a second closePosition stop on a side (-4130): the new one goes
            # out, planned afresh, once the old one's cancel is confirmed.
            return False
        for p in proposals:
            self._decide(symbol, EXEC_STRATEGY, proposal_action(p), p.reason, now)
            request = self._request(p)
            # A market order in the plan: the close for a level already crossed, whose fill
            # holds the side as the stop's would.
            crossed = request.type is OrderType.MARKET
            intent = OrderIntent.CROSSED_CLOSE if crossed else None
            if self._submit(request, now, risk_reducing=True, intent=intent):
                self.counters.protective_submitted += 1
        return True

    def _why_cancelled(self, position: Position, order: Order) -> str:
        """Why a protective order that does not fit the position is cancelled, as orders.csv's
        why_cancelled says it ("protect BTCUSDT 0.000 @ 0" read as a command). The entry is an
        average of fills: shown to the tick, as the stop's level is. A kind the settings no
        longer want (a restart with take_profit_pct 0) says that, not "replaced"."""
        if position.is_flat:
            return f"the {position.symbol} position is closed"
        config = self._risk.config
        if order.type is OrderType.TAKE_PROFIT_MARKET and config.take_profit_pct <= 0:
            return "no take-profit wanted: risk.take_profit_pct is 0"
        if order.type is OrderType.STOP_MARKET and config.stop_loss_pct <= 0:
            return "no stop-loss wanted: risk.stop_loss_pct is 0"
        entry = self._instruments[position.symbol].format_price(position.entry_price)
        return f"replaced: the position is now {position.symbol} {position.qty:f} @ {entry}"

    def cover_meanwhile(
        self,
        position: Position,
        orders: list[Order],
        now: int,
        note: str = "",
        *,
        at_stop: bool = False,
    ) -> OrderProposal | None:
        """While an order of the symbol is unsettled, a position with no stop-loss on its closing
        side gets one now, for the position as it is, instead of after that order's round trip
        (a stop moved on the same side is cancelled first: -4130). The full plan follows once
        the orders settle and moves it if the entry changed. A closePosition stop closes
        whatever the position is when it fires, so the order in flight cannot make it too large;
        a level already crossed is left to the full plan (no second market order meanwhile).
        `at_stop`: sent after `stop_trading` (`guard_kept`). Returns the stop sent, if any."""
        if position.is_flat:
            return None
        close_side = closing_side(position.qty)
        past = self.past_stop.get(position.symbol) == position.qty
        for o in orders:
            if guards_close(o, position.qty):
                return None
            if past and o.reduce_only and o.type is OrderType.MARKET and o.side is close_side:
                return None  # its stop was refused as past (-2021): this close is on its way
        proposals, _ = self._risk.protective_orders(position, None, orders)
        for p in proposals:
            if p.type is OrderType.STOP_MARKET and p.close_position:
                why = note or f"meanwhile: an order of {position.symbol} is in flight"
                reason = f"{p.reason} ({why})"
                self._decide(position.symbol, EXEC_STRATEGY, proposal_action(p), reason, now)
                if self._submit(self._request(p), now, risk_reducing=True, at_stop=at_stop):
                    self.counters.protective_submitted += 1
                    return p
        return None

    def guard(self, symbol: str, now: int) -> None:
        """REDUCING: a position with no stop-loss on its closing side (one being replaced when
        the state changed, one found while HALTED, one the exchange removed) gets one, for the
        position as it is, until the flatten has closed it."""
        if not self.config.protect_positions:
            return
        position = self._book.position(symbol)
        if position.entry_price <= 0:
            return  # no level to set a stop from (the flatten goes on regardless)
        orders = [o for o in self._book.orders.values() if o.symbol == symbol]
        self.cover_meanwhile(position, orders, now, f"while {REDUCING}: the position had none")

    def guard_kept(self, now: int) -> None:
        """After `stop_trading`, at a venue snapshot (the stop's last reconciliation): a
        position the daemon leaves open keeps an exchange-side stop-loss, so one the snapshot
        shows without a stop-loss on its closing side (the exchange expired or cancelled it
        while the user stream was down, a replacement that had not gone out yet, a flip's
        stop still on the old side) gets one now, for the position as it is
        (`cover_meanwhile`, the plan's closePosition stop), said in a WARNING. Judged at the
        snapshot, on the whole picture: the events before it come in the venue's order, not
        the exchange's (see `ExecManager.reconciling`). Nothing else is sent; a level already
        crossed gets no stop (the closing summary says the position is unguarded)."""
        if not self.config.protect_positions or self._desk.reconciling():
            return
        book = self._book
        for symbol in self.config.symbols:
            position = book.position(symbol)
            if position.is_flat or position.entry_price <= 0:
                continue
            orders = [o for o in book.orders.values() if o.symbol == symbol]
            why = "at the stop: the position had none on the exchange"
            sent = self.cover_meanwhile(position, orders, now, why, at_stop=True)
            if sent is not None:
                log.warning(
                    "%s: position %s left open without a stop-loss on the exchange at the stop: "
                    "placing a closePosition %s STOP_MARKET at %s",
                    symbol, position.qty, sent.side, sent.stop_price,
                )  # fmt: skip
            elif not any(guards_close(o, position.qty) for o in orders):
                log.warning(
                    "%s: position %s left open without a stop-loss on the exchange at the stop, "
                    "and none was placed (last price %s, trading %s: risk.stop_loss_pct is 0, "
                    "its level is already crossed, or trading is HALTED; see the journal)",
                    symbol, position.qty, book.last_price(symbol), self._risk.state,
                )  # fmt: skip

    def stop_past(self, stop: Order, now: int) -> None:
        """The exchange refused `stop`, a stop-loss or take-profit of ours, as already
        triggered (-2021): its price is past the level, so the position is closed now with
        reduce-only market orders, as the stop would have closed it (freqtrade's emergency
        exit does the same), and said once in one WARNING. Our own last price may not be
        past it yet (the exchange's is newer), so waiting for the plan to see the crossing,
        or placing the stop again, only repeated the refusal. While REDUCING the flatten is
        sent at once. A refused close is planned again at the next price."""
        symbol = stop.symbol
        qty = self._book.position(symbol).qty
        self.on_price.add(symbol)  # planned again at the next price, if need be
        if qty == 0 or (qty > 0) != (stop.side is Side.SELL):
            return  # it guarded a position that is no longer there
        close_side = stop.side
        closing = any(
            o.symbol == symbol
            and o.reduce_only
            and o.type is OrderType.MARKET
            and o.side is close_side
            for o in self._book.orders.values()
        )
        said = self.past_stop.get(symbol) == qty
        self.past_stop[symbol] = qty
        if not said:
            log.warning(
                "%s: the exchange refused the %s at %s as already triggered (-2021: the price "
                "is past it; our last price %s): %s the %s %s at market (reduce-only)%s",
                symbol,
                PROTECTION_NAMES.get(stop.type, stop.type.value),
                stop.stop_price,
                self._book.last_price(symbol),
                "not closing (stopping)" if self._desk.stopped() else "closing",
                "long" if qty > 0 else "short",
                abs(qty),
                ", already on its way" if closing else "",
            )
        state = self._risk.state
        if closing or self._desk.stopped() or self._desk.reconciling() or state is HALTED:
            # Reconciling: the plan after it closes (or places it) on the whole picture;
            # HALTED: a position found moves the state back to REDUCING, which flattens it.
            return
        if state is REDUCING:
            if self.close_due(symbol, now):  # not when a flatten was just refused
                self._flatten(symbol, now)
            return
        why = (
            f"{PROTECTION_NAMES.get(stop.type, stop.type.value)} {stop.client_order_id} at "
            f"{stop.stop_price} refused as already triggered (-2021): the price is past it, "
            "close at market"
        )
        for part in self._instruments[symbol].split_qty(abs(qty), OrderType.MARKET):
            request = OrderRequest(
                symbol=symbol,
                side=close_side,
                type=OrderType.MARKET,
                quantity=part,
                client_order_id=self._ids.next(),
                reduce_only=True,
            )
            self._decide(symbol, EXEC_STRATEGY, f"close {close_side} {part} MARKET", why, now)
            if self._submit(request, now, risk_reducing=True, intent=OrderIntent.PAST_STOP_CLOSE):
                self.counters.protective_submitted += 1

    def close_due(self, symbol: str, now: int) -> bool:
        """Whether a close of `symbol` may go now (a flatten, a guard stop, the plan after a
        refused close): no refusal for the position as it is, or its backoff has passed."""
        retry = self.close_retry.get(symbol)
        if retry is None:
            return True
        position = self._book.position(symbol)
        if retry.position != (position.qty, position.entry_price):
            del self.close_retry[symbol]  # another position: tried at once
            return True
        return now >= retry.due_ms

    def close_refused(self, order: Order, event: OrderRejected, now: int) -> None:
        """The exchange refused a close of ours (a flatten, a stop's or a crossed level's
        market close, a guard stop) for another reason than -2021: the next close of this
        position waits for the backoff (`_CloseRetry`), said in one WARNING; the refusals
        after it at INFO. The first refusal of a round sets the next round (several flatten
        orders of one position beyond maxQty are one round). In ACTIVE the plan runs again
        at the first price after that."""
        if event.code == WOULD_TRIGGER_IMMEDIATELY:
            return  # no close was refused: the level is past, and `stop_past` closes now
        symbol = order.symbol
        position = self._book.position(symbol)
        key = (position.qty, position.entry_price)
        retry = self.close_retry.get(symbol)
        if retry is None or retry.position != key:
            config = self.config
            first_s = config.flatten_retry_ms / 1000
            backoff = Backoff(
                initial_s=first_s,
                max_s=max(first_s, config.close_retry_max_ms / 1000),
                jitter=0,
                rand=_no_jitter,  # not the global random: a backtest's stays as it was
            )
            retry = self.close_retry[symbol] = _CloseRetry(key, backoff, now)
        self.counters.refused_closes += 1
        if now >= retry.due_ms:
            retry.due_ms = now + round(retry.backoff.next_delay() * 1000)
        if self._risk.state is ACTIVE and self.config.protect_positions:
            self.on_price.add(symbol)
        if position.is_flat:
            return  # nothing left to close
        what = (
            "flatten"
            if order.intent is FLATTEN
            else PROTECTION_NAMES.get(order.type, "market close")
        )
        qty = "close-position" if order.close_position else f"{order.quantity}"
        wait_s = (retry.due_ms - now) / 1000
        if retry.said:
            log.info(
                "%s: the %s %s %s %s was refused again (%s %s), refusal %d for this "
                "position; the next in %.0f s",
                symbol, what, order.side, qty, order.type, event.code, event.reason,
                retry.backoff.attempts, wait_s,
            )  # fmt: skip
            return
        retry.said = True
        stop = next(
            (
                o
                for o in self._book.orders.values()
                if o.symbol == symbol and o.is_protective and o.type is OrderType.STOP_MARKET
            ),
            None,
        )
        log.warning(
            "%s: the exchange refused the %s %s %s %s (%s %s): the %s %s stays open, %s; "
            "tried again in %.0f s, then at doubling intervals up to every %.0f s while the "
            "position stays as it is (a new position at once; later refusals at INFO)",
            symbol, what, order.side, qty, order.type, event.code, event.reason,
            "long" if position.qty > 0 else "short", abs(position.qty),
            "no stop-loss on the exchange"
            if stop is None
            else f"guarded by its stop-loss at {stop.stop_price}",
            wait_s, retry.backoff.max_s,
        )  # fmt: skip


def guards_close(order: Order, qty: Decimal) -> bool:
    """Whether `order` is a stop-loss on the closing side of a position of `qty` contracts."""
    return (
        order.is_protective
        and order.type is OrderType.STOP_MARKET
        and order.side is closing_side(qty)
    )
