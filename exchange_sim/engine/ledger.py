"""The engine core shared by every endpoint: fills, accounting, events, resting book, timers.

Everything here runs at the clock's current time (`self._clock.now_ms()`); public entry points
move the clock forward first when they are driven by recorded data.
"""

import heapq
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from core.clock import SimClock
from core.instrument import Instrument
from exchange_sim.engine import wire
from exchange_sim.engine.config import EngineConfig
from exchange_sim.engine.fmt import ZERO, q8
from exchange_sim.engine.margin import maintenance_margin, max_notional, open_order_margin
from exchange_sim.engine.state import (
    CANCELED,
    EXPIRED,
    FILLED,
    NEG,
    PARTIALLY_FILLED,
    POS,
    Account,
    Algo,
    Income,
    Order,
    SymbolState,
    UserTrade,
)
from exchange_sim.errors import BinanceError


class Totals:
    """Cross-margin totals of one account in USDT (section 7.2 / 11.3)."""

    __slots__ = ("available", "maint", "open_order_im", "position_im", "upnl", "wallet")

    def __init__(self) -> None:
        self.wallet = ZERO
        self.upnl = ZERO
        self.position_im = ZERO
        self.open_order_im = ZERO
        self.maint = ZERO
        self.available = ZERO

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet + self.upnl


