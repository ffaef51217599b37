"""The backtest's fast path: skip, vectorized, the bars at which nothing can happen.

Most 1m bars touch no order and change no decision. Before each bar the runner asks
`KlineFastPath.next_event(i)` for the first bar, from `i` on, at which something could happen
given the live objects' state now; every bar before it is quiet. Quiet bars are taken at
once: the strategy absorbs them (`BarFastForward.absorb_bars`), the RiskManager sees their
highest equity (its peak), the ExecManager's counters count them, and their rows of
equity.csv are computed with numpy, exactly (`equity_floats`). The last quiet bar and the
event bar then go through the very code of the plain loop, so every object enters the event
with the state the plain loop would have given it (prices, marks, clock, the strategy's
latest target and its reason).

Quiet needs, at the bar before `i`: the RiskManager ACTIVE and no kill-switch file
configured; no request in flight (latency queue empty); no open order but protective stops
and take-profits already accepted (not being cancelled); the position at the strategy's
target; a strategy implementing `BarFastForward`. The event bar is the first of:
- a bar at which the strategy's decision could change (`bars_without_decision`);
- a bar whose low / high reaches an open stop or take-profit level (one tick of margin, plus
  the synthetic spread when slippage is on): the engine would trigger it;
- with a position: a bar at which the mark-to-market equity (wallet + qty * (close - entry))
  could breach the RiskManager's drawdown or daily-loss limit, or come near liquidation
  (equity <= half the notional: no Binance bracket has a maintenance rate above 50 %); a
  bar at which funding settles;
- the first bar of a UTC day (the RiskManager's and the books' day roll), a bar not newer
  than the one before it, the end of the data.
The limit tests are done in float with a margin: a bar that is only maybe an event runs
through the live pipeline, which is always right, only slower.

What the fast path does not reproduce: the BookKeeper's in-memory minute curve of equity
(the daemon's heartbeat statistics, no output of a backtest) gets the quiet bars' extreme
equities only, not one point per bar.
"""

from collections.abc import Callable
from decimal import Decimal, Inexact, localcontext
from typing import Any

import numpy as np

from backtest.data import Klines
from core.enums import OrderStatus, OrderType, Side, TradingState
from core.instrument import Instrument
from core.market import MarkPrice
from trading_engine.main_trading_strategy import PRICE_UNITS, BarFastForward

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MIN_SKIP = 2  # quiet bars worth a skip (each skip costs one extra bar through the pipeline)
_FIRST_WINDOW = 64  # the strategy is asked about this many bars first, then 8x more each time
_PROTECTIVE = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})
_ZERO = Decimal(0)
_EXACT = 2**52  # integers below this are exact as float64


class NotApplicable(Exception):
    """The data cannot take the fast path (prices off the tick grid): use the plain loop."""


def price_ticks(texts: list[str], tick: Decimal) -> np.ndarray:
    """Price strings -> int64 ticks, vectorized; NotApplicable unless every price is exactly
    on the grid (checked through float64, exact for prices of at most 15 digits)."""
    f = np.array(texts, dtype=np.float64)
    scale = float(tick)
    ticks = np.rint(f / scale)
    if len(f) and (np.abs(f / scale - ticks).max() > 1e-6 or np.abs(ticks).max() >= _EXACT):
        raise NotApplicable("a price is off the tick grid")
    return ticks.astype(np.int64)


def tick_floats(ticks: np.ndarray, tick: Decimal) -> np.ndarray:
    """float(ticks * tick) for each, correctly rounded (= float of the exact Decimal price)."""
    _, digits, exp = tick.as_tuple()
    m = int("".join(map(str, digits)))
    assert isinstance(exp, int)
    if exp >= 0:
        return (ticks * (m * 10**exp)).astype(np.float64)
    return (ticks * m).astype(np.float64) / float(10**-exp)


