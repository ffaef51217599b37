"""What the backtest command runs, from its flags and the daemon's --config: the symbol, the
starting balance, the strategy's keyword arguments and the risk limits."""

import argparse
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from backtest import realism
from backtest.cli_values import UsageError, positive_usdt
from backtest.data import DataError, Klines, MarketData, check_symbol, symbol_in_name
from core.toml_text import toml_shown
from risk_manager.config import RiskConfig
from runtime.settings import ConfigError, Settings, load_settings, risk_config, strategy_params
from trading_engine.main_trading_strategy import STRATEGIES

DEFAULT_STRATEGY = "sma_crossover"
DEFAULT_SYMBOL = "BTCUSDT"
DEFAULT_NOTIONAL = "1000"
DEFAULT_BALANCE = "10000"
DEFAULT_FAST, DEFAULT_SLOW = 10, 50


def config_settings(path: str) -> Settings:
    """The daemon's settings from its config file (defaults for what it does not set, as the
    daemon reads it), refused in one line where a backtest cannot run them: several symbols
    (it trades one; --symbol chooses), bars other than 1m (it replays 1m bars)."""
    try:
        settings = load_settings(Path(path), env_file=None, needs_keys=False)
    except ConfigError as e:
        raise UsageError(f"--config {path}: {e}") from None
    interval = settings.strategy.bar_interval
    if interval != "1m":
        raise UsageError(
            f'--config {path}: strategy.bar_interval = "{interval}": the backtester replays '
            '1m bars (a config with bar_interval = "1m" backtests)'
        )
    return settings


def config_risk(settings: Settings) -> RiskConfig:
    """The daemon's risk limits from its config file; no kill-switch file (a backtest has no
    operator to touch it)."""
    return replace(risk_config(settings), kill_switch_file=None)


def traded_symbol(args: argparse.Namespace, settings: Settings | None) -> str:
    """--symbol, else the config's one symbol, else BTCUSDT."""
    if args.symbol is not None:
        symbol = str(args.symbol).upper()
        if "," in symbol:  # the daemon's --symbol takes several; a backtest, one
            raise UsageError(
                f"--symbol {args.symbol}: a backtest trades one symbol; run one backtest per "
                "symbol, each with its --data"
            )
        return symbol
    if settings is None:
        return DEFAULT_SYMBOL
    if len(settings.symbols) > 1:
        raise UsageError(
            f"--config {args.config}: symbols = {', '.join(settings.symbols)}: a backtest trades "
            "one symbol; choose it with --symbol"
        )
    return settings.symbols[0]


def check_data_symbol(args: argparse.Namespace, settings: Settings | None, symbol: str) -> None:
    """`check_symbol`, naming where the traded symbol came from when no --symbol was given:
    `holds NEARUSDT, not --symbol BTCUSDT` read as if the user had typed BTCUSDT."""
    try:
        check_symbol(args.data, symbol)
    except DataError:
        if args.symbol is not None:
            raise
        named = symbol_in_name(args.data)
        source = "the default" if settings is None else f"the symbol of --config {args.config}"
        raise UsageError(
            f"--data {Path(args.data).name} holds {named}, not {symbol} ({source}, as no "
            f"--symbol was given): add --symbol {named}"
        ) from None


def balance_usdt(args: argparse.Namespace, settings: Settings | None) -> Decimal:
    """--balance, else the config's [local] starting_balance_usdt (the local exchange's demo
    account), else 10,000 USDT."""
    if args.balance is not None:
        return positive_usdt(args.balance, "--balance")
    if settings is None:
        return Decimal(DEFAULT_BALANCE)
    return positive_usdt(str(settings.local.starting_balance_usdt), "[local] starting_balance_usdt")


