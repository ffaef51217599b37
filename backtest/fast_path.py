"""The backtest's fast path: skip, vectorized, the bars (or trades) at which nothing can happen.

`KlineFastPath` for 1m klines (below); `TradeFastPath` for trades data (its docstring).

Most 1m bars touch no order and change no decision. Before each bar the runner asks
`KlineFastPath.next_event(i)` for the first bar, from `i` on, at which something could happen
given the live objects' state now; every bar before it is quiet. Quiet bars are taken at
once: the strategy absorbs them (`BarFastForward.absorb_bars`), the RiskManager sees their
highest equity (its peak), the ExecManager's counters count them, and their rows of
equity.csv are computed with numpy, exactly (`equity_floats`). The last quiet bar is then
brought to its close without the pipeline (backtest.runner's `catch_up`): the clock, the
engine's last trade, touch and mark price at the close, the books' mark, the ExecManager's
equity check, latest bar and target (`ExecManager.catch_up_bar`) and the strategy's
proposal for that bar (`last_proposals`), so every object enters the event with the state
the plain loop would have given it (tests/backtest/test_fast_path_catch_up.py compares each
object). A strategy without `last_proposals` has that bar run through the very code of the
plain loop instead. The event bar always does.

Quiet needs, at the bar before `i`: the RiskManager ACTIVE and no kill-switch file
configured; no request in flight (latency queue empty); no open order but protective stops
and take-profits already accepted (not being cancelled); the position at the strategy's
target; no portfolio limit reached at the equity and realized PnL now (`limit_to_trip`: a
fill that reached one trips it at the next equity check); a strategy implementing
`BarFastForward`. Or HALTED (after a portfolio limit), flat,
no order, and nothing journaled by the ExecManager (no decision, denial or state change)
since the fast path last looked, at least one bar through the pipeline ago: the strategy's
target, repeated at the quiet bars, is then one the ExecManager has denied already and
denies silently (`StateDenials.deny`), as the plain loop does. The event bar is the first of:
- a bar at which the strategy's decision could change (`bars_without_decision`);
- a bar whose low / high reaches an open stop or take-profit level (one tick of margin, plus
  the synthetic spread when slippage is on): the engine would trigger it;
- with a position: a bar at which the mark-to-market equity (wallet + qty * (close - entry))
  could breach the RiskManager's drawdown or daily-loss limit, or, at the bar's adverse
  extreme (a long's low, a short's high: the runner liquidates inside the bar), come near
  liquidation (equity <= half the notional: no Binance bracket has a maintenance rate above
  50 %); a bar at which funding settles. Equity is linear in the price, so the daily-loss
  limits and the liquidation margin are price levels (`breach_ticks`), tested at the adverse
  extreme like the stops' levels; only the drawdown, against a running peak, is tested bar
  by bar (in float);
- the first bar of a UTC day (the RiskManager's and the books' day roll), a bar not newer
  than the one before it, the end of the data.
The limit tests are done in float with a margin: a bar that is only maybe an event runs
through the live pipeline, which is always right, only slower.

What the fast path does not reproduce: the BookKeeper's in-memory minute curve of equity
(the daemon's heartbeat statistics, no output of a backtest) gets the quiet bars' extreme
equities only, not one point per bar.
"""

import bisect
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, Inexact, localcontext
from typing import Any

import numpy as np

from backtest.data import Klines
from backtest.venue import send_synthetic_touch
from core.enums import OrderStatus, OrderType, Side, TradingState
from core.instrument import Instrument
from core.market import MarkPrice, Trade
from trading_engine.main_trading_strategy import PRICE_UNITS, BarFastForward

MINUTE_MS = 60_000
DAY_MS = 86_400_000
_CLOSE_AFTER_OPEN_MS = MINUTE_MS - 1  # a 1m bar's close time after its open time
MIN_SKIP = 2  # quiet bars, besides the last one (caught up at its close), worth a skip
_FIRST_WINDOW = 64  # the strategy is asked about this many bars first, then 8x more each time
_ZERO = Decimal(0)
_EXACT = 2**52  # integers below this are exact as float64
_HALF = Decimal("0.5")
_HUNDRED = Decimal(100)
_ROOT_DIGITS = 60  # a level's root computed to this many digits: far below a tick


class NotApplicable(Exception):
    """The data cannot take the fast path (prices off the tick grid): use the plain loop."""


