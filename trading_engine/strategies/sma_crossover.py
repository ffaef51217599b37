"""SMA crossover on closed bars: the rule-based baseline that exercises the whole pipeline.

Regime based rather than cross based: whenever the fast SMA is above the slow one the
strategy wants to be long, below it short (or flat with `allow_short=False`). So right after
warm-up it already has an opinion, and the daemon takes its position on the first live bar
instead of waiting for the next cross. On equal averages the previous regime holds.

The target size is `order_notional_usdt / close` at the bar where the regime began, floored to
the instrument's step when the instrument is known; it stays fixed while the regime holds, so
price drift does not cause a stream of tiny rebalancing orders. The target is re-emitted on
every closed bar: an order that was denied or rejected is retried at the next bar, and the
ExecManager makes nothing of a target that is already held or being worked.

Averages are computed on prices as integers (units of 1e-8), so the comparison is exact: a
flat market cannot flip the regime on float noise.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.account import AccountView
from core.instrument import Instrument
from core.market import Bar
from core.orders import TargetPosition
from trading_engine.indicators import Sma
from trading_engine.main_trading_strategy import (
    NO_PROPOSALS,
    Proposals,
    StrategyBase,
    positive_notional,
    target_qty,
)

_PRICE_SCALE = 8  # closes as integer units of 1e-8 (Binance prices have at most 8 decimals)
_UNITS = 10**_PRICE_SCALE
_PLAN_CHUNK = 1 << 16  # bars per vectorized step of series_plan


@dataclass(slots=True)
class _SymbolState:
    fast: Sma
    slow: Sma
    regime: int = 0  # +1 long, -1 short (or flat without shorts), 0 undecided
    target: Decimal = Decimal(0)
    last_open_ms: int = -1  # open time of the last bar taken: a repeated bar is ignored


class SmaCrossover(StrategyBase):
    """Target long while SMA(fast) > SMA(slow), short (or flat) while below; closed bars only."""

    name = "sma_crossover"

    def __init__(
        self,
        *,
        fast: int = 10,
        slow: int = 50,
        order_notional_usdt: Decimal | float | int | str = Decimal(100),
        allow_short: bool = True,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"sma_crossover needs 1 <= fast < slow, not fast={fast} slow={slow}")
        notional = positive_notional(order_notional_usdt)
        self.fast = fast
        self.slow = slow
        self.order_notional_usdt = notional
        self.allow_short = allow_short
        self.instruments = dict(instruments or {})
        self.warmup_bars = slow
        self._states: dict[str, _SymbolState] = {}

    # --- interface --------------------------------------------------------------------------

    def warm(self, bars: Sequence[Bar]) -> None:
        for bar in bars:
            if bar.closed:
                self._update(bar)

    def on_bar(self, bar: Bar, view: AccountView) -> Proposals:
        if not bar.closed:
            return NO_PROPOSALS
        st = self._update(bar)
        if st is None or st.regime == 0:
            return NO_PROPOSALS
        return self._target(bar.symbol, st)

    def on_start(self, symbol: str, view: AccountView) -> Proposals:
        """The regime the warm-up bars ended in: hold it at once."""
        return self.last_proposals(symbol)

    def last_proposals(self, symbol: str) -> Proposals:
        """What `on_bar` returned for the last bar taken, by `on_bar` or `absorb_bars`
        (`BarFastForward`): the regime's target, its reason naming the averages of the
        windows as they are, or nothing while the slow window fills. The state holds all of
        it (regime, size, window sums), so a backtest that took its last quiet bar with
        `absorb_bars` has that bar's proposal without building the Bar."""
        st = self._states.get(symbol)
        if st is None or st.regime == 0:
            return NO_PROPOSALS
        return self._target(symbol, st)

    def _target(self, symbol: str, st: "_SymbolState") -> Proposals:
        fast = st.fast.sum / (self.fast * _UNITS)
        slow = st.slow.sum / (self.slow * _UNITS)
        side = "long" if st.regime > 0 else ("short" if self.allow_short else "flat")
        return (
            TargetPosition(
                symbol=symbol,
                qty=st.target,
                reason=f"sma{self.fast}={fast:.8g} sma{self.slow}={slow:.8g}: {side}",
            ),
        )

    # --- fast-forward (trading_engine.main_trading_strategy.BarFastForward) -----------------

    def bars_without_decision(self, symbol: str, open_time_ms: Any, close_units: Any) -> int:
        """Bars before the first one that flips the regime (the next sign change of
        fast_sum * slow - slow_sum * fast, computed vectorized from the current windows), or,
        while warming up, before the bar that fills the slow window; 0 at a bar not newer
        than the last one taken."""
        import numpy as np  # only a backtest calls this: the live daemon never imports it here

        st = self._state(symbol)
        n = len(close_units)
        if n == 0:
            return 0
        times = np.asarray(open_time_ms, dtype=np.int64)
        if times[0] <= st.last_open_ms:
            return 0
        if n > 1 and not (times[1:] > times[:-1]).all():  # a repeated bar: stop before it
            n = int(np.flatnonzero(times[1:] <= times[:-1])[0]) + 1
        if not st.slow.ready:  # warming up: no proposal until the bar that fills the window
            return min(n, self.slow - len(st.slow.values) - 1)
        hist = np.array(st.slow.values, dtype=np.int64)
        x = np.concatenate((hist, np.asarray(close_units[:n], dtype=np.int64)))
        x -= x[0]  # sums of differences from one close: the sign test is shift-invariant
        if int(np.abs(x).max()) * (len(x) + 1) * self.slow >= 2**62:
            return 0  # could overflow int64: let the bars go one by one
        cs = np.concatenate(([0], np.cumsum(x)))
        end = np.arange(len(hist) + 1, len(x) + 1)  # cs index just past each new bar
        fast_sum = cs[end] - cs[end - self.fast]
        slow_sum = cs[end] - cs[end - self.slow]
        diff = fast_sum * self.slow - slow_sum * self.fast
        if st.regime > 0:
            flips = diff < 0
        elif st.regime < 0:
            flips = diff > 0
        else:
            flips = diff != 0
        first = np.flatnonzero(flips)
        return int(first[0]) if len(first) else n

    def series_plan(
        self, symbol: str, open_time_ms: Any, close_units: Any
    ) -> "Callable[[int, int], int | None] | None":
        """Optional, for a backtest's fast path over one whole series: the regime flips of
        every bar computed once, vectorized (each bar's windows taken from the series), so
        that asking about bars [i, stop) of it is a lookup. The returned function answers
        what `bars_without_decision` would for those bars, or None when the live state is not
        the series' own at i (window not full or other values, another regime, a bar not
        newer than the last one taken): then ask `bars_without_decision`. None when int64
        could overflow."""
        import numpy as np  # only a backtest calls this: the live daemon never imports it here
        from numpy.lib.stride_tricks import sliding_window_view

        x = np.asarray(close_units, dtype=np.int64)
        times = np.asarray(open_time_ms, dtype=np.int64)
        n = len(x)
        fast, slow = self.fast, self.slow
        if n < slow or max(int(x.max()), -int(x.min())) * slow * (fast + slow) >= 2**62:
            return None
        # The regime after each bar is the sign of its fast_sum * slow - slow_sum * fast, or,
        # on equal averages, the regime before it. Kept: the bars where it changes and the
        # regime from there on. In chunks, so the temporaries stay small on long series.
        flip_parts, value_parts = [], []
        before = 0  # no regime before the first full window
        for a in range(slow - 1, n, _PLAN_CHUNK):
            b = min(n, a + _PLAN_CHUNK)
            diff = sliding_window_view(x[a - fast + 1 : b], fast).sum(axis=1) * slow
            diff -= sliding_window_view(x[a - slow + 1 : b], slow).sum(axis=1) * fast
            sign = np.sign(diff).astype(np.int8)
            last = np.where(sign != 0, np.arange(len(sign)), -1)
            np.maximum.accumulate(last, out=last)
            regime = np.where(last >= 0, sign[last], np.int8(before))
            changed = np.flatnonzero(regime != np.concatenate(([before], regime[:-1])))
            flip_parts.append(changed + a)
            value_parts.append(regime[changed])
            before = int(regime[-1])
        # Lists, looked up with bisect: a skip asks about one bar, where numpy's searchsorted
        # costs a few microseconds of dispatch (a thousand skips per 30,000 bars).
        flips: list[int] = np.concatenate(flip_parts).tolist()
        regimes: list[int] = np.concatenate(value_parts).tolist()
        repeats: list[int] = (np.flatnonzero(times[1:] <= times[:-1]) + 1).tolist()
        state = self._state(symbol)

        def quiet(i: int, stop: int) -> int | None:
            st = state
            if (
                i < slow
                or not st.slow.ready
                or int(times[i]) <= st.last_open_ms
                or st.slow.values != tuple(x[i - slow : i].tolist())
                or st.fast.values != tuple(x[i - fast : i].tolist())
            ):
                return None
            k = bisect_left(flips, i)  # a flip at i itself counts
            if st.regime != (regimes[k - 1] if k else 0):  # the regime after bar i - 1
                return None
            first = flips[k] if k < len(flips) else n
            k = bisect_right(repeats, i)  # a repeat after i only
            if k < len(repeats):
                first = min(first, repeats[k])
            return min(first, stop) - i

        return quiet

    def absorb_bars(self, symbol: str, open_time_ms: Any, close_units: Any) -> int:
        st = self._state(symbol)
        n = len(close_units)
        if n == 0:
            return 0
        values = close_units[-self.slow :].tolist()
        st.fast.load(values)
        st.slow.load(values)
        st.last_open_ms = int(open_time_ms[-1])
        return n if st.regime != 0 else 0

    # --- state ------------------------------------------------------------------------------

    def regime(self, symbol: str) -> int:
        """+1 long, -1 short/flat, 0 not yet known (fewer than `slow` bars seen)."""
        st = self._states.get(symbol)
        return 0 if st is None else st.regime

    def _state(self, symbol: str) -> _SymbolState:
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = _SymbolState(Sma(self.fast), Sma(self.slow))
        return st

    def _update(self, bar: Bar) -> _SymbolState | None:
        """Take one closed bar; None when it is not newer than the last one (a bar delivered
        twice, e.g. by warm-up and the live stream, must not count twice in the averages)."""
        st = self._state(bar.symbol)
        if bar.open_time_ms <= st.last_open_ms:
            return None
        st.last_open_ms = bar.open_time_ms
        units = int(bar.close.scaleb(_PRICE_SCALE))
        st.fast.update(units)
        st.slow.update(units)
        if not st.slow.ready:
            return st
        # fast_sum / fast > slow_sum / slow, compared exactly in integers.
        diff = st.fast.sum * self.slow - st.slow.sum * self.fast
        regime = 1 if diff > 0 else (-1 if diff < 0 else st.regime)
        if regime != st.regime:
            st.regime = regime
            st.target = self._size(bar.symbol, bar.close, regime)
        return st

    def _size(self, symbol: str, close: Decimal, regime: int) -> Decimal:
        return target_qty(
            self.order_notional_usdt,
            close,
            regime,
            self.instruments.get(symbol),
            allow_short=self.allow_short,
        )