def strategy_kwargs(
    args: argparse.Namespace, settings: Settings | None, strategy: str
) -> dict[str, object]:
    """The strategy's keyword arguments: with --config, the daemon's for that file's
    [strategy] (its [strategy.params] only for the strategy it names); without, the
    backtester's defaults; then the flags over either."""
    if (args.fast is not None or args.slow is not None) and strategy != "sma_crossover":
        flag = "--fast" if args.fast is not None else "--slow"
        raise UsageError(
            f"{flag} is for --strategy sma_crossover; {strategy} takes --param KEY=VALUE"
        )
    params: dict[str, object]
    if settings is not None:
        st = settings.strategy
        own = replace(st, name=strategy, params=st.params if strategy == st.name else {})
        params = strategy_params(replace(settings, strategy=own), {})
        del params["instruments"]  # the runner's: the backtested symbol's
    else:
        notional = positive_usdt(args.notional or DEFAULT_NOTIONAL, "--notional")
        params = {"order_notional_usdt": notional}
        if strategy == "sma_crossover":
            params = {"fast": DEFAULT_FAST, "slow": DEFAULT_SLOW, **params}
        elif strategy == "logistic_regression" and args.model is None:
            raise UsageError("--strategy logistic_regression needs --model PATH (or --config)")
        elif strategy not in STRATEGIES:  # one of your own: what the daemon passes it
            params["allow_short"] = True
    if args.fast is not None:
        params["fast"] = args.fast
    if args.slow is not None:
        params["slow"] = args.slow
    if args.notional is not None:
        params["order_notional_usdt"] = positive_usdt(args.notional, "--notional")
    if args.model is not None:
        params["model_path"] = args.model
    given = _params(args.param)
    _check_param_flags(args, given)
    params.update(given)
    return params


# The strategy parameter each flag sets, by argparse dest: a --param of the same key replaced
# the flag's value without a word (`--fast 5 --param fast=7` traded fast 7).
_FLAG_PARAMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "fast": ("--fast", "fast"),
        "slow": ("--slow", "slow"),
        "notional": ("--notional", "order_notional_usdt"),
        "model": ("--model", "model_path"),
    }
)


def _check_param_flags(args: argparse.Namespace, given: Mapping[str, object]) -> None:
    """A --param KEY=VALUE whose KEY a flag given also sets is refused, naming both."""
    for dest, (option, key) in _FLAG_PARAMS.items():
        value = getattr(args, dest)
        if value is not None and key in given:
            pair = next(p for p in args.param if p.partition("=")[0].strip() == key)
            raise UsageError(f"{option} {value} and --param {pair} both set {key}: keep one")


def check_order_cap(
    order: object, risk: RiskConfig, path: str, *, fixed: object = None, by_param: bool = False
) -> None:
    """A --notional above the --config's order cap is refused, as the daemon refuses its
    config: the RiskManager would deny every entry, a run of 0 fills that looks like a result.
    `fixed`: the sweep file's [fixed] order_notional_usdt as written, when it gave the size
    (named instead of --notional); `by_param`: a --param order_notional_usdt=... gave it."""
    cap = risk.max_order_notional_usdt
    if isinstance(order, int | float) and not isinstance(order, bool):  # --param's TOML number
        order = Decimal(str(order))
    if isinstance(order, Decimal) and order > cap:
        most = f"{cap.normalize():f}"
        flag = "--param order_notional_usdt=" if by_param else "--notional "
        given, fix = f"{flag}{order}", f"give {flag}{most} or less"
        if fixed is not None:
            given = f"the sweep file's [fixed] order_notional_usdt = {toml_shown(fixed)}"
            fix = f"set it to {most} or less"
        raise UsageError(
            f"{given} is above max_order_notional_usdt {most} of --config {path}: every entry "
            f"would be denied ({fix})"
        )


# What each flag sets that a sweep file's [fixed] can set too (BacktestConfig fields, the
# strategy's parameters), by argparse dest; --param sets the KEY of each KEY=VALUE.
FLAG_SETTINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "symbol": ("symbol",),
        "strategy": ("strategy",),
        "model": ("model_path",),
        "start": ("trade_from_ms",),
        "fees": ("maker_fee", "taker_fee"),
        "latency_ms": ("latency_ms",),
        "slippage_bps": ("slippage_bps",),
        "balance": ("starting_balance",),
        "fast": ("fast",),
        "slow": ("slow",),
        "notional": ("order_notional_usdt",),
        "no_stops": ("protect_positions",),
        "exchange_info": ("exchange_info",),
        "no_fast_path": ("fast_path",),
        "seed": ("seed",),
        "latency": ("entry_latency",),
        "ack_latency": ("ack_latency",),
        "funding": ("funding",),
        "book_ticker": ("book_ticker",),
        "fill_mode": ("fill_mode",),
        "leverage": ("leverage",),
        "brackets": ("brackets",),
    }
)
# The flags that set nothing a sweep file can: the data and its window, the outputs, the
# robustness runs themselves, the daemon's config (the flags and [fixed] both override it).
FLAGS_OF_NO_SETTING = frozenset(
    {
        "data",
        "end",
        "no_warm",
        "config",
        "progress",
        "journal",
        "out",
        "monte_carlo",
        "mc_latency_ms",
        "mc_slippage_bps",
        "sweep",
        "jobs",
        "dask_scheduler",
        "html",
        "replay_journal",
    }
)