def equity_floats(
    wallet: Decimal, qty: Decimal, entry: Decimal, ticks: np.ndarray, tick: Decimal
) -> np.ndarray:
    """float(wallet + (0 + qty * (c - entry))) at each close c = ticks * tick: what
    `float(BookKeeper.equity())` gives at a mark of c. Vectorized and exact when the books'
    28-digit arithmetic is exact (checked at the extreme closes: in between the numbers are
    smaller) and every term is an integer below 2**52 at a common decimal scale of at most
    22 digits (then one IEEE division is correctly rounded, as float(Decimal) is); else
    computed per distinct close in Decimal."""
    n = len(ticks)
    if qty == 0 or n == 0:
        return np.full(n, float(wallet + _ZERO))
    lo, hi = int(ticks.min()), int(ticks.max())
    try:
        with localcontext() as ctx:
            ctx.traps[Inexact] = True
            for c in (lo, hi):
                wallet + (_ZERO + qty * (c * tick - entry))
            ctx.prec = 120
            base = wallet - qty * entry
            per_tick = qty * tick
            scale = max(0, -_exponent(base), -_exponent(per_tick))
            if scale <= 22:
                b = int(base.scaleb(scale))
                m = int(per_tick.scaleb(scale))
                if abs(b) + abs(m) * max(abs(lo), abs(hi)) < _EXACT:
                    return (ticks * m + b).astype(np.float64) / float(10**scale)
    except Inexact:
        pass
    memo: dict[int, float] = {}
    out = np.empty(n)
    for j, c in enumerate(ticks.tolist()):
        v = memo.get(c)
        if v is None:
            v = memo[c] = float(wallet + (_ZERO + qty * (c * tick - entry)))
        out[j] = v
    return out


