"""Backtest a strategy on recorded data through the daemon's own trading code.

    python backtest_trading_strategy.py --data PATH --symbol BTCUSDT --strategy sma_crossover \\
        [--start 2025-05-06] [--end 2025-05-08] [--fees 0.0002,0.0005] [--latency-ms 50] \\
        [--slippage-bps 1] [--fast 10 --slow 50 --notional 1000] [--journal DIR] --out DIR

`--data`: 1m klines (plain OHLCV CSV with `open_time` in ms, optionally gzipped; Binance's
12-column files) or trades / aggTrades CSV, or a market_history store Parquet file or folder.
Writes summary.json, equity.csv, trades.csv, orders.csv, PNG plots (equity, price, monthly
returns) and report.html (one self-contained page; `--no-html` skips it) into `--out`.

Robustness (backtest/robustness.py):
    --monte-carlo N [--seed S]     N runs with random latency/slippage + a trade bootstrap:
                                   percentile bands in summary.json ("monte_carlo"), fan chart
    --sweep FILE [--jobs N]        a TOML grid (optionally walk-forward) -> sweep.csv, heatmap
    --dask-scheduler ADDRESS       run those on a Dask cluster instead of local processes
Parity audit (backtest/parity.py):
    --replay-journal PATH          replay a local session the daemon recorded (PATH: its
        [--out DIR]                journal_dir) and diff decisions and fills: exit 0 identical,
                                   1 at the first divergence (named), 2 bad input (any other
                                   flag: the session's recorded settings are replayed); --out
                                   writes the report (parity.txt, parity.json, the decisions
                                   and fills side by side as CSV) into DIR
Bad inputs exit 2 with one line on stderr, `backtest_trading_strategy.py: error: ...` (a flag
argparse refuses or an input the backtester does); Ctrl+C exits 130 with one line
(`backtest_trading_strategy.py: interrupted: ...`), and leaves no file of the run in --out.
"""
# Ctrl+C's handler goes in before the imports, which take about a second

from core.early_interrupt import catch_while_importing, imports_done

# As a command only (tests import this module), and only where Ctrl+C would interrupt anyway.
if __name__ == "__main__":
    catch_while_importing()

import argparse
import json
import os
import sys
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backtest import realism, report, robustness
from backtest.data import (
    DataError,
    Klines,
    MarketData,
    check_symbol,
    kline_gaps,
    load,
    symbol_in_name,
)
from backtest.instruments import backtest_instruments, instrument_of
from backtest.journal_folder import BACKTEST_MARK
from backtest.outputs import write_outputs
from backtest.runner import (
    MINUTE_MS,
    WARM_HISTORY_BARS,
    BacktestConfig,
    BacktestResult,
    run_backtest,
)
from book_keeper.journal_files import FILE_NAME as JOURNAL_FILE
from core.clock import parse_utc_ms
from core.redaction import shown_path
from risk_manager.config import RiskConfig
from runtime.flags import (
    OneLineParser,
    SecretSafeParser,
    StoreOnce,
    error_line,
    interrupted_line,
    path_text,
)
from runtime.settings import ConfigError, Settings, load_settings, risk_config, strategy_params
from trading_engine.main_trading_strategy import STRATEGIES, StrategyError, strategy_factory

imports_done()  # `main` takes Ctrl+C from here


class UsageError(Exception):
    pass