class Core:
    """State and the primitive operations every endpoint and market-data handler builds on."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: SimClock,
        config: EngineConfig | None = None,
    ) -> None:
        self._cfg = config or EngineConfig()
        self._clock = clock
        self._touch = self._cfg.fill_mode == "touch"
        self._syms: dict[str, SymbolState] = {
            name: SymbolState(inst, self._cfg.brackets_for(name))
            for name, inst in instruments.items()
        }
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, dict[int, Order]] = {name: {} for name in instruments}
        self._algos: dict[int, Algo] = {}
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._next_algo_id = 1_000_000_000_001
        self._next_tran_id = 9_000_000_001
        self._next_liq_id = 1
        self._client_id_seq = 0
        self._timers: list[tuple[int, int, str, Any]] = []
        self._timer_seq = 0
        self._countdowns: dict[tuple[str, str], int] = {}
        interval = self._cfg.funding_interval_ms
        self._next_funding_ms = (clock.now_ms() // interval + 1) * interval
        self._next_timer_ms = self._next_funding_ms

    # --- lookups ---------------------------------------------------------------------------

    def _sym(self, symbol: str | None) -> SymbolState:
        s = self._syms.get(symbol or "")
        if s is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return s

    def _account(self, account_id: str) -> Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            raise BinanceError(
                -2015, "Invalid API-key, IP, or permissions for action.", http_status=401
            )
        return acct

    def _leverage(self, acct: Account, symbol: str) -> int:
        return acct.leverage.get(symbol, self._cfg.default_leverage)

    def _ref_price(self, s: SymbolState) -> Decimal | None:
        """Mark price, else the last trade price: what margin and notional checks value at."""
        if s.mark is not None:
            return s.mark
        if s.last_ticks is not None:
            return s.inst.from_ticks(s.last_ticks)
        return None

    def _last_price(self, s: SymbolState) -> Decimal | None:
        return None if s.last_ticks is None else s.inst.from_ticks(s.last_ticks)

    def _new_tran_id(self) -> int:
        self._next_tran_id += 1
        return self._next_tran_id - 1

    def _emit(self, acct: Account, event: dict[str, Any]) -> None:
        self._events.append((acct.account_id, event))

    # --- margin --------------------------------------------------------------------------

    def _totals(self, acct: Account) -> Totals:
        t = Totals()
        t.wallet = acct.wallet
        for symbol, pos in acct.positions.items():
            if pos.amt == 0:
                continue
            s = self._syms[symbol]
            mark = self._ref_price(s) or pos.entry
            notional = abs(pos.amt) * mark
            t.upnl += pos.amt * (mark - pos.entry)
            t.position_im += notional / self._leverage(acct, symbol)
            t.maint += maintenance_margin(s.brackets, notional)
        for symbol in acct.open_orders:
            t.open_order_im += self._open_order_im(acct, symbol)
        t.available = t.margin_balance - t.position_im - t.open_order_im
        return t

    def _open_order_im(
        self, acct: Account, symbol: str, extra: tuple[bool, Decimal, Decimal] | None = None
    ) -> Decimal:
        """Open-order initial margin of `symbol`, optionally with one more (is_buy, qty, price)."""
        s = self._syms[symbol]
        inst = s.inst
        buys: list[tuple[Decimal, Decimal]] = []
        sells: list[tuple[Decimal, Decimal]] = []
        for o in acct.open_orders.get(symbol, {}).values():
            if o.reduce_only or o.type != "LIMIT":
                continue
            (buys if o.is_buy else sells).append((inst.from_steps(o.remaining_steps), o.price))
        if extra is not None:
            is_buy, qty, price = extra
            (buys if is_buy else sells).append((qty, price))
        if not buys and not sells:
            return ZERO
        pos = acct.positions.get(symbol)
        amt = pos.amt if pos else ZERO
        return open_order_margin(amt, buys, sells, self._leverage(acct, symbol))

    def _check_margin(
        self,
        acct: Account,
        s: SymbolState,
        is_buy: bool,
        qty: Decimal,
        price: Decimal,
        *,
        immediate: bool = False,
    ) -> None:
        """-2027 / -2019 for a new order of `qty` contracts valued at `price` USDT.

        -2027: the position after a full fill would exceed the bracket cap of the leverage.
        -2019: the initial margin the order adds exceeds the available balance. A resting order
        adds open-order margin (see margin.open_order_margin); an `immediate` (MARKET) order adds
        position margin for the part that increases exposure.
        """
        if not self._cfg.margin_check:
            return
        symbol = s.inst.symbol
        pos = acct.positions.get(symbol)
        amt = pos.amt if pos else ZERO
        signed = qty if is_buy else -qty
        lev = self._leverage(acct, symbol)
        after = abs(amt + signed)
        if after > abs(amt) and after * price > max_notional(s.brackets, lev):
            raise BinanceError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        if immediate:
            closable = max(ZERO, -amt) if is_buy else max(ZERO, amt)
            need = max(ZERO, qty - closable) * price / lev
        else:
            before = self._open_order_im(acct, symbol)
            need = self._open_order_im(acct, symbol, (is_buy, qty, price)) - before
        if need > self._totals(acct).available:
            raise BinanceError(-2019, "Margin is insufficient.")

    def _notionals(self, acct: Account, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask) notional of the account's open LIMIT orders on `symbol` (`b`/`a`)."""
        s = self._syms[symbol]
        bid = ask = ZERO
        for o in acct.open_orders.get(symbol, {}).values():
            if o.type != "LIMIT":
                continue
            value = s.inst.from_steps(o.remaining_steps) * o.price
            if o.is_buy:
                bid += value
            else:
                ask += value
        return bid, ask

    # --- order lifecycle -----------------------------------------------------------------

    def _new_order_id(self, s: SymbolState) -> int:
        s.next_order_id += 1
        return s.next_order_id - 1

    def _register(self, o: Order) -> None:
        self._orders[o.symbol][o.order_id] = o
        o.account.open_in(o.symbol)[o.order_id] = o
        o.account.client_orders[(o.symbol, o.client_id)] = o

    def _otu(self, o: Order, x: str, **fill: Any) -> None:
        s = self._syms[o.symbol]
        bid, ask = self._notionals(o.account, o.symbol)
        self._emit(
            o.account,
            wire.order_trade_update(
                o,
                s.inst,
                now_ms=self._clock.now_ms(),
                x=x,
                bid_notional=bid,
                ask_notional=ask,
                **fill,
            ),
        )

    def _rest(self, o: Order, s: SymbolState) -> None:
        book = s.bids if o.is_buy else s.asks
        book.setdefault(o.price_ticks, []).append(o)
        s.refresh(self._touch)

    def _unrest(self, o: Order, s: SymbolState) -> None:
        book = s.bids if o.is_buy else s.asks
        queue = book.get(o.price_ticks)
        if queue and o in queue:
            queue.remove(o)
            if not queue:
                del book[o.price_ticks]
            s.refresh(self._touch)

    def _close(self, o: Order) -> None:
        """Take a terminal order off the book and the open set."""
        s = self._syms[o.symbol]
        self._unrest(o, s)
        o.account.open_orders.get(o.symbol, {}).pop(o.order_id, None)
        if o.algo is not None:
            if o.algo.legacy_order is o:
                self._drop_trigger(o.algo)
            else:
                self._algo_done(o.algo)

    def _finish(self, o: Order, status: str, er: str = "0") -> None:
        """Cancel or expire an open order: ORDER_TRADE_UPDATE x=CANCELED / x=EXPIRED."""
        o.status = status
        o.er = er
        o.update_time = self._clock.now_ms()
        self._close(o)
        self._otu(o, CANCELED if status == CANCELED else EXPIRED)

    def _drop_trigger(self, a: Algo) -> None:
        s = self._syms[a.symbol]
        for triggers in (s.triggers_contract, s.triggers_mark):
            if a in triggers:
                triggers.remove(a)
        a.account.open_algos.pop(a.algo_id, None)
        s.refresh(self._touch)

    def _algo_done(self, a: Algo) -> None:
        """The order a triggered algo placed is terminal: ALGO_UPDATE FINISHED."""
        a.status = "FINISHED"
        a.update_time = self._clock.now_ms()
        self._emit(a.account, wire.algo_update(a, self._syms[a.symbol].inst, now_ms=a.update_time))

    # --- fills and accounting ------------------------------------------------------------

    def _closable_steps(self, o: Order) -> int:
        """How much of a reduce-only order may still execute: the opposite position size."""
        pos = o.account.positions.get(o.symbol)
        if pos is None or pos.amt == 0 or (pos.amt > 0) == o.is_buy:
            return 0
        return int(abs(pos.amt) / self._syms[o.symbol].inst.lot.step_size)

    def _fill(
        self,
        o: Order,
        s: SymbolState,
        price_ticks: int,
        steps: int,
        maker: bool,
        *,
        calculated: bool = False,
    ) -> None:
        """Execute `steps` of `o` at `price_ticks`: position, wallet, income, trade, events."""
        inst = s.inst
        acct = o.account
        now = self._clock.now_ms()
        price = inst.from_ticks(price_ticks)
        qty = inst.from_steps(steps)
        pos = acct.position(o.symbol)
        realized = pos.apply(qty if o.is_buy else -qty, price)
        pos.update_time = now
        notional = price * qty
        if calculated:
            fee = q8(notional * inst.liquidation_fee)
            fee = min(fee, max(ZERO, acct.wallet + realized))  # clearance fee: what is left
        else:
            fee = q8(notional * (self._cfg.maker_fee if maker else self._cfg.taker_fee))
        acct.wallet = acct.wallet + realized - fee
        acct.update_time = now
        o.filled_steps += steps
        o.cum_quote += notional
        o.update_time = now
        o.status = FILLED if o.filled_steps >= o.qty_steps else PARTIALLY_FILLED
        trade_id = s.next_trade_id
        s.next_trade_id += 1
        acct.trades.setdefault(o.symbol, []).append(
            UserTrade(o.symbol, trade_id, o.order_id, o.side, price, qty, realized, fee, maker, now)
        )
        if realized:
            acct.incomes.append(
                Income(o.symbol, "REALIZED_PNL", realized, now, self._new_tran_id(), str(trade_id))
            )
        if fee:
            acct.incomes.append(
                Income(o.symbol, "COMMISSION", -fee, now, self._new_tran_id(), str(trade_id))
            )
        if o.status == FILLED:
            o.account.open_orders.get(o.symbol, {}).pop(o.order_id, None)
            self._unrest(o, s)
        if self._cfg.emit_trade_lite and not calculated:
            self._emit(
                acct,
                wire.trade_lite(
                    o, inst, now_ms=now, steps=steps, price=price, trade_id=trade_id, maker=maker
                ),
            )
        self._otu(
            o,
            "CALCULATED" if calculated else "TRADE",
            last_steps=steps,
            last_price=price,
            commission=fee,
            trade_id=trade_id,
            maker=maker,
            realized=realized,
        )
        self._account_update(acct, "ORDER", [o.symbol])
        if o.status == FILLED and o.algo is not None:
            self._close(o)
        self._reduce_only_sweep(acct, o.symbol)

    def _account_update(self, acct: Account, reason: str, symbols: list[str]) -> None:
        entries = []
        for symbol in symbols:
            s = self._syms[symbol]
            entries.append(
                wire.position_entry(
                    acct.position(symbol),
                    s.inst,
                    mark=self._ref_price(s),
                    taker_fee=self._cfg.taker_fee,
                    margin_type=acct.margin_type.get(symbol, "CROSSED"),
                )
            )
        self._emit(
            acct,
            wire.account_update(
                now_ms=self._clock.now_ms(),
                reason=reason,
                asset="USDT",
                wallet=acct.wallet,
                positions=entries,
            ),
        )

    def _reduce_only_sweep(self, acct: Account, symbol: str) -> None:
        """Expire resting reduce-only orders that can no longer reduce (er = 4)."""
        for o in list(acct.open_orders.get(symbol, {}).values()):
            if o.reduce_only and o.type == "LIMIT" and self._closable_steps(o) == 0:
                self._finish(o, EXPIRED, "4")

    # --- taking liquidity from the recorded book -----------------------------------------

    def _levels(self, s: SymbolState, taker_is_buy: bool) -> list[list[int]]:
        """The recorded opposite side as [[ticks, steps], ...], best first (mutable: we eat it)."""
        if s.book_touch is not None:
            self._apply_touch(s)
        levels = s.ask_levels if taker_is_buy else s.bid_levels
        if not levels and not s.depth_known and s.last_ticks is not None:
            # No book data at all: the last trade price with unlimited quantity.
            return [[s.last_ticks, POS]]
        return levels

    def _apply_touch(self, s: SymbolState) -> None:
        touch = s.book_touch
        assert touch is not None
        bid_t, bid_q, ask_t, ask_q = touch
        s.book_touch = None
        if s.depth_known:
            s.bid_levels = _merge_top(s.bid_levels, bid_t, bid_q, descending=True)
            s.ask_levels = _merge_top(s.ask_levels, ask_t, ask_q, descending=False)
            return
        n = self._cfg.book_ticker_levels
        s.bid_levels = [[bid_t - k, bid_q] for k in range(n)] if bid_q > 0 else []
        s.ask_levels = [[ask_t + k, ask_q] for k in range(n)] if ask_q > 0 else []

    def _best_opposite(self, s: SymbolState, taker_is_buy: bool) -> int | None:
        levels = self._levels(s, taker_is_buy)
        return levels[0][0] if levels else None

    def _fillable_steps(self, s: SymbolState, is_buy: bool, limit: int | None) -> int:
        total = 0
        for ticks, steps in self._levels(s, is_buy):
            if limit is not None and (ticks > limit if is_buy else ticks < limit):
                break
            total += steps
        return total

    def _take(self, o: Order, s: SymbolState, limit: int | None) -> None:
        """Fill `o` as taker against the recorded book up to `limit` ticks (None = no limit)."""
        levels = self._levels(s, o.is_buy)
        while o.remaining_steps > 0 and levels:
            ticks, available = levels[0]
            if limit is not None and (ticks > limit if o.is_buy else ticks < limit):
                break
            steps = min(o.remaining_steps, available)
            if o.reduce_only:
                steps = min(steps, self._closable_steps(o))
                if steps <= 0:
                    break
            if available != POS:
                levels[0][1] -= steps
                if levels[0][1] <= 0:
                    levels.pop(0)
            self._fill(o, s, ticks, steps, maker=False)

    def _market_cap(self, s: SymbolState, is_buy: bool) -> int | None:
        """Worst price (ticks) a MARKET order may reach: mark * (1 +- marketTakeBound)."""
        if s.mark is None:
            return None
        inst = s.inst
        bound = inst.market_take_bound
        if bound:
            factor = (1 + bound) if is_buy else (1 - bound)
        else:
            factor = inst.multiplier_up if is_buy else inst.multiplier_down
            if not factor:
                return None
        rounding = ROUND_FLOOR if is_buy else ROUND_CEILING
        return int((s.mark * factor / inst.tick_size).to_integral_value(rounding=rounding))

    # --- maker fills from recorded trades ------------------------------------------------

    def _match_trade(self, s: SymbolState, p: int, q: int) -> None:
        """A recorded trade at p ticks for q steps fills resting orders it reaches (maker)."""
        touch = self._touch
        if s.bids and (p <= s.best_bid() if touch else p < s.best_bid()):
            levels = sorted((k for k in s.bids if (k >= p if touch else k > p)), reverse=True)
            q = self._fill_levels(s, s.bids, levels, q)
        if q > 0 and s.asks and (p >= s.best_ask() if touch else p > s.best_ask()):
            levels = sorted(k for k in s.asks if (k <= p if touch else k < p))
            self._fill_levels(s, s.asks, levels, q)

    def _fill_levels(
        self, s: SymbolState, book: dict[int, list[Order]], levels: list[int], q: int
    ) -> int:
        for k in levels:
            for o in list(book.get(k, ())):
                if q <= 0:
                    return 0
                if not o.is_open:  # expired meanwhile by a reduce-only sweep
                    continue
                steps = min(o.remaining_steps, q)
                if o.reduce_only:
                    steps = min(steps, self._closable_steps(o))
                    if steps <= 0:
                        self._finish(o, EXPIRED, "4")
                        continue
                q -= steps
                self._fill(o, s, k, steps, maker=True)
        return q

    # --- timers: dead-man switch, GTD, funding -------------------------------------------

    def _add_timer(self, due_ms: int, kind: str, payload: Any) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (due_ms, self._timer_seq, kind, payload))
        self._next_timer_ms = min(self._next_timer_ms, due_ms)

    def _run_timers(self, now: int) -> None:
        while self._timers and self._timers[0][0] <= now:
            due, _, kind, payload = heapq.heappop(self._timers)
            if kind == "countdown":
                account_id, symbol = payload
                if self._countdowns.get((account_id, symbol)) == due:
                    del self._countdowns[(account_id, symbol)]
                    acct = self._accounts[account_id]
                    for o in list(acct.open_orders.get(symbol, {}).values()):
                        self._finish(o, CANCELED)
            elif kind == "gtd":
                o = payload
                if o.is_open and o.gtd == due:
                    self._finish(o, EXPIRED)
        if now >= self._next_funding_ms:
            self._settle_funding()
            interval = self._cfg.funding_interval_ms
            self._next_funding_ms = (now // interval + 1) * interval
        self._next_timer_ms = min(
            self._timers[0][0] if self._timers else POS, self._next_funding_ms
        )

    def _settle_funding(self) -> None:
        """Funding at the settlement instant: amount = positionAmt * mark * rate (longs pay)."""
        now = self._clock.now_ms()
        for acct in self._accounts.values():
            for symbol, pos in acct.positions.items():
                s = self._syms[symbol]
                if pos.amt == 0 or s.mark is None:
                    continue
                rate = (
                    self._cfg.fixed_funding_rate
                    if self._cfg.fixed_funding_rate is not None
                    else s.funding_rate
                )
                income = -q8(pos.amt * s.mark * rate)
                if not income:
                    continue
                acct.wallet += income
                acct.update_time = now
                acct.incomes.append(Income(symbol, "FUNDING_FEE", income, now, self._new_tran_id()))
                self._emit(
                    acct,
                    wire.account_update(
                        now_ms=now,
                        reason="FUNDING_FEE",
                        asset="USDT",
                        wallet=acct.wallet,
                        positions=[],
                    ),
                )

    def _advance_to(self, time_ms: int) -> None:
        if time_ms > self._clock.now_ms():
            self._clock.set_ms(time_ms)


def _merge_top(
    levels: list[list[int]], ticks: int, steps: int, *, descending: bool
) -> list[list[int]]:
    """Put a bookTicker touch on top of a depth side: drop better levels, set the touch qty."""
    if descending:
        kept = [lv for lv in levels if lv[0] < ticks]
    else:
        kept = [lv for lv in levels if lv[0] > ticks]
    if steps > 0:
        kept.insert(0, [ticks, steps])
    return kept


__all__ = ["NEG", "POS", "Core", "Totals"]