# What the fast path reads (and, for the trades path, sets) inside the ExecManager: whether
# anything is in flight, and the state its once-a-second equity check and its bar builder
# keep. If the ExecManager changes shape the fast path steps aside (the plain loop runs; the
# tests, which require skipping, then fail loudly) rather than guess.
_EM_STATE = (
    "_protect_dirty",
    "_protect_on_price",
    "_deferred",
    "_pending",
    "_cancel_sent",
    "_unstarted",
    "_marked",
)
_EM_TRADES_STATE = ("_last_bar_open", "_builders", "_last_equity", "_next_equity_ms")


def _unsettled(em: Any) -> bool:
    """The ExecManager has something of its own to do at the next item (a protection to
    place or re-check, events queued or not yet journaled, a symbol not started): no skip."""
    return bool(
        em._protect_dirty or em._protect_on_price or em._deferred or em._pending or em._unstarted
    )


def _applicable(rig: Any, inst: Instrument, em_state: tuple[str, ...]) -> BarFastForward:
    """The strategy, if the fast path can stand in for the plain loop of this rig; else
    NotApplicable with the reason (the runner then takes the plain loop)."""
    strategy = rig.strategy
    if not isinstance(strategy, BarFastForward):
        raise NotApplicable(f"strategy {strategy.name} has no fast-forward")
    if rig.risk_config.kill_switch_file is not None:
        raise NotApplicable("a kill-switch file is watched once a second")
    _check_exec_manager(rig.em, em_state)
    units = inst.tick_size * PRICE_UNITS
    if units != units.to_integral_value():
        raise NotApplicable("tick finer than 1e-8")
    return strategy


def _check_exec_manager(em: Any, names: tuple[str, ...]) -> None:
    missing = [name for name in names if not hasattr(em, name)]
    if missing:
        raise NotApplicable(f"ExecManager without {', '.join(missing)}")


def price_ticks(texts: list[str], tick: Decimal, *, distinct_first: bool = True) -> np.ndarray:
    """Price strings -> int64 ticks; NotApplicable unless every price is exactly on the grid
    (checked through float64, exact for prices of at most 15 digits). `distinct_first`
    parses each distinct string once and looks every string up (a trade tape repeats few
    prices); without it every string is parsed (cheaper when most differ: kline columns)."""
    if not distinct_first:
        return _grid_ticks(np.fromiter(map(float, texts), dtype=np.float64, count=len(texts)), tick)
    keys = list(dict.fromkeys(texts))
    ticks = _grid_ticks(np.array(keys, dtype=np.float64), tick)
    lookup = dict(zip(keys, ticks.tolist(), strict=True))
    return np.fromiter(map(lookup.__getitem__, texts), dtype=np.int64, count=len(texts))


def _grid_ticks(prices: np.ndarray, tick: Decimal) -> np.ndarray:
    scale = float(tick)
    ticks = np.rint(prices / scale)
    if len(prices) and (
        np.abs(prices / scale - ticks).max() > 1e-6 or np.abs(ticks).max() >= _EXACT
    ):
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
    wallet: Decimal,
    qty: Decimal,
    entry: Decimal,
    ticks: np.ndarray,
    tick: Decimal,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """float(wallet + (0 + qty * (c - entry))) at each close c = ticks * tick: what
    `float(BookKeeper.equity())` gives at a mark of c. Vectorized and exact when the books'
    28-digit arithmetic is exact (checked at the extreme closes: in between the numbers are
    smaller) and every term is an integer below 2**52 at a common decimal scale of at most
    22 digits (then one IEEE division is correctly rounded, as float(Decimal) is); else
    computed per distinct close in Decimal. `bounds`: (min, max) of `ticks` when the caller
    has them already (two numpy reductions, a quarter of this function on a short run)."""
    n = len(ticks)
    if qty == 0 or n == 0:
        return np.full(n, float(wallet + _ZERO))
    lo, hi = bounds if bounds is not None else (int(ticks.min()), int(ticks.max()))
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
                    # (ticks * m + b) / 10**scale, in place: the same operations, two
                    # temporaries fewer.
                    exact = ticks * m
                    exact += b
                    out = exact.astype(np.float64)
                    out /= float(10**scale)
                    return out
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


def breach_ticks(c0: Decimal, k: Decimal, tick: Decimal) -> tuple[int, bool]:
    """(level, below): the prices at which c0 + k * price <= 0 holds are those at or below
    `level` ticks (k > 0, below) or at or above it (k < 0), with one tick to spare: a limit on
    equity, which is linear in the price (wallet + qty * (price - entry)), as a price level
    the bars' lows or highs are compared with, where the test bar by bar took a dozen numpy
    operations per skip. The root is computed to 60 digits; the spare tick covers that and the
    books' 28-digit equity. k must not be 0."""
    with localcontext() as ctx:
        ctx.prec = _ROOT_DIGITS
        root = -c0 / k / tick
    if k > 0:
        return int(root.to_integral_value(rounding=ROUND_FLOOR)) + 1, True
    return int(root.to_integral_value(rounding=ROUND_CEILING)) - 1, False


