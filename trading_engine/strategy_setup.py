"""The strategy the settings name, built for the daemon: its feature log (a writer thread the
daemon closes), its load failure in one DaemonError line, a warning for each call in its
source that reads the clock or an unseeded random generator, the model it trades logged by file
and hash, the warning for a taker-flow strategy on the local exchange, and the one for a size
that can never open a position."""

import logging
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from core.enums import OrderType
from core.instrument import Instrument
from runtime.settings import Mode, Settings
from trading_engine.daemon_error import needs_the_user
from trading_engine.main_trading_strategy import (
    StrategyLoadError,
    TradingStrategy,
    make_strategy,
    named_once,
)
from trading_engine.strategy_determinism import nondeterminism_notes

log = logging.getLogger("daemon")


def load_strategy(
    s: Settings, params: dict[str, Any], journal_dir: Path, closers: list[Callable[[], Any]]
) -> TradingStrategy:
    """The strategy; what must be closed at the stop (the feature log) is appended to
    `closers`."""
    # The live feature log is wiring, not a parameter: kept out of `params`.
    sink: dict[str, Any] = {}
    if s.strategy.name == "logistic_regression" and s.strategy.log_features:
        from model.live import FeatureLog

        feature_log = FeatureLog(  # a writer thread
            journal_dir / "features.csv", max_bytes=s.retention.features_csv_mb * 1_000_000
        )
        closers.append(feature_log.close)
        sink["feature_sink"] = feature_log
    try:
        strategy = make_strategy(s.strategy.name, **params, **sink)
    except (OSError, ValueError) as exc:  # a missing or mismatched model file, bad params
        line = named_once(s.strategy.name, exc)
        raise needs_the_user(
            line if isinstance(exc, StrategyLoadError) else f"strategy {line}"
        ) from None
    for note in nondeterminism_notes(s.strategy.name, strategy):
        log.warning("%s", note)
    return strategy


def synthesized_flow_note(mode: Mode, strategy: object) -> str | None:
    """What to tell the operator of a strategy that reads the bars' taker buy volume or trade
    count (`uses_taker_flow`, a flow model) on the local exchange, or None. There those columns
    come from trades made up from 1m OHLCV bars (`exchange_sim.replay.synth.with_details`, the
    live bars from the same synthesized trades): only a recorded trade capture has real ones,
    minutes in the bundled data sets. Said, not refused: a flow model's plumbing (orders,
    protection, the parity audit) is worth trying there; its results are not evidence."""
    if mode != Mode.LOCAL or not getattr(strategy, "uses_taker_flow", False):
        return None
    name = getattr(strategy, "name", type(strategy).__name__)
    return (
        f"strategy {name} uses the taker-flow features (taker buy volume, trade count), and "
        "the local exchange synthesizes them: its bars' taker columns come from trades made "
        "up from 1m OHLCV (exchange_sim.replay.synth.with_details), but for a recorded trade "
        "capture (minutes in the bundled data). What the strategy does here says nothing about "
        "those features; judge it on Binance's own data (--mode testnet)"
    )


def model_in_use(strategy: TradingStrategy) -> dict[str, Any] | None:
    """The strategy's model now (`model_identity()`: file, sha256, registry version; a hot
    swap changes it), None for a strategy without a model file."""
    identity = getattr(strategy, "model_identity", None)
    return identity() if callable(identity) else None


def model_logged(strategy: TradingStrategy, name: str) -> dict[str, Any] | None:
    """Which model trades, logged (its file and its bytes' hash): the session's recording
    keeps it too; None for a strategy without a model file."""
    model = model_in_use(strategy)
    if model is not None:  # which model trades: the file and its bytes' hash, in the log
        m = model
        version = f", registry version {m['version']}" if m["version"] else ""
        log.info(
            "strategy %s: model %s (sha256 %s%s)",
            name,
            m["path"],
            m["sha256"],
            version,
        )
    return model


def entry_size_note(symbol: str, notional: Decimal, close: Decimal, inst: Instrument) -> str | None:
    """What to tell the operator when `notional` USDT (the strategy's order_notional_usdt) at
    `close` is less than one lot, or under the exchange's minimum notional, or None. Such a
    target rounds to no order (`plan_target_order`: "close enough"), so the daemon would run
    without ever trading and without a word."""
    if close <= 0:
        return None  # no price to size at
    lot = inst.market_lot  # the strategies size on it (`target_qty`)
    qty = inst.floor_qty(notional / close, OrderType.MARKET)
    if qty > 0 and qty >= lot.min_qty:
        if not inst.min_notional or qty * close >= inst.min_notional:
            return None
        why = f"below the exchange's minimum notional of {inst.min_notional:f} USDT"
    else:
        why = f"less than the smallest order, {lot.min_qty:f} {inst.base_asset}"
    steps = (inst.min_notional / close / lot.step_size).to_integral_value(ROUND_CEILING)
    least = max(lot.min_qty, steps * lot.step_size)
    need = (least * close).to_integral_value(ROUND_CEILING)
    return (
        f"{symbol}: strategy.order_notional_usdt = {notional:f} USDT is {qty:f} "
        f"{inst.base_asset} at the last close {close:f}, {why}: the strategy can take no "
        f"position (no order is sent); at that price it needs at least {need} USDT"
    )