def check_fixed_flags(
    fixed: Mapping[str, Any], args: argparse.Namespace, given: Mapping[str, str]
) -> None:
    """A sweep file's [fixed] key that a flag given on the command line also sets is refused:
    the file's value replaced the flag's without a word. `given`: {dest: option} of the flags
    typed (one left at its default is not given, so the file's value is no surprise)."""
    for key, value in fixed.items():
        typed = [
            _as_typed(option, getattr(args, dest))
            for dest, option in given.items()
            if key in FLAG_SETTINGS.get(dest, ())
        ]
        if "param" in given:  # after the flags: a --param KEY=VALUE wins over --fast and such
            typed += [f"--param {p}" for p in args.param if p.partition("=")[0].strip() == key]
        if typed:
            raise UsageError(
                f"{typed[-1]} and the sweep file's [fixed] {key} = {toml_shown(value)} both set "
                f"{key}: keep one"
            )


def unused_seed(
    latencies: Iterable[tuple[str | int, str | int]],
    args: argparse.Namespace,
    given: Mapping[str, str],
) -> str | None:
    """Why a --seed typed would change nothing, else None: only the Monte Carlo and the
    latency distributions (each run's `entry_latency`, `ack_latency`: lognormal or empirical)
    draw at random; fixed latencies, slippage, fees and the fills are the same under any seed.
    `latencies` holds the main run's pair and, in a sweep, every grid point's that runs (its
    file may give them a distribution the main run lacks)."""
    if "seed" not in given or args.monte_carlo > 0:
        return None
    if any(realism.draws(str(e)) or realism.draws(str(a)) for e, a in latencies):
        return None
    if args.sweep is not None:
        return (
            f"{given['seed']} is for random draws (--monte-carlo N, or a latency distribution, "
            "lognormal:... or empirical:..., by --latency or --ack-latency or the sweep file's "
            "entry_latency or ack_latency): neither this run nor any run of the sweep draws, "
            "so every seed gives the same runs"
        )
    return (
        f"{given['seed']} is for random draws (--monte-carlo N, or a --latency or "
        "--ack-latency distribution: lognormal:... or empirical:...): this run draws "
        "nothing, so every seed gives the same run"
    )


def unused_latency_flag(
    entry_latency: str, args: argparse.Namespace, given: Mapping[str, str]
) -> str | None:
    """Why a fixed-latency flag typed beside a latency distribution (`entry_latency`: from
    --latency or the sweep file's [fixed]) would go unused, else None: the distribution
    replaced --latency-ms, which summary.json and report.html still showed as the run's, and
    the Monte Carlo drew from it, not from --mc-latency-ms's range."""
    if not entry_latency:
        return None
    dist = (
        f"--latency {args.latency}"
        if "latency" in given
        else f"the sweep file's [fixed] entry_latency = {toml_shown(entry_latency)}"
    )
    if "latency_ms" in given:
        return (
            f"--latency-ms {args.latency_ms} and {dist} both set the order-entry latency (a "
            "distribution replaces --latency-ms): keep one"
        )
    if "mc_latency_ms" in given:
        return (
            f"--mc-latency-ms {args.mc_latency_ms} is for a fixed latency: with {dist} each "
            "Monte Carlo run draws its latencies from the distribution"
        )
    return None


def _as_typed(option: str, value: object) -> str:
    """`--fast 12`, or `--no-stops` for a flag that takes no value."""
    return option if isinstance(value, bool) else f"{option} {value}"


def _params(pairs: list[str]) -> dict[str, object]:
    """`--param KEY=VALUE`s as keyword arguments: VALUE read as a TOML value (10, 0.5, true,
    "text"), else taken as text, as `[strategy.params]` would give it."""
    out: dict[str, object] = {}
    typed: dict[str, str] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--param {pair}: expected KEY=VALUE, e.g. --param lookback=20")
        if key in typed:  # the last one won without a word
            raise UsageError(f"--param {typed[key]} and --param {pair} both set {key}: keep one")
        typed[key] = pair
        try:
            out[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = text.strip()
    return out


def bars_of(data: MarketData) -> dict[str, object]:
    """What the replayed bars are, for the model strategy to refuse a model trained on others:
    1m bars, with taker buy volume and trade counts only when built from trades (the klines
    replayed carry neither)."""
    return {"bar_interval": "1m", "taker_flow": not isinstance(data, Klines)}