def _exponent(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    return exp


class KlineFastPath:
    """Finds quiet bars of a klines backtest and takes them; see the module docstring."""

    def __init__(
        self,
        rig: Any,  # backtest.runner._Rig
        k: Klines,
        inst: Instrument,
        *,
        symbol: str,
        slippage_bps: Decimal,
        funding_interval_ms: int,
    ) -> None:
        strategy = rig.strategy
        if not isinstance(strategy, BarFastForward):
            raise NotApplicable(f"strategy {strategy.name} has no fast-forward")
        if rig.risk_config.kill_switch_file is not None:
            raise NotApplicable("a kill-switch file is watched once a second")
        tick = inst.tick_size
        units = tick * PRICE_UNITS
        if units != units.to_integral_value():
            raise NotApplicable("tick finer than 1e-8")
        self.rig = rig
        self.k = k
        self.symbol = symbol
        self.tick = tick
        self.strategy: BarFastForward = strategy
        self.funding_ms = funding_interval_ms
        self.open_ms = np.array(k.open_time, dtype=np.int64)
        self.close_ms = self.open_ms + (MINUTE_MS - 1)
        self.low = price_ticks(k.low, tick)
        self.high = price_ticks(k.high, tick)
        self.close = price_ticks(k.close, tick)
        self.close_f = tick_floats(self.close, tick)
        self.close_units = self.close * int(units)
        self.close_ms_f = self.close_ms.astype(np.float64)
        n = len(k)
        day = self.close_ms // DAY_MS
        forced = np.zeros(n, dtype=bool)
        forced[0] = True
        forced[1:] = (day[1:] != day[:-1]) | (self.open_ms[1:] <= self.open_ms[:-1])
        self.forced = np.flatnonzero(forced)  # bars that always run through the pipeline
        # The synthetic touch is this many ticks from a trade at most (see synthetic_touch).
        slip = 0
        if slippage_bps:
            top = int(self.high.max()) if n else 0
            slip = int(top * slippage_bps / Decimal(10_000)) + 2
        self.margin_ticks = 1 + slip
        self.absorbed = 0
        self.skips = 0

    # --- where is the next event ----------------------------------------------------------

    def next_event(self, i: int) -> int:
        """The first bar at or after `i` that must run through the pipeline (i if the live
        state is not quiet): bars before it change nothing but what `absorb` takes."""
        rig = self.rig
        if i == 0 or rig.risk.state is not TradingState.ACTIVE or rig.venue.pending:
            return i
        em = rig.em
        if em._protect_dirty or em._deferred or em._pending:
            return i
        book = rig.book
        symbol = self.symbol
        levels: list[tuple[int, bool]] = []  # (ticks, triggers at or below)
        for o in book.orders.values():
            if (
                o.type not in _PROTECTIVE
                or not (o.close_position or o.reduce_only)
                or o.status is not OrderStatus.NEW
                or o.stop_price is None
                or o.client_order_id in em._cancel_sent
            ):
                return i
            ticks = o.stop_price / self.tick
            if ticks != ticks.to_integral_value():
                return i
            below = (o.type is OrderType.STOP_MARKET) == (o.side is Side.SELL)
            levels.append((int(ticks), below))
        position = book.position(symbol)
        target = em.target(symbol)
        if target is not None and target.qty != position.qty:
            return i
        n = len(self.open_ms)
        j = int(np.searchsorted(self.forced, i, side="left"))
        end = int(self.forced[j]) if j < len(self.forced) else n
        qty = position.qty
        if qty:
            boundary = (int(self.close_ms[i - 1]) // self.funding_ms + 1) * self.funding_ms
            end = min(end, int(np.searchsorted(self.close_ms, boundary, side="left")))
        end = self._strategy_quiet(i, end)
        if end <= i:
            return i
        low, high = self.low[i:end], self.high[i:end]
        m = self.margin_ticks
        for ticks, below in levels:
            if end == i:
                return i
            hit = low <= ticks + m if below else high >= ticks - m
            first = int(hit.argmax())
            if hit[first]:
                end = i + first
                low, high = low[:first], high[:first]
        if qty and end > i:
            end = i + self._equity_quiet(self.close_f[i:end], position.qty, position.entry_price)
        return end

    def _strategy_quiet(self, i: int, end: int) -> int:
        """min(end, the first bar at which the strategy's decision could change)."""
        window = _FIRST_WINDOW
        ask = self.strategy.bars_without_decision
        while True:
            stop = min(end, i + window)
            quiet = ask(self.symbol, self.open_ms[i:stop], self.close_units[i:stop])
            if quiet < stop - i or stop == end:
                return i + quiet
            window *= 8

    def _equity_quiet(self, close_f: np.ndarray, qty: Decimal, entry: Decimal) -> int:
        """Bars before the first one whose equity might breach a portfolio limit or come near
        liquidation (float, with margins: conservative)."""
        rig = self.rig
        cfg = rig.risk_config
        q = float(qty)
        eq = float(rig.book.wallet()) + q * (close_f - float(entry))
        bad = eq <= 0.5 * abs(q) * close_f * (1 + 1e-9) + 1e-6
        tol = 1e-9
        if cfg.max_drawdown_pct > 0:
            peak0 = rig.risk.peak_equity
            peak = np.maximum.accumulate(eq)
            if peak0 is not None:
                peak = np.maximum(peak, float(peak0))
            pct = float(cfg.max_drawdown_pct)
            bad |= (peak - eq) * 100 >= pct * peak * (1 - tol) - 1e-6
        start = rig.risk.day_start_equity
        if start is not None:
            s = float(start)
            if cfg.max_daily_loss_usdt > 0:
                bad |= s - eq >= float(cfg.max_daily_loss_usdt) * (1 - tol) - 1e-6
            if cfg.max_daily_loss_pct > 0:
                bad |= (s - eq) * 100 >= float(cfg.max_daily_loss_pct) * s * (1 - tol) - 1e-6
        first = int(bad.argmax()) if len(bad) else 0
        return first if len(bad) and bad[first] else len(bad)

    # --- taking quiet bars -----------------------------------------------------------------

    def absorb(
        self, a: int, b: int, append: Callable[[np.ndarray, np.ndarray, float], None]
    ) -> None:
        """Take the quiet bars [a, b) without the pipeline: strategy state, counters, the
        RiskManager's peak equity, the books' extremes, and their equity.csv rows."""
        rig = self.rig
        book = rig.book
        symbol = self.symbol
        n = b - a
        proposals = self.strategy.absorb_bars(symbol, self.open_ms[a:b], self.close_units[a:b])
        counters = rig.em.counters
        counters.items += 2 * n
        counters.bars += n
        counters.proposals += proposals
        position = book.position(symbol)
        qty = position.qty
        wallet = book.wallet()
        closes = self.k.close
        if qty:
            seg = self.close[a:b]
            hi, lo = a + int(seg.argmax()), a + int(seg.argmin())
            best, worst = (hi, lo) if qty > 0 else (lo, hi)
            dec = {j: Decimal(closes[j]) for j in (best, worst)}
            realized = book.pnl_today(int(self.close_ms[best]))
            peak_eq = wallet + (_ZERO + qty * (dec[best] - position.entry_price))
            changed = rig.risk.on_equity(peak_eq, realized)
            if changed is not None:  # the limit test said quiet: a bug, never a silent skip
                raise RuntimeError(f"fast path: a quiet bar changed the trading state: {changed}")
            for j in sorted({best, worst}):
                t = int(self.close_ms[j])
                book.mark(MarkPrice(symbol, dec[j], dec[j], _ZERO, 0, t, t))
            eq = equity_floats(wallet, qty, position.entry_price, seg, self.tick)
        else:
            eq = np.full(n, float(wallet + _ZERO))
        append(self.close_ms[a:b], eq, float(qty))
        self.absorbed += n
        self.skips += 1
