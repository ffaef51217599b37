"""The ML strategy: incremental features -> logistic-regression probabilities -> Buy / Sell / Hold
-> a target position, worked by a limit order at or inside the spread.

On each closed bar (per symbol) `model.features.FeatureState` updates its O(1) state, and the
model file's folded coefficients give SELL/HOLD/BUY probabilities (`model.live.LinearModel`:
a dot product and a softmax in plain Python; neither scikit-learn nor numpy is imported).

Signal per bar: BUY when P(BUY) >= `entry_probability` and P(BUY) > P(SELL), SELL likewise,
HOLD otherwise. BUY -> long, SELL -> short (flat with `allow_short=False`); HOLD keeps the side
for `hold_bars` bars after the last BUY/SELL, then flat: the model predicts a move over its label
horizon, so by default (`hold_bars=None`) a position lives that many bars without a renewed
signal (0 = flat at the first HOLD). The size is `order_notional_usdt / close` at the bar where
the side changed (floored to the lot step), held while the side holds; the target is re-emitted
on every bar so a denied order is retried, and the RiskManager checks (and may deny) every order
the ExecManager derives from it.

Price (`price_mode`), from the last book top seen (`on_book`), for the order the target needs
(buy when the target is above the position): `passive` buys at the best bid / sells at the best
ask; `inside` goes one tick inside the spread when it is at least two ticks wide, else passive;
`cross` takes the far side (buy at the ask: a marketable limit with a known worst price);
`market` sends market orders. Prices are snapped to the tick deliberately, never across what was
asked (a buy floors, a sell ceils). With no book seen yet, or one older than the bar by over a
minute of market time, the fallback is a market order (backtests on klines have no book). While
the position is short of the target, a book that moved away from our price re-prices the target
to the new touch at most every `reprice_ms` of market-data time (0 = only at the next bar).

`warmup_bars` is what the features need (`model.features.WARMUP_BARS`) plus enough bars for the
exponential averages (RSI, ATR: weight 1/14 per bar) to forget their seed to ~1e-8, so live
features after a REST warm-up match those of a long history. The model's flow setting decides
whether taker volume and trade counts are read from the bars; a model trained on other bars
than `bar_interval` (the file's `interval`), for another symbol than `symbols` (default: the
instruments'; the file's `symbol`), or with the flow features on bars without taker volume
(`taker_flow=False`: a backtest's klines) is refused, at start and on a hot swap; so is a model
file that does not say its symbol and interval (nothing to check them against).
A missing bar (open time more than one interval after the last one: a kline the stream never
delivered) makes the next `WARMUP_BARS - 1` rows mix prices from both sides of the hole; training
leaves exactly those rows out (`model.train`), so the model has nothing to say there: those bars
give no signal (HOLD; the side runs out by `hold_bars`), and signals resume once the window is
whole again.
`feature_sink`, when given, is called with every bar taken and its feature row (None during
warm-up): the daemon writes them to `features.csv` off the event loop (`model.live.FeatureLog`)
for live/batch parity checks.

Hot swap: given a model registry directory (`model.registry`) as `model_path`, the strategy
loads its promoted version and, on each new closed bar after the features took it, looks at the
`PROMOTED` file's mtime (one `stat` per bar); when it changed and names another version, that
version is loaded and used from this bar on. The feature state is kept (the features are the
same code, checked by the feature hash); a model that fails to load, does not match the
feature code, uses another flow setting or lacks BUY/SELL is refused with a warning and the
old one kept.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from core.account import AccountView
from core.enums import Side
from core.instrument import Instrument
from core.intervals import interval_ms
from core.market import Bar, BookTicker
from core.orders import TargetPosition
from model import registry
from model.features import WARMUP_BARS, FeatureState
from model.live import LinearModel, load_linear_model
from trading_engine.main_trading_strategy import (
    NO_PROPOSALS,
    Proposals,
    StrategyBase,
    positive_notional,
    target_qty,
)

_SELL, _BUY = -1, 1
# (13/14)^240 ~ 2e-8: the slowest exponential average (weight 1/14) forgets its seed.
EMA_SETTLE_BARS = 240
BOOK_MAX_AGE_MS = 60_000  # an older book top than this, at the bar's close, is not used
DEFAULT_HOLD_BARS = 15  # when the model file does not say its label horizon
# A class-balanced 3-class model reads 1/3 as "no information": a BUY or SELL signal needs a
# little more than that (the shipped model signals on about a third of the bundled week's bars).
DEFAULT_ENTRY_PROBABILITY = 0.36
log = logging.getLogger(__name__)
_step_ms = cache(interval_ms)  # per bar: a dict lookup rather than parsing "1m" (~0.6 us)

FeatureSink = Callable[[Bar, "list[float] | None"], None]


class PriceMode(StrEnum):
    """Where the limit order that works a target sits (see the module docstring)."""

    PASSIVE = "passive"
    INSIDE = "inside"
    CROSS = "cross"
    MARKET = "market"


def limit_price(
    buy: bool, bid: Decimal, ask: Decimal, mode: PriceMode, tick: Decimal | None
) -> Decimal | None:
    """The limit price for a buy (`buy`) or a sell from the book top, or None (market).

    `inside` improves on our side by one tick only when the spread is at least two ticks
    wide, so the order never reaches the far side; without a known tick it stays passive."""
    if mode is PriceMode.MARKET:
        return None
    if mode is PriceMode.CROSS:
        return ask if buy else bid
    if mode is PriceMode.INSIDE and tick is not None and ask - bid >= 2 * tick:
        return bid + tick if buy else ask - tick
    return bid if buy else ask


@dataclass(slots=True)
class _SymbolState:
    features: FeatureState
    side: int = 0  # +1 long, -1 short, 0 flat
    target: Decimal = Decimal(0)
    hold_left: int = 0  # HOLD bars the current side may still last
    last_open_ms: int = -1  # a bar delivered twice (warm-up, then live) counts once
    gap_bars: int = 0  # bars left whose feature window spans a missing bar: no signal
    row: list[float] | None = None  # the last feature row (for logging and parity checks)
    proba: list[float] = field(default_factory=list)
    signal: int = 0  # the last bar's signal: +1 BUY, -1 SELL, 0 HOLD
    bid: Decimal | None = None  # the last book top seen
    ask: Decimal | None = None
    book_ms: int = 0  # its event time
    price: Decimal | None = None  # the limit price of the last target emitted
    priced_ms: int = 0  # market time it was set
    chasing: bool = False  # a priced target not yet reached: on_book may re-price it


class LogisticRegressionStrategy(StrategyBase):
    """Buy / Sell / Hold from a saved logistic-regression model's class probabilities."""

    name = "logistic_regression"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model: LinearModel | None = None,
        entry_probability: Decimal | float | str = DEFAULT_ENTRY_PROBABILITY,
        order_notional_usdt: Decimal | float | int | str = Decimal(100),
        allow_short: bool = True,
        instruments: Mapping[str, Instrument] | None = None,
        hold_bars: int | None = None,
        price_mode: PriceMode | str = PriceMode.INSIDE,
        reprice_ms: int = 5000,
        bar_interval: str | None = None,
        symbols: Sequence[str] | None = None,
        taker_flow: bool = True,
        feature_sink: FeatureSink | None = None,
    ) -> None:
        if (model is None) == (model_path is None):
            raise ValueError("logistic_regression needs exactly one of model_path or model")
        self.bar_interval = bar_interval  # checked against the model's, when both are known
        # The symbols traded (default: the instruments'), checked against the model's symbol.
        self.symbols = tuple(symbols if symbols is not None else (instruments or {}))
        # False: the bars carry no taker buy volume or trade count (a backtest's klines), so a
        # model trained with the flow features would see zeros where it learned real values.
        self.taker_flow = taker_flow
        self._registry: Path | None = None
        self._promoted_stat: tuple[int, int] | None = None
        self._checked_open_ms = -1
        self.model_version: str | None = None
        if model_path is not None and registry.is_registry(model_path):
            self._registry = Path(model_path)
            self._promoted_stat = self._stat_promoted()
            self.model_version = registry.promoted_id(self._registry)
            if self.model_version is not None:  # this version, even if PROMOTED changes now
                model_path = registry.version_dir(self._registry, self.model_version)
                model_path = model_path / registry.MODEL_FILE
        self.model = model if model is not None else load_linear_model(str(model_path))
        self._set_model(self.model)
        p = float(entry_probability)
        if not 0.0 < p <= 1.0:
            raise ValueError(f"entry_probability must be in (0, 1], not {entry_probability}")
        notional = positive_notional(order_notional_usdt)
        self._hold_from_model = hold_bars is None or hold_bars < 0  # follows a hot swap too
        if hold_bars is None or hold_bars < 0:
            hold_bars = _model_horizon(self.model)
        if reprice_ms < 0:
            raise ValueError(f"reprice_ms must be >= 0, not {reprice_ms}")
        try:
            self.price_mode = PriceMode(price_mode)
        except ValueError:
            known = ", ".join(m.value for m in PriceMode)
            raise ValueError(f"price_mode must be one of {known}, not {price_mode!r}") from None
        self.entry_probability = p
        self.order_notional_usdt = notional
        self.allow_short = allow_short
        self.instruments = dict(instruments or {})
        self.hold_bars = hold_bars
        self.reprice_ms = reprice_ms
        self.feature_sink = feature_sink
        # Told each switch (`model_identity()` of the new model): the daemon's market recorder,
        # so that the parity audit switches its replay at the same bar (`switch_model`).
        self.model_switched: Callable[[dict[str, str | None]], None] | None = None
        self.warmup_bars = WARMUP_BARS + EMA_SETTLE_BARS
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
        if st is None or st.row is None:
            return NO_PROPOSALS
        return self._target(bar.symbol, st, view, bar.close_time_ms)

    def on_start(self, symbol: str, view: AccountView) -> Proposals:
        """The side the warm-up bars ended on: take it at once (no wait for the next bar)."""
        st = self._states.get(symbol)
        if st is None or st.row is None:
            return NO_PROPOSALS
        return self._target(symbol, st, view, st.book_ms)

    def on_book(self, tick: BookTicker, view: AccountView) -> Proposals:
        """Keep the book top; re-price a target not yet reached that the book moved away from."""
        st = self._states.get(tick.symbol)
        if st is None:
            return NO_PROPOSALS
        st.bid = tick.bid_price
        st.ask = tick.ask_price
        st.book_ms = t = tick.event_time_ms
        if not st.chasing or t - st.priced_ms < self.reprice_ms or st.price is None:
            return NO_PROPOSALS
        position = _position(view, tick.symbol)
        if position == st.target:
            st.chasing = False
            return NO_PROPOSALS
        buy = st.target > position
        price = self._price(tick.symbol, buy, st)
        # Only an adverse move: a bid above our buy (or an ask below our sell) leaves us behind.
        if price is None or (price <= st.price if buy else price >= st.price):
            return NO_PROPOSALS
        st.price = price
        st.priced_ms = t
        return (TargetPosition(symbol=tick.symbol, qty=st.target, price=price, reason="re-price"),)

    def _target(
        self, symbol: str, st: _SymbolState, view: AccountView | None, now_ms: int
    ) -> Proposals:
        p = st.proba
        side = {1: "long", -1: "short" if self.allow_short else "flat", 0: "flat"}[st.side]
        signal = {1: "BUY", -1: "SELL", 0: "HOLD"}[st.signal]
        if st.signal == 0 and st.side != 0:
            # "HOLD: short" read as a HOLD that went short: the side is the last signal's, kept
            side = f"{side} held, at most {st.hold_left} more bars without a signal"
        reason = f"p_buy={p[self._i_buy]:.3f} p_sell={p[self._i_sell]:.3f} {signal}: {side}"
        position = _position(view, symbol)
        if position == st.target:  # reached: keep what was said, nothing to re-price
            st.chasing = False
        else:
            fresh = st.bid is not None and now_ms - st.book_ms <= BOOK_MAX_AGE_MS
            st.price = self._price(symbol, st.target > position, st) if fresh else None
            st.priced_ms = st.book_ms
            st.chasing = st.price is not None and self.reprice_ms > 0
        return (TargetPosition(symbol=symbol, qty=st.target, price=st.price, reason=reason),)

    def _price(self, symbol: str, buy: bool, st: _SymbolState) -> Decimal | None:
        assert st.bid is not None and st.ask is not None
        inst = self.instruments.get(symbol)
        tick = inst.tick_size if inst is not None else None
        price = limit_price(buy, st.bid, st.ask, self.price_mode, tick)
        if price is None or inst is None:
            return price
        return inst.round_price(price, Side.BUY if buy else Side.SELL)

    # --- state ------------------------------------------------------------------------------

    def last_features(self, symbol: str) -> list[float] | None:
        """The feature row computed at the symbol's last bar (None during warm-up)."""
        st = self._states.get(symbol)
        return None if st is None else st.row

    def last_probabilities(self, symbol: str) -> list[float]:
        """Class probabilities at the last bar, in `model.classes` order ([] in warm-up)."""
        st = self._states.get(symbol)
        return [] if st is None else st.proba

    @property
    def uses_taker_flow(self) -> bool:
        """The model reads the bars' taker buy volume and trade count (its flow features)."""
        return self.model.flow

    def model_identity(self) -> dict[str, str | None]:
        """The model in use: its file, the sha256 of the file's bytes and, on a registry, its
        version (what a backtest report and the daemon's log name)."""
        m = self.model
        return {"path": m.source or None, "sha256": m.sha256 or None, "version": self.model_version}

    # --- hot swap ---------------------------------------------------------------------------

    def _set_model(self, model: LinearModel) -> None:
        if _BUY not in model.classes or _SELL not in model.classes:
            # Trained on a window where the price only rose (or fell), or with a --threshold
            # given in percent: model.train refuses that window now, older files get here.
            where = f"model file {model.source}: " if model.source else ""
            raise ValueError(
                f"{where}classes {model.classes} lack BUY (1) or SELL (-1): it could never "
                "signal that side; retrain it on a window where the price moves both ways "
                "(python -m model.train)"
            )
        if model.source:  # a file: it must say what it was trained on, or nothing is checked
            for key, what in (("symbol", "symbol"), ("interval", "bar interval")):
                value = model.metadata.get(key)
                if not isinstance(value, str) or not value:
                    raise ValueError(
                        f"model file {model.source}: {key} is {value!r}, not the {what} it was "
                        "trained on, so it cannot be checked against what this strategy trades; "
                        "retrain it with python -m model.train"
                    )
            label = model.metadata.get("label")
            horizon = label.get("horizon") if isinstance(label, Mapping) else None
            if horizon is not None and (type(horizon) is not int or horizon < 1):
                raise ValueError(
                    f"model file {model.source}: label.horizon is {horizon!r}, not a whole "
                    "number of bars >= 1 (how long a position is held without a renewed "
                    "signal); retrain it with python -m model.train"
                )
        trained = model.metadata.get("interval") if model.metadata else None
        if self.bar_interval is not None and trained is not None and trained != self.bar_interval:
            raise ValueError(
                f"the model was trained on {trained} bars, the strategy gets "
                f"{self.bar_interval} bars (strategy.bar_interval in the daemon's config; the "
                "backtester and model.review replay 1m bars: train it with --interval 1m for them)"
            )
        symbol = model.metadata.get("symbol") if model.metadata else None
        others = [s for s in self.symbols if isinstance(symbol, str) and s != symbol]
        if others and len(self.symbols) > 1:
            # "Use a model trained on ETHUSDT" would go round in circles: that one refuses
            # BTCUSDT. One model, one symbol.
            alone = (
                f'trade {symbol} alone with it (symbols = ["{symbol}"])'
                if symbol in self.symbols
                else "trade one symbol with a model trained on it"
            )
            raise ValueError(
                f"the model was trained on {symbol}, the strategy trades "
                f"{', '.join(self.symbols)}: a model trades only the symbol it was trained on, "
                f"and the strategy takes one model; {alone}, or several symbols with a "
                "rule-based strategy (sma_crossover)"
            )
        if others:
            raise ValueError(
                f"the model was trained on {symbol}, the strategy trades {', '.join(others)}; "
                f"use a model trained on {others[0]}"
            )
        if model.flow and not self.taker_flow:
            raise ValueError(
                "the model was trained with the taker-flow features (flow on), and these bars "
                "carry no taker buy volume or trade count (the backtester replays klines "
                "without them); train it with --flow off"
            )
        self.model = model
        self._i_buy = model.classes.index(_BUY)
        self._i_sell = model.classes.index(_SELL)

    def _stat_promoted(self) -> tuple[int, int] | None:
        """(mtime, inode) of PROMOTED: every atomic write replaces the file (a new inode)."""
        assert self._registry is not None
        try:
            st = (self._registry / registry.PROMOTED_FILE).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def _maybe_swap(self) -> None:
        """Switch to the registry's promoted version if it changed since the last look."""
        stat = self._stat_promoted()
        if stat is None or stat == self._promoted_stat:
            return
        self._promoted_stat = stat
        reg = self._registry
        assert reg is not None
        try:
            version = registry.promoted_id(reg)
            if version is None or version == self.model_version:
                return
            self._use(registry.version_dir(reg, version) / registry.MODEL_FILE)
        except Exception as e:  # any refusal keeps the running model trading
            log.warning(
                "model registry %s: promoted model refused, keeping %s: %s",
                reg,
                self.model_version,
                e if isinstance(e, OSError | ValueError) else f"{type(e).__name__}: {e}",
            )
            return
        log.info(
            "model registry %s: switched model %s -> %s (hold %d bars): %s",
            reg,
            self.model_version,
            version,
            self.hold_bars,
            self.model.identity(),
        )
        self.model_version = version
        if self.model_switched is not None:
            self.model_switched(self.model_identity())

    def _use(self, path: Path | str) -> None:
        new = load_linear_model(path)
        if new.flow != self.model.flow:
            raise ValueError(f"flow={new.flow}, the running model has flow={self.model.flow}")
        self._set_model(new)
        if self._hold_from_model:  # the new model's label horizon, not the old one's
            self.hold_bars = _model_horizon(new)

    def switch_model(self, path: str, version: str | None) -> None:
        """Trade the model file `path` (registry version `version`) from the next bar on: the
        parity audit's replay of a switch its session recorded, before the item whose bar
        switched."""
        self._use(path)
        self.model_version = version

    def _update(self, bar: Bar) -> _SymbolState | None:
        st = self._states.get(bar.symbol)
        if st is None:
            st = self._states[bar.symbol] = _SymbolState(FeatureState(flow=self.model.flow))
        if bar.open_time_ms <= st.last_open_ms:
            return None
        if st.last_open_ms >= 0 and bar.open_time_ms - st.last_open_ms > _step_ms(bar.interval):
            st.gap_bars = WARMUP_BARS - 1
            log.warning(
                "%s: bars missing between open times %d and %d: no signal for %d bars (the "
                "model never saw features spanning a gap)",
                bar.symbol,
                st.last_open_ms,
                bar.open_time_ms,
                st.gap_bars,
            )
        st.last_open_ms = bar.open_time_ms
        spans_gap = st.gap_bars > 0
        if spans_gap:
            st.gap_bars -= 1
        # The bar reaches the features before any swap is tried: a swap that fails, whatever
        # the way, must not leave the live features one bar behind the batch ones.
        st.row = row = st.features.update(
            float(bar.high),
            float(bar.low),
            float(bar.close),
            float(bar.volume),
            float(bar.taker_buy_volume),
            bar.trade_count,
        )
        if self._registry is not None and bar.open_time_ms > self._checked_open_ms:
            self._checked_open_ms = bar.open_time_ms
            self._maybe_swap()
        if self.feature_sink is not None:
            self.feature_sink(bar, row)
        if row is None:
            return st
        st.proba = p = self.model.predict_proba(row)
        pb, ps = p[self._i_buy], p[self._i_sell]
        if spans_gap:
            pb = ps = 0.0
        if pb >= self.entry_probability and pb > ps:
            st.signal = side = 1
        elif ps >= self.entry_probability and ps > pb:
            st.signal = side = -1
        else:
            st.signal = 0
            st.hold_left -= 1
            side = st.side if st.hold_left >= 0 else 0
        if st.signal != 0:
            st.hold_left = self.hold_bars
        if side != st.side:
            st.side = side
            st.target = self._size(bar.symbol, bar.close, side)
        return st

    def _size(self, symbol: str, close: Decimal, side: int) -> Decimal:
        return target_qty(
            self.order_notional_usdt,
            close,
            side,
            self.instruments.get(symbol),
            allow_short=self.allow_short,
        )


def _position(view: AccountView | None, symbol: str) -> Decimal:
    return Decimal(0) if view is None else view.position(symbol).qty


def _model_horizon(model: LinearModel) -> int:
    """The bars ahead the model's labels looked (its file's label.horizon), else 15."""
    label = model.metadata.get("label") if model.metadata else None
    horizon = label.get("horizon") if isinstance(label, Mapping) else None
    return int(horizon) if isinstance(horizon, int) and horizon > 0 else DEFAULT_HOLD_BARS