def _time_ms(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_utc_ms(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


PROG = "backtest_trading_strategy.py"  # its error lines start `PROG: error: `
MAX_FEE = Decimal("0.01")  # 1 %: ten times Binance's highest taker fee
MAX_SLIPPAGE_BPS = Decimal(10_000)  # 100 %


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"bad {what} {text!r}: expected a number") from None
    if not value.is_finite():
        raise UsageError(f"bad {what} {text!r}: expected a number")
    return value


def _dec(text: str, what: str, *, most: Decimal | None = None) -> Decimal:
    """A number >= 0 (and <= `most`)."""
    value = _number(text, what)
    if value < 0 or (most is not None and value > most):
        bound = "" if most is None else f" and <= {most}"
        raise UsageError(f"bad {what} {text!r}: expected a number >= 0{bound}")
    return value


# More USDT than exist: a larger balance or size only overflows the Decimal arithmetic of the
# books and the exchange (28 digits) in the middle of the run.
MAX_USDT = Decimal(10**12)


def _positive(text: str, what: str) -> Decimal:
    """A number > 0 (a balance, a size: 0 trades nothing) and <= MAX_USDT."""
    value = _number(text, what)
    if value <= 0 or value > MAX_USDT:
        raise UsageError(f"bad {what} {text!r}: expected a number > 0 and <= {MAX_USDT:,} USDT")
    return value


def _fee(text: str, *, maker: bool) -> Decimal:
    """One fee fraction: < 0.01 (a percentage given by mistake is refused), >= 0, or > -0.01
    for a maker rebate."""
    value = _number(text, "--fees")
    percent = f"{(value * 100).normalize():f}"
    if value >= MAX_FEE:
        raise UsageError(
            f"bad --fees {text!r}: fees are fractions ({text} is {percent} %; "
            "0.0002 is 0.02 %), expected < 0.01"
        )
    if value < 0 and not maker:
        raise UsageError(f"bad --fees {text!r}: a taker fee is >= 0 (only makers get rebates)")
    if value <= -MAX_FEE:
        raise UsageError(f"bad --fees {text!r}: a maker rebate is > -0.01 ({percent} %)")
    return value


def _fees(text: str) -> tuple[Decimal, Decimal]:
    """ "0.0004" (both) or "maker,taker" as fractions (0.0002 = 0.02 %); a negative maker fee
    is a rebate (`--fees -0.0001,0.0005`, see `_glue_negative_fees`)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise UsageError(f"bad --fees {text!r}: expected FEE or MAKER,TAKER")
    if len(parts) == 1:
        fee = _fee(parts[0], maker=False)
        return fee, fee
    return _fee(parts[0], maker=True), _fee(parts[1], maker=False)


def _check_out(text: str, flag: str = "--out") -> None:
    """--out must be a folder that exists or can be made, writable; checked before the run
    (which can take minutes) and without leaving anything behind."""
    out = Path(text)
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{flag} {out} exists and is not a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {out}: the folder is not writable")
        return
    made: list[Path] = []
    try:
        for folder in reversed([out, *out.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
    except OSError as e:
        raise UsageError(f"{flag} {out}: cannot create the folder ({e.strerror})") from None
    finally:
        for folder in reversed(made):
            folder.rmdir()


DEFAULT_STRATEGY = "sma_crossover"
DEFAULT_SYMBOL = "BTCUSDT"
DEFAULT_NOTIONAL = "1000"
DEFAULT_BALANCE = "10000"
DEFAULT_FAST, DEFAULT_SLOW = 10, 50


def _config_settings(path: str) -> Settings:
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


def _config_risk(settings: Settings) -> RiskConfig:
    """The daemon's risk limits from its config file; no kill-switch file (a backtest has no
    operator to touch it)."""
    return replace(risk_config(settings), kill_switch_file=None)


def _symbol(args: argparse.Namespace, settings: Settings | None) -> str:
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


def _check_data_symbol(args: argparse.Namespace, settings: Settings | None, symbol: str) -> None:
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


def _balance(args: argparse.Namespace, settings: Settings | None) -> Decimal:
    """--balance, else the config's [local] starting_balance_usdt (the local exchange's demo
    account), else 10,000 USDT."""
    if args.balance is not None:
        return _positive(args.balance, "--balance")
    if settings is None:
        return Decimal(DEFAULT_BALANCE)
    return _positive(str(settings.local.starting_balance_usdt), "[local] starting_balance_usdt")


def _strategy_params(
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
        notional = _positive(args.notional or DEFAULT_NOTIONAL, "--notional")
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
        params["order_notional_usdt"] = _positive(args.notional, "--notional")
    if args.model is not None:
        params["model_path"] = args.model
    params.update(_params(args.param))
    return params


def _check_order_cap(order: object, risk: RiskConfig, path: str) -> None:
    """A --notional above the --config's order cap is refused, as the daemon refuses its
    config: the RiskManager would deny every entry, a run of 0 fills that looks like a result."""
    cap = risk.max_order_notional_usdt
    if isinstance(order, Decimal) and order > cap:
        raise UsageError(
            f"--notional {order} is above max_order_notional_usdt {cap.normalize():f} of "
            f"--config {path}: every entry would be denied (give --notional "
            f"{cap.normalize():f} or less)"
        )


def _check_journal(text: str) -> None:
    """--journal takes a new or empty folder, or one an earlier backtest wrote (its journal is
    replaced). A journal no backtest wrote (a daemon's) is refused before the run: this run's
    records would be mixed into it, its fills and orders kept where their ids repeat."""
    _check_out(text, "--journal")
    folder = Path(text)
    if (folder / JOURNAL_FILE).exists() and not (folder / BACKTEST_MARK).exists():
        raise UsageError(
            f"--journal {text} holds a journal that no backtest wrote (a daemon's?): give a new "
            "folder (a backtest neither writes into nor removes such a journal)"
        )


def _params(pairs: list[str]) -> dict[str, object]:
    """`--param KEY=VALUE`s as keyword arguments: VALUE read as a TOML value (10, 0.5, true,
    "text"), else taken as text, as `[strategy.params]` would give it."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--param {pair}: expected KEY=VALUE, e.g. --param lookback=20")
        try:
            out[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = text.strip()
    return out


def _bars_of(data: MarketData) -> dict[str, object]:
    """What the replayed bars are, for the model strategy to refuse a model trained on others:
    1m bars, with taker buy volume and trade counts only when built from trades (the klines
    replayed carry neither)."""
    return {"bar_interval": "1m", "taker_flow": not isinstance(data, Klines)}


def _window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """--start and --end as ms; the end after the start."""
    start_ms, end_ms = _time_ms(start), _time_ms(end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UsageError(f"--end must be after --start (got --start {start} --end {end})")
    return start_ms, end_ms


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Backtest a strategy through the daemon's ExecManager, RiskManager and "
        "BookKeeper against the in-process matching engine.",
    )
    p.add_argument(
        "--data",
        action=StoreOnce,
        required=True,
        type=path_text,
        help="the market data replayed: 1m klines or trades / aggTrades CSV[.gz] (Binance's "
        "files, or OHLCV with open_time in ms), or market_history store Parquet "
        "(fetch_historical.py --out: a day file or a folder)",
    )
    p.add_argument(
        "--symbol", default=None, help="the one symbol to trade (default: --config's, else BTCUSDT)"
    )
    p.add_argument(
        "--strategy",
        default=None,
        help="sma_crossover, rsi_macd, logistic_regression, or one of your own: "
        "path/to/file.py:Class, or module:Class (on PYTHONPATH, in the project directory or in "
        "the working directory); default: --config's, else sma_crossover",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the strategy (repeat; VALUE read as TOML: 20, 0.5, true, "
        "else text), e.g. --param lookback=20",
    )
    p.add_argument(
        "--model",
        default=None,
        type=path_text,
        help="logistic_regression's model file or registry directory (its promoted version); "
        "default: --config's model_path (needed without --config)",
    )
    p.add_argument(
        "--start",
        default=None,
        help="first traded bar, inclusive: epoch ms or ISO date-time, UTC (default: the data's "
        "first bar)",
    )
    p.add_argument(
        "--no-warm",
        action="store_true",
        help="start the strategy cold at --start (default: it warms from the bars before it)",
    )
    p.add_argument(
        "--end",
        default=None,
        help="end, exclusive: epoch ms or ISO date-time, UTC (default: the data's end)",
    )
    p.add_argument(
        "--fees",
        default="0.0002,0.0005",
        help="MAKER,TAKER fee fractions of the notional (0.0002 = 0.02 %%); a negative maker "
        "fee is a rebate: --fees -0.0001,0.0005 (default: %(default)s, Binance's VIP 0)",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="order-entry latency, ms, 0 to 86400000 (default: %(default)s)",
    )
    p.add_argument(
        "--slippage-bps",
        default="0",
        help="taker slippage on bar data, bps of the price, 0 to 10000 (default: %(default)s)",
    )
    p.add_argument(
        "--balance",
        default=None,
        help="starting USDT wallet (> 0; default: --config's [local] starting_balance_usdt, "
        "else 10000)",
    )
    p.add_argument(
        "--fast",
        type=int,
        default=None,
        help="sma_crossover fast SMA, bars (default: --config's fast_period, else 10)",
    )
    p.add_argument(
        "--slow",
        type=int,
        default=None,
        help="sma_crossover slow SMA, bars (default: --config's slow_period, else 50)",
    )
    p.add_argument(
        "--notional",
        default=None,
        help="position size, USDT (> 0; default: --config's order_notional_usdt, else 1000)",
    )
    p.add_argument(
        "--no-stops",
        action="store_true",
        help="no exchange-side stop-loss / take-profit (default: the risk limits' "
        "stop_loss_pct, 2 %% without --config)",
    )
    p.add_argument(
        "--exchange-info",
        default="",
        metavar="PATH",
        help="a saved GET /fapi/v1/exchangeInfo answer: the symbol's filters (tick, lot, "
        "min notional) for symbols the bundled one lacks (default: the bundled one, with "
        "BTCUSDT and ETHUSDT)",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        type=path_text,
        help="run what python app.py --config PATH trades: its symbol, [strategy] (name, "
        "parameters, [strategy.params]), [risk] limits and [local] starting balance; the "
        "flags override it (--strategy, --symbol, --fast, --slow, --notional, --model, "
        "--param, --balance, --leverage); default: sma_crossover 10/50 on BTCUSDT under the "
        "daemon's limits with the order and position caps fitted to --notional",
    )
    p.add_argument(
        "--no-fast-path",
        action="store_true",
        help="every bar through the pipeline (the reference loop; same results, slower)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on when stderr is a terminal)",
    )
    p.add_argument(
        "--journal",
        default=None,
        metavar="DIR",
        type=path_text,
        help="also write the daemon's SQLite journal into this folder (new, empty, or an "
        "earlier backtest's)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        type=path_text,
        help="output folder: summary.json, equity.csv, trades.csv, orders.csv, the charts and "
        "report.html (files of an earlier run there are replaced)",
    )
    _robustness_flags(p)
    _report_flags(p)
    realism.add_cli_flags(p)
    p.add_argument(
        "--replay-journal",
        action=StoreOnce,
        default=None,
        metavar="PATH",
        help="parity audit of a recorded local session, PATH = the daemon's journal_dir; "
        "takes no other flag but --out DIR (the report: parity.txt, parity.json and the "
        "decisions and fills side by side)",
    )
    return p


# What --replay-journal takes with it: the audit replays the session with the settings it
# recorded (strategy, symbol, data, risk, costs), so every other flag would set nothing.
REPLAY_FLAGS = ("replay_journal", "out")


class _Unset:
    """The default of every flag while finding the ones given (any value may be given)."""


def _given_flags(argv: list[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    """(the parsed flags, {dest: option name} of those given) on the full command line."""
    p = parser()
    unset = _Unset()
    for action in p._actions:
        action.required = False
        # An appending flag's default must be a list or None (argparse copies and extends it).
        action.default = None if isinstance(action, argparse._AppendAction) else unset
    args = p.parse_args(argv)
    given = {}
    for a in p._actions:
        value = getattr(args, a.dest, None)
        if a.option_strings and value is not None and value is not unset:
            no = isinstance(a, argparse.BooleanOptionalAction) and value is False
            given[a.dest] = a.option_strings[1 if no else 0]  # --no-html: its second name
    return args, given


def _replay_journal(argv: list[str] | None) -> int | None:
    """`--replay-journal PATH [--out DIR]`: the parity audit's exit status (None without the
    flag). Any other flag is refused in one line (exit 2): it would be ignored."""
    p = SecretSafeParser(add_help=False)
    p.add_argument("--replay-journal", default=None)
    known, _ = p.parse_known_args(argv)
    if known.replay_journal is None:
        return None
    args, given = _given_flags(_glue_negative_fees(sys.argv[1:] if argv is None else argv))
    other = [flag for dest, flag in given.items() if dest not in REPLAY_FLAGS]
    try:
        if other:
            raise UsageError(
                f"{', '.join(other)} cannot be used with --replay-journal: the audit replays "
                "the session with the settings it recorded (only --out DIR is taken)"
            )
        if isinstance(args.out, str):
            _check_out(args.out)
    except UsageError as e:
        print(error_line(PROG, str(e)), file=sys.stderr)
        return 2
    from backtest import parity

    out = Path(args.out) if isinstance(args.out, str) else None
    # Its errors in this command's form, as the flags refused above: not the module's name.
    return parity.run(known.replay_journal, out_dir=out, prog=PROG)


def _robustness_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("robustness")
    g.add_argument(
        "--monte-carlo",
        type=int,
        default=0,
        metavar="N",
        help="N more runs with latency and slippage drawn at random, and a bootstrap of the "
        "trades: percentiles of return and drawdown (default: 0, none)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every random draw (latency distributions, Monte Carlo) (default: "
        "%(default)s)",
    )
    g.add_argument(
        "--mc-latency-ms",
        type=int,
        default=1000,
        metavar="MS",
        help="Monte Carlo: latency drawn from [--latency-ms, --latency-ms + MS], ms (default: "
        "%(default)s)",
    )
    g.add_argument(
        "--mc-slippage-bps",
        default="5",
        metavar="BPS",
        help="Monte Carlo: slippage drawn from [--slippage-bps, --slippage-bps + BPS], bps "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--sweep",
        default=None,
        metavar="FILE",
        help="run a TOML parameter grid ([grid], [fixed], metric, optional [walk_forward]; "
        "see backtest/sweep_example.toml)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="parallel worker processes of a sweep or Monte Carlo (-1: every core; default: "
        "%(default)s)",
    )
    g.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDRESS",
        help="run a sweep's or Monte Carlo's runs on this Dask cluster, e.g. "
        "tcp://10.0.0.5:8786 (the workers need this project importable)",
    )


def _report_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.html (default: on)",
    )


def _check_robustness_args(args: argparse.Namespace) -> robustness.SweepSpec | None:
    """Flags checked and the sweep file read before anything runs."""
    if args.monte_carlo < 0:
        raise UsageError("--monte-carlo must be >= 0")
    if not 0 <= args.mc_latency_ms <= realism.MAX_LATENCY_MS:
        raise UsageError(f"--mc-latency-ms must be 0 to {realism.MAX_LATENCY_MS} (a day)")
    _dec(args.mc_slippage_bps, "--mc-slippage-bps", most=MAX_SLIPPAGE_BPS)
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError("--jobs must be >= 1, or -1 for every core")
    return None if args.sweep is None else robustness.load_sweep(args.sweep)


def _run_monte_carlo(
    args: argparse.Namespace, data: MarketData, result: BacktestResult
) -> robustness.MonteCarloResult | None:
    if not args.monte_carlo:
        return None
    spec = robustness.MonteCarloSpec(
        runs=args.monte_carlo,
        seed=args.seed,
        latency_jitter_ms=args.mc_latency_ms,
        slippage_jitter_bps=_dec(args.mc_slippage_bps, "--mc-slippage-bps", most=MAX_SLIPPAGE_BPS),
    )
    return robustness.monte_carlo(
        data,
        result,
        spec,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        progress=result.config.progress,
    )


def _run_sweep(
    args: argparse.Namespace,
    spec: robustness.SweepSpec | None,
    data: MarketData,
    config: BacktestConfig,
) -> robustness.SweepResult | None:
    if spec is None:
        return None
    return robustness.run_sweep(
        data,
        config,
        spec,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        progress=config.progress,
    )


# Every file a run may write into --out: a run that writes fewer (no --sweep, --no-html, no
# matplotlib) must not leave an earlier run's report or sweep next to its own summary.
OUTPUT_FILES = (
    "summary.json",
    "equity.csv",
    "trades.csv",
    "orders.csv",
    "equity.png",
    "price.png",
    "monthly_returns.png",
    "monte_carlo.png",
    "sweep.csv",
    "sweep_heatmap.png",
    "report.html",
)


def _is_report_folder(out: Path) -> bool:
    """Whether `out` holds a backtest's report: a summary.json with the sections every run
    writes (`BacktestResult.summary_dict`)."""
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and {"metrics", "settings"} <= summary.keys()


def _check_not_foreign(out: Path) -> None:
    """A run replaces the files of OUTPUT_FILES it finds in --out and removes those it does
    not write (an earlier run's): in a folder that holds no backtest's report, a file of such
    a name is the user's own (their trades.csv), so the run is refused before it starts
    instead of deleting it."""
    if not out.is_dir() or _is_report_folder(out):
        return
    found = [name for name in OUTPUT_FILES if (out / name).exists()]
    if found:
        raise UsageError(
            f"--out {shown_path(out)} holds {', '.join(found)} but no backtest's summary.json: "
            "a run would replace or remove them; choose another folder, or move them"
        )


def _remove_earlier_outputs(out: Path) -> None:
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def _add_sections(out: Path, sections: dict[str, object]) -> dict[str, object]:
    """summary.json with the robustness sections added (same layout as write_outputs')."""
    path = out / "summary.json"
    summary = json.loads(path.read_text())
    summary.update({k: v for k, v in sections.items() if v is not None})
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary


def _write_robustness(
    out: Path,
    mc: robustness.MonteCarloResult | None,
    sweep: robustness.SweepResult | None,
) -> list[Path]:
    pngs: list[Path | None] = []
    if mc is not None:
        pngs.append(report.plot_fan_chart(mc, out / "monte_carlo.png"))
    if sweep is not None:
        robustness.write_sweep_csv(sweep, out / "sweep.csv")
        table = robustness.heatmap_table(sweep)
        title = ("mean out-of-sample " if sweep.spec.walk_forward else "") + sweep.spec.metric
        pngs.append(report.plot_sweep_heatmap(table, title, out / "sweep_heatmap.png"))
    return [p for p in pngs if p is not None]


def _write_report(
    args: argparse.Namespace, out: Path, result: BacktestResult, summary: dict, extra: list[Path]
) -> None:
    monthly = report.plot_monthly_returns(
        result.times_ms, result.equity, out / "monthly_returns.png"
    )
    pngs = [out / "equity.png", out / "price.png", *([monthly] if monthly else []), *extra]
    if args.html:
        report.write_html(summary, pngs, out / "report.html")


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _gaps_section(gaps: list[tuple[int, int]]) -> dict[str, object] | None:
    """summary.json's `data_gaps`: holes in the 1m klines replayed (None without any)."""
    if not gaps:
        return None
    start, bars = max(gaps, key=lambda g: g[1])
    return {
        "gaps": len(gaps),
        "missing_bars": sum(n for _, n in gaps),
        "longest": {"from_ms": start, "bars": bars},
    }


def _utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_risk(result: BacktestResult) -> None:
    """What the RiskManager refused, when it refused anything: a run halted by a loss limit
    trades no more, and a size every check refuses trades not at all; both look like a
    strategy that chose not to trade unless said."""
    denied, decisions = result.counters.get("denied", 0), result.counters.get("decisions", 0)
    if result.trading_state != "ACTIVE":
        print(
            f"risk: trading {result.trading_state} at the end ({result.state_reason}); "
            f"{denied} of {decisions} decisions denied"
        )
    elif denied:
        print(
            f"risk: {denied} of {decisions} decisions denied "
            "(--journal DIR keeps each reason: its RiskDenied events)"
        )


def _print_slow_calls(result: BacktestResult) -> None:
    """Strategy calls over the budget: live, each would have held the daemon's event loop."""
    if result.slow_strategy_calls:
        print(
            f"strategy: {result.slow_strategy_calls} call(s) over strategy.max_call_ms "
            f"{result.config.max_strategy_call_ms:g} ms (slowest "
            f"{result.slowest_strategy_call_ms:,.0f} ms): live, each would hold the daemon's "
            "event loop (market data, user stream, protection) that long"
        )


def _print_no_orders(result: BacktestResult) -> None:
    """Why a run sent no order at all, when nothing refused one: a strategy that never spoke
    (not warm within the data) or one whose targets were all smaller than the symbol's lot."""
    c = result.counters
    if c.get("submitted", 0) or c.get("denied", 0) or result.trading_state != "ACTIVE":
        return
    if not c.get("proposals", 0):
        print(
            f"no order: the strategy proposed nothing over {result.units} {result.kind} "
            "(not warm within the data? e.g. a --slow longer than it)"
        )
        return
    config = result.config
    inst = backtest_instruments(config.exchange_info).get(config.symbol)
    lot = "" if inst is None else f" ({config.symbol}: lot step {inst.lot.step_size}, "
    lot += "" if inst is None else f"minimum notional {inst.min_notional} USDT)"
    print(
        "no order: every target of the strategy was less than one lot from the position"
        f"{lot}; a larger --notional trades"
    )


def _print_robustness(
    mc: robustness.MonteCarloResult | None, sweep: robustness.SweepResult | None
) -> None:
    if mc is not None:
        d = mc.to_dict()
        r, b = d["randomized"], d["bootstrap"]
        line = (
            f"monte carlo ({mc.spec.runs} runs, seed {mc.spec.seed}): total return p5 "
            f"{r['total_return']['p5']:+.4%} p50 {r['total_return']['p50']:+.4%} p95 "
            f"{r['total_return']['p95']:+.4%}"
        )
        if "total_return" in b:
            line += (
                f"; bootstrap of {b['trades']} trades: p5 {b['total_return']['p5']:+.4%} "
                f"p95 {b['total_return']['p95']:+.4%} ({mc.halt_note()})"
            )
        print(line)
    if sweep is None:
        return
    if sweep.skipped:
        first, why = sweep.skipped[0]
        settings = " ".join(f"{k}={v}" for k, v in first.items())
        print(
            f"sweep: {len(sweep.skipped)} of {len(sweep.skipped) + len(sweep.points)} grid "
            f"points skipped, the strategy refuses them (first: {settings}: {why})"
        )
    metric = sweep.spec.metric
    chosen = {c.get("window") for c in sweep.choices}
    if sweep.points and not sweep.spec.walk_forward and not sweep.choices:
        print(f"sweep: no run has a {metric} (it is null in every run, e.g. no closed trades)")
    for w in sweep.windows if sweep.spec.walk_forward and sweep.points else ():
        if w.index not in chosen:
            print(
                f"walk-forward window {w.index}: no in-sample run has a {metric}; the window "
                "is left out of the out-of-sample return"
            )
    for c in sweep.choices:
        settings = " ".join(f"{k}={v}" for k, v in c["settings"].items())
        if "window" in c:
            print(
                f"walk-forward window {c['window']}: best in-sample by {metric}: {settings}; "
                f"out-of-sample {metric} {_num(c[f'test_{metric}'])}, "
                f"return {c['test_total_return']:+.4%}"
            )
        else:
            print(
                f"sweep best by {metric}: {settings} -> {metric} {_num(c[metric])}, "
                f"return {c['total_return']:+.4%}"
            )
    if sweep.spec.walk_forward:
        oos = robustness.oos_total_return(sweep.choices)
        print(f"walk-forward out-of-sample return: {'n/a' if oos is None else f'{oos:+.4%}'}")


def _glue_negative_fees(argv: list[str]) -> list[str]:
    """`--fees -0.0001,0.0005` -> `--fees=-0.0001,0.0005`: argparse takes a value that starts
    with '-' and is not a plain number for a flag, and would print its usage instead."""
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--fees":
            value = next(rest, None)
            if value is not None and value.startswith("-") and value[1:2].isdigit():
                out.append(f"--fees={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """The command; Ctrl+C (KeyboardInterrupt) anywhere in it: one line and 130."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # reading the flags, or the parity audit
        print(interrupted_line(PROG, "stopped before the end"), file=sys.stderr)
        return 130


def _interrupted(args: argparse.Namespace) -> int:
    """Ctrl+C during the run or while its files are written: said in one line; the journal
    (`--journal`) keeps what was journaled, as a daemon's would."""
    kept = "" if args.journal is None else f" (--journal {args.journal} holds the part run)"
    print(
        interrupted_line(
            PROG, f"the backtest did not finish; nothing was written to {args.out}{kept}"
        ),
        file=sys.stderr,
    )
    return 130


def _main(argv: list[str] | None) -> int:
    if (status := _replay_journal(argv)) is not None:
        return status
    args = parser().parse_args(_glue_negative_fees(sys.argv[1:] if argv is None else argv))
    try:
        settings = None if args.config is None else _config_settings(args.config)
        strategy = args.strategy or (
            settings.strategy.name if settings is not None else DEFAULT_STRATEGY
        )
        strategy_factory(strategy)  # an unknown strategy: one line, before anything
        if not 0 <= args.latency_ms <= realism.MAX_LATENCY_MS:
            raise UsageError(f"--latency-ms must be 0 to {realism.MAX_LATENCY_MS} (a day)")
        if args.model is not None and strategy != "logistic_regression":
            raise UsageError(
                f"--model is for --strategy logistic_regression; {strategy} takes no model"
            )
        if args.model is not None and not Path(args.model).exists():
            raise UsageError(f"model file not found: {args.model}")
        maker, taker = _fees(args.fees)
        sweep_spec = _check_robustness_args(args)
        params = _strategy_params(args, settings, strategy)
        config = BacktestConfig(
            symbol=_symbol(args, settings),
            strategy=strategy,
            strategy_params=params,
            starting_balance=_balance(args, settings),
            maker_fee=maker,
            taker_fee=taker,
            latency_ms=args.latency_ms,
            slippage_bps=_dec(args.slippage_bps, "--slippage-bps", most=MAX_SLIPPAGE_BPS),
            seed=args.seed,
            protect_positions=not args.no_stops,
            fast_path=not args.no_fast_path,
            progress=sys.stderr.isatty() if args.progress is None else args.progress,
            journal_dir=None if args.journal is None else Path(args.journal),
            exchange_info=args.exchange_info,
            **realism.cli_config(args),
        )
        instrument_of(
            config.symbol, backtest_instruments(config.exchange_info), config.exchange_info
        )  # an unknown symbol is refused before the data is read
        if settings is not None:
            assert args.config is not None
            risk = _config_risk(settings)
            _check_order_cap(params.get("order_notional_usdt"), risk, args.config)
            config = replace(
                config,
                risk=risk,
                stale_order_ms=settings.risk.stale_order_ms,
                reentry_hold=settings.risk.reentry_hold,
                max_strategy_call_ms=Decimal(settings.strategy.max_call_ms),
            )
        start_ms, end_ms = _window(args.start, args.end)
        _check_out(args.out)
        _check_not_foreign(Path(args.out))
        if args.journal is not None:
            _check_journal(args.journal)
        _check_data_symbol(args, settings, config.symbol)
        if start_ms is not None and not args.no_warm:
            # The bars before --start warm the strategy (as a daemon started then would).
            config = replace(config, trade_from_ms=start_ms)
            start_ms -= WARM_HISTORY_BARS * MINUTE_MS
        data = load(args.data, start_ms=start_ms, end_ms=end_ms)
        if strategy == "logistic_regression":
            config = replace(config, strategy_params={**params, **_bars_of(data)})
        result = run_backtest(data, config)
        mc = _run_monte_carlo(args, data, result)
        sweep = _run_sweep(args, sweep_spec, data, config)
    except (UsageError, DataError, ValueError) as e:
        # A value it quotes may be a key pasted into the wrong flag (`--fill-mode <key>`).
        print(error_line(PROG, str(e)), file=sys.stderr)
        return 2
    except StrategyError as e:  # the strategy's own bug: where, and nothing written
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args)
    gaps = kline_gaps(data) if isinstance(data, Klines) else []
    out = Path(args.out)
    _remove_earlier_outputs(out)
    try:
        write_outputs(result, out)
        summary = _add_sections(
            out,
            {
                "monte_carlo": None if mc is None else mc.to_dict(),
                "sweep": None if sweep is None else sweep.to_dict(),
                "data_gaps": _gaps_section(gaps),
            },
        )
        _write_report(args, out, result, summary, _write_robustness(out, mc, sweep))
    except KeyboardInterrupt:  # a summary.json without its report would pass for a whole run
        _remove_earlier_outputs(out)
        return _interrupted(args)
    m = result.summary
    print(
        f"{result.units} {result.kind} in {result.wall_s:.2f} s: return {m.total_return:+.4%}, "
        f"max drawdown {m.max_drawdown:.4%}, {m.fills} fills, fees {m.fees:.2f} USDT -> {out}"
    )
    if result.model is not None:
        model = result.model
        version = f", registry version {model['version']}" if model["version"] else ""
        print(f"model: {model['path']} (sha256 {model['sha256']}{version})")
    if args.funding == "auto" and result.config.funding == "none":
        print(
            f"funding: no bundled funding rates of {config.symbol} overlap the data: none settled"
        )
    if gaps:
        start, bars = max(gaps, key=lambda g: g[1])
        print(
            f"data: {len(gaps)} gap(s) in the 1m bars, {sum(n for _, n in gaps)} bars missing "
            f"(the longest {bars} from {_utc_text(start)}); the bars on either side are "
            "replayed as consecutive"
        )
    _print_risk(result)
    _print_slow_calls(result)
    _print_no_orders(result)
    _print_robustness(mc, sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
