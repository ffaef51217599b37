"""Recorded market data in: trades (per trade and batched), book, mark price, time.

Hot path: a recorded trade that reaches no resting order, no CONTRACT_PRICE trigger and no timer
costs a dict lookup, two stores and three int comparisons (`SymbolState.lo/hi`). The batch entry
point finds the first trade needing work with numpy and drops to Python only for those, so both
paths run exactly the same Python code for every trade that matters.

Our fills never create public trades: the public tape stays exactly the recorded one.
"""

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from exchange_sim.engine.fmt import ZERO, f8
from exchange_sim.engine.ledger import Core
from exchange_sim.engine.margin import maintenance_margin
from exchange_sim.engine.state import EXPIRED, Account, Income, Order, SymbolState

_CHUNK = 8192


class MarketData(Core):
    """Market-data entry points; `_fire` (trigger a conditional order) comes from AlgoOrders."""

    # --- trades ------------------------------------------------------------------------

    def on_trade(
        self, symbol: str, price: Decimal, qty: Decimal, buyer_is_maker: bool, time_ms: int
    ) -> None:
        """One recorded public trade (price USDT, qty contracts, time ms).

        Decimal -> ticks/steps conversions are memoised per symbol (a tape repeats a few
        hundred distinct prices and sizes), which keeps this path near the int one.
        """
        s = self._syms[symbol]
        ticks = s.tick_cache.get(price)
        if ticks is None:
            ticks = _cached(s.tick_cache, price, s.inst.to_ticks(price))
        s.last_ticks = ticks
        s.last_time = time_ms
        if ticks < s.lo or ticks > s.hi or time_ms >= self._next_timer_ms:
            steps = s.step_cache.get(qty)
            if steps is None:
                steps = _cached(s.step_cache, qty, int(qty / s.inst.lot.step_size))
            self._trade_slow(s, ticks, steps, time_ms)

    def on_trade_ticks(
        self, symbol: str, price_ticks: int, qty_steps: int, buyer_is_maker: bool, time_ms: int
    ) -> None:
        """As on_trade with price in ticks and quantity in steps of the instrument (hot path)."""
        s = self._syms[symbol]
        s.last_ticks = price_ticks
        s.last_time = time_ms
        if price_ticks < s.lo or price_ticks > s.hi or time_ms >= self._next_timer_ms:
            self._trade_slow(s, price_ticks, qty_steps, time_ms)

    def on_trades_batch(
        self,
        symbol: str,
        price_ticks: np.ndarray,
        qty_steps: np.ndarray,
        buyer_is_maker: np.ndarray,
        time_ms: np.ndarray,
    ) -> None:
        """Many recorded trades of one symbol in time order (int64 ticks/steps/ms, bool maker).

        Equivalent to calling on_trade_ticks for each element, in order.
        """
        n = len(price_ticks)
        if n == 0:
            return
        s = self._syms[symbol]
        start = 0
        while start < n:
            end = min(start + _CHUNK, n)
            pos = start
            while pos < end:
                p = price_ticks[pos:end]
                hit = (p < s.lo) | (p > s.hi) | (time_ms[pos:end] >= self._next_timer_ms)
                first = int(hit.argmax())
                if not hit[first]:
                    break
                i = pos + first
                t = int(time_ms[i])
                s.last_ticks = int(price_ticks[i])
                s.last_time = t
                self._trade_slow(s, s.last_ticks, int(qty_steps[i]), t)
                pos = i + 1
            start = end
        s.last_ticks = int(price_ticks[n - 1])
        s.last_time = int(time_ms[n - 1])

    def _trade_slow(self, s: SymbolState, p: int, q: int, t: int) -> None:
        self._advance_to(t)
        if t >= self._next_timer_ms:
            self._run_timers(t)
        if p < s.lo or p > s.hi:
            self._match_trade(s, p, q)
            if s.triggers_contract:
                price = s.inst.from_ticks(p)
                fired = [a for a in s.triggers_contract if a.observe(price)]
                s.refresh(self._touch)  # trailing stops moved their thresholds
                for a in fired:
                    if a.status == "NEW":  # not dropped by an earlier trigger's effects
                        self._fire(a)

    # --- book ---------------------------------------------------------------------------

    def on_book_ticker(
        self,
        symbol: str,
        bid: Decimal,
        bid_qty: Decimal,
        ask: Decimal,
        ask_qty: Decimal,
        time_ms: int,
    ) -> None:
        """Recorded best bid/ask (USDT, contracts): the liquidity our taker orders take."""
        s = self._syms[symbol]
        inst = s.inst
        step = inst.lot.step_size
        s.book_touch = (
            inst.to_ticks(bid),
            int(bid_qty / step),
            inst.to_ticks(ask),
            int(ask_qty / step),
        )
        s.recorded_top = (bid, bid_qty, ask, ask_qty)
        s.book_time = time_ms
        if time_ms >= self._next_timer_ms:
            self._advance_to(time_ms)
            self._run_timers(time_ms)

    def on_depth(
        self,
        symbol: str,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        time_ms: int,
    ) -> None:
        """Full recorded book levels (price, qty), best first; replaces the previous book."""
        s = self._syms[symbol]
        inst = s.inst
        step = inst.lot.step_size
        s.bid_levels = [[inst.to_ticks(p), int(q / step)] for p, q in bids if q > 0]
        s.ask_levels = [[inst.to_ticks(p), int(q / step)] for p, q in asks if q > 0]
        s.bid_levels.sort(key=lambda lv: -lv[0])
        s.ask_levels.sort(key=lambda lv: lv[0])
        s.book_touch = None
        s.depth_known = True
        if s.bid_levels and s.ask_levels:
            b, a = s.bid_levels[0], s.ask_levels[0]
            s.recorded_top = (
                inst.from_ticks(b[0]),
                inst.from_steps(b[1]),
                inst.from_ticks(a[0]),
                inst.from_steps(a[1]),
            )
        s.book_time = time_ms
        if time_ms >= self._next_timer_ms:
            self._advance_to(time_ms)
            self._run_timers(time_ms)

    # --- mark price, funding, liquidation -------------------------------------------------

    def on_mark_price(
        self,
        symbol: str,
        mark: Decimal,
        index: Decimal,
        funding_rate: Decimal,
        next_funding_time_ms: int,
        time_ms: int,
    ) -> None:
        """Recorded mark price update: MARK_PRICE triggers, funding settlement, liquidations.

        A settlement due at or before `time_ms` is paid first, with the mark and rate in force
        before this update.
        """
        s = self._syms[symbol]
        self._advance_to(time_ms)
        if time_ms >= self._next_timer_ms:
            self._run_timers(time_ms)
        s.mark = mark
        s.index_price = index
        s.funding_rate = funding_rate
        s.next_funding_time = next_funding_time_ms
        s.mark_time = time_ms
        if s.triggers_mark:
            fired = [a for a in s.triggers_mark if a.observe(mark)]
            for a in fired:
                if a.status == "NEW":
                    self._fire(a)
        self._check_liquidations()

    def on_time(self, now_ms: int) -> None:
        """Time passes without market data: dead-man switches, GTD expiry, funding."""
        self._advance_to(now_ms)
        if self._clock.now_ms() >= self._next_timer_ms:
            self._run_timers(self._clock.now_ms())

    advance = on_time

    def _check_liquidations(self) -> None:
        """Liquidate accounts whose margin balance <= maintenance margin (section 11.3); warn
        with MARGIN_CALL once the ratio reaches EngineConfig.margin_call_ratio (if set)."""
        threshold = self._cfg.margin_call_ratio
        for acct in self._accounts.values():
            if not any(p.amt for p in acct.positions.values()):
                acct.margin_called = False
                continue
            totals = self._totals(acct)
            if totals.maint > 0 and totals.margin_balance <= totals.maint:
                self._liquidate(acct)
                acct.margin_called = False
            elif threshold is not None and totals.maint > 0:
                ratio = totals.maint / totals.margin_balance
                if ratio >= threshold and not acct.margin_called:
                    acct.margin_called = True
                    self._margin_call(acct)
                elif ratio < threshold:
                    acct.margin_called = False

    def _margin_call(self, acct: Account) -> None:
        """MARGIN_CALL (section 10.6), once per crossing of the threshold."""
        positions = []
        for symbol, pos in acct.positions.items():
            if pos.amt == 0:
                continue
            s = self._syms[symbol]
            mark = self._ref_price(s) or pos.entry
            positions.append(
                {
                    "s": symbol,
                    "ps": "BOTH",
                    "pa": s.inst.format_qty(pos.amt),
                    "mt": acct.margin_type.get(symbol, "CROSSED"),
                    "iw": "0",
                    "mp": f8(mark),
                    "up": f8(pos.amt * (mark - pos.entry)),
                    "mm": f8(maintenance_margin(s.brackets, abs(pos.amt) * mark)),
                }
            )
        self._emit(
            acct,
            {"e": "MARGIN_CALL", "E": self._clock.now_ms(), "cw": f8(acct.wallet), "p": positions},
        )

    def _liquidate(self, acct: Account) -> None:
        """Close every position of the account at its mark price (cross margin exhausted).

        Open orders expire first (er = 5). Each position is closed by an `autoclose-` order
        (LIMIT IOC, reduce-only) filled with x=CALCULATED at the mark price rounded to the tick
        against the account; the clearance fee is instrument.liquidationFee * notional, capped
        at what is left of the wallet; a negative wallet is reset to 0 by the insurance fund
        (INSURANCE_CLEAR income).
        """
        for orders in list(acct.open_orders.values()):
            for o in list(orders.values()):
                self._finish(o, EXPIRED, "5")
        for symbol, pos in list(acct.positions.items()):
            if pos.amt == 0:
                continue
            s = self._syms[symbol]
            inst = s.inst
            mark = self._ref_price(s) or pos.entry
            is_buy = pos.amt < 0
            rounding = ROUND_CEILING if is_buy else ROUND_FLOOR
            ticks = int((mark / inst.tick_size).to_integral_value(rounding=rounding))
            steps = int(abs(pos.amt) / inst.lot.step_size)
            o = Order(
                account=acct,
                symbol=symbol,
                order_id=self._new_order_id(s),
                client_id=f"autoclose-{self._clock.now_ms()}{self._next_liq_id:04d}",
                side="BUY" if is_buy else "SELL",
                type="LIMIT",
                tif="IOC",
                price=inst.from_ticks(ticks),
                price_ticks=ticks,
                qty_steps=steps,
                reduce_only=True,
                now_ms=self._clock.now_ms(),
                stp="NONE",
            )
            self._next_liq_id += 1
            self._register(o)
            self._otu(o, "NEW")
            self._fill(o, s, ticks, steps, maker=False, calculated=True)
        if acct.wallet < 0:
            now = self._clock.now_ms()
            acct.incomes.append(
                Income("", "INSURANCE_CLEAR", -acct.wallet, now, self._new_tran_id())
            )
            acct.wallet = ZERO
            self._account_update(acct, "INSURANCE_CLEAR", [])


_CACHE_LIMIT = 65536


def _cached(cache: dict[Decimal, int], key: Decimal, value: int) -> int:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value