def limit_to_trip(rig: Any) -> bool:
    """A portfolio limit reached and not yet tripped (`RiskManager.limit_reached` at the
    equity and realized PnL the ExecManager's next check feeds it): the check runs on a
    schedule, so a fill that reached a limit (the close that went flat at a loss) trips it at
    the next item through the pipeline, and the bars until then are not quiet. The levels
    below cover a limit the price may reach later; this one is already there."""
    book = rig.book
    now = rig.clock.now_ms()
    return rig.risk.limit_reached(book.equity() - book.transfers, book.pnl_today(now)) is not None


def equity_levels(
    wallet: Decimal,
    qty: Decimal,
    entry: Decimal,
    tick: Decimal,
    *,
    day_start: Decimal | None,
    max_daily_loss_usdt: Decimal,
    max_daily_loss_pct: Decimal,
) -> list[tuple[int, bool]]:
    """The price levels (ticks, below) a position of `qty` (not 0) at `entry` must not reach
    for its bars to be quiet: where its equity, wallet + qty * (price - entry), comes near
    liquidation (<= half the notional |qty| * price: no Binance bracket has a maintenance rate
    above 50 %), and where it loses a daily-loss limit of the day's starting equity (the
    RiskManager's test, `start - equity >= limit`, or `>= pct % of start`)."""
    c0 = wallet - qty * entry  # equity = c0 + qty * price
    levels = [breach_ticks(c0, qty - _HALF * abs(qty), tick)]
    if day_start is not None:
        if max_daily_loss_usdt > 0:
            levels.append(breach_ticks(c0 - (day_start - max_daily_loss_usdt), qty, tick))
        if max_daily_loss_pct > 0:
            floor = day_start - max_daily_loss_pct * day_start / _HUNDRED
            levels.append(breach_ticks(c0 - floor, qty, tick))
    return levels


def first_reach(
    low: np.ndarray, high: np.ndarray, levels: list[tuple[int, bool]], margin: int
) -> int:
    """Bars before the first one whose low reaches a `below` level or whose high an `above`
    one, within `margin` ticks (len(low) if none does). The levels below are one test, at
    the highest of them (a low at or under any of them is at or under the highest), those
    above one at the lowest: two numpy passes per skip at most, whatever the number of
    levels (a stop, the liquidation margin, the daily-loss limits)."""
    floor = ceiling = None
    for ticks, below in levels:
        if below:
            if floor is None or ticks > floor:
                floor = ticks
        elif ceiling is None or ticks < ceiling:
            ceiling = ticks
    end = len(low)
    if floor is not None:
        hit = low <= floor + margin
        first = int(hit.argmax()) if end else 0
        if end and hit[first]:
            end = first
    if ceiling is not None and end:
        hit = high[:end] >= ceiling - margin
        first = int(hit.argmax())
        if hit[first]:
            end = first
    return end


