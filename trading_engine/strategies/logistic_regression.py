"""The ML strategy: incremental features -> logistic-regression probabilities -> a target.

On each closed bar (per symbol) `model.features.FeatureState` updates its O(1) state, and the
model file's folded coefficients give SELL/HOLD/BUY probabilities (`model.live.LinearModel`:
a dot product and a softmax in plain Python; neither scikit-learn nor numpy is imported). The
target is long when P(BUY) >= `entry_probability` and exceeds P(SELL), short (or flat with
`allow_short=False`) when P(SELL) does, flat otherwise. As in the SMA strategy, the size is
`order_notional_usdt / close` at the bar where the side changed, held while the side holds,
and the target is re-emitted on every bar so a denied order is retried.

`warmup_bars` is what the features need (`model.features.WARMUP_BARS`). The model's flow
setting decides whether taker volume and trade counts are read from the bars: a model trained
on OHLCV-only data sees zeros there live as well. The model's bar interval must be the one the
daemon builds bars at (the file records it under `interval`).

Hot swap: given a model registry directory (`model.registry`) as `model_path`, the strategy
loads its promoted version and, on each new closed bar before computing, looks at the
`PROMOTED` file's mtime (one `stat` per bar); when it changed and names another version, that
version is loaded and used from this bar on. The feature state is kept (the features are the
same code, checked by the feature hash); a model that fails to load, does not match the
feature code, uses another flow setting or lacks BUY/SELL is refused with a warning and the
old one kept.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.account import AccountView
from core.instrument import Instrument
from core.market import Bar
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
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _SymbolState:
    features: FeatureState
    side: int = 0  # +1 long, -1 short, 0 flat
    target: Decimal = Decimal(0)
    last_open_ms: int = -1  # a bar delivered twice (warm-up, then live) counts once
    row: list[float] | None = None  # the last feature row (for logging and parity checks)
    proba: list[float] = field(default_factory=list)


class LogisticRegressionStrategy(StrategyBase):
    """Long / short / flat from a saved logistic-regression model's class probabilities."""

    name = "logistic_regression"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model: LinearModel | None = None,
        entry_probability: Decimal | float | str = 0.5,
        order_notional_usdt: Decimal | float | int | str = Decimal(100),
        allow_short: bool = True,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        if (model is None) == (model_path is None):
            raise ValueError("logistic_regression needs exactly one of model_path or model")
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
        self.entry_probability = p
        self.order_notional_usdt = notional
        self.allow_short = allow_short
        self.instruments = dict(instruments or {})
        self.warmup_bars = WARMUP_BARS
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
        return self._target(bar.symbol, st)

    def on_start(self, symbol: str, view: AccountView) -> Proposals:
        """The side the warm-up bars ended on: take it at once (no wait for the next bar)."""
        st = self._states.get(symbol)
        if st is None or st.row is None:
            return NO_PROPOSALS
        return self._target(symbol, st)

    def _target(self, symbol: str, st: _SymbolState) -> Proposals:
        p = st.proba
        side = {1: "long", -1: "short" if self.allow_short else "flat", 0: "flat"}[st.side]
        reason = f"p_buy={p[self._i_buy]:.3f} p_sell={p[self._i_sell]:.3f}: {side}"
        return (TargetPosition(symbol=symbol, qty=st.target, reason=reason),)

    # --- state ------------------------------------------------------------------------------

    def last_features(self, symbol: str) -> list[float] | None:
        """The feature row computed at the symbol's last bar (None during warm-up)."""
        st = self._states.get(symbol)
        return None if st is None else st.row

    def last_probabilities(self, symbol: str) -> list[float]:
        """Class probabilities at the last bar, in `model.classes` order ([] in warm-up)."""
        st = self._states.get(symbol)
        return [] if st is None else st.proba

    # --- hot swap ---------------------------------------------------------------------------

    def _set_model(self, model: LinearModel) -> None:
        if _BUY not in model.classes or _SELL not in model.classes:
            raise ValueError(f"model classes {model.classes} lack BUY (1) or SELL (-1)")
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
            new = load_linear_model(registry.version_dir(reg, version) / registry.MODEL_FILE)
            if new.flow != self.model.flow:
                raise ValueError(f"flow={new.flow}, the running model has flow={self.model.flow}")
            self._set_model(new)
        except (OSError, ValueError) as e:
            log.warning(
                "model registry %s: promoted model refused, keeping %s: %s",
                reg,
                self.model_version,
                e,
            )
            return
        log.info("model registry %s: switched model %s -> %s", reg, self.model_version, version)
        self.model_version = version

    def _update(self, bar: Bar) -> _SymbolState | None:
        st = self._states.get(bar.symbol)
        if st is None:
            st = self._states[bar.symbol] = _SymbolState(FeatureState(flow=self.model.flow))
        if bar.open_time_ms <= st.last_open_ms:
            return None
        st.last_open_ms = bar.open_time_ms
        if self._registry is not None and bar.open_time_ms > self._checked_open_ms:
            self._checked_open_ms = bar.open_time_ms
            self._maybe_swap()
        st.row = row = st.features.update(
            float(bar.high),
            float(bar.low),
            float(bar.close),
            float(bar.volume),
            float(bar.taker_buy_volume),
            bar.trade_count,
        )
        if row is None:
            return st
        st.proba = p = self.model.predict_proba(row)
        pb, ps = p[self._i_buy], p[self._i_sell]
        if pb >= self.entry_probability and pb > ps:
            side = 1
        elif ps >= self.entry_probability and ps > pb:
            side = -1
        else:
            side = 0
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
