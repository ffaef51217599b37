"""RSI / MACD on closed bars: momentum from the MACD histogram, filtered by RSI extremes.

The wanted side on each closed bar:
  long   while the MACD histogram is > 0 (the MACD line above its signal) and RSI < overbought,
  short  while the histogram is < 0 and RSI > oversold (flat instead with `allow_short=False`),
  flat   otherwise: momentum one way but RSI already stretched that way (overbought in an
         up-move, oversold in a down-move) means take profit and stand aside; a zero
         histogram keeps the previous side.

As in the SMA strategy the target is `order_notional_usdt / close` at the bar where the side
changed (floored to the lot step), held while the side holds, and re-emitted on every closed bar
once the indicators are ready, so a denied order is retried and the ExecManager makes nothing
of a target already held. Indicators are O(1) per bar (`trading_engine.indicators.Rsi`, `Macd`,
TA-Lib conventions) on float closes: signal code, not money.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.account import AccountView
from core.instrument import Instrument
from core.market import Bar
from core.orders import TargetPosition
from trading_engine.indicators import Macd, Rsi
from trading_engine.main_trading_strategy import (
    NO_PROPOSALS,
    Proposals,
    StrategyBase,
    positive_notional,
    target_qty,
)


@dataclass(slots=True)
class _SymbolState:
    rsi: Rsi
    macd: Macd
    side: int = 0  # +1 long, -1 short (or flat without shorts), 0 flat
    ready: bool = False
    target: Decimal = Decimal(0)
    last_open_ms: int = -1  # a bar delivered twice (warm-up, then live) counts once
    reason: str = field(default="")


def decide(
    histogram: float, rsi: float, previous: int, *, oversold: float, overbought: float
) -> int:
    """The wanted side (+1 long, -1 short, 0 flat) from one bar's MACD histogram and RSI."""
    if histogram > 0.0:
        return 1 if rsi < overbought else 0
    if histogram < 0.0:
        return -1 if rsi > oversold else 0
    return previous


class RsiMacd(StrategyBase):
    """Long on positive MACD momentum unless overbought, short on negative unless oversold."""

    name = "rsi_macd"

    def __init__(
        self,
        *,
        rsi_period: int = 14,
        oversold: float = 30.0,
        overbought: float = 70.0,
        macd_fast: int = 12,
        macd_slow: int = 26,
        macd_signal: int = 9,
        order_notional_usdt: Decimal | float | int | str = Decimal(100),
        allow_short: bool = True,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        if not 0.0 <= oversold < overbought <= 100.0:
            raise ValueError(
                f"rsi_macd needs 0 <= oversold < overbought <= 100, not {oversold}/{overbought}"
            )
        Rsi(rsi_period)  # validate the periods now, not at the first bar
        Macd(macd_fast, macd_slow, macd_signal)
        self.rsi_period = rsi_period
        self.oversold = float(oversold)
        self.overbought = float(overbought)
        self.macd_periods = (macd_fast, macd_slow, macd_signal)
        self.order_notional_usdt = positive_notional(order_notional_usdt)
        self.allow_short = allow_short
        self.instruments = dict(instruments or {})
        self.warmup_bars = max(rsi_period + 1, macd_slow + macd_signal - 1)
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
        if st is None or not st.ready:
            return NO_PROPOSALS
        return self._target(bar.symbol, st)

    def on_start(self, symbol: str, view: AccountView) -> Proposals:
        """The side the warm-up bars ended on: take it at once."""
        st = self._states.get(symbol)
        if st is None or not st.ready:
            return NO_PROPOSALS
        return self._target(symbol, st)

    def _target(self, symbol: str, st: _SymbolState) -> Proposals:
        return (TargetPosition(symbol=symbol, qty=st.target, reason=st.reason),)

    # --- state ------------------------------------------------------------------------------

    def side(self, symbol: str) -> int:
        """+1 long, -1 short (or flat without shorts), 0 flat or not yet known."""
        st = self._states.get(symbol)
        return 0 if st is None else st.side

    def _update(self, bar: Bar) -> _SymbolState | None:
        st = self._states.get(bar.symbol)
        if st is None:
            fast, slow, signal = self.macd_periods
            st = self._states[bar.symbol] = _SymbolState(
                Rsi(self.rsi_period), Macd(fast, slow, signal)
            )
        if bar.open_time_ms <= st.last_open_ms:
            return None
        st.last_open_ms = bar.open_time_ms
        close = float(bar.close)
        rsi = st.rsi.update(close)
        hist = st.macd.update(close)
        if rsi is None or hist is None:
            return st
        side = decide(hist, rsi, st.side, oversold=self.oversold, overbought=self.overbought)
        if not st.ready or side != st.side:
            st.ready = True
            st.side = side
            st.target = target_qty(
                self.order_notional_usdt,
                bar.close,
                side,
                self.instruments.get(bar.symbol),
                allow_short=self.allow_short,
            )
        word = {1: "long", -1: "short" if self.allow_short else "flat", 0: "flat"}[side]
        st.reason = f"rsi{self.rsi_period}={rsi:.2f} macd_hist={fixed_point(hist)}: {word}"
        return st


def fixed_point(x: float, significant: int = 4) -> str:
    """`x` to `significant` digits without exponent notation: a histogram near zero read
    `macd_hist=-9.18512e-05` in orders.csv's why_sent."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    places = max(0, significant - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{places}f}"