def _exponent(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    return exp


_Look = tuple[int, int, int, int]


def _look(em: Any) -> _Look:
    """What the ExecManager has journaled of its own (decisions, denials, state changes) and
    how many bars its strategy has seen."""
    c = em.counters
    return (c.decisions, c.denied, c.state_changes, c.bars)


def _quiet_while_halted(before: _Look, now: _Look) -> bool:
    """HALTED: since the last look the strategy has seen a bar (so it has spoken in this
    state) and nothing was journaled (so what it said was denied already, or was nothing):
    its repetitions at quiet bars are then denied silently, as in the plain loop. By
    induction over the looks: a look that finds this quiet starts from one that did, or from
    pipeline bars seen in this state."""
    return before[:3] == now[:3] and now[3] > before[3]


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
        strategy = _applicable(rig, inst, _EM_STATE)
        tick = inst.tick_size
        self.rig = rig
        self.k = k
        self.symbol = symbol
        self.tick = tick
        self.strategy: BarFastForward = strategy
        self.funding_ms = funding_interval_ms
        # No array of close times (open + 59,999 ms, `_CLOSE_AFTER_OPEN_MS`): derived where
        # needed, it would cost 4 MB on 500,000 bars.
        self.open_ms = np.array(k.open_time, dtype=np.int64)
        # Bars' prices mostly differ from one another: parsed one by one.
        self.low = price_ticks(k.low, tick, distinct_first=False)
        self.high = price_ticks(k.high, tick, distinct_first=False)
        self.close = price_ticks(k.close, tick, distinct_first=False)
        self.close_f = tick_floats(self.close, tick)
        self.close_units = self.close * int(tick * PRICE_UNITS)
        n = len(k)
        day = (self.open_ms + _CLOSE_AFTER_OPEN_MS) // DAY_MS
        forced = np.zeros(n, dtype=bool)
        forced[0] = True
        forced[1:] = (day[1:] != day[:-1]) | (self.open_ms[1:] <= self.open_ms[:-1])
        # Bars that always run through the pipeline (a list: bisect is cheaper than numpy's
        # searchsorted for one value).
        self.forced: list[int] = np.flatnonzero(forced).tolist()
        self._close_index: dict[int, int] = {}  # close time -> first bar closing at or after
        # The synthetic touch is this many ticks from a trade at most (see synthetic_touch).
        slip = 0
        if slippage_bps:
            top = int(self.high.max()) if n else 0
            slip = int(top * slippage_bps / Decimal(10_000)) + 2
        self.margin_ticks = 1 + slip
        # The strategy's decisions over this whole series at once, when it offers that.
        plan = getattr(strategy, "series_plan", None)
        self._plan = plan(symbol, self.open_ms, self.close_units) if plan is not None else None
        self.absorbed = 0
        self.skips = 0
        self._last_look = _look(rig.em)  # HALTED: see _quiet_while_halted

    # --- where is the next event ----------------------------------------------------------

    def next_event(self, i: int) -> int:
        """The first bar at or after `i` that must run through the pipeline (i if the live
        state is not quiet): bars before it change nothing but what `absorb` takes."""
        rig = self.rig
        em = rig.em
        state = rig.risk.state
        before, self._last_look = self._last_look, _look(em)
        if i == 0 or rig.venue.pending:
            return i
        if state is not TradingState.ACTIVE and not (
            state is TradingState.HALTED
            and _quiet_while_halted(before, self._last_look)
            and not rig.book.orders
        ):
            return i
        if _unsettled(em):
            return i
        book = rig.book
        symbol = self.symbol
        levels: list[tuple[int, bool]] = []  # (ticks, triggers at or below)
        for o in book.orders.values():
            if (
                not o.is_protective
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
        if target is not None and target.qty != position.qty and not em.target_held(symbol):
            return i
        if state is TradingState.HALTED and position.qty:
            return i
        if limit_to_trip(rig):
            return i
        n = len(self.open_ms)
        j = bisect.bisect_left(self.forced, i)
        end = self.forced[j] if j < len(self.forced) else n
        qty = position.qty
        if qty:
            close_ms = int(self.open_ms[i - 1]) + _CLOSE_AFTER_OPEN_MS
            boundary = (close_ms // self.funding_ms + 1) * self.funding_ms
            end = min(end, self._first_closing_at(boundary))
        end = self._strategy_quiet(i, end)
        if end <= i:
            return i
        if qty:
            cfg = rig.risk_config
            levels += equity_levels(
                book.wallet(),
                qty,
                position.entry_price,
                self.tick,
                day_start=rig.risk.day_start_equity,
                max_daily_loss_usdt=cfg.max_daily_loss_usdt,
                max_daily_loss_pct=cfg.max_daily_loss_pct,
            )
        if levels:
            end = i + first_reach(self.low[i:end], self.high[i:end], levels, self.margin_ticks)
        if qty and end > i and rig.risk_config.max_drawdown_pct > 0:
            end = i + self._drawdown_quiet(self.close_f[i:end], qty, position.entry_price)
        return end

    def _first_closing_at(self, t: int) -> int:
        """Index of the first bar closing at or after `t` ms (memoised: one funding time
        serves every skip of its interval)."""
        index = self._close_index.get(t)
        if index is None:
            # close >= t <=> open >= t - 59,999: the same index as on the close times.
            index = self._close_index[t] = int(self.open_ms.searchsorted(t - _CLOSE_AFTER_OPEN_MS))
        return index

    def _strategy_quiet(self, i: int, end: int) -> int:
        """min(end, the first bar at which the strategy's decision could change)."""
        if self._plan is not None:
            quiet = self._plan(i, end)
            if quiet is not None:
                return i + quiet
        window = _FIRST_WINDOW
        ask = self.strategy.bars_without_decision
        while True:
            stop = min(end, i + window)
            quiet = ask(self.symbol, self.open_ms[i:stop], self.close_units[i:stop])
            if quiet < stop - i or stop == end:
                return i + quiet
            window *= 8

    def _drawdown_quiet(self, close_f: np.ndarray, qty: Decimal, entry: Decimal) -> int:
        """Bars before the first one whose equity at its close might breach the RiskManager's
        drawdown limit (float, with margins: conservative): against the running peak, so bar
        by bar, not a price level."""
        rig = self.rig
        q = float(qty)
        eq = float(rig.book.wallet()) + q * (close_f - float(entry))
        tol = 1e-9
        peak0 = rig.risk.peak_equity
        peak = np.maximum.accumulate(eq)
        if peak0 is not None:
            peak = np.maximum(peak, float(peak0))
        pct = float(rig.risk_config.max_drawdown_pct)
        bad = (peak - eq) * 100 >= pct * peak * (1 - tol) - 1e-6
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
            top, bottom = int(seg.argmax()), int(seg.argmin())
            bounds = (int(seg[bottom]), int(seg[top]))
            hi, lo = a + top, a + bottom
            best, worst = (hi, lo) if qty > 0 else (lo, hi)
            best_price = Decimal(closes[best])
            realized = book.pnl_today(int(self.open_ms[best]) + _CLOSE_AFTER_OPEN_MS)
            peak_eq = wallet + (_ZERO + qty * (best_price - position.entry_price))
            changed = rig.risk.on_equity(peak_eq, realized)
            if changed is not None:  # the limit test said quiet: a bug, never a silent skip
                raise RuntimeError(f"fast path: a quiet bar changed the trading state: {changed}")
            # The books see the two extremes in time order (one when they are the same bar).
            marks = [(best, best_price)]
            if worst != best:
                marks.insert(worst > best, (worst, Decimal(closes[worst])))
            for j, price in marks:
                t = int(self.open_ms[j]) + _CLOSE_AFTER_OPEN_MS
                book.mark(MarkPrice(symbol, price, price, _ZERO, 0, t, t))
            eq = equity_floats(wallet, qty, position.entry_price, seg, self.tick, bounds)
        else:
            eq = np.full(n, float(wallet + _ZERO))
        append(self.open_ms[a:b] + _CLOSE_AFTER_OPEN_MS, eq, float(qty))
        self.absorbed += n
        self.skips += 1


class TradeFastPath:
    """Finds quiet trades of a trades backtest and takes them at once.

    The pipeline sees, per trade, the engine trade, `ExecManager.on_item(Trade)` (the books'
    last price, the 1m bar being built, the strategy's bar at each minute's first trade) and,
    at each second's first trade, a mark price. A run of trades is quiet under the conditions
    of the module docstring, with trades for bars: no decision change at any bar those
    trades close, no trade reaching a stop / take-profit level, no mark price at which the
    equity might breach a limit or move enough for the ExecManager's early equity check, no
    funding time with a position, no new UTC day, no minute without trades, no trade older
    than the one before it. The trades are taken at once: the engine gets them as one batch
    (`Exchange.on_trades_batch`, equivalent to one by one) and the last mark price; the bar
    being built is restored (`BarBuilder.restore`); the strategy absorbs the closed bars; the
    ExecManager's once-a-second equity checks are replayed (their times exactly, the
    RiskManager fed their highest and their last equity); equity.csv's minute rows and the
    per-second price rows are computed with numpy. The pipeline resumes at the first trade
    of the minute before the event (its bar close then sets the strategy's latest target as
    the plain loop would, before the event's trade can need it).
    """

    def __init__(
        self,
        rig: Any,  # backtest.runner._Rig
        times: list[int],
        prices: list[str],
        qtys: list[str],
        maker: list[bool],
        inst: Instrument,
        *,
        symbol: str,
        slippage_bps: Decimal,
        funding_interval_ms: int,
    ) -> None:
        if getattr(rig.venue, "book_feed", None) is not None:
            raise NotApplicable("recorded quotes interleave with the trades")
        if rig.em.config.bar_interval != "1m":
            raise NotApplicable("bars other than 1m")
        strategy = _applicable(rig, inst, _EM_STATE + _EM_TRADES_STATE)
        tick = inst.tick_size
        self.rig = rig
        self.symbol = symbol
        self.tick = tick
        self.step = inst.lot.step_size
        self.strategy: BarFastForward = strategy
        self.funding_ms = funding_interval_ms
        self.times = times
        self.price_text = prices
        self.maker_list = maker
        self.t = np.array(times, dtype=np.int64)
        self.ticks = price_ticks(prices, tick)
        self.qsteps = price_ticks(qtys, self.step)
        self.maker = np.array(maker, dtype=bool)
        self.tick_units = int(tick * PRICE_UNITS)
        n = len(times)
        minute = self.t // MINUTE_MS
        second = self.t // 1000
        first = np.ones(n, dtype=bool)
        first[1:] = minute[1:] != minute[:-1]
        self.minute = minute
        self.minute_first = np.flatnonzero(first)
        mark = np.ones(n, dtype=bool)
        mark[1:] = second[1:] != second[:-1]
        self.marks = np.flatnonzero(mark)
        forced = np.zeros(n, dtype=bool)
        forced[0] = True
        day = self.t // DAY_MS
        forced[1:] = (
            (day[1:] != day[:-1]) | (self.t[1:] < self.t[:-1]) | (minute[1:] > minute[:-1] + 1)
        )
        self.forced = np.flatnonzero(forced)
        slip = 0
        if slippage_bps and n:
            slip = int(int(self.ticks.max()) * slippage_bps / Decimal(10_000)) + 2
        self.margin_ticks = 1 + slip
        self.slippage_bps = slippage_bps
        self.absorbed = 0
        self.skips = 0
        self._last_look = _look(rig.em)  # HALTED: see _quiet_while_halted

    def _minute_start_index(self, j: int) -> int:
        """Index of the first trade of trade j's minute."""
        mf = self.minute_first
        return int(mf[np.searchsorted(mf, j, side="right") - 1])

    def _mark_before(self, js: np.ndarray, *, inclusive: bool) -> np.ndarray:
        """For each trade index, the index of the mark trade in force (the latest at or before
        it when `inclusive`, strictly before it otherwise); -1 when none."""
        pos = np.searchsorted(self.marks, js, side="right" if inclusive else "left") - 1
        return np.where(pos >= 0, self.marks[np.maximum(pos, 0)], -1)

    # --- where is the next event ----------------------------------------------------------

    def next_event(self, s: int) -> tuple[int, int]:
        """(r, e): trades [s, r) are quiet and can be absorbed, trade e is the first that may
        do something; (s, s) when the live state is not quiet."""
        rig = self.rig
        em = rig.em
        state = rig.risk.state
        before, self._last_look = self._last_look, _look(em)
        if s == 0 or rig.venue.pending:
            return s, s
        if state is not TradingState.ACTIVE and not (
            state is TradingState.HALTED
            and _quiet_while_halted(before, self._last_look)
            and not rig.book.orders
        ):
            return s, s
        symbol = self.symbol
        if _unsettled(em):
            return s, s
        if symbol not in em._marked:
            return s, s
        book = rig.book
        levels: list[tuple[int, bool]] = []
        for o in book.orders.values():
            if (
                not o.is_protective
                or o.status is not OrderStatus.NEW
                or o.stop_price is None
                or o.client_order_id in em._cancel_sent
            ):
                return s, s
            ticks = o.stop_price / self.tick
            if ticks != ticks.to_integral_value():
                return s, s
            below = (o.type is OrderType.STOP_MARKET) == (o.side is Side.SELL)
            levels.append((int(ticks), below))
        position = book.position(symbol)
        target = em.target(symbol)
        if target is not None and target.qty != position.qty and not em.target_held(symbol):
            return s, s
        if state is TradingState.HALTED and position.qty:
            return s, s
        if limit_to_trip(rig):
            return s, s
        n = len(self.t)
        j = int(np.searchsorted(self.forced, s, side="left"))
        end = int(self.forced[j]) if j < len(self.forced) else n
        qty = position.qty
        if qty:
            boundary = (self.times[s - 1] // self.funding_ms + 1) * self.funding_ms
            end = min(end, int(np.searchsorted(self.t, boundary, side="left")))
        strategy_end = self._strategy_quiet(s, end)
        # The other tests also look at the strategy's event trade itself: if nothing else
        # can happen there, the pipeline resumes at it (its bar close sets the target).
        probe = min(strategy_end + 1, n)
        other = probe
        m = self.margin_ticks
        for ticks, below in levels:
            seg = self.ticks[s:other]
            hit = seg <= ticks + m if below else seg >= ticks - m
            k = int(hit.argmax()) if len(hit) else 0
            if len(hit) and hit[k]:
                other = s + k
        if qty and other > s:
            other = self._equity_quiet(s, other, qty, position.entry_price)
        e = min(strategy_end, other)
        if e <= s:
            return s, s
        # The pipeline always resumes at a minute's first trade: the bar it closes sets the
        # strategy's latest target (and its reason) as in the plain loop, before anything
        # can re-work it. At e itself when nothing but that bar close can act there; else
        # (a stop, a limit, an equity check may act at e and re-work the target) at the bar
        # close before e; at the end of the data, at the last bar close.
        if e == n:
            return max(s, self._minute_start_index(n - 1)), e
        r = self._minute_start_index(e)
        if r == e and other > e:
            return e, e
        if r == e:
            r = self._minute_start_index(e - 1)
        return max(s, r), e

    def _strategy_quiet(self, s: int, end: int) -> int:
        """min(end, the trade closing the first bar at which the decision could change)."""
        mf = self.minute_first
        lo = int(np.searchsorted(mf, s, side="left"))
        hi = int(np.searchsorted(mf, end, side="left"))
        closing = mf[lo:hi]  # trades that close a bar within [s, end)
        if not len(closing):
            return end
        window = _FIRST_WINDOW
        ask = self.strategy.bars_without_decision
        while True:
            part = closing[:window]
            closes = self.ticks[part - 1] * self.tick_units
            quiet = ask(self.symbol, (self.minute[part] - 1) * MINUTE_MS, closes)
            if quiet < len(part):
                return int(part[quiet])
            if len(part) == len(closing):
                return end
            window *= 8

    def _equity_quiet(self, s: int, end: int, qty: Decimal, entry: Decimal) -> int:
        """`end`, or the first mark trade in [s, end) whose equity might breach a limit, come
        near liquidation, or move enough since the mark before for an early equity check; `s`
        when the mark in force at `s` might breach (a check of it may still be to come)."""
        rig = self.rig
        cfg = rig.risk_config
        lo = int(np.searchsorted(self.marks, s))
        first = max(lo - 1, 0)  # the mark in force at s, then the marks within
        marks = self.marks[first : int(np.searchsorted(self.marks, end))]
        if not len(marks):
            return end
        q = float(qty)
        wallet = float(rig.book.wallet())
        price = tick_floats(self.ticks[marks], self.tick)
        eq = wallet + q * (price - float(entry))
        bad = eq <= 0.5 * abs(q) * price * (1 + 1e-9) + 1e-6
        tol = 1e-9
        if cfg.max_drawdown_pct > 0:
            peak0 = rig.risk.peak_equity
            peak = np.maximum.accumulate(eq)
            if peak0 is not None:
                peak = np.maximum(peak, float(peak0))
            bad |= (peak - eq) * 100 >= float(cfg.max_drawdown_pct) * peak * (1 - tol) - 1e-6
        start = rig.risk.day_start_equity
        if start is not None:
            st = float(start)
            if cfg.max_daily_loss_usdt > 0:
                bad |= st - eq >= float(cfg.max_daily_loss_usdt) * (1 - tol) - 1e-6
            if cfg.max_daily_loss_pct > 0:
                bad |= (st - eq) * 100 >= float(cfg.max_daily_loss_pct) * st * (1 - tol) - 1e-6
        prev = self._mark_before(marks, inclusive=False)
        prev_price = np.where(
            prev >= 0, tick_floats(self.ticks[np.maximum(prev, 0)], self.tick), price
        )
        prev_eq = wallet + q * (prev_price - float(entry))
        pct = float(rig.em.config.equity_change_pct)
        moved = np.abs(eq - prev_eq) * 100 >= pct * np.abs(prev_eq) * (1 - tol) - 1e-6
        bad |= moved & (marks >= s)  # the mark in force at s was already delivered
        k = int(bad.argmax())
        return max(s, int(marks[k])) if bad[k] else end

    # --- taking quiet trades ---------------------------------------------------------------

    def absorb(
        self,
        s: int,
        r: int,
        next_sample: int,
        rows: Callable[[np.ndarray, np.ndarray, float], None],
        price_rows: Callable[[np.ndarray, np.ndarray], None],
        mark_rate: Callable[[int], tuple[Decimal, int]],
    ) -> tuple[int, int]:
        """Take trades [s, r) without the pipeline; (next_sample, next_mark) for the loop
        (next_mark -1 when no mark price fell in them)."""
        rig = self.rig
        em, book, engine, clock = rig.em, rig.book, rig.engine, rig.clock
        symbol = self.symbol
        tick = self.tick
        text = self.price_text
        n = r - s
        mf = self.minute_first[
            np.searchsorted(self.minute_first, s) : np.searchsorted(self.minute_first, r)
        ]
        marks = self.marks[np.searchsorted(self.marks, s) : np.searchsorted(self.marks, r)]
        # The strategy: the bars the minute-first trades close.
        proposals = 0
        if len(mf):
            proposals = self.strategy.absorb_bars(
                symbol, (self.minute[mf] - 1) * MINUTE_MS, self.ticks[mf - 1] * self.tick_units
            )
            em._last_bar_open[symbol] = int(self.minute[mf[-1]] - 1) * MINUTE_MS
        counters = em.counters
        counters.items += n + len(marks)
        counters.trades += n
        counters.bars += len(mf)
        counters.proposals += proposals
        # The bar being built: the trades of trade r-1's minute so far.
        f0 = self._minute_start_index(r - 1)
        sl = slice(f0, r)
        seg = self.ticks[sl]
        taker = ~self.maker[sl]
        qs = self.qsteps[sl]
        quote_unit = tick * self.step
        builder = em._builders[symbol]
        builder.restore(
            open_ms=int(self.minute[f0]) * MINUTE_MS,
            ohlc=(
                Decimal(text[f0]),
                Decimal(text[f0 + int(seg.argmax())]),
                Decimal(text[f0 + int(seg.argmin())]),
                Decimal(text[r - 1]),
            ),
            volumes=(
                Decimal(int(qs.sum())) * self.step,
                Decimal(int((seg * qs).sum())) * quote_unit,
                Decimal(int(qs[taker].sum())) * self.step,
                Decimal(int((seg[taker] * qs[taker]).sum())) * quote_unit,
            ),
            count=r - f0,
            last_open_ms=int(self.minute[f0] - 1) * MINUTE_MS if f0 > 0 else -1,
            last_close=Decimal(text[f0 - 1]) if f0 > 0 else _ZERO,
        )
        # The ExecManager's equity checks: at the first item at or after each deadline.
        position = book.position(symbol)
        qty, entry = position.qty, position.entry_price
        wallet = book.wallet()
        times = self.times
        deadline = em._equity.next_ms
        checks: list[int] = []
        j = s
        while True:
            j = bisect.bisect_left(times, deadline, j, r)
            if j >= r:
                break
            checks.append(j)
            deadline = times[j] + 1000
            j += 1
        if checks:
            at = self._mark_before(np.array(checks, dtype=np.int64), inclusive=True)
            realized = book.pnl_today(times[checks[-1]])
            last_price = Decimal(text[int(at[-1])])
            last_eq = wallet + (_ZERO + qty * (last_price - entry)) if qty else wallet + _ZERO
            if qty:
                k = int(self.ticks[at].argmax() if qty > 0 else self.ticks[at].argmin())
                best = Decimal(text[int(at[k])])
                self._on_equity(wallet + (_ZERO + qty * (best - entry)), realized)
            self._on_equity(last_eq, realized)
            em._equity.last = last_eq
            em._equity.next_ms = deadline
        # The engine: the trades as one batch, then the last mark and touch.
        last_t = times[r - 1]
        if clock.now_ms() < last_t:
            clock.set_ms(last_t)
        engine.on_trades_batch(
            symbol, self.ticks[s:r], np.maximum(self.qsteps[s:r], 1), self.maker[s:r], self.t[s:r]
        )
        next_mark = -1
        if len(marks):
            lm = int(marks[-1])
            tm = times[lm]
            p = Decimal(text[lm])
            rate, nf = mark_rate(tm)
            engine.on_mark_price(symbol, p, p, rate, nf, tm)
            book.mark(MarkPrice(symbol, p, p, rate, nf, tm, tm))
            next_mark = tm - tm % 1000 + 1000
            price_rows(self.t[marks], tick_floats(self.ticks[marks], tick))
        if self.slippage_bps:
            send_synthetic_touch(
                engine.on_book_ticker,
                symbol,
                int(self.ticks[r - 1]),
                self.slippage_bps,
                tick,
                last_t,
            )
        rig.venue.pump()
        p_last = Decimal(text[r - 1])
        q_last = Decimal(int(self.qsteps[r - 1])) * self.step
        book.mark(
            Trade(
                symbol,
                r - 1,
                p_last,
                q_last,
                r - 1,
                r - 1,
                self.maker_list[r - 1],
                last_t,
                last_t,
                last_t,
            )
        )
        # equity.csv: a row at each minute's first trade, valued at the mark before it.
        sampled = mf[self.t[mf] >= next_sample] if len(mf) else mf
        if len(sampled):
            before = self._mark_before(sampled, inclusive=False)
            eq = equity_floats(wallet, qty, entry, self.ticks[before], tick)
            rows(self.minute[sampled] * MINUTE_MS - 1, eq, float(qty))
            ts = int(self.t[sampled[-1]])
            next_sample = ts - ts % MINUTE_MS + MINUTE_MS
        self.absorbed += n
        self.skips += 1
        return next_sample, next_mark

    def _on_equity(self, equity: Decimal, realized: Decimal) -> None:
        changed = self.rig.risk.on_equity(equity, realized)
        if changed is not None:
            raise RuntimeError(f"fast path: a quiet trade changed the trading state: {changed}")
